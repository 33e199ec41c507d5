//! The node's addresses, found as calico-node's start-up finds them: `IP`
//! and `IP6` (an address with its prefix length, `autodetect`, or `none`),
//! with `IP_AUTODETECTION_METHOD` and `IP6_AUTODETECTION_METHOD`:
//!
//! - `first-found` (the default): the first global address of the first
//!   interface, in the kernel's order, that is not one of the interfaces
//!   Calico always skips (bridges, veths, tunnels, its own devices);
//! - `interface=REGEX`: the first address of the first interface whose name
//!   matches (comma-separated regexes, tried in turn);
//! - `skip-interface=REGEX`: first-found, also skipping these;
//! - `can-reach=DEST`: the address the kernel would send from towards DEST
//!   (an address or a name), with the prefix length of the interface it is on;
//! - `cidr=CIDR[,CIDR...]`: the first address inside one of them.
//!
//! Each family is found on its own, among that family's addresses only. The
//! prefix length matters: it defines the node's subnet for CrossSubnet.

use std::fmt;
use std::net::{IpAddr, ToSocketAddrs, UdpSocket};

use ipnet::IpNet;
use regex::Regex;

/// Interfaces first-found never takes (calico-node's default exclusions).
const ALWAYS_SKIPPED: &[&str] = &[
    "^docker.*",
    "^cbr.*",
    "^dummy.*",
    "^virbr.*",
    "^lxcbr.*",
    "^veth.*",
    "^lo",
    "^cali.*",
    "^tunl.*",
    "^flannel.*",
    "^kube-ipvs.*",
    "^cni.*",
    "^vxlan.calico.*",
    "^vxlan-v6.calico.*",
    "^wireguard.cali.*",
    "^wg-v6.cali.*",
    "^nodelocaldns.*",
];

/// The address family being detected: `IP` or `IP6`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn holds(self, ip: IpAddr) -> bool {
        matches!(
            (self, ip),
            (Self::V4, IpAddr::V4(_)) | (Self::V6, IpAddr::V6(_))
        )
    }

    /// calico-node's name for the method's variable, for error messages.
    fn method_variable(self) -> &'static str {
        match self {
            Self::V4 => "IP_AUTODETECTION_METHOD",
            Self::V6 => "IP6_AUTODETECTION_METHOD",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        })
    }
}

/// One address of an interface, as the kernel lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceAddress {
    pub interface: String,
    pub address: IpNet,
}

/// How to find the address (`IP_AUTODETECTION_METHOD`).
#[derive(Clone, Debug)]
pub enum Method {
    FirstFound { skip: Vec<Regex> },
    Interface(Vec<Regex>),
    CanReach(String),
    Cidr(Vec<IpNet>),
}

impl Method {
    /// Parses calico-node's syntax for `family`; empty is `first-found`.
    pub fn parse(text: &str, family: Family) -> Result<Self, String> {
        let text = text.trim();
        let variable = family.method_variable();
        let regexes = |list: &str| -> Result<Vec<Regex>, String> {
            list.split(',')
                .map(|r| Regex::new(r.trim()).map_err(|e| format!("bad regex {r:?}: {e}")))
                .collect()
        };
        if text.is_empty() || text == "first-found" {
            return Ok(Self::FirstFound { skip: Vec::new() });
        }
        let expected = || {
            format!("{variable} {text:?}: first-found, interface=, skip-interface=, can-reach= or cidr=")
        };
        let (kind, value) = text.split_once('=').ok_or_else(expected)?;
        match kind {
            "interface" => Ok(Self::Interface(regexes(value)?)),
            "skip-interface" => Ok(Self::FirstFound {
                skip: regexes(value)?,
            }),
            "can-reach" if !value.trim().is_empty() => Ok(Self::CanReach(value.trim().to_owned())),
            "cidr" => value
                .split(',')
                .map(|c| match c.trim().parse::<IpNet>() {
                    Ok(net) if family.holds(net.addr()) => Ok(net),
                    _ => Err(format!("{variable}: bad {family} CIDR {c:?}")),
                })
                .collect::<Result<_, _>>()
                .map(Self::Cidr),
            _ => Err(expected()),
        }
    }
}

/// Whether an address may be the node's at all: not loopback, link-local,
/// multicast or unspecified, in either family.
fn usable(address: &IpNet) -> bool {
    match address.addr() {
        IpAddr::V4(ip) => {
            !(ip.is_loopback() || ip.is_link_local() || ip.is_unspecified() || ip.is_multicast())
        }
        IpAddr::V6(ip) => {
            !(ip.is_loopback()
                || ip.is_unicast_link_local()
                || ip.is_unspecified()
                || ip.is_multicast())
        }
    }
}

