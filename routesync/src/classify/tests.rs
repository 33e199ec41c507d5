//! Every row of docs/DESIGN.md §4, as a table: pool mode × where the next hop is.

use super::*;

const POOL: &str = "10.244.0.0/16";
const POOL_V6: &str = "fd00:244::/48";

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn node() -> NodeNetwork {
    NodeNetwork {
        uplink: "eth0".into(),
        address: net("10.0.1.11/24"),
        address_v6: Some(net("fd00:1::11/64")),
    }
}

fn config(ipip: IpipMode, vxlan: bool) -> KernelConfig {
    KernelConfig {
        pools: vec![
            PoolConfig {
                cidr: net(POOL),
                ipip,
                vxlan,
            },
            PoolConfig {
                cidr: net(POOL_V6),
                ipip: IpipMode::Never,
                vxlan: false,
            },
        ],
        never_install: vec![net("10.96.0.0/12"), net("fd00:96::/108")],
        ..KernelConfig::default()
    }
}

/// The metric the speaker gives a route of normal priority.
const METRIC: u32 = 1024;

fn hops(gateways: &[&str]) -> FibEntry {
    FibEntry::NextHops {
        hops: gateways.iter().map(|g| ip(g)).collect(),
        metric: METRIC,
    }
}

fn forward(hops: Hops) -> Action {
    Action::Forward {
        hops,
        metric: METRIC,
    }
}

fn eth0(gateway: &str) -> Hop {
    Hop {
        gateway: ip(gateway),
        via: Via::Device {
            name: "eth0".into(),
            onlink: false,
        },
    }
}

fn tunl0(gateway: &str) -> Hop {
    Hop {
        gateway: ip(gateway),
        via: Via::Device {
            name: "tunl0".into(),
            onlink: true,
        },
    }
}

fn recursive(gateway: &str) -> Hop {
    Hop {
        gateway: ip(gateway),
        via: Via::Recursive,
    }
}

struct Row {
    name: &'static str,
    ipip: IpipMode,
    vxlan: bool,
    prefix: &'static str,
    entry: FibEntry,
    action: Action,
    /// A piece of the reason operators will read.
    reason: &'static str,
}

