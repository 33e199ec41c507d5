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

/// Calico with the mesh off, IP pool 10.244.0.0/16 without encapsulation,
/// and node n0 at 10.0.1.10.
fn calico_without_mesh(etcd: &Etcd) {
    let v3 = "projectcalico.org/v3";
    put(
        etcd,
        "bgpconfigurations",
        json!({"kind": "BGPConfiguration", "apiVersion": v3,
        "metadata": {"name": "default"}, "spec": {"nodeToNodeMeshEnabled": false}}),
    );
    put(
        etcd,
        "ippools",
        json!({"kind": "IPPool", "apiVersion": v3,
        "metadata": {"name": "pool"}, "spec": {"cidr": "10.244.0.0/16", "ipipMode": "Never"}}),
    );
    put_node(etcd, "n0", "10.0.1.10");
}

/// GoBGP as the top-of-rack router: AS 65010 on n1, peering with n0.
const TOR: &str = "[global.config]\n  as = 65010\n  router-id = \"10.0.1.11\"\n\
                   [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"10.0.1.10\"\n    peer-as = 64512\n";

#[test]
fn a_top_of_rack_peer_gets_and_gives_what_its_filters_say() {
    require_privileges!();
    let net_ = lan("bgpfilter", 4);
    let etcd = Etcd::start(net_.host("n3")).unwrap();
    let v3 = "projectcalico.org/v3";
    calico_without_mesh(&etcd);
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

    let tor = GoBgp::start(net_.host("n1"), TOR).unwrap();
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

/// BGPFilter's later rules and operations, and prefixAdvertisements
/// communities, as real peers receive them: a GoBGP top-of-rack router
/// (eBGP) and a BIRD 2 peer (iBGP).
///
/// - Import from the top of rack: a route with community 65010:100 is
///   taken at priority 512 with a large community added; one without is
///   refused. The node's kernel holds it at metric 512.
/// - Export to the top of rack (an eBGP rule): the blocks with 64512
///   prepended twice and community 64512:300, and without the
///   prefixAdvertisements communities (the accepting rule decides).
/// - Export to the BIRD 2 peer (an iBGP rule): the top of rack's route,
///   with the LOCAL_PREF and communities import gave it; the blocks by
///   Calico's rule with the prefixAdvertisements communities, standard and
///   large.
#[test]
fn operations_and_prefix_communities_reach_real_peers() {
    require_privileges!();
    let net_ = lan("bgpfops", 4);
    let etcd = Etcd::start(net_.host("n3")).unwrap();
    calico_without_mesh(&etcd);
    let v3 = "projectcalico.org/v3";
    put(
        &etcd,
        "bgpconfigurations",
        json!({"kind": "BGPConfiguration", "apiVersion": v3,
        "metadata": {"name": "default"}, "spec": {"nodeToNodeMeshEnabled": false,
            "communities": [{"name": "pods", "value": "64512:1"}],
            "prefixAdvertisements": [
                {"cidr": "10.244.0.0/16", "communities": ["pods", "64512:2:3"]}]}}),
    );
    put_block(&etcd, "n0", "10.244.8.0/26");
    put(
        &etcd,
        "bgpfilters",
        json!({"kind": "BGPFilter", "apiVersion": v3,
        "metadata": {"name": "tor"}, "spec": {
            "importV4": [
                {"action": "Accept", "communities": {"values": ["65010:100"]},
                 "operations": [{"setPriority": {"value": 512}},
                                {"addCommunity": {"value": "64512:7:7"}}]},
                {"action": "Reject"}],
            "exportV4": [
                {"action": "Accept", "peerType": "eBGP", "matchOperator": "In",
                 "cidr": "10.244.0.0/16",
                 "operations": [{"prependASPath": {"prefix": [64512, 64512]}},
                                {"addCommunity": {"value": "64512:300"}}]}]}}),
    );
    put(
        &etcd,
        "bgpfilters",
        json!({"kind": "BGPFilter", "apiVersion": v3,
        "metadata": {"name": "share-tor"}, "spec": {
            "exportV4": [{"action": "Accept", "peerType": "iBGP", "matchOperator": "In",
                          "cidr": "10.50.0.0/16"}]}}),
    );
    put(
        &etcd,
        "bgppeers",
        json!({"kind": "BGPPeer", "apiVersion": v3,
        "metadata": {"name": "tor"}, "spec": {"peerIP": "10.0.1.11", "asNumber": 65010,
            "filters": ["tor"]}}),
    );
    put(
        &etcd,
        "bgppeers",
        json!({"kind": "BGPPeer", "apiVersion": v3,
        "metadata": {"name": "ibgp"}, "spec": {"peerIP": "10.0.1.12", "asNumber": 64512,
            "filters": ["share-tor"]}}),
    );

    let tor = GoBgp::start(net_.host("n1"), TOR).unwrap();
    tor.announce_with(net("10.50.1.0/24"), &["community", "65010:100"])
        .unwrap();
    tor.announce(net("10.50.2.0/24")).unwrap();
    let ibgp = Bird::start(
        net_.host("n2"),
        BirdVersion::V2,
        "router id 10.0.1.12;
protocol device { }
protocol bgp n0 {
  local 10.0.1.12 as 64512;
  neighbor 10.0.1.10 as 64512;
  direct;
  connect delay time 0;
  ipv4 { gateway direct; import all; export none; };
}
",
    )
    .unwrap();
    let _bgpd =
        Bgpd::start_with_etcd(net_.host("n0"), binary(), etcd.endpoint(), "n0", 179).unwrap();

    // Import: the tagged route at priority 512, the other refused.
    let n0 = net_.host("n0");
    n0.wait_for_routes("10.50.1.0/24 at metric 512", CONVERGE, |routes| {
        routes
            .iter()
            .any(|r| r.destination == net("10.50.1.0/24") && r.metric == Some(512))
    })
    .unwrap();
    assert!(
        !n0.routes()
            .unwrap()
            .iter()
            .any(|r| r.destination == net("10.50.2.0/24")),
        "10.50.2.0/24 carries no 65010:100"
    );

    // Export to the top of rack: the rule's operations, nothing else.
    tor.wait_received(&[net("10.244.8.0/26")], CONVERGE)
        .unwrap();
    let block = tor.cli(&["global", "rib", "10.244.8.0/26"]).unwrap();
    assert!(block.contains("64512 64512 64512"), "{block}");
    assert!(block.contains("64512:300"), "{block}");
    assert!(!block.contains("64512:1"), "no prefix communities: {block}");

    // Export to the iBGP peer: the top of rack's route as import made it,
    // and the block with the prefixAdvertisements communities.
    ibgp.wait_received(&[net("10.244.8.0/26"), net("10.50.1.0/24")], CONVERGE)
        .unwrap();
    let learned = ibgp.cmd("show route all 10.50.1.0/24").unwrap();
    let priority_512 = format!("BGP.local_pref: {}", 2_147_483_647 - 512);
    assert!(learned.contains(&priority_512), "{learned}");
    assert!(learned.contains("(65010,100)"), "{learned}");
    assert!(learned.contains("(64512, 7, 7)"), "{learned}");
    let block = ibgp.cmd("show route all 10.244.8.0/26").unwrap();
    assert!(block.contains("(64512,1)"), "{block}");
    assert!(block.contains("(64512, 2, 3)"), "{block}");
    assert!(
        !block.contains("64512:300") && !block.contains("(64512,300)"),
        "{block}"
    );
}

/// A changed BGPFilter applies without restarting the session, as BIRD's
/// reconfiguration: export is computed again and the top of rack is sent
/// the difference (one block withdrawn, the other announced); import asks
/// it for its routes again (ROUTE-REFRESH), and what the new rules refuse
/// leaves the kernel while what they take arrives.
#[test]
fn a_changed_filter_applies_without_restarting_the_session() {
    require_privileges!();
    let net_ = lan("bgpfnew", 3);
    let etcd = Etcd::start(net_.host("n2")).unwrap();
    let v3 = "projectcalico.org/v3";
    calico_without_mesh(&etcd);
    put_block(&etcd, "n0", "10.244.8.0/26");
    put_block(&etcd, "n0", "10.244.9.0/26");
    let filter = |refused_in: &str, kept_back: &str| {
        json!({"kind": "BGPFilter", "apiVersion": v3, "metadata": {"name": "tor"}, "spec": {
            "importV4": [{"action": "Reject", "matchOperator": "In", "cidr": refused_in}],
            "exportV4": [{"action": "Reject", "matchOperator": "Equal", "cidr": kept_back}]}})
    };
    put(&etcd, "bgpfilters", filter("10.60.0.0/16", "10.244.9.0/26"));
    put(
        &etcd,
        "bgppeers",
        json!({"kind": "BGPPeer", "apiVersion": v3,
        "metadata": {"name": "tor"}, "spec": {"peerIP": "10.0.1.11", "asNumber": 65010,
            "filters": ["tor"]}}),
    );
    let tor = GoBgp::start(net_.host("n1"), TOR).unwrap();
    for prefix in ["10.50.1.0/24", "10.60.1.0/24"] {
        tor.announce(net(prefix)).unwrap();
    }
    let bgpd =
        Bgpd::start_with_etcd(net_.host("n0"), binary(), etcd.endpoint(), "n0", 179).unwrap();
    let n0 = net_.host("n0");
    let holds = |routes: &[testnets::KernelRoute], prefix: &str| {
        routes.iter().any(|r| r.destination == net(prefix))
    };
    tor.wait_received(&[net("10.244.8.0/26")], CONVERGE)
        .unwrap();
    n0.wait_for_routes("10.50.1.0/24 taken", CONVERGE, |r| holds(r, "10.50.1.0/24"))
        .unwrap();
    assert!(!holds(&n0.routes().unwrap(), "10.60.1.0/24"));
    let since = peer(&bgpd, "10.0.1.11")["since"].clone();
    assert!(!since.is_null(), "the session's start is shown");

    put(&etcd, "bgpfilters", filter("10.50.0.0/16", "10.244.8.0/26"));
    n0.wait_for_routes("10.60.1.0/24 taken, 10.50.1.0/24 refused", CONVERGE, |r| {
        holds(r, "10.60.1.0/24") && !holds(r, "10.50.1.0/24")
    })
    .unwrap();
    testnets::wait_for("the top of rack's blocks swapped", CONVERGE, || {
        let received = tor.received()?;
        Ok(
            if received.contains(&net("10.244.9.0/26")) && !received.contains(&net("10.244.8.0/26"))
            {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("{received:?}"))
            },
        )
    })
    .unwrap();
    let now = peer(&bgpd, "10.0.1.11");
    assert_eq!(now["since"], since, "the session was kept: {now}");
}

