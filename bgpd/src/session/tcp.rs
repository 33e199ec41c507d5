//! BGP over TCP: the listeners and their accept loops, outgoing connects,
//! and the socket options of both (TCP MD5, TTL rules).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use proto::config::Secret;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tracing::{debug, info};

use super::network::{ConnectTo, Link, Network, ReadHalf, Stream, WriteHalf};
use super::sockopt::{self, TtlPolicy};
use crate::bfd::{Bfd, Report, Watcher};
use crate::events::{Event, PeerId, SessionId};

/// The network of a running bgpd: TCP, with the listening sockets kept for
/// the peers' TCP MD5 keys.
#[derive(Debug, Default)]
pub struct TcpNetwork {
    listeners: Vec<(ListenSocket, JoinHandle<()>)>,
}

impl Drop for TcpNetwork {
    fn drop(&mut self) {
        self.stop_listening();
    }
}

impl Network for TcpNetwork {
    fn listen(
        &mut self,
        addresses: &[IpAddr],
        port: u16,
        events: &UnboundedSender<Event>,
    ) -> io::Result<Vec<SocketAddr>> {
        self.stop_listening();
        let mut bound = Vec::new();
        for listener in listen_on(addresses, port)? {
            let address = listener.local_addr()?;
            info!(%address, "listening for BGP");
            let socket = ListenSocket::of(&listener)?;
            self.listeners
                .push((socket, accept_loop(listener, events.clone())));
            bound.push(address);
        }
        Ok(bound)
    }

    fn stop_listening(&mut self) {
        for (_, accepting) in self.listeners.drain(..) {
            accepting.abort();
        }
    }

    fn listen_key(&self, peer: IpAddr, password: Option<&Secret>) -> io::Result<()> {
        self.listeners
            .iter()
            .filter(|(socket, _)| socket.serves(peer))
            .try_for_each(|(socket, _)| socket.set_key(peer, password))
    }

    fn bfd(&mut self, report: Report) -> io::Result<Box<dyn Watcher>> {
        Ok(Box::new(Bfd::start(report)?))
    }

    fn connect(
        &self,
        peer: PeerId,
        session: SessionId,
        to: ConnectTo,
        events: UnboundedSender<Event>,
    ) {
        connect(peer, session, to, events);
    }
}

impl Link for TcpStream {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::local_addr(self)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::peer_addr(self)
    }

    fn apply_ttl(&self, ttl: TtlPolicy) -> io::Result<()> {
        // An IPv4 peer of the dual-stack listener takes the IPv4 options.
        let peer_v6 = self.peer_addr()?.ip().to_canonical().is_ipv6();
        ttl.apply(self.as_raw_fd(), peer_v6)
    }

    fn into_halves(self: Box<Self>) -> (ReadHalf, WriteHalf) {
        let _ = self.set_nodelay(true);
        let (read, write) = self.into_split();
        (Box::new(read), Box::new(write))
    }
}

/// Connects to `remote` from `source` (when given), within `timeout`, and
/// reports the result as an [`Event::Connected`].
fn connect(peer: PeerId, session: SessionId, to: ConnectTo, events: UnboundedSender<Event>) {
    tokio::spawn(async move {
        let remote = to.remote;
        let attempt = async {
            let socket = if remote.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            if let Some(password) = &to.password {
                sockopt::set_md5_key(
                    socket.as_raw_fd(),
                    remote.is_ipv6(),
                    remote.ip(),
                    Some(password.expose().as_bytes()),
                )
                .map_err(|e| io::Error::other(sockopt::KeyRefused(e)))?;
            }
            if let Some(ttl) = to.ttl {
                ttl.apply(socket.as_raw_fd(), remote.is_ipv6())?;
            }
            if let Some(source) = to.source {
                socket.bind(SocketAddr::new(source, 0))?;
            }
            socket.connect(remote).await
        };
        let result = match tokio::time::timeout(to.timeout, attempt).await {
            Ok(result) => result.map(|stream| Box::new(stream) as Stream),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "Connection timed out",
            )),
        };
        let _ = events.send(Event::Connected {
            peer,
            session,
            result,
        });
    });
}

