//! A byte stream fed to `BgpCodec` in pieces of arbitrary sizes, as TCP may
//! deliver it. Checks that the codec never panics, that every decoded message
//! consumes its octets (so a read loop always ends), and that how the stream
//! is cut makes no difference: the pieces give the same messages, the same
//! error (or, without one, the same leftover octets) as the whole stream at
//! once, and as the stream fed one octet at a time.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bgpd::packet::{BgpCodec, CodecError, DecodeCtx, EncodeCtx, Message, Notification};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

/// What a read loop saw: the messages, then the error that ended the session,
/// or the octets left when the stream ended without one.
#[derive(Debug, PartialEq)]
struct Outcome {
    messages: Vec<Message>,
    error: Option<Notification>,
    leftover: Vec<u8>,
}

/// Decodes everything `buf` holds. Returns false once the session is over.
fn drain(codec: &mut BgpCodec, buf: &mut BytesMut, out: &mut Outcome) -> bool {
    // Every message must consume at least a header's octets, which bounds the
    // loop by the buffer's length.
    loop {
        let before = buf.len();
        match codec.decode(buf) {
            Ok(Some(message)) => {
                let used = before - buf.len();
                assert!(
                    used >= bgpd::packet::HEADER_LEN,
                    "decoded {message:?} but consumed only {used} octets"
                );
                out.messages.push(message);
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed input");
                return true;
            }
            Err(CodecError::Notification(n)) => {
                out.error = Some(n);
                return false;
            }
            Err(other) => panic!("decoding produced a non-protocol error: {other:?}"),
        }
    }
}

fn run(ctx: DecodeCtx, stream: &[u8], cuts: &[usize]) -> Outcome {
    let mut codec = BgpCodec::new(ctx, EncodeCtx::default());
    let mut buf = BytesMut::new();
    let mut out = Outcome {
        messages: Vec::new(),
        error: None,
        leftover: Vec::new(),
    };
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        buf.extend_from_slice(&stream[at..cut]);
        at = cut;
        if !drain(&mut codec, &mut buf, &mut out) {
            // The session is over; what else arrived depends on the cuts.
            return out;
        }
    }
    // The peer closed the connection: whatever is left is a truncated message.
    match codec.decode_eof(&mut buf) {
        Ok(None) => assert!(buf.is_empty()),
        Ok(Some(m)) => panic!("decode_eof found a message drain missed: {m:?}"),
        Err(_) => assert!(!buf.is_empty()),
    }
    out.leftover = buf.to_vec();
    out
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(ctx) = DecodeCtx::arbitrary(&mut u) else {
        return;
    };
    // Up to 16 cut points, as offsets into the stream.
    let Ok(n_cuts) = u.int_in_range(0..=16u8) else {
        return;
    };
    let mut raw_cuts = Vec::new();
    for _ in 0..n_cuts {
        let Ok(c) = u16::arbitrary(&mut u) else {
            return;
        };
        raw_cuts.push(c);
    }
    let stream = u.take_rest();
    let mut cuts: Vec<usize> = raw_cuts
        .into_iter()
        .map(|c| usize::from(c) % (stream.len() + 1))
        .collect();
    cuts.sort_unstable();

    let pieces = run(ctx, stream, &cuts);
    let whole = run(ctx, stream, &[]);
    let octets = (0..stream.len()).map(|i| i + 1).collect::<Vec<_>>();
    let bytewise = if stream.len() <= 512 {
        Some(run(ctx, stream, &octets))
    } else {
        None
    };
    assert_eq!(pieces, whole, "cut at {cuts:?}");
    if let Some(bytewise) = bytewise {
        assert_eq!(bytewise, whole, "fed one octet at a time");
    }

    // Each message the codec framed decodes the same through Message::decode.
    let mut at = 0;
    for message in &whole.messages {
        let len = usize::from(u16::from_be_bytes([stream[at + 16], stream[at + 17]]));
        assert_eq!(
            Message::decode(&stream[at..at + len], &ctx).as_ref(),
            Ok(message)
        );
        at += len;
    }
});
