//! A peer that flaps every second: a raw peer comes up, announces a block,
//! and drops its connection, ten times over. Each time its route comes and
//! goes in n0's kernel; GoBGP's session and the route it announces are
//! never touched, and bgpd ends holding nothing of the flapping peer.

use std::time::Duration;

use ipnet::IpNet;
use testnets::require_privileges;
use testnets::speakers::Speaker;

use crate::raw_peer::{announce, open_65001, RawPeer};
use crate::support::{
    gobgp_config, holds, hostile_peer_config, lan, peer_state, start_bgpd, steady_bystander,
    CONVERGE,
};

const FLAPPING: &str = "10.244.31.0/26";
const STEADY: &str = "10.244.41.0/26";

#[test]
fn a_peer_flapping_every_second_disturbs_no_one_else() {
    require_privileges!();
    let net = lan("flapping", 3);
    let n0 = net.host("n0");
    let bgpd = start_bgpd(n0, &hostile_peer_config("", ""));
    let gobgp = gobgp_config(65002, "10.0.1.12", false);
    let (go, steady_since) = steady_bystander(&net, &bgpd, &gobgp, STEADY);

    net.host("n1")
        .ns()
        .enter(|| {
            for _ in 0..10 {
                let mut peer = RawPeer::establish("10.0.1.10:179", open_65001(Vec::new()));
                peer.send(&announce(FLAPPING));
                n0.wait_for_routes("the flapping route", CONVERGE, |t| holds(t, FLAPPING))
                    .unwrap();
                drop(peer);
                n0.wait_for_routes("the flapping route gone", CONVERGE, |t| {
                    !holds(t, FLAPPING) && holds(t, STEADY)
                })
                .unwrap();
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok(())
        })
        .unwrap();

    // GoBGP's session never went down and still holds bgpd's block.
    assert_eq!(bgpd.peers().unwrap()[1]["since"], steady_since);
    let block: IpNet = "10.244.0.0/26".parse().unwrap();
    assert!(go.received().unwrap().contains(&block));
    let (_, error) = peer_state(&bgpd, "10.0.1.11");
    // A close with bytes unread is a reset: either is BIRD's wording.
    assert!(
        [
            "Socket: Connection closed",
            "Socket: Connection reset by peer"
        ]
        .contains(&error.as_str()),
        "{error}"
    );
    let prefixes = bgpd.peers().unwrap()[0]["counters"]["prefixesInRib"].as_u64();
    assert_eq!(
        prefixes.unwrap_or(0),
        0,
        "nothing kept of the flapping peer"
    );
}
