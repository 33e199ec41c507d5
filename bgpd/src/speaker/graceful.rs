//! Graceful restart as the receiving speaker (RFC 4724 §4.2): a peer's
//! routes kept stale through its restart, and swept by its End-of-RIB, by a
//! session without the forwarding state, or by its timers. The rules are in
//! [`crate::restart`].

use std::time::SystemTime;

use tracing::{info, warn};

use super::{RestartTimer, Speaker};
use crate::events::PeerId;
use crate::neighbor::fsm_config;
use crate::packet::{Family, FamilySet, Negotiated};
use crate::restart::{families_kept, families_lost, restart_time, PeerRestart, STALE_PATH_TIME};

impl Speaker {
    /// The established session with `peer` ended without a NOTIFICATION:
    /// its routes of the families it can restart stay, stale, for its
    /// restart time; the others go.
    pub(super) fn peer_restarting(&mut self, peer: PeerId, negotiated: &Negotiated) {
        let kept = families_kept(negotiated);
        if kept.is_empty() {
            self.forget_routes_of(peer);
            return;
        }
        let gone = self.rib.mark_stale(peer, kept);
        self.dirty.extend(gone);
        let after = restart_time(negotiated);
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        // A second restart before the End-of-RIB of the first: what came
        // since is stale too, and the restart time starts again.
        if let Some(old) = neighbor.restart.take() {
            self.restarts.remove(&old.timer);
        }
        info!(
            peer = %neighbor.name,
            stale = self.rib.stale_count(peer),
            restart_time = after.as_secs(),
            "graceful restart: routes kept until the peer is back"
        );
        neighbor.restart = Some(PeerRestart {
            stale: kept,
            since: SystemTime::now(),
            reconnected: false,
            timer: self.restarts.insert(RestartTimer::Peer(peer), after),
        });
    }

    /// Every route of `peer` goes, stale or not, and any restart with it.
    pub(super) fn forget_routes_of(&mut self, peer: PeerId) {
        if let Some(restart) = self.neighbors.get_mut(&peer).and_then(|n| n.restart.take()) {
            self.restarts.remove(&restart.timer);
        }
        let gone = self.rib.remove_peer(peer);
        self.dirty.extend(gone);
    }

    /// A new session with a restarting peer is up: families it did not
    /// preserve forwarding for are swept now; the rest wait for End-of-RIB,
    /// at most the stale-path time.
    pub(super) fn peer_back(&mut self, peer: PeerId, negotiated: &Negotiated) {
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        let Some(mut restart) = neighbor.restart.take() else {
            return;
        };
        self.restarts.remove(&restart.timer);
        let carried = restart
            .stale
            .iter()
            .filter(|&f| negotiated.families.contains(f))
            .fold(FamilySet::EMPTY, FamilySet::with);
        let lost = families_lost(carried, negotiated.peer_graceful_restart.as_ref());
        info!(
            peer = %neighbor.name,
            waiting = ?restart.stale.iter().filter(|&f| carried.contains(f) && !lost.contains(f)).collect::<Vec<_>>(),
            swept = ?restart.stale.iter().filter(|&f| lost.contains(f) || !carried.contains(f)).collect::<Vec<_>>(),
            "graceful restart: the peer is back; stale routes wait for End-of-RIB where forwarding was preserved"
        );
        for family in restart.stale.iter() {
            if lost.contains(family) || !carried.contains(family) {
                restart.stale = restart.stale.without(family);
                let gone = self.rib.sweep_stale(peer, family);
                self.dirty.extend(gone);
            }
        }
        if restart.stale.is_empty() {
            return;
        }
        restart.reconnected = true;
        restart.timer = self
            .restarts
            .insert(RestartTimer::Peer(peer), STALE_PATH_TIME);
        let neighbor = self.neighbors.get_mut(&peer).expect("looked up above");
        neighbor.restart = Some(restart);
    }

    /// The peer's End-of-RIB for `family`: what it did not send again goes.
    pub(super) fn end_of_rib_swept(&mut self, peer: PeerId, family: Family) {
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        let Some(restart) = &mut neighbor.restart else {
            return;
        };
        if !restart.reconnected || !restart.stale.contains(family) {
            return;
        }
        restart.stale = restart.stale.without(family);
        if restart.stale.is_empty() {
            let timer = neighbor.restart.take().expect("matched above").timer;
            self.restarts.remove(&timer);
            info!(peer = %neighbor.name, "graceful restart complete");
        }
        let gone = self.rib.sweep_stale(peer, family);
        self.dirty.extend(gone);
    }

    /// The restart time passed without a new session, or the stale-path
    /// time without End-of-RIB: the stale routes go.
    pub(super) fn restart_expired(&mut self, peer: PeerId) {
        let Some(neighbor) = self.neighbors.get_mut(&peer) else {
            return;
        };
        let Some(restart) = neighbor.restart.take() else {
            return;
        };
        warn!(
            peer = %neighbor.name,
            stale = self.rib.stale_count(peer),
            reconnected = restart.reconnected,
            "graceful restart given up: stale routes removed"
        );
        for family in restart.stale.iter() {
            let gone = self.rib.sweep_stale(peer, family);
            self.dirty.extend(gone);
        }
    }

    /// This bgpd's own restart is over (every peer sent its table, or the
    /// deferral timer ran out): OPENs from now on carry neither the Restart
    /// State nor the Forwarding State bit, and every peer that is up gets
    /// the table, then End-of-RIB, so it may sweep what this node no longer
    /// announces.
    pub(super) fn end_recovery(&mut self) {
        if !self.recovering {
            return;
        }
        self.recovering = false;
        if let Some(deferral) = self.deferral.take() {
            self.restarts.remove(&deferral);
        }
        // What changed since the last flush goes first, to the peers that
        // have the table; those joining now get the RIB as it stands.
        self.flush();
        let ids: Vec<PeerId> = self.neighbors.keys().copied().collect();
        for id in ids {
            let neighbor = self.neighbors.get_mut(&id).expect("listed above");
            let capabilities = fsm_config(&neighbor.config, &self.config, false).capabilities;
            neighbor.primary.fsm.set_capabilities(capabilities.clone());
            if let Some(slot) = &mut neighbor.collision {
                slot.fsm.set_capabilities(capabilities);
            }
            let Some(up) = neighbor.up.as_mut().filter(|up| !up.joined) else {
                continue;
            };
            up.joined = true;
            let table = self.groups.join(id, &up.class, &self.rib, &self.policy);
            if let Some(conn) = &neighbor.primary.conn {
                conn.send(table);
            }
        }
        info!("graceful restart recovery done: the table is sent to every peer");
    }
}
