//! Calico's v3 resources as they are stored in etcd (docs/CALICO-CONTRACT.md
//! §1.1): JSON with `kind`, `apiVersion`, `metadata` and `spec`. Only the
//! fields BGP uses are typed; everything else a stored object carries is
//! ignored, so that a newer Calico's objects still parse.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use proto::config::{
    Asn, ClusterRoutes, LogLevel, RoutePriority, DEFAULT_ROUTE_PRIORITY, ROUTE_PRIORITY_RANGE,
};
use serde::Deserialize;

use crate::problem::{Entries, Problem};
use crate::selector::{Selector, SelectorError};

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Read for podroute's own settings, such as `podroute.io/bfd`.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

// ===== Node =====

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Node {
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: NodeSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct NodeSpec {
    #[serde(default)]
    pub bgp: Option<NodeBgp>,
}

/// `spec.bgp` (libcalico-go `NodeBGPSpec`). Addresses carry the prefix length
/// that defines the node's subnet for CrossSubnet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeBgp {
    #[serde(default)]
    pub as_number: Option<Asn>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub ipv4_address: Option<IpNet>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub ipv6_address: Option<IpNet>,
    #[serde(
        default,
        rename = "routeReflectorClusterID",
        deserialize_with = "empty_as_none"
    )]
    pub route_reflector_cluster_id: Option<std::net::Ipv4Addr>,
}

