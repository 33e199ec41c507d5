use std::net::Ipv4Addr;

use super::*;
use crate::packet::{Family, UpdateMessage};

fn config(passive: bool) -> FsmConfig {
    FsmConfig {
        local_as: 64512,
        remote_as: 64512,
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        hold_time: 240,
        keepalive_time: None,
        connect_retry: 5,
        connect_delay: 2,
        error_wait: (5, 30),
        passive,
        capabilities: vec![Capability::Multiprotocol(Family::Ipv4Unicast.into())],
    }
}

fn peer_open(asn: u32, hold: u16, id: [u8; 4]) -> Message {
    Message::Open(OpenMessage::new(
        asn,
        hold,
        Ipv4Addr::from(id),
        vec![Capability::Multiprotocol(Family::Ipv4Unicast.into())],
    ))
}

fn sent(out: &[Output]) -> Vec<&Message> {
    out.iter()
        .filter_map(|o| {
            if let Output::Send(m) = o {
                Some(m)
            } else {
                None
            }
        })
        .collect()
}

fn armed(out: &[Output], timer: Timer) -> Option<u16> {
    out.iter().rev().find_map(|o| match o {
        Output::Arm(t, secs) if *t == timer => Some(*secs),
        _ => None,
    })
}

/// Start, connect, exchange OPENs and KEEPALIVEs.
fn established(passive: bool) -> Fsm {
    let mut fsm = Fsm::new(config(passive));
    fsm.process(Input::Start);
    fsm.process(Input::TcpConnected);
    fsm.process(Input::Message(peer_open(64512, 90, [10, 0, 0, 2])));
    let out = fsm.process(Input::Message(Message::Keepalive));
    assert!(out.iter().any(|o| matches!(o, Output::Established(_))));
    assert_eq!(fsm.state(), State::Established);
    fsm
}

#[test]
fn active_start_connects_after_the_connect_delay() {
    let mut fsm = Fsm::new(config(false));
    let out = fsm.process(Input::Start);
    assert_eq!(fsm.state(), State::Active);
    assert_eq!(armed(&out, Timer::ConnectRetry), Some(2));
    let out = fsm.process(Input::ConnectRetryTimerExpires);
    assert_eq!(fsm.state(), State::Connect);
    assert!(out.contains(&Output::Connect));
    assert_eq!(armed(&out, Timer::ConnectRetry), Some(5));
}

#[test]
fn a_connect_delay_of_zero_connects_at_start_but_not_after_a_cease() {
    let mut cfg = config(false);
    cfg.connect_delay = 0;
    let mut fsm = Fsm::new(cfg);
    let out = fsm.process(Input::Start);
    assert_eq!(fsm.state(), State::Connect);
    assert!(out.contains(&Output::Connect));
    assert_eq!(armed(&out, Timer::ConnectRetry), Some(5));
    // The connection closes before OPEN: back to Active, and the next
    // attempt waits a second at least.
    fsm.process(Input::TcpConnected);
    let out = fsm.process(Input::TcpFails {
        reason: "reset".into(),
    });
    assert!(!out.contains(&Output::Connect), "{out:?}");
}

#[test]
fn passive_start_only_listens() {
    let mut fsm = Fsm::new(config(true));
    let out = fsm.process(Input::Start);
    assert_eq!(fsm.state(), State::Active);
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Connect | Output::Arm(..))));
    // A failed incoming connection does not make a passive peer connect: it
    // listens again.
    fsm.process(Input::TcpConnected);
    let out = fsm.process(Input::TcpFails {
        reason: "reset".into(),
    });
    assert_eq!(fsm.state(), State::Active);
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Connect | Output::Arm(Timer::ConnectRetry, _))));
}

#[test]
fn a_refused_connection_retries() {
    let mut fsm = Fsm::new(config(false));
    fsm.process(Input::Start);
    fsm.process(Input::ConnectRetryTimerExpires);
    let out = fsm.process(Input::TcpFails {
        reason: "Connection refused".into(),
    });
    assert_eq!(fsm.state(), State::Active);
    assert_eq!(armed(&out, Timer::ConnectRetry), Some(5));
}

