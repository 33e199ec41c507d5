//! BGP messages as the scenarios write them: one line each, in both
//! directions. What the speaker sent is rendered; what a peer sends is
//! built from `key=value` words.
//!
//! ```text
//! open as=64512 id=10.0.0.2 hold=0 gr=120 addpath=both families=ipv4,ipv6
//! update announce=10.2.0.0/26,10.2.0.64/26 nh=10.0.0.2 path=64513 lp=100
//! update withdraw=10.2.0.0/26
//! eor ipv6
//! notification 6/2
//! refresh ipv4
//! raw ffffffffffffffffffffffffffffffff001304   (any octets, as given)
//! ```

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::packet::{
    AddPathFamily, AddPathMode, AfiSafi, AsPath, Capability, Community, Family, GracefulRestart,
    GracefulRestartFamily, LargeCommunity, Message, MpReach, MpUnreach, NextHop, Nlri,
    Notification, OpenMessage, Origin, PathAttributes, RefreshSubtype, RouteRefreshMessage,
    UpdateMessage,
};

/// A message as one line.
pub fn render(message: &Message) -> String {
    match message {
        Message::Open(open) => render_open(open),
        Message::Update(update) => render_update(update),
        Message::Notification(n) => {
            format!("NOTIFICATION {}/{} {}", n.code, n.subcode, n.describe())
        }
        Message::Keepalive => "KEEPALIVE".into(),
        Message::RouteRefresh(rr) => {
            let family = family_name(Family::from_afi_safi(rr.afi, rr.safi));
            let kind = match rr.subtype {
                RefreshSubtype::Request => "",
                RefreshSubtype::BeginningOfRefresh => " begin",
                RefreshSubtype::EndOfRefresh => " end",
                _ => " (other)",
            };
            format!("ROUTE-REFRESH {family}{kind}")
        }
    }
}

fn family_name(family: Option<Family>) -> &'static str {
    match family {
        Some(Family::Ipv4Unicast) => "ipv4",
        Some(Family::Ipv6Unicast) => "ipv6",
        None => "other",
    }
}

fn render_open(open: &OpenMessage) -> String {
    let mut line = format!(
        "OPEN as={} id={} hold={}",
        open.asn(),
        open.bgp_id,
        open.hold_time
    );
    for capability in &open.capabilities {
        line.push(' ');
        line += &match capability {
            Capability::Multiprotocol(afi_safi) => format!("mp={}", family_name(afi_safi.family())),
            Capability::RouteRefresh => "refresh".into(),
            Capability::EnhancedRouteRefresh => "enhanced-refresh".into(),
            Capability::ExtendedMessage => "extended-message".into(),
            Capability::FourOctetAs(asn) => format!("as4={asn}"),
            Capability::GracefulRestart(gr) => {
                let mut text = format!("gr={}", gr.restart_time);
                if gr.restarting {
                    text += ",restarting";
                }
                if gr.notification {
                    text += ",notification";
                }
                for family in &gr.families {
                    let _ = write!(text, ",{}", family_name(family.afi_safi.family()));
                    if family.forwarding_preserved {
                        text += "+forwarding";
                    }
                }
                text
            }
            Capability::AddPath(families) => {
                let modes: Vec<String> = families
                    .iter()
                    .map(|f| format!("{}:{:?}", family_name(f.afi_safi.family()), f.mode))
                    .collect();
                format!("addpath={}", modes.join(",").to_lowercase())
            }
            Capability::Unknown { code, .. } => format!("capability-{code}"),
        };
    }
    line
}

fn render_update(update: &UpdateMessage) -> String {
    if let Some(family) = update.end_of_rib_family() {
        return format!("UPDATE end-of-rib {}", family_name(Some(family)));
    }
    let mut line = "UPDATE".to_owned();
    // In prefix order: the order within an UPDATE says nothing.
    let prefixes = |sign: char, nlri: &mut dyn Iterator<Item = &Nlri>| -> String {
        let mut nlri: Vec<&Nlri> = nlri.collect();
        nlri.sort_by_key(|n| (n.prefix, n.path_id));
        nlri.iter()
            .map(|n| match n.path_id {
                Some(id) => format!(" {sign}{}#{id}", n.prefix),
                None => format!(" {sign}{}", n.prefix),
            })
            .collect()
    };
    line += &prefixes('-', &mut update.withdrawals());
    line += &prefixes('+', &mut update.announced());
    if update.announced().next().is_some() {
        line += &render_attrs(&update.attrs);
    }
    for error in &update.errors {
        let _ = write!(line, " error={error:?}");
    }
    line
}

