//! Faults, each ending with every kernel as the datastore says and nothing
//! lost on the way: bgpd killed (`kill -9`) while a large update is under
//! way, then started again; a node's link dropped and restored; a node's
//! address changed.

use std::time::Duration;

use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::Etcd;
use testnets::{require_privileges, Network, RouteMonitor};

use crate::cluster::{
    bgpd_routes, established_since, put_lan_nodes, put_pool, start_from_etcd, wait_for_blocks,
    wait_for_every_block, LAN_NODES,
};
use crate::support::{lan, put_block, put_node};

/// Every node, with `extra` blocks of n2 as well.
fn nodes() -> Vec<(String, String, String)> {
    LAN_NODES
        .iter()
        .map(|(n, a, b)| ((*n).to_owned(), (*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// n2's extra blocks: 10.244.64.0/26 onwards.
fn extra_blocks(count: u16) -> Vec<String> {
    (0..count)
        .map(|i| format!("10.244.{}.{}/26", 64 + i / 4, 64 * (i % 4)))
        .collect()
}

/// etcd on n0 with the pool and [`LAN_NODES`], and a bgpd on each of them
/// (n1 first), once every kernel routes every block.
fn start_cluster(net: &Network) -> (Etcd, Vec<Bgpd>) {
    let etcd = Etcd::start(net.host("n0")).unwrap();
    put_pool(&etcd, "CrossSubnet");
    put_lan_nodes(&etcd);
    let bgpds = LAN_NODES
        .iter()
        .map(|(name, _, _)| start_from_etcd(net, &etcd, name))
        .collect();
    wait_for_every_block(net, &nodes(), "every block");
    (etcd, bgpds)
}

#[test]
fn bgpd_killed_during_a_large_update_comes_back_with_nothing_lost() {
    require_privileges!();
    let net = lan("resilience-kill", 4);
    let (etcd, mut bgpds) = start_cluster(&net);
    let watchers: Vec<RouteMonitor> = ["n2", "n3"]
        .iter()
        .map(|n| RouteMonitor::start(net.host(n)).unwrap())
        .collect();

    // n2 gains 200 blocks; n1 is killed while they stream in.
    let extra = extra_blocks(200);
    for (i, block) in extra.iter().enumerate() {
        put_block(&etcd, "n2", block);
        if i == 100 {
            bgpds[0].process().kill();
        }
    }
    let _n1 = start_from_etcd(&net, &etcd, "n1");

    // Every node ends with every block: n2's new ones via n2, as blackholes
    // on n2 itself.
    let via_n2 = |block: &String| {
        (
            block.clone(),
            format!("{block} via 10.0.1.12 dev eth0 proto bird metric 1024"),
        )
    };
    for name in ["n1", "n3"] {
        let expected: Vec<(String, String)> = extra.iter().map(via_n2).collect();
        wait_for_blocks(net.host(name), "n2's new blocks", &expected);
    }
    let blackholes: Vec<(String, String)> = extra
        .iter()
        .map(|b| (b.clone(), format!("blackhole {b} proto bird")))
        .collect();
    wait_for_blocks(net.host("n2"), "n2's new blackholes", &blackholes);
    wait_for_every_block(&net, &nodes(), "every first block again");
    // n1's block never left the others' kernels: they kept it through the
    // restart (RFC 4724), and n1's new session re-announced it.
    for watcher in &watchers {
        assert_eq!(watcher.deletions("10.244.1.0/26"), Vec::<String>::new());
    }
}

#[test]
fn a_dropped_link_comes_back_to_the_same_table() {
    require_privileges!();
    let net = lan("resilience-link", 4);
    let (_etcd, _bgpds) = start_cluster(&net);
    let n1 = net.host("n1");
    let before = bgpd_routes(n1);
    let sessions = established_since(n1);

    // Down for three seconds: the kernel takes the routes through eth0
    // away; the hold time (240 s) keeps the sessions.
    n1.ns().ip(["link", "set", "eth0", "down"]).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_ne!(
        bgpd_routes(n1),
        before,
        "the kernel dropped routes with the link"
    );
    n1.ns().ip(["link", "set", "eth0", "up"]).unwrap();

    // routesync puts them back when the link comes up.
    wait_for_every_block(&net, &nodes(), "every block after the link came back");
    assert_eq!(bgpd_routes(n1), before);
    assert_eq!(established_since(n1), sessions, "no session went down");
}

#[test]
fn a_node_whose_address_changes_is_found_at_the_new_one() {
    require_privileges!();
    let net = lan("resilience-move", 4);
    let (etcd, _bgpds) = start_cluster(&net);
    let n1_sessions = established_since(net.host("n1"));

    // n3 moves from 10.0.1.13 to 10.0.1.23: its interface (the old address
    // first: deleting a primary address takes its secondaries with it),
    // then its Node.
    let n3 = net.host("n3").ns();
    n3.ip(["addr", "del", "10.0.1.13/24", "dev", "eth0"])
        .unwrap();
    n3.ip(["addr", "add", "10.0.1.23/24", "dev", "eth0"])
        .unwrap();
    put_node(&etcd, "n3", "10.0.1.23");

    let moved: Vec<(String, String, String)> = nodes()
        .into_iter()
        .map(|(name, address, block)| {
            let address = if name == "n3" {
                "10.0.1.23".to_owned()
            } else {
                address
            };
            (name, address, block)
        })
        .collect();
    wait_for_every_block(&net, &moved, "every block, n3's via its new address");
    // The session between n1 and n2 was not touched.
    assert_eq!(
        established_since(net.host("n1")).get("10.0.1.12"),
        n1_sessions.get("10.0.1.12")
    );
}
