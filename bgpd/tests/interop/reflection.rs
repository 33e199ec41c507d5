//! Route reflection (RFC 4456) with bgpd as the reflector: clients that peer
//! only with reflectors learn each other's blocks with ORIGINATOR_ID,
//! CLUSTER_LIST and the originator's next hop; two reflectors with one
//! cluster id back each other up.

use ipnet::IpNet;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::frr::Frr;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::Speaker;
use testnets::{require_privileges, wait_for, Poll};

use crate::support::{lan, node_config, start_bgpd, CONVERGE};

const CLIENTS: [(&str, &str, &str); 3] = [
    ("n1", "10.0.1.11", "10.244.1.0/26"),
    ("n2", "10.0.1.12", "10.244.2.0/26"),
    ("n3", "10.0.1.13", "10.244.3.0/26"),
];

fn reflector(name: &str, address: &str, block: &str, other_reflector: Option<&str>) -> String {
    let mut peers: Vec<(&str, u32, &str)> = CLIENTS
        .iter()
        .map(|(_, a, _)| (*a, 64512, "route_reflector_client = true"))
        .collect();
    if let Some(other) = other_reflector {
        peers.push((other, 64512, ""));
    }
    let config = node_config(name, address, block, &peers);
    config.replace("[export]", "cluster_id = \"1.1.1.1\"\n\n[export]")
}

fn bird_client(reflectors: &[&str]) -> String {
    let mut c = String::from(
        "router id 10.0.1.11;\nprotocol device { }\nprotocol static own { ipv4; route 10.244.1.0/26 blackhole; }\n",
    );
    for (i, rr) in reflectors.iter().enumerate() {
        c.push_str(&format!(
            "protocol bgp rr{i} {{ local 10.0.1.11 as 64512; neighbor {rr} as 64512; direct; connect delay time 0; connect retry time 5;\n\
               ipv4 {{ gateway direct; import all; export where source = RTS_STATIC; }}; }}\n"
        ));
    }
    c
}

fn gobgp_client(reflectors: &[&str]) -> String {
    let mut c = String::from("[global.config]\n  as = 64512\n  router-id = \"10.0.1.12\"\n");
    for rr in reflectors {
        c.push_str(&format!(
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{rr}\"\n    peer-as = 64512\n  \
             [neighbors.timers.config]\n    connect-retry = 5\n"
        ));
    }
    c
}

fn frr_client(reflectors: &[&str]) -> String {
    let mut c = String::from(
        "frr defaults traditional\nrouter bgp 64512\n bgp router-id 10.0.1.13\n no bgp network import-check\n coalesce-time 100\n",
    );
    for rr in reflectors {
        c.push_str(&format!(
            " neighbor {rr} remote-as 64512\n neighbor {rr} timers connect 5\n"
        ));
    }
    c.push_str(" address-family ipv4 unicast\n  network 10.244.3.0/26\n exit-address-family\n");
    c
}

fn blocks(except: &str, extra: &[&str]) -> Vec<IpNet> {
    CLIENTS
        .iter()
        .filter(|c| c.0 != except)
        .map(|c| c.2)
        .chain(extra.iter().copied())
        .map(|b| b.parse().unwrap())
        .collect()
}

#[test]
fn a_bgpd_reflector_serves_bird_gobgp_and_frr_clients() {
    require_privileges!();
    let net = lan("bgpd-rr", 4);
    let _rr = start_bgpd(
        net.host("n0"),
        &reflector("n0", "10.0.1.10", "10.244.0.0/26", None),
    );
    let bird = Bird::start(
        net.host("n1"),
        BirdVersion::V2,
        &bird_client(&["10.0.1.10"]),
    )
    .unwrap();
    let go = GoBgp::start(net.host("n2"), &gobgp_client(&["10.0.1.10"])).unwrap();
    go.announce("10.244.2.0/26".parse().unwrap()).unwrap();
    let frr = Frr::start(net.host("n3"), &frr_client(&["10.0.1.10"])).unwrap();

    bird.wait_received(&blocks("n1", &["10.244.0.0/26"]), CONVERGE)
        .unwrap();
    go.wait_received(&blocks("n2", &["10.244.0.0/26"]), CONVERGE)
        .unwrap();
    frr.wait_received(&blocks("n3", &["10.244.0.0/26"]), CONVERGE)
        .unwrap();

    // A reflected route: the originator's next hop, ORIGINATOR_ID and the
    // reflector's cluster in CLUSTER_LIST (RFC 4456 §8).
    let shown = bird.cmd("show route all 10.244.3.0/26").unwrap();
    for expected in [
        "BGP.next_hop: 10.0.1.13",
        "BGP.originator_id: 10.0.1.13",
        "BGP.cluster_list: 1.1.1.1",
    ] {
        assert!(shown.contains(expected), "{expected} missing: {shown}");
    }
    // The reflector's own block is not reflected: no ORIGINATOR_ID.
    let shown = bird.cmd("show route all 10.244.0.0/26").unwrap();
    assert!(
        shown.contains("BGP.next_hop: 10.0.1.10") && !shown.contains("originator_id"),
        "{shown}"
    );
}

