//! BGPConfiguration `programClusterRoutes`, switched live in a real etcd:
//! what each kernel holds follows (a pool Felix programs leaves the kernel,
//! its own blocks' blackholes included), and nothing else does: the
//! sessions stay up and the routes stay in the RIB and on the wire.

use serde_json::json;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::Etcd;
use testnets::{require_privileges, Host, KernelRoute, RouteKind, PROTO_BIRD};

use crate::support::{binary, lan, put_block, put_node, CONVERGE, RESOURCES};

fn set_cluster_routes(etcd: &Etcd, value: &str) {
    let config = json!({"kind": "BGPConfiguration", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default"}, "spec": {"programClusterRoutes": value}});
    etcd.put_json(&format!("{RESOURCES}/bgpconfigurations/default"), &config)
        .unwrap();
}

fn ours(routes: &[KernelRoute]) -> Vec<String> {
    let mut ours: Vec<String> = routes
        .iter()
        .filter(|r| r.protocol == PROTO_BIRD)
        .map(|r| match r.kind {
            RouteKind::Blackhole => format!("blackhole {}", r.destination),
            _ => format!("{} via {:?}", r.destination, r.gateway()),
        })
        .collect();
    ours.sort();
    ours
}

fn wait_ours(host: &Host, what: &str, want: &[&str]) {
    host.wait_for_routes(what, CONVERGE, |routes| ours(routes) == want)
        .unwrap();
}

/// The routes `host`'s bgpd has in its RIB, by prefix.
fn rib(host: &Host) -> Vec<String> {
    let out = std::process::Command::new(binary().with_file_name("bgpctl"))
        .arg("--socket")
        .arg(testnets::speakers::bgpd::api_socket(host))
        .args(["-o", "json", "show", "routes"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let mut prefixes: Vec<String> = json["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["prefix"].as_str().map(str::to_owned))
        .collect();
    prefixes.sort();
    prefixes
}

#[test]
fn program_cluster_routes_switched_live_changes_the_kernels_only() {
    require_privileges!();
    let net = lan("cluster-routes", 3);
    let etcd = Etcd::start(net.host("n0")).unwrap();
    put_node(&etcd, "n1", "10.0.1.11");
    put_node(&etcd, "n2", "10.0.1.12");
    let pool = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "pool"}, "spec": {"cidr": "10.244.0.0/16", "ipipMode": "Never"}});
    etcd.put_json(&format!("{RESOURCES}/ippools/pool"), &pool)
        .unwrap();
    put_block(&etcd, "n1", "10.244.1.0/26");
    put_block(&etcd, "n2", "10.244.2.0/26");
    let _n1 = Bgpd::spawn_with_etcd(net.host("n1"), binary(), etcd.endpoint(), "n1", &[]).unwrap();
    let _n2 = Bgpd::spawn_with_etcd(net.host("n2"), binary(), etcd.endpoint(), "n2", &[]).unwrap();
    let n1 = net.host("n1");
    let installed = [
        "10.244.2.0/26 via Some(10.0.1.12)",
        "blackhole 10.244.1.0/26",
    ];
    // Unset: bgpd's default, Enabled, programs the unencapsulated pool.
    wait_ours(n1, "n1 to install the pool's routes", &installed);

    // Felix takes the unencapsulated pools: n1's kernel loses our routes,
    // its RIB keeps both blocks (n2 still sends its own).
    set_cluster_routes(&etcd, "EnabledIPIPOnly");
    wait_ours(n1, "n1 to leave the pool to Felix", &[]);
    wait_ours(net.host("n2"), "n2 to leave the pool to Felix", &[]);
    assert_eq!(rib(n1), ["10.244.1.0/26", "10.244.2.0/26"]);

    // Back: the routes return.
    set_cluster_routes(&etcd, "EnabledNoEncapOnly");
    wait_ours(n1, "n1 to install the pool's routes again", &installed);
}
