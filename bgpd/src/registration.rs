//! `--register-node`: this node's addresses into its Node resource, as
//! calico-node's start-up writes them, then kept up to date as its
//! monitor-addresses does: when the kernel says an address came or went,
//! the addresses are found again and a changed one replaces the one
//! registered before. calico-node polls every 60 s; this hears the kernel
//! (RTNLGRP_IPV4_IFADDR / RTNLGRP_IPV6_IFADDR) at once.
//!
//! An address someone else set (an operator, calico-node) is never
//! overwritten: only one this node registered, or found as it is, moves.

use std::time::Duration;

use confgen::register::{register, Outcome};
use confgen::watch::EtcdConfig;
use ipnet::IpNet;
use routesync::AddressChanges;
use std::sync::Arc;
use tokio::sync::Notify;
use tracing::{info, warn};

/// Addresses come and go in bursts (a DHCP renewal removes one and adds
/// another): wait this long after the first notice before looking again.
const SETTLE: Duration = Duration::from_millis(500);

/// Finds this node's addresses, as calico-node does (IP, IP6 and their
/// autodetection methods).
pub type Find = Box<dyn Fn() -> Result<Vec<IpNet>, String> + Send + Sync>;

pub struct Registration {
    pub etcd: EtcdConfig,
    pub node: String,
    /// The addresses found at start.
    pub found: Vec<IpNet>,
    /// Finds them again; `None` when they are given (IP and IP6 are
    /// addresses or none), so that there is nothing to follow.
    pub find_again: Option<Find>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("node", &self.node)
            .field("found", &self.found)
            .field("follows", &self.find_again.is_some())
            .finish()
    }
}

impl Registration {
    /// Registers, trying again (with backoff) while etcd cannot be reached,
    /// so that a node whose etcd is not up yet still registers and is served
    /// meanwhile; then follows the addresses until the task is dropped.
    pub async fn run(self) {
        if self.found.is_empty() {
            info!(node = %self.node, "IP=none and IP6=none: no address to register");
            return;
        }
        // Subscribe before registering: a change meanwhile is not missed.
        let changes = match &self.find_again {
            None => None,
            Some(_) => match AddressChanges::open().and_then(listen) {
                Ok(changes) => Some(changes),
                Err(e) => {
                    warn!(error = %e, "cannot follow the node's addresses: a change needs a restart");
                    None
                }
            },
        };
        let mut ours = self.write(&self.found, &[]).await;
        let (Some(changes), Some(find)) = (changes, &self.find_again) else {
            return;
        };
        loop {
            changes.notified().await;
            // Let the burst end; its other notices are taken with it.
            tokio::time::sleep(SETTLE).await;
            let found = match find() {
                Ok(found) => found,
                Err(e) => {
                    warn!(node = %self.node, error = %e, "addresses changed, and none is found now: the Node keeps its own");
                    continue;
                }
            };
            let moved: Vec<IpNet> = found
                .iter()
                .filter(|f| {
                    ours.iter()
                        .any(|o| o.addr().is_ipv4() == f.addr().is_ipv4() && o != *f)
                })
                .copied()
                .collect();
            if moved.is_empty() {
                continue;
            }
            info!(node = %self.node, from = ?ours, to = ?moved, "the node's address changed");
            let written = self.write(&moved, &ours).await;
            ours.retain(|o| {
                !written
                    .iter()
                    .any(|w| w.addr().is_ipv4() == o.addr().is_ipv4())
            });
            ours.extend(written);
        }
    }
}

/// Waits for the kernel's notices on a thread of its own (the wait blocks),
/// each one a permit on the returned `Notify`; permits do not pile up.
fn listen(mut changes: AddressChanges) -> std::io::Result<Arc<Notify>> {
    let notify = Arc::new(Notify::new());
    let permits = notify.clone();
    std::thread::Builder::new()
        .name("addresses".into())
        .spawn(move || loop {
            if let Err(e) = changes.wait() {
                warn!(error = %e, "lost the kernel's address notices: a change needs a restart");
                return;
            }
            permits.notify_one();
        })?;
    Ok(notify)
}

impl Registration {
    /// Writes `addresses` (replacing `replaced`), trying until etcd answers;
    /// returns the addresses the Node now holds as this node's.
    async fn write(&self, addresses: &[IpNet], replaced: &[IpNet]) -> Vec<IpNet> {
        let node = &self.node;
        let mut backoff = Duration::from_millis(200);
        let registered = loop {
            match register(&self.etcd, node, addresses, replaced).await {
                Ok(registered) => break registered,
                Err(e) => {
                    warn!(%node, error = %e, retry_in = ?backoff, "--register-node: cannot write the Node yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        };
        if registered.created {
            info!(%node, "registered: Node created");
        }
        let mut ours = Vec::new();
        for (found, outcome) in addresses.iter().zip(&registered.outcomes) {
            match outcome {
                Outcome::Written(a) => {
                    info!(%node, address = %a, "registered: address written into the Node");
                    ours.push(*a);
                }
                Outcome::Kept(a) if *a == found.to_string() => ours.push(*found),
                Outcome::Kept(a) => {
                    info!(%node, address = %a, %found, "the Node has an address already: kept, and not followed")
                }
            }
        }
        ours
    }
}
