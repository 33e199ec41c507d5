//! A BGP community as Calico writes it: `aa:nn` is a standard community
//! (RFC 1997, two 16-bit halves), `aa:nn:mm` a large one (RFC 8092, three
//! 32-bit parts). Written and read in that text form in the configuration.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[schemars(with = "String")]
pub enum CommunityValue {
    /// `aa:nn`, each in 0..=65535.
    Standard(u16, u16),
    /// `aa:nn:mm`, each in 0..=4294967295.
    Large(u32, u32, u32),
}

impl CommunityValue {
    /// A standard community as its 32 bits (RFC 1997 §"Attribute").
    pub fn standard_bits(self) -> Option<u32> {
        match self {
            Self::Standard(asn, value) => Some(u32::from(asn) << 16 | u32::from(value)),
            Self::Large(..) => None,
        }
    }
}

impl FromStr for CommunityValue {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let bad = || {
            format!("{text:?} is not a community: aa:nn (each 0..=65535) or aa:nn:mm (each 0..=4294967295)")
        };
        // Digits only: Rust's integer parsing takes a leading `+`, Calico's pattern does not.
        if parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        match parts[..] {
            [a, n] => Ok(Self::Standard(
                a.parse().map_err(|_| bad())?,
                n.parse().map_err(|_| bad())?,
            )),
            [a, n, m] => Ok(Self::Large(
                a.parse().map_err(|_| bad())?,
                n.parse().map_err(|_| bad())?,
                m.parse().map_err(|_| bad())?,
            )),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for CommunityValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Standard(a, n) => write!(f, "{a}:{n}"),
            Self::Large(a, n, m) => write!(f, "{a}:{n}:{m}"),
        }
    }
}

impl Serialize for CommunityValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CommunityValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_large_communities_read_and_write_as_calico_writes_them() {
        assert_eq!(
            "65000:100".parse(),
            Ok(CommunityValue::Standard(65000, 100))
        );
        assert_eq!(
            "4294967295:1:2".parse(),
            Ok(CommunityValue::Large(u32::MAX, 1, 2))
        );
        assert_eq!(CommunityValue::Large(1, 2, 3).to_string(), "1:2:3");
        assert_eq!(
            CommunityValue::Standard(1, 2).standard_bits(),
            Some(0x0001_0002)
        );
        for bad in ["65536:1", "1", "1:2:3:4", "a:b", "+1:2", "1::2", ""] {
            assert!(bad.parse::<CommunityValue>().is_err(), "{bad}");
        }
    }
}
