//! Graceful restart (RFC 4724) with bgpd as the restarting speaker: it
//! stops for an upgrade (SIGTERM) and starts again with one of its two
//! blocks. BIRD 2, the receiving speaker, keeps bgpd's routes through the
//! restart; the new bgpd finds its routes in the kernel, says so in its
//! OPEN (Restart State, Forwarding State), reports the recovery as BIRD
//! does, and defers its table until it has its peers' (one never comes, so
//! its `restart_wait` ends the wait). Then its table and End-of-RIB sweep,
//! at BIRD and in n0's kernel, only the block it dropped.

use std::path::Path;
use std::process::Command;

use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::{SessionState, Speaker};
use testnets::{require_privileges, wait_for, Poll, RouteMonitor};

use crate::support::{binary, gobgp_config, holds, lan, node_config, CONVERGE};

const KEPT: &str = "10.244.0.0/26";
const DROPPED: &str = "10.244.0.64/26";

/// n0's config: its block, `extra_block` if given, BIRD on n1 and a peer on
/// n2 that never answers; a short deferral.
fn n0_config(extra_block: Option<&str>) -> String {
    let mut config = format!(
        "restart_wait = 8\n{}",
        node_config(
            "n0",
            "10.0.1.10",
            KEPT,
            &[("10.0.1.11", 65001, ""), ("10.0.1.12", 65002, "")],
        )
    );
    if let Some(block) = extra_block {
        config.push_str(&format!(
            "\n[[originate]]\nprefix = \"{block}\"\nkind = \"block\"\n"
        ));
    }
    config
}

const BIRD: &str = "router id 10.0.1.11;
protocol device { }
protocol kernel { ipv4 { export all; }; }
protocol bgp bgpd {
  local 10.0.1.11 as 65001;
  neighbor 10.0.1.10 as 64512;
  graceful restart on;
  connect delay time 0;
  connect retry time 1;
  ipv4 { import all; export none; };
}
";

fn start_n0(host: &testnets::Host, config: &str, socket: &Path) -> Bgpd {
    Bgpd::start_with_args(
        host,
        binary(),
        config,
        179,
        &["--bird-socket", socket.to_str().unwrap()],
    )
    .unwrap()
}

