//! Calico's BGPPeer `reachableBy`: a peer beyond a router that the node's
//! own routes do not lead to is reached through a gateway, by a static
//! route to the peer's address via it. As BIRD's static protocol outranks
//! BGP, the static route wins over any BGP route to that address.

use ipnet::IpNet;
use routesync::{FibEntry, FibUpdate};

use super::Speaker;

impl Speaker {
    /// The static routes the peers ask for, after a configuration: what
    /// changed goes to the kernel; a route no longer asked for gives the
    /// prefix back to what BGP has for it.
    pub(super) fn route_to_peers(&mut self) {
        let wanted: Vec<(IpNet, std::net::IpAddr)> = self
            .config
            .peers
            .iter()
            .filter_map(|p| Some((IpNet::from(p.address), p.reachable_by?)))
            .collect();
        let gone: Vec<IpNet> = self
            .reachable
            .keys()
            .filter(|prefix| !wanted.iter().any(|(p, _)| p == *prefix))
            .copied()
            .collect();
        let mut changed = gone.clone();
        for prefix in gone {
            self.reachable.remove(&prefix);
        }
        for (prefix, gateway) in wanted {
            if self.reachable.insert(prefix, gateway) != Some(gateway) {
                changed.push(prefix);
            }
        }
        if self.config.kernel.enabled && !changed.is_empty() {
            self.program_fib(changed);
        }
    }

    /// The kernel route for `prefix` when a peer's `reachableBy` asks for
    /// one: through the gateway, without a metric of its own (a static
    /// route of BIRD's has none).
    pub(super) fn static_route(&self, prefix: &IpNet) -> Option<FibUpdate> {
        let gateway = self.reachable.get(prefix)?;
        Some(FibUpdate {
            prefix: *prefix,
            entry: FibEntry::NextHops {
                hops: std::iter::once(*gateway).collect(),
                metric: 0,
            },
        })
    }
}
