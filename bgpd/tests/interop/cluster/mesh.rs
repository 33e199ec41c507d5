//! Scenario 1: a mesh of five nodes on one subnet; every node routes every
//! other node's block on eth0 and its own as a blackhole; pods ping.

use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::Etcd;
use testnets::{require_privileges, Topology};

use crate::cluster::{put_pool, start_from_etcd, wait_for_every_block};
use crate::support::{put_block, put_node};

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

    wait_for_every_block(&net, &nodes, "every block");
    // Pod to pod across nodes, both ways round the mesh.
    for i in 1..=5 {
        let to = i % 5 + 1;
        let target = net.pod(&format!("p{to}")).address();
        net.pod(&format!("p{i}")).ping(target).unwrap();
    }
}
