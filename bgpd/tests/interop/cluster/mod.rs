//! Whole-cluster scenarios (issue 8): real etcd, a bgpd process per node,
//! and every node's kernel table checked, the way a user meets them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ipnet::IpNet;
use serde_json::json;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::Etcd;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::Speaker;
use testnets::{
    require_privileges, wait_for, Host, KernelRoute, Network, Poll, Topology, PROTO_BIRD,
};

use crate::support::{binary, lan, put_block, put_node, CONVERGE, RESOURCES};

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

fn put_pool(etcd: &Etcd, ipip_mode: &str) {
    let pool = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
                      "metadata": {"name": "default-ipv4-ippool"},
                      "spec": {"cidr": "10.244.0.0/16", "ipipMode": ipip_mode}});
    etcd.put_json(&format!("{RESOURCES}/ippools/default-ipv4-ippool"), &pool)
        .unwrap();
}

/// The route a node at `from` must have for the block of the node at `to`,
/// as `ip route` shows it, with the pool in `ipip_mode` (calico.md §2.9).
fn expected_route(from: &str, to: &str, block: &str, ipip_mode: &str) -> String {
    let same_subnet = segment_of(from) == segment_of(to);
    let tunnel = match ipip_mode {
        "Always" => true,
        "CrossSubnet" => !same_subnet,
        _ => false,
    };
    if tunnel {
        format!("{block} via {to} dev tunl0 proto bird onlink")
    } else if same_subnet {
        format!("{block} via {to} dev eth0 proto bird")
    } else {
        // Never, across the router: BIRD's recursive gateway, through r1.
        let router = if segment_of(from) == "lan-a" {
            "10.0.1.1"
        } else {
            "10.0.2.1"
        };
        format!("{block} via {router} dev eth0 proto bird")
    }
}

fn rendered(table: &[KernelRoute], block: &str) -> String {
    let block: IpNet = block.parse().unwrap();
    table
        .iter()
        .find(|r| r.destination == block)
        .map_or_else(|| format!("{block}: (none)"), |r| r.to_string())
}

/// Waits until every node routes every other node's block as `ipip_mode`
/// says, and its own as a blackhole.
fn wait_for_every_node(net: &Network, ipip_mode: &str) {
    for (name, from, own) in NODES {
        let expected: Vec<(&str, String)> = NODES
            .iter()
            .map(|(_, to, block)| {
                let route = if *block == own {
                    format!("blackhole {block} proto bird")
                } else {
                    expected_route(from, to, block, ipip_mode)
                };
                (*block, route)
            })
            .collect();
        net.host(name)
            .wait_for_routes(
                &format!("every block as {ipip_mode} says"),
                CONVERGE,
                |table| {
                    expected
                        .iter()
                        .all(|(block, route)| rendered(table, block) == *route)
                },
            )
            .unwrap();
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

/// Nodes n1..n3 of a `lan` of four (n0 holds etcd and any outside peer).
const LAN_NODES: [(&str, &str, &str); 3] = [
    ("n1", "10.0.1.11", "10.244.1.0/26"),
    ("n2", "10.0.1.12", "10.244.2.0/26"),
    ("n3", "10.0.1.13", "10.244.3.0/26"),
];

/// Calico's Node resources and block affinities for [`LAN_NODES`].
fn put_lan_nodes(etcd: &Etcd) {
    for (name, address, block) in LAN_NODES {
        put_node(etcd, name, address);
        put_block(etcd, name, block);
    }
}

fn start_from_etcd(net: &Network, etcd: &Etcd, name: &str) -> Bgpd {
    Bgpd::start_with_etcd(net.host(name), binary(), etcd.endpoint(), name, 179).unwrap()
}

/// The routes of bgpd's protocol in `host`'s main table, as `ip route` shows them.
fn bgpd_routes(host: &Host) -> Vec<String> {
    let mut routes: Vec<String> = testnets::routes::main_table(host.routes().unwrap())
        .iter()
        .filter(|r| r.protocol == PROTO_BIRD)
        .map(ToString::to_string)
        .collect();
    routes.sort();
    routes
}

#[test]
fn a_restarted_bgpd_keeps_its_kernel_routes_and_comes_back_to_the_same_table() {
    require_privileges!();
    let net = lan("cluster-restart", 4);
    let etcd = Etcd::start(net.host("n0")).unwrap();
    put_pool(&etcd, "CrossSubnet");
    put_lan_nodes(&etcd);
    let start = |name: &str| start_from_etcd(&net, &etcd, name);
    let mut n1 = start("n1");
    let _n2 = start("n2");
    let _n3 = start("n3");
    let host = net.host("n1");
    host.wait_for_routes("both other blocks and its own", CONVERGE, |table| {
        table.iter().filter(|r| r.protocol == PROTO_BIRD).count() == 3
    })
    .unwrap();
    let before = bgpd_routes(host);
    assert_eq!(
        before,
        [
            "10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird",
            "10.244.3.0/26 via 10.0.1.13 dev eth0 proto bird",
            "blackhole 10.244.1.0/26 proto bird",
        ]
    );

    // Stopped (SIGTERM, as a pod's container is): the routes stay, like
    // BIRD's `persist`, so pods keep their traffic while bgpd is away.
    n1.process().stop();
    assert_eq!(bgpd_routes(host), before, "routes after bgpd stopped");

    // Watched from now until after the new bgpd has converged and swept: not
    // one sample may differ.
    let watching = AtomicBool::new(true);
    let differed = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut differed = Vec::new();
            while watching.load(Ordering::Relaxed) {
                let now = bgpd_routes(host);
                if now != before {
                    differed.push(now);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            differed
        });
        let again = start("n1");
        wait_for("the restarted bgpd to converge", CONVERGE, || {
            Ok(if again.log().contains("every peer sent its table") {
                Poll::Ready(())
            } else {
                Poll::Pending(again.log())
            })
        })
        .unwrap();
        // The sweep of routes not learned again follows convergence at once;
        // a little longer shows that it took nothing that was wanted.
        std::thread::sleep(Duration::from_millis(500));
        watching.store(false, Ordering::Relaxed);
        watcher.join().unwrap()
    });
    assert!(
        differed.is_empty(),
        "the table changed during the restart: {differed:?}"
    );
    assert_eq!(bgpd_routes(host), before);
}

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
                rendered(table, "10.99.0.0/16") == "10.99.0.0/16 via 10.0.1.10 dev eth0 proto bird"
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

