//! The Loc-RIB: every path of every prefix, best first.
//!
//! Memory is what a route reflector or a full table pays per prefix, so the
//! layout is chosen for it: IPv4 and IPv6 prefixes in separate maps (a
//! 5-octet key for IPv4), a single path stored inline rather than in a heap
//! vector, attribute sets shared. There is no per-peer index: a session going
//! down scans the table once (an event, not a periodic scan), which costs far
//! less over a table's life than an index entry per path.

use crate::fasthash::FastMap;
use std::hash::Hash;
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use smallvec::SmallVec;

use super::attrs::{AttrInterner, RouteAttrs};
use super::best::{compare, multipath_equal};
use super::path::{Path, PeerId, Source, SourceInfo};

/// Paths of one prefix, best first; one path needs no allocation.
type Paths = SmallVec<[Path; 1]>;

#[derive(Debug, Default)]
pub struct LocRib {
    v4: FastMap<Ipv4Net, Paths>,
    v6: FastMap<Ipv6Net, Paths>,
    path_counts: FastMap<PeerId, usize>,
    peers: FastMap<PeerId, SourceInfo>,
    interner: AttrInterner,
    local: Option<SourceInfo>,
}

fn fallback_info() -> SourceInfo {
    SourceInfo {
        ebgp: false,
        router_id: std::net::Ipv4Addr::UNSPECIFIED,
        address: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        rr_client: false,
    }
}

fn source_info(
    peers: &FastMap<PeerId, SourceInfo>,
    local: Option<SourceInfo>,
    source: Source,
) -> SourceInfo {
    match source {
        Source::Local => local.unwrap_or_else(fallback_info),
        Source::Peer(id) => peers.get(&id).copied().unwrap_or_else(fallback_info),
    }
}

/// Inserts in best-first order, replacing the same (source, path id).
fn insert_path(
    paths: &mut Paths,
    path: Path,
    interner: &mut AttrInterner,
    info: impl Fn(Source) -> SourceInfo,
) -> bool {
    let mut replaced = false;
    if let Some(at) = paths
        .iter()
        .position(|p| p.source == path.source && p.path_id == path.path_id)
    {
        let old = paths.remove(at);
        interner.release(old.attrs);
        replaced = true;
    }
    let at = paths.partition_point(|p| compare(p, &path, &info).0.is_le());
    paths.insert(at, path);
    replaced
}

fn remove_path<K: Eq + Hash>(
    map: &mut FastMap<K, Paths>,
    key: &K,
    source: Source,
    path_id: u32,
    interner: &mut AttrInterner,
) -> bool {
    let Some(paths) = map.get_mut(key) else {
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
        map.remove(key);
    }
    interner.release(old.attrs);
    true
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
        let (peers, local) = (&self.peers, self.local);
        let info = |s: Source| source_info(peers, local, s);
        let replaced = match prefix {
            IpNet::V4(net) => insert_path(
                self.v4.entry(net).or_default(),
                path,
                &mut self.interner,
                info,
            ),
            IpNet::V6(net) => insert_path(
                self.v6.entry(net).or_default(),
                path,
                &mut self.interner,
                info,
            ),
        };
        if let (false, Source::Peer(peer)) = (replaced, source) {
            *self.path_counts.entry(peer).or_default() += 1;
        }
    }

    /// Removes the path of (`source`, `path_id`); true if there was one.
    pub fn remove(&mut self, prefix: IpNet, source: Source, path_id: u32) -> bool {
        let removed = match prefix {
            IpNet::V4(net) => remove_path(&mut self.v4, &net, source, path_id, &mut self.interner),
            IpNet::V6(net) => remove_path(&mut self.v6, &net, source, path_id, &mut self.interner),
        };
        if let (true, Source::Peer(peer)) = (removed, source) {
            if let Some(count) = self.path_counts.get_mut(&peer) {
                *count = count.saturating_sub(1);
            }
        }
        removed
    }

    /// Removes every path of `peer`; returns the prefixes they were for.
    pub fn remove_peer(&mut self, peer: PeerId) -> Vec<IpNet> {
        if self.path_counts.remove(&peer).unwrap_or(0) == 0 {
            return Vec::new();
        }
        let source = Source::Peer(peer);
        let mut prefixes = Vec::new();
        let interner = &mut self.interner;
        // Moves the peer's paths out and releases their attribute sets.
        let mut strip = |paths: &mut Paths| {
            let before = paths.len();
            let mut kept = Paths::new();
            for path in paths.drain(..) {
                if path.source == source {
                    interner.release(path.attrs);
                } else {
                    kept.push(path);
                }
            }
            *paths = kept;
            before != paths.len()
        };
        self.v4.retain(|net, paths| {
            if strip(paths) {
                prefixes.push(IpNet::V4(*net));
            }
            !paths.is_empty()
        });
        self.v6.retain(|net, paths| {
            if strip(paths) {
                prefixes.push(IpNet::V6(*net));
            }
            !paths.is_empty()
        });
        prefixes
    }

    /// Forgets a peer entirely (deconfigured).
    pub fn forget_peer(&mut self, peer: PeerId) -> Vec<IpNet> {
        let prefixes = self.remove_peer(peer);
        self.peers.remove(&peer);
        prefixes
    }

    pub fn paths(&self, prefix: &IpNet) -> &[Path] {
        let paths = match prefix {
            IpNet::V4(net) => self.v4.get(net),
            IpNet::V6(net) => self.v6.get(net),
        };
        paths.map_or(&[], |p| p.as_slice())
    }

    pub fn best(&self, prefix: &IpNet) -> Option<&Path> {
        self.paths(prefix).first()
    }

    /// The best path and every path equally good for multipath.
    pub fn multipath(&self, prefix: &IpNet) -> &[Path] {
        let paths = self.paths(prefix);
        let Some(best) = paths.first() else {
            return paths;
        };
        let info = |s: Source| self.source_info(s);
        let count = paths
            .iter()
            .take_while(|p| multipath_equal(best, p, info))
            .count();
        &paths[..count]
    }

    /// Every prefix with at least one path.
    pub fn prefixes(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.v4
            .keys()
            .map(|n| IpNet::V4(*n))
            .chain(self.v6.keys().map(|n| IpNet::V6(*n)))
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Distinct attribute sets in use.
    pub fn attr_sets(&self) -> usize {
        self.interner.len()
    }

    /// Paths learned from `peer`.
    pub fn peer_path_count(&self, peer: PeerId) -> usize {
        self.path_counts.get(&peer).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
