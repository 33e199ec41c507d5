//! The harness itself: topologies build, hosts reach each other, pods are
//! wired like Calico's, routes read back typed, and nothing outlives a test.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot build its network fails loudly"
)]

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use testnets::{netns, require_privileges, RouteKind, Topology, PROTO_BIRD};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn two_subnets() -> Topology {
    Topology::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/two-subnets.toml"))
        .unwrap()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn existing(names: &[String]) -> Vec<String> {
    let now = netns::list().unwrap();
    names.iter().filter(|n| now.contains(n)).cloned().collect()
}

#[test]
fn hosts_on_two_subnets_reach_each_other_through_the_router() {
    require_privileges!();
    let net = two_subnets().build().unwrap();
    let (n1, n3) = (net.host("n1"), net.host("n3"));
    n1.ping(ip("10.0.2.13")).unwrap();
    n3.ping(ip("10.0.1.11")).unwrap();
    n1.ping(ip("fd00:2::13")).unwrap();
    n1.ping(ip("10.0.1.12")).unwrap();

    let routes = testnets::routes::main_table(n1.routes().unwrap());
    let default = routes
        .iter()
        .find(|r| r.destination.prefix_len() == 0 && r.destination.addr().is_ipv4());
    assert_eq!(
        default.and_then(|r| r.gateway()),
        Some(ip("10.0.1.1")),
        "{routes:?}"
    );
    let connected = routes
        .iter()
        .find(|r| r.destination == "10.0.1.0/24".parse().unwrap())
        .unwrap();
    assert_eq!((connected.device(), connected.protocol), (Some("eth0"), 2));
}

#[test]
fn pods_reach_each_other_their_node_and_other_nodes_pods() {
    require_privileges!();
    let mut topology = two_subnets();
    topology.pod("p2", "n1", "10.244.1.6");
    let net = topology.build().unwrap();
    let (p1, p2, n1) = (net.pod("p1"), net.pod("p2"), net.host("n1"));
    p1.ping(p2.address()).unwrap();
    p1.ping(ip("10.0.1.11")).unwrap();
    n1.ping(p1.address()).unwrap();

    // Calico's wiring: default via 169.254.1.1 in the pod; a host route and
    // proxy ARP on the node's cali* end.
    let pod_routes = p1.exec("ip", ["route"]).unwrap();
    assert!(
        pod_routes.contains("default via 169.254.1.1 dev eth0"),
        "{pod_routes}"
    );
    let proxy_arp = n1
        .exec(
            "sysctl",
            [
                "-n",
                &format!("net.ipv4.conf.{}.proxy_arp", p1.host_iface()),
            ],
        )
        .unwrap();
    assert_eq!(proxy_arp.trim(), "1");
    assert!(p1.host_iface().starts_with("cali") && p1.host_iface().len() == 15);
    let host_route = n1
        .routes()
        .unwrap()
        .into_iter()
        .find(|r| r.destination == "10.244.1.5/32".parse().unwrap());
    assert_eq!(host_route.unwrap().device(), Some(p1.host_iface()));
}

#[test]
fn routes_read_back_typed_through_tunl0_blackhole_and_multipath() {
    require_privileges!();
    let net = two_subnets().build().unwrap();
    let n1 = net.host("n1");
    for line in [
        "10.244.3.0/26 via 10.0.2.13 dev tunl0 onlink proto bird",
        "blackhole 10.244.1.0/26 proto bird",
        "10.244.9.0/26 proto bird nexthop via 10.0.1.12 dev eth0 nexthop via 10.0.2.14 dev tunl0 onlink",
    ] {
        let mut args = vec!["route", "add"];
        args.extend(line.split(' '));
        n1.ns().ip(&args).unwrap();
    }
    let routes = n1.wait_for_routes("three bird routes", Duration::from_secs(5), |routes| {
        routes.iter().filter(|r| r.protocol == PROTO_BIRD).count() == 3
    });
    let routes = routes.unwrap();
    let find = |prefix: &str| {
        routes
            .iter()
            .find(|r| r.destination == prefix.parse().unwrap())
            .unwrap()
    };

    let tunnel = find("10.244.3.0/26");
    assert_eq!(
        (tunnel.gateway(), tunnel.device()),
        (Some(ip("10.0.2.13")), Some("tunl0"))
    );
    assert!(tunnel.next_hops[0].onlink);
    assert_eq!(
        tunnel.to_string(),
        "10.244.3.0/26 via 10.0.2.13 dev tunl0 proto bird onlink"
    );

    let blackhole = find("10.244.1.0/26");
    assert_eq!(
        (blackhole.kind, blackhole.next_hops.len()),
        (RouteKind::Blackhole, 0)
    );

    let multipath = find("10.244.9.0/26");
    let hops: Vec<_> = multipath
        .next_hops
        .iter()
        .map(|h| (h.gateway, h.device.as_deref(), h.onlink))
        .collect();
    assert_eq!(
        hops,
        vec![
            (Some(ip("10.0.1.12")), Some("eth0"), false),
            (Some(ip("10.0.2.14")), Some("tunl0"), true)
        ]
    );
}

#[test]
fn a_wait_that_times_out_shows_the_table() {
    require_privileges!();
    let net = two_subnets().build().unwrap();
    let err = net
        .host("n2")
        .wait_for_routes(
            "a route that never comes",
            Duration::from_millis(100),
            |routes| {
                routes
                    .iter()
                    .any(|r| r.destination == "10.99.0.0/16".parse().unwrap())
            },
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("a route that never comes on n2"), "{err}");
    assert!(err.contains("default via 10.0.1.1 dev eth0"), "{err}");
}

#[test]
fn nothing_remains_after_drop() {
    require_privileges!();
    let net = two_subnets().build().unwrap();
    let names = net.namespaces();
    let dir = net.dir().to_owned();
    let process = net.host("n1").spawn("sleeper", "sleep", &["600"]).unwrap();
    let pid = process.pid();
    assert_eq!(existing(&names).len(), names.len());
    assert!(alive(pid));
    drop(process);
    drop(net);
    assert_eq!(existing(&names), Vec::<String>::new());
    assert!(!alive(pid));
    assert!(!dir.exists());
}

#[test]
fn nothing_remains_after_a_panic() {
    require_privileges!();
    let mut seen = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let net = two_subnets().build().unwrap();
        // A process whose handle the test never drops itself: the namespace
        // teardown must still end it.
        let sleeper = net.host("n2").spawn("sleeper", "sleep", &["600"]).unwrap();
        seen = Some((net.namespaces(), sleeper.pid()));
        std::mem::forget(sleeper);
        panic!("the test fails here");
    }));
    assert!(result.is_err());
    let (names, pid) = seen.unwrap();
    assert_eq!(existing(&names), Vec::<String>::new());
    // The pid is reaped by nobody (its handle was forgotten): it is a zombie
    // at most, never running.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(state.is_empty() || state.contains(") Z "), "{state}");
}

