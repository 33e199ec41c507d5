//! The uplink is the interface holding the node's address.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot build its network fails loudly"
)]

use testnets::{require_privileges, Topology};

#[test]
fn the_uplink_holds_the_node_address() {
    require_privileges!();
    let mut topology = Topology::new("uplink");
    topology.segment("lan").segment("other");
    topology
        .node("n1")
        .iface("other", &["10.9.0.1/24"])
        .iface("lan", &["10.0.1.11/24"]);
    let net = topology.build().unwrap();
    let found = net
        .host("n1")
        .ns()
        .enter(|| {
            Ok((
                routesync::interface_with("10.0.1.11".parse().unwrap()),
                routesync::interface_with("10.0.1.99".parse().unwrap()),
            ))
        })
        .unwrap();
    assert_eq!(found.0, Ok(Some("eth1".to_owned())));
    assert_eq!(found.1, Ok(None));
}
