//! Heap bytes per route in the Loc-RIB: one million single-path /26 routes
//! from one peer sharing one attribute set, and the same with a second peer's
//! path for every prefix. A counting allocator (stats_alloc, which counts
//! without any unsafe code here) measures what the RIB holds.
//!
//! Run: `cargo bench -p bgpd --bench rib_memory`

#![allow(
    clippy::unwrap_used,
    reason = "set-up that fails is a bug in the benchmark"
)]

use std::alloc::System;
use std::net::{IpAddr, Ipv4Addr};

use bgpd::packet::{AsPath, Origin, PathAttributes};
use bgpd::rib::{LocRib, RouteAttrs, Source, SourceInfo};
use ipnet::Ipv4Net;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ROUTES: u32 = 1_000_000;

fn peer(n: u8) -> SourceInfo {
    SourceInfo {
        ebgp: false,
        router_id: Ipv4Addr::new(10, 0, 0, n),
        address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
        rr_client: false,
    }
}

fn fill(rib: &mut LocRib, peer: u32, next_hop: Ipv4Addr) {
    let attrs = rib.intern(RouteAttrs {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            local_pref: Some(100),
            ..PathAttributes::default()
        },
        next_hop: IpAddr::V4(next_hop),
        link_local: None,
        device: None,
    });
    for i in 0..ROUTES {
        let prefix = Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + i * 64), 26).unwrap();
        rib.insert(prefix.into(), Source::Peer(peer), 0, attrs.clone());
    }
}

/// Bytes allocated and not freed since the region began.
fn held(region: &Region<'_, System>) -> usize {
    let change = region.change();
    change.bytes_allocated + change.bytes_reallocated.max(0) as usize - change.bytes_deallocated
}

fn main() {
    let region = Region::new(GLOBAL);
    let mut rib = LocRib::default();
    rib.set_peer(1, peer(1));
    rib.set_peer(2, peer(2));
    fill(&mut rib, 1, Ipv4Addr::new(10, 0, 0, 1));
    let one = held(&region);
    println!(
        "single path: {} routes, {:.1} bytes per route",
        rib.len(),
        one as f64 / f64::from(ROUTES)
    );
    fill(&mut rib, 2, Ipv4Addr::new(10, 0, 0, 2));
    let two = held(&region);
    println!(
        "two paths:   {} routes, {:.1} bytes per route",
        rib.len(),
        two as f64 / f64::from(ROUTES)
    );
    assert_eq!(rib.attr_sets(), 2);
}
