//! Best-path selection: RFC 4271 §9.1.2.2 with the RFC 4456 §9 tie-breakers,
//! as an ordering that says which step decided, so that status can explain
//! why a path lost.

use std::cmp::Ordering;

use super::path::{Path, Source, SourceInfo};
use crate::packet::{Origin, SegmentKind};

/// LOCAL_PREF assumed when a path has none (eBGP-learned; RFC 4271 §5.1.5).
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// The step that decided between two paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    LocalPref,
    /// Locally originated routes win over learned ones (as BIRD's static
    /// protocol outranks BGP).
    Local,
    AsPathLength,
    Origin,
    Med,
    ExternalOverInternal,
    ClusterListLength,
    RouterId,
    PeerAddress,
    PathId,
    /// The paths are alike in every step.
    Equal,
}

fn origin_rank(origin: Option<Origin>) -> u8 {
    origin.map_or(u8::MAX, |o| o as u8)
}

/// The AS a path entered from: the first AS of the first AS_SEQUENCE.
fn neighbor_as(path: &Path) -> Option<u32> {
    let segment = path.attrs.attrs.as_path.as_ref()?.segments.first()?;
    (segment.kind == SegmentKind::Sequence)
        .then(|| segment.asns.first().copied())
        .flatten()
}

/// Compares two paths for one prefix: `Less` when `a` is better. `info` says
/// where a peer's path came from.
pub fn compare(a: &Path, b: &Path, info: impl Fn(Source) -> SourceInfo) -> (Ordering, Reason) {
    let (x, y) = (&a.attrs.attrs, &b.attrs.attrs);
    let local_pref = |p: &Path| p.attrs.attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF);
    // Higher LOCAL_PREF first (a).
    let steps: [(Ordering, Reason); 6] = [
        (local_pref(b).cmp(&local_pref(a)), Reason::LocalPref),
        (
            (b.source == Source::Local).cmp(&(a.source == Source::Local)),
            Reason::Local,
        ),
        // Shorter AS_PATH (a).
        (
            x.as_path
                .as_ref()
                .map_or(0, |p| p.path_len())
                .cmp(&y.as_path.as_ref().map_or(0, |p| p.path_len())),
            Reason::AsPathLength,
        ),
        // Lower ORIGIN (b).
        (
            origin_rank(x.origin).cmp(&origin_rank(y.origin)),
            Reason::Origin,
        ),
        // Lower MED, between paths from the same neighboring AS (c).
        (
            if neighbor_as(a) == neighbor_as(b) {
                x.med.unwrap_or(0).cmp(&y.med.unwrap_or(0))
            } else {
                Ordering::Equal
            },
            Reason::Med,
        ),
        // eBGP over iBGP (d).
        (
            info_ebgp(&info, b.source).cmp(&info_ebgp(&info, a.source)),
            Reason::ExternalOverInternal,
        ),
    ];
    if let Some(decided) = steps.into_iter().find(|(order, _)| order.is_ne()) {
        return decided;
    }
    // RFC 4456 §9: shorter CLUSTER_LIST, then ORIGINATOR_ID in place of the
    // peer's identifier; then the lower peer address (f, g).
    let router_id = |p: &Path| {
        p.attrs
            .attrs
            .originator_id
            .unwrap_or_else(|| info(p.source).router_id)
    };
    let address = |p: &Path| match p.source {
        Source::Local => None,
        source => Some(info(source).address),
    };
    let ties: [(Ordering, Reason); 4] = [
        (
            x.cluster_list.len().cmp(&y.cluster_list.len()),
            Reason::ClusterListLength,
        ),
        (router_id(a).cmp(&router_id(b)), Reason::RouterId),
        (address(a).cmp(&address(b)), Reason::PeerAddress),
        (a.path_id.cmp(&b.path_id), Reason::PathId),
    ];
    ties.into_iter()
        .find(|(order, _)| order.is_ne())
        .unwrap_or((Ordering::Equal, Reason::Equal))
}

fn info_ebgp(info: &impl Fn(Source) -> SourceInfo, source: Source) -> bool {
    source != Source::Local && info(source).ebgp
}

/// Whether two paths are equally good for multipath: nothing before the
/// tie-breakers of identity (cluster list, router id, address) tells them
/// apart. Their next hops then share the kernel route.
pub fn multipath_equal(a: &Path, b: &Path, info: impl Fn(Source) -> SourceInfo) -> bool {
    let (order, reason) = compare(a, b, info);
    order.is_eq() || reason >= Reason::ClusterListLength
}

#[cfg(test)]
mod tests;
