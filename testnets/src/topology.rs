//! A declarative topology: L2 segments, hosts (nodes, routers, plain hosts)
//! with interfaces on segments, and pods on nodes. Written with the builder or
//! read from TOML:
//!
//! ```toml
//! name = "two-subnets"
//!
//! [[segment]]
//! name = "lan-a"
//!
//! [[host]]
//! name = "n1"
//! kind = "node"
//! iface = [{ segment = "lan-a", addresses = ["10.0.1.11/24"] }]
//!
//! [[pod]]
//! name = "web"
//! host = "n1"
//! addresses = ["10.244.1.5"]
//! ```

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub name: String,
    #[serde(default, rename = "segment")]
    pub segments: Vec<Segment>,
    #[serde(default, rename = "host")]
    pub hosts: Vec<HostSpec>,
    #[serde(default, rename = "pod")]
    pub pods: Vec<PodSpec>,
    /// Mistakes made through the builder, reported by `validate`.
    #[serde(skip)]
    errors: Vec<String>,
}

/// An L2 segment: a bridge that the hosts' interfaces plug into.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub name: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostKind {
    /// A Kubernetes node: forwarding on, a `tunl0` device, may hold pods.
    #[default]
    Node,
    /// Joins segments with forwarding on, so that subnets reach each other.
    Router,
    /// A plain host (an etcd server, a top-of-rack peer).
    Host,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    pub name: String,
    #[serde(default)]
    pub kind: HostKind,
    #[serde(default, rename = "iface")]
    pub interfaces: Vec<Interface>,
    /// Default gateways, one per family. When none is given, a router with an
    /// address in the subnet of the host's first interface is used.
    #[serde(default)]
    pub gateways: Vec<IpAddr>,
    #[serde(default)]
    pub routes: Vec<StaticRoute>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    pub segment: String,
    /// Defaults to `eth0`, `eth1`, ... in the order given, like a node's uplinks.
    #[serde(default)]
    pub name: Option<String>,
    pub addresses: Vec<IpNet>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticRoute {
    pub to: IpNet,
    pub via: IpAddr,
}

/// A pod: a namespace with a veth into its node, wired as Calico wires one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodSpec {
    pub name: String,
    pub host: String,
    pub addresses: Vec<IpAddr>,
}

/// Adds to one host of a [`Topology`].
#[derive(Debug)]
pub struct HostBuilder<'a> {
    topology: &'a mut Topology,
    index: usize,
}

impl HostBuilder<'_> {
    fn spec(&mut self) -> &mut HostSpec {
        &mut self.topology.hosts[self.index]
    }

    fn parse<T: std::str::FromStr>(&mut self, what: &str, text: &str) -> Option<T> {
        let parsed = text.parse().ok();
        if parsed.is_none() {
            let host = self.spec().name.clone();
            self.topology
                .errors
                .push(format!("host {host}: {what} {text:?} does not parse"));
        }
        parsed
    }

    /// An interface on `segment` with `addresses` in CIDR form ("10.0.1.11/24").
    pub fn iface(mut self, segment: &str, addresses: &[&str]) -> Self {
        let addresses = addresses
            .iter()
            .filter_map(|a| self.parse("address", a))
            .collect();
        self.spec().interfaces.push(Interface {
            segment: segment.to_owned(),
            name: None,
            addresses,
        });
        self
    }

    pub fn gateway(mut self, address: &str) -> Self {
        if let Some(gateway) = self.parse("gateway", address) {
            self.spec().gateways.push(gateway);
        }
        self
    }

    pub fn route(mut self, to: &str, via: &str) -> Self {
        if let (Some(to), Some(via)) = (self.parse("route", to), self.parse("next hop", via)) {
            self.spec().routes.push(StaticRoute { to, via });
        }
        self
    }
}

impl Topology {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    pub fn from_toml(text: &str) -> Result<Self> {
        let topology: Self = toml::from_str(text).map_err(|e| Error::Parse {
            what: "topology".into(),
            detail: e.to_string(),
        })?;
        topology.validate()?;
        Ok(topology)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(Error::io(format!("read {}", path.display())))?;
        Self::from_toml(&text)
    }

    pub fn segment(&mut self, name: &str) -> &mut Self {
        self.segments.push(Segment {
            name: name.to_owned(),
        });
        self
    }

