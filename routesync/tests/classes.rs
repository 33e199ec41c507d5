//! Every row of docs/DESIGN.md §4 programmed into a real kernel and read back.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot build its network or read its routes fails loudly"
)]

mod common;

use common::*;
use proto::config::{IpipMode, KernelConfig, PoolConfig};
use routesync::RouteState;
use testnets::{require_privileges, RouteKind};

#[test]
fn ipip_always_tunnels_every_next_hop() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let handle = start(n1, config(IpipMode::Always));
    program(
        &handle,
        vec![
            via("10.244.2.0/26", &["10.0.1.12"]),
            via("10.244.3.0/26", &["10.0.2.13"]),
        ],
    );
    assert_eq!(
        shown(n1, "10.244.2.0/26"),
        "10.244.2.0/26 via 10.0.1.12 dev tunl0 proto bird onlink"
    );
    assert_eq!(
        shown(n1, "10.244.3.0/26"),
        "10.244.3.0/26 via 10.0.2.13 dev tunl0 proto bird onlink"
    );
    let status = status(&handle, "10.244.2.0/26");
    assert_eq!(status.state, RouteState::Installed);
    assert!(status.reason.contains("ipip Always"), "{status:?}");
    assert_eq!(
        status.kernel.as_deref(),
        Some("10.244.2.0/26 via 10.0.1.12 dev tunl0 onlink proto bird")
    );
}

#[test]
fn cross_subnet_tunnels_only_to_other_subnets() {
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
    assert_eq!(
        shown(n1, "10.244.2.0/26"),
        "10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird"
    );
    assert_eq!(
        shown(n1, "10.244.3.0/26"),
        "10.244.3.0/26 via 10.0.2.13 dev tunl0 proto bird onlink"
    );
    let reason = status(&handle, "10.244.3.0/26").reason;
    assert!(
        reason.contains("next hop 10.0.2.13 is outside 10.0.1.0/24, so tunl0 onlink"),
        "{reason}"
    );
}

#[test]
fn never_goes_direct_on_the_subnet_and_through_the_router_beyond_it() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let handle = start(n1, config(IpipMode::Never));
    program(
        &handle,
        vec![
            via("10.244.2.0/26", &["10.0.1.12"]),
            via("10.244.3.0/26", &["10.0.2.13"]),
            // Outside every pool: the same as Never, whatever the pools say.
            via("172.16.0.0/16", &["10.0.2.14"]),
        ],
    );
    assert_eq!(
        shown(n1, "10.244.2.0/26"),
        "10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird"
    );
    // The kernel refuses `via 10.0.2.13` (not directly reachable); its route
    // to 10.0.2.13 goes through r1, so that is the route (BIRD's recursive
    // gateway, docs/CALICO-CONTRACT.md §4.4).
    assert_eq!(
        shown(n1, "10.244.3.0/26"),
        "10.244.3.0/26 via 10.0.1.1 dev eth0 proto bird"
    );
    assert_eq!(
        shown(n1, "172.16.0.0/16"),
        "172.16.0.0/16 via 10.0.1.1 dev eth0 proto bird"
    );
    let status = status(&handle, "10.244.3.0/26");
    assert_eq!(status.state, RouteState::Installed);
    assert!(
        status
            .reason
            .contains("the kernel refused a recursive next hop"),
        "{status:?}"
    );
}

