//! The input after the context octets is the body of an OPEN, wrapped in a
//! valid header: optional parameters (RFC 9072 extended length included),
//! capabilities, validation and capability negotiation.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bgpd::packet::{DecodeCtx, Message};
use bgpd_fuzz::{exercise, exercise_notification, wrap};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(ctx) = DecodeCtx::arbitrary(&mut u) else {
        return;
    };
    let message = wrap(1, u.take_rest());
    match Message::decode(&message, &ctx) {
        Ok(m) => {
            assert!(matches!(m, Message::Open(_)), "type 1 decoded as {m:?}");
            exercise(&m, &ctx);
        }
        Err(n) => exercise_notification(&n),
    }
});
