//! Routes learned from the kernel (routesync's learning: Felix's workload
//! routes, an operator's static routes), exported as Calico's BIRD exports
//! them (`calico_export_to_bgp_peers`): inside an export range (an enabled
//! pool, a service range), never more specific than one of this node's
//! blocks. A pod whose address is borrowed from another node's block is
//! reachable that way: its /32 goes out from the node it runs on, more
//! specific than the block owner's /26 (calico#3246).
//!
//! Each exported one is a local path with next hop self, beside an
//! originated route of the same prefix if any; what goes to the kernel for
//! it is nothing of ours (the kernel has the route). A learned route that
//! goes is withdrawn at once.
//!
//! A learned route carries its kernel metric as LOCAL_PREF
//! (crate::priority); one with a lower metric than normal is elevated and
//! exported even inside an own block (Calico's `calico_aggr`: `net ~ block
//! && krt_metric < <NormalRoutePriority>`), so that a migrated VM's address
//! is reached on its new node.
//!
//! Routes through Felix's tunnel devices are Felix's way to other nodes'
//! blocks: they go to eBGP peers only (`policy::verdict`), as Calico's
//! `calico_export_to_bgp_peers(internal_peer)` has it.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use proto::config::{OriginKind, SpeakerConfig};
use routesync::learn::{glob, LearnedChange, LearnedRoute};

use super::Speaker;
use crate::packet::{AsPath, Origin, PathAttributes};
use crate::policy::{prefix_exportable, SpeakerPolicy, LEARNED_PATH, LEARNED_TUNNEL_PATH};
use crate::priority;
use crate::rib::{RouteAttrs, Source};

/// Felix's tunnel devices (VXLAN, WireGuard), and the IP-in-IP one when
/// Felix programs those pools: their routes are Felix's way to other
/// nodes' blocks, never this node's to announce (Calico confd's
/// IBGPExportFilterForTunnelRoutes).
fn through_felix_tunnel(device: &str, config: &SpeakerConfig) -> bool {
    glob("*.cali", device)
        || glob("*.calico", device)
        || (!config.kernel.cluster_routes.programs_ipip() && device == config.kernel.tunnel_device)
}

/// The path id a learned route is announced with: through one of Felix's
/// tunnels, a path for eBGP peers only.
pub fn learned_path_id(route: &LearnedRoute, config: &SpeakerConfig) -> u32 {
    if route
        .device
        .as_deref()
        .is_some_and(|d| through_felix_tunnel(d, config))
    {
        LEARNED_TUNNEL_PATH
    } else {
        LEARNED_PATH
    }
}

/// Whether a learned route is announced (to some peers at least).
pub fn exports_learned(
    route: &LearnedRoute,
    policy: &SpeakerPolicy,
    config: &SpeakerConfig,
) -> bool {
    // Learning is Calico's, and its export rule is the pools': without an
    // export range (a static configuration that restricts nothing), nothing
    // learned is announced, so a lab's connected subnets and static routes
    // stay home.
    if policy.export_prefixes.is_empty() {
        return false;
    }
    // An own block is announced by its origination already.
    let originated = config
        .originate
        .iter()
        .any(|o| o.prefix == route.prefix && o.kind == OriginKind::Block);
    if originated {
        return false;
    }
    let metric = priority::learned_metric(route.metric, &route.prefix, &policy.route_priority);
    prefix_exportable(&route.prefix, policy)
        || (priority::elevated(metric, &route.prefix, &policy.route_priority)
            && elevated_exportable(&route.prefix, policy))
}

/// Calico's `calico_aggr` lets an elevated route out of an own block; the
/// rest of the export rule (export ranges, `disableBGPExport`) still holds.
fn elevated_exportable(prefix: &IpNet, policy: &SpeakerPolicy) -> bool {
    let within = |ranges: &[IpNet]| ranges.iter().any(|r| r.contains(prefix));
    within(&policy.own_blocks) && !within(&policy.never_export) && within(&policy.export_prefixes)
}

