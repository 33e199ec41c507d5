//! Ten thousand routes in one go: all of them reach the kernel, and all of
//! them leave it. No timing assertions; the benchmark will measure.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot build its network or read its routes fails loudly"
)]

mod common;

use std::net::Ipv4Addr;

use common::*;
use ipnet::{IpNet, Ipv4Net};
use proto::config::{IpipMode, KernelConfig, PoolConfig};
use routesync::FibUpdate;
use testnets::require_privileges;

const COUNT: usize = 10_000;

/// /26 blocks of 10.128.0.0/10, half to a node on the same subnet, half to
/// one on the other (through tunl0).
fn updates() -> Vec<FibUpdate> {
    (0..COUNT)
        .map(|i| {
            let base = u32::from(Ipv4Addr::new(10, 128, 0, 0)) + ((i as u32) << 6);
            let prefix = IpNet::V4(Ipv4Net::new(Ipv4Addr::from(base), 26).unwrap());
            let hop = if i % 2 == 0 { "10.0.1.12" } else { "10.0.2.13" };
            via(&prefix.to_string(), &[hop])
        })
        .collect()
}

#[test]
fn ten_thousand_routes_install_and_go() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let config = KernelConfig {
        pools: vec![PoolConfig {
            cidr: net("10.128.0.0/10"),
            ipip: IpipMode::CrossSubnet,
            vxlan: false,
        }],
        ..KernelConfig::default()
    };
    let handle = start(n1, config);
    let updates = updates();
    let last = updates[COUNT - 1].prefix;
    program(&handle, updates.clone());

    let installed = ours(n1);
    assert_eq!(installed.len(), COUNT);
    assert_eq!(
        shown(n1, "10.128.0.0/26"),
        "10.128.0.0/26 via 10.0.1.12 dev eth0 proto bird"
    );
    assert_eq!(
        shown(n1, &last.to_string()),
        format!("{last} via 10.0.2.13 dev tunl0 proto bird onlink")
    );
    assert_eq!(handle.status_reader().counts(), (COUNT, 0, 0));

    // The same again changes nothing; then every route is withdrawn.
    program(&handle, updates.clone());
    assert_eq!(ours(n1).len(), COUNT);
    let removals = updates
        .into_iter()
        .map(|u| remove(&u.prefix.to_string()))
        .collect();
    program(&handle, removals);
    assert_eq!(ours(n1).len(), 0);
    assert_eq!(handle.status_reader().counts(), (0, 0, 0));
}

#[test]
fn refusals_in_a_batch_land_on_their_own_routes() {
    require_privileges!();
    let network = two_subnets();
    let n1 = network.host("n1");
    let updates: Vec<FibUpdate> = updates().into_iter().take(3000).collect();
    // Every seventh prefix is already someone else's.
    let taken: Vec<IpNet> = updates.iter().step_by(7).map(|u| u.prefix).collect();
    let lines: Vec<String> = taken
        .iter()
        .map(|p| format!("route add {p} via 10.0.1.14 proto static"))
        .collect();
    n1.ns().ip_batch(&lines).unwrap();

    let handle = start(
        n1,
        KernelConfig {
            pools: vec![PoolConfig {
                cidr: net("10.128.0.0/10"),
                ipip: IpipMode::CrossSubnet,
                vxlan: false,
            }],
            ..KernelConfig::default()
        },
    );
    program(&handle, updates.clone());
    assert_eq!(ours(n1).len(), updates.len() - taken.len());
    let failed: Vec<IpNet> = handle
        .status()
        .into_iter()
        .filter(|s| matches!(s.state, routesync::RouteState::Failed { .. }))
        .map(|s| s.prefix)
        .collect();
    let mut expected = taken.clone();
    expected.sort();
    assert_eq!(failed, expected);
    let statics = testnets::routes::main_table(n1.routes().unwrap())
        .into_iter()
        .filter(|r| r.protocol == 4)
        .count();
    assert_eq!(statics, taken.len());
}
