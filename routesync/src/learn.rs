//! Which of the kernel's routes a Calico node's BIRD takes in, the first
//! half of kernel route learning (docs/ARCHITECTURE.md, "routesync"; the
//! export rules are bgpd's, in its speaker):
//!
//! - `protocol kernel { learn; }` (BIRD 1.6 `krt_got_route`): every route of
//!   the main table that another program put there: Felix's workload
//!   routes (`10.65.0.7 dev cali1234`), its tunnel routes, an operator's
//!   static routes. Not routes of our own protocol (nothing of ours is
//!   learned back), not those the kernel makes itself (`proto kernel`, the
//!   interface routes: the direct protocol's business), not ICMP redirects,
//!   not local and broadcast ones.
//! - `protocol direct { interface -"cali*", -"kube-ipvs*", "*"; }`: the
//!   network of each address on an interface, except Felix's workload
//!   interfaces, kube-proxy's IPVS dummy (it holds every cluster IP in use)
//!   and BGPConfiguration `ignoredInterfaces` (glob patterns, as BIRD's).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::route::RouteType;

use crate::netlink::RouteInfo;

/// rtnetlink protocol numbers (include/uapi/linux/rtnetlink.h).
const RTPROT_REDIRECT: u8 = 1;
const RTPROT_KERNEL: u8 = 2;

/// Interfaces the direct protocol never takes, before the configured ones.
const NEVER_DIRECT: [&str; 2] = ["cali*", "kube-ipvs*"];

/// A route of the kernel's, as much as the rules need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeenRoute<'a> {
    pub prefix: IpNet,
    pub table: u32,
    pub protocol: u8,
    pub kind: SeenKind,
    /// The first hop's device, when it has one.
    pub device: Option<&'a str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeenKind {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    /// Local, broadcast, anycast, multicast: never routes to a network.
    Other,
}

/// What learning is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LearnRules {
    /// Our routes' protocol: never learned back.
    pub own_protocol: u8,
    /// The table learned from (main).
    pub table: u32,
    /// BGPConfiguration `ignoredInterfaces`, on top of [`NEVER_DIRECT`].
    pub ignored_interfaces: Vec<String>,
}

impl LearnRules {
    /// Whether BIRD's kernel protocol would learn `route`.
    pub fn learns(&self, route: &SeenRoute<'_>) -> bool {
        route.table == self.table
            && route.kind != SeenKind::Other
            && ![self.own_protocol, RTPROT_KERNEL, RTPROT_REDIRECT].contains(&route.protocol)
    }

    /// Whether the direct protocol takes the addresses of `interface`.
    pub fn direct_from(&self, interface: &str) -> bool {
        !NEVER_DIRECT
            .iter()
            .copied()
            .chain(self.ignored_interfaces.iter().map(String::as_str))
            .any(|pattern| glob(pattern, interface))
    }
}

/// BIRD's interface patterns: `*` any run of characters, `?` any one,
/// everything else itself (BIRD's `patmatch`).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matching with one backtrack point for the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        match p.get(i) {
            Some('*') => {
                star = Some((i, j));
                i += 1;
            }
            Some(c) if *c == '?' || *c == t[j] => {
                i += 1;
                j += 1;
            }
            _ => match star {
                Some((si, sj)) => {
                    i = si + 1;
                    j = sj + 1;
                    star = Some((si, sj + 1));
                }
                None => return false,
            },
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// A route learned from the kernel, as the speaker is told of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LearnedRoute {
    pub prefix: IpNet,
    pub kind: SeenKind,
    /// The first hop's device (`cali1234`, `eth0`), when known.
    pub device: Option<String>,
    pub gateway: Option<IpAddr>,
    /// The rtnetlink protocol that put it there.
    pub protocol: u8,
}

/// A prefix learned anew or changed (`Some`), or gone (`None`).
pub type LearnedChange = (IpNet, Option<LearnedRoute>);

/// Where learned changes go: called on routesync's thread, with each
/// batch of changes, so it must not block (a channel's send).
pub type LearnedSink = Box<dyn FnMut(Vec<LearnedChange>) + Send>;

impl SeenKind {
    fn of(kind: RouteType) -> Self {
        match kind {
            RouteType::Unicast => Self::Unicast,
            RouteType::BlackHole => Self::Blackhole,
            RouteType::Unreachable => Self::Unreachable,
            RouteType::Prohibit => Self::Prohibit,
            _ => Self::Other,
        }
    }
}

/// The learned routes, kept current from the kernel's notices, and where
/// their changes go. One route per prefix: the latest the kernel told of.
pub(crate) struct Learning {
    pub rules: LearnRules,
    sink: LearnedSink,
    known: BTreeMap<IpNet, LearnedRoute>,
}

impl std::fmt::Debug for Learning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Learning")
            .field("rules", &self.rules)
            .field("known", &self.known.len())
            .finish()
    }
}

