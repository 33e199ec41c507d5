//! One configured peer: its FSM slot (and a second one while a connection
//! collision is being resolved, RFC 4271 §6.8), the connection and timers of
//! each, and what operators see of it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use proto::config::{LimitAction, PeerConfig, SpeakerConfig};
use tokio_util::time::delay_queue::{DelayQueue, Key};
use tracing::warn;

use crate::events::{PeerId, SessionId};
use crate::fsm::{Fsm, FsmConfig, Input, State, Timer};
use crate::packet::{
    cease_subcode, Capability, EncodeCtx, Family, Message, Negotiated, Notification,
};
use crate::policy::ExportClass;
use crate::session::Connection;

/// What a timer expiry names: which FSM instance, which timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerKey {
    pub peer: PeerId,
    pub session: SessionId,
    pub timer: Timer,
}

fn timer_index(timer: Timer) -> usize {
    match timer {
        Timer::ConnectRetry => 0,
        Timer::Hold => 1,
        Timer::Keepalive => 2,
        Timer::IdleHold => 3,
    }
}

/// One FSM instance with its connection and timers.
#[derive(Debug)]
pub struct Slot {
    pub session: SessionId,
    pub fsm: Fsm,
    pub conn: Option<Connection>,
    /// A connect for this slot is under way.
    pub connecting: bool,
    /// This side opened the connection (RFC 4271 §6.8 needs to know).
    pub initiated_locally: bool,
    pub encode: EncodeCtx,
    timers: [Option<Key>; 4],
}

impl Slot {
    pub fn new(session: SessionId, fsm: Fsm) -> Self {
        Self {
            session,
            fsm,
            conn: None,
            connecting: false,
            initiated_locally: false,
            encode: EncodeCtx::default(),
            timers: [None; 4],
        }
    }

    pub fn arm(&mut self, queue: &mut DelayQueue<TimerKey>, key: TimerKey, secs: u16) {
        let after = Duration::from_secs(u64::from(secs));
        if let (Timer::Keepalive, Some(conn)) = (key.timer, &self.conn) {
            // The writer's fallback, should the speaker run late.
            conn.liveness().set_keepalive(after);
        }
        self.arm_after(queue, key, after);
    }

    /// Like [`Slot::arm`], to the millisecond.
    pub fn arm_after(&mut self, queue: &mut DelayQueue<TimerKey>, key: TimerKey, after: Duration) {
        let slot = &mut self.timers[timer_index(key.timer)];
        match slot {
            Some(existing) => queue.reset(existing, after),
            None => *slot = Some(queue.insert(key, after)),
        }
    }

    pub fn cancel(&mut self, queue: &mut DelayQueue<TimerKey>, timer: Timer) {
        if let Some(key) = self.timers[timer_index(timer)].take() {
            queue.remove(&key);
        }
    }

    /// The timer fired: its key is no longer in the queue.
    pub fn fired(&mut self, timer: Timer) {
        self.timers[timer_index(timer)] = None;
    }

    /// Cancels every timer and closes the connection (the slot is going away).
    pub fn dispose(mut self, queue: &mut DelayQueue<TimerKey>) {
        for timer in [
            Timer::ConnectRetry,
            Timer::Hold,
            Timer::Keepalive,
            Timer::IdleHold,
        ] {
            self.cancel(queue, timer);
        }
        if let Some(conn) = self.conn.take() {
            conn.close();
        }
    }

    pub fn send(&self, message: &Message) {
        if let (Some(conn), Ok(bytes)) = (&self.conn, message.to_bytes(&self.encode)) {
            conn.send(bytes);
        }
    }
}

/// Counters and history operators see.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    pub messages_received: u64,
    pub messages_sent: u64,
    pub updates_received: u64,
    pub updates_sent: u64,
    pub prefixes_received: u64,
    pub prefixes_accepted: u64,
    /// Times BFD took the session down.
    pub bfd_downs: u64,
}

/// The peer while its session is Established.
#[derive(Clone, Debug)]
pub struct Up {
    pub negotiated: Negotiated,
    pub class: ExportClass,
    /// It has been sent the table and is in its update group; a restarting
    /// bgpd defers this until it has converged (RFC 4724 §4.1).
    pub joined: bool,
}

#[derive(Debug)]
pub struct Neighbor {
    pub id: PeerId,
    pub name: String,
    pub config: PeerConfig,
    pub primary: Slot,
    pub collision: Option<Slot>,
    pub up: Option<Up>,
    /// When the state operators see last changed.
    pub since: SystemTime,
    /// The last error, in BIRD's words.
    pub last_error: Option<String>,
    /// Families whose End-of-RIB arrived since the session came up.
    pub end_of_rib: crate::packet::FamilySet,
    pub stats: PeerStats,
    /// Over its `max_prefixes` with the warn action, already warned.
    pub over_limit: bool,
    /// The peer is in graceful restart: its routes are kept stale.
    pub restart: Option<crate::restart::PeerRestart>,
    /// The peer's BFD session is up (with `bfd` configured).
    pub bfd_up: bool,
    /// BFD took the session down: it stays down until BFD is up again
    /// (RFC 5882 §4.3).
    pub held_by_bfd: bool,
}