#[test]
fn a_process_that_dies_early_reports_its_output() {
    require_privileges!();
    let net = two_subnets().build().unwrap();
    let mut process = net
        .host("n1")
        .spawn("failing", "sh", &["-c", "echo cannot bind; exit 3"])
        .unwrap();
    let err = process
        .wait_ready("listening", Duration::from_secs(10), || {
            Ok(testnets::Poll::<()>::Pending("no".into()))
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("exited before it was ready") && err.contains("cannot bind"),
        "{err}"
    );
}

#[test]
fn fifty_hosts_build_in_seconds() {
    require_privileges!();
    let mut topology = Topology::new("fifty");
    topology.segment("lan");
    for i in 1..=50 {
        topology
            .node(&format!("n{i}"))
            .iface("lan", &[&format!("10.1.0.{i}/24")]);
    }
    let start = Instant::now();
    let net = topology.build().unwrap();
    eprintln!("built 50 hosts in {:?}", start.elapsed());
    assert_eq!(existing(&net.namespaces()).len(), 51);
    net.host("n1").ping(ip("10.1.0.50")).unwrap();
    assert!(net
        .host("n50")
        .exec("ip", ["link", "show", "tunl0"])
        .unwrap()
        .contains("tunl0"));
}

/// Starts `testnets up` on the two-subnet topology and waits until its eight
/// namespaces (switch, five hosts, two pods) exist; returns the process and
/// a count of its namespaces.
fn testnets_up() -> (std::process::Child, impl Fn() -> usize) {
    let topology = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/two-subnets.toml");
    let up = Command::new(env!("CARGO_BIN_EXE_testnets"))
        .arg("up")
        .arg(&topology)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let prefix = format!("tn{}-", up.id());
    let ours = move || {
        netns::list()
            .unwrap()
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .count()
    };
    testnets::wait_for("testnets up to build", Duration::from_secs(30), || {
        let count = ours();
        Ok(if count == 8 {
            testnets::Poll::Ready(())
        } else {
            testnets::Poll::Pending(format!("{count} namespaces"))
        })
    })
    .unwrap();
    (up, ours)
}

#[test]
fn clean_removes_what_a_killed_run_left() {
    require_privileges!();
    let (mut up, ours) = testnets_up();
    up.kill().unwrap();
    up.wait().unwrap();
    assert_eq!(ours(), 8, "SIGKILL leaves the namespaces behind");
    let out = Command::new(env!("CARGO_BIN_EXE_testnets"))
        .arg("clean")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(ours(), 0, "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn ctrl_c_removes_everything() {
    require_privileges!();
    let (mut up, ours) = testnets_up();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(up.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = up.wait().unwrap();
    assert_eq!(status.code(), Some(130), "exits as interrupted");
    assert_eq!(ours(), 0, "the handler removed every namespace");
}
