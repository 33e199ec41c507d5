//! Drift repair from the kernel's notifications: routes of ours deleted or
//! changed by someone else come back; devices that go and come back, or go
//! down and up, get their routes back; a new address on the uplink
//! re-classifies. Every wait polls with a deadline; none asserts a duration.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot build its network or read its routes fails loudly"
)]

mod common;

use std::time::Duration;

use common::*;
use proto::config::{IpipMode, KernelConfig};
use routesync::{Handle, RouteState};
use testnets::{require_privileges, Host, KernelRoute, Poll};

/// Long enough for a loaded machine; the repair itself takes milliseconds.
const DEADLINE: Duration = Duration::from_secs(5);

fn rendered(table: &[KernelRoute], prefix: &str) -> String {
    let prefix = net(prefix);
    table
        .iter()
        .find(|r| r.destination == prefix)
        .map_or_else(|| "(none)".into(), |r| r.to_string())
}

/// Waits until the main table shows each (prefix, route) as given.
fn wait_for_table(host: &Host, what: &str, expected: &[(&str, &str)]) {
    host.wait_for_routes(what, DEADLINE, |table| {
        expected
            .iter()
            .all(|(prefix, route)| rendered(table, prefix) == *route)
    })
    .unwrap();
}

/// Waits until the route's status satisfies `check`.
fn wait_for_status(handle: &Handle, prefix: &str, what: &str, check: impl Fn(&RouteState) -> bool) {
    testnets::wait_for(what, DEADLINE, || {
        let status = handle.route_status(&net(prefix));
        Ok(match status {
            Some(s) if check(&s.state) => Poll::Ready(()),
            other => Poll::Pending(format!("{other:?}")),
        })
    })
    .unwrap();
}

#[test]
fn routes_deleted_or_changed_by_someone_else_are_restored() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let handle = start(n1, config(IpipMode::CrossSubnet));
    program(
        &handle,
        vec![
            via("10.244.2.0/26", &["10.0.1.12"]),
            via("10.244.3.0/26", &["10.0.2.13"]),
            via("fd00:244::/122", &["fd00:1::12"]),
        ],
    );
    let desired = [
        (
            "10.244.2.0/26",
            "10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird",
        ),
        (
            "10.244.3.0/26",
            "10.244.3.0/26 via 10.0.2.13 dev tunl0 proto bird onlink",
        ),
        (
            "fd00:244::/122",
            "fd00:244::/122 via fd00:1::12 dev eth0 proto bird metric 1024",
        ),
    ];
    wait_for_table(n1, "routes installed", &desired);

    // One deleted, one replaced with another next hop under our protocol,
    // the IPv6 one deleted.
    let ip = |args: &[&str]| n1.ns().ip(args).unwrap();
    ip(&["route", "del", "10.244.2.0/26"]);
    ip(&[
        "route",
        "replace",
        "10.244.3.0/26",
        "via",
        "10.0.1.14",
        "dev",
        "eth0",
        "proto",
        "bird",
    ]);
    ip(&["-6", "route", "del", "fd00:244::/122"]);
    wait_for_table(n1, "routes restored", &desired);

    // A burst: every route of ours flushed at once.
    ip(&["route", "flush", "proto", "bird"]);
    ip(&["-6", "route", "flush", "proto", "bird"]);
    wait_for_table(n1, "routes restored after a flush", &desired);
    for (prefix, _) in desired {
        assert_eq!(status(&handle, prefix).state, RouteState::Installed);
    }
}

#[test]
fn a_prefix_taken_by_another_protocol_is_left_to_it_until_it_goes() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let handle = start(n1, config(IpipMode::CrossSubnet));
    program(&handle, vec![via("10.244.4.0/26", &["10.0.1.12"])]);
    let ours = "10.244.4.0/26 via 10.0.1.12 dev eth0 proto bird";
    assert_eq!(shown(n1, "10.244.4.0/26"), ours);

    // An operator's static route replaces ours: it is theirs now.
    let ip = |args: &[&str]| n1.ns().ip(args).unwrap();
    ip(&[
        "route",
        "replace",
        "10.244.4.0/26",
        "via",
        "10.0.1.14",
        "proto",
        "static",
    ]);
    wait_for_status(
        &handle,
        "10.244.4.0/26",
        "the route to fail",
        |state| matches!(state, RouteState::Failed { error } if error.contains("proto static already holds")),
    );
    assert_eq!(
        shown(n1, "10.244.4.0/26"),
        "10.244.4.0/26 via 10.0.1.14 dev eth0 proto static"
    );

    // When it goes, ours comes back at once (not at the periodic retry).
    ip(&["route", "del", "10.244.4.0/26", "proto", "static"]);
    wait_for_table(n1, "our route back", &[("10.244.4.0/26", ours)]);
    wait_for_status(&handle, "10.244.4.0/26", "the route installed", |state| {
        *state == RouteState::Installed
    });
}

