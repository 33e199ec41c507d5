//! Connections of BGP sessions: one reader and one writer task per
//! connection. These tasks only move bytes and frame messages; every
//! decision is the speaker's, reached through [`Event`]s.
//!
//! The reader decodes: it knows the OPEN this side sent, so when the peer's
//! OPEN arrives it derives the negotiated decode context itself, before it
//! reads the next message. No UPDATE can race a context update.
//!
//! Where connections come from is a [`Network`]'s business: TCP
//! ([`TcpNetwork`]) in bgpd, in-memory pipes in the speaker's replay tests.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;
use tokio_util::task::TaskTracker;

use crate::events::{Event, PeerId, SessionEvent, SessionId};
use crate::packet::{BgpCodec, CodecError, Message, Negotiated, OpenMessage};

pub mod liveness;
mod network;
pub mod sockopt;
mod tcp;
mod writer;

pub use liveness::Liveness;
pub use network::{ConnectTo, Link, Network, Stream};
pub use tcp::{describe_connect_error, TcpNetwork};

/// One established connection: its writer's queue and its reader.
#[derive(Debug)]
pub struct Connection {
    writer: UnboundedSender<Bytes>,
    reader: JoinHandle<()>,
    /// What the reader and writer saw, for timers a busy speaker runs late.
    liveness: Arc<Liveness>,
    pub local: SocketAddr,
}

impl Connection {
    /// Starts the reader and writer of `stream`. `open` is the OPEN this side
    /// sends on it. The writer is tracked by `writers`, so that a stopping
    /// speaker can wait for its last words (a Cease) to go out before the
    /// process ends.
    pub fn start(
        stream: Stream,
        (peer, session): (PeerId, SessionId),
        open: OpenMessage,
        events: UnboundedSender<Event>,
        writers: &TaskTracker,
    ) -> io::Result<Self> {
        let local = stream.local_addr()?;
        let (read, mut write) = stream.into_halves();
        let (writer, queue) = unbounded_channel::<Bytes>();
        let send_hold = writer::send_hold_time(open.hold_time);
        let stalled = events.clone();
        let liveness = Arc::new(Liveness::default());
        let (heard, silence) = (liveness.clone(), liveness.clone());
        writers.spawn(async move {
            match writer::write_queued(queue, &mut write, send_hold, &silence).await {
                // The queue closed: what was queued (a final NOTIFICATION) is out.
                Ok(()) => {
                    let _ = write.shutdown().await;
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    let _ = stalled.send(Event::Session {
                        peer,
                        session,
                        event: SessionEvent::Stalled,
                    });
                }
                // The reader reports a connection that failed.
                Err(_) => {}
            }
        });
        let reader = tokio::spawn(async move {
            let mut frames = FramedRead::new(read, BgpCodec::default());
            let send = |event| {
                events
                    .send(Event::Session {
                        peer,
                        session,
                        event,
                    })
                    .is_ok()
            };
            loop {
                let event = match frames.next().await {
                    Some(Ok(message)) => {
                        heard.heard_now();
                        if let Message::Open(their) = &message {
                            frames.decoder_mut().decode_ctx =
                                Negotiated::new(&open, their).decode_ctx();
                        }
                        SessionEvent::Message(message)
                    }
                    Some(Err(CodecError::Notification(n))) => SessionEvent::Malformed(n),
                    Some(Err(CodecError::Io(e))) => SessionEvent::Closed(tcp::strerror(&e)),
                    Some(Err(e)) => SessionEvent::Closed(e.to_string()),
                    None => SessionEvent::Closed("Connection closed".into()),
                };
                let last = !matches!(event, SessionEvent::Message(_));
                if !send(event) || last {
                    return;
                }
            }
        });
        Ok(Self {
            writer,
            reader,
            liveness,
            local,
        })
    }

    /// What the connection's own tasks saw (see [`liveness`]).
    pub fn liveness(&self) -> &Liveness {
        &self.liveness
    }

    /// Queues encoded messages for the writer. Nothing empty is queued: a
    /// write of it alone would return 0, which reads as a closed peer.
    pub fn send(&self, bytes: Bytes) {
        if !bytes.is_empty() {
            let _ = self.writer.send(bytes);
        }
    }

    /// Stops reading at once; the writer sends what is queued, then closes.
    pub fn close(self) {
        self.reader.abort();
    }
}
