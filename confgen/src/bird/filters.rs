//! Calico's BGPFilter functions and `apply_communities` in BIRD's filter
//! language, as confd writes them (docs/ARCHITECTURE.md, "Filters" and
//! "Communities").

use std::fmt::Write;

use proto::config::{
    CommunityValue, FilterAction, FilterOperation, FilterRule, FilterSource, MatchOperator,
    SpeakerConfig,
};
use sha2::{Digest, Sha256};

use super::Family;

/// The longest symbol BIRD takes.
const MAX_BIRD_SYMBOL: usize = 64;

/// BIRD's name for a filter's function, as Calico's confd names it: a name
/// too long for BIRD's 64-character symbols keeps its start and gets the
/// first 16 hex digits of its SHA-256, so that long names stay apart.
pub(super) fn function_name(filter: &str, import: bool, family: Family) -> String {
    let direction = if import { "import" } else { "export" };
    let suffix = format!("_{direction}Filter{}", family.suffix());
    let room = MAX_BIRD_SYMBOL - "bgp_".len() - suffix.len();
    let name = if filter.len() <= room {
        filter.to_owned()
    } else {
        let digest: String = Sha256::digest(filter.as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02X}"))
            .collect();
        // Resource names are ASCII (DNS subdomain names): any index is a
        // character boundary.
        format!("{}_{digest}", &filter[..room - digest.len() - 1])
    };
    format!("'bgp_{name}{suffix}'")
}

/// Whether a list has `peerType` rules: its function then takes Calico's
/// `is_same_as` argument.
pub(super) fn takes_peer_type(rules: &[FilterRule]) -> bool {
    rules.iter().any(|r| r.peer_type.is_some())
}

/// One function per BGPFilter and direction with rules of `family`: each
/// rule an `if`, the first to match deciding, after its operations.
pub(super) fn render_filters(w: &mut String, config: &SpeakerConfig, family: Family) {
    for filter in &config.filters {
        for import in [true, false] {
            let rules = filter.rules(family == Family::V4, import);
            if rules.is_empty() {
                continue;
            }
            let parameter = if takes_peer_type(rules) {
                "bool is_same_as"
            } else {
                ""
            };
            let _ = writeln!(
                w,
                "\nfunction {}({parameter}) {{",
                function_name(&filter.name, import, family)
            );
            for rule in rules {
                let mut body = operations(&rule.operations);
                body.push(match rule.action {
                    FilterAction::Accept => "accept;".into(),
                    FilterAction::Reject => "reject;".into(),
                });
                let body = body.join(" ");
                let conditions = conditions(rule);
                let statement = if conditions.is_empty() {
                    body
                } else {
                    format!("if ({}) then {{ {body} }}", conditions.join("&&"))
                };
                let statement = match rule.peer_type {
                    Some(proto::config::PeerType::Ibgp) => {
                        format!("if (is_same_as) then {{ {statement} }}")
                    }
                    Some(proto::config::PeerType::Ebgp) => {
                        format!("if (!is_same_as) then {{ {statement} }}")
                    }
                    None => statement,
                };
                let _ = writeln!(w, "  {statement}");
            }
            let _ = writeln!(w, "}}");
        }
    }
}

/// A rule's conditions in BIRD's filter language, as Calico writes them.
fn conditions(rule: &FilterRule) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(operator), Some(cidr)) = (rule.match_operator, rule.cidr) {
        let set = match rule.prefix_length {
            Some(lengths) => format!(
                "[ {cidr}{{{},{}}} ]",
                lengths
                    .min
                    .unwrap_or(cidr.prefix_len())
                    .max(cidr.prefix_len()),
                lengths
                    .max
                    .unwrap_or(cidr.max_prefix_len())
                    .min(cidr.max_prefix_len())
            ),
            None => cidr.to_string(),
        };
        out.push(match operator {
            MatchOperator::Equal => format!("(net = {cidr})"),
            MatchOperator::NotEqual => format!("(net != {cidr})"),
            MatchOperator::In => format!("(net ~ {set})"),
            MatchOperator::NotIn => format!("!(net ~ {set})"),
        });
    }
    if rule.source == Some(FilterSource::RemotePeers) {
        out.push("((defined(source))&&(source ~ [ RTS_BGP ]))".into());
    }
    if let Some(interface) = &rule.interface {
        out.push(format!("((defined(ifname))&&(ifname ~ \"{interface}\"))"));
    }
    if let Some(community) = rule.community {
        out.push(format!(
            "({} ~ {})",
            community_tuple(community),
            community_list(community)
        ));
    }
    if !rule.as_path_prefix.is_empty() {
        let asns: Vec<String> = rule.as_path_prefix.iter().map(u32::to_string).collect();
        out.push(format!("(bgp_path ~ [= {} * =])", asns.join(" ")));
    }
    if let Some(priority) = rule.priority {
        out.push(format!(
            "(defined(bgp_local_pref)&&(bgp_local_pref = {}))",
            proto::config::LOCAL_PREF_OF_METRIC_0 - priority
        ));
    }
    out
}

/// An accepting rule's operations as BIRD statements.
fn operations(operations: &[FilterOperation]) -> Vec<String> {
    let mut out = Vec::new();
    for operation in operations {
        match operation {
            FilterOperation::AddCommunity(c) => out.push(add_community(*c)),
            // BIRD prepends one at a time: the last goes first.
            FilterOperation::PrependAsPath(asns) => out.extend(
                asns.iter()
                    .rev()
                    .map(|asn| format!("bgp_path.prepend({asn});")),
            ),
            FilterOperation::SetPriority(p) => out.push(format!(
                "bgp_local_pref = {};",
                proto::config::LOCAL_PREF_OF_METRIC_0 - p
            )),
        }
    }
    out
}

fn community_tuple(community: CommunityValue) -> String {
    match community {
        CommunityValue::Standard(a, n) => format!("({a}, {n})"),
        CommunityValue::Large(a, n, m) => format!("({a}, {n}, {m})"),
    }
}

fn community_list(community: CommunityValue) -> &'static str {
    match community {
        CommunityValue::Standard(..) => "bgp_community",
        CommunityValue::Large(..) => "bgp_large_community",
    }
}

fn add_community(community: CommunityValue) -> String {
    format!(
        "{}.add({});",
        community_list(community),
        community_tuple(community)
    )
}

/// Calico's `apply_communities`: the communities of every
/// prefixAdvertisements range a sent route is inside.
pub(super) fn render_communities(w: &mut String, config: &SpeakerConfig, family: Family) {
    let _ = writeln!(w, "\nfunction apply_communities () {{");
    for range in config
        .export
        .communities
        .iter()
        .filter(|r| family.holds(r.prefix.addr()))
    {
        let _ = writeln!(w, "  if ( net ~ {} ) then {{", range.prefix);
        for community in &range.communities {
            let _ = writeln!(w, "    {}", add_community(*community));
        }
        let _ = writeln!(w, "  }}");
    }
    let _ = writeln!(w, "}}");
}
