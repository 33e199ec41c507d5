//! A datastore's content as confgen sees it: Calico's resources by name and
//! each node's block affinities, kept up to date key by key.
//!
//! A value that does not parse is reported with its key and skipped: the
//! resource keeps its last good value (nothing already running is lost) and
//! the rest of the state is untouched.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use ipnet::IpNet;
use serde::de::DeserializeOwned;

use crate::problem::{parse_json, Problem};
use crate::resources::{
    BgpConfiguration, BgpFilter, BgpPeer, BlockAffinity, IpPool, Node, NodeStatusRequest,
};

/// Where Calico keeps v3 resources (docs/CALICO-CONTRACT.md §1.1).
pub const RESOURCES: &str = "/calico/resources/v3/projectcalico.org/";
/// Where Calico keeps block affinities by host.
pub const AFFINITIES: &str = "/calico/ipam/v2/host/";

/// The kinds of resource BGP reads, by the plural of their key, and the
/// requests for a node's status that the BGP daemon answers. Nothing else
/// under [`RESOURCES`] is ever listed or watched: WorkloadEndpoints,
/// policies, profiles and the rest can be of any number and churn at any
/// rate without costing bgpd anything.
pub const KINDS: [&str; 6] = [
    "nodes",
    "bgpconfigurations",
    "bgppeers",
    "bgpfilters",
    "ippools",
    "caliconodestatuses",
];

/// The key ranges (prefixes) `node` reads: each of [`KINDS`], and its own
/// block affinities.
pub fn ranges(node: &str) -> Vec<String> {
    KINDS
        .iter()
        .map(|plural| format!("{RESOURCES}{plural}/"))
        .chain([format!("{AFFINITIES}{node}/")])
        .collect()
}

/// What a key names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    Node(String),
    BgpConfiguration(String),
    BgpPeer(String),
    BgpFilter(String),
    IpPool(String),
    NodeStatus(String),
    Affinity { node: String, cidr: IpNet },
}

impl Key {
    /// The key a resource of `kind` (as in its `kind:` field, `BGPPeer`)
    /// and `name` is stored under; `None` for kinds BGP does not read.
    pub fn of_resource(kind: &str, name: &str) -> Option<String> {
        let name = name.to_owned();
        let key = match kind {
            "Node" => Self::Node(name),
            "BGPConfiguration" => Self::BgpConfiguration(name),
            "BGPPeer" => Self::BgpPeer(name),
            "BGPFilter" => Self::BgpFilter(name),
            "IPPool" => Self::IpPool(name),
            "CalicoNodeStatus" => Self::NodeStatus(name),
            _ => return None,
        };
        Some(key.path())
    }

    /// The etcd key this names (the inverse of [`Key::parse`]).
    pub fn path(&self) -> String {
        let (plural, name) = match self {
            Self::Node(name) => ("nodes", name),
            Self::BgpConfiguration(name) => ("bgpconfigurations", name),
            Self::BgpPeer(name) => ("bgppeers", name),
            Self::BgpFilter(name) => ("bgpfilters", name),
            Self::IpPool(name) => ("ippools", name),
            Self::NodeStatus(name) => ("caliconodestatuses", name),
            Self::Affinity { node, cidr } => {
                let family = if cidr.addr().is_ipv4() {
                    "ipv4"
                } else {
                    "ipv6"
                };
                let dashed = cidr.to_string().replace('/', "-");
                return format!("{AFFINITIES}{node}/{family}/block/{dashed}");
            }
        };
        format!("{RESOURCES}{plural}/{name}")
    }

    /// The resource a key names, or `None` for keys BGP does not read.
    pub fn parse(key: &str) -> Option<Self> {
        if let Some(rest) = key.strip_prefix(RESOURCES) {
            let (kind, name) = rest.split_once('/')?;
            if name.is_empty() || name.contains('/') {
                return None;
            }
            let name = name.to_owned();
            return match kind {
                "nodes" => Some(Self::Node(name)),
                "bgpconfigurations" => Some(Self::BgpConfiguration(name)),
                "bgppeers" => Some(Self::BgpPeer(name)),
                "bgpfilters" => Some(Self::BgpFilter(name)),
                "ippools" => Some(Self::IpPool(name)),
                "caliconodestatuses" => Some(Self::NodeStatus(name)),
                _ => None,
            };
        }
        // /calico/ipam/v2/host/<node>/ipv4/block/<a.b.c.d-26>
        let rest = key.strip_prefix(AFFINITIES)?;
        let mut parts = rest.split('/');
        let (node, family, block, dashed) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || block != "block" || !matches!(family, "ipv4" | "ipv6") {
            return None;
        }
        let (address, len) = dashed.rsplit_once('-')?;
        let cidr: IpNet = format!("{address}/{len}").parse().ok()?;
        Some(Self::Affinity {
            node: node.to_owned(),
            cidr,
        })
    }
}

