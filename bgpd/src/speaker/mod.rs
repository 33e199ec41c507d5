//! The speaker actor: the single owner of neighbors, the RIB and the update
//! groups, fed by one channel of events (connections, messages, config) and
//! its timer queue. Events are handled in order, then every prefix they
//! touched is re-exported and handed to the kernel side in one flush, so
//! bursts coalesce.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use ipnet::IpNet;
use proto::config::{OriginKind, SpeakerConfig};
use routesync::FibUpdate;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio_util::time::DelayQueue;
use tracing::{info, warn};

use crate::bfd::Watcher;
pub use crate::events::Stop;
use crate::events::{Event, PeerId, SessionEvent, SessionId};
use crate::export::UpdateGroups;
use crate::fasthash::{FastMap, FastSet};
use crate::fsm::{Input, Output, Timer};
use crate::neighbor::{Neighbor, Slot, TimerKey};
use crate::policy::SpeakerPolicy;
use crate::rib::LocRib;
use crate::session::{self, Network, TcpNetwork};
use crate::status::{PeerStatus, Query, Refused, RouteStatus, SpeakerStatus};

mod bfd;
mod configure;
mod graceful;
mod learned;
mod operators;
mod reachable;
mod refilter;
#[cfg(test)]
mod replay;
mod routes;
mod sessions;
mod waiting;

pub use waiting::{spawn_when_configured, FibFactory};

/// Where best-route changes go: routesync (`fib::KernelFib`), or nowhere.
pub trait FibSink: Send {
    fn apply(&mut self, updates: Vec<FibUpdate>);

    /// The kernel section or the node's addresses may have changed.
    fn reconfigure(&mut self, _config: &SpeakerConfig) {}

    /// Every peer has sent its table (End-of-RIB for each family): routes
    /// left from a previous run that BGP did not ask for again may go.
    fn converged(&mut self) {}

    /// Routes of a previous run were found in the kernel at start: the
    /// kernel kept forwarding through the restart (RFC 4724 §4.1).
    fn forwarding_preserved(&self) -> bool {
        false
    }
}

/// How long a stopping speaker waits for its last messages to be written.
const STOP_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a graceful-restart timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RestartTimer {
    /// A peer's restart time, then its stale-path time.
    Peer(PeerId),
    /// RFC 4724 §4.1: the longest this bgpd defers its table.
    SelectionDeferral,
}

/// How many queued events are handled before a flush.
const BATCH: usize = 1024;

/// Prefixes the dirty set keeps room for between flushes.
const DIRTY_ROOM: usize = 4096;

/// A flush comes once this many prefixes changed, even with more events
/// queued: a full table then streams out while the rest of it comes in,
/// and the dirty set stays small enough to live in the cache.
const FLUSH_AT: usize = 8192;

pub struct Speaker {
    /// Operators' questions (see [`SpeakerHandle`]).
    queries: UnboundedReceiver<Query>,
    config: SpeakerConfig,
    policy: SpeakerPolicy,
    neighbors: BTreeMap<PeerId, Neighbor>,
    next_peer: PeerId,
    next_session: SessionId,
    rib: LocRib,
    groups: UpdateGroups,
    timers: DelayQueue<TimerKey>,
    /// Graceful restart's timers: of peers restarting, and of our own
    /// recovery.
    restarts: DelayQueue<RestartTimer>,
    /// This bgpd restarted with its routes kept in the kernel and has not
    /// converged yet: its OPENs say so, and its table waits (RFC 4724 §4.1).
    recovering: bool,
    events: UnboundedSender<Event>,
    dirty: FastSet<IpNet>,
    fib: Box<dyn FibSink>,
    /// Where connections come from: TCP, or a replay test's pipes.
    network: Box<dyn Network>,
    /// BFD, once a peer is configured for it.
    bfd: Option<Box<dyn Watcher>>,
    /// Set once every peer sent End-of-RIB; the FIB is told once.
    converged: bool,
    /// Every connection's writer: a stopping speaker waits for them.
    writers: tokio_util::task::TaskTracker,
    /// The selection deferral timer, while recovering.
    deferral: Option<tokio_util::time::delay_queue::Key>,
    started: SystemTime,
    last_reconfigured: SystemTime,
    reconfigurations: u64,
    /// How long each UPDATE took the speaker.
    update_processing: routesync::Histogram,
    /// Routes learned from the kernel, by prefix (`learned.rs`).
    learned: BTreeMap<IpNet, routesync::learn::LearnedRoute>,
    /// Those of them in the RIB, announced.
    injected: FastMap<IpNet, u32>,
    /// Static routes to peers through their `reachable_by` gateways.
    reachable: FastMap<IpNet, IpAddr>,
}

