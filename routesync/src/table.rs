//! routesync's one table of routes: for each prefix BGP gave (or a route of
//! ours is still at), what BGP wants, what was installed and what the kernel
//! holds. The routesync thread writes it; the status is read from it
//! (`status.rs`).
//!
//! Compact at a million routes (docs/DESIGN.md §4): a prefix maps to the id
//! of its [`Shape`], and routes in the same shape share one copy, so an
//! entry is the prefix and 4 bytes. What few routes have (an error, a note
//! on how the kernel resolved a next hop) is kept beside, by prefix.

use std::hash::Hash;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::classify::{Action, Via};
use crate::fasthash::FastMap;
use crate::fib::FibEntry;
use crate::intern::{Id, Interner};
use crate::netlink::RouteSpec;

/// What the kernel holds at a prefix, as far as routesync knows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) enum Held {
    /// No route of ours.
    #[default]
    Nothing,
    /// The route this process installed.
    Ours(RouteSpec),
    /// A route with our protocol that is not the one installed (changed by
    /// someone, or left by an earlier run): ours to replace; its metric when
    /// known (a route at another metric is not replaced but removed).
    Stray(Option<u32>),
    /// Maybe ours, maybe someone else's now: the next install finds out
    /// (exclusive create, and on EEXIST a look at the holder).
    Unknown,
}

/// One route's state, without its prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Shape {
    /// What BGP wants; `None` once withdrawn (the entry stays while a route
    /// of ours is still to be removed).
    pub want: Option<FibEntry>,
    /// What the installed route was classified as.
    pub action: Option<Action>,
    pub held: Held,
}

impl Shape {
    /// Neither wanted nor held: nothing to keep.
    fn is_empty(&self) -> bool {
        self.want.is_none() && self.held == Held::Nothing
    }
}

#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    v4: FastMap<Ipv4Net, Id>,
    v6: FastMap<Ipv6Net, Id>,
    shapes: Interner<Shape>,
    /// The last error of each failed route, logged once until it changes.
    errors: FastMap<IpNet, Box<str>>,
    /// Routes installed through the kernel's route toward a next hop it
    /// would not take directly, with how: programmed again when that route
    /// changes.
    notes: FastMap<IpNet, Box<str>>,
}

impl RouteTable {
    pub fn get(&self, prefix: &IpNet) -> Option<&Shape> {
        let id = match prefix {
            IpNet::V4(p) => self.v4.get(p),
            IpNet::V6(p) => self.v6.get(p),
        }?;
        Some(self.shapes.get(*id))
    }

    /// Changes the prefix's shape (an absent prefix starts from nothing
    /// wanted, nothing held); a shape left empty is forgotten, with the
    /// prefix's error and note.
    pub fn modify(&mut self, prefix: IpNet, change: impl FnOnce(&mut Shape)) {
        let emptied = match prefix {
            IpNet::V4(p) => modify_in(&mut self.v4, &mut self.shapes, p, change),
            IpNet::V6(p) => modify_in(&mut self.v6, &mut self.shapes, p, change),
        };
        if emptied {
            self.errors.remove(&prefix);
            self.notes.remove(&prefix);
        }
    }

