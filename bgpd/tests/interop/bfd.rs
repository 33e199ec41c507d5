//! BFD (RFC 5880, single hop RFC 5881) with BIRD 2, with BIRD 1.6 as
//! Calico ships it, and with FRR's bfdd: the sessions come up
//! with the timers agreed; BIRD frozen (SIGSTOP: no FIN, no NOTIFICATION,
//! the way a node that loses power looks) takes the BGP session down on
//! BFD's word, not the hold timer's, and its route out of the kernel;
//! BIRD thawed brings BFD up, and BGP and the route back.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::frr::Frr;
use testnets::speakers::{SessionState, Speaker};
use testnets::{require_privileges, wait_for, Network, Poll, Topology};

use crate::support::{node_config, peer_state, start_bgpd, CONVERGE};

const PEER_BLOCK: &str = "10.244.1.0/26";

fn network() -> Network {
    let mut topology = Topology::new("bfd");
    topology.segment("lan");
    topology.node("n0").iface("lan", &["10.0.1.10/24"]);
    topology.node("n1").iface("lan", &["10.0.1.11/24"]);
    topology.build().unwrap()
}

/// BIRD as a mesh peer would be, with BFD at 300 ms x 5; `direct`, so that
/// its BFD is single hop, as bgpd's is for a peer on its subnet.
fn bird(version: BirdVersion) -> String {
    let (channel, statics) = match version {
        BirdVersion::V2 => (
            "ipv4 { import all; export all; next hop self; };",
            format!("protocol static {{ ipv4; route {PEER_BLOCK} blackhole; }}"),
        ),
        BirdVersion::V1_6 => (
            "import all; export all; next hop self;",
            format!("protocol static {{ route {PEER_BLOCK} blackhole; }}"),
        ),
    };
    format!(
        "router id 10.0.1.11;
protocol device {{ }}
{statics}
protocol bfd {{
  interface \"*\" {{ min rx interval 300 ms; min tx interval 300 ms; multiplier 5; }};
}}
protocol bgp bgpd {{
  local 10.0.1.11 as 64512;
  neighbor 10.0.1.10 as 64512;
  direct;
  bfd on;
  {channel}
}}
"
    )
}

fn has_peer_block(routes: &[testnets::KernelRoute]) -> bool {
    routes
        .iter()
        .any(|r| r.destination.to_string() == PEER_BLOCK && !r.next_hops.is_empty())
}

#[test]
fn bfd_with_bird_2_takes_the_session_down_when_it_freezes_and_back_when_it_thaws() {
    require_privileges!();
    freeze_and_thaw(BirdVersion::V2);
}

#[test]
fn bfd_with_bird_1_6_takes_the_session_down_when_it_freezes_and_back_when_it_thaws() {
    require_privileges!();
    freeze_and_thaw(BirdVersion::V1_6);
}

/// FRR with bfdd, at 300 ms x 5 too.
const FRR: &str = "frr defaults traditional
router bgp 64512
 bgp router-id 10.0.1.11
 no bgp network import-check
 neighbor 10.0.1.10 remote-as 64512
 neighbor 10.0.1.10 timers connect 5
 neighbor 10.0.1.10 bfd profile fast
 address-family ipv4 unicast
  network 10.244.1.0/26
 exit-address-family
";

const FRR_BFDD: &str = "bfd
 profile fast
  transmit-interval 300
  receive-interval 300
  detect-multiplier 5
 !
!
";

#[test]
fn bfd_with_frr_takes_the_session_down_when_it_freezes_and_back_when_it_thaws() {
    require_privileges!();
    let net = network();
    let bgpd = start_bfd_node(&net);
    let mut frr = Frr::start_with_bfd(net.host("n1"), FRR, FRR_BFDD).unwrap();
    frr.wait_established(1, CONVERGE).unwrap();
    net.host("n0")
        .wait_for_routes("the peer's block", CONVERGE, has_peer_block)
        .unwrap();
    wait_for("FRR's BFD session up", CONVERGE, || {
        let peers = frr.vtysh(&["show bfd peers brief"])?;
        Ok(if peers.contains("10.0.1.10") && peers.contains("up") {
            Poll::Ready(())
        } else {
            Poll::Pending(peers)
        })
    })
    .unwrap();
    // The whole of FRR freezes, as a node that loses power.
    let pids: Vec<Pid> = [
        frr.bgpd().pid(),
        frr.bfdd().expect("bfdd runs").pid(),
        frr.zebra().pid(),
    ]
    .into_iter()
    .map(|pid| Pid::from_raw(pid as i32))
    .collect();
    drop_and_return(&net, &bgpd, &pids);
}

