//! Malformed input: every case yields the RFC 7606 action and the RFC 4271 §6
//! NOTIFICATION (code, subcode, data) it calls for, and nothing panics.

use bgpd::packet::{
    AttrAction, DecodeCtx, Family, FamilySet, Message, Notification, UpdateMessage,
};
use bytes::Bytes;

use crate::support::{ctx4, decode_update, message, unhex, update_with_attrs};

const ORIGIN: &str = "40 01 01 00";
const EMPTY_PATH: &str = "40 02 00";
const NEXT_HOP: &str = "40 03 04 0a000001";
const NLRI: &str = "1a 0af40100";

/// The attributes of a well-formed IPv4 announcement plus `extra`.
fn with(extra: &str) -> Vec<u8> {
    update_with_attrs(&format!("{ORIGIN} {EMPTY_PATH} {NEXT_HOP} {extra}"), NLRI)
}

fn only_error(update: &UpdateMessage) -> (AttrAction, &Notification) {
    assert_eq!(update.errors.len(), 1, "errors: {:?}", update.errors);
    (update.errors[0].action, &update.errors[0].notification)
}

fn reset(bytes: &[u8], ctx: &DecodeCtx) -> Notification {
    Message::decode(bytes, ctx).expect_err("the session resets")
}

fn data(hex: &str) -> Bytes {
    Bytes::from(unhex(hex))
}

#[test]
fn well_formed_updates_carry_no_errors() {
    let update = decode_update(&with(""), &ctx4());
    assert_eq!(update.errors, vec![]);
    assert_eq!(update.action(), None);
}

#[test]
fn bad_origin_value_is_treat_as_withdraw() {
    let bytes = update_with_attrs(&format!("40 01 01 03 {EMPTY_PATH} {NEXT_HOP}"), NLRI);
    let update = decode_update(&bytes, &ctx4());
    let (action, n) = only_error(&update);
    assert_eq!(action, AttrAction::TreatAsWithdraw);
    assert_eq!(*n, Notification::update(6, data("40 01 01 03")));
    // The prefixes are still there, for the caller to withdraw.
    assert_eq!(update.announced().count(), 1);
}

#[test]
fn bad_lengths_of_mandatory_attributes_are_treat_as_withdraw() {
    for (attrs, bad) in [
        (
            format!("40 01 02 0000 {EMPTY_PATH} {NEXT_HOP}"),
            "40 01 02 0000",
        ),
        (
            format!("{ORIGIN} {EMPTY_PATH} 40 03 05 0a00000100"),
            "40 03 05 0a00000100",
        ),
        (
            format!("{ORIGIN} {EMPTY_PATH} {NEXT_HOP} 80 04 03 000001"),
            "80 04 03 000001",
        ),
        (
            format!("{ORIGIN} {EMPTY_PATH} {NEXT_HOP} 40 05 02 0064"),
            "40 05 02 0064",
        ),
        (
            format!("{ORIGIN} {EMPTY_PATH} {NEXT_HOP} c0 08 03 fde800"),
            "c0 08 03 fde800",
        ),
        (
            format!("{ORIGIN} {EMPTY_PATH} {NEXT_HOP} 80 09 03 0a0000"),
            "80 09 03 0a0000",
        ),
        (
            format!("{ORIGIN} {EMPTY_PATH} {NEXT_HOP} 80 0a 06 0a0000010a00"),
            "80 0a 06 0a0000010a00",
        ),
        (
            format!("{ORIGIN} {EMPTY_PATH} {NEXT_HOP} c0 10 07 00000000000000"),
            "c0 10 07 00000000000000",
        ),
        (
            format!("{ORIGIN} {EMPTY_PATH} {NEXT_HOP} c0 20 08 0000000000000000"),
            "c0 20 08 0000000000000000",
        ),
    ] {
        let update = decode_update(&update_with_attrs(&attrs, NLRI), &ctx4());
        let (action, n) = only_error(&update);
        assert_eq!(action, AttrAction::TreatAsWithdraw, "{bad}");
        assert_eq!(*n, Notification::update(5, data(bad)), "{bad}");
    }
}

