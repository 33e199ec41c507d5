//! Only routes with our protocol in our table are ever changed or removed;
//! routes of ours left by an earlier run are taken back; BGP-only mode
//! programs nothing.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot build its network or read its routes fails loudly"
)]

mod common;

use common::*;
use proto::config::{IpipMode, KernelConfig};
use routesync::RouteState;
use testnets::require_privileges;

#[test]
fn foreign_routes_are_left_alone() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let ip = |args: &[&str]| n1.ns().ip(args).unwrap();
    // An operator's route elsewhere, and one on a prefix BGP will want.
    ip(&[
        "route",
        "add",
        "10.99.0.0/16",
        "via",
        "10.0.1.12",
        "proto",
        "static",
    ]);
    ip(&[
        "route",
        "add",
        "10.244.7.0/26",
        "via",
        "10.0.1.12",
        "proto",
        "static",
    ]);
    let before = (shown(n1, "10.99.0.0/16"), shown(n1, "10.244.7.0/26"));
    let kernel_routes = |n1| {
        testnets::routes::main_table(testnets::Host::routes(n1).unwrap())
            .into_iter()
            .filter(|r| r.protocol == 2)
            .count()
    };
    let connected = kernel_routes(n1);

    let handle = start(n1, config(IpipMode::CrossSubnet));
    program(
        &handle,
        vec![
            via("10.244.7.0/26", &["10.0.2.13"]),
            via("10.244.2.0/26", &["10.0.1.12"]),
        ],
    );
    // A replace would have taken the static route over (the kernel matches
    // prefix and metric only): the first install is exclusive instead.
    let held = status(&handle, "10.244.7.0/26");
    assert!(
        failed(&held).contains("a route with proto static already holds 10.244.7.0/26"),
        "{held:?}"
    );
    assert_eq!(
        shown(n1, "10.244.2.0/26"),
        "10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird"
    );

    // Withdrawing it deletes only a route of ours, so the static one stays.
    program(
        &handle,
        vec![remove("10.244.7.0/26"), remove("10.244.2.0/26")],
    );
    // Turning programming off removes ours, and only ours.
    program(&handle, vec![via("10.244.3.0/26", &["10.0.2.13"])]);
    handle.reconfigure(
        KernelConfig {
            enabled: false,
            ..config(IpipMode::CrossSubnet)
        },
        n1_network(),
    );
    assert!(handle.flush());
    assert_eq!(ours(n1), vec![]);
    assert_eq!(
        (shown(n1, "10.99.0.0/16"), shown(n1, "10.244.7.0/26")),
        before
    );
    assert_eq!(kernel_routes(n1), connected);
    assert!(shown(n1, "0.0.0.0/0").starts_with("default via 10.0.1.1 dev eth0"));
}

#[test]
fn a_route_with_our_protocol_is_ours_to_replace() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let handle = start(n1, config(IpipMode::CrossSubnet));
    // Added after start (so not found by the initial listing), but tagged
    // with our protocol: the rule says it is ours.
    n1.ns()
        .ip([
            "route",
            "add",
            "10.244.8.0/26",
            "via",
            "10.0.1.12",
            "proto",
            "bird",
        ])
        .unwrap();
    program(&handle, vec![via("10.244.8.0/26", &["10.0.2.13"])]);
    assert_eq!(
        shown(n1, "10.244.8.0/26"),
        "10.244.8.0/26 via 10.0.2.13 dev tunl0 proto bird onlink"
    );
    assert_eq!(
        status(&handle, "10.244.8.0/26").state,
        RouteState::Installed
    );
}

#[test]
fn routes_of_an_earlier_run_are_taken_back() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let first = start(n1, config(IpipMode::CrossSubnet));
    program(
        &first,
        vec![
            via("10.244.2.0/26", &["10.0.1.12"]),
            via("10.244.3.0/26", &["10.0.2.13"]),
        ],
    );
    first.shutdown();
    // Like BIRD's `persist`: the routes outlive the process.
    assert_eq!(ours(n1).len(), 2);

    let second = start(n1, config(IpipMode::CrossSubnet));
    program(
        &second,
        vec![
            via("10.244.2.0/26", &["10.0.1.12", "10.0.2.14"]),
            remove("10.244.3.0/26"),
        ],
    );
    assert_eq!(
        status(&second, "10.244.2.0/26").state,
        RouteState::Installed
    );
    assert_eq!(route(n1, "10.244.2.0/26").unwrap().next_hops.len(), 2);
    assert_eq!(route(n1, "10.244.3.0/26"), None);
}

#[test]
fn bgp_only_mode_programs_nothing() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let off = KernelConfig {
        enabled: false,
        ..config(IpipMode::Always)
    };
    let handle = start(n1, off);
    program(
        &handle,
        vec![
            via("10.244.3.0/26", &["10.0.2.13"]),
            blackhole("10.244.1.0/26"),
        ],
    );
    assert_eq!(ours(n1), vec![]);
    let status = status(&handle, "10.244.3.0/26");
    assert_eq!(status.state, RouteState::NotInstalled);
    assert!(status.reason.contains("BGP-only"), "{status:?}");

    // Turned on: everything BGP has is programmed.
    handle.reconfigure(config(IpipMode::Always), n1_network());
    assert!(handle.flush());
    assert_eq!(ours(n1).len(), 2);
}

#[test]
fn reconfiguring_moves_routes_between_devices_tables_and_protocols() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let handle = start(n1, config(IpipMode::CrossSubnet));
    program(
        &handle,
        vec![
            via("10.244.2.0/26", &["10.0.1.12"]),
            via("10.244.3.0/26", &["10.0.2.13"]),
        ],
    );
    // CrossSubnet to Always: the same-subnet route moves onto tunl0
    // (docs/CALICO-CONTRACT.md §4.5: BIRD's `krt_same_dest` compares the
    // interface).
    handle.reconfigure(config(IpipMode::Always), n1_network());
    assert!(handle.flush());
    assert_eq!(
        shown(n1, "10.244.2.0/26"),
        "10.244.2.0/26 via 10.0.1.12 dev tunl0 proto bird onlink"
    );
    // Another protocol and table: the old routes go, new ones come.
    handle.reconfigure(
        KernelConfig {
            protocol: 186,
            table: 1000,
            ..config(IpipMode::Always)
        },
        n1_network(),
    );
    assert!(handle.flush());
    assert_eq!(ours(n1), vec![]);
    let moved: Vec<_> = n1
        .routes()
        .unwrap()
        .into_iter()
        .filter(|r| r.table == 1000)
        .map(|r| r.to_string())
        .collect();
    assert_eq!(
        moved,
        vec![
            "10.244.2.0/26 via 10.0.1.12 dev tunl0 proto bgp table 1000 onlink",
            "10.244.3.0/26 via 10.0.2.13 dev tunl0 proto bgp table 1000 onlink",
        ]
    );
}
