//! Well-known communities on import. A path carrying GRACEFUL_SHUTDOWN
//! (RFC 8326) loses to any other path, so traffic leaves a peer that is about
//! to go down before it goes: bgpd between two BIRD 2 peers that announce
//! the same prefix, the nearer one tagging it while it drains.

use testnets::require_privileges;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::KernelRoute;

use crate::support::{lan, start_n0, CONVERGE};

const PREFIX: &str = "10.244.50.0/26";

/// BIRD on n1 (AS 65001): the shorter AS path; tagged while it drains.
fn near(draining: bool) -> String {
    let tag = if draining {
        "bgp_community.add((65535,0)); "
    } else {
        ""
    };
    format!(
        "router id 10.0.1.11;
protocol device {{ }}
protocol static own {{
  ipv4 {{ import filter {{ {tag}accept; }}; }};
  route {PREFIX} blackhole;
}}
protocol bgp bgpd {{
  local 10.0.1.11 as 65001;
  neighbor 10.0.1.10 as 64512;
  connect delay time 0;
  ipv4 {{ import none; export where source = RTS_STATIC; }};
}}
"
    )
}

/// BIRD on n2 (AS 65002): the same prefix behind a longer AS path.
fn far() -> String {
    format!(
        "router id 10.0.1.12;
protocol device {{ }}
protocol static own {{ ipv4; route {PREFIX} blackhole; }}
protocol bgp bgpd {{
  local 10.0.1.12 as 65002;
  neighbor 10.0.1.10 as 64512;
  connect delay time 0;
  ipv4 {{ import none; export filter {{ if source = RTS_STATIC then {{ bgp_path.prepend(65002); accept; }} reject; }}; }};
}}
"
    )
}

fn routed_via(table: &[KernelRoute], gateway: &str) -> bool {
    table.iter().any(|r| {
        r.destination.to_string() == PREFIX && r.to_string().contains(&format!("via {gateway} "))
    })
}

#[test]
fn a_path_tagged_graceful_shutdown_loses_to_any_other() {
    require_privileges!();
    let net = lan("gshut", 3);
    let n0 = net.host("n0");
    let _bgpd = start_n0(&net, &[("10.0.1.11", 65001, ""), ("10.0.1.12", 65002, "")]);
    let nearer = Bird::start(net.host("n1"), BirdVersion::V2, &near(false)).unwrap();
    let _farther = Bird::start(net.host("n2"), BirdVersion::V2, &far()).unwrap();
    n0.wait_for_routes("the shorter AS path", CONVERGE, |t| {
        routed_via(t, "10.0.1.11")
    })
    .unwrap();

    nearer.reconfigure(&near(true)).unwrap();
    n0.wait_for_routes("the longer path, the shorter one draining", CONVERGE, |t| {
        routed_via(t, "10.0.1.12")
    })
    .unwrap();

    nearer.reconfigure(&near(false)).unwrap();
    n0.wait_for_routes(
        "the shorter path again once it is untagged",
        CONVERGE,
        |t| routed_via(t, "10.0.1.11"),
    )
    .unwrap();
}
