//! Framing a byte stream with `BgpCodec` (RFC 4271 §4.1, §6.1).

use bgpd::packet::{BgpCodec, CodecError, EncodeCtx, Message, Notification};
use bytes::BytesMut;
use futures::StreamExt;
use tokio_util::codec::{Decoder, Encoder, FramedRead};

use crate::support::{enc4, message};

fn stream() -> (Vec<u8>, Vec<Message>) {
    let keepalive = message(4, "");
    let update = message(2, "0005 1a0af40100 0000");
    let notification = message(3, "04 00");
    let bytes = [
        keepalive.clone(),
        update.clone(),
        keepalive.clone(),
        notification.clone(),
    ]
    .concat();
    let ctx = Default::default();
    let messages = [keepalive.clone(), update, keepalive, notification]
        .iter()
        .map(|m| Message::decode(m, &ctx).unwrap())
        .collect();
    (bytes, messages)
}

#[test]
fn messages_split_at_every_byte_come_out_whole() {
    let (bytes, want) = stream();
    let mut codec = BgpCodec::default();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for &byte in &bytes {
        buf.extend_from_slice(&[byte]);
        while let Some(message) = codec.decode(&mut buf).unwrap() {
            got.push(message);
        }
    }
    assert_eq!(got, want);
    assert!(buf.is_empty());
}

#[tokio::test]
async fn framed_read_over_an_async_reader() {
    let (bytes, want) = stream();
    let got: Vec<_> = FramedRead::new(&bytes[..], BgpCodec::default())
        .map(|m| m.expect("valid stream"))
        .collect()
        .await;
    assert_eq!(got, want);
}

#[test]
fn a_bad_header_is_refused_before_its_body_arrives() {
    let mut head = message(2, "0000 0000");
    head[5] = 0;
    head[16..18].copy_from_slice(&4000u16.to_be_bytes());
    let mut buf = BytesMut::from(&head[..19]);
    match BgpCodec::default().decode(&mut buf) {
        Err(CodecError::Notification(n)) => assert_eq!((n.code, n.subcode), (1, 1)),
        other => panic!("expected Connection Not Synchronized, got {other:?}"),
    }
}

#[test]
fn a_partial_header_waits() {
    let mut buf = BytesMut::from(&message(4, "")[..18]);
    assert!(BgpCodec::default().decode(&mut buf).unwrap().is_none());
    assert_eq!(buf.len(), 18);
}

#[test]
fn errors_in_the_body_are_notifications() {
    let mut buf = BytesMut::from(&message(5, "0001 01 01 00")[..]);
    match BgpCodec::default().decode(&mut buf) {
        Err(CodecError::Notification(Notification {
            code: 7,
            subcode: 1,
            ..
        })) => {}
        other => panic!("expected a ROUTE-REFRESH error, got {other:?}"),
    }
}

#[test]
fn encoder_writes_messages_and_passes_pre_encoded_bytes() {
    let mut codec = BgpCodec::new(Default::default(), enc4());
    let mut out = BytesMut::new();
    codec.encode(&Message::Keepalive, &mut out).unwrap();
    let shared = Message::Keepalive.to_bytes(&EncodeCtx::default()).unwrap();
    codec.encode(shared, &mut out).unwrap();
    assert_eq!(&out[..], &[message(4, ""), message(4, "")].concat()[..]);
}
