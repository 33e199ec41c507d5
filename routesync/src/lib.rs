//! Kernel programming: the speaker's best routes become kernel routes
//! (docs/DESIGN.md §4).
//!
//! - [`FibUpdate`]: what the speaker hands over, per prefix.
//! - [`classify`]: the pure rule table, pool mode × where the next hop is,
//!   into an [`Action`] with a reason in words.
//! - [`spawn`]: a thread that owns the desired table and two rtnetlink
//!   sockets, one to program the kernel in batches and one to hear what
//!   others change; [`Handle`] feeds it without blocking and reads the
//!   per-route [`RouteStatus`].
//!
//! Only routes with the configured protocol (12, `bird`) in the configured
//! table are ever changed or removed. Netlink is used nowhere else in the
//! daemon.
//!
//! Drift is repaired from the kernel's notifications, with no periodic scan:
//! a route of ours deleted or changed by someone else is put back; a device
//! that appears, goes down or comes up, or a new address on the uplink,
//! makes the routes it affects be compared with the kernel's and classified
//! again. Routes of ours found at start (left by an earlier run) stay until
//! [`Handle::converged`] or [`Options::sweep_after`], then those BGP does not
//! want are removed.

mod addresses;
mod classify;
mod device;
pub mod fasthash;
mod fib;
mod histogram;
mod intern;
mod kernel;
pub mod learn;
mod netlink;
mod options;
mod status;
mod sync;
mod table;
mod uplink;

use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;

use ipnet::IpNet;
use proto::config::KernelConfig;

pub use addresses::AddressChanges;
pub use classify::{classify, classify_entry, Action, Decision, Hop, Hops, NodeNetwork, Via};
pub use device::DeviceName;
pub use fib::{FibEntry, FibUpdate, NextHopList};
pub use histogram::Histogram;
pub use options::Options;
pub use status::{RouteState, RouteStatus, StatusReader};
pub use uplink::interface_with;

use crate::sync::{Command, Worker};

/// How many routes of ours (`config`'s protocol in its table) the kernel
/// holds now, in the calling thread's namespace. Left by an earlier run,
/// they are forwarding state that survived its end: a restarting speaker
/// says so to its peers (RFC 4724 §4.1).
pub fn routes_of_ours(config: &KernelConfig) -> Result<usize, String> {
    kernel::count_ours(netlink::Owner {
        protocol: config.protocol,
        table: config.table,
    })
}

/// Starts routesync on its own thread, with the default [`Options`].
///
/// The thread is created by the calling thread, so it lives in the caller's
/// network namespace (a new thread inherits it); the netlink sockets are
/// opened there. routesync never changes namespace itself. With
/// `config.enabled` false nothing is programmed and no socket is opened.
pub fn spawn(config: KernelConfig, node: NodeNetwork) -> Handle {
    spawn_with(config, node, Options::default())
}

/// [`spawn`] with other [`Options`].
pub fn spawn_with(config: KernelConfig, node: NodeNetwork, options: Options) -> Handle {
    spawn_learning(config, node, options, None)
}

/// [`spawn_with`], and learning: the routes of the kernel's that are not
/// ours ([`learn`]) are told to `learned` as they come and go, the first
/// listing as one batch. Learning runs while routesync holds the kernel's
/// sockets, that is while kernel programming is on.
pub fn spawn_learning(
    config: KernelConfig,
    node: NodeNetwork,
    options: Options,
    learned: Option<learn::LearnedSink>,
) -> Handle {
    let (commands, receiver) = mpsc::channel();
    // The thread waits on the kernel's notifications and on this at once;
    // a byte written here wakes it for new commands, and the end closing
    // tells it the handle is gone.
    let (wake, woken) = UnixStream::pair().expect("routesync: cannot create a socket pair");
    wake.set_nonblocking(true)
        .expect("routesync: cannot make a socket non-blocking");
    let status = StatusReader::default();
    let worker = Worker::new(config, node, options, status.clone(), learned);
    let span = tracing::info_span!("routesync");
    let thread = std::thread::Builder::new()
        .name("routesync".into())
        .spawn(move || span.in_scope(|| worker.run(receiver, woken)))
        // As std::thread::spawn does: only when the OS has no thread to give.
        .expect("routesync: cannot create its thread");
    Handle {
        commands,
        wake: Some(wake),
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
    wake: Option<UnixStream>,
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

    /// The speaker has converged (End-of-RIB from every peer): routes of
    /// ours found at start that BGP does not want are removed now, after
    /// everything sent before.
    pub fn converged(&self) {
        self.send(Command::Converged);
    }

    /// Waits until everything sent before has reached the kernel. False when
    /// the thread is gone.
    pub fn flush(&self) -> bool {
        let (reply, done) = mpsc::channel();
        self.send(Command::Flush(reply));
        done.recv().is_ok()
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
    /// Routes stay in the kernel.
    pub fn shutdown(mut self) {
        self.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Stops the thread after removing every route of ours (our protocol in
    /// our table) from the kernel, and waits for it.
    pub fn shutdown_and_flush(self) {
        self.send(Command::RemoveAll);
        self.shutdown();
    }

    fn send(&self, command: Command) {
        if self.commands.send(command).is_err() {
            tracing::error!("routesync thread is gone; kernel routes are no longer updated");
            return;
        }
        if let Some(wake) = &self.wake {
            // A full socket means the thread has wake-ups pending anyway.
            let _ = (&*wake).write(&[1]);
        }
    }

    /// Drops the sender first, then the wake-up socket, so that the thread,
    /// woken by the close, finds the channel closed.
    fn close(&mut self) {
        let (commands, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.commands, commands));
        drop(self.wake.take());
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.close();
    }
}
