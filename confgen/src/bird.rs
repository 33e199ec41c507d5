//! A `SpeakerConfig` written as the BIRD 1.6 configuration confd renders for
//! it (calico.md §2.1 to §2.6), for two uses: an operator diffs it with what
//! confd generated, and tests run Calico-configured BIRD nodes beside bgpd.
//!
//! BIRD 1.6 speaks IPv4 only (IPv6 is `bird6`'s); IPv6 peers and prefixes
//! are left out. `Flavor::Calico` keeps `krt_tunnel`, which only Calico's
//! fork of BIRD knows; `Flavor::Stock` leaves it out so that Debian's BIRD
//! 1.6 runs the result.

use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;
use proto::config::{
    CommunityValue, FilterAction, FilterOperation, FilterRule, FilterSource, IpipMode,
    MatchOperator, NextHopMode, OriginKind, PeerKind, SpeakerConfig,
};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// What Calico's BIRD fork runs (with `krt_tunnel`).
    Calico,
    /// What Debian's BIRD 1.6 runs.
    Stock,
}

/// The `bird.cfg` of `config`.
pub fn render_bird(config: &SpeakerConfig, flavor: Flavor) -> String {
    let v4 = |net: &IpNet| net.addr().is_ipv4();
    let node_net = config.addresses.iter().find(|a| v4(a)).map(IpNet::trunc);
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "# Rendered by confgen for {} (BIRD 1.6, as confd would)",
        config.node_name
    );
    let _ = writeln!(w, "router id {};", config.router_id);
    if config.listen.address.is_some() || config.listen.port != proto::config::DEFAULT_PORT {
        let address = config
            .listen
            .address
            .map(|a| format!("address {a} "))
            .unwrap_or_default();
        let _ = writeln!(w, "listen bgp {address}port {};", config.listen.port);
    }

    // bird_aggr.cfg: blackholes for own blocks and static ranges, calico_aggr.
    let _ = writeln!(w, "\nprotocol static {{");
    for origin in config.originate.iter().filter(|o| v4(&o.prefix)) {
        let _ = writeln!(w, "  route {} blackhole;", origin.prefix);
    }
    // BGPPeer reachableBy: the peer through its gateway.
    for peer in config.peers.iter().filter(|p| p.address.is_ipv4()) {
        if let Some(gateway) = peer.reachable_by {
            let _ = writeln!(w, "  route {}/32 via {gateway};", peer.address);
        }
    }
    let _ = writeln!(w, "}}\n\nfunction calico_aggr () {{");
    // /32 and /128 blocks have no blackhole: their workload's route is the
    // announcement.
    let mut blocks: Vec<IpNet> = config
        .originate
        .iter()
        .filter(|o| o.kind == OriginKind::Block)
        .map(|o| o.prefix)
        .chain(config.export.address_blocks.iter().copied())
        .filter(v4)
        .collect();
    blocks.sort();
    let normal_v4 = config.kernel.route_priority.ipv4;
    for block in blocks {
        // An elevated route (a lower metric than normal; none is normal)
        // leaves the block too (crate docs: bgpd's `priority` rule).
        let _ = writeln!(w, "  # Block {block} is confirmed");
        let _ = writeln!(
            w,
            "  if ( net = {block} ) then {{ accept; }}\n  if ( net ~ {block} && krt_metric > 0 && krt_metric < {normal_v4} ) then {{ accept; }}\n  if ( net ~ {block} ) then {{ reject; }}"
        );
    }
    let _ = writeln!(w, "}}");
    render_communities(w, config);

    // bird_ipam.cfg: what may be exported, and how pools reach the kernel.
    // Felix's tunnel routes never go to iBGP peers: VXLAN and WireGuard
    // always, IP-in-IP when Felix programs those pools (Calico confd's
    // IBGPExportFilterForTunnelRoutes).
    let mut tunnels = vec!["*.cali", "*.calico"];
    if !config.kernel.cluster_routes.programs_ipip() {
        tunnels.push(config.kernel.tunnel_device.as_str());
    }
    let tunnels: Vec<String> = tunnels
        .iter()
        .map(|t| format!("(ifname ~ \"{t}\")"))
        .collect();
    let _ = writeln!(
        w,
        "\nfunction calico_export_to_bgp_peers(bool internal_peer) {{\n{}  if (internal_peer) then {{\n    if (defined(ifname)) then {{\n      if ({}) then {{\n        reject;\n      }}\n    }}\n  }}\n  apply_communities();\n  calico_aggr();",
        config
            .export
            .never
            .iter()
            .filter(|p| v4(p))
            .map(|p| format!("  if ( net ~ {p} ) then {{ reject; }}\n"))
            .collect::<String>(),
        tunnels.join(" || ")
    );
    for prefix in config.export.prefixes.iter().filter(|p| v4(p)) {
        let _ = writeln!(w, "  if ( net ~ {prefix} ) then {{ accept; }}");
    }
    // A BGP route's metric comes from its LOCAL_PREF (none: normal); an
    // elevated one is preferred over every other source.
    let _ = writeln!(
        w,
        "  reject;\n}}\n\nfilter calico_kernel_programming {{\n  if (defined(source) && (source = RTS_BGP) && !defined(krt_metric)) then {{\n    krt_metric = {normal_v4};\n    if (defined(bgp_local_pref)) then {{\n      krt_metric = 2147483647 - bgp_local_pref;\n    }}\n    if (krt_metric < {normal_v4}) then {{\n      preference = 200;\n    }}\n  }}"
    );
    for prefix in config.kernel.never_install.iter().filter(|p| v4(p)) {
        let _ = writeln!(w, "  if ( net ~ {prefix} ) then {{ reject; }}");
    }
    for pool in config.kernel.pools.iter().filter(|p| v4(&p.cidr)) {
        let _ = writeln!(w, "  if ( net ~ {} ) then {{", pool.cidr);
        if !config.kernel.cluster_routes.programs(pool) {
            // VXLAN pools, and those whose cluster routes Felix programs.
            let _ = writeln!(w, "    reject;\n  }}");
            continue;
        }
        if flavor == Flavor::Calico {
            let tunnel = &config.kernel.tunnel_device;
            match (pool.ipip, node_net) {
                (IpipMode::CrossSubnet, Some(subnet)) => {
                    let _ = writeln!(w, "    if defined(bgp_next_hop) && ( bgp_next_hop ~ {subnet} ) then\n      krt_tunnel = \"\";\n    else\n      krt_tunnel = \"{tunnel}\";");
                }
                (IpipMode::Always, _) => {
                    let _ = writeln!(w, "    krt_tunnel = \"{tunnel}\";");
                }
                _ => {
                    let _ = writeln!(w, "    krt_tunnel = \"\";");
                }
            }
        }
        let _ = writeln!(w, "    accept;\n  }}");
    }
    let _ = writeln!(w, "  accept;\n}}");

    // bird.cfg: kernel, device, direct, the template and the peers.
    let _ = write!(
        w,
        "\nprotocol kernel {{\n  learn;\n  persist;\n  scan time 2;\n  import all;\n  export filter calico_kernel_programming;\n  graceful restart;\n  merge paths on;\n}}\n\n\
         protocol device {{\n  scan time 2;\n}}\n\nprotocol direct {{\n  interface {}-\"cali*\", -\"kube-ipvs*\", \"*\";\n}}\n\n\
         template bgp bgp_template {{\n  local as {};\n  gateway recursive;\n  add paths on;\n  graceful restart;\n  connect delay time 2;\n  connect retry time 5;\n  error wait time 5,30;\n}}\n",
        config
            .kernel
            .ignored_interfaces
            .iter()
            .map(|i| format!("-\"{i}\", "))
            .collect::<String>(),
        config.local_as
    );
    render_filters(w, config);
    if config.cluster_id.is_some() {
        let _ = writeln!(
            w,
            "\n# This node is a route reflector with cluster ID {}.",
            config.cluster_id.map(|c| c.to_string()).unwrap_or_default()
        );
    }
    for peer in config.peers.iter().filter(|p| p.address.is_ipv4()) {
        let _ = writeln!(
            w,
            "\nprotocol bgp {} from bgp_template {{",
            peer.protocol_name()
        );
        if peer.kind != PeerKind::Mesh {
            match peer.ttl_security {
                Some(hops) => {
                    let _ = writeln!(w, "  ttl security on;\n  multihop {hops};");
                }
                None => {
                    let _ = writeln!(w, "  ttl security off;\n  multihop;");
                }
            }
        }
        let port = if peer.port == proto::config::DEFAULT_PORT {
            String::new()
        } else {
            format!(" port {}", peer.port)
        };
        let _ = writeln!(
            w,
            "  neighbor {}{port} as {};",
            peer.address, peer.remote_as
        );
        // sourceAddress None: no `source address` line, as confd renders it.
        if let Some(IpAddr::V4(source)) = peer.source_address {
            let _ = writeln!(w, "  source address {source};");
        }
        let internal = peer.remote_as == peer.local_as.unwrap_or(config.local_as);
        // Route priority both ways: an elevated LOCAL_PREF is preferred;
        // a route of this node's goes out with its metric as LOCAL_PREF
        // (none, or 0: normal), a BGP route with its own.
        let elevated_above = proto::config::LOCAL_PREF_OF_METRIC_0 - normal_v4;
        // The peer's BGPFilters, in its order, before the usual rules; a
        // function with peerType rules is told whether the peer is iBGP.
        let calls = |import: bool| -> String {
            config
                .filters_of(peer)
                .filter(|f| !f.rules(true, import).is_empty())
                .map(|f| {
                    let argument = if by_peer_type(f.rules(true, import)) {
                        internal.to_string()
                    } else {
                        String::new()
                    };
                    format!("    {}({argument});\n", function_name(&f.name, import))
                })
                .collect()
        };
        let _ = writeln!(
            w,
            "  import filter {{\n{}    if (defined(bgp_local_pref)&&(bgp_local_pref > {elevated_above})) then\n      preference = 200;\n    accept;\n  }};\n  export filter {{\n    if (defined(source) && source = RTS_BGP && defined(bgp_local_pref)) then {{\n      krt_metric = 2147483647 - bgp_local_pref;\n    }} else {{\n      if (!defined(krt_metric) || krt_metric = 0) then {{ krt_metric = {normal_v4}; }}\n      bgp_local_pref = 2147483647 - krt_metric;\n    }}\n{}    calico_export_to_bgp_peers({internal});\n    reject;\n  }};",
            calls(true),
            calls(false)
        );
        if peer.passive {
            let _ = writeln!(w, "  passive on;");
        }
        if peer.restart_time != proto::config::DEFAULT_RESTART_TIME {
            let _ = writeln!(w, "  graceful restart time {};", peer.restart_time);
        }
        if peer.route_reflector_client {
            if let Some(cluster) = config.cluster_id {
                let _ = writeln!(w, "  rr client;\n  rr cluster id {cluster};");
            }
        }
        if peer.password.is_some() {
            // The secret itself is never written out.
            let _ = writeln!(w, "  password \"***\";");
        }
        match peer.next_hop {
            NextHopMode::Keep if !internal => {
                let _ = writeln!(w, "  next hop keep;");
            }
            NextHopMode::SelfAddress => {
                let _ = writeln!(w, "  next hop self;");
            }
            _ => {}
        }
        if let Some(local_as) = peer.local_as {
            let _ = writeln!(w, "  local as {local_as};");
        }
        if peer.allow_local_as > 0 {
            let _ = writeln!(w, "  allow local as {};", peer.allow_local_as);
        }
        let _ = writeln!(w, "}}");
    }
    out
}

