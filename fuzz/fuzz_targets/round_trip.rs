//! decode → encode → decode. Whatever the codec accepts under a context `d`, it
//! must write back (with the EncodeCtx of the same session shape) in a form it
//! reads back to the same message. Only the RFC 7606 findings of an UPDATE are
//! not compared: the first decode may have dropped what they are about.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bgpd::packet::{DecodeCtx, EncodeCtx, EncodeError, Message};
use bgpd_fuzz::{without_errors, wrap};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(d) = DecodeCtx::arbitrary(&mut u) else {
        return;
    };
    let Ok(shape) = u8::arbitrary(&mut u) else {
        return;
    };
    let rest = u.take_rest();
    // Mostly UPDATE bodies behind a valid header, where the codec does most;
    // also OPEN bodies and whole messages of any type.
    let input = match shape % 4 {
        0 | 1 => wrap(2, rest),
        2 => wrap(1, rest),
        _ => rest.to_vec(),
    };
    let Ok(first) = Message::decode(&input, &d) else {
        return;
    };

    let e = EncodeCtx {
        four_octet_as: d.four_octet_as,
        add_path: d.add_path,
        extended_message: d.extended_message,
    };
    let mut buf = BytesMut::new();
    match first.encode(&e, &mut buf) {
        Ok(()) => {}
        // MP attributes are always written with a two-octet length, and a
        // 2-octet-AS session may get a longer AS4_PATH, so an UPDATE near the
        // limit may no longer fit. Nothing else grows.
        Err(EncodeError::TooLong { len, max }) => {
            assert!(buf.is_empty(), "a failed encode left {} octets", buf.len());
            assert!(
                matches!(first, Message::Update(_)),
                "{len} > {max} for a non-UPDATE: {first:?}"
            );
            return;
        }
    }
    let len = usize::from(u16::from_be_bytes([buf[16], buf[17]]));
    assert_eq!(len, buf.len(), "header length field");

    let second = match Message::decode(&buf, &d) {
        Ok(m) => m,
        Err(n) => panic!(
            "re-encoded message does not decode: {n:?}\nfirst:   {first:?}\nencoded: {}",
            hex(&buf)
        ),
    };
    assert_eq!(
        without_errors(&second),
        without_errors(&first),
        "\ninput:   {}\nencoded: {}",
        hex(&input),
        hex(&buf)
    );
});

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
