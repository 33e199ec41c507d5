//! Route filters, as Calico's BGPFilter resource has them (v3.26): per
//! family and direction, rules tried in order; the first that matches
//! accepts or rejects the route, and a route no rule matches goes on to the
//! next filter of the peer, then to the usual rules (import: accepted;
//! export: Calico's export rule). An accepting export rule sends a route
//! Calico's export rule would not.

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One named filter, attached to peers by name (`peer.filters`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// The filter's name (the BGPFilter's).
    pub name: String,
    /// Rules for IPv4 routes sent to the peer.
    #[serde(default)]
    pub export_v4: Vec<FilterRule>,
    /// Rules for IPv4 routes received from the peer.
    #[serde(default)]
    pub import_v4: Vec<FilterRule>,
    /// Rules for IPv6 routes sent to the peer.
    #[serde(default)]
    pub export_v6: Vec<FilterRule>,
    /// Rules for IPv6 routes received from the peer.
    #[serde(default)]
    pub import_v6: Vec<FilterRule>,
}

/// One rule: every condition it has must hold for it to match.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterRule {
    /// `Accept` or `Reject`.
    pub action: FilterAction,
    /// How the route's prefix relates to `cidr`: `Equal`, `NotEqual`, `In`
    /// (inside it, or it), `NotIn`.
    #[serde(default)]
    pub match_operator: Option<MatchOperator>,
    /// The range `match_operator` compares with.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cidr: Option<IpNet>,
    /// With `In`: the prefix lengths that match (`cidr`'s length and the
    /// family's longest when unset).
    #[serde(default)]
    pub prefix_length: Option<PrefixLength>,
    /// `RemotePeers`: only routes learned over BGP.
    #[serde(default)]
    pub source: Option<FilterSource>,
    /// Only routes through an interface whose name matches this glob (`*`
    /// any run of characters, `?` one, as BIRD reads it).
    #[serde(default)]
    pub interface: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum FilterAction {
    Accept,
    Reject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum MatchOperator {
    Equal,
    NotEqual,
    In,
    NotIn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum FilterSource {
    RemotePeers,
}

/// Prefix lengths, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrefixLength {
    /// The shortest (the cidr's length when unset).
    #[serde(default)]
    pub min: Option<u8>,
    /// The longest (32 or 128 when unset).
    #[serde(default)]
    pub max: Option<u8>,
}

impl FilterConfig {
    /// The rules for one family and direction.
    pub fn rules(&self, ipv4: bool, import: bool) -> &[FilterRule] {
        match (ipv4, import) {
            (true, true) => &self.import_v4,
            (true, false) => &self.export_v4,
            (false, true) => &self.import_v6,
            (false, false) => &self.export_v6,
        }
    }
}
