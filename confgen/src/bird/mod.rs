//! A `SpeakerConfig` written as the BIRD 1.6 configurations confd renders
//! for it (docs/CALICO-CONTRACT.md §2 to §4), for two uses: an operator diffs
//! them with what confd generated, and tests run Calico-configured BIRD nodes
//! beside bgpd.
//!
//! BIRD 1.6 runs one daemon per family: `bird` (bird.cfg) for IPv4 and
//! `bird6` (bird6.cfg) for IPv6, each holding its family's prefixes and
//! peers, as confd renders them. `Flavor::Calico` keeps `krt_tunnel`, which
//! only Calico's fork of BIRD knows; `Flavor::Stock` leaves it out so that
//! Debian's BIRD 1.6 runs the result. Passwords are masked unless asked for.

use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;
use proto::config::{IpipMode, NextHopMode, OriginKind, PeerKind, SpeakerConfig};

mod bfd;
mod filters;

use filters::{function_name, render_communities, render_filters, takes_peer_type};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// What Calico's BIRD fork runs (with `krt_tunnel`).
    Calico,
    /// What Debian's BIRD 1.6 runs.
    Stock,
}

/// Which of BIRD 1.6's two daemons a rendering is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `bird`, bird.cfg.
    V4,
    /// `bird6`, bird6.cfg.
    V6,
}

impl Family {
    pub fn holds(self, address: IpAddr) -> bool {
        address.is_ipv4() == (self == Family::V4)
    }

    /// The suffix of Calico's names for this family's things (`V4`, `V6`).
    fn suffix(self) -> &'static str {
        match self {
            Family::V4 => "V4",
            Family::V6 => "V6",
        }
    }
}

/// How to render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub flavor: Flavor,
    pub family: Family,
    /// Write passwords as they are, for a configuration BIRD runs; masked
    /// (`"***"`) otherwise, for showing and diffing.
    pub show_secrets: bool,
}

/// The `bird.cfg` of `config`, passwords masked.
pub fn render_bird(config: &SpeakerConfig, flavor: Flavor) -> String {
    render(
        config,
        Options {
            flavor,
            family: Family::V4,
            show_secrets: false,
        },
    )
}

/// The `bird.cfg` (IPv4) or `bird6.cfg` (IPv6) of `config`.
pub fn render(config: &SpeakerConfig, options: Options) -> String {
    let Options {
        flavor,
        family,
        show_secrets,
    } = options;
    let v4 = |net: &IpNet| family.holds(net.addr());
    let node_net = config.addresses.iter().find(|a| v4(a)).map(IpNet::trunc);
    let mut out = String::new();
    let w = &mut out;
    let daemon = match family {
        Family::V4 => "bird",
        Family::V6 => "bird6",
    };
    let _ = writeln!(
        w,
        "# Rendered by confgen for {} (BIRD 1.6 {daemon}, as confd would)",
        config.node_name
    );
    let _ = writeln!(w, "router id {};", config.router_id);
    let listen_address = config.listen.addresses.iter().find(|a| family.holds(**a));
    if listen_address.is_some() || config.listen.port != proto::config::DEFAULT_PORT {
        let address = listen_address
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
    for peer in config.peers.iter().filter(|p| family.holds(p.address)) {
        if let Some(gateway) = peer.reachable_by {
            let host = IpNet::from(peer.address);
            let _ = writeln!(w, "  route {host} via {gateway};");
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
    let normal_v4 = match family {
        Family::V4 => config.kernel.route_priority.ipv4,
        Family::V6 => config.kernel.route_priority.ipv6,
    };
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
    render_communities(w, config, family);

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
        // IP-in-IP is IPv4's: bird6 has no tunnel to choose.
        if flavor == Flavor::Calico && family == Family::V4 {
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
    render_filters(w, config, family);
    bfd::render_protocol(w, config, family);
    if config.cluster_id.is_some() {
        let _ = writeln!(
            w,
            "\n# This node is a route reflector with cluster ID {}.",
            config.cluster_id.map(|c| c.to_string()).unwrap_or_default()
        );
    }
    for peer in config.peers.iter().filter(|p| family.holds(p.address)) {
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
        if let Some(source) = peer.source_address.filter(|a| family.holds(*a)) {
            let _ = writeln!(w, "  source address {source};");
        }
        let internal = peer.remote_as == peer.local_as.unwrap_or(config.local_as);
        // Route priority both ways: an elevated LOCAL_PREF is preferred;
        // a route of this node's goes out with its metric as LOCAL_PREF
        // (none, or 0: normal), a BGP route with its own.
        let elevated_above = proto::config::LOCAL_PREF_OF_METRIC_0 - normal_v4;
        // The peer's BGPFilters, in its order, before the usual rules; a
        // function with peerType rules is told whether the peer is iBGP.
        let ipv4 = family == Family::V4;
        let calls = |import: bool| -> String {
            config
                .filters_of(peer)
                .filter(|f| !f.rules(ipv4, import).is_empty())
                .map(|f| {
                    let argument = if takes_peer_type(f.rules(ipv4, import)) {
                        internal.to_string()
                    } else {
                        String::new()
                    };
                    format!(
                        "    {}({argument});\n",
                        function_name(&f.name, import, family)
                    )
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
        if peer.bfd.is_some() {
            let _ = writeln!(w, "  bfd on;");
        }
        if peer.restart_time != proto::config::DEFAULT_RESTART_TIME {
            let _ = writeln!(w, "  graceful restart time {};", peer.restart_time);
        }
        if peer.route_reflector_client {
            if let Some(cluster) = config.cluster_id {
                let _ = writeln!(w, "  rr client;\n  rr cluster id {cluster};");
            }
        }
        if let Some(password) = &peer.password {
            // Written out only for BIRD to run it. BIRD's strings have no
            // escapes: a password with a double quote or a line break
            // cannot be written, and is said so rather than changed.
            let secret = password.expose();
            if !show_secrets {
                let _ = writeln!(w, "  password \"***\";");
            } else if secret.contains(['"', '\n']) {
                let _ = writeln!(
                    w,
                    "  # password not written: BIRD cannot read its double quote or line break"
                );
            } else {
                let _ = writeln!(w, "  password \"{secret}\";");
            }
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
