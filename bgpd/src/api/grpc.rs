//! The operator API: gRPC (`podroute.v1.BgpdService`, proto/podroute/v1/)
//! on a unix socket, for `bgpctl`.
//!
//! Every answer comes from the speaker's typed snapshots
//! (`status.rs`), from routesync's per-route status, from the running
//! configuration that `bin/bgpd.rs` publishes whenever it reconfigures the
//! speaker, and from the datastore's sync state. Errors have one mapping to
//! gRPC codes: `From<ApiError> for Status`.
//!
//! The socket is created with mode 0600 (its parent folder when missing); a
//! stale socket file left by a killed bgpd is replaced, a live one is not.
//! There is no TCP listener (and so no TLS): the socket's file permissions
//! are the access control.

use std::collections::BTreeMap;
use std::fs::Permissions;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use futures::Stream;
use ipnet::IpNet;
use proto::config::PeerKind;
use proto::v1;
use proto::v1::bgpd_service_server::{BgpdService, BgpdServiceServer};
use routesync::{RouteState, StatusReader};
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::{Request, Response, Status};
use tracing::{info, warn};

use super::{DatastoreSource, Sources};
use crate::fsm::State;
use crate::speaker::SpeakerHandle;
use crate::status::{PathStatus, PeerStatus, Refused, RouteStatus, SessionStatus};

/// Where bgpd serves the API, and bgpctl looks for it, unless told otherwise
/// (`--api-socket` / `--socket`, or `BGPD_API_SOCKET` for both).
pub const DEFAULT_SOCKET: &str = "/var/run/podroute/bgpd.sock";

/// How often WatchPeers samples the peers.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Why a request failed; the one place that picks gRPC codes is
/// `From<ApiError> for Status`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The speaker's actor has ended (bgpd is shutting down).
    #[error("the speaker has stopped")]
    Stopped,
    #[error("no peer named {0}")]
    NoSuchPeer(String),
    /// The request itself is wrong (a prefix that does not parse).
    #[error("{0}")]
    BadRequest(String),
    /// Valid, but not possible in the present state (refreshing a peer that
    /// is not Established).
    #[error("{0}")]
    NotNow(String),
    #[error("{0}")]
    Internal(String),
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        let message = error.to_string();
        match error {
            ApiError::Stopped => Status::unavailable(message),
            ApiError::NoSuchPeer(_) => Status::not_found(message),
            ApiError::BadRequest(_) => Status::invalid_argument(message),
            ApiError::NotNow(_) => Status::failed_precondition(message),
            ApiError::Internal(_) => Status::internal(message),
        }
    }
}

/// The service: what it reads to answer.
#[derive(Clone, Debug)]
pub struct Api {
    speaker: SpeakerHandle,
    sources: Sources,
}

impl Api {
    pub fn new(speaker: SpeakerHandle, sources: Sources) -> Self {
        Self { speaker, sources }
    }

    async fn peers(&self) -> Result<Vec<PeerStatus>, ApiError> {
        self.speaker.peers().await.ok_or(ApiError::Stopped)
    }

    /// The peer called `name` (its protocol name or its address).
    async fn peer(&self, name: &str) -> Result<PeerStatus, ApiError> {
        self.peers()
            .await?
            .into_iter()
            .find(|p| p.name == name || p.address.to_string() == name)
            .ok_or_else(|| ApiError::NoSuchPeer(name.to_owned()))
    }

    fn datastore(&self) -> Option<v1::Datastore> {
        Some(match self.sources.datastore.as_ref()? {
            DatastoreSource::File(path) => v1::Datastore {
                kind: v1::DatastoreKind::File.into(),
                source: path.display().to_string(),
                sync: v1::SyncState::Static.into(),
                revision: 0,
            },
            DatastoreSource::Etcd { endpoints, sync } => {
                let synced = sync.borrow();
                v1::Datastore {
                    kind: v1::DatastoreKind::Etcd.into(),
                    source: endpoints.clone(),
                    sync: if synced.connected {
                        v1::SyncState::Connected
                    } else {
                        v1::SyncState::Disconnected
                    }
                    .into(),
                    revision: synced.revision,
                }
            }
        })
    }

