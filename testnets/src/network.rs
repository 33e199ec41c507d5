//! A live topology: its namespaces, the hosts and pods in them, and the folder
//! for its files. Everything is removed when the `Network` is dropped; after a
//! panic (or with `TESTNETS_KEEP=1`) the folder is kept and its path printed.

use std::collections::hash_map::DefaultHasher;
use std::ffi::OsStr;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use ipnet::IpNet;

use crate::cmd;
use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::process::Process;
use crate::routes::{self, KernelRoute};
use crate::run;
use crate::topology::{HostKind, HostSpec, Interface, PodSpec, Topology};
use crate::wait::{wait_for, Poll};

/// Calico's pods route everything to this link-local gateway, which the node
/// answers for by proxy ARP.
pub const POD_GATEWAY: &str = "169.254.1.1";
/// The tunnel device Calico's IP-in-IP routes use.
pub const TUNNEL_DEVICE: &str = "tunl0";

#[derive(Debug)]
pub struct Network {
    // Field order is drop order: pods, then hosts, then the switch.
    pods: Vec<Pod>,
    hosts: Vec<Host>,
    switch: Netns,
    topology: Topology,
    prefix: String,
    dir: PathBuf,
}

#[derive(Debug)]
pub struct Host {
    spec: HostSpec,
    ns: Netns,
    dir: PathBuf,
}

#[derive(Debug)]
pub struct Pod {
    spec: PodSpec,
    ns: Netns,
    /// The node-side end of the pod's veth (`cali...`).
    host_iface: String,
}

impl Topology {
    /// Builds the topology in fresh namespaces.
    pub fn build(&self) -> Result<Network> {
        self.validate()?;
        let run = run::current();
        let prefix = run.next_prefix();
        let dir = run.dir().join(&prefix);
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("create {}", dir.display())))?;

        let switch = Netns::create(format!("{prefix}-sw"))?;
        let mut hosts = Vec::with_capacity(self.hosts.len());
        for spec in &self.hosts {
            let host_dir = dir.join(&spec.name);
            std::fs::create_dir_all(&host_dir)
                .map_err(Error::io(format!("create {}", host_dir.display())))?;
            let ns = Netns::create(format!("{prefix}-{}", spec.name))?;
            hosts.push(Host {
                spec: spec.clone(),
                ns,
                dir: host_dir,
            });
        }
        let mut network = Network {
            pods: Vec::new(),
            hosts,
            switch,
            topology: self.clone(),
            prefix,
            dir,
        };
        network.wire_segments()?;
        for index in 0..network.hosts.len() {
            network.configure_host(index)?;
        }
        for spec in &self.pods {
            let pod = network.add_pod(spec)?;
            network.pods.push(pod);
        }
        Ok(network)
    }
}

impl Network {
    pub fn name(&self) -> &str {
        &self.topology.name
    }

