//! Socket options tokio does not offer: TCP MD5 signatures (RFC 2385) and
//! the TTL rules of eBGP multihop and the Generalized TTL Security
//! Mechanism (RFC 5082).
//!
//! An MD5 key is tied to the peer's address: on a connecting socket before the
//! connect, and on the listening socket for every peer with a password
//! (the kernel then signs and checks the connections it accepts from that
//! address, and drops unsigned or wrongly signed segments, RFC 2385 §2).
//! An IPv4 peer of the dual-stack listener is named by its IPv4-mapped
//! IPv6 address, which the kernel files as an IPv4 key.

#![allow(
    unsafe_code,
    reason = "setsockopt(TCP_MD5SIG, IP_MINTTL, ...) has no safe wrapper in tokio, nix or libc; the calls and the sockaddr writes are checked here"
)]

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;

/// RFC 2385 §4.5 leaves the key length open; Linux takes up to 80 octets.
pub const MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` of <linux/tcp.h>; the libc crate does not have it.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefix_len: u8,
    key_len: u16,
    ifindex: i32,
    key: [u8; MAX_KEY_LEN],
}

/// The kernel refused a key: BIRD's "Kernel MD5 auth failed".
#[derive(Debug, thiserror::Error)]
#[error("Kernel MD5 auth failed ({0})")]
pub struct KeyRefused(pub io::Error);

/// Sets (with `key`) or removes (`None`) the MD5 key for `peer` on `fd`.
/// `fd` is an AF_INET6 socket when `v6_socket`, else AF_INET.
pub fn set_md5_key(fd: RawFd, v6_socket: bool, peer: IpAddr, key: Option<&[u8]>) -> io::Result<()> {
    let key = key.unwrap_or_default();
    if key.len() > MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a TCP MD5 password is at most {MAX_KEY_LEN} octets"),
        ));
    }
    // SAFETY: all-zero is a valid value of these plain C structs.
    let mut option: TcpMd5Sig = unsafe { std::mem::zeroed() };
    write_address(&mut option.addr, v6_socket, peer);
    option.key_len = key.len() as u16;
    option.key[..key.len()].copy_from_slice(key);
    set(fd, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &option)
}

/// How a peer's packets must be sent and received (RFC 5082, multihop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TtlPolicy {
    /// The TTL (IPv6: hop limit) of what is sent.
    pub send: u8,
    /// What arrives with less is dropped by the kernel (RFC 5082 §3).
    pub min: Option<u8>,
}

impl TtlPolicy {
    /// BIRD's rules: `ttl security on` with the peer `hops` away sends at
    /// 255 and takes nothing below 256 - hops (RFC 5082 §5.1); else
    /// `multihop N` sends at N; else the kernel's default stands (Calico's
    /// templates give every peer `multihop`, so no session relies on 1).
    pub fn of(ttl_security: Option<u8>, multihop: Option<u8>) -> Option<Self> {
        match (ttl_security.filter(|h| *h > 0), multihop) {
            (Some(hops), _) => Some(Self {
                send: 255,
                min: Some((256 - u16::from(hops)) as u8),
            }),
            (None, Some(ttl)) => Some(Self {
                send: ttl.max(1),
                min: None,
            }),
            (None, None) => None,
        }
    }

    /// Applies the policy to `fd`, a connection with a peer of the family
    /// `peer_v6` says (an IPv4 peer on a dual-stack socket takes the IPv4
    /// options).
    pub fn apply(self, fd: RawFd, peer_v6: bool) -> io::Result<()> {
        let (level, ttl, min_ttl) = if peer_v6 {
            (
                libc::IPPROTO_IPV6,
                libc::IPV6_UNICAST_HOPS,
                libc::IPV6_MINHOPCOUNT,
            )
        } else {
            (libc::IPPROTO_IP, libc::IP_TTL, libc::IP_MINTTL)
        };
        set(fd, level, ttl, &libc::c_int::from(self.send))?;
        if let Some(min) = self.min {
            set(fd, level, min_ttl, &libc::c_int::from(min))?;
        }
        Ok(())
    }
}

/// setsockopt(2) with `value` as the option's bytes.
fn set<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live, initialised T, and the length given is its size.
    let result = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::from_ref(value).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Writes `peer` into `storage` as a sockaddr of the socket's family.
fn write_address(storage: &mut libc::sockaddr_storage, v6_socket: bool, peer: IpAddr) {
    let socket_address = match (v6_socket, peer) {
        (true, IpAddr::V4(v4)) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), 0),
        _ => SocketAddr::new(peer, 0),
    };
    match socket_address {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than, and aligned for, sockaddr_in.
            unsafe { std::ptr::write((&raw mut *storage).cast(), sin) };
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_storage is larger than, and aligned for, sockaddr_in6.
            unsafe { std::ptr::write((&raw mut *storage).cast(), sin6) };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn keys_are_set_and_removed_on_a_listening_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let fd = listener.as_raw_fd();
        let peer: IpAddr = "127.0.0.2".parse().unwrap();
        set_md5_key(fd, false, peer, Some(b"s3cret")).unwrap();
        set_md5_key(fd, false, peer, None).unwrap();
        // Removing a key that is not there is the kernel's ENOENT.
        assert_eq!(
            set_md5_key(fd, false, peer, None)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENOENT)
        );
    }

    #[test]
    fn an_ipv4_peer_of_a_dual_stack_socket_is_named_mapped() {
        let listener = TcpListener::bind("[::]:0").unwrap();
        let fd = listener.as_raw_fd();
        set_md5_key(fd, true, "10.0.0.2".parse().unwrap(), Some(b"k")).unwrap();
        set_md5_key(fd, true, "fd00::2".parse().unwrap(), Some(b"k")).unwrap();
    }

    #[test]
    fn ttl_security_sends_at_255_and_takes_no_less_than_256_minus_the_hops() {
        assert_eq!(
            TtlPolicy::of(Some(1), None),
            Some(TtlPolicy {
                send: 255,
                min: Some(255)
            })
        );
        assert_eq!(
            TtlPolicy::of(Some(2), Some(5)),
            Some(TtlPolicy {
                send: 255,
                min: Some(254)
            }),
            "ttl security wins over multihop"
        );
        assert_eq!(
            TtlPolicy::of(Some(0), Some(5)),
            Some(TtlPolicy { send: 5, min: None })
        );
        assert_eq!(TtlPolicy::of(None, None), None);
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        TtlPolicy::of(Some(1), None)
            .unwrap()
            .apply(socket.as_raw_fd(), false)
            .unwrap();
        let socket = TcpListener::bind("[::]:0").unwrap();
        let policy = TtlPolicy::of(Some(3), None).unwrap();
        policy.apply(socket.as_raw_fd(), false).unwrap();
        policy.apply(socket.as_raw_fd(), true).unwrap();
    }

    #[test]
    fn a_key_longer_than_the_kernel_takes_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let long = [b'x'; MAX_KEY_LEN + 1];
        let error = set_md5_key(
            listener.as_raw_fd(),
            false,
            "127.0.0.2".parse().unwrap(),
            Some(&long),
        );
        assert_eq!(error.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
