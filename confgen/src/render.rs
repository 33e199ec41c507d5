//! `render(snapshot, node) -> SpeakerConfig`: what one node runs, computed from
//! Calico's resources the way confd computes BIRD's configuration (calico.md
//! §1.4, §2.4 to §2.8), as a pure function.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use proto::config::{
    Asn, ExportConfig, IpipMode, KernelConfig, ListenConfig, NextHopMode, OriginKind, Originate,
    PeerConfig, PeerKind, PoolConfig, Secret, SpeakerConfig,
};

use crate::problem::Problem;
use crate::resources::{
    parse_duration_secs, parse_peer_ip, BgpPeer, EncapMode, Node, NodeBgp, SecretRef,
};
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
    #[error("node {0} has no IPv4 address for its router id")]
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

/// Calico's default AS (calico.md §1.3).
const DEFAULT_AS: Asn = Asn::CALICO_DEFAULT;
const DEFAULT_PORT: u16 = 179;

struct Context<'a> {
    snapshot: &'a Snapshot,
    me: &'a Node,
    bgp: &'a NodeBgp,
    global_as: Asn,
    secrets: &'a dyn SecretSource,
    problems: Vec<Problem>,
}

impl Context<'_> {
    fn node_as(&self, node: &Node) -> Asn {
        node.spec
            .bgp
            .as_ref()
            .and_then(|b| b.as_number)
            .unwrap_or(self.global_as)
    }

    /// The port a node listens on: its own BGPConfiguration, else the global one.
    fn node_port(&self, name: &str) -> u16 {
        self.snapshot
            .node_config(name)
            .and_then(|c| c.spec.listen_port)
            .or_else(|| {
                self.snapshot
                    .global_config()
                    .and_then(|c| c.spec.listen_port)
            })
            .unwrap_or(DEFAULT_PORT)
    }

    fn my_address(&self, v4: bool) -> Option<IpAddr> {
        let net = if v4 {
            self.bgp.ipv4_address
        } else {
            self.bgp.ipv6_address
        };
        net.map(|n| n.addr())
    }

    fn problem(&mut self, resource: &str, field: &str, reason: String) {
        self.problems.push(Problem::new(resource, field, reason));
    }

    /// The selector at `field` of `resource`; a bad one is a problem, and
    /// what it would select gets nothing.
    fn selector(&mut self, resource: &str, field: &str, text: &str) -> Option<Selector> {
        match Selector::parse(text) {
            Ok(selector) => Some(selector),
            Err(e) => {
                self.problem(resource, field, format!("selector {text:?} skipped: {e}"));
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
    fn others(&self) -> impl Iterator<Item = (&String, &Node, &NodeBgp)> {
        let me = &self.me.metadata.name;
        self.snapshot
            .nodes
            .iter()
            .filter(move |(name, _)| *name != me)
            .filter_map(|(name, n)| Some((name, n, n.spec.bgp.as_ref()?)))
    }
}

/// Calico's mesh direction rule: the side whose address is smaller, compared
/// as strings (Go's `gt` in the template), waits (calico.md §2.4).
fn passive_toward(peer: IpAddr, me: IpAddr) -> bool {
    peer.to_string() > me.to_string()
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
    let me = snapshot
        .nodes
        .get(node)
        .ok_or_else(|| RenderError::UnknownNode(node.to_owned()))?;
    let bgp = me
        .spec
        .bgp
        .as_ref()
        .ok_or_else(|| RenderError::NoBgp(node.to_owned()))?;
    let v4 = bgp
        .ipv4_address
        .ok_or_else(|| RenderError::NoRouterId(node.to_owned()))?;
    let router_id = match v4.addr() {
        IpAddr::V4(id) => id,
        IpAddr::V6(_) => return Err(RenderError::NoRouterId(node.to_owned())),
    };
    let global = snapshot.global_config().map(|c| &c.spec);
    let global_as = global.and_then(|g| g.as_number).unwrap_or(DEFAULT_AS);
    let mut cx = Context {
        snapshot,
        me,
        bgp,
        global_as,
        secrets,
        problems: snapshot.problems().cloned().collect(),
    };
    let local_as = cx.node_as(me);

    let listen = ListenConfig {
        // bindMode NodeIP: listen on the node's address only.
        address: (global.and_then(|g| g.bind_mode.as_deref()) == Some("NodeIP"))
            .then_some(v4.addr()),
        port: cx.node_port(node),
    };
    let peers = peers(&mut cx, local_as);
    let (originate, services) = originated(&mut cx);
    let pools: Vec<_> = snapshot.pools.values().collect();
    let mut export: Vec<IpNet> = pools
        .iter()
        .filter(|p| !p.spec.disable_bgp_export)
        .map(|p| p.spec.cidr)
        .collect();
    export.extend(services.iter().copied());
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
        never_install: services,
        ..KernelConfig::default()
    };
    let config = SpeakerConfig {
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
        export: ExportConfig { prefixes: export },
        kernel,
        restart_wait: proto::config::DEFAULT_RESTART_WAIT,
    };
    config.validate()?;
    let mut problems = cx.problems;
    problems.sort();
    problems.dedup();
    Ok(Rendered { config, problems })
}

/// A remote end of a peering: its address, port and AS, and the Calico node it
/// is, when it is one.
struct Remote<'a> {
    address: IpAddr,
    port: u16,
    asn: Asn,
    node: Option<&'a NodeBgp>,
}