    /// The prefix of every namespace name of this network (`tn<pid>-<n>`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.iter()
    }

    pub fn pods(&self) -> impl Iterator<Item = &Pod> {
        self.pods.iter()
    }

    /// The host named `name`. Panics with the names there are: a test that
    /// asks for a host it did not build is wrong.
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.spec.name == name)
            .unwrap_or_else(|| {
                let names: Vec<_> = self.hosts.iter().map(|h| h.spec.name.as_str()).collect();
                panic!(
                    "no host {name:?} in {}; hosts: {names:?}",
                    self.topology.name
                )
            })
    }

    pub fn pod(&self, name: &str) -> &Pod {
        self.pods
            .iter()
            .find(|p| p.spec.name == name)
            .unwrap_or_else(|| {
                let names: Vec<_> = self.pods.iter().map(|p| p.spec.name.as_str()).collect();
                panic!("no pod {name:?} in {}; pods: {names:?}", self.topology.name)
            })
    }

    /// Namespaces of this network, for leak checks.
    pub fn namespaces(&self) -> Vec<String> {
        let mut names = vec![self.switch.name().to_owned()];
        names.extend(self.hosts.iter().map(|h| h.ns.name().to_owned()));
        names.extend(self.pods.iter().map(|p| p.ns.name().to_owned()));
        names
    }

    /// One bridge per segment in the switch namespace, and a veth from each
    /// host interface into its segment's bridge.
    fn wire_segments(&self) -> Result<()> {
        let mut lines = Vec::new();
        for (index, _) in self.topology.segments.iter().enumerate() {
            lines.push(format!("link add br{index} type bridge"));
            lines.push(format!("link set br{index} up"));
        }
        for (h, host) in self.hosts.iter().enumerate() {
            for (i, iface) in host.spec.interfaces.iter().enumerate() {
                let segment = self.segment_index(&iface.segment)?;
                let port = format!("h{h}p{i}");
                let name = iface_name(iface.name.as_deref(), i);
                lines.push(format!(
                    "link add {port} type veth peer name {name} address {} netns {}",
                    mac(h, i),
                    host.ns.name()
                ));
                lines.push(format!("link set {port} master br{segment} up"));
            }
        }
        self.switch.ip_batch(&lines)
    }

    fn segment_index(&self, name: &str) -> Result<usize> {
        self.topology
            .segments
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| Error::Topology(format!("no segment {name:?}")))
    }

    fn configure_host(&self, index: usize) -> Result<()> {
        let host = &self.hosts[index];
        let spec = &host.spec;
        let names: Vec<String> = spec
            .interfaces
            .iter()
            .enumerate()
            .map(|(i, iface)| iface_name(iface.name.as_deref(), i))
            .collect();
        // Before any link is up: no IPv6 duplicate address detection, so that
        // addresses (link-local ones too) are usable at once.
        let mut sysctls = vec![
            "net.ipv6.conf.all.accept_dad=0".to_owned(),
            "net.ipv6.conf.default.accept_dad=0".to_owned(),
        ];
        sysctls.extend(
            names
                .iter()
                .map(|name| format!("net.ipv6.conf.{name}.accept_dad=0")),
        );
        if spec.kind != HostKind::Host {
            sysctls.push("net.ipv4.ip_forward=1".into());
            sysctls.push("net.ipv6.conf.all.forwarding=1".into());
        }
        host.ns.sysctls(&sysctls)?;

        let mut lines = Vec::new();
        for (iface, name) in spec.interfaces.iter().zip(&names) {
            lines.push(format!("link set {name} up"));
            for address in &iface.addresses {
                lines.push(format!("addr add {address} dev {name}"));
            }
        }
        lines.extend(self.static_neighbours(index));
        for gateway in self.gateways(spec) {
            lines.push(format!("route add default via {gateway}"));
        }
        for route in &spec.routes {
            lines.push(format!("route add {} via {}", route.to, route.via));
        }
        host.ns.ip_batch(&lines)?;
        if spec.kind == HostKind::Node {
            add_tunnel_device(&host.ns)?;
        }
        Ok(())
    }

    /// On a large segment, every other host's addresses as permanent
    /// neighbours. The kernel's neighbour table has one limit for every
    /// namespace together (gc_thresh3, 1024 by default), which only the root
    /// namespace may raise and tests never touch: a mesh of 50 nodes needs
    /// 2,450 entries. Permanent entries are exempt from that limit, and the
    /// MACs are known in advance ([`mac`]).
    fn static_neighbours(&self, index: usize) -> Vec<String> {
        let host = &self.hosts[index];
        let mut lines = Vec::new();
        for (i, iface) in host.spec.interfaces.iter().enumerate() {
            let on_segment: Vec<(usize, usize, &Interface)> = self
                .hosts
                .iter()
                .enumerate()
                .flat_map(|(h, other)| {
                    other
                        .spec
                        .interfaces
                        .iter()
                        .enumerate()
                        .filter(|(_, o)| o.segment == iface.segment)
                        .map(move |(j, o)| (h, j, o))
                })
                .collect();
            let addresses: usize = on_segment.iter().map(|(_, _, o)| o.addresses.len()).sum();
            if addresses <= STATIC_NEIGHBOURS_ABOVE {
                continue;
            }
            let name = iface_name(iface.name.as_deref(), i);
            for (h, j, other) in on_segment {
                if h == index {
                    continue;
                }
                for address in &other.addresses {
                    lines.push(format!(
                        "neigh replace {} lladdr {} dev {name} nud permanent",
                        address.addr(),
                        mac(h, j)
                    ));
                }
            }
        }
        lines
    }

    /// The host's explicit gateways, or else, per family, the first router
    /// address in the subnet of the host's first interface.
    fn gateways(&self, spec: &HostSpec) -> Vec<IpAddr> {
        if !spec.gateways.is_empty() || spec.kind == HostKind::Router {
            return spec.gateways.clone();
        }
        let Some(first) = spec.interfaces.first() else {
            return Vec::new();
        };
        let routers = self
            .hosts
            .iter()
            .filter(|h| h.spec.kind == HostKind::Router);
        let router_addresses: Vec<IpNet> = routers
            .flat_map(|r| r.spec.interfaces.iter())
            .filter(|i| i.segment == first.segment)
            .flat_map(|i| i.addresses.iter().copied())
            .collect();
        first
            .addresses
            .iter()
            .filter_map(|own| {
                router_addresses
                    .iter()
                    .find(|r| own.contains(&r.addr()))
                    .map(|r| r.addr())
            })
            .collect()
    }

    /// A pod as Calico makes one: `eth0` with a /32, a default route via
    /// 169.254.1.1, and on the node a `cali*` end with proxy ARP and a host route.
    fn add_pod(&self, spec: &PodSpec) -> Result<Pod> {
        let host = self.host(&spec.host);
        let ns = Netns::create(format!("{}-{}", self.prefix, spec.name))?;
        let host_iface = calico_iface_name(&spec.name);
        let mut host_lines = vec![
            format!(
                "link add {host_iface} type veth peer name eth0 netns {}",
                ns.name()
            ),
            format!("link set {host_iface} up"),
        ];
        let mut pod_lines = vec!["link set eth0 up".to_owned()];
        for address in &spec.addresses {
            host_lines.push(format!(
                "route add {address}/32 dev {host_iface} scope link"
            ));
            pod_lines.push(format!("addr add {address}/32 dev eth0"));
        }
        pod_lines.push(format!("route add {POD_GATEWAY} dev eth0 scope link"));
        pod_lines.push(format!("route add default via {POD_GATEWAY} dev eth0"));
        host.ns.ip_batch(&host_lines)?;
        host.ns.sysctls(&[
            format!("net.ipv4.conf.{host_iface}.proxy_arp=1"),
            format!("net.ipv4.neigh.{host_iface}.proxy_delay=0"),
        ])?;
        ns.ip_batch(&pod_lines)?;
        Ok(Pod {
            spec: spec.clone(),
            ns,
            host_iface,
        })
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // TESTNETS_KEEP=1 keeps the folder of a passing run too.
        if std::thread::panicking() || std::env::var_os("TESTNETS_KEEP").is_some() {
            eprintln!("testnets: {} kept for inspection", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
            // The run's folder goes too once its last network is gone (this
            // fails, harmlessly, while others remain).
            if let Some(run_dir) = self.dir.parent() {
                let _ = std::fs::remove_dir(run_dir);
            }
        }
    }
}

