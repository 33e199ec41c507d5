//! Start-up after an earlier run: routes of ours found in the kernel stay
//! until the speaker converges (or the sweep deadline passes), then those BGP
//! does not want go; those it wants are replaced in place, never deleted.
//! And `shutdown_and_flush` takes every route of ours away.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot build its network or read its routes fails loudly"
)]

mod common;

use std::time::Duration;

use common::*;
use proto::config::IpipMode;
use routesync::{Options, RouteState};
use testnets::{require_privileges, Host, PROTO_BIRD};

const DEADLINE: Duration = Duration::from_secs(5);

/// Routes of ours as an earlier run would have left them, and an operator's.
fn leave_routes(n1: &Host) {
    let lines: Vec<String> = [
        "route add 10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird",
        "route add 10.244.3.0/26 via 10.0.2.13 dev tunl0 onlink proto bird",
        "route add 10.244.5.0/26 via 10.0.1.12 dev eth0 proto bird",
        "route add 10.244.6.0/26 via 10.0.1.12 dev eth0 proto bird",
        "route add 10.244.7.0/26 via 10.0.2.14 dev tunl0 onlink proto bird",
        "route add 10.244.8.0/26 via 10.0.1.14 proto static",
        "route add fd00:244::/122 via fd00:1::12 dev eth0 proto bird",
    ]
    .iter()
    .map(|l| (*l).to_owned())
    .collect();
    n1.ns().ip_batch(&lines).unwrap();
}

/// Our routes in the main table, as `ip route` shows them, sorted.
fn ours_shown(n1: &Host) -> Vec<String> {
    let mut shown: Vec<String> = ours(n1).iter().map(ToString::to_string).collect();
    shown.sort();
    shown
}

#[test]
fn stale_routes_stay_until_convergence_and_wanted_ones_are_never_deleted() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    leave_routes(n1);
    // Every route change in the namespace, as `ip monitor` prints it.
    let mut monitor = n1
        .spawn("monitor", "stdbuf", &["-oL", "ip", "monitor", "route"])
        .unwrap();
    // Listening once it prints a marker route (added again on every try: a
    // change made before it listened is not printed).
    let marker = |verb: &str| {
        n1.ns()
            .ip([
                "route",
                verb,
                "10.244.250.0/26",
                "via",
                "10.0.1.14",
                "proto",
                "static",
            ])
            .map(drop)
    };
    testnets::wait_for("the monitor to listen", DEADLINE, || {
        let _ = marker("del");
        marker("add")?;
        let log = monitor.log();
        Ok(if log.contains("10.244.250.0/26") {
            testnets::Poll::Ready(())
        } else {
            testnets::Poll::Pending(log)
        })
    })
    .unwrap();
    marker("del").unwrap();

    let handle = n1
        .ns()
        .enter(|| {
            Ok(routesync::spawn_with(
                config(IpipMode::CrossSubnet),
                n1_network(),
                Options {
                    sweep_after: Duration::from_secs(3600),
                },
            ))
        })
        .unwrap();
    // BGP's table: two routes as they were, one with a new next hop, one new.
    program(
        &handle,
        vec![
            via("10.244.2.0/26", &["10.0.1.12"]),
            via("10.244.3.0/26", &["10.0.2.13"]),
            via("10.244.5.0/26", &["10.0.1.13"]),
            via("10.244.9.0/26", &["10.0.1.12"]),
        ],
    );
    let wanted = [
        "10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird",
        "10.244.3.0/26 via 10.0.2.13 dev tunl0 proto bird onlink",
        "10.244.5.0/26 via 10.0.1.13 dev eth0 proto bird",
        "10.244.9.0/26 via 10.0.1.12 dev eth0 proto bird",
    ];
    // Not converged yet: the stale ones (6, 7 and the IPv6 one) are still there.
    let before = ours_shown(n1);
    assert_eq!(
        before,
        vec![
            wanted[0],
            wanted[1],
            wanted[2],
            "10.244.6.0/26 via 10.0.1.12 dev eth0 proto bird",
            "10.244.7.0/26 via 10.0.2.14 dev tunl0 proto bird onlink",
            wanted[3],
            "fd00:244::/122 via fd00:1::12 dev eth0 proto bird metric 1024",
        ],
    );

    handle.converged();
    assert!(handle.flush());
    assert_eq!(ours_shown(n1), wanted);
    assert_eq!(
        shown(n1, "10.244.8.0/26"),
        "10.244.8.0/26 via 10.0.1.14 dev eth0 proto static"
    );
    for prefix in ["10.244.2.0/26", "10.244.3.0/26", "10.244.5.0/26"] {
        assert_eq!(status(&handle, prefix).state, RouteState::Installed);
    }

    // The monitor saw the sweep, and no deletion of a wanted route.
    testnets::wait_for("the monitor to see the sweep", DEADLINE, || {
        let log = monitor.log();
        Ok(
            if log.contains("Deleted 10.244.7.0/26") && log.contains("Deleted fd00:244::/122") {
                testnets::Poll::Ready(())
            } else {
                testnets::Poll::Pending(log)
            },
        )
    })
    .unwrap();
    monitor.stop();
    let log = monitor.log();
    for prefix in ["10.244.2.0/26", "10.244.3.0/26", "10.244.5.0/26"] {
        assert!(
            !log.lines()
                .any(|l| l.starts_with(&format!("Deleted {prefix}"))),
            "{prefix} was deleted on the way:\n{log}"
        );
    }
}

#[test]
fn stale_routes_go_at_the_deadline_without_convergence() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    leave_routes(n1);
    let handle = n1
        .ns()
        .enter(|| {
            Ok(routesync::spawn_with(
                config(IpipMode::CrossSubnet),
                n1_network(),
                Options {
                    sweep_after: Duration::from_millis(300),
                },
            ))
        })
        .unwrap();
    program(&handle, vec![via("10.244.2.0/26", &["10.0.1.12"])]);
    n1.wait_for_routes("the stale routes swept", DEADLINE, |table| {
        table.iter().filter(|r| r.protocol == PROTO_BIRD).count() == 1
    })
    .unwrap();
    assert_eq!(
        ours_shown(n1),
        vec!["10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird"]
    );
    assert!(route(n1, "10.244.8.0/26").is_some());
}

#[test]
fn shutdown_and_flush_removes_every_route_of_ours() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    leave_routes(n1);
    let handle = start(n1, config(IpipMode::CrossSubnet));
    program(
        &handle,
        vec![
            via("10.244.2.0/26", &["10.0.1.12"]),
            via("10.244.9.0/26", &["10.0.2.13"]),
            blackhole("10.244.1.0/26"),
        ],
    );
    // Added by hand after start, with our protocol: ours by the rule.
    n1.ns()
        .ip([
            "route",
            "add",
            "10.244.10.0/26",
            "via",
            "10.0.1.12",
            "proto",
            "bird",
        ])
        .unwrap();
    assert!(ours(n1).len() >= 8);
    handle.shutdown_and_flush();
    assert_eq!(ours_shown(n1), Vec::<String>::new());
    let v6_ours = n1
        .routes()
        .unwrap()
        .into_iter()
        .filter(|r| r.protocol == PROTO_BIRD)
        .count();
    assert_eq!(v6_ours, 0);
    assert!(route(n1, "10.244.8.0/26").is_some());
}
