//! Which kernel route one [`FibUpdate`] becomes: pure, no netlink.
//!
//! The table is docs/DESIGN.md §4, which reproduces Calico's
//! `calico_kernel_programming` filter (docs/CALICO-CONTRACT.md §4.1) and the
//! fork's `krt_tunnel` handling in `nl_send_route` (docs/CALICO-CONTRACT.md
//! §4.3), in the same order as the filter:
//!
//! 1. a prefix inside `never_install` (Calico's `rejectcidrs`, the service
//!    ranges) is rejected first, blackholes included;
//! 2. a prefix inside a VXLAN pool is rejected: Felix programs those; so is
//!    one inside a pool whose cluster routes Felix programs
//!    (`cluster_routes`, Calico's `programClusterRoutes`);
//! 3. an own block is a blackhole;
//! 4. otherwise each next hop is classified on its own by the pool's IP-in-IP
//!    mode and by whether it lies on this node's subnet. A prefix in no pool is
//!    accepted as it is, like the filter's final `accept` (the same as Never).
//!
//! IPv6 never tunnels: Calico has no IP-in-IP for IPv6
//! (docs/CALICO-CONTRACT.md §4.7). Unlike Calico's BIRD, a multipath route
//! tunnels per hop (docs/CALICO-CONTRACT.md §4.6: projectcalico/calico#4462,
//! projectcalico/bird#90).

use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use proto::config::{IpipMode, KernelConfig, PoolConfig};
use smallvec::SmallVec;

use crate::device::DeviceName;
use crate::fib::{default_metric, kernel_metric, FibEntry, FibUpdate};

/// Where this node sits on the network; the subnets decide "same subnet".
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeNetwork {
    /// The interface toward the other nodes (`eth0`): direct routes use it.
    pub uplink: String,
    /// The node's IPv4 address with its prefix length (`spec.bgp.ipv4Address`,
    /// `10.0.1.5/24`). Its network (`10.0.1.0/24`) is "this node's subnet",
    /// like Calico's `network_v4` (docs/CALICO-CONTRACT.md §4.2).
    pub address: IpNet,
    /// The node's IPv6 address with its prefix length, when it has one.
    pub address_v6: Option<IpNet>,
}

impl NodeNetwork {
    /// This node's IPv4 subnet: `10.0.1.5/24` gives `10.0.1.0/24`.
    pub fn subnet(&self) -> IpNet {
        self.address.trunc()
    }

    /// This node's IPv6 subnet, when it has an IPv6 address.
    pub fn subnet_v6(&self) -> Option<IpNet> {
        self.address_v6.map(|a| a.trunc())
    }
}

/// What the kernel should hold for one prefix, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// For operators: which rule chose this, hop by hop, in words.
    pub reason: String,
}

/// The shape of the kernel route; equal actions mean an identical route, so
/// nothing to reprogram.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The speaker withdrew the prefix: our route goes, and so does its status.
    Withdrawn,
    /// Known to BGP but not for the kernel (VXLAN pool, `never_install`, no
    /// usable next hop): our route goes if there is one; the status stays so
    /// that operators can see why.
    NotInstalled,
    /// `blackhole PREFIX`: one of this node's own blocks.
    Blackhole,
    /// One route with one or more next hops (a multipath route when several),
    /// sorted by gateway so that the order BGP gave does not matter, at the
    /// metric the kernel will hold.
    Forward { hops: Hops, metric: u32 },
}

impl Action {
    /// Whether this action puts a route of ours in the kernel.
    pub fn installs(&self) -> bool {
        matches!(self, Self::Blackhole | Self::Forward { .. })
    }

    /// The metric of the route this action installs at `prefix`, as the
    /// kernel holds it (blackholes go without one, as BIRD's static routes
    /// do: Calico's kernel filter sets a metric on BGP routes only,
    /// docs/CALICO-CONTRACT.md §4.1).
    pub fn metric(&self, prefix: &IpNet) -> Option<u32> {
        match self {
            Self::Blackhole => Some(default_metric(prefix)),
            Self::Forward { metric, .. } => Some(*metric),
            Self::Withdrawn | Self::NotInstalled => None,
        }
    }
}

