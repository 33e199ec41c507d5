//! Graceful restart (RFC 4724): the rules of both roles, apart from the
//! speaker that carries them out.
//!
//! As the receiving speaker, when the session with a peer that advertised
//! the capability ends without a NOTIFICATION (§4.2), the peer's routes of
//! the families it named stay, marked stale: still selected, exported and in
//! the kernel. They go when the peer sends its End-of-RIB for the family
//! (those it did not send again), when it comes back without the forwarding
//! state preserved, or when its restart time passes without a new session.
//!
//! As the restarting speaker (§4.1), a bgpd that starts with routes of its
//! own in the kernel (left by the previous run, which the kernel kept
//! forwarding with) says so in its OPENs, with the Restart State bit and the
//! Forwarding State bit of every family. It defers its own table until every
//! peer has sent its End-of-RIB, so that what it sends, followed by its
//! End-of-RIB, is complete: then peers may sweep what it no longer has.

use std::time::{Duration, SystemTime};

use tokio_util::time::delay_queue::Key;

use crate::packet::{FamilySet, GracefulRestart, Negotiated};

/// How long stale routes wait for End-of-RIB once the peer is back: RFC
/// 4724 §4.2 leaves it to the receiving speaker ("a (configurable) timer");
/// FRR's default stale-path time.
pub const STALE_PATH_TIME: Duration = Duration::from_secs(360);

/// A peer in graceful restart, seen from its receiving speaker.
#[derive(Debug)]
pub struct PeerRestart {
    /// Families whose routes from the peer are stale.
    pub stale: FamilySet,
    pub since: SystemTime,
    /// The session is back: stale routes wait for End-of-RIB.
    pub reconnected: bool,
    /// The restart timer until the session is back, then the stale timer.
    pub timer: Key,
}

/// The families whose routes stay, stale, when this session ends without a
/// NOTIFICATION: those the peer named in its Graceful Restart capability
/// that the session carried. None when the peer did not advertise the
/// capability, or gave a restart time of zero.
pub fn families_kept(negotiated: &Negotiated) -> FamilySet {
    let Some(gr) = &negotiated.peer_graceful_restart else {
        return FamilySet::EMPTY;
    };
    if gr.restart_time == 0 {
        return FamilySet::EMPTY;
    }
    gr.families
        .iter()
        .filter_map(|f| f.afi_safi.family())
        .filter(|&f| negotiated.families.contains(f))
        .fold(FamilySet::EMPTY, FamilySet::with)
}

/// The peer is back with `capability`: of the `stale` families, those whose
/// stale routes must go at once (RFC 4724 §4.2): every one without the
/// capability, else those it no longer names or names without the
/// Forwarding State bit.
pub fn families_lost(stale: FamilySet, capability: Option<&GracefulRestart>) -> FamilySet {
    let Some(gr) = capability else {
        return stale;
    };
    stale
        .iter()
        .filter(|&family| {
            !gr.families
                .iter()
                .any(|f| f.afi_safi.family() == Some(family) && f.forwarding_preserved)
        })
        .fold(FamilySet::EMPTY, FamilySet::with)
}

/// How long the peer's routes wait for a new session: its Restart Time.
pub fn restart_time(negotiated: &Negotiated) -> Duration {
    let secs = negotiated
        .peer_graceful_restart
        .as_ref()
        .map_or(0, |gr| gr.restart_time);
    Duration::from_secs(u64::from(secs))
}

/// The peer's End-of-RIB need not be waited for while it restarts itself
/// (RFC 4724 §4.1: peers with the Restart State bit set are excluded from
/// the deferral), and a peer without the capability sends none of use.
pub fn end_of_rib_awaited(negotiated: &Negotiated) -> bool {
    negotiated
        .peer_graceful_restart
        .as_ref()
        .is_some_and(|gr| !gr.restarting)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{AfiSafi, Family, GracefulRestartFamily};

    fn capability(families: &[(Family, bool)]) -> GracefulRestart {
        GracefulRestart {
            restarting: false,
            notification: false,
            restart_time: 120,
            families: families
                .iter()
                .map(|&(family, forwarding_preserved)| GracefulRestartFamily {
                    afi_safi: AfiSafi::from(family),
                    forwarding_preserved,
                })
                .collect(),
        }
    }

    fn negotiated(families: FamilySet, gr: Option<GracefulRestart>) -> Negotiated {
        Negotiated {
            hold_time: 90,
            peer_as: 64512,
            peer_id: "10.0.0.2".parse().unwrap(),
            four_octet_as: true,
            families,
            add_path_rx: FamilySet::EMPTY,
            add_path_tx: FamilySet::EMPTY,
            route_refresh: true,
            enhanced_route_refresh: false,
            extended_message: false,
            peer_graceful_restart: gr,
        }
    }

    const V4: Family = Family::Ipv4Unicast;
    const V6: Family = Family::Ipv6Unicast;

    #[test]
    fn only_families_the_peer_named_and_the_session_carried_are_kept() {
        let both = FamilySet::of(&[V4, V6]);
        let v4_only = FamilySet::of(&[V4]);
        assert_eq!(families_kept(&negotiated(both, None)), FamilySet::EMPTY);
        let gr = capability(&[(V4, false)]);
        assert_eq!(families_kept(&negotiated(both, Some(gr))), v4_only);
        let gr = capability(&[(V4, false), (V6, false)]);
        assert_eq!(families_kept(&negotiated(v4_only, Some(gr))), v4_only);
        let mut gr = capability(&[(V4, false)]);
        gr.restart_time = 0;
        assert_eq!(
            families_kept(&negotiated(both, Some(gr))),
            FamilySet::EMPTY,
            "a restart time of zero keeps nothing"
        );
    }

    #[test]
    fn stale_routes_go_at_once_where_forwarding_was_not_preserved() {
        let stale = FamilySet::of(&[V4, V6]);
        assert_eq!(
            families_lost(stale, None),
            stale,
            "back without the capability"
        );
        let gr = capability(&[(V4, true), (V6, false)]);
        assert_eq!(families_lost(stale, Some(&gr)), FamilySet::of(&[V6]));
        let gr = capability(&[(V6, true)]);
        assert_eq!(families_lost(stale, Some(&gr)), FamilySet::of(&[V4]));
        let gr = capability(&[(V4, true), (V6, true)]);
        assert_eq!(families_lost(stale, Some(&gr)), FamilySet::EMPTY);
    }

    #[test]
    fn a_restarting_peer_or_one_without_the_capability_is_not_waited_for() {
        let v4 = FamilySet::of(&[V4]);
        assert!(!end_of_rib_awaited(&negotiated(v4, None)));
        let mut gr = capability(&[(V4, true)]);
        assert!(end_of_rib_awaited(&negotiated(v4, Some(gr.clone()))));
        gr.restarting = true;
        assert!(!end_of_rib_awaited(&negotiated(v4, Some(gr))));
    }
}
