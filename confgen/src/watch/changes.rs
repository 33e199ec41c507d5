//! Following a listing: one watch stream over every range BGP reads, all
//! of them from the listing's revision + 1, and each response applied to
//! the snapshot key by key. The work per response is the keys it carries.

use etcd_client::{EventType, WatchOptions, WatchResponse, WatchStream};
use tracing::warn;

use super::connect::Clients;
use crate::snapshot::Snapshot;

/// Opens one watch stream with a watcher per range, every one from `start`.
pub async fn watch(
    clients: &Clients,
    ranges: &[String],
    start: i64,
) -> Result<WatchStream, String> {
    let options = || {
        Some(
            WatchOptions::new()
                .with_prefix()
                .with_start_revision(start)
                .with_progress_notify(),
        )
    };
    let (first, rest) = ranges
        .split_first()
        .ok_or_else(|| "nothing to watch".to_owned())?;
    let mut watch = clients.watch.clone();
    let mut stream = watch
        .watch(first.as_str(), options())
        .await
        .map_err(|e| e.to_string())?;
    for prefix in rest {
        stream
            .watch(prefix.as_str(), options())
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(stream)
}

/// What one watch response meant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Anything BGP reads changed.
    pub changed: bool,
    /// etcd compacted past the watch's start, or cancelled it: list again.
    pub compacted: bool,
    /// The revision the response is at.
    pub revision: i64,
}

/// etcd compacted past the watch's start, or cancelled it: list again.
pub fn compacted(response: &WatchResponse) -> bool {
    response.compact_revision() > 0 || response.canceled()
}

/// Applies a watch response to `snapshot`.
pub fn apply(snapshot: &mut Snapshot, response: &WatchResponse) -> Applied {
    let mut applied = Applied {
        revision: response.header().map_or(0, |h| h.revision()),
        compacted: compacted(response),
        ..Applied::default()
    };
    if applied.compacted {
        return applied;
    }
    for event in response.events() {
        let Some(kv) = event.kv() else { continue };
        let key = String::from_utf8_lossy(kv.key());
        applied.changed |= match event.event_type() {
            // A bad value is kept among the snapshot's problems.
            EventType::Put => snapshot.put(&key, kv.value()).unwrap_or_else(|bad| {
                warn!(%bad, "skipped");
                false
            }),
            EventType::Delete => snapshot.delete(&key),
        };
    }
    applied
}