/// The next hops of one route, the usual one held inline.
pub type Hops = SmallVec<[Hop; 1]>;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hop {
    pub gateway: IpAddr,
    pub via: Via,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Via {
    /// `via P dev D`, with `onlink` for the tunnel: the kernel then takes P as
    /// reachable on D without a route to it (the fork's `RTNH_F_ONLINK`).
    Device { name: DeviceName, onlink: bool },
    /// `via P` with no device: the kernel resolves P itself, as BIRD's
    /// `gateway recursive` does; when the kernel refuses (P is not directly
    /// reachable), netlink falls back to the kernel's own route toward P.
    Recursive,
}

/// Classifies one update; see the module documentation for the order of rules.
pub fn classify(config: &KernelConfig, node: &NodeNetwork, update: &FibUpdate) -> Decision {
    classify_entry(config, node, update.prefix, &update.entry)
}

/// [`classify`] for a prefix and what BGP decided for it.
pub fn classify_entry(
    config: &KernelConfig,
    node: &NodeNetwork,
    prefix: IpNet,
    entry: &FibEntry,
) -> Decision {
    let mut reason = String::new();
    let action = decide(config, node, prefix, entry, &mut Why(Some(&mut reason)));
    Decision { action, reason }
}

/// The action alone, without putting the reason into words: what a pass
/// over many routes needs. The status puts the reason into words when it is
/// read, with [`classify_entry`].
pub(crate) fn action_of(
    config: &KernelConfig,
    node: &NodeNetwork,
    prefix: IpNet,
    entry: &FibEntry,
) -> Action {
    decide(config, node, prefix, entry, &mut Why(None))
}

/// Where the reason goes, if anywhere: the words are only formatted when
/// someone will read them.
struct Why<'a>(Option<&'a mut String>);

impl Why<'_> {
    fn say(&mut self, words: std::fmt::Arguments<'_>) {
        if let Some(reason) = self.0.as_deref_mut() {
            let _ = reason.write_fmt(words);
        }
    }
}

fn decide(
    config: &KernelConfig,
    node: &NodeNetwork,
    prefix: IpNet,
    entry: &FibEntry,
    why: &mut Why<'_>,
) -> Action {
    // `None` for a blackhole, the next hops and metric otherwise.
    let gateways = match entry {
        FibEntry::Remove => {
            why.say(format_args!("{prefix} was withdrawn"));
            return Action::Withdrawn;
        }
        FibEntry::Blackhole => None,
        FibEntry::NextHops { hops, metric } => Some((hops, *metric)),
    };
    // docs/CALICO-CONTRACT.md §4.1: `if ( net ~ <rejectcidrs> ) then { reject; }`
    // comes before the pool clauses, so it wins over blackholes and pools alike.
    if let Some(range) = config.never_install.iter().find(|r| r.contains(&prefix)) {
        why.say(format_args!(
            "{prefix} is inside never_install {range}: advertised, never installed"
        ));
        return Action::NotInstalled;
    }
    let pool = pool_of(config, prefix);
    // docs/CALICO-CONTRACT.md §4.1: a pool with vxlan_mode gives `reject;`
    // ("Don't program VXLAN routes into the kernel - these are handled by Felix").
    if let Some(pool) = pool.filter(|p| p.vxlan) {
        why.say(format_args!(
            "{prefix} is inside VXLAN pool {}: Felix programs VXLAN routes",
            pool.cidr
        ));
        return Action::NotInstalled;
    }
    // Calico's `programClusterRoutes`: a pool whose routes Felix programs
    // gives `reject;` too ("Cluster routes are handled by Felix"), own
    // blocks' blackholes included; the routes are still advertised.
    if let Some(pool) = pool.filter(|p| !config.cluster_routes.programs(p)) {
        why.say(format_args!(
            "{prefix} is inside pool {} (ipip {:?}), whose routes Felix programs (cluster routes {})",
            pool.cidr,
            pool.ipip,
            config.cluster_routes.name()
        ));
        return Action::NotInstalled;
    }
    match gateways {
        None => {
            why.say(format_args!(
                "{prefix} is one of this node's blocks: blackhole"
            ));
            Action::Blackhole
        }
        Some((gateways, metric)) => forward(config, node, prefix, pool, gateways, why).map_or(
            Action::NotInstalled,
            |hops| Action::Forward {
                hops,
                metric: kernel_metric(&prefix, metric),
            },
        ),
    }
}

/// The most specific pool of the prefix's family that contains it. Calico
/// validates pools not to overlap; the longest match is the safe choice if
/// they do.
fn pool_of(config: &KernelConfig, prefix: IpNet) -> Option<&PoolConfig> {
    config
        .pools
        .iter()
        .filter(|p| p.cidr.contains(&prefix))
        .max_by_key(|p| p.cidr.prefix_len())
}

