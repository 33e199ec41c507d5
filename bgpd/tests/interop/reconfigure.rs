//! SIGHUP with a changed config: only the changed peer's session restarts and
//! a new peer comes up; the other sessions stay up, as the peers' own uptime
//! records show. An invalid config is refused and changes nothing.

use serde_json::Value;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::frr::Frr;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::Speaker;
use testnets::{require_privileges, wait_for, Poll};

use crate::support::{lan, node_config, start_bgpd, CONVERGE};

fn bird(address: &str, bird16: bool) -> String {
    let channel = if bird16 {
        ""
    } else {
        "ipv4 { import all; export none; };"
    };
    let import = if bird16 {
        "import all; export none;"
    } else {
        ""
    };
    format!(
        "router id {address};\nprotocol device {{ }}\n\
         protocol bgp bgpd {{ local {address} as 64512; neighbor 10.0.1.10 as 64512; connect delay time 0; connect retry time 5; {channel} {import} }}\n"
    )
}

const GOBGP: &str = "[global.config]
  as = 64512
  router-id = \"10.0.1.12\"
[[neighbors]]
  [neighbors.config]
    neighbor-address = \"10.0.1.10\"
    peer-as = 64512
  [neighbors.timers.config]
    connect-retry = 5
";

const FRR: &str = "frr defaults traditional
router bgp 64512
 bgp router-id 10.0.1.13
 neighbor 10.0.1.10 remote-as 64512
 neighbor 10.0.1.10 timers connect 5
";

/// FRR's count of sessions it has seen established with bgpd.
fn frr_connections(frr: &Frr) -> u64 {
    let json: Value =
        serde_json::from_str(&frr.vtysh(&["show bgp summary json"]).unwrap()).unwrap();
    json["ipv4Unicast"]["peers"]["10.0.1.10"]["connectionsEstablished"]
        .as_u64()
        .unwrap_or(0)
}

/// When bgpd's session with `address` entered its state. (BIRD's own
/// "since" column is no witness: it is computed anew from BIRD's clocks on
/// every `show protocols` and moves by a millisecond either way.)
fn session_since(bgpd: &Bgpd, address: &str) -> String {
    let peers = bgpd.peers().unwrap();
    let peer = peers
        .iter()
        .find(|p| p["address"] == address)
        .unwrap_or_else(|| panic!("no peer {address} in {peers:?}"));
    assert_eq!(peer["state"], "established", "{peer}");
    peer["since"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_reload_restarts_only_what_changed() {
    require_privileges!();
    let net = lan("bgpd-reload", 5);
    let peers = |gobgp_extra: &'static str| {
        vec![
            ("10.0.1.11", 64512, ""),
            ("10.0.1.12", 64512, gobgp_extra),
            ("10.0.1.13", 64512, ""),
        ]
    };
    let mut bgpd = start_bgpd(
        net.host("n0"),
        &node_config("n0", "10.0.1.10", "10.244.0.0/26", &peers("")),
    );
    let bird2 = Bird::start(net.host("n1"), BirdVersion::V2, &bird("10.0.1.11", false)).unwrap();
    let go = GoBgp::start(net.host("n2"), GOBGP).unwrap();
    let frr = Frr::start(net.host("n3"), FRR).unwrap();
    let bird16 = Bird::start(net.host("n4"), BirdVersion::V1_6, &bird("10.0.1.14", true)).unwrap();
    for speaker in [&bird2 as &dyn Speaker, &go, &frr] {
        speaker.wait_established(1, CONVERGE).unwrap();
    }
    let since = session_since(&bgpd, "10.0.1.11");
    assert_eq!(frr_connections(&frr), 1);
    // BIRD 1.6 knocks before it is configured: refused, and logged with its address.
    wait_for("bgpd to refuse BIRD 1.6", CONVERGE, || {
        let log = bgpd.log();
        let refused = log
            .lines()
            .any(|l| l.contains("not a configured peer") && l.contains("10.0.1.14:"));
        Ok(if refused {
            Poll::Ready(())
        } else {
            Poll::Pending(String::new())
        })
    })
    .unwrap();

    // GoBGP's hold time changes and BIRD 1.6 is added.
    let mut changed = peers("hold_time = 90");
    changed.push(("10.0.1.14", 64512, ""));
    bgpd.reload(&node_config("n0", "10.0.1.10", "10.244.0.0/26", &changed))
        .unwrap();
    bird16.wait_established(1, CONVERGE).unwrap();
    wait_for(
        "GoBGP's session to restart with hold time 90",
        CONVERGE,
        || {
            let json: Value =
                serde_json::from_str(&go.cli(&["neighbor", "-j"])?).unwrap_or_default();
            let peer = &json[0];
            let hold = peer["timers"]["state"]["negotiated_hold_time"].as_u64();
            let up = peer["state"]["session_state"] == 6;
            Ok(if up && hold == Some(90) {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("{peer}"))
            })
        },
    )
    .unwrap();
    assert_eq!(frr_connections(&frr), 1, "FRR's session never went down");
    assert_eq!(
        session_since(&bgpd, "10.0.1.11"),
        since,
        "BIRD's session never went down"
    );

    // An invalid config is refused; nothing changes.
    bgpd.reload(&node_config(
        "n0",
        "10.0.1.10",
        "10.244.0.0/26",
        &peers("hold_time = 1"),
    ))
    .unwrap();
    wait_for("the refusal in bgpd's log", CONVERGE, || {
        let log = bgpd.log();
        Ok(if log.contains("reload refused") {
            Poll::Ready(())
        } else {
            Poll::Pending(String::new())
        })
    })
    .unwrap();
    assert!(
        bgpd.log().contains("peer[1].hold_time"),
        "the error names the field"
    );
    bird16.wait_established(1, CONVERGE).unwrap();
    assert_eq!(frr_connections(&frr), 1);
    assert_eq!(session_since(&bgpd, "10.0.1.11"), since);
}
