//! Sessions: FSM inputs and what they say to do, connections accepted and
//! opened, collisions, and peers coming up and going down.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, info, warn};

use super::{close_with_cease, v4_of, v6_of, Speaker};
use crate::events::{Event, PeerId, SessionId};
use crate::fsm::{DownReason, Fsm, Input, Output, State};
use crate::neighbor::{fsm_config, Slot, TimerKey, Up};
use crate::packet::cease_subcode;
use crate::policy::ExportClass;
use crate::rib::SourceInfo;
use crate::session::{self, Connection, Stream};

impl Speaker {
    /// Feeds one input to one FSM and carries out what it says. What it says
    /// may lead to another input for the same FSM (an UPDATE over the
    /// prefix limit, a family to disable): that one is fed next, here, so
    /// the FSM is never entered while its outputs are still being carried
    /// out.
    pub(super) fn step(&mut self, peer: PeerId, session: SessionId, input: Input) {
        let mut pending = Some(input);
        while let Some(input) = pending.take() {
            let Some(neighbor) = self.neighbors.get_mut(&peer) else {
                return;
            };
            let Some(slot) = neighbor.slot_mut(session) else {
                return;
            };
            let outputs = slot.fsm.process(input);
            let is_primary = neighbor.primary.session == session;
            pending = self.carry_out(peer, session, is_primary, outputs);
        }
        self.resolve_collision(peer);
    }

    /// Carries out an FSM's outputs, in order; returns the input they lead
    /// to, if any.
    fn carry_out(
        &mut self,
        peer: PeerId,
        session: SessionId,
        is_primary: bool,
        outputs: impl IntoIterator<Item = Output>,
    ) -> Option<Input> {
        let mut follow_up = None;
        for output in outputs {
            if let Some(input) = self.apply(peer, session, is_primary, output) {
                follow_up = Some(input);
            }
        }
        follow_up
    }

