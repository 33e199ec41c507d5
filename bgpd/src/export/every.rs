//! The Adj-RIB-Out of a group whose peers take ADD-PATH (RFC 7911): every
//! path of a prefix that may go to them, each under a Path Identifier of
//! its own. Identifiers are per prefix (RFC 7911 §3 only asks that they
//! tell a prefix's paths apart): a new path takes the smallest one free,
//! and keeps it while it changes, so that a change is an announcement of
//! that identifier and a path gone is its withdrawal.

use std::sync::Arc;

use ipnet::IpNet;
use smallvec::SmallVec;

use crate::fasthash::FastMap;
use crate::rib::{AttrInterner, RouteAttrs, Source};

/// Where a path comes from, which names it across changes.
pub type PathKey = (Source, u32);

#[derive(Debug)]
pub struct SentPath {
    pub id: u32,
    pub from: PathKey,
    pub attrs: Arc<RouteAttrs>,
}

/// What changed for one prefix: identifiers to announce with their
/// attributes, and identifiers to withdraw.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub announce: Vec<(u32, Arc<RouteAttrs>)>,
    pub withdraw: Vec<u32>,
}

/// One path inline: most prefixes have one.
#[derive(Debug, Default)]
pub struct EveryPath {
    sent: FastMap<IpNet, SmallVec<[SentPath; 1]>>,
}

impl EveryPath {
    /// Records that `prefix` now goes out with the paths `now`, and returns
    /// what members must be told; attribute sets no longer sent are
    /// released to `interner`.
    pub fn update(
        &mut self,
        prefix: IpNet,
        mut now: Vec<(PathKey, Arc<RouteAttrs>)>,
        interner: &mut AttrInterner,
    ) -> Changes {
        let mut changes = Changes::default();
        // Most prefixes a flush touches go to no one here: no entry is made
        // and dropped for them.
        if now.is_empty() && !self.sent.contains_key(&prefix) {
            return changes;
        }
        let sent = self.sent.entry(prefix).or_default();
        let mut kept: SmallVec<[SentPath; 1]> = SmallVec::new();
        for mut old in sent.drain(..) {
            match now.iter().position(|(from, _)| *from == old.from) {
                Some(i) => {
                    let (_, attrs) = now.swap_remove(i);
                    if !Arc::ptr_eq(&attrs, &old.attrs) {
                        changes.announce.push((old.id, Arc::clone(&attrs)));
                        interner.release(std::mem::replace(&mut old.attrs, attrs));
                    }
                    kept.push(old);
                }
                None => {
                    changes.withdraw.push(old.id);
                    interner.release(old.attrs);
                }
            }
        }
        for (from, attrs) in now {
            let id = (1..)
                .find(|id| !kept.iter().any(|s| s.id == *id))
                .unwrap_or(u32::MAX);
            changes.announce.push((id, Arc::clone(&attrs)));
            kept.push(SentPath { id, from, attrs });
        }
        if kept.is_empty() {
            self.sent.remove(&prefix);
        } else {
            *sent = kept;
        }
        changes
    }

    /// The paths `prefix` goes out with.
    pub fn paths(&self, prefix: &IpNet) -> &[SentPath] {
        self.sent.get(prefix).map_or(&[], |p| p.as_slice())
    }

    /// Every path sent, for a member that joins.
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &SentPath)> {
        self.sent
            .iter()
            .flat_map(|(prefix, paths)| paths.iter().map(move |p| (*prefix, p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::PathAttributes;

    fn attrs(interner: &mut AttrInterner, med: u32) -> Arc<RouteAttrs> {
        interner.intern(RouteAttrs {
            attrs: PathAttributes {
                med: Some(med),
                ..PathAttributes::default()
            },
            next_hop: "10.0.0.1".parse().unwrap(),
            link_local: None,
            device: None,
        })
    }

    #[test]
    fn identifiers_stay_with_their_paths() {
        let mut interner = AttrInterner::default();
        let mut every = EveryPath::default();
        let prefix: IpNet = "10.96.0.0/12".parse().unwrap();
        let (a, b, c) = (
            (Source::Peer(1), 0),
            (Source::Peer(2), 0),
            (Source::Local, 0),
        );
        let one = attrs(&mut interner, 1);
        let two = attrs(&mut interner, 2);
        let changes = every.update(
            prefix,
            vec![(a, one.clone()), (b, two.clone())],
            &mut interner,
        );
        assert_eq!(
            changes
                .announce
                .iter()
                .map(|(id, _)| *id)
                .collect::<Vec<_>>(),
            [1, 2]
        );
        // b changes: the same identifier again; a goes: its withdrawal; c
        // comes: the identifier a left.
        let three = attrs(&mut interner, 3);
        let changes = every.update(
            prefix,
            vec![(b, three.clone()), (c, one.clone())],
            &mut interner,
        );
        assert_eq!(changes.withdraw, [1]);
        let announced: Vec<u32> = changes.announce.iter().map(|(id, _)| *id).collect();
        assert_eq!(announced, [2, 1]);
        // Nothing changed: nothing to say.
        let changes = every.update(prefix, vec![(b, three), (c, one)], &mut interner);
        assert_eq!(changes, Changes::default());
        // All gone: both withdrawn, the prefix forgotten.
        let changes = every.update(prefix, Vec::new(), &mut interner);
        assert_eq!(changes.withdraw.len(), 2);
        assert_eq!(every.iter().count(), 0);
    }
}
