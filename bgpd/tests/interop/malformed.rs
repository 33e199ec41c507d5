//! A raw peer sends malformed UPDATEs (RFC 7606): treat-as-withdraw keeps the
//! session and withdraws the routes; what must reset the session resets it
//! with the NOTIFICATION RFC 4271 §6.3 names. GoBGP, an iBGP peer of bgpd,
//! shows what bgpd holds from the raw peer.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use bgpd::packet::{
    AsPath, Capability, DecodeCtx, EncodeCtx, Family, FamilySet, Message, Nlri, Notification,
    OpenMessage, Origin, PathAttributes, UpdateMessage,
};
use ipnet::IpNet;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::Speaker;
use testnets::{require_privileges, wait_for, Poll};

use crate::support::{lan, node_config, start_bgpd, CONVERGE};

const GOBGP: &str = "[global.config]
  as = 64512
  router-id = \"10.0.1.12\"
[[neighbors]]
  [neighbors.config]
    neighbor-address = \"10.0.1.10\"
    peer-as = 64512
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = \"ipv4-unicast\"
";

fn ctx() -> DecodeCtx {
    DecodeCtx {
        four_octet_as: true,
        families: FamilySet::of(&[Family::Ipv4Unicast]),
        ..DecodeCtx::default()
    }
}

fn read_message(stream: &mut TcpStream) -> Option<Message> {
    let mut head = [0u8; 19];
    stream.read_exact(&mut head).ok()?;
    let len = usize::from(u16::from_be_bytes([head[16], head[17]]));
    let mut message = head.to_vec();
    message.resize(len, 0);
    stream.read_exact(&mut message[19..]).ok()?;
    Some(Message::decode(&message, &ctx()).expect("bgpd sends valid messages"))
}

fn send(stream: &mut TcpStream, message: &Message) {
    let enc = EncodeCtx {
        four_octet_as: true,
        ..EncodeCtx::default()
    };
    stream.write_all(&message.to_bytes(&enc).unwrap()).unwrap();
}

/// A valid announcement of `prefix` from AS 65001.
fn announce(prefix: &str) -> Message {
    Message::Update(UpdateMessage {
        attrs: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence([65001])),
            next_hop: Some(Ipv4Addr::new(10, 0, 1, 11)),
            ..PathAttributes::default()
        },
        nlri: vec![Nlri::new(prefix.parse().unwrap())],
        ..UpdateMessage::default()
    })
}

/// An UPDATE body as raw bytes, wrapped in a header.
fn raw_update(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    let mut message = vec![0xff; 16];
    message.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    message.push(2);
    message.extend_from_slice(&body);
    message
}

fn has(go: &GoBgp, prefix: &str, present: bool) {
    let prefix: IpNet = prefix.parse().unwrap();
    wait_for(
        &format!("{prefix} present={present} at GoBGP"),
        CONVERGE,
        || {
            let received = go.received()?;
            Ok(if received.contains(&prefix) == present {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("{received:?}"))
            })
        },
    )
    .unwrap();
}

#[test]
fn malformed_updates_get_rfc7606_handling() {
    require_privileges!();
    let net = lan("bgpd-malformed", 3);
    let config = node_config(
        "n0",
        "10.0.1.10",
        "10.244.0.0/26",
        &[
            ("10.0.1.11", 65001, "passive = true"),
            ("10.0.1.12", 64512, ""),
        ],
    );
    let _bgpd = start_bgpd(net.host("n0"), &config);
    let go = GoBgp::start(net.host("n2"), GOBGP).unwrap();
    go.wait_established(1, CONVERGE).unwrap();

    net.host("n1")
        .ns()
        .enter(|| {
            let mut stream = TcpStream::connect("10.0.1.10:179").unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let caps = vec![Capability::Multiprotocol(Family::Ipv4Unicast.into())];
            send(&mut stream, &Message::Open(OpenMessage::new(65001, 90, Ipv4Addr::new(10, 0, 1, 11), caps)));
            assert!(matches!(read_message(&mut stream), Some(Message::Open(open)) if open.asn() == 64512));
            send(&mut stream, &Message::Keepalive);
            assert_eq!(read_message(&mut stream), Some(Message::Keepalive));

            send(&mut stream, &announce("10.244.21.0/26"));
            has(&go, "10.244.21.0/26", true);

            // ORIGIN 7 (RFC 7606 §7.1): treat-as-withdraw; the session stays.
            let bad_origin = raw_update(
                &[0x40, 1, 1, 7, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, 0x40, 3, 4, 10, 0, 1, 11],
                &[26, 10, 244, 21, 0],
            );
            stream.write_all(&bad_origin).unwrap();
            has(&go, "10.244.21.0/26", false);
            send(&mut stream, &announce("10.244.22.0/26"));
            has(&go, "10.244.22.0/26", true);

            // A prefix of 33 bits (RFC 7606 §5.3): session reset with
            // UPDATE Message Error / Invalid Network Field.
            let bad_nlri = raw_update(&[0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 10, 0, 1, 11], &[33, 10, 244, 23, 0, 0]);
            stream.write_all(&bad_nlri).unwrap();
            let reply = std::iter::from_fn(|| read_message(&mut stream)).find(|m| matches!(m, Message::Notification(_)));
            assert_eq!(reply, Some(Message::Notification(Notification::invalid_network_field())));
            assert_eq!(read_message(&mut stream), None, "the connection closes");
            // The session's routes go with it.
            has(&go, "10.244.22.0/26", false);
            Ok(())
        })
        .unwrap();
}
