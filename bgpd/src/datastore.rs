//! etcd as a source of desired state: each snapshot confgen publishes is
//! rendered for this node and offered to the applier, which alone applies
//! it. Bursts of changes are coalesced; while etcd is away, the running
//! configuration stays (docs/DESIGN.md §1).
//!
//! What one etcd change costs, and where it is bounded:
//! - a key BGP does not read (a WorkloadEndpoint, a policy): nothing; it is
//!   not watched (confgen's `snapshot::ranges`);
//! - the watcher: the keys of the watch response, applied in place;
//! - the render (`Renderer`): an affinity or IPPool change, this node's
//!   affinities and the pools, the peers re-used; a Node, BGPConfiguration
//!   or BGPPeer change, the peers made again (a pass over the Nodes per
//!   BGPPeer that selects Nodes, selectors parsed once, when read);
//! - the applier and the speaker: a comparison of the peer lists, and for a
//!   changed configuration one `ConfigDiff` (a map lookup per peer); only
//!   the peers that changed are touched.

use std::time::Duration;

use confgen::render::{RenderError, Renderer};
use confgen::secrets::SecretSource;
use confgen::watch::{follow, EtcdConfig, Synced};
use tokio::sync::watch;

use crate::applier::{Applier, Offer};

/// Within a burst of etcd changes, at most one render per this long.
const COALESCE: Duration = Duration::from_millis(10);

/// Starts following etcd for `node`; returns the receiver of snapshots.
pub fn start(etcd: EtcdConfig, node: String) -> watch::Receiver<Synced> {
    let (publish, receive) = watch::channel(Synced::default());
    tokio::spawn(follow(etcd, node, publish));
    receive
}

/// Why nothing runs before etcd has answered.
pub fn waiting_for(endpoints: &str) -> String {
    format!("waiting for etcd at {endpoints}")
}

/// What a snapshot offers `node`; `renderer` re-uses what did not change.
pub fn offer_for(
    renderer: &mut Renderer,
    synced: &Synced,
    node: &str,
    endpoints: &str,
    secrets: &dyn SecretSource,
) -> Offer {
    if !synced.connected {
        let waiting = waiting_for(endpoints);
        return Offer::Keep(match &synced.error {
            Some(error) => format!("{waiting}: {error}"),
            None => waiting,
        });
    }
    match renderer.render(&synced.snapshot, node, secrets) {
        Ok(rendered) => Offer::Run {
            config: Box::new(rendered.config),
            problems: rendered.problems,
        },
        // As Calico's BIRD with no BGP when its node has none: the
        // sessions end until the node is back (docs/ARCHITECTURE.md).
        Err(
            e @ (RenderError::UnknownNode(_) | RenderError::NoBgp(_) | RenderError::NoRouterId(_)),
        ) => Offer::Off(e.to_string()),
        // A configuration the speaker cannot take: what runs stays.
        Err(e @ RenderError::Invalid(_)) => {
            Offer::Keep(format!("revision {}: {e}", synced.revision))
        }
    }
}

/// Offers every snapshot, from the first, until the watcher ends;
/// `renderer` says what an unset `programClusterRoutes` means.
pub async fn offer_changes(
    mut snapshots: watch::Receiver<Synced>,
    node: String,
    endpoints: String,
    secrets: Box<dyn SecretSource + Send + Sync>,
    applier: Applier,
    mut renderer: Renderer,
) {
    let mut last_render: Option<tokio::time::Instant> = None;
    loop {
        {
            // Held only while rendering: the watcher changes the snapshot
            // in place while nobody holds it (confgen's watch/mod.rs).
            let synced = snapshots.borrow_and_update().clone();
            let offer = offer_for(&mut renderer, &synced, &node, &endpoints, secrets.as_ref());
            applier.offer(offer);
        }
        if snapshots.changed().await.is_err() {
            return;
        }
        // A change after a quiet spell renders at once (S6 of BENCHMARKS.md
        // times etcd to the kernels). In a burst, renders are a window
        // apart, and the watch keeps only the latest state meanwhile.
        if let Some(last) = last_render {
            tokio::time::sleep_until(last + COALESCE).await;
        }
        last_render = Some(tokio::time::Instant::now());
    }
}
