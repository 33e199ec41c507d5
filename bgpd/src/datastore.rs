//! etcd as the source of desired state: confgen follows the datastore, each
//! change is rendered for this node, and a configuration that differs from
//! the running one is applied with the speaker's per-peer diff. Bursts of
//! changes are coalesced; while etcd is away, the running configuration
//! stays (DESIGN.md §1).

use std::time::Duration;

use confgen::render::render;
use confgen::secrets::SecretSource;
use confgen::watch::{follow, EtcdConfig, Synced};
use proto::config::SpeakerConfig;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::speaker::SpeakerHandle;

/// Within a burst of etcd changes, at most one render per this long.
const COALESCE: Duration = Duration::from_millis(10);

/// Starts following etcd for `node`; returns the receiver of snapshots.
pub fn start(etcd: EtcdConfig, node: String) -> watch::Receiver<Synced> {
    let (publish, receive) = watch::channel(Synced::default());
    tokio::spawn(follow(etcd, node, publish));
    receive
}

/// Waits for the first snapshot that renders for `node`.
pub async fn first_config(
    snapshots: &mut watch::Receiver<Synced>,
    node: &str,
    secrets: &dyn SecretSource,
) -> Option<SpeakerConfig> {
    loop {
        if snapshots.changed().await.is_err() {
            return None;
        }
        let synced = snapshots.borrow_and_update().clone();
        if !synced.connected {
            continue;
        }
        match render(&synced.snapshot, node, secrets) {
            Ok(rendered) => {
                for warning in &rendered.problems {
                    warn!(%warning, "datastore");
                }
                info!(
                    revision = synced.revision,
                    peers = rendered.config.peers.len(),
                    "configuration from etcd"
                );
                return Some(rendered.config);
            }
            Err(e) => {
                warn!(error = %e, revision = synced.revision, "cannot run from the datastore yet")
            }
        }
    }
}

/// Applies every later change to the running speaker until the watcher ends.
/// `running` holds the configuration the speaker runs (the first one to begin
/// with) and gets each one applied, for the operator API.
pub async fn follow_changes(
    mut snapshots: watch::Receiver<Synced>,
    node: String,
    secrets: Box<dyn SecretSource + Send + Sync>,
    speaker: SpeakerHandle,
    running: watch::Sender<SpeakerConfig>,
) {
    let mut last_warnings = Vec::new();
    let mut last_render: Option<tokio::time::Instant> = None;
    while snapshots.changed().await.is_ok() {
        // A change after a quiet spell renders at once (S6 of BENCHMARKS.md
        // times etcd to the kernels). In a burst, renders are a window
        // apart, and the watch keeps only the latest state meanwhile.
        if let Some(last) = last_render {
            tokio::time::sleep_until(last + COALESCE).await;
        }
        last_render = Some(tokio::time::Instant::now());
        let synced = snapshots.borrow_and_update().clone();
        if !synced.connected {
            continue;
        }
        match render(&synced.snapshot, &node, secrets.as_ref()) {
            Ok(rendered) => {
                if rendered.problems != last_warnings {
                    for warning in &rendered.problems {
                        warn!(%warning, "datastore");
                    }
                    last_warnings = rendered.problems;
                }
                if rendered.config != *running.borrow() {
                    info!(
                        revision = synced.revision,
                        "applying a new configuration from etcd"
                    );
                    speaker.reconfigure(rendered.config.clone());
                    running.send_replace(rendered.config);
                }
            }
            // A node that lost its BGP spec, say, keeps what runs.
            Err(e) => {
                warn!(error = %e, revision = synced.revision, "not applied; the running configuration stays")
            }
        }
    }
}
