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
//!   network of each address on an interface that is up, except Felix's
//!   workload interfaces, kube-proxy's IPVS dummy (it holds every cluster IP
//!   in use) and BGPConfiguration `ignoredInterfaces` (glob patterns, as
//!   BIRD's); link-local and host addresses are passed over, as BIRD does.
//!   It is told as a route of protocol `kernel` (the kernel's own interface
//!   route, which the kernel protocol does not learn) through the interface.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::route::RouteType;

use crate::netlink::message::{AddressInfo, LinkInfo};
use crate::netlink::RouteInfo;

/// rtnetlink protocol numbers (include/uapi/linux/rtnetlink.h).
const RTPROT_REDIRECT: u8 = 1;
/// Also what a direct route is told as: the kernel's interface route.
pub const RTPROT_KERNEL: u8 = 2;
/// `RT_SCOPE_LINK`: link-local addresses, which BIRD's direct protocol
/// passes over, as it does host-scope ones (above it).
const SCOPE_LINK: u8 = 253;

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
    /// Its metric: a lower one than normal makes it elevated (Calico's
    /// route priority).
    pub metric: u32,
}

/// A prefix learned anew or changed (`Some`), or gone (`None`).
pub type LearnedChange = (IpNet, Option<LearnedRoute>);

/// Where learned changes go: called on routesync's thread, with each
/// batch of changes, so it must not block (a channel's send).
pub type LearnedSink = Box<dyn FnMut(Vec<LearnedChange>) + Send>;

