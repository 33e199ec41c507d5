//! A routesync inside node n1 of testnets' two-subnets topology:
//!
//! ```text
//!   lan-a 10.0.1.0/24, fd00:1::/64          lan-b 10.0.2.0/24, fd00:2::/64
//!   n1 .11 (routesync)  n2 .12   ── r1 .1 | .1 ──   n3 .13   n4 .14
//! ```
//!
//! n1's default routes go through r1 (10.0.1.1, fd00:1::1); n1 has `eth0` and
//! `tunl0` (a TUN stand-in where the kernel has no ipip module).

#![allow(dead_code, reason = "each test binary uses a part")]

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use proto::config::{IpipMode, KernelConfig, PoolConfig};
use routesync::{FibEntry, FibUpdate, Handle, NodeNetwork, RouteState, RouteStatus};
use testnets::{Host, KernelRoute, Network, Topology, PROTO_BIRD};

pub const POOL: &str = "10.244.0.0/16";
pub const POOL_V6: &str = "fd00:244::/48";

pub fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

pub fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

pub fn two_subnets() -> Network {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testnets/topologies/two-subnets.toml");
    Topology::load(&path).unwrap().build().unwrap()
}

pub fn n1_network() -> NodeNetwork {
    NodeNetwork {
        uplink: "eth0".into(),
        address: net("10.0.1.11/24"),
        address_v6: Some(net("fd00:1::11/64")),
    }
}

pub fn config(ipip: IpipMode) -> KernelConfig {
    KernelConfig {
        pools: vec![
            PoolConfig {
                cidr: net(POOL),
                ipip,
                vxlan: false,
            },
            PoolConfig {
                cidr: net(POOL_V6),
                ipip: IpipMode::Never,
                vxlan: false,
            },
        ],
        never_install: vec![net("10.96.0.0/12")],
        ..KernelConfig::default()
    }
}

/// Starts routesync from inside the host's namespace: its thread, created
/// there, stays there after `enter` returns.
pub fn start(host: &Host, config: KernelConfig) -> Handle {
    start_with(host, config, n1_network())
}

pub fn start_with(host: &Host, config: KernelConfig, node: NodeNetwork) -> Handle {
    let handle = host
        .ns()
        .enter(|| Ok(routesync::spawn(config, node)))
        .unwrap();
    assert!(handle.flush(), "routesync thread died at start");
    handle
}

/// A route without a metric of its own (the kernel's default).
pub fn via(prefix: &str, gateways: &[&str]) -> FibUpdate {
    via_at(prefix, gateways, 0)
}

pub fn via_at(prefix: &str, gateways: &[&str], metric: u32) -> FibUpdate {
    FibUpdate {
        prefix: net(prefix),
        entry: FibEntry::NextHops {
            hops: gateways.iter().map(|g| ip(g)).collect(),
            metric,
        },
    }
}

pub fn blackhole(prefix: &str) -> FibUpdate {
    FibUpdate {
        prefix: net(prefix),
        entry: FibEntry::Blackhole,
    }
}

pub fn remove(prefix: &str) -> FibUpdate {
    FibUpdate {
        prefix: net(prefix),
        entry: FibEntry::Remove,
    }
}

/// Applies and waits until the kernel has it.
pub fn program(handle: &Handle, updates: Vec<FibUpdate>) {
    handle.apply(updates);
    assert!(handle.flush(), "routesync thread died");
}

/// The main-table route to exactly `prefix`, any protocol.
pub fn route(host: &Host, prefix: &str) -> Option<KernelRoute> {
    let prefix = net(prefix);
    testnets::routes::main_table(host.routes().unwrap())
        .into_iter()
        .find(|r| r.destination == prefix)
}

/// Our routes (protocol bird) in the main table.
pub fn ours(host: &Host) -> Vec<KernelRoute> {
    testnets::routes::main_table(host.routes().unwrap())
        .into_iter()
        .filter(|r| r.protocol == PROTO_BIRD)
        .collect()
}

/// The route as `ip route` shows it, for exact comparisons; "(none)" if absent.
pub fn shown(host: &Host, prefix: &str) -> String {
    route(host, prefix).map_or_else(|| "(none)".into(), |r| r.to_string())
}

pub fn status(handle: &Handle, prefix: &str) -> RouteStatus {
    handle
        .route_status(&net(prefix))
        .unwrap_or_else(|| panic!("no status for {prefix}: {:#?}", handle.status()))
}

pub fn failed(status: &RouteStatus) -> &str {
    match &status.state {
        RouteState::Failed { error } => error,
        other => panic!("{} is {other:?}, not failed: {status:?}", status.prefix),
    }
}
