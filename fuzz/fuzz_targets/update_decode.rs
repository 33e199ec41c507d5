//! The input after the context octets is the body of an UPDATE: a valid header
//! is built around it so that every input reaches the UPDATE decoder (withdrawn
//! routes, RFC 7606 attribute handling, MP_REACH/MP_UNREACH, NLRI).
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
    let message = wrap(2, u.take_rest());
    match Message::decode(&message, &ctx) {
        Ok(m) => {
            assert!(matches!(m, Message::Update(_)), "type 2 decoded as {m:?}");
            exercise(&m, &ctx);
        }
        Err(n) => exercise_notification(&n),
    }
});