#[test]
fn routes_come_back_with_their_device() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let ip = |args: &[&str]| n1.ns().ip(args).unwrap();
    // A TUN device as the tunnel, which (unlike the ipip fallback device
    // tunl0) can be deleted.
    let add_tunnel = || {
        ip(&["tuntap", "add", "dev", "tunl9", "mode", "tun"]);
        ip(&["link", "set", "tunl9", "up"]);
    };
    add_tunnel();
    let config = KernelConfig {
        tunnel_device: "tunl9".into(),
        ..config(IpipMode::CrossSubnet)
    };
    let handle = start(n1, config);
    program(
        &handle,
        vec![
            via("10.244.2.0/26", &["10.0.1.12"]),
            via("10.244.3.0/26", &["10.0.2.13"]),
            via("10.244.4.0/26", &["10.0.2.14"]),
        ],
    );
    let desired = [
        (
            "10.244.2.0/26",
            "10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird",
        ),
        (
            "10.244.3.0/26",
            "10.244.3.0/26 via 10.0.2.13 dev tunl9 proto bird onlink",
        ),
        (
            "10.244.4.0/26",
            "10.244.4.0/26 via 10.0.2.14 dev tunl9 proto bird onlink",
        ),
    ];
    wait_for_table(n1, "routes installed", &desired);

    // Down: IPv4 drops the routes through it without a notification.
    ip(&["link", "set", "tunl9", "down"]);
    wait_for_status(&handle, "10.244.3.0/26", "the route to fail", |state| {
        matches!(state, RouteState::Failed { .. })
    });
    ip(&["link", "set", "tunl9", "up"]);
    wait_for_table(n1, "routes back after down and up", &desired);

    // Deleted: the routes fail, saying why; recreated: they come back.
    ip(&["link", "del", "tunl9"]);
    wait_for_status(
        &handle,
        "10.244.3.0/26",
        "the route to fail",
        |state| matches!(state, RouteState::Failed { error } if error.contains("tunl9 does not exist")),
    );
    assert_eq!(route(n1, "10.244.3.0/26"), None);
    add_tunnel();
    wait_for_table(n1, "routes back with a new tunl9", &desired);
    for (prefix, _) in desired {
        assert_eq!(status(&handle, prefix).state, RouteState::Installed);
    }
}

#[test]
fn a_new_uplink_subnet_reclassifies_cross_subnet_routes() {
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
    let on_lan_a = [
        (
            "10.244.2.0/26",
            "10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird",
        ),
        (
            "10.244.3.0/26",
            "10.244.3.0/26 via 10.0.2.13 dev tunl0 proto bird onlink",
        ),
    ];
    wait_for_table(n1, "routes installed", &on_lan_a);

    // The node moves to lan-b's subnet: what was across is now beside it.
    let ip = |args: &[&str]| n1.ns().ip(args).unwrap();
    ip(&["addr", "add", "10.0.2.11/24", "dev", "eth0"]);
    ip(&["addr", "del", "10.0.1.11/24", "dev", "eth0"]);
    wait_for_table(
        n1,
        "routes classified for 10.0.2.0/24",
        &[
            (
                "10.244.2.0/26",
                "10.244.2.0/26 via 10.0.1.12 dev tunl0 proto bird onlink",
            ),
            (
                "10.244.3.0/26",
                "10.244.3.0/26 via 10.0.2.13 dev eth0 proto bird",
            ),
        ],
    );
    let moved = status(&handle, "10.244.2.0/26");
    assert!(moved.reason.contains("outside 10.0.2.0/24"), "{moved:?}");

    // And back.
    ip(&["addr", "add", "10.0.1.11/24", "dev", "eth0"]);
    ip(&["addr", "del", "10.0.2.11/24", "dev", "eth0"]);
    wait_for_table(n1, "routes classified for 10.0.1.0/24 again", &on_lan_a);
    let back = status(&handle, "10.244.2.0/26");
    assert!(back.reason.contains("inside 10.0.1.0/24"), "{back:?}");
}

#[test]
fn recursive_next_hops_follow_the_kernels_route_toward_them() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let handle = start(n1, config(IpipMode::Never));
    program(&handle, vec![via("10.244.3.0/26", &["10.0.2.13"])]);
    // 10.0.2.13 is beyond the subnet: through n1's route toward it (r1).
    wait_for_table(
        n1,
        "the route through r1",
        &[(
            "10.244.3.0/26",
            "10.244.3.0/26 via 10.0.1.1 dev eth0 proto bird",
        )],
    );

    // An operator (or an IGP) routes 10.0.2.13 through n2 instead: ours
    // follows, as BIRD's `gateway recursive` follows its IGP table.
    let ip = |args: &[&str]| n1.ns().ip(args).unwrap();
    ip(&[
        "route",
        "add",
        "10.0.2.13/32",
        "via",
        "10.0.1.12",
        "dev",
        "eth0",
    ]);
    wait_for_table(
        n1,
        "the route through n2",
        &[
            (
                "10.244.3.0/26",
                "10.244.3.0/26 via 10.0.1.12 dev eth0 proto bird",
            ),
            (
                "10.0.2.13/32",
                "10.0.2.13/32 via 10.0.1.12 dev eth0 proto boot",
            ),
        ],
    );

    // The more specific route goes: back through r1.
    ip(&["route", "del", "10.0.2.13/32"]);
    wait_for_table(
        n1,
        "the route through r1 again",
        &[(
            "10.244.3.0/26",
            "10.244.3.0/26 via 10.0.1.1 dev eth0 proto bird",
        )],
    );
    let status = handle.route_status(&net("10.244.3.0/26")).unwrap();
    assert_eq!(status.state, RouteState::Installed);
    assert!(status.reason.contains("recursive"), "{status:?}");
}
