//! Tests of the wire codec through its public API: byte vectors both ways,
//! RFC 7606 cases, vectors captured from real peers, framing, packing, and
//! property tests.

#![allow(
    clippy::unwrap_used,
    reason = "a test that cannot build its input fails loudly"
)]

mod captured;
mod framing;
mod fuzz_findings;
mod packer;
mod properties;
mod rfc7606;
mod support;
mod vectors;
