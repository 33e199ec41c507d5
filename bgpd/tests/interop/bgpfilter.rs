//! Calico's BGPFilter from etcd against real peers: a GoBGP top-of-rack
//! router's session goes through two filters. Export: one of the node's
//! blocks is kept from it, and a route Calico's export rule would not send
//! (learned from a BIRD 2 peer, outside every pool) is sent by an accepting
//! rule. Import: of the top-of-rack's routes only those inside 10.50.0.0/16
//! with a length of 24 to 26 are taken.

use ipnet::IpNet;
use serde_json::json;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::etcd::Etcd;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::Speaker;
use testnets::{require_privileges, wait_for, Poll};

use crate::support::{binary, lan, peer, put_block, put_node, CONVERGE, RESOURCES};

fn put(etcd: &Etcd, plural: &str, resource: serde_json::Value) {
    let name = resource["metadata"]["name"].as_str().unwrap().to_owned();
    etcd.put_json(&format!("{RESOURCES}/{plural}/{name}"), &resource)
        .unwrap();
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

#[test]
fn a_top_of_rack_peer_gets_and_gives_what_its_filters_say() {
    require_privileges!();
    let net_ = lan("bgpfilter", 4);
    let etcd = Etcd::start(net_.host("n3")).unwrap();
    let v3 = "projectcalico.org/v3";
    put(
        &etcd,
        "bgpconfigurations",
        json!({"kind": "BGPConfiguration", "apiVersion": v3,
        "metadata": {"name": "default"}, "spec": {"nodeToNodeMeshEnabled": false}}),
    );
    put(
        &etcd,
        "ippools",
        json!({"kind": "IPPool", "apiVersion": v3,
        "metadata": {"name": "pool"}, "spec": {"cidr": "10.244.0.0/16", "ipipMode": "Never"}}),
    );
    put_node(&etcd, "n0", "10.0.1.10");
    put_block(&etcd, "n0", "10.244.8.0/26");
    put_block(&etcd, "n0", "10.244.9.0/26");
    put(
        &etcd,
        "bgpfilters",
        json!({"kind": "BGPFilter", "apiVersion": v3,
        "metadata": {"name": "tor-in"}, "spec": {
            "exportV4": [{"action": "Reject", "matchOperator": "In", "cidr": "10.244.9.0/24"}],
            "importV4": [
                {"action": "Accept", "matchOperator": "In", "cidr": "10.50.0.0/16",
                 "prefixLength": {"min": 24, "max": 26}},
                {"action": "Reject", "source": "RemotePeers"}]}}),
    );
    put(
        &etcd,
        "bgpfilters",
        json!({"kind": "BGPFilter", "apiVersion": v3,
        "metadata": {"name": "tor-out"}, "spec": {
            "exportV4": [{"action": "Accept", "matchOperator": "Equal", "cidr": "10.99.0.0/16"}]}}),
    );
    put(
        &etcd,
        "bgppeers",
        json!({"kind": "BGPPeer", "apiVersion": v3,
        "metadata": {"name": "tor"}, "spec": {"peerIP": "10.0.1.11", "asNumber": 65010,
            "filters": ["tor-in", "tor-out"]}}),
    );
    put(
        &etcd,
        "bgppeers",
        json!({"kind": "BGPPeer", "apiVersion": v3,
        "metadata": {"name": "upstream"}, "spec": {"peerIP": "10.0.1.12", "asNumber": 65020}}),
    );

    let gobgp = "[global.config]\n  as = 65010\n  router-id = \"10.0.1.11\"\n\
                 [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"10.0.1.10\"\n    peer-as = 64512\n";
    let tor = GoBgp::start(net_.host("n1"), gobgp).unwrap();
    for prefix in ["10.50.1.0/24", "10.50.0.0/16", "10.70.0.0/24"] {
        tor.announce(net(prefix)).unwrap();
    }
    let upstream = Bird::start(
        net_.host("n2"),
        BirdVersion::V2,
        "router id 10.0.1.12;
protocol device { }
protocol static { ipv4; route 10.99.0.0/16 blackhole; }
protocol bgp n0 {
  local 10.0.1.12 as 65020;
  neighbor 10.0.1.10 as 64512;
  connect delay time 0;
  ipv4 { import all; export all; };
}
",
    )
    .unwrap();
    let bgpd =
        Bgpd::start_with_etcd(net_.host("n0"), binary(), etcd.endpoint(), "n0", 179).unwrap();
    upstream.wait_established(1, CONVERGE).unwrap();

    // Export: the block outside 10.244.9.0/24, and the upstream's route that
    // only the accepting rule lets out; never the other block.
    tor.wait_received(&[net("10.244.8.0/26"), net("10.99.0.0/16")], CONVERGE)
        .unwrap();
    let rib = tor.cli(&["global", "rib", "-j", "10.244.9.0/26"]).unwrap();
    assert!(!rib.contains("10.244.9.0/26"), "{rib}");
    // The upstream peer, without filters, gets both blocks and not its own
    // route back, as Calico's rule has it.
    upstream
        .wait_received(&[net("10.244.8.0/26"), net("10.244.9.0/26")], CONVERGE)
        .unwrap();

    // Import: all three received, one taken.
    wait_for("the top-of-rack's three prefixes", CONVERGE, || {
        let counters = peer(&bgpd, "10.0.1.11")["counters"].clone();
        Ok(if counters["prefixesReceived"] == 3 {
            Poll::Ready(())
        } else {
            Poll::Pending(format!("counters {counters}"))
        })
    })
    .unwrap();
    assert_eq!(peer(&bgpd, "10.0.1.11")["counters"]["prefixesAccepted"], 1);
    let n0 = net_.host("n0");
    n0.wait_for_routes("10.50.1.0/24 via the top of rack", CONVERGE, |routes| {
        routes.iter().any(|r| r.destination == net("10.50.1.0/24"))
    })
    .unwrap();
    let routes = n0.routes().unwrap();
    for refused in ["10.50.0.0/16", "10.70.0.0/24"] {
        assert!(
            !routes.iter().any(|r| r.destination == net(refused)),
            "{refused} was refused: {routes:?}"
        );
    }
}
