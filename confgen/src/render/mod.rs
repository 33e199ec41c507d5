//! `render(snapshot, node) -> SpeakerConfig`: what one node runs, computed from
//! Calico's resources the way confd computes BIRD's configuration
//! (docs/CALICO-CONTRACT.md §1.3, §2 and §3), as a pure function.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use proto::config::{
    Asn, ClusterRoutes, CommunityValue, ExportConfig, IpipMode, KernelConfig, ListenConfig,
    OriginKind, Originate, PeerConfig, PoolConfig, PrefixCommunities, Secret, SpeakerConfig,
};

mod bfd;
mod filters;
mod originate;
mod peers;
mod router_id;
mod unsupported;

pub use router_id::RouterIdSource;

use originate::{address_blocks, originated, prefix_communities};
use peers::peers;

use crate::problem::Problem;
use crate::resources::{BgpPeer, EncapMode, Node, NodeBgp, SecretRef, StoredSelector};
use crate::secrets::SecretSource;
use crate::selector::Selector;
use crate::snapshot::{Key, Snapshot};

/// The etcd key of a BGPPeer, which its problems name.
fn peer_key(resource: &BgpPeer) -> String {
    Key::BgpPeer(resource.metadata.name.clone()).path()
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("node {0} not found in the datastore")]
    UnknownNode(String),
    #[error(
        "node {0} has no BGP address: BGP is off on this node (a policy-only node runs no BGP)"
    )]
    NoBgp(String),
    #[error(
        "node {0} has no IPv4 address for its router id: set CALICO_ROUTER_ID (hash, or an address)"
    )]
    NoRouterId(String),
    #[error("the rendered configuration is invalid: {0}")]
    Invalid(#[from] proto::config::ConfigError),
}

/// A node's configuration, and what was skipped on the way (values that do
/// not parse, bad selectors, peers that cannot be, missing secrets), each
/// said once, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub config: SpeakerConfig,
    pub problems: Vec<Problem>,
}

/// Calico's default AS (docs/CALICO-CONTRACT.md §1.2).
const DEFAULT_AS: Asn = Asn::CALICO_DEFAULT;
const DEFAULT_PORT: u16 = 179;

struct Context<'a> {
    snapshot: &'a Snapshot,
    me: &'a Node,
    bgp: &'a NodeBgp,
    global_as: Asn,
    /// The global BGPConfiguration's listen port, else BGP's.
    global_port: u16,
    /// Nodes whose own BGPConfiguration sets a listen port (few, if any):
    /// looked up once here, not once per node.
    node_ports: BTreeMap<&'a str, u16>,
    secrets: &'a dyn SecretSource,
    problems: Vec<Problem>,
}

impl<'a> Context<'a> {
    fn node_as(&self, node: &Node) -> Asn {
        node.spec
            .bgp
            .as_ref()
            .and_then(|b| b.as_number)
            .unwrap_or(self.global_as)
    }

    /// The port a node listens on: its own BGPConfiguration, else the global one.
    fn node_port(&self, name: &str) -> u16 {
        self.node_ports
            .get(name)
            .copied()
            .unwrap_or(self.global_port)
    }

    /// This node's BGP address of a family, with its prefix length.
    fn my_net(&self, v4: bool) -> Option<IpNet> {
        if v4 {
            self.bgp.ipv4_address
        } else {
            self.bgp.ipv6_address
        }
    }

    fn my_address(&self, v4: bool) -> Option<IpAddr> {
        self.my_net(v4).map(|n| n.addr())
    }

    /// This node's subnet of a family, from its BGP address.
    fn node_subnet(&self, v4: bool) -> Option<IpNet> {
        self.my_net(v4).map(|n| n.trunc())
    }

    fn problem(&mut self, resource: &str, field: &str, reason: String) {
        self.problems.push(Problem::new(resource, field, reason));
    }

    /// A BGPPeer's selector at `field`, parsed when the BGPPeer was read; a
    /// bad one is a problem, and what it would select gets nothing.
    fn selector<'s>(
        &mut self,
        resource: &BgpPeer,
        field: &str,
        stored: &'s StoredSelector,
    ) -> Option<&'s Selector> {
        match &stored.parsed {
            Ok(selector) => Some(selector),
            Err(e) => {
                let reason = format!("selector {:?} skipped: {e}", stored.text);
                self.problem(&peer_key(resource), field, reason);
                None
            }
        }
    }

    fn password(
        &mut self,
        resource: &str,
        field: &str,
        reference: Option<&SecretRef>,
    ) -> Option<Secret> {
        let key = &reference?.secret_key_ref;
        match self.secrets.get(&key.name, &key.key) {
            Some(value) => Some(Secret::new(value)),
            None => {
                let reason = format!("secret {}/{} not found; no password set", key.name, key.key);
                self.problem(resource, field, reason);
                None
            }
        }
    }

    /// Other Calico nodes with a BGP spec, by name.
    fn others(&self) -> impl Iterator<Item = (&'a String, &'a Node, &'a NodeBgp)> + 'a {
        let me = &self.me.metadata.name;
        self.snapshot
            .nodes
            .iter()
            .filter(move |(name, _)| *name != me)
            .filter_map(|(name, n)| Some((name, n, n.spec.bgp.as_ref()?)))
    }
}

