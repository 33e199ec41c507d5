//! HTTP on a local address: `/liveness`, `/readiness` with calico-node's
//! BIRD rule (docs/CALICO-CONTRACT.md §5.3), and `/metrics` in Prometheus'
//! text format. A minimal HTTP/1.0 responder: three GET routes need no web
//! framework.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::warn;

use super::{DatastoreSource, Sources};
use crate::speaker::SpeakerHandle;
use crate::status::{PeerStatus, SpeakerStatus};

/// calico-node's `-threshold-time` default: right after start every peer must
/// be up; later one is enough.
pub const READY_THRESHOLD: Duration = Duration::from_secs(30);

pub async fn serve(
    address: SocketAddr,
    speaker: SpeakerHandle,
    sources: Sources,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(address).await?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(respond(stream, speaker.clone(), sources.clone()));
                }
                Err(e) => {
                    warn!(error = %e, "HTTP: accept failed");
                    return;
                }
            }
        }
    }))
}

async fn respond(mut stream: TcpStream, speaker: SpeakerHandle, sources: Sources) {
    let mut head = vec![0u8; 4096];
    let mut used = 0;
    // Read the request head (small; bounded), with a deadline.
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while used < head.len() && !head[..used].windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut head[used..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => used += n,
            }
        }
    });
    if read.await.is_err() {
        return;
    }
    let request = String::from_utf8_lossy(&head[..used]);
    let mut words = request.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (code, body) = if method != "GET" {
        (405, "only GET\n".to_owned())
    } else {
        route(path, &speaker, &sources).await
    };
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let response = format!(
        "HTTP/1.0 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

async fn route(path: &str, speaker: &SpeakerHandle, sources: &Sources) -> (u16, String) {
    let status = tokio::time::timeout(Duration::from_secs(2), speaker.status())
        .await
        .ok()
        .flatten();
    let peers = tokio::time::timeout(Duration::from_secs(2), speaker.peers())
        .await
        .ok()
        .flatten();
    match (path, status, peers) {
        ("/liveness", Some(_), Some(_)) => (200, "live\n".into()),
        ("/readiness", Some(status), Some(peers)) => {
            let ready = match sources.not_configured() {
                Some(reason) => Err(reason),
                None => readiness(&status, &peers, SystemTime::now()),
            };
            match ready {
                Ok(()) => (200, "ready\n".into()),
                Err(reason) => (503, format!("{reason}\n")),
            }
        }
        ("/metrics", Some(status), Some(peers)) => (200, metrics(&status, &peers, sources)),
        ("/liveness" | "/readiness" | "/metrics", _, _) => {
            (503, "the speaker does not answer\n".into())
        }
        _ => (404, "try /liveness, /readiness or /metrics\n".into()),
    }
}

/// calico-node's `-bird-ready` rule: no peers, ready; within the threshold
/// after start, every peer Established; after it, at least one.
pub fn readiness(
    status: &SpeakerStatus,
    peers: &[PeerStatus],
    now: SystemTime,
) -> Result<(), String> {
    let peers: Vec<(String, bool)> = peers
        .iter()
        .map(|p| (p.address.to_string(), p.is_up()))
        .collect();
    readiness_rule(status.started, status.recovering, &peers, now)
}

/// The rule itself over (peer address, Established) pairs, shared with
/// `bgpctl health --ready`. Early on (within the threshold of the start)
/// every peer must be up and no graceful restart recovery under way
/// (calico-node reads BIRD's `0024` line for it); later, one peer up will do.
pub fn readiness_rule(
    started: SystemTime,
    recovering: bool,
    peers: &[(String, bool)],
    now: SystemTime,
) -> Result<(), String> {
    if peers.is_empty() {
        return Ok(());
    }
    let down: Vec<&str> = peers
        .iter()
        .filter(|(_, up)| !up)
        .map(|(address, _)| address.as_str())
        .collect();
    let young = now.duration_since(started).unwrap_or_default() < READY_THRESHOLD;
    if young && recovering && down.is_empty() {
        return Err("graceful restart recovery in progress".into());
    }
    let ready = if young {
        down.is_empty()
    } else {
        down.len() < peers.len()
    };
    if ready {
        Ok(())
    } else {
        Err(format!("BGP not established with {}", down.join(",")))
    }
}

/// Prometheus text exposition format (version 0.0.4).
pub fn metrics(status: &SpeakerStatus, peers: &[PeerStatus], sources: &Sources) -> String {
    let mut m = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, samples: Vec<(String, String)>| {
        let _ = writeln!(
            m,
            "# HELP podroute_{name} {help}\n# TYPE podroute_{name} {kind}"
        );
        for (labels, value) in samples {
            let _ = writeln!(m, "podroute_{name}{labels} {value}");
        }
    };
    let label = |p: &PeerStatus| format!("{{peer=\"{}\",address=\"{}\"}}", p.name, p.address);
    let states = [
        "Idle",
        "Connect",
        "Active",
        "OpenSent",
        "OpenConfirm",
        "Established",
    ];
    gauge(
        "peers",
        "BGP peers by session state.",
        "gauge",
        states
            .iter()
            .map(|s| {
                (
                    format!("{{state=\"{s}\"}}"),
                    peers
                        .iter()
                        .filter(|p| p.state.name() == *s)
                        .count()
                        .to_string(),
                )
            })
            .collect(),
    );
    gauge(
        "peer_up",
        "1 when the session is Established.",
        "gauge",
        peers
            .iter()
            .map(|p| (label(p), u8::from(p.is_up()).to_string()))
            .collect(),
    );
    gauge(
        "peer_bfd_up",
        "1 when the peer's BFD session is up; peers with BFD only.",
        "gauge",
        peers
            .iter()
            .filter_map(|p| Some((label(p), u8::from(p.bfd?).to_string())))
            .collect(),
    );
    gauge(
        "peer_bfd_downs_total",
        "Times BFD took the peer's session down (\"BFD session down\").",
        "counter",
        peers
            .iter()
            .filter(|p| p.bfd.is_some())
            .map(|p| (label(p), p.stats.bfd_downs.to_string()))
            .collect(),
    );
    gauge(
        "prefixes_received",
        "Paths from the peer in the RIB.",
        "gauge",
        peers
            .iter()
            .map(|p| (label(p), p.prefixes.to_string()))
            .collect(),
    );
    gauge(
        "updates_received_total",
        "UPDATE messages received.",
        "counter",
        peers
            .iter()
            .map(|p| (label(p), p.stats.updates_received.to_string()))
            .collect(),
    );
    gauge(
        "updates_sent_total",
        "UPDATE batches sent.",
        "counter",
        peers
            .iter()
            .map(|p| (label(p), p.stats.updates_sent.to_string()))
            .collect(),
    );
    gauge(
        "messages_received_total",
        "BGP messages received.",
        "counter",
        peers
            .iter()
            .map(|p| (label(p), p.stats.messages_received.to_string()))
            .collect(),
    );
    gauge(
        "rib_prefixes",
        "Prefixes in the Loc-RIB.",
        "gauge",
        vec![(String::new(), status.prefixes.to_string())],
    );
    gauge(
        "rib_attribute_sets",
        "Distinct attribute sets in the RIB.",
        "gauge",
        vec![(String::new(), status.attr_sets.to_string())],
    );
    gauge(
        "config_applies_total",
        "Configurations applied since start.",
        "counter",
        vec![(String::new(), status.reconfigurations.to_string())],
    );
    gauge(
        "converged",
        "1 once every peer sent End-of-RIB.",
        "gauge",
        vec![(String::new(), u8::from(status.converged).to_string())],
    );
    gauge(
        "build_info",
        "bgpd's version and the commit it was built from; always 1.",
        "gauge",
        vec![(
            format!(
                "{{version=\"{}\",commit=\"{}\"}}",
                env!("CARGO_PKG_VERSION"),
                env!("PODROUTE_COMMIT")
            ),
            "1".into(),
        )],
    );
    let state = sources.config.borrow().clone();
    gauge(
        "configured",
        "1 while a configuration runs; 0 before the first, and while the node can run no BGP.",
        "gauge",
        vec![(String::new(), u8::from(state.running.is_some()).to_string())],
    );
    gauge(
        "config_problems",
        "What the datastore holds that could not be used (each skipped alone).",
        "gauge",
        vec![(String::new(), state.problems.len().to_string())],
    );
    if let Some(kernel) = sources.kernel() {
        let (installed, not_installed, failed) = kernel.counts();
        gauge(
            "kernel_routes",
            "Routes by kernel programming state.",
            "gauge",
            vec![
                ("{state=\"installed\"}".into(), installed.to_string()),
                (
                    "{state=\"not_installed\"}".into(),
                    not_installed.to_string(),
                ),
                ("{state=\"failed\"}".into(), failed.to_string()),
            ],
        );
    }
    if let Some(DatastoreSource::Etcd { sync, .. }) = &sources.datastore {
        let synced = sync.borrow();
        gauge(
            "datastore_connected",
            "1 while etcd answers.",
            "gauge",
            vec![(String::new(), u8::from(synced.connected).to_string())],
        );
        gauge(
            "datastore_revision",
            "The etcd revision last applied.",
            "gauge",
            vec![(String::new(), synced.revision.to_string())],
        );
    }
    status.update_processing.write(
        &mut m,
        "podroute_update_processing_seconds",
        "How long the speaker took over each UPDATE received (RIB and export marking).",
    );
    if let Some(kernel) = sources.kernel() {
        kernel.kernel_batches().write(
            &mut m,
            "podroute_kernel_batch_seconds",
            "How long the kernel took for each batch of route changes (netlink, until answered).",
        );
    }
    super::process_metrics::write(&mut m);
    m
}

#[cfg(test)]
mod tests;
