//! Per-route status for operators: what the kernel holds for each prefix BGP
//! gave, and why, or why not. Written by the routesync thread after each
//! pass, read by anyone through a [`StatusReader`] without waiting for it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ipnet::IpNet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteStatus {
    pub prefix: IpNet,
    pub state: RouteState,
    /// The classification in words ("next hop 10.0.2.5 is outside
    /// 10.0.1.0/24, so tunl0 onlink"), and how the kernel took it.
    pub reason: String,
    /// The route of ours the kernel holds for the prefix, like `ip route`
    /// shows it; after a failure, the previous route when it is still there.
    pub kernel: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteState {
    Installed,
    /// On purpose: VXLAN pool, `never_install`, no usable next hop, or kernel
    /// programming off. The reason says which.
    NotInstalled,
    /// The kernel refused or a device is missing; retried periodically and on
    /// every change of the route or of the configuration.
    Failed {
        error: String,
    },
}

/// A cheap handle on the status table; clone it for an API server.
#[derive(Clone, Debug, Default)]
pub struct StatusReader {
    table: Arc<Mutex<BTreeMap<IpNet, RouteStatus>>>,
}

impl StatusReader {
    /// Every route's status, by prefix.
    pub fn snapshot(&self) -> Vec<RouteStatus> {
        self.lock().values().cloned().collect()
    }

    /// One prefix's status; `None` when BGP has no route for it.
    pub fn get(&self, prefix: &IpNet) -> Option<RouteStatus> {
        self.lock().get(prefix).cloned()
    }

    /// How many routes are in each state: (installed, not installed, failed).
    pub fn counts(&self) -> (usize, usize, usize) {
        self.lock()
            .values()
            .fold((0, 0, 0), |(i, n, f), s| match s.state {
                RouteState::Installed => (i + 1, n, f),
                RouteState::NotInstalled => (i, n + 1, f),
                RouteState::Failed { .. } => (i, n, f + 1),
            })
    }

    /// Applies a pass's changes under one lock; `None` forgets the prefix.
    pub(crate) fn update(&self, changes: Vec<(IpNet, Option<RouteStatus>)>) {
        if changes.is_empty() {
            return;
        }
        let mut table = self.lock();
        for (prefix, status) in changes {
            match status {
                Some(status) => table.insert(prefix, status),
                None => table.remove(&prefix),
            };
        }
    }

    pub(crate) fn prefixes(&self) -> Vec<IpNet> {
        self.lock().keys().copied().collect()
    }

    /// A panic elsewhere while holding the lock leaves a table that is still
    /// a table: keep serving it.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<IpNet, RouteStatus>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
