//! Kernel programming: the speaker's best routes become kernel routes
//! (DESIGN.md §4).
//!
//! - [`FibUpdate`]: what the speaker hands over, per prefix.
//! - [`classify`]: the pure rule table, pool mode × where the next hop is,
//!   into an [`Action`] with a reason in words.
//! - [`spawn`]: a thread that owns the desired table and one rtnetlink
//!   socket, and programs the kernel in batches; [`Handle`] feeds it without
//!   blocking and reads the per-route [`RouteStatus`].
//!
//! Only routes with the configured protocol (12, `bird`) in the configured
//! table are ever changed or removed. Netlink is used nowhere else in the
//! daemon.
//!
//! Still to come: the kernel event monitor that repairs drift (a route of
//! ours deleted by hand, a device recreated) and the stale sweep after a
//! restart (routes of ours found at start that BGP never wants again are
//! left in place until then).

mod classify;
mod fib;
mod kernel;
mod netlink;
mod status;
mod sync;
mod uplink;

use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;

use ipnet::IpNet;
use proto::config::KernelConfig;

pub use classify::{classify, classify_entry, Action, Decision, Hop, NodeNetwork, Via};
pub use fib::{FibEntry, FibUpdate};
pub use status::{RouteState, RouteStatus, StatusReader};
pub use uplink::interface_with;

use crate::sync::{Command, Worker};

/// Starts routesync on its own thread.
///
/// The thread is created by the calling thread, so it lives in the caller's
/// network namespace (a new thread inherits it); the netlink socket is
/// opened there. routesync never changes namespace itself. With
/// `config.enabled` false nothing is programmed and no socket is opened.
pub fn spawn(config: KernelConfig, node: NodeNetwork) -> Handle {
    let (commands, receiver) = mpsc::channel();
    let status = StatusReader::default();
    let worker = Worker::new(config, node, status.clone());
    let span = tracing::info_span!("routesync");
    let thread = std::thread::Builder::new()
        .name("routesync".into())
        .spawn(move || span.in_scope(|| worker.run(receiver)))
        // As std::thread::spawn does: only when the OS has no thread to give.
        .expect("routesync: cannot create its thread");
    Handle {
        commands,
        status,
        thread: Some(thread),
    }
}

/// The way in: commands go to the routesync thread over a channel and never
/// wait for the kernel. Dropping the handle stops the thread after what was
/// sent; routes stay in the kernel.
#[derive(Debug)]
pub struct Handle {
    commands: Sender<Command>,
    status: StatusReader,
    thread: Option<JoinHandle<()>>,
}

impl Handle {
    /// Hands over best-route changes; later updates of a prefix win.
    pub fn apply(&self, updates: Vec<FibUpdate>) {
        if updates.is_empty() {
            return;
        }
        self.send(Command::Apply(updates));
    }

    /// New kernel settings or node addresses: every route is classified again
    /// and reprogrammed where it changes. A new protocol or table, or
    /// `enabled = false`, first removes the routes of ours under the old ones.
    pub fn reconfigure(&self, config: KernelConfig, node: NodeNetwork) {
        self.send(Command::Reconfigure(Box::new(config), node));
    }

    /// Waits until everything sent before has reached the kernel. False when
    /// the thread is gone.
    pub fn flush(&self) -> bool {
        let (reply, done) = mpsc::channel();
        self.commands.send(Command::Flush(reply)).is_ok() && done.recv().is_ok()
    }

    /// Every route's status, by prefix.
    pub fn status(&self) -> Vec<RouteStatus> {
        self.status.snapshot()
    }

    /// One prefix's status.
    pub fn route_status(&self, prefix: &IpNet) -> Option<RouteStatus> {
        self.status.get(prefix)
    }

    /// A reader of the status table, for an API server; it may outlive the handle.
    pub fn status_reader(&self) -> StatusReader {
        self.status.clone()
    }

    /// Stops the thread once it has applied what was sent, and waits for it.
    pub fn shutdown(mut self) {
        let (commands, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.commands, commands));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn send(&self, command: Command) {
        if self.commands.send(command).is_err() {
            tracing::error!("routesync thread is gone; kernel routes are no longer updated");
        }
    }
}
