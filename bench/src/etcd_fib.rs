//! S6: from an etcd write to the route in every remote kernel. A mesh of N
//! nodes configured from Calico's resources in etcd; the harness writes a
//! block affinity for one node (then deletes it) and times the change until
//! every other node's kernel agrees. bgpd follows etcd itself; the baseline
//! is Calico's own path, BIRD 1.6 driven by a confd-like loop (watch etcd,
//! render the configuration, `birdc configure`).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use confgen::watch::{list_once, EtcdConfig};
use serde_json::json;
use testnets::speakers::bgpd::Bgpd;
use testnets::speakers::bird::{Bird, BirdVersion};
use testnets::speakers::etcd::Etcd;
use testnets::{Error, Host, Network, Result, Topology};

use super::confd::{bird_config, Confd, ConfdNode};
use super::duts::Daemon;
use super::fibwatch::FibWatch;
use super::mesh::address;
use super::stats::percentile;
use super::tally::{settled, Prefixes, Tally};
use super::{changes, millis, usage, Metric, Options, Sample, Scenario};

pub struct EtcdToFib;

const METRICS: &[Metric] = &[
    Metric::lower("p99_ms", "etcd write to every kernel, p99 (ms)"),
    Metric::lower("p50_ms", "p50 (ms)"),
    Metric::lower("max_ms", "max (ms)"),
    Metric::lower("cpu_s", "CPU of all daemons (s)"),
];

const DAEMONS: &[Daemon] = &[Daemon::Bgpd, Daemon::Bird16];
const RESOURCES: &str = "/calico/resources/v3/projectcalico.org";
const ETCD_HOST: &str = "10.0.1.200";
const PAUSE: Duration = Duration::from_millis(20);

/// Node i's block is /26 number i-1; changes use the ones after.
pub(super) fn blocks(nodes: usize, changes: usize) -> Prefixes {
    Prefixes::new(Ipv4Addr::new(10, 244, 0, 0), 26, nodes + changes)
}

fn block_key(node: usize, block: &str) -> String {
    format!(
        "/calico/ipam/v2/host/n{node}/ipv4/block/{}",
        block.replace('/', "-")
    )
}

impl Scenario for EtcdToFib {
    fn id(&self) -> &'static str {
        "S6"
    }

    fn title(&self) -> &'static str {
        "etcd to the kernels"
    }

    fn method(&self) -> &'static str {
        "A mesh of N nodes and etcd on one segment, configured from Calico's resources (an IP \
         pool with ipipMode Never, a Node and a block affinity per node). bgpd follows etcd \
         itself (ETCD_ENDPOINTS, NODENAME); BIRD 1.6 goes Calico's way, through a confd-like \
         loop in the harness: a watch on etcd per node, the configuration rendered again on \
         every change (confgen, BIRD 1.6 as Debian ships it), written, and `birdc configure`. \
         The harness writes a new block affinity for a node through its own etcd client, then \
         deletes it, one change at a time (20 changes, 40 in all); each is timed from the \
         write until every other node's kernel agrees (netlink watchers). CPU is every \
         daemon's over the changes (not the confd loop's)."
    }

    fn daemons(&self) -> &'static [Daemon] {
        DAEMONS
    }

    fn sizes(&self, quick: bool) -> Vec<usize> {
        if quick {
            vec![4]
        } else {
            vec![20]
        }
    }

    fn metrics(&self) -> &'static [Metric] {
        METRICS
    }

    fn run_once(&self, daemon: Daemon, nodes: usize, options: &Options) -> Result<Sample> {
        let changes = changes(options);
        let prefixes = blocks(nodes, changes);
        let (net, etcd) = cluster_network("bench-s6", nodes, &prefixes)?;
        let mut tallies = Vec::new();
        let mut watches = Vec::new();
        for i in 1..=nodes {
            let tally = Arc::new(Tally::expecting(prefixes, nodes - 1).with_stamps());
            watches.push(FibWatch::start(net.host(&format!("n{i}")), tally.clone())?);
            tallies.push(tally);
        }
        let cluster = Cluster::start(daemon, &net, &etcd, nodes, options)?;
        for (i, tally) in tallies.iter().enumerate() {
            tally.wait(
                &format!("every other block in n{}'s kernel", i + 1),
                Duration::from_secs(60 + nodes as u64),
                |s| s.marks.full.is_some(),
            )?;
        }

        // The harness's own etcd client, inside the namespace that reaches etcd.
        let endpoint = etcd.endpoint().to_owned();
        let pids = cluster.pids.clone();
        let latencies = net.host("etcd").ns().enter(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(Error::io("start a runtime"))?;
            let mut client = runtime
                .block_on(etcd_client::Client::connect([endpoint.as_str()], None))
                .map_err(|e| Error::Bench(format!("connect to etcd: {e}")))?;
            let before = usage::sample(&pids);
            let mut latencies = Vec::with_capacity(2 * changes);
            for change in 0..changes {
                let node = 1 + (change * 7) % nodes;
                let index = nodes + change;
                let key = block_key(node, &prefixes.nth(index).to_string());
                for gained in [true, false] {
                    let t0 = Instant::now();
                    let written = if gained {
                        runtime
                            .block_on(client.put(
                                key.as_str(),
                                r#"{"state":"confirmed","deleted":false}"#,
                                None,
                            ))
                            .map(drop)
                    } else {
                        runtime
                            .block_on(client.delete(key.as_str(), None))
                            .map(drop)
                    };
                    written.map_err(|e| Error::Bench(format!("write {key}: {e}")))?;
                    latencies.push(millis(settled(&tallies, node, &[index], gained, t0)?));
                    std::thread::sleep(PAUSE);
                }
            }
            let after = usage::sample(&pids);
            Ok((latencies, after.cpu_since(&before)))
        });
        cluster.stop()?;
        for watch in watches {
            watch.stop()?;
        }
        let (latencies, cpu) = latencies?;
        Ok(Sample::from([
            ("p99_ms", percentile(&latencies, 99.0)),
            ("p50_ms", percentile(&latencies, 50.0)),
            ("max_ms", percentile(&latencies, 100.0)),
            ("cpu_s", cpu),
        ]))
    }
}

