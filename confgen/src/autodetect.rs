//! The node's IPv4 address, found as calico-node's start-up finds it: `IP`
//! (an address with its prefix length, `autodetect`, or `none`) and
//! `IP_AUTODETECTION_METHOD`:
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
//! The prefix length matters: it defines the node's subnet for CrossSubnet.

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs, UdpSocket};

use ipnet::{IpNet, Ipv4Net};
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

/// One IPv4 address of an interface, as the kernel lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceAddress {
    pub interface: String,
    pub address: Ipv4Net,
}

/// How to find the address (`IP_AUTODETECTION_METHOD`).
#[derive(Clone, Debug)]
pub enum Method {
    FirstFound { skip: Vec<Regex> },
    Interface(Vec<Regex>),
    CanReach(String),
    Cidr(Vec<Ipv4Net>),
}

impl Method {
    /// Parses calico-node's syntax; empty is `first-found`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let regexes = |list: &str| -> Result<Vec<Regex>, String> {
            list.split(',')
                .map(|r| Regex::new(r.trim()).map_err(|e| format!("bad regex {r:?}: {e}")))
                .collect()
        };
        if text.is_empty() || text == "first-found" {
            return Ok(Self::FirstFound { skip: Vec::new() });
        }
        let (kind, value) = text.split_once('=').ok_or_else(|| {
            format!("IP_AUTODETECTION_METHOD {text:?}: first-found, interface=, skip-interface=, can-reach= or cidr=")
        })?;
        match kind {
            "interface" => Ok(Self::Interface(regexes(value)?)),
            "skip-interface" => Ok(Self::FirstFound {
                skip: regexes(value)?,
            }),
            "can-reach" if !value.trim().is_empty() => Ok(Self::CanReach(value.trim().to_owned())),
            "cidr" => value
                .split(',')
                .map(|c| {
                    c.trim()
                        .parse::<Ipv4Net>()
                        .map_err(|_| format!("bad IPv4 CIDR {c:?}"))
                })
                .collect::<Result<_, _>>()
                .map(Self::Cidr),
            _ => Err(format!(
                "IP_AUTODETECTION_METHOD {text:?}: first-found, interface=, skip-interface=, can-reach= or cidr="
            )),
        }
    }
}

/// Whether first-found and the others may take this address at all.
fn usable(address: &Ipv4Net) -> bool {
    let ip = address.addr();
    !(ip.is_loopback() || ip.is_link_local() || ip.is_unspecified() || ip.is_multicast())
}

/// Picks the address among `addresses` (in the kernel's order) by `method`;
/// `route_source` answers can-reach (the kernel's source address towards a
/// destination).
pub fn choose(
    method: &Method,
    addresses: &[InterfaceAddress],
    route_source: impl Fn(&str) -> Result<Ipv4Addr, String>,
) -> Result<Ipv4Net, String> {
    let usable_ones = addresses.iter().filter(|a| usable(&a.address));
    let found = match method {
        Method::FirstFound { skip } => {
            let always: Vec<Regex> = ALWAYS_SKIPPED
                .iter()
                .map(|r| Regex::new(r).expect("a valid built-in regex"))
                .collect();
            usable_ones
                .filter(|a| !always.iter().chain(skip).any(|r| r.is_match(&a.interface)))
                .map(|a| a.address)
                .next()
        }
        Method::Interface(regexes) => regexes.iter().find_map(|r| {
            addresses
                .iter()
                .filter(|a| usable(&a.address))
                .find(|a| r.is_match(&a.interface))
                .map(|a| a.address)
        }),
        Method::CanReach(destination) => {
            let source = route_source(destination)?;
            addresses
                .iter()
                .find(|a| a.address.addr() == source)
                .map(|a| a.address)
        }
        Method::Cidr(cidrs) => usable_ones
            .filter(|a| cidrs.iter().any(|c| c.contains(&a.address.addr())))
            .map(|a| a.address)
            .next(),
    };
    found.ok_or_else(|| format!("no IPv4 address found by {method:?}"))
}

