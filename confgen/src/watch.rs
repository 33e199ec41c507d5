//! Following etcd: list the keys BGP reads, then watch them from the listed
//! revision plus one (calico.md §1.9). After a compaction, list again. When
//! etcd is unreachable, the last good snapshot stays in force (sessions and
//! routes stay up) while the watcher reconnects, with backoff, to any of the
//! endpoints; then it lists and resyncs. Losing one member of a cluster is
//! a failover to the next, not an outage.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, EventType, GetOptions, Identity, TlsOptions, WatchOptions,
    WatchResponse,
};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::snapshot::{Snapshot, AFFINITIES, RESOURCES};

/// How to reach etcd, from Calico's environment names
/// (`ETCD_ENDPOINTS`, `ETCD_CA_CERT_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcdConfig {
    pub endpoints: Vec<String>,
    pub ca_cert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl EtcdConfig {
    /// Splits Calico's comma-separated `ETCD_ENDPOINTS`.
    pub fn from_endpoints(list: &str) -> Self {
        let endpoints = list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect();
        Self {
            endpoints,
            ..Self::default()
        }
    }

    pub(crate) fn options(&self) -> Result<ConnectOptions, String> {
        // HTTP/2 pings, even with no request in flight: a watch on a
        // connection that died silently (the node's address moved, a link
        // or etcd vanished without a reset) errors within 15 s and is
        // made again, rather than waiting for TCP to time out. Every 10 s:
        // etcd takes pings no more often than every 5 s (its
        // --grpc-keepalive-min-time).
        let mut options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(10))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_keep_alive_while_idle(true);
        if self.ca_cert.is_some() || self.cert.is_some() {
            let read = |path: &PathBuf| {
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
            };
            let mut tls = TlsOptions::new();
            if let Some(ca) = &self.ca_cert {
                tls = tls.ca_certificate(Certificate::from_pem(read(ca)?));
            }
            match (&self.cert, &self.key) {
                (Some(cert), Some(key)) => {
                    tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?))
                }
                (None, None) => {}
                _ => {
                    return Err(
                        "a client certificate needs both ETCD_CERT_FILE and ETCD_KEY_FILE".into(),
                    )
                }
            }
            options = options.with_tls(tls);
        }
        Ok(options)
    }
}