/// A BGPFilter `interface` rule sees a route's interface, as BIRD's
/// `ifname`: a borrowed pod address, routed by Felix through its `cali…`
/// interface, is kept from the top of rack whose filter rejects `cali*`,
/// and goes to a BIRD 2 peer without filters (the node's block goes to
/// both); and of the top of rack's routes, reached through eth0, those
/// inside 10.50.0.0/16 are refused by an import rule on eth0.
#[test]
fn interface_rules_see_learned_devices_and_the_way_to_next_hops() {
    require_privileges!();
    let net_ = lan("bgpfiface", 4);
    let etcd = Etcd::start(net_.host("n3")).unwrap();
    let v3 = "projectcalico.org/v3";
    calico_without_mesh(&etcd);
    put_block(&etcd, "n0", "10.244.8.0/26");
    put(
        &etcd,
        "bgpfilters",
        json!({"kind": "BGPFilter", "apiVersion": v3, "metadata": {"name": "no-workloads"},
        "spec": {"exportV4": [{"action": "Reject", "interface": "cali*"}],
                 "importV4": [{"action": "Reject", "interface": "eth0",
                               "matchOperator": "In", "cidr": "10.50.0.0/16"}]}}),
    );
    put(
        &etcd,
        "bgppeers",
        json!({"kind": "BGPPeer", "apiVersion": v3,
        "metadata": {"name": "tor"}, "spec": {"peerIP": "10.0.1.11", "asNumber": 65010,
            "filters": ["no-workloads"]}}),
    );
    put(
        &etcd,
        "bgppeers",
        json!({"kind": "BGPPeer", "apiVersion": v3,
        "metadata": {"name": "other"}, "spec": {"peerIP": "10.0.1.12", "asNumber": 65020}}),
    );
    // The nodes' subnet as a pool too: its interface network goes to the
    // BIRD peer, which tells that bgpd has learned it.
    put(
        &etcd,
        "ippools",
        json!({"kind": "IPPool", "apiVersion": v3,
        "metadata": {"name": "hosts"}, "spec": {"cidr": "10.0.1.0/24", "ipipMode": "Never"}}),
    );
    let n0 = net_.host("n0");
    crate::support::workload(n0, "cali1111aaaa");
    n0.ns()
        .ip([
            "route",
            "add",
            "10.244.2.5/32",
            "dev",
            "cali1111aaaa",
            "scope",
            "link",
        ])
        .unwrap();
    let tor = GoBgp::start(net_.host("n1"), TOR).unwrap();
    let other = Bird::start(
        net_.host("n2"),
        BirdVersion::V2,
        "router id 10.0.1.12;
protocol device { }
protocol bgp n0 {
  local 10.0.1.12 as 65020;
  neighbor 10.0.1.10 as 64512;
  connect delay time 0;
  ipv4 { import all; export none; };
}
",
    )
    .unwrap();
    let _bgpd =
        Bgpd::start_with_etcd(net_.host("n0"), binary(), etcd.endpoint(), "n0", 179).unwrap();
    other
        .wait_received(&[net("10.244.8.0/26"), net("10.244.2.5/32")], CONVERGE)
        .unwrap();
    tor.wait_received(&[net("10.244.8.0/26")], CONVERGE)
        .unwrap();
    let rib = tor.cli(&["global", "rib", "-j", "10.244.2.5/32"]).unwrap();
    assert!(!rib.contains("10.244.2.5/32"), "{rib}");

    // Import: the top of rack is reached through eth0 (the interface
    // network bgpd learned, which the BIRD peer got).
    other
        .wait_received(&[net("10.0.1.0/24")], CONVERGE)
        .unwrap();
    tor.announce(net("10.50.1.0/24")).unwrap();
    tor.announce(net("10.60.1.0/24")).unwrap();
    n0.wait_for_routes("10.60.1.0/24 taken", CONVERGE, |routes| {
        routes.iter().any(|r| r.destination == net("10.60.1.0/24"))
    })
    .unwrap();
    let routes = n0.routes().unwrap();
    assert!(
        !routes.iter().any(|r| r.destination == net("10.50.1.0/24")),
        "10.50.1.0/24 refused on eth0: {routes:?}"
    );
}