/// A value that could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad value at {key}: {reason}")]
pub struct BadValue {
    pub key: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub nodes: BTreeMap<String, Node>,
    pub bgp_configurations: BTreeMap<String, BgpConfiguration>,
    pub peers: BTreeMap<String, BgpPeer>,
    pub filters: BTreeMap<String, BgpFilter>,
    pub pools: BTreeMap<String, IpPool>,
    /// CalicoNodeStatus requests, of every node. A status written into one
    /// changes nothing here: only the spec is kept.
    pub node_statuses: BTreeMap<String, NodeStatusRequest>,
    /// Block affinities by node, then block.
    pub affinities: BTreeMap<String, BTreeMap<IpNet, BlockAffinity>>,
    /// What could not be used, by the key it is at: a value that did not
    /// parse (its last good value, if any, stays in force) or entries of a
    /// value skipped. Cleared when the key gets a good value or goes.
    pub problems: BTreeMap<String, Vec<Problem>>,
    /// How many times each kind changed: what a renderer compares to know
    /// which of its parts it must make again. Not part of the content (two
    /// snapshots of the same datastore are equal whatever their histories).
    pub generations: Generations,
}

impl PartialEq for Snapshot {
    fn eq(&self, other: &Self) -> bool {
        self.nodes == other.nodes
            && self.bgp_configurations == other.bgp_configurations
            && self.peers == other.peers
            && self.pools == other.pools
            && self.node_statuses == other.node_statuses
            && self.affinities == other.affinities
            && self.problems == other.problems
    }
}

impl Eq for Snapshot {}

/// A version per kind, new at every change of that kind (a problem
/// appearing or going counts too). Versions come from one counter for the
/// whole process, so a value names one state of its kind: a snapshot listed
/// anew (after a reconnection, say) never repeats the versions of another
/// history, and a renderer comparing them never takes one state for another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Generations {
    pub nodes: u64,
    pub bgp_configurations: u64,
    pub peers: u64,
    pub filters: u64,
    pub pools: u64,
    pub node_statuses: u64,
    pub affinities: u64,
}

impl Generations {
    fn bump(&mut self, key: &Key) {
        let count = match key {
            Key::Node(_) => &mut self.nodes,
            Key::BgpConfiguration(_) => &mut self.bgp_configurations,
            Key::BgpPeer(_) => &mut self.peers,
            Key::BgpFilter(_) => &mut self.filters,
            Key::IpPool(_) => &mut self.pools,
            Key::NodeStatus(_) => &mut self.node_statuses,
            Key::Affinity { .. } => &mut self.affinities,
        };
        static NEXT: AtomicU64 = AtomicU64::new(1);
        *count = NEXT.fetch_add(1, Ordering::Relaxed);
    }
}

fn parse<T: DeserializeOwned>(key: &str, value: &[u8]) -> Result<T, BadValue> {
    parse_json(value).map_err(|(field, reason)| BadValue {
        key: key.to_owned(),
        reason: if field.is_empty() {
            reason
        } else {
            format!("{field}: {reason}")
        },
    })
}

impl Snapshot {
    /// Stores `value` at `key`. Returns whether anything BGP reads changed;
    /// a bad value changes nothing but its problem, and is returned as the
    /// error.
    pub fn put(&mut self, key: &str, value: &[u8]) -> Result<bool, BadValue> {
        let Some(parsed) = Key::parse(key) else {
            return Ok(false);
        };
        let stored = self.store(key, &parsed, value);
        let problems = match (&stored, &parsed) {
            (Ok(_), Key::BgpConfiguration(name)) => {
                self.bgp_configurations[name].spec.problems(key)
            }
            (Ok(_), _) => Vec::new(),
            (Err(bad), _) => vec![Problem::new(key, "", bad.reason.clone())],
        };
        let problems_changed = self.problems.get(key).map_or(&[][..], Vec::as_slice) != problems;
        if problems.is_empty() {
            self.problems.remove(key);
        } else {
            self.problems.insert(key.to_owned(), problems);
        }
        let changed = stored.map(|changed| changed || problems_changed);
        if changed.as_ref().is_ok_and(|c| *c) || problems_changed {
            self.generations.bump(&parsed);
        }
        changed
    }