/// Calico's mesh direction rule: the side whose address is smaller, compared
/// as strings (Go's `gt` in the template), waits (docs/CALICO-CONTRACT.md
/// §2.4).
fn passive_toward(peer: IpAddr, me: IpAddr) -> bool {
    peer.to_string() > me.to_string()
}

/// Applies the direction rule to `peer`: this side waits, or it connects,
/// and then at once. The peer runs the same rule and waits for us, so
/// there is no collision for a connect delay to avoid (BIRD's 2 s are for
/// two sides that both connect): a node that starts meets its mesh a
/// connect delay sooner (docs/CONFIGURATION.md, `connect_delay_time`).
fn follow_direction(peer: &mut PeerConfig, me: IpAddr) {
    peer.passive = passive_toward(peer.address, me);
    if !peer.passive {
        peer.connect_delay_time = 0;
    }
}

fn encap(mode: EncapMode) -> IpipMode {
    match mode {
        EncapMode::Always => IpipMode::Always,
        EncapMode::CrossSubnet => IpipMode::CrossSubnet,
        EncapMode::Never => IpipMode::Never,
    }
}

/// Renders `node`'s configuration from `snapshot`.
pub fn render(
    snapshot: &Snapshot,
    node: &str,
    secrets: &dyn SecretSource,
) -> Result<Rendered, RenderError> {
    Renderer::default().render(snapshot, node, secrets)
}

/// Renders one node again and again, as its snapshot changes, making again
/// only the parts whose inputs changed ([`Snapshot::generations`]). The
/// peers, the costly part (passes over every Node), depend on the Nodes,
/// the BGPConfigurations and the BGPPeers: a change to a block affinity or
/// an IPPool, the most frequent in a live cluster, re-uses them, and costs
/// the node's own affinities and the pools. Secrets are read when the peers
/// are made: a password changed on disk applies with the next change to
/// what the peers depend on.
#[derive(Debug, Default)]
pub struct Renderer {
    peers: Option<CachedPeers>,
    settings: Settings,
}

/// How a node's own settings (calico-node's environment) shape rendering.
#[derive(Clone, Copy, Debug, Default)]
pub struct Settings {
    /// What an unset `programClusterRoutes` means (Calico's own default
    /// changed with its versions: docs/CONFIGURATION.md).
    pub cluster_routes_default: ClusterRoutes,
    /// Where the router id comes from (`CALICO_ROUTER_ID`).
    pub router_id: RouterIdSource,
}

#[derive(Debug)]
struct CachedPeers {
    /// The node, and the generations of what the peers depend on.
    inputs: (String, u64, u64, u64),
    peers: Vec<PeerConfig>,
    problems: Vec<Problem>,
}

impl Renderer {
    /// A renderer for which an unset `programClusterRoutes` is `default`.
    pub fn with_cluster_routes_default(default: ClusterRoutes) -> Self {
        Self::with_settings(Settings {
            cluster_routes_default: default,
            ..Settings::default()
        })
    }

    /// A renderer with the node's own settings.
    pub fn with_settings(settings: Settings) -> Self {
        Self {
            peers: None,
            settings,
        }
    }

    /// Renders `node`'s configuration from `snapshot`, as [`render`] does.
    pub fn render(
        &mut self,
        snapshot: &Snapshot,
        node: &str,
        secrets: &dyn SecretSource,
    ) -> Result<Rendered, RenderError> {
        let g = snapshot.generations;
        let inputs = (node.to_owned(), g.nodes, g.bgp_configurations, g.peers);
        let cached = self.peers.take().filter(|c| c.inputs == inputs);
        let (rendered, made) =
            render_with(snapshot, node, secrets, cached.as_ref(), self.settings)?;
        self.peers = match made {
            Some((peers, problems)) => Some(CachedPeers {
                inputs,
                peers,
                problems,
            }),
            None => cached,
        };
        Ok(rendered)
    }
}

/// The peers made by a render, and their problems.
type MadePeers = (Vec<PeerConfig>, Vec<Problem>);

