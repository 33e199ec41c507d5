//! Configs and helpers shared by the interop tests.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::Etcd;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::SessionState;
use testnets::speakers::Speaker;
use testnets::{Host, KernelRoute, Network, Topology};

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

/// bgpd on n0 (10.0.1.10, block 10.244.0.0/26) with `peers` (address,
/// remote AS, extra TOML lines).
pub fn start_n0(net: &Network, peers: &[(&str, u32, &str)]) -> Bgpd {
    start_bgpd(
        net.host("n0"),
        &node_config("n0", "10.0.1.10", "10.244.0.0/26", peers),
    )
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

/// Where Calico keeps `node`'s affinity for `block`.
pub fn block_key(node: &str, block: &str) -> String {
    let family = if block.contains(':') { "ipv6" } else { "ipv4" };
    format!(
        "/calico/ipam/v2/host/{node}/{family}/block/{}",
        block.replace('/', "-")
    )
}

pub fn put_block(etcd: &Etcd, node: &str, block: &str) {
    etcd.put(
        &block_key(node, block),
        r#"{"state":"confirmed","deleted":false}"#,
    )
    .unwrap();
}

/// An IP pool 10.244.0.0/16 without encapsulation, and nodes n1 to n<count>
/// at 10.0.1.1<i> with block 10.244.<i>.0/26 each, in `etcd`; a bgpd on each
/// of those hosts of `net`, configured from it.
pub fn calico_nodes(net: &Network, etcd: &Etcd, count: usize) -> Vec<testnets::Process> {
    let pool = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "pool"}, "spec": {"cidr": "10.244.0.0/16", "ipipMode": "Never"}});
    etcd.put_json(&format!("{RESOURCES}/ippools/pool"), &pool)
        .unwrap();
    for i in 1..=count {
        put_node(etcd, &format!("n{i}"), &format!("10.0.1.1{i}"));
        put_block(etcd, &format!("n{i}"), &format!("10.244.{i}.0/26"));
    }
    (1..=count)
        .map(|i| {
            let name = format!("n{i}");
            Bgpd::spawn_with_etcd(net.host(&name), binary(), etcd.endpoint(), &name, &[]).unwrap()
        })
        .collect()
}

/// A workload interface on `host`, named as Felix names them.
pub fn workload(host: &Host, name: &str) {
    let ip = |args: &[&str]| host.ns().ip(args).unwrap();
    ip(&[
        "link",
        "add",
        name,
        "type",
        "veth",
        "peer",
        "name",
        &format!("{name}p"),
    ]);
    ip(&["link", "set", name, "up"]);
}

/// The established BGP connections of a host, by remote address (`ss`).
pub fn bgp_connections(host: &Host) -> Vec<String> {
    let out = host
        .exec(
            "ss",
            [
                "-H",
                "-t",
                "-n",
                "state",
                "established",
                "( sport = :179 or dport = :179 )",
            ],
        )
        .unwrap();
    let mut remotes: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .filter_map(|r| r.rsplit_once(':'))
        // Accepted on the dual-stack listener, IPv4 peers read [::ffff:a.b.c.d].
        .map(|(address, _)| {
            address
                .trim_matches(['[', ']'])
                .trim_start_matches("::ffff:")
                .to_owned()
        })
        .collect();
    remotes.sort();
    remotes
}

/// GoBGP in `asn` at `router_id`, peering with bgpd on n0 (AS 64512) for
/// IPv4 unicast; with `graceful_restart`, RFC 4724 on, restart time 60 s.
pub fn gobgp_config(asn: u32, router_id: &str, graceful_restart: bool) -> String {
    let (session, family) = if graceful_restart {
        (
            "  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 60\n",
            "    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n",
        )
    } else {
        ("", "")
    };
    format!(
        "[global.config]\n  as = {asn}\n  router-id = \"{router_id}\"\n[[neighbors]]\n  [neighbors.config]\n    \
         neighbor-address = \"10.0.1.10\"\n    peer-as = 64512\n{session}  [[neighbors.afi-safis]]\n    \
         [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n{family}"
    )
}

/// Whether a kernel table has a route to `prefix`.
pub fn holds(table: &[KernelRoute], prefix: &str) -> bool {
    table.iter().any(|r| r.destination.to_string() == prefix)
}

/// One peer as `bgpctl show peers` gives it.
pub fn peer(bgpd: &Bgpd, address: &str) -> serde_json::Value {
    bgpd.peers()
        .unwrap()
        .into_iter()
        .find(|p| p["address"] == address)
        .unwrap_or_else(|| panic!("no peer {address}"))
}

/// A peer's state and last error as bgpctl shows them.
pub fn peer_state(bgpd: &Bgpd, address: &str) -> (SessionState, String) {
    let peers = bgpd.peers().unwrap();
    let peer = peers
        .iter()
        .find(|p| p["address"] == address)
        .unwrap_or_else(|| panic!("no peer {address} in {peers:?}"));
    (
        SessionState::parse(peer["state"].as_str().unwrap_or_default()),
        peer["lastError"].as_str().unwrap_or_default().to_owned(),
    )
}

/// n0's config for the hostile-peer tests: block 10.244.0.0/26, a raw peer
/// at n1 (AS 65001, passive, plus `raw_extra`) and GoBGP at n2 (AS 65002,
/// plus `gobgp_extra`).
pub fn hostile_peer_config(raw_extra: &str, gobgp_extra: &str) -> String {
    let raw = format!("passive = true\n{raw_extra}");
    node_config(
        "n0",
        "10.0.1.10",
        "10.244.0.0/26",
        &[
            ("10.0.1.11", 65001, &raw),
            ("10.0.1.12", 65002, gobgp_extra),
        ],
    )
}

/// GoBGP on n2 (`config`), the bystander of a hostile-peer test: up, its
/// route `steady` in n0's kernel; with the session's since, which must not
/// change.
pub fn steady_bystander(
    net: &Network,
    bgpd: &Bgpd,
    config: &str,
    steady: &str,
) -> (GoBgp, serde_json::Value) {
    let go = GoBgp::start(net.host("n2"), config).unwrap();
    go.wait_established(1, CONVERGE).unwrap();
    go.announce(steady.parse().unwrap()).unwrap();
    net.host("n0")
        .wait_for_routes("GoBGP's route", CONVERGE, |t| holds(t, steady))
        .unwrap();
    let since = peer(bgpd, "10.0.1.12")["since"].clone();
    (go, since)
}
