//! The install pass: the prefixes a pass touches are classified and
//! programmed in chunks, each one batch for the kernel; each outcome is kept
//! (installed, removed, failed and to be retried) and published in the
//! status.

use std::time::Instant;

use ipnet::IpNet;

use crate::classify::{action_of, classify_entry, Action};
use crate::fasthash::FastSet;
use crate::fib::FibEntry;
use crate::kernel::{Kernel, Op, Outcome};
use crate::status::{Entry, State};

use super::{Held, Route, Worker};

/// Prefixes programmed together within a pass.
const CHUNK: usize = 32_768;

impl Worker {
    /// What to try again: the failed prefixes, or everything when the socket
    /// could not be opened.
    pub(super) fn retry_set(&self) -> Vec<IpNet> {
        if self.kernel.is_none() {
            self.routes.keys().copied().collect()
        } else {
            self.failed.iter().copied().collect()
        }
    }

    /// One pass over the dirty prefixes.
    pub(super) fn sync(&mut self, dirty: FastSet<IpNet>) {
        if !self.config.enabled {
            let changes = dirty
                .into_iter()
                .map(|prefix| {
                    let entry =
                        self.routes
                            .get(&prefix)
                            .and_then(|r| r.want.clone())
                            .map(|entry| Entry {
                                entry,
                                state: State::Disabled,
                                kernel: None,
                                note: None,
                            });
                    if entry.is_none() {
                        self.routes.remove(&prefix);
                    }
                    (prefix, entry)
                })
                .collect();
            self.status.update(None, changes);
            return;
        }
        if self.kernel.is_none() {
            self.open_kernel();
        }
        if self.kernel.is_none() {
            let error = self.kernel_error.clone().unwrap_or_default();
            self.no_kernel(dirty, &error);
            return;
        }
        // In chunks: what a pass holds besides the tables (requests,
        // answers, status changes) stays small however many routes change,
        // and the status shows progress.
        let dirty: Vec<IpNet> = dirty.into_iter().collect();
        for chunk in dirty.chunks(CHUNK) {
            self.pass(chunk);
        }
        if !self.failed.is_empty() {
            self.schedule_retry();
        }
    }

    /// Programs one chunk of prefixes.
    fn pass(&mut self, prefixes: &[IpNet]) {
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        let mut changes = Vec::with_capacity(prefixes.len());
        let mut ops = Vec::with_capacity(prefixes.len());
        for &prefix in prefixes {
            let Some(route) = self.routes.get_mut(&prefix) else {
                // Withdrawn. A route of ours left by an earlier run goes now
                // rather than at the sweep: BGP said so.
                if kernel.adopted(&prefix) {
                    ops.push(Op::Delete { prefix });
                } else {
                    changes.push((prefix, None));
                }
                continue;
            };
            let entry = route.want.as_ref().unwrap_or(&FibEntry::Remove);
            let action = action_of(&self.config, &self.effective, prefix, entry);
            let adopted = kernel.adopted(&prefix);
            if action.installs() {
                match install_op(route, kernel, prefix, action, adopted) {
                    Some(op) => ops.push(op),
                    // Already in the kernel as it should be.
                    None => changes.push((prefix, Some(status_entry(route, State::Installed)))),
                }
            } else if route.held != Held::Nothing || adopted {
                ops.push(Op::Delete { prefix });
            } else {
                if route.error.take().is_some() {
                    self.failed.remove(&prefix);
                }
                if route.want.is_none() {
                    self.routes.remove(&prefix);
                    changes.push((prefix, None));
                } else {
                    route.note = None;
                    changes.push((prefix, Some(status_entry(route, State::NotInstalled))));
                }
            }
        }

        let sent = Instant::now();
        let outcomes = kernel.apply(&ops);
        if !ops.is_empty() {
            self.status.observe_batch(sent.elapsed());
        }
        for (op, outcome) in ops.into_iter().zip(outcomes) {
            let prefix = op.prefix();
            let change = self.record(op, outcome);
            changes.push((prefix, change));
        }
        let names = self.kernel.as_ref().map_or(0, |k| k.names().len());
        if names != self.published_names {
            self.publish_context();
        }
        self.status.update(None, changes);
    }

