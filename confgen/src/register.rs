//! Node registration, as calico-node's start-up does it, for nodes without
//! calico-node: the Node resource gets `spec.bgp.ipv4Address` (and
//! `ipv6Address`) when it has none, and a new one when the node's address
//! changes (calico-node's monitor-addresses) and the Node still holds the
//! one registered before. What an operator set is never overwritten, every
//! other field of a stored Node is kept as it was, and the write is a
//! compare-and-swap on the key's revision, so that a concurrent writer is
//! never lost.

use etcd_client::{Client, Compare, CompareOp, Txn, TxnOp};
use ipnet::IpNet;
use serde_json::{json, Value};

use crate::snapshot::Key;
use crate::watch::EtcdConfig;

/// What registration did with one address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The Node had no address of this family: it has this one now.
    Written(IpNet),
    /// The Node's address was set already (by an operator or calico-node): kept.
    Kept(String),
}

/// What registration did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    /// There was no Node: one was created.
    pub created: bool,
    /// One outcome per address asked for, in the same order.
    pub outcomes: Vec<Outcome>,
}

/// The Node field that holds an address of this family.
fn field(address: &IpNet) -> &'static str {
    match address {
        IpNet::V4(_) => "ipv4Address",
        IpNet::V6(_) => "ipv6Address",
    }
}

/// `stored` (a Node as etcd holds it) with each of `addresses` written into
/// its family's field unless that field is set to something other than one
/// of `replaced`; what happened to each.
fn with_addresses(
    mut stored: Value,
    addresses: &[IpNet],
    replaced: &[IpNet],
) -> (Value, Vec<Outcome>) {
    let mut outcomes = Vec::with_capacity(addresses.len());
    for address in addresses {
        let field = field(address);
        let current = stored["spec"]["bgp"][field].as_str().unwrap_or("");
        let ours = replaced.iter().any(|r| r.to_string() == current);
        if current == address.to_string() {
            outcomes.push(Outcome::Kept(current.to_owned()));
            continue;
        }
        // An empty address is no address (libcalico-go writes "" for none).
        if !current.is_empty() && !ours {
            outcomes.push(Outcome::Kept(current.to_owned()));
            continue;
        }
        if !stored["spec"].is_object() {
            stored["spec"] = json!({});
        }
        if !stored["spec"]["bgp"].is_object() {
            stored["spec"]["bgp"] = json!({});
        }
        stored["spec"]["bgp"][field] = Value::String(address.to_string());
        outcomes.push(Outcome::Written(*address));
    }
    (stored, outcomes)
}

/// Writes each of `addresses` (one per family) into `node`'s Node unless it
/// has one of that family other than one of `replaced` (the addresses
/// registered before, when following a change); creates the Node when
/// there is none.
pub async fn register(
    config: &EtcdConfig,
    node: &str,
    addresses: &[IpNet],
    replaced: &[IpNet],
) -> Result<Registered, String> {
    let mut client = Client::connect(&config.endpoints, Some(config.options()?))
        .await
        .map_err(|e| format!("etcd: {e}"))?;
    let key = Key::Node(node.to_owned()).path();
    // A concurrent writer makes the swap fail: read again and retry.
    for _ in 0..5 {
        let response = client
            .get(key.as_str(), None)
            .await
            .map_err(|e| format!("etcd: {e}"))?;
        let (compare, stored, created) = match response.kvs().first() {
            None => (
                Compare::create_revision(key.as_str(), CompareOp::Equal, 0),
                json!({
                    "kind": "Node",
                    "apiVersion": "projectcalico.org/v3",
                    "metadata": {"name": node},
                    "spec": {},
                }),
                true,
            ),
            Some(kv) => (
                Compare::mod_revision(key.as_str(), CompareOp::Equal, kv.mod_revision()),
                serde_json::from_slice(kv.value())
                    .map_err(|e| format!("{key}: not a Node ({e}); left as it is"))?,
                false,
            ),
        };
        let (value, outcomes) = with_addresses(stored, addresses, replaced);
        let written = outcomes.iter().any(|o| matches!(o, Outcome::Written(_)));
        let registered = Registered {
            created: created && written,
            outcomes,
        };
        if !written {
            return Ok(registered);
        }
        let txn = Txn::new().when([compare]).and_then([TxnOp::put(
            key.as_str(),
            value.to_string(),
            None,
        )]);
        if client
            .txn(txn)
            .await
            .map_err(|e| format!("etcd: {e}"))?
            .succeeded()
        {
            return Ok(registered);
        }
    }
    Err(format!("{key} kept changing while it was being registered"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn addresses_are_added_and_the_rest_kept() {
        let stored = json!({"kind": "Node", "metadata": {"name": "n1", "labels": {"rack": "a"}},
                            "spec": {"orchRefs": [{"orchestrator": "k8s"}]}});
        let (added, outcomes) =
            with_addresses(stored, &nets(&["10.0.1.5/24", "fd00:1::5/64"]), &[]);
        assert_eq!(added["spec"]["bgp"]["ipv4Address"], "10.0.1.5/24");
        assert_eq!(added["spec"]["bgp"]["ipv6Address"], "fd00:1::5/64");
        assert_eq!(added["metadata"]["labels"]["rack"], "a");
        assert_eq!(added["spec"]["orchRefs"][0]["orchestrator"], "k8s");
        assert_eq!(
            outcomes,
            nets(&["10.0.1.5/24", "fd00:1::5/64"])
                .into_iter()
                .map(Outcome::Written)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_address_set_is_never_overwritten() {
        let stored = json!({"spec": {"bgp": {"ipv4Address": "10.0.9.9/24", "asNumber": 65001}}});
        let (kept, outcomes) = with_addresses(stored, &nets(&["10.0.1.5/24", "fd00:1::5/64"]), &[]);
        assert_eq!(kept["spec"]["bgp"]["ipv4Address"], "10.0.9.9/24");
        assert_eq!(kept["spec"]["bgp"]["ipv6Address"], "fd00:1::5/64");
        assert_eq!(outcomes[0], Outcome::Kept("10.0.9.9/24".to_owned()));
        // An empty address is no address (libcalico-go writes "" for none).
        let empty = json!({"spec": {"bgp": {"ipv4Address": "", "asNumber": 65001}}});
        let (added, _) = with_addresses(empty, &nets(&["10.0.1.5/24"]), &[]);
        assert_eq!(added["spec"]["bgp"]["ipv4Address"], "10.0.1.5/24");
        assert_eq!(added["spec"]["bgp"]["asNumber"], 65001);
    }

    #[test]
    fn a_change_replaces_only_the_address_registered_before() {
        let stored =
            json!({"spec": {"bgp": {"ipv4Address": "10.0.1.5/24", "ipv6Address": "fd00:9::9/64"}}});
        let (moved, outcomes) = with_addresses(
            stored,
            &nets(&["10.0.2.5/24", "fd00:1::6/64"]),
            &nets(&["10.0.1.5/24", "fd00:1::5/64"]),
        );
        assert_eq!(moved["spec"]["bgp"]["ipv4Address"], "10.0.2.5/24");
        // Not the one registered before: someone else set it; kept.
        assert_eq!(moved["spec"]["bgp"]["ipv6Address"], "fd00:9::9/64");
        assert_eq!(
            outcomes,
            [
                Outcome::Written(nets(&["10.0.2.5/24"])[0]),
                Outcome::Kept("fd00:9::9/64".into())
            ]
        );
    }
}
