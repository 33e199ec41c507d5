//! BFD fed by a fuzzer. From a peer configured for BFD, datagrams on BFD's
//! port at TTL 255 (and some below): mutations of a Control packet (bits
//! flipped, octets overwritten, cut, lengthened, every field made up, the
//! Your Discriminator of a session that is not the sender's) and random
//! octets. Through it all bgpd never panics and keeps answering, and BIRD's
//! BFD session at the next node is never touched: up from before the
//! fuzzer to after it, not once down, its BGP session and route in place.
//!
//! `PODROUTE_FUZZ_SEED` chooses another campaign; the seed is printed.

use std::net::UdpSocket;

use bgpd::bfd::packet::{ControlPacket, Diagnostic, State};
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::Speaker;
use testnets::{require_privileges, wait_for, Network, Poll, Topology};

use crate::fuzz::{env_or, Rng};
use crate::support::{node_config, peer_state, start_bgpd, CONVERGE};

/// Datagrams the fuzzer sends.
const DATAGRAMS: usize = 20_000;

fn network() -> Network {
    let mut topology = Topology::new("bfdfuzz");
    topology.segment("lan");
    topology.node("n0").iface("lan", &["10.0.1.10/24"]);
    topology.node("n1").iface("lan", &["10.0.1.11/24"]);
    topology.node("n2").iface("lan", &["10.0.1.12/24"]);
    topology.build().unwrap()
}

const BIRD: &str = "router id 10.0.1.11;
protocol device { }
protocol static { ipv4; route 10.244.1.0/26 blackhole; }
protocol bfd { interface \"*\" { min rx interval 300 ms; min tx interval 300 ms; multiplier 5; }; }
protocol bgp bgpd {
  local 10.0.1.11 as 64512;
  neighbor 10.0.1.10 as 64512;
  direct;
  bfd on;
  ipv4 { import all; export all; next hop self; };
}
";

/// One datagram: a Control packet, mutated, or random octets.
fn datagram(rng: &mut Rng) -> Vec<u8> {
    let states = [State::AdminDown, State::Down, State::Init, State::Up];
    let packet = ControlPacket {
        diagnostic: Diagnostic::None,
        state: states[rng.below(4)],
        poll: rng.below(4) == 0,
        final_: rng.below(4) == 0,
        control_plane_independent: false,
        demand: rng.below(8) == 0,
        detect_mult: rng.below(5) as u8,
        my_discriminator: rng.below(4) as u32,
        // Small numbers, so that some name a session of bgpd's.
        your_discriminator: match rng.below(3) {
            0 => 0,
            1 => rng.next() as u32,
            _ => rng.below(64) as u32,
        },
        desired_min_tx: rng.next() as u32 % 2_000_000,
        required_min_rx: rng.next() as u32 % 2_000_000,
        required_min_echo_rx: rng.next() as u32,
    };
    let mut octets = packet.encode().to_vec();
    match rng.below(6) {
        0 => {
            let at = rng.below(octets.len());
            octets[at] ^= 1 << rng.below(8);
        }
        1 => {
            let at = rng.below(octets.len());
            octets[at] = rng.byte();
        }
        2 => octets.truncate(rng.below(octets.len())),
        3 => octets.extend((0..rng.below(40)).map(|_| rng.byte())),
        4 => octets = (0..rng.below(64)).map(|_| rng.byte()).collect(),
        _ => {}
    }
    octets
}

#[test]
fn bfd_survives_a_fuzzer_and_its_real_sessions_do_not_notice() {
    require_privileges!();
    // A fixed campaign unless told otherwise, as the session fuzzer's.
    let seed = env_or("PODROUTE_FUZZ_SEED", 0x2026_1207);
    eprintln!("BFD fuzzer: seed {seed:#x} (PODROUTE_FUZZ_SEED replays it)");
    let net = network();
    // A detection time of 1.5 s: the fuzzer's load on a busy test machine
    // does not stall the real peer that long.
    let bfd = "bfd = { min_tx_ms = 300, min_rx_ms = 300, multiplier = 5 }";
    let bgpd = start_bgpd(
        net.host("n0"),
        &node_config(
            "n0",
            "10.0.1.10",
            "10.244.0.0/26",
            &[
                ("10.0.1.11", 64512, bfd),
                ("10.0.1.12", 64512, &format!("{bfd}\npassive = true")),
            ],
        ),
    );
    let bird = Bird::start(net.host("n1"), BirdVersion::V2, BIRD).unwrap();
    bird.wait_established(1, CONVERGE).unwrap();
    let real_bfd_up = || {
        let peers = bgpd.peers()?;
        let real = peers.iter().find(|p| p["address"] == "10.0.1.11").cloned();
        Ok(match real {
            Some(p) if p["bfdUp"] == true => Poll::Ready(p),
            other => Poll::Pending(format!("{other:?}")),
        })
    };
    wait_for("BFD up with BIRD", CONVERGE, real_bfd_up).unwrap();

    let fuzzer = net
        .host("n2")
        .ns()
        .enter(|| {
            let socket = UdpSocket::bind("10.0.1.12:49999")
                .map_err(testnets::Error::io("bind the fuzzer's socket"))?;
            Ok(socket)
        })
        .unwrap();
    let mut rng = Rng(seed);
    for sent in 0..DATAGRAMS {
        // Mostly at 255, as a neighbour's; one in eight from further away.
        let ttl = if rng.below(8) == 0 { 64 } else { 255 };
        fuzzer.set_ttl(ttl).unwrap();
        let _ = fuzzer.send_to(&datagram(&mut rng), "10.0.1.10:3784");
        if sent % 500 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    // bgpd answers, and the real session never went down.
    let real = wait_for("bgpd to answer after the fuzzer", CONVERGE, real_bfd_up).unwrap();
    assert_eq!(real["counters"]["bfdDowns"], 0, "{real:?}");
    assert_eq!(
        peer_state(&bgpd, "10.0.1.11").0,
        testnets::speakers::SessionState::Established
    );
    let sessions = bird.cmd("show bfd sessions").unwrap();
    assert!(sessions.contains("Up"), "{sessions}");
}
