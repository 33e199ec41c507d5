//! Configuration: peers added, removed and changed, the router identity,
//! the listening socket and the originated routes.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use proto::config::{PeerConfig, SpeakerConfig};
use routesync::{FibEntry, FibUpdate};
use tracing::{info, warn};

use super::{policy_of, Speaker};
use crate::config_diff::ConfigDiff;
use crate::events::{PeerId, SessionId, Stop};
use crate::fsm::{Input, STOP_ADMIN, STOP_DECONFIGURED};
use crate::neighbor::Neighbor;
use crate::packet::{cease_subcode, AsPath, Origin, PathAttributes};
use crate::priority;
use crate::rib::{RouteAttrs, Source, SourceInfo};
use crate::session;

impl Speaker {
    pub(super) fn new_session(&mut self) -> SessionId {
        let id = self.next_session;
        self.next_session += 1;
        id
    }

    pub(super) fn add_peer(&mut self, config: PeerConfig) {
        let id = self.next_peer;
        self.next_peer += 1;
        let session = self.new_session();
        let neighbor = Neighbor::new(id, config, &self.config, session, self.recovering);
        info!(peer = %neighbor.name, address = %neighbor.config.address, "peer added");
        self.neighbors.insert(id, neighbor);
        self.listen_key(id, true);
        self.bfd_watch(id);
        self.step(id, session, Input::Start);
    }

    pub(super) fn remove_peer(&mut self, id: PeerId, subcode: u8) {
        let Some(neighbor) = self.neighbors.get(&id) else {
            return;
        };
        let session = neighbor.primary.session;
        let watched = neighbor.config.bfd.map(|_| neighbor.config.address);
        self.step(id, session, Input::Stop { subcode });
        self.listen_key(id, false);
        if let Some(peer) = watched {
            self.bfd_forget(peer);
        }
        if let Some(mut neighbor) = self.neighbors.remove(&id) {
            if let Some(up) = neighbor.up.take() {
                self.groups.leave(id, &up.class);
            }
            if let Some(slot) = neighbor.collision.take() {
                slot.dispose(&mut self.timers);
            }
            neighbor.primary.dispose(&mut self.timers);
            if let Some(restart) = neighbor.restart.take() {
                self.restarts.remove(&restart.timer);
            }
        }
        let gone = self.rib.forget_peer(id);
        self.dirty.extend(gone);
    }

    /// Applies a new configuration, as [`ConfigDiff`] says: peers added,
    /// removed or changed are the only sessions touched (Calico's confd
    /// reloads flap them all; this does not). A change of identity (router
    /// id, AS, cluster, addresses, listen) restarts every session.
    pub(super) fn reconfigure(&mut self, config: SpeakerConfig) {
        let diff = ConfigDiff::between(&self.config, &config);
        if !diff.is_empty() {
            info!(%diff, "applying a configuration");
        }
        if config.kernel.route_priority != self.config.kernel.route_priority {
            // This node's routes carry the normal priority as LOCAL_PREF:
            // announced anew. Every BGP route's metric may follow it: the
            // policy changes with it, so every prefix is flushed again.
            let origin = std::mem::take(&mut self.config.originate);
            self.originate(&origin, &[]);
            self.config.kernel.route_priority = config.kernel.route_priority;
            self.originate(&[], &origin);
            self.config.originate = origin;
        }
        if diff.kernel {
            self.reconfigure_kernel(&config);
        }
        if diff.identity {
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
            self.offer_all_learned();
            for peer in config.peers {
                self.add_peer(peer);
            }
            self.route_to_peers();
            return;
        }
        let by_key: HashMap<(IpAddr, u16), PeerId> = self
            .neighbors
            .values()
            .map(|n| ((n.config.address, n.config.port), n.id))
            .collect();
        for key in &diff.removed {
            if let Some(id) = by_key.get(key) {
                self.remove_peer(*id, STOP_DECONFIGURED);
            }
        }
        for peer in diff.changed {
            if let Some(id) = by_key.get(&(peer.address, peer.port)) {
                self.remove_peer(*id, cease_subcode::OTHER_CONFIGURATION_CHANGE);
            }
            self.add_peer(peer);
        }
        for peer in diff.added {
            self.add_peer(peer);
        }
        for peer in diff.refiltered {
            if let Some(id) = by_key.get(&(peer.address, peer.port)) {
                self.refilter(*id, peer, &config);
            }
        }
        if diff.originate {
            let old_origin =
                std::mem::replace(&mut self.config.originate, config.originate.clone());
            self.originate(&old_origin, &config.originate);
        }
        let policy = policy_of(&config);
        let relearn = policy != self.policy
            || diff.originate
            || config.kernel.cluster_routes != self.config.kernel.cluster_routes
            || config.kernel.tunnel_device != self.config.kernel.tunnel_device;
        if policy != self.policy {
            // The export rule changed: every prefix is exported anew.
            self.policy = policy;
            self.dirty.extend(self.rib.prefixes());
        }
        self.config = config;
        self.route_to_peers();
        if relearn {
            self.offer_all_learned();
        }
    }