fn peers(cx: &mut Context<'_>, local_as: Asn) -> Vec<PeerConfig> {
    let mut peers: BTreeMap<(IpAddr, u16), PeerConfig> = BTreeMap::new();
    let global = cx
        .snapshot
        .global_config()
        .map(|c| c.spec.clone())
        .unwrap_or_default();
    let cluster_id = cx.bgp.route_reflector_cluster_id;

    // The node-to-node mesh: every other node but route reflectors; none at
    // all on a route reflector (calico.md §2.4, §2.8).
    if global.node_to_node_mesh_enabled.unwrap_or(true) && cluster_id.is_none() {
        let password = cx.password(
            &Key::BgpConfiguration("default".into()).path(),
            "spec.nodeMeshPassword",
            global.node_mesh_password.as_ref(),
        );
        let restart = global
            .node_mesh_max_restart_time
            .as_deref()
            .and_then(parse_duration_secs);
        let others: Vec<(String, Node, NodeBgp)> = cx
            .others()
            .map(|(name, node, bgp)| (name.clone(), node.clone(), bgp.clone()))
            .collect();
        for (name, node, bgp) in &others {
            if bgp.route_reflector_cluster_id.is_some() {
                continue;
            }
            for (theirs, v4) in [(bgp.ipv4_address, true), (bgp.ipv6_address, false)] {
                let (Some(theirs), Some(mine)) = (theirs, cx.my_address(v4)) else {
                    continue;
                };
                let mut peer = PeerConfig::new(theirs.addr(), cx.node_as(node), PeerKind::Mesh);
                peer.port = cx.node_port(name);
                peer.passive = passive_toward(theirs.addr(), mine);
                peer.source_address = Some(mine);
                peer.password = password.clone();
                if let Some(secs) = restart {
                    peer.restart_time = secs.min(4095) as u16;
                }
                admit(cx, &mut peers, &Key::Node(name.clone()).path(), peer);
            }
        }
    }

    let bgp_peers: Vec<BgpPeer> = cx.snapshot.peers.values().cloned().collect();
    // Global BGPPeers first, then node-specific ones; a node-specific peering
    // to an address already peered globally is skipped (calico.md §1.4).
    for global_pass in [true, false] {
        for resource in &bgp_peers {
            let spec = &resource.spec;
            let is_global = spec.node.is_none() && spec.node_selector.is_none();
            if is_global != global_pass || !applies_here(cx, resource) {
                continue;
            }
            let kind = if is_global {
                PeerKind::Global
            } else {
                PeerKind::Node
            };
            for remote in remotes(cx, resource) {
                let peer = peer_config(cx, resource, &remote, kind, local_as, cluster_id);
                admit(cx, &mut peers, &peer_key(resource), peer);
            }
        }
    }

    // Reverse peerings: a BGPPeer whose remote side is this node gives this
    // node the mirror peering toward its local side, unless one exists.
    for resource in &bgp_peers {
        if !remote_side_includes_me(cx, resource) {
            continue;
        }
        let others: Vec<(String, Node, NodeBgp)> = cx
            .others()
            .map(|(name, node, bgp)| (name.clone(), node.clone(), bgp.clone()))
            .collect();
        for (name, node, bgp) in &others {
            if !local_side_includes(cx, resource, name, node) {
                continue;
            }
            for (theirs, v4) in [(bgp.ipv4_address, true), (bgp.ipv6_address, false)] {
                let (Some(theirs), Some(_)) = (theirs, cx.my_address(v4)) else {
                    continue;
                };
                let remote = Remote {
                    address: theirs.addr(),
                    port: cx.node_port(name),
                    asn: cx.node_as(node),
                    node: Some(bgp),
                };
                if peers.contains_key(&(remote.address, remote.port)) {
                    continue;
                }
                let peer = peer_config(cx, resource, &remote, PeerKind::Node, local_as, cluster_id);
                admit(cx, &mut peers, &peer_key(resource), peer);
            }
        }
    }
    let mine: Vec<IpAddr> = [cx.my_address(true), cx.my_address(false)]
        .into_iter()
        .flatten()
        .collect();
    peers
        .into_values()
        .filter(|p| !mine.contains(&p.address))
        .collect()
}