/// `show status` on bgpd's BIRD-compatible socket, through BIRD's own birdc.
fn show_status(socket: &Path) -> String {
    let out = Command::new(BirdVersion::V2.sbin().join("birdc"))
        .arg("-s")
        .arg(socket)
        .args(["show", "status"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bgpd_restarts_gracefully_and_bird_keeps_its_routes() {
    require_privileges!();
    let net = lan("gr-restarting", 3);
    let (n0, n1) = (net.host("n0"), net.host("n1"));
    let socket = n0.dir().join("bird.ctl");
    let mut bgpd = start_n0(n0, &n0_config(Some(DROPPED)), &socket);
    let bird = Bird::start(n1, BirdVersion::V2, BIRD).unwrap();
    n1.wait_for_routes("both of bgpd's blocks in BIRD's kernel", CONVERGE, |t| {
        holds(t, KEPT) && holds(t, DROPPED)
    })
    .unwrap();
    let before = bird.cmd("show protocols all bgpd").unwrap();
    assert!(!before.contains("Restart recovery"), "{before}");
    let monitor = RouteMonitor::start(n1).unwrap();

    // Stopped as for an upgrade: the connection closes without a
    // NOTIFICATION, and BIRD keeps the routes.
    bgpd.process().stop();
    wait_for("BIRD to keep bgpd's routes", CONVERGE, || {
        let out = bird.cmd("show protocols all bgpd")?;
        Ok(if out.contains("Neighbor graceful restart active") {
            Poll::Ready(())
        } else {
            Poll::Pending(out)
        })
    })
    .unwrap();

    let _bgpd = start_n0(n0, &n0_config(None), &socket);
    wait_for("bgpd to report its recovery", CONVERGE, || {
        let status = show_status(&socket);
        Ok(
            if status.contains("Graceful restart recovery in progress") {
                Poll::Ready(())
            } else {
                Poll::Pending(status)
            },
        )
    })
    .unwrap();
    // Its table waits: BIRD still has the block bgpd no longer announces.
    let received = bird.received().unwrap();
    assert!(received.contains(&DROPPED.parse().unwrap()), "{received:?}");

    // The deferral ends (n2 never answers): table, End-of-RIB, and BIRD
    // sweeps the dropped block only.
    n1.wait_for_routes("the dropped block swept by BIRD", CONVERGE, |t| {
        holds(t, KEPT) && !holds(t, DROPPED)
    })
    .unwrap();
    assert_eq!(monitor.deletions(KEPT), Vec::<String>::new());
    let status = show_status(&socket);
    assert!(
        status.contains("Daemon is up") && !status.contains("recovery"),
        "{status}"
    );
    let after = bird.cmd("show protocols all bgpd").unwrap();
    assert!(
        after.contains("Restart recovery") && after.contains("AF preserved"),
        "the OPEN said Restart State and Forwarding State: {after}"
    );
    // n0's own kernel: the dropped block's blackhole swept after the wait.
    n0.wait_for_routes("n0's dropped blackhole swept", CONVERGE, |t| {
        holds(t, KEPT) && !holds(t, DROPPED)
    })
    .unwrap();
}

/// `--stop-mode cease` (a node taken away for good): the Cease goes out
/// before bgpd exits, and BIRD drops its routes at once rather than
/// keeping them for a restart.
#[test]
fn a_stop_with_cease_withdraws_at_once() {
    require_privileges!();
    let net = lan("gr-cease", 2);
    let (n0, n1) = (net.host("n0"), net.host("n1"));
    let config = node_config("n0", "10.0.1.10", KEPT, &[("10.0.1.11", 65001, "")]);
    let mut bgpd =
        Bgpd::start_with_args(n0, binary(), &config, 179, &["--stop-mode", "cease"]).unwrap();
    let bird = Bird::start(n1, BirdVersion::V2, BIRD).unwrap();
    n1.wait_for_routes("bgpd's block in BIRD's kernel", CONVERGE, |t| {
        holds(t, KEPT)
    })
    .unwrap();
    bgpd.process().stop();
    let out = wait_for("BIRD to hear the Cease", CONVERGE, || {
        let out = bird.cmd("show protocols all bgpd")?;
        Ok(if out.contains("Administrative shutdown") {
            Poll::Ready(out)
        } else {
            Poll::Pending(out)
        })
    })
    .unwrap();
    assert!(!out.contains("graceful restart active"), "{out}");
    n1.wait_for_routes("bgpd's block withdrawn", CONVERGE, |t| !holds(t, KEPT))
        .unwrap();
}

/// GoBGP as the receiving speaker: bgpd restarts (its only peer is GoBGP,
/// so its recovery ends with GoBGP's End-of-RIB); every sample of GoBGP's
/// RIB holds the block bgpd keeps, and the dropped one goes at bgpd's
/// End-of-RIB.
#[test]
fn gobgp_keeps_a_restarting_bgpds_routes() {
    require_privileges!();
    let gobgp = gobgp_config(65002, "10.0.1.12", true);
    let net = lan("gr-gobgp", 3);
    let n0 = net.host("n0");
    let config = |blocks: &[&str]| {
        let mut config = node_config("n0", "10.0.1.10", blocks[0], &[("10.0.1.12", 65002, "")]);
        for block in &blocks[1..] {
            config.push_str(&format!(
                "\n[[originate]]\nprefix = \"{block}\"\nkind = \"block\"\n"
            ));
        }
        config
    };
    let mut bgpd = Bgpd::start(n0, binary(), &config(&[KEPT, DROPPED]), 179).unwrap();
    let go = GoBgp::start(net.host("n2"), &gobgp).unwrap();
    let both: Vec<ipnet::IpNet> = [KEPT, DROPPED].iter().map(|p| p.parse().unwrap()).collect();
    go.wait_received(&both, CONVERGE).unwrap();

    bgpd.process().stop();
    wait_for("GoBGP to see bgpd gone", CONVERGE, || {
        let sessions = go.sessions()?;
        Ok(
            if sessions
                .iter()
                .all(|s| s.state != SessionState::Established)
            {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("{sessions:?}"))
            },
        )
    })
    .unwrap();
    let kept = go.received().unwrap();
    assert!(
        both.iter().all(|p| kept.contains(p)),
        "kept while bgpd is away: {kept:?}"
    );
    let mut samples = 0;
    let mut missing = Vec::new();
    let _bgpd = Bgpd::start(n0, binary(), &config(&[KEPT]), 179).unwrap();
    wait_for("GoBGP to sweep the dropped block", CONVERGE, || {
        let received = go.received()?;
        samples += 1;
        if !received.contains(&both[0]) {
            missing.push(samples);
        }
        Ok(if received.contains(&both[1]) {
            Poll::Pending(format!("{received:?}"))
        } else {
            Poll::Ready(())
        })
    })
    .unwrap();
    assert_eq!(missing, Vec::<usize>::new(), "samples without {KEPT}");
}