    /// Every current problem, in key order.
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.problems.values().flatten()
    }

    fn store(&mut self, key: &str, parsed: &Key, value: &[u8]) -> Result<bool, BadValue> {
        Ok(match parsed.clone() {
            Key::Node(name) => replace(&mut self.nodes, name, parse(key, value)?),
            Key::BgpConfiguration(name) => {
                replace(&mut self.bgp_configurations, name, parse(key, value)?)
            }
            Key::BgpPeer(name) => replace(&mut self.peers, name, parse(key, value)?),
            Key::BgpFilter(name) => replace(&mut self.filters, name, parse(key, value)?),
            Key::IpPool(name) => replace(&mut self.pools, name, parse(key, value)?),
            Key::NodeStatus(name) => replace(&mut self.node_statuses, name, parse(key, value)?),
            Key::Affinity { node, cidr } => {
                // An empty value is an affinity with no state: confirmed.
                let affinity = if value.iter().all(u8::is_ascii_whitespace) {
                    BlockAffinity::default()
                } else {
                    parse(key, value)?
                };
                replace(self.affinities.entry(node).or_default(), cidr, affinity)
            }
        })
    }

    /// Forgets `key`; returns whether anything BGP reads changed.
    pub fn delete(&mut self, key: &str) -> bool {
        let Some(parsed) = Key::parse(key) else {
            return false;
        };
        let had_problems = self.problems.remove(key).is_some();
        let removed = match &parsed {
            Key::Node(name) => self.nodes.remove(name).is_some(),
            Key::BgpConfiguration(name) => self.bgp_configurations.remove(name).is_some(),
            Key::BgpPeer(name) => self.peers.remove(name).is_some(),
            Key::BgpFilter(name) => self.filters.remove(name).is_some(),
            Key::IpPool(name) => self.pools.remove(name).is_some(),
            Key::NodeStatus(name) => self.node_statuses.remove(name).is_some(),
            Key::Affinity { node, cidr } => {
                let removed = self
                    .affinities
                    .get_mut(node)
                    .is_some_and(|blocks| blocks.remove(cidr).is_some());
                if self.affinities.get(node).is_some_and(BTreeMap::is_empty) {
                    self.affinities.remove(node);
                }
                removed
            }
        };
        if removed || had_problems {
            self.generations.bump(&parsed);
        }
        removed || had_problems
    }

    /// The global BGPConfiguration (`default`).
    pub fn global_config(&self) -> Option<&BgpConfiguration> {
        self.bgp_configurations.get("default")
    }

    /// A node's own BGPConfiguration (`node.<name>`).
    pub fn node_config(&self, node: &str) -> Option<&BgpConfiguration> {
        self.bgp_configurations.get(&format!("node.{node}"))
    }
}