// ===== BGPConfiguration =====

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BgpConfiguration {
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: BgpConfigurationSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpConfigurationSpec {
    #[serde(default)]
    pub log_severity_screen: Option<String>,
    #[serde(default)]
    pub node_to_node_mesh_enabled: Option<bool>,
    #[serde(default)]
    pub as_number: Option<Asn>,
    #[serde(default, rename = "serviceClusterIPs")]
    pub service_cluster_ips: Entries<CidrEntry>,
    #[serde(default, rename = "serviceExternalIPs")]
    pub service_external_ips: Entries<CidrEntry>,
    #[serde(default, rename = "serviceLoadBalancerIPs")]
    pub service_load_balancer_ips: Entries<CidrEntry>,
    #[serde(default)]
    pub listen_port: Option<u16>,
    #[serde(default)]
    pub communities: Entries<NamedCommunity>,
    #[serde(default)]
    pub prefix_advertisements: Entries<PrefixAdvertisement>,
    #[serde(default)]
    pub node_mesh_password: Option<SecretRef>,
    /// A Go duration ("120s", "2m").
    #[serde(default)]
    pub node_mesh_max_restart_time: Option<String>,
    #[serde(default)]
    pub bind_mode: Option<String>,
    /// `Enabled`, `Disabled`, `EnabledIPIPOnly`, `EnabledNoEncapOnly`: which
    /// pools' cluster routes the BGP daemon programs (Felix the rest).
    #[serde(default)]
    pub program_cluster_routes: Option<String>,
    /// The kernel metric of routes of normal priority (Calico master's
    /// route priority, for KubeVirt live migration); 1024 when unset.
    #[serde(default, rename = "ipv4NormalRoutePriority")]
    pub ipv4_normal_route_priority: Option<i64>,
    #[serde(default, rename = "ipv6NormalRoutePriority")]
    pub ipv6_normal_route_priority: Option<i64>,
    /// Interfaces whose addresses BIRD's direct protocol does not take.
    #[serde(default)]
    pub ignored_interfaces: Vec<String>,
    /// Fields bgpd does not read, kept to be reported
    /// (`render::unsupported`).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl BgpConfigurationSpec {
    /// `logSeverityScreen` when set to one of Calico's levels.
    pub fn log_level(&self) -> Option<LogLevel> {
        LogLevel::from_name(self.log_severity_screen.as_deref()?)
    }

    /// `programClusterRoutes` when set to one of Calico's values; `None`
    /// when unset or unknown (a problem says which).
    pub fn cluster_routes(&self) -> Option<ClusterRoutes> {
        ClusterRoutes::from_name(self.program_cluster_routes.as_deref()?)
    }

    /// The normal route priority of each family: the value set when Calico
    /// would accept it, else the default (a problem says which).
    pub fn route_priority(&self) -> RoutePriority {
        let valid = |value: Option<i64>| {
            value
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| ROUTE_PRIORITY_RANGE.contains(v))
                .unwrap_or(DEFAULT_ROUTE_PRIORITY)
        };
        RoutePriority {
            ipv4: valid(self.ipv4_normal_route_priority),
            ipv6: valid(self.ipv6_normal_route_priority),
        }
    }

    /// `ignoredInterfaces` that can be interface name patterns; the others
    /// are problems (they would break the BIRD rendering, and name nothing).
    pub fn ignored_interfaces(&self) -> impl Iterator<Item = &String> {
        self.ignored_interfaces
            .iter()
            .filter(|p| interface_pattern(p))
    }

    /// The list entries skipped as bad, as problems of the resource at `key`.
    pub fn problems(&self, key: &str) -> Vec<Problem> {
        let mut problems = Vec::new();
        problems.extend(
            self.service_cluster_ips
                .problems(key, "spec.serviceClusterIPs"),
        );
        problems.extend(
            self.service_external_ips
                .problems(key, "spec.serviceExternalIPs"),
        );
        problems.extend(
            self.service_load_balancer_ips
                .problems(key, "spec.serviceLoadBalancerIPs"),
        );
        problems.extend(self.communities.problems(key, "spec.communities"));
        problems.extend(
            self.prefix_advertisements
                .problems(key, "spec.prefixAdvertisements"),
        );
        for (field, value) in [
            (
                "spec.ipv4NormalRoutePriority",
                self.ipv4_normal_route_priority,
            ),
            (
                "spec.ipv6NormalRoutePriority",
                self.ipv6_normal_route_priority,
            ),
        ] {
            let Some(value) = value else { continue };
            let accepted = u32::try_from(value).is_ok_and(|v| ROUTE_PRIORITY_RANGE.contains(&v));
            if !accepted {
                problems.push(Problem::new(
                    key,
                    field,
                    format!(
                        "{value} is outside {}..={}: the default {DEFAULT_ROUTE_PRIORITY} applies",
                        ROUTE_PRIORITY_RANGE.start(),
                        ROUTE_PRIORITY_RANGE.end()
                    ),
                ));
            }
        }
        for (i, pattern) in self.ignored_interfaces.iter().enumerate() {
            if !interface_pattern(pattern) {
                problems.push(Problem::new(
                    key,
                    format!("spec.ignoredInterfaces[{i}]"),
                    format!("{pattern:?} is not an interface name pattern: skipped"),
                ));
            }
        }
        if let Some(value) = self
            .log_severity_screen
            .as_deref()
            .filter(|v| !v.is_empty())
        {
            if LogLevel::from_name(value).is_none() {
                problems.push(Problem::new(
                    key,
                    "spec.logSeverityScreen",
                    format!(
                        "{value:?} is none of {}: bgpd's own level applies",
                        LogLevel::NAMES.join(", ")
                    ),
                ));
            }
        }
        if let Some(value) = &self.program_cluster_routes {
            if self.cluster_routes().is_none() {
                // As Calico's confd: an unknown value (from a newer API,
                // say) is the default.
                problems.push(Problem::new(
                    key,
                    "spec.programClusterRoutes",
                    format!(
                        "{value:?} is none of {}: the default applies",
                        ClusterRoutes::NAMES.join(", ")
                    ),
                ));
            }
        }
        problems
    }
}

/// An interface name, or a BIRD glob over names: no blank, quote, slash or
/// backslash, at most 64 characters.
fn interface_pattern(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern.len() <= 64
        && pattern
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '/' | '\\'))
}

