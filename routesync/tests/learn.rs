//! Kernel route learning in a real namespace: the routes others put in the
//! main table (a Felix-style workload route `dev cali…`, an operator's
//! static route, a blackhole) are told as they come, change and go, after
//! a first listing of those already there; ours, the kernel's own
//! interface routes and other tables never are.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot build its network or read its routes fails loudly"
)]

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::*;
use ipnet::IpNet;
use proto::config::IpipMode;
use routesync::learn::{LearnedChange, SeenKind};
use testnets::require_privileges;

/// Waits for the next batch of changes; a generous deadline, as the
/// notices of a busy machine may be late.
fn next(changes: &mpsc::Receiver<Vec<LearnedChange>>) -> Vec<LearnedChange> {
    changes
        .recv_timeout(Duration::from_secs(60))
        .expect("no learned change came")
}

fn prefixes(batch: &[LearnedChange]) -> Vec<(IpNet, bool)> {
    let mut out: Vec<(IpNet, bool)> = batch.iter().map(|(p, r)| (*p, r.is_some())).collect();
    out.sort();
    out
}

#[test]
fn others_routes_are_learned_as_they_come_and_go() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let ip = |args: &[&str]| n1.ns().ip(args).unwrap();
    // A workload's interface, named as Felix names them.
    ip(&[
        "link",
        "add",
        "cali1234abcd",
        "type",
        "veth",
        "peer",
        "name",
        "pod0",
    ]);
    ip(&["link", "set", "cali1234abcd", "up"]);
    // There before routesync starts: an operator's static route.
    ip(&[
        "route",
        "add",
        "10.99.0.0/16",
        "via",
        "10.0.1.12",
        "proto",
        "static",
    ]);
    // In another table: never learned.
    ip(&[
        "route",
        "add",
        "10.98.0.0/16",
        "via",
        "10.0.1.12",
        "table",
        "100",
    ]);

    let (handle, changes) = learning(n1, config(IpipMode::CrossSubnet));

    // The first listing: the static route, and the default routes toward
    // r1 (proto boot, as `ip route add` makes them); the node's subnet as
    // the direct protocol has it (the interface's, not the kernel-made
    // route's), nothing from table 100.
    let first = next(&changes);
    let listed: Vec<String> = first.iter().map(|(p, _)| p.to_string()).collect();
    assert!(listed.contains(&"10.99.0.0/16".to_owned()), "{listed:?}");
    let subnet = first
        .iter()
        .find(|(p, _)| p.to_string() == "10.0.1.0/24")
        .and_then(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("no direct route for eth0's subnet: {listed:?}"));
    assert_eq!(
        (subnet.protocol, subnet.device.as_deref()),
        (routesync::learn::RTPROT_KERNEL, Some("eth0"))
    );
    assert!(
        !listed.contains(&"10.98.0.0/16".to_owned()),
        "table 100: {listed:?}"
    );
    let static_route = first
        .iter()
        .find(|(p, _)| p.to_string() == "10.99.0.0/16")
        .and_then(|(_, r)| r.clone())
        .unwrap();
    assert_eq!(static_route.gateway, Some(ip_addr("10.0.1.12")));
    assert_eq!(static_route.protocol, 4);

    // A workload route appears (Felix's, proto boot), then a blackhole.
    ip(&[
        "route",
        "add",
        "10.244.2.5/32",
        "dev",
        "cali1234abcd",
        "scope",
        "link",
    ]);
    let batch = next(&changes);
    assert_eq!(prefixes(&batch), [(net("10.244.2.5/32"), true)]);
    let workload = batch[0].1.clone().unwrap();
    assert_eq!(workload.device.as_deref(), Some("cali1234abcd"));
    assert_eq!(workload.kind, SeenKind::Unicast);
    ip(&["route", "add", "blackhole", "10.97.0.0/16"]);
    let batch = next(&changes);
    assert_eq!(
        batch[0].1.as_ref().map(|r| r.kind),
        Some(SeenKind::Blackhole)
    );

    // Ours never: a route routesync installs is not told back.
    program(&handle, vec![via("10.244.3.0/26", &["10.0.1.12"])]);
    // The workload goes: told at once.
    ip(&["route", "del", "10.244.2.5/32", "dev", "cali1234abcd"]);
    let batch = next(&changes);
    assert_eq!(
        prefixes(&batch),
        [(net("10.244.2.5/32"), false)],
        "only the workload route's going, nothing of ours: {batch:?}"
    );
    assert!(
        route(n1, "10.244.3.0/26").is_some(),
        "ours installed meanwhile"
    );
}