impl Learning {
    pub fn new(rules: LearnRules, sink: LearnedSink) -> Self {
        Self {
            rules,
            sink,
            known: BTreeMap::new(),
        }
    }

    /// What `route` is as a learned route, if it is one.
    fn learned(&self, route: &RouteInfo, names: &HashMap<u32, String>) -> Option<LearnedRoute> {
        let device = route.oif.and_then(|i| names.get(&i)).map(String::as_str);
        let seen = SeenRoute {
            prefix: route.prefix,
            table: route.table,
            protocol: route.protocol,
            kind: SeenKind::of(route.kind),
            device,
        };
        self.rules.learns(&seen).then(|| LearnedRoute {
            prefix: route.prefix,
            kind: seen.kind,
            device: device.map(str::to_owned),
            gateway: route.gateway,
            protocol: route.protocol,
        })
    }

    /// A listing of the kernel's routes not ours: what changed since the
    /// last is told (everything, the first time).
    pub fn listed(&mut self, routes: &[RouteInfo], names: &HashMap<u32, String>) {
        let now: BTreeMap<IpNet, LearnedRoute> = routes
            .iter()
            .filter_map(|r| self.learned(r, names))
            .map(|r| (r.prefix, r))
            .collect();
        let mut changes: Vec<LearnedChange> = self
            .known
            .keys()
            .filter(|p| !now.contains_key(p))
            .map(|p| (*p, None))
            .collect();
        changes.extend(
            now.iter()
                .filter(|(p, r)| self.known.get(p) != Some(r))
                .map(|(p, r)| (*p, Some(r.clone()))),
        );
        self.known = now;
        self.tell(changes);
    }

    /// Someone else's route came, changed or went.
    pub fn noticed(&mut self, route: &RouteInfo, deleted: bool, names: &HashMap<u32, String>) {
        let prefix = route.prefix;
        let learned = if deleted {
            None
        } else {
            self.learned(route, names)
        };
        let change = match learned {
            Some(r) if self.known.get(&prefix) != Some(&r) => {
                self.known.insert(prefix, r.clone());
                Some(r)
            }
            Some(_) => return,
            None => {
                if self.known.remove(&prefix).is_none() {
                    return;
                }
                None
            }
        };
        self.tell(vec![(prefix, change)]);
    }

    fn tell(&mut self, changes: Vec<LearnedChange>) {
        if !changes.is_empty() {
            (self.sink)(changes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> LearnRules {
        LearnRules {
            own_protocol: 12,
            table: 254,
            ignored_interfaces: vec!["eth9".into(), "vlan1?".into()],
        }
    }

    fn route(protocol: u8, kind: SeenKind, device: Option<&str>) -> SeenRoute<'_> {
        SeenRoute {
            prefix: "10.65.0.7/32".parse().unwrap(),
            table: 254,
            protocol,
            kind,
            device,
        }
    }

    #[test]
    fn alien_routes_are_learned_and_ours_and_the_kernels_are_not() {
        let rules = rules();
        // Felix's workload route (proto boot), a static one, a blackhole.
        assert!(rules.learns(&route(3, SeenKind::Unicast, Some("cali1234"))));
        assert!(rules.learns(&route(4, SeenKind::Unicast, Some("eth0"))));
        assert!(rules.learns(&route(3, SeenKind::Blackhole, None)));
        assert!(rules.learns(&route(3, SeenKind::Unreachable, None)));
        // Ours, the kernel's own, a redirect, a local route.
        assert!(!rules.learns(&route(12, SeenKind::Unicast, Some("eth0"))));
        assert!(!rules.learns(&route(2, SeenKind::Unicast, Some("eth0"))));
        assert!(!rules.learns(&route(1, SeenKind::Unicast, Some("eth0"))));
        assert!(!rules.learns(&route(3, SeenKind::Other, Some("lo"))));
        // Another table.
        let other = SeenRoute {
            table: 100,
            ..route(3, SeenKind::Unicast, Some("eth0"))
        };
        assert!(!rules.learns(&other));
    }

    #[test]
    fn direct_skips_workloads_ipvs_and_the_ignored() {
        let rules = rules();
        for taken in ["eth0", "tunl0", "vlan100", "eth90"] {
            assert!(rules.direct_from(taken), "{taken}");
        }
        for skipped in ["cali1234abcd", "kube-ipvs0", "eth9", "vlan10"] {
            assert!(!rules.direct_from(skipped), "{skipped}");
        }
    }

    #[test]
    fn globs_as_bird_reads_them() {
        for (pattern, text, matches) in [
            ("*", "", true),
            ("cali*", "cali", true),
            ("cali*", "calico", true),
            ("cali*", "xcali", false),
            ("*.calico", "vxlan.calico", true),
            ("*.cali", "wireguard.cali", true),
            ("*.cali", "wireguard.calico", false),
            ("e?h0", "eth0", true),
            ("e?h0", "eh0", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
        ] {
            assert_eq!(glob(pattern, text), matches, "{pattern} on {text}");
        }
    }
}