#[test]
fn open_exchange_reaches_established_with_negotiated_timers() {
    let mut fsm = Fsm::new(config(false));
    fsm.process(Input::Start);
    fsm.process(Input::ConnectRetryTimerExpires);
    let out = fsm.process(Input::TcpConnected);
    assert!(
        matches!(sent(&out)[..], [Message::Open(open)] if open.hold_time == 240 && open.asn() == 64512)
    );
    assert_eq!(armed(&out, Timer::Hold), Some(240));
    assert_eq!(fsm.state(), State::OpenSent);

    let out = fsm.process(Input::Message(peer_open(64512, 90, [10, 0, 0, 2])));
    assert_eq!(sent(&out), vec![&Message::Keepalive]);
    assert_eq!(
        (armed(&out, Timer::Hold), armed(&out, Timer::Keepalive)),
        (Some(90), Some(30))
    );
    assert_eq!(fsm.state(), State::OpenConfirm);
    assert_eq!(fsm.peer_id(), Some(Ipv4Addr::new(10, 0, 0, 2)));

    let out = fsm.process(Input::Message(Message::Keepalive));
    let Some(Output::Established(negotiated)) =
        out.iter().find(|o| matches!(o, Output::Established(_)))
    else {
        panic!("{out:?}")
    };
    assert_eq!(negotiated.hold_time, 90);
    assert!(out.contains(&Output::StateChanged {
        from: State::OpenConfirm,
        to: State::Established
    }));
}

#[test]
fn zero_hold_time_disables_keepalives_and_the_hold_timer() {
    let mut fsm = Fsm::new(config(false));
    fsm.process(Input::Start);
    fsm.process(Input::TcpConnected);
    let out = fsm.process(Input::Message(peer_open(64512, 0, [10, 0, 0, 2])));
    assert_eq!(armed(&out, Timer::Keepalive), None);
    assert!(out.contains(&Output::Cancel(Timer::Hold)));
}

#[test]
fn explicit_keepalive_is_capped_at_a_third_of_the_hold_time() {
    let mut fsm = Fsm::new(FsmConfig {
        keepalive_time: Some(60),
        ..config(false)
    });
    fsm.process(Input::Start);
    fsm.process(Input::TcpConnected);
    let out = fsm.process(Input::Message(peer_open(64512, 90, [10, 0, 0, 2])));
    assert_eq!(armed(&out, Timer::Keepalive), Some(30));
}

#[test]
fn bad_peer_as_is_refused_with_its_my_as_as_data() {
    let mut fsm = Fsm::new(config(false));
    fsm.process(Input::Start);
    fsm.process(Input::TcpConnected);
    let out = fsm.process(Input::Message(peer_open(65001, 90, [10, 0, 0, 2])));
    let notification =
        Notification::open(open_subcode::BAD_PEER_AS, Bytes::from_static(&[0xfd, 0xe9]));
    assert_eq!(
        sent(&out),
        vec![&Message::Notification(notification.clone())]
    );
    assert!(out.contains(&Output::Down(DownReason::Sent(notification))));
    assert_eq!(fsm.state(), State::Idle);
    assert_eq!(armed(&out, Timer::IdleHold), Some(5));
}

#[test]
fn an_internal_peer_with_our_identifier_is_refused() {
    let mut fsm = Fsm::new(config(false));
    fsm.process(Input::Start);
    fsm.process(Input::TcpConnected);
    let out = fsm.process(Input::Message(peer_open(64512, 90, [10, 0, 0, 1])));
    assert!(
        matches!(sent(&out)[..], [Message::Notification(n)] if n.subcode == open_subcode::BAD_BGP_IDENTIFIER)
    );
}

