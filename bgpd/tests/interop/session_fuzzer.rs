//! A whole session fed by a fuzzer through a socket. A raw peer comes up
//! again and again and sends mutations of every message captured from BIRD 2,
//! BIRD 1.6, GoBGP and FRR (bits flipped, bytes overwritten, cut, spliced,
//! attributes made up, now and then the header itself damaged), then asks for
//! a ROUTE-REFRESH. Every session ends one of two ways: bgpd answers the
//! refresh (it kept the session, RFC 7606), or it closes the connection with
//! a NOTIFICATION (RFC 4271 §6). Through it all bgpd never panics, GoBGP's
//! session and routes are never touched, and once the fuzzer is gone nothing
//! of it is left in bgpd's RIB or the kernel.
//!
//! `PODROUTE_FUZZ_SEED` and `PODROUTE_FUZZ_SESSIONS` replay or lengthen a
//! campaign; the seed is printed.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use bgpd::packet::{
    Capability, DecodeCtx, EncodeCtx, Family, FamilySet, Message, RouteRefreshMessage,
};
use ipnet::IpNet;
use testnets::speakers::Speaker;
use testnets::{require_privileges, wait_for, Poll};

use crate::fuzz::{env_or, Rng};
use crate::raw_peer::open_65001;
use crate::support::{
    gobgp_config, holds, hostile_peer_config, lan, peer, start_bgpd, steady_bystander, CONVERGE,
};

const CAPTURED: [&str; 4] = [
    include_str!("../vectors/captured/bird2.txt"),
    include_str!("../vectors/captured/bird16.txt"),
    include_str!("../vectors/captured/gobgp.txt"),
    include_str!("../vectors/captured/frr.txt"),
];
const BLOCK: &str = "10.244.0.0/26";
const STEADY: &str = "10.244.41.0/26";
/// The most fuzzed messages in a session, before the ROUTE-REFRESH probe.
/// Each session sends a number up to it: few messages often leave the
/// session standing (RFC 7606's lighter remedies), many rarely do.
const MESSAGES_PER_SESSION: usize = 40;
/// How long bgpd has to answer the probe or close the connection.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// Every captured UPDATE and KEEPALIVE that is valid on the fuzzer's
/// session (4-octet AS, IPv4, no ADD-PATH), whole messages: the mutations
/// are then the only fault.
fn seeds() -> Vec<Vec<u8>> {
    CAPTURED
        .iter()
        .flat_map(|file| file.lines())
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter_map(|hex| hex::decode(hex).ok())
        .filter(|m| m.len() >= 19 && matches!(m[18], 2 | 4))
        .filter(|m| Message::decode(m, &decode_ctx()).is_ok())
        .collect()
}

/// The message with its header's length set to what it holds.
fn framed(mut message: Vec<u8>) -> Vec<u8> {
    message.truncate(4096);
    let len = message.len() as u16;
    message[16..18].copy_from_slice(&len.to_be_bytes());
    message
}

/// One mutation of a seed. Only the header damage leaves the length field
/// wrong, and then always out of range (below 19 or above 4096), so that
/// bgpd can judge the message from its header alone and the stream never
/// waits on bytes that will not come.
/// A gentle mutation touches only one attribute's flags or value.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], gentle: bool) -> Vec<u8> {
    let mut message = seeds[rng.below(seeds.len())].clone();
    let body = |rng: &mut Rng, m: &Vec<u8>| 19 + rng.below(m.len().saturating_sub(19).max(1));
    let kind = if gentle { 0 } else { rng.below(100) };
    match kind {
        0..=19 => {
            if let Some((flags, value)) = attribute_at(&message, rng) {
                // One attribute's flags or value, its framing kept: the
                // cases RFC 7606 §3 answers with less than a reset.
                if rng.below(3) == 0 || value.is_empty() {
                    // Optional, Transitive or Partial; Extended Length
                    // would change the framing.
                    message[flags] ^= 1 << (5 + rng.below(3));
                } else {
                    let at = value.start + rng.below(value.len());
                    message[at] = rng.byte();
                }
            }
        }
        20..=29 => {
            for _ in 0..=rng.below(4) {
                if message.len() > 19 {
                    let at = body(rng, &message);
                    message[at] ^= 1 << rng.below(8);
                }
            }
        }
        30..=44 => {
            for _ in 0..=rng.below(8) {
                if message.len() > 19 {
                    let at = body(rng, &message);
                    message[at] = match rng.below(6) {
                        0 => 0,
                        1 => 0xff,
                        2 => 0x7f,
                        3 => 0x80,
                        4 => 1,
                        _ => rng.byte(),
                    };
                }
            }
        }
        45..=59 => {
            let at = body(rng, &message);
            message.truncate(at);
        }
        60..=69 => {
            let at = body(rng, &message);
            let extra: Vec<u8> = (0..=rng.below(16)).map(|_| rng.byte()).collect();
            message.splice(at.min(message.len())..at.min(message.len()), extra);
        }
        70..=79 => {
            let other = &seeds[rng.below(seeds.len())];
            let cut = body(rng, &message).min(message.len());
            let from = body(rng, other).min(other.len());
            message.truncate(cut);
            message.extend_from_slice(&other[from..]);
        }
        80..=96 => return framed(made_up_attributes(rng)),
        _ => {
            match rng.below(3) {
                0 => message[rng.below(16)] = rng.byte(),
                1 => {
                    let len = if rng.below(2) == 0 {
                        rng.below(19)
                    } else {
                        4097 + rng.below(60000)
                    };
                    message[16..18].copy_from_slice(&(len as u16).to_be_bytes());
                }
                _ => message[18] = rng.byte(),
            }
            return message;
        }
    }
    framed(message)
}

