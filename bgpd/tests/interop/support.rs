//! Configs and helpers shared by the interop tests.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::Etcd;
use testnets::{Host, Network, Topology};

pub const CONVERGE: Duration = Duration::from_secs(60);

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_bgpd"))
}

pub fn start_bgpd(host: &Host, config: &str) -> Bgpd {
    Bgpd::start(host, binary(), config, 179).unwrap()
}

/// A bgpd config for a node: its block, the pool as export range, and peers
/// given as (address, remote AS, extra TOML lines).
pub fn node_config(name: &str, address: &str, block: &str, peers: &[(&str, u32, &str)]) -> String {
    let mut text = format!(
        "node_name = \"{name}\"\nrouter_id = \"{address}\"\nlocal_as = 64512\naddresses = [\"{address}/24\"]\n\n\
         [export]\nprefixes = [\"10.244.0.0/16\"]\n\n[[originate]]\nprefix = \"{block}\"\nkind = \"block\"\n"
    );
    for (peer, asn, extra) in peers {
        text.push_str(&format!("\n[[peer]]\naddress = \"{peer}\"\nremote_as = {asn}\nconnect_delay_time = 1\n{extra}\n"));
    }
    text
}

/// bgpd on n0 (10.0.1.10, block 10.244.0.0/26) with two peers: n1 as a mesh
/// peer and n2 as a global one (nothing runs on n2, so it stays down), started
/// with `args`. The operator tests read this node.
pub fn start_operator_node(net: &Network, args: &[&str]) -> Bgpd {
    let config = node_config(
        "n0",
        "10.0.1.10",
        "10.244.0.0/26",
        &[
            ("10.0.1.11", 64512, "kind = \"mesh\""),
            ("10.0.1.12", 64512, ""),
        ],
    );
    Bgpd::start_with_args(net.host("n0"), binary(), &config, 179, args).unwrap()
}

/// Nodes n0, n1, ... on one segment, node n<i> at 10.0.1.1<i>/24.
pub fn lan(name: &str, count: usize) -> Network {
    let mut topology = Topology::new(name);
    topology.segment("lan");
    for i in 0..count {
        topology
            .node(&format!("n{i}"))
            .iface("lan", &[&format!("10.0.1.{}/24", 10 + i)]);
    }
    topology.build().unwrap()
}

pub const RESOURCES: &str = "/calico/resources/v3/projectcalico.org";

pub fn put_node(etcd: &Etcd, name: &str, address: &str) {
    let node = json!({"kind": "Node", "apiVersion": "projectcalico.org/v3", "metadata": {"name": name},
                      "spec": {"bgp": {"ipv4Address": format!("{address}/24")}}});
    etcd.put_json(&format!("{RESOURCES}/nodes/{name}"), &node)
        .unwrap();
}

pub fn put_block(etcd: &Etcd, node: &str, block: &str) {
    let key = format!(
        "/calico/ipam/v2/host/{node}/ipv4/block/{}",
        block.replace('/', "-")
    );
    etcd.put(&key, r#"{"state":"confirmed","deleted":false}"#)
        .unwrap();
}