/// The longest symbol BIRD takes.
const MAX_BIRD_SYMBOL: usize = 64;

/// BIRD's name for a filter's function, as Calico's confd names it: a name
/// too long for BIRD's 64-character symbols keeps its start and gets the
/// first 16 hex digits of its SHA-256, so that long names stay apart.
fn function_name(filter: &str, import: bool) -> String {
    let direction = if import { "import" } else { "export" };
    let suffix = format!("_{direction}FilterV4");
    let room = MAX_BIRD_SYMBOL - "bgp_".len() - suffix.len();
    let name = if filter.len() <= room {
        filter.to_owned()
    } else {
        let digest: String = Sha256::digest(filter.as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02X}"))
            .collect();
        // Resource names are ASCII (DNS subdomain names): any index is a
        // character boundary.
        format!("{}_{digest}", &filter[..room - digest.len() - 1])
    };
    format!("'bgp_{name}{suffix}'")
}

/// Whether a list has `peerType` rules: its function then takes Calico's
/// `is_same_as` argument.
fn by_peer_type(rules: &[FilterRule]) -> bool {
    rules.iter().any(|r| r.peer_type.is_some())
}

/// One function per BGPFilter and direction with IPv4 rules: each rule an
/// `if`, the first to match deciding, after its operations.
fn render_filters(w: &mut String, config: &SpeakerConfig) {
    for filter in &config.filters {
        for import in [true, false] {
            let rules = filter.rules(true, import);
            if rules.is_empty() {
                continue;
            }
            let parameter = if by_peer_type(rules) {
                "bool is_same_as"
            } else {
                ""
            };
            let _ = writeln!(
                w,
                "\nfunction {}({parameter}) {{",
                function_name(&filter.name, import)
            );
            for rule in rules {
                let mut body = operations(&rule.operations);
                body.push(match rule.action {
                    FilterAction::Accept => "accept;".into(),
                    FilterAction::Reject => "reject;".into(),
                });
                let body = body.join(" ");
                let conditions = conditions(rule);
                let statement = if conditions.is_empty() {
                    body
                } else {
                    format!("if ({}) then {{ {body} }}", conditions.join("&&"))
                };
                let statement = match rule.peer_type {
                    Some(proto::config::PeerType::Ibgp) => {
                        format!("if (is_same_as) then {{ {statement} }}")
                    }
                    Some(proto::config::PeerType::Ebgp) => {
                        format!("if (!is_same_as) then {{ {statement} }}")
                    }
                    None => statement,
                };
                let _ = writeln!(w, "  {statement}");
            }
            let _ = writeln!(w, "}}");
        }
    }
}

