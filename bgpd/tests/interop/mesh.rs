//! An iBGP mesh of bgpd with BIRD 2, GoBGP, FRR and BIRD 1.6: every session
//! comes up and every block reaches every peer, bgpd's with its own address
//! as next hop.

use ipnet::IpNet;
use testnets::require_privileges;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::frr::Frr;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::Speaker;

use crate::support::{lan, node_config, start_bgpd, CONVERGE};

/// (host, address, block)
const NODES: [(&str, &str, &str); 5] = [
    ("n0", "10.0.1.10", "10.244.0.0/26"),
    ("n1", "10.0.1.11", "10.244.1.0/26"),
    ("n2", "10.0.1.12", "10.244.2.0/26"),
    ("n3", "10.0.1.13", "10.244.3.0/26"),
    ("n4", "10.0.1.14", "10.244.4.0/26"),
];

fn others(me: &str) -> impl Iterator<Item = (&'static str, &'static str, &'static str)> + '_ {
    NODES.into_iter().filter(move |n| n.0 != me)
}

fn bird2(address: &str, block: &str, me: &str) -> String {
    let mut c = format!(
        "router id {address};\nprotocol device {{ scan time 10; }}\n\
         protocol kernel {{ ipv4 {{ import none; export where source = RTS_BGP; }}; merge paths on; }}\n\
         protocol static own {{ ipv4; route {block} blackhole; }}\n\
         template bgp mesh {{ local {address} as 64512; neighbor as 64512; direct; connect delay time 0; connect retry time 5;\n\
           ipv4 {{ gateway direct; import all; export where source = RTS_STATIC; }}; }}\n"
    );
    for (name, peer, _) in others(me) {
        c.push_str(&format!(
            "protocol bgp peer_{name} from mesh {{ neighbor {peer}; }}\n"
        ));
    }
    c
}

fn bird16(address: &str, block: &str, me: &str) -> String {
    let mut c = format!(
        "router id {address};\nprotocol device {{ scan time 10; }}\n\
         protocol kernel {{ scan time 10; import none; export where source = RTS_BGP; merge paths on; }}\n\
         protocol static own {{ route {block} blackhole; }}\n\
         template bgp mesh {{ local {address} as 64512; direct; gateway direct; connect delay time 0; connect retry time 5;\n\
           add paths on; import all; export where source = RTS_STATIC; }}\n"
    );
    for (name, peer, _) in others(me) {
        c.push_str(&format!(
            "protocol bgp peer_{name} from mesh {{ neighbor {peer} as 64512; }}\n"
        ));
    }
    c
}

fn gobgp(address: &str, me: &str) -> String {
    let mut c = format!("[global.config]\n  as = 64512\n  router-id = \"{address}\"\n  local-address-list = [\"{address}\"]\n");
    for (_, peer, _) in others(me) {
        c.push_str(&format!(
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{peer}\"\n    peer-as = 64512\n  \
             [neighbors.timers.config]\n    connect-retry = 5\n  [[neighbors.afi-safis]]\n    \
             [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n"
        ));
    }
    c
}

fn frr(address: &str, block: &str, me: &str) -> String {
    let mut c = format!(
        "frr defaults traditional\nrouter bgp 64512\n bgp router-id {address}\n no bgp network import-check\n coalesce-time 100\n"
    );
    for (_, peer, _) in others(me) {
        c.push_str(&format!(
            " neighbor {peer} remote-as 64512\n neighbor {peer} timers connect 5\n"
        ));
    }
    c.push_str(&format!(
        " address-family ipv4 unicast\n  network {block}\n exit-address-family\n"
    ));
    c
}

#[test]
fn bgpd_meshes_with_bird_gobgp_frr_and_bird16() {
    require_privileges!();
    let net = lan("bgpd-mesh", 5);

    let peers: Vec<(&str, u32, &str)> = others("n0")
        .map(|(_, address, _)| (address, 64512, ""))
        .collect();
    let _bgpd = start_bgpd(
        net.host("n0"),
        &node_config("n0", "10.0.1.10", "10.244.0.0/26", &peers),
    );
    let bird = Bird::start(
        net.host("n1"),
        BirdVersion::V2,
        &bird2("10.0.1.11", "10.244.1.0/26", "n1"),
    )
    .unwrap();
    let go = GoBgp::start(net.host("n2"), &gobgp("10.0.1.12", "n2")).unwrap();
    go.announce("10.244.2.0/26".parse().unwrap()).unwrap();
    let frr = Frr::start(net.host("n3"), &frr("10.0.1.13", "10.244.3.0/26", "n3")).unwrap();
    let bird_16 = Bird::start(
        net.host("n4"),
        BirdVersion::V1_6,
        &bird16("10.0.1.14", "10.244.4.0/26", "n4"),
    )
    .unwrap();

    let speakers: [(&str, &dyn Speaker); 4] =
        [("n1", &bird), ("n2", &go), ("n3", &frr), ("n4", &bird_16)];
    let bgpd_block: IpNet = "10.244.0.0/26".parse().unwrap();
    for (name, speaker) in speakers {
        speaker
            .wait_established(4, CONVERGE)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected: Vec<IpNet> = others(name)
            .map(|(_, _, block)| block.parse().unwrap())
            .collect();
        speaker
            .wait_received(&expected, CONVERGE)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // bgpd's block arrives with bgpd's address as next hop: BIRD 2 installs it so.
    net.host("n1")
        .wait_for_routes("bgpd's block via 10.0.1.10", CONVERGE, |routes| {
            routes.iter().any(|r| {
                r.destination == bgpd_block && r.gateway() == Some("10.0.1.10".parse().unwrap())
            })
        })
        .unwrap();
    // bgpd's own kernel: every other block via its owner on eth0, proto bird;
    // its own block a blackhole.
    let table = net
        .host("n0")
        .wait_for_routes("the other blocks in bgpd's kernel", CONVERGE, |routes| {
            others("n0").all(|(_, address, block)| {
                routes.iter().any(|r| {
                    r.destination == block.parse::<IpNet>().unwrap()
                        && r.gateway() == Some(address.parse().unwrap())
                        && r.device() == Some("eth0")
                        && r.protocol == testnets::PROTO_BIRD
                })
            })
        })
        .unwrap();
    let own = table
        .iter()
        .find(|r| r.destination == bgpd_block)
        .expect("own block installed");
    assert_eq!(
        (own.kind, own.protocol),
        (testnets::RouteKind::Blackhole, testnets::PROTO_BIRD)
    );
    let gobgp_rib = go.cli(&["global", "rib", "-j", "10.244.0.0/26"]).unwrap();
    assert!(
        gobgp_rib.contains("\"nexthop\":\"10.0.1.10\""),
        "{gobgp_rib}"
    );
    assert!(
        gobgp_rib.contains("{\"type\":5,\"value\":2147482623}"),
        "LOCAL_PREF of a route of normal priority (2147483647 - metric 1024): {gobgp_rib}"
    );
}
