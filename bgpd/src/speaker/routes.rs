//! Routes: UPDATEs into the RIB, End-of-RIB and convergence, route refresh,
//! and the flush of changed prefixes to peers and to the kernel.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;
use proto::config::{FilterAction, FilterConfig, FilterRule, OriginKind};
use routesync::{FibEntry, FibUpdate};
use tracing::{debug, info, warn};

use super::{Speaker, DIRTY_ROOM};
use crate::events::PeerId;
use crate::fsm::Input;
use crate::packet::{AttrAction, NextHop, Nlri, PathAttributes, UpdateMessage};
use crate::policy::filter::{self, FilterRoute};
use crate::policy::{accept_import, import_attrs, PeerImport};
use crate::priority;
use crate::restart::end_of_rib_awaited;
use crate::rib::{RouteAttrs, Source};

impl Speaker {
    /// Takes an UPDATE into the RIB. Returns what the session's FSM is to
    /// be fed next, when the UPDATE ends the session.
    pub(super) fn receive(&mut self, peer: PeerId, update: UpdateMessage) -> Option<Input> {
        let neighbor = self.neighbors.get_mut(&peer)?;
        neighbor.stats.updates_received += 1;
        let name = neighbor.name.clone();
        for error in &update.errors {
            warn!(peer = %name, %error, "malformed attribute (RFC 7606)");
        }
        // A session reset never gets here: the decoder returns it as an error.
        if let Some(AttrAction::AfiSafiDisable { .. }) = update.action() {
            // Disabling one family is done as RFC 4760 leaves open: the
            // session restarts, which clears the family's routes.
            return update
                .errors
                .iter()
                .find(|e| matches!(e.action, AttrAction::AfiSafiDisable { .. }))
                .map(|error| Input::DecodeError(error.notification.clone()));
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
        if let Some(over) = self.over_prefix_limit(peer) {
            return Some(over);
        }
        if let Some(family) = update.end_of_rib_family() {
            debug!(peer = %name, %family, "End-of-RIB");
            if let Some(neighbor) = self.neighbors.get_mut(&peer) {
                neighbor.end_of_rib = neighbor.end_of_rib.with(family);
            }
            self.end_of_rib_swept(peer, family);
            self.check_converged();
        }
        None
    }

    /// Holds the peer to its `max_prefixes`: the input that ends the
    /// session, when it is over; see [`Neighbor::over_prefix_limit`].
    fn over_prefix_limit(&mut self, peer: PeerId) -> Option<Input> {
        let neighbor = self.neighbors.get_mut(&peer)?;
        neighbor.config.max_prefixes?;
        let paths = self.rib.peer_path_count(peer);
        neighbor.over_prefix_limit(paths)
    }

    /// RFC 4724 §2: a peer's table is complete at its End-of-RIB. Once every
    /// configured peer is up and has sent one per family (or sends none
    /// worth waiting for, see [`end_of_rib_awaited`]), the FIB may sweep
    /// what a previous run left, and a restarting bgpd sends its own table.
    pub(super) fn check_converged(&mut self) {
        if self.converged {
            return;
        }
        let complete = self.neighbors.values().all(|n| {
            n.up.as_ref().is_some_and(|up| {
                !end_of_rib_awaited(&up.negotiated)
                    || up.class.families.iter().all(|f| n.end_of_rib.contains(f))
            })
        });
        if complete {
            info!(peers = self.neighbors.len(), "every peer sent its table");
            self.converged = true;
            self.end_recovery();
            self.fib.converged();
        }
    }

    /// Puts `prefixes` in the RIB with `base` and `next_hop`, or removes them
    /// when there is no usable next hop or import refuses the path. Returns
    /// (received, accepted).
    pub(super) fn learn(
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
        let import = self.neighbors.get(&peer).map_or(
            PeerImport {
                local_as: self.policy.local_as,
                allow_local_as: 0,
            },
            |n| PeerImport {
                local_as: n.config.local_as.map_or(self.policy.local_as, |a| a.0),
                allow_local_as: n.config.allow_local_as,
            },
        );
        let attrs = next_hop
            .map(|(next_hop, link_local)| RouteAttrs {
                attrs: base.clone(),
                next_hop,
                link_local,
                device: self.device_toward(next_hop),
            })
            .filter(|attrs| accept_import(attrs, &info, import, &self.policy))
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
        // The peer's import filters, per prefix (none for most peers, and
        // then nothing is allocated).
        let filters: Vec<&FilterConfig> = match self.neighbors.get(&peer) {
            Some(neighbor) => self.config.filters_of(&neighbor.config).collect(),
            None => Vec::new(),
        };
        // The attributes each accepting rule with operations made of this
        // UPDATE's, made once per rule.
        let mut changed: Vec<(*const FilterRule, Arc<RouteAttrs>)> = Vec::new();
        let mut accepted = 0;
        for nlri in prefixes {
            let path_id = nlri.path_id.unwrap_or(0);
            let route = FilterRoute {
                prefix: nlri.prefix,
                from_peer: true,
                interface: attrs.device.as_deref(),
                internal_peer: !info.ebgp,
                attrs: &attrs.attrs,
                local_pref: attrs.attrs.local_pref,
            };
            let rule = filter::decide(filters.iter().copied(), true, &route);
            let learned = match rule {
                Some(rule) if rule.action == FilterAction::Reject => {
                    if self.rib.remove(nlri.prefix, Source::Peer(peer), path_id) {
                        self.dirty.insert(nlri.prefix);
                    }
                    continue;
                }
                Some(rule) if !rule.operations.is_empty() => {
                    let key = std::ptr::from_ref(rule);
                    match changed.iter().find(|(k, _)| *k == key) {
                        Some((_, made)) => made.clone(),
                        None => {
                            let mut made = (*attrs).clone();
                            filter::apply(&rule.operations, &mut made.attrs);
                            let made = self.rib.intern(made);
                            changed.push((key, made.clone()));
                            made
                        }
                    }
                }
                _ => attrs.clone(),
            };
            self.rib
                .insert(nlri.prefix, Source::Peer(peer), path_id, learned);
            self.dirty.insert(nlri.prefix);
            accepted += 1;
        }
        (prefixes.len() as u64, accepted)
    }

    /// RFC 2918: send the family's table again.
    pub(super) fn refresh(&mut self, peer: PeerId, refresh: crate::packet::RouteRefreshMessage) {
        let Some(neighbor) = self.neighbors.get(&peer) else {
            return;
        };
        let (Some(up), Some(family)) = (&neighbor.up, refresh.family()) else {
            return;
        };
        // Not joined yet: the table it asks for is on its way.
        if refresh.subtype != crate::packet::RefreshSubtype::Request
            || !up.class.families.contains(family)
            || !up.joined
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
    pub(super) fn flush(&mut self) {
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
    pub(super) fn program_fib(&mut self, prefixes: Vec<IpNet>) {
        let updates = prefixes
            .into_iter()
            .map(|prefix| {
                if let Some(route) = self.static_route(&prefix) {
                    return route;
                }
                let paths = self.rib.multipath(&prefix);
                let entry = match paths.first() {
                    None => FibEntry::Remove,
                    Some(best) if best.source == Source::Local => {
                        // Only this node's blocks (a few) are looked up,
                        // and only for its own routes.
                        let block = |o: &proto::config::Originate| {
                            o.kind == OriginKind::Block && o.prefix == prefix
                        };
                        if self.config.originate.iter().any(block) {
                            FibEntry::Blackhole
                        } else {
                            FibEntry::Remove
                        }
                    }
                    Some(best) => {
                        let mut hops: routesync::NextHopList =
                            paths.iter().map(|p| p.attrs.next_hop).collect();
                        hops.sort();
                        hops.dedup();
                        let metric = priority::metric_of(
                            best.attrs.attrs.local_pref,
                            &prefix,
                            &self.config.kernel.route_priority,
                        );
                        FibEntry::NextHops { hops, metric }
                    }
                };
                FibUpdate { prefix, entry }
            })
            .collect();
        self.fib.apply(updates);
    }
}