    async fn status(&self) -> Result<v1::GetStatusResponse, ApiError> {
        let status = self.speaker.status().await.ok_or(ApiError::Stopped)?;
        let not_configured = self.sources.not_configured();
        let state = self.sources.config.borrow().clone();
        let uptime = SystemTime::now()
            .duration_since(status.started)
            .unwrap_or_default();
        Ok(v1::GetStatusResponse {
            version: crate::VERSION.to_owned(),
            node_name: status.node_name,
            router_id: status.router_id.to_string(),
            local_as: status.local_as,
            cluster_id: status
                .cluster_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            started: Some(status.started.into()),
            uptime_seconds: uptime.as_secs(),
            last_config_applied: Some(status.last_reconfigured.into()),
            reconfigurations: status.reconfigurations,
            converged: status.converged,
            graceful_restart_recovery: status.recovering,
            prefixes: status.prefixes as u64,
            attribute_sets: status.attr_sets as u64,
            datastore: self.datastore(),
            configured: not_configured.is_none(),
            not_configured_reason: not_configured.unwrap_or_default(),
            problems: state
                .problems
                .iter()
                .map(|p| v1::Problem {
                    resource: p.resource.clone(),
                    field: p.field.clone(),
                    reason: p.reason.clone(),
                })
                .collect(),
            kernel: self.sources.kernel().map(|kernel| {
                let (installed, not_installed, failed) = kernel.counts();
                v1::KernelSummary {
                    installed: installed as u64,
                    not_installed: not_installed as u64,
                    failed: failed as u64,
                }
            }),
        })
    }

    fn config(&self) -> Result<v1::GetConfigResponse, ApiError> {
        let state = self.sources.config.borrow().clone();
        let Some(config) = state.running else {
            let reason = self.sources.not_configured().unwrap_or_default();
            return Err(ApiError::NotNow(format!("not configured: {reason}")));
        };
        toml::to_string(&config)
            .map(|toml| v1::GetConfigResponse { toml })
            .map_err(|e| ApiError::Internal(format!("cannot write the configuration: {e}")))
    }

    async fn routes(&self, request: v1::ListRoutesRequest) -> Result<Vec<v1::Route>, ApiError> {
        let within = match request.prefix.trim() {
            "" => None,
            text => Some(parse_prefix(text)?),
        };
        let routes = self.speaker.routes(within).await.ok_or(ApiError::Stopped)?;
        let kernel = self.sources.kernel().filter(|_| request.kernel);
        let mut out: BTreeMap<IpNet, v1::Route> = routes
            .into_iter()
            .map(|route| {
                let status = kernel.and_then(|k| k.get(&route.prefix));
                (route.prefix, route_message(route, status))
            })
            .collect();
        // What the kernel side still reports after BGP dropped it (the two
        // are read one after the other).
        for status in kernel.map(StatusReader::snapshot).unwrap_or_default() {
            if within.is_none_or(|w| w.contains(&status.prefix)) {
                out.entry(status.prefix).or_insert_with(|| v1::Route {
                    prefix: status.prefix.to_string(),
                    paths: Vec::new(),
                    kernel: Some(kernel_message(status)),
                });
            }
        }
        Ok(out.into_values().collect())
    }

    async fn reset(&self, name: &str) -> Result<(), ApiError> {
        Ok(self.speaker.reset_peer(name.to_owned()).await?)
    }

    async fn refresh(&self, name: &str) -> Result<(), ApiError> {
        Ok(self.speaker.refresh_peer(name.to_owned()).await?)
    }
}

/// What the speaker refused, as the API says it.
impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Stopped => ApiError::Stopped,
            Refused::NoSuchPeer(name) => ApiError::NoSuchPeer(name),
            Refused::NotConfigured
            | Refused::NotEstablished { .. }
            | Refused::NoRouteRefresh(_) => ApiError::NotNow(refused.to_string()),
        }
    }
}

/// A prefix, or an address taken as a host prefix.
fn parse_prefix(text: &str) -> Result<IpNet, ApiError> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| ApiError::BadRequest(format!("{text:?} is not a prefix")))
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<v1::WatchPeersResponse, Status>> + Send>>;

#[tonic::async_trait]
impl BgpdService for Api {
    async fn get_status(
        &self,
        _: Request<v1::GetStatusRequest>,
    ) -> Result<Response<v1::GetStatusResponse>, Status> {
        Ok(Response::new(self.status().await?))
    }

