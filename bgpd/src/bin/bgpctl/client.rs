//! The client of bgpd's API: connects to its unix socket and makes its
//! requests (`podroute.v1`), each failure said in one line.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use hyper_util::rt::TokioIo;
use proto::v1;
use proto::v1::bgpd_service_client::BgpdServiceClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// A connection to bgpd.
#[derive(Debug)]
pub(crate) struct Client(BgpdServiceClient<Channel>);

/// The peers' events, as bgpd sends them.
#[derive(Debug)]
pub(crate) struct PeerEvents(tonic::Streaming<v1::WatchPeersResponse>);

impl Client {
    /// Connects first with a plain unix stream, so that a missing bgpd or a
    /// socket we may not open is said in words; then speaks gRPC over it.
    pub(crate) async fn connect(path: &Path) -> Result<Self, String> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|e| unreachable(path, &e))?;
        let first = Arc::new(Mutex::new(Some(stream)));
        let socket = path.to_owned();
        let channel = Endpoint::from_static("http://bgpd")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let first = first.clone();
                let socket = socket.clone();
                async move {
                    let ready = first.lock().unwrap_or_else(PoisonError::into_inner).take();
                    let stream = match ready {
                        Some(stream) => stream,
                        None => UnixStream::connect(&socket).await?,
                    };
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }))
            .await
            .map_err(|e| format!("cannot reach bgpd at {}: {e}", path.display()))?;
        Ok(Self(BgpdServiceClient::new(channel)))
    }

    pub(crate) async fn status(&mut self) -> Result<v1::GetStatusResponse, String> {
        let request = v1::GetStatusRequest {};
        Ok(self.0.get_status(request).await.map_err(rpc)?.into_inner())
    }

    /// Every peer, or those `name` names.
    pub(crate) async fn peers(
        &mut self,
        name: Option<String>,
    ) -> Result<v1::ListPeersResponse, String> {
        let request = v1::ListPeersRequest {
            name: name.unwrap_or_default(),
        };
        Ok(self.0.list_peers(request).await.map_err(rpc)?.into_inner())
    }

    /// The Loc-RIB, or the routes inside `prefix`; with `kernel`, how the
    /// kernel holds each.
    pub(crate) async fn routes(
        &mut self,
        prefix: Option<String>,
        kernel: bool,
    ) -> Result<v1::ListRoutesResponse, String> {
        let request = v1::ListRoutesRequest {
            prefix: prefix.unwrap_or_default(),
            kernel,
        };
        Ok(self.0.list_routes(request).await.map_err(rpc)?.into_inner())
    }

    pub(crate) async fn config(&mut self) -> Result<v1::GetConfigResponse, String> {
        let request = v1::GetConfigRequest {};
        Ok(self.0.get_config(request).await.map_err(rpc)?.into_inner())
    }

    pub(crate) async fn reset_peer(&mut self, name: String) -> Result<(), String> {
        let request = v1::ResetPeerRequest { name };
        self.0.reset_peer(request).await.map_err(rpc)?;
        Ok(())
    }

    pub(crate) async fn refresh_peer(&mut self, name: String) -> Result<(), String> {
        let request = v1::RefreshPeerRequest { name };
        self.0.refresh_peer(request).await.map_err(rpc)?;
        Ok(())
    }

    pub(crate) async fn watch_peers(&mut self) -> Result<PeerEvents, String> {
        let request = v1::WatchPeersRequest {};
        let stream = self.0.watch_peers(request).await.map_err(rpc)?;
        Ok(PeerEvents(stream.into_inner()))
    }
}

impl PeerEvents {
    /// The next event; none when bgpd ends the stream.
    pub(crate) async fn next(&mut self) -> Result<Option<v1::WatchPeersResponse>, String> {
        self.0.message().await.map_err(rpc)
    }
}

fn unreachable(path: &Path, error: &std::io::Error) -> String {
    let path = path.display();
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            format!("cannot reach bgpd at {path}: no such file — is bgpd running?")
        }
        std::io::ErrorKind::ConnectionRefused => {
            format!("cannot reach bgpd at {path}: connection refused — is bgpd running?")
        }
        std::io::ErrorKind::PermissionDenied => format!(
            "cannot reach bgpd at {path}: permission denied (the socket is for its owner \
             only: run bgpctl as the user bgpd runs as)"
        ),
        _ => format!("cannot reach bgpd at {path}: {error}"),
    }
}

/// An RPC's failure as one line.
fn rpc(status: tonic::Status) -> String {
    match status.code() {
        tonic::Code::NotFound | tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
            status.message().to_owned()
        }
        tonic::Code::Unavailable => format!("bgpd is not available: {}", status.message()),
        code => format!("{code}: {}", status.message()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::unreachable;

    #[test]
    fn unreachable_sockets_are_explained() {
        let path = Path::new("/run/x.sock");
        let error = |kind| std::io::Error::from(kind);
        assert_eq!(
            unreachable(path, &error(std::io::ErrorKind::NotFound)),
            "cannot reach bgpd at /run/x.sock: no such file — is bgpd running?"
        );
        assert!(
            unreachable(path, &error(std::io::ErrorKind::PermissionDenied))
                .contains("permission denied")
        );
    }
}