/// The offset of one path attribute's flags octet in an UPDATE, and the
/// range of its value.
fn attribute_at(message: &[u8], rng: &mut Rng) -> Option<(usize, std::ops::Range<usize>)> {
    if message.get(18) != Some(&2) {
        return None;
    }
    let withdrawn = usize::from(u16::from_be_bytes([*message.get(19)?, *message.get(20)?]));
    let at = 21 + withdrawn;
    let total = usize::from(u16::from_be_bytes([
        *message.get(at)?,
        *message.get(at + 1)?,
    ]));
    let (mut next, end) = (at + 2, (at + 2 + total).min(message.len()));
    let mut found = Vec::new();
    while next + 3 <= end {
        let extended = message[next] & 0x10 != 0;
        let (len, head) = if extended {
            let len = u16::from_be_bytes([message[next + 2], *message.get(next + 3)?]);
            (usize::from(len), 4)
        } else {
            (usize::from(message[next + 2]), 3)
        };
        let value = next + head..(next + head + len).min(end);
        found.push((next, value));
        next += head + len;
    }
    if found.is_empty() {
        return None;
    }
    let pick = rng.below(found.len());
    Some(found.swap_remove(pick))
}

/// An UPDATE of made-up path attributes (any flags, type and length, the
/// length sometimes a lie) and a few NLRI octets.
fn made_up_attributes(rng: &mut Rng) -> Vec<u8> {
    let mut attrs = Vec::new();
    for _ in 0..=rng.below(6) {
        let value: Vec<u8> = (0..rng.below(12)).map(|_| rng.byte()).collect();
        let flags = rng.byte() & 0xf0;
        // Mostly the attributes bgpd knows (1 to 35), sometimes any.
        let code = if rng.below(4) == 0 {
            rng.byte()
        } else {
            1 + rng.below(35) as u8
        };
        attrs.extend([flags, code]);
        let claimed = if rng.below(5) == 0 {
            rng.below(20)
        } else {
            value.len()
        };
        if flags & 0x10 != 0 {
            attrs.extend((claimed as u16).to_be_bytes());
        } else {
            attrs.push(claimed as u8);
        }
        attrs.extend(value);
    }
    let nlri: Vec<u8> = (0..rng.below(10)).map(|_| rng.byte()).collect();
    let mut message = vec![0xff; 16];
    message.extend([0, 0, 2, 0, 0]);
    message.extend((attrs.len() as u16).to_be_bytes());
    message.extend(attrs);
    message.extend(nlri);
    message
}

fn decode_ctx() -> DecodeCtx {
    DecodeCtx {
        four_octet_as: true,
        families: FamilySet::of(&[Family::Ipv4Unicast]),
        ..DecodeCtx::default()
    }
}

fn encode(message: &Message) -> Vec<u8> {
    let ctx = EncodeCtx {
        four_octet_as: true,
        ..EncodeCtx::default()
    };
    message.to_bytes(&ctx).unwrap().to_vec()
}

/// What bgpd sent, as the reader thread saw it.
enum Heard {
    Message(Box<Message>),
    /// The connection closed: cleanly (FIN), or by a reset.
    Closed {
        reset: bool,
    },
    /// bgpd sent something that does not decode: a bug of bgpd's.
    Garbled(String),
}

