//! Scenario 2: CrossSubnet with two subnets of three nodes; switching the
//! pool between Always, CrossSubnet and Never in etcd re-programs every node.

use testnets::speakers::bgpd::Bgpd;
use testnets::{require_privileges, Network, Topology};

use crate::cluster::{put_pool, start_from_etcd, wait_for_blocks};
use crate::support::{put_block, put_node};
use testnets::speakers::etcd::Etcd;

/// Two subnets of three nodes, joined by r1 (10.0.1.1 / 10.0.2.1).
const NODES: [(&str, &str, &str); 6] = [
    ("a1", "10.0.1.11", "10.244.1.0/26"),
    ("a2", "10.0.1.12", "10.244.2.0/26"),
    ("a3", "10.0.1.13", "10.244.3.0/26"),
    ("b1", "10.0.2.21", "10.244.4.0/26"),
    ("b2", "10.0.2.22", "10.244.5.0/26"),
    ("b3", "10.0.2.23", "10.244.6.0/26"),
];

fn two_subnets_of_three() -> Network {
    let mut topology = Topology::new("cluster-xs");
    topology.segment("lan-a").segment("lan-b");
    topology
        .router("r1")
        .iface("lan-a", &["10.0.1.1/24"])
        .iface("lan-b", &["10.0.2.1/24"]);
    for (name, address, _) in NODES {
        topology
            .node(name)
            .iface(segment_of(address), &[&format!("{address}/24")]);
    }
    topology.build().unwrap()
}

fn segment_of(address: &str) -> &'static str {
    if address.starts_with("10.0.1.") {
        "lan-a"
    } else {
        "lan-b"
    }
}

/// The route a node at `from` must have for the block of the node at `to`,
/// as `ip route` shows it, with the pool in `ipip_mode` (docs/DESIGN.md §4,
/// docs/CALICO-CONTRACT.md §4).
fn expected_route(from: &str, to: &str, block: &str, ipip_mode: &str) -> String {
    let same_subnet = segment_of(from) == segment_of(to);
    let tunnel = match ipip_mode {
        "Always" => true,
        "CrossSubnet" => !same_subnet,
        _ => false,
    };
    if tunnel {
        format!("{block} via {to} dev tunl0 proto bird metric 1024 onlink")
    } else if same_subnet {
        format!("{block} via {to} dev eth0 proto bird metric 1024")
    } else {
        // Never, across the router: BIRD's recursive gateway, through r1.
        let router = if segment_of(from) == "lan-a" {
            "10.0.1.1"
        } else {
            "10.0.2.1"
        };
        format!("{block} via {router} dev eth0 proto bird metric 1024")
    }
}

/// Waits until every node routes every other node's block as `ipip_mode`
/// says, and its own as a blackhole.
fn wait_for_every_node(net: &Network, ipip_mode: &str) {
    for (name, from, own) in NODES {
        let expected: Vec<(String, String)> = NODES
            .iter()
            .map(|(_, to, block)| {
                let route = if *block == own {
                    format!("blackhole {block} proto bird")
                } else {
                    expected_route(from, to, block, ipip_mode)
                };
                ((*block).to_owned(), route)
            })
            .collect();
        let what = format!("every block as {ipip_mode} says");
        wait_for_blocks(net.host(name), &what, &expected);
    }
}

#[test]
fn cross_subnet_and_switching_the_pool_mode_reprograms_every_node() {
    require_privileges!();
    let net = two_subnets_of_three();
    let etcd = Etcd::start(net.host("r1")).unwrap();
    put_pool(&etcd, "CrossSubnet");
    for (name, address, block) in NODES {
        put_node(&etcd, name, address);
        put_block(&etcd, name, block);
    }
    let _speakers: Vec<Bgpd> = NODES
        .iter()
        .map(|(name, _, _)| start_from_etcd(&net, &etcd, name))
        .collect();
    wait_for_every_node(&net, "CrossSubnet");

    // The pool's mode changed in etcd: every node re-programs every route.
    for mode in ["Always", "Never", "CrossSubnet"] {
        put_pool(&etcd, mode);
        wait_for_every_node(&net, mode);
    }
}
