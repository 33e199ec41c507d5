//! rtnetlink messages: building route and link requests, reading the few
//! fields routesync needs from the kernel's routes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHopFlags,
    RouteProtocol, RouteType,
};
#[cfg(test)]
use netlink_packet_route::route::{RouteNextHop, RouteScope};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

/// Whose routes: ours are tagged with this protocol in this table, and only
/// those are ever changed or removed (docs/DESIGN.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    pub protocol: u8,
    pub table: u32,
}

/// One next hop as the kernel takes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct NextHopSpec {
    pub gateway: IpAddr,
    /// None: the kernel resolves the gateway (no `RTA_OIF`).
    pub ifindex: Option<u32>,
    pub onlink: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RouteSpec {
    /// Sent without a metric (`RTA_PRIORITY`): the family's default.
    Blackhole,
    /// One hop: `RTA_GATEWAY` and `RTA_OIF`; several: `RTA_MULTIPATH`; the
    /// metric in `RTA_PRIORITY`.
    Unicast { hops: NextHopSpecs, metric: u32 },
}

impl RouteSpec {
    /// The metric the kernel holds the route at.
    pub fn metric(&self, prefix: &IpNet) -> u32 {
        match self {
            Self::Blackhole => crate::fib::default_metric(prefix),
            Self::Unicast { metric, .. } => *metric,
        }
    }
}

/// The usual one next hop held inline: no heap block per route kept.
pub(crate) type NextHopSpecs = smallvec::SmallVec<[NextHopSpec; 1]>;

/// `RTM_NEWROUTE`: the route, tagged with our protocol, in our table. The
/// batch encodes routes by hand ([`super::encode`]); this is what its test
/// compares with.
#[cfg(test)]
pub(crate) fn new_route(owner: Owner, prefix: IpNet, spec: &RouteSpec) -> RouteNetlinkMessage {
    let mut message = route_message(prefix, owner.table);
    message.header.protocol = RouteProtocol::from(owner.protocol);
    message.header.scope = RouteScope::Universe;
    match spec {
        RouteSpec::Blackhole => message.header.kind = RouteType::BlackHole,
        RouteSpec::Unicast { hops, metric } => {
            message.header.kind = RouteType::Unicast;
            message.attributes.push(RouteAttribute::Priority(*metric));
            match hops.as_slice() {
                [hop] => {
                    message
                        .attributes
                        .push(RouteAttribute::Gateway(RouteAddress::from(hop.gateway)));
                    if let Some(index) = hop.ifindex {
                        message.attributes.push(RouteAttribute::Oif(index));
                    }
                    if hop.onlink {
                        message.header.flags |= RouteFlags::Onlink;
                    }
                }
                hops => {
                    let hops = hops
                        .iter()
                        .map(|hop| {
                            let mut next_hop = RouteNextHop::default();
                            next_hop.interface_index = hop.ifindex.unwrap_or(0);
                            if hop.onlink {
                                next_hop.flags |= RouteNextHopFlags::Onlink;
                            }
                            next_hop
                                .attributes
                                .push(RouteAttribute::Gateway(RouteAddress::from(hop.gateway)));
                            next_hop
                        })
                        .collect();
                    message.attributes.push(RouteAttribute::MultiPath(hops));
                }
            }
        }
    }
    RouteNetlinkMessage::NewRoute(message)
}

/// `RTM_DELROUTE` for our route to `prefix`, whatever its type and next hops:
/// the kernel matches the protocol (`fib_table_delete`, `ip6_route_del`), so
/// a route of anyone else is never removed; scope `NOWHERE` matches any scope;
/// without a metric, the first route of ours at any metric goes.
#[cfg(test)]
pub(crate) fn del_route(owner: Owner, prefix: IpNet, metric: Option<u32>) -> RouteNetlinkMessage {
    let mut message = route_message(prefix, owner.table);
    message.header.protocol = RouteProtocol::from(owner.protocol);
    message.header.scope = RouteScope::NoWhere;
    message.header.kind = RouteType::Unspec;
    if let Some(metric) = metric {
        message.attributes.push(RouteAttribute::Priority(metric));
    }
    RouteNetlinkMessage::DelRoute(message)
}

/// `RTM_GETROUTE` for one address: the kernel's route toward it (`ip route
/// get`), with the gateway and device it would use.
pub(crate) fn get_route(address: IpAddr) -> RouteNetlinkMessage {
    RouteNetlinkMessage::GetRoute(lookup(address))
}

/// `RTM_GETROUTE` with `RTM_F_FIB_MATCH` (`ip route get fibmatch`): the table
/// entry that holds the prefix's first address, to say who holds a prefix.
pub(crate) fn get_fib_match(prefix: IpNet) -> RouteNetlinkMessage {
    let mut message = lookup(prefix.network());
    message.header.flags |= RouteFlags::FibMatch;
    RouteNetlinkMessage::GetRoute(message)
}

