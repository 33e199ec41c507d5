//! Node registration, as calico-node's start-up does it, for nodes without
//! calico-node: the Node resource gets `spec.bgp.ipv4Address` when it has
//! none. What an operator set is never overwritten, every other field of a
//! stored Node is kept as it was, and the write is a compare-and-swap on the
//! key's revision, so that a concurrent writer is never lost.

use etcd_client::{Client, Compare, CompareOp, Txn, TxnOp};
use ipnet::IpNet;
use serde_json::{json, Value};

use crate::snapshot::Key;
use crate::watch::EtcdConfig;

/// What registration did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Registered {
    /// There was no Node: one was created with the address.
    Created(IpNet),
    /// The Node had no IPv4 address: it has this one now.
    Added(IpNet),
    /// The Node's address was set already (by an operator or calico-node): kept.
    Kept(String),
}

/// `stored` (a Node as etcd holds it) with `address` added; `Err` with the
/// address it has when it has one already.
fn with_address(mut stored: Value, address: IpNet) -> Result<Value, String> {
    let current = stored["spec"]["bgp"]["ipv4Address"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    if !current.is_empty() {
        return Err(current);
    }
    if !stored["spec"].is_object() {
        stored["spec"] = json!({});
    }
    if !stored["spec"]["bgp"].is_object() {
        stored["spec"]["bgp"] = json!({});
    }
    stored["spec"]["bgp"]["ipv4Address"] = Value::String(address.to_string());
    Ok(stored)
}

/// Writes `address` into `node`'s Node unless it has one.
pub async fn register(
    config: &EtcdConfig,
    node: &str,
    address: IpNet,
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
        let (compare, value, outcome) = match response.kvs().first() {
            None => {
                let created = json!({
                    "kind": "Node",
                    "apiVersion": "projectcalico.org/v3",
                    "metadata": {"name": node},
                    "spec": {"bgp": {"ipv4Address": address.to_string()}},
                });
                (
                    Compare::create_revision(key.as_str(), CompareOp::Equal, 0),
                    created,
                    Registered::Created(address),
                )
            }
            Some(kv) => {
                let stored: Value = serde_json::from_slice(kv.value())
                    .map_err(|e| format!("{key}: not a Node ({e}); left as it is"))?;
                match with_address(stored, address) {
                    Err(current) => return Ok(Registered::Kept(current)),
                    Ok(value) => (
                        Compare::mod_revision(key.as_str(), CompareOp::Equal, kv.mod_revision()),
                        value,
                        Registered::Added(address),
                    ),
                }
            }
        };
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
            return Ok(outcome);
        }
    }
    Err(format!("{key} kept changing while it was being registered"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_added_and_the_rest_kept() {
        let stored = json!({"kind": "Node", "metadata": {"name": "n1", "labels": {"rack": "a"}},
                            "spec": {"orchRefs": [{"orchestrator": "k8s"}]}});
        let added = with_address(stored, "10.0.1.5/24".parse().unwrap()).unwrap();
        assert_eq!(added["spec"]["bgp"]["ipv4Address"], "10.0.1.5/24");
        assert_eq!(added["metadata"]["labels"]["rack"], "a");
        assert_eq!(added["spec"]["orchRefs"][0]["orchestrator"], "k8s");
    }

    #[test]
    fn an_address_set_is_never_overwritten() {
        let stored = json!({"spec": {"bgp": {"ipv4Address": "10.0.9.9/24", "asNumber": 65001}}});
        assert_eq!(
            with_address(stored, "10.0.1.5/24".parse().unwrap()),
            Err("10.0.9.9/24".to_owned())
        );
        // An empty address is no address (libcalico-go writes "" for none).
        let empty = json!({"spec": {"bgp": {"ipv4Address": "", "asNumber": 65001}}});
        let added = with_address(empty, "10.0.1.5/24".parse().unwrap()).unwrap();
        assert_eq!(added["spec"]["bgp"]["asNumber"], 65001);
    }
}