/// Segments with more addresses than this get permanent neighbour entries.
const STATIC_NEIGHBOURS_ABOVE: usize = 16;

/// The MAC of host `host`'s interface `iface`: locally administered (02:),
/// unique within a network (networks never share a bridge).
fn mac(host: usize, iface: usize) -> String {
    format!(
        "02:74:6e:{:02x}:{:02x}:{:02x}",
        host >> 8,
        host & 0xff,
        iface & 0xff
    )
}

fn iface_name(name: Option<&str>, index: usize) -> String {
    name.map_or_else(|| format!("eth{index}"), str::to_owned)
}

/// `cali` and 11 hex digits of a hash of the pod, like Calico's names.
fn calico_iface_name(pod: &str) -> String {
    let mut hasher = DefaultHasher::new();
    pod.hash(&mut hasher);
    format!("cali{:011x}", hasher.finish() & 0xfff_ffff_ffff)
}

/// Whether this kernel can make an ipip device; asked once per run.
fn ipip_available(ns: &Netns) -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        ns.ip(["link", "show", TUNNEL_DEVICE]).is_ok()
            || ns
                .ip(["link", "add", "name", TUNNEL_DEVICE, "type", "ipip"])
                .is_ok()
    })
}

/// `tunl0`: the real ipip device where the kernel has one, else a TUN device
/// of the same name as a stand-in (docs/DESIGN.md §7, the tunl0 stand-in), so
/// that routes through it are programmed and read back the same way.
fn add_tunnel_device(ns: &Netns) -> Result<()> {
    let exists = ns.ip(["link", "show", TUNNEL_DEVICE]).is_ok();
    if !exists {
        let real = ipip_available(ns)
            && ns
                .ip(["link", "add", "name", TUNNEL_DEVICE, "type", "ipip"])
                .is_ok();
        if !real {
            ns.ip(["tuntap", "add", "dev", TUNNEL_DEVICE, "mode", "tun"])?;
        }
    }
    ns.ip(["link", "set", TUNNEL_DEVICE, "up"]).map(drop)
}