#[test]
fn malformed_as_path_is_treat_as_withdraw_without_data() {
    for path in [
        "40 02 02 02 00",
        "40 02 04 07 01 0001",
        "40 02 04 02 02 0001",
        "40 02 03 02 01 00",
    ] {
        let bytes = update_with_attrs(&format!("{ORIGIN} {path} {NEXT_HOP}"), NLRI);
        let update = decode_update(&bytes, &DecodeCtx::default());
        let (action, n) = only_error(&update);
        assert_eq!(action, AttrAction::TreatAsWithdraw, "{path}");
        assert_eq!(*n, Notification::update(11, Bytes::new()), "{path}");
    }
}

#[test]
fn missing_mandatory_attributes_are_treat_as_withdraw() {
    let bytes = update_with_attrs(&format!("{ORIGIN} {EMPTY_PATH}"), NLRI);
    let update = decode_update(&bytes, &ctx4());
    let (action, n) = only_error(&update);
    assert_eq!(action, AttrAction::TreatAsWithdraw);
    assert_eq!(*n, Notification::update(3, data("03")));

    let bytes = update_with_attrs("", NLRI);
    let update = decode_update(&bytes, &ctx4());
    let missing: Vec<_> = update
        .errors
        .iter()
        .map(|e| e.notification.data[0])
        .collect();
    assert_eq!(missing, vec![1, 2, 3]);
}

#[test]
fn withdrawals_need_no_attributes() {
    let update = decode_update(&message(2, "0005 1a0af40100 0000"), &ctx4());
    assert_eq!(update.errors, vec![]);
    assert_eq!(update.withdrawals().count(), 1);
}

#[test]
fn bad_aggregates_are_discarded_and_the_route_kept() {
    let update = decode_update(&with("40 06 01 00"), &ctx4());
    let (action, n) = only_error(&update);
    assert_eq!(action, AttrAction::Discard);
    assert_eq!(n.subcode, 5);
    assert!(!update.attrs.atomic_aggregate);

    let update = decode_update(&with("c0 07 06 fde9 0a000001"), &ctx4());
    assert_eq!(
        only_error(&update).0,
        AttrAction::Discard,
        "6 octets on a 4-octet session"
    );
    assert_eq!(update.attrs.aggregator, None);
    assert_eq!(update.action(), Some(AttrAction::Discard));
}

#[test]
fn repeated_attributes_keep_the_first() {
    let update = decode_update(&with("40 05 04 00000064 40 05 04 000000c8"), &ctx4());
    assert_eq!(only_error(&update).0, AttrAction::Discard);
    assert_eq!(update.attrs.local_pref, Some(100));
}

#[test]
fn repeated_mp_attributes_reset_the_session() {
    let unreach = "90 0f 0003 0002 01";
    let bytes = update_with_attrs(&format!("{unreach} {unreach}"), "");
    assert_eq!(
        reset(&bytes, &ctx4()),
        Notification::malformed_attribute_list()
    );
}

#[test]
fn wrong_flags_are_treat_as_withdraw_with_the_attribute_as_data() {
    let update = decode_update(&with("c0 05 04 00000064"), &ctx4());
    let (action, n) = only_error(&update);
    assert_eq!(action, AttrAction::TreatAsWithdraw);
    assert_eq!(*n, Notification::update(4, data("c0 05 04 00000064")));
    assert_eq!(update.attrs.local_pref, None);
}

#[test]
fn wrong_flags_on_an_mp_attribute_reset_the_session() {
    let bytes = update_with_attrs("c0 0f 03 0002 01", "");
    assert_eq!(
        reset(&bytes, &ctx4()),
        Notification::update(4, data("c0 0f 03 0002 01"))
    );
}

#[test]
fn an_attribute_overrunning_the_list() {
    // The MED claims 8 octets where 4 remain.
    let bytes = with("80 04 08 00000001");
    let ipv4_only = DecodeCtx {
        four_octet_as: true,
        ..DecodeCtx::default()
    };
    let update = decode_update(&bytes, &ipv4_only);
    let (action, n) = only_error(&update);
    assert_eq!(action, AttrAction::TreatAsWithdraw);
    assert_eq!(*n, Notification::malformed_attribute_list());
    // With IPv6 negotiated an MP_REACH_NLRI could hide behind it: reset (RFC 7606 §4).
    assert_eq!(
        reset(&bytes, &ctx4()),
        Notification::malformed_attribute_list()
    );
}

