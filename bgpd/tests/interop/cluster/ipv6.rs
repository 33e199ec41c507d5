//! Scenario 8: an IPv6 mesh with Calico's /122 blocks, from etcd. Dual-stack
//! nodes (Calico takes the router id from the IPv4 address) with an IPv6
//! pool only: each node routes every other node's /122 via its IPv6
//! address on eth0 and its own as a blackhole.

use serde_json::json;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::Etcd;
use testnets::{require_privileges, Topology};

use crate::cluster::{start_from_etcd, wait_for_blocks};
use crate::support::{put_block, RESOURCES};

/// Name, IPv4 address, IPv6 address, IPv6 block.
const NODES: [(&str, &str, &str, &str); 4] = [
    ("n1", "10.0.1.11", "fd00:1::11", "fd00:244::40/122"),
    ("n2", "10.0.1.12", "fd00:1::12", "fd00:244::80/122"),
    ("n3", "10.0.1.13", "fd00:1::13", "fd00:244::c0/122"),
    ("n4", "10.0.1.14", "fd00:1::14", "fd00:244::100/122"),
];

#[test]
fn an_ipv6_mesh_routes_every_122_block() {
    require_privileges!();
    let mut topology = Topology::new("cluster-ipv6");
    topology.segment("lan");
    topology.host("etcd").iface("lan", &["10.0.1.200/24"]);
    for (name, v4, v6, _) in NODES {
        topology
            .node(name)
            .iface("lan", &[&format!("{v4}/24"), &format!("{v6}/64")]);
    }
    let net = topology.build().unwrap();
    let etcd = Etcd::start(net.host("etcd")).unwrap();
    let pool = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
                      "metadata": {"name": "default-ipv6-ippool"},
                      "spec": {"cidr": "fd00:244::/48", "blockSize": 122}});
    etcd.put_json(&format!("{RESOURCES}/ippools/default-ipv6-ippool"), &pool)
        .unwrap();
    for (name, v4, v6, block) in NODES {
        let node = json!({"kind": "Node", "apiVersion": "projectcalico.org/v3",
                          "metadata": {"name": name},
                          "spec": {"bgp": {"ipv4Address": format!("{v4}/24"),
                                           "ipv6Address": format!("{v6}/64")}}});
        etcd.put_json(&format!("{RESOURCES}/nodes/{name}"), &node)
            .unwrap();
        put_block(&etcd, name, block);
    }
    let _speakers: Vec<Bgpd> = NODES
        .iter()
        .map(|(name, _, _, _)| start_from_etcd(&net, &etcd, name))
        .collect();

    for (name, _, _, own) in NODES {
        let expected: Vec<(String, String)> = NODES
            .iter()
            .map(|(_, _, v6, block)| {
                // As `ip -6 route` shows them: the kernel's IPv6 metric, and
                // a blackhole on lo.
                let route = if *block == own {
                    format!("blackhole {block} dev lo proto bird metric 1024")
                } else {
                    format!("{block} via {v6} dev eth0 proto bird metric 1024")
                };
                ((*block).to_owned(), route)
            })
            .collect();
        wait_for_blocks(net.host(name), "every /122 block", &expected);
    }
}
