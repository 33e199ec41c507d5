//! The speaker actor: the single owner of neighbors, the RIB and the update
//! groups, fed by one channel of events (connections, messages, config) and
//! its timer queue. Events are handled in order, then every prefix they
//! touched is re-exported and handed to the kernel side in one flush, so
//! bursts coalesce.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use ipnet::IpNet;
use proto::config::{OriginKind, PeerConfig, SpeakerConfig};
use routesync::{FibEntry, FibUpdate};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;
use tokio_util::time::DelayQueue;
use tracing::{debug, info, warn};

use crate::export::UpdateGroups;
use crate::fasthash::FastSet;
use crate::fsm::{DownReason, Fsm, Input, Output, State, Timer, STOP_ADMIN, STOP_DECONFIGURED};
use crate::neighbor::{fsm_config, Neighbor, Slot, TimerKey, Up};
use crate::packet::{
    cease_subcode, AsPath, AttrAction, Community, NextHop, Nlri, Origin, PathAttributes,
    UpdateMessage,
};
use crate::policy::{accept_import, import_attrs, ExportClass, SpeakerPolicy};
use crate::rib::{LocRib, PeerId, RouteAttrs, Source, SourceInfo};
use crate::session::{self, Connection, Event, SessionEvent, SessionId};
use crate::status::{PathStatus, PeerStatus, Query, RouteStatus, SessionStatus, SpeakerStatus};

/// Where best-route changes go: routesync (`fib::KernelFib`), or nowhere.
pub trait FibSink: Send {
    fn apply(&mut self, updates: Vec<FibUpdate>);

    /// The kernel section or the node's addresses may have changed.
    fn reconfigure(&mut self, _config: &SpeakerConfig) {}

    /// Every peer has sent its table (End-of-RIB for each family): routes
    /// left from a previous run that BGP did not ask for again may go.
    fn converged(&mut self) {}
}

/// Drops every update (for tests of the speaker alone).
#[derive(Debug, Default)]
pub struct NoFib;

impl FibSink for NoFib {
    fn apply(&mut self, _updates: Vec<FibUpdate>) {}
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
    config: SpeakerConfig,
    policy: SpeakerPolicy,
    neighbors: BTreeMap<PeerId, Neighbor>,
    next_peer: PeerId,
    next_session: SessionId,
    rib: LocRib,
    groups: UpdateGroups,
    timers: DelayQueue<TimerKey>,
    events: UnboundedSender<Event>,
    dirty: FastSet<IpNet>,
    fib: Box<dyn FibSink>,
    listener: Option<JoinHandle<()>>,
    /// Set once every peer sent End-of-RIB; the FIB is told once.
    converged: bool,
    started: SystemTime,
    last_reconfigured: SystemTime,
    reconfigurations: u64,
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
}

impl SpeakerHandle {
    /// Applies a new configuration (already validated); only what changed
    /// is touched.
    pub fn reconfigure(&self, config: SpeakerConfig) {
        let _ = self.events.send(Event::Reconfigure(config));
    }

    /// Stops every session with a Cease and ends the speaker.
    pub fn shutdown(&self) {
        let _ = self.events.send(Event::Shutdown);
    }

    async fn ask<T>(
        &self,
        query: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> Query,
    ) -> Option<T> {
        let (answer, receive) = tokio::sync::oneshot::channel();
        self.events.send(Event::Query(query(answer))).ok()?;
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

    pub async fn reset_peer(&self, name: String) -> Result<(), String> {
        self.ask(|answer| Query::Reset(name, answer))
            .await
            .unwrap_or_else(|| Err("the speaker has stopped".into()))
    }

    pub async fn refresh_peer(&self, name: String) -> Result<(), String> {
        self.ask(|answer| Query::Refresh(name, answer))
            .await
            .unwrap_or_else(|| Err("the speaker has stopped".into()))
    }
}

impl Speaker {
    /// Binds the BGP port and starts the configured peers.
    pub async fn start(
        config: SpeakerConfig,
        fib: Box<dyn FibSink>,
    ) -> std::io::Result<(Self, SpeakerHandle, UnboundedReceiver<Event>)> {
        let (events, receiver) = unbounded_channel();
        let listener = session::listen(config.listen.address, config.listen.port).await?;
        info!(address = %listener.local_addr()?, "listening for BGP");
        let mut speaker = Self {
            policy: policy_of(&config),
            config: config.clone(),
            neighbors: BTreeMap::new(),
            next_peer: 1,
            next_session: 1,
            rib: LocRib::default(),
            groups: UpdateGroups::default(),
            timers: DelayQueue::new(),
            events: events.clone(),
            dirty: FastSet::default(),
            fib,
            listener: Some(session::accept_loop(listener, events.clone())),
            converged: false,
            started: SystemTime::now(),
            last_reconfigured: SystemTime::now(),
            reconfigurations: 0,
        };
        speaker.rib.set_local(speaker.local_info());
        speaker.originate(&[], &config.originate.clone());
        for peer in config.peers.clone() {
            speaker.add_peer(peer);
        }
        speaker.flush();
        // A speaker without peers has nothing to wait for.
        speaker.check_converged();
        Ok((speaker, SpeakerHandle { events }, receiver))
    }