/// Starts routesync learning in `host` with `config`; its batches of
/// changes come on the receiver.
fn learning(
    host: &testnets::Host,
    config: proto::config::KernelConfig,
) -> (routesync::Handle, mpsc::Receiver<Vec<LearnedChange>>) {
    let (send, changes) = mpsc::channel();
    let handle = host
        .ns()
        .enter(|| {
            Ok(routesync::spawn_learning(
                config,
                n1_network(),
                routesync::Options::default(),
                Some(Box::new(move |batch| {
                    let _ = send.send(batch);
                })),
            ))
        })
        .unwrap();
    assert!(handle.flush(), "routesync thread died at start");
    (handle, changes)
}

#[test]
fn interface_addresses_are_learned_as_birds_direct_protocol_takes_them() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let ip = |args: &[&str]| n1.ns().ip(args).unwrap();
    let device = |name: &str, address: &str| {
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
        ip(&["addr", "add", address, "dev", name]);
        ip(&["link", "set", name, "up"]);
    };
    // A workload's interface, kube-proxy's IPVS dummy and an interface the
    // BGPConfiguration ignores: never; a VLAN interface: its network.
    device("cali5678efgh", "10.8.0.1/24");
    device("kube-ipvs0", "10.96.0.10/32");
    device("ign0", "10.6.0.1/24");
    let config = proto::config::KernelConfig {
        ignored_interfaces: vec!["ign*".into()],
        ..config(IpipMode::CrossSubnet)
    };
    let (handle, changes) = learning(n1, config.clone());
    let first = next(&changes);
    let listed: Vec<String> = first.iter().map(|(p, _)| p.to_string()).collect();
    for never in [
        "10.8.0.0/24",
        "10.96.0.10/32",
        "10.6.0.0/24",
        "10.0.1.11/32",
    ] {
        assert!(!listed.contains(&never.to_owned()), "{never}: {listed:?}");
    }
    assert!(listed.contains(&"fd00:1::/64".to_owned()), "{listed:?}");
    assert!(
        !listed
            .iter()
            .any(|p| p.starts_with("fe80:") || p.starts_with("127.")),
        "link-local and host addresses: {listed:?}"
    );

    device("vlan7", "10.7.0.1/24");
    let batch = next(&changes);
    assert_eq!(prefixes(&batch), [(net("10.7.0.0/24"), true)]);
    assert_eq!(
        batch[0].1.as_ref().unwrap().device.as_deref(),
        Some("vlan7")
    );
    // Down, its route goes; up, it comes back; its address gone, it goes.
    ip(&["link", "set", "vlan7", "down"]);
    assert_eq!(prefixes(&next(&changes)), [(net("10.7.0.0/24"), false)]);
    ip(&["link", "set", "vlan7", "up"]);
    assert_eq!(prefixes(&next(&changes)), [(net("10.7.0.0/24"), true)]);
    // Ignored from now on: gone; and the ignored one is taken again.
    handle.reconfigure(
        proto::config::KernelConfig {
            ignored_interfaces: vec!["vlan*".into()],
            ..config
        },
        n1_network(),
    );
    assert_eq!(
        prefixes(&next(&changes)),
        [(net("10.6.0.0/24"), true), (net("10.7.0.0/24"), false)]
    );
    ip(&["addr", "del", "10.6.0.1/24", "dev", "ign0"]);
    assert_eq!(prefixes(&next(&changes)), [(net("10.6.0.0/24"), false)]);
}

fn ip_addr(text: &str) -> std::net::IpAddr {
    text.parse().unwrap()
}