impl Speaker {
    /// Changes from routesync's learning.
    pub(super) fn on_learned(&mut self, changes: Vec<LearnedChange>) {
        for (prefix, route) in changes {
            match route {
                Some(route) => {
                    // Changed (a new metric, a new device): offered anew, its
                    // attributes from the new route.
                    self.learned.insert(prefix, route);
                    self.withdraw_learned(prefix);
                }
                None => {
                    self.learned.remove(&prefix);
                }
            }
            self.offer_learned(prefix);
        }
    }

    /// After a change of the export rule or of the node's addresses: every
    /// learned route is offered again (the cost of a reconfiguration, not
    /// of a route).
    pub(super) fn offer_all_learned(&mut self) {
        let injected: Vec<IpNet> = self.injected.keys().copied().collect();
        for prefix in injected {
            self.withdraw_learned(prefix);
        }
        let prefixes: Vec<IpNet> = self.learned.keys().copied().collect();
        for prefix in prefixes {
            self.offer_learned(prefix);
        }
    }

    fn offer_learned(&mut self, prefix: IpNet) {
        let wanted = self
            .learned
            .get(&prefix)
            .filter(|r| exports_learned(r, &self.policy, &self.config));
        let Some(route) = wanted else {
            self.withdraw_learned(prefix);
            return;
        };
        if self.injected.contains_key(&prefix) {
            return;
        }
        let Some(next_hop) = self.config.address_for(prefix.addr().is_ipv4()) else {
            return;
        };
        let path_id = learned_path_id(route, &self.config);
        let metric = priority::learned_metric(route.metric, &prefix, &self.policy.route_priority);
        let device = route.device.as_deref().map(Arc::from);
        let attrs = self.rib.intern(learned_attrs(next_hop, metric, device));
        self.rib.insert(prefix, Source::Local, path_id, attrs);
        self.injected.insert(prefix, path_id);
        self.dirty.insert(prefix);
    }

    /// The learned route at `prefix` is announced no more.
    fn withdraw_learned(&mut self, prefix: IpNet) {
        if let Some(path_id) = self.injected.remove(&prefix) {
            if self.rib.remove(prefix, Source::Local, path_id) {
                self.dirty.insert(prefix);
            }
        }
    }

    /// Whether the learned route at `prefix` is an interface's (BIRD's
    /// direct protocol), for operators.
    pub(super) fn learned_directly(&self, prefix: &IpNet) -> bool {
        self.learned
            .get(prefix)
            .is_some_and(|r| r.protocol == routesync::learn::RTPROT_KERNEL)
    }

    /// The interface traffic to `address` leaves through, as BIRD resolves
    /// a BGP next hop (its `ifname`): the device of the most specific
    /// route this node learned that holds it (an interface network, or a
    /// kernel route such as the default one). At most one lookup per
    /// prefix length, once per UPDATE.
    pub(super) fn device_toward(&self, address: IpAddr) -> Option<Arc<str>> {
        let longest = IpNet::from(address).max_prefix_len();
        (0..=longest).rev().find_map(|len| {
            let net = IpNet::new(address, len).ok()?.trunc();
            self.learned
                .get(&net)
                .and_then(|r| r.device.as_deref())
                .map(Arc::from)
        })
    }

    /// The device of the learned route at `prefix`, for operators.
    pub(super) fn learned_device(&self, prefix: &IpNet) -> Option<String> {
        self.learned.get(prefix).and_then(|r| r.device.clone())
    }
}

