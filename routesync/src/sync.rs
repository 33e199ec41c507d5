//! The routesync thread: the only owner of the desired table, of what is
//! installed and of the netlink sockets (models.md §7.2 item 13: one task
//! owns the handle). It waits on two things at once: commands (a channel,
//! with a socket pair to wake it) and the kernel's notifications. Whatever
//! has queued up while a pass ran is merged into the next pass, so a burst of
//! best-route changes becomes one batch for the kernel.
//!
//! Drift repair: a notification that touches a prefix of ours (our route
//! deleted or replaced by someone else, the holder of a prefix we could not
//! take gone) queues the prefix; a few milliseconds later, so that a burst
//! becomes one batch, the queued prefixes are programmed again. Changes of
//! the devices routes go through (a device appears, is deleted, goes down or
//! up) and of the uplink's addresses are not reported route by route (IPv4
//! drops routes through a device that goes down without a word), so they
//! make the thread list the routes of ours once and compare them with what
//! it installed. There is no periodic scan.

use std::io::Read as _;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use proto::config::KernelConfig;

use crate::classify::{action_of, classify_entry, Action, NodeNetwork, Via};
use crate::fasthash::{FastMap, FastSet};
use crate::fib::{FibEntry, FibUpdate};
use crate::kernel::{Kernel, Op, Outcome};
use crate::learn::{LearnRules, LearnedSink, Learning};
use crate::netlink::message::{AddressInfo, LinkInfo};
use crate::netlink::{Event, Owner, RouteInfo, RouteSpec};
use crate::options::Options;
use crate::status::{Context, Entry, State, StatusReader};

/// Failed routes are tried again this often (a next hop may become
/// reachable), besides when a notification says the cause may have cleared.
/// Only those: there is no periodic full-table scan.
const RETRY_INTERVAL: Duration = Duration::from_secs(10);
/// How long notifications are gathered before the routes they touch are
/// programmed again: a burst (an operator's `ip route flush`) becomes one
/// batch.
const REPAIR_DELAY: Duration = Duration::from_millis(5);
/// Repairs that follow each other closely wait twice as long each time, up
/// to this: someone who keeps changing our routes (another daemon with our
/// protocol) is not fought in a tight loop, and a route is still back within
/// a second.
const REPAIR_DELAY_MAX: Duration = Duration::from_secs(1);
/// Repairs further apart than this start again from [`REPAIR_DELAY`].
const REPAIR_QUIET: Duration = Duration::from_secs(2);
/// Prefixes per pass at most, so that a flood of changes still reaches the
/// kernel (and `flush` callers) in bounded steps.
const MAX_PASS: usize = 200_000;
/// Prefixes programmed together within a pass.
const CHUNK: usize = 32_768;

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

/// What the kernel holds at a prefix, as far as routesync knows.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Held {
    /// No route of ours.
    Nothing,
    /// The route this process installed.
    Ours(RouteSpec),
    /// A route with our protocol that is not the one installed (changed by
    /// someone, or left by an earlier run): ours to replace; its metric when
    /// known (a route at another metric is not replaced but removed).
    Stray(Option<u32>),
    /// Maybe ours, maybe someone else's now: the next install finds out
    /// (exclusive create, and on EEXIST a look at the holder).
    Unknown,
}

#[derive(Debug)]
struct Route {
    /// What BGP wants; `None` once withdrawn (the entry stays while a route
    /// of ours is still to be removed).
    want: Option<FibEntry>,
    /// What the installed route was classified as.
    action: Option<Action>,
    held: Held,
    /// The last error, logged once until it changes.
    error: Option<Box<str>>,
    note: Option<Box<str>>,
}