#[test]
fn inconsistent_field_lengths_reset_the_session() {
    assert_eq!(
        reset(&message(2, "0009 1a0af40100 0000"), &ctx4()),
        Notification::malformed_attribute_list()
    );
    assert_eq!(
        reset(&message(2, "0000 0010 40010100"), &ctx4()),
        Notification::malformed_attribute_list()
    );
    // Shorter than any UPDATE: the header check refuses it first.
    assert_eq!(
        reset(&message(2, "0000"), &ctx4()),
        Notification::bad_message_length(21)
    );
}

#[test]
fn unparseable_nlri_resets_with_invalid_network_field() {
    let overlong = update_with_attrs(
        &format!("{ORIGIN} {EMPTY_PATH} {NEXT_HOP}"),
        "21 0a000001 00",
    );
    assert_eq!(
        reset(&overlong, &ctx4()),
        Notification::invalid_network_field()
    );
    let truncated = message(2, "0002 1a0a 0000");
    assert_eq!(
        reset(&truncated, &ctx4()),
        Notification::invalid_network_field()
    );
}

#[test]
fn malformed_mp_reach_disables_its_family() {
    // An IPv6 next hop of 5 octets.
    let bytes = update_with_attrs(
        &format!("90 0e 000a 0002 01 05 0000000000 00 {ORIGIN} {EMPTY_PATH}"),
        "",
    );
    let update = decode_update(&bytes, &ctx4());
    assert_eq!(
        update.action(),
        Some(AttrAction::AfiSafiDisable { afi: 2, safi: 1 })
    );
    assert_eq!(update.errors[0].notification.subcode, 9);

    // Too short to name a family: nothing to disable, so reset.
    let bytes = update_with_attrs("90 0e 0002 0002", "");
    assert_eq!(reset(&bytes, &ctx4()).subcode, 9);
}

#[test]
fn mp_reach_of_a_family_podroute_does_not_speak_is_discarded() {
    let bytes = update_with_attrs(
        &format!("90 0e 0009 0019 41 04 0a000001 00 {ORIGIN} {EMPTY_PATH}"),
        "",
    );
    let update = decode_update(&bytes, &ctx4());
    assert_eq!(only_error(&update).0, AttrAction::Discard);
    assert_eq!(update.attrs.mp_reach, None);
}

/// LOCAL_PREF decodes whatever the peer (RFC 7606 §7.5's discard for an
/// external one is import's: policy's tests).
#[test]
fn local_pref_decodes_as_sent() {
    let update = decode_update(&with("40 05 04 00000064"), &ctx4());
    assert_eq!(update.attrs.local_pref, Some(100));
    assert_eq!(update.errors, vec![]);
}

#[test]
fn unknown_attributes() {
    // Well-known but unknown: treat-as-withdraw with Unrecognized Well-known Attribute.
    let update = decode_update(&with("40 63 01 00"), &ctx4());
    let (action, n) = only_error(&update);
    assert_eq!((action, n.subcode), (AttrAction::TreatAsWithdraw, 2));
    assert_eq!(n.data, data("40 63 01 00"));
    // Optional non-transitive: quietly ignored.
    let update = decode_update(&with("80 63 01 00"), &ctx4());
    assert_eq!((update.errors.len(), update.attrs.unknown.len()), (0, 0));
    // Optional transitive: kept, Partial set, extended length dropped from the flags.
    let update = decode_update(&with("d0 63 0001 07"), &ctx4());
    assert_eq!(update.attrs.unknown[0].flags, 0xe0);
    assert_eq!(update.attrs.unknown[0].value, data("07"));
}

