//! Routes carry the speaker's metric (route priority). The kernel keys a
//! route by prefix and metric, so a metric that changes is a new route: it
//! is created beside the old one, which then goes, and the prefix is never
//! without a route of ours; a route of someone else's at the new metric is
//! never replaced.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot build its network or read its routes fails loudly"
)]

mod common;

use common::*;
use proto::config::IpipMode;
use testnets::{require_privileges, Host, KernelRoute};

/// Every main-table route to exactly `prefix`, any protocol, lowest metric
/// first, as `ip route` shows them.
fn all_at(host: &Host, prefix: &str) -> Vec<String> {
    let prefix = net(prefix);
    let mut routes: Vec<KernelRoute> = testnets::routes::main_table(host.routes().unwrap())
        .into_iter()
        .filter(|r| r.destination == prefix)
        .collect();
    routes.sort_by_key(|r| r.metric.unwrap_or(0));
    routes.iter().map(ToString::to_string).collect()
}

#[test]
fn a_new_metric_replaces_the_route_and_leaves_nothing_behind() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let handle = start(n1, config(IpipMode::CrossSubnet));

    program(&handle, vec![via_at("10.244.2.0/26", &["10.0.1.12"], 1024)]);
    assert_eq!(
        all_at(n1, "10.244.2.0/26"),
        ["10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird metric 1024"]
    );
    // Elevated, then back to normal: one route each time.
    program(&handle, vec![via_at("10.244.2.0/26", &["10.0.1.12"], 512)]);
    assert_eq!(
        all_at(n1, "10.244.2.0/26"),
        ["10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird metric 512"]
    );
    program(&handle, vec![via_at("10.244.2.0/26", &["10.0.2.13"], 1024)]);
    assert_eq!(
        all_at(n1, "10.244.2.0/26"),
        ["10.244.2.0/26 via 10.0.2.13 dev tunl0 proto bird metric 1024 onlink"]
    );
    // A route that becomes this node's block: the blackhole goes without a
    // metric, and the route at 1024 goes with it.
    program(&handle, vec![blackhole("10.244.2.0/26")]);
    assert_eq!(
        all_at(n1, "10.244.2.0/26"),
        ["blackhole 10.244.2.0/26 proto bird"]
    );
    program(&handle, vec![via_at("10.244.2.0/26", &["10.0.1.12"], 1024)]);
    assert_eq!(
        all_at(n1, "10.244.2.0/26"),
        ["10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird metric 1024"]
    );

    // IPv6 has no metric 0: the kernel's 1024 stands for it, and nothing is
    // programmed again for it.
    program(&handle, vec![via_at("fd00:244::/122", &["fd00:1::12"], 0)]);
    assert_eq!(
        all_at(n1, "fd00:244::/122"),
        ["fd00:244::/122 via fd00:1::12 dev eth0 proto bird metric 1024"]
    );
    assert_eq!(
        status(&handle, "fd00:244::/122").state,
        routesync::RouteState::Installed
    );
    program(
        &handle,
        vec![via_at("fd00:244::/122", &["fd00:1::12"], 2000)],
    );
    assert_eq!(
        all_at(n1, "fd00:244::/122"),
        ["fd00:244::/122 via fd00:1::12 dev eth0 proto bird metric 2000"]
    );

    program(
        &handle,
        vec![remove("10.244.2.0/26"), remove("fd00:244::/122")],
    );
    assert!(ours(n1).is_empty(), "{:?}", ours(n1));
    handle.shutdown();
}

#[test]
fn a_route_of_someone_else_at_the_new_metric_is_left_alone() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let handle = start(n1, config(IpipMode::Never));
    // Ours at the normal metric; a workload route of Felix's (proto boot)
    // for the same address at an elevated one sits beside it and wins.
    program(&handle, vec![via_at("10.244.2.7/32", &["10.0.1.12"], 1024)]);
    n1.ns()
        .ip([
            "route",
            "add",
            "10.244.2.7/32",
            "dev",
            "eth0",
            "metric",
            "512",
            "proto",
            "boot",
        ])
        .unwrap();
    let felix = "10.244.2.7 dev eth0 proto boot metric 512";
    let ours_at_1024 = "10.244.2.7/32 via 10.0.1.12 dev eth0 proto bird metric 1024";
    let both = all_at(n1, "10.244.2.7/32");
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(both[0].contains("proto boot metric 512"), "{both:?}");
    assert_eq!(both[1], ours_at_1024);

    // BGP now wants 512 too: the kernel refuses the exclusive create, and
    // Felix's route is never replaced; ours stays where it was.
    program(&handle, vec![via_at("10.244.2.7/32", &["10.0.1.12"], 512)]);
    let held = status(&handle, "10.244.2.7/32");
    assert!(
        failed(&held).contains("a route with proto boot already holds 10.244.2.7/32"),
        "{held:?}"
    );
    let after = all_at(n1, "10.244.2.7/32");
    assert!(
        after[0].contains("proto boot metric 512"),
        "{felix}: {after:?}"
    );
    assert_eq!(after[1], ours_at_1024);
    handle.shutdown();
}

#[test]
fn a_route_left_at_another_metric_by_an_earlier_run_is_replaced_not_kept() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    // An earlier version installed its routes without a metric.
    n1.ns()
        .ip([
            "route",
            "add",
            "10.244.5.0/26",
            "via",
            "10.0.1.12",
            "proto",
            "bird",
        ])
        .unwrap();
    let handle = start(n1, config(IpipMode::Never));
    program(&handle, vec![via_at("10.244.5.0/26", &["10.0.1.12"], 1024)]);
    assert_eq!(
        all_at(n1, "10.244.5.0/26"),
        ["10.244.5.0/26 via 10.0.1.12 dev eth0 proto bird metric 1024"]
    );
    handle.shutdown();
}