    async fn get_config(
        &self,
        _: Request<v1::GetConfigRequest>,
    ) -> Result<Response<v1::GetConfigResponse>, Status> {
        Ok(Response::new(self.config()?))
    }

    async fn list_peers(
        &self,
        request: Request<v1::ListPeersRequest>,
    ) -> Result<Response<v1::ListPeersResponse>, Status> {
        let name = request.into_inner().name;
        let peers = if name.is_empty() {
            self.peers().await?
        } else {
            vec![self.peer(&name).await?]
        };
        Ok(Response::new(v1::ListPeersResponse {
            peers: peers.iter().map(peer_message).collect(),
        }))
    }

    type WatchPeersStream = WatchStream;

    async fn watch_peers(
        &self,
        _: Request<v1::WatchPeersRequest>,
    ) -> Result<Response<Self::WatchPeersStream>, Status> {
        // The first sample is taken here, so a stopped speaker is an error
        // rather than an empty stream.
        let first = self.peers().await?;
        let (send, receive) = mpsc::channel(64);
        tokio::spawn(watch_peers(self.speaker.clone(), first, send));
        Ok(Response::new(Box::pin(ReceiverStream::new(receive))))
    }

    async fn list_routes(
        &self,
        request: Request<v1::ListRoutesRequest>,
    ) -> Result<Response<v1::ListRoutesResponse>, Status> {
        let routes = self.routes(request.into_inner()).await?;
        Ok(Response::new(v1::ListRoutesResponse { routes }))
    }

    async fn reset_peer(
        &self,
        request: Request<v1::ResetPeerRequest>,
    ) -> Result<Response<v1::ResetPeerResponse>, Status> {
        let name = request.into_inner().name;
        self.reset(&name).await?;
        info!(peer = %name, "session reset through the API");
        Ok(Response::new(v1::ResetPeerResponse {}))
    }

    async fn refresh_peer(
        &self,
        request: Request<v1::RefreshPeerRequest>,
    ) -> Result<Response<v1::RefreshPeerResponse>, Status> {
        let name = request.into_inner().name;
        self.refresh(&name).await?;
        info!(peer = %name, "route refresh asked through the API");
        Ok(Response::new(v1::RefreshPeerResponse {}))
    }
}

/// What a watcher is told about: a peer with its counters left out (they
/// move with every KEEPALIVE).
fn watched(peer: &PeerStatus) -> PeerStatus {
    PeerStatus {
        stats: Default::default(),
        prefixes: 0,
        ..peer.clone()
    }
}

/// The events between two samples of the peers, by name; removed peers last.
fn peer_events(before: &[PeerStatus], after: &[PeerStatus]) -> Vec<(v1::PeerEvent, PeerStatus)> {
    let old: BTreeMap<&str, &PeerStatus> = before.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut events: Vec<(v1::PeerEvent, PeerStatus)> = after
        .iter()
        .filter_map(|peer| match old.get(peer.name.as_str()) {
            None => Some((v1::PeerEvent::Added, peer.clone())),
            Some(was) if watched(was) != watched(peer) => {
                Some((v1::PeerEvent::Changed, peer.clone()))
            }
            Some(_) => None,
        })
        .collect();
    events.extend(
        before
            .iter()
            .filter(|was| !after.iter().any(|p| p.name == was.name))
            .map(|was| (v1::PeerEvent::Removed, was.clone())),
    );
    events
}

/// Samples the peers every [`WATCH_INTERVAL`] until the watcher goes away or
/// the speaker stops. Polling keeps the speaker free of subscriptions; the
/// cost is one query per watcher per interval.
async fn watch_peers(
    speaker: SpeakerHandle,
    first: Vec<PeerStatus>,
    send: mpsc::Sender<Result<v1::WatchPeersResponse, Status>>,
) {
    let message = |event: v1::PeerEvent, peer: &PeerStatus| v1::WatchPeersResponse {
        event: event.into(),
        peer: Some(peer_message(peer)),
    };
    for peer in &first {
        if send
            .send(Ok(message(v1::PeerEvent::Existing, peer)))
            .await
            .is_err()
        {
            return;
        }
    }
    let mut last = first;
    let mut ticks = tokio::time::interval(WATCH_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = send.closed() => return,
            _ = ticks.tick() => {}
        }
        let Some(now) = speaker.peers().await else {
            let _ = send.send(Err(ApiError::Stopped.into())).await;
            return;
        };
        for (event, peer) in peer_events(&last, &now) {
            if send.send(Ok(message(event, &peer))).await.is_err() {
                return;
            }
        }
        last = now;
    }
}