/// Adds `peer` unless one to its address and port is there already (the
/// first wins: calico.md §1.4). A peer that cannot be is skipped alone, a
/// problem of `origin`, the resource it comes from.
fn admit(
    cx: &mut Context<'_>,
    peers: &mut BTreeMap<(IpAddr, u16), PeerConfig>,
    origin: &str,
    peer: PeerConfig,
) {
    let key = (peer.address, peer.port);
    if peers.contains_key(&key) {
        return;
    }
    match peer.validate() {
        Ok(()) => {
            peers.insert(key, peer);
        }
        Err(e) => {
            let reason = format!("peer {} skipped: {}: {}", peer.address, e.field, e.message);
            cx.problem(origin, "", reason);
        }
    }
}

/// Whether a BGPPeer's local side (`node`, `nodeSelector`, or every node) is this node.
fn applies_here(cx: &mut Context<'_>, resource: &BgpPeer) -> bool {
    let me = cx.me.metadata.name.clone();
    let labels = cx.me.metadata.labels.clone();
    let spec = &resource.spec;
    if let Some(node) = &spec.node {
        return *node == me;
    }
    match &spec.node_selector {
        Some(text) => cx
            .selector(&peer_key(resource), "spec.nodeSelector", text)
            .is_some_and(|s| s.matches(&labels)),
        None => true,
    }
}

fn local_side_includes(cx: &mut Context<'_>, resource: &BgpPeer, name: &str, node: &Node) -> bool {
    let spec = &resource.spec;
    if let Some(only) = &spec.node {
        return only == name;
    }
    match &spec.node_selector {
        Some(text) => cx
            .selector(&peer_key(resource), "spec.nodeSelector", text)
            .is_some_and(|s| s.matches(&node.metadata.labels)),
        None => true,
    }
}

