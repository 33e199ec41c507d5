//! The routesync thread: the only owner of the desired table, of what is
//! installed and of the netlink sockets (docs/DESIGN.md §4: one thread
//! owns the kernel side). It waits on two things at once: commands (a channel,
//! with a socket pair to wake it) and the kernel's notifications. Whatever
//! has queued up while a pass ran is merged into the next pass, so a burst of
//! best-route changes becomes one batch for the kernel.
//!
//! One file a job: `schedule.rs` the timers; `install.rs` the install pass;
//! `repair.rs` drift repair from the kernel's notifications; `startup.rs`
//! the sockets and the routes of ours found at start; `node.rs` the node's
//! address as routes are classified; `reconfigure.rs` new settings;
//! `remove.rs` removing routes of ours; `learning.rs` kernel route learning.

mod install;
mod learning;
mod node;
mod reconfigure;
mod remove;
mod repair;
mod schedule;
mod startup;

use std::io::Read as _;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use nix::poll::{poll, PollFd, PollFlags};
use proto::config::KernelConfig;

use crate::classify::NodeNetwork;
use crate::fasthash::FastSet;
use crate::fib::{FibEntry, FibUpdate};
use crate::kernel::Kernel;
use crate::learn::{LearnRules, LearnedSink, Learning};
use crate::netlink::Owner;
use crate::options::Options;
use crate::status::{Context, StatusReader};
use crate::table::Held;

use self::schedule::REPAIR_DELAY;

/// Prefixes per pass at most, so that a flood of changes still reaches the
/// kernel (and `flush` callers) in bounded steps.
const MAX_PASS: usize = 200_000;

#[derive(Debug)]
pub(crate) enum Command {
    Apply(Vec<FibUpdate>),
    Reconfigure(Box<KernelConfig>, NodeNetwork),
    /// The speaker has converged: sweep the stale routes found at start.
    Converged,
    /// Answered once every command sent before it has been applied.
    Flush(Sender<()>),
    /// Remove every route of ours, then stop.
    RemoveAll,
}

#[derive(Debug)]
pub(crate) struct Worker {
    config: KernelConfig,
    /// The node as configured.
    node: NodeNetwork,
    /// The node as routes are classified: the configured one, with the
    /// uplink's address as the kernel has it when that differs.
    effective: NodeNetwork,
    /// Whether the configured address has been seen on the uplink: then a
    /// new address there is the node's new address.
    follow_uplink: bool,
    options: Options,
    kernel: Option<Kernel>,
    /// Why the socket could not be opened, logged once.
    kernel_error: Option<String>,
    /// The route table, shared with status readers (`status.rs`).
    status: StatusReader,
    /// Device names known when the status context was last published.
    published_names: usize,
    retry_at: Option<Instant>,
    /// Prefixes touched by notifications, programmed again at `repair_at`.
    repair: FastSet<IpNet>,
    /// A comparison of our routes with the kernel's is due at `repair_at`.
    resync: bool,
    repair_at: Option<Instant>,
    /// The wait before the next repair, and when the last one ran.
    repair_delay: Duration,
    last_repair: Option<Instant>,
    /// When routes of ours found at start are swept, if not converged before.
    sweep_at: Option<Instant>,
    converged: bool,
    /// Kernel route learning, when asked for (`learn.rs`).
    learning: Option<Learning>,
}

/// What one look at the command channel found.
#[derive(Debug, Default)]
struct Queued {
    /// The handle is gone, or asked to stop.
    stop: bool,
    /// Every route of ours is to be removed, then the thread stops.
    remove_all: bool,
    /// A pass's worth was taken; more commands may be waiting.
    backlog: bool,
}

impl Worker {
    pub fn new(
        config: KernelConfig,
        node: NodeNetwork,
        options: Options,
        status: StatusReader,
        learned: Option<LearnedSink>,
    ) -> Self {
        let learning = learned.map(|sink| {
            let owner = owner(&config);
            Learning::new(
                LearnRules {
                    own_protocol: owner.protocol,
                    table: owner.table,
                    ignored_interfaces: config.ignored_interfaces.clone(),
                },
                sink,
            )
        });
        Self {
            learning,
            config,
            effective: node.clone(),
            node,
            follow_uplink: false,
            options,
            kernel: None,
            kernel_error: None,
            status,
            published_names: 0,
            retry_at: None,
            repair: FastSet::default(),
            resync: false,
            repair_at: None,
            repair_delay: REPAIR_DELAY,
            last_repair: None,
            sweep_at: None,
            converged: false,
        }
    }

