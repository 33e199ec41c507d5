//! Any octets as a received BFD Control packet (RFC 5880 §4.1): decoding
//! never panics, and what it accepts encodes to a packet that decodes the
//! same.
#![no_main]

use bgpd::bfd::packet::ControlPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = ControlPacket::decode(data) {
        let again = ControlPacket::decode(&packet.encode()).expect("an encoded packet decodes");
        assert_eq!(again, packet);
    }
});
