//! BGPPeer's session fields end to end, from etcd, with real peers: bgpd
//! presents `localASNumber` to a GoBGP top-of-rack router (which expects
//! that AS, and sees it on the node's block); a route learned from the
//! router goes to a BIRD 2 iBGP peer with `nextHopMode: Self` through this
//! node, and to a BIRD 2 eBGP peer with `keepOriginalNextHop` through the
//! router still.

use ipnet::IpNet;
use serde_json::json;
use testnets::require_privileges;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::etcd::Etcd;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::Speaker;

use crate::support::{binary, lan, put_block, put_node, CONVERGE, RESOURCES};

fn bird_peer(address: &str, asn: u32) -> String {
    format!(
        "router id {address};
protocol device {{ }}
protocol bgp n0 {{
  local {address} as {asn};
  neighbor 10.0.1.10 as 64512;
  {}
  connect delay time 0;
  ipv4 {{ {}import all; export none; }};
}}
",
        if asn == 64512 { "direct;" } else { "" },
        if asn == 64512 { "gateway direct; " } else { "" },
    )
}

/// The BGP next hop BIRD shows for `prefix`.
fn next_hop(bird: &Bird, prefix: &str) -> String {
    let shown = bird.cmd(&format!("show route all {prefix}")).unwrap();
    shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("BGP.next_hop: "))
        .unwrap_or_else(|| panic!("no next hop: {shown}"))
        .trim()
        .to_owned()
}

#[test]
fn local_as_next_hop_self_and_keep_original_next_hop() {
    require_privileges!();
    let net = lan("peerfields", 5);
    let etcd = Etcd::start(net.host("n4")).unwrap();
    let v3 = "projectcalico.org/v3";
    let put = |kind: &str, name: &str, spec: serde_json::Value| {
        let resource = json!({"kind": kind, "apiVersion": v3, "metadata": {"name": name},
                              "spec": spec});
        let plural = format!("{}s", kind.to_lowercase());
        etcd.put_json(&format!("{RESOURCES}/{plural}/{name}"), &resource)
            .unwrap();
    };
    put(
        "BGPConfiguration",
        "default",
        json!({"nodeToNodeMeshEnabled": false}),
    );
    put(
        "IPPool",
        "pool",
        json!({"cidr": "10.244.0.0/16", "ipipMode": "Never"}),
    );
    put_node(&etcd, "n0", "10.0.1.10");
    put_block(&etcd, "n0", "10.244.0.0/26");
    put(
        "BGPPeer",
        "tor",
        json!({"peerIP": "10.0.1.11", "asNumber": 65010, "localASNumber": 65100}),
    );
    put(
        "BGPPeer",
        "self",
        json!({"peerIP": "10.0.1.12", "asNumber": 64512, "nextHopMode": "Self"}),
    );
    put(
        "BGPPeer",
        "keep",
        json!({"peerIP": "10.0.1.13", "asNumber": 65020, "keepOriginalNextHop": true}),
    );
    let tor = GoBgp::start(
        net.host("n1"),
        "[global.config]\n  as = 65010\n  router-id = \"10.0.1.11\"\n\
         [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"10.0.1.10\"\n    peer-as = 65100\n",
    )
    .unwrap();
    let learned = "10.244.50.0/26";
    tor.announce(learned.parse().unwrap()).unwrap();
    let ibgp = Bird::start(
        net.host("n2"),
        BirdVersion::V2,
        &bird_peer("10.0.1.12", 64512),
    )
    .unwrap();
    let ebgp = Bird::start(
        net.host("n3"),
        BirdVersion::V2,
        &bird_peer("10.0.1.13", 65020),
    )
    .unwrap();
    let _bgpd =
        Bgpd::start_with_etcd(net.host("n0"), binary(), etcd.endpoint(), "n0", 179).unwrap();

    // The top of rack peers with AS 65100 and sees it on the block.
    let block: IpNet = "10.244.0.0/26".parse().unwrap();
    tor.wait_received(&[block], CONVERGE).unwrap();
    let shown = tor.cli(&["global", "rib", "10.244.0.0/26"]).unwrap();
    assert!(
        shown.contains("65100") && !shown.contains("64512"),
        "{shown}"
    );

    let learned_net: IpNet = learned.parse().unwrap();
    ibgp.wait_received(&[learned_net], CONVERGE).unwrap();
    ebgp.wait_received(&[learned_net], CONVERGE).unwrap();
    // iBGP would keep the router's next hop; nextHopMode Self gives ours.
    assert_eq!(next_hop(&ibgp, learned), "10.0.1.10");
    // eBGP would get ours; keepOriginalNextHop keeps the router's.
    assert_eq!(next_hop(&ebgp, learned), "10.0.1.11");
    // The node's own block: ours either way.
    assert_eq!(next_hop(&ebgp, "10.244.0.0/26"), "10.0.1.10");
}
