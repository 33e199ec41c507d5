//! The worker's timers: when failed routes are tried again, when the routes
//! that notifications touched are programmed again (with a back-off against
//! someone who keeps changing them), and when the routes found at start are
//! swept. The main loop waits until the nearest of them.

use std::time::{Duration, Instant};

use nix::poll::PollTimeout;

use super::Worker;

/// Failed routes are tried again this often (a next hop may become
/// reachable), besides when a notification says the cause may have cleared.
/// Only those: there is no periodic full-table scan.
const RETRY_INTERVAL: Duration = Duration::from_secs(10);
/// How long notifications are gathered before the routes they touch are
/// programmed again: a burst (an operator's `ip route flush`) becomes one
/// batch.
pub(super) const REPAIR_DELAY: Duration = Duration::from_millis(5);
/// Repairs that follow each other closely wait twice as long each time, up
/// to this: someone who keeps changing our routes (another daemon with our
/// protocol) is not fought in a tight loop, and a route is still back within
/// a second.
const REPAIR_DELAY_MAX: Duration = Duration::from_secs(1);
/// Repairs further apart than this start again from [`REPAIR_DELAY`].
const REPAIR_QUIET: Duration = Duration::from_secs(2);

impl Worker {
    /// How long the main loop may wait for a command or a notification
    /// before the next timer is due.
    pub(super) fn poll_timeout(&self) -> PollTimeout {
        let deadline = [self.retry_at, self.repair_at, self.sweep_at]
            .into_iter()
            .flatten()
            .min();
        match deadline {
            None => PollTimeout::NONE,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                // Rounded up: waking early only to wait again is a waste.
                let millis = left.as_micros().div_ceil(1000);
                PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX)
            }
        }
    }

    /// Failed routes are tried again after [`RETRY_INTERVAL`], unless a
    /// retry is due already.
    pub(super) fn schedule_retry(&mut self) {
        if self.retry_at.is_none() {
            self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
        }
    }

    /// Whether the retry is due at `now`; then it is taken off.
    pub(super) fn retry_due(&mut self, now: Instant) -> bool {
        if self.retry_at.is_some_and(|at| at <= now) {
            self.retry_at = None;
            return true;
        }
        false
    }

    /// Our routes are compared with the kernel's at the next repair.
    pub(super) fn schedule_resync(&mut self) {
        self.resync = true;
        self.schedule_repair();
    }

    /// The queued repairs run after the current wait, unless a repair is due
    /// already; a repair long after the last starts again from the shortest.
    pub(super) fn schedule_repair(&mut self) {
        if self
            .last_repair
            .is_none_or(|last| last.elapsed() >= REPAIR_QUIET)
        {
            self.repair_delay = REPAIR_DELAY;
        }
        let delay = self.repair_delay;
        self.repair_at.get_or_insert_with(|| Instant::now() + delay);
    }

    /// Whether the repair is due at `now`; then it is taken off, and the wait
    /// before the next one is doubled if the last one was recent.
    pub(super) fn repair_due(&mut self, now: Instant) -> bool {
        let due = self.repair_at.is_some_and(|at| at <= now);
        if !due {
            return false;
        }
        self.repair_at = None;
        self.repair_delay = match self.last_repair {
            Some(last) if now.duration_since(last) < REPAIR_QUIET => {
                (self.repair_delay * 2).min(REPAIR_DELAY_MAX)
            }
            _ => REPAIR_DELAY,
        };
        self.last_repair = Some(now);
        true
    }

    /// Sets when the routes of ours found at start are swept.
    pub(super) fn schedule_sweep(&mut self) {
        // Kept until convergence or the deadline; right after the
        // next pass if the speaker has converged already.
        let at = if self.converged {
            Instant::now()
        } else {
            Instant::now() + self.options.sweep_after
        };
        self.sweep_at = Some(self.sweep_at.map_or(at, |old| old.min(at)));
    }

    /// Whether the sweep of the routes found at start is due: the speaker
    /// has converged, or the deadline has passed.
    pub(super) fn sweep_due(&self) -> bool {
        self.sweep_at
            .is_some_and(|at| self.converged || at <= Instant::now())
    }
}