    /// Forgets every route.
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
        self.shapes.clear();
        self.errors.clear();
        self.notes.clear();
    }

    pub fn prefixes(&self) -> impl Iterator<Item = IpNet> + '_ {
        let v4 = self.v4.keys().map(|p| IpNet::V4(*p));
        v4.chain(self.v6.keys().map(|p| IpNet::V6(*p)))
    }

    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &Shape)> {
        let v4 = self.v4.iter().map(|(p, id)| (IpNet::V4(*p), *id));
        v4.chain(self.v6.iter().map(|(p, id)| (IpNet::V6(*p), *id)))
            .map(|(prefix, id)| (prefix, self.shapes.get(id)))
    }

    /// Every distinct shape with how many routes are in it.
    pub fn shapes(&self) -> impl Iterator<Item = (&Shape, u32)> {
        self.shapes.counted()
    }

    pub fn error(&self, prefix: &IpNet) -> Option<&str> {
        self.errors.get(prefix).map(|e| &**e)
    }

    /// Keeps the route's error.
    pub fn set_error(&mut self, prefix: IpNet, error: Box<str>) {
        self.errors.insert(prefix, error);
    }

    /// The route no longer fails; its last error, if it did.
    pub fn clear_error(&mut self, prefix: &IpNet) -> Option<Box<str>> {
        self.errors.remove(prefix)
    }

    /// The prefixes whose route failed, to be tried again.
    pub fn failed(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.errors.keys().copied()
    }

    pub fn failed_count(&self) -> usize {
        self.errors.len()
    }

    /// Every route's error.
    pub fn errors(&self) -> impl Iterator<Item = (IpNet, &str)> {
        self.errors.iter().map(|(p, e)| (*p, &**e))
    }

    pub fn note(&self, prefix: &IpNet) -> Option<&str> {
        self.notes.get(prefix).map(|n| &**n)
    }

    pub fn set_note(&mut self, prefix: IpNet, note: Option<Box<str>>) {
        match note {
            Some(note) => self.notes.insert(prefix, note),
            None => self.notes.remove(&prefix),
        };
    }

    /// The routes installed through the kernel's own route toward a hop
    /// inside `changed`, which a change of that route touches.
    pub fn resolved_through(&self, changed: &IpNet) -> Vec<IpNet> {
        let through = |gateway: &IpAddr| changed.contains(gateway);
        self.notes
            .keys()
            .filter(
                |prefix| match self.get(prefix).and_then(|s| s.action.as_ref()) {
                    Some(Action::Forward { hops, .. }) => hops
                        .iter()
                        .any(|hop| hop.via == Via::Recursive && through(&hop.gateway)),
                    _ => false,
                },
            )
            .copied()
            .collect()
    }

    /// Whether some route is installed through the kernel's own route toward
    /// a next hop.
    pub fn any_resolved(&self) -> bool {
        !self.notes.is_empty()
    }

    /// Nothing of ours is in the kernel any more (its owner changed, or
    /// programming was turned off): what BGP wants is all that is kept.
    pub fn forget_kernel(&mut self) {
        let prefixes: Vec<IpNet> = self.prefixes().collect();
        for prefix in prefixes {
            self.modify(prefix, |route| {
                route.held = Held::Nothing;
                route.action = None;
            });
        }
        self.errors.clear();
        self.notes.clear();
    }
}

/// [`RouteTable::modify`] in one family's map; true when the prefix was
/// forgotten.
fn modify_in<K: Hash + Eq>(
    map: &mut FastMap<K, Id>,
    shapes: &mut Interner<Shape>,
    key: K,
    change: impl FnOnce(&mut Shape),
) -> bool {
    let old = map.get(&key).copied();
    let mut shape = old.map(|id| shapes.get(id).clone()).unwrap_or_default();
    change(&mut shape);
    if old.is_some_and(|id| *shapes.get(id) == shape) {
        return false;
    }
    if let Some(id) = old {
        shapes.release(id);
    }
    if shape.is_empty() {
        map.remove(&key);
        return true;
    }
    map.insert(key, shapes.intern(shape));
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallvec::smallvec;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    fn via(gateway: &str) -> FibEntry {
        FibEntry::NextHops {
            hops: smallvec![gateway.parse().unwrap()],
            metric: 0,
        }
    }

    #[test]
    fn routes_in_one_shape_share_it_and_an_emptied_route_is_forgotten() {
        let mut table = RouteTable::default();
        for i in 0..1000u32 {
            let prefix = IpNet::V4(Ipv4Net::new((0x0a00_0000 + (i << 6)).into(), 26).unwrap());
            table.modify(prefix, |s| s.want = Some(via("10.0.2.5")));
        }
        table.modify(net("fd00::/122"), |s| s.want = Some(via("fd00:1::5")));
        assert_eq!(table.prefixes().count(), 1001);
        assert_eq!(table.shapes().count(), 2);
        assert_eq!(
            table.get(&net("10.0.0.64/26")).unwrap().want,
            Some(via("10.0.2.5"))
        );

        let prefix = net("10.0.0.0/26");
        table.set_error(prefix, "no such device".into());
        table.modify(prefix, |s| s.held = Held::Unknown);
        assert_eq!(table.shapes().count(), 3);
        // Withdrawn, but something may still be held: kept.
        table.modify(prefix, |s| s.want = None);
        assert!(table.get(&prefix).is_some());
        assert_eq!(table.error(&prefix), Some("no such device"));
        // Nothing wanted, nothing held: gone, its error too.
        table.modify(prefix, |s| s.held = Held::Nothing);
        assert!(table.get(&prefix).is_none());
        assert_eq!(table.error(&prefix), None);
        assert_eq!(table.prefixes().count(), 1000);
        assert_eq!(table.shapes().count(), 2);
    }
}