    /// Runs until shut down.
    pub async fn run(mut self, mut receiver: UnboundedReceiver<Event>) {
        loop {
            tokio::select! {
                event = receiver.recv() => match event {
                    None | Some(Event::Shutdown) => break,
                    Some(event) => self.handle(event),
                },
                Some(expired) = self.timers.next() => self.timer(expired.into_inner()),
            }
            // Take what else is queued before flushing, so bursts coalesce.
            for _ in 0..BATCH {
                if self.dirty.len() >= FLUSH_AT {
                    break;
                }
                match receiver.try_recv() {
                    Ok(Event::Shutdown) => {
                        self.stop_all();
                        return;
                    }
                    Ok(event) => self.handle(event),
                    Err(_) => break,
                }
            }
            self.flush();
        }
        self.stop_all();
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
                };
                self.step(peer, session, input);
            }
            Event::Reconfigure(config) => {
                self.reconfigure(config);
                self.last_reconfigured = SystemTime::now();
                self.reconfigurations += 1;
            }
            Event::Query(query) => self.answer(query),
            Event::Shutdown => {}
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
        let input = match key.timer {
            Timer::ConnectRetry => Input::ConnectRetryTimerExpires,
            Timer::Hold => Input::HoldTimerExpires,
            Timer::Keepalive => Input::KeepaliveTimerExpires,
            Timer::IdleHold => Input::IdleHoldTimerExpires,
        };
        self.step(key.peer, key.session, input);
    }

    // ===== operators =====

    fn answer(&mut self, query: Query) {
        match query {
            Query::Speaker(answer) => {
                let _ = answer.send(SpeakerStatus {
                    node_name: self.config.node_name.clone(),
                    router_id: self.config.router_id,
                    local_as: self.config.local_as.0,
                    cluster_id: self.config.cluster_id,
                    started: self.started,
                    last_reconfigured: self.last_reconfigured,
                    reconfigurations: self.reconfigurations,
                    converged: self.converged,
                    prefixes: self.rib.len(),
                    attr_sets: self.rib.attr_sets(),
                });
            }
            Query::Peers(answer) => {
                let peers = self
                    .neighbors
                    .values()
                    .map(|n| self.peer_status(n))
                    .collect();
                let _ = answer.send(peers);
            }
            Query::Routes(within, answer) => {
                let mut prefixes: Vec<IpNet> = self
                    .rib
                    .prefixes()
                    .filter(|p| within.is_none_or(|w| w.contains(p)))
                    .collect();
                prefixes.sort();
                let routes = prefixes
                    .into_iter()
                    .map(|prefix| self.route_status(prefix))
                    .collect();
                let _ = answer.send(routes);
            }
            Query::Reset(name, answer) => {
                let Some(id) = self.peer_named(&name) else {
                    let _ = answer.send(Err(format!("no peer {name}")));
                    return;
                };
                let session = self.neighbors[&id].primary.session;
                info!(peer = %name, "reset by an operator");
                self.step(
                    id,
                    session,
                    Input::Stop {
                        subcode: cease_subcode::ADMINISTRATIVE_RESET,
                    },
                );
                self.step(id, session, Input::Start);
                let _ = answer.send(Ok(()));
            }
            Query::Refresh(name, answer) => {
                let result = match self
                    .peer_named(&name)
                    .and_then(|id| self.neighbors.get(&id))
                {
                    None => Err(format!("no peer {name}")),
                    Some(n) => match &n.up {
                        None => Err(format!("{name} is not established")),
                        Some(up) if !up.negotiated.route_refresh => {
                            Err(format!("{name} does not do route refresh"))
                        }
                        Some(up) => {
                            for family in up.negotiated.families.iter() {
                                let refresh = crate::packet::RouteRefreshMessage::request(family);
                                n.primary
                                    .send(&crate::packet::Message::RouteRefresh(refresh));
                            }
                            Ok(())
                        }
                    },
                };
                let _ = answer.send(result);
            }
        }
    }

    fn peer_named(&self, name: &str) -> Option<PeerId> {
        self.neighbors
            .values()
            .find(|n| n.name == name || n.config.address.to_string() == name)
            .map(|n| n.id)
    }

    fn peer_status(&self, n: &Neighbor) -> PeerStatus {
        let session = n.up.as_ref().map(|up| SessionStatus {
            peer_id: up.negotiated.peer_id,
            local_address: n.primary.conn.as_ref().map(|c| c.local.ip().to_canonical()),
            hold_time: up.negotiated.hold_time,
            families: up.negotiated.families.iter().collect(),
            four_octet_as: up.negotiated.four_octet_as,
            route_refresh: up.negotiated.route_refresh,
            extended_message: up.negotiated.extended_message,
            add_path_receive: up.negotiated.add_path_rx.iter().collect(),
            graceful_restart: up.negotiated.peer_graceful_restart.is_some(),
            external: up.class.ebgp,
        });
        PeerStatus {
            name: n.name.clone(),
            address: n.config.address,
            port: n.config.port,
            kind: n.config.kind,
            remote_as: n.config.remote_as.0,
            passive: n.config.passive,
            state: n.state(),
            since: n.since,
            last_error: n.last_error.clone(),
            session,
            stats: n.stats.clone(),
            prefixes: self.rib.peer_path_count(n.id),
        }
    }

    fn route_status(&self, prefix: IpNet) -> RouteStatus {
        let multipath = self.rib.multipath(&prefix).len();
        let paths = self
            .rib
            .paths(&prefix)
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let a = &path.attrs.attrs;
                PathStatus {
                    from: match path.source {
                        Source::Local => "local".into(),
                        Source::Peer(id) => self
                            .neighbors
                            .get(&id)
                            .map_or_else(|| format!("peer {id}"), |n| n.name.clone()),
                    },
                    next_hop: path.attrs.next_hop,
                    as_path: a
                        .as_path
                        .as_ref()
                        .map(|p| p.asns().collect())
                        .unwrap_or_default(),
                    local_pref: a.local_pref,
                    med: a.med,
                    communities: a
                        .communities
                        .iter()
                        .map(|c| format!("{}:{}", c.0 >> 16, c.0 & 0xffff))
                        .collect(),
                    best: i == 0,
                    multipath: i < multipath,
                }
            })
            .collect();
        RouteStatus { prefix, paths }
    }

    // ===== sessions =====

    /// Feeds one input to one FSM and carries out what it says.
    fn step(&mut self, peer: PeerId, session: SessionId, input: Input) {
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        let Some(slot) = neighbor.slot_mut(session) else {
            return;
        };
        let outputs = slot.fsm.process(input);
        let is_primary = neighbor.primary.session == session;
        for output in outputs {
            self.apply(peer, session, is_primary, output);
        }
        self.resolve_collision(peer);
    }

    fn apply(&mut self, peer: PeerId, session: SessionId, is_primary: bool, output: Output) {
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        let remote = neighbor.remote();
        let source = neighbor.source_address(&self.config);
        let connect_timeout =
            Duration::from_secs(u64::from(neighbor.config.connect_retry_time.max(1)));
        let name = neighbor.name.clone();
        let Some(slot) = neighbor.slot_mut(session) else {
            return;
        };
        let key = |timer| TimerKey {
            peer,
            session,
            timer,
        };
        match output {
            Output::Connect => {
                slot.connecting = true;
                session::connect(
                    peer,
                    session,
                    remote,
                    source,
                    connect_timeout,
                    self.events.clone(),
                );
            }
            Output::Disconnect => {
                slot.connecting = false;
                if let Some(conn) = slot.conn.take() {
                    conn.close();
                }
            }
            Output::Send(message) => {
                slot.send(&message);
                neighbor.stats.messages_sent += 1;
            }
            Output::Arm(timer, secs) => slot.arm(&mut self.timers, key(timer), secs),
            Output::Cancel(timer) => slot.cancel(&mut self.timers, timer),
            Output::StateChanged { from, to } => {
                debug!(peer = %name, ?from, ?to, "state");
                if is_primary {
                    neighbor.since = SystemTime::now();
                }
                let failed = to == State::Idle || (from >= State::OpenSent && to <= State::Active);
                if !is_primary && failed {
                    // A losing or failed second connection just goes away.
                    if let Some(slot) = neighbor.collision.take() {
                        slot.dispose(&mut self.timers);
                    }
                }
            }
            Output::Established(negotiated) => {
                if is_primary {
                    slot.encode = negotiated.encode_ctx();
                    let local = slot.conn.as_ref().map(|c| c.local);
                    self.established(peer, negotiated, local);
                }
            }
            Output::Down(reason) => {
                if is_primary {
                    self.down(peer, reason);
                }
            }
            Output::Update(update) => self.receive(peer, update),
            Output::RouteRefresh(refresh) => self.refresh(peer, refresh),
        }
    }

    fn accepted(&mut self, stream: TcpStream, remote: SocketAddr) {
        let Some(peer) = self
            .neighbors
            .values()
            .find(|n| n.config.address == remote.ip())
            .map(|n| n.id)
        else {
            warn!(%remote, "connection refused: not a configured peer");
            return;
        };
        let external = self.neighbors[&peer].is_external(&self.config);
        let state = self.neighbors[&peer].state();
        match state {
            // Resting after an error, or stopped: not now.
            State::Idle => debug!(%remote, "connection refused while idle"),
            State::Connect | State::Active => {
                let neighbor = self.neighbors.get_mut(&peer).expect("looked up above");
                let slot = &mut neighbor.primary;
                if let Some(conn) = slot.conn.take() {
                    conn.close();
                }
                // An outgoing connect still under way is abandoned: its result
                // finds the slot connected and is dropped.
                slot.connecting = false;
                slot.initiated_locally = false;
                let session = slot.session;
                match Connection::start(
                    stream,
                    peer,
                    session,
                    slot.fsm.open().clone(),
                    external,
                    self.events.clone(),
                ) {
                    Ok(conn) => {
                        slot.conn = Some(conn);
                        self.step(peer, session, Input::TcpConnected);
                    }
                    Err(e) => debug!(%remote, error = %e, "accepted connection failed"),
                }
            }
            State::OpenSent | State::OpenConfirm if self.neighbors[&peer].collision.is_none() => {
                // RFC 4271 §6.8: keep both until the identifiers decide.
                let session = self.new_session();
                let neighbor = self.neighbors.get_mut(&peer).expect("looked up above");
                let mut slot = Slot::new(
                    session,
                    Fsm::new(fsm_config(&neighbor.config, &self.config)),
                );
                match Connection::start(
                    stream,
                    peer,
                    session,
                    slot.fsm.open().clone(),
                    external,
                    self.events.clone(),
                ) {
                    Ok(conn) => {
                        slot.conn = Some(conn);
                        neighbor.collision = Some(slot);
                        self.step(peer, session, Input::Start);
                        self.step(peer, session, Input::TcpConnected);
                    }
                    Err(e) => debug!(%remote, error = %e, "accepted connection failed"),
                }
            }
            _ => debug!(%remote, ?state, "connection refused: a session exists"),
        }
    }

    fn connected(&mut self, peer: PeerId, session: SessionId, result: std::io::Result<TcpStream>) {
        let external = match self.neighbors.get(&peer) {
            Some(n) => n.is_external(&self.config),
            None => return,
        };
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        let Some(slot) = neighbor.slot_mut(session) else {
            return;
        };
        if !slot.connecting || slot.conn.is_some() {
            return;
        }
        slot.connecting = false;
        match result {
            Ok(stream) => {
                match Connection::start(
                    stream,
                    peer,
                    session,
                    slot.fsm.open().clone(),
                    external,
                    self.events.clone(),
                ) {
                    Ok(conn) => {
                        slot.conn = Some(conn);
                        slot.initiated_locally = true;
                        self.step(peer, session, Input::TcpConnected);
                    }
                    Err(e) => self.step(
                        peer,
                        session,
                        Input::TcpFails {
                            reason: e.to_string(),
                        },
                    ),
                }
            }
            Err(e) => {
                let reason = session::describe_connect_error(&e);
                neighbor.last_error = Some(reason.clone());
                self.step(peer, session, Input::TcpFails { reason });
            }
        }
    }

    /// Closes the loser of a connection collision once it is known.
    fn resolve_collision(&mut self, peer: PeerId) {
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        let Some(loser) = neighbor.collision_loser(self.config.router_id) else {
            return;
        };
        let loser_is_primary = neighbor.primary.session == loser;
        debug!(peer = %neighbor.name, "connection collision resolved");
        if loser_is_primary {
            // The second connection wins: it becomes the primary.
            let winner = neighbor
                .collision
                .take()
                .expect("a collision has a second slot");
            let old = std::mem::replace(&mut neighbor.primary, winner);
            close_with_cease(
                old,
                cease_subcode::CONNECTION_COLLISION_RESOLUTION,
                &mut self.timers,
            );
        } else if let Some(slot) = neighbor.collision.take() {
            close_with_cease(
                slot,
                cease_subcode::CONNECTION_COLLISION_RESOLUTION,
                &mut self.timers,
            );
        }
    }

    fn established(
        &mut self,
        peer: PeerId,
        negotiated: crate::packet::Negotiated,
        local: Option<SocketAddr>,
    ) {
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        let ebgp = neighbor.is_external(&self.config);
        let local_ip = local.map(|l| l.ip().to_canonical());
        let node_v4 = self.config.address_for(true);
        let node_v6 = self.config.address_for(false);
        let self_v4 = match local_ip {
            Some(IpAddr::V4(v4)) => Some(v4),
            _ => node_v4.and_then(v4_of),
        };
        let self_v6 = match local_ip {
            Some(IpAddr::V6(v6)) if !v6.is_unicast_link_local() => Some(v6),
            _ => node_v6.and_then(v6_of),
        };
        let class = ExportClass {
            ebgp,
            rr_client: neighbor.config.route_reflector_client,
            remote_as: neighbor.config.remote_as.0,
            local_as: neighbor.config.local_as.unwrap_or(self.config.local_as).0,
            next_hop: neighbor.config.next_hop,
            self_v4,
            self_v6,
            encode: negotiated.encode_ctx(),
            families: negotiated.families,
        };
        info!(peer = %neighbor.name, address = %neighbor.config.address, "established");
        neighbor.last_error = None;
        neighbor.end_of_rib = crate::packet::FamilySet::EMPTY;
        neighbor.up = Some(Up {
            negotiated: negotiated.clone(),
            class: class.clone(),
        });
        self.rib.set_peer(
            peer,
            SourceInfo {
                ebgp,
                router_id: negotiated.peer_id,
                address: neighbor.config.address,
                rr_client: neighbor.config.route_reflector_client,
            },
        );
        let table = self.groups.join(peer, &class, &self.rib, &self.policy);
        if let Some(conn) = &neighbor.primary.conn {
            conn.send(table);
        }
    }

    fn down(&mut self, peer: PeerId, reason: DownReason) {
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        let text = reason.describe();
        if neighbor.up.is_some() || !matches!(reason, DownReason::Stopped) {
            info!(peer = %neighbor.name, reason = %text, "session down");
        }
        if !matches!(reason, DownReason::Stopped) {
            neighbor.last_error = Some(text);
        }
        if let Some(up) = neighbor.up.take() {
            self.groups.leave(peer, &up.class);
        }
        let gone = self.rib.remove_peer(peer);
        self.dirty.extend(gone);
    }

    // ===== routes =====

    fn receive(&mut self, peer: PeerId, update: UpdateMessage) {
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        neighbor.stats.updates_received += 1;
        let name = neighbor.name.clone();
        for error in &update.errors {
            warn!(peer = %name, %error, "malformed attribute (RFC 7606)");
        }
        // A session reset never gets here: the decoder returns it as an error.
        if let Some(AttrAction::AfiSafiDisable { .. }) = update.action() {
            // Disabling one family is done as RFC 4760 leaves open: the
            // session restarts, which clears the family's routes.
            if let Some(error) = update
                .errors
                .iter()
                .find(|e| matches!(e.action, AttrAction::AfiSafiDisable { .. }))
            {
                let session = neighbor.primary.session;
                let notification = error.notification.clone();
                self.step(peer, session, Input::DecodeError(notification));
            }
            return;
        }
        for nlri in update.withdrawals() {
            if self
                .rib
                .remove(nlri.prefix, Source::Peer(peer), nlri.path_id.unwrap_or(0))
            {
                self.dirty.insert(nlri.prefix);
            }
        }
        // RFC 7606 treat-as-withdraw: what the message announces is withdrawn.
        let usable = update.action() != Some(AttrAction::TreatAsWithdraw);
        let mut base = update.attrs.clone();
        base.mp_reach = None;
        base.mp_unreach = None;
        let v4_next_hop = base.next_hop.take().map(|nh| (IpAddr::V4(nh), None));
        let mp_next_hop = update.attrs.mp_reach.as_ref().map(|r| match r.next_hop {
            NextHop::V4(v4) => (IpAddr::V4(v4), None),
            NextHop::V6 { global, link_local } => (IpAddr::V6(global), link_local),
        });
        let mp_prefixes: &[Nlri] = update.attrs.mp_reach.as_ref().map_or(&[], |r| &r.nlri);
        let (v4_received, v4_accepted) =
            self.learn(peer, &base, v4_next_hop.filter(|_| usable), &update.nlri);
        let (mp_received, mp_accepted) =
            self.learn(peer, &base, mp_next_hop.filter(|_| usable), mp_prefixes);
        if let Some(neighbor) = self.neighbors.get_mut(&peer) {
            neighbor.stats.prefixes_received += v4_received + mp_received;
            neighbor.stats.prefixes_accepted += v4_accepted + mp_accepted;
        }
        self.check_prefix_limit(peer);
        if let Some(family) = update.end_of_rib_family() {
            debug!(peer = %name, %family, "End-of-RIB");
            if let Some(neighbor) = self.neighbors.get_mut(&peer) {
                neighbor.end_of_rib = neighbor.end_of_rib.with(family);
            }
            self.check_converged();
        }
    }

    /// Holds the peer to its `max_prefixes`; see [`Neighbor::over_prefix_limit`].
    fn check_prefix_limit(&mut self, peer: PeerId) {
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        if neighbor.config.max_prefixes.is_none() {
            return;
        }
        let paths = self.rib.peer_path_count(peer);
        if let Some(input) = neighbor.over_prefix_limit(paths) {
            let session = neighbor.primary.session;
            self.step(peer, session, input);
        }
    }

    /// RFC 4724 §2: a peer's table is complete at its End-of-RIB. Once every
    /// configured peer is up and has sent one per family, the FIB may sweep
    /// what a previous run left.
    fn check_converged(&mut self) {
        if self.converged {
            return;
        }
        let complete = self.neighbors.values().all(|n| {
            n.up.as_ref()
                .is_some_and(|up| up.class.families.iter().all(|f| n.end_of_rib.contains(f)))
        });
        if complete {
            info!(peers = self.neighbors.len(), "every peer sent its table");
            self.converged = true;
            self.fib.converged();
        }
    }

    /// Puts `prefixes` in the RIB with `base` and `next_hop`, or removes them
    /// when there is no usable next hop or import refuses the path. Returns
    /// (received, accepted).
    fn learn(
        &mut self,
        peer: PeerId,
        base: &PathAttributes,
        next_hop: Option<(IpAddr, Option<Ipv6Addr>)>,
        prefixes: &[Nlri],
    ) -> (u64, u64) {
        if prefixes.is_empty() {
            return (0, 0);
        }
        let info = self.rib.source_info(Source::Peer(peer));
        let attrs = next_hop
            .map(|(next_hop, link_local)| RouteAttrs {
                attrs: base.clone(),
                next_hop,
                link_local,
            })
            .filter(|attrs| accept_import(attrs, &info, &self.policy))
            .map(|attrs| import_attrs(attrs, &info));
        let Some(attrs) = attrs else {
            for nlri in prefixes {
                if self
                    .rib
                    .remove(nlri.prefix, Source::Peer(peer), nlri.path_id.unwrap_or(0))
                {
                    self.dirty.insert(nlri.prefix);
                }
            }
            return (prefixes.len() as u64, 0);
        };
        let attrs = self.rib.intern(attrs);
        for nlri in prefixes {
            self.rib.insert(
                nlri.prefix,
                Source::Peer(peer),
                nlri.path_id.unwrap_or(0),
                attrs.clone(),
            );
            self.dirty.insert(nlri.prefix);
        }
        (prefixes.len() as u64, prefixes.len() as u64)
    }

    /// RFC 2918: send the family's table again.
    fn refresh(&mut self, peer: PeerId, refresh: crate::packet::RouteRefreshMessage) {
        let Some(neighbor) = self.neighbors.get(&peer) else {
            return;
        };
        let (Some(up), Some(family)) = (&neighbor.up, refresh.family()) else {
            return;
        };
        if refresh.subtype != crate::packet::RefreshSubtype::Request
            || !up.class.families.contains(family)
        {
            return;
        }
        let class = up.class.clone();
        // Leave and join the group: the join sends the whole table again.
        self.groups.leave(peer, &class);
        let table = self.groups.join(peer, &class, &self.rib, &self.policy);
        if let Some(conn) = &self.neighbors[&peer].primary.conn {
            conn.send(table);
        }
    }

    /// Sends every change since the last flush to peers and to the kernel.
    fn flush(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let dirty: Vec<IpNet> = self.dirty.drain().collect();
        // A full table arriving grows the set to its size; keep no more
        // than a batch's worth of room afterwards.
        self.dirty.shrink_to(DIRTY_ROOM);
        for (members, bytes) in self.groups.flush(&dirty, &self.rib, &self.policy) {
            for member in members {
                if let Some(neighbor) = self.neighbors.get_mut(&member) {
                    if let Some(conn) = &neighbor.primary.conn {
                        conn.send(bytes.clone());
                        neighbor.stats.updates_sent += 1;
                    }
                }
            }
        }
        // With the kernel off ("BGP only", Felix owns routes), routesync is
        // told nothing: it would only keep a copy of the table. Turning it
        // on sends the whole table (see `reconfigure`).
        if self.config.kernel.enabled {
            self.program_fib(dirty);
        }
    }

    /// Hands the best routes of `prefixes` to the kernel side.
    fn program_fib(&mut self, prefixes: Vec<IpNet>) {
        let blocks: Vec<IpNet> = self
            .config
            .originate
            .iter()
            .filter(|o| o.kind == OriginKind::Block)
            .map(|o| o.prefix)
            .collect();
        let updates = prefixes
            .into_iter()
            .map(|prefix| {
                let paths = self.rib.multipath(&prefix);
                let entry = match paths.first() {
                    None => FibEntry::Remove,
                    Some(best) if best.source == Source::Local => {
                        if blocks.contains(&prefix) {
                            FibEntry::Blackhole
                        } else {
                            FibEntry::Remove
                        }
                    }
                    Some(_) => {
                        let mut hops: routesync::NextHopList =
                            paths.iter().map(|p| p.attrs.next_hop).collect();
                        hops.sort();
                        hops.dedup();
                        FibEntry::NextHops(hops)
                    }
                };
                FibUpdate { prefix, entry }
            })
            .collect();
        self.fib.apply(updates);
    }

    // ===== configuration =====

    fn new_session(&mut self) -> SessionId {
        let id = self.next_session;
        self.next_session += 1;
        id
    }

    fn add_peer(&mut self, config: PeerConfig) {
        let id = self.next_peer;
        self.next_peer += 1;
        let session = self.new_session();
        let neighbor = Neighbor::new(id, config, &self.config, session);
        info!(peer = %neighbor.name, address = %neighbor.config.address, "peer added");
        self.neighbors.insert(id, neighbor);
        self.step(id, session, Input::Start);
    }

    fn remove_peer(&mut self, id: PeerId, subcode: u8) {
        let Some(neighbor) = self.neighbors.get(&id) else {
            return;
        };
        let session = neighbor.primary.session;
        self.step(id, session, Input::Stop { subcode });
        if let Some(mut neighbor) = self.neighbors.remove(&id) {
            if let Some(up) = neighbor.up.take() {
                self.groups.leave(id, &up.class);
            }
            if let Some(slot) = neighbor.collision.take() {
                slot.dispose(&mut self.timers);
            }
            neighbor.primary.dispose(&mut self.timers);
        }
        let gone = self.rib.forget_peer(id);
        self.dirty.extend(gone);
    }

    /// Applies a new configuration: peers added, removed or changed are the
    /// only sessions touched (Calico's confd reloads flap them all; this does
    /// not). A change of identity (router id, AS, cluster, addresses, listen)
    /// restarts every session.
    fn reconfigure(&mut self, config: SpeakerConfig) {
        if config.kernel != self.config.kernel || config.addresses != self.config.addresses {
            let was_enabled = self.config.kernel.enabled;
            if was_enabled && !config.kernel.enabled {
                // routesync removes our kernel routes; then it forgets them,
                // holding nothing while off.
                self.fib.reconfigure(&config);
                let every: Vec<FibUpdate> = self
                    .rib
                    .prefixes()
                    .map(|prefix| FibUpdate {
                        prefix,
                        entry: FibEntry::Remove,
                    })
                    .collect();
                self.fib.apply(every);
            } else {
                self.fib.reconfigure(&config);
            }
            if !was_enabled && config.kernel.enabled {
                self.config.kernel = config.kernel.clone();
                let every: Vec<IpNet> = self.rib.prefixes().collect();
                self.program_fib(every);
            }
        }
        let identity = |c: &SpeakerConfig| {
            (
                c.router_id,
                c.local_as,
                c.cluster_id,
                c.addresses.clone(),
                c.listen.clone(),
            )
        };
        if identity(&config) != identity(&self.config) {
            info!("router identity changed: restarting every session");
            let ids: Vec<PeerId> = self.neighbors.keys().copied().collect();
            for id in ids {
                self.remove_peer(id, cease_subcode::OTHER_CONFIGURATION_CHANGE);
            }
            let old_origin = std::mem::take(&mut self.config.originate);
            self.originate(&old_origin, &[]);
            if config.listen != self.config.listen {
                self.rebind(&config);
            }
            self.config = config.clone();
            self.policy = policy_of(&config);
            self.rib.set_local(self.local_info());
            self.originate(&[], &config.originate);
            for peer in config.peers {
                self.add_peer(peer);
            }
            return;
        }
        // Peers, by address and port.
        let key = |p: &PeerConfig| (p.address, p.port);
        let removed: Vec<PeerId> = self
            .neighbors
            .values()
            .filter(|n| !config.peers.iter().any(|p| key(p) == key(&n.config)))
            .map(|n| n.id)
            .collect();
        for id in removed {
            self.remove_peer(id, STOP_DECONFIGURED);
        }
        for peer in &config.peers {
            let existing = self
                .neighbors
                .values()
                .find(|n| key(&n.config) == key(peer))
                .map(|n| (n.id, n.config == *peer));
            match existing {
                Some((_, true)) => {}
                Some((id, false)) => {
                    self.remove_peer(id, cease_subcode::OTHER_CONFIGURATION_CHANGE);
                    self.add_peer(peer.clone());
                }
                None => self.add_peer(peer.clone()),
            }
        }
        let old_origin = std::mem::replace(&mut self.config.originate, config.originate.clone());
        self.originate(&old_origin, &config.originate);
        let policy = policy_of(&config);
        if policy != self.policy {
            // The export rule changed: every prefix is exported anew.
            self.policy = policy;
            self.dirty.extend(self.rib.prefixes());
        }
        self.config = config;
    }

    fn rebind(&mut self, config: &SpeakerConfig) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
        let events = self.events.clone();
        let (address, port) = (config.listen.address, config.listen.port);
        // Binding is quick; the accept loop starts when it is done.
        let handle = tokio::spawn(async move {
            match session::listen(address, port).await {
                Ok(listener) => {
                    let _ = session::accept_loop(listener, events).await;
                }
                Err(e) => warn!(error = %e, port, "cannot listen for BGP"),
            }
        });
        self.listener = Some(handle);
    }

    /// Replaces the originated routes `old` by `new`.
    fn originate(&mut self, old: &[proto::config::Originate], new: &[proto::config::Originate]) {
        for origin in old.iter().filter(|o| !new.contains(o)) {
            if self.rib.remove(origin.prefix, Source::Local, 0) {
                self.dirty.insert(origin.prefix);
            }
        }
        for origin in new.iter().filter(|o| !old.contains(o)) {
            let Some(next_hop) = self.config.address_for(origin.prefix.addr().is_ipv4()) else {
                warn!(prefix = %origin.prefix, "not announced: this node has no address of its family");
                continue;
            };
            let communities = origin
                .communities
                .iter()
                .filter_map(|c| proto::config::parse_community(c).map(Community))
                .collect();
            let attrs = RouteAttrs {
                attrs: PathAttributes {
                    origin: Some(Origin::Igp),
                    as_path: Some(AsPath::default()),
                    local_pref: Some(proto::config::DEFAULT_LOCAL_PREF),
                    communities,
                    ..PathAttributes::default()
                },
                next_hop,
                link_local: None,
            };
            let attrs = self.rib.intern(attrs);
            self.rib.insert(origin.prefix, Source::Local, 0, attrs);
            self.dirty.insert(origin.prefix);
        }
    }

    fn local_info(&self) -> SourceInfo {
        SourceInfo {
            ebgp: false,
            router_id: self.config.router_id,
            address: IpAddr::V4(self.config.router_id),
            rr_client: false,
        }
    }

    fn stop_all(&mut self) {
        let ids: Vec<PeerId> = self.neighbors.keys().copied().collect();
        for id in ids {
            self.remove_peer(id, STOP_ADMIN);
        }
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
    }

    /// The neighbors, for status.
    pub fn peers(&self) -> impl Iterator<Item = &Neighbor> {
        self.neighbors.values()
    }

    pub fn rib(&self) -> &LocRib {
        &self.rib
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
            .collect(),
        own_addresses: config.addresses.iter().map(IpNet::addr).collect(),
    }
}
