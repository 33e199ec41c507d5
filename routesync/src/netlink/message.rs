//! rtnetlink messages: building route and link requests, reading the few
//! fields routesync needs from the kernel's routes.

use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHop,
    RouteNextHopFlags, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

/// Whose routes: ours are tagged with this protocol in this table, and only
/// those are ever changed or removed (DESIGN.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    pub protocol: u8,
    pub table: u32,
}

/// One next hop as the kernel takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NextHopSpec {
    pub gateway: IpAddr,
    /// None: the kernel resolves the gateway (no `RTA_OIF`).
    pub ifindex: Option<u32>,
    pub onlink: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RouteSpec {
    Blackhole,
    /// One hop: `RTA_GATEWAY` and `RTA_OIF`; several: `RTA_MULTIPATH`.
    Unicast(Vec<NextHopSpec>),
}

/// `RTM_NEWROUTE`: the route, tagged with our protocol, in our table.
pub(crate) fn new_route(owner: Owner, prefix: IpNet, spec: &RouteSpec) -> RouteNetlinkMessage {
    let mut message = route_message(prefix, owner.table);
    message.header.protocol = RouteProtocol::from(owner.protocol);
    message.header.scope = RouteScope::Universe;
    match spec {
        RouteSpec::Blackhole => message.header.kind = RouteType::BlackHole,
        RouteSpec::Unicast(hops) => {
            message.header.kind = RouteType::Unicast;
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
/// a route of anyone else is never removed; scope `NOWHERE` matches any scope.
pub(crate) fn del_route(owner: Owner, prefix: IpNet) -> RouteNetlinkMessage {
    let mut message = route_message(prefix, owner.table);
    message.header.protocol = RouteProtocol::from(owner.protocol);
    message.header.scope = RouteScope::NoWhere;
    message.header.kind = RouteType::Unspec;
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

/// A dump of every route of one family.
pub(crate) fn dump_routes(family: AddressFamily) -> RouteNetlinkMessage {
    let mut message = RouteMessage::default();
    message.header.address_family = family;
    RouteNetlinkMessage::GetRoute(message)
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

/// What routesync reads from a kernel route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RouteInfo {
    pub prefix: IpNet,
    pub table: u32,
    pub protocol: u8,
    pub kind: RouteType,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
}

pub(crate) fn route_of(message: &RouteNetlinkMessage) -> Option<RouteInfo> {
    let RouteNetlinkMessage::NewRoute(route) = message else {
        return None;
    };
    let header = &route.header;
    let mut destination = None;
    let mut table = u32::from(header.table);
    let mut gateway = None;
    let mut oif = None;
    for attribute in &route.attributes {
        match attribute {
            RouteAttribute::Destination(a) => destination = address(a),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Gateway(a) => gateway = address(a),
            RouteAttribute::Oif(index) => oif = Some(*index),
            _ => {}
        }
    }
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
    })
}

/// The common part: family, destination, table. Tables above 255 go in
/// `RTA_TABLE` only, with `RT_TABLE_UNSPEC` in the header, as iproute2 does.
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
