//! One rtnetlink socket, used in batches: many requests go to the kernel in a
//! single `send`, and then the answers are read and matched to their requests
//! by sequence number. 100k route changes are a hundred sends, not 100k round
//! trips.
//!
//! Only the last request of each send asks for an ACK. The kernel answers
//! every request that fails with an error whether or not it asked for an ACK
//! (`netlink_rcv_skb`), and it handles every message of a send, in order,
//! before the call returns (`netlink_rcv_skb` runs in the sender's context),
//! so once the last request's ACK is read, a request without an error
//! succeeded. The kernel then builds and queues one message per failure
//! instead of one per request.
//!
//! Answers that do not fit the receive buffer are dropped by the kernel
//! (`netlink_overrun`, ENOBUFS on our next read); then nothing can be said of
//! the requests without an answer, and they are reported as lost (and
//! retried). The number of requests per send is bounded by the receive
//! buffer so that this does not happen even if every request fails.

use std::io;
use std::thread;
use std::time::{Duration, Instant};

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::sys::socket::{setsockopt, sockopt};

use super::encode::Batch;
use super::error::{align, errno, KernelError};

/// Asked for; `SO_RCVBUFFORCE` (we hold `CAP_NET_ADMIN`, or programming
/// routes fails anyway) or else capped at `net.core.rmem_max`.
const RECEIVE_BUFFER: usize = 4 << 20;
/// What one error costs in the receive buffer: the skb's truesize, about 1
/// KiB for an error with its extended ACK; counted twice for a margin.
const ANSWER_COST: usize = 2048;
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
const NLMSG_HDRLEN: usize = 16;

/// The kernel's answer to one request: its replies (for a get), then the
/// error, if any.
#[derive(Debug)]
pub(crate) struct Answer {
    pub result: Result<(), KernelError>,
    pub replies: Vec<RouteNetlinkMessage>,
}

#[derive(Debug)]
pub(crate) struct Transport {
    socket: Socket,
    /// The socket's port id: the kernel's notifications of our own changes
    /// carry it.
    port: u32,
    next_seq: u32,
    per_send: usize,
    receive_buf: Vec<u8>,
}

