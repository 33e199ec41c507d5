//! Per-route status for operators: what the kernel holds for each prefix BGP
//! gave, and why, or why not. Written by the routesync thread after each
//! pass, read by anyone through a [`StatusReader`] without waiting for it.
//!
//! The table keeps each route compactly (what BGP gave, the outcome, the
//! route sent) and puts it into words when it is read: the reason is the
//! classification of the route under the settings it was programmed with,
//! which is cheap to redo for one route and too dear to write out for a
//! million on every pass.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ipnet::IpNet;
use proto::config::KernelConfig;

use crate::classify::{action_of, classify_entry, Action, NodeNetwork, Via};
use crate::fasthash::FastMap;
use crate::fib::FibEntry;
use crate::histogram::Histogram;
use crate::netlink::message::render;
use crate::netlink::{Owner, RouteSpec};

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
    /// The device each next hop leaves by (`10.0.2.5` → `tunl0`): those of
    /// our kernel route, or, when none is installed, as classified. Empty for
    /// a blackhole, and for a hop the kernel resolves itself before it has.
    pub devices: Vec<(IpAddr, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteState {
    Installed,
    /// On purpose: VXLAN pool, `never_install`, no usable next hop, or kernel
    /// programming off. The reason says which.
    NotInstalled,
    /// The kernel refused or a device is missing; retried when the cause may
    /// have cleared (a device appears, a link comes up, the holder of the
    /// prefix goes), periodically, and on every change of the route or of the
    /// configuration.
    Failed {
        error: String,
    },
}

/// What routesync knows of one route, to be put into words when read.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub entry: FibEntry,
    pub state: State,
    /// The route of ours in the kernel, as sent.
    pub kernel: Option<RouteSpec>,
    /// How the kernel took it, when not as classified.
    pub note: Option<Box<str>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Installed,
    NotInstalled,
    Failed(Box<str>),
    /// Kernel programming is off.
    Disabled,
}

/// The settings the routes were classified with, and device names.
#[derive(Debug, Default)]
pub(crate) struct Context {
    pub config: KernelConfig,
    pub node: Option<NodeNetwork>,
    pub names: HashMap<u32, String>,
}

#[derive(Debug, Default)]
struct Table {
    context: Arc<Context>,
    routes: FastMap<IpNet, Entry>,
    /// How long each batch of route changes took the kernel (netlink).
    batches: Histogram,
}

/// A cheap handle on the status table; clone it for an API server.
#[derive(Clone, Debug, Default)]
pub struct StatusReader {
    table: Arc<Mutex<Table>>,
}

const DISABLED: &str = "kernel programming is off (BGP-only mode): Felix owns routes";

impl StatusReader {
    /// Every route's status, by prefix.
    pub fn snapshot(&self) -> Vec<RouteStatus> {
        let (context, mut entries) = {
            let table = self.lock();
            let entries: Vec<(IpNet, Entry)> = table
                .routes
                .iter()
                .map(|(prefix, entry)| (*prefix, entry.clone()))
                .collect();
            (table.context.clone(), entries)
        };
        entries.sort_by_key(|(prefix, _)| *prefix);
        entries
            .into_iter()
            .map(|(prefix, entry)| describe(&context, prefix, &entry))
            .collect()
    }

    /// One prefix's status; `None` when BGP has no route for it.
    pub fn get(&self, prefix: &IpNet) -> Option<RouteStatus> {
        let (context, entry) = {
            let table = self.lock();
            (table.context.clone(), table.routes.get(prefix)?.clone())
        };
        Some(describe(&context, *prefix, &entry))
    }

    /// How many routes are in each state: (installed, not installed, failed).
    pub fn counts(&self) -> (usize, usize, usize) {
        self.lock()
            .routes
            .values()
            .fold((0, 0, 0), |(i, n, f), e| match e.state {
                State::Installed => (i + 1, n, f),
                State::NotInstalled | State::Disabled => (i, n + 1, f),
                State::Failed(_) => (i, n, f + 1),
            })
    }

    /// The interface toward the other nodes, once the node's network is known.
    pub fn uplink(&self) -> Option<String> {
        Some(self.lock().context.node.as_ref()?.uplink.clone())
    }

    /// How long the kernel took for each batch of route changes.
    pub fn kernel_batches(&self) -> Histogram {
        self.lock().batches.clone()
    }

    /// A batch sent to the kernel and answered in `took`.
    pub(crate) fn observe_batch(&self, took: std::time::Duration) {
        self.lock().batches.observe(took);
    }

    /// Applies a pass's changes under one lock, with the settings they were
    /// made under; `None` forgets the prefix.
    pub(crate) fn update(
        &self,
        context: Option<Arc<Context>>,
        changes: Vec<(IpNet, Option<Entry>)>,
    ) {
        if changes.is_empty() && context.is_none() {
            return;
        }
        let mut table = self.lock();
        if let Some(context) = context {
            table.context = context;
        }
        table.routes.reserve(changes.len());
        for (prefix, entry) in changes {
            match entry {
                Some(entry) => table.routes.insert(prefix, entry),
                None => table.routes.remove(&prefix),
            };
        }
    }

    /// Forgets every route.
    pub(crate) fn clear(&self) {
        self.lock().routes.clear();
    }

    /// A panic elsewhere while holding the lock leaves a table that is still
    /// a table: keep serving it.
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn describe(context: &Context, prefix: IpNet, entry: &Entry) -> RouteStatus {
    let owner = Owner {
        protocol: context.config.protocol,
        table: context.config.table,
    };
    let mut reason = match (&entry.state, &context.node) {
        (State::Disabled, _) => DISABLED.to_owned(),
        (_, Some(node)) => classify_entry(&context.config, node, prefix, &entry.entry).reason,
        (_, None) => String::new(),
    };
    if let Some(note) = &entry.note {
        reason.push_str("; ");
        reason.push_str(note);
    }
    RouteStatus {
        prefix,
        state: match &entry.state {
            State::Installed => RouteState::Installed,
            State::NotInstalled | State::Disabled => RouteState::NotInstalled,
            State::Failed(error) => RouteState::Failed {
                error: error.to_string(),
            },
        },
        reason,
        kernel: entry
            .kernel
            .as_ref()
            .map(|spec| render(prefix, spec, &context.names, owner)),
        devices: devices(context, prefix, entry),
    }
}

fn devices(context: &Context, prefix: IpNet, entry: &Entry) -> Vec<(IpAddr, String)> {
    if let Some(RouteSpec::Unicast { hops, .. }) = &entry.kernel {
        return hops
            .iter()
            .filter_map(|hop| Some((hop.gateway, context.names.get(&hop.ifindex?)?.clone())))
            .collect();
    }
    let Some(node) = &context.node else {
        return Vec::new();
    };
    match action_of(&context.config, node, prefix, &entry.entry) {
        Action::Forward { hops, .. } => hops
            .into_iter()
            .filter_map(|hop| match hop.via {
                Via::Device { name, .. } => Some((hop.gateway, name.to_string())),
                Via::Recursive => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}