#[test]
fn as4_attributes() {
    let two_octet = DecodeCtx {
        four_octet_as: false,
        ..ctx4()
    };
    let path = "40 02 04 02 01 5ba0";
    // A malformed AS4_PATH is discarded and AS_PATH used as it is (RFC 6793 §6).
    let bytes = update_with_attrs(&format!("{ORIGIN} {path} {NEXT_HOP} c0 11 02 02 00"), NLRI);
    let update = decode_update(&bytes, &two_octet);
    assert_eq!(only_error(&update).0, AttrAction::Discard);
    assert_eq!(
        update.attrs.as_path.unwrap().asns().collect::<Vec<_>>(),
        vec![23456]
    );
    // AS4_PATH with a confederation segment is malformed too.
    let bytes = update_with_attrs(
        &format!("{ORIGIN} {path} {NEXT_HOP} c0 11 06 03 01 0000fde9"),
        NLRI,
    );
    assert_eq!(
        only_error(&decode_update(&bytes, &two_octet)).0,
        AttrAction::Discard
    );
    // Between two 4-octet speakers AS4_PATH means nothing and is dropped.
    let as4 = "c0 11 06 02 01 fa56ea01";
    let bytes = update_with_attrs(
        &format!("{ORIGIN} 40 02 06 02 01 0000fde9 {NEXT_HOP} {as4}"),
        NLRI,
    );
    let update = decode_update(&bytes, &ctx4());
    assert_eq!(
        update.attrs.as_path.unwrap().asns().collect::<Vec<_>>(),
        vec![65001]
    );
    // An AGGREGATOR that is not AS_TRANS means an old speaker aggregated:
    // AS4_PATH is ignored (RFC 6793 §4.2.3).
    let bytes = update_with_attrs(
        &format!("{ORIGIN} {path} {NEXT_HOP} c0 07 06 fde9 0a000001 {as4}"),
        NLRI,
    );
    let update = decode_update(&bytes, &two_octet);
    assert_eq!(
        update.attrs.as_path.unwrap().asns().collect::<Vec<_>>(),
        vec![23456]
    );
}

#[test]
fn the_strongest_action_wins() {
    let update = decode_update(&with("40 06 01 00 c0 08 03 000000"), &ctx4());
    assert_eq!(update.errors.len(), 2);
    assert_eq!(update.action(), Some(AttrAction::TreatAsWithdraw));
}

#[test]
fn header_errors() {
    let mut bytes = message(4, "");
    bytes[0] = 0;
    assert_eq!(
        reset(&bytes, &ctx4()),
        Notification::header(1, Bytes::new())
    );
    assert_eq!(
        reset(&message(9, ""), &ctx4()),
        Notification::header(3, data("09"))
    );
    assert_eq!(
        reset(&message(4, "00"), &ctx4()),
        Notification::bad_message_length(20)
    );
    assert_eq!(
        reset(&message(3, "06"), &ctx4()),
        Notification::bad_message_length(20)
    );
    // A length field that disagrees with the frame.
    let mut bytes = message(4, "");
    bytes.push(0);
    assert_eq!(reset(&bytes, &ctx4()), Notification::bad_message_length(20));
    assert_eq!(
        reset(&[0xff; 10], &ctx4()),
        Notification::bad_message_length(10)
    );
}

#[test]
fn open_errors() {
    // Optional parameter type 1 (authentication, deprecated): unsupported.
    let bytes = message(1, "04 fde9 005a c0000201 04 01 02 0000");
    assert_eq!(reset(&bytes, &ctx4()), Notification::open(4, Bytes::new()));
    // A Multiprotocol capability of 3 octets: malformed, subcode 0.
    let bytes = message(1, "04 fde9 005a c0000201 07 02 05 01 03 000101");
    assert_eq!(reset(&bytes, &ctx4()), Notification::open(0, Bytes::new()));
    // Parameters shorter than their length says.
    let bytes = message(1, "04 fde9 005a c0000201 09 02 02 0200");
    assert_eq!(reset(&bytes, &ctx4()), Notification::open(0, Bytes::new()));
    // An ADD-PATH with Send/Receive 7 is not understood, so ignored (RFC 7911 §4).
    let bytes = message(1, "04 fde9 005a c0000201 08 02 06 45 04 0001 01 07");
    let Ok(Message::Open(open)) = Message::decode(&bytes, &ctx4()) else {
        panic!()
    };
    assert!(matches!(
        open.capabilities[0],
        bgpd::packet::Capability::Unknown { code: 69, .. }
    ));
}

#[test]
fn route_refresh_errors() {
    // RFC 7313 §5: a BoRR of the wrong length; the Data is the whole message.
    let bytes = message(5, "0001 01 01 00");
    assert_eq!(
        reset(&bytes, &ctx4()),
        Notification::new(7, 1, Bytes::from(bytes.clone()))
    );
    let bytes = message(5, "0001 00 01 00");
    assert_eq!(reset(&bytes, &ctx4()), Notification::bad_message_length(24));
}

#[test]
fn add_path_per_family() {
    // ADD-PATH negotiated for IPv6 only: IPv4 NLRI carry no Path Identifier.
    let ctx = DecodeCtx {
        add_path: FamilySet::of(&[Family::Ipv6Unicast]),
        ..ctx4()
    };
    let update = decode_update(&with(""), &ctx);
    assert_eq!(update.nlri[0].path_id, None);
}
