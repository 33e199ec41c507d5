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
use crate::packet::{Family, FamilySet};

/// Paths of one prefix, best first; one path needs no allocation.
type Paths = SmallVec<[Path; 1]>;

#[derive(Debug, Default)]
pub struct LocRib {
    v4: FastMap<Ipv4Net, Paths>,
    v6: FastMap<Ipv6Net, Paths>,
    path_counts: FastMap<PeerId, usize>,
    /// Of those, paths kept stale through the peer's graceful restart.
    stale_counts: FastMap<PeerId, usize>,
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

/// What a path put in or taken out replaced or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Replaced {
    Nothing,
    Fresh,
    Stale,
}

/// Inserts in best-first order, replacing the same (source, path id).
fn insert_path(
    paths: &mut Paths,
    path: Path,
    interner: &mut AttrInterner,
    info: impl Fn(Source) -> SourceInfo,
) -> Replaced {
    let mut replaced = Replaced::Nothing;
    if let Some(at) = paths
        .iter()
        .position(|p| p.source == path.source && p.path_id == path.path_id)
    {
        let old = paths.remove(at);
        replaced = if old.stale {
            Replaced::Stale
        } else {
            Replaced::Fresh
        };
        interner.release(old.attrs);
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
) -> Replaced {
    let Some(paths) = map.get_mut(key) else {
        return Replaced::Nothing;
    };
    let Some(at) = paths
        .iter()
        .position(|p| p.source == source && p.path_id == path_id)
    else {
        return Replaced::Nothing;
    };
    let old = paths.remove(at);
    if paths.is_empty() {
        map.remove(key);
    }
    let removed = if old.stale {
        Replaced::Stale
    } else {
        Replaced::Fresh
    };
    interner.release(old.attrs);
    removed
}

/// What [`strip_paths`] took out.
#[derive(Debug, Default)]
struct Stripped {
    prefixes: Vec<IpNet>,
    paths: usize,
    stale: usize,
}

/// Removes the paths that `doomed` picks from every prefix of `map`,
/// releasing their attribute sets.
fn strip_paths<K: Copy + Eq + Hash>(
    map: &mut FastMap<K, Paths>,
    interner: &mut AttrInterner,
    doomed: impl Fn(&Path) -> bool,
    prefix: impl Fn(K) -> IpNet,
    out: &mut Stripped,
) {
    map.retain(|key, paths| {
        if paths.iter().any(&doomed) {
            let mut kept = Paths::new();
            for path in paths.drain(..) {
                if doomed(&path) {
                    out.paths += 1;
                    out.stale += usize::from(path.stale);
                    interner.release(path.attrs);
                } else {
                    kept.push(path);
                }
            }
            *paths = kept;
            out.prefixes.push(prefix(*key));
        }
        !paths.is_empty()
    });
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
            stale: false,
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
        if let Source::Peer(peer) = source {
            match replaced {
                Replaced::Nothing => *self.path_counts.entry(peer).or_default() += 1,
                Replaced::Stale => decrement(&mut self.stale_counts, peer),
                Replaced::Fresh => {}
            }
        }
    }

    /// Removes the path of (`source`, `path_id`); true if there was one.
    pub fn remove(&mut self, prefix: IpNet, source: Source, path_id: u32) -> bool {
        let removed = match prefix {
            IpNet::V4(net) => remove_path(&mut self.v4, &net, source, path_id, &mut self.interner),
            IpNet::V6(net) => remove_path(&mut self.v6, &net, source, path_id, &mut self.interner),
        };
        if let Source::Peer(peer) = source {
            if removed != Replaced::Nothing {
                decrement(&mut self.path_counts, peer);
            }
            if removed == Replaced::Stale {
                decrement(&mut self.stale_counts, peer);
            }
        }
        removed != Replaced::Nothing
    }

    /// Removes every path of `peer`; returns the prefixes they were for.
    pub fn remove_peer(&mut self, peer: PeerId) -> Vec<IpNet> {
        self.stale_counts.remove(&peer);
        if self.path_counts.remove(&peer).unwrap_or(0) == 0 {
            return Vec::new();
        }
        let source = Source::Peer(peer);
        let doomed = |p: &Path| p.source == source;
        let mut out = Stripped::default();
        strip_paths(
            &mut self.v4,
            &mut self.interner,
            doomed,
            IpNet::V4,
            &mut out,
        );
        strip_paths(
            &mut self.v6,
            &mut self.interner,
            doomed,
            IpNet::V6,
            &mut out,
        );
        out.prefixes
    }

    /// RFC 4724 §4.2: the peer is restarting. Its paths of `families` stay,
    /// marked stale, still selected and exported; those of other families go
    /// now. Returns the prefixes whose paths went.
    pub fn mark_stale(&mut self, peer: PeerId, families: FamilySet) -> Vec<IpNet> {
        let mut gone = Vec::new();
        for family in Family::ALL {
            if families.contains(family) {
                let source = Source::Peer(peer);
                let mut marked = 0;
                let mut mark = |paths: &mut Paths| {
                    for path in paths.iter_mut().filter(|p| p.source == source) {
                        marked += usize::from(!path.stale);
                        path.stale = true;
                    }
                };
                match family {
                    Family::Ipv4Unicast => self.v4.values_mut().for_each(&mut mark),
                    Family::Ipv6Unicast => self.v6.values_mut().for_each(&mut mark),
                }
                *self.stale_counts.entry(peer).or_default() += marked;
            } else {
                gone.extend(self.remove_family(peer, family, false));
            }
        }
        gone
    }

    /// End-of-RIB, or the restart given up: the peer's paths of `family`
    /// still stale go. Returns their prefixes.
    pub fn sweep_stale(&mut self, peer: PeerId, family: Family) -> Vec<IpNet> {
        if self.stale_count(peer) == 0 {
            return Vec::new();
        }
        self.remove_family(peer, family, true)
    }

    /// Removes the peer's paths of `family`, only the stale ones if `stale_only`.
    fn remove_family(&mut self, peer: PeerId, family: Family, stale_only: bool) -> Vec<IpNet> {
        let source = Source::Peer(peer);
        let doomed = |p: &Path| p.source == source && (p.stale || !stale_only);
        let mut out = Stripped::default();
        match family {
            Family::Ipv4Unicast => strip_paths(
                &mut self.v4,
                &mut self.interner,
                doomed,
                IpNet::V4,
                &mut out,
            ),
            Family::Ipv6Unicast => strip_paths(
                &mut self.v6,
                &mut self.interner,
                doomed,
                IpNet::V6,
                &mut out,
            ),
        }
        subtract(&mut self.path_counts, peer, out.paths);
        subtract(&mut self.stale_counts, peer, out.stale);
        out.prefixes
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

    /// Paths of `peer` kept stale through its graceful restart.
    pub fn stale_count(&self, peer: PeerId) -> usize {
        self.stale_counts.get(&peer).copied().unwrap_or(0)
    }

    /// Paths learned from `peer`.
    pub fn peer_path_count(&self, peer: PeerId) -> usize {
        self.path_counts.get(&peer).copied().unwrap_or(0)
    }
}

fn decrement(counts: &mut FastMap<PeerId, usize>, peer: PeerId) {
    subtract(counts, peer, 1);
}

fn subtract(counts: &mut FastMap<PeerId, usize>, peer: PeerId, by: usize) {
    if let Some(count) = counts.get_mut(&peer) {
        *count = count.saturating_sub(by);
        if *count == 0 {
            counts.remove(&peer);
        }
    }
}

#[cfg(test)]
mod tests;