/// A service range entry. Calico's `cidr` is `omitempty`: an entry without
/// one (`- {}`) is valid and names nothing.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CidrEntry {
    #[serde(default, deserialize_with = "empty_as_none")]
    pub cidr: Option<IpNet>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct NamedCommunity {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PrefixAdvertisement {
    pub cidr: IpNet,
    #[serde(default)]
    pub communities: Vec<String>,
}

/// `password: { secretKeyRef: { name, key } }`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    pub secret_key_ref: SecretKeyRef,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

// ===== BGPPeer =====

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BgpPeer {
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: BgpPeerSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpPeerSpec {
    #[serde(default, deserialize_with = "empty_as_none")]
    pub node: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub node_selector: Option<StoredSelector>,
    /// `a.b.c.d`, `a.b.c.d:port`, `v6` or `[v6]:port`.
    #[serde(default, rename = "peerIP", deserialize_with = "empty_as_none")]
    pub peer_ip: Option<String>,
    #[serde(default)]
    pub as_number: Option<Asn>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub peer_selector: Option<StoredSelector>,
    #[serde(default)]
    pub keep_original_next_hop: bool,
    /// `Auto`, `Self` or `Keep` (Calico v3.31).
    #[serde(default)]
    pub next_hop_mode: Option<String>,
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// `UseNodeIP` (the default) or `None`.
    #[serde(default)]
    pub source_address: Option<String>,
    #[serde(default)]
    pub max_restart_time: Option<String>,
    #[serde(default)]
    pub keepalive_time: Option<String>,
    #[serde(default)]
    pub ttl_security: Option<u8>,
    #[serde(default, rename = "localASNumber")]
    pub local_as_number: Option<Asn>,
    #[serde(default, rename = "numAllowedLocalASNumbers")]
    pub num_allowed_local_as_numbers: Option<u32>,
    /// A gateway to reach the peer through (a static route to it).
    #[serde(default)]
    pub reachable_by: Option<String>,
    /// The BGPFilters the peer's routes go through, in order.
    #[serde(default)]
    pub filters: Vec<String>,
    /// `Auto` (the default: the nodes it names peer back) or `Manual`.
    #[serde(default)]
    pub reverse_peering: Option<String>,
    /// Calico Enterprise's `None` or `BFDIfDirectlyConnected`
    /// (`render/bfd.rs`).
    #[serde(default)]
    pub failure_detection_mode: Option<String>,
    /// Fields bgpd does not read, kept to be reported
    /// (`render::unsupported`).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

// ===== BGPFilter =====

/// Calico's BGPFilter: rule lists per family and direction, each rule kept
/// as stored and read one by one when rendered (`render/filters.rs`), so
/// one bad rule costs only itself.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BgpFilter {
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: BgpFilterSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct BgpFilterSpec {
    #[serde(default, rename = "exportV4")]
    pub export_v4: Vec<serde_json::Value>,
    #[serde(default, rename = "importV4")]
    pub import_v4: Vec<serde_json::Value>,
    #[serde(default, rename = "exportV6")]
    pub export_v6: Vec<serde_json::Value>,
    #[serde(default, rename = "importV6")]
    pub import_v6: Vec<serde_json::Value>,
}

/// A selector as stored, and as parsed once, when its resource is read:
/// rendering then matches labels without parsing again. A selector that
/// does not parse is kept with its error, which rendering reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSelector {
    pub text: String,
    pub parsed: Result<Selector, SelectorError>,
}

impl std::str::FromStr for StoredSelector {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self {
            text: text.to_owned(),
            parsed: Selector::parse(text),
        })
    }
}

// ===== CalicoNodeStatus =====

/// An operator's request for a node's status (Calico v3.21+): which node,
/// which classes of status, how often. Only the spec is read; the status is
/// what the node's reporter writes (docs/INSTALL.md, "CalicoNodeStatus").
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct NodeStatusRequest {
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: NodeStatusSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatusSpec {
    /// The node to report on.
    #[serde(default)]
    pub node: String,
    /// `Agent`, `BGP`, `Routes`.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Seconds between reports; 0 reports once. Calico requires it: a
    /// request without it is not reported.
    #[serde(default)]
    pub update_period_seconds: Option<u32>,
}

// ===== IPPool =====

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct IpPool {
    pub metadata: Metadata,
    pub spec: IpPoolSpec,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpPoolSpec {
    pub cidr: IpNet,
    #[serde(default)]
    pub ipip_mode: EncapMode,
    #[serde(default)]
    pub vxlan_mode: EncapMode,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default, rename = "disableBGPExport")]
    pub disable_bgp_export: bool,
    #[serde(default)]
    pub block_size: Option<u8>,
}

/// `ipipMode` and `vxlanMode`; absent or empty is `Never`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum EncapMode {
    Always,
    CrossSubnet,
    #[default]
    #[serde(alias = "")]
    Never,
}

// ===== block affinity =====

