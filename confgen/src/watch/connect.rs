//! How to reach etcd: Calico's environment names, TLS, keepalives, and
//! clients with no ceiling on a response's size.

use std::path::PathBuf;
use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, Identity, KvClient, TlsOptions, WatchClient,
};

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

    /// Connects to `endpoints` (one member, or any of several).
    pub async fn connect(&self, endpoints: &[String]) -> Result<Clients, String> {
        let client = Client::connect(endpoints, Some(self.options()?))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Clients::of(&client))
    }
}

/// The key-value and watch clients of one connection.
#[derive(Clone)]
pub struct Clients {
    pub kv: KvClient,
    pub watch: WatchClient,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients").finish_non_exhaustive()
    }
}

impl Clients {
    /// tonic refuses a response over 4 MiB by default; a page of large
    /// values, or one value etcd was allowed to store larger than that
    /// (its --max-request-bytes), must still be read. Pages bound what
    /// one response holds (list.rs), so no ceiling is needed here.
    pub fn of(client: &Client) -> Self {
        Self {
            kv: client.kv_client().max_decoding_message_size(usize::MAX),
            watch: client.watch_client().max_decoding_message_size(usize::MAX),
        }
    }
}
