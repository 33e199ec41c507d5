//! CalicoNodeStatus: an operator creates one for a node (Calico v3.21+) and
//! the node fills its status, every `updatePeriodSeconds` (0: once), with
//! the classes asked for. calico-node does it by reading BIRD's sockets;
//! bgpd, with `--node-status-reporter`, does it itself from what its
//! sockets show (docs/INSTALL.md, "CalicoNodeStatus").
//!
//! Requests come through the datastore's one watch (confgen's snapshot
//! keeps their specs); a status bgpd writes changes no spec, so it does not
//! come back as work. A write happens only when the status changed, as in
//! Calico.

pub mod report;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use confgen::node_status::{StatusWriter, Written};
use confgen::resources::NodeStatusSpec;
use confgen::watch::{EtcdConfig, Synced};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::api::Sources;
use crate::speaker::SpeakerHandle;

/// How soon a failed write is tried again, when the period is longer (or 0).
const RETRY: Duration = Duration::from_secs(10);

/// What the reporter needs to know of bgpd.
#[derive(Debug)]
pub struct Reporter {
    pub node: String,
    pub speaker: SpeakerHandle,
    pub sources: Sources,
    /// Whether `bird6.ctl` is served: the IPv6 half of the status.
    pub ipv6_served: bool,
}

/// One request being answered.
#[derive(Debug)]
struct Request {
    spec: NodeStatusSpec,
    /// When to report next; `None`: not again until the spec changes.
    due: Option<Instant>,
}

impl Reporter {
    /// Answers this node's requests in `snapshots` until the task is dropped.
    pub fn spawn(
        self,
        etcd: EtcdConfig,
        snapshots: watch::Receiver<Synced>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(StatusWriter::new(etcd), snapshots))
    }

    async fn run(self, mut writer: StatusWriter, mut snapshots: watch::Receiver<Synced>) {
        let mut requests: BTreeMap<String, Request> = BTreeMap::new();
        loop {
            self.follow(&snapshots, &mut requests);
            let next = requests.values().filter_map(|r| r.due).min();
            tokio::select! {
                changed = snapshots.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = sleep_until(next) => {
                    let now = Instant::now();
                    for (name, request) in requests.iter_mut() {
                        if request.due.is_some_and(|due| due <= now) {
                            request.due = self.report(&mut writer, name, &request.spec).await;
                        }
                    }
                }
            }
        }
    }

    /// Brings `requests` in line with the snapshot's requests for this
    /// node: a new or changed one is due at once, a deleted one goes.
    fn follow(
        &self,
        snapshots: &watch::Receiver<Synced>,
        requests: &mut BTreeMap<String, Request>,
    ) {
        // Held only while copying: the watcher changes the snapshot in place
        // while nobody holds it.
        let wanted: BTreeMap<String, NodeStatusSpec> = snapshots
            .borrow()
            .snapshot
            .node_statuses
            .iter()
            .filter(|(_, r)| r.spec.node == self.node)
            .map(|(name, r)| (name.clone(), r.spec.clone()))
            .collect();
        requests.retain(|name, _| wanted.contains_key(name));
        for (name, spec) in wanted {
            if requests.get(&name).is_some_and(|r| r.spec == spec) {
                continue;
            }
            let due = match spec.update_period_seconds {
                Some(_) => Some(Instant::now()),
                None => {
                    // Calico's validation requires it; its reporter skips
                    // such a request too.
                    warn!(request = %name, "CalicoNodeStatus without spec.updatePeriodSeconds: not reported");
                    None
                }
            };
            if let Some(unknown) = spec
                .classes
                .iter()
                .find(|c| ![report::AGENT, report::BGP, report::ROUTES].contains(&c.as_str()))
            {
                warn!(request = %name, class = %unknown, "CalicoNodeStatus: unknown class (Agent, BGP and Routes are); ignored");
            }
            requests.insert(name, Request { spec, due });
        }
    }

    /// Writes one status; returns when to write the next.
    async fn report(
        &self,
        writer: &mut StatusWriter,
        name: &str,
        spec: &NodeStatusSpec,
    ) -> Option<Instant> {
        let status = self.status(spec).await;
        let period = Duration::from_secs(u64::from(spec.update_period_seconds.unwrap_or(0)));
        let next = |after: Duration| Some(Instant::now() + after);
        match writer.write(name, &status).await {
            Ok(Written::Stored) => debug!(request = %name, "CalicoNodeStatus written"),
            Ok(Written::Unchanged | Written::Gone) => {}
            Err(e) => {
                warn!(request = %name, error = %e, "cannot write CalicoNodeStatus; will retry");
                return next(if period.is_zero() {
                    RETRY
                } else {
                    period.min(RETRY)
                });
            }
        }
        if period.is_zero() {
            None
        } else {
            next(period)
        }
    }

    async fn status(&self, spec: &NodeStatusSpec) -> serde_json::Value {
        let configured = self.sources.not_configured().is_none();
        let speaker = if configured {
            self.speaker.status().await
        } else {
            None
        };
        let peers = self.speaker.peers().await.unwrap_or_default();
        let routes = if spec.classes.iter().any(|c| c == report::ROUTES) && configured {
            self.speaker.routes(None).await.unwrap_or_default()
        } else {
            Vec::new()
        };
        report::status(
            &spec.classes,
            &report::Inputs {
                speaker: speaker.as_ref(),
                peers: &peers,
                routes: &routes,
                kernel: self.sources.kernel(),
                ipv6_served: self.ipv6_served,
                now: SystemTime::now(),
            },
        )
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}
