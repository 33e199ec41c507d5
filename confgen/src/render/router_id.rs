//! The BGP identifier (RFC 4271 §4.2, a 4-octet value written as an IPv4
//! address), chosen as calico-node chooses it through `CALICO_ROUTER_ID`:
//! unset, the node's IPv4 address; `hash`, four octets of the SHA-256 of
//! the node's name (a node with IPv6 only has no IPv4 address to use); or
//! an IPv4 address given outright.

use std::net::Ipv4Addr;
use std::str::FromStr;

use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RouterIdSource {
    /// The node's IPv4 address (Calico's default).
    #[default]
    NodeAddress,
    /// From the node's name: the same on every run, for IPv6-only nodes.
    Hash,
    /// This one.
    Address(Ipv4Addr),
}

impl FromStr for RouterIdSource {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "" => Ok(Self::NodeAddress),
            "hash" => Ok(Self::Hash),
            other => match other.parse::<Ipv4Addr>() {
                Ok(address) if !address.is_unspecified() => Ok(Self::Address(address)),
                _ => Err(format!(
                    "{other:?} is not a router id: an IPv4 address other than 0.0.0.0, or hash"
                )),
            },
        }
    }
}

impl RouterIdSource {
    /// The router id of node `name`, whose IPv4 address is `v4`; `None`
    /// when it has to be the address and there is none.
    pub fn router_id(self, name: &str, v4: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        match self {
            Self::NodeAddress => v4,
            Self::Hash => Some(hash_of(name)),
            Self::Address(address) => Some(address),
        }
    }
}

/// calico-node's `HashToIPv4`: the first four octets of the name's
/// SHA-256, the first kept out of the multicast and reserved ranges
/// (above 223, 32 less).
pub fn hash_of(name: &str) -> Ipv4Addr {
    let digest = Sha256::digest(name.as_bytes());
    let first = if digest[0] > 223 {
        digest[0] - 32
    } else {
        digest[0]
    };
    Ipv4Addr::new(first, digest[1], digest[2], digest[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calico_router_id_settings() {
        let v4 = Some(Ipv4Addr::new(10, 0, 1, 11));
        assert_eq!("".parse::<RouterIdSource>().unwrap().router_id("n", v4), v4);
        assert_eq!(RouterIdSource::NodeAddress.router_id("n", None), None);
        assert_eq!(
            "192.168.1.1"
                .parse::<RouterIdSource>()
                .unwrap()
                .router_id("n", v4),
            Some(Ipv4Addr::new(192, 168, 1, 1))
        );
        for bad in ["fd00::1", "0.0.0.0", "hashed", "10.0.0"] {
            assert!(bad.parse::<RouterIdSource>().is_err(), "{bad}");
        }
        // calico-node's values for these names: one kept as it is, one
        // whose first octet (239) is moved down by 32.
        assert_eq!(hash_of("nodeTest"), Ipv4Addr::new(109, 174, 215, 226));
        assert_eq!(hash_of("Testrobin123"), Ipv4Addr::new(207, 94, 5, 27));
        // The same name, the same id; a first octet never above 223.
        let hashed = RouterIdSource::Hash.router_id("node-a", None).unwrap();
        assert_eq!(Some(hashed), RouterIdSource::Hash.router_id("node-a", v4));
        assert_ne!(hashed, hash_of("node-b"));
        for i in 0..500 {
            assert!(hash_of(&format!("node-{i}")).octets()[0] <= 223);
        }
    }
}
