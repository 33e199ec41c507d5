//! The Loc-RIB: every path of every prefix, best first, with an index of
//! each peer's prefixes so that a session going down withdraws exactly them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ipnet::IpNet;

use super::attrs::{AttrInterner, RouteAttrs};
use super::best::{compare, multipath_equal};
use super::path::{Path, PeerId, Source, SourceInfo};

#[derive(Debug, Default)]
pub struct LocRib {
    /// Paths of each prefix, best first.
    routes: HashMap<IpNet, Vec<Path>>,
    by_peer: HashMap<PeerId, HashSet<(IpNet, u32)>>,
    peers: HashMap<PeerId, SourceInfo>,
    interner: AttrInterner,
    local: Option<SourceInfo>,
}

impl LocRib {
    /// What this speaker is, for paths it originates.
    pub fn set_local(&mut self, info: SourceInfo) {
        self.local = Some(info);
    }

    /// Registers where a peer's paths come from (before they arrive).
    pub fn set_peer(&mut self, peer: PeerId, info: SourceInfo) {
        self.peers.insert(peer, info);
    }

    pub fn source_info(&self, source: Source) -> SourceInfo {
        source_info(&self.peers, self.local, source)
    }

    pub fn intern(&mut self, attrs: RouteAttrs) -> Arc<RouteAttrs> {
        self.interner.intern(attrs)
    }

    /// Adds or replaces the path of (`source`, `path_id`) for `prefix`.
    pub fn insert(&mut self, prefix: IpNet, source: Source, path_id: u32, attrs: Arc<RouteAttrs>) {
        let path = Path {
            source,
            path_id,
            attrs,
        };
        let paths = self.routes.entry(prefix).or_default();
        if let Some(at) = paths
            .iter()
            .position(|p| p.source == source && p.path_id == path_id)
        {
            let old = paths.remove(at);
            self.interner.release(old.attrs);
        }
        let (peers, local) = (&self.peers, self.local);
        let info = |s: Source| source_info(peers, local, s);
        let at = paths.partition_point(|p| compare(p, &path, info).0.is_le());
        paths.insert(at, path);
        if let Source::Peer(peer) = source {
            self.by_peer
                .entry(peer)
                .or_default()
                .insert((prefix, path_id));
        }
    }

    /// Removes the path of (`source`, `path_id`); true if there was one.
    pub fn remove(&mut self, prefix: IpNet, source: Source, path_id: u32) -> bool {
        let Some(paths) = self.routes.get_mut(&prefix) else {
            return false;
        };
        let Some(at) = paths
            .iter()
            .position(|p| p.source == source && p.path_id == path_id)
        else {
            return false;
        };
        let old = paths.remove(at);
        if paths.is_empty() {
            self.routes.remove(&prefix);
        }
        self.interner.release(old.attrs);
        if let Source::Peer(peer) = source {
            if let Some(set) = self.by_peer.get_mut(&peer) {
                set.remove(&(prefix, path_id));
            }
        }
        true
    }

    /// Removes every path of `peer`; returns the prefixes they were for.
    pub fn remove_peer(&mut self, peer: PeerId) -> Vec<IpNet> {
        let entries = self.by_peer.remove(&peer).unwrap_or_default();
        let mut prefixes = Vec::with_capacity(entries.len());
        for (prefix, path_id) in entries {
            if self.remove(prefix, Source::Peer(peer), path_id) {
                prefixes.push(prefix);
            }
        }
        prefixes
    }

    /// Forgets a peer entirely (deconfigured).
    pub fn forget_peer(&mut self, peer: PeerId) -> Vec<IpNet> {
        let prefixes = self.remove_peer(peer);
        self.peers.remove(&peer);
        prefixes
    }

    pub fn best(&self, prefix: &IpNet) -> Option<&Path> {
        self.routes.get(prefix).and_then(|paths| paths.first())
    }

    /// The best path and every path equally good for multipath.
    pub fn multipath(&self, prefix: &IpNet) -> &[Path] {
        let Some(paths) = self.routes.get(prefix) else {
            return &[];
        };
        let info = |s: Source| self.source_info(s);
        let count = paths
            .iter()
            .take_while(|p| multipath_equal(&paths[0], p, info))
            .count();
        &paths[..count]
    }

    pub fn paths(&self, prefix: &IpNet) -> &[Path] {
        self.routes.get(prefix).map_or(&[], Vec::as_slice)
    }

    /// Every prefix with at least one path.
    pub fn prefixes(&self) -> impl Iterator<Item = &IpNet> {
        self.routes.keys()
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Distinct attribute sets in use.
    pub fn attr_sets(&self) -> usize {
        self.interner.len()
    }

    /// Paths learned from `peer`.
    pub fn peer_path_count(&self, peer: PeerId) -> usize {
        self.by_peer.get(&peer).map_or(0, HashSet::len)
    }
}

fn source_info(
    peers: &HashMap<PeerId, SourceInfo>,
    local: Option<SourceInfo>,
    source: Source,
) -> SourceInfo {
    let fallback = SourceInfo {
        ebgp: false,
        router_id: std::net::Ipv4Addr::UNSPECIFIED,
        address: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        rr_client: false,
    };
    match source {
        Source::Local => local.unwrap_or(fallback),
        Source::Peer(id) => peers.get(&id).copied().unwrap_or(fallback),
    }
}

#[cfg(test)]
mod tests;