/// Whether this node is on a BGPPeer's remote side (its `peerSelector`, or its
/// `peerIP` and `asNumber`).
fn remote_side_includes_me(cx: &mut Context<'_>, resource: &BgpPeer) -> bool {
    let spec = &resource.spec;
    if let Some(text) = &spec.peer_selector {
        let labels = cx.me.metadata.labels.clone();
        return cx
            .selector(&peer_key(resource), "spec.peerSelector", text)
            .is_some_and(|s| s.matches(&labels));
    }
    let Some((address, _)) = spec.peer_ip.as_deref().and_then(parse_peer_ip) else {
        return false;
    };
    let mine = [cx.my_address(true), cx.my_address(false)];
    mine.contains(&Some(address)) && spec.as_number.is_none_or(|asn| asn == cx.node_as(cx.me))
}

/// The remote ends a BGPPeer names for this node.
fn remotes<'a>(cx: &mut Context<'a>, resource: &BgpPeer) -> Vec<Remote<'a>> {
    let spec = &resource.spec;
    if let Some(text) = &spec.peer_selector {
        let Some(selector) = cx.selector(&peer_key(resource), "spec.peerSelector", text) else {
            return Vec::new();
        };
        let snapshot = cx.snapshot;
        let me = &cx.me.metadata.name;
        let mut out = Vec::new();
        for (name, node) in &snapshot.nodes {
            let Some(bgp) = node.spec.bgp.as_ref() else {
                continue;
            };
            if name == me || !selector.matches(&node.metadata.labels) {
                continue;
            }
            for (theirs, v4) in [(bgp.ipv4_address, true), (bgp.ipv6_address, false)] {
                if let (Some(theirs), Some(_)) = (theirs, cx.my_address(v4)) {
                    out.push(Remote {
                        address: theirs.addr(),
                        port: cx.node_port(name),
                        asn: cx.node_as(node),
                        node: Some(bgp),
                    });
                }
            }
        }
        return out;
    }
    let Some(text) = spec.peer_ip.as_deref() else {
        return Vec::new();
    };
    let Some((address, port)) = parse_peer_ip(text) else {
        let reason = format!("{text:?} is not an address; peer skipped");
        cx.problem(&peer_key(resource), "spec.peerIP", reason);
        return Vec::new();
    };
    let Some(asn) = spec.as_number else {
        let reason = "a peerIP needs an asNumber; peer skipped".to_owned();
        cx.problem(&peer_key(resource), "spec.asNumber", reason);
        return Vec::new();
    };
    let snapshot = cx.snapshot;
    let owner = snapshot.nodes.iter().find_map(|(name, n)| {
        let bgp = n.spec.bgp.as_ref()?;
        let owns = bgp.ipv4_address.map(|a| a.addr()) == Some(address)
            || bgp.ipv6_address.map(|a| a.addr()) == Some(address);
        owns.then_some((name, bgp))
    });
    // Without a port, a peer that is a Calico node is dialled on its listen port.
    let port = port.unwrap_or_else(|| owner.map_or(DEFAULT_PORT, |(name, _)| cx.node_port(name)));
    vec![Remote {
        address,
        port,
        asn,
        node: owner.map(|(_, bgp)| bgp),
    }]
}

fn peer_config(
    cx: &mut Context<'_>,
    resource: &BgpPeer,
    remote: &Remote<'_>,
    kind: PeerKind,
    local_as: Asn,
    cluster_id: Option<std::net::Ipv4Addr>,
) -> PeerConfig {
    let spec = &resource.spec;
    let mut peer = PeerConfig::new(remote.address, remote.asn, kind);
    peer.port = remote.port;
    let mine = cx.my_address(remote.address.is_ipv4());
    if spec.source_address.as_deref() != Some("None") {
        peer.source_address = mine;
    }
    // Global peers that are Calico nodes follow the mesh's direction rule.
    if kind == PeerKind::Global && remote.node.is_some() {
        peer.passive = mine.is_some_and(|mine| passive_toward(remote.address, mine));
    }
    // rr client when this node reflects, the peer is a Calico node in the same
    // AS, and its cluster id differs from ours (calico.md §2.4).
    if let (Some(ours), Some(node)) = (cluster_id, remote.node) {
        peer.route_reflector_client =
            remote.asn == local_as && node.route_reflector_cluster_id != Some(ours);
    }
    peer.next_hop = match spec.next_hop_mode.as_deref() {
        Some("Self") => NextHopMode::SelfAddress,
        Some("Keep") => NextHopMode::Keep,
        _ if spec.keep_original_next_hop => NextHopMode::Keep,
        _ => NextHopMode::Auto,
    };
    if let Some(secs) = spec
        .max_restart_time
        .as_deref()
        .and_then(parse_duration_secs)
    {
        peer.restart_time = secs.min(4095) as u16;
    }
    if let Some(secs) = spec.keepalive_time.as_deref().and_then(parse_duration_secs) {
        peer.keepalive_time = Some(secs.clamp(1, u64::from(u16::MAX)) as u16);
    }
    if let Some(hops) = spec.ttl_security.filter(|h| *h > 0) {
        peer.ttl_security = Some(hops);
    }
    peer.local_as = spec.local_as_number;
    peer.password = cx.password(&peer_key(resource), "spec.password", spec.password.as_ref());
    peer
}