pub fn peer_type(kind: PeerKind) -> v1::PeerType {
    match kind {
        PeerKind::Mesh => v1::PeerType::Mesh,
        PeerKind::Global => v1::PeerType::Global,
        PeerKind::Node => v1::PeerType::Node,
    }
}

pub fn session_state(state: State) -> v1::SessionState {
    match state {
        State::Idle => v1::SessionState::Idle,
        State::Connect => v1::SessionState::Connect,
        State::Active => v1::SessionState::Active,
        State::OpenSent => v1::SessionState::OpenSent,
        State::OpenConfirm => v1::SessionState::OpenConfirm,
        State::Established => v1::SessionState::Established,
    }
}

pub fn peer_message(peer: &PeerStatus) -> v1::Peer {
    v1::Peer {
        name: peer.name.clone(),
        address: peer.address.to_string(),
        port: peer.port.into(),
        r#type: peer_type(peer.kind).into(),
        remote_as: peer.remote_as,
        passive: peer.passive,
        state: session_state(peer.state).into(),
        bird_state: peer.bird_state().to_owned(),
        info: peer.bird_info(),
        since: Some(peer.since.into()),
        last_error: peer.last_error.clone(),
        session: peer.session.as_ref().map(session_message),
        counters: Some(v1::PeerCounters {
            messages_received: peer.stats.messages_received,
            messages_sent: peer.stats.messages_sent,
            updates_received: peer.stats.updates_received,
            updates_sent: peer.stats.updates_sent,
            prefixes_received: peer.stats.prefixes_received,
            prefixes_accepted: peer.stats.prefixes_accepted,
            prefixes_in_rib: peer.prefixes as u64,
            bfd_downs: peer.stats.bfd_downs,
        }),
        graceful_restart: peer.restart.as_ref().map(|r| v1::PeerRestart {
            since: Some(r.since.into()),
            stale_routes: r.stale as u64,
            reconnected: r.reconnected,
        }),
        bfd_up: peer.bfd,
    }
}

fn session_message(session: &SessionStatus) -> v1::Session {
    v1::Session {
        peer_router_id: session.peer_id.to_string(),
        local_address: session
            .local_address
            .map(|a| a.to_string())
            .unwrap_or_default(),
        hold_time: session.hold_time.into(),
        families: session.families.iter().map(ToString::to_string).collect(),
        four_octet_as: session.four_octet_as,
        route_refresh: session.route_refresh,
        extended_message: session.extended_message,
        add_path_receive: session
            .add_path_receive
            .iter()
            .map(ToString::to_string)
            .collect(),
        add_path_send: session
            .add_path_send
            .iter()
            .map(ToString::to_string)
            .collect(),
        graceful_restart: session.graceful_restart,
        external: session.external,
    }
}

fn route_message(route: RouteStatus, kernel: Option<routesync::RouteStatus>) -> v1::Route {
    v1::Route {
        prefix: route.prefix.to_string(),
        paths: route.paths.into_iter().map(path_message).collect(),
        kernel: kernel.map(kernel_message),
    }
}

fn path_message(path: PathStatus) -> v1::Path {
    v1::Path {
        from: path.from,
        next_hop: path.next_hop.to_string(),
        as_path: path.as_path,
        local_pref: path.local_pref,
        med: path.med,
        communities: path.communities,
        best: path.best,
        multipath: path.multipath,
    }
}

fn kernel_message(status: routesync::RouteStatus) -> v1::KernelRoute {
    let (state, error) = match status.state {
        RouteState::Installed => (v1::KernelState::Installed, String::new()),
        RouteState::NotInstalled => (v1::KernelState::NotInstalled, String::new()),
        RouteState::Failed { error } => (v1::KernelState::Failed, error),
    };
    v1::KernelRoute {
        state: state.into(),
        reason: status.reason,
        error,
        route: status.kernel.unwrap_or_default(),
    }
}