#[test]
fn error_wait_doubles_to_its_maximum_and_resets_when_established() {
    let mut fsm = Fsm::new(config(false));
    let mut waits = Vec::new();
    for _ in 0..4 {
        fsm.process(Input::Start);
        fsm.process(Input::TcpConnected);
        let out = fsm.process(Input::HoldTimerExpires);
        waits.push(armed(&out, Timer::IdleHold).unwrap());
    }
    assert_eq!(waits, vec![5, 10, 20, 30]);
    let mut fsm = established(false);
    let out = fsm.process(Input::HoldTimerExpires);
    assert_eq!(armed(&out, Timer::IdleHold), Some(5));
}

#[test]
fn a_closed_connection_or_a_cease_starts_again_without_error_wait() {
    let mut fsm = established(false);
    let out = fsm.process(Input::TcpFails {
        reason: "Connection closed".into(),
    });
    assert!(out.contains(&Output::Down(DownReason::Connection(
        "Connection closed".into()
    ))));
    assert_eq!(fsm.state(), State::Active, "accepting the peer at once");
    assert_eq!(armed(&out, Timer::IdleHold), None);
    assert_eq!(armed(&out, Timer::ConnectRetry), Some(2));

    let mut fsm = established(false);
    let cease = Notification::cease(cease_subcode::ADMINISTRATIVE_SHUTDOWN);
    let out = fsm.process(Input::Message(Message::Notification(cease)));
    assert_eq!(fsm.state(), State::Active);
    assert_eq!(armed(&out, Timer::IdleHold), None);

    // Any other NOTIFICATION is an error: the error wait applies.
    let mut fsm = established(false);
    let error = Notification::new(code::HOLD_TIMER_EXPIRED, 0, Bytes::new());
    let out = fsm.process(Input::Message(Message::Notification(error)));
    assert_eq!(fsm.state(), State::Idle);
    assert_eq!(armed(&out, Timer::IdleHold), Some(5));
}

#[test]
fn idle_hold_expiry_starts_again() {
    let mut fsm = established(false);
    fsm.process(Input::HoldTimerExpires);
    assert_eq!(fsm.state(), State::Idle);
    let out = fsm.process(Input::IdleHoldTimerExpires);
    assert_eq!(fsm.state(), State::Active);
    assert_eq!(armed(&out, Timer::ConnectRetry), Some(2));
}

#[test]
fn established_delivers_updates_and_refreshes_and_rearms_hold() {
    let mut fsm = established(false);
    let update = UpdateMessage::end_of_rib(Family::Ipv4Unicast);
    let out = fsm.process(Input::Message(Message::Update(update.clone())));
    assert_eq!(
        out,
        vec![Output::Arm(Timer::Hold, 90), Output::Update(update)]
    );
    let refresh = RouteRefreshMessage::request(Family::Ipv4Unicast);
    let out = fsm.process(Input::Message(Message::RouteRefresh(refresh)));
    assert!(out.contains(&Output::RouteRefresh(refresh)));
    let out = fsm.process(Input::KeepaliveTimerExpires);
    assert_eq!(
        out,
        vec![
            Output::Send(Message::Keepalive),
            Output::Arm(Timer::Keepalive, 30)
        ]
    );
}

#[test]
fn hold_timer_expiry_sends_the_notification_and_goes_down() {
    let mut fsm = established(false);
    let out = fsm.process(Input::HoldTimerExpires);
    let expected = Notification::new(code::HOLD_TIMER_EXPIRED, 0, Bytes::new());
    assert_eq!(sent(&out), vec![&Message::Notification(expected.clone())]);
    assert!(out.contains(&Output::Disconnect));
    let reason = DownReason::Sent(expected);
    assert_eq!(reason.describe(), "Error: Hold timer expired");
    assert!(out.contains(&Output::Down(reason)));
}

