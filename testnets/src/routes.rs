//! Kernel routes of a namespace, read over rtnetlink (RTM_GETROUTE and
//! RTM_GETLINK dumps) into typed values, and rendered like `ip route` for
//! failure messages.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHopFlags,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::{Error, Result};
use crate::netns::Netns;

/// `proto bird` (rtnetlink protocol 12), what Calico's BIRD and podroute use.
pub const PROTO_BIRD: u8 = 12;
/// The main routing table.
pub const MAIN_TABLE: u32 = 254;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteKind {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Local,
    Broadcast,
    Other(u8),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NextHop {
    pub gateway: Option<IpAddr>,
    pub device: Option<String>,
    pub onlink: bool,
    /// `weight` as `ip route` shows it (hops + 1); 1 for a single path.
    pub weight: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelRoute {
    pub destination: IpNet,
    pub kind: RouteKind,
    /// The rtnetlink protocol number (`proto`); see [`PROTO_BIRD`].
    pub protocol: u8,
    pub table: u32,
    pub metric: Option<u32>,
    /// One for a plain route, several for a multipath route, none for a
    /// blackhole.
    pub next_hops: Vec<NextHop>,
}

impl KernelRoute {
    /// The single next hop's gateway, when the route has exactly one.
    pub fn gateway(&self) -> Option<IpAddr> {
        match self.next_hops.as_slice() {
            [hop] => hop.gateway,
            _ => None,
        }
    }

    /// The single next hop's device, when the route has exactly one.
    pub fn device(&self) -> Option<&str> {
        match self.next_hops.as_slice() {
            [hop] => hop.device.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for KernelRoute {
    /// Close to `ip route`: `10.244.2.0/26 via 10.0.1.12 dev eth0 proto bird onlink`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RouteKind::Unicast => {}
            RouteKind::Blackhole => f.write_str("blackhole ")?,
            RouteKind::Unreachable => f.write_str("unreachable ")?,
            RouteKind::Prohibit => f.write_str("prohibit ")?,
            RouteKind::Local => f.write_str("local ")?,
            RouteKind::Broadcast => f.write_str("broadcast ")?,
            RouteKind::Other(kind) => write!(f, "type{kind} ")?,
        }
        if self.destination.prefix_len() == 0 {
            f.write_str("default")?;
        } else {
            write!(f, "{}", self.destination)?;
        }
        let single = self.next_hops.len() == 1;
        if single {
            write_hop(f, &self.next_hops[0])?;
        }
        match self.protocol {
            2 => f.write_str(" proto kernel")?,
            3 => f.write_str(" proto boot")?,
            4 => f.write_str(" proto static")?,
            PROTO_BIRD => f.write_str(" proto bird")?,
            186 => f.write_str(" proto bgp")?,
            other => write!(f, " proto {other}")?,
        }
        if self.table != MAIN_TABLE {
            write!(f, " table {}", self.table)?;
        }
        if let Some(metric) = self.metric {
            write!(f, " metric {metric}")?;
        }
        if single && self.next_hops[0].onlink {
            f.write_str(" onlink")?;
        }
        if !single {
            for hop in &self.next_hops {
                f.write_str(" nexthop")?;
                write_hop(f, hop)?;
                write!(f, " weight {}", hop.weight)?;
                if hop.onlink {
                    f.write_str(" onlink")?;
                }
            }
        }
        Ok(())
    }
}

fn write_hop(f: &mut fmt::Formatter<'_>, hop: &NextHop) -> fmt::Result {
    if let Some(gateway) = hop.gateway {
        write!(f, " via {gateway}")?;
    }
    if let Some(device) = &hop.device {
        write!(f, " dev {device}")?;
    }
    Ok(())
}

/// One route per line, for messages.
pub fn render(routes: &[KernelRoute]) -> String {
    if routes.is_empty() {
        return "(no routes)".into();
    }
    routes.iter().map(|r| format!("  {r}\n")).collect()
}

/// The routes an operator sees with `ip route`: main table, no local or
/// broadcast entries.
pub fn main_table(routes: Vec<KernelRoute>) -> Vec<KernelRoute> {
    routes
        .into_iter()
        .filter(|r| {
            r.table == MAIN_TABLE && !matches!(r.kind, RouteKind::Local | RouteKind::Broadcast)
        })
        .collect()
}

/// Every route of every table in the namespace, IPv4 and IPv6.
pub fn dump(ns: &Netns) -> Result<Vec<KernelRoute>> {
    ns.enter(|| dump_with(&mut dump_socket()?))
}

/// A socket for [`dump_with`]; it belongs to the namespace of the thread
/// that opens it, and stays there wherever it is used.
pub fn dump_socket() -> Result<Socket> {
    let mut socket =
        Socket::new(NETLINK_ROUTE).map_err(|e| Error::Netlink(format!("socket: {e}")))?;
    socket
        .bind_auto()
        .map_err(|e| Error::Netlink(format!("bind: {e}")))?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(|e| Error::Netlink(format!("connect: {e}")))?;
    Ok(socket)
}

/// Every route of every table in the namespace `socket` belongs to.
pub fn dump_with(socket: &mut Socket) -> Result<Vec<KernelRoute>> {
    let names: HashMap<u32, String> =
        request(socket, RouteNetlinkMessage::GetLink(LinkMessage::default()))?
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => {
                    link_name(&link).map(|n| (link.header.index, n))
                }
                _ => None,
            })
            .collect();
    let mut routes = Vec::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let mut query = RouteMessage::default();
        query.header.address_family = family;
        for message in request(socket, RouteNetlinkMessage::GetRoute(query))? {
            if let RouteNetlinkMessage::NewRoute(route) = message {
                if let Some(route) = convert(&route, &names) {
                    routes.push(route);
                }
            }
        }
    }
    Ok(routes)
}