/// The order of a prefix's learned routes: the direct protocol's first,
/// then the lowest metric, the one the kernel uses.
fn rank(route: &LearnedRoute) -> (bool, u32) {
    (route.protocol != RTPROT_KERNEL, route.metric)
}

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
/// their changes go. The kernel may hold several routes to a prefix, one per
/// metric (a migrating VM's old and new route); the speaker is told of the
/// one the kernel uses, the lowest metric's.
pub(crate) struct Learning {
    pub rules: LearnRules,
    sink: LearnedSink,
    /// Per prefix, every learned route: direct ones first (BIRD's direct
    /// protocol outranks its kernel protocol), then by metric.
    known: BTreeMap<IpNet, Vec<LearnedRoute>>,
    /// The direct protocol's routes, by prefix and device.
    direct: BTreeMap<(IpNet, String), LearnedRoute>,
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
            direct: BTreeMap::new(),
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
            metric: route.metric,
        })
    }

    /// A listing of the kernel's routes not ours: what changed since the
    /// last is told (everything, the first time).
    pub fn listed(&mut self, routes: &[RouteInfo], names: &HashMap<u32, String>) {
        let mut now: BTreeMap<IpNet, Vec<LearnedRoute>> = BTreeMap::new();
        for route in routes.iter().filter_map(|r| self.learned(r, names)) {
            now.entry(route.prefix).or_default().push(route);
        }
        for route in self.direct.values() {
            now.entry(route.prefix).or_default().push(route.clone());
        }
        for at_prefix in now.values_mut() {
            at_prefix.sort_by_key(rank);
        }
        let mut changes: Vec<LearnedChange> = self
            .known
            .keys()
            .filter(|p| !now.contains_key(p))
            .map(|p| (*p, None))
            .collect();
        changes.extend(
            now.iter()
                .filter(|(p, r)| self.known.get(p).and_then(|k| k.first()) != r.first())
                .map(|(p, r)| (*p, r.first().cloned())),
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
        let at_prefix = self.known.entry(prefix).or_default();
        let before = at_prefix.first().cloned();
        // The kernel keys its routes by prefix and metric: this one replaces
        // the one at its metric, if any.
        at_prefix.retain(|r| r.protocol == RTPROT_KERNEL || r.metric != route.metric);
        if let Some(learned) = learned {
            let at = at_prefix.partition_point(|r| rank(r) < rank(&learned));
            at_prefix.insert(at, learned);
        }
        let after = at_prefix.first().cloned();
        if at_prefix.is_empty() {
            self.known.remove(&prefix);
        }
        if after != before {
            self.tell(vec![(prefix, after)]);
        }
    }

    /// The direct protocol's routes from the interfaces, without telling
    /// them: the listing that follows tells them with the rest.
    pub fn prime_interfaces(
        &mut self,
        addresses: &[AddressInfo],
        link: impl Fn(u32) -> Option<LinkInfo>,
    ) {
        self.direct = self.direct_routes(addresses, link);
    }

    /// The interfaces' addresses or states changed (or the rules did): the
    /// direct protocol's routes are made again from them, and what changed
    /// is told. Its cost is the node's addresses, a handful, on a link or
    /// address notice, never per route.
    pub fn interfaces(
        &mut self,
        addresses: &[AddressInfo],
        link: impl Fn(u32) -> Option<LinkInfo>,
    ) {
        let now = self.direct_routes(addresses, link);
        self.apply_direct(now);
    }

    /// BIRD's direct protocol over the interfaces: the network of every
    /// address of an interface that is up and not excluded.
    fn direct_routes(
        &self,
        addresses: &[AddressInfo],
        link: impl Fn(u32) -> Option<LinkInfo>,
    ) -> BTreeMap<(IpNet, String), LearnedRoute> {
        let mut now = BTreeMap::new();
        for address in addresses {
            let Some(link) = link(address.index).filter(|l| l.up) else {
                continue;
            };
            if address.scope >= SCOPE_LINK || !self.rules.direct_from(&link.name) {
                continue;
            }
            let route = LearnedRoute {
                prefix: address.address.trunc(),
                kind: SeenKind::Unicast,
                device: Some(link.name.clone()),
                gateway: None,
                protocol: RTPROT_KERNEL,
                metric: 0,
            };
            now.insert((route.prefix, link.name), route);
        }
        now
    }

    fn apply_direct(&mut self, now: BTreeMap<(IpNet, String), LearnedRoute>) {
        if now == self.direct {
            return;
        }
        let touched: std::collections::BTreeSet<IpNet> = self
            .direct
            .keys()
            .chain(now.keys())
            .filter(|key| self.direct.get(*key) != now.get(*key))
            .map(|(prefix, _)| *prefix)
            .collect();
        self.direct = now;
        let mut changes = Vec::new();
        for prefix in touched {
            let at_prefix = self.known.entry(prefix).or_default();
            let before = at_prefix.first().cloned();
            at_prefix.retain(|r| r.protocol != RTPROT_KERNEL);
            at_prefix.extend(
                self.direct
                    .range((prefix, String::new())..)
                    .take_while(|((p, _), _)| *p == prefix)
                    .map(|(_, r)| r.clone()),
            );
            at_prefix.sort_by_key(rank);
            let after = at_prefix.first().cloned();
            if at_prefix.is_empty() {
                self.known.remove(&prefix);
            }
            if after != before {
                changes.push((prefix, after));
            }
        }
        self.tell(changes);
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

    /// A Felix route to `prefix` on device 7 at `metric`.
    fn seen(prefix: &str, metric: u32) -> RouteInfo {
        RouteInfo {
            prefix: prefix.parse().unwrap(),
            table: 254,
            protocol: 3,
            kind: RouteType::Unicast,
            gateway: None,
            oif: Some(7),
            hops: Vec::new(),
            metric,
        }
    }

    #[test]
    fn of_several_routes_to_a_prefix_the_lowest_metric_is_told() {
        let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = told.clone();
        let mut learning = Learning::new(
            rules(),
            Box::new(move |changes| sink.lock().unwrap().extend(changes)),
        );
        let names = HashMap::from([(7, "cali1234".to_owned())]);
        let metric_told = || -> Vec<Option<u32>> {
            told.lock()
                .unwrap()
                .drain(..)
                .map(|(_, r): LearnedChange| r.map(|r| r.metric))
                .collect()
        };
        learning.listed(&[seen("10.244.1.9/32", 1024)], &names);
        assert_eq!(metric_told(), [Some(1024)]);
        // A migrating VM: its elevated route beside the old one wins.
        learning.noticed(&seen("10.244.1.9/32", 512), false, &names);
        assert_eq!(metric_told(), [Some(512)]);
        // The old one going changes nothing the speaker sees.
        learning.noticed(&seen("10.244.1.9/32", 1024), true, &names);
        assert_eq!(metric_told(), Vec::<Option<u32>>::new());
        // Back to normal: the new route at 1024 comes, then the 512 goes.
        learning.noticed(&seen("10.244.1.9/32", 1024), false, &names);
        assert_eq!(metric_told(), Vec::<Option<u32>>::new());
        learning.noticed(&seen("10.244.1.9/32", 512), true, &names);
        assert_eq!(metric_told(), [Some(1024)]);
        learning.noticed(&seen("10.244.1.9/32", 1024), true, &names);
        assert_eq!(metric_told(), [None]);
        // A listing with both: the lowest.
        learning.listed(
            &[seen("10.244.1.9/32", 1024), seen("10.244.1.9/32", 300)],
            &names,
        );
        assert_eq!(metric_told(), [Some(300)]);
    }

    #[test]
    fn a_direct_route_comes_before_a_kernel_route_to_its_prefix() {
        let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = told.clone();
        let mut learning = Learning::new(
            rules(),
            Box::new(move |changes| sink.lock().unwrap().extend(changes)),
        );
        let protocols_told = || -> Vec<Option<u8>> {
            told.lock()
                .unwrap()
                .drain(..)
                .map(|(_, r): LearnedChange| r.map(|r| r.protocol))
                .collect()
        };
        let names = HashMap::from([(7, "cali1234".to_owned())]);
        // Someone's static route to the network a VLAN interface will have.
        learning.listed(&[seen("10.7.0.0/24", 0)], &names);
        assert_eq!(protocols_told(), [Some(3)]);
        let addresses = [AddressInfo {
            index: 9,
            address: "10.7.0.1/24".parse().unwrap(),
            scope: 0,
            deleted: false,
        }];
        let vlan = |up| {
            move |index| {
                (index == 9).then(|| LinkInfo {
                    index,
                    name: "vlan7".into(),
                    up,
                    deleted: false,
                })
            }
        };
        learning.interfaces(&addresses, vlan(true));
        assert_eq!(protocols_told(), [Some(RTPROT_KERNEL)]);
        // The static route going and coming back under it changes nothing
        // the speaker sees.
        learning.noticed(&seen("10.7.0.0/24", 0), true, &names);
        assert_eq!(protocols_told(), Vec::<Option<u8>>::new());
        learning.noticed(&seen("10.7.0.0/24", 0), false, &names);
        assert_eq!(protocols_told(), Vec::<Option<u8>>::new());
        // The interface down: the static route is told again.
        learning.interfaces(&addresses, vlan(false));
        assert_eq!(protocols_told(), [Some(3)]);
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
