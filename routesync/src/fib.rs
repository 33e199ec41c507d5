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
    /// Every equal-cost next hop of the best route.
    NextHops(NextHopList),
}

/// Next hops, the usual one held inline: a route handed over allocates
/// nothing, and the two tables that keep it pay no heap block each.
pub type NextHopList = SmallVec<[IpAddr; 1]>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FibUpdate {
    pub prefix: IpNet,
    pub entry: FibEntry,
}
