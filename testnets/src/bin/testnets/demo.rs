//! `testnets demo`: a Calico cluster of four nodes in two subnets, joined by a
//! router, with every node's bgpd following Calico's resources in etcd. It
//! shows what an operator would look at: `bgpctl node status` and the kernel
//! routes of each node, eth0 inside a subnet and tunl0 across the router.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use testnets::speakers::bgpd::{api_socket, Bgpd};
use testnets::speakers::etcd::Etcd;
use testnets::{Error, Network, Result, Topology, PROTO_BIRD};

const RESOURCES: &str = "/calico/resources/v3/projectcalico.org";

/// Long enough for a loaded machine; the cluster converges in about a second.
const CONVERGE: Duration = Duration::from_secs(60);

/// The nodes of `topologies/demo.toml`: name, address, pod block.
const NODES: [(&str, &str, &str); 4] = [
    ("n1", "10.0.1.11", "10.244.1.0/26"),
    ("n2", "10.0.1.12", "10.244.2.0/26"),
    ("n3", "10.0.2.13", "10.244.3.0/26"),
    ("n4", "10.0.2.14", "10.244.4.0/26"),
];

pub struct Binaries {
    pub bgpd: PathBuf,
    pub bgpctl: PathBuf,
}

pub fn run(topology: &Path, binaries: &Binaries, keep: bool) -> Result<()> {
    step("1. A cluster in network namespaces: n1, n2 on 10.0.1.0/24; n3, n4 on 10.0.2.0/24; router r1");
    let network = Topology::load(topology)?.build()?;

    step("2. etcd on r1, with Calico's resources: an IP pool in CrossSubnet mode, four nodes, a block each");
    let etcd = Etcd::start(network.host("r1"))?;
    write_resources(&etcd)?;

    step("3. bgpd on every node, reading etcd (ETCD_ENDPOINTS, NODENAME as in calico-node)");
    let mut speakers = Vec::new();
    for (name, _, _) in NODES {
        let host = network.host(name);
        // No Felix runs here: bgpd programs every pool's routes, IP-in-IP
        // included, whatever BGPConfiguration programClusterRoutes leaves unset.
        speakers.push(Bgpd::start_with_etcd_env(
            host,
            &binaries.bgpd,
            etcd.endpoint(),
            name,
            179,
            &[(
                "BGPD_CLUSTER_ROUTES_DEFAULT",
                std::ffi::OsStr::new("Enabled"),
            )],
        )?);
    }
    wait_for_every_block(&network)?;

    step("4. What an operator sees on each node");
    println!("(bgpctl node status prints calicoctl's table; its first line is calicoctl's");
    println!(" check for Felix, which this demo does not run)");
    for (name, _, _) in NODES {
        let host = network.host(name);
        println!("--- {name}: bgpctl node status");
        print!(
            "{}",
            bgpctl(&binaries.bgpctl, &api_socket(host), &["node", "status"])?
        );
        println!("--- {name}: ip route");
        print!("{}", host.exec("ip", ["route"])?);
        println!();
    }

    step("5. Pods talk across the mesh");
    ping(&network, "p1", "p2")?;
    ping(&network, "p3", "p4")?;
    let across = network
        .host("n1")
        .exec("ip", ["route", "get", "10.244.3.5"])?;
    println!(
        "p1 -> p3 crosses the router, so n1 sends it IP-in-IP:\n  {}\
         (this kernel has no ipip module; tunl0 is a stand-in here, so that path is shown, not pinged)",
        across.lines().next().unwrap_or_default()
    );

    if keep {
        keep_until_interrupted(&network, binaries);
    }
    step("6. Tearing everything down");
    drop(speakers);
    drop(etcd);
    drop(network);
    println!("done: every namespace and process of the demo is gone");
    Ok(())
}

/// Shows how to look around, then waits: Ctrl-C ends the process through
/// the run's handler, which removes every namespace and process.
fn keep_until_interrupted(network: &Network, binaries: &Binaries) -> ! {
    step("The cluster stays up until Ctrl-C. To look around:");
    for (name, _, _) in NODES {
        let host = network.host(name);
        println!(
            "  {name}: ip netns exec {} bash    then: {} --socket {} node status",
            host.ns().name(),
            binaries.bgpctl.display(),
            api_socket(host).display()
        );
    }
    loop {
        std::thread::park();
    }
}

fn step(what: &str) {
    println!("\n== {what}");
}

fn write_resources(etcd: &Etcd) -> Result<()> {
    let pool = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
                      "metadata": {"name": "default-ipv4-ippool"},
                      "spec": {"cidr": "10.244.0.0/16", "ipipMode": "CrossSubnet", "natOutgoing": true}});
    etcd.put_json(&format!("{RESOURCES}/ippools/default-ipv4-ippool"), &pool)?;
    for (name, address, block) in NODES {
        let node = json!({"kind": "Node", "apiVersion": "projectcalico.org/v3",
                          "metadata": {"name": name},
                          "spec": {"bgp": {"ipv4Address": format!("{address}/24")}}});
        etcd.put_json(&format!("{RESOURCES}/nodes/{name}"), &node)?;
        // Calico's IPAM marks the block as this node's (a confirmed affinity).
        let key = format!(
            "/calico/ipam/v2/host/{name}/ipv4/block/{}",
            block.replace('/', "-")
        );
        etcd.put(&key, r#"{"state":"confirmed","deleted":false}"#)?;
    }
    Ok(())
}

/// Waits until every node's kernel has every other node's block from bgpd.
fn wait_for_every_block(network: &Network) -> Result<()> {
    for (name, _, own) in NODES {
        let others: Vec<ipnet::IpNet> = NODES
            .iter()
            .filter(|(_, _, block)| *block != own)
            .filter_map(|(_, _, block)| block.parse().ok())
            .collect();
        network
            .host(name)
            .wait_for_routes("every other node's block", CONVERGE, |routes| {
                others.iter().all(|block| {
                    routes
                        .iter()
                        .any(|r| r.destination == *block && r.protocol == PROTO_BIRD)
                })
            })?;
    }
    println!("every node has every other node's block in its kernel");
    Ok(())
}

/// `bgpctl` is an operator's tool on the node: it talks to bgpd over the API
/// socket, a file, so it needs no namespace.
fn bgpctl(binary: &Path, socket: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new(binary)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .map_err(|source| Error::Io {
            what: format!("running {}", binary.display()),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::Command {
            command: format!("bgpctl {}", args.join(" ")),
            detail: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn ping(network: &Network, from: &str, to: &str) -> Result<()> {
    let target: IpAddr = network.pod(to).address();
    network.pod(from).ping(target)?;
    println!("{from} -> {to} ({target}): ping ok");
    Ok(())
}
