//! A per-peer maximum-prefix limit: BIRD 2 peers that send one path too
//! many. With `restart` bgpd ceases the session ("Maximum Number of
//! Prefixes Reached", RFC 4486 §4), installs none of the peer's paths, and
//! starts it again after the restart time; with `warn` it keeps them all.

use std::time::Duration;

use testnets::require_privileges;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::{wait_for, KernelRoute, Poll};

use crate::support::{lan, start_n0, CONVERGE};

/// BIRD on n`host` in AS `asn`, announcing `count` /26 blocks from `base`.
fn bird(host: u8, asn: u32, base: u8, count: u8) -> String {
    // Four /26 to a /24: 10.244.base.0/26, .64/26, ... then base + 1.
    let routes: String = (0..count)
        .map(|i| {
            format!(
                "route 10.244.{}.{}/26 blackhole; ",
                base + i / 4,
                64 * (i % 4)
            )
        })
        .collect();
    format!(
        "router id 10.0.1.1{host};
protocol device {{ }}
protocol static own {{ ipv4; {routes}}}
protocol bgp bgpd {{
  local 10.0.1.1{host} as {asn};
  neighbor 10.0.1.10 as 64512;
  connect delay time 0;
  connect retry time 1;
  error wait time 1, 2;
  ipv4 {{ import none; export where source = RTS_STATIC; }};
}}
"
    )
}

/// How many routes of the kernel's are inside 10.244.`base`.0/23.
fn held_from(table: &[KernelRoute], base: u8) -> usize {
    table
        .iter()
        .filter(|r| {
            let d = r.destination.to_string();
            d.starts_with(&format!("10.244.{base}."))
                || d.starts_with(&format!("10.244.{}.", base + 1))
        })
        .count()
}

#[test]
fn a_peer_over_its_limit_is_ceased_or_warned_about() {
    require_privileges!();
    let net = lan("limit", 3);
    let n0 = net.host("n0");
    let _bgpd = start_n0(
        &net,
        &[
            (
                "10.0.1.11",
                65001,
                "max_prefixes = { limit = 5, restart_time = 2 }",
            ),
            (
                "10.0.1.12",
                65002,
                "max_prefixes = { limit = 5, action = \"warn\" }",
            ),
        ],
    );
    let ceased = Bird::start(net.host("n1"), BirdVersion::V2, &bird(1, 65001, 60, 6)).unwrap();
    let _warned = Bird::start(net.host("n2"), BirdVersion::V2, &bird(2, 65002, 70, 6)).unwrap();

    // Warned: every one of the six is installed.
    n0.wait_for_routes("the warned peer's six blocks", CONVERGE, |t| {
        held_from(t, 70) == 6
    })
    .unwrap();
    // Ceased: BIRD hears why, and none of its six was installed.
    wait_for("BIRD to hear the Cease", CONVERGE, || {
        let out = ceased.cmd("show protocols all bgpd")?;
        Ok(if out.contains("Maximum number of prefixes reached") {
            Poll::Ready(())
        } else {
            Poll::Pending(out)
        })
    })
    .unwrap();
    let table = n0
        .wait_for_routes("the warned peer's blocks", CONVERGE, |_| true)
        .unwrap();
    assert_eq!(held_from(&table, 60), 0, "none of the ceased peer's paths");

    // Within its limit, the peer's session comes back after the restart time.
    ceased.reconfigure(&bird(1, 65001, 60, 5)).unwrap();
    n0.wait_for_routes(
        "the ceased peer's five blocks",
        CONVERGE + Duration::from_secs(5),
        |t| held_from(t, 60) == 5,
    )
    .unwrap();
}