#[test]
fn a_received_notification_is_reported_in_birds_words() {
    let mut fsm = established(false);
    let n = Notification::with_shutdown_communication(
        cease_subcode::ADMINISTRATIVE_SHUTDOWN,
        "maintenance",
    );
    let out = fsm.process(Input::Message(Message::Notification(n.clone())));
    assert!(
        sent(&out).is_empty(),
        "never answer a NOTIFICATION with one"
    );
    let reason = DownReason::Received(n);
    assert_eq!(
        reason.describe(),
        "Received: Administrative shutdown: maintenance"
    );
    assert!(out.contains(&Output::Down(reason)));
}

#[test]
fn unexpected_messages_are_fsm_errors_with_rfc6608_subcodes() {
    let mut fsm = Fsm::new(config(false));
    fsm.process(Input::Start);
    fsm.process(Input::TcpConnected);
    let out = fsm.process(Input::Message(Message::Keepalive));
    assert!(
        matches!(sent(&out)[..], [Message::Notification(n)] if (n.code, n.subcode) == (code::FSM, 1))
    );
    let mut fsm = established(false);
    let out = fsm.process(Input::Message(peer_open(64512, 90, [10, 0, 0, 2])));
    assert!(
        matches!(sent(&out)[..], [Message::Notification(n)] if (n.code, n.subcode) == (code::FSM, 3))
    );
}

#[test]
fn decode_errors_send_their_notification() {
    let mut fsm = established(false);
    let n = Notification::malformed_attribute_list();
    let out = fsm.process(Input::DecodeError(n.clone()));
    assert_eq!(sent(&out), vec![&Message::Notification(n)]);
    assert_eq!(fsm.state(), State::Idle);
}

#[test]
fn stop_sends_cease_only_when_connected() {
    let mut fsm = established(false);
    let out = fsm.process(Input::Stop {
        subcode: STOP_DECONFIGURED,
    });
    assert_eq!(
        sent(&out),
        vec![&Message::Notification(Notification::cease(
            STOP_DECONFIGURED
        ))]
    );
    assert!(out.contains(&Output::Down(DownReason::Stopped)));
    assert_eq!(
        armed(&out, Timer::IdleHold),
        None,
        "a stopped peer stays stopped"
    );

    let mut fsm = Fsm::new(config(false));
    fsm.process(Input::Start);
    let out = fsm.process(Input::Stop {
        subcode: STOP_ADMIN,
    });
    assert!(sent(&out).is_empty());
    assert_eq!(fsm.state(), State::Idle);
    // Timers of a stopped FSM do nothing.
    assert!(fsm.process(Input::ConnectRetryTimerExpires).is_empty());
}

#[test]
fn a_prefix_limit_ceases_and_rests_for_the_restart_time() {
    let mut fsm = established(false);
    let notification = Notification::cease(cease_subcode::MAXIMUM_PREFIXES_REACHED);
    let out = fsm.process(Input::PrefixLimitExceeded {
        notification: notification.clone(),
        restart: 7,
    });
    assert_eq!(
        sent(&out),
        [&Message::Notification(notification.clone())],
        "RFC 4486 §4"
    );
    assert!(out.contains(&Output::Disconnect));
    assert!(out.contains(&Output::Down(DownReason::Sent(notification.clone()))));
    // Unlike another Cease: Idle, refusing the peer, until the restart time.
    assert_eq!(fsm.state(), State::Idle);
    assert_eq!(armed(&out, Timer::IdleHold), Some(7));
    assert!(out.contains(&Output::Cancel(Timer::ConnectRetry)));
    assert!(
        fsm.process(Input::TcpConnected).is_empty(),
        "idle ignores connections"
    );
    fsm.process(Input::IdleHoldTimerExpires);
    assert_eq!(fsm.state(), State::Active);
    // Only an Established session can be over its limit.
    let mut idle = Fsm::new(config(false));
    let out = idle.process(Input::PrefixLimitExceeded {
        notification,
        restart: 7,
    });
    assert!(out.is_empty() && idle.state() == State::Idle);
}
