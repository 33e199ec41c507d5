//! Per-route status for operators: what the kernel holds for each prefix BGP
//! gave, and why, or why not. Read by anyone through a [`StatusReader`] from
//! the routesync thread's own route table (`table.rs`), which the thread
//! holds locked only while it changes it, never while the kernel works.
//!
//! Nothing is written out for the status: it is put into words when read.
//! The reason is the classification of the route under the settings it was
//! programmed with, which is cheap to redo for one route and too dear to keep
//! in words for a million.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ipnet::IpNet;
use proto::config::KernelConfig;

use crate::classify::{action_of, classify_entry, Action, NodeNetwork, Via};
use crate::fib::FibEntry;
use crate::histogram::Histogram;
use crate::netlink::message::render;
use crate::netlink::{Owner, RouteSpec};
use crate::table::{Held, RouteTable, Shape};

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

/// How a route stands, as derived from the table when read.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State<'a> {
    Installed,
    NotInstalled,
    Failed(&'a str),
    /// Kernel programming is off.
    Disabled,
}

/// The settings the routes were classified with, and device names.
#[derive(Debug, Default)]
pub(crate) struct Context {
    pub config: KernelConfig,
    pub node: Option<NodeNetwork>,
    pub names: HashMap<u32, String>,
    /// Why the kernel's sockets could not be opened: every route fails so.
    pub kernel_error: Option<Box<str>>,
}

/// What the routesync thread shares with readers: its route table, the
/// settings the routes were classified with, the kernel's batch times.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub context: Arc<Context>,
    pub routes: RouteTable,
    /// How long each batch of route changes took the kernel (netlink).
    pub batches: Histogram,
}

/// A cheap handle on the route table; clone it for an API server.
#[derive(Clone, Debug, Default)]
pub struct StatusReader {
    shared: Arc<Mutex<Shared>>,
}

/// Routes described under one hold of the lock.
const SNAPSHOT_SLICE: usize = 1024;

const DISABLED: &str = "kernel programming is off (BGP-only mode): Felix owns routes";

impl StatusReader {
    /// Every route's status, by prefix. Put into words a slice at a time,
    /// each under the lock for a moment: the routesync thread goes on
    /// programming meanwhile.
    pub fn snapshot(&self) -> Vec<RouteStatus> {
        let mut prefixes: Vec<IpNet> = self.lock().routes.prefixes().collect();
        prefixes.sort_unstable();
        let mut statuses = Vec::with_capacity(prefixes.len());
        for slice in prefixes.chunks(SNAPSHOT_SLICE) {
            let shared = self.lock();
            statuses.extend(
                slice
                    .iter()
                    .filter_map(|prefix| describe(&shared, *prefix, shared.routes.get(prefix)?)),
            );
        }
        statuses
    }

    /// One prefix's status; `None` when BGP has no route for it.
    pub fn get(&self, prefix: &IpNet) -> Option<RouteStatus> {
        let shared = self.lock();
        describe(&shared, *prefix, shared.routes.get(prefix)?)
    }

    /// How many routes are in each state: (installed, not installed, failed).
    /// Counted by shape, then the few failed routes moved: no walk over
    /// every route.
    pub fn counts(&self) -> (usize, usize, usize) {
        let shared = self.lock();
        let context = &shared.context;
        let mut counts = [0usize; 3];
        let bucket = |state: &State<'_>| match state {
            State::Installed => 0,
            State::NotInstalled | State::Disabled => 1,
            State::Failed(_) => 2,
        };
        for (shape, routes) in shared.routes.shapes() {
            if let Some(state) = state(context, shape, None) {
                counts[bucket(&state)] += routes as usize;
            }
        }
        for (prefix, error) in shared.routes.errors() {
            let Some(shape) = shared.routes.get(&prefix) else {
                continue;
            };
            if let Some(before) = state(context, shape, None) {
                counts[bucket(&before)] -= 1;
            }
            if let Some(now) = state(context, shape, Some(error)) {
                counts[bucket(&now)] += 1;
            }
        }
        (counts[0], counts[1], counts[2])
    }

    /// The interface toward the other nodes, once the node's network is known.
    pub fn uplink(&self) -> Option<String> {
        Some(self.lock().context.node.as_ref()?.uplink.clone())
    }

    /// How long the kernel took for each batch of route changes.
    pub fn kernel_batches(&self) -> Histogram {
        self.lock().batches.clone()
    }

    /// The table and what goes with it, for the routesync thread to change.
    /// A panic elsewhere while holding the lock leaves a table that is still
    /// a table: keep serving it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How a route in `shape` stands; `None` when it is not shown (withdrawn,
/// its removal pending).
fn state<'a>(context: &'a Context, shape: &Shape, error: Option<&'a str>) -> Option<State<'a>> {
    if shape.want.is_none() && error.is_none() {
        return None;
    }
    Some(if !context.config.enabled {
        State::Disabled
    } else if let Some(error) = error.or(context.kernel_error.as_deref()) {
        State::Failed(error)
    } else if matches!(shape.held, Held::Ours(_)) {
        State::Installed
    } else {
        State::NotInstalled
    })
}

fn describe(shared: &Shared, prefix: IpNet, shape: &Shape) -> Option<RouteStatus> {
    let context = &shared.context;
    let state = state(context, shape, shared.routes.error(&prefix))?;
    let owner = Owner {
        protocol: context.config.protocol,
        table: context.config.table,
    };
    let entry = shape.want.clone().unwrap_or(FibEntry::Remove);
    let mut reason = match (&state, &context.node) {
        (State::Disabled, _) => DISABLED.to_owned(),
        (_, Some(node)) => classify_entry(&context.config, node, prefix, &entry).reason,
        (_, None) => String::new(),
    };
    let kernel = match &shape.held {
        Held::Ours(spec) if state != State::Disabled => Some(spec),
        _ => None,
    };
    if let Some(note) = shared.routes.note(&prefix).filter(|_| kernel.is_some()) {
        reason.push_str("; ");
        reason.push_str(note);
    }
    Some(RouteStatus {
        prefix,
        state: match state {
            State::Installed => RouteState::Installed,
            State::NotInstalled | State::Disabled => RouteState::NotInstalled,
            State::Failed(error) => RouteState::Failed {
                error: error.to_owned(),
            },
        },
        reason,
        kernel: kernel.map(|spec| render(prefix, spec, &context.names, owner)),
        devices: devices(context, prefix, &entry, kernel),
    })
}

fn devices(
    context: &Context,
    prefix: IpNet,
    entry: &FibEntry,
    kernel: Option<&RouteSpec>,
) -> Vec<(IpAddr, String)> {
    if let Some(RouteSpec::Unicast { hops, .. }) = kernel {
        return hops
            .iter()
            .filter_map(|hop| Some((hop.gateway, context.names.get(&hop.ifindex?)?.clone())))
            .collect();
    }
    let Some(node) = &context.node else {
        return Vec::new();
    };
    match action_of(&context.config, node, prefix, entry) {
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
