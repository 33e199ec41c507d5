//! The routesync thread: the only owner of the desired table, of what is
//! installed and of the netlink socket (models.md §7.2 item 13: one task owns
//! the handle). Commands arrive on a channel; whatever has queued up while a
//! pass ran is merged into the next pass, so a burst of best-route changes
//! becomes one batch for the kernel.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use proto::config::KernelConfig;

use crate::classify::{classify_entry, Action, Decision, NodeNetwork};
use crate::fib::{FibEntry, FibUpdate};
use crate::kernel::{Kernel, Op, Outcome};
use crate::netlink::Owner;
use crate::status::{RouteState, RouteStatus, StatusReader};

/// Failed routes are tried again this often (a device may appear, a next hop
/// become reachable). Only those: there is no periodic full-table scan.
const RETRY_INTERVAL: Duration = Duration::from_secs(10);
/// Prefixes per pass at most, so that a flood of changes still reaches the
/// kernel (and `flush` callers) in bounded steps.
const MAX_PASS: usize = 200_000;

const DISABLED: &str = "kernel programming is off (BGP-only mode): Felix owns routes";

#[derive(Debug)]
pub(crate) enum Command {
    Apply(Vec<FibUpdate>),
    Reconfigure(Box<KernelConfig>, NodeNetwork),
    /// Answered once every command sent before it has been applied.
    Flush(Sender<()>),
}

#[derive(Debug)]
struct Installed {
    action: Action,
    /// In `ip route` words, for the status.
    route: String,
    /// How the kernel took it, when not as classified (a recursive hop resolved).
    note: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Worker {
    config: KernelConfig,
    node: NodeNetwork,
    /// What BGP wants, per prefix (never `Remove`: a removal drops the entry).
    desired: HashMap<IpNet, FibEntry>,
    /// What this process put in the kernel and believes is there.
    installed: HashMap<IpNet, Installed>,
    /// The last error of each failed prefix: logged once, until it changes.
    failed: HashMap<IpNet, String>,
    kernel: Option<Kernel>,
    /// Why the socket could not be opened, logged once.
    kernel_error: Option<String>,
    status: StatusReader,
    retry_at: Option<Instant>,
}

impl Worker {
    pub fn new(config: KernelConfig, node: NodeNetwork, status: StatusReader) -> Self {
        Self {
            config,
            node,
            desired: HashMap::new(),
            installed: HashMap::new(),
            failed: HashMap::new(),
            kernel: None,
            kernel_error: None,
            status,
            retry_at: None,
        }
    }

