//! The kernel's notifications of route, link and address changes, on a
//! second socket subscribed to `RTNLGRP_IPV4_ROUTE`, `RTNLGRP_IPV6_ROUTE`,
//! `RTNLGRP_LINK` and the address groups.
//!
//! The kernel also notifies every change routesync makes itself, with the
//! port id of the socket that asked for it in the header (`rtmsg_fib`,
//! `inet6_rt_notify`). A socket filter drops those in the kernel, before they
//! are queued, so that installing a million routes does not queue a million
//! notifications here; what is left is other people's changes, which are
//! few.
//!
//! When the receive buffer overflows anyway, the kernel says so (ENOBUFS)
//! and the caller compares the kernel's routes with its own once.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_REPLACE};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use socket2::{SockFilter, SockRef};

use super::error::{align, errno};
use super::message::{address_info, link_info, route_of, AddressInfo, LinkInfo, RouteInfo};
use super::transport::set_receive_buffer;

/// include/uapi/linux/rtnetlink.h, `enum rtnetlink_groups`.
const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_IPV4_IFADDR: u32 = 5;
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV6_IFADDR: u32 = 9;
const RTNLGRP_IPV6_ROUTE: u32 = 11;
/// Room for bursts of other people's changes.
const RECEIVE_BUFFER: usize = 8 << 20;
const MSG_DONTWAIT: i32 = 0x40;
const NLMSG_HDRLEN: usize = 16;
/// `RTM_NEWLINK`, `RTM_DELLINK`, `RTM_NEWADDR`, `RTM_DELADDR`,
/// `RTM_NEWROUTE`, `RTM_DELROUTE`.
const INTERESTING: [u16; 6] = [16, 17, 20, 21, 24, 25];

/// Classic BPF (include/uapi/linux/filter.h).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;
/// `offsetof(struct nlmsghdr, nlmsg_pid)`.
const NLMSG_PID_OFFSET: u32 = 12;

/// What someone else changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Route {
        route: RouteInfo,
        /// `RTM_DELROUTE`.
        deleted: bool,
        /// `RTM_NEWROUTE` with `NLM_F_REPLACE`: the route took the place of
        /// the one with the same key.
        replaced: bool,
    },
    Link(LinkInfo),
    Address(AddressInfo),
    /// Notifications were lost: compare the whole table once.
    Overrun,
}

#[derive(Debug)]
pub(crate) struct Monitor {
    socket: Socket,
    /// Our programming socket's port id: its notifications are our own.
    own_port: Option<u32>,
    buf: Vec<u8>,
}

impl Monitor {
    /// Subscribes, in the calling thread's namespace, to every change except
    /// those made through the socket with port id `own_port`. Subscribe
    /// before dumping: then nothing that happens after the dump is missed.
    pub fn open(own_port: u32) -> io::Result<Self> {
        Self::open_groups(
            Some(own_port),
            &[
                RTNLGRP_LINK,
                RTNLGRP_IPV4_IFADDR,
                RTNLGRP_IPV4_ROUTE,
                RTNLGRP_IPV6_IFADDR,
                RTNLGRP_IPV6_ROUTE,
            ],
        )
    }

    /// Subscribes to the address groups alone, every change included.
    pub fn open_addresses() -> io::Result<Self> {
        Self::open_groups(None, &[RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR])
    }

    fn open_groups(own_port: Option<u32>, groups: &[u32]) -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        if let Some(own_port) = own_port {
            // The kernel matches on the header as it sits in the skb, in host
            // order; BPF loads words in network order.
            let port = u32::from_be_bytes(own_port.to_ne_bytes());
            SockRef::from(&socket).attach_filter(&[
                SockFilter::new(BPF_LD_W_ABS, 0, 0, NLMSG_PID_OFFSET),
                SockFilter::new(BPF_JMP_JEQ_K, 0, 1, port),
                SockFilter::new(BPF_RET_K, 0, 0, 0),
                SockFilter::new(BPF_RET_K, 0, 0, u32::MAX),
            ])?;
        }
        set_receive_buffer(&socket, RECEIVE_BUFFER)?;
        for group in groups {
            socket.add_membership(*group)?;
        }
        Ok(Self {
            socket,
            own_port,
            buf: vec![0; 1 << 16],
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Reads what is queued, without waiting.
    pub fn read(&mut self, events: &mut Vec<Event>) {
        loop {
            let size = match self.socket.recv(&mut &mut self.buf[..], MSG_DONTWAIT) {
                Ok(size) => size,
                Err(e) if e.raw_os_error() == Some(errno::ENOBUFS) => {
                    events.push(Event::Overrun);
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::error!(error = %e, "netlink monitor receive failed");
                    events.push(Event::Overrun);
                    return;
                }
            };
            let mut offset = 0;
            while offset + NLMSG_HDRLEN <= size {
                let rest = &self.buf[offset..size];
                let length = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                if length < NLMSG_HDRLEN || length > rest.len() {
                    break;
                }
                offset += align(length);
                let kind = u16::from_ne_bytes([rest[4], rest[5]]);
                let port = u32::from_ne_bytes([rest[12], rest[13], rest[14], rest[15]]);
                if self.own_port == Some(port) || !INTERESTING.contains(&kind) {
                    continue;
                }
                let message =
                    match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..length]) {
                        Ok(message) => message,
                        Err(error) => {
                            tracing::debug!(%error, kind, "undecodable kernel notification");
                            continue;
                        }
                    };
                let flags = message.header.flags;
                let NetlinkPayload::InnerMessage(message) = message.payload else {
                    continue;
                };
                if let Some(link) = link_info(&message) {
                    events.push(Event::Link(link));
                } else if let Some(address) = address_info(&message) {
                    events.push(Event::Address(address));
                } else if let Some(route) = route_of(&message) {
                    events.push(Event::Route {
                        route,
                        deleted: matches!(message, RouteNetlinkMessage::DelRoute(_)),
                        replaced: flags & NLM_F_REPLACE != 0,
                    });
                }
            }
        }
    }
}