/// The IPv4 addresses of this host's interfaces, in the kernel's order.
pub fn host_addresses() -> Result<Vec<InterfaceAddress>, String> {
    let list = nix::ifaddrs::getifaddrs().map_err(|e| format!("cannot list addresses: {e}"))?;
    let mut out = Vec::new();
    for entry in list {
        let (Some(address), Some(netmask)) = (entry.address, entry.netmask) else {
            continue;
        };
        let (Some(address), Some(netmask)) = (address.as_sockaddr_in(), netmask.as_sockaddr_in())
        else {
            continue;
        };
        let prefix = u32::from(netmask.ip()).count_ones() as u8;
        if let Ok(net) = Ipv4Net::new(address.ip(), prefix) {
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
pub fn kernel_route_source(destination: &str) -> Result<Ipv4Addr, String> {
    let target = if destination.contains(':') {
        destination.to_owned()
    } else {
        format!("{destination}:179")
    };
    let address = target
        .to_socket_addrs()
        .map_err(|e| format!("can-reach {destination}: {e}"))?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| format!("can-reach {destination}: no IPv4 address"))?;
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("can-reach: {e}"))?;
    socket
        .connect(address)
        .map_err(|e| format!("can-reach {destination}: {e}"))?;
    match socket.local_addr().map_err(|e| e.to_string())?.ip() {
        IpAddr::V4(v4) => Ok(v4),
        IpAddr::V6(_) => Err(format!("can-reach {destination}: not IPv4")),
    }
}

/// The node's address from calico-node's `IP` and `IP_AUTODETECTION_METHOD`:
/// None for `IP=none`.
pub fn node_address(ip: Option<&str>, method: Option<&str>) -> Result<Option<IpNet>, String> {
    match ip.map(str::trim).unwrap_or("autodetect") {
        "none" => Ok(None),
        "" | "autodetect" => {
            let method = Method::parse(method.unwrap_or(""))?;
            let found = choose(&method, &host_addresses()?, kernel_route_source)?;
            Ok(Some(found.into()))
        }
        text => {
            // An address as given; calico-node takes a bare one as /32.
            let net = text
                .parse::<Ipv4Net>()
                .or_else(|_| text.parse::<Ipv4Addr>().map(Ipv4Net::from))
                .map_err(|_| format!("IP {text:?} is not an IPv4 address"))?;
            Ok(Some(net.into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Vec<InterfaceAddress> {
        [
            ("lo", "127.0.0.1/8"),
            ("docker0", "172.17.0.1/16"),
            ("eth0", "169.254.3.3/16"),
            ("eth0", "10.0.1.5/24"),
            ("eth1", "192.168.7.5/24"),
            ("cali12ab", "10.244.0.1/32"),
        ]
        .iter()
        .map(|(i, a)| InterfaceAddress {
            interface: (*i).to_owned(),
            address: a.parse().unwrap(),
        })
        .collect()
    }

    fn pick(method: &str) -> Result<String, String> {
        let reach = |d: &str| match d {
            "192.168.7.1" => Ok("192.168.7.5".parse().unwrap()),
            other => Err(format!("no route to {other}")),
        };
        choose(&Method::parse(method).unwrap(), &host(), reach).map(|a| a.to_string())
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
    fn bad_methods_say_what_is_expected() {
        for bad in ["interface=(", "cidr=10.0.0.0/33", "nearest", "can-reach="] {
            let err = Method::parse(bad).unwrap_err();
            assert!(!err.is_empty(), "{bad}");
        }
    }

    #[test]
    fn ip_given_or_none() {
        assert_eq!(
            node_address(Some("10.0.1.9/24"), None).unwrap(),
            Some("10.0.1.9/24".parse().unwrap())
        );
        assert_eq!(
            node_address(Some("10.0.1.9"), None).unwrap(),
            Some("10.0.1.9/32".parse().unwrap())
        );
        assert_eq!(node_address(Some("none"), None).unwrap(), None);
        assert!(node_address(Some("ten"), None).is_err());
    }
}
