//! `show route` on the BIRD socket, in BIRD 1.6's words (nest/rt-table.c
//! `rt_show_rte`, proto/bgp/attrs.c `bgp_get_route_info`): what birdc users
//! type, and what calico-node's status reporter reads to fill a
//! CalicoNodeStatus's routes (docs/INSTALL.md, "CalicoNodeStatus").
//!
//! ```text
//! 1007-10.65.1.0/26        via 10.0.1.11 on eth0 [Mesh_10_0_1_11 12:00:01] * (100/0) [i]
//!  10.65.0.0/26        blackhole [static1 12:00:00] * (200)
//! 0000
//! ```
//!
//! A route's time is when its source last changed: the session's coming up
//! for a peer's route, the last reconfiguration for the node's own; bgpd
//! keeps no clock per route.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::SystemTime;

use ipnet::IpNet;

use super::clock;
use crate::packet::Origin;
use crate::status::{PathStatus, PeerStatus, RouteStatus, SpeakerStatus};

/// The protocol routes learned from the kernel come from, as BIRD names it.
pub(crate) const KERNEL: &str = "kernel1";
/// The protocol interfaces' networks come from, as BIRD names it.
pub(crate) const DIRECT: &str = "direct1";

/// A learned route's protocol: its BIRD preference and route type.
fn learned(from: &str) -> Option<(u32, &'static str)> {
    match from {
        KERNEL => Some((10, "inherit")),
        DIRECT => Some((240, "device")),
        _ => None,
    }
}

/// What `show route` was asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteQuery {
    /// `show route 10.65.1.0/26`: that network only.
    pub exact: Option<IpNet>,
    /// `show route for 10.65.1.7`: the longest match.
    pub covering: Option<IpNet>,
    /// `protocol NAME`: routes from that protocol only.
    pub protocol: Option<String>,
    /// `primary`: the best route of each network only.
    pub primary: bool,
    /// `all`: with the attributes.
    pub all: bool,
    /// `count`: the totals only.
    pub count: bool,
}

impl RouteQuery {
    /// The words after `show route`, in any order as BIRD takes them; `None`
    /// for what BIRD's grammar refuses.
    pub fn parse(words: &[&str]) -> Option<Self> {
        let mut query = Self::default();
        let mut words = words.iter();
        while let Some(word) = words.next() {
            match *word {
                "all" => query.all = true,
                "count" => query.count = true,
                "primary" => query.primary = true,
                "for" => query.covering = Some(network(words.next()?)?),
                "protocol" => query.protocol = Some(words.next()?.to_string()),
                other => query.exact = Some(network(other)?),
            }
        }
        Some(query)
    }

    /// The part of the table to ask the speaker for: the covering match is
    /// found among the networks that contain the address, so all of them.
    pub fn within(&self) -> Option<IpNet> {
        match (self.exact, self.covering) {
            (Some(net), _) => Some(net),
            _ => None,
        }
    }
}

fn network(word: &str) -> Option<IpNet> {
    word.parse::<IpNet>()
        .ok()
        .or_else(|| word.parse::<IpAddr>().ok().map(IpNet::from))
}

/// What the reply needs besides the routes.
#[derive(Debug)]
pub struct Context<'a> {
    pub speaker: &'a SpeakerStatus,
    pub peers: &'a [PeerStatus],
    /// The kernel's view: the device each of a prefix's next hops leaves by.
    pub kernel: Option<&'a routesync::StatusReader>,
    pub ipv6: bool,
    pub now: SystemTime,
}

/// The reply to `show route ...`, `routes` being the speaker's table (or the
/// part of it the query's [`RouteQuery::within`] named), sorted by prefix.
pub fn show_route(query: &RouteQuery, routes: &[RouteStatus], context: &Context<'_>) -> String {
    let family = |r: &&RouteStatus| matches!(r.prefix, IpNet::V6(_)) == context.ipv6;
    let mut selected: Vec<&RouteStatus> = match (query.exact, query.covering) {
        (Some(net), _) => routes
            .iter()
            .filter(family)
            .filter(|r| r.prefix == net)
            .collect(),
        (None, Some(net)) => routes
            .iter()
            .filter(family)
            .filter(|r| r.prefix.contains(&net))
            .max_by_key(|r| r.prefix.prefix_len())
            .into_iter()
            .collect(),
        (None, None) => routes.iter().filter(family).collect(),
    };
    selected.retain(|r| !r.paths.is_empty());

    let mut out = String::new();
    let (mut networks, mut shown, mut total) = (0, 0, 0);
    let mut code = 0;
    for route in selected {
        total += route.paths.len();
        let mut first = true;
        let mut counted = false;
        for path in &route.paths {
            if (query.primary && !path.best)
                || query
                    .protocol
                    .as_ref()
                    .is_some_and(|p| *p != protocol(path))
            {
                continue;
            }
            shown += 1;
            if !counted {
                networks += 1;
                counted = true;
            }
            if query.count {
                continue;
            }
            let net = if first {
                route.prefix.to_string()
            } else {
                String::new()
            };
            first = false;
            let line = format!("{net:<18} {}", describe(route, path, context));
            push(&mut out, &mut code, 1007, &line);
            if query.all {
                for (i, line) in attributes(path).iter().enumerate() {
                    push(&mut out, &mut code, if i == 0 { 1008 } else { 1012 }, line);
                }
            }
        }
    }
    if query.count {
        return format!("0014 {shown} of {total} routes for {networks} networks\n");
    }
    // A table ends with "0000 ": clients look for the space.
    out.push_str("0000 \n");
    out
}