    /// Runs until every sender is gone. Routes stay in the kernel after
    /// that, like BIRD's `persist` (calico.md §2.2).
    pub fn run(mut self, commands: Receiver<Command>) {
        if self.config.enabled {
            // Open at once: the socket belongs to the namespace we run in now.
            self.sync(HashSet::new());
        }
        loop {
            let first = match self.retry_at {
                None => match commands.recv() {
                    Ok(command) => command,
                    Err(_) => break,
                },
                Some(at) => {
                    match commands.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(command) => command,
                        Err(RecvTimeoutError::Timeout) => {
                            self.retry_at = None;
                            let dirty = self.retry_set();
                            self.sync(dirty);
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            let mut dirty = HashSet::new();
            let mut flushes = Vec::new();
            self.take(first, &mut dirty, &mut flushes);
            while dirty.len() < MAX_PASS {
                match commands.try_recv() {
                    Ok(command) => self.take(command, &mut dirty, &mut flushes),
                    Err(_) => break,
                }
            }
            self.sync(dirty);
            for flush in flushes {
                let _ = flush.send(());
            }
        }
        tracing::info!(
            installed = self.installed.len(),
            "routesync stopped; its routes stay in the kernel"
        );
    }

    fn take(
        &mut self,
        command: Command,
        dirty: &mut HashSet<IpNet>,
        flushes: &mut Vec<Sender<()>>,
    ) {
        match command {
            Command::Apply(updates) => {
                for FibUpdate { prefix, entry } in updates {
                    match entry {
                        FibEntry::Remove => self.desired.remove(&prefix),
                        entry => self.desired.insert(prefix, entry),
                    };
                    dirty.insert(prefix);
                }
            }
            Command::Reconfigure(config, node) => {
                self.reconfigure(*config, node);
                dirty.extend(self.desired.keys().copied());
                dirty.extend(self.installed.keys().copied());
                dirty.extend(self.status.prefixes());
            }
            Command::Flush(reply) => flushes.push(reply),
        }
    }

    /// New settings. A new protocol or table, or programming turned off,
    /// first removes every route of ours under the old settings; then every
    /// prefix is classified again.
    fn reconfigure(&mut self, config: KernelConfig, node: NodeNetwork) {
        let moved = owner(&config) != owner(&self.config) || !config.enabled;
        if moved {
            if let Some(mut kernel) = self.kernel.take() {
                let mut prefixes: HashSet<IpNet> = self.installed.keys().copied().collect();
                prefixes.extend(kernel.adopted_prefixes());
                let ops: Vec<Op> = prefixes
                    .into_iter()
                    .map(|prefix| Op::Delete { prefix })
                    .collect();
                for (op, outcome) in ops.iter().zip(kernel.apply(&ops)) {
                    if let (Op::Delete { prefix }, Outcome::Failed { error }) = (op, outcome) {
                        tracing::warn!(%prefix, %error, "could not remove a route of ours");
                    }
                }
            }
            self.installed.clear();
            self.failed.clear();
            self.kernel_error = None;
        }
        tracing::info!(
            enabled = config.enabled,
            protocol = config.protocol,
            table = config.table,
            uplink = %node.uplink,
            subnet = %node.subnet(),
            "kernel settings applied; classifying every route again"
        );
        self.config = config;
        self.node = node;
    }

    /// What to try again: the failed prefixes, or everything when the socket
    /// could not be opened.
    fn retry_set(&self) -> HashSet<IpNet> {
        if self.kernel.is_none() {
            self.desired.keys().copied().collect()
        } else {
            self.failed.keys().copied().collect()
        }
    }

    /// One pass over the dirty prefixes.
    fn sync(&mut self, dirty: HashSet<IpNet>) {
        if !self.config.enabled {
            let changes = dirty
                .into_iter()
                .map(|prefix| {
                    let status = self.desired.contains_key(&prefix).then(|| RouteStatus {
                        prefix,
                        state: RouteState::NotInstalled,
                        reason: DISABLED.into(),
                        kernel: None,
                    });
                    (prefix, status)
                })
                .collect();
            self.status.update(changes);
            return;
        }
        if self.kernel.is_none() {
            match Kernel::open(owner(&self.config)) {
                Ok(kernel) => {
                    self.kernel = Some(kernel);
                    self.kernel_error = None;
                }
                Err(error) => {
                    self.no_kernel(dirty, error);
                    return;
                }
            }
        }
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };

        let mut changes = Vec::new();
        let mut ops = Vec::new();
        let mut decisions = Vec::new();
        for prefix in dirty {
            let entry = self.desired.get(&prefix).unwrap_or(&FibEntry::Remove);
            let decision = classify_entry(&self.config, &self.node, prefix, entry);
            let ours = self.installed.contains_key(&prefix) || kernel.adopted(&prefix);
            if decision.action.installs() {
                let installed = self.installed.get(&prefix);
                if installed.is_some_and(|i| i.action == decision.action)
                    && !self.failed.contains_key(&prefix)
                {
                    // Already in the kernel as it should be.
                    let mut decision = decision;
                    let route = installed.map(|i| i.route.clone());
                    if let Some(note) = installed.and_then(|i| i.note.as_ref()) {
                        decision.reason = format!("{}; {note}", decision.reason);
                    }
                    changes.push((prefix, Some(installed_status(prefix, decision, route))));
                    continue;
                }
                ops.push(Op::Install {
                    prefix,
                    action: decision.action.clone(),
                    replace: ours,
                });
            } else if ours {
                ops.push(Op::Delete { prefix });
            } else {
                self.failed.remove(&prefix);
                changes.push((prefix, absent_status(prefix, decision)));
                continue;
            }
            decisions.push((prefix, decision));
        }

        let outcomes = kernel.apply(&ops);
        for ((prefix, decision), outcome) in decisions.into_iter().zip(outcomes) {
            let status = self.record(prefix, decision, outcome);
            changes.push((prefix, status));
        }
        self.status.update(changes);
        if !self.failed.is_empty() && self.retry_at.is_none() {
            self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
        }
    }

    /// Keeps the outcome of one op; the route's new status.
    fn record(
        &mut self,
        prefix: IpNet,
        decision: Decision,
        outcome: Outcome,
    ) -> Option<RouteStatus> {
        match outcome {
            Outcome::Installed { route, note } => {
                if let Some(error) = self.failed.remove(&prefix) {
                    tracing::info!(%prefix, %route, previous_error = %error, "route installed");
                }
                let mut decision = decision;
                if let Some(note) = &note {
                    decision.reason = format!("{}; {note}", decision.reason);
                }
                self.installed.insert(
                    prefix,
                    Installed {
                        action: decision.action.clone(),
                        route: route.clone(),
                        note,
                    },
                );
                Some(installed_status(prefix, decision, Some(route)))
            }
            Outcome::Removed => {
                self.installed.remove(&prefix);
                self.failed.remove(&prefix);
                absent_status(prefix, decision)
            }
            Outcome::Failed { error } => {
                if self.failed.get(&prefix) != Some(&error) {
                    tracing::warn!(
                        %prefix,
                        %error,
                        reason = %decision.reason,
                        "route not programmed"
                    );
                }
                self.failed.insert(prefix, error.clone());
                Some(RouteStatus {
                    prefix,
                    state: RouteState::Failed { error },
                    reason: decision.reason,
                    kernel: self.installed.get(&prefix).map(|i| i.route.clone()),
                })
            }
        }
    }

    /// The socket could not be opened: every wanted route fails with why.
    fn no_kernel(&mut self, dirty: HashSet<IpNet>, error: String) {
        if self.kernel_error.as_ref() != Some(&error) {
            tracing::error!(%error, "cannot program the kernel");
            self.kernel_error = Some(error.clone());
        }
        let changes = dirty
            .into_iter()
            .map(|prefix| {
                let status = self.desired.get(&prefix).map(|entry| {
                    let decision = classify_entry(&self.config, &self.node, prefix, entry);
                    RouteStatus {
                        prefix,
                        state: RouteState::Failed {
                            error: error.clone(),
                        },
                        reason: decision.reason,
                        kernel: None,
                    }
                });
                (prefix, status)
            })
            .collect();
        self.status.update(changes);
        if self.retry_at.is_none() {
            self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
        }
    }
}

fn owner(config: &KernelConfig) -> Owner {
    Owner {
        protocol: config.protocol,
        table: config.table,
    }
}

fn installed_status(prefix: IpNet, decision: Decision, route: Option<String>) -> RouteStatus {
    RouteStatus {
        prefix,
        state: RouteState::Installed,
        reason: decision.reason,
        kernel: route,
    }
}

/// Withdrawn: forgotten. Not installed on purpose: kept, with why.
fn absent_status(prefix: IpNet, decision: Decision) -> Option<RouteStatus> {
    match decision.action {
        Action::Withdrawn => None,
        _ => Some(RouteStatus {
            prefix,
            state: RouteState::NotInstalled,
            reason: decision.reason,
            kernel: None,
        }),
    }
}