/// Reads whole messages off `stream` into a channel until it closes, so
/// that a NOTIFICATION is taken off the socket as soon as it arrives.
fn reader(mut stream: TcpStream) -> Receiver<Heard> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || loop {
        let mut head = [0u8; 19];
        let closed = match stream.read_exact(&mut head) {
            Ok(()) => None,
            Err(e) => Some(e.kind() == ErrorKind::ConnectionReset),
        };
        let heard = match closed {
            Some(reset) => Heard::Closed { reset },
            None => {
                let len = usize::from(u16::from_be_bytes([head[16], head[17]]));
                let mut message = head.to_vec();
                message.resize(len.max(19), 0);
                match stream.read_exact(&mut message[19..]) {
                    Ok(()) => match Message::decode(&message, &decode_ctx()) {
                        Ok(decoded) => Heard::Message(Box::new(decoded)),
                        Err(e) => Heard::Garbled(format!("{e:?}: {}", hex::encode(&message))),
                    },
                    Err(e) => Heard::Closed {
                        reset: e.kind() == ErrorKind::ConnectionReset,
                    },
                }
            }
        };
        let last = !matches!(heard, Heard::Message(_));
        if tx.send(heard).is_err() || last {
            return;
        }
    });
    rx
}

/// How one fuzzed session ended.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// bgpd answered the ROUTE-REFRESH: it kept the session.
    Kept,
    /// bgpd closed with this NOTIFICATION (code, subcode).
    Notified(u8, u8),
    /// A reset: bgpd closed with our later messages unread, which the
    /// kernel answers with RST, dropping what bgpd had queued.
    Reset,
    /// We had sent a NOTIFICATION ourselves, so bgpd closed without one.
    ClosedAfterOurs,
}