/// A line of code `code`: `NNNN-text` when the code changes, ` text` when it
/// continues the one before (BIRD's cli).
fn push(out: &mut String, last: &mut u16, code: u16, text: &str) {
    if *last == code {
        let _ = writeln!(out, " {text}");
    } else {
        let _ = writeln!(out, "{code:04}-{text}");
        *last = code;
    }
}

/// The BIRD protocol a path came from: the peer's protocol, or `static1`
/// for the node's own blocks (Calico's BIRD holds them as static blackholes).
pub(crate) fn protocol(path: &PathStatus) -> &str {
    if path.from == "local" {
        "static1"
    } else {
        &path.from
    }
}

/// `via 10.0.1.11 on eth0 [Mesh_10_0_1_11 12:00:01] * (100/0) [i]`.
fn describe(route: &RouteStatus, path: &PathStatus, context: &Context<'_>) -> String {
    let best = if path.best { " *" } else { "" };
    if path.from == "local" {
        let time = clock::since(context.speaker.last_reconfigured, context.now);
        return format!("blackhole [static1 {time}]{best} (200)");
    }
    if let Some((preference, _)) = learned(&path.from) {
        // BIRD's kernel and direct protocols: the route's own device.
        let time = clock::since(context.speaker.last_reconfigured, context.now);
        let device = path.device.as_deref().unwrap_or("?");
        return format!("dev {device} [{} {time}]{best} ({preference})", path.from);
    }
    let peer = context.peers.iter().find(|p| p.name == path.from);
    let time = clock::since(
        peer.map_or(context.speaker.started, |p| p.since),
        context.now,
    );
    // BIRD names the neighbor after `from` when the next hop is not it: a
    // reflected route, or a third-party next hop (RFC 4271 §5.1.3).
    let from = match peer {
        Some(peer) if peer.address != path.next_hop => format!(" from {}", peer.address),
        _ => String::new(),
    };
    let external = peer
        .and_then(|p| p.session.as_ref())
        .is_some_and(|s| s.external);
    // iBGP next hops are resolved recursively (Calico's `gateway recursive`),
    // and BIRD then shows the IGP metric after the preference.
    let preference = if external { "(100)" } else { "(100/0)" };
    let origin_as = path
        .as_path
        .last()
        .map_or(String::new(), |asn| format!("AS{asn}"));
    let origin = match path.origin {
        Some(Origin::Igp) => "i",
        Some(Origin::Egp) => "e",
        Some(Origin::Incomplete) | None => "?",
    };
    format!(
        "via {} on {} [{} {time}{from}]{best} {preference} [{origin_as}{origin}]",
        path.next_hop,
        device(route.prefix, path.next_hop, context),
        path.from,
    )
}

/// The interface the next hop leaves by: as the kernel route has it, or as
/// routesync classified it; otherwise the uplink.
pub(crate) fn device(prefix: IpNet, next_hop: IpAddr, context: &Context<'_>) -> String {
    let Some(kernel) = context.kernel else {
        return "?".into();
    };
    let devices = kernel.get(&prefix).map(|s| s.devices).unwrap_or_default();
    devices
        .iter()
        .find(|(gateway, _)| *gateway == next_hop)
        .or(devices.first())
        .map(|(_, device)| device.clone())
        .or_else(|| kernel.uplink())
        .unwrap_or_else(|| "?".into())
}

