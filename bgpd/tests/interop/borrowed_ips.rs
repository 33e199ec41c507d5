//! Kernel route learning end to end: a pod whose address is borrowed from
//! another node's block (Felix's `A.B.C.D dev cali…` route on the node it
//! runs on) is routed by every other node to that node, more specific than
//! the block owner's /26, which keeps its blackhole; when the pod moves, the
//! route follows. A workload route inside the node's own block, and a route
//! outside every pool, are not announced.

use testnets::speakers::etcd::Etcd;
use testnets::{require_privileges, Host, KernelRoute, RouteKind, PROTO_BIRD};

use crate::support::{calico_nodes, lan, workload, CONVERGE};

fn routes_to(routes: &[KernelRoute], prefix: &str) -> Vec<String> {
    routes
        .iter()
        .filter(|r| r.destination.to_string() == prefix)
        .map(|r| match r.kind {
            RouteKind::Blackhole => "blackhole".to_owned(),
            _ => format!(
                "via {}",
                r.gateway().map(|g| g.to_string()).unwrap_or_default()
            ),
        })
        .collect()
}

fn wait_route(host: &Host, prefix: &str, want: &[&str]) {
    host.wait_for_routes(&format!("{prefix} as {want:?}"), CONVERGE, |routes| {
        routes_to(routes, prefix) == want
    })
    .unwrap();
}

#[test]
fn a_borrowed_address_is_routed_to_the_node_it_runs_on_and_follows_the_pod() {
    require_privileges!();
    let net = lan("borrowed", 4);
    let etcd = Etcd::start(net.host("n0")).unwrap();
    let (n1, n2, n3) = (net.host("n1"), net.host("n2"), net.host("n3"));
    workload(n1, "cali1111aaaa");
    workload(n3, "cali3333cccc");
    // Before bgpd starts, on n1: a pod with an address of n2's block.
    n1.ns()
        .ip([
            "route",
            "add",
            "10.244.2.5/32",
            "dev",
            "cali1111aaaa",
            "scope",
            "link",
        ])
        .unwrap();
    let _bgpd = calico_nodes(&net, &etcd, 3);

    // Listed at start: every other node routes the pod to n1; n2 keeps its
    // block's blackhole beside the /32.
    wait_route(n3, "10.244.2.5/32", &["via 10.0.1.11"]);
    wait_route(n3, "10.244.2.0/26", &["via 10.0.1.12"]);
    wait_route(n2, "10.244.2.5/32", &["via 10.0.1.11"]);
    wait_route(n2, "10.244.2.0/26", &["blackhole"]);
    // n1 itself programs nothing over Felix's route.
    let n1_routes = n1.routes().unwrap();
    assert!(
        n1_routes
            .iter()
            .filter(|r| r.destination.to_string() == "10.244.2.5/32")
            .all(|r| r.protocol != PROTO_BIRD),
        "{n1_routes:?}"
    );

    // Learned as they come: a pod inside n1's own block goes out as the
    // block only; a route outside every pool not at all.
    n1.ns()
        .ip([
            "route",
            "add",
            "10.244.1.7/32",
            "dev",
            "cali1111aaaa",
            "scope",
            "link",
        ])
        .unwrap();
    n1.ns()
        .ip([
            "route",
            "add",
            "10.200.0.0/16",
            "via",
            "10.0.1.13",
            "proto",
            "static",
        ])
        .unwrap();
    // The pod moves to n3 (a live migration: it runs there before its old
    // route goes). Felix puts its route there by a replace, over bgpd's
    // route to the pod through n1, which gives way; then n1's goes.
    n3.ns()
        .ip([
            "route",
            "replace",
            "10.244.2.5/32",
            "dev",
            "cali3333cccc",
            "scope",
            "link",
        ])
        .unwrap();
    n1.ns()
        .ip(["route", "del", "10.244.2.5/32", "dev", "cali1111aaaa"])
        .unwrap();
    wait_route(n2, "10.244.2.5/32", &["via 10.0.1.13"]);
    wait_route(n1, "10.244.2.5/32", &["via 10.0.1.13"]);
    // n3 holds Felix's route alone: nothing of ours came back over it.
    let n3_routes = n3.routes().unwrap();
    let on_n3: Vec<_> = n3_routes
        .iter()
        .filter(|r| r.destination.to_string() == "10.244.2.5/32")
        .collect();
    assert!(
        on_n3.len() == 1 && on_n3[0].protocol != PROTO_BIRD,
        "{on_n3:?}"
    );
    // By now n1's other two routes have long been seen (they came first).
    let n2_routes = n2.routes().unwrap();
    assert_eq!(routes_to(&n2_routes, "10.244.1.7/32"), Vec::<String>::new());
    assert_eq!(routes_to(&n2_routes, "10.200.0.0/16"), Vec::<String>::new());
    assert_eq!(routes_to(&n2_routes, "10.244.1.0/26"), ["via 10.0.1.11"]);
}

/// BIRD's direct protocol end to end: an interface's network inside the pool
/// is announced; kube-proxy's IPVS dummy, which holds every cluster IP in
/// use, and a workload interface's address are not, though the service
/// range is an export range.
#[test]
fn interface_networks_are_announced_but_not_kube_ipvs_or_workload_addresses() {
    require_privileges!();
    let net = lan("direct", 4);
    let etcd = Etcd::start(net.host("n0")).unwrap();
    let services = serde_json::json!({"kind": "BGPConfiguration", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default"}, "spec": {"serviceClusterIPs": [{"cidr": "10.96.0.0/12"}]}});
    etcd.put_json(
        &format!("{}/bgpconfigurations/default", crate::support::RESOURCES),
        &services,
    )
    .unwrap();
    let (n1, n2) = (net.host("n1"), net.host("n2"));
    let address = |host: &Host, device: &str, address: &str| {
        workload(host, device);
        host.ns()
            .ip(["addr", "add", address, "dev", device])
            .unwrap();
    };
    address(n1, "kube-ipvs0", "10.96.0.10/32");
    address(n1, "cali2222bbbb", "10.244.2.9/32");
    address(n1, "vlan200", "10.244.200.1/26");
    let _bgpd = calico_nodes(&net, &etcd, 3);

    // n1's first listing brings its interfaces' networks in one batch:
    // with the VLAN's came neither address.
    wait_route(n2, "10.244.200.0/26", &["via 10.0.1.11"]);
    let n2_routes = n2.routes().unwrap();
    assert_eq!(routes_to(&n2_routes, "10.96.0.10/32"), Vec::<String>::new());
    assert_eq!(routes_to(&n2_routes, "10.244.2.9/32"), Vec::<String>::new());
    // The interface goes down: its network is withdrawn.
    n1.ns().ip(["link", "set", "vlan200", "down"]).unwrap();
    wait_route(n2, "10.244.200.0/26", &[]);
}