impl Route {
    fn new() -> Self {
        Self {
            want: None,
            action: None,
            held: Held::Nothing,
            error: None,
            note: None,
        }
    }
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
    routes: FastMap<IpNet, Route>,
    failed: FastSet<IpNet>,
    kernel: Option<Kernel>,
    /// Why the socket could not be opened, logged once.
    kernel_error: Option<String>,
    status: StatusReader,
    /// Device names known when the status context was last published.
    published_names: usize,
    retry_at: Option<Instant>,
    /// Prefixes touched by notifications, programmed again at `repair_at`.
    repair: FastSet<IpNet>,
    /// Routes installed through the kernel's route toward a next hop it
    /// would not take directly: programmed again when that route changes.
    resolved_recursively: FastSet<IpNet>,
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
            routes: FastMap::default(),
            failed: FastSet::default(),
            kernel: None,
            kernel_error: None,
            status,
            published_names: 0,
            retry_at: None,
            repair: FastSet::default(),
            resolved_recursively: FastSet::default(),
            resync: false,
            repair_at: None,
            repair_delay: REPAIR_DELAY,
            last_repair: None,
            sweep_at: None,
            converged: false,
        }
    }

    /// Runs until the handle is gone. Routes stay in the kernel after that,
    /// like BIRD's `persist` (calico.md §2.2), unless every route was
    /// removed on request.
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
            let mut stop = closed;
            let mut remove_all = false;
            backlog = false;
            loop {
                match commands.try_recv() {
                    Ok(Command::RemoveAll) => {
                        remove_all = true;
                        stop = true;
                        break;
                    }
                    Ok(command) => self.take(command, &mut dirty, &mut flushes),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        stop = true;
                        break;
                    }
                }
                if dirty.len() >= MAX_PASS {
                    backlog = true;
                    break;
                }
            }
            if remove_all {
                self.remove_all();
                for flush in flushes {
                    let _ = flush.send(());
                }
                break;
            }
            self.read_events();
            let now = Instant::now();
            if self.repair_at.is_some_and(|at| at <= now) {
                self.repair_at = None;
                self.repair_delay = match self.last_repair {
                    Some(last) if now.duration_since(last) < REPAIR_QUIET => {
                        (self.repair_delay * 2).min(REPAIR_DELAY_MAX)
                    }
                    _ => REPAIR_DELAY,
                };
                self.last_repair = Some(now);
                if std::mem::take(&mut self.resync) {
                    self.compare_with_kernel(&mut dirty);
                }
                if !self.repair.is_empty() {
                    tracing::info!(
                        routes = self.repair.len(),
                        "programming again the routes that changes by others touched"
                    );
                }
                dirty.extend(self.repair.drain());
            }
            if self.retry_at.is_some_and(|at| at <= now) {
                self.retry_at = None;
                dirty.extend(self.retry_set());
            }
            if !dirty.is_empty() {
                self.sync(dirty);
            }
            let converged = self.converged;
            if self
                .sweep_at
                .is_some_and(|at| converged || at <= Instant::now())
            {
                self.sweep();
            }
            for flush in flushes {
                let _ = flush.send(());
            }
            if stop && !backlog {
                break;
            }
        }
        let installed = self
            .routes
            .values()
            .filter(|r| matches!(r.held, Held::Ours(_)))
            .count();
        tracing::info!(
            installed,
            "routesync stopped; its routes stay in the kernel"
        );
    }

    /// Waits for a command, a notification or the next timer.
    fn wait(&self, woken: &UnixStream) {
        let deadline = [self.retry_at, self.repair_at, self.sweep_at]
            .into_iter()
            .flatten()
            .min();
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                // Rounded up: waking early only to wait again is a waste.
                let millis = left.as_micros().div_ceil(1000);
                PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = vec![PollFd::new(woken.as_fd(), PollFlags::POLLIN)];
        if let Some(kernel) = &self.kernel {
            fds.push(PollFd::new(kernel.monitor_fd(), PollFlags::POLLIN));
        }
        // EINTR and the like: the loop looks at everything anyway.
        let _ = poll(&mut fds, timeout);
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
                self.routes.reserve(updates.len());
                for FibUpdate { prefix, entry } in updates {
                    match entry {
                        FibEntry::Remove => {
                            if let Some(route) = self.routes.get_mut(&prefix) {
                                route.want = None;
                            }
                        }
                        entry => {
                            self.routes.entry(prefix).or_insert_with(Route::new).want = Some(entry);
                        }
                    }
                    dirty.insert(prefix);
                }
            }
            Command::Reconfigure(config, node) => {
                self.reconfigure(*config, node);
                dirty.extend(self.routes.keys().copied());
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

    /// Opens the kernel's sockets (a failure is kept for the status and
    /// retried) and adopts the routes of ours found there.
    fn open_kernel(&mut self) {
        match Kernel::open(owner(&self.config)) {
            Ok(kernel) => {
                if !kernel.adopted_prefixes().is_empty() {
                    // Kept until convergence or the deadline; right after the
                    // next pass if the speaker has converged already.
                    let at = if self.converged {
                        Instant::now()
                    } else {
                        Instant::now() + self.options.sweep_after
                    };
                    self.sweep_at = Some(self.sweep_at.map_or(at, |old| old.min(at)));
                }
                self.kernel = Some(kernel);
                self.kernel_error = None;
                self.follow_uplink = false;
                self.refresh_node();
                self.list_for_learning();
            }
            Err(error) => {
                if self.kernel_error.as_ref() != Some(&error) {
                    tracing::error!(%error, "cannot program the kernel");
                    self.kernel_error = Some(error);
                }
                if self.retry_at.is_none() {
                    self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
                }
            }
        }
    }

    /// New settings. A new protocol or table, or programming turned off,
    /// first removes every route of ours under the old settings; then every
    /// prefix is classified again.
    fn reconfigure(&mut self, config: KernelConfig, node: NodeNetwork) {
        let moved = owner(&config) != owner(&self.config) || !config.enabled;
        if moved {
            if let Some(mut kernel) = self.kernel.take() {
                let prefixes = known_ours(&self.routes, &kernel);
                delete_ours(&mut kernel, prefixes);
            }
            for route in self.routes.values_mut() {
                route.held = Held::Nothing;
                route.action = None;
                route.error = None;
                route.note = None;
            }
            self.failed.clear();
            self.kernel_error = None;
            self.sweep_at = None;
        }
        tracing::info!(
            enabled = config.enabled,
            protocol = config.protocol,
            table = config.table,
            uplink = %node.uplink,
            subnet = %node.subnet(),
            "kernel settings applied; classifying every route again"
        );
        if node != self.node {
            self.follow_uplink = false;
        }
        let ignored_changed = config.ignored_interfaces != self.config.ignored_interfaces;
        self.config = config;
        self.node = node;
        if let Some(learning) = self.learning.as_mut() {
            learning.rules.ignored_interfaces = self.config.ignored_interfaces.clone();
        }
        if self.config.enabled && self.kernel.is_none() {
            self.open_kernel();
        } else {
            self.refresh_node();
            if ignored_changed {
                self.learn_interfaces();
            }
        }
        self.publish_context();
        // Every prefix is in this pass anyway.
        self.repair.clear();
    }

    /// Reads the kernel's notifications and reacts.
    fn read_events(&mut self) {
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        for event in kernel.events() {
            match event {
                Event::Route {
                    route,
                    deleted,
                    replaced,
                } => self.on_route(route, deleted, replaced),
                Event::Link(link) => self.on_link(link),
                Event::Address(address) => self.on_address(address),
                Event::Overrun => {
                    tracing::warn!(
                        "kernel notifications were lost; comparing our routes with the kernel's"
                    );
                    self.schedule_resync();
                    self.list_for_learning();
                }
            }
        }
    }

    /// Lists the kernel's routes that are not ours, for learning: at open,
    /// and after notices were lost.
    fn list_for_learning(&mut self) {
        let (Some(learning), Some(kernel)) = (self.learning.as_mut(), self.kernel.as_mut()) else {
            return;
        };
        learning.prime_interfaces(kernel.addresses(), |index| kernel.link(index).cloned());
        match kernel.dump_theirs() {
            Ok(routes) => learning.listed(&routes, kernel.names()),
            Err(error) => tracing::warn!(%error, "cannot list the kernel's routes to learn them"),
        }
    }

    /// The direct protocol's routes, made again from the interfaces.
    fn learn_interfaces(&mut self) {
        let (Some(learning), Some(kernel)) = (self.learning.as_mut(), self.kernel.as_ref()) else {
            return;
        };
        learning.interfaces(kernel.addresses(), |index| kernel.link(index).cloned());
    }

    /// Someone else changed a route (our own changes never come here).
    fn on_route(&mut self, route: RouteInfo, deleted: bool, replaced: bool) {
        if let (Some(learning), Some(kernel)) = (self.learning.as_mut(), self.kernel.as_ref()) {
            let owner = kernel.owner();
            if route.table == owner.table && route.protocol != owner.protocol {
                learning.noticed(&route, deleted, kernel.names());
            }
        }
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        let owner = kernel.owner();
        if route.table != owner.table {
            return;
        }
        let prefix = route.prefix;
        let ours = route.protocol == owner.protocol;
        if ours && deleted {
            kernel.forget_adopted(&prefix);
        }
        if !ours && !self.resolved_recursively.is_empty() {
            self.re_resolve_through(prefix);
        }
        let Some(entry) = self.routes.get_mut(&prefix) else {
            return;
        };
        let repair = match (deleted, ours) {
            // Our route deleted (IPv6 may delete one hop of several: the
            // next install finds out what is left).
            (true, true) => {
                if entry.held == Held::Nothing {
                    false
                } else {
                    entry.held = Held::Unknown;
                    true
                }
            }
            // Someone else's route went: if it held a prefix we could not
            // take, take it now.
            (true, false) => entry.error.is_some(),
            // A route with our protocol put there: ours to correct, unless
            // it is the one we installed.
            (false, true) => match &entry.held {
                Held::Ours(spec) if spec.matches(&route) => false,
                _ => {
                    entry.held = Held::Stray(Some(route.metric));
                    true
                }
            },
            // Someone else's route: it replaced ours, or sits beside it.
            (false, false) => {
                if entry.held == Held::Nothing {
                    false
                } else {
                    entry.held = if replaced {
                        Held::Nothing
                    } else {
                        Held::Unknown
                    };
                    true
                }
            }
        };
        if repair {
            tracing::debug!(
                %prefix,
                protocol = route.protocol,
                deleted,
                "a route at a prefix of ours was changed by someone else; programming it again"
            );
            self.repair.insert(prefix);
            self.schedule_repair();
        }
    }

    /// A route of someone else's (the kernel's, an operator's, an IGP's) at
    /// `changed` came, went or changed: the routes of ours resolved through
    /// the kernel's route toward a next hop inside `changed` are programmed
    /// again, so that they follow the new path, as BIRD's `gateway
    /// recursive` follows its IGP table (calico.md §2.9). Only foreign routes
    /// count: ours changing cannot make routes of ours chase each other.
    fn re_resolve_through(&mut self, changed: IpNet) {
        let mut affected = Vec::new();
        for prefix in &self.resolved_recursively {
            let Some(route) = self.routes.get(prefix) else {
                continue;
            };
            let Some(Action::Forward { hops, .. }) = &route.action else {
                continue;
            };
            if hops
                .iter()
                .any(|hop| hop.via == Via::Recursive && changed.contains(&hop.gateway))
            {
                affected.push(*prefix);
            }
        }
        if affected.is_empty() {
            return;
        }
        tracing::debug!(
            %changed,
            routes = affected.len(),
            "the route toward recursive next hops changed; resolving them again"
        );
        for prefix in affected {
            if let Some(route) = self.routes.get_mut(&prefix) {
                // Ours, to be replaced whatever it now is.
                route.held = Held::Stray(route.action.as_ref().and_then(|a| a.metric(&prefix)));
            }
            self.repair.insert(prefix);
        }
        self.schedule_repair();
    }

    /// A device appeared, went, went down or came up.
    fn on_link(&mut self, link: LinkInfo) {
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        let before = kernel.link(link.index).cloned();
        kernel.observe_link(&link);
        if before
            .as_ref()
            .is_none_or(|b| b.up != link.up || b.name != link.name)
            || link.deleted
        {
            self.learn_interfaces();
        }
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        let named = link.name == self.node.uplink || link.name == self.config.tunnel_device;
        if !named && !kernel.used(link.index) {
            return;
        }
        let what = match &before {
            _ if link.deleted => "is gone",
            None => "appeared",
            Some(before) if before.up != link.up => {
                if link.up {
                    "came up"
                } else {
                    "went down"
                }
            }
            Some(before) if before.name != link.name => "was renamed",
            Some(_) => return,
        };
        tracing::info!(
            device = %link.name,
            index = link.index,
            "a device routes of ours use {what}; comparing our routes with the kernel's"
        );
        if link.name == self.node.uplink {
            self.refresh_node();
        }
        self.schedule_resync();
    }

    /// An address was added or removed: the uplink's give the node's subnet.
    fn on_address(&mut self, address: AddressInfo) {
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        kernel.observe_address(&address);
        self.learn_interfaces();
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        if kernel.index_of(&self.node.uplink) != Some(address.index) {
            return;
        }
        tracing::info!(
            address = %address.address,
            removed = address.deleted,
            uplink = %self.node.uplink,
            "the uplink's addresses changed"
        );
        self.refresh_node();
        // Removing a device's last IPv4 address drops the routes through it,
        // without a word.
        self.schedule_resync();
    }

    fn schedule_resync(&mut self) {
        self.resync = true;
        self.schedule_repair();
    }

    fn schedule_repair(&mut self) {
        if self
            .last_repair
            .is_none_or(|last| last.elapsed() >= REPAIR_QUIET)
        {
            self.repair_delay = REPAIR_DELAY;
        }
        let delay = self.repair_delay;
        self.repair_at.get_or_insert_with(|| Instant::now() + delay);
    }

    /// The node as routes are classified: the configured address, with the
    /// prefix length the uplink has for it; or, once the configured address
    /// has been seen on the uplink and has moved, the uplink's new address.
    /// A change re-classifies every route.
    fn refresh_node(&mut self) {
        let mut node = self.node.clone();
        if let Some(kernel) = self
            .kernel
            .as_ref()
            .filter(|k| k.index_of(&self.node.uplink).is_some())
        {
            let addresses = kernel.addresses_of(&node.uplink);
            let on_uplink =
                |configured: IpNet| addresses.iter().any(|a| a.addr() == configured.addr());
            if on_uplink(self.node.address) {
                self.follow_uplink = true;
            }
            if self.follow_uplink {
                node.address = uplink_address(self.node.address, &addresses);
                node.address_v6 = self
                    .node
                    .address_v6
                    .map(|v6| uplink_address(v6, &addresses));
            }
        }
        if node == self.effective {
            return;
        }
        if node == self.node {
            tracing::info!(
                address = %node.address,
                subnet = %node.subnet(),
                "classifying every route with the configured address"
            );
        } else {
            tracing::warn!(
                configured = %self.node.address,
                kernel = %node.address,
                subnet = %node.subnet(),
                uplink = %node.uplink,
                "the uplink's address in the kernel is not the configured one; classifying every route with the kernel's"
            );
        }
        self.effective = node;
        self.publish_context();
        self.repair.extend(self.routes.keys().copied());
        self.schedule_repair();
    }

    /// Lists our routes in the kernel and compares them with what was
    /// installed: what is missing or different is programmed again; failed
    /// routes are tried again too (a device may have come back).
    fn compare_with_kernel(&mut self, dirty: &mut FastSet<IpNet>) {
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        let theirs = match kernel.dump_ours() {
            Ok(theirs) => theirs,
            Err(error) => {
                tracing::warn!(%error, "cannot list our routes; trying every failed route again");
                dirty.extend(self.failed.iter().copied());
                return;
            }
        };
        for prefix in kernel.adopted_prefixes() {
            if !theirs.contains_key(&prefix) {
                kernel.forget_adopted(&prefix);
            }
        }
        let mut missing = 0usize;
        let mut changed = 0usize;
        for (prefix, route) in &mut self.routes {
            let now = theirs.get(prefix);
            let same = match (&route.held, now) {
                (Held::Ours(spec), Some(theirs)) => spec.matches(theirs),
                (Held::Nothing, None) => true,
                _ => false,
            };
            if !same {
                match now {
                    Some(theirs) => {
                        changed += 1;
                        route.held = Held::Stray(Some(theirs.metric));
                    }
                    None => {
                        if route.held != Held::Nothing {
                            missing += 1;
                        }
                        route.held = Held::Nothing;
                    }
                }
                dirty.insert(*prefix);
            }
            if route.error.is_some() {
                dirty.insert(*prefix);
            }
        }
        tracing::info!(
            ours = theirs.len(),
            missing,
            changed,
            failed = self.failed.len(),
            "compared our routes with the kernel's"
        );
    }

    /// What to try again: the failed prefixes, or everything when the socket
    /// could not be opened.
    fn retry_set(&self) -> Vec<IpNet> {
        if self.kernel.is_none() {
            self.routes.keys().copied().collect()
        } else {
            self.failed.iter().copied().collect()
        }
    }

    /// One pass over the dirty prefixes.
    fn sync(&mut self, dirty: FastSet<IpNet>) {
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
        if !self.failed.is_empty() && self.retry_at.is_none() {
            self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
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
                if matches!(route.held, Held::Ours(_))
                    && route.action.as_ref() == Some(&action)
                    && route.error.is_none()
                {
                    // Already in the kernel as it should be.
                    changes.push((prefix, Some(status_entry(route, State::Installed))));
                    continue;
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
                ops.push(Op::Install {
                    prefix,
                    action,
                    replace,
                    retire,
                });
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
        if self.retry_at.is_none() {
            self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
        }
    }

    /// Removes the routes of ours found at start that BGP does not want.
    fn sweep(&mut self) {
        self.sweep_at = None;
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        let mut stale = Vec::new();
        for prefix in kernel.adopted_prefixes() {
            match self.routes.get_mut(&prefix) {
                Some(route) if route.want.is_some() => {
                    // Wanted but not replaced yet (its install failed): ours
                    // to replace later.
                    if route.held == Held::Nothing {
                        route.held = Held::Stray(kernel.adopted_metric(&prefix));
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

    /// Removes every route of ours: those installed, those found at start,
    /// and any other with our protocol in our table.
    fn remove_all(&mut self) {
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        let mut prefixes = known_ours(&self.routes, kernel);
        match kernel.dump_ours() {
            Ok(ours) => prefixes.extend(ours.into_keys()),
            Err(error) => tracing::warn!(%error, "cannot list our routes; removing those known"),
        }
        let removed = delete_ours(kernel, prefixes);
        kernel.clear_adopted();
        self.routes.clear();
        self.failed.clear();
        self.status.clear();
        tracing::info!(removed, "every route of ours removed from the kernel");
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
        };
        self.status.update(Some(Arc::new(context)), Vec::new());
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

/// The uplink's address standing for `configured`: the same address with the
/// uplink's prefix length; or, when it is gone, the uplink's first address of
/// the family (not link-local); or `configured` when the uplink has none.
fn uplink_address(configured: IpNet, addresses: &[IpNet]) -> IpNet {
    if configured.addr().is_unspecified() {
        return configured;
    }
    if let Some(same) = addresses.iter().find(|a| a.addr() == configured.addr()) {
        return *same;
    }
    let link_local =
        |a: &IpNet| matches!(a.addr(), IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
    addresses
        .iter()
        .find(|a| a.addr().is_ipv4() == configured.addr().is_ipv4() && !link_local(a))
        .copied()
        .unwrap_or(configured)
}

/// The prefixes where the kernel holds a route of ours, as far as known:
/// those installed and those adopted at start.
fn known_ours(routes: &FastMap<IpNet, Route>, kernel: &Kernel) -> FastSet<IpNet> {
    let mut prefixes: FastSet<IpNet> = routes
        .iter()
        .filter(|(_, r)| r.held != Held::Nothing)
        .map(|(p, _)| *p)
        .collect();
    prefixes.extend(kernel.adopted_prefixes());
    prefixes
}

/// Deletes our routes at `prefixes` in one batch; failures are logged.
/// Returns how many went.
fn delete_ours(kernel: &mut Kernel, prefixes: FastSet<IpNet>) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn the_uplinks_address_stands_for_the_configured_one() {
        let configured = net("10.0.1.11/24");
        assert_eq!(
            uplink_address(configured, &[net("10.0.1.11/16")]),
            net("10.0.1.11/16")
        );
        assert_eq!(
            uplink_address(configured, &[net("fe80::1/64"), net("10.0.2.11/24")]),
            net("10.0.2.11/24")
        );
        assert_eq!(uplink_address(configured, &[]), configured);
        let v6 = net("fd00:1::11/64");
        assert_eq!(
            uplink_address(v6, &[net("fe80::1/64"), net("10.0.2.11/24")]),
            v6
        );
        let none = net("0.0.0.0/32");
        assert_eq!(uplink_address(none, &[net("10.0.2.11/24")]), none);
    }
}
