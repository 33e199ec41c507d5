//! A connection's writer: what the speaker queues goes out in vectored
//! writes, a stalled peer is noticed (RFC 9687), and a late speaker's
//! KEEPALIVE is sent for it (see [`super::liveness`]).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc::UnboundedReceiver;
// Tokio's clock, so that tests with a paused clock see the writer's timers.
use tokio::time::Instant;
use tracing::debug;

use super::liveness::{Liveness, KEEPALIVE};

/// Most octets one write takes from the queue.
const GATHER_LIMIT: usize = 256 << 10;

/// Most queued messages one write takes: well under Linux's IOV_MAX (1024);
/// each is usually a whole flush's run of UPDATEs.
const GATHER_SLICES: usize = 64;

/// Writes what the speaker queues until it drops the queue. Whatever is
/// queued by the time a write starts goes in that one vectored write: a
/// reflector's flushes to hundreds of peers then cost a system call per
/// peer, not one per flush per peer, and the UPDATEs that every member of a
/// group shares are never copied per peer.
/// A write that makes no progress for `send_hold` fails with `TimedOut`.
/// When the queue stays empty for longer than the liveness allows, a
/// KEEPALIVE goes out of the writer's own accord.
pub(super) async fn write_queued(
    mut queue: UnboundedReceiver<Bytes>,
    write: &mut (impl AsyncWrite + Unpin),
    send_hold: Duration,
    liveness: &Liveness,
) -> io::Result<()> {
    let mut pending: VecDeque<Bytes> = VecDeque::new();
    let mut last_write = Instant::now();
    loop {
        let keepalive_due = liveness.writer_silence().map(|s| last_write + s);
        let first = tokio::select! {
            biased;
            first = queue.recv() => match first {
                Some(first) => first,
                None => return Ok(()),
            },
            () = sleep_until(keepalive_due) => {
                debug!("the speaker is late: the writer sends the KEEPALIVE");
                Bytes::from_static(&KEEPALIVE)
            }
        };
        let mut gathered = first.len();
        pending.push_back(first);
        while pending.len() < GATHER_SLICES && gathered < GATHER_LIMIT {
            match queue.try_recv() {
                Ok(bytes) => {
                    gathered += bytes.len();
                    pending.push_back(bytes);
                }
                Err(_) => break,
            }
        }
        write_all_within(write, &mut pending, send_hold).await?;
        last_write = Instant::now();
    }
}

/// Sleeps until `at`, or forever when there is none.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// RFC 9687 §3: the send hold time. Twice the hold time this side offers
/// (FRR's choice; eight minutes with Calico's 240 s, the RFC's suggestion),
/// and eight minutes for a session without a hold timer.
pub(super) fn send_hold_time(hold_time: u16) -> Duration {
    match hold_time {
        0 => Duration::from_secs(480),
        secs => Duration::from_secs(2 * u64::from(secs)),
    }
}

/// Writes all of `pending`, emptying it, failing with `TimedOut` when no
/// octet goes out for `send_hold`: a slow peer that keeps reading is never
/// cut off.
async fn write_all_within(
    write: &mut (impl AsyncWrite + Unpin),
    pending: &mut VecDeque<Bytes>,
    send_hold: Duration,
) -> io::Result<()> {
    while !pending.is_empty() {
        // The slices are made on the stack at each poll, not kept in the
        // writer's state: an idle session costs no room for them.
        let write_some = std::future::poll_fn(|cx| {
            let mut slices = [IoSlice::new(&[]); GATHER_SLICES];
            let count = slices
                .iter_mut()
                .zip(pending.iter())
                .map(|(slice, bytes)| *slice = IoSlice::new(bytes))
                .count();
            Pin::new(&mut *write).poll_write_vectored(cx, &slices[..count])
        });
        let written = match tokio::time::timeout(send_hold, write_some).await {
            Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(Ok(written)) => written,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::ErrorKind::TimedOut.into()),
        };
        consume(pending, written);
    }
    Ok(())
}

/// Drops the first `written` octets of `pending`: the messages written
/// whole, then the written part of the one the write stopped in.
fn consume(pending: &mut VecDeque<Bytes>, mut written: usize) {
    while let Some(front) = pending.front_mut() {
        if front.len() > written {
            front.advance(written);
            return;
        }
        written -= front.len();
        pending.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc::unbounded_channel;

    #[test]
    fn a_partial_write_leaves_the_rest_in_order() {
        let mut pending: VecDeque<Bytes> = [&b"abc"[..], b"de", b"fghij"]
            .into_iter()
            .map(Bytes::from_static)
            .collect();
        consume(&mut pending, 4);
        assert_eq!(pending, ["e", "fghij"]);
        consume(&mut pending, 1);
        assert_eq!(pending, ["fghij"]);
        consume(&mut pending, 5);
        assert!(pending.is_empty());
    }

    /// Many messages, 65 MB in all, through a real loopback connection: far
    /// more than its socket buffers hold, so writes stop mid-message. Every
    /// octet arrives, in the order queued, and the writer ends with the queue.
    #[tokio::test]
    async fn the_writer_sends_everything_queued_in_order() {
        use tokio::io::AsyncReadExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
        let (_read, mut write) = client.unwrap().into_split();
        let (mut server, _) = accepted.unwrap();
        let (sender, queue) = unbounded_channel::<Bytes>();
        let mut expected = Vec::new();
        for i in 0..2_000u32 {
            // Sizes from 1 octet to 64 KiB, contents that show misordering.
            let size = 1 + (i as usize * 7919) % (64 << 10);
            let message: Vec<u8> = (0..size).map(|j| (i as usize + j) as u8).collect();
            expected.extend_from_slice(&message);
            sender.send(Bytes::from(message)).unwrap();
        }
        drop(sender);
        let liveness = Liveness::default();
        let writer = tokio::spawn(async move {
            let written = write_queued(queue, &mut write, Duration::from_secs(30), &liveness).await;
            write.shutdown().await.unwrap();
            written
        });
        let mut received = Vec::new();
        server.read_to_end(&mut received).await.unwrap();
        let received_len = received.len();
        writer.await.unwrap().unwrap();
        assert_eq!(received_len, expected.len());
        assert!(received == expected, "the octets arrived out of order");
    }
}