fn lookup(address: IpAddr) -> RouteMessage {
    let mut message = RouteMessage::default();
    message.header.address_family = family(address);
    message.header.destination_prefix_length = full_length(address);
    message
        .attributes
        .push(RouteAttribute::Destination(RouteAddress::from(address)));
    message
}

/// A dump of the routes of one family with our protocol in our table: the
/// kernel filters on both with strict checking (Linux 4.20 and later); the
/// caller filters again for older kernels.
pub(crate) fn dump_routes(family: AddressFamily, owner: Owner) -> RouteNetlinkMessage {
    let mut message = RouteMessage::default();
    message.header.address_family = family;
    message.header.protocol = RouteProtocol::from(owner.protocol);
    message.header.table = u8::try_from(owner.table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    if owner.table > 255 {
        message.attributes.push(RouteAttribute::Table(owner.table));
    }
    RouteNetlinkMessage::GetRoute(message)
}

/// A dump of every link.
pub(crate) fn dump_links() -> RouteNetlinkMessage {
    RouteNetlinkMessage::GetLink(LinkMessage::default())
}

/// A dump of every address of both families.
pub(crate) fn dump_addresses() -> RouteNetlinkMessage {
    RouteNetlinkMessage::GetAddress(AddressMessage::default())
}

/// `RTM_GETLINK` by name (`IFLA_IFNAME`); ENODEV when there is none.
pub(crate) fn get_link_by_name(name: &str) -> RouteNetlinkMessage {
    let mut message = LinkMessage::default();
    message
        .attributes
        .push(LinkAttribute::IfName(name.to_owned()));
    RouteNetlinkMessage::GetLink(message)
}

/// `RTM_GETLINK` by index.
pub(crate) fn get_link_by_index(index: u32) -> RouteNetlinkMessage {
    let mut message = LinkMessage::default();
    message.header.index = index;
    RouteNetlinkMessage::GetLink(message)
}

/// The index and name of a link reply.
pub(crate) fn link_of(message: &RouteNetlinkMessage) -> Option<(u32, String)> {
    let RouteNetlinkMessage::NewLink(link) = message else {
        return None;
    };
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some((link.header.index, name.clone())),
        _ => None,
    })
}

/// A link as a dump or an event gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// Administratively up (`IFF_UP`): IPv4 drops routes through a device
    /// that goes down, without a word.
    pub up: bool,
    /// `RTM_DELLINK`: the device is gone.
    pub deleted: bool,
}

pub(crate) fn link_info(message: &RouteNetlinkMessage) -> Option<LinkInfo> {
    let (link, deleted) = match message {
        RouteNetlinkMessage::NewLink(link) => (link, false),
        RouteNetlinkMessage::DelLink(link) => (link, true),
        _ => return None,
    };
    let name = link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.clone()),
        _ => None,
    })?;
    Some(LinkInfo {
        index: link.header.index,
        name,
        up: link.header.flags.contains(LinkFlags::Up),
        deleted,
    })
}

/// An address as a dump or an event gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AddressInfo {
    /// The interface index.
    pub index: u32,
    /// The address with its prefix length (`10.0.1.11/24`).
    pub address: IpNet,
    /// `ifa_scope`: 0 universe, 253 link, 254 host.
    pub scope: u8,
    /// `RTM_DELADDR`.
    pub deleted: bool,
}

