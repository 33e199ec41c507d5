//! What the speaker hands to routesync: for each prefix whose best route
//! changed, the route the kernel should have. Classification (direct,
//! `tunl0 onlink`, recursive, not installed) is routesync's, from the kernel
//! section of the config; the speaker only says what BGP decided.

use std::net::IpAddr;

use ipnet::IpNet;
use smallvec::SmallVec;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FibEntry {
    /// No route any more.
    Remove,
    /// One of this node's own blocks: a blackhole, so that traffic to
    /// unallocated addresses in it goes nowhere.
    Blackhole,
    /// Every equal-cost next hop of the best route, and the route's metric
    /// (the kernel's priority: of two routes to one prefix, the lower
    /// metric is used). The speaker derives the metric from the route's
    /// priority (docs/ARCHITECTURE.md, "Route priority").
    NextHops { hops: NextHopList, metric: u32 },
}

/// The metric the kernel gives a route sent without one: 0 for IPv4, and
/// for IPv6 `IP6_RT_PRIO_USER` (include/net/ip6_route.h), which IPv6 also
/// puts in place of a metric of 0.
pub fn default_metric(prefix: &IpNet) -> u32 {
    match prefix {
        IpNet::V4(_) => 0,
        IpNet::V6(_) => 1024,
    }
}

/// The metric the kernel will hold for a route sent with `metric`.
pub fn kernel_metric(prefix: &IpNet, metric: u32) -> u32 {
    if metric == 0 {
        default_metric(prefix)
    } else {
        metric
    }
}

/// Next hops, the usual one held inline: a route handed over allocates
/// nothing, and the two tables that keep it pay no heap block each.
pub type NextHopList = SmallVec<[IpAddr; 1]>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FibUpdate {
    pub prefix: IpNet,
    pub entry: FibEntry,
}
