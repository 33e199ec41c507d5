//! The operator interfaces: BIRD's control-socket protocol (for calicoctl,
//! calico-node's probes, birdc), HTTP health and metrics, and the gRPC API.
//! All of them are served from the first second, before any configuration:
//! [`Sources`] says what runs, or why nothing does.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use routesync::StatusReader;
use tokio::sync::watch;

use crate::applier::ConfigState;

pub mod bird;
pub mod bird6_name;
pub mod bird_routes;
pub mod clock;
pub mod grpc;
pub mod http;
pub mod process_metrics;

/// Where the configuration comes from.
#[derive(Clone, Debug)]
pub enum DatastoreSource {
    File(PathBuf),
    Etcd {
        endpoints: String,
        /// The watcher's latest state: connected or not, and the revision.
        sync: watch::Receiver<confgen::watch::Synced>,
    },
}

/// What the operator interfaces read besides the speaker.
#[derive(Clone, Debug)]
pub struct Sources {
    /// The applier's state: what runs, why nothing does, what was skipped.
    pub config: watch::Receiver<ConfigState>,
    /// routesync's per-route status, once it runs (it starts with the
    /// first configuration).
    pub kernel: Arc<OnceLock<StatusReader>>,
    pub datastore: Option<DatastoreSource>,
}

impl Sources {
    /// Sources with nothing behind them but `state` (for tests).
    pub fn of(state: ConfigState) -> Self {
        let (_, config) = watch::channel(state);
        Self {
            config,
            kernel: Arc::default(),
            datastore: None,
        }
    }

    pub fn kernel(&self) -> Option<&StatusReader> {
        self.kernel.get()
    }

    /// Why nothing runs, while nothing does.
    pub fn not_configured(&self) -> Option<String> {
        let state = self.config.borrow();
        match &state.running {
            Some(_) => None,
            None => Some(
                state
                    .waiting
                    .clone()
                    .unwrap_or_else(|| "not configured".into()),
            ),
        }
    }
}