#[test]
fn vxlan_pools_and_never_install_ranges_stay_out_of_the_kernel() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let mut config = config(IpipMode::CrossSubnet);
    config.pools.push(PoolConfig {
        cidr: net("10.245.0.0/16"),
        ipip: IpipMode::Never,
        vxlan: true,
    });
    let handle = start(n1, config);
    program(
        &handle,
        vec![
            via("10.245.3.0/26", &["10.0.1.12"]),
            blackhole("10.245.1.0/26"),
            via("10.96.0.0/12", &["10.0.1.12"]),
            via("10.244.2.0/26", &["10.0.1.12"]),
        ],
    );
    assert_eq!(ours(n1).len(), 1, "{}", testnets::routes::render(&ours(n1)));
    for (prefix, why) in [
        ("10.245.3.0/26", "Felix programs VXLAN routes"),
        ("10.245.1.0/26", "VXLAN pool 10.245.0.0/16"),
        ("10.96.0.0/12", "never_install"),
    ] {
        assert_eq!(route(n1, prefix), None);
        let status = status(&handle, prefix);
        assert_eq!(status.state, RouteState::NotInstalled, "{status:?}");
        assert!(status.reason.contains(why), "{status:?}");
    }
}

#[test]
fn own_blocks_are_blackholes_in_both_families() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let handle = start(n1, config(IpipMode::CrossSubnet));
    program(
        &handle,
        vec![blackhole("10.244.1.0/26"), blackhole("fd00:244:0:1::/64")],
    );
    let v4 = route(n1, "10.244.1.0/26").unwrap();
    assert_eq!((v4.kind, v4.protocol), (RouteKind::Blackhole, 12), "{v4}");
    assert_eq!(v4.to_string(), "blackhole 10.244.1.0/26 proto bird");
    let v6 = route(n1, "fd00:244:0:1::/64").unwrap();
    assert_eq!((v6.kind, v6.protocol), (RouteKind::Blackhole, 12), "{v6}");
}

#[test]
fn ipv6_never_tunnels() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    // Even with an Always pool for IPv4: there is no IP-in-IP for IPv6.
    let handle = start(n1, config(IpipMode::Always));
    program(
        &handle,
        vec![
            via("fd00:244:0:2::/64", &["fd00:1::12"]),
            via("fd00:244:0:3::/64", &["fd00:2::13"]),
        ],
    );
    let same = route(n1, "fd00:244:0:2::/64").unwrap();
    assert_eq!(
        (same.gateway(), same.device(), same.protocol),
        (Some(ip("fd00:1::12")), Some("eth0"), 12),
        "{same}"
    );
    // IPv6 refuses an indirect gateway with EHOSTUNREACH: through r1.
    let other = route(n1, "fd00:244:0:3::/64").unwrap();
    assert_eq!(
        (other.gateway(), other.device(), other.next_hops[0].onlink),
        (Some(ip("fd00:1::1")), Some("eth0"), false),
        "{other}"
    );
    assert!(ours(n1).iter().all(|r| r
        .next_hops
        .iter()
        .all(|h| h.device.as_deref() != Some("tunl0"))));
}

#[test]
fn multipath_classifies_each_next_hop_on_its_own() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let handle = start(n1, config(IpipMode::CrossSubnet));
    // Calico's BIRD cannot tunnel a multipath route (projectcalico/calico#4462).
    program(
        &handle,
        vec![
            via("10.244.9.0/26", &["10.0.2.14", "10.0.1.12"]),
            via("172.16.0.0/16", &["10.0.1.12", "10.0.2.14"]),
            via("fd00:244:0:9::/64", &["fd00:1::13", "fd00:1::12"]),
        ],
    );
    let hops = |prefix: &str| -> Vec<(Option<std::net::IpAddr>, Option<String>, bool)> {
        route(n1, prefix)
            .unwrap()
            .next_hops
            .iter()
            .map(|h| (h.gateway, h.device.clone(), h.onlink))
            .collect()
    };
    assert_eq!(
        hops("10.244.9.0/26"),
        vec![
            (Some(ip("10.0.1.12")), Some("eth0".into()), false),
            (Some(ip("10.0.2.14")), Some("tunl0".into()), true),
        ],
        "{}",
        shown(n1, "10.244.9.0/26")
    );
    // Outside the pools: one direct hop and one through the router.
    assert_eq!(
        hops("172.16.0.0/16"),
        vec![
            (Some(ip("10.0.1.12")), Some("eth0".into()), false),
            (Some(ip("10.0.1.1")), Some("eth0".into()), false),
        ],
        "{}",
        shown(n1, "172.16.0.0/16")
    );
    let v6 = vec![
        (Some(ip("fd00:1::12")), Some("eth0".into()), false),
        (Some(ip("fd00:1::13")), Some("eth0".into()), false),
    ];
    assert_eq!(
        hops("fd00:244:0:9::/64"),
        v6,
        "{}",
        shown(n1, "fd00:244:0:9::/64")
    );

    // A changed set of next hops replaces the whole multipath route.
    program(
        &handle,
        vec![
            via("10.244.9.0/26", &["10.0.2.13", "10.0.2.14"]),
            via("fd00:244:0:9::/64", &["fd00:1::14", "fd00:1::12"]),
        ],
    );
    assert_eq!(
        hops("10.244.9.0/26"),
        vec![
            (Some(ip("10.0.2.13")), Some("tunl0".into()), true),
            (Some(ip("10.0.2.14")), Some("tunl0".into()), true),
        ],
        "{}",
        shown(n1, "10.244.9.0/26")
    );
    assert_eq!(
        hops("fd00:244:0:9::/64"),
        vec![
            (Some(ip("fd00:1::12")), Some("eth0".into()), false),
            (Some(ip("fd00:1::14")), Some("eth0".into()), false),
        ],
        "{}",
        shown(n1, "fd00:244:0:9::/64")
    );
}

