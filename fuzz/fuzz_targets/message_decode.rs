//! Any bytes, decoded as one whole message (header included) under an
//! arbitrary session context. Must never panic.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bgpd::packet::{DecodeCtx, Message};
use bgpd_fuzz::{exercise, exercise_notification};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(ctx) = DecodeCtx::arbitrary(&mut u) else {
        return;
    };
    let message = u.take_rest();
    match Message::decode(message, &ctx) {
        Ok(m) => exercise(&m, &ctx),
        Err(n) => exercise_notification(&n),
    }
});
