//! Graceful restart (RFC 4724) with bgpd as the receiving speaker. A raw
//! peer restarts in each of the ways §4.2 names, and n0's kernel shows what
//! bgpd kept: routes stay, never deleted, until the End-of-RIB; they go at
//! once when the peer comes back without its forwarding state, and when its
//! restart time passes without it. BIRD 1.6 and BIRD 2 restart as
//! calico-node restarts them.

use std::time::Duration;

use bgpd::packet::{
    Capability, Family, GracefulRestart, GracefulRestartFamily, Message, UpdateMessage,
};
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::{SessionState, Speaker};
use testnets::{require_privileges, wait_for, Poll, RouteMonitor};

use crate::raw_peer::{announce, open_65001, RawPeer};
use crate::support::{gobgp_config, holds, lan, start_n0, CONVERGE};

const KEPT: &str = "10.244.31.0/26";
const DROPPED: &str = "10.244.32.0/26";

fn graceful_restart(restarting: bool, forwarding: bool, restart_time: u16) -> Vec<Capability> {
    vec![Capability::GracefulRestart(GracefulRestart {
        restarting,
        notification: false,
        restart_time,
        families: vec![GracefulRestartFamily {
            afi_safi: Family::Ipv4Unicast.into(),
            forwarding_preserved: forwarding,
        }],
    })]
}

fn end_of_rib() -> Message {
    Message::Update(UpdateMessage::end_of_rib(Family::Ipv4Unicast))
}

/// The peer's restart as bgpctl shows it: (stale routes, reconnected).
fn restart(bgpd: &Bgpd) -> Option<(u64, bool)> {
    let peers = bgpd.peers().unwrap();
    let restart = &peers[0]["gracefulRestart"];
    restart.as_object()?;
    Some((
        restart["staleRoutes"].as_u64().unwrap_or(0),
        restart["reconnected"].as_bool().unwrap_or(false),
    ))
}

#[test]
fn a_restarting_peers_routes_stay_until_its_end_of_rib_or_its_restart_time() {
    require_privileges!();
    let net = lan("gr-helper", 2);
    let n0 = net.host("n0");
    let bgpd = start_n0(&net, &[("10.0.1.11", 65001, "passive = true")]);
    let monitor = RouteMonitor::start(n0).unwrap();
    let session_down = || {
        wait_for("bgpd to see the session end", CONVERGE, || {
            let sessions = bgpd.sessions()?;
            Ok(match sessions.first() {
                Some(s) if s.state != SessionState::Established => Poll::Ready(()),
                _ => Poll::Pending(format!("{sessions:?}")),
            })
        })
        .unwrap();
    };
    net.host("n1")
        .ns()
        .enter(|| {
            let mut first = RawPeer::establish(
                "10.0.1.10:179",
                open_65001(graceful_restart(false, false, 60)),
            );
            for message in [announce(KEPT), announce(DROPPED), end_of_rib()] {
                first.send(&message);
            }
            n0.wait_for_routes("both routes", CONVERGE, |t| {
                holds(t, KEPT) && holds(t, DROPPED)
            })
            .unwrap();

            // The peer restarts before bgpd sees its connection close: a new
            // connection, Restart State and Forwarding State set. bgpd ends
            // the old session without a NOTIFICATION.
            let mut second = RawPeer::establish(
                "10.0.1.10:179",
                open_65001(graceful_restart(true, true, 60)),
            );
            let last_words = first.until_closed();
            assert!(
                !last_words
                    .iter()
                    .any(|m| matches!(m, Message::Notification(_))),
                "{last_words:?}"
            );
            // Until its End-of-RIB both stay; then what it did not send again goes.
            let table = n0.routes().unwrap();
            assert!(holds(&table, KEPT) && holds(&table, DROPPED), "{table:?}");
            assert_eq!(restart(&bgpd), Some((2, true)), "bgpctl shows the restart");
            second.send(&announce(KEPT));
            second.send(&end_of_rib());
            n0.wait_for_routes("the route not sent again swept", CONVERGE, |t| {
                holds(t, KEPT) && !holds(t, DROPPED)
            })
            .unwrap();
            assert_eq!(restart(&bgpd), None, "the restart is over");
            assert_eq!(monitor.deletions(KEPT), Vec::<String>::new());
            assert_eq!(monitor.deletions(DROPPED).len(), 1);

            // Back without the forwarding state: the stale route goes at
            // once, with no UPDATE and no End-of-RIB.
            drop(second);
            session_down();
            let mut third = RawPeer::establish(
                "10.0.1.10:179",
                open_65001(graceful_restart(false, false, 5)),
            );
            n0.wait_for_routes("the stale route swept", CONVERGE, |t| !holds(t, KEPT))
                .unwrap();
            third.send(&announce(KEPT));
            n0.wait_for_routes("the route learned again", CONVERGE, |t| holds(t, KEPT))
                .unwrap();

            // Gone for good: kept through the restart time (5 s), then swept.
            drop(third);
            session_down();
            let table = n0.routes().unwrap();
            assert!(
                holds(&table, KEPT),
                "kept while the peer may come back: {table:?}"
            );
            assert_eq!(restart(&bgpd), Some((1, false)));
            n0.wait_for_routes(
                "the route swept after the restart time",
                CONVERGE + Duration::from_secs(5),
                |t| !holds(t, KEPT),
            )
            .unwrap();
            Ok(())
        })
        .unwrap();
}

