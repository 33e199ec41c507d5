//! A BGP peer written by hand from the codec: it says exactly what a test
//! wants, when it wants (malformed UPDATEs, a second connection while the
//! first is still up, the bits of a Graceful Restart capability).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use bgpd::packet::{
    AsPath, Capability, DecodeCtx, EncodeCtx, Family, FamilySet, Message, Nlri, OpenMessage,
    Origin, PathAttributes, UpdateMessage,
};

/// How long a read waits before the test gives up on bgpd.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

fn decode_ctx() -> DecodeCtx {
    DecodeCtx {
        four_octet_as: true,
        families: FamilySet::of(&[Family::Ipv4Unicast]),
        ..DecodeCtx::default()
    }
}

fn encode_ctx() -> EncodeCtx {
    EncodeCtx {
        four_octet_as: true,
        ..EncodeCtx::default()
    }
}

#[derive(Debug)]
pub struct RawPeer {
    stream: TcpStream,
}

impl RawPeer {
    /// Connects to `to` (from the calling thread's namespace), sends `open`,
    /// reads bgpd's OPEN and KEEPALIVE and confirms: the session is
    /// Established when this returns. Panics on anything else.
    pub fn establish(to: &str, open: OpenMessage) -> Self {
        let mut peer = Self::connect(to);
        peer.send(&Message::Open(open));
        assert!(
            matches!(peer.read(), Some(Message::Open(_))),
            "bgpd answers with its OPEN"
        );
        peer.send(&Message::Keepalive);
        assert_eq!(peer.read(), Some(Message::Keepalive));
        peer
    }

    pub fn connect(to: &str) -> Self {
        let stream = TcpStream::connect(to).unwrap();
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        Self { stream }
    }

    pub fn send(&mut self, message: &Message) {
        self.stream
            .write_all(&message.to_bytes(&encode_ctx()).unwrap())
            .unwrap();
    }

    /// Sends `message`; false once the connection is closed.
    pub fn try_send(&mut self, message: &Message) -> bool {
        self.stream
            .write_all(&message.to_bytes(&encode_ctx()).unwrap())
            .is_ok()
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next message; None once the connection closed.
    pub fn read(&mut self) -> Option<Message> {
        let mut head = [0u8; 19];
        self.stream.read_exact(&mut head).ok()?;
        let len = usize::from(u16::from_be_bytes([head[16], head[17]]));
        let mut message = head.to_vec();
        message.resize(len, 0);
        self.stream.read_exact(&mut message[19..]).ok()?;
        Some(Message::decode(&message, &decode_ctx()).expect("bgpd sends valid messages"))
    }

    /// Every message until bgpd closes the connection.
    pub fn until_closed(&mut self) -> Vec<Message> {
        std::iter::from_fn(|| self.read()).collect()
    }
}

/// An OPEN from AS 65001 (router id 10.0.1.11) with `capabilities` after
/// IPv4 unicast and 4-octet AS.
pub fn open_65001(capabilities: Vec<Capability>) -> OpenMessage {
    let mut caps = vec![
        Capability::Multiprotocol(Family::Ipv4Unicast.into()),
        Capability::FourOctetAs(65001),
    ];
    caps.extend(capabilities);
    OpenMessage::new(65001, 90, Ipv4Addr::new(10, 0, 1, 11), caps)
}

/// An UPDATE from AS 65001 (origin IGP, next hop 10.0.1.11) announcing `nlri`.
pub fn update_65001(nlri: Vec<Nlri>, med: Option<u32>) -> Message {
    Message::Update(UpdateMessage {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence([65001])),
            next_hop: Some(Ipv4Addr::new(10, 0, 1, 11)),
            med,
            ..PathAttributes::default()
        },
        nlri,
        ..UpdateMessage::default()
    })
}

/// A valid announcement of `prefix` from AS 65001, next hop 10.0.1.11.
pub fn announce(prefix: &str) -> Message {
    update_65001(vec![Nlri::new(prefix.parse().unwrap())], None)
}

/// Announcements of every /32 of 10.244.`first`.0 to 10.244.`last`.255,
/// with MED `med`, packed into UPDATEs of at most 700 prefixes.
pub fn flood(first: u8, last: u8, med: u32) -> Vec<Message> {
    let prefixes: Vec<Nlri> = (first..=last)
        .flat_map(|third| (0..=255u8).map(move |fourth| (third, fourth)))
        .map(|(third, fourth)| {
            Nlri::new(ipnet::IpNet::new(Ipv4Addr::new(10, 244, third, fourth).into(), 32).unwrap())
        })
        .collect();
    prefixes
        .chunks(700)
        .map(|chunk| update_65001(chunk.to_vec(), Some(med)))
        .collect()
}
