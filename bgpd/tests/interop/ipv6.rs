//! IPv6: bgpd in an iBGP mesh over IPv6 with BIRD 2 and FRR, each announcing
//! a /122 block (Calico's IPv6 block size) in MP_REACH_NLRI.

use ipnet::IpNet;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::frr::Frr;
use testnets::speakers::Speaker;
use testnets::{require_privileges, Topology};

use crate::support::{start_bgpd, CONVERGE};

const NODES: [(&str, &str, &str, &str); 3] = [
    ("n0", "10.0.1.10", "fd00:1::10", "fd00:244::/122"),
    ("n1", "10.0.1.11", "fd00:1::11", "fd00:244::40/122"),
    ("n2", "10.0.1.12", "fd00:1::12", "fd00:244::80/122"),
];

fn bgpd_config() -> String {
    let mut c = String::from(
        "node_name = \"n0\"\nrouter_id = \"10.0.1.10\"\nlocal_as = 64512\naddresses = [\"10.0.1.10/24\", \"fd00:1::10/64\"]\n\n\
         [export]\nprefixes = [\"fd00:244::/48\"]\n\n[[originate]]\nprefix = \"fd00:244::/122\"\nkind = \"block\"\n",
    );
    for (_, _, v6, _) in &NODES[1..] {
        c.push_str(&format!("\n[[peer]]\naddress = \"{v6}\"\nremote_as = 64512\nkind = \"mesh\"\nconnect_delay_time = 1\n"));
    }
    c
}

const BIRD: &str = "router id 10.0.1.11;
protocol device { }
protocol kernel { ipv6 { import none; export where source = RTS_BGP; }; }
protocol static own { ipv6; route fd00:244::40/122 blackhole; }
template bgp mesh {
  local fd00:1::11 as 64512;
  direct;
  connect delay time 0;
  connect retry time 5;
  ipv6 { gateway direct; import all; export where source = RTS_STATIC; };
}
protocol bgp bgpd from mesh { neighbor fd00:1::10 as 64512; }
protocol bgp frr from mesh { neighbor fd00:1::12 as 64512; }
";

const FRR: &str = "frr defaults traditional
router bgp 64512
 bgp router-id 10.0.1.12
 no bgp default ipv4-unicast
 no bgp network import-check
 coalesce-time 100
 neighbor fd00:1::10 remote-as 64512
 neighbor fd00:1::10 timers connect 5
 neighbor fd00:1::11 remote-as 64512
 neighbor fd00:1::11 timers connect 5
 address-family ipv6 unicast
  network fd00:244::80/122
  neighbor fd00:1::10 activate
  neighbor fd00:1::11 activate
 exit-address-family
";

#[test]
fn bgpd_exchanges_ipv6_blocks_with_bird_and_frr() {
    require_privileges!();
    let mut topology = Topology::new("bgpd-ipv6");
    topology.segment("lan");
    for (name, v4, v6, _) in NODES {
        topology
            .node(name)
            .iface("lan", &[&format!("{v4}/24"), &format!("{v6}/64")]);
    }
    let net = topology.build().unwrap();
    let _bgpd = start_bgpd(net.host("n0"), &bgpd_config());
    let bird = Bird::start(net.host("n1"), BirdVersion::V2, BIRD).unwrap();
    let frr = Frr::start(net.host("n2"), FRR).unwrap();

    let block = |i: usize| -> IpNet { NODES[i].3.parse().unwrap() };
    bird.wait_established(2, CONVERGE).unwrap();
    frr.wait_established(2, CONVERGE).unwrap();
    bird.wait_received(&[block(0), block(2)], CONVERGE).unwrap();
    frr.wait_received(&[block(0), block(1)], CONVERGE).unwrap();
    // BIRD installs bgpd's block via bgpd's IPv6 address.
    net.host("n1")
        .wait_for_routes("bgpd's IPv6 block", CONVERGE, |routes| {
            routes.iter().any(|r| {
                r.destination == block(0) && r.gateway() == Some("fd00:1::10".parse().unwrap())
            })
        })
        .unwrap();
}
