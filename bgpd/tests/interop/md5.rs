//! TCP MD5 signatures (RFC 2385) with BIRD 2: a matching password brings
//! the session up, in either direction; a wrong one, or none, never does,
//! and bgpd says why as BIRD would; a reload with the right password
//! brings it up.

use std::time::Duration;

use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::{SessionState, Speaker};
use testnets::{require_privileges, wait_for, Poll};

use crate::support::{lan, node_config, peer_state, start_bgpd, CONVERGE};

/// BIRD on n`host`, AS 6500`host`, with `password` if given; `passive`
/// waits for bgpd to connect.
fn bird(host: u8, password: Option<&str>, passive: bool) -> String {
    let password = password
        .map(|p| format!("password \"{p}\";"))
        .unwrap_or_default();
    let passive = if passive { "passive on;" } else { "" };
    format!(
        "router id 10.0.1.1{host};
protocol device {{ }}
protocol bgp bgpd {{
  local 10.0.1.1{host} as 6500{host};
  neighbor 10.0.1.10 as 64512;
  {password} {passive}
  connect delay time 0;
  connect retry time 1;
  ipv4 {{ import all; export none; }};
}}
"
    )
}

fn config(n3_password: &str) -> String {
    node_config(
        "n0",
        "10.0.1.10",
        "10.244.0.0/26",
        &[
            // BIRD connects to bgpd's listener.
            ("10.0.1.11", 65001, "password = \"s3cret\"\npassive = true"),
            // bgpd connects to BIRD.
            (
                "10.0.1.12",
                65002,
                "password = \"s3cret\"\nconnect_retry_time = 2",
            ),
            (
                "10.0.1.13",
                65003,
                &format!("password = \"{n3_password}\"\nconnect_retry_time = 2"),
            ),
        ],
    )
}

#[test]
fn sessions_are_signed_and_a_wrong_password_keeps_one_down() {
    require_privileges!();
    let net = lan("md5", 4);
    let mut bgpd = start_bgpd(net.host("n0"), &config("not it"));
    let listened = Bird::start(
        net.host("n1"),
        BirdVersion::V2,
        &bird(1, Some("s3cret"), false),
    )
    .unwrap();
    let connected = Bird::start(
        net.host("n2"),
        BirdVersion::V2,
        &bird(2, Some("s3cret"), true),
    )
    .unwrap();
    let wrong = Bird::start(
        net.host("n3"),
        BirdVersion::V2,
        &bird(3, Some("s3cret"), true),
    )
    .unwrap();
    listened.wait_established(1, CONVERGE).unwrap();
    connected.wait_established(1, CONVERGE).unwrap();

    // The wrong password: the peer's kernel drops bgpd's SYNs unanswered.
    let error = wait_for("bgpd to give up connecting to n3", CONVERGE, || {
        let (state, error) = peer_state(&bgpd, "10.0.1.13");
        Ok(if !error.is_empty() {
            Poll::Ready((state, error))
        } else {
            Poll::Pending(format!("{state:?}"))
        })
    })
    .unwrap();
    assert_ne!(error.0, SessionState::Established);
    assert_eq!(error.1, "Socket: Connection timed out");
    assert_ne!(
        wrong.sessions().unwrap()[0].state,
        SessionState::Established
    );

    // An unsigned connection to a peer with a password is dropped too.
    let unsigned = net.host("n3").exec(
        "timeout",
        ["3", "bash", "-c", "exec 3<>/dev/tcp/10.0.1.10/179"],
    );
    assert!(
        unsigned.is_err(),
        "an unsigned connection from n3 was accepted"
    );

    // The right password, by reload: only that peer restarts, and comes up.
    bgpd.reload(&config("s3cret")).unwrap();
    wrong
        .wait_established(1, CONVERGE + Duration::from_secs(5))
        .unwrap();
    assert_eq!(peer_state(&bgpd, "10.0.1.11").0, SessionState::Established);
}