impl std::fmt::Debug for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speaker")
            .field("node", &self.config.node_name)
            .field("peers", &self.neighbors.len())
            .field("prefixes", &self.rib.len())
            .finish_non_exhaustive()
    }
}

/// Talks to a running speaker.
#[derive(Clone, Debug)]
pub struct SpeakerHandle {
    events: UnboundedSender<Event>,
    /// Operators' questions have a queue of their own, served first, so that
    /// a status answer never waits behind a burst of UPDATEs.
    queries: UnboundedSender<Query>,
}

impl SpeakerHandle {
    /// Applies a new configuration (already validated); only what changed
    /// is touched.
    pub fn reconfigure(&self, config: SpeakerConfig) {
        let _ = self.events.send(Event::Reconfigure(config));
    }

    /// This node can run no BGP for now: every session ends; the next
    /// configuration brings them back.
    pub fn deconfigure(&self) {
        let _ = self.events.send(Event::Deconfigure);
    }

    /// Ends the speaker, its sessions as `stop` says.
    pub fn shutdown(&self, stop: Stop) {
        let _ = self.events.send(Event::Shutdown(stop));
    }

    async fn ask<T>(
        &self,
        query: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> Query,
    ) -> Option<T> {
        let (answer, receive) = tokio::sync::oneshot::channel();
        self.queries.send(query(answer)).ok()?;
        receive.await.ok()
    }

    /// `None` when the speaker has stopped.
    pub async fn status(&self) -> Option<SpeakerStatus> {
        self.ask(Query::Speaker).await
    }

    pub async fn peers(&self) -> Option<Vec<PeerStatus>> {
        self.ask(Query::Peers).await
    }

    pub async fn routes(&self, within: Option<IpNet>) -> Option<Vec<RouteStatus>> {
        self.ask(|answer| Query::Routes(within, answer)).await
    }

    /// Restarts the session of the peer named `name` (its name or address).
    pub async fn reset_peer(&self, name: String) -> Result<(), Refused> {
        self.ask(|answer| Query::Reset(name, answer))
            .await
            .unwrap_or(Err(Refused::Stopped))
    }

    /// Asks the peer named `name` for its routes again (RFC 2918).
    pub async fn refresh_peer(&self, name: String) -> Result<(), Refused> {
        self.ask(|answer| Query::Refresh(name, answer))
            .await
            .unwrap_or(Err(Refused::Stopped))
    }
}

/// The receiving ends of a speaker's channels, and its own sender of
/// events (for the connections it starts).
#[derive(Debug)]
pub struct Inbox {
    events: UnboundedSender<Event>,
    receiver: UnboundedReceiver<Event>,
    queries: UnboundedReceiver<Query>,
}

#[cfg(test)]
impl Inbox {
    /// The next event sent, if any (for tests of what is sent).
    pub(crate) fn try_event(&mut self) -> Option<Event> {
        self.receiver.try_recv().ok()
    }
}

/// A speaker's channels: the handle that talks to it, and its inbox.
pub fn channels() -> (SpeakerHandle, Inbox) {
    let (events, receiver) = unbounded_channel();
    let (query_sender, queries) = unbounded_channel();
    let handle = SpeakerHandle {
        events: events.clone(),
        queries: query_sender,
    };
    let inbox = Inbox {
        events,
        receiver,
        queries,
    };
    (handle, inbox)
}

impl Speaker {
    /// Binds the BGP port and starts the configured peers.
    pub async fn start(
        config: SpeakerConfig,
        fib: Box<dyn FibSink>,
    ) -> std::io::Result<(Self, SpeakerHandle, UnboundedReceiver<Event>)> {
        let (handle, inbox) = channels();
        let network = Box::new(TcpNetwork::default());
        let (speaker, receiver) = Self::start_on(config, fib, network, inbox)?;
        Ok((speaker, handle, receiver))
    }