impl Transport {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        let address = socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        // Errors carry the kernel's message; ACKs carry only the request's
        // header, not the whole request back.
        socket.set_ext_ack(true)?;
        socket.set_cap_ack(true)?;
        // Dumps filtered by the kernel (table, protocol); older kernels
        // ignore it, and the filter is applied here as well.
        let _ = socket.set_netlink_get_strict_chk(true);
        set_receive_buffer(&socket, RECEIVE_BUFFER)?;
        let receive = socket.get_rx_buf_sz()?;
        let per_send = (receive / ANSWER_COST).clamp(MIN_PER_SEND, MAX_PER_SEND);
        tracing::debug!(receive, per_send, "netlink socket open");
        Ok(Self {
            socket,
            port: address.port_number(),
            next_seq: 1,
            per_send,
            receive_buf: vec![0; 1 << 17],
        })
    }

    pub fn port(&self) -> u32 {
        self.port
    }

    /// Sends every request of the batch, in order, in as few sends as the
    /// buffers allow; one answer per request, in the same order. `between`
    /// runs after each send.
    pub fn transact(&mut self, batch: &mut Batch, between: &mut dyn FnMut()) -> Vec<Answer> {
        let count = batch.len();
        let mut answers: Vec<Answer> = Vec::with_capacity(count);
        answers.resize_with(count, || Answer {
            result: Ok(()),
            replies: Vec::new(),
        });
        let mut first = 0;
        while first < count {
            let start = batch.range(first).start;
            let mut last = first;
            while last + 1 < count
                && last + 1 - first < self.per_send
                && batch.ends[last + 1] - start <= MAX_SEND_BYTES
            {
                last += 1;
            }
            let base = self.next_seq;
            for (offset, index) in (first..=last).enumerate() {
                let range = batch.range(index);
                let header = &mut batch.buf[range];
                let mut flags = u16::from_ne_bytes([header[6], header[7]]) & !NLM_F_ACK;
                if index == last {
                    flags |= NLM_F_ACK;
                }
                header[6..8].copy_from_slice(&flags.to_ne_bytes());
                let seq = base.wrapping_add(offset as u32);
                header[8..12].copy_from_slice(&seq.to_ne_bytes());
            }
            let sent = last + 1 - first;
            self.next_seq = base.wrapping_add(sent as u32);
            let end = batch.ends[last];
            self.exchange(&batch.buf[start..end], base, &mut answers[first..=last]);
            between();
            first = last + 1;
        }
        answers
    }

    /// Sends one slice of requests numbered `base..` and reads their answers
    /// until the last one's ACK.
    fn exchange(&mut self, bytes: &[u8], base: u32, answers: &mut [Answer]) {
        let count = answers.len();
        if let Err(error) = self.socket.send(bytes, 0) {
            let error = KernelError::io(&error);
            for answer in answers.iter_mut() {
                answer.result = Err(error.clone());
            }
            return;
        }
        // Which requests the kernel answered explicitly: after an overrun,
        // only those are known.
        let mut answered = vec![false; count];
        let mut done = false;
        let mut deadline = Instant::now() + ANSWER_WAIT;
        let mut overrun = false;
        while !done {
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
                if index >= count {
                    // An answer to an earlier batch that came late, or noise.
                    continue;
                }
                match payload {
                    NetlinkPayload::InnerMessage(message) => answers[index].replies.push(message),
                    NetlinkPayload::Error(error) => {
                        if let Some(error) = KernelError::from_reply(&error, header.flags) {
                            answers[index].result = Err(error);
                        }
                        answered[index] = true;
                        if index + 1 == count {
                            done = true;
                        }
                    }
                    _ => {}
                }
            }
        }
        if !done || overrun {
            let lost = answered.iter().filter(|a| !**a).count();
            tracing::error!(
                lost,
                overrun,
                "netlink answers lost; those routes will be retried"
            );
            if overrun {
                self.per_send = (self.per_send / 2).max(MIN_PER_SEND);
            }
            let error = KernelError::new(errno::ENOBUFS, "the kernel's answer was lost".to_owned());
            for (answer, answered) in answers.iter_mut().zip(answered) {
                if !answered && answer.replies.is_empty() {
                    answer.result = Err(error.clone());
                }
            }
        }
    }

    /// One dump request (`NLM_F_DUMP`); every reply up to `NLMSG_DONE` is
    /// handed to `each`.
    pub fn dump_each(
        &mut self,
        message: RouteNetlinkMessage,
        each: &mut dyn FnMut(RouteNetlinkMessage),
    ) -> Result<(), KernelError> {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        let mut batch = Batch::default();
        batch.push_message(message, NLM_F_DUMP);
        batch.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.socket
            .send(&batch.buf, 0)
            .map_err(|e| KernelError::io(&e))?;
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
                    NetlinkPayload::InnerMessage(message) => each(message),
                    NetlinkPayload::Done(_) => return Ok(()),
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

    /// [`Self::dump_each`], collected.
    pub fn dump(
        &mut self,
        message: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, KernelError> {
        let mut replies = Vec::new();
        self.dump_each(message, &mut |m| replies.push(m))?;
        Ok(replies)
    }
}

/// `SO_RCVBUFFORCE` where allowed, else `SO_RCVBUF` (capped by the kernel).
pub(crate) fn set_receive_buffer(socket: &Socket, size: usize) -> io::Result<()> {
    if setsockopt(socket, sockopt::RcvBufForce, &size).is_ok() {
        return Ok(());
    }
    socket.set_rx_buf_sz(size)
}

/// The messages of one datagram. One that does not decode is skipped by its
/// length and logged (a kernel and library mismatch); its request then counts
/// as unanswered.
pub(crate) fn messages(
    datagram: &[u8],
) -> Vec<(NetlinkHeader, NetlinkPayload<RouteNetlinkMessage>)> {
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