fn link_name(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.clone()),
        _ => None,
    })
}

/// Sends one dump request and collects the replies up to NLMSG_DONE.
fn request(socket: &mut Socket, message: RouteNetlinkMessage) -> Result<Vec<RouteNetlinkMessage>> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
    packet.finalize();
    let mut buf = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket
        .send(&buf, 0)
        .map_err(|e| Error::Netlink(format!("send: {e}")))?;

    let mut replies = Vec::new();
    let mut receive = vec![0u8; 1 << 16];
    loop {
        let size = socket
            .recv(&mut &mut receive[..], 0)
            .map_err(|e| Error::Netlink(format!("recv: {e}")))?;
        let mut offset = 0;
        while offset < size {
            let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&receive[offset..size])
                .map_err(|e| Error::Netlink(format!("decode: {e}")))?;
            let length = reply.header.length as usize;
            match reply.payload {
                NetlinkPayload::Done(_) => return Ok(replies),
                NetlinkPayload::Error(e) => {
                    return Err(Error::Netlink(format!("dump refused: {e:?}")))
                }
                NetlinkPayload::InnerMessage(inner) => replies.push(inner),
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

fn convert(route: &RouteMessage, names: &HashMap<u32, String>) -> Option<KernelRoute> {
    let header = &route.header;
    let mut destination = None;
    let mut table = u32::from(header.table);
    let mut metric = None;
    let mut gateway = None;
    let mut oif = None;
    let mut multipath = Vec::new();
    for attribute in &route.attributes {
        match attribute {
            RouteAttribute::Destination(a) => destination = address(a),
            RouteAttribute::Gateway(a) => gateway = address(a),
            RouteAttribute::Oif(index) => oif = Some(*index),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Priority(p) => metric = Some(*p),
            RouteAttribute::MultiPath(hops) => {
                for hop in hops {
                    let gateway = hop.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(a) => address(a),
                        _ => None,
                    });
                    multipath.push(NextHop {
                        gateway,
                        device: names.get(&hop.interface_index).cloned(),
                        onlink: hop.flags.contains(RouteNextHopFlags::Onlink),
                        weight: u16::from(hop.hops) + 1,
                    });
                }
            }
            _ => {}
        }
    }
    let unspecified = match header.address_family {
        AddressFamily::Inet => IpAddr::from([0u8; 4]),
        AddressFamily::Inet6 => IpAddr::from([0u16; 8]),
        _ => return None,
    };
    let destination = IpNet::new(
        destination.unwrap_or(unspecified),
        header.destination_prefix_length,
    )
    .ok()?;
    let next_hops = if !multipath.is_empty() {
        multipath
    } else if gateway.is_some() || oif.is_some() {
        vec![NextHop {
            gateway,
            device: oif.and_then(|i| names.get(&i).cloned()),
            onlink: header.flags.contains(RouteFlags::Onlink),
            weight: 1,
        }]
    } else {
        Vec::new()
    };
    Some(KernelRoute {
        destination,
        kind: kind(header),
        protocol: u8::from(header.protocol),
        table,
        metric,
        next_hops,
    })
}

fn kind(header: &RouteHeader) -> RouteKind {
    match header.kind {
        RouteType::Unicast => RouteKind::Unicast,
        RouteType::BlackHole => RouteKind::Blackhole,
        RouteType::Unreachable => RouteKind::Unreachable,
        RouteType::Prohibit => RouteKind::Prohibit,
        RouteType::Local => RouteKind::Local,
        RouteType::Broadcast => RouteKind::Broadcast,
        other => RouteKind::Other(u8::from(other)),
    }
}

fn address(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}
