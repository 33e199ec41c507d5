//! Scenario 5: a top-of-rack router (GoBGP) as a global BGPPeer receives
//! every block and nothing else.

use ipnet::IpNet;
use serde_json::json;
use testnets::require_privileges;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::Etcd;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::Speaker;

use crate::cluster::{put_lan_nodes, put_pool, rendered, start_from_etcd, LAN_NODES};
use crate::support::{lan, put_block, CONVERGE, RESOURCES};

#[test]
fn a_top_of_rack_router_gets_every_block_and_nothing_else() {
    require_privileges!();
    let net = lan("cluster-tor", 4);
    let etcd = Etcd::start(net.host("n0")).unwrap();
    put_pool(&etcd, "Never");
    // A pool whose blocks Calico keeps from BGP (disableBGPExport).
    let private = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
                         "metadata": {"name": "private"},
                         "spec": {"cidr": "10.245.0.0/16", "disableBGPExport": true}});
    etcd.put_json(&format!("{RESOURCES}/ippools/private"), &private)
        .unwrap();
    put_lan_nodes(&etcd);
    let nodes = LAN_NODES;
    put_block(&etcd, "n1", "10.245.0.0/26");
    // The ToR as a global BGPPeer: every node peers with it.
    let tor = json!({"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3",
                     "metadata": {"name": "tor"},
                     "spec": {"peerIP": "10.0.1.10", "asNumber": 65000}});
    etcd.put_json(&format!("{RESOURCES}/bgppeers/tor"), &tor)
        .unwrap();
    let mut config = String::from("[global.config]\n  as = 65000\n  router-id = \"10.0.1.10\"\n");
    for (_, address, _) in nodes {
        config.push_str(&format!(
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{address}\"\n    peer-as = 64512\n"
        ));
    }
    let tor = GoBgp::start(net.host("n0"), &config).unwrap();
    // The ToR's own route toward the rest of the data centre.
    tor.announce("10.99.0.0/16".parse().unwrap()).unwrap();
    let _speakers: Vec<Bgpd> = nodes
        .iter()
        .map(|(name, _, _)| start_from_etcd(&net, &etcd, name))
        .collect();

    tor.wait_established(3, CONVERGE).unwrap();
    let blocks: Vec<IpNet> = nodes.iter().map(|(_, _, b)| b.parse().unwrap()).collect();
    tor.wait_received(&blocks, CONVERGE).unwrap();
    // Every node has learned the ToR's route (so it could have sent it on)...
    for (name, _, _) in nodes {
        net.host(name)
            .wait_for_routes("the ToR's route", CONVERGE, |table| {
                rendered(table, "10.99.0.0/16")
                    == "10.99.0.0/16 via 10.0.1.10 dev eth0 proto bird metric 1024"
            })
            .unwrap();
    }
    // ...and yet the ToR holds the pod blocks only: not the private pool's
    // block, not its own route back, not the nodes' subnets.
    let mut received = tor.received().unwrap();
    received.sort();
    received.dedup();
    assert_eq!(received, blocks);
}
