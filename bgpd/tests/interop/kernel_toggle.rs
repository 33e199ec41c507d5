//! The kernel section turned off and on by a reload. Off ("BGP only", where
//! Felix owns routes), bgpd programs nothing and routesync holds nothing;
//! turning it off removes bgpd's routes; turning it on installs the table
//! as it is then, not as it was when the kernel went off.

use std::process::Command;

use ipnet::IpNet;
use testnets::speakers::bgpd::api_socket;
use testnets::speakers::gobgp::GoBgp;
use testnets::speakers::Speaker;
use testnets::{require_privileges, wait_for, Host, Poll, PROTO_BIRD};

use crate::support::{lan, node_config, start_bgpd, CONVERGE};

const GOBGP: &str = "[global.config]
  as = 64512
  router-id = \"10.0.1.11\"
[[neighbors]]
  [neighbors.config]
    neighbor-address = \"10.0.1.10\"
    peer-as = 64512
  [neighbors.timers.config]
    connect-retry = 5
";

fn config(kernel: bool) -> String {
    let mut c = node_config(
        "n0",
        "10.0.1.10",
        "10.244.0.0/26",
        &[("10.0.1.11", 64512, "")],
    );
    c.push_str(&format!("\n[kernel]\nenabled = {kernel}\n"));
    c
}

/// The prefixes in bgpd's Loc-RIB, from bgpctl.
fn rib(host: &Host) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_bgpctl"))
        .arg("--socket")
        .arg(api_socket(host))
        .args(["-o", "json", "show", "routes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut prefixes: Vec<String> = json["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["prefix"].as_str().unwrap().to_owned())
        .collect();
    prefixes.sort();
    prefixes
}

fn kernel(host: &Host) -> Vec<String> {
    let mut routes: Vec<String> = testnets::routes::main_table(host.routes().unwrap())
        .iter()
        .filter(|r| r.protocol == PROTO_BIRD)
        .map(|r| r.destination.to_string())
        .collect();
    routes.sort();
    routes
}

fn wait_until(what: &str, mut done: impl FnMut() -> Result<(), String>) {
    wait_for(what, CONVERGE, || {
        Ok(match done() {
            Ok(()) => Poll::Ready(()),
            Err(state) => Poll::Pending(state),
        })
    })
    .unwrap();
}

fn wait_for_kernel(host: &Host, expected: &[&str]) {
    wait_until(&format!("the kernel to hold {expected:?}"), || {
        let now = kernel(host);
        if now == expected {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    });
}

#[test]
fn turning_the_kernel_off_and_on_programs_the_table_as_it_is() {
    require_privileges!();
    let net = lan("bgpd-kernel-toggle", 2);
    let host = net.host("n0");
    let mut bgpd = start_bgpd(host, &config(false));
    let go = GoBgp::start(net.host("n1"), GOBGP).unwrap();
    let (one, two): (IpNet, IpNet) = (
        "10.244.1.0/26".parse().unwrap(),
        "10.244.2.0/26".parse().unwrap(),
    );
    go.announce(one).unwrap();
    go.announce(two).unwrap();
    go.wait_established(1, CONVERGE).unwrap();
    let all = ["10.244.0.0/26", "10.244.1.0/26", "10.244.2.0/26"];
    wait_until("bgpd to learn both blocks", || {
        let now = rib(host);
        if now == all {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    });
    assert_eq!(kernel(host), Vec::<String>::new(), "the kernel is off");

    bgpd.reload(&config(true)).unwrap();
    wait_for_kernel(host, &all);

    bgpd.reload(&config(false)).unwrap();
    wait_for_kernel(host, &[]);

    // While off, a block goes; on again, it is not installed.
    go.withdraw(two).unwrap();
    wait_until("bgpd to drop the withdrawn block", || {
        let now = rib(host);
        if now.len() == 2 {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    });
    bgpd.reload(&config(true)).unwrap();
    wait_for_kernel(host, &["10.244.0.0/26", "10.244.1.0/26"]);
}
