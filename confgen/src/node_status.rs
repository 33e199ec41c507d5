//! Writing a CalicoNodeStatus's status into etcd, as calico-node's status
//! reporter does through libcalico-go (`UpdateStatus`): only `status`
//! changes, every other field of the stored resource is kept, and the write
//! is a compare-and-swap on the key's revision, so that a concurrent change
//! of the spec is never lost.
//!
//! A status equal to the stored one but for `lastUpdated` is not written:
//! as in Calico, `lastUpdated` says when the status last changed.

use etcd_client::{Client, Compare, CompareOp, Txn, TxnOp};
use serde_json::Value;

use crate::snapshot::Key;
use crate::watch::EtcdConfig;

/// What became of one status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// The status changed: it is stored now.
    Stored,
    /// Equal to the stored one: nothing written.
    Unchanged,
    /// The request was deleted meanwhile: nothing written.
    Gone,
}

/// A connection to etcd kept between writes, made again after an error.
pub struct StatusWriter {
    config: EtcdConfig,
    client: Option<Client>,
}

impl std::fmt::Debug for StatusWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusWriter")
            .field("endpoints", &self.config.endpoints)
            .field("connected", &self.client.is_some())
            .finish()
    }
}

impl StatusWriter {
    pub fn new(config: EtcdConfig) -> Self {
        Self {
            config,
            client: None,
        }
    }

    /// Stores `status` (with its `lastUpdated`) into the CalicoNodeStatus
    /// `name` unless it holds that status already.
    pub async fn write(&mut self, name: &str, status: &Value) -> Result<Written, String> {
        let result = self.try_write(name, status).await;
        if result.is_err() {
            // The next write connects afresh.
            self.client = None;
        }
        result
    }

    async fn try_write(&mut self, name: &str, status: &Value) -> Result<Written, String> {
        let client = match &mut self.client {
            Some(client) => client,
            None => {
                let client = Client::connect(&self.config.endpoints, Some(self.config.options()?))
                    .await
                    .map_err(|e| format!("etcd: {e}"))?;
                self.client.insert(client)
            }
        };
        let key = Key::NodeStatus(name.to_owned()).path();
        // A concurrent writer makes the swap fail: read again and retry.
        for _ in 0..3 {
            let response = client
                .get(key.as_str(), None)
                .await
                .map_err(|e| format!("etcd: {e}"))?;
            let Some(kv) = response.kvs().first() else {
                return Ok(Written::Gone);
            };
            let stored: Value = serde_json::from_slice(kv.value())
                .map_err(|e| format!("{key}: not a CalicoNodeStatus ({e}); left as it is"))?;
            let Some(updated) = with_status(stored, status) else {
                return Ok(Written::Unchanged);
            };
            let txn = Txn::new()
                .when([Compare::mod_revision(
                    key.as_str(),
                    CompareOp::Equal,
                    kv.mod_revision(),
                )])
                .and_then([TxnOp::put(key.as_str(), updated.to_string(), None)]);
            let done = client
                .txn(txn)
                .await
                .map_err(|e| format!("etcd: {e}"))?
                .succeeded();
            if done {
                return Ok(Written::Stored);
            }
        }
        Err(format!("{key} kept changing while its status was written"))
    }
}

/// `stored` with `status` in place of its status, or `None` when the two
/// differ in `lastUpdated` alone.
fn with_status(mut stored: Value, status: &Value) -> Option<Value> {
    let without_time = |v: &Value| {
        let mut v = v.clone();
        if let Some(fields) = v.as_object_mut() {
            fields.remove("lastUpdated");
        }
        v
    };
    if without_time(&stored["status"]) == without_time(status) {
        return None;
    }
    stored
        .as_object_mut()?
        .insert("status".into(), status.clone());
    Some(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_status_changes() {
        let stored = json!({"kind": "CalicoNodeStatus", "metadata": {"name": "s", "uid": "u"},
                            "spec": {"node": "n1", "classes": ["BGP"], "updatePeriodSeconds": 10}});
        let status =
            json!({"lastUpdated": "2026-12-03T17:00:00Z", "bgp": {"numberEstablishedV4": 1}});
        let updated = with_status(stored.clone(), &status).unwrap();
        assert_eq!(updated["status"], status);
        assert_eq!(updated["spec"], stored["spec"]);
        assert_eq!(updated["metadata"], stored["metadata"]);
    }

    #[test]
    fn a_new_time_alone_is_no_change() {
        let stored =
            json!({"spec": {}, "status": {"lastUpdated": "2026-12-03T17:00:00Z", "bgp": {}}});
        let later = json!({"lastUpdated": "2026-12-03T17:00:10Z", "bgp": {}});
        assert_eq!(with_status(stored.clone(), &later), None);
        let changed =
            json!({"lastUpdated": "2026-12-03T17:00:10Z", "bgp": {"numberEstablishedV4": 2}});
        assert!(with_status(stored, &changed).is_some());
    }
}
