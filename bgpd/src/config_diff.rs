//! What a new configuration changes, as data: computed by one pure function
//! and applied in one place (the speaker's `reconfigure`), so that what is
//! touched can be read, tested and logged without running a speaker.
//!
//! Peers are matched by address and port. The cost is the two peer lists
//! (one map lookup per peer), never a peer against every other.

use std::collections::HashMap;
use std::net::IpAddr;

use proto::config::{PeerConfig, SpeakerConfig};

/// The differences between a running configuration and a new one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    /// The router id, AS, cluster id, addresses or listening socket changed:
    /// every session starts again (the peers saw another speaker).
    pub identity: bool,
    /// The kernel section or the node's addresses changed: routesync is told.
    pub kernel: bool,
    /// Peers no longer configured, by address and port.
    pub removed: Vec<(IpAddr, u16)>,
    /// Peers configured anew.
    pub added: Vec<PeerConfig>,
    /// Peers whose settings changed (their session starts again).
    pub changed: Vec<PeerConfig>,
    /// Peers whose filters alone changed (the list, or a filter's rules):
    /// their routes are filtered again, the session kept.
    pub refiltered: Vec<PeerConfig>,
    /// The originated routes changed.
    pub originate: bool,
}

fn peer_key(peer: &PeerConfig) -> (IpAddr, u16) {
    (peer.address, peer.port)
}

fn identity(c: &SpeakerConfig) -> impl PartialEq + '_ {
    (
        c.router_id,
        c.local_as,
        c.cluster_id,
        &c.addresses,
        &c.listen,
    )
}

/// The two settings are the same but for the names of their filters.
fn same_but_filters(a: &PeerConfig, b: &PeerConfig) -> bool {
    let names = |p: &PeerConfig| PeerConfig {
        filters: Vec::new(),
        ..p.clone()
    };
    a == b || names(a) == names(b)
}

impl ConfigDiff {
    pub fn between(old: &SpeakerConfig, new: &SpeakerConfig) -> Self {
        let identity = identity(old) != identity(new);
        let running: HashMap<(IpAddr, u16), &PeerConfig> =
            old.peers.iter().map(|p| (peer_key(p), p)).collect();
        let wanted: HashMap<(IpAddr, u16), &PeerConfig> =
            new.peers.iter().map(|p| (peer_key(p), p)).collect();
        let mut diff = Self {
            identity,
            kernel: old.kernel != new.kernel || old.addresses != new.addresses,
            originate: old.originate != new.originate,
            ..Self::default()
        };
        // In the orders of the configurations, so that what is logged and
        // applied is in a stable order.
        for peer in &old.peers {
            if !wanted.contains_key(&peer_key(peer)) {
                diff.removed.push(peer_key(peer));
            }
        }
        for peer in &new.peers {
            match running.get(&peer_key(peer)) {
                None => diff.added.push(peer.clone()),
                Some(was) if !same_but_filters(was, peer) => diff.changed.push(peer.clone()),
                Some(was) if !old.filters_of(was).eq(new.filters_of(peer)) => {
                    diff.refiltered.push(peer.clone());
                }
                Some(_) => {}
            }
        }
        diff
    }