#[test]
fn changed_and_withdrawn_routes_follow_bgp() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let handle = start(n1, config(IpipMode::CrossSubnet));
    program(
        &handle,
        vec![
            via("10.244.2.0/26", &["10.0.1.12"]),
            blackhole("10.244.1.0/26"),
            via("fd00:244:0:2::/64", &["fd00:1::12"]),
        ],
    );
    assert_eq!(ours(n1).len(), 3);
    // A new next hop replaces the route; a block that moves away stops
    // being a blackhole.
    program(
        &handle,
        vec![
            via("10.244.2.0/26", &["10.0.2.13"]),
            via("10.244.1.0/26", &["10.0.1.12"]),
        ],
    );
    assert_eq!(
        shown(n1, "10.244.2.0/26"),
        "10.244.2.0/26 via 10.0.2.13 dev tunl0 proto bird onlink"
    );
    assert_eq!(
        shown(n1, "10.244.1.0/26"),
        "10.244.1.0/26 via 10.0.1.12 dev eth0 proto bird"
    );
    program(
        &handle,
        vec![
            remove("10.244.2.0/26"),
            remove("10.244.1.0/26"),
            remove("fd00:244:0:2::/64"),
        ],
    );
    assert_eq!(ours(n1), vec![]);
    assert_eq!(handle.status(), vec![]);
}

#[test]
fn a_missing_tunnel_device_fails_the_route_until_it_exists() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let config = KernelConfig {
        tunnel_device: "tunl9".into(),
        ..config(IpipMode::Always)
    };
    let handle = start(n1, config.clone());
    program(&handle, vec![via("10.244.3.0/26", &["10.0.2.13"])]);
    assert_eq!(route(n1, "10.244.3.0/26"), None);
    let refused = status(&handle, "10.244.3.0/26");
    assert!(
        failed(&refused).contains("device tunl9 does not exist"),
        "{refused:?}"
    );

    n1.ns()
        .ip(["tuntap", "add", "dev", "tunl9", "mode", "tun"])
        .unwrap();
    n1.ns().ip(["link", "set", "tunl9", "up"]).unwrap();
    // The device is looked up again on demand: any later pass (the periodic
    // retry, a change, a reconfigure) installs the route.
    handle.reconfigure(config, n1_network());
    assert!(handle.flush());
    assert_eq!(
        shown(n1, "10.244.3.0/26"),
        "10.244.3.0/26 via 10.0.2.13 dev tunl9 proto bird onlink"
    );
    assert_eq!(
        status(&handle, "10.244.3.0/26").state,
        RouteState::Installed
    );
}
