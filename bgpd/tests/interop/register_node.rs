//! `bgpd --register-node` against a real etcd, in a node with two
//! interfaces (eth0 10.0.1.10/24 and fd00:1::10/64 on the cluster's segment,
//! eth1 192.168.5.10/24 and fd00:5::10/64): the Node gets the addresses
//! calico-node's `IP_AUTODETECTION_METHOD` and `IP6_AUTODETECTION_METHOD`
//! would have found, every other field of a stored Node stays, and an
//! address an operator set is never overwritten.

use std::ffi::OsStr;

use serde_json::{json, Value};
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::etcd::Etcd;
use testnets::{require_privileges, Topology};

use crate::support::{binary, RESOURCES};

fn node(etcd: &Etcd, name: &str) -> Value {
    let stored = etcd
        .get(&format!("{RESOURCES}/nodes/{name}"))
        .unwrap()
        .unwrap_or_else(|| panic!("no Node {name}"));
    serde_json::from_str(&stored).unwrap()
}

/// bgpd registering as `name` with `method` and, when given, IPv6 found
/// by `method6`; running once it is up.
fn register(
    net: &testnets::Network,
    etcd: &Etcd,
    name: &str,
    method: &str,
    method6: Option<&str>,
) -> Bgpd {
    let mut env: Vec<(&str, &OsStr)> = vec![
        ("BGPD_REGISTER_NODE", OsStr::new("true")),
        ("IP_AUTODETECTION_METHOD", OsStr::new(method)),
    ];
    if let Some(method6) = method6 {
        env.push(("IP6", OsStr::new("autodetect")));
        env.push(("IP6_AUTODETECTION_METHOD", OsStr::new(method6)));
    }
    Bgpd::start_with_etcd_env(net.host("n0"), binary(), etcd.endpoint(), name, 179, &env).unwrap()
}

#[test]
fn register_node_writes_the_autodetected_address_and_keeps_what_was_set() {
    require_privileges!();
    let mut topology = Topology::new("register");
    topology.segment("lan");
    topology.segment("other");
    topology
        .node("n0")
        .iface("lan", &["10.0.1.10/24", "fd00:1::10/64"])
        .iface("other", &["192.168.5.10/24", "fd00:5::10/64"]);
    topology
        .node("n1")
        .iface("lan", &["10.0.1.11/24", "fd00:1::11/64"]);
    let net = topology.build().unwrap();
    let etcd = Etcd::start(net.host("n1")).unwrap();

    // No Node at all: created, with the addresses inside the CIDRs asked for.
    let mut bgpd = register(
        &net,
        &etcd,
        "fresh",
        "cidr=192.168.5.0/24",
        Some("cidr=fd00:5::/48"),
    );
    let fresh = node(&etcd, "fresh");
    assert_eq!(fresh["spec"]["bgp"]["ipv4Address"], "192.168.5.10/24");
    assert_eq!(fresh["spec"]["bgp"]["ipv6Address"], "fd00:5::10/64");
    assert_eq!(fresh["kind"], "Node");
    bgpd.process().stop();

    // A Node without spec.bgp (labels, an orchestrator reference): the
    // address is added and the rest kept.
    let labelled = json!({"kind": "Node", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "labelled", "labels": {"rack": "r1"}},
        "spec": {"orchRefs": [{"nodeName": "labelled", "orchestrator": "k8s"}]}});
    etcd.put_json(&format!("{RESOURCES}/nodes/labelled"), &labelled)
        .unwrap();
    // IP6 unset is none, as in calico-node: no IPv6 address is written.
    let mut bgpd = register(&net, &etcd, "labelled", "first-found", None);
    let labelled = node(&etcd, "labelled");
    assert_eq!(labelled["spec"]["bgp"]["ipv4Address"], "10.0.1.10/24");
    assert_eq!(labelled["spec"]["bgp"].get("ipv6Address"), None);
    assert_eq!(labelled["metadata"]["labels"]["rack"], "r1");
    assert_eq!(labelled["spec"]["orchRefs"][0]["orchestrator"], "k8s");
    bgpd.process().stop();

    // can-reach: the address the kernel sends from towards n1.
    etcd.delete(&format!("{RESOURCES}/nodes/fresh")).unwrap();
    let mut bgpd = register(
        &net,
        &etcd,
        "fresh",
        "can-reach=10.0.1.11",
        Some("can-reach=fd00:1::11"),
    );
    let fresh = node(&etcd, "fresh");
    assert_eq!(fresh["spec"]["bgp"]["ipv4Address"], "10.0.1.10/24");
    assert_eq!(fresh["spec"]["bgp"]["ipv6Address"], "fd00:1::10/64");
    bgpd.process().stop();

    // An operator's address stays, whatever autodetection finds; the family
    // it left unset is filled.
    let set = json!({"kind": "Node", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "set"}, "spec": {"bgp": {"ipv4Address": "10.0.1.99/24"}}});
    etcd.put_json(&format!("{RESOURCES}/nodes/set"), &set)
        .unwrap();
    let _bgpd = register(&net, &etcd, "set", "interface=eth1", Some("interface=eth1"));
    let set = node(&etcd, "set");
    assert_eq!(set["spec"]["bgp"]["ipv4Address"], "10.0.1.99/24");
    assert_eq!(set["spec"]["bgp"]["ipv6Address"], "fd00:5::10/64");
}