fn rows() -> Vec<Row> {
    use IpipMode::{Always, CrossSubnet, Never};
    vec![
        Row {
            name: "Always, same subnet: tunnel anyway",
            ipip: Always,
            vxlan: false,
            prefix: "10.244.2.0/26",
            entry: hops(&["10.0.1.12"]),
            action: forward(smallvec::smallvec![tunl0("10.0.1.12")]),
            reason: "ipip Always: next hop 10.0.1.12 via tunl0 onlink",
        },
        Row {
            name: "Always, other subnet",
            ipip: Always,
            vxlan: false,
            prefix: "10.244.3.0/26",
            entry: hops(&["10.0.2.13"]),
            action: forward(smallvec::smallvec![tunl0("10.0.2.13")]),
            reason: "via tunl0 onlink",
        },
        Row {
            name: "CrossSubnet, same subnet: direct",
            ipip: CrossSubnet,
            vxlan: false,
            prefix: "10.244.2.0/26",
            entry: hops(&["10.0.1.12"]),
            action: forward(smallvec::smallvec![eth0("10.0.1.12")]),
            reason: "next hop 10.0.1.12 is inside 10.0.1.0/24, so direct on eth0",
        },
        Row {
            name: "CrossSubnet, other subnet: tunnel",
            ipip: CrossSubnet,
            vxlan: false,
            prefix: "10.244.3.0/26",
            entry: hops(&["10.0.2.13"]),
            action: forward(smallvec::smallvec![tunl0("10.0.2.13")]),
            reason: "next hop 10.0.2.13 is outside 10.0.1.0/24, so tunl0 onlink",
        },
        Row {
            name: "Never, same subnet: direct",
            ipip: Never,
            vxlan: false,
            prefix: "10.244.2.0/26",
            entry: hops(&["10.0.1.12"]),
            action: forward(smallvec::smallvec![eth0("10.0.1.12")]),
            reason: "inside 10.0.1.0/24, so direct on eth0",
        },
        Row {
            name: "Never, other subnet: recursive",
            ipip: Never,
            vxlan: false,
            prefix: "10.244.3.0/26",
            entry: hops(&["10.0.2.13"]),
            action: forward(smallvec::smallvec![recursive("10.0.2.13")]),
            reason: "outside 10.0.1.0/24, so through the kernel's route to it",
        },
        Row {
            name: "VXLAN pool: Felix's",
            ipip: Never,
            vxlan: true,
            prefix: "10.244.3.0/26",
            entry: hops(&["10.0.2.13"]),
            action: Action::NotInstalled,
            reason: "inside VXLAN pool 10.244.0.0/16",
        },
        Row {
            name: "VXLAN pool: not even an own block's blackhole",
            ipip: CrossSubnet,
            vxlan: true,
            prefix: "10.244.1.0/26",
            entry: FibEntry::Blackhole,
            action: Action::NotInstalled,
            reason: "Felix programs VXLAN routes",
        },
        Row {
            name: "never_install: advertised only",
            ipip: Always,
            vxlan: false,
            prefix: "10.96.0.0/12",
            entry: hops(&["10.0.1.12"]),
            action: Action::NotInstalled,
            reason: "inside never_install 10.96.0.0/12",
        },
        Row {
            name: "never_install wins over a blackhole",
            ipip: Always,
            vxlan: false,
            prefix: "10.96.0.0/16",
            entry: FibEntry::Blackhole,
            action: Action::NotInstalled,
            reason: "never installed",
        },
        Row {
            name: "outside every pool, same subnet: direct",
            ipip: Always,
            vxlan: false,
            prefix: "172.16.0.0/16",
            entry: hops(&["10.0.1.12"]),
            action: forward(smallvec::smallvec![eth0("10.0.1.12")]),
            reason: "in no pool",
        },
        Row {
            name: "outside every pool, other subnet: recursive, never tunnelled",
            ipip: Always,
            vxlan: false,
            prefix: "172.16.0.0/16",
            entry: hops(&["10.0.2.13"]),
            action: forward(smallvec::smallvec![recursive("10.0.2.13")]),
            reason: "like ipip Never",
        },
        Row {
            name: "own block: blackhole",
            ipip: CrossSubnet,
            vxlan: false,
            prefix: "10.244.1.0/26",
            entry: FibEntry::Blackhole,
            action: Action::Blackhole,
            reason: "one of this node's blocks",
        },
        Row {
            name: "withdrawn",
            ipip: CrossSubnet,
            vxlan: false,
            prefix: "10.244.3.0/26",
            entry: FibEntry::Remove,
            action: Action::Withdrawn,
            reason: "withdrawn",
        },
        Row {
            name: "withdrawn inside never_install is still a withdrawal",
            ipip: CrossSubnet,
            vxlan: false,
            prefix: "10.96.0.0/12",
            entry: FibEntry::Remove,
            action: Action::Withdrawn,
            reason: "withdrawn",
        },
        Row {
            name: "no next hop at all",
            ipip: CrossSubnet,
            vxlan: false,
            prefix: "10.244.3.0/26",
            entry: hops(&[]),
            action: Action::NotInstalled,
            reason: "no usable next hop",
        },
        Row {
            name: "IPv6 on the node's subnet: direct, even with an Always v4 pool",
            ipip: Always,
            vxlan: false,
            prefix: "fd00:244:0:2::/64",
            entry: hops(&["fd00:1::12"]),
            action: forward(smallvec::smallvec![eth0("fd00:1::12")]),
            reason: "IPv6 has no IP-in-IP",
        },
        Row {
            name: "IPv6 on another subnet: recursive, never tunnelled",
            ipip: Always,
            vxlan: false,
            prefix: "fd00:244:0:3::/64",
            entry: hops(&["fd00:2::13"]),
            action: forward(smallvec::smallvec![recursive("fd00:2::13")]),
            reason: "outside fd00:1::/64",
        },
        Row {
            name: "IPv6 link-local next hop: on the uplink",
            ipip: Always,
            vxlan: false,
            prefix: "fd00:244:0:3::/64",
            entry: hops(&["fe80::1"]),
            action: forward(smallvec::smallvec![eth0("fe80::1")]),
            reason: "link-local",
        },
        Row {
            name: "IPv6 blackhole",
            ipip: Always,
            vxlan: false,
            prefix: "fd00:244:0:1::/64",
            entry: FibEntry::Blackhole,
            action: Action::Blackhole,
            reason: "blackhole",
        },
        Row {
            name: "IPv6 never_install",
            ipip: Always,
            vxlan: false,
            prefix: "fd00:96::/112",
            entry: hops(&["fd00:1::12"]),
            action: Action::NotInstalled,
            reason: "never_install",
        },
        Row {
            name: "multipath CrossSubnet: each hop on its own, sorted",
            ipip: CrossSubnet,
            vxlan: false,
            prefix: "10.244.9.0/26",
            entry: hops(&["10.0.2.14", "10.0.1.12"]),
            action: forward(smallvec::smallvec![eth0("10.0.1.12"), tunl0("10.0.2.14")]),
            reason: "10.0.2.14 is outside 10.0.1.0/24, so tunl0 onlink",
        },
        Row {
            name: "multipath Never: direct and recursive hops",
            ipip: Never,
            vxlan: false,
            prefix: "10.244.9.0/26",
            entry: hops(&["10.0.1.12", "10.0.2.14"]),
            action: forward(smallvec::smallvec![
                eth0("10.0.1.12"),
                recursive("10.0.2.14")
            ]),
            reason: "10.0.1.12 is inside 10.0.1.0/24",
        },
        Row {
            name: "duplicate next hops collapse",
            ipip: Always,
            vxlan: false,
            prefix: "10.244.9.0/26",
            entry: hops(&["10.0.2.14", "10.0.2.14"]),
            action: forward(smallvec::smallvec![tunl0("10.0.2.14")]),
            reason: "tunl0",
        },
        Row {
            name: "a next hop of the other family is skipped",
            ipip: Always,
            vxlan: false,
            prefix: "10.244.9.0/26",
            entry: hops(&["fd00:1::12", "10.0.2.14"]),
            action: forward(smallvec::smallvec![tunl0("10.0.2.14")]),
            reason: "fd00:1::12 is of the other family: skipped",
        },
    ]
}