    fn add_host(&mut self, name: &str, kind: HostKind) -> HostBuilder<'_> {
        self.hosts.push(HostSpec {
            name: name.to_owned(),
            kind,
            interfaces: Vec::new(),
            gateways: Vec::new(),
            routes: Vec::new(),
        });
        let index = self.hosts.len() - 1;
        HostBuilder {
            topology: self,
            index,
        }
    }

    pub fn node(&mut self, name: &str) -> HostBuilder<'_> {
        self.add_host(name, HostKind::Node)
    }

    pub fn router(&mut self, name: &str) -> HostBuilder<'_> {
        self.add_host(name, HostKind::Router)
    }

    pub fn host(&mut self, name: &str) -> HostBuilder<'_> {
        self.add_host(name, HostKind::Host)
    }

    pub fn pod(&mut self, name: &str, host: &str, address: &str) -> &mut Self {
        match address.parse() {
            Ok(address) => self.pods.push(PodSpec {
                name: name.to_owned(),
                host: host.to_owned(),
                addresses: vec![address],
            }),
            Err(_) => self
                .errors
                .push(format!("pod {name}: address {address:?} does not parse")),
        }
        self
    }

    /// Checks names and references; every problem is listed at once.
    pub fn validate(&self) -> Result<()> {
        let mut problems = self.errors.clone();
        let segments: BTreeSet<&str> = self.segments.iter().map(|s| s.name.as_str()).collect();
        if segments.len() != self.segments.len() {
            problems.push("segment names repeat".into());
        }
        let mut names = BTreeSet::new();
        for name in self
            .hosts
            .iter()
            .map(|h| &h.name)
            .chain(self.pods.iter().map(|p| &p.name))
        {
            if !valid_name(name) {
                problems.push(format!("{name:?}: names are 1 to 20 of [a-z0-9-]"));
            }
            if !names.insert(name.as_str()) {
                problems.push(format!("{name:?} names two hosts or pods"));
            }
        }
        for host in &self.hosts {
            for iface in &host.interfaces {
                if !segments.contains(iface.segment.as_str()) {
                    problems.push(format!(
                        "host {}: no segment {:?}",
                        host.name, iface.segment
                    ));
                }
            }
        }
        for pod in &self.pods {
            match self.hosts.iter().find(|h| h.name == pod.host) {
                Some(host) if host.kind == HostKind::Node => {}
                Some(_) => {
                    problems.push(format!("pod {}: host {} is not a node", pod.name, pod.host))
                }
                None => problems.push(format!("pod {}: no host {:?}", pod.name, pod.host)),
            }
            if pod.addresses.iter().any(IpAddr::is_ipv6) {
                problems.push(format!("pod {}: IPv6 pods are not supported yet", pod.name));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Topology(problems.join("; ")))
        }
    }
}

fn valid_name(name: &str) -> bool {
    (1..=20).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_builder_describe_the_same_topology() {
        let text = r#"
            name = "two-subnets"
            [[segment]]
            name = "lan-a"
            [[host]]
            name = "n1"
            iface = [{ segment = "lan-a", addresses = ["10.0.1.11/24"] }]
            gateways = ["10.0.1.1"]
            [[pod]]
            name = "web"
            host = "n1"
            addresses = ["10.244.1.5"]
        "#;
        let mut built = Topology::new("two-subnets");
        built.segment("lan-a");
        built
            .node("n1")
            .iface("lan-a", &["10.0.1.11/24"])
            .gateway("10.0.1.1");
        built.pod("web", "n1", "10.244.1.5");
        assert_eq!(Topology::from_toml(text).unwrap(), built);
    }

    #[test]
    fn every_mistake_is_reported() {
        let mut t = Topology::new("bad");
        t.segment("lan");
        t.node("n1").iface("nowhere", &["10.0.0.1/33"]);
        t.router("r1");
        t.pod("p", "r1", "10.244.0.1");
        t.pod("n1", "n1", "not-an-ip");
        let text = t.validate().unwrap_err().to_string();
        for expected in [
            "10.0.0.1/33",
            "no segment \"nowhere\"",
            "r1 is not a node",
            "not-an-ip",
        ] {
            assert!(text.contains(expected), "{expected} missing from: {text}");
        }
        assert!(Topology::from_toml("name = 1").is_err());
        assert!(Topology::from_toml("name = \"x\"\nsurprise = 1").is_err());
    }
}
