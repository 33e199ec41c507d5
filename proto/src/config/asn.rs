//! AS numbers, written asplain (`64512`, `4200000001`) or asdot (`1.10`,
//! RFC 5396).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "u32")]
pub struct Asn(pub u32);

impl Asn {
    /// Calico's default AS (docs/CALICO-CONTRACT.md §1.2).
    pub const CALICO_DEFAULT: Asn = Asn(64512);
}

impl From<Asn> for u32 {
    fn from(asn: Asn) -> u32 {
        asn.0
    }
}

impl fmt::Display for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an AS number (asplain such as 64512, or asdot such as 1.10)")]
pub struct AsnError(String);

impl FromStr for Asn {
    type Err = AsnError;

    fn from_str(text: &str) -> Result<Self, AsnError> {
        let bad = || AsnError(text.to_owned());
        match text.split_once('.') {
            None => text.parse().map(Asn).map_err(|_| bad()),
            Some((high, low)) => {
                let high: u16 = high.parse().map_err(|_| bad())?;
                let low: u16 = low.parse().map_err(|_| bad())?;
                Ok(Asn(u32::from(high) << 16 | u32::from(low)))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Asn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u32),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(Asn(n)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// asplain or asdot (RFC 5396): a number, or a string such as "1.10".
impl schemars::JsonSchema for Asn {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Asn".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An AS number: asplain (64512) or asdot (\"1.10\", RFC 5396).",
            "type": ["integer", "string"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asplain_and_asdot() {
        assert_eq!("64512".parse(), Ok(Asn(64512)));
        assert_eq!("4200000001".parse(), Ok(Asn(4_200_000_001)));
        assert_eq!("1.10".parse(), Ok(Asn(65546)));
        assert_eq!("64086.59904".parse(), Ok(Asn(4_200_000_000)));
        assert!("1.65536".parse::<Asn>().is_err());
        assert!("4294967296".parse::<Asn>().is_err());
        assert!("as64512".parse::<Asn>().is_err());
    }
}
