//! Helpers shared by the codec tests.

use bgpd::packet::{DecodeCtx, EncodeCtx, Family, FamilySet, Message, UpdateMessage};

/// Hex with whitespace and `|` separators allowed, for readable vectors.
pub fn unhex(text: &str) -> Vec<u8> {
    let clean: String = text.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    hex::decode(clean).expect("test vector is valid hex")
}

/// A whole message: marker, length, `kind`, then the body given in hex.
pub fn message(kind: u8, body_hex: &str) -> Vec<u8> {
    let body = unhex(body_hex);
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    out.push(kind);
    out.extend_from_slice(&body);
    out
}

/// An UPDATE carrying only the given path attributes and IPv4 NLRI.
pub fn update_with_attrs(attrs_hex: &str, nlri_hex: &str) -> Vec<u8> {
    let attrs = unhex(attrs_hex);
    let body = format!(
        "0000 {:04x} {} {}",
        attrs.len(),
        hex::encode(&attrs),
        nlri_hex
    );
    message(2, &body)
}

pub fn both_families() -> FamilySet {
    FamilySet::of(&Family::ALL)
}

/// A session with 4-octet AS numbers, both families, no ADD-PATH.
pub fn ctx4() -> DecodeCtx {
    DecodeCtx {
        four_octet_as: true,
        families: both_families(),
        ..DecodeCtx::default()
    }
}

pub fn enc4() -> EncodeCtx {
    EncodeCtx {
        four_octet_as: true,
        ..EncodeCtx::default()
    }
}

pub fn decode_update(bytes: &[u8], ctx: &DecodeCtx) -> UpdateMessage {
    match Message::decode(bytes, ctx) {
        Ok(Message::Update(update)) => update,
        other => panic!("expected an UPDATE, got {other:?}"),
    }
}

/// Asserts that `bytes` decodes to `want` under `dctx` and that `want` encodes
/// back to exactly `bytes` under `ectx`.
pub fn assert_both_ways(bytes: &[u8], want: &Message, dctx: &DecodeCtx, ectx: &EncodeCtx) {
    let got = Message::decode(bytes, dctx).expect("vector decodes");
    assert_eq!(&got, want, "decode");
    let encoded = want.to_bytes(ectx).expect("vector encodes");
    assert_eq!(hex::encode(&encoded), hex::encode(bytes), "encode");
}

pub fn net(text: &str) -> ipnet::IpNet {
    text.parse().expect("test prefix is valid")
}