/// The segment of `nodes` nodes and etcd, with Calico's resources for them
/// written (node i's block the (i-1)th of `prefixes`).
pub(super) fn cluster_network(
    name: &str,
    nodes: usize,
    prefixes: &Prefixes,
) -> Result<(Network, Etcd)> {
    let mut topology = Topology::new(name);
    topology.segment("lan");
    topology
        .host("etcd")
        .iface("lan", &[&format!("{ETCD_HOST}/24")]);
    for i in 1..=nodes {
        topology
            .node(&format!("n{i}"))
            .iface("lan", &[&format!("{}/24", address(i))]);
    }
    let net = topology.build()?;
    let etcd = Etcd::start(net.host("etcd"))?;
    write_cluster(&etcd, nodes, prefixes)?;
    Ok((net, etcd))
}

/// Calico's resources for the cluster: the pool, a Node and a block
/// affinity per node.
fn write_cluster(etcd: &Etcd, nodes: usize, prefixes: &Prefixes) -> Result<()> {
    let pool = json!({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
                      "metadata": {"name": "default-ipv4-ippool"},
                      "spec": {"cidr": "10.244.0.0/16", "ipipMode": "Never"}});
    etcd.put_json(&format!("{RESOURCES}/ippools/default-ipv4-ippool"), &pool)?;
    for i in 1..=nodes {
        let node = json!({"kind": "Node", "apiVersion": "projectcalico.org/v3",
                          "metadata": {"name": format!("n{i}")},
                          "spec": {"bgp": {"ipv4Address": format!("{}/24", address(i))}}});
        etcd.put_json(&format!("{RESOURCES}/nodes/n{i}"), &node)?;
        etcd.put(
            &block_key(i, &prefixes.nth(i - 1).to_string()),
            r#"{"state":"confirmed","deleted":false}"#,
        )?;
    }
    Ok(())
}

/// Every node's daemon, and for BIRD the loop that configures it.
pub(super) struct Cluster {
    bgpds: Vec<Bgpd>,
    birds: Vec<Bird>,
    confd: Option<Confd>,
    pub(super) pids: Vec<u32>,
}

impl Cluster {
    pub(super) fn start(
        daemon: Daemon,
        net: &Network,
        etcd: &Etcd,
        nodes: usize,
        options: &Options,
    ) -> Result<Self> {
        let hosts: Vec<&Host> = (1..=nodes).map(|i| net.host(&format!("n{i}"))).collect();
        let mut cluster = Self {
            bgpds: Vec::new(),
            birds: Vec::new(),
            confd: None,
            pids: Vec::new(),
        };
        match daemon {
            Daemon::Bgpd => {
                for (i, host) in hosts.iter().enumerate() {
                    let mut bgpd = Bgpd::start_with_etcd(
                        host,
                        &options.bgpd,
                        etcd.endpoint(),
                        &format!("n{}", i + 1),
                        179,
                    )?;
                    cluster.pids.push(bgpd.process().pid());
                    cluster.bgpds.push(bgpd);
                }
            }
            Daemon::Bird16 => {
                // The first configurations, as confd renders them at start-up.
                let config = EtcdConfig::from_endpoints(etcd.endpoint());
                let names: Vec<String> = (1..=nodes).map(|i| format!("n{i}")).collect();
                let configs = net.host("etcd").ns().enter(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(Error::io("start a runtime"))?;
                    names
                        .iter()
                        .map(|name| {
                            let (snapshot, _) = runtime
                                .block_on(list_once(&config, name))
                                .map_err(|e| Error::Bench(format!("list etcd: {e}")))?;
                            bird_config(&snapshot, name)
                        })
                        .collect::<Result<Vec<String>>>()
                })?;
                let mut followed = Vec::new();
                for ((host, name), text) in hosts.iter().zip(names).zip(configs) {
                    let mut bird = Bird::start(host, BirdVersion::V1_6, &text)?;
                    cluster.pids.push(bird.process().pid());
                    cluster.birds.push(bird);
                    followed.push(ConfdNode {
                        name,
                        dir: host.dir().to_owned(),
                    });
                }
                cluster.confd = Some(Confd::start(net.host("etcd"), etcd.endpoint(), followed));
            }
            other => return Err(Error::Bench(format!("{other} does not read etcd"))),
        }
        Ok(cluster)
    }

    pub(super) fn stop(self) -> Result<()> {
        let result = self.confd.map_or(Ok(()), Confd::stop);
        drop(self.bgpds);
        drop(self.birds);
        result
    }
}
