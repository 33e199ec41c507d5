//! Scenario 6: churn. A node joins and leaves, affinities are added and
//! removed, a BGPPeer (a GoBGP top-of-rack router) is added and removed;
//! every node converges to exactly the table it should have after each
//! step, and the sessions among the nodes that took no part never flap:
//! their uptime at the end is their uptime at the start.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde_json::json;
use testnets::speakers::etcd::Etcd;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::{SessionState, Speaker};
use testnets::{require_privileges, wait_for, Network, Poll};

use crate::cluster::{bgpd_routes, established_since, put_pool, start_from_etcd, LAN_NODES};
use crate::support::{block_key, lan, put_block, put_node, CONVERGE, RESOURCES};

/// The nodes running now: name, address, and the blocks affine to it.
type Cluster = BTreeMap<&'static str, (&'static str, Vec<&'static str>)>;

/// Waits until every node of `cluster` routes exactly the blocks of the
/// others via their owner and its own as blackholes: nothing missing,
/// nothing left over.
fn wait_for_exact_tables(net: &Network, cluster: &Cluster, step: &str) {
    for name in cluster.keys() {
        let mut expected: Vec<String> = cluster
            .iter()
            .flat_map(|(other, (address, blocks))| {
                blocks.iter().map(move |block| {
                    if other == name {
                        format!("blackhole {block} proto bird")
                    } else {
                        format!("{block} via {address} dev eth0 proto bird metric 1024")
                    }
                })
            })
            .collect();
        expected.sort();
        let host = net.host(name);
        wait_for(&format!("{name}'s table after {step}"), CONVERGE, || {
            let now = bgpd_routes(host);
            Ok(if now == expected {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("have {now:#?}\nwant {expected:#?}"))
            })
        })
        .unwrap();
    }
}

/// The uptime of each session between the three first nodes, by node.
fn uptimes_among_the_first_three(
    net: &Network,
) -> BTreeMap<&'static str, BTreeMap<String, String>> {
    LAN_NODES
        .iter()
        .map(|(name, _, _)| {
            let mut since = established_since(net.host(name));
            since.retain(|address, _| LAN_NODES.iter().any(|(_, a, _)| a == address));
            (*name, since)
        })
        .collect()
}

fn gobgp_established(tor: &GoBgp) -> usize {
    tor.sessions()
        .unwrap()
        .iter()
        .filter(|s| s.state == SessionState::Established)
        .count()
}

#[test]
fn churn_converges_everywhere_and_never_flaps_an_uninvolved_session() {
    require_privileges!();
    let net = lan("cluster-churn", 5);
    let etcd = Etcd::start(net.host("n0")).unwrap();
    put_pool(&etcd, "CrossSubnet");
    let mut cluster = Cluster::new();
    for (name, address, block) in LAN_NODES {
        put_node(&etcd, name, address);
        put_block(&etcd, name, block);
        cluster.insert(name, (address, vec![block]));
    }
    let _first: Vec<_> = LAN_NODES
        .iter()
        .map(|(name, _, _)| start_from_etcd(&net, &etcd, name))
        .collect();
    wait_for_exact_tables(&net, &cluster, "the start");
    let start = uptimes_among_the_first_three(&net);
    assert!(
        start.values().all(|peers| peers.len() == 2),
        "the first three nodes mesh: {start:?}"
    );

    // A node joins.
    put_node(&etcd, "n4", "10.0.1.14");
    put_block(&etcd, "n4", "10.244.4.0/26");
    let mut n4 = start_from_etcd(&net, &etcd, "n4");
    cluster.insert("n4", ("10.0.1.14", vec!["10.244.4.0/26"]));
    wait_for_exact_tables(&net, &cluster, "n4 joined");

    // An affinity is added, another removed (n3 gives its only block up).
    put_block(&etcd, "n2", "10.244.12.0/26");
    cluster.get_mut("n2").unwrap().1.push("10.244.12.0/26");
    wait_for_exact_tables(&net, &cluster, "a block was added to n2");
    etcd.delete(&block_key("n3", "10.244.3.0/26")).unwrap();
    cluster.get_mut("n3").unwrap().1.clear();
    wait_for_exact_tables(&net, &cluster, "n3's block was released");

    // A BGPPeer is added: the ToR peers with every node and gets every block.
    let mut config = String::from("[global.config]\n  as = 65000\n  router-id = \"10.0.1.10\"\n");
    for (address, _) in cluster.values() {
        config.push_str(&format!(
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{address}\"\n    peer-as = 64512\n"
        ));
    }
    let tor = GoBgp::start(net.host("n0"), &config).unwrap();
    let peer = json!({"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3",
                      "metadata": {"name": "tor"},
                      "spec": {"peerIP": "10.0.1.10", "asNumber": 65000}});
    etcd.put_json(&format!("{RESOURCES}/bgppeers/tor"), &peer)
        .unwrap();
    tor.wait_established(4, CONVERGE).unwrap();
    let blocks: Vec<IpNet> = cluster
        .values()
        .flat_map(|(_, blocks)| blocks.iter().map(|b| b.parse().unwrap()))
        .collect();
    tor.wait_received(&blocks, CONVERGE).unwrap();
    // ...and removed: every node closes its session to it.
    etcd.delete(&format!("{RESOURCES}/bgppeers/tor")).unwrap();
    wait_for("the ToR to lose every session", CONVERGE, || {
        Ok(match gobgp_established(&tor) {
            0 => Poll::Ready(()),
            n => Poll::Pending(format!("{n} established")),
        })
    })
    .unwrap();

    // A node leaves: its resources go, then its bgpd.
    etcd.delete(&format!("{RESOURCES}/nodes/n4")).unwrap();
    etcd.delete(&block_key("n4", "10.244.4.0/26")).unwrap();
    n4.process().stop();
    cluster.remove("n4");
    wait_for_exact_tables(&net, &cluster, "n4 left");

    // Through all of it, the sessions among n1..n3 never went down.
    assert_eq!(uptimes_among_the_first_three(&net), start);
}