/// A rule's conditions in BIRD's filter language, as Calico writes them.
fn conditions(rule: &FilterRule) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(operator), Some(cidr)) = (rule.match_operator, rule.cidr) {
        let set = match rule.prefix_length {
            Some(lengths) => format!(
                "[ {cidr}{{{},{}}} ]",
                lengths
                    .min
                    .unwrap_or(cidr.prefix_len())
                    .max(cidr.prefix_len()),
                lengths
                    .max
                    .unwrap_or(cidr.max_prefix_len())
                    .min(cidr.max_prefix_len())
            ),
            None => cidr.to_string(),
        };
        out.push(match operator {
            MatchOperator::Equal => format!("(net = {cidr})"),
            MatchOperator::NotEqual => format!("(net != {cidr})"),
            MatchOperator::In => format!("(net ~ {set})"),
            MatchOperator::NotIn => format!("!(net ~ {set})"),
        });
    }
    if rule.source == Some(FilterSource::RemotePeers) {
        out.push("((defined(source))&&(source ~ [ RTS_BGP ]))".into());
    }
    if let Some(interface) = &rule.interface {
        out.push(format!("((defined(ifname))&&(ifname ~ \"{interface}\"))"));
    }
    if let Some(community) = rule.community {
        out.push(format!(
            "({} ~ {})",
            community_tuple(community),
            community_list(community)
        ));
    }
    if !rule.as_path_prefix.is_empty() {
        let asns: Vec<String> = rule.as_path_prefix.iter().map(u32::to_string).collect();
        out.push(format!("(bgp_path ~ [= {} * =])", asns.join(" ")));
    }
    if let Some(priority) = rule.priority {
        out.push(format!(
            "(defined(bgp_local_pref)&&(bgp_local_pref = {}))",
            proto::config::LOCAL_PREF_OF_METRIC_0 - priority
        ));
    }
    out
}