#[test]
fn every_row_of_the_table() {
    let node = node();
    let mut failures = Vec::new();
    for row in rows() {
        let config = config(row.ipip, row.vxlan);
        let update = FibUpdate {
            prefix: net(row.prefix),
            entry: row.entry.clone(),
        };
        let got = classify(&config, &node, &update);
        if got.action != row.action || !got.reason.contains(row.reason) {
            failures.push(format!(
                "{}:\n  want {:?} with reason containing {:?}\n  got  {:?}: {:?}",
                row.name, row.action, row.reason, got.action, got.reason
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_node_with_a_slash_32_tunnels_everything_in_cross_subnet() {
    // docs/CALICO-CONTRACT.md §4.2: a /32 node address makes every peer
    // "another subnet".
    let node = NodeNetwork {
        address: net("10.0.1.11/32"),
        ..node()
    };
    let got = classify_entry(
        &config(IpipMode::CrossSubnet, false),
        &node,
        net("10.244.2.0/26"),
        &hops(&["10.0.1.12"]),
    );
    assert_eq!(got.action, forward(smallvec::smallvec![tunl0("10.0.1.12")]));
}

#[test]
fn the_tunnel_device_comes_from_the_config() {
    let config = KernelConfig {
        tunnel_device: "ipip0".into(),
        ..config(IpipMode::Always, false)
    };
    let got = classify_entry(
        &config,
        &node(),
        net("10.244.2.0/26"),
        &hops(&["10.0.2.13"]),
    );
    let want = Hop {
        gateway: ip("10.0.2.13"),
        via: Via::Device {
            name: "ipip0".into(),
            onlink: true,
        },
    };
    assert_eq!(got.action, forward(smallvec::smallvec![want]));
    assert!(got.reason.contains("ipip0 onlink"), "{}", got.reason);
}

#[test]
fn the_most_specific_pool_decides() {
    let mut config = config(IpipMode::Always, false);
    config.pools.push(PoolConfig {
        cidr: net("10.244.128.0/17"),
        ipip: IpipMode::Never,
        vxlan: false,
    });
    let got = classify_entry(
        &config,
        &node(),
        net("10.244.130.0/26"),
        &hops(&["10.0.1.12"]),
    );
    assert_eq!(got.action, forward(smallvec::smallvec![eth0("10.0.1.12")]));
    assert!(
        got.reason.contains("pool 10.244.128.0/17"),
        "{}",
        got.reason
    );
}

#[test]
fn a_node_without_ipv6_resolves_ipv6_next_hops_in_the_kernel() {
    let node = NodeNetwork {
        address_v6: None,
        ..node()
    };
    let got = classify_entry(
        &config(IpipMode::Always, false),
        &node,
        net("fd00:244:0:3::/64"),
        &hops(&["fd00:1::12"]),
    );
    assert_eq!(
        got.action,
        forward(smallvec::smallvec![recursive("fd00:1::12")])
    );
}

#[test]
fn cluster_routes_says_which_pools_are_felixs() {
    use proto::config::ClusterRoutes::{Disabled, Enabled, EnabledIpipOnly, EnabledNoEncapOnly};
    use IpipMode::{Always, CrossSubnet, Never};
    // (setting, the pool's ipip mode, installed here?) for a route and a
    // blackhole alike; VXLAN pools are Felix's under every setting.
    let table = [
        (Enabled, Always, true),
        (Enabled, Never, true),
        (Disabled, Always, false),
        (Disabled, Never, false),
        (EnabledIpipOnly, CrossSubnet, true),
        (EnabledIpipOnly, Never, false),
        (EnabledNoEncapOnly, Always, false),
        (EnabledNoEncapOnly, Never, true),
    ];
    for (setting, ipip, installed) in table {
        let settings = KernelConfig {
            cluster_routes: setting,
            ..config(ipip, false)
        };
        for entry in [hops(&["10.0.1.12"]), FibEntry::Blackhole] {
            let decision = classify_entry(&settings, &node(), net("10.244.2.0/26"), &entry);
            assert_eq!(
                decision.action.installs(),
                installed,
                "{setting:?} with ipip {ipip:?}: {}",
                decision.reason
            );
            if !installed {
                assert!(
                    decision.reason.contains("whose routes Felix programs"),
                    "{}",
                    decision.reason
                );
            }
        }
        // Outside every pool: installed whatever the setting.
        let outside = classify_entry(
            &settings,
            &node(),
            net("10.9.0.0/24"),
            &hops(&["10.0.1.12"]),
        );
        assert!(outside.action.installs(), "{setting:?}: {}", outside.reason);
        let vxlan = KernelConfig {
            cluster_routes: setting,
            ..config(Never, true)
        };
        let decision = classify_entry(&vxlan, &node(), net("10.244.2.0/26"), &hops(&["10.0.1.12"]));
        assert!(decision.reason.contains("VXLAN"), "{}", decision.reason);
    }
}

#[test]
fn the_metric_is_the_speakers_and_ipv6_has_no_metric_0() {
    let config = config(IpipMode::Never, false);
    let entry = |metric| FibEntry::NextHops {
        hops: std::iter::once(ip("10.0.1.12")).collect(),
        metric,
    };
    let v4 = classify_entry(&config, &node(), net("10.244.2.0/26"), &entry(512));
    assert_eq!(v4.action.metric(&net("10.244.2.0/26")), Some(512));
    let zero = classify_entry(&config, &node(), net("10.244.2.0/26"), &entry(0));
    assert_eq!(zero.action.metric(&net("10.244.2.0/26")), Some(0));
    // IPv6 stores a route sent with metric 0 at 1024: so does the action,
    // or the route would never match what the kernel holds.
    let v6_entry = FibEntry::NextHops {
        hops: std::iter::once(ip("fd00:1::12")).collect(),
        metric: 0,
    };
    let v6 = classify_entry(&config, &node(), net("fd00:244:0:3::/64"), &v6_entry);
    assert_eq!(v6.action.metric(&net("fd00:244:0:3::/64")), Some(1024));
    // Blackholes go without a metric, as BIRD's static routes do.
    assert_eq!(
        Action::Blackhole.metric(&net("10.244.1.0/26")),
        Some(0),
        "IPv4 blackhole"
    );
    assert_eq!(
        Action::Blackhole.metric(&net("fd00:244:0:1::/64")),
        Some(1024)
    );
}