    /// Keeps the outcome of one op; the route's new status.
    fn record(&mut self, op: Op, outcome: Outcome) -> Option<Entry> {
        let prefix = op.prefix();
        let route = self.routes.get_mut(&prefix)?;
        match outcome {
            Outcome::Installed { spec, note } => {
                if let Some(error) = route.error.take() {
                    self.failed.remove(&prefix);
                    tracing::info!(%prefix, previous_error = %error, "route installed");
                }
                if let Op::Install { action, .. } = op {
                    route.action = Some(action);
                }
                route.held = Held::Ours(spec);
                // A note says the kernel's route toward a next hop was used.
                if note.is_some() {
                    self.resolved_recursively.insert(prefix);
                } else {
                    self.resolved_recursively.remove(&prefix);
                }
                route.note = note.map(String::into_boxed_str);
                Some(status_entry(route, State::Installed))
            }
            Outcome::Removed => {
                self.resolved_recursively.remove(&prefix);
                if route.error.take().is_some() {
                    self.failed.remove(&prefix);
                }
                route.held = Held::Nothing;
                route.action = None;
                route.note = None;
                if route.want.is_none() {
                    self.routes.remove(&prefix);
                    return None;
                }
                Some(status_entry(route, State::NotInstalled))
            }
            Outcome::Failed { error } => {
                if route.error.as_deref() != Some(error.as_str()) {
                    let entry = route.want.clone().unwrap_or(FibEntry::Remove);
                    let reason =
                        classify_entry(&self.config, &self.effective, prefix, &entry).reason;
                    tracing::warn!(%prefix, %error, %reason, "route not programmed");
                }
                let error: Box<str> = error.into();
                route.error = Some(error.clone());
                self.failed.insert(prefix);
                route.note = None;
                Some(status_entry(route, State::Failed(error)))
            }
        }
    }

    /// The sockets could not be opened: every wanted route fails with why.
    fn no_kernel(&mut self, dirty: FastSet<IpNet>, error: &str) {
        let changes = dirty
            .into_iter()
            .map(|prefix| {
                let entry = self.routes.get(&prefix).and_then(|r| {
                    r.want.clone().map(|entry| Entry {
                        entry,
                        state: State::Failed(error.into()),
                        kernel: None,
                        note: None,
                    })
                });
                (prefix, entry)
            })
            .collect();
        self.status.update(None, changes);
        self.schedule_retry();
    }
}

/// The op that puts `action` in the kernel at `prefix` (`adopted`: a route
/// of ours from before this start is there), or none when the route there is
/// already as it should be.
fn install_op(
    route: &Route,
    kernel: &Kernel,
    prefix: IpNet,
    action: Action,
    adopted: bool,
) -> Option<Op> {
    if matches!(route.held, Held::Ours(_))
        && route.action.as_ref() == Some(&action)
        && route.error.is_none()
    {
        return None;
    }
    let held_metric = match &route.held {
        Held::Ours(spec) => Some(spec.metric(&prefix)),
        Held::Stray(metric) => *metric,
        Held::Nothing => kernel.adopted_metric(&prefix),
        Held::Unknown => None,
    };
    // A route of ours at another metric stays until the new one
    // is in; the new one is created, never put in place of
    // whatever holds its metric (a route of Felix's, maybe).
    let retire = held_metric.filter(|m| action.metric(&prefix) != Some(*m));
    let replace = retire.is_none()
        && match route.held {
            Held::Ours(_) | Held::Stray(_) => true,
            Held::Nothing => adopted,
            Held::Unknown => false,
        };
    Some(Op::Install {
        prefix,
        action,
        replace,
        retire,
    })
}

fn status_entry(route: &Route, state: State) -> Entry {
    Entry {
        entry: route.want.clone().unwrap_or(FibEntry::Remove),
        state,
        kernel: match &route.held {
            Held::Ours(spec) => Some(spec.clone()),
            _ => None,
        },
        note: route.note.clone(),
    }
}