    /// The kernel section or the node's addresses changed: routesync is
    /// told; turned off, it removes our routes; turned on, it gets them all.
    fn reconfigure_kernel(&mut self, config: &SpeakerConfig) {
        let was_enabled = self.config.kernel.enabled;
        if was_enabled && !config.kernel.enabled {
            // routesync removes our kernel routes; then it forgets them,
            // holding nothing while off.
            self.fib.reconfigure(config);
            let every: Vec<FibUpdate> = self
                .rib
                .prefixes()
                .chain(self.reachable.keys().copied())
                .map(|prefix| FibUpdate {
                    prefix,
                    entry: FibEntry::Remove,
                })
                .collect();
            self.fib.apply(every);
        } else {
            self.fib.reconfigure(config);
        }
        if !was_enabled && config.kernel.enabled {
            self.config.kernel = config.kernel.clone();
            let every: Vec<IpNet> = self
                .rib
                .prefixes()
                .chain(self.reachable.keys().copied())
                .collect();
            self.program_fib(every);
        }
    }

    /// The node can run no BGP any more (it lost its address, or its Node
    /// went): every session ends, as when Calico's BIRD is configured with
    /// none. The identity and the originated routes stay, so the kernel
    /// keeps this node's blackholes, and the next configuration brings the
    /// peers back.
    pub(super) fn deconfigure(&mut self) {
        let ids: Vec<PeerId> = self.neighbors.keys().copied().collect();
        if !ids.is_empty() {
            info!(
                peers = ids.len(),
                "BGP is off on this node: every session ends"
            );
        }
        for id in ids {
            self.remove_peer(id, STOP_DECONFIGURED);
        }
        self.config.peers.clear();
        self.route_to_peers();
    }

    pub(super) fn rebind(&mut self, config: &SpeakerConfig) {
        let (addresses, port) = (&config.listen.addresses, config.listen.port);
        if let Err(e) = self.network.listen(addresses, port, &self.events) {
            warn!(error = %e, ?addresses, port, "cannot listen for BGP");
            return;
        }
        let ids: Vec<PeerId> = self.neighbors.keys().copied().collect();
        for id in ids {
            self.listen_key(id, true);
        }
    }

    /// RFC 2385: connections the listener accepts from the peer are signed
    /// with its password (`on`), or no longer. A key the kernel refuses is
    /// the peer's error, in BIRD's words.
    pub(super) fn listen_key(&mut self, id: PeerId, on: bool) {
        let Some(neighbor) = self.neighbors.get_mut(&id) else {
            return;
        };
        let Some(password) = &neighbor.config.password else {
            return;
        };
        let key = on.then_some(password);
        if let Err(e) = self.network.listen_key(neighbor.config.address, key) {
            warn!(peer = %neighbor.name, error = %e, "TCP MD5 key refused");
            neighbor.last_error = Some(session::describe_connect_error(&e));
        }
    }

    /// Replaces the originated routes `old` by `new`.
    pub(super) fn originate(
        &mut self,
        old: &[proto::config::Originate],
        new: &[proto::config::Originate],
    ) {
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
            let attrs = RouteAttrs {
                attrs: PathAttributes {
                    origin: Some(Origin::Igp),
                    as_path: Some(AsPath::default()),
                    local_pref: Some(priority::normal_local_pref(
                        &origin.prefix,
                        &self.config.kernel.route_priority,
                    )),
                    ..PathAttributes::default()
                },
                next_hop,
                link_local: None,
                device: None,
            };
            let attrs = self.rib.intern(attrs);
            self.rib.insert(origin.prefix, Source::Local, 0, attrs);
            self.dirty.insert(origin.prefix);
        }
    }

    pub(super) fn local_info(&self) -> SourceInfo {
        SourceInfo {
            ebgp: false,
            router_id: self.config.router_id,
            address: IpAddr::V4(self.config.router_id),
            rr_client: false,
        }
    }

    pub(super) fn stop_all(&mut self, stop: Stop) {
        let ids: Vec<PeerId> = self.neighbors.keys().copied().collect();
        for id in ids {
            let keeps_our_routes = self.neighbors[&id]
                .up
                .as_ref()
                .is_some_and(|up| up.negotiated.peer_graceful_restart.is_some());
            if stop == Stop::GracefulRestart && keeps_our_routes {
                // The connection just closes: the peer keeps our routes,
                // stale, until we are back (RFC 4724 §4.2).
                let mut neighbor = self.neighbors.remove(&id).expect("listed above");
                info!(peer = %neighbor.name, "closed for a graceful restart");
                if neighbor.config.bfd.is_some() {
                    // AdminDown: the peer's BFD sees no failure, and the
                    // peer keeps our routes (RFC 5882 §4.3).
                    self.bfd_forget(neighbor.config.address);
                }
                if let Some(slot) = neighbor.collision.take() {
                    slot.dispose(&mut self.timers);
                }
                neighbor.primary.dispose(&mut self.timers);
            } else {
                self.remove_peer(id, STOP_ADMIN);
            }
        }
        self.network.stop_listening();
    }
}
