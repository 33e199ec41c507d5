//! Route priority end to end (docs/ARCHITECTURE.md, "Route priority"): a
//! KubeVirt VM migrates from the node that owns its block to another; the
//! target's elevated workload route (a lower metric than normal) goes out
//! with a higher LOCAL_PREF and wins in every kernel, the old node's
//! included, over the block and over the old node's own workload route.
//! When the migration is done, the route is of normal priority again. The
//! normal priority itself (BGPConfiguration ipv4NormalRoutePriority) is
//! changed live and every kernel's BGP routes follow.

use serde_json::json;
use testnets::speakers::etcd::Etcd;
use testnets::{require_privileges, Host, KernelRoute};

use crate::support::{calico_nodes, lan, workload, CONVERGE, RESOURCES};

/// Every route to exactly `prefix`, as `ip route` shows it, lowest metric
/// first.
fn at(routes: &[KernelRoute], prefix: &str) -> Vec<String> {
    let mut found: Vec<&KernelRoute> = routes
        .iter()
        .filter(|r| r.destination.to_string() == prefix)
        .collect();
    found.sort_by_key(|r| r.metric.unwrap_or(0));
    found.iter().map(ToString::to_string).collect()
}

fn wait_at(host: &Host, prefix: &str, want: &[String]) {
    host.wait_for_routes(&format!("{prefix} as {want:?}"), CONVERGE, |routes| {
        at(routes, prefix) == want
    })
    .unwrap();
}

/// Where the kernel sends traffic for `address` (`ip route get`).
fn path_to(host: &Host, address: &str) -> String {
    host.ns().ip(["route", "get", address]).unwrap()
}

fn felix_route(host: &Host, verb: &str, address: &str, device: &str, metric: &str) {
    host.ns()
        .ip([
            "route", verb, address, "dev", device, "scope", "link", "metric", metric, "proto",
            "boot",
        ])
        .unwrap();
}

#[test]
fn an_elevated_route_wins_in_every_kernel_and_the_normal_priority_changes_live() {
    require_privileges!();
    let net = lan("priority", 4);
    let etcd = Etcd::start(net.host("n0")).unwrap();
    let (n1, n2, n3) = (net.host("n1"), net.host("n2"), net.host("n3"));
    workload(n1, "cali1111aaaa");
    workload(n3, "cali3333cccc");
    // The VM runs on n1, inside n1's block, at Felix's normal metric.
    felix_route(n1, "add", "10.244.1.9/32", "cali1111aaaa", "1024");
    let _bgpd = calico_nodes(&net, &etcd, 3);
    // Blocks at the normal metric; the VM's route stays inside n1's block.
    let n1_block_on_n2 = "10.244.1.0/26 via 10.0.1.11 dev eth0 proto bird metric 1024";
    wait_at(n2, "10.244.1.0/26", &[n1_block_on_n2.into()]);
    assert!(at(&n2.routes().unwrap(), "10.244.1.9/32").is_empty());

    // Live migration to n3: Felix there puts the VM's route at an elevated
    // metric while n1's still stands.
    felix_route(n3, "add", "10.244.1.9/32", "cali3333cccc", "512");
    let via_n3_elevated = "10.244.1.9/32 via 10.0.1.13 dev eth0 proto bird metric 512";
    wait_at(n2, "10.244.1.9/32", &[via_n3_elevated.into()]);
    // n1 takes it beside its own workload route, which it now loses to.
    wait_at(
        n1,
        "10.244.1.9/32",
        &[
            via_n3_elevated.into(),
            "10.244.1.9/32 dev cali1111aaaa proto boot metric 1024".into(),
        ],
    );
    for host in [n1, n2] {
        let path = path_to(host, "10.244.1.9");
        assert!(path.contains("via 10.0.1.13"), "{}: {path}", host.name());
    }
    // The block itself is unchanged, and n3 programs nothing over Felix.
    wait_at(n2, "10.244.1.0/26", &[n1_block_on_n2.into()]);
    assert_eq!(
        at(&n3.routes().unwrap(), "10.244.1.9/32"),
        ["10.244.1.9/32 dev cali3333cccc proto boot metric 512"]
    );

    // Done: n1's route goes, n3's returns to the normal metric. The address
    // is borrowed from n1's block now, announced at normal priority.
    felix_route(n1, "del", "10.244.1.9/32", "cali1111aaaa", "1024");
    felix_route(n3, "add", "10.244.1.9/32", "cali3333cccc", "1024");
    felix_route(n3, "del", "10.244.1.9/32", "cali3333cccc", "512");
    let via_n3 = "10.244.1.9/32 via 10.0.1.13 dev eth0 proto bird metric 1024";
    wait_at(n2, "10.244.1.9/32", &[via_n3.into()]);
    wait_at(n1, "10.244.1.9/32", &[via_n3.into()]);

    // The normal priority changes live: every node's routes go out with
    // the new LOCAL_PREF and every kernel holds them at the new metric.
    let config = json!({"kind": "BGPConfiguration", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default"}, "spec": {"ipv4NormalRoutePriority": 2000}});
    etcd.put_json(&format!("{RESOURCES}/bgpconfigurations/default"), &config)
        .unwrap();
    wait_at(
        n2,
        "10.244.1.0/26",
        &["10.244.1.0/26 via 10.0.1.11 dev eth0 proto bird metric 2000".into()],
    );
    // n3's workload route (1024) is below the new normal: elevated now.
    wait_at(
        n2,
        "10.244.1.9/32",
        &["10.244.1.9/32 via 10.0.1.13 dev eth0 proto bird metric 1024".into()],
    );
    wait_at(
        n1,
        "10.244.3.0/26",
        &["10.244.3.0/26 via 10.0.1.13 dev eth0 proto bird metric 2000".into()],
    );
    // Blackholes go without a metric, whatever the priority.
    wait_at(
        n1,
        "10.244.1.0/26",
        &["blackhole 10.244.1.0/26 proto bird".into()],
    );
}