    /// Nothing changes.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl std::fmt::Display for ConfigDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.identity {
            parts.push("identity (every session restarts)".to_owned());
        }
        for (what, count) in [
            ("added", self.added.len()),
            ("removed", self.removed.len()),
            ("changed", self.changed.len()),
            ("filtered again", self.refiltered.len()),
        ] {
            if count > 0 {
                parts.push(format!("{count} peer(s) {what}"));
            }
        }
        if self.originate {
            parts.push("originated routes".into());
        }
        if self.kernel {
            parts.push("kernel".into());
        }
        if parts.is_empty() {
            parts.push("nothing".into());
        }
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::config::{Asn, OriginKind, Originate, PeerKind};

    fn config(peers: &[(&str, u16)]) -> SpeakerConfig {
        let mut config = SpeakerConfig::from_toml(
            r#"node_name = "n1"
               router_id = "10.0.0.1"
               local_as = 64512
               addresses = ["10.0.0.1/24"]"#,
        )
        .expect("a valid configuration");
        config.peers = peers
            .iter()
            .map(|(address, port)| {
                let mut peer = PeerConfig::new(
                    address.parse().expect("an address"),
                    Asn(64512),
                    PeerKind::Mesh,
                );
                peer.port = *port;
                peer
            })
            .collect();
        config
    }

    #[test]
    fn a_changed_filter_filters_again_the_peers_that_name_it() {
        let mut old = config(&[("10.0.0.2", 179), ("10.0.0.3", 179)]);
        old.filters = vec![proto::config::FilterConfig {
            name: "tor".into(),
            export_v4: Vec::new(),
            import_v4: Vec::new(),
            export_v6: Vec::new(),
            import_v6: Vec::new(),
        }];
        old.peers[0].filters = vec!["tor".into()];
        let mut new = old.clone();
        assert!(ConfigDiff::between(&old, &new).is_empty());
        new.filters[0]
            .import_v4
            .push(proto::config::FilterRule::new(
                proto::config::FilterAction::Reject,
            ));
        let diff = ConfigDiff::between(&old, &new);
        let refiltered: Vec<_> = diff.refiltered.iter().map(|p| p.address).collect();
        assert_eq!(
            refiltered,
            ["10.0.0.2".parse::<IpAddr>().expect("an address")]
        );
        assert!(diff.changed.is_empty(), "the session is kept");
        // Naming another filter list is a refiltering too; any other
        // setting with it changes the peer.
        let mut named = old.clone();
        named.peers[1].filters = vec!["tor".into()];
        let diff = ConfigDiff::between(&old, &named);
        assert_eq!(diff.refiltered.len(), 1);
        named.peers[1].hold_time = 90;
        let diff = ConfigDiff::between(&old, &named);
        assert_eq!((diff.refiltered.len(), diff.changed.len()), (0, 1));
    }

    #[test]
    fn the_same_configuration_changes_nothing() {
        let c = config(&[("10.0.0.2", 179), ("10.0.0.3", 179)]);
        let diff = ConfigDiff::between(&c, &c.clone());
        assert!(diff.is_empty(), "{diff}");
        assert_eq!(diff.to_string(), "nothing");
    }

    #[test]
    fn peers_are_matched_by_address_and_port() {
        let old = config(&[("10.0.0.2", 179), ("10.0.0.3", 179), ("10.0.0.4", 179)]);
        let mut new = config(&[("10.0.0.3", 179), ("10.0.0.4", 1790), ("10.0.0.5", 179)]);
        new.peers[0].hold_time = 90;
        let diff = ConfigDiff::between(&old, &new);
        let addr = |a: &str| a.parse::<IpAddr>().expect("an address");
        assert_eq!(
            diff.removed,
            [(addr("10.0.0.2"), 179), (addr("10.0.0.4"), 179)]
        );
        let added: Vec<_> = diff.added.iter().map(|p| (p.address, p.port)).collect();
        assert_eq!(added, [(addr("10.0.0.4"), 1790), (addr("10.0.0.5"), 179)]);
        assert_eq!(diff.changed.len(), 1);
        assert_eq!(diff.changed[0].hold_time, 90);
        assert!(!diff.identity && !diff.kernel && !diff.originate);
        assert_eq!(
            diff.to_string(),
            "2 peer(s) added, 2 peer(s) removed, 1 peer(s) changed"
        );
    }

    #[test]
    fn identity_kernel_and_routes_are_told_apart() {
        let old = config(&[("10.0.0.2", 179)]);
        let mut new = old.clone();
        new.router_id = "10.0.0.9".parse().expect("an address");
        assert!(ConfigDiff::between(&old, &new).identity);

        let mut new = old.clone();
        new.kernel.enabled = !old.kernel.enabled;
        let diff = ConfigDiff::between(&old, &new);
        assert!(diff.kernel && !diff.identity);

        let mut new = old.clone();
        new.originate.push(Originate {
            prefix: "10.244.1.0/26".parse().expect("a prefix"),
            kind: OriginKind::Block,
        });
        let diff = ConfigDiff::between(&old, &new);
        assert!(diff.originate && !diff.identity);

        let mut new = old.clone();
        new.addresses = vec!["10.0.0.1/16".parse().expect("a prefix")];
        let diff = ConfigDiff::between(&old, &new);
        assert!(diff.identity && diff.kernel);
    }
}