#[test]
fn register_node_refuses_a_method_it_cannot_read() {
    require_privileges!();
    let net = crate::support::lan("register-bad", 2);
    let etcd = Etcd::start(net.host("n1")).unwrap();
    let env: [(&str, &OsStr); 2] = [
        ("BGPD_REGISTER_NODE", OsStr::new("true")),
        ("IP_AUTODETECTION_METHOD", OsStr::new("nearest=10.0.0.1")),
    ];
    let mut bgpd =
        Bgpd::spawn_with_etcd(net.host("n0"), binary(), etcd.endpoint(), "n0", &env).unwrap();
    let status = testnets::wait_for(
        "bgpd to refuse the method",
        crate::support::CONVERGE,
        || {
            Ok(match bgpd.exited() {
                Some(status) => testnets::Poll::Ready(status),
                None => testnets::Poll::Pending("running".into()),
            })
        },
    )
    .unwrap();
    assert_eq!(status.code(), Some(2));
    assert!(
        bgpd.log().contains("IP_AUTODETECTION_METHOD"),
        "{}",
        bgpd.log()
    );
    assert_eq!(etcd.get(&format!("{RESOURCES}/nodes/n0")).unwrap(), None);
}

/// The peers `host`'s bgpd has Established, by address.
fn established(host: &testnets::Host) -> Vec<String> {
    let out = std::process::Command::new(binary().with_file_name("bgpctl"))
        .arg("--socket")
        .arg(testnets::speakers::bgpd::api_socket(host))
        .args(["-o", "json", "show", "peers"])
        .output()
        .unwrap();
    let peers: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    peers["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["state"] == "established")
        .filter_map(|p| p["address"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_fresh_node_joins_and_its_address_change_is_followed() {
    require_privileges!();
    let net = crate::support::lan("register-follow", 3);
    let etcd = Etcd::start(net.host("n2")).unwrap();
    crate::support::put_node(&etcd, "n1", "10.0.1.11");
    crate::support::put_block(&etcd, "n0", "10.244.0.0/26");
    crate::support::put_block(&etcd, "n1", "10.244.1.0/26");
    // n0 has no Node: it registers itself, as the sidecar manifest does.
    let env: [(&str, &OsStr); 2] = [
        ("BGPD_REGISTER_NODE", OsStr::new("true")),
        ("IP_AUTODETECTION_METHOD", OsStr::new("cidr=10.0.1.0/24")),
    ];
    let _n0 = Bgpd::spawn_with_etcd(net.host("n0"), binary(), etcd.endpoint(), "n0", &env).unwrap();
    let _n1 = Bgpd::spawn_with_etcd(net.host("n1"), binary(), etcd.endpoint(), "n1", &[]).unwrap();
    let n1 = net.host("n1");
    let via = |gateway: &'static str| {
        move |routes: &[testnets::routes::KernelRoute]| {
            routes.iter().any(|r| {
                r.destination.to_string() == "10.244.0.0/26"
                    && r.gateway().map(|g| g.to_string()).as_deref() == Some(gateway)
            })
        }
    };
    n1.wait_for_routes(
        "n0's block via its first address",
        crate::support::CONVERGE,
        via("10.0.1.10"),
    )
    .unwrap();

    // n0's address moves (a new DHCP lease, say): the old one goes (with it
    // any other of its subnet: the kernel drops secondaries with their
    // primary), then the new one comes. The Node follows, and n1 peers with
    // the new address.
    let n0 = net.host("n0");
    n0.exec("ip", ["addr", "del", "10.0.1.10/24", "dev", "eth0"])
        .unwrap();
    n0.exec("ip", ["addr", "add", "10.0.1.20/24", "dev", "eth0"])
        .unwrap();
    testnets::wait_for("the Node to follow", crate::support::CONVERGE, || {
        let address = node(&etcd, "n0")["spec"]["bgp"]["ipv4Address"].clone();
        Ok(if address == "10.0.1.20/24" {
            testnets::Poll::Ready(())
        } else {
            testnets::Poll::Pending(address.to_string())
        })
    })
    .unwrap();
    n1.wait_for_routes(
        "n0's block via its new address",
        crate::support::CONVERGE,
        via("10.0.1.20"),
    )
    .unwrap();
    assert_eq!(established(n1), ["10.0.1.20"]);
}
