//! The install pass: the prefixes a pass touches are classified and
//! programmed in chunks, each one batch for the kernel; each outcome is kept
//! in the table (installed, removed, failed and to be retried), where the
//! status reads it.

use std::time::Instant;

use ipnet::IpNet;

use crate::classify::{action_of, classify_entry, Action};
use crate::fasthash::FastSet;
use crate::fib::FibEntry;
use crate::kernel::{Kernel, Op, Outcome};
use crate::table::{Held, RouteTable, Shape};

use super::Worker;

/// Prefixes programmed together within a pass.
const CHUNK: usize = 32_768;

impl Worker {
    /// What to try again: the failed prefixes, or everything when the socket
    /// could not be opened.
    pub(super) fn retry_set(&self) -> Vec<IpNet> {
        let shared = self.status.lock();
        if self.kernel.is_none() {
            shared.routes.prefixes().collect()
        } else {
            shared.routes.failed().collect()
        }
    }

    /// One pass over the dirty prefixes.
    pub(super) fn sync(&mut self, dirty: FastSet<IpNet>) {
        if !self.config.enabled {
            // Nothing to program: the status says so for every route, and a
            // withdrawn one is forgotten.
            let routes = &mut self.status.lock().routes;
            for prefix in dirty {
                routes.modify(prefix, |shape| shape.held = Held::Nothing);
            }
            return;
        }
        if self.kernel.is_none() {
            self.open_kernel();
        }
        if self.kernel.is_none() {
            // Every wanted route fails with why (the status says so).
            self.schedule_retry();
            return;
        }
        // In chunks: what a pass holds besides the table (requests, answers)
        // stays small however many routes change, and the status shows
        // progress.
        let dirty: Vec<IpNet> = dirty.into_iter().collect();
        for chunk in dirty.chunks(CHUNK) {
            self.pass(chunk);
        }
        if self.status.lock().routes.failed_count() > 0 {
            self.schedule_retry();
        }
    }

    /// Programs one chunk of prefixes: the ops decided with the table
    /// locked, sent with it unlocked, their outcomes kept with it locked.
    fn pass(&mut self, prefixes: &[IpNet]) {
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        let mut ops = Vec::with_capacity(prefixes.len());
        {
            let routes = &mut self.status.lock().routes;
            for &prefix in prefixes {
                let adopted = kernel.adopted(&prefix);
                let Some(route) = routes.get(&prefix) else {
                    // Withdrawn. A route of ours left by an earlier run goes
                    // now rather than at the sweep: BGP said so.
                    if adopted {
                        ops.push(Op::Delete { prefix });
                    }
                    continue;
                };
                let entry = route.want.as_ref().unwrap_or(&FibEntry::Remove);
                let action = action_of(&self.config, &self.effective, prefix, entry);
                let failed = routes.error(&prefix).is_some();
                if action.installs() {
                    // None: already in the kernel as it should be.
                    ops.extend(install_op(route, failed, kernel, prefix, action, adopted));
                } else if route.held != Held::Nothing || adopted {
                    ops.push(Op::Delete { prefix });
                } else {
                    // Not for the kernel, and nothing there: nothing fails.
                    routes.clear_error(&prefix);
                    routes.set_note(prefix, None);
                }
            }
        }

        let sent = Instant::now();
        let outcomes = kernel.apply(&ops);
        let took = sent.elapsed();
        {
            let mut shared = self.status.lock();
            if !ops.is_empty() {
                shared.batches.observe(took);
            }
            for (op, outcome) in ops.into_iter().zip(outcomes) {
                self.record(&mut shared.routes, op, outcome);
            }
        }
        let names = self.kernel.as_ref().map_or(0, |k| k.names().len());
        if names != self.published_names {
            self.publish_context();
        }
    }

    /// Keeps the outcome of one op.
    fn record(&self, routes: &mut RouteTable, op: Op, outcome: Outcome) {
        let prefix = op.prefix();
        if routes.get(&prefix).is_none() {
            return;
        }
        match outcome {
            Outcome::Installed { spec, note } => {
                if let Some(error) = routes.clear_error(&prefix) {
                    tracing::info!(%prefix, previous_error = %error, "route installed");
                }
                routes.modify(prefix, |route| {
                    if let Op::Install { action, .. } = op {
                        route.action = Some(action);
                    }
                    route.held = Held::Ours(spec);
                });
                // A note says the kernel's route toward a next hop was used:
                // programmed again when that route changes.
                routes.set_note(prefix, note.map(String::into_boxed_str));
            }
            Outcome::Removed => {
                routes.clear_error(&prefix);
                routes.set_note(prefix, None);
                routes.modify(prefix, |route| {
                    route.held = Held::Nothing;
                    route.action = None;
                });
            }
            Outcome::Failed { error } => {
                if routes.error(&prefix) != Some(error.as_str()) {
                    let entry = (routes.get(&prefix).and_then(|r| r.want.clone()))
                        .unwrap_or(FibEntry::Remove);
                    let reason =
                        classify_entry(&self.config, &self.effective, prefix, &entry).reason;
                    tracing::warn!(%prefix, %error, %reason, "route not programmed");
                }
                routes.set_error(prefix, error.into());
            }
        }
    }
}

/// The op that puts `action` in the kernel at `prefix` (`adopted`: a route
/// of ours from before this start is there), or none when the route there is
/// already as it should be.
fn install_op(
    route: &Shape,
    failed: bool,
    kernel: &Kernel,
    prefix: IpNet,
    action: Action,
    adopted: bool,
) -> Option<Op> {
    if matches!(route.held, Held::Ours(_)) && route.action.as_ref() == Some(&action) && !failed {
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
