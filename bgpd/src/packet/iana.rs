//! Numbers assigned by IANA that the codec uses, each with its registry.
//!
//! Numbers that arrive from a peer are kept as plain integers where an unknown
//! value must be carried on (capabilities, attribute types); the enums below are
//! for the values this codec gives meaning to.

/// BGP message types.
/// <https://www.iana.org/assignments/bgp-parameters/bgp-parameters.xhtml#bgp-parameters-1>
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// RFC 4271 §4.2
    Open = 1,
    /// RFC 4271 §4.3
    Update = 2,
    /// RFC 4271 §4.5
    Notification = 3,
    /// RFC 4271 §4.4
    Keepalive = 4,
    /// RFC 2918 §3
    RouteRefresh = 5,
}

impl TryFrom<u8> for MessageType {
    type Error = u8;

    fn try_from(value: u8) -> Result<Self, u8> {
        Ok(match value {
            1 => Self::Open,
            2 => Self::Update,
            3 => Self::Notification,
            4 => Self::Keepalive,
            5 => Self::RouteRefresh,
            other => return Err(other),
        })
    }
}

/// Address Family Identifiers.
/// <https://www.iana.org/assignments/address-family-numbers/address-family-numbers.xhtml>
pub mod afi {
    pub const IPV4: u16 = 1;
    pub const IPV6: u16 = 2;
}

/// Subsequent Address Family Identifiers.
/// <https://www.iana.org/assignments/safi-namespace/safi-namespace.xhtml>
pub mod safi {
    pub const UNICAST: u8 = 1;
}

/// BGP path attribute type codes.
/// <https://www.iana.org/assignments/bgp-parameters/bgp-parameters.xhtml#bgp-parameters-2>
pub mod attr {
    /// RFC 4271 §5.1.1
    pub const ORIGIN: u8 = 1;
    /// RFC 4271 §5.1.2
    pub const AS_PATH: u8 = 2;
    /// RFC 4271 §5.1.3
    pub const NEXT_HOP: u8 = 3;
    /// RFC 4271 §5.1.4
    pub const MULTI_EXIT_DISC: u8 = 4;
    /// RFC 4271 §5.1.5
    pub const LOCAL_PREF: u8 = 5;
    /// RFC 4271 §5.1.6
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// RFC 4271 §5.1.7
    pub const AGGREGATOR: u8 = 7;
    /// RFC 1997
    pub const COMMUNITIES: u8 = 8;
    /// RFC 4456 §8
    pub const ORIGINATOR_ID: u8 = 9;
    /// RFC 4456 §8
    pub const CLUSTER_LIST: u8 = 10;
    /// RFC 4760 §3
    pub const MP_REACH_NLRI: u8 = 14;
    /// RFC 4760 §4
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// RFC 4360 §2
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    /// RFC 6793 §3
    pub const AS4_PATH: u8 = 17;
    /// RFC 6793 §3
    pub const AS4_AGGREGATOR: u8 = 18;
    /// RFC 8092 §3
    pub const LARGE_COMMUNITIES: u8 = 32;
}

/// Capability codes.
/// <https://www.iana.org/assignments/capability-codes/capability-codes.xhtml>
pub mod capability {
    /// RFC 4760 §8
    pub const MULTIPROTOCOL: u8 = 1;
    /// RFC 2918 §2
    pub const ROUTE_REFRESH: u8 = 2;
    /// RFC 8654 §3
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// RFC 4724 §3
    pub const GRACEFUL_RESTART: u8 = 64;
    /// RFC 6793 §3
    pub const FOUR_OCTET_AS: u8 = 65;
    /// RFC 7911 §4
    pub const ADD_PATH: u8 = 69;
    /// RFC 7313 §3
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
}

/// OPEN optional parameter types.
/// <https://www.iana.org/assignments/bgp-parameters/bgp-parameters.xhtml#bgp-parameters-11>
pub mod open_param {
    /// RFC 5492 §4
    pub const CAPABILITIES: u8 = 2;
    /// RFC 9072 §2: marks the extended optional parameters length encoding.
    pub const EXTENDED_LENGTH: u8 = 255;
}

/// The reserved AS number a 2-octet speaker sees in place of a 4-octet one (RFC 6793 §9).
pub const AS_TRANS: u32 = 23456;