impl Neighbor {
    pub fn new(
        id: PeerId,
        config: PeerConfig,
        speaker: &SpeakerConfig,
        session: SessionId,
        recovering: bool,
    ) -> Self {
        let fsm = Fsm::new(fsm_config(&config, speaker, recovering));
        Self {
            id,
            name: config.protocol_name(),
            config,
            primary: Slot::new(session, fsm),
            collision: None,
            up: None,
            since: SystemTime::now(),
            last_error: None,
            end_of_rib: crate::packet::FamilySet::EMPTY,
            stats: PeerStats::default(),
            over_limit: false,
            restart: None,
            bfd_up: false,
            held_by_bfd: false,
        }
    }

    pub fn state(&self) -> State {
        self.primary.fsm.state()
    }

    /// What holding `paths` paths means under the peer's `max_prefixes`
    /// (BIRD's `receive limit`): over it, `warn` logs once per crossing;
    /// `restart` gives the FSM its Cease, "Maximum Number of Prefixes
    /// Reached" (RFC 4486 §4). The peer's paths go with the session, in the
    /// same batch, so none of them is sent on or installed.
    pub fn over_prefix_limit(&mut self, paths: usize) -> Option<Input> {
        let limit = self.config.max_prefixes?;
        if paths <= limit.limit as usize {
            self.over_limit = false;
            return None;
        }
        match limit.action {
            LimitAction::Warn if self.over_limit => None,
            LimitAction::Warn => {
                warn!(peer = %self.name, paths, limit = limit.limit, "more paths than max_prefixes");
                self.over_limit = true;
                None
            }
            LimitAction::Restart => {
                warn!(
                    peer = %self.name,
                    paths,
                    limit = limit.limit,
                    restart = limit.restart_time,
                    "more paths than max_prefixes: closing the session"
                );
                Some(Input::PrefixLimitExceeded {
                    notification: Notification::cease(cease_subcode::MAXIMUM_PREFIXES_REACHED),
                    restart: limit.restart_time,
                })
            }
        }
    }

    /// The established session's peer keeps its routes through a restart.
    pub fn restarts_gracefully(&self) -> bool {
        self.up
            .as_ref()
            .is_some_and(|up| !crate::restart::families_kept(&up.negotiated).is_empty())
    }

    pub fn slot_mut(&mut self, session: SessionId) -> Option<&mut Slot> {
        if self.primary.session == session {
            return Some(&mut self.primary);
        }
        self.collision
            .as_mut()
            .filter(|slot| slot.session == session)
    }

    pub fn is_external(&self, speaker: &SpeakerConfig) -> bool {
        self.config.remote_as != self.config.local_as.unwrap_or(speaker.local_as)
    }

    /// TTL security or multihop, as the peer's config asks (RFC 5082).
    pub fn ttl_policy(&self) -> Option<crate::session::sockopt::TtlPolicy> {
        crate::session::sockopt::TtlPolicy::of(self.config.ttl_security, self.config.multihop)
    }

    pub fn remote(&self) -> SocketAddr {
        SocketAddr::new(self.config.address, self.config.port)
    }

    /// The local address connections to this peer come from.
    pub fn source_address(&self, speaker: &SpeakerConfig) -> Option<IpAddr> {
        self.config
            .source_address
            .or_else(|| speaker.address_for(self.config.address.is_ipv4()))
    }

    /// The slot that must close, once the peer's identifier is known (see
    /// [`primary_loses_collision`]).
    pub fn collision_loser(&self, router_id: Ipv4Addr) -> Option<SessionId> {
        let collision = self.collision.as_ref()?;
        let peer_id = self.primary.fsm.peer_id().or(collision.fsm.peer_id())?;
        let loser = if primary_loses_collision(self.primary.initiated_locally, router_id, peer_id) {
            &self.primary
        } else {
            collision
        };
        Some(loser.session)
    }
}

/// RFC 4271 §6.8: the connection opened by the speaker with the higher BGP
/// Identifier survives. `primary_local` says whether this side opened the
/// primary connection (the other one was opened by the other side).
pub fn primary_loses_collision(primary_local: bool, local_id: Ipv4Addr, peer_id: Ipv4Addr) -> bool {
    let keep_local = local_id > peer_id;
    primary_local != keep_local
}