/// What the watcher publishes: the snapshot and the etcd revision it reflects.
#[derive(Clone, Debug, Default)]
pub struct Synced {
    pub snapshot: Arc<Snapshot>,
    pub revision: i64,
    /// False while etcd is unreachable (the snapshot is the last good one).
    pub connected: bool,
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
    let prefixes = [RESOURCES.to_owned(), format!("{AFFINITIES}{node}/")];
    let count = config.endpoints.len();
    if count == 0 {
        warn!("no etcd endpoints: nothing to follow");
        publish.send_modify(|synced| synced.connected = false);
        return;
    }
    let mut first = 0;
    let mut backoff = BACKOFF_MIN;
    loop {
        let mut last_error = String::new();
        for i in 0..count {
            let index = (first + i) % count;
            let endpoint = &config.endpoints[index];
            match session(&config, endpoint, &prefixes, &publish).await {
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
        publish.send_modify(|synced| synced.connected = false);
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
    prefixes: &[String],
    publish: &watch::Sender<Synced>,
) -> Result<(), SessionEnd> {
    let mut listed = false;
    let ended = |listed: bool| move |error: String| SessionEnd { listed, error };
    let options = config.options().map_err(ended(false))?;
    let mut client = Client::connect([endpoint], Some(options))
        .await
        .map_err(|e| ended(false)(e.to_string()))?;
    loop {
        let mut snapshot = Snapshot::default();
        let mut revision = 0;
        for prefix in prefixes {
            let response = client
                .get(prefix.as_str(), Some(GetOptions::new().with_prefix()))
                .await
                .map_err(|e| ended(listed)(e.to_string()))?;
            revision = revision.max(response.header().map_or(0, |h| h.revision()));
            for kv in response.kvs() {
                if let Err(bad) = snapshot.put(&String::from_utf8_lossy(kv.key()), kv.value()) {
                    warn!(%bad, "skipped");
                }
            }
        }
        listed = true;
        info!(
            %endpoint,
            revision,
            nodes = snapshot.nodes.len(),
            peers = snapshot.peers.len(),
            pools = snapshot.pools.len(),
            "etcd listed"
        );
        if publish
            .send(Synced {
                snapshot: Arc::new(snapshot.clone()),
                revision,
                connected: true,
            })
            .is_err()
        {
            return Ok(());
        }
        match watch_from(&mut client, prefixes, snapshot, revision + 1, publish)
            .await
            .map_err(ended(true))?
        {
            WatchEnd::Compacted => info!("etcd compacted past our revision; listing again"),
            WatchEnd::ReceiverGone => return Ok(()),
        }
    }
}

enum WatchEnd {
    Compacted,
    ReceiverGone,
}

async fn watch_from(
    client: &mut Client,
    prefixes: &[String],
    mut snapshot: Snapshot,
    start: i64,
    publish: &watch::Sender<Synced>,
) -> Result<WatchEnd, String> {
    let options = || {
        Some(
            WatchOptions::new()
                .with_prefix()
                .with_start_revision(start)
                .with_progress_notify(),
        )
    };
    let mut stream = client
        .watch(prefixes[0].as_str(), options())
        .await
        .map_err(|e| e.to_string())?;
    for prefix in &prefixes[1..] {
        stream
            .watch(prefix.as_str(), options())
            .await
            .map_err(|e| e.to_string())?;
    }
    loop {
        let Some(response) = stream.message().await.map_err(|e| e.to_string())? else {
            return Err("the watch stream ended".into());
        };
        if response.compact_revision() > 0 || response.canceled() {
            return Ok(WatchEnd::Compacted);
        }
        let revision = response.header().map_or(0, |h| h.revision());
        if apply(&mut snapshot, &response) {
            let synced = Synced {
                snapshot: Arc::new(snapshot.clone()),
                revision,
                connected: true,
            };
            if publish.send(synced).is_err() {
                return Ok(WatchEnd::ReceiverGone);
            }
        } else {
            publish.send_modify(|synced| {
                synced.revision = synced.revision.max(revision);
                synced.connected = true;
            });
        }
    }
}

/// Applies a watch response; true when anything BGP reads changed.
fn apply(snapshot: &mut Snapshot, response: &WatchResponse) -> bool {
    let mut changed = false;
    for event in response.events() {
        let Some(kv) = event.kv() else { continue };
        let key = String::from_utf8_lossy(kv.key());
        changed |= match event.event_type() {
            EventType::Put => snapshot.put(&key, kv.value()).unwrap_or_else(|bad| {
                warn!(%bad, "skipped");
                false
            }),
            EventType::Delete => snapshot.delete(&key),
        };
    }
    changed
}

/// Lists once (for `confgen render`).
pub async fn list_once(config: &EtcdConfig, node: &str) -> Result<(Snapshot, Vec<String>), String> {
    let mut client = Client::connect(&config.endpoints, Some(config.options()?))
        .await
        .map_err(|e| e.to_string())?;
    let mut snapshot = Snapshot::default();
    let mut bad = Vec::new();
    for prefix in [RESOURCES.to_owned(), format!("{AFFINITIES}{node}/")] {
        let response = client
            .get(prefix.as_str(), Some(GetOptions::new().with_prefix()))
            .await
            .map_err(|e| e.to_string())?;
        for kv in response.kvs() {
            if let Err(e) = snapshot.put(&String::from_utf8_lossy(kv.key()), kv.value()) {
                bad.push(e.to_string());
            }
        }
    }
    Ok((snapshot, bad))
}
