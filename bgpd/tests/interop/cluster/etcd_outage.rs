//! Scenario 9: etcd goes away. Stopped for 30 s, nothing is lost anywhere
//! (bgpd keeps the last good state) and the first change after it returns
//! applies. With a three-member etcd cluster, losing one member goes
//! unnoticed: no route, no session, and changes go on applying.

use std::time::Duration;

use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::{self, Etcd};
use testnets::{require_privileges, wait_for, Host, Network, Poll, Topology};

use crate::cluster::{
    bgpd_routes, established_since, put_lan_nodes, put_pool, start_from_etcd, table_changes_while,
    LAN_NODES,
};
use crate::support::{binary, lan, put_block, CONVERGE};

/// Waits until every node of LAN_NODES routes `block` of `owner`.
fn wait_for_block_everywhere(net: &Network, owner: &str, block: &str) {
    let address = LAN_NODES.iter().find(|(n, _, _)| *n == owner).unwrap().1;
    for (name, _, _) in LAN_NODES {
        let expected = if name == owner {
            format!("blackhole {block} proto bird")
        } else {
            format!("{block} via {address} dev eth0 proto bird metric 1024")
        };
        let host = net.host(name);
        wait_for(&format!("{expected} on {name}"), CONVERGE, || {
            let now = bgpd_routes(host);
            Ok(if now.contains(&expected) {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("{now:#?}"))
            })
        })
        .unwrap();
    }
}

fn hosts(net: &Network) -> Vec<&Host> {
    LAN_NODES
        .iter()
        .map(|(name, _, _)| net.host(name))
        .collect()
}

fn uptimes(net: &Network) -> Vec<std::collections::BTreeMap<String, String>> {
    hosts(net).into_iter().map(established_since).collect()
}

#[test]
fn etcd_stopped_for_thirty_seconds_loses_nothing_and_the_next_change_applies() {
    require_privileges!();
    let net = lan("cluster-etcd-down", 4);
    let mut etcd = Etcd::start(net.host("n0")).unwrap();
    put_pool(&etcd, "CrossSubnet");
    put_lan_nodes(&etcd);
    let speakers: Vec<Bgpd> = LAN_NODES
        .iter()
        .map(|(name, _, _)| start_from_etcd(&net, &etcd, name))
        .collect();
    for (owner, _, block) in LAN_NODES {
        wait_for_block_everywhere(&net, owner, block);
    }
    let before = uptimes(&net);

    let ((), changes) = table_changes_while(&hosts(&net), || {
        etcd.process().stop();
        wait_for("every bgpd to notice the outage", CONVERGE, || {
            let unaware: Vec<String> = speakers
                .iter()
                .map(Bgpd::log)
                .filter(|log| !log.contains("etcd unreachable"))
                .collect();
            Ok(if unaware.is_empty() {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("{} still unaware", unaware.len()))
            })
        })
        .unwrap();
        std::thread::sleep(Duration::from_secs(30));
    });
    assert!(
        changes.is_empty(),
        "tables changed while etcd was away: {changes:?}"
    );

    // Back, with its data: the first change made applies everywhere.
    let etcd = Etcd::start(net.host("n0")).unwrap();
    put_block(&etcd, "n2", "10.244.22.0/26");
    wait_for_block_everywhere(&net, "n2", "10.244.22.0/26");
    assert_eq!(uptimes(&net), before, "a session flapped across the outage");
}

#[test]
fn losing_one_member_of_a_three_member_etcd_goes_unnoticed() {
    require_privileges!();
    let mut topology = Topology::new("cluster-etcd3");
    topology.segment("lan");
    for i in 1..=3 {
        topology
            .host(&format!("e{i}"))
            .iface("lan", &[&format!("10.0.1.20{i}/24")]);
    }
    for (name, address, _) in LAN_NODES {
        topology
            .node(name)
            .iface("lan", &[&format!("{address}/24")]);
    }
    let net = topology.build().unwrap();
    let mut members =
        Etcd::start_cluster(&[net.host("e1"), net.host("e2"), net.host("e3")]).unwrap();
    let endpoints = etcd::endpoints(&members);
    put_pool(&members[0], "CrossSubnet");
    put_lan_nodes(&members[0]);
    let speakers: Vec<Bgpd> = LAN_NODES
        .iter()
        .map(|(name, _, _)| {
            Bgpd::start_with_etcd(net.host(name), binary(), &endpoints, name, 179).unwrap()
        })
        .collect();
    for (owner, _, block) in LAN_NODES {
        wait_for_block_everywhere(&net, owner, block);
    }
    let before = uptimes(&net);

    // The first member, which every bgpd follows (they try the members in
    // ETCD_ENDPOINTS order), goes: each fails over, and nothing moves.
    let ((), changes) = table_changes_while(&hosts(&net), || {
        members[0].process().stop();
        wait_for("every bgpd to fail over", CONVERGE, || {
            let behind = speakers
                .iter()
                .filter(|s| !s.log().contains("etcd member lost"))
                .count();
            Ok(match behind {
                0 => Poll::Ready(()),
                n => Poll::Pending(format!("{n} still on the lost member")),
            })
        })
        .unwrap();
        std::thread::sleep(Duration::from_secs(1));
    });
    assert!(
        changes.is_empty(),
        "tables changed when one member went: {changes:?}"
    );
    // A change written to a surviving member applies everywhere.
    put_block(&members[1], "n3", "10.244.33.0/26");
    wait_for_block_everywhere(&net, "n3", "10.244.33.0/26");
    assert_eq!(uptimes(&net), before, "a session flapped");
    for speaker in &speakers {
        assert!(
            !speaker.log().contains("etcd unreachable"),
            "a lost member is a failover, not an outage:\n{}",
            speaker.log()
        );
    }
}
