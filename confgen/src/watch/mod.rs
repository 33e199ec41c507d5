//! Following etcd: list the ranges BGP reads (snapshot.rs's `ranges`),
//! consistently and page by page (list.rs), then watch them from the
//! listed revision + 1 (changes.rs). After a compaction, list again. When
//! etcd is unreachable, the last good snapshot stays in force (sessions and
//! routes stay up) while the watcher reconnects, with backoff, to any of the
//! endpoints; then it lists and resyncs. Losing one member of a cluster is
//! a failover to the next, not an outage.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::snapshot::{ranges, Snapshot};

mod changes;
mod connect;
mod list;

pub use changes::{apply, compacted, watch, Applied};
pub use connect::{Clients, EtcdConfig};
pub use list::{list, prefix_end, ListError, Listing, Pager, PAGE_SIZE};

/// What the watcher publishes: the snapshot and the etcd revision it reflects.
#[derive(Clone, Debug, Default)]
pub struct Synced {
    pub snapshot: Arc<Snapshot>,
    pub revision: i64,
    /// False until the first listing, and while etcd is unreachable (the
    /// snapshot is then the last good one).
    pub connected: bool,
    /// Why etcd is not reached, while it is not.
    pub error: Option<String>,
}

/// Follows etcd for `node` forever, publishing every change. Bad values are
/// logged with their key and skipped.
///
/// One connection to one member at a time. When it fails, the other members
/// are tried at once, in turn: losing a member of a cluster is a failover
/// (logged, not an outage). Only when every member failed in one round is
/// etcd unreachable: the last good state stays in force and the rounds go
/// on with backoff.
pub async fn follow(config: EtcdConfig, node: String, publish: watch::Sender<Synced>) {
    let ranges = ranges(&node);
    let count = config.endpoints.len();
    if count == 0 {
        warn!("no etcd endpoints: nothing to follow");
        publish.send_modify(|synced| {
            synced.connected = false;
            synced.error = Some("no etcd endpoints".into());
        });
        return;
    }
    let mut first = 0;
    let mut backoff = BACKOFF_MIN;
    loop {
        let mut last_error = String::new();
        for i in 0..count {
            let index = (first + i) % count;
            let endpoint = &config.endpoints[index];
            match session(&config, endpoint, &ranges, &publish).await {
                Ok(()) => return, // Nobody listens any more.
                Err(SessionEnd { listed, error }) => {
                    if listed {
                        // It was working: the next round starts here, and
                        // with no more than the shortest wait.
                        if count > 1 {
                            info!(%endpoint, %error, "etcd member lost; trying the others");
                        }
                        first = index;
                        backoff = BACKOFF_MIN;
                    } else if count > 1 {
                        info!(%endpoint, %error, "etcd member unreachable");
                    }
                    last_error = error;
                }
            }
        }
        warn!(error = %last_error, retry_in = ?backoff, "etcd unreachable; keeping the last good state");
        let endpoints = config.endpoints.join(",");
        publish.send_modify(|synced| {
            synced.connected = false;
            synced.error = Some(format!("etcd at {endpoints}: {last_error}"));
        });
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Why a session ended, and whether it got as far as listing.
struct SessionEnd {
    listed: bool,
    error: String,
}

/// One connection to `endpoint`: list, publish, watch until an error (or
/// compaction, which lists again). `Ok` only when the receiver is gone.
async fn session(
    config: &EtcdConfig,
    endpoint: &str,
    ranges: &[String],
    publish: &watch::Sender<Synced>,
) -> Result<(), SessionEnd> {
    let ended = |listed: bool| move |error: String| SessionEnd { listed, error };
    let clients = config
        .connect(&[endpoint.to_owned()])
        .await
        .map_err(ended(false))?;
    let mut listed = false;
    loop {
        let Listing {
            snapshot, revision, ..
        } = list(&clients, ranges, PAGE_SIZE)
            .await
            .map_err(ended(listed))?;
        listed = true;
        info!(
            %endpoint,
            revision,
            nodes = snapshot.nodes.len(),
            peers = snapshot.peers.len(),
            pools = snapshot.pools.len(),
            "etcd listed"
        );
        let synced = Synced {
            snapshot: Arc::new(snapshot),
            revision,
            connected: true,
            error: None,
        };
        if publish.send(synced).is_err() {
            return Ok(());
        }
        let mut stream = watch(&clients, ranges, revision + 1)
            .await
            .map_err(ended(true))?;
        loop {
            let response = match stream.message().await {
                Ok(Some(response)) => response,
                Ok(None) => return Err(ended(true)("the watch stream ended".into())),
                Err(e) => return Err(ended(true)(e.to_string())),
            };
            if compacted(&response) {
                info!("etcd compacted past our revision; listing again");
                break;
            }
            // The snapshot is changed where it is published: the work is
            // the keys the response carries. Only a reader still holding
            // the previous snapshot (a render in progress) makes this a
            // copy, once for that render.
            publish.send_if_modified(|synced| {
                let mut changed = !synced.connected;
                synced.connected = true;
                synced.error = None;
                if !response.events().is_empty() {
                    let applied = apply(Arc::make_mut(&mut synced.snapshot), &response);
                    changed |= applied.changed;
                }
                let revision = response.header().map_or(0, |h| h.revision());
                synced.revision = synced.revision.max(revision);
                changed
            });
            if publish.is_closed() {
                return Ok(());
            }
        }
    }
}

/// Lists once (for `confgen render`): the snapshot, and each value skipped.
pub async fn list_once(config: &EtcdConfig, node: &str) -> Result<(Snapshot, Vec<String>), String> {
    let clients = config.connect(&config.endpoints).await?;
    let listing = list(&clients, &ranges(node), PAGE_SIZE).await?;
    let bad = listing.bad.iter().map(ToString::to_string).collect();
    Ok((listing.snapshot, bad))
}