fn render_attrs(attrs: &PathAttributes) -> String {
    let mut text = String::new();
    if let Some(next_hop) = attrs.next_hop {
        let _ = write!(text, " nh={next_hop}");
    }
    if let Some(reach) = &attrs.mp_reach {
        match reach.next_hop {
            NextHop::V4(v4) => {
                let _ = write!(text, " nh={v4}");
            }
            NextHop::V6 { global, link_local } => {
                let _ = write!(text, " nh={global}");
                if let Some(ll) = link_local {
                    let _ = write!(text, ",{ll}");
                }
            }
        }
    }
    let path: Vec<String> = attrs
        .as_path
        .iter()
        .flat_map(AsPath::asns)
        .map(|asn| asn.to_string())
        .collect();
    let _ = write!(text, " path=[{}]", path.join(","));
    match attrs.origin {
        Some(Origin::Igp) | None => {}
        Some(Origin::Egp) => text += " origin=egp",
        Some(Origin::Incomplete) => text += " origin=incomplete",
    }
    if let Some(lp) = attrs.local_pref {
        let _ = write!(text, " lp={lp}");
    }
    if let Some(med) = attrs.med {
        let _ = write!(text, " med={med}");
    }
    for community in &attrs.communities {
        let _ = write!(
            text,
            " community={}:{}",
            community.0 >> 16,
            community.0 & 0xffff
        );
    }
    for large in &attrs.large_communities {
        let _ = write!(
            text,
            " large={}:{}:{}",
            large.global_admin, large.local_data1, large.local_data2
        );
    }
    if let Some(originator) = attrs.originator_id {
        let _ = write!(text, " originator={originator}");
    }
    if !attrs.cluster_list.is_empty() {
        let ids: Vec<String> = attrs.cluster_list.iter().map(|c| c.to_string()).collect();
        let _ = write!(text, " cluster={}", ids.join(","));
    }
    text
}

/// What a peer sends: a message, or octets that need not be one.
#[derive(Debug)]
pub enum Sent {
    Message(Box<Message>),
    Raw(Vec<u8>),
}

/// Builds what a peer sends from its words (see the module's comment), or
/// says which word is wrong.
pub fn build(words: &[&str]) -> Result<Sent, String> {
    match words {
        ["raw", hex] => hex::decode(hex)
            .map(Sent::Raw)
            .map_err(|e| format!("not hex: {e}")),
        _ => build_message(words).map(|m| Sent::Message(Box::new(m))),
    }
}

fn build_message(words: &[&str]) -> Result<Message, String> {
    let (kind, args) = words.split_first().ok_or("a message is missing")?;
    match *kind {
        "open" => build_open(args).map(Message::Open),
        "update" => build_update(args).map(Message::Update),
        "keepalive" => Ok(Message::Keepalive),
        "eor" => Ok(Message::Update(UpdateMessage::end_of_rib(family_arg(
            args,
        )?))),
        "notification" => {
            let code = args.first().ok_or("notification needs code/subcode")?;
            let (code, subcode) = code
                .split_once('/')
                .ok_or("notification needs code/subcode")?;
            Ok(Message::Notification(Notification::new(
                number(code)?,
                number(subcode)?,
                bytes::Bytes::new(),
            )))
        }
        "refresh" => {
            let family = family_arg(args)?;
            Ok(Message::RouteRefresh(RouteRefreshMessage {
                afi: family.afi(),
                subtype: RefreshSubtype::Request,
                safi: family.safi(),
            }))
        }
        other => Err(format!("no message {other:?}")),
    }
}

fn family_arg(args: &[&str]) -> Result<Family, String> {
    match args.first().copied() {
        None | Some("ipv4") => Ok(Family::Ipv4Unicast),
        Some("ipv6") => Ok(Family::Ipv6Unicast),
        Some(other) => Err(format!("no family {other:?}")),
    }
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("not a number: {text:?}"))
}

fn address<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("not an address: {text:?}"))
}

/// `key=value` words, each key known to the caller.
fn pairs<'a>(args: &[&'a str]) -> Result<Vec<(&'a str, &'a str)>, String> {
    args.iter()
        .map(|word| {
            word.split_once('=')
                .ok_or(format!("expected key=value: {word:?}"))
        })
        .collect()
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').filter(|v| !v.is_empty())
}

fn afi_safi(family: Family) -> AfiSafi {
    AfiSafi {
        afi: family.afi(),
        safi: family.safi(),
    }
}