    /// Runs until the handle is gone. Routes stay in the kernel after that,
    /// like BIRD's `persist` (docs/CALICO-CONTRACT.md §4.8), unless every
    /// route was removed on request.
    pub fn run(mut self, commands: Receiver<Command>, mut woken: UnixStream) {
        let _ = woken.set_nonblocking(true);
        if self.config.enabled {
            // Open at once: the sockets belong to the namespace we run in now.
            self.open_kernel();
        }
        self.publish_context();
        let mut backlog = false;
        loop {
            let mut closed = false;
            if !backlog {
                self.wait(&woken);
                closed = drain(&mut woken);
            }
            let mut dirty = FastSet::default();
            let mut flushes = Vec::new();
            let queued = self.take_queued(&commands, &mut dirty, &mut flushes);
            backlog = queued.backlog;
            if queued.remove_all {
                self.remove_all();
                for flush in flushes {
                    let _ = flush.send(());
                }
                break;
            }
            self.read_events();
            let now = Instant::now();
            if self.repair_due(now) {
                self.take_repairs(&mut dirty);
            }
            if self.retry_due(now) {
                dirty.extend(self.retry_set());
            }
            if !dirty.is_empty() {
                self.sync(dirty);
            }
            if self.sweep_due() {
                self.sweep();
            }
            for flush in flushes {
                let _ = flush.send(());
            }
            if (closed || queued.stop) && !backlog {
                break;
            }
        }
        let installed: u32 = (self.status.lock().routes.shapes())
            .filter(|(shape, _)| matches!(shape.held, Held::Ours(_)))
            .map(|(_, routes)| routes)
            .sum();
        tracing::info!(
            installed,
            "routesync stopped; its routes stay in the kernel"
        );
    }

    /// Waits for a command, a notification or the next timer.
    fn wait(&self, woken: &UnixStream) {
        let timeout = self.poll_timeout();
        let mut fds = vec![PollFd::new(woken.as_fd(), PollFlags::POLLIN)];
        if let Some(kernel) = &self.kernel {
            fds.push(PollFd::new(kernel.monitor_fd(), PollFlags::POLLIN));
        }
        // EINTR and the like: the loop looks at everything anyway.
        let _ = poll(&mut fds, timeout);
    }

    /// Takes the commands queued up, a pass's worth at most.
    fn take_queued(
        &mut self,
        commands: &Receiver<Command>,
        dirty: &mut FastSet<IpNet>,
        flushes: &mut Vec<Sender<()>>,
    ) -> Queued {
        let mut queued = Queued::default();
        loop {
            match commands.try_recv() {
                Ok(Command::RemoveAll) => {
                    queued.remove_all = true;
                    queued.stop = true;
                    break;
                }
                Ok(command) => self.take(command, dirty, flushes),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    queued.stop = true;
                    break;
                }
            }
            if dirty.len() >= MAX_PASS {
                queued.backlog = true;
                break;
            }
        }
        queued
    }

    fn take(
        &mut self,
        command: Command,
        dirty: &mut FastSet<IpNet>,
        flushes: &mut Vec<Sender<()>>,
    ) {
        match command {
            Command::Apply(updates) => {
                dirty.reserve(updates.len());
                let routes = &mut self.status.lock().routes;
                for FibUpdate { prefix, entry } in updates {
                    let want = (entry != FibEntry::Remove).then_some(entry);
                    routes.modify(prefix, |shape| shape.want = want);
                    dirty.insert(prefix);
                }
            }
            Command::Reconfigure(config, node) => {
                self.reconfigure(*config, node);
                dirty.extend(self.status.lock().routes.prefixes());
            }
            Command::Converged => {
                if !self.converged {
                    tracing::info!("the speaker has converged");
                }
                self.converged = true;
            }
            Command::Flush(reply) => flushes.push(reply),
            Command::RemoveAll => {}
        }
    }

    /// The settings and names the status describes routes with.
    fn publish_context(&mut self) {
        let names = self
            .kernel
            .as_ref()
            .map(|k| k.names().clone())
            .unwrap_or_default();
        self.published_names = names.len();
        let context = Context {
            config: self.config.clone(),
            node: Some(self.effective.clone()),
            names,
            kernel_error: match &self.kernel {
                None if self.config.enabled => self.kernel_error.as_deref().map(Into::into),
                _ => None,
            },
        };
        self.status.lock().context = Arc::new(context);
    }
}

/// Reads the wake-up bytes; true when the handle's end is closed.
fn drain(woken: &mut UnixStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match woken.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

fn owner(config: &KernelConfig) -> Owner {
    Owner {
        protocol: config.protocol,
        table: config.table,
    }
}