/// The value at `/calico/ipam/v2/host/<node>/ipv4/block/<a.b.c.d-26>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct BlockAffinity {
    /// `confirmed`, `pending`, `pendingDeletion`; absent means confirmed.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub deleted: bool,
}

impl BlockAffinity {
    /// Only confirmed affinities are advertised (a pending block is not this
    /// node's yet: projectcalico/calico#6867).
    pub fn confirmed(&self) -> bool {
        !self.deleted && matches!(self.state.as_deref(), None | Some("") | Some("confirmed"))
    }
}

/// Reads "" as absent, for fields Calico writes empty.
fn empty_as_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text: Option<String> = Option::deserialize(deserializer)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// A BGPPeer's `peerIP`: the address and the port when one is given.
pub fn parse_peer_ip(text: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Ok(address) = text.parse::<IpAddr>() {
        return Some((address, None));
    }
    let socket: std::net::SocketAddr = text.parse().ok()?;
    Some((socket.ip(), Some(socket.port())))
}

/// A Go duration as Calico writes it ("120s", "2m0s", "1h"), in whole seconds.
pub fn parse_duration_secs(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let value: u64 = number.parse().ok()?;
        number.clear();
        total += match c {
            'h' => value * 3600,
            'm' => value * 60,
            's' => value,
            _ => return None,
        };
    }
    if !number.is_empty() {
        // A bare number is seconds.
        total += number.parse::<u64>().ok()?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_node_parses_with_fields_bgp_ignores() {
        let json = r#"{"kind":"Node","apiVersion":"projectcalico.org/v3",
            "metadata":{"name":"kube-master","labels":{"routeReflector":"true"},"uid":"x","creationTimestamp":null},
            "spec":{"bgp":{"ipv4Address":"10.192.0.2/16","ipv6Address":"fe0a::2/96",
                "routeReflectorClusterID":"10.0.0.1","ipv4IPIPTunnelAddr":"192.168.221.192"},
                "orchRefs":[{"nodeName":"kube-master","orchestrator":"k8s"}]}}"#;
        let node: Node = serde_json::from_str(json).unwrap();
        let bgp = node.spec.bgp.unwrap();
        assert_eq!(bgp.ipv4_address, Some("10.192.0.2/16".parse().unwrap()));
        assert_eq!(
            bgp.route_reflector_cluster_id,
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(node.metadata.labels["routeReflector"], "true");
    }

    #[test]
    fn pools_default_to_never_and_affinities_to_confirmed() {
        let pool: IpPool = serde_json::from_str(
            r#"{"metadata":{"name":"p"},"spec":{"cidr":"10.244.0.0/16","ipipMode":"CrossSubnet"}}"#,
        )
        .unwrap();
        assert_eq!(
            (pool.spec.ipip_mode, pool.spec.vxlan_mode),
            (EncapMode::CrossSubnet, EncapMode::Never)
        );
        let affinity: BlockAffinity = serde_json::from_str("{}").unwrap();
        assert!(affinity.confirmed());
        let pending: BlockAffinity =
            serde_json::from_str(r#"{"state":"pending","deleted":false}"#).unwrap();
        assert!(!pending.confirmed());
    }

    #[test]
    fn peer_ips_and_durations() {
        assert_eq!(
            parse_peer_ip("10.0.0.1"),
            Some(("10.0.0.1".parse().unwrap(), None))
        );
        assert_eq!(
            parse_peer_ip("10.0.0.1:150"),
            Some(("10.0.0.1".parse().unwrap(), Some(150)))
        );
        assert_eq!(
            parse_peer_ip("[fd00::1]:150"),
            Some(("fd00::1".parse().unwrap(), Some(150)))
        );
        assert_eq!(
            parse_peer_ip("fd00::1"),
            Some(("fd00::1".parse().unwrap(), None))
        );
        assert_eq!(parse_peer_ip("bogus"), None);
        assert_eq!(parse_duration_secs("120s"), Some(120));
        assert_eq!(parse_duration_secs("2m0s"), Some(120));
        assert_eq!(parse_duration_secs("1h1m1s"), Some(3661));
        assert_eq!(parse_duration_secs("90"), Some(90));
        assert_eq!(parse_duration_secs("5x"), None);
    }
}
