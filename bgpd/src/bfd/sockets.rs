//! BFD's UDP sockets (RFC 5881 §4, RFC 5883 §5): one listener per family
//! and kind on the well-known port, whose packets carry the TTL they
//! arrived with, and one sending socket per session, from a port of its
//! own in 49152-65535, at TTL 255.

use std::io;
use std::io::IoSliceMut;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    bind, recvmsg, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned, MsgFlags,
    SockFlag, SockType, SockaddrStorage,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Single hop (RFC 5881 §4) and multihop (RFC 5883 §5) Control packets.
pub const SINGLE_HOP_PORT: u16 = 3784;
pub const MULTIHOP_PORT: u16 = 4784;

/// RFC 5881 §4: the source port of a session, the same for all its packets.
const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// RFC 5881 §5: sent at 255, so that a single-hop receiver can tell it
/// came from its link (GTSM, RFC 5082).
pub const TTL: u8 = 255;

fn family(v6: bool) -> AddressFamily {
    if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    }
}

fn udp(v6: bool) -> io::Result<OwnedFd> {
    let fd = socket(
        family(v6),
        SockType::Datagram,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    if v6 {
        // An IPv4 listener of its own takes IPv4; this one only IPv6.
        setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    Ok(fd)
}

fn tokio_socket(fd: OwnedFd) -> io::Result<UdpSocket> {
    UdpSocket::from_std(std::net::UdpSocket::from(fd))
}

/// Binds the well-known port of one family: its packets come with their
/// TTL (IPv6: hop limit), which UDP itself never checks.
pub fn listen(v6: bool, port: u16) -> io::Result<UdpSocket> {
    let fd = udp(v6)?;
    if v6 {
        setsockopt(&fd, sockopt::Ipv6RecvHopLimit, &true)?;
    } else {
        setsockopt(&fd, sockopt::Ipv4RecvTtl, &true)?;
    }
    let any = if v6 {
        SocketAddr::from(([0u16; 8], port))
    } else {
        SocketAddr::from(([0u8; 4], port))
    };
    bind(fd.as_raw_fd(), &SockaddrStorage::from(any))?;
    tokio_socket(fd)
}

/// A session's sending socket: from `local` (or the address the kernel
/// picks), from a free port of the range, at TTL 255, to `peer`'s `port`.
pub fn sender(local: Option<IpAddr>, peer: IpAddr, port: u16, start: u16) -> io::Result<UdpSocket> {
    let v6 = peer.is_ipv6();
    let fd = udp(v6)?;
    if v6 {
        setsockopt(&fd, sockopt::Ipv6Ttl, &i32::from(TTL))?;
    } else {
        setsockopt(&fd, sockopt::Ipv4Ttl, &i32::from(TTL))?;
    }
    let local = local.filter(|l| l.is_ipv6() == v6).unwrap_or(if v6 {
        IpAddr::from([0u16; 8])
    } else {
        IpAddr::from([0u8; 4])
    });
    let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
    let mut last = io::Error::from(io::ErrorKind::AddrInUse);
    for step in 0..span {
        let offset = (u32::from(start) + step) % span;
        let port_here = SOURCE_PORTS.start() + offset as u16;
        match bind(
            fd.as_raw_fd(),
            &SockaddrStorage::from(SocketAddr::new(local, port_here)),
        ) {
            Ok(()) => {
                // UDP's connect only fixes the destination: it never waits.
                let to = SockaddrStorage::from(SocketAddr::new(peer, port));
                nix::sys::socket::connect(fd.as_raw_fd(), &to)?;
                return tokio_socket(fd);
            }
            Err(nix::errno::Errno::EADDRINUSE) => continue,
            Err(e) => {
                last = e.into();
                break;
            }
        }
    }
    Err(last)
}

/// One received datagram: where from, with what TTL, how long.
#[derive(Clone, Copy, Debug)]
pub struct Received {
    pub from: SocketAddr,
    pub ttl: Option<u8>,
    pub len: usize,
}

/// Waits for the next datagram on a [`listen`] socket.
pub async fn receive(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    loop {
        socket.readable().await?;
        match socket.try_io(Interest::READABLE, || receive_now(socket, buf)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

fn receive_now(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    let mut control = nix::cmsg_space!(libc::c_int);
    let mut iov = [IoSliceMut::new(buf)];
    let message = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::empty(),
    )?;
    let mut ttl = None;
    for cmsg in message.cmsgs()? {
        match cmsg {
            ControlMessageOwned::Ipv4Ttl(value) | ControlMessageOwned::Ipv6HopLimit(value) => {
                ttl = u8::try_from(value).ok();
            }
            _ => {}
        }
    }
    let from = message
        .address
        .and_then(|a| {
            a.as_sockaddr_in()
                .map(|v4| SocketAddr::from(std::net::SocketAddrV4::from(*v4)))
                .or_else(|| {
                    a.as_sockaddr_in6()
                        .map(|v6| SocketAddr::from(std::net::SocketAddrV6::from(*v6)))
                })
        })
        .ok_or_else(|| io::Error::other("a datagram without a source address"))?;
    Ok(Received {
        from,
        ttl,
        len: message.bytes,
    })
}