    /// [`Speaker::start`] on channels made beforehand, and on `network`.
    fn start_on(
        config: SpeakerConfig,
        fib: Box<dyn FibSink>,
        mut network: Box<dyn Network>,
        inbox: Inbox,
    ) -> std::io::Result<(Self, UnboundedReceiver<Event>)> {
        let Inbox {
            events,
            receiver,
            queries,
        } = inbox;
        network.listen(&config.listen.addresses, config.listen.port, &events)?;
        let mut speaker = Self {
            queries,
            policy: policy_of(&config),
            config: config.clone(),
            neighbors: BTreeMap::new(),
            next_peer: 1,
            next_session: 1,
            rib: LocRib::default(),
            groups: UpdateGroups::default(),
            timers: DelayQueue::new(),
            restarts: DelayQueue::new(),
            recovering: false,
            deferral: None,
            writers: tokio_util::task::TaskTracker::new(),
            events: events.clone(),
            dirty: FastSet::default(),
            fib,
            network,
            bfd: None,
            converged: false,
            started: SystemTime::now(),
            last_reconfigured: SystemTime::now(),
            reconfigurations: 0,
            update_processing: routesync::Histogram::default(),
            learned: BTreeMap::new(),
            injected: FastMap::default(),
            reachable: FastMap::default(),
        };
        if config.kernel.enabled && speaker.fib.forwarding_preserved() {
            info!("routes of a previous run are in the kernel: graceful restart recovery");
            speaker.recovering = true;
            speaker.deferral = Some(speaker.restarts.insert(
                RestartTimer::SelectionDeferral,
                Duration::from_secs(config.restart_wait.into()),
            ));
        }
        speaker.rib.set_local(speaker.local_info());
        speaker.originate(&[], &config.originate.clone());
        for peer in config.peers.clone() {
            speaker.add_peer(peer);
        }
        speaker.route_to_peers();
        speaker.flush();
        // A speaker without peers has nothing to wait for.
        speaker.check_converged();
        Ok((speaker, receiver))
    }

    /// Runs until shut down.
    pub async fn run(mut self, mut receiver: UnboundedReceiver<Event>) {
        let stop = loop {
            tokio::select! {
                biased;
                Some(query) = self.queries.recv() => {
                    self.answer(query);
                    continue;
                }
                event = receiver.recv() => match event {
                    None => break Stop::Cease,
                    Some(Event::Shutdown(stop)) => break stop,
                    Some(event) => self.handle(event),
                },
                Some(expired) = self.timers.next() => self.timer(expired.into_inner()),
                Some(expired) = self.restarts.next() => match expired.into_inner() {
                    RestartTimer::Peer(peer) => self.restart_expired(peer),
                    RestartTimer::SelectionDeferral => {
                        self.deferral = None;
                        warn!("not every peer sent its table in time: ending the restart recovery");
                        self.end_recovery();
                    }
                },
            }
            // Take what else is queued before flushing, so bursts coalesce.
            let mut stop = None;
            for _ in 0..BATCH {
                if self.dirty.len() >= FLUSH_AT {
                    break;
                }
                while let Ok(query) = self.queries.try_recv() {
                    self.answer(query);
                }
                match receiver.try_recv() {
                    Ok(Event::Shutdown(how)) => {
                        stop = Some(how);
                        break;
                    }
                    Ok(event) => self.handle(event),
                    Err(_) => break,
                }
            }
            if let Some(stop) = stop {
                break stop;
            }
            self.flush();
        };
        self.stop_all(stop);
        // The Ceases (or, for a graceful restart, the closes) go out before
        // the runtime, and the process, end.
        self.writers.close();
        if tokio::time::timeout(STOP_WRITE_TIMEOUT, self.writers.wait())
            .await
            .is_err()
        {
            warn!("some peers did not take their last messages in time");
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Accepted { stream, remote } => self.accepted(stream, remote),
            Event::Connected {
                peer,
                session,
                result,
            } => self.connected(peer, session, result),
            Event::Session {
                peer,
                session,
                event,
            } => {
                let input = match event {
                    SessionEvent::Message(message) => {
                        if let Some(n) = self.neighbors.get_mut(&peer) {
                            n.stats.messages_received += 1;
                        }
                        Input::Message(message)
                    }
                    SessionEvent::Malformed(notification) => Input::DecodeError(notification),
                    SessionEvent::Closed(reason) => Input::TcpFails { reason },
                    // An error, not a restart: its routes go (no NOTIFICATION
                    // will get through, but the FSM tries).
                    SessionEvent::Stalled => Input::DecodeError(crate::packet::Notification::new(
                        crate::packet::code::SEND_HOLD_TIMER_EXPIRED,
                        0,
                        bytes::Bytes::new(),
                    )),
                };
                // How long the speaker takes over one UPDATE (the RIB and
                // what it marks for export), for the histogram operators see.
                let update = matches!(&input, Input::Message(crate::packet::Message::Update(_)));
                let started = update.then(std::time::Instant::now);
                self.step(peer, session, input);
                if let Some(started) = started {
                    self.update_processing.observe(started.elapsed());
                }
            }
            Event::Reconfigure(config) => {
                self.reconfigure(config);
                self.last_reconfigured = SystemTime::now();
                self.reconfigurations += 1;
            }
            Event::Deconfigure => {
                self.deconfigure();
                self.last_reconfigured = SystemTime::now();
                self.reconfigurations += 1;
            }
            Event::Learned(changes) => self.on_learned(changes),
            Event::Bfd { peer, change } => self.bfd_changed(peer, change),
            Event::Shutdown(_) => {}
        }
    }