/// bgpd on n0 with BFD at 300 ms x 5 toward n1: a detection time of 1.5 s,
/// which a busy test machine does not reach by stalling a healthy peer.
fn start_bfd_node(net: &Network) -> Bgpd {
    start_bgpd(
        net.host("n0"),
        &node_config(
            "n0",
            "10.0.1.10",
            "10.244.0.0/26",
            &[(
                "10.0.1.11",
                64512,
                "bfd = { min_tx_ms = 300, min_rx_ms = 300, multiplier = 5 }",
            )],
        ),
    )
}

fn freeze_and_thaw(version: BirdVersion) {
    let net = network();
    let n0 = net.host("n0");
    let bgpd = start_bfd_node(&net);
    let mut bird = Bird::start(net.host("n1"), version, &bird(version)).unwrap();
    bird.wait_established(1, CONVERGE).unwrap();
    n0.wait_for_routes("the peer's block", CONVERGE, has_peer_block)
        .unwrap();
    // BIRD's BFD session with bgpd is up.
    wait_for("BIRD's BFD session up", CONVERGE, || {
        let sessions = bird.cmd("show bfd sessions")?;
        Ok(
            if sessions.contains("10.0.1.10") && sessions.contains("Up") {
                Poll::Ready(())
            } else {
                Poll::Pending(sessions)
            },
        )
    })
    .unwrap();

    let pid = Pid::from_raw(bird.process().pid() as i32);
    drop_and_return(&net, &bgpd, &[pid]);
}

/// Freezes the peer's processes: bgpd drops the session on BFD's word and
/// its route leaves n0's kernel; thawed, BFD, the session and the route
/// come back.
fn drop_and_return(net: &Network, bgpd: &Bgpd, pids: &[Pid]) {
    let n0 = net.host("n0");
    for pid in pids {
        kill(*pid, Signal::SIGSTOP).unwrap();
    }
    let (state, error) = wait_for("bgpd to drop the frozen peer", CONVERGE, || {
        let (state, error) = peer_state(bgpd, "10.0.1.11");
        Ok(if state == SessionState::Established {
            Poll::Pending(format!("{state:?} {error}"))
        } else {
            Poll::Ready((state, error))
        })
    })
    .unwrap();
    assert_eq!(error, "Error: BFD session down", "{state:?}");
    n0.wait_for_routes("the peer's block withdrawn", CONVERGE, |r| {
        !has_peer_block(r)
    })
    .unwrap();

    for pid in pids {
        kill(*pid, Signal::SIGCONT).unwrap();
    }
    wait_for("bgpd's session back", CONVERGE, || {
        let (state, error) = peer_state(bgpd, "10.0.1.11");
        Ok(if state == SessionState::Established {
            Poll::Ready(())
        } else {
            Poll::Pending(format!("{state:?} {error}"))
        })
    })
    .unwrap();
    n0.wait_for_routes("the peer's block back", CONVERGE, has_peer_block)
        .unwrap();
    // Down on the freeze, up on the thaw, and no flapping: a peer waking
    // from SIGSTOP may have its overdue timers fire once more (BIRD 1.6's
    // detection timer does, just after the session came up again), but a
    // session that cannot settle would go down again and again, and its
    // route would not have come back.
    let peers = bgpd.peers().unwrap();
    assert_eq!(peers[0]["bfdUp"], true, "{peers:?}");
    let downs = peers[0]["counters"]["bfdDowns"]
        .as_u64()
        .unwrap_or_default();
    assert!((1..=3).contains(&downs), "{peers:?}");
}
