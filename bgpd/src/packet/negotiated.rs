//! What two OPENs agree on (RFC 5492 §3: a capability is used when both sides
//! advertise it), and the codec contexts that follow from it.

use super::capability::{AddPathFamily, Capability, GracefulRestart};
use super::context::{DecodeCtx, EncodeCtx, Family, FamilySet};
use super::open::OpenMessage;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The smaller of the two hold times (RFC 4271 §4.2); zero disables it.
    pub hold_time: u16,
    /// The peer's AS, from its 4-octet AS capability when it sent one.
    pub peer_as: u32,
    /// The peer's BGP Identifier (for collision resolution, RFC 4271 §6.8).
    pub peer_id: std::net::Ipv4Addr,
    pub four_octet_as: bool,
    /// Families both sides enabled (RFC 4760 §8; a side without any
    /// Multiprotocol capability speaks IPv4 unicast only).
    pub families: FamilySet,
    /// Families whose NLRI arrive with Path Identifiers (RFC 7911 §5).
    pub add_path_rx: FamilySet,
    /// Families whose NLRI are sent with Path Identifiers.
    pub add_path_tx: FamilySet,
    /// The peer accepts ROUTE-REFRESH (RFC 2918 §4).
    pub route_refresh: bool,
    /// Both sides speak Enhanced Route Refresh (RFC 7313 §4).
    pub enhanced_route_refresh: bool,
    /// Both sides accept messages up to 65535 octets (RFC 8654 §3).
    pub extended_message: bool,
    /// The peer's Graceful Restart capability (RFC 4724).
    pub peer_graceful_restart: Option<GracefulRestart>,
}

fn has(open: &OpenMessage, wanted: impl Fn(&Capability) -> bool) -> bool {
    open.capabilities.iter().any(wanted)
}

fn families(open: &OpenMessage) -> FamilySet {
    let mut any_mp = false;
    let mut set = FamilySet::EMPTY;
    for cap in &open.capabilities {
        if let Capability::Multiprotocol(afi_safi) = cap {
            any_mp = true;
            if let Some(family) = afi_safi.family() {
                set = set.with(family);
            }
        }
    }
    if any_mp {
        set
    } else {
        FamilySet::of(&[Family::Ipv4Unicast])
    }
}

fn add_path(open: &OpenMessage) -> impl Iterator<Item = &AddPathFamily> {
    open.capabilities
        .iter()
        .filter_map(|c| match c {
            Capability::AddPath(families) => Some(families.iter()),
            _ => None,
        })
        .flatten()
}

/// Families where `sender` sends Path Identifiers and `receiver` takes them.
fn add_path_flow(sender: &OpenMessage, receiver: &OpenMessage, families: FamilySet) -> FamilySet {
    families
        .iter()
        .filter(|&family| {
            let sends =
                add_path(sender).any(|f| f.afi_safi.family() == Some(family) && f.mode.sends());
            let receives = add_path(receiver)
                .any(|f| f.afi_safi.family() == Some(family) && f.mode.receives());
            sends && receives
        })
        .fold(FamilySet::EMPTY, FamilySet::with)
}

impl Negotiated {
    pub fn new(local: &OpenMessage, remote: &OpenMessage) -> Self {
        let four_octet = |o: &OpenMessage| has(o, |c| matches!(c, Capability::FourOctetAs(_)));
        let both = |wanted: fn(&Capability) -> bool| has(local, wanted) && has(remote, wanted);
        let (local_families, remote_families) = (families(local), families(remote));
        let shared = local_families
            .iter()
            .filter(|&f| remote_families.contains(f))
            .fold(FamilySet::EMPTY, FamilySet::with);
        Self {
            hold_time: local.hold_time.min(remote.hold_time),
            peer_as: remote.asn(),
            peer_id: remote.bgp_id,
            four_octet_as: four_octet(local) && four_octet(remote),
            families: shared,
            add_path_rx: add_path_flow(remote, local, shared),
            add_path_tx: add_path_flow(local, remote, shared),
            route_refresh: has(remote, |c| matches!(c, Capability::RouteRefresh)),
            enhanced_route_refresh: both(|c| matches!(c, Capability::EnhancedRouteRefresh)),
            extended_message: both(|c| matches!(c, Capability::ExtendedMessage)),
            peer_graceful_restart: remote.capabilities.iter().find_map(|c| match c {
                Capability::GracefulRestart(gr) => Some(gr.clone()),
                _ => None,
            }),
        }
    }

    /// How to read this peer's messages.
    pub fn decode_ctx(&self) -> DecodeCtx {
        DecodeCtx {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path_rx,
            families: self.families,
            extended_message: self.extended_message,
        }
    }

    pub fn encode_ctx(&self) -> EncodeCtx {
        EncodeCtx {
            four_octet_as: self.four_octet_as,
            add_path: self.add_path_tx,
            extended_message: self.extended_message,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::packet::capability::{AddPathMode, AfiSafi};

    fn open(asn: u32, hold: u16, caps: Vec<Capability>) -> OpenMessage {
        OpenMessage::new(asn, hold, Ipv4Addr::new(10, 0, 0, 1), caps)
    }

    fn add_path_cap(family: Family, mode: AddPathMode) -> Capability {
        Capability::AddPath(vec![AddPathFamily {
            afi_safi: AfiSafi::from(family),
            mode,
        }])
    }

    #[test]
    fn both_sides_must_agree() {
        let v6 = Capability::Multiprotocol(Family::Ipv6Unicast.into());
        let v4 = Capability::Multiprotocol(Family::Ipv4Unicast.into());
        let local = open(
            64512,
            240,
            vec![
                v4.clone(),
                v6.clone(),
                Capability::ExtendedMessage,
                Capability::RouteRefresh,
            ],
        );
        let remote = open(4_200_000_001, 90, vec![v6, Capability::ExtendedMessage]);
        let n = Negotiated::new(&local, &remote);
        assert_eq!(n.hold_time, 90);
        assert_eq!(n.peer_as, 4_200_000_001);
        assert!(n.four_octet_as);
        assert_eq!(n.families, FamilySet::of(&[Family::Ipv6Unicast]));
        assert!(n.extended_message);
        assert!(!n.route_refresh, "the remote did not advertise it");
    }

    #[test]
    fn no_multiprotocol_capability_means_ipv4_unicast() {
        let plain = OpenMessage {
            capabilities: vec![],
            ..open(64512, 240, vec![])
        };
        let n = Negotiated::new(&plain, &plain);
        assert_eq!(n.families, FamilySet::of(&[Family::Ipv4Unicast]));
        assert!(!n.four_octet_as);
        assert_eq!(n.decode_ctx().max_message_len(), 4096);
    }

    #[test]
    fn add_path_follows_each_direction() {
        let local = open(
            64512,
            240,
            vec![add_path_cap(Family::Ipv4Unicast, AddPathMode::Receive)],
        );
        let remote = open(
            64512,
            240,
            vec![add_path_cap(Family::Ipv4Unicast, AddPathMode::Both)],
        );
        let n = Negotiated::new(&local, &remote);
        assert_eq!(n.add_path_rx, FamilySet::of(&[Family::Ipv4Unicast]));
        assert_eq!(n.add_path_tx, FamilySet::EMPTY);
        assert!(n.decode_ctx().add_path.contains(Family::Ipv4Unicast));
        assert!(!n.encode_ctx().add_path.contains(Family::Ipv4Unicast));
    }
}