#[test]
fn a_mesh_of_five_nodes_routes_every_block_and_pods_reach_each_other() {
    require_privileges!();
    let mut topology = Topology::new("cluster-mesh");
    topology.segment("lan");
    // A router gives the nodes a default route, as real nodes have: proxy
    // ARP answers a pod for 169.254.1.1 only when the node has a route to it.
    topology.router("r1").iface("lan", &["10.0.1.1/24"]);
    let nodes: Vec<(String, String, String)> = (1..=5)
        .map(|i| {
            (
                format!("n{i}"),
                format!("10.0.1.1{i}"),
                format!("10.244.{i}.0/26"),
            )
        })
        .collect();
    for (i, (name, address, _)) in nodes.iter().enumerate() {
        topology
            .node(name)
            .iface("lan", &[&format!("{address}/24")]);
        topology.pod(&format!("p{}", i + 1), name, &format!("10.244.{}.5", i + 1));
    }
    let net = topology.build().unwrap();
    let etcd = Etcd::start(net.host("n1")).unwrap();
    put_pool(&etcd, "CrossSubnet");
    for (name, address, block) in &nodes {
        put_node(&etcd, name, address);
        put_block(&etcd, name, block);
    }
    let _speakers: Vec<Bgpd> = nodes
        .iter()
        .map(|(name, _, _)| start_from_etcd(&net, &etcd, name))
        .collect();

    for (name, _, own) in &nodes {
        let expected: Vec<(&str, String)> = nodes
            .iter()
            .map(|(_, address, block)| {
                let route = if block == own {
                    format!("blackhole {block} proto bird")
                } else {
                    format!("{block} via {address} dev eth0 proto bird")
                };
                (block.as_str(), route)
            })
            .collect();
        net.host(name)
            .wait_for_routes("every block", CONVERGE, |table| {
                expected
                    .iter()
                    .all(|(block, route)| rendered(table, block) == *route)
            })
            .unwrap();
    }
    // Pod to pod across nodes, both ways round the mesh.
    for i in 1..=5 {
        let to = i % 5 + 1;
        let target = net.pod(&format!("p{to}")).address();
        net.pod(&format!("p{i}")).ping(target).unwrap();
    }
}