impl Host {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn spec(&self) -> &HostSpec {
        &self.spec
    }

    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    /// The host's folder in the run, for configs, sockets and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The first IPv4 address of the host (its first interface's, normally).
    pub fn ipv4(&self) -> Option<IpAddr> {
        self.addresses()
            .into_iter()
            .map(|a| a.addr())
            .find(IpAddr::is_ipv4)
    }

    /// The first IPv6 address of the host.
    pub fn ipv6(&self) -> Option<IpAddr> {
        self.addresses()
            .into_iter()
            .map(|a| a.addr())
            .find(IpAddr::is_ipv6)
    }

    pub fn addresses(&self) -> Vec<IpNet> {
        self.spec
            .interfaces
            .iter()
            .flat_map(|i| i.addresses.iter().copied())
            .collect()
    }

    /// A command that runs inside the host.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        self.ns.command(program)
    }

    /// Runs a program inside the host to completion; its standard output.
    pub fn exec<I, S>(&self, program: &str, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        cmd::output(self.ns.command(program).args(args))
    }

    /// Starts a long-running program inside the host, its output kept in
    /// `<host dir>/<name>.log`.
    pub fn spawn(&self, name: &str, program: impl AsRef<OsStr>, args: &[&str]) -> Result<Process> {
        let mut command = self.ns.command(program);
        command.args(args);
        Process::spawn(
            format!("{name}@{}", self.spec.name),
            command,
            self.dir.join(format!("{name}.log")),
        )
    }

    /// One ping to `to`, answered within two seconds.
    pub fn ping(&self, to: IpAddr) -> Result<()> {
        ping(&self.ns, to)
    }

    /// The kernel's routes in every table of the host.
    pub fn routes(&self) -> Result<Vec<KernelRoute>> {
        routes::dump(&self.ns)
    }

    /// Waits until the main table satisfies `predicate`; on timeout the error
    /// shows the table as it stood.
    pub fn wait_for_routes(
        &self,
        what: &str,
        timeout: Duration,
        predicate: impl Fn(&[KernelRoute]) -> bool,
    ) -> Result<Vec<KernelRoute>> {
        let what = format!("{what} on {}", self.spec.name);
        wait_for(&what, timeout, || {
            let table = routes::main_table(self.routes()?);
            Ok(if predicate(&table) {
                Poll::Ready(table)
            } else {
                Poll::Pending(routes::render(&table))
            })
        })
    }
}

impl Pod {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn host(&self) -> &str {
        &self.spec.host
    }

    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    pub fn address(&self) -> IpAddr {
        self.spec.addresses[0]
    }

    /// The node-side end of the pod's veth.
    pub fn host_iface(&self) -> &str {
        &self.host_iface
    }

    pub fn exec<I, S>(&self, program: &str, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        cmd::output(self.ns.command(program).args(args))
    }

    pub fn ping(&self, to: IpAddr) -> Result<()> {
        ping(&self.ns, to)
    }
}

fn ping(ns: &Netns, to: IpAddr) -> Result<()> {
    let to = to.to_string();
    cmd::output(
        ns.command("ping")
            .args(["-c", "1", "-W", "2", "-n", "-q", &to]),
    )
    .map(drop)
}
