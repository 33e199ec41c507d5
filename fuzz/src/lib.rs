//! Helpers shared by the fuzz targets in `fuzz_targets/`.

use std::net::Ipv4Addr;

use bgpd::packet::{DecodeCtx, Message, Negotiated, Notification, OpenMessage, HEADER_LEN, MARKER};

/// Largest value of the header's Length field.
const MAX_LEN: usize = u16::MAX as usize;

/// Builds a whole message around `body`: marker, the correct length and message
/// type `kind`. Bodies too long for the Length field are cut.
pub fn wrap(kind: u8, body: &[u8]) -> Vec<u8> {
    let body = &body[..body.len().min(MAX_LEN - HEADER_LEN)];
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&((HEADER_LEN + body.len()) as u16).to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
    out
}

/// Runs the accessors a session calls on a decoded message, so that they are
/// fuzzed too. None of them may panic.
pub fn exercise(message: &Message, ctx: &DecodeCtx) {
    let _ = message.kind();
    match message {
        Message::Open(open) => exercise_open(open),
        Message::Update(update) => {
            let _ = update.end_of_rib_family();
            let _ = update.action();
            let _ = update.announced().count();
            let _ = update.withdrawals().count();
            for error in &update.errors {
                let _ = error.to_string();
            }
            let _ = format!("{update:?}");
        }
        Message::Notification(n) => exercise_notification(n),
        Message::Keepalive => {}
        Message::RouteRefresh(rr) => {
            let _ = rr.family();
        }
    }
    // A decoded message fits the session's limit when re-encoded too, or says
    // why not; it never panics.
    let encode_ctx = bgpd::packet::EncodeCtx {
        four_octet_as: ctx.four_octet_as,
        add_path: ctx.add_path,
        extended_message: ctx.extended_message,
    };
    let _ = message.to_bytes(&encode_ctx);
}

pub fn exercise_notification(n: &Notification) {
    let _ = n.to_string();
    let _ = n.describe();
    let _ = n.shutdown_communication();
}

/// What a session does with a peer's OPEN: validate it and negotiate.
pub fn exercise_open(open: &OpenMessage) {
    let _ = open.validate();
    let _ = open.asn();
    let local = OpenMessage::new(
        4_200_000_001,
        90,
        Ipv4Addr::new(10, 0, 0, 1),
        open.capabilities.clone(),
    );
    for (a, b) in [(&local, open), (open, &local), (open, open)] {
        let negotiated = Negotiated::new(a, b);
        let _ = negotiated.decode_ctx();
        let _ = negotiated.encode_ctx();
    }
}

/// A message with the RFC 7606 findings of an UPDATE dropped, for comparing
/// messages that went through different decodes.
pub fn without_errors(message: &Message) -> Message {
    let mut message = message.clone();
    if let Message::Update(update) = &mut message {
        update.errors.clear();
    }
    message
}
