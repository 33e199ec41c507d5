//! Attribute sets shared by every path that carries the same attributes: a
//! full table from one peer typically has a handful of distinct sets, so each
//! route costs a pointer, not a copy.

use crate::fasthash::FastSet;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use crate::packet::PathAttributes;

/// The attributes of a path as the RIB keeps them: the path attributes without
/// the multiprotocol NLRI, and the next hop in one place whatever the family.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RouteAttrs {
    /// `next_hop`, `mp_reach` and `mp_unreach` are always `None` here.
    pub attrs: PathAttributes,
    pub next_hop: IpAddr,
    pub link_local: Option<Ipv6Addr>,
    /// The interface the route goes through (BIRD's `ifname`, which
    /// BGPFilter `interface` rules match): a learned route's device, a BGP
    /// path's toward its next hop when this node knows it. Never sent.
    pub device: Option<Arc<str>>,
}

/// The set of live attribute sets. A set leaves it when the last path using
/// it is released; every place that drops a path goes through `release`.
#[derive(Debug, Default)]
pub struct AttrInterner {
    sets: FastSet<Arc<RouteAttrs>>,
}

impl AttrInterner {
    pub fn intern(&mut self, attrs: RouteAttrs) -> Arc<RouteAttrs> {
        if let Some(shared) = self.sets.get(&attrs) {
            return Arc::clone(shared);
        }
        let shared = Arc::new(attrs);
        self.sets.insert(Arc::clone(&shared));
        shared
    }

    /// Drops one user of `attrs`; the set goes when only the interner holds it.
    pub fn release(&mut self, attrs: Arc<RouteAttrs>) {
        // Two holders left: the interner's and this one.
        if Arc::strong_count(&attrs) == 2 {
            self.sets.remove(&attrs);
        }
    }

    /// How many distinct attribute sets are live.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(local_pref: u32) -> RouteAttrs {
        RouteAttrs {
            attrs: PathAttributes {
                local_pref: Some(local_pref),
                ..PathAttributes::default()
            },
            next_hop: "10.0.0.1".parse().unwrap(),
            link_local: None,
            device: None,
        }
    }

    #[test]
    fn equal_sets_are_shared_and_released_with_their_last_user() {
        let mut interner = AttrInterner::default();
        let a = interner.intern(attrs(100));
        let b = interner.intern(attrs(100));
        let c = interner.intern(attrs(200));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(interner.len(), 2);
        interner.release(a);
        assert_eq!(interner.len(), 2, "b still uses it");
        interner.release(b);
        interner.release(c);
        assert!(interner.is_empty());
    }
}
