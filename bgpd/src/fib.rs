//! The kernel side of the speaker: best routes go to routesync, which
//! classifies and programs them from its own thread (docs/DESIGN.md §4).

use std::net::IpAddr;

use ipnet::IpNet;
use proto::config::SpeakerConfig;
use routesync::{FibUpdate, Handle, NodeNetwork};
use tracing::warn;

use crate::speaker::FibSink;

/// Hands best-route changes to routesync; never waits for the kernel.
#[derive(Debug)]
pub struct KernelFib {
    handle: Handle,
    /// Routes of ours were in the kernel before routesync started.
    preserved: bool,
}

impl KernelFib {
    /// Starts routesync in this process's network namespace, after looking
    /// for routes of ours a previous run left there; what it learns from the
    /// kernel goes to `learned`.
    pub fn start(config: &SpeakerConfig, learned: Option<routesync::learn::LearnedSink>) -> Self {
        let preserved = config.kernel.enabled
            && match routesync::routes_of_ours(&config.kernel) {
                Ok(found) => found > 0,
                Err(error) => {
                    warn!(%error, "cannot look for routes of a previous run");
                    false
                }
            };
        Self {
            // Routes found at start wait as long as the speaker defers its
            // table for the peers' tables.
            handle: routesync::spawn_learning(
                config.kernel.clone(),
                node_network(config),
                routesync::Options {
                    sweep_after: std::time::Duration::from_secs(config.restart_wait.into()),
                },
                learned,
            ),
            preserved,
        }
    }

    /// Per-route kernel status, for operators.
    pub fn status(&self) -> routesync::StatusReader {
        self.handle.status_reader()
    }
}

impl FibSink for KernelFib {
    fn apply(&mut self, updates: Vec<FibUpdate>) {
        self.handle.apply(updates);
    }

    fn reconfigure(&mut self, config: &SpeakerConfig) {
        self.handle
            .reconfigure(config.kernel.clone(), node_network(config));
    }

    fn converged(&mut self) {
        self.handle.converged();
    }

    fn forwarding_preserved(&self) -> bool {
        self.preserved
    }
}

/// What routesync needs of the node: its uplink and its addresses, whose
/// prefixes are "this node's subnet" for CrossSubnet.
pub fn node_network(config: &SpeakerConfig) -> NodeNetwork {
    let v4 = config
        .addresses
        .iter()
        .find(|a| a.addr().is_ipv4())
        .copied();
    let v6 = config
        .addresses
        .iter()
        .find(|a| a.addr().is_ipv6())
        .copied();
    let uplink = config.kernel.uplink.clone().or_else(|| {
        let address = v4.or(v6)?.addr();
        match routesync::interface_with(address) {
            Ok(found) => found,
            Err(e) => {
                warn!(%address, error = %e, "cannot find the uplink interface");
                None
            }
        }
    });
    let uplink = uplink.unwrap_or_else(|| {
        warn!("no interface holds the node's address; assuming eth0 as the uplink");
        "eth0".into()
    });
    // A node without IPv4 (a bare route reflector) has no subnet: every next
    // hop is then off-subnet.
    let address =
        v4.unwrap_or_else(|| IpNet::new(IpAddr::from([0u8; 4]), 32).expect("a /32 is valid"));
    NodeNetwork {
        uplink,
        address,
        address_v6: v6,
    }
}
