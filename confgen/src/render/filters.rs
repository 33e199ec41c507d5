//! Calico's BGPFilters for this node's peers (BGPPeer `filters`), as the
//! `SpeakerConfig` carries them: only those its peers name, each rule read
//! on its own. A rule bgpd cannot honour is a problem and left out alone (a
//! field of a newer Calico, a cidr of the other family, a bad community);
//! a peer naming a BGPFilter that does not exist keeps its other filters,
//! with a problem.

use std::collections::BTreeMap;

use ipnet::IpNet;
use proto::config::{
    Asn, CommunityValue, FilterAction, FilterConfig, FilterOperation, FilterRule, FilterSource,
    MatchOperator, PeerConfig, PeerType, PrefixLength,
};
use serde::Deserialize;

use super::Context;
use crate::resources::BgpFilter;
use crate::snapshot::Key;

/// A rule as Calico stores it; fields bgpd does not read land in `other`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredRule {
    action: FilterAction,
    #[serde(default)]
    match_operator: Option<MatchOperator>,
    #[serde(default)]
    cidr: Option<String>,
    #[serde(default)]
    prefix_length: Option<StoredLengths>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    interface: Option<String>,
    #[serde(default)]
    peer_type: Option<String>,
    #[serde(default)]
    communities: Option<StoredCommunities>,
    #[serde(default, rename = "asPathPrefix")]
    as_path_prefix: Vec<Asn>,
    #[serde(default)]
    priority: Option<StoredNumber>,
    #[serde(default)]
    operations: Vec<StoredOperation>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct StoredCommunities {
    values: Vec<String>,
}

/// One of Calico's operations: exactly one field set.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StoredOperation {
    #[serde(default)]
    add_community: Option<StoredValue<String>>,
    #[serde(default, rename = "prependASPath")]
    prepend_as_path: Option<StoredPrefix>,
    #[serde(default)]
    set_priority: Option<StoredValue<StoredNumber>>,
}

#[derive(Deserialize)]
struct StoredValue<T> {
    value: T,
}

#[derive(Deserialize)]
struct StoredPrefix {
    prefix: Vec<Asn>,
}

/// Calico's int fields arrive as numbers, or as text from some writers.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredNumber {
    Number(u32),
    Text(String),
}

impl StoredNumber {
    fn value(&self) -> Result<u32, String> {
        match self {
            Self::Number(n) => Ok(*n),
            Self::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| format!("{t:?} is not a number")),
        }
    }
}

#[derive(Deserialize)]
struct StoredLengths {
    #[serde(default)]
    min: Option<u8>,
    #[serde(default)]
    max: Option<u8>,
}

/// The filters `peers` name; names of filters that do not exist are
/// dropped from the peers, with a problem.
pub(super) fn filters(cx: &mut Context<'_>, peers: &mut [PeerConfig]) -> Vec<FilterConfig> {
    let mut made: Vec<FilterConfig> = Vec::new();
    for peer in peers.iter_mut() {
        let mut kept = Vec::with_capacity(peer.filters.len());
        for name in std::mem::take(&mut peer.filters) {
            if made.iter().any(|f| f.name == name) {
                kept.push(name);
                continue;
            }
            match cx.snapshot.filters.get(&name) {
                Some(resource) => {
                    made.push(filter(cx, resource));
                    kept.push(name);
                }
                None => cx.problem(
                    &format!("peer {}", peer.protocol_name()),
                    "filters",
                    format!("no BGPFilter named {name:?}: the peer's routes go without it"),
                ),
            }
        }
        peer.filters = kept;
    }
    made.sort_by(|a, b| a.name.cmp(&b.name));
    made
}