/// BIRD on n1 in AS 65001 announcing `blocks`, graceful restart on.
fn bird_config(version: BirdVersion, blocks: &[&str]) -> String {
    let routes: String = blocks
        .iter()
        .map(|b| format!("route {b} blackhole; "))
        .collect();
    let (static_family, filters) = match version {
        BirdVersion::V1_6 => (
            "",
            "import none; export where source = RTS_STATIC;".to_owned(),
        ),
        BirdVersion::V2 => (
            "ipv4; ",
            "ipv4 { import none; export where source = RTS_STATIC; };".to_owned(),
        ),
    };
    format!(
        "router id 10.0.1.11;
protocol device {{ }}
protocol static own {{ {static_family}{routes}}}
protocol bgp bgpd {{
  local 10.0.1.11 as 65001;
  neighbor 10.0.1.10 as 64512;
  graceful restart on;
  graceful restart time 60;
  connect delay time 0;
  connect retry time 1;
  {filters}
}}
"
    )
}

/// calico-node's restart: BIRD killed, then started again with `-R`
/// announcing one of its two blocks. bgpd keeps both through the restart,
/// never deletes the one announced again, and sweeps the other at BIRD's
/// End-of-RIB.
fn bird_restarts_and_bgpd_keeps_its_routes(version: BirdVersion, name: &str) {
    let net = lan(name, 2);
    let n0 = net.host("n0");
    // bgpd waits for BIRD to connect, as one side of each of Calico's mesh
    // sessions does. With both connecting at once, BIRD 1.6 in recovery
    // was seen to resolve the collision by closing sessions again and
    // again, and on one of them to send End-of-RIB before its routes, which
    // sweeps them too early: a BIRD 1.6 quirk this test is not about.
    let bgpd = start_n0(&net, &[("10.0.1.11", 65001, "passive = true")]);
    let mut bird = Bird::start(
        net.host("n1"),
        version,
        &bird_config(version, &[KEPT, DROPPED]),
    )
    .unwrap();
    n0.wait_for_routes("both of BIRD's blocks", CONVERGE, |t| {
        holds(t, KEPT) && holds(t, DROPPED)
    })
    .unwrap();
    let monitor = RouteMonitor::start(n0).unwrap();

    bird.kill();
    wait_for("bgpd to see BIRD gone", CONVERGE, || {
        Ok(match restart(&bgpd) {
            Some(restart) => Poll::Ready(restart),
            None => Poll::Pending(format!("{:?}", bgpd.sessions()?)),
        })
    })
    .unwrap();
    let table = n0.routes().unwrap();
    assert!(holds(&table, KEPT) && holds(&table, DROPPED), "{table:?}");

    let _bird =
        Bird::start_recovering(net.host("n1"), version, &bird_config(version, &[KEPT])).unwrap();
    n0.wait_for_routes("the block BIRD dropped swept", CONVERGE, |t| {
        holds(t, KEPT) && !holds(t, DROPPED)
    })
    .unwrap();
    assert_eq!(restart(&bgpd), None, "the restart is over");
    assert_eq!(monitor.deletions(KEPT), Vec::<String>::new());
}

#[test]
fn bird_2_restarts_gracefully() {
    require_privileges!();
    bird_restarts_and_bgpd_keeps_its_routes(BirdVersion::V2, "gr-bird2");
}

#[test]
fn bird_1_6_restarts_gracefully() {
    require_privileges!();
    bird_restarts_and_bgpd_keeps_its_routes(BirdVersion::V1_6, "gr-bird16");
}

/// GoBGP killed and started again with `--graceful-restart`: bgpd keeps its
/// routes meanwhile, and GoBGP's End-of-RIB sweeps the one it no longer
/// announces.
#[test]
fn gobgp_restarts_gracefully() {
    require_privileges!();
    let gobgp = gobgp_config(65002, "10.0.1.12", true);
    let net = lan("gr-gobgp-peer", 3);
    let n0 = net.host("n0");
    let bgpd = start_n0(&net, &[("10.0.1.12", 65002, "")]);
    let mut go = GoBgp::start(net.host("n2"), &gobgp).unwrap();
    for block in [KEPT, DROPPED] {
        go.announce(block.parse().unwrap()).unwrap();
    }
    n0.wait_for_routes("both of GoBGP's routes", CONVERGE, |t| {
        holds(t, KEPT) && holds(t, DROPPED)
    })
    .unwrap();
    let monitor = RouteMonitor::start(n0).unwrap();

    go.kill();
    wait_for("bgpd to see GoBGP gone", CONVERGE, || {
        Ok(match restart(&bgpd) {
            Some(restart) => Poll::Ready(restart),
            None => Poll::Pending(format!("{:?}", bgpd.sessions()?)),
        })
    })
    .unwrap();
    // Its routes come through its CLI, so the session waits for them (it
    // starts administratively down): gobgpd sends End-of-RIB as soon as the
    // session is up.
    let held = gobgp.replace(
        "peer-as = 64512\n",
        "peer-as = 64512\n    admin-down = true\n",
    );
    let go = GoBgp::start_restarting(net.host("n2"), &held).unwrap();
    go.announce(KEPT.parse().unwrap()).unwrap();
    go.cli(&["neighbor", "10.0.1.10", "enable"]).unwrap();
    n0.wait_for_routes("the route GoBGP dropped swept", CONVERGE, |t| {
        holds(t, KEPT) && !holds(t, DROPPED)
    })
    .unwrap();
    assert_eq!(restart(&bgpd), None, "the restart is over");
    assert_eq!(monitor.deletions(KEPT), Vec::<String>::new());
}