    /// Carries out one output; returns the input it leads to, if any.
    fn apply(
        &mut self,
        peer: PeerId,
        session: SessionId,
        is_primary: bool,
        output: Output,
    ) -> Option<Input> {
        let neighbor = self.neighbors.get_mut(&peer)?;
        let connect_to = matches!(output, Output::Connect).then(|| session::ConnectTo {
            remote: neighbor.remote(),
            source: neighbor.source_address(&self.config),
            timeout: Duration::from_secs(u64::from(neighbor.config.connect_retry_time.max(1))),
            password: neighbor.config.password.clone(),
            ttl: neighbor.ttl_policy(),
        });
        let name = neighbor.name.clone();
        let slot = neighbor.slot_mut(session)?;
        let key = |timer| TimerKey {
            peer,
            session,
            timer,
        };
        match output {
            Output::Connect => {
                slot.connecting = true;
                if let Some(to) = connect_to {
                    self.network.connect(peer, session, to, self.events.clone());
                }
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
            Output::Update(update) => return self.receive(peer, update),
            Output::RouteRefresh(refresh) => self.refresh(peer, refresh),
        }
        None
    }

    pub(super) fn accepted(&mut self, stream: Stream, remote: SocketAddr) {
        let Some(peer) = self
            .neighbors
            .values()
            .find(|n| n.config.address == remote.ip())
            .map(|n| n.id)
        else {
            warn!(%remote, "connection refused: not a configured peer");
            return;
        };
        let state = self.neighbors[&peer].state();
        // RFC 5082 §3: from now on, what arrives from further away than the
        // peer may be is dropped by the kernel (the listener is shared, so
        // its handshake could not be checked).
        if let Some(ttl) = self.neighbors[&peer].ttl_policy() {
            if let Err(e) = stream.apply_ttl(ttl) {
                warn!(%remote, error = %e, "cannot set the TTL rules: connection refused");
                return;
            }
        }
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
                match start_connection(
                    &self.events,
                    &self.writers,
                    stream,
                    (peer, session),
                    slot.fsm.open(),
                ) {
                    Ok(conn) => {
                        slot.conn = Some(conn);
                        self.step(peer, session, Input::TcpConnected);
                    }
                    Err(e) => debug!(%remote, error = %e, "accepted connection failed"),
                }
            }
            // RFC 4271 §6.8: keep both until the identifiers decide. And RFC
            // 4724 §4.2: a peer that can restart gracefully may connect again
            // while its session is Established, having restarted before its
            // old connection was seen to close; the new one is held aside
            // until its OPEN shows that (see `resolve_collision`).
            State::OpenSent | State::OpenConfirm | State::Established
                if self.neighbors[&peer].collision.is_none()
                    && (state != State::Established
                        || self.neighbors[&peer].restarts_gracefully()) =>
            {
                let session = self.new_session();
                let neighbor = self.neighbors.get_mut(&peer).expect("looked up above");
                let mut slot = Slot::new(
                    session,
                    Fsm::new(fsm_config(&neighbor.config, &self.config, self.recovering)),
                );
                match start_connection(
                    &self.events,
                    &self.writers,
                    stream,
                    (peer, session),
                    slot.fsm.open(),
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

    pub(super) fn connected(
        &mut self,
        peer: PeerId,
        session: SessionId,
        result: std::io::Result<Stream>,
    ) {
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
                match start_connection(
                    &self.events,
                    &self.writers,
                    stream,
                    (peer, session),
                    slot.fsm.open(),
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
    pub(super) fn resolve_collision(&mut self, peer: PeerId) {
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        if neighbor.state() == State::Established {
            self.restarted_peer_reconnects(peer);
            return;
        }
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

    /// RFC 4271 §6.8 keeps an Established session over a new connection,
    /// but RFC 4724 §4.2 says an OPEN on it from a peer that can restart
    /// gracefully means the peer restarted: the old session ends as if its
    /// connection had closed (its routes kept, stale), and the new one
    /// takes its place. A connection that closes before its OPEN (the
    /// late half of a collision) changes nothing.
    fn restarted_peer_reconnects(&mut self, peer: PeerId) {
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        if neighbor
            .collision
            .as_ref()
            .is_none_or(|slot| slot.fsm.peer_id().is_none())
        {
            return;
        }
        info!(peer = %neighbor.name, "a new session from the peer: graceful restart");
        let old = neighbor.primary.session;
        let outputs = neighbor.primary.fsm.process(Input::TcpFails {
            reason: "Graceful restart".into(),
        });
        if let Some(input) = self.carry_out(peer, old, true, outputs) {
            self.step(peer, old, input);
        }
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        if let Some(new) = neighbor.collision.take() {
            let old = std::mem::replace(&mut neighbor.primary, new);
            old.dispose(&mut self.timers);
        }
    }

    pub(super) fn established(
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
            filters: self.config.filters_of(&neighbor.config).cloned().collect(),
        };
        info!(peer = %neighbor.name, address = %neighbor.config.address, "established");
        neighbor.last_error = None;
        neighbor.end_of_rib = crate::packet::FamilySet::EMPTY;
        // RFC 4724 §4.1: a restarting bgpd sends its table once it has
        // every peer's (see `end_recovery`).
        let joined = !self.recovering;
        neighbor.up = Some(Up {
            negotiated: negotiated.clone(),
            class: class.clone(),
            joined,
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
        if joined {
            let table = self.groups.join(peer, &class, &self.rib, &self.policy);
            if let Some(conn) = &neighbor.primary.conn {
                conn.send(table);
            }
        }
        self.peer_back(peer, &negotiated);
    }

    pub(super) fn down(&mut self, peer: PeerId, reason: DownReason) {
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
        let up = neighbor.up.take();
        if let Some(up) = up.as_ref().filter(|up| up.joined) {
            self.groups.leave(peer, &up.class);
        }
        match up {
            // RFC 4724 §4.2: the connection ended without a NOTIFICATION.
            Some(up) if matches!(reason, DownReason::Connection(_)) => {
                self.peer_restarting(peer, &up.negotiated);
            }
            // A new session failing while the old one's routes wait for it
            // changes nothing: the restart timer still runs.
            None if neighbor.restart.is_some() => {}
            _ => self.forget_routes_of(peer),
        }
    }
}

/// Starts the reader and writer of a connection of (peer, session).
fn start_connection(
    events: &UnboundedSender<Event>,
    writers: &tokio_util::task::TaskTracker,
    stream: Stream,
    ids: (PeerId, SessionId),
    open: &crate::packet::OpenMessage,
) -> std::io::Result<Connection> {
    Connection::start(stream, ids, open.clone(), events.clone(), writers)
}