/// As BIRD announces a route of another protocol: ORIGIN IGP, an empty
/// AS_PATH, next hop self, and its metric as LOCAL_PREF.
fn learned_attrs(next_hop: IpAddr, metric: u32, device: Option<Arc<str>>) -> RouteAttrs {
    RouteAttrs {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            local_pref: Some(priority::local_pref_of(metric)),
            ..PathAttributes::default()
        },
        next_hop,
        link_local: None,
        device,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::config::{ClusterRoutes, Originate};
    use routesync::learn::SeenKind;

    fn route(prefix: &str, device: &str) -> LearnedRoute {
        LearnedRoute {
            prefix: prefix.parse().unwrap(),
            kind: SeenKind::Unicast,
            device: Some(device.into()),
            gateway: None,
            protocol: 3,
            metric: 1024,
        }
    }

    fn setup(cluster_routes: ClusterRoutes) -> (SpeakerPolicy, SpeakerConfig) {
        let mut config: SpeakerConfig = toml::from_str(
            "node_name = \"n1\"\nrouter_id = \"10.0.1.11\"\nlocal_as = 64512\naddresses = [\"10.0.1.11/24\"]\n",
        )
        .unwrap();
        config.originate = vec![Originate {
            prefix: "10.244.1.0/26".parse().unwrap(),
            kind: OriginKind::Block,
        }];
        config.export.prefixes = vec![
            "10.244.0.0/16".parse().unwrap(),
            "10.96.0.0/12".parse().unwrap(),
        ];
        config.export.address_blocks = vec!["10.244.9.7/32".parse().unwrap()];
        config.kernel.cluster_routes = cluster_routes;
        (super::super::policy_of(&config), config)
    }

    #[test]
    fn calicos_export_rule_for_learned_routes() {
        let (policy, config) = setup(ClusterRoutes::Enabled);
        let exports = |r: &LearnedRoute| exports_learned(r, &policy, &config);
        // A borrowed address: inside the pool, in another node's block.
        assert!(exports(&route("10.244.2.5/32", "cali1234")));
        // Inside this node's own block: only the block goes.
        assert!(!exports(&route("10.244.1.5/32", "cali1234")));
        assert!(
            !exports(&route("10.244.1.0/26", "eth0")),
            "originated already"
        );
        // A /32 block's workload: its announcement.
        assert!(exports(&route("10.244.9.7/32", "cali9999")));
        // Outside every export range.
        assert!(!exports(&route("10.200.0.0/16", "eth0")));
        // A service range is an export range too.
        assert!(exports(&route("10.96.0.10/32", "eth0")));
        // Felix's tunnels: announced, as paths for eBGP peers only.
        for device in [
            "vxlan.calico",
            "wireguard.cali",
            "vxlan-v6.calico",
            "wg-v6.cali",
        ] {
            let tunnel = route("10.244.3.0/26", device);
            assert!(exports(&tunnel), "{device}");
            assert_eq!(
                learned_path_id(&tunnel, &config),
                LEARNED_TUNNEL_PATH,
                "{device}"
            );
        }
        // tunl0: this node programs IP-in-IP itself, so a tunl0 route is
        // not Felix's.
        let tunl0 = route("10.244.3.0/26", "tunl0");
        assert_eq!(learned_path_id(&tunl0, &config), LEARNED_PATH);
        let workload = route("10.244.2.5/32", "cali1234");
        assert_eq!(learned_path_id(&workload, &config), LEARNED_PATH);
        // Elevated (a VM migrated here): out of the own block too, but not
        // out of the export ranges; no metric is normal.
        let elevated = |prefix: &str, metric| LearnedRoute {
            metric,
            ..route(prefix, "cali1234")
        };
        assert!(exports(&elevated("10.244.1.5/32", 512)));
        assert!(!exports(&elevated("10.244.1.5/32", 0)));
        assert!(!exports(&elevated("10.244.1.5/32", 2048)));
        assert!(!exports(&elevated("10.200.0.5/32", 512)));
        // A configuration without export ranges announces nothing learned.
        let open = SpeakerPolicy {
            export_prefixes: Vec::new(),
            ..policy.clone()
        };
        assert!(!exports_learned(&workload, &open, &config));
        // With Felix programming IP-in-IP, tunl0 is one of its tunnels.
        let (_, felix_ipip) = setup(ClusterRoutes::EnabledNoEncapOnly);
        assert_eq!(learned_path_id(&tunl0, &felix_ipip), LEARNED_TUNNEL_PATH);
    }
}
