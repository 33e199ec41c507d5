//! BFD for BGP (RFC 5882): the speaker has BFD watch each peer configured
//! for it. A BFD session going down takes the BGP session down at once (a
//! Cease, BFD Down, RFC 9384, which the dead peer will not read), its
//! routes with it, and holds it down until BFD is up again (§4.3).

use std::net::IpAddr;
use std::time::Duration;

use tracing::{info, warn};

use super::Speaker;
use crate::bfd::session::{Change, Timers};
use crate::bfd::{Report, Watch};
use crate::events::{Event, PeerId};
use crate::fsm::Input;
use crate::packet::cease_subcode;

/// Why the session ended, as BIRD shows it after the state.
pub(super) const BFD_DOWN: &str = "Error: BFD session down";

impl Speaker {
    /// Starts watching a peer configured for BFD; BFD itself starts with
    /// the first such peer.
    pub(super) fn bfd_watch(&mut self, id: PeerId) {
        let Some(neighbor) = self.neighbors.get(&id) else {
            return;
        };
        let Some(bfd) = neighbor.config.bfd else {
            return;
        };
        let peer = neighbor.config.address;
        let watch = Watch {
            peer,
            local: neighbor.source_address(&self.config),
            // RFC 5881 for a peer on one of the node's subnets; RFC 5883
            // (any TTL) for one beyond a router.
            multihop: !self.config.addresses.iter().any(|net| net.contains(&peer)),
            timers: Timers {
                desired_min_tx: Duration::from_millis(bfd.min_tx_ms.into()),
                required_min_rx: Duration::from_millis(bfd.min_rx_ms.into()),
                multiplier: bfd.multiplier,
            },
        };
        if self.bfd.is_none() {
            let events = self.events.clone();
            let report: Report = Box::new(move |peer, change| {
                let _ = events.send(Event::Bfd { peer, change });
            });
            match self.network.bfd(report) {
                Ok(watcher) => self.bfd = Some(watcher),
                Err(e) => {
                    warn!(error = %e, "cannot start BFD: peers are watched by their hold timers only");
                    return;
                }
            }
        }
        if let Some(bfd) = &self.bfd {
            bfd.watch(watch);
        }
    }

    /// Stops watching a peer that BFD watched.
    pub(super) fn bfd_forget(&mut self, peer: IpAddr) {
        if let Some(bfd) = &self.bfd {
            bfd.forget(peer);
        }
    }

    /// A watched peer's BFD session came up or went down.
    pub(super) fn bfd_changed(&mut self, address: IpAddr, change: Change) {
        let Some(id) = self
            .neighbors
            .values()
            .find(|n| n.config.address == address && n.config.bfd.is_some())
            .map(|n| n.id)
        else {
            return;
        };
        let neighbor = self.neighbors.get_mut(&id).expect("found above");
        let session = neighbor.primary.session;
        match change {
            Change::Up => {
                neighbor.bfd_up = true;
                if std::mem::take(&mut neighbor.held_by_bfd) {
                    info!(peer = %neighbor.name, "BFD session up: the session starts again");
                    self.step(id, session, Input::Start);
                }
            }
            Change::Down(why) => {
                neighbor.bfd_up = false;
                neighbor.held_by_bfd = true;
                neighbor.stats.bfd_downs += 1;
                warn!(peer = %neighbor.name, why = why.describe(), "BFD session down: the session ends");
                let subcode = cease_subcode::BFD_DOWN;
                self.step(id, session, Input::Stop { subcode });
                if let Some(neighbor) = self.neighbors.get_mut(&id) {
                    neighbor.last_error = Some(BFD_DOWN.into());
                }
            }
        }
    }
}