/// `show route all`: the route's type, then its attributes as BIRD 1.6
/// names them (`bgp_attr_table` in proto/bgp/attrs.c).
fn attributes(path: &PathStatus) -> Vec<String> {
    if path.from == "local" {
        return vec!["\tType: static unicast univ".into()];
    }
    if let Some((_, kind)) = learned(&path.from) {
        return vec![format!("\tType: {kind} unicast univ")];
    }
    let mut lines = vec!["\tType: BGP unicast univ".to_string()];
    let origin = match path.origin {
        Some(Origin::Igp) => "IGP",
        Some(Origin::Egp) => "EGP",
        Some(Origin::Incomplete) | None => "Incomplete",
    };
    lines.push(format!("\tBGP.origin: {origin}"));
    let as_path: Vec<String> = path.as_path.iter().map(u32::to_string).collect();
    lines.push(format!("\tBGP.as_path: {}", as_path.join(" ")));
    lines.push(format!("\tBGP.next_hop: {}", path.next_hop));
    if let Some(med) = path.med {
        lines.push(format!("\tBGP.med: {med}"));
    }
    if let Some(local_pref) = path.local_pref {
        lines.push(format!("\tBGP.local_pref: {local_pref}"));
    }
    if let Some(id) = path.originator_id {
        lines.push(format!("\tBGP.originator_id: {id}"));
    }
    if !path.cluster_list.is_empty() {
        let ids: Vec<String> = path.cluster_list.iter().map(|id| id.to_string()).collect();
        lines.push(format!("\tBGP.cluster_list: {}", ids.join(" ")));
    }
    if !path.communities.is_empty() {
        // BIRD 1.6 writes a community as `(65000,100)`.
        let communities: Vec<String> = path
            .communities
            .iter()
            .map(|c| format!("({})", c.replace(':', ",")))
            .collect();
        lines.push(format!("\tBGP.community: {}", communities.join(" ")));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::PeerStatus;
    use std::time::{Duration, UNIX_EPOCH};

    fn speaker() -> SpeakerStatus {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_316_645);
        SpeakerStatus {
            node_name: "n0".into(),
            router_id: "10.0.1.10".parse().unwrap(),
            local_as: 64512,
            cluster_id: None,
            started: t,
            last_reconfigured: t,
            reconfigurations: 0,
            converged: true,
            recovering: false,
            prefixes: 2,
            attr_sets: 1,
            update_processing: Default::default(),
        }
    }

    fn path(from: &str, next_hop: &str, best: bool) -> PathStatus {
        PathStatus {
            from: from.into(),
            device: None,
            next_hop: next_hop.parse().unwrap(),
            origin: Some(Origin::Igp),
            as_path: Vec::new(),
            local_pref: Some(100),
            med: None,
            communities: vec!["65000:100".into()],
            originator_id: None,
            cluster_list: Vec::new(),
            best,
            multipath: best,
        }
    }

    fn routes() -> Vec<RouteStatus> {
        vec![
            RouteStatus {
                prefix: "10.65.0.0/26".parse().unwrap(),
                paths: vec![path("local", "10.0.1.10", true)],
            },
            RouteStatus {
                prefix: "10.65.1.0/26".parse().unwrap(),
                paths: vec![
                    path("Mesh_10_0_1_11", "10.0.1.11", true),
                    path("Mesh_10_0_1_12", "10.0.1.11", false),
                ],
            },
            RouteStatus {
                prefix: "fd00:65::/122".parse().unwrap(),
                paths: vec![path("local", "fd00::10", true)],
            },
        ]
    }

    fn reply(words: &str) -> String {
        let speaker = speaker();
        let query = RouteQuery::parse(&words.split_whitespace().collect::<Vec<_>>()).unwrap();
        let context = Context {
            speaker: &speaker,
            peers: &[] as &[PeerStatus],
            kernel: None,
            ipv6: false,
            now: speaker.started + Duration::from_secs(60),
        };
        show_route(&query, &routes(), &context)
    }

    #[test]
    fn the_table_as_bird_prints_it() {
        let expected = [
            "1007-10.65.0.0/26       blackhole [static1 03:04:05] * (200)",
            " 10.65.1.0/26       via 10.0.1.11 on ? [Mesh_10_0_1_11 03:04:05] * (100/0) [i]",
            "                    via 10.0.1.11 on ? [Mesh_10_0_1_12 03:04:05] (100/0) [i]",
            "0000 ",
        ];
        assert_eq!(reply("").lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn longest_match_primary_and_protocol() {
        let covering = reply("for 10.65.1.7");
        assert!(covering.starts_with("1007-10.65.1.0/26 "), "{covering}");
        assert_eq!(covering.lines().count(), 3, "{covering}");
        assert_eq!(reply("for 10.99.0.1"), "0000 \n");
        assert_eq!(reply("primary").lines().count(), 3);
        let protocol = reply("protocol Mesh_10_0_1_12");
        assert!(
            protocol.starts_with("1007-10.65.1.0/26       via 10.0.1.11 on ? [Mesh_10_0_1_12"),
            "the network heads its first shown route: {protocol}"
        );
        assert_eq!(reply("count"), "0014 3 of 3 routes for 2 networks\n");
        assert_eq!(
            reply("primary count"),
            "0014 2 of 3 routes for 2 networks\n"
        );
    }

    #[test]
    fn all_adds_the_attributes_under_their_codes() {
        let all = reply("10.65.1.0/26 all");
        let lines: Vec<&str> = all.lines().collect();
        assert!(lines[0].starts_with("1007-10.65.1.0/26"), "{all}");
        assert_eq!(lines[1], "1008-\tType: BGP unicast univ");
        assert_eq!(lines[2], "1012-\tBGP.origin: IGP");
        assert!(lines.contains(&" \tBGP.next_hop: 10.0.1.11"), "{all}");
        assert!(lines.contains(&" \tBGP.community: (65000,100)"), "{all}");
        assert!(
            lines.iter().filter(|l| l.starts_with("1007-")).count() == 2,
            "each route line opens its code again after the attributes: {all}"
        );
    }

    #[test]
    fn what_bird_refuses() {
        assert_eq!(RouteQuery::parse(&["for"]), None);
        assert_eq!(RouteQuery::parse(&["nonsense"]), None);
        assert_eq!(RouteQuery::parse(&["protocol"]), None);
    }
}