/// An Established session with bgpd from the calling thread's namespace,
/// once bgpd takes connections again (after its error wait), and the
/// channel of what bgpd sends on it past its OPEN and KEEPALIVE.
fn establish() -> (TcpStream, Receiver<Heard>) {
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < CONVERGE,
            "bgpd takes the fuzzer's session again"
        );
        if let Ok(mut stream) = TcpStream::connect("10.0.1.10:179") {
            let open = open_65001(vec![Capability::RouteRefresh]);
            let sent = stream.write_all(&encode(&Message::Open(open))).is_ok();
            let heard = reader(stream.try_clone().unwrap());
            let next = || match heard.recv_timeout(ANSWER_WAIT) {
                Ok(Heard::Message(m)) => Some(*m),
                _ => None,
            };
            // While bgpd rests in Idle it turns the connection away.
            if sent && matches!(next(), Some(Message::Open(_))) {
                let _ = stream.write_all(&encode(&Message::Keepalive));
                if next() == Some(Message::Keepalive) {
                    return (stream, heard);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Whether `message` announces bgpd's own block.
fn announces_block(message: &Message) -> bool {
    let block: IpNet = BLOCK.parse().unwrap();
    matches!(message, Message::Update(u) if u.nlri.iter().any(|n| n.prefix == block))
}

/// Waits for bgpd's answer to the probe, or for the connection to close.
fn outcome(heard: &Receiver<Heard>, sent_notification: bool) -> Outcome {
    let mut notification = None;
    loop {
        let reset = match heard.recv_timeout(ANSWER_WAIT) {
            Ok(Heard::Message(m)) if matches!(*m, Message::Notification(_)) => {
                if let Message::Notification(n) = *m {
                    notification = Some((n.code, n.subcode));
                }
                continue;
            }
            Ok(Heard::Message(m)) => {
                if notification.is_none() && announces_block(&m) {
                    return Outcome::Kept;
                }
                continue;
            }
            Ok(Heard::Closed { reset }) => reset,
            Ok(Heard::Garbled(what)) => panic!("bgpd sent a message that does not decode: {what}"),
            // The reader ends only after it has sent Closed.
            Err(RecvTimeoutError::Disconnected) => false,
            Err(RecvTimeoutError::Timeout) => {
                panic!("bgpd neither answered the ROUTE-REFRESH nor closed within {ANSWER_WAIT:?}")
            }
        };
        return match (notification, reset, sent_notification) {
            (Some((code, subcode)), _, _) => Outcome::Notified(code, subcode),
            (None, true, _) => Outcome::Reset,
            (None, false, true) => Outcome::ClosedAfterOurs,
            (None, false, false) => panic!("bgpd closed the session without a NOTIFICATION"),
        };
    }
}

/// One session: up, bgpd's initial table read, the fuzzed messages, then
/// the probe.
fn fuzz_session(rng: &mut Rng, seeds: &[Vec<u8>]) -> Outcome {
    let (mut stream, heard) = establish();
    // bgpd's table carries its block: the session is in full swing.
    loop {
        match heard.recv_timeout(ANSWER_WAIT) {
            Ok(Heard::Message(m)) if announces_block(&m) => break,
            Ok(Heard::Message(_)) => {}
            other => panic!(
                "bgpd's initial table, not {}",
                match other {
                    Ok(Heard::Closed { reset }) => format!("a close (reset {reset})"),
                    Ok(Heard::Garbled(what)) => what,
                    _ => "silence".to_owned(),
                }
            ),
        }
    }
    // Half the sessions only bend attributes; the others break anything.
    let gentle = rng.below(2) == 0;
    let mut sent_notification = false;
    // Skewed towards few: a session of many rarely stands.
    let most = 1 + rng.below(MESSAGES_PER_SESSION);
    let count = 1 + rng.below(most);
    for _ in 0..count {
        let message = mutate(rng, seeds, gentle);
        sent_notification |= message[18] == 3;
        if stream.write_all(&message).is_err() {
            break;
        }
    }
    let probe = RouteRefreshMessage::request(Family::Ipv4Unicast);
    let _ = stream.write_all(&encode(&Message::RouteRefresh(probe)));
    let outcome = outcome(&heard, sent_notification);
    // The reader holds a clone of the socket: shut it, do not just drop it.
    let _ = stream.shutdown(std::net::Shutdown::Both);
    outcome
}

#[test]
fn a_session_fed_by_a_fuzzer_hurts_neither_bgpd_nor_its_other_peers() {
    require_privileges!();
    let seed = env_or("PODROUTE_FUZZ_SEED", 0x2026_1202);
    let sessions = env_or("PODROUTE_FUZZ_SESSIONS", 40);
    println!("session fuzzer: seed {seed:#x}, {sessions} sessions of up to {MESSAGES_PER_SESSION} messages");
    let net = lan("fuzzed", 3);
    let n0 = net.host("n0");
    // The error wait at its least, so that the fuzzer comes back fast.
    let mut config = hostile_peer_config("error_wait_time = [1, 1]", "");
    // Fuzzed routes into the segment itself would cut n0 off from GoBGP:
    // that is the operator's guard (Calico's kernel filter), kept here.
    config.push_str("\n[kernel]\nnever_install = [\"10.0.1.0/24\"]\n");
    let bgpd = start_bgpd(n0, &config);
    let gobgp = gobgp_config(65002, "10.0.1.12", false);
    let (go, steady_since) = steady_bystander(&net, &bgpd, &gobgp, STEADY);

    let seeds = seeds();
    assert!(seeds.len() > 40, "{} seeds", seeds.len());
    let mut rng = Rng(seed);
    let outcomes = net
        .host("n1")
        .ns()
        .enter(|| {
            Ok((0..sessions)
                .map(|_| fuzz_session(&mut rng, &seeds))
                .collect::<Vec<_>>())
        })
        .unwrap();
    let kept = outcomes.iter().filter(|o| **o == Outcome::Kept).count();
    let notified: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Notified(..)))
        .collect();
    println!(
        "session fuzzer: {kept} kept, {} closed with a NOTIFICATION, {} reset, {} after ours",
        notified.len(),
        outcomes.iter().filter(|o| **o == Outcome::Reset).count(),
        outcomes
            .iter()
            .filter(|o| **o == Outcome::ClosedAfterOurs)
            .count(),
    );
    // The campaign reached both of bgpd's answers to bad input.
    assert!(kept > 0 && !notified.is_empty(), "{outcomes:?}");
    assert!(!bgpd.log().contains("panicked"), "{}", bgpd.log());

    // Nothing of the fuzzer is left, in the RIB or in the kernel.
    wait_for("the fuzzer's routes gone", CONVERGE, || {
        let held = peer(&bgpd, "10.0.1.11")["counters"]["prefixesInRib"]
            .as_u64()
            .unwrap_or(0);
        let table = n0.routes()?;
        let via_fuzzer: Vec<String> = table
            .iter()
            .filter(|r| r.gateway() == Some("10.0.1.11".parse().unwrap()))
            .map(|r| r.destination.to_string())
            .collect();
        Ok(if held == 0 && via_fuzzer.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending(format!(
                "{held} in the RIB, kernel via the fuzzer: {via_fuzzer:?}"
            ))
        })
    })
    .unwrap();
    // GoBGP's session never went down; its route and bgpd's block stand.
    assert_eq!(peer(&bgpd, "10.0.1.12")["since"], steady_since);
    assert!(holds(&n0.routes().unwrap(), STEADY));
    assert!(go.received().unwrap().contains(&BLOCK.parse().unwrap()));
}
