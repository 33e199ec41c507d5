//! One rtnetlink socket, used in batches: many requests go to the kernel in a
//! single `send`, each asking for an ACK, and then every answer is read and
//! matched to its request by sequence number. 100k route changes are then a
//! few hundred system calls to send, not 100k round trips.
//!
//! The kernel handles every message of a `send` before the call returns
//! (`netlink_rcv_skb` runs in the sender's context), so the answers are queued
//! by then. ACKs that do not fit the receive buffer are dropped by the kernel
//! (`netlink_overrun`, ENOBUFS on our next read): the number of requests per
//! send is bounded by the receive buffer for that reason.

use std::io;
use std::thread;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::error::{align, errno, KernelError};

/// Asked for; the kernel caps it at `net.core.rmem_max` and doubles it.
const RECEIVE_BUFFER: usize = 4 << 20;
/// What one ACK costs in the receive buffer: the skb's truesize, about 1 KiB
/// for a 36-byte message; counted twice for a safe margin.
const ACK_COST: usize = 2048;
/// Requests per send, at most; at least [`MIN_PER_SEND`] even with a small buffer.
const MAX_PER_SEND: usize = 1024;
const MIN_PER_SEND: usize = 32;
/// Bytes per send, well under the default send buffer (`netlink_sendmsg`
/// refuses more than `sk_sndbuf - 32`).
const MAX_SEND_BYTES: usize = 64 << 10;
/// How long to wait for answers that are not queued yet (they should be).
const ANSWER_WAIT: Duration = Duration::from_secs(2);
/// `MSG_DONTWAIT` (bits/socket.h).
const MSG_DONTWAIT: i32 = 0x40;
/// `NLMSG_HDRLEN`.
const NLMSG_HDRLEN: usize = 16;

/// One request: the message, and flags on top of `NLM_F_REQUEST | NLM_F_ACK`
/// (`NLM_F_CREATE | NLM_F_REPLACE` for an install, none for a get).
#[derive(Debug)]
pub(crate) struct Request {
    pub message: RouteNetlinkMessage,
    pub flags: u16,
}

/// The kernel's answer to one request: its replies (for a get), then the ACK
/// or the error.
#[derive(Debug)]
pub(crate) struct Answer {
    pub result: Result<(), KernelError>,
    pub replies: Vec<RouteNetlinkMessage>,
}

#[derive(Debug)]
pub(crate) struct Transport {
    socket: Socket,
    next_seq: u32,
    per_send: usize,
    send_buf: Vec<u8>,
    receive_buf: Vec<u8>,
}

