//! What the codec needs to know about a session: address families and the
//! negotiated capabilities that change the wire format (4-octet AS numbers,
//! ADD-PATH per family and direction, extended messages).

use std::fmt;

use super::iana::{afi, safi};

/// Largest message without the Extended Message capability (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message once Extended Message is negotiated (RFC 8654 §4).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

/// The address families podroute speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Family {
    Ipv4Unicast,
    Ipv6Unicast,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Ipv4Unicast, Family::Ipv6Unicast];

    pub fn from_afi_safi(afi: u16, safi: u8) -> Option<Self> {
        match (afi, safi) {
            (afi::IPV4, safi::UNICAST) => Some(Self::Ipv4Unicast),
            (afi::IPV6, safi::UNICAST) => Some(Self::Ipv6Unicast),
            _ => None,
        }
    }

    pub fn afi(self) -> u16 {
        match self {
            Self::Ipv4Unicast => afi::IPV4,
            Self::Ipv6Unicast => afi::IPV6,
        }
    }

    pub fn safi(self) -> u8 {
        safi::UNICAST
    }

    /// The longest prefix of the family, in bits.
    pub fn max_prefix_len(self) -> u8 {
        match self {
            Self::Ipv4Unicast => 32,
            Self::Ipv6Unicast => 128,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ipv4Unicast => "ipv4-unicast",
            Self::Ipv6Unicast => "ipv6-unicast",
        })
    }
}

/// A set of [`Family`] values, as a bit set.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FamilySet(u8);

impl FamilySet {
    pub const EMPTY: FamilySet = FamilySet(0);

    pub fn of(families: &[Family]) -> Self {
        families.iter().fold(Self::EMPTY, |set, &f| set.with(f))
    }

    #[must_use]
    pub fn with(self, family: Family) -> Self {
        Self(self.0 | family.bit())
    }

    #[must_use]
    pub fn without(self, family: Family) -> Self {
        Self(self.0 & !family.bit())
    }

    pub fn contains(self, family: Family) -> bool {
        self.0 & family.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Family> {
        Family::ALL.into_iter().filter(move |&f| self.contains(f))
    }
}

impl fmt::Debug for FamilySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// How to read messages from one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DecodeCtx {
    /// AS numbers in AS_PATH and AGGREGATOR are 4 octets (RFC 6793).
    pub four_octet_as: bool,
    /// Families whose NLRI carry a Path Identifier from this peer (RFC 7911).
    pub add_path: FamilySet,
    /// Families negotiated with this peer (RFC 4760). Used to tell whether an
    /// UPDATE might hide multiprotocol NLRI behind a malformed attribute.
    pub families: FamilySet,
    /// Messages up to 65535 octets (RFC 8654).
    pub extended_message: bool,
}

impl Default for DecodeCtx {
    /// The context before capabilities are negotiated: plain RFC 4271.
    fn default() -> Self {
        Self {
            four_octet_as: false,
            add_path: FamilySet::EMPTY,
            families: FamilySet::of(&[Family::Ipv4Unicast]),
            extended_message: false,
        }
    }
}

impl DecodeCtx {
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }
}

/// How to write messages to one peer (or to every peer of an update group).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct EncodeCtx {
    /// Write 4-octet AS numbers; otherwise write AS_TRANS plus AS4_PATH (RFC 6793 §4.2.2).
    pub four_octet_as: bool,
    /// Families whose NLRI are written with a Path Identifier (RFC 7911).
    pub add_path: FamilySet,
    /// Messages may be up to 65535 octets (RFC 8654).
    pub extended_message: bool,
}

impl Default for EncodeCtx {
    fn default() -> Self {
        Self {
            four_octet_as: false,
            add_path: FamilySet::EMPTY,
            extended_message: false,
        }
    }
}

impl EncodeCtx {
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }

    /// The context that reads back what this context writes.
    pub fn mirror(&self) -> DecodeCtx {
        DecodeCtx {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path,
            families: FamilySet::of(&Family::ALL),
            extended_message: self.extended_message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_set_holds_what_was_added() {
        let set = FamilySet::EMPTY.with(Family::Ipv6Unicast);
        assert!(set.contains(Family::Ipv6Unicast));
        assert!(!set.contains(Family::Ipv4Unicast));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![Family::Ipv6Unicast]);
        assert_eq!(format!("{set:?}"), "{Ipv6Unicast}");
    }

    #[test]
    fn families_map_to_afi_safi_and_back() {
        for family in Family::ALL {
            assert_eq!(
                Family::from_afi_safi(family.afi(), family.safi()),
                Some(family)
            );
        }
        assert_eq!(Family::from_afi_safi(1, 128), None);
    }

    #[test]
    fn extended_message_raises_the_limit() {
        let ctx = DecodeCtx {
            extended_message: true,
            ..DecodeCtx::default()
        };
        assert_eq!(ctx.max_message_len(), 65535);
        assert_eq!(DecodeCtx::default().max_message_len(), 4096);
    }
}