#[test]
fn two_reflectors_with_one_cluster_id_back_each_other_up() {
    require_privileges!();
    let net = lan("bgpd-rr-pair", 6);
    let rr_a = start_bgpd(
        net.host("n0"),
        &reflector("n0", "10.0.1.10", "10.244.0.0/26", Some("10.0.1.15")),
    );
    let _rr_b = start_bgpd(
        net.host("n5"),
        &reflector("n5", "10.0.1.15", "10.244.5.0/26", Some("10.0.1.10")),
    );
    let both = ["10.0.1.10", "10.0.1.15"];
    let bird = Bird::start(net.host("n1"), BirdVersion::V2, &bird_client(&both)).unwrap();
    let go = GoBgp::start(net.host("n2"), &gobgp_client(&both)).unwrap();
    go.announce("10.244.2.0/26".parse().unwrap()).unwrap();
    let frr = Frr::start(net.host("n3"), &frr_client(&both)).unwrap();
    for speaker in [&bird as &dyn Speaker, &go, &frr] {
        speaker.wait_established(2, CONVERGE).unwrap();
    }
    bird.wait_received(&blocks("n1", &["10.244.0.0/26", "10.244.5.0/26"]), CONVERGE)
        .unwrap();
    // BIRD holds two paths for FRR's block, one per reflector.
    wait_for("two paths for 10.244.3.0/26 at BIRD", CONVERGE, || {
        let shown = bird.cmd("show route 10.244.3.0/26 all")?;
        Ok(
            if shown.matches("BGP.originator_id: 10.0.1.13").count() == 2 {
                Poll::Ready(())
            } else {
                Poll::Pending(shown)
            },
        )
    })
    .unwrap();

    // One reflector goes: nothing is lost.
    drop(rr_a);
    bird.wait_established(1, CONVERGE).unwrap();
    wait_for(
        "BIRD's session to the dead reflector to drop",
        CONVERGE,
        || {
            let sessions = bird.sessions()?;
            let up = sessions
                .iter()
                .filter(|s| s.state == testnets::speakers::SessionState::Established)
                .count();
            Ok(if up == 1 {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("{sessions:?}"))
            })
        },
    )
    .unwrap();
    bird.wait_received(&blocks("n1", &["10.244.5.0/26"]), CONVERGE)
        .unwrap();
    frr.wait_received(&blocks("n3", &["10.244.5.0/26"]), CONVERGE)
        .unwrap();
}

/// ADD-PATH send (RFC 7911), as Calico's `add paths on`: two BIRD 2 clients
/// of a bgpd reflector announce the same service range (every Calico node
/// advertises serviceClusterIPs); a third client, taking ADD-PATH, gets
/// both paths from the reflector and installs the range as one multipath
/// route through both nodes. A client that does not take ADD-PATH gets the
/// best path alone.
#[test]
fn a_reflector_sends_every_path_to_clients_that_take_them() {
    require_privileges!();
    let net = lan("addpath", 5);
    const SERVICES: &str = "10.96.0.0/12";
    let clients = [
        ("10.0.1.11", "10.244.1.0/26"),
        ("10.0.1.12", "10.244.2.0/26"),
        ("10.0.1.13", "10.244.3.0/26"),
        ("10.0.1.14", "10.244.4.0/26"),
    ];
    let peers: Vec<(&str, u32, &str)> = clients
        .iter()
        .map(|(a, _)| (*a, 64512, "route_reflector_client = true"))
        .collect();
    let config = node_config("n0", "10.0.1.10", "10.244.0.0/26", &peers)
        .replace("[export]", "cluster_id = \"1.1.1.1\"\n\n[export]")
        .replace(
            "prefixes = [\"10.244.0.0/16\"]",
            &format!("prefixes = [\"10.244.0.0/16\", \"{SERVICES}\"]"),
        );
    let _bgpd = start_bgpd(net.host("n0"), &config);
    let client = |address: &str, statics: &[&str], add_paths: &str| {
        let routes: String = statics
            .iter()
            .map(|p| format!("route {p} blackhole; "))
            .collect();
        format!(
            "router id {address};
protocol device {{ }}
protocol kernel {{ merge paths on; ipv4 {{ import none; export where source = RTS_BGP; }}; }}
protocol static own {{ ipv4; {routes}}}
protocol bgp reflector {{
  local {address} as 64512; neighbor 10.0.1.10 as 64512; direct; connect delay time 0;
  ipv4 {{ gateway direct; add paths {add_paths}; import all; export where source = RTS_STATIC; }};
}}
"
        )
    };
    let mut birds = Vec::new();
    for (i, (address, block)) in clients.iter().enumerate() {
        // n1 and n2 announce the service range; n3 takes ADD-PATH, n4 not.
        let statics: Vec<&str> = if i < 2 {
            vec![block, SERVICES]
        } else {
            vec![block]
        };
        let add_paths = if i == 3 { "off" } else { "rx" };
        birds.push(
            Bird::start(
                net.host(&format!("n{}", i + 1)),
                BirdVersion::V2,
                &client(address, &statics, add_paths),
            )
            .unwrap(),
        );
    }
    let services: IpNet = SERVICES.parse().unwrap();
    let gateways = |route: &testnets::KernelRoute| -> Vec<String> {
        let mut g: Vec<String> = route
            .next_hops
            .iter()
            .filter_map(|h| h.gateway.map(|g| g.to_string()))
            .collect();
        g.sort();
        g
    };
    net.host("n3")
        .wait_for_routes("the service range through both nodes", CONVERGE, |routes| {
            routes
                .iter()
                .any(|r| r.destination == services && gateways(r) == ["10.0.1.11", "10.0.1.12"])
        })
        .unwrap();
    // Without ADD-PATH: one path (the reflector's best).
    net.host("n4")
        .wait_for_routes("the service range through one node", CONVERGE, |routes| {
            routes
                .iter()
                .any(|r| r.destination == services && r.next_hops.len() == 1)
        })
        .unwrap();
    let shown = birds[2].cmd("show route 10.96.0.0/12 all").unwrap();
    assert_eq!(shown.matches("BGP.originator_id").count(), 2, "{shown}");
}
