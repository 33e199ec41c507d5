//! eBGP and iBGP at once: bgpd (AS 64512) between BIRD 2 (eBGP, AS 65001),
//! GoBGP (iBGP) and FRR (eBGP, 4-octet AS 4200000001). Routes flow every way
//! with the attributes BGP prescribes: the AS path grows by one AS per eBGP
//! hop, iBGP keeps the next hop, eBGP gets bgpd's, communities pass on.

use serde_json::Value;
use testnets::require_privileges;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::frr::Frr;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::Speaker;

use crate::support::{lan, node_config, peer, start_bgpd, CONVERGE};

const BIRD: &str = "router id 10.0.1.11;
protocol device { }
protocol static own {
  ipv4 { import filter { bgp_community.add((65001,100)); bgp_large_community.add((65001,1,2)); accept; }; };
  route 10.244.11.0/26 blackhole;
}
protocol bgp bgpd {
  local 10.0.1.11 as 65001;
  neighbor 10.0.1.10 as 64512;
  connect delay time 0;
  connect retry time 5;
  ipv4 { import all; export where source = RTS_STATIC; };
}
";

const GOBGP: &str = "[global.config]
  as = 64512
  router-id = \"10.0.1.12\"
  local-address-list = [\"10.0.1.12\"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = \"10.0.1.10\"
    peer-as = 64512
  [neighbors.timers.config]
    connect-retry = 5
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = \"ipv4-unicast\"
";

const FRR: &str = "frr defaults traditional
router bgp 4200000001
 bgp router-id 10.0.1.13
 no bgp ebgp-requires-policy
 no bgp network import-check
 coalesce-time 100
 neighbor 10.0.1.10 remote-as 64512
 neighbor 10.0.1.10 timers connect 5
 address-family ipv4 unicast
  network 10.244.13.0/26
 exit-address-family
";

/// GoBGP's JSON for one prefix: (AS path, next hop, communities, large communities).
fn gobgp_path(go: &GoBgp, prefix: &str) -> (Vec<u64>, String, Vec<u64>, Vec<Value>) {
    let json: Value =
        serde_json::from_str(&go.cli(&["global", "rib", "-j", prefix]).unwrap()).unwrap();
    let attrs = json[prefix][0]["attrs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let by_type = |t: u64| {
        attrs
            .iter()
            .find(|a| a["type"] == t)
            .cloned()
            .unwrap_or_default()
    };
    let path = by_type(2)["as_paths"][0]["asns"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    (
        path.iter().filter_map(Value::as_u64).collect(),
        by_type(3)["nexthop"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        by_type(8)["communities"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_u64)
            .collect(),
        by_type(32)["value"].as_array().cloned().unwrap_or_default(),
    )
}

#[test]
fn routes_cross_ebgp_and_ibgp_with_the_right_attributes() {
    require_privileges!();
    let net = lan("bgpd-ebgp", 4);
    let mut config = node_config(
        "n0",
        "10.0.1.10",
        "10.244.0.0/26",
        &[
            ("10.0.1.11", 65001, ""),
            ("10.0.1.12", 64512, ""),
            ("10.0.1.13", 4_200_000_001, ""),
        ],
    );
    // The block's community (Calico's prefixAdvertisements).
    config = config.replace(
        "prefixes = [\"10.244.0.0/16\"]\n",
        "prefixes = [\"10.244.0.0/16\"]\ncommunities = [{ prefix = \"10.244.0.0/26\", communities = [\"64512:100\"] }]\n",
    );
    let _bgpd = start_bgpd(net.host("n0"), &config);
    let bird = Bird::start(net.host("n1"), BirdVersion::V2, BIRD).unwrap();
    let go = GoBgp::start(net.host("n2"), GOBGP).unwrap();
    go.announce("10.244.12.0/26".parse().unwrap()).unwrap();
    let frr = Frr::start(net.host("n3"), FRR).unwrap();

    let all = [
        "10.244.0.0/26",
        "10.244.11.0/26",
        "10.244.12.0/26",
        "10.244.13.0/26",
    ];
    let mine = |me: &str| -> Vec<ipnet::IpNet> {
        all.iter()
            .filter(|p| **p != me)
            .map(|p| p.parse().unwrap())
            .collect()
    };
    bird.wait_established(1, CONVERGE).unwrap();
    bird.wait_received(&mine("10.244.11.0/26"), CONVERGE)
        .unwrap();
    go.wait_received(&mine("10.244.12.0/26"), CONVERGE).unwrap();
    frr.wait_received(&mine("10.244.13.0/26"), CONVERGE)
        .unwrap();

    // eBGP-learned to iBGP: the AS path as received, the next hop kept,
    // communities passed on.
    let (path, next_hop, communities, large) = gobgp_path(&go, "10.244.11.0/26");
    assert_eq!((path, next_hop.as_str()), (vec![65001], "10.0.1.11"));
    assert_eq!(communities, vec![65001 << 16 | 100]);
    assert_eq!(large.len(), 1, "{large:?}");
    let (path, _, _, _) = gobgp_path(&go, "10.244.13.0/26");
    assert_eq!(path, vec![4_200_000_001], "a 4-octet AS passes intact");
    // Originated to iBGP: empty path, own next hop, configured community.
    let (path, next_hop, communities, _) = gobgp_path(&go, "10.244.0.0/26");
    assert_eq!(
        (path, next_hop.as_str(), communities),
        (vec![], "10.0.1.10", vec![64512 << 16 | 100])
    );

    // To eBGP: bgpd's AS in front, bgpd as next hop.
    let shown = bird.cmd("show route all 10.244.13.0/26").unwrap();
    assert!(shown.contains("BGP.as_path: 64512 4200000001"), "{shown}");
    assert!(shown.contains("BGP.next_hop: 10.0.1.10"), "{shown}");
    let shown = bird.cmd("show route all 10.244.12.0/26").unwrap();
    assert!(
        shown.contains("BGP.as_path: 64512\n") || shown.contains("BGP.as_path: 64512 \n"),
        "{shown}"
    );
    let shown = bird.cmd("show route all 10.244.0.0/26").unwrap();
    assert!(shown.contains("(64512,100)"), "{shown}");
    let frr_json: Value =
        serde_json::from_str(&frr.vtysh(&["show bgp ipv4 unicast json"]).unwrap()).unwrap();
    assert_eq!(
        frr_json["routes"]["10.244.11.0/26"][0]["path"],
        "64512 65001"
    );
    assert_eq!(
        frr_json["routes"]["10.244.11.0/26"][0]["nexthops"][0]["ip"],
        "10.0.1.10"
    );
    // FRR shows LOCAL_PREF only when it arrived: none over eBGP (BIRD shows
    // its own default instead, so it cannot tell).
    let from_gobgp = &frr_json["routes"]["10.244.12.0/26"][0];
    assert_eq!(from_gobgp["path"], "64512");
    assert!(from_gobgp.get("locPrf").is_none(), "{from_gobgp}");
}

#[test]
fn ebgp_with_gobgp_and_bird16() {
    require_privileges!();
    let net = lan("bgpd-ebgp2", 3);
    let config = node_config(
        "n0",
        "10.0.1.10",
        "10.244.0.0/26",
        &[("10.0.1.11", 65002, ""), ("10.0.1.12", 65003, "")],
    );
    let _bgpd = start_bgpd(net.host("n0"), &config);
    let gobgp = "[global.config]\n  as = 65002\n  router-id = \"10.0.1.11\"\n\
                 [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"10.0.1.10\"\n    peer-as = 64512\n";
    let go = GoBgp::start(net.host("n1"), gobgp).unwrap();
    go.announce("10.244.12.0/26".parse().unwrap()).unwrap();
    let bird16 = "router id 10.0.1.12;
protocol device { }
protocol static own { import filter { bgp_community.add((65003,7)); accept; }; route 10.244.13.0/26 blackhole; }
protocol bgp bgpd {
  local 10.0.1.12 as 65003;
  neighbor 10.0.1.10 as 64512;
  connect delay time 0;
  connect retry time 5;
  import all;
  export where source = RTS_STATIC;
}
";
    let bird = Bird::start(net.host("n2"), BirdVersion::V1_6, bird16).unwrap();
    let all: [&str; 3] = ["10.244.0.0/26", "10.244.12.0/26", "10.244.13.0/26"];
    let but = |me: &str| -> Vec<ipnet::IpNet> {
        all.iter()
            .filter(|p| **p != me)
            .map(|p| p.parse().unwrap())
            .collect()
    };
    go.wait_received(&but("10.244.12.0/26"), CONVERGE).unwrap();
    bird.wait_received(&but("10.244.13.0/26"), CONVERGE)
        .unwrap();

    let (path, next_hop, communities, _) = gobgp_path(&go, "10.244.13.0/26");
    assert_eq!((path, next_hop.as_str()), (vec![64512, 65003], "10.0.1.10"));
    assert_eq!(communities, vec![65003 << 16 | 7]);
    let (path, next_hop, _, _) = gobgp_path(&go, "10.244.0.0/26");
    assert_eq!((path, next_hop.as_str()), (vec![64512], "10.0.1.10"));
    let shown = bird.cmd("show route all 10.244.12.0/26").unwrap();
    assert!(
        shown.contains("BGP.as_path: 64512 65002") && shown.contains("BGP.next_hop: 10.0.1.10"),
        "{shown}"
    );
    // And bgpd installs what it learned over eBGP.
    for (block, owner) in [
        ("10.244.12.0/26", "10.0.1.11"),
        ("10.244.13.0/26", "10.0.1.12"),
    ] {
        let block: ipnet::IpNet = block.parse().unwrap();
        let owner = owner.parse().unwrap();
        net.host("n0")
            .wait_for_routes(&format!("{block}"), CONVERGE, |routes| {
                routes
                    .iter()
                    .any(|r| r.destination == block && r.gateway() == Some(owner))
            })
            .unwrap();
    }
}

/// BIRD's `allow local as` (Calico's BGPPeer numAllowedLocalASNumbers):
/// from a peer allowed one, a path that went through this AS once is taken
/// and one that went through it twice is not; a peer allowed none takes
/// neither (RFC 4271 §9.1.2's loop check). BIRD 1.6 peers put this AS in
/// their paths with `bgp_path.prepend`.
#[test]
fn allow_local_as_takes_paths_through_this_as_as_often_as_allowed() {
    require_privileges!();
    let net = lan("allow-local-as", 3);
    let config = node_config(
        "n0",
        "10.0.1.10",
        "10.244.0.0/26",
        &[
            ("10.0.1.11", 65011, "allow_local_as = 1"),
            ("10.0.1.12", 65012, ""),
        ],
    );
    let bgpd = start_bgpd(net.host("n0"), &config);
    let bird_config = |me: &str, asn: u32, first: &str, second: &str| {
        format!(
            "router id {me};
protocol device {{ }}
protocol static once {{ route {first} blackhole; }}
protocol static twice {{ route {second} blackhole; }}
protocol bgp bgpd {{
  local {me} as {asn};
  neighbor 10.0.1.10 as 64512;
  connect delay time 0;
  import all;
  export filter {{
    if proto = \"once\" then {{ bgp_path.prepend(64512); accept; }}
    if proto = \"twice\" then {{ bgp_path.prepend(64512); bgp_path.prepend(65099); bgp_path.prepend(64512); accept; }}
    reject;
  }};
}}
"
        )
    };
    let allowed = Bird::start(
        net.host("n1"),
        BirdVersion::V1_6,
        &bird_config("10.0.1.11", 65011, "10.50.1.0/24", "10.50.2.0/24"),
    )
    .unwrap();
    let strict = Bird::start(
        net.host("n2"),
        BirdVersion::V1_6,
        &bird_config("10.0.1.12", 65012, "10.60.1.0/24", "10.60.2.0/24"),
    )
    .unwrap();
    allowed.wait_established(1, CONVERGE).unwrap();
    strict.wait_established(1, CONVERGE).unwrap();
    // Every prefix of both peers received; then what was taken.
    for address in ["10.0.1.11", "10.0.1.12"] {
        testnets::wait_for(&format!("both prefixes of {address}"), CONVERGE, || {
            let counters = peer(&bgpd, address)["counters"].clone();
            Ok(if counters["prefixesReceived"] == 2 {
                testnets::Poll::Ready(())
            } else {
                testnets::Poll::Pending(format!("counters {counters}"))
            })
        })
        .unwrap();
    }
    assert_eq!(peer(&bgpd, "10.0.1.11")["counters"]["prefixesAccepted"], 1);
    assert_eq!(peer(&bgpd, "10.0.1.12")["counters"]["prefixesAccepted"], 0);
    let n0 = net.host("n0");
    n0.wait_for_routes("10.50.1.0/24 through n1", CONVERGE, |routes| {
        routes
            .iter()
            .any(|r| r.destination.to_string() == "10.50.1.0/24")
    })
    .unwrap();
    let held: Vec<String> = n0
        .routes()
        .unwrap()
        .iter()
        .map(|r| r.destination.to_string())
        .filter(|d| d.starts_with("10.50.") || d.starts_with("10.60."))
        .collect();
    assert_eq!(held, ["10.50.1.0/24"], "what bgpd took");
}