impl Transport {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        // Errors carry the kernel's message; ACKs carry only the request's
        // header, not the whole request back.
        socket.set_ext_ack(true)?;
        socket.set_cap_ack(true)?;
        socket.set_rx_buf_sz(RECEIVE_BUFFER)?;
        let receive = socket.get_rx_buf_sz()?;
        let per_send = (receive / ACK_COST).clamp(MIN_PER_SEND, MAX_PER_SEND);
        tracing::debug!(receive, per_send, "netlink socket open");
        Ok(Self {
            socket,
            next_seq: 1,
            per_send,
            send_buf: Vec::with_capacity(MAX_SEND_BYTES),
            receive_buf: vec![0; 1 << 17],
        })
    }

    /// Sends every request, in order, in as few sends as the buffers allow;
    /// one answer per request, in the same order.
    pub fn transact(&mut self, requests: Vec<Request>) -> Vec<Answer> {
        let mut answers = Vec::with_capacity(requests.len());
        let mut requests = requests.into_iter();
        // A packet that did not fit the previous send opens the next one.
        let mut carried: Option<NetlinkMessage<RouteNetlinkMessage>> = None;
        loop {
            let base = self.next_seq;
            self.send_buf.clear();
            let mut count: u32 = 0;
            while (count as usize) < self.per_send {
                let mut packet = match carried.take() {
                    Some(packet) => packet,
                    None => match requests.next() {
                        Some(request) => packet(request),
                        None => break,
                    },
                };
                let len = align(packet.buffer_len());
                if count > 0 && self.send_buf.len() + len > MAX_SEND_BYTES {
                    carried = Some(packet);
                    break;
                }
                packet.header.sequence_number = base.wrapping_add(count);
                let start = self.send_buf.len();
                self.send_buf.resize(start + len, 0);
                packet.serialize(&mut self.send_buf[start..]);
                count += 1;
            }
            if count == 0 {
                return answers;
            }
            self.next_seq = base.wrapping_add(count);
            answers.extend(self.exchange(base, count as usize));
        }
    }

    /// Sends the prepared buffer and collects `count` answers for sequence
    /// numbers `base..base + count`.
    fn exchange(&mut self, base: u32, count: usize) -> Vec<Answer> {
        let mut answers: Vec<Option<Answer>> = Vec::new();
        answers.resize_with(count, || None);
        let mut replies: Vec<Vec<RouteNetlinkMessage>> = vec![Vec::new(); count];
        if let Err(error) = self.socket.send(&self.send_buf, 0) {
            let error = KernelError::io(&error);
            return (0..count)
                .map(|_| Answer {
                    result: Err(error.clone()),
                    replies: Vec::new(),
                })
                .collect();
        }
        let mut pending = count;
        let mut deadline = Instant::now() + ANSWER_WAIT;
        let mut overrun = false;
        while pending > 0 {
            let size = match self
                .socket
                .recv(&mut &mut self.receive_buf[..], MSG_DONTWAIT)
            {
                Ok(size) => size,
                Err(e) if e.raw_os_error() == Some(errno::ENOBUFS) => {
                    overrun = true;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && !overrun => {
                    if Instant::now() >= deadline {
                        break;
                    }
                    thread::sleep(Duration::from_millis(1));
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::error!(error = %e, "netlink receive failed");
                    break;
                }
            };
            deadline = Instant::now() + ANSWER_WAIT;
            for (header, payload) in messages(&self.receive_buf[..size]) {
                let index = header.sequence_number.wrapping_sub(base) as usize;
                if index >= count || answers[index].is_some() {
                    // An answer to an earlier batch that came late, or noise.
                    continue;
                }
                match payload {
                    NetlinkPayload::InnerMessage(message) => replies[index].push(message),
                    NetlinkPayload::Error(error) => {
                        let result = match KernelError::from_reply(&error, header.flags) {
                            Some(error) => Err(error),
                            None => Ok(()),
                        };
                        answers[index] = Some(Answer {
                            result,
                            replies: std::mem::take(&mut replies[index]),
                        });
                        pending -= 1;
                    }
                    _ => {}
                }
            }
        }
        if pending > 0 {
            tracing::error!(
                lost = pending,
                overrun,
                "netlink answers lost; those routes will be retried"
            );
            if overrun {
                self.per_send = (self.per_send / 2).max(MIN_PER_SEND);
            }
        }
        answers
            .into_iter()
            .map(|answer| {
                answer.unwrap_or_else(|| Answer {
                    result: Err(KernelError::new(
                        errno::ENOBUFS,
                        "the kernel's answer was lost".to_owned(),
                    )),
                    replies: Vec::new(),
                })
            })
            .collect()
    }

    /// One dump request (`NLM_F_DUMP`), every reply up to `NLMSG_DONE`.
    pub fn dump(
        &mut self,
        message: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, KernelError> {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        let mut packet = packet(Request {
            message,
            flags: NLM_F_DUMP,
        });
        packet.header.flags &= !NLM_F_ACK;
        packet.header.sequence_number = seq;
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(|e| KernelError::io(&e))?;
        let mut replies = Vec::new();
        loop {
            // Blocking: the kernel fills the next part of a dump on each read.
            let size = self
                .socket
                .recv(&mut &mut self.receive_buf[..], 0)
                .map_err(|e| KernelError::io(&e))?;
            for (header, payload) in messages(&self.receive_buf[..size]) {
                if header.sequence_number != seq {
                    continue;
                }
                match payload {
                    NetlinkPayload::InnerMessage(message) => replies.push(message),
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::Error(error) => {
                        if let Some(error) = KernelError::from_reply(&error, header.flags) {
                            return Err(error);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The request as a packet; its sequence number is set when it is sent.
fn packet(request: Request) -> NetlinkMessage<RouteNetlinkMessage> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK | request.flags;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(request.message));
    packet.finalize();
    packet
}

/// The messages of one datagram. One that does not decode is skipped by its
/// length and logged (a kernel and library mismatch); its request then counts
/// as unanswered.
fn messages(datagram: &[u8]) -> Vec<(NetlinkHeader, NetlinkPayload<RouteNetlinkMessage>)> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset + NLMSG_HDRLEN <= datagram.len() {
        let rest = &datagram[offset..];
        let length = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if length < NLMSG_HDRLEN || length > rest.len() {
            tracing::error!(length, "truncated netlink message");
            break;
        }
        match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..length]) {
            Ok(message) => out.push(message.into_parts()),
            Err(error) => tracing::error!(%error, "undecodable netlink message"),
        }
        offset += align(length);
    }
    out
}
