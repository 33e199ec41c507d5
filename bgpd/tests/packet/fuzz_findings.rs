//! Inputs cargo-fuzz found (fuzz/README.md, "Findings"), kept as tests: each
//! broke decode-encode-decode on a session without 4-octet AS numbers.

use bgpd::packet::{AttrAction, DecodeCtx, EncodeCtx, Family, FamilySet, Message};

use crate::support::unhex;

fn two_octet() -> DecodeCtx {
    DecodeCtx {
        families: FamilySet::of(&[Family::Ipv4Unicast]),
        ..DecodeCtx::default()
    }
}

fn round_trip(hex: &str) -> (Message, Message) {
    let first = Message::decode(&unhex(hex), &two_octet()).unwrap();
    let bytes = first.to_bytes(&EncodeCtx::default()).unwrap();
    let second = Message::decode(&bytes, &two_octet()).unwrap();
    (first, second)
}

/// AS4_AGGREGATOR holding a 2-octet AS with AS4_PATH: re-encoded, the
/// aggregator must stay AS_TRANS so that the receiver keeps using AS4_PATH
/// (RFC 6793 §4.2.3).
#[test]
fn a_two_octet_as4_aggregator_keeps_as4_path() {
    let (first, second) = round_trip(
        "ffffffffffffffffffffffffffffffff003b020000002440020402015ba0c007065ba00a000001c011060201fa56ea01c012080000fde80a000001",
    );
    assert_eq!(first, second);
    let Message::Update(update) = first else {
        panic!()
    };
    assert_eq!(
        update.attrs.as_path.unwrap().asns().collect::<Vec<_>>(),
        vec![4_200_000_001]
    );
    assert_eq!(update.attrs.aggregator.unwrap().asn, 65000);
}

/// A confederation segment after a sequence is malformed (RFC 5065 §5); it
/// used to absorb AS4_PATH's numbers into the confederation.
#[test]
fn a_confederation_segment_after_a_sequence_is_malformed() {
    for hex in [
        "ffffffffffffffffffffffffffffffff002d020000001640020a02020001000203010003c01106020100011170",
        "ffffffffffffffffffffffffffffffff002f020000001840020c020100010301000302015ba0c01106020100011170",
    ] {
        let Ok(Message::Update(update)) = Message::decode(&unhex(hex), &two_octet()) else { panic!() };
        assert_eq!(update.action(), Some(AttrAction::TreatAsWithdraw), "{hex}");
        assert_eq!(update.errors[0].notification.subcode, 11, "Malformed AS_PATH");
    }
}