/// The running server; dropping it stops serving and removes the socket
/// file (when it is still the one this server created).
#[derive(Debug)]
pub struct ApiServer {
    task: JoinHandle<()>,
    path: PathBuf,
    /// (device, inode) of the socket file this server bound.
    file: Option<(u64, u64)>,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
        let ours = std::fs::symlink_metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        if ours.is_some() && ours == self.file {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds `path` and serves `api` on it until the returned server is dropped.
pub fn serve(path: &Path, api: Api) -> io::Result<ApiServer> {
    let listener = bind(path)?;
    let file = std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()));
    info!(socket = %path.display(), "serving the operator API (gRPC)");
    let incoming = UnixListenerStream::new(listener);
    let shown = path.display().to_string();
    let task = tokio::spawn(async move {
        let result = tonic::transport::Server::builder()
            .add_service(BgpdServiceServer::new(api))
            .serve_with_incoming(incoming)
            .await;
        if let Err(e) = result {
            warn!(socket = %shown, error = %e, "the operator API stopped");
        }
    });
    Ok(ApiServer {
        task,
        path: path.to_owned(),
        file,
    })
}

/// Creates the parent folder, replaces a stale socket (nobody accepts on
/// it), refuses a live one or any other file, binds, and restricts the
/// socket to its owner.
fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        "another process serves this socket (is another bgpd running?)",
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    info!(socket = %path.display(), "replacing a stale socket");
                    std::fs::remove_file(path)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, Permissions::from_mode(0o600))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn errors_map_to_codes() {
        let code = |e: ApiError| Status::from(e).code();
        assert_eq!(code(ApiError::Stopped), tonic::Code::Unavailable);
        assert_eq!(
            code(ApiError::NoSuchPeer("x".into())),
            tonic::Code::NotFound
        );
        assert_eq!(
            code(ApiError::BadRequest("x".into())),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            code(ApiError::NotNow("x".into())),
            tonic::Code::FailedPrecondition
        );
        assert_eq!(
            Status::from(ApiError::NoSuchPeer("Mesh_1".into())).message(),
            "no peer named Mesh_1"
        );
    }

    #[test]
    fn prefixes_and_addresses_parse() {
        assert_eq!(
            parse_prefix("10.244.1.7/24").unwrap().to_string(),
            "10.244.1.0/24"
        );
        assert_eq!(parse_prefix("fd00::1").unwrap().to_string(), "fd00::1/128");
        assert!(matches!(parse_prefix("ten"), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn watch_events_ignore_counters() {
        let a = PeerStatus::mesh_example("10.0.0.1", State::Active);
        let mut busier = a.clone();
        busier.stats.messages_received = 10;
        busier.prefixes = 3;
        assert!(peer_events(std::slice::from_ref(&a), &[busier]).is_empty());

        let up = PeerStatus::mesh_example("10.0.0.1", State::Established);
        let b = PeerStatus::mesh_example("10.0.0.2", State::Idle);
        let events: Vec<(v1::PeerEvent, String)> = peer_events(&[a, b], &[up])
            .into_iter()
            .map(|(e, p)| (e, p.name))
            .collect();
        assert_eq!(
            events,
            [
                (v1::PeerEvent::Changed, "Mesh_10_0_0_1".to_owned()),
                (v1::PeerEvent::Removed, "Mesh_10_0_0_2".to_owned())
            ]
        );
        let c = PeerStatus::mesh_example("10.0.0.3", State::Idle);
        assert_eq!(peer_events(&[], &[c])[0].0, v1::PeerEvent::Added);
    }

    #[tokio::test]
    async fn a_stale_socket_is_replaced_and_a_live_one_is_not() {
        let dir = std::env::temp_dir().join(format!("podroute-grpc-{}", std::process::id()));
        let path = dir.join("sub").join("bgpd.sock");
        let _ = std::fs::remove_dir_all(&dir);
        // A socket nobody accepts on: a killed bgpd's.
        drop(std::os::unix::net::UnixListener::bind({
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            &path
        }));
        assert!(path.exists());
        let listener = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let live = bind(&path).unwrap_err();
        assert_eq!(live.kind(), io::ErrorKind::AddrInUse);
        drop(listener);
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "not a socket").unwrap();
        assert_eq!(
            bind(&path).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