fn build_open(args: &[&str]) -> Result<OpenMessage, String> {
    let (mut asn, mut id, mut hold) = (None, None, 0u16);
    let mut families = vec![Family::Ipv4Unicast];
    let mut capabilities = vec![Capability::RouteRefresh];
    let mut gr = None;
    let mut add_path = None;
    for (key, value) in pairs(args)? {
        match key {
            "as" => asn = Some(number::<u32>(value)?),
            "id" => id = Some(address::<Ipv4Addr>(value)?),
            "hold" => hold = number(value)?,
            "families" => {
                families = list(value)
                    .map(|f| family_arg(&[f]))
                    .collect::<Result<_, _>>()?
            }
            "gr" => gr = Some(value),
            "addpath" => {
                add_path = Some(match value {
                    "send" => AddPathMode::Send,
                    "receive" => AddPathMode::Receive,
                    "both" => AddPathMode::Both,
                    other => return Err(format!("no add-path mode {other:?}")),
                })
            }
            other => return Err(format!("no OPEN word {other:?}")),
        }
    }
    for family in &families {
        capabilities.push(Capability::Multiprotocol(afi_safi(*family)));
    }
    if let Some(gr) = gr {
        // gr=TIME[,restarting][,forwarding]
        let mut words = gr.split(',');
        let restart_time = number(words.next().unwrap_or_default())?;
        let flags: Vec<&str> = words.collect();
        capabilities.push(Capability::GracefulRestart(GracefulRestart {
            restarting: flags.contains(&"restarting"),
            notification: false,
            restart_time,
            families: families
                .iter()
                .map(|f| GracefulRestartFamily {
                    afi_safi: afi_safi(*f),
                    forwarding_preserved: flags.contains(&"forwarding"),
                })
                .collect(),
        }));
    }
    if let Some(mode) = add_path {
        capabilities.push(Capability::AddPath(
            families
                .iter()
                .map(|f| AddPathFamily {
                    afi_safi: afi_safi(*f),
                    mode,
                })
                .collect(),
        ));
    }
    let asn = asn.ok_or("open needs as=")?;
    let id = id.ok_or("open needs id=")?;
    Ok(OpenMessage::new(asn, hold, id, capabilities))
}

fn build_update(args: &[&str]) -> Result<UpdateMessage, String> {
    let mut update = UpdateMessage::default();
    let mut announce: Vec<IpNet> = Vec::new();
    let mut withdraw: Vec<IpNet> = Vec::new();
    let mut next_hop: Option<IpAddr> = None;
    let attrs = &mut update.attrs;
    attrs.origin = Some(Origin::Igp);
    attrs.as_path = Some(AsPath::sequence([]));
    for (key, value) in pairs(args)? {
        match key {
            "announce" => announce = list(value).map(address).collect::<Result<_, _>>()?,
            "withdraw" => withdraw = list(value).map(address).collect::<Result<_, _>>()?,
            "nh" => next_hop = Some(address(value)?),
            "path" => {
                attrs.as_path = Some(AsPath::sequence(list(value).map(number).collect::<Result<
                    Vec<u32>,
                    _,
                >>(
                )?))
            }
            "lp" => attrs.local_pref = Some(number(value)?),
            "med" => attrs.med = Some(number(value)?),
            "originator" => attrs.originator_id = Some(address(value)?),
            "cluster" => attrs.cluster_list = list(value).map(address).collect::<Result<_, _>>()?,
            "community" => {
                for community in list(value) {
                    let (asn, value) = community.split_once(':').ok_or("community is a:b")?;
                    attrs
                        .communities
                        .push(Community::new(number(asn)?, number(value)?));
                }
            }
            "large" => {
                for large in list(value) {
                    let parts: Vec<u32> = large.split(':').map(number).collect::<Result<_, _>>()?;
                    let [global_admin, local_data1, local_data2] = parts[..] else {
                        return Err("large is a:b:c".into());
                    };
                    attrs.large_communities.push(LargeCommunity {
                        global_admin,
                        local_data1,
                        local_data2,
                    });
                }
            }
            other => return Err(format!("no UPDATE word {other:?}")),
        }
    }
    let nlri = |prefixes: &[IpNet], v6: bool| -> Vec<Nlri> {
        prefixes
            .iter()
            .filter(|p| matches!(p, IpNet::V6(_)) == v6)
            .map(|p| Nlri {
                prefix: *p,
                path_id: None,
            })
            .collect()
    };
    update.withdrawn = nlri(&withdraw, false);
    update.nlri = nlri(&announce, false);
    let withdrawn_v6 = nlri(&withdraw, true);
    if !withdrawn_v6.is_empty() {
        update.attrs.mp_unreach = Some(MpUnreach {
            family: Family::Ipv6Unicast,
            withdrawn: withdrawn_v6,
        });
    }
    let announced_v6 = nlri(&announce, true);
    match next_hop {
        Some(IpAddr::V6(global)) if !announced_v6.is_empty() => {
            update.attrs.mp_reach = Some(MpReach {
                family: Family::Ipv6Unicast,
                next_hop: NextHop::V6 {
                    global,
                    link_local: None,
                },
                nlri: announced_v6,
            });
        }
        Some(IpAddr::V4(v4)) if !update.nlri.is_empty() => update.attrs.next_hop = Some(v4),
        _ if announce.is_empty() => {}
        _ => return Err("announced prefixes need nh= of their family".into()),
    }
    if announce.is_empty() {
        update.attrs = PathAttributes {
            mp_unreach: update.attrs.mp_unreach.take(),
            ..PathAttributes::default()
        };
    }
    Ok(update)
}
