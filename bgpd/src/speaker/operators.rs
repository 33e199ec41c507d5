//! What operators ask of the speaker: status of the speaker, its peers and
//! routes; resets and route refreshes.

use ipnet::IpNet;
use tracing::info;

use super::Speaker;
use crate::events::PeerId;
use crate::fsm::Input;
use crate::neighbor::Neighbor;
use crate::packet::cease_subcode;
use crate::policy::LEARNED_PATH;
use crate::rib::Source;
use crate::status::{
    PathStatus, PeerStatus, Query, Refused, RestartStatus, RouteStatus, SessionStatus,
    SpeakerStatus,
};

impl Speaker {
    pub(super) fn answer(&mut self, query: Query) {
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
                    recovering: self.recovering,
                    prefixes: self.rib.len(),
                    attr_sets: self.rib.attr_sets(),
                    update_processing: self.update_processing.clone(),
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
                let _ = answer.send(self.reset(&name));
            }
            Query::Refresh(name, answer) => {
                let _ = answer.send(self.ask_refresh(&name));
            }
        }
    }

    /// Restarts a peer's session: a Cease, Administrative Reset (RFC 4486
    /// §4), then a new start.
    fn reset(&mut self, name: &str) -> Result<(), Refused> {
        let id = self
            .peer_named(name)
            .ok_or_else(|| Refused::NoSuchPeer(name.to_owned()))?;
        let session = self.neighbors[&id].primary.session;
        info!(peer = %self.neighbors[&id].name, "reset by an operator");
        let subcode = cease_subcode::ADMINISTRATIVE_RESET;
        self.step(id, session, Input::Stop { subcode });
        self.step(id, session, Input::Start);
        Ok(())
    }

    /// Asks a peer for its routes again, each family of the session (RFC
    /// 2918 §3), when the session is up and the peer offered it (§4).
    fn ask_refresh(&self, name: &str) -> Result<(), Refused> {
        let n = self
            .peer_named(name)
            .and_then(|id| self.neighbors.get(&id))
            .ok_or_else(|| Refused::NoSuchPeer(name.to_owned()))?;
        let up = n.up.as_ref().ok_or_else(|| Refused::NotEstablished {
            name: n.name.clone(),
            state: self.peer_status(n).bird_state(),
        })?;
        if !up.negotiated.route_refresh {
            return Err(Refused::NoRouteRefresh(n.name.clone()));
        }
        for family in up.negotiated.families.iter() {
            let refresh = crate::packet::RouteRefreshMessage::request(family);
            n.primary
                .send(&crate::packet::Message::RouteRefresh(refresh));
        }
        Ok(())
    }

    pub(super) fn peer_named(&self, name: &str) -> Option<PeerId> {
        self.neighbors
            .values()
            .find(|n| n.name == name || n.config.address.to_string() == name)
            .map(|n| n.id)
    }

    pub(super) fn peer_status(&self, n: &Neighbor) -> PeerStatus {
        let session = n.up.as_ref().map(|up| SessionStatus {
            peer_id: up.negotiated.peer_id,
            local_address: n.primary.conn.as_ref().map(|c| c.local.ip().to_canonical()),
            hold_time: up.negotiated.hold_time,
            families: up.negotiated.families.iter().collect(),
            four_octet_as: up.negotiated.four_octet_as,
            route_refresh: up.negotiated.route_refresh,
            extended_message: up.negotiated.extended_message,
            add_path_receive: up.negotiated.add_path_rx.iter().collect(),
            add_path_send: up.negotiated.add_path_tx.iter().collect(),
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
            restart: n.restart.as_ref().map(|r| RestartStatus {
                since: r.since,
                stale: self.rib.stale_count(n.id),
                reconnected: r.reconnected,
            }),
            bfd: n.config.bfd.map(|_| n.bfd_up),
        }
    }

    pub(super) fn route_status(&self, prefix: IpNet) -> RouteStatus {
        let multipath = self.rib.multipath(&prefix).len();
        let paths = self
            .rib
            .paths(&prefix)
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let a = &path.attrs.attrs;
                let learned = path.source == Source::Local && path.path_id >= LEARNED_PATH;
                PathStatus {
                    device: learned.then(|| self.learned_device(&prefix)).flatten(),
                    from: match path.source {
                        // BIRD's protocol names: the direct protocol's
                        // interface routes, the kernel protocol's others.
                        Source::Local if learned && self.learned_directly(&prefix) => {
                            crate::api::bird_routes::DIRECT.into()
                        }
                        Source::Local if learned => crate::api::bird_routes::KERNEL.into(),
                        Source::Local => "local".into(),
                        Source::Peer(id) => self
                            .neighbors
                            .get(&id)
                            .map_or_else(|| format!("peer {id}"), |n| n.name.clone()),
                    },
                    next_hop: path.attrs.next_hop,
                    origin: a.origin,
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
                    originator_id: a.originator_id,
                    cluster_list: a.cluster_list.clone(),
                    best: i == 0,
                    multipath: i < multipath,
                }
            })
            .collect();
        RouteStatus { prefix, paths }
    }
}
