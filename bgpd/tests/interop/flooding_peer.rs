//! A peer that floods bgpd with a million prefixes: every /32 of
//! 172.16.0.0/12 (1,048,576), as fast as TCP takes them, into a bgpd that
//! programs its kernel. GoBGP, a bystander with a hold time of 9 s, keeps its
//! session throughout (bgpd's keepalives stay on time), a route it announces
//! mid-flood still reaches the kernel, bgpd's resident memory stays under a
//! bound proportional to the flood, and once the flooding peer leaves, every
//! one of its routes leaves the RIB and the kernel.

use std::net::Ipv4Addr;

use bgpd::packet::{Message, Nlri};
use ipnet::{IpNet, Ipv4Net};
use testnets::speakers::Speaker;
use testnets::{require_privileges, wait_for, Host, Poll};

use crate::raw_peer::{open_65001, update_65001, RawPeer};
use crate::support::{holds, hostile_peer_config, lan, peer, start_bgpd, steady_bystander};

const FLOOD: &str = "172.16.0.0/12";
const FLOOD_SIZE: u64 = 1 << 20;
const STEADY: &str = "10.244.41.0/26";
const MID_FLOOD: &str = "10.244.42.0/26";
/// Resident memory bgpd may use: a base, and 1 KiB per flooded route (the
/// RIB's path and the kernel programmer's record; S4 measures about 600 B).
const RSS_BOUND_KIB: u64 = 256 * 1024 + FLOOD_SIZE;
/// A million routes through a debug build and the kernel take a while.
const FLOOD_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// The UPDATEs of the flood: 700 /32s each, one attribute set.
fn flood_updates() -> impl Iterator<Item = Message> {
    let flood: Ipv4Net = FLOOD.parse().unwrap();
    let base = u32::from(flood.network());
    let prefixes: Vec<u32> = (0..FLOOD_SIZE as u32).map(|i| base + i).collect();
    let chunks: Vec<Vec<u32>> = prefixes.chunks(700).map(<[u32]>::to_vec).collect();
    chunks.into_iter().map(|chunk| {
        let nlri = chunk
            .into_iter()
            .map(|a| Nlri::new(IpNet::new(Ipv4Addr::from(a).into(), 32).unwrap()))
            .collect();
        update_65001(nlri, None)
    })
}

/// How many routes inside the flood's range n0's kernel holds.
fn kernel_flood_routes(host: &Host) -> u64 {
    let out = host
        .exec(
            "sh",
            ["-c", &format!("ip -4 route show root {FLOOD} | wc -l")],
        )
        .unwrap();
    out.trim().parse().unwrap()
}

/// A field of /proc/<pid>/status, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

fn prefixes_from(bgpd: &testnets::speakers::bgpd::Bgpd, address: &str) -> u64 {
    peer(bgpd, address)["counters"]["prefixesInRib"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn a_million_prefix_flood_leaves_other_peers_untouched_and_memory_bounded() {
    require_privileges!();
    let net = lan("flood", 3);
    let n0 = net.host("n0");
    let mut bgpd = start_bgpd(n0, &hostile_peer_config("", "hold_time = 9"));
    let gobgp = "[global.config]\n  as = 65002\n  router-id = \"10.0.1.12\"\n[[neighbors]]\n  \
                 [neighbors.config]\n    neighbor-address = \"10.0.1.10\"\n    peer-as = 64512\n  \
                 [neighbors.timers.config]\n    hold-time = 9\n    keepalive-interval = 3\n  \
                 [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n";
    let (go, steady_since) = steady_bystander(&net, &bgpd, gobgp, STEADY);

    let pid = bgpd.process().pid();
    net.host("n1")
        .ns()
        .enter(|| {
            let mut flooder = RawPeer::establish("10.0.1.10:179", open_65001(Vec::new()));
            for (i, update) in flood_updates().enumerate() {
                flooder.send(&update);
                if i == 100 {
                    // Mid-flood, GoBGP changes something: it must get through.
                    go.announce(MID_FLOOD.parse().unwrap()).unwrap();
                }
            }
            // The flooder stays a good peer otherwise: it keeps its session
            // alive while bgpd works.
            wait_for("every flooded prefix in bgpd's RIB", FLOOD_WAIT, || {
                flooder.send(&Message::Keepalive);
                let held = prefixes_from(&bgpd, "10.0.1.11");
                Ok(if held == FLOOD_SIZE {
                    Poll::Ready(())
                } else {
                    Poll::Pending(format!("{held} of {FLOOD_SIZE}"))
                })
            })?;
            wait_for("every flooded prefix in the kernel", FLOOD_WAIT, || {
                flooder.send(&Message::Keepalive);
                let held = kernel_flood_routes(n0);
                Ok(if held == FLOOD_SIZE {
                    Poll::Ready(())
                } else {
                    Poll::Pending(format!("{held} of {FLOOD_SIZE}"))
                })
            })?;
            // The flooder leaves: everything it sent goes.
            drop(flooder);
            Ok(())
        })
        .unwrap();
    let peak = status_kib(pid, "VmHWM:");
    println!(
        "flood: bgpd's peak resident memory {} MiB for {FLOOD_SIZE} routes",
        peak / 1024
    );
    assert!(
        peak < RSS_BOUND_KIB,
        "peak RSS {peak} KiB over the bound of {RSS_BOUND_KIB} KiB"
    );

    wait_for(
        "the flood gone from the RIB and the kernel",
        FLOOD_WAIT,
        || {
            let (rib, kernel) = (prefixes_from(&bgpd, "10.0.1.11"), kernel_flood_routes(n0));
            Ok(if rib == 0 && kernel == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("{rib} in the RIB, {kernel} in the kernel"))
            })
        },
    )
    .unwrap();

    // The bystander: its session never dropped, its routes (the one sent
    // mid-flood too) are in the kernel, and it holds bgpd's block and none
    // of the flood (outside the export range).
    assert_eq!(
        peer(&bgpd, "10.0.1.12")["since"],
        steady_since,
        "GoBGP's session stayed up"
    );
    let table = n0.routes().unwrap();
    assert!(holds(&table, STEADY) && holds(&table, MID_FLOOD));
    let received = go.received().unwrap();
    let flood: IpNet = FLOOD.parse().unwrap();
    assert!(received.contains(&"10.244.0.0/26".parse().unwrap()));
    assert!(!received.iter().any(|p| flood.contains(p)), "{received:?}");
    assert!(bgpd.process().exited().is_none(), "bgpd still runs");
}
