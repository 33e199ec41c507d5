//! Route filters, as Calico's BGPFilter resource has them: per family and
//! direction, rules tried in order; the first that matches accepts or
//! rejects the route (an accepting one after its operations), and a route
//! no rule matches goes on to the next filter of the peer, then to the
//! usual rules (import: accepted; export: Calico's export rule). An
//! accepting export rule sends a route Calico's export rule would not.

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::CommunityValue;

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
    /// Only routes to or from peers of this kind: `eBGP` (another AS than
    /// the one this speaker presents to the peer) or `iBGP`.
    #[serde(default)]
    pub peer_type: Option<PeerType>,
    /// Only routes carrying this community (`aa:nn`) or large community
    /// (`aa:nn:mm`).
    #[serde(default)]
    pub community: Option<CommunityValue>,
    /// Only routes whose AS_PATH begins with these AS numbers, in order.
    #[serde(default)]
    pub as_path_prefix: Vec<u32>,
    /// Only routes of this priority (a kernel metric: LOCAL_PREF =
    /// 2147483647 - priority; routes without LOCAL_PREF have none).
    #[serde(default)]
    pub priority: Option<u32>,
    /// What an accepting rule does to the route first, in order.
    #[serde(default)]
    pub operations: Vec<FilterOperation>,
}

/// A change an accepting rule makes to the route it accepts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FilterOperation {
    /// Add this community or large community (once).
    AddCommunity(CommunityValue),
    /// Put these AS numbers in front of the AS_PATH, in this order.
    PrependAsPath(Vec<u32>),
    /// Give the route this priority (LOCAL_PREF = 2147483647 - priority).
    SetPriority(u32),
}

/// The kind of peer a rule is for (Calico's `peerType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PeerType {
    #[serde(rename = "eBGP")]
    Ebgp,
    #[serde(rename = "iBGP")]
    Ibgp,
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

impl FilterRule {
    /// A rule that matches every route.
    pub fn new(action: FilterAction) -> Self {
        Self {
            action,
            match_operator: None,
            cidr: None,
            prefix_length: None,
            source: None,
            interface: None,
            peer_type: None,
            community: None,
            as_path_prefix: Vec::new(),
            priority: None,
            operations: Vec::new(),
        }
    }
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
