//! Removing routes of ours from the kernel: all of them when the handle asks
//! (`shutdown_and_flush`), and those under the old settings when the owner
//! changes (`reconfigure.rs`).

use ipnet::IpNet;

use crate::fasthash::FastSet;
use crate::kernel::{Kernel, Op, Outcome};
use crate::table::{Held, RouteTable};

use super::Worker;

impl Worker {
    /// Removes every route of ours: those installed, those found at start,
    /// and any other with our protocol in our table.
    pub(super) fn remove_all(&mut self) {
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        let mut shared = self.status.lock();
        let mut prefixes = known_ours(&shared.routes, kernel);
        match kernel.dump_ours() {
            Ok(ours) => prefixes.extend(ours.into_keys()),
            Err(error) => tracing::warn!(%error, "cannot list our routes; removing those known"),
        }
        let removed = delete_ours(kernel, prefixes);
        kernel.clear_adopted();
        shared.routes.clear();
        tracing::info!(removed, "every route of ours removed from the kernel");
    }
}

/// The prefixes where the kernel holds a route of ours, as far as known:
/// those installed and those adopted at start.
pub(super) fn known_ours(routes: &RouteTable, kernel: &Kernel) -> FastSet<IpNet> {
    let mut prefixes: FastSet<IpNet> = routes
        .iter()
        .filter(|(_, r)| r.held != Held::Nothing)
        .map(|(p, _)| p)
        .collect();
    prefixes.extend(kernel.adopted_prefixes());
    prefixes
}

/// Deletes our routes at `prefixes` in one batch; failures are logged.
/// Returns how many went.
pub(super) fn delete_ours(kernel: &mut Kernel, prefixes: FastSet<IpNet>) -> usize {
    let ops: Vec<Op> = prefixes
        .into_iter()
        .map(|prefix| Op::Delete { prefix })
        .collect();
    let mut removed = 0;
    for (op, outcome) in ops.iter().zip(kernel.apply(&ops)) {
        match outcome {
            Outcome::Failed { error } => {
                tracing::warn!(prefix = %op.prefix(), %error, "could not remove a route of ours");
            }
            _ => removed += 1,
        }
    }
    removed
}