/// An accepting rule's operations as BIRD statements.
fn operations(operations: &[FilterOperation]) -> Vec<String> {
    let mut out = Vec::new();
    for operation in operations {
        match operation {
            FilterOperation::AddCommunity(c) => out.push(add_community(*c)),
            // BIRD prepends one at a time: the last goes first.
            FilterOperation::PrependAsPath(asns) => out.extend(
                asns.iter()
                    .rev()
                    .map(|asn| format!("bgp_path.prepend({asn});")),
            ),
            FilterOperation::SetPriority(p) => out.push(format!(
                "bgp_local_pref = {};",
                proto::config::LOCAL_PREF_OF_METRIC_0 - p
            )),
        }
    }
    out
}

fn community_tuple(community: CommunityValue) -> String {
    match community {
        CommunityValue::Standard(a, n) => format!("({a}, {n})"),
        CommunityValue::Large(a, n, m) => format!("({a}, {n}, {m})"),
    }
}

fn community_list(community: CommunityValue) -> &'static str {
    match community {
        CommunityValue::Standard(..) => "bgp_community",
        CommunityValue::Large(..) => "bgp_large_community",
    }
}

fn add_community(community: CommunityValue) -> String {
    format!(
        "{}.add({});",
        community_list(community),
        community_tuple(community)
    )
}

/// Calico's `apply_communities`: the communities of every
/// prefixAdvertisements range a sent route is inside.
fn render_communities(w: &mut String, config: &SpeakerConfig) {
    let _ = writeln!(w, "\nfunction apply_communities () {{");
    for range in config
        .export
        .communities
        .iter()
        .filter(|r| r.prefix.addr().is_ipv4())
    {
        let _ = writeln!(w, "  if ( net ~ {} ) then {{", range.prefix);
        for community in &range.communities {
            let _ = writeln!(w, "    {}", add_community(*community));
        }
        let _ = writeln!(w, "  }}");
    }
    let _ = writeln!(w, "}}");
}