/// This node's confirmed blocks and the service ranges, with their
/// communities; and the service ranges alone (never installed in the kernel).
fn originated(cx: &mut Context<'_>) -> (Vec<Originate>, Vec<IpNet>) {
    let snapshot = cx.snapshot;
    let global = snapshot
        .global_config()
        .map(|c| c.spec.clone())
        .unwrap_or_default();
    let name = cx.me.metadata.name.clone();
    let mut originate = Vec::new();
    for (cidr, affinity) in snapshot.affinities.get(&name).into_iter().flatten() {
        // /32 and /128 blocks get no blackhole in Calico (calico.md §2.6).
        if affinity.confirmed() && cidr.prefix_len() < cidr.max_prefix_len() {
            originate.push(Originate {
                prefix: *cidr,
                kind: OriginKind::Block,
                communities: Vec::new(),
            });
        }
    }
    let services: Vec<IpNet> = global
        .service_cluster_ips
        .iter()
        .chain(&global.service_external_ips)
        .chain(&global.service_load_balancer_ips)
        .filter_map(|entry| entry.cidr)
        .collect();
    for cidr in &services {
        originate.push(Originate {
            prefix: cidr.trunc(),
            kind: OriginKind::Static,
            communities: Vec::new(),
        });
    }
    // prefixAdvertisements: this node's own BGPConfiguration wins over the global one.
    let node_config = Key::BgpConfiguration(format!("node.{name}"));
    let (advertisements_key, advertisements) = match snapshot
        .node_config(&name)
        .map(|c| c.spec.prefix_advertisements.good.clone())
        .filter(|a| !a.is_empty())
    {
        Some(own) => (node_config.path(), own),
        None => (
            Key::BgpConfiguration("default".into()).path(),
            global.prefix_advertisements.good.clone(),
        ),
    };
    let names: BTreeMap<&str, &str> = global
        .communities
        .iter()
        .map(|c| (c.name.as_str(), c.value.as_str()))
        .collect();
    for advertisement in &advertisements {
        for community in &advertisement.communities {
            let value = names.get(community.as_str()).copied().unwrap_or(community);
            if proto::config::parse_community(value).is_none() {
                let reason = format!(
                    "community {value:?} for {} skipped: only aa:nn is supported",
                    advertisement.cidr
                );
                cx.problem(&advertisements_key, "spec.prefixAdvertisements", reason);
                continue;
            }
            for origin in originate
                .iter_mut()
                .filter(|o| advertisement.cidr.contains(&o.prefix))
            {
                if !origin.communities.iter().any(|c| c == value) {
                    origin.communities.push(value.to_owned());
                }
            }
        }
    }
    originate.sort_by_key(|o| o.prefix);
    originate.dedup_by(|a, b| a.prefix == b.prefix);
    let mut never_install: Vec<IpNet> = services.iter().map(IpNet::trunc).collect();
    never_install.sort();
    never_install.dedup();
    (originate, never_install)
}