pub(crate) fn address_info(message: &RouteNetlinkMessage) -> Option<AddressInfo> {
    let (a, deleted) = match message {
        RouteNetlinkMessage::NewAddress(a) => (a, false),
        RouteNetlinkMessage::DelAddress(a) => (a, true),
        _ => return None,
    };
    // IFA_LOCAL is the interface's own address (it differs from IFA_ADDRESS
    // on point-to-point links only); IFA_ADDRESS otherwise.
    let local = a.attributes.iter().find_map(|attr| match attr {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let address = local.or_else(|| {
        a.attributes.iter().find_map(|attr| match attr {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })?;
    Some(AddressInfo {
        index: a.header.index,
        address: IpNet::new(address, a.header.prefix_len).ok()?,
        scope: u8::from(a.header.scope),
        deleted,
    })
}

/// What routesync reads from a kernel route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RouteInfo {
    pub prefix: IpNet,
    pub table: u32,
    pub protocol: u8,
    pub kind: RouteType,
    /// The first hop's gateway and device.
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    /// Every hop with a gateway (one, or those of `RTA_MULTIPATH`).
    pub hops: Vec<NextHopSpec>,
    /// `RTA_PRIORITY`, 0 when absent.
    pub metric: u32,
}

impl RouteSpec {
    /// Whether the kernel's route is this one: same type, same hops (in any
    /// order; a hop sent without a device matches any device).
    pub fn matches(&self, route: &RouteInfo) -> bool {
        match self {
            Self::Blackhole => route.kind == RouteType::BlackHole,
            Self::Unicast { hops, metric } => {
                route.kind == RouteType::Unicast
                    && route.metric == *metric
                    && hops.len() == route.hops.len()
                    && hops.iter().all(|hop| {
                        route.hops.iter().any(|theirs| {
                            theirs.gateway == hop.gateway
                                && theirs.onlink == hop.onlink
                                && (hop.ifindex.is_none() || theirs.ifindex == hop.ifindex)
                        })
                    })
            }
        }
    }
}

/// A route of a dump, a reply or an event (`RTM_NEWROUTE` or `RTM_DELROUTE`).
pub(crate) fn route_of(message: &RouteNetlinkMessage) -> Option<RouteInfo> {
    let (RouteNetlinkMessage::NewRoute(route) | RouteNetlinkMessage::DelRoute(route)) = message
    else {
        return None;
    };
    let header = &route.header;
    let mut destination = None;
    let mut table = u32::from(header.table);
    let mut gateway = None;
    let mut oif = None;
    let mut hops = Vec::new();
    let mut metric = 0;
    for attribute in &route.attributes {
        match attribute {
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Destination(a) => destination = address(a),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Gateway(a) => gateway = address(a),
            RouteAttribute::Oif(index) => oif = Some(*index),
            RouteAttribute::MultiPath(next_hops) => {
                for next_hop in next_hops {
                    let hop_gateway = next_hop.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(a) => address(a),
                        _ => None,
                    });
                    if let Some(hop_gateway) = hop_gateway {
                        hops.push(NextHopSpec {
                            gateway: hop_gateway,
                            ifindex: Some(next_hop.interface_index),
                            onlink: next_hop.flags.contains(RouteNextHopFlags::Onlink),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(gateway) = gateway {
        hops.push(NextHopSpec {
            gateway,
            ifindex: oif,
            onlink: header.flags.contains(RouteFlags::Onlink),
        });
    }
    let (gateway, oif) = match hops.first() {
        Some(hop) => (Some(hop.gateway), hop.ifindex),
        None => (None, oif),
    };
    let destination = match (destination, header.address_family) {
        (Some(d), _) => d,
        (None, AddressFamily::Inet) => IpAddr::from([0u8; 4]),
        (None, AddressFamily::Inet6) => IpAddr::from([0u16; 8]),
        (None, _) => return None,
    };
    Some(RouteInfo {
        prefix: IpNet::new(destination, header.destination_prefix_length).ok()?,
        table,
        protocol: u8::from(header.protocol),
        kind: header.kind,
        gateway,
        oif,
        hops,
        metric,
    })
}

/// Like `ip route`: `10.244.3.0/26 via 10.0.2.13 dev tunl0 onlink proto bird`.
pub(crate) fn render(
    prefix: IpNet,
    spec: &RouteSpec,
    names: &HashMap<u32, String>,
    owner: Owner,
) -> String {
    let mut text = String::new();
    let hop = |text: &mut String, hop: &NextHopSpec| {
        let _ = write!(text, " via {}", hop.gateway);
        if let Some(index) = hop.ifindex {
            match names.get(&index) {
                Some(name) => {
                    let _ = write!(text, " dev {name}");
                }
                None => {
                    let _ = write!(text, " dev #{index}");
                }
            }
        }
        if hop.onlink {
            text.push_str(" onlink");
        }
    };
    match spec {
        RouteSpec::Blackhole => {
            let _ = write!(text, "blackhole {prefix}");
        }
        RouteSpec::Unicast { hops, .. } if hops.len() == 1 => {
            let _ = write!(text, "{prefix}");
            hop(&mut text, &hops[0]);
        }
        RouteSpec::Unicast { hops, .. } => {
            let _ = write!(text, "{prefix}");
            for h in hops {
                text.push_str(" nexthop");
                hop(&mut text, h);
            }
        }
    }
    let _ = write!(text, " proto {}", protocol_name(owner.protocol));
    // As `ip route`: a metric of 0 is not shown.
    if let RouteSpec::Unicast { metric, .. } = spec {
        if *metric != 0 {
            let _ = write!(text, " metric {metric}");
        }
    }
    if owner.table != 254 {
        let _ = write!(text, " table {}", owner.table);
    }
    text
}

/// `/etc/iproute2/rt_protos` names for the usual ones.
pub(crate) fn protocol_name(protocol: u8) -> String {
    match protocol {
        2 => "kernel".into(),
        3 => "boot".into(),
        4 => "static".into(),
        12 => "bird".into(),
        186 => "bgp".into(),
        other => other.to_string(),
    }
}

/// The common part: family, destination, table. Tables above 255 go in
/// `RTA_TABLE` only, with `RT_TABLE_UNSPEC` in the header, as iproute2 does.
#[cfg(test)]
fn route_message(prefix: IpNet, table: u32) -> RouteMessage {
    let mut message = RouteMessage::default();
    message.header.address_family = family(prefix.addr());
    message.header.destination_prefix_length = prefix.prefix_len();
    message.header.table = u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    message
        .attributes
        .push(RouteAttribute::Destination(RouteAddress::from(
            prefix.network(),
        )));
    message.attributes.push(RouteAttribute::Table(table));
    message
}

fn family(address: IpAddr) -> AddressFamily {
    match address {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn full_length(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn address(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}