fn forward(
    config: &KernelConfig,
    node: &NodeNetwork,
    prefix: IpNet,
    pool: Option<&PoolConfig>,
    gateways: &[IpAddr],
    why: &mut Why<'_>,
) -> Option<Hops> {
    match (prefix, pool) {
        (IpNet::V6(_), _) => why.say(format_args!("{prefix}: IPv6 has no IP-in-IP")),
        (IpNet::V4(_), Some(pool)) => why.say(format_args!(
            "{prefix} is in pool {} (ipip {:?})",
            pool.cidr, pool.ipip
        )),
        (IpNet::V4(_), None) => why.say(format_args!("{prefix} is in no pool, so like ipip Never")),
    }
    let mut sorted;
    let gateways = if gateways.len() > 1 {
        sorted = gateways.to_vec();
        sorted.sort();
        sorted.dedup();
        &sorted[..]
    } else {
        gateways
    };
    let mut hops = Hops::new();
    for &gateway in gateways {
        let hop = match (prefix, gateway) {
            (IpNet::V4(_), IpAddr::V4(_)) => {
                let mode = pool.map_or(IpipMode::Never, |p| p.ipip);
                hop_v4(config, node, mode, gateway, why)
            }
            (IpNet::V6(_), IpAddr::V6(_)) => hop_v6(node, gateway, why),
            _ => {
                why.say(format_args!(
                    "; next hop {gateway} is of the other family: skipped"
                ));
                continue;
            }
        };
        hops.push(hop);
    }
    if hops.is_empty() {
        why.say(format_args!("; no usable next hop"));
        return None;
    }
    Some(hops)
}

/// docs/DESIGN.md §4, one row per IP-in-IP mode.
fn hop_v4(
    config: &KernelConfig,
    node: &NodeNetwork,
    mode: IpipMode,
    gateway: IpAddr,
    why: &mut Why<'_>,
) -> Hop {
    let subnet = node.subnet();
    let local = subnet.contains(&gateway);
    let tunnel = || Via::Device {
        name: DeviceName::new(&config.tunnel_device),
        onlink: true,
    };
    let tunnel_name = &config.tunnel_device;
    let uplink = &node.uplink;
    let via = match (mode, local) {
        (IpipMode::Always, _) => {
            why.say(format_args!(
                "; ipip Always: next hop {gateway} via {tunnel_name} onlink"
            ));
            tunnel()
        }
        (IpipMode::CrossSubnet, false) => {
            why.say(format_args!(
                "; next hop {gateway} is outside {subnet}, so {tunnel_name} onlink"
            ));
            tunnel()
        }
        (IpipMode::CrossSubnet | IpipMode::Never, true) => {
            why.say(format_args!(
                "; next hop {gateway} is inside {subnet}, so direct on {uplink}"
            ));
            direct(node)
        }
        (IpipMode::Never, false) => {
            why.say(format_args!(
                "; next hop {gateway} is outside {subnet}, so through the kernel's route to it"
            ));
            Via::Recursive
        }
    };
    Hop { gateway, via }
}

/// IPv6: never a tunnel; direct on the uplink when on the node's subnet or
/// link-local (a link-local next hop is meaningless without a device), else
/// resolved by the kernel.
fn hop_v6(node: &NodeNetwork, gateway: IpAddr, why: &mut Why<'_>) -> Hop {
    let uplink = &node.uplink;
    let link_local = matches!(gateway, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80);
    let via = match node.subnet_v6() {
        _ if link_local => {
            why.say(format_args!(
                "; next hop {gateway} is link-local, so direct on {uplink}"
            ));
            direct(node)
        }
        Some(subnet) if subnet.contains(&gateway) => {
            why.say(format_args!(
                "; next hop {gateway} is inside {subnet}, so direct on {uplink}"
            ));
            direct(node)
        }
        Some(subnet) => {
            why.say(format_args!(
                "; next hop {gateway} is outside {subnet}, so through the kernel's route to it"
            ));
            Via::Recursive
        }
        None => {
            why.say(format_args!(
                "; no IPv6 subnet on this node, so next hop {gateway} through the kernel's route to it"
            ));
            Via::Recursive
        }
    };
    Hop { gateway, via }
}

fn direct(node: &NodeNetwork) -> Via {
    Via::Device {
        name: DeviceName::new(&node.uplink),
        onlink: false,
    }
}

#[cfg(test)]
mod tests;
