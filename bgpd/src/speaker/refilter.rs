//! A peer whose BGPFilters changed keeps its session, as BIRD's
//! reconfiguration keeps it: export is recomputed and the peer is sent the
//! difference (announcements and withdrawals); for import, the peer is
//! asked for its routes again with ROUTE-REFRESH (RFC 2918 §3), which
//! `learn` filters as they come, and only a peer that cannot refresh has
//! its session started again.

use proto::config::{FilterConfig, PeerConfig, SpeakerConfig};
use tracing::{info, warn};

use super::Speaker;
use crate::events::PeerId;
use crate::packet::{cease_subcode, Family, Message, RouteRefreshMessage};

impl Speaker {
    /// Applies `peer`'s new filters (those of `config`, the configuration
    /// being applied).
    pub(super) fn refilter(&mut self, id: PeerId, peer: PeerConfig, config: &SpeakerConfig) {
        let Some(neighbor) = self.neighbors.get_mut(&id) else {
            return;
        };
        let old: Vec<FilterConfig> = self.config.filters_of(&neighbor.config).cloned().collect();
        let new: Vec<FilterConfig> = config.filters_of(&peer).cloned().collect();
        info!(peer = %neighbor.name, "filters changed: routes filtered again, the session kept");
        neighbor.config = peer;
        let Some(up) = neighbor.up.as_mut() else {
            return;
        };
        let import_changed: Vec<Family> = up
            .negotiated
            .families
            .iter()
            .filter(|family| {
                let ipv4 = *family == Family::Ipv4Unicast;
                let rules = |filters: &[FilterConfig]| -> Vec<proto::config::FilterRule> {
                    filters
                        .iter()
                        .flat_map(|f| f.rules(ipv4, true).iter().cloned())
                        .collect()
                };
                rules(&old) != rules(&new)
            })
            .collect();
        if !import_changed.is_empty() && !up.negotiated.route_refresh {
            warn!(peer = %neighbor.name, "import filters changed and the peer cannot refresh: session restarted");
            let config = neighbor.config.clone();
            self.remove_peer(id, cease_subcode::OTHER_CONFIGURATION_CHANGE);
            self.add_peer(config);
            return;
        }
        if up.class.filters != new {
            let old_class = up.class.clone();
            up.class.filters = new;
            let new_class = up.class.clone();
            if up.joined {
                let changes =
                    self.groups
                        .regroup(id, &old_class, &new_class, &self.rib, &self.policy);
                if let Some(conn) = &neighbor.primary.conn {
                    conn.send(changes);
                }
            }
        }
        let Some(conn) = &neighbor.primary.conn else {
            return;
        };
        let ctx = &up.class.encode;
        for family in import_changed {
            let request = Message::RouteRefresh(RouteRefreshMessage::request(family));
            match request.to_bytes(ctx) {
                Ok(bytes) => conn.send(bytes),
                Err(e) => warn!(peer = %neighbor.name, error = %e, "cannot encode ROUTE-REFRESH"),
            }
        }
    }
}