/// Picks the `family` address among `addresses` (in the kernel's order) by
/// `method`; `route_source` answers can-reach (the kernel's source address
/// towards a destination).
pub fn choose(
    method: &Method,
    family: Family,
    addresses: &[InterfaceAddress],
    route_source: impl Fn(&str, Family) -> Result<IpAddr, String>,
) -> Result<IpNet, String> {
    let candidates = || {
        addresses
            .iter()
            .filter(|a| family.holds(a.address.addr()) && usable(&a.address))
    };
    let found = match method {
        Method::FirstFound { skip } => {
            let always: Vec<Regex> = ALWAYS_SKIPPED
                .iter()
                .map(|r| Regex::new(r).expect("a valid built-in regex"))
                .collect();
            candidates()
                .find(|a| !always.iter().chain(skip).any(|r| r.is_match(&a.interface)))
                .map(|a| a.address)
        }
        Method::Interface(regexes) => regexes.iter().find_map(|r| {
            candidates()
                .find(|a| r.is_match(&a.interface))
                .map(|a| a.address)
        }),
        Method::CanReach(destination) => {
            let source = route_source(destination, family)?;
            addresses
                .iter()
                .find(|a| a.address.addr() == source)
                .map(|a| a.address)
        }
        Method::Cidr(cidrs) => candidates()
            .find(|a| cidrs.iter().any(|c| c.contains(&a.address.addr())))
            .map(|a| a.address),
    };
    found.ok_or_else(|| format!("no {family} address found by {method:?}"))
}

/// The addresses of this host's interfaces, both families, in the kernel's
/// order.
pub fn host_addresses() -> Result<Vec<InterfaceAddress>, String> {
    let list = nix::ifaddrs::getifaddrs().map_err(|e| format!("cannot list addresses: {e}"))?;
    let mut out = Vec::new();
    for entry in list {
        let (Some(address), Some(netmask)) = (entry.address, entry.netmask) else {
            continue;
        };
        let net = if let (Some(a), Some(m)) = (address.as_sockaddr_in(), netmask.as_sockaddr_in()) {
            IpNet::new(a.ip().into(), u32::from(m.ip()).count_ones() as u8)
        } else if let (Some(a), Some(m)) = (address.as_sockaddr_in6(), netmask.as_sockaddr_in6()) {
            IpNet::new(a.ip().into(), u128::from(m.ip()).count_ones() as u8)
        } else {
            continue;
        };
        if let Ok(net) = net {
            out.push(InterfaceAddress {
                interface: entry.interface_name,
                address: net,
            });
        }
    }
    Ok(out)
}

/// The source address the kernel picks towards `destination`: a UDP socket
/// connected there (no packet is sent) says which.
pub fn kernel_route_source(destination: &str, family: Family) -> Result<IpAddr, String> {
    // A bare address or name gets a port; "[v6]:port" and "v4:port" have one.
    let target = match destination.parse::<IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, 179).to_string(),
        Err(_) if destination.contains(':') => destination.to_owned(),
        Err(_) => format!("{destination}:179"),
    };
    let address = target
        .to_socket_addrs()
        .map_err(|e| format!("can-reach {destination}: {e}"))?
        .find(|a| family.holds(a.ip()))
        .ok_or_else(|| format!("can-reach {destination}: no {family} address"))?;
    let any = match family {
        Family::V4 => "0.0.0.0:0",
        Family::V6 => "[::]:0",
    };
    let socket = UdpSocket::bind(any).map_err(|e| format!("can-reach: {e}"))?;
    socket
        .connect(address)
        .map_err(|e| format!("can-reach {destination}: {e}"))?;
    Ok(socket.local_addr().map_err(|e| e.to_string())?.ip())
}