fn filter(cx: &mut Context<'_>, resource: &BgpFilter) -> FilterConfig {
    let key = Key::BgpFilter(resource.metadata.name.clone()).path();
    let spec = &resource.spec;
    let mut rules = |stored: &[serde_json::Value], field: &str, ipv4: bool| -> Vec<FilterRule> {
        stored
            .iter()
            .enumerate()
            .filter_map(|(i, value)| match rule(value, ipv4) {
                Ok(rule) => Some(rule),
                Err(reason) => {
                    cx.problem(
                        &key,
                        &format!("spec.{field}[{i}]"),
                        format!("{reason}: rule left out"),
                    );
                    None
                }
            })
            .collect()
    };
    FilterConfig {
        name: resource.metadata.name.clone(),
        export_v4: rules(&spec.export_v4, "exportV4", true),
        import_v4: rules(&spec.import_v4, "importV4", true),
        export_v6: rules(&spec.export_v6, "exportV6", false),
        import_v6: rules(&spec.import_v6, "importV6", false),
    }
}

fn rule(value: &serde_json::Value, ipv4: bool) -> Result<FilterRule, String> {
    let stored = StoredRule::deserialize(value).map_err(|e| e.to_string())?;
    if let Some(field) = stored.other.keys().next() {
        return Err(format!("{field} is not a rule field bgpd knows"));
    }
    let cidr = match stored.cidr.as_deref().filter(|c| !c.is_empty()) {
        Some(text) => Some(
            text.parse::<IpNet>()
                .map_err(|_| format!("cidr {text:?} is not a prefix"))?
                .trunc(),
        ),
        None => None,
    };
    let source = match stored.source.as_deref().filter(|s| !s.is_empty()) {
        Some("RemotePeers") => Some(FilterSource::RemotePeers),
        Some(other) => return Err(format!("source {other:?} is not RemotePeers")),
        None => None,
    };
    let peer_type = match stored.peer_type.as_deref().filter(|p| !p.is_empty()) {
        Some("eBGP") => Some(PeerType::Ebgp),
        Some("iBGP") => Some(PeerType::Ibgp),
        Some(other) => return Err(format!("peerType {other:?} is not eBGP or iBGP")),
        None => None,
    };
    // Calico takes exactly one value today (a match operator over several
    // may come); more than one is refused rather than half read.
    let community = match stored.communities {
        Some(c) if c.values.len() == 1 => Some(community(&c.values[0])?),
        Some(c) => {
            return Err(format!(
                "communities has {} values; exactly one is supported",
                c.values.len()
            ))
        }
        None => None,
    };
    let operations = stored
        .operations
        .iter()
        .map(operation)
        .collect::<Result<_, _>>()?;
    let rule = FilterRule {
        action: stored.action,
        match_operator: stored.match_operator,
        cidr,
        prefix_length: stored.prefix_length.map(|l| PrefixLength {
            min: l.min,
            max: l.max,
        }),
        source,
        interface: stored.interface.filter(|i| !i.is_empty()),
        peer_type,
        community,
        as_path_prefix: stored.as_path_prefix.iter().map(|a| a.0).collect(),
        priority: stored
            .priority
            .as_ref()
            .map(StoredNumber::value)
            .transpose()?,
        operations,
    };
    rule.check(ipv4)
        .map_err(|(field, message)| format!("{field}: {message}"))?;
    Ok(rule)
}

fn community(text: &str) -> Result<CommunityValue, String> {
    text.parse()
}

fn operation(stored: &StoredOperation) -> Result<FilterOperation, String> {
    match (
        &stored.add_community,
        &stored.prepend_as_path,
        &stored.set_priority,
    ) {
        (Some(add), None, None) => Ok(FilterOperation::AddCommunity(community(&add.value)?)),
        (None, Some(prepend), None) => Ok(FilterOperation::PrependAsPath(
            prepend.prefix.iter().map(|a| a.0).collect(),
        )),
        (None, None, Some(set)) => Ok(FilterOperation::SetPriority(set.value.value()?)),
        _ => {
            Err("an operation sets exactly one of addCommunity, prependASPath, setPriority".into())
        }
    }
}
