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
//! Not yet as Calico: routes through Felix's tunnel devices are kept from
//! every peer (Calico keeps them from iBGP peers only), and the elevated
//! priority rule (a lower metric inside an own block) is not applied.

use std::net::IpAddr;

use ipnet::IpNet;
use proto::config::{OriginKind, SpeakerConfig};
use routesync::learn::{glob, LearnedChange, LearnedRoute};

use super::Speaker;
use crate::packet::{AsPath, Origin, PathAttributes};
use crate::policy::{prefix_exportable, SpeakerPolicy, DEFAULT_LOCAL_PREF};
use crate::rib::{RouteAttrs, Source};

/// The path id of a learned route, beside an originated one (id 0).
pub(super) const LEARNED_PATH: u32 = 1;

/// Felix's tunnel devices (VXLAN, WireGuard), and the IP-in-IP one when
/// Felix programs those pools: their routes are Felix's way to other
/// nodes' blocks, never this node's to announce (Calico confd's
/// IBGPExportFilterForTunnelRoutes).
fn through_felix_tunnel(device: &str, config: &SpeakerConfig) -> bool {
    glob("*.cali", device)
        || glob("*.calico", device)
        || (!config.kernel.cluster_routes.programs_ipip() && device == config.kernel.tunnel_device)
}

/// Whether a learned route is announced.
pub fn exports_learned(
    route: &LearnedRoute,
    policy: &SpeakerPolicy,
    config: &SpeakerConfig,
) -> bool {
    if route
        .device
        .as_deref()
        .is_some_and(|d| through_felix_tunnel(d, config))
    {
        return false;
    }
    // An own block is announced by its origination already.
    let originated = config
        .originate
        .iter()
        .any(|o| o.prefix == route.prefix && o.kind == OriginKind::Block);
    !originated && prefix_exportable(&route.prefix, policy)
}

impl Speaker {
    /// Changes from routesync's learning.
    pub(super) fn on_learned(&mut self, changes: Vec<LearnedChange>) {
        for (prefix, route) in changes {
            match route {
                Some(route) => {
                    self.learned.insert(prefix, route);
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
        let injected: Vec<IpNet> = self.injected.drain().collect();
        for prefix in injected {
            if self.rib.remove(prefix, Source::Local, LEARNED_PATH) {
                self.dirty.insert(prefix);
            }
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
            .is_some_and(|r| exports_learned(r, &self.policy, &self.config));
        let injected = self.injected.contains(&prefix);
        if wanted && !injected {
            let Some(next_hop) = self.config.address_for(prefix.addr().is_ipv4()) else {
                return;
            };
            let attrs = self.rib.intern(learned_attrs(next_hop));
            self.rib.insert(prefix, Source::Local, LEARNED_PATH, attrs);
            self.injected.insert(prefix);
            self.dirty.insert(prefix);
        } else if !wanted && injected {
            self.injected.remove(&prefix);
            if self.rib.remove(prefix, Source::Local, LEARNED_PATH) {
                self.dirty.insert(prefix);
            }
        }
    }

    /// The device of the learned route at `prefix`, for operators.
    pub(super) fn learned_device(&self, prefix: &IpNet) -> Option<String> {
        self.learned.get(prefix).and_then(|r| r.device.clone())
    }
}

/// As BIRD announces a route of another protocol: ORIGIN IGP, an empty
/// AS_PATH, next hop self.
fn learned_attrs(next_hop: IpAddr) -> RouteAttrs {
    RouteAttrs {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            local_pref: Some(DEFAULT_LOCAL_PREF),
            ..PathAttributes::default()
        },
        next_hop,
        link_local: None,
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
            communities: Vec::new(),
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
        // Felix's tunnels: never.
        assert!(!exports(&route("10.244.3.0/26", "vxlan.calico")));
        assert!(!exports(&route("10.244.3.0/26", "wireguard.cali")));
        // tunl0: this node programs IP-in-IP itself, so a tunl0 route is
        // not Felix's.
        assert!(exports(&route("10.244.3.0/26", "tunl0")));
        let (policy, config) = setup(ClusterRoutes::EnabledNoEncapOnly);
        assert!(!exports_learned(
            &route("10.244.3.0/26", "tunl0"),
            &policy,
            &config
        ));
    }
}