/// The node's `family` address from calico-node's `IP` (or `IP6`) and its
/// autodetection method: None for `none`.
pub fn node_address(ip: &str, method: &str, family: Family) -> Result<Option<IpNet>, String> {
    // Unset, IP means autodetect and IP6 none: calico-node detects an IPv6
    // address only when asked to.
    let ip = match (ip.trim(), family) {
        ("", Family::V4) => "autodetect",
        ("", Family::V6) => "none",
        (text, _) => text,
    };
    match ip {
        "none" => Ok(None),
        "autodetect" => {
            let method = Method::parse(method, family)?;
            let found = choose(&method, family, &host_addresses()?, kernel_route_source)?;
            Ok(Some(found))
        }
        text => {
            // An address as given; calico-node takes a bare one as a host route.
            let net = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                .ok()
                .filter(|net| family.holds(net.addr()))
                .ok_or_else(|| format!("{text:?} is not an {family} address"))?;
            Ok(Some(net))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Vec<InterfaceAddress> {
        [
            ("lo", "127.0.0.1/8"),
            ("lo", "::1/128"),
            ("docker0", "172.17.0.1/16"),
            ("eth0", "169.254.3.3/16"),
            ("eth0", "fe80::1/64"),
            ("eth0", "10.0.1.5/24"),
            ("eth0", "fd00:1::5/64"),
            ("eth1", "192.168.7.5/24"),
            ("eth1", "fd00:7::5/64"),
            ("cali12ab", "10.244.0.1/32"),
        ]
        .iter()
        .map(|(i, a)| InterfaceAddress {
            interface: (*i).to_owned(),
            address: a.parse().unwrap(),
        })
        .collect()
    }

    fn pick_in(method: &str, family: Family) -> Result<String, String> {
        let reach = |d: &str, _: Family| match d {
            "192.168.7.1" => Ok("192.168.7.5".parse().unwrap()),
            "fd00:7::1" => Ok("fd00:7::5".parse().unwrap()),
            other => Err(format!("no route to {other}")),
        };
        choose(&Method::parse(method, family)?, family, &host(), reach).map(|a| a.to_string())
    }

    fn pick(method: &str) -> Result<String, String> {
        pick_in(method, Family::V4)
    }

    #[test]
    fn first_found_skips_docker_loopback_and_link_local() {
        assert_eq!(pick("first-found").unwrap(), "10.0.1.5/24");
        assert_eq!(pick("").unwrap(), "10.0.1.5/24");
        assert_eq!(pick("skip-interface=eth0").unwrap(), "192.168.7.5/24");
    }

    #[test]
    fn interface_cidr_and_can_reach() {
        assert_eq!(pick("interface=eth1").unwrap(), "192.168.7.5/24");
        assert_eq!(pick("interface=nomatch,eth.*").unwrap(), "10.0.1.5/24");
        assert_eq!(pick("cidr=192.168.0.0/16").unwrap(), "192.168.7.5/24");
        assert_eq!(pick("can-reach=192.168.7.1").unwrap(), "192.168.7.5/24");
        assert!(pick("can-reach=10.9.9.9").unwrap_err().contains("no route"));
        assert!(pick("cidr=10.99.0.0/16").is_err());
    }

    #[test]
    fn ipv6_is_found_among_ipv6_addresses_only() {
        let v6 = |m| pick_in(m, Family::V6);
        // first-found passes over ::1 and fe80::/10 as over 127/8 and 169.254/16.
        assert_eq!(v6("first-found").unwrap(), "fd00:1::5/64");
        assert_eq!(v6("interface=eth1").unwrap(), "fd00:7::5/64");
        assert_eq!(v6("skip-interface=eth0").unwrap(), "fd00:7::5/64");
        assert_eq!(v6("cidr=fd00:7::/48").unwrap(), "fd00:7::5/64");
        assert_eq!(v6("can-reach=fd00:7::1").unwrap(), "fd00:7::5/64");
        // An interface with addresses of the other family only is no match.
        assert!(v6("interface=docker0").unwrap_err().contains("IPv6"));
        assert!(pick("interface=lo").is_err());
        // A CIDR of the other family is a mistake, said as such.
        let err = v6("cidr=10.0.0.0/8").unwrap_err();
        assert!(err.contains("IP6_AUTODETECTION_METHOD"), "{err}");
    }

    #[test]
    fn bad_methods_say_what_is_expected() {
        for bad in ["interface=(", "cidr=10.0.0.0/33", "nearest", "can-reach="] {
            let err = Method::parse(bad, Family::V4).unwrap_err();
            assert!(
                err.contains("IP_AUTODETECTION_METHOD") || err.contains("regex"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn ip_given_or_none() {
        let v4 = |ip| node_address(ip, "", Family::V4);
        assert_eq!(
            v4("10.0.1.9/24").unwrap(),
            Some("10.0.1.9/24".parse().unwrap())
        );
        assert_eq!(
            v4("10.0.1.9").unwrap(),
            Some("10.0.1.9/32".parse().unwrap())
        );
        assert_eq!(v4("none").unwrap(), None);
        assert!(v4("ten").is_err());
        assert!(v4("fd00::9/64").unwrap_err().contains("IPv4"));
        let v6 = |ip| node_address(ip, "", Family::V6);
        assert_eq!(
            v6("fd00::9/64").unwrap(),
            Some("fd00::9/64".parse().unwrap())
        );
        assert_eq!(v6("fd00::9").unwrap(), Some("fd00::9/128".parse().unwrap()));
        assert!(v6("10.0.1.9/24").unwrap_err().contains("IPv6"));
        // Unset IP6 is none, as in calico-node.
        assert_eq!(v6("").unwrap(), None);
    }
}
