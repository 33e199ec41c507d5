//! A peer that stops reading (RFC 9687, the send hold timer): a raw peer
//! keeps sending KEEPALIVEs, so its hold timer never runs out, but reads
//! nothing, while another raw peer floods bgpd with changes it passes on.
//! bgpd drops the stalled peer after its send hold time ("Send hold timer
//! expired"), while GoBGP, which reads, keeps getting
//! what changes: each peer has its own writer, so a stalled one holds up
//! nobody.

use std::time::{Duration, Instant};

use bgpd::packet::{Capability, Message};
use ipnet::IpNet;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::Speaker;
use testnets::{require_privileges, wait_for, Poll};

use crate::raw_peer::{announce, flood, open_65001, RawPeer};
use crate::support::{gobgp_config, lan, node_config, start_bgpd, CONVERGE};

#[test]
fn a_peer_that_stops_reading_is_dropped_and_stalls_no_one() {
    require_privileges!();
    let gobgp = gobgp_config(65003, "10.0.1.13", false);
    let net = lan("stalled", 4);
    let config = node_config(
        "n0",
        "10.0.1.10",
        "10.244.0.0/26",
        &[
            ("10.0.1.11", 65001, "passive = true"),
            // Hold time 3 s: a send hold time of 6 s.
            ("10.0.1.12", 65002, "passive = true\nhold_time = 3"),
            ("10.0.1.13", 65003, ""),
        ],
    );
    // Small socket buffers (per namespace) on both ends of the stalled
    // session, so that what bgpd sends fills them in a few rounds.
    for (host, sysctl) in [("n0", "net.ipv4.tcp_wmem"), ("n2", "net.ipv4.tcp_rmem")] {
        net.host(host)
            .exec(
                "sysctl",
                ["-q", "-w", &format!("{sysctl}=4096 16384 65536")],
            )
            .unwrap();
    }
    let bgpd = start_bgpd(net.host("n0"), &config);
    let go = GoBgp::start(net.host("n3"), &gobgp).unwrap();
    go.wait_established(1, CONVERGE).unwrap();

    std::thread::scope(|scope| {
        // The stalled peer: up, then only KEEPALIVEs, every second, unread.
        let stalled = scope.spawn(|| {
            net.host("n2").ns().enter(|| {
                let mut open = open_65001(Vec::<Capability>::new());
                open.my_as = 65002;
                open.bgp_id = "10.0.1.12".parse().unwrap();
                open.capabilities
                    .retain(|c| !matches!(c, Capability::FourOctetAs(_)));
                open.capabilities.push(Capability::FourOctetAs(65002));
                open.hold_time = 3;
                let mut peer = RawPeer::establish("10.0.1.10:179", open);
                let started = Instant::now();
                // Until bgpd gives up on it (a write then fails), at most a minute.
                while started.elapsed() < Duration::from_secs(60) {
                    if !peer.try_send(&Message::Keepalive) {
                        return Ok(true);
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
                Ok(false)
            })
        });
        net.host("n1")
            .ns()
            .enter(|| {
                let mut feeder = RawPeer::establish("10.0.1.10:179", open_65001(Vec::new()));
                // Rounds of every /32 of 10.244.64.0/19 with a new MED: far
                // more than the stalled peer's socket buffers take.
                for med in 1..=12 {
                    for message in flood(64, 95, med) {
                        feeder.send(&message);
                    }
                }
                let probe: IpNet = "10.244.200.0/26".parse().unwrap();
                feeder.send(&announce("10.244.200.0/26"));
                go.wait_received(&[probe], CONVERGE).unwrap();
                Ok(())
            })
            .unwrap();
        assert!(
            stalled.join().unwrap().unwrap(),
            "bgpd closed the stalled peer's connection"
        );
    });

    let error = wait_for("bgpd to drop the stalled peer", CONVERGE, || {
        let peers = bgpd.peers()?;
        let peer = peers.iter().find(|p| p["address"] == "10.0.1.12").cloned();
        let error = peer
            .as_ref()
            .and_then(|p| p["lastError"].as_str())
            .unwrap_or_default()
            .to_owned();
        Ok(if error.is_empty() {
            Poll::Pending(format!("{peer:?}"))
        } else {
            Poll::Ready(error)
        })
    })
    .unwrap();
    assert_eq!(error, "Error: Send hold timer expired");
}
