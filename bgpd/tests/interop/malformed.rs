//! A raw peer sends malformed UPDATEs (RFC 7606): treat-as-withdraw keeps the
//! session and withdraws the routes; what must reset the session resets it
//! with the NOTIFICATION RFC 4271 §6.3 names. GoBGP, an iBGP peer of bgpd,
//! shows what bgpd holds from the raw peer.

use bgpd::packet::{Message, Notification};
use ipnet::IpNet;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::Speaker;
use testnets::{require_privileges, wait_for, Poll};

use crate::raw_peer::{announce, open_65001, RawPeer};
use crate::support::{gobgp_config, lan, node_config, start_bgpd, CONVERGE};

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
    let gobgp = gobgp_config(64512, "10.0.1.12", false);
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
    let go = GoBgp::start(net.host("n2"), &gobgp).unwrap();
    go.wait_established(1, CONVERGE).unwrap();

    net.host("n1")
        .ns()
        .enter(|| {
            let mut peer = RawPeer::establish("10.0.1.10:179", open_65001(Vec::new()));
            peer.send(&announce("10.244.21.0/26"));
            has(&go, "10.244.21.0/26", true);

            // ORIGIN 7 (RFC 7606 §7.1): treat-as-withdraw; the session stays.
            let bad_origin = raw_update(
                &[
                    0x40, 1, 1, 7, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, 0x40, 3, 4, 10, 0, 1, 11,
                ],
                &[26, 10, 244, 21, 0],
            );
            peer.send_raw(&bad_origin);
            has(&go, "10.244.21.0/26", false);
            peer.send(&announce("10.244.22.0/26"));
            has(&go, "10.244.22.0/26", true);

            // A prefix of 33 bits (RFC 7606 §5.3): session reset with
            // UPDATE Message Error / Invalid Network Field.
            let bad_nlri = raw_update(
                &[0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4, 10, 0, 1, 11],
                &[33, 10, 244, 23, 0, 0],
            );
            peer.send_raw(&bad_nlri);
            let reply = peer.until_closed();
            assert_eq!(
                reply.iter().find(|m| matches!(m, Message::Notification(_))),
                Some(&Message::Notification(Notification::invalid_network_field())),
                "bgpd says why, and closes"
            );
            // The session's routes go with it.
            has(&go, "10.244.22.0/26", false);
            Ok(())
        })
        .unwrap();
}