/// The FSM settings of one peer. `recovering`: this bgpd restarted with its
/// routes still in the kernel, and has not converged yet.
pub fn fsm_config(peer: &PeerConfig, speaker: &SpeakerConfig, recovering: bool) -> FsmConfig {
    let local_as = peer.local_as.unwrap_or(speaker.local_as).0;
    let mut capabilities: Vec<Capability> = Family::ALL
        .iter()
        .filter(|f| family_wanted(**f, peer, speaker))
        .map(|f| Capability::Multiprotocol((*f).into()))
        .collect();
    capabilities.push(Capability::RouteRefresh);
    capabilities.push(Capability::FourOctetAs(local_as));
    // RFC 4724 §3, as Calico's template (`graceful restart`) and `bird -R`:
    // the restart time peers should wait; while recovering from a restart,
    // the Restart State bit and, since the kernel kept forwarding with the
    // routes of the previous run, the Forwarding State bit of each family.
    capabilities.push(Capability::GracefulRestart(
        crate::packet::GracefulRestart {
            restarting: recovering,
            notification: false,
            restart_time: peer.restart_time.min(4095),
            families: Family::ALL
                .iter()
                .filter(|f| family_wanted(**f, peer, speaker))
                .map(|f| crate::packet::GracefulRestartFamily {
                    afi_safi: (*f).into(),
                    forwarding_preserved: recovering,
                })
                .collect(),
        },
    ));
    // ADD-PATH both ways (RFC 7911), as Calico's BIRD template's `add
    // paths on`: every path from peers that send them, and to peers that
    // take them every path of a prefix that may go to them (a reflector's
    // clients keep ECMP over routes announced by several nodes).
    capabilities.push(Capability::AddPath(
        Family::ALL
            .iter()
            .filter(|f| family_wanted(**f, peer, speaker))
            .map(|f| crate::packet::AddPathFamily {
                afi_safi: (*f).into(),
                mode: crate::packet::AddPathMode::Both,
            })
            .collect(),
    ));
    FsmConfig {
        local_as,
        remote_as: peer.remote_as.0,
        router_id: speaker.router_id,
        hold_time: peer.hold_time,
        keepalive_time: peer.keepalive_time,
        connect_retry: peer.connect_retry_time,
        connect_delay: peer.connect_delay_time,
        error_wait: peer.error_wait_time,
        passive: peer.passive,
        capabilities,
    }
}

/// A family is offered when this node has an address of it to put in next
/// hops, or the session runs over it.
fn family_wanted(family: Family, peer: &PeerConfig, speaker: &SpeakerConfig) -> bool {
    let v4 = family == Family::Ipv4Unicast;
    peer.address.is_ipv4() == v4 || speaker.address_for(v4).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_higher_identifier_keeps_the_connection_it_opened() {
        let (low, high) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        // We are higher: keep the connection we opened.
        assert!(!primary_loses_collision(true, high, low));
        assert!(primary_loses_collision(false, high, low));
        // We are lower: keep the one the peer opened.
        assert!(primary_loses_collision(true, low, high));
        assert!(!primary_loses_collision(false, low, high));
    }

    #[test]
    fn the_open_advertises_calicos_capabilities() {
        let speaker = SpeakerConfig::from_toml(
            "node_name = \"n\"\nrouter_id = \"10.0.0.1\"\nlocal_as = 64512\naddresses = [\"10.0.0.1/24\", \"fd00::1/64\"]",
        )
        .unwrap();
        let peer = PeerConfig::new(
            "10.0.0.2".parse().unwrap(),
            proto::config::Asn(64512),
            proto::config::PeerKind::Mesh,
        );
        let caps = fsm_config(&peer, &speaker, false).capabilities;
        let families = |c: &&Capability| matches!(c, Capability::Multiprotocol(_));
        assert_eq!(
            caps.iter().filter(families).count(),
            2,
            "IPv4 and IPv6: the node has both"
        );
        assert!(caps.iter().any(|c| matches!(c, Capability::GracefulRestart(gr) if gr.restart_time == 120 && gr.families.len() == 2 && !gr.restarting && gr.families.iter().all(|f| !f.forwarding_preserved))));
        let recovering = fsm_config(&peer, &speaker, true).capabilities;
        assert!(
            recovering.iter().any(|c| matches!(c, Capability::GracefulRestart(gr) if gr.restarting && gr.families.iter().all(|f| f.forwarding_preserved))),
            "bird -R: the Restart State and Forwarding State bits"
        );
        assert!(caps.contains(&Capability::FourOctetAs(64512)));
        assert!(caps.iter().any(|c| matches!(c, Capability::AddPath(f) if f.iter().all(|f| f.mode == crate::packet::AddPathMode::Both))));
    }
}