/// Renders, with the peers of `cached` when given; returns the peers made
/// (and their problems) when they were.
fn render_with(
    snapshot: &Snapshot,
    node: &str,
    secrets: &dyn SecretSource,
    cached: Option<&CachedPeers>,
    settings: Settings,
) -> Result<(Rendered, Option<MadePeers>), RenderError> {
    let cluster_routes_default = settings.cluster_routes_default;
    let me = snapshot
        .nodes
        .get(node)
        .ok_or_else(|| RenderError::UnknownNode(node.to_owned()))?;
    let bgp = me
        .spec
        .bgp
        .as_ref()
        .ok_or_else(|| RenderError::NoBgp(node.to_owned()))?;
    let v4 = bgp.ipv4_address.and_then(|a| match a.addr() {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    });
    let router_id = settings
        .router_id
        .router_id(node, v4)
        .ok_or_else(|| RenderError::NoRouterId(node.to_owned()))?;
    let global = snapshot.global_config().map(|c| &c.spec);
    let global_as = global.and_then(|g| g.as_number).unwrap_or(DEFAULT_AS);
    let node_ports = snapshot
        .bgp_configurations
        .iter()
        .filter_map(|(name, c)| Some((name.strip_prefix("node.")?, c.spec.listen_port?)))
        .collect();
    let mut cx = Context {
        snapshot,
        me,
        bgp,
        global_as,
        global_port: global.and_then(|g| g.listen_port).unwrap_or(DEFAULT_PORT),
        node_ports,
        secrets,
        problems: snapshot.problems().cloned().collect(),
    };
    let local_as = cx.node_as(me);
    unsupported::report(&mut cx);

    let listen = ListenConfig {
        // bindMode NodeIP: listen on the node's addresses only, each
        // family's (Calico's bird.cfg and bird6.cfg each listen on theirs).
        addresses: if global.and_then(|g| g.bind_mode.as_deref()) == Some("NodeIP") {
            [bgp.ipv4_address, bgp.ipv6_address]
                .into_iter()
                .flatten()
                .map(|a| a.addr())
                .collect()
        } else {
            Vec::new()
        },
        port: cx.node_port(node),
    };
    let (mut peers, made) = match cached {
        Some(cached) => {
            cx.problems.extend(cached.problems.iter().cloned());
            (cached.peers.clone(), None)
        }
        None => {
            let before = cx.problems.len();
            let peers = peers(&mut cx, local_as);
            let made = (peers.clone(), cx.problems[before..].to_vec());
            (peers, Some(made))
        }
    };
    let filters = filters::filters(&mut cx, &mut peers);
    let originate::Originated {
        originate,
        advertised,
        never_install,
    } = originated(&mut cx);
    let communities = prefix_communities(&mut cx);
    let address_blocks = address_blocks(snapshot, node);
    let pools: Vec<_> = snapshot.pools.values().collect();
    let mut export: Vec<IpNet> = pools
        .iter()
        .filter(|p| !p.spec.disable_bgp_export)
        .map(|p| p.spec.cidr)
        .collect();
    export.extend(advertised);
    export.sort();
    export.dedup();
    let kernel = KernelConfig {
        pools: pools
            .iter()
            .map(|p| PoolConfig {
                cidr: p.spec.cidr,
                ipip: encap(p.spec.ipip_mode),
                vxlan: p.spec.vxlan_mode != EncapMode::Never,
            })
            .collect(),
        never_install,
        // Calico reads it from the default BGPConfiguration alone.
        cluster_routes: global
            .and_then(|g| g.cluster_routes())
            .unwrap_or(cluster_routes_default),
        route_priority: global.map(|g| g.route_priority()).unwrap_or_default(),
        ignored_interfaces: global
            .map(|g| g.ignored_interfaces().cloned().collect())
            .unwrap_or_default(),
        ..KernelConfig::default()
    };
    let config = SpeakerConfig {
        filters,
        node_name: node.to_owned(),
        router_id,
        local_as,
        listen,
        addresses: [bgp.ipv4_address, bgp.ipv6_address]
            .into_iter()
            .flatten()
            .collect(),
        cluster_id: bgp.route_reflector_cluster_id,
        peers,
        originate,
        export: ExportConfig {
            prefixes: export,
            never: pools
                .iter()
                .filter(|p| p.spec.disable_bgp_export)
                .map(|p| p.spec.cidr)
                .collect(),
            address_blocks,
            communities,
        },
        kernel,
        log_level: global.and_then(|g| g.log_level()),
        restart_wait: proto::config::DEFAULT_RESTART_WAIT,
    };
    config.validate()?;
    let mut problems = cx.problems;
    problems.sort();
    problems.dedup();
    Ok((Rendered { config, problems }, made))
}

#[cfg(test)]
mod tests;
