//! TTL security (RFC 5082) and eBGP multihop with BIRD 2, across a router:
//! n0 and n1 share a segment, n2 is one router away. A peer said to be one
//! hop away but two hops off is refused by the kernel (its packets arrive
//! with TTL 254, under the minimum of 255); said to be two hops away, it
//! comes up; a direct peer with TTL security comes up too.

use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::{SessionState, Speaker};
use testnets::{require_privileges, wait_for, Network, Poll, Topology};

use crate::support::{node_config, peer_state, start_bgpd, CONVERGE};

fn network() -> Network {
    let mut topology = Topology::new("ttl");
    topology.segment("lan-a").segment("lan-b");
    topology
        .router("r1")
        .iface("lan-a", &["10.0.1.1/24"])
        .iface("lan-b", &["10.0.2.1/24"]);
    topology.node("n0").iface("lan-a", &["10.0.1.10/24"]);
    topology.node("n1").iface("lan-a", &["10.0.1.11/24"]);
    topology.node("n2").iface("lan-b", &["10.0.2.12/24"]);
    topology.build().unwrap()
}

/// BIRD at `address` in `asn`, TTL security on for a peer `hops` away;
/// passive, so that bgpd's connection is what the kernel checks.
fn bird(address: &str, asn: u32, hops: u8) -> String {
    format!(
        "router id {address};
protocol device {{ }}
protocol bgp bgpd {{
  local {address} as {asn};
  neighbor 10.0.1.10 as 64512;
  ttl security on;
  multihop {hops};
  passive on;
  ipv4 {{ import all; export none; }};
}}
"
    )
}

fn config(n2_hops: u8) -> String {
    node_config(
        "n0",
        "10.0.1.10",
        "10.244.0.0/26",
        &[
            (
                "10.0.1.11",
                65001,
                "ttl_security = 1\nconnect_retry_time = 2",
            ),
            (
                "10.0.2.12",
                65002,
                &format!("ttl_security = {n2_hops}\nconnect_retry_time = 2"),
            ),
        ],
    )
}

#[test]
fn ttl_security_refuses_a_peer_further_than_it_may_be() {
    require_privileges!();
    let net = network();
    let mut bgpd = start_bgpd(net.host("n0"), &config(1));
    let direct = Bird::start(
        net.host("n1"),
        BirdVersion::V2,
        &bird("10.0.1.11", 65001, 1),
    )
    .unwrap();
    let far = Bird::start(
        net.host("n2"),
        BirdVersion::V2,
        &bird("10.0.2.12", 65002, 2),
    )
    .unwrap();
    direct.wait_established(1, CONVERGE).unwrap();

    // Said to be one hop away: its SYN-ACK arrives with TTL 254 and is dropped.
    let (state, error) = wait_for("bgpd to give up on n2", CONVERGE, || {
        let (state, error) = peer_state(&bgpd, "10.0.2.12");
        Ok(if error.is_empty() {
            Poll::Pending(format!("{state:?}"))
        } else {
            Poll::Ready((state, error))
        })
    })
    .unwrap();
    assert_ne!(state, SessionState::Established);
    assert_eq!(error, "Socket: Connection timed out");

    // Two hops: it comes up, and the direct peer's session is untouched.
    bgpd.reload(&config(2)).unwrap();
    far.wait_established(1, CONVERGE).unwrap();
    assert_eq!(peer_state(&bgpd, "10.0.1.11").0, SessionState::Established);
}