fn replace<K: Ord, V: PartialEq>(map: &mut BTreeMap<K, V>, key: K, value: V) -> bool {
    match map.get(&key) {
        Some(old) if *old == value => false,
        _ => {
            map.insert(key, value);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_the_path_it_parses_from() {
        for key in [
            Key::Node("n1".into()),
            Key::BgpConfiguration("default".into()),
            Key::BgpPeer("rr".into()),
            Key::IpPool("pool".into()),
            Key::Affinity {
                node: "n1".into(),
                cidr: "10.244.1.0/26".parse().unwrap(),
            },
            Key::Affinity {
                node: "n1".into(),
                cidr: "fd00:244::/122".parse().unwrap(),
            },
        ] {
            assert_eq!(Key::parse(&key.path()), Some(key.clone()), "{}", key.path());
        }
        assert_eq!(Key::of_resource("Felix", "x"), None);
    }

    #[test]
    fn keys_name_their_resources() {
        let r = RESOURCES;
        assert_eq!(
            Key::parse(&format!("{r}nodes/node-1")),
            Some(Key::Node("node-1".into()))
        );
        assert_eq!(
            Key::parse(&format!("{r}bgpconfigurations/node.n1")),
            Some(Key::BgpConfiguration("node.n1".into()))
        );
        assert_eq!(
            Key::parse(&format!("{r}ippools/default-ipv4-ippool")),
            Some(Key::IpPool("default-ipv4-ippool".into()))
        );
        assert_eq!(Key::parse(&format!("{r}networkpolicies/x")), None);
        assert_eq!(
            Key::parse("/calico/ipam/v2/host/n1/ipv4/block/10.244.1.0-26"),
            Some(Key::Affinity {
                node: "n1".into(),
                cidr: "10.244.1.0/26".parse().unwrap()
            })
        );
        assert_eq!(
            Key::parse("/calico/ipam/v2/host/n1/ipv6/block/fd00:244::-122"),
            Some(Key::Affinity {
                node: "n1".into(),
                cidr: "fd00:244::/122".parse().unwrap()
            })
        );
        assert_eq!(
            Key::parse("/calico/ipam/v2/host/n1/ipv4/block/garbage"),
            None
        );
    }

    #[test]
    fn a_bad_value_is_reported_and_the_last_good_one_stays() {
        let mut snapshot = Snapshot::default();
        let key = format!("{RESOURCES}ippools/p");
        let good = br#"{"metadata":{"name":"p"},"spec":{"cidr":"10.244.0.0/16"}}"#;
        assert_eq!(snapshot.put(&key, good), Ok(true));
        assert_eq!(snapshot.put(&key, good), Ok(false), "unchanged");
        let err = snapshot.put(&key, b"{not json").unwrap_err();
        assert_eq!(err.key, key);
        assert!(snapshot.pools.contains_key("p"));
        let wrong_enum =
            br#"{"metadata":{"name":"p"},"spec":{"cidr":"10.244.0.0/16","ipipMode":"Sometimes"}}"#;
        assert!(snapshot.put(&key, wrong_enum).is_err());
        assert!(snapshot.delete(&key));
        assert!(!snapshot.delete(&key));
    }

    #[test]
    fn a_problem_lasts_as_long_as_its_value() {
        let mut snapshot = Snapshot::default();
        let key = format!("{RESOURCES}bgppeers/tor");
        let err = snapshot
            .put(
                &key,
                br#"{"metadata":{"name":"tor"},"spec":{"asNumber":"many"}}"#,
            )
            .unwrap_err();
        assert!(err.reason.starts_with("spec.asNumber: "), "{err}");
        let problems: Vec<_> = snapshot.problems().cloned().collect();
        assert_eq!(problems, [Problem::new(&key, "", err.reason.clone())]);
        let good = br#"{"metadata":{"name":"tor"},"spec":{"peerIP":"10.0.0.1","asNumber":65001}}"#;
        assert_eq!(snapshot.put(&key, good), Ok(true));
        assert_eq!(snapshot.problems().count(), 0, "a good value clears it");
        assert!(snapshot.put(&key, b"{").is_err());
        assert!(
            snapshot.peers.contains_key("tor"),
            "the last good value stays"
        );
        assert!(snapshot.delete(&key));
        assert_eq!(snapshot.problems().count(), 0, "a deleted key has none");
    }

    #[test]
    fn bad_entries_are_problems_of_a_value_that_applies() {
        let mut snapshot = Snapshot::default();
        let key = format!("{RESOURCES}bgpconfigurations/default");
        let value = br#"{"metadata":{"name":"default"},"spec":{"asNumber":65001,
            "serviceClusterIPs":[{"cidr":"10.101.0.0/16"},{},{"cidr":"x"}]}}"#;
        assert_eq!(snapshot.put(&key, value), Ok(true));
        let spec = &snapshot.global_config().unwrap().spec;
        assert_eq!(spec.as_number, Some(proto::config::Asn(65001)));
        let cidrs: Vec<_> = spec.service_cluster_ips.iter().map(|e| e.cidr).collect();
        assert_eq!(cidrs, [Some("10.101.0.0/16".parse().unwrap()), None]);
        let fields: Vec<_> = snapshot.problems().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["spec.serviceClusterIPs[2].cidr"]);
    }

    #[test]
    fn affinities_by_node() {
        let mut snapshot = Snapshot::default();
        let key = "/calico/ipam/v2/host/n1/ipv4/block/10.244.1.0-26";
        assert_eq!(
            snapshot.put(key, br#"{"state":"confirmed","deleted":false}"#),
            Ok(true)
        );
        assert_eq!(
            snapshot.put(key, b""),
            Ok(true),
            "no state is confirmed too, but a change"
        );
        assert!(snapshot.affinities["n1"][&"10.244.1.0/26".parse::<IpNet>().unwrap()].confirmed());
        assert!(snapshot.delete(key));
        assert!(snapshot.affinities.is_empty());
    }
}