    fn timer(&mut self, key: TimerKey) {
        let Some(slot) = self
            .neighbors
            .get_mut(&key.peer)
            .and_then(|n| n.slot_mut(key.session))
        else {
            return;
        };
        slot.fired(key.timer);
        if key.timer == Timer::Hold {
            // A message the reader took within the hold time may still wait
            // in the speaker's queue: the peer was not silent (liveness.rs).
            let hold = Duration::from_secs(u64::from(slot.fsm.hold_time()));
            let heard = slot.conn.as_ref().and_then(|c| c.liveness().heard_ago());
            if let Some(left) = session::liveness::hold_left(hold, heard) {
                slot.arm_after(&mut self.timers, key, left);
                return;
            }
        }
        let input = match key.timer {
            Timer::ConnectRetry => Input::ConnectRetryTimerExpires,
            Timer::Hold => Input::HoldTimerExpires,
            Timer::Keepalive => Input::KeepaliveTimerExpires,
            Timer::IdleHold => Input::IdleHoldTimerExpires,
        };
        self.step(key.peer, key.session, input);
    }
}

/// Stops a slot's FSM, sends the Cease it produces, and disposes of the slot.
fn close_with_cease(mut slot: Slot, subcode: u8, timers: &mut DelayQueue<TimerKey>) {
    for output in slot.fsm.process(Input::Stop { subcode }) {
        if let Output::Send(message) = output {
            slot.send(&message);
        }
    }
    slot.dispose(timers);
}

fn v4_of(address: IpAddr) -> Option<Ipv4Addr> {
    match address {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    }
}

fn v6_of(address: IpAddr) -> Option<Ipv6Addr> {
    match address {
        IpAddr::V6(v6) => Some(v6),
        IpAddr::V4(_) => None,
    }
}

fn policy_of(config: &SpeakerConfig) -> SpeakerPolicy {
    SpeakerPolicy {
        local_as: config.local_as.0,
        router_id: config.router_id,
        cluster_id: config.cluster_id,
        export_prefixes: config.export.prefixes.clone(),
        own_blocks: config
            .originate
            .iter()
            .filter(|o| o.kind == OriginKind::Block)
            .map(|o| o.prefix)
            .chain(config.export.address_blocks.iter().copied())
            .collect(),
        never_export: config.export.never.clone(),
        own_addresses: config.addresses.iter().map(IpNet::addr).collect(),
        route_priority: config.kernel.route_priority,
        communities: config.export.communities.clone(),
    }
}
