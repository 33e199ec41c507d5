//! Whole-cluster scenarios (issue 8): real etcd, a bgpd process per node,
//! and every node's kernel table checked, the way a user meets them. Each
//! file is one scenario; this one holds what they share.

mod churn;
mod cross_subnet;
mod etcd_outage;
mod ipv6;
mod mesh;
mod reflectors;
mod resilience;
mod restart;
mod tor;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ipnet::IpNet;
use serde_json::json;
use testnets::speakers::bgpd::{api_socket, Bgpd};
use testnets::speakers::etcd::Etcd;
use testnets::{Host, KernelRoute, Network, PROTO_BIRD};

use crate::support::{binary, put_block, put_node, CONVERGE, RESOURCES};

pub(super) fn put_pool(etcd: &Etcd, ipip_mode: &str) {
    let pool = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
                      "metadata": {"name": "default-ipv4-ippool"},
                      "spec": {"cidr": "10.244.0.0/16", "ipipMode": ipip_mode}});
    etcd.put_json(&format!("{RESOURCES}/ippools/default-ipv4-ippool"), &pool)
        .unwrap();
}

pub(super) fn rendered(table: &[KernelRoute], block: &str) -> String {
    let block: IpNet = block.parse().unwrap();
    table
        .iter()
        .find(|r| r.destination == block)
        .map_or_else(|| format!("{block}: (none)"), |r| r.to_string())
}

/// Waits until every node of `nodes` (name, address, block) routes every
/// other node's block via that node on eth0, and its own as a blackhole.
pub(super) fn wait_for_every_block(net: &Network, nodes: &[(String, String, String)], what: &str) {
    for (name, _, own) in nodes {
        let expected: Vec<(String, String)> = nodes
            .iter()
            .map(|(_, address, block)| {
                let route = if block == own {
                    format!("blackhole {block} proto bird")
                } else {
                    format!("{block} via {address} dev eth0 proto bird metric 1024")
                };
                (block.clone(), route)
            })
            .collect();
        wait_for_blocks(net.host(name), what, &expected);
    }
}

/// Waits until `host` routes each block as `ip route` would show the route
/// paired with it.
pub(super) fn wait_for_blocks(host: &Host, what: &str, expected: &[(String, String)]) {
    host.wait_for_routes(what, CONVERGE, |table| {
        expected
            .iter()
            .all(|(block, route)| rendered(table, block) == *route)
    })
    .unwrap();
}

/// Nodes n1..n3 of a `lan` of four (n0 holds etcd and any outside peer).
pub(super) const LAN_NODES: [(&str, &str, &str); 3] = [
    ("n1", "10.0.1.11", "10.244.1.0/26"),
    ("n2", "10.0.1.12", "10.244.2.0/26"),
    ("n3", "10.0.1.13", "10.244.3.0/26"),
];

/// Calico's Node resources and block affinities for [`LAN_NODES`].
pub(super) fn put_lan_nodes(etcd: &Etcd) {
    for (name, address, block) in LAN_NODES {
        put_node(etcd, name, address);
        put_block(etcd, name, block);
    }
}

pub(super) fn start_from_etcd(net: &Network, etcd: &Etcd, name: &str) -> Bgpd {
    Bgpd::start_with_etcd(net.host(name), binary(), etcd.endpoint(), name, 179).unwrap()
}

/// The routes of bgpd's protocol in `host`'s main table, as `ip route` shows them.
pub(super) fn bgpd_routes(host: &Host) -> Vec<String> {
    let mut routes: Vec<String> = testnets::routes::main_table(host.routes().unwrap())
        .iter()
        .filter(|r| r.protocol == PROTO_BIRD)
        .map(ToString::to_string)
        .collect();
    routes.sort();
    routes
}

/// Runs `during` while watching the bgpd routes of `hosts`; returns its
/// result and every sample (host, table) that differed from the table the
/// host had before. Sampled every few milliseconds: a route that went and
/// came back between two samples would escape, one that stayed away for a
/// kernel round trip would not.
pub(super) fn table_changes_while<T>(
    hosts: &[&Host],
    during: impl FnOnce() -> T,
) -> (T, Vec<(String, Vec<String>)>) {
    let before: Vec<Vec<String>> = hosts.iter().map(|h| bgpd_routes(h)).collect();
    let watching = AtomicBool::new(true);
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut changes = Vec::new();
            while watching.load(Ordering::Relaxed) {
                for (host, before) in hosts.iter().zip(&before) {
                    let now = bgpd_routes(host);
                    if now != *before {
                        changes.push((host.name().to_owned(), now));
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            changes
        });
        let result = during();
        watching.store(false, Ordering::Relaxed);
        (result, watcher.join().unwrap())
    })
}

/// When each Established session of the bgpd in `host` came up, by peer
/// address, to the nanosecond (`bgpctl -o json show peers`): a session that
/// flapped shows a later time.
pub(super) fn established_since(host: &Host) -> BTreeMap<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_bgpctl"))
        .arg("--socket")
        .arg(api_socket(host))
        .args(["-o", "json", "show", "peers"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bgpctl show peers on {}: {}",
        host.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["peers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] == "established")
        .map(|p| {
            let field = |name: &str| p[name].as_str().unwrap().to_owned();
            (field("address"), field("since"))
        })
        .collect()
}
