//! Opening the kernel's sockets, and the routes of ours an earlier run left
//! there: adopted when the sockets open (BGP's routes replace them as they
//! come), and those BGP does not want swept once the speaker has converged,
//! or at the deadline. The sockets open at start, and again after a failure
//! or when programming is turned on.

use crate::kernel::{Kernel, Op, Outcome};
use crate::table::Held;

use super::{owner, Worker};

impl Worker {
    /// Opens the kernel's sockets (a failure is kept for the status and
    /// retried) and adopts the routes of ours found there.
    pub(super) fn open_kernel(&mut self) {
        match Kernel::open(owner(&self.config)) {
            Ok(kernel) => {
                if !kernel.adopted_prefixes().is_empty() {
                    self.schedule_sweep();
                }
                self.kernel = Some(kernel);
                self.kernel_error = None;
                self.follow_uplink = false;
                self.refresh_node();
                self.list_for_learning();
                // The status no longer fails every route with the error.
                self.publish_context();
            }
            Err(error) => {
                if self.kernel_error.as_ref() != Some(&error) {
                    tracing::error!(%error, "cannot program the kernel");
                    self.kernel_error = Some(error);
                    // Every route's status fails with it.
                    self.publish_context();
                }
                self.schedule_retry();
            }
        }
    }

    /// Removes the routes of ours found at start that BGP does not want.
    pub(super) fn sweep(&mut self) {
        self.sweep_at = None;
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        let mut stale = Vec::new();
        let routes = &mut self.status.lock().routes;
        for prefix in kernel.adopted_prefixes() {
            match routes.get(&prefix) {
                Some(route) if route.want.is_some() => {
                    // Wanted but not replaced yet (its install failed): ours
                    // to replace later.
                    if route.held == Held::Nothing {
                        let metric = kernel.adopted_metric(&prefix);
                        routes.modify(prefix, |route| route.held = Held::Stray(metric));
                    }
                }
                _ => stale.push(Op::Delete { prefix }),
            }
        }
        kernel.clear_adopted();
        let outcomes = kernel.apply(&stale);
        let mut removed = 0;
        for (op, outcome) in stale.iter().zip(outcomes) {
            match outcome {
                Outcome::Failed { error } => {
                    tracing::warn!(prefix = %op.prefix(), %error, "could not remove a stale route of ours");
                }
                _ => removed += 1,
            }
        }
        tracing::info!(
            removed,
            converged = self.converged,
            "stale routes of ours from before this start swept"
        );
    }
}