/// Binds the BGP port: on `address`, or on every address (IPv6 and, through
/// it, IPv4; IPv4 alone where IPv6 is off).
/// Binding is quick and done at once, so that the socket is there for the
/// TCP MD5 keys of the peers (RFC 2385) before anything is accepted.
fn listen(address: Option<IpAddr>, port: u16) -> io::Result<TcpListener> {
    let bind = |address: IpAddr| {
        let listener = std::net::TcpListener::bind(SocketAddr::new(address, port))?;
        listener.set_nonblocking(true)?;
        TcpListener::from_std(listener)
    };
    match address {
        Some(address) => bind(address),
        None => bind(IpAddr::from([0u16; 8])).or_else(|_| bind(IpAddr::from([0u8; 4]))),
    }
}

/// Binds the BGP port on each of `addresses` (one per family), or on every
/// address when there are none.
fn listen_on(addresses: &[IpAddr], port: u16) -> io::Result<Vec<TcpListener>> {
    if addresses.is_empty() {
        return Ok(vec![listen(None, port)?]);
    }
    addresses.iter().map(|a| listen(Some(*a), port)).collect()
}

/// The listening socket, for its TCP MD5 keys; valid while its accept loop
/// runs.
#[derive(Clone, Copy, Debug)]
struct ListenSocket {
    fd: std::os::fd::RawFd,
    v6: bool,
}

impl ListenSocket {
    fn of(listener: &TcpListener) -> io::Result<Self> {
        Ok(Self {
            fd: listener.as_raw_fd(),
            v6: listener.local_addr()?.is_ipv6(),
        })
    }

    /// Whether connections from `peer` can arrive here: an IPv4 socket
    /// takes no IPv6 peer (an IPv6 one takes IPv4 peers as mapped
    /// addresses when it is the dual-stack wildcard).
    fn serves(&self, peer: IpAddr) -> bool {
        self.v6 || peer.is_ipv4()
    }

    /// Connections from `peer` are signed with `password`, or no longer.
    fn set_key(&self, peer: IpAddr, password: Option<&Secret>) -> io::Result<()> {
        sockopt::set_md5_key(
            self.fd,
            self.v6,
            peer,
            password.map(|p| p.expose().as_bytes()),
        )
        .map_err(|e| io::Error::other(sockopt::KeyRefused(e)))
    }
}

/// Accepts connections for the speaker until it goes away.
fn accept_loop(listener: TcpListener, events: UnboundedSender<Event>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    // IPv4 peers reach a dual-stack socket as ::ffff:a.b.c.d.
                    let remote = SocketAddr::new(remote.ip().to_canonical(), remote.port());
                    let stream = Box::new(stream);
                    if events.send(Event::Accepted { stream, remote }).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

/// The system's words for a socket error, as BIRD shows them ("Connection
/// reset by peer"), without Rust's " (os error 104)".
pub(super) fn strerror(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// How a failed connect reads in status, as BIRD words it.
pub fn describe_connect_error(error: &io::Error) -> String {
    if error
        .get_ref()
        .is_some_and(|inner| inner.is::<sockopt::KeyRefused>())
    {
        // BIRD's words for it, without "Socket:" (a BGP error of its own).
        return "Kernel MD5 auth failed".to_owned();
    }
    let what = match error.kind() {
        io::ErrorKind::ConnectionRefused => "Connection refused".to_owned(),
        io::ErrorKind::TimedOut => "Connection timed out".to_owned(),
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            "No route to host".to_owned()
        }
        _ => strerror(error),
    };
    // BIRD puts the state in its own column: "Active        Socket: ...".
    format!("Socket: {what}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_errors_read_as_bird_shows_them() {
        let reset = io::Error::from_raw_os_error(libc::ECONNRESET);
        assert_eq!(strerror(&reset), "Connection reset by peer");
        assert_eq!(
            describe_connect_error(&io::Error::from_raw_os_error(libc::ECONNREFUSED)),
            "Socket: Connection refused"
        );
        assert_eq!(
            describe_connect_error(&io::Error::from_raw_os_error(libc::EADDRNOTAVAIL)),
            "Socket: Cannot assign requested address"
        );
    }
}
