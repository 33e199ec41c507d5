//! Calico's BGPPeer `reachableBy`, from etcd: a top-of-rack peer beyond a
//! router that the node's default route does not use is reached through the
//! gateway the BGPPeer names. bgpd puts the static route to the peer in the
//! kernel, the session comes up, and the route goes with the field.

use serde_json::json;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::etcd::Etcd;
use testnets::speakers::Speaker;
use testnets::{require_privileges, Topology};

use crate::support::{binary, put_node, CONVERGE, RESOURCES};

fn peer_resource(reachable_by: Option<&str>) -> serde_json::Value {
    let mut spec = json!({"peerIP": "10.0.2.20", "asNumber": 65020});
    if let Some(gateway) = reachable_by {
        spec["reachableBy"] = json!(gateway);
    }
    json!({"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3",
           "metadata": {"name": "tor"}, "spec": spec})
}

#[test]
fn a_peer_reachable_by_a_gateway_gets_a_static_route_and_comes_up() {
    require_privileges!();
    // n0's default route points at an address nobody holds; only r1, named
    // by reachableBy, leads to the peer's segment.
    let mut topology = Topology::new("reachable-by");
    topology.segment("lan");
    topology.segment("far");
    topology
        .router("r1")
        .iface("lan", &["10.0.1.1/24"])
        .iface("far", &["10.0.2.1/24"]);
    topology
        .node("n0")
        .iface("lan", &["10.0.1.10/24"])
        .gateway("10.0.1.99");
    topology.host("etcd").iface("lan", &["10.0.1.200/24"]);
    topology.node("tor").iface("far", &["10.0.2.20/24"]);
    let net = topology.build().unwrap();
    let etcd = Etcd::start(net.host("etcd")).unwrap();
    put_node(&etcd, "n0", "10.0.1.10");
    etcd.put_json(
        &format!("{RESOURCES}/bgppeers/tor"),
        &peer_resource(Some("10.0.1.1")),
    )
    .unwrap();
    let tor_config = "router id 10.0.2.20;
protocol device { }
protocol bgp n0 {
  local 10.0.2.20 as 65020;
  neighbor 10.0.1.10 as 64512;
  multihop;
  connect delay time 0;
  ipv4 { import all; export none; };
}
";
    let tor = Bird::start(net.host("tor"), BirdVersion::V2, tor_config).unwrap();
    let _bgpd =
        Bgpd::spawn_with_etcd(net.host("n0"), binary(), etcd.endpoint(), "n0", &[]).unwrap();

    let static_route = "10.0.2.20/32 via 10.0.1.1 dev eth0 proto bird";
    let n0 = net.host("n0");
    n0.wait_for_routes(static_route, CONVERGE, |routes| {
        routes.iter().any(|r| r.to_string() == static_route)
    })
    .unwrap();
    tor.wait_established(1, CONVERGE).unwrap();

    // Without the field, the route goes.
    etcd.put_json(&format!("{RESOURCES}/bgppeers/tor"), &peer_resource(None))
        .unwrap();
    n0.wait_for_routes("no route to 10.0.2.20/32", CONVERGE, |routes| {
        !routes
            .iter()
            .any(|r| r.destination.to_string() == "10.0.2.20/32")
    })
    .unwrap();
}
