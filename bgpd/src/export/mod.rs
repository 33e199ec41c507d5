//! Update groups: peers with the same [`ExportClass`] share one Adj-RIB-Out
//! and one encoding of every UPDATE (docs/DESIGN.md §3). A flush turns the
//! prefixes whose paths changed into one run of UPDATE messages per group,
//! which every member is sent as it is. A group whose peers take ADD-PATH
//! for a family is sent every path of that family that may go to them
//! (`every.rs`), the others the best path.

mod every;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use tracing::warn;

use crate::fasthash::FastMap;
use crate::packet::{Family, Message, NextHop, Nlri, PathAttributes, UpdateMessage, UpdatePacker};
use crate::policy::{export_attrs, verdict, ExportClass, SpeakerPolicy, Verdict};
use crate::rib::{AttrInterner, LocRib, Path, PeerId, RouteAttrs, Source};

use every::EveryPath;

#[derive(Debug)]
struct Group {
    members: BTreeSet<PeerId>,
    /// What every member has been sent, by prefix: the best path.
    sent: Sent,
    /// The same for families sent with ADD-PATH: every path.
    every: EveryPath,
    interner: AttrInterner,
}

/// Exported attribute sets computed during one update, by what they depend
/// on (the prefix only through the verdict). The path id is in the key: a
/// learned route through Felix's tunnels (policy::LEARNED_TUNNEL_PATH) goes
/// to fewer peers than another.
type ExportCache = FastMap<(*const RouteAttrs, Source, u32, (usize, u64)), Option<Arc<RouteAttrs>>>;

#[derive(Debug, Default)]
pub struct UpdateGroups {
    groups: FastMap<ExportClass, Group>,
}

/// Announcements grouped by their exported attributes, and withdrawals, per family.
#[derive(Default)]
struct Batch {
    announce: FastMap<*const RouteAttrs, (Arc<RouteAttrs>, Vec<Nlri>)>,
    withdraw: FastMap<Family, Vec<Nlri>>,
}

impl UpdateGroups {
    /// Adds a peer to its group, and returns what it must be sent first: the
    /// group's whole table, then End-of-RIB for each family (RFC 4724 §2).
    pub fn join(
        &mut self,
        peer: PeerId,
        class: &ExportClass,
        rib: &LocRib,
        policy: &SpeakerPolicy,
    ) -> Bytes {
        let group = self
            .groups
            .entry(class.clone())
            .or_insert_with(|| Group::new(class, rib, policy));
        group.members.insert(peer);
        let mut batch = Batch::default();
        for (prefix, attrs) in group.sent.iter() {
            batch.add(Nlri::new(prefix), attrs);
        }
        for (prefix, path) in group.every.iter() {
            batch.add(Nlri::with_path_id(prefix, path.id), &path.attrs);
        }
        let mut out = batch.encode(class);
        for family in class.families.iter() {
            let eor = Message::Update(UpdateMessage::end_of_rib(family));
            if let Ok(bytes) = eor.to_bytes(&class.encode) {
                out.extend_from_slice(&bytes);
            }
        }
        out.freeze()
    }

    /// Moves a peer from the group of `old` to that of `new` (its filters
    /// changed) and returns what it must be sent: what the new group sends
    /// that it was not sent, and the withdrawal of what it no longer gets.
    pub fn regroup(
        &mut self,
        peer: PeerId,
        old: &ExportClass,
        new: &ExportClass,
        rib: &LocRib,
        policy: &SpeakerPolicy,
    ) -> Bytes {
        if !self.groups.contains_key(new) {
            self.groups
                .insert(new.clone(), Group::new(new, rib, policy));
        }
        let mut batch = Batch::default();
        if let (Some(was), Some(now)) = (self.groups.get(old), self.groups.get(new)) {
            was.differences(now, &mut batch);
        }
        if let Some(group) = self.groups.get_mut(new) {
            group.members.insert(peer);
        }
        self.leave(peer, old);
        batch.encode(new).freeze()
    }

    /// Removes a peer; an empty group goes, with its Adj-RIB-Out.
    pub fn leave(&mut self, peer: PeerId, class: &ExportClass) {
        if let Some(group) = self.groups.get_mut(class) {
            group.members.remove(&peer);
            if group.members.is_empty() {
                self.groups.remove(class);
            }
        }
    }

    /// Brings every group up to date for `dirty` prefixes; returns, per group
    /// with something to say, its members and the encoded UPDATEs.
    pub fn flush(
        &mut self,
        dirty: &[IpNet],
        rib: &LocRib,
        policy: &SpeakerPolicy,
    ) -> Vec<(Vec<PeerId>, Bytes)> {
        let mut out = Vec::new();
        for (class, group) in &mut self.groups {
            let bytes = group.update(dirty, class, rib, policy);
            if !bytes.is_empty() {
                out.push((group.members.iter().copied().collect(), bytes.freeze()));
            }
        }
        out
    }
}

impl Group {
    /// A group without members yet, its table made from the Loc-RIB (its
    /// encoding is not needed: members are sent the table as they join).
    fn new(class: &ExportClass, rib: &LocRib, policy: &SpeakerPolicy) -> Self {
        let mut group = Group {
            members: BTreeSet::new(),
            sent: Sent::default(),
            every: EveryPath::default(),
            interner: AttrInterner::default(),
        };
        let prefixes: Vec<IpNet> = rib.prefixes().collect();
        let _ = group.update(&prefixes, class, rib, policy);
        group
    }

    /// What a member of this group must be sent to hold what members of
    /// `now` hold (two groups of one peer whose filters changed).
    fn differences(&self, now: &Group, batch: &mut Batch) {
        let same = |a: &Arc<RouteAttrs>, b: &Arc<RouteAttrs>| Arc::ptr_eq(a, b) || **a == **b;
        for (prefix, attrs) in now.sent.iter() {
            if !self.sent.get(&prefix).is_some_and(|was| same(was, attrs)) {
                batch.add(Nlri::new(prefix), attrs);
            }
        }
        for (prefix, _) in self.sent.iter() {
            if now.sent.get(&prefix).is_none() {
                batch.withdraw(Nlri::new(prefix));
            }
        }
        for (prefix, path) in now.every.iter() {
            let held = self.every.paths(&prefix);
            if !held
                .iter()
                .any(|p| p.id == path.id && same(&p.attrs, &path.attrs))
            {
                batch.add(Nlri::with_path_id(prefix, path.id), &path.attrs);
            }
        }
        for (prefix, path) in self.every.iter() {
            if !now.every.paths(&prefix).iter().any(|p| p.id == path.id) {
                batch.withdraw(Nlri::with_path_id(prefix, path.id));
            }
        }
    }

    /// Recomputes the export of `prefixes`, records it, and encodes the changes.
    fn update(
        &mut self,
        prefixes: &[IpNet],
        class: &ExportClass,
        rib: &LocRib,
        policy: &SpeakerPolicy,
    ) -> BytesMut {
        let mut cache = ExportCache::default();
        let mut batch = Batch::default();
        for prefix in prefixes {
            let family = family_of(prefix);
            if !class.families.contains(family) {
                continue;
            }
            if class.encode.add_path.contains(family) {
                let now: Vec<_> = rib
                    .paths(prefix)
                    .iter()
                    .filter_map(|path| {
                        exported(
                            prefix,
                            path,
                            class,
                            rib,
                            policy,
                            &mut cache,
                            &mut self.interner,
                        )
                        .map(|attrs| ((path.source, path.path_id), attrs))
                    })
                    .collect();
                let changes = self.every.update(*prefix, now, &mut self.interner);
                for id in changes.withdraw {
                    batch.withdraw(Nlri::with_path_id(*prefix, id));
                }
                for (id, attrs) in &changes.announce {
                    batch.add(Nlri::with_path_id(*prefix, *id), attrs);
                }
                continue;
            }
            let exported = rib.best(prefix).and_then(|path| {
                exported(
                    prefix,
                    path,
                    class,
                    rib,
                    policy,
                    &mut cache,
                    &mut self.interner,
                )
            });
            match (self.sent.get(prefix), exported) {
                (Some(old), Some(new)) if Arc::ptr_eq(old, &new) => {}
                (_, Some(new)) => {
                    batch.add(Nlri::new(*prefix), &new);
                    if let Some(old) = self.sent.insert(*prefix, new) {
                        self.interner.release(old);
                    }
                }
                (Some(_), None) => {
                    batch.withdraw(Nlri::new(*prefix));
                    if let Some(old) = self.sent.remove(prefix) {
                        self.interner.release(old);
                    }
                }
                (None, None) => {}
            }
        }
        drop(cache);
        batch.encode(class)
    }
}

/// The attributes `path` goes to the group with, or `None`: computed once
/// per attribute set, source and verdict in an update.
fn exported(
    prefix: &IpNet,
    path: &Path,
    class: &ExportClass,
    rib: &LocRib,
    policy: &SpeakerPolicy,
    cache: &mut ExportCache,
    interner: &mut AttrInterner,
) -> Option<Arc<RouteAttrs>> {
    let decided = verdict(prefix, path, class, policy);
    if decided == Verdict::Keep {
        return None;
    }
    let key = (
        Arc::as_ptr(&path.attrs),
        path.source,
        path.path_id,
        decided.key(),
    );
    cache
        .entry(key)
        .or_insert_with(|| {
            let info = rib.source_info(path.source);
            export_attrs(prefix, path, &info, class, policy, decided)
                .map(|attrs| interner.intern(attrs))
        })
        .clone()
}

fn family_of(prefix: &IpNet) -> Family {
    match prefix {
        IpNet::V4(_) => Family::Ipv4Unicast,
        IpNet::V6(_) => Family::Ipv6Unicast,
    }
}

/// The Adj-RIB-Out of a group, one map per family: an IPv4 key is 5
/// octets, where a key for either family would be 18 (half the memory per
/// route at a million routes).
#[derive(Debug, Default)]
struct Sent {
    v4: FastMap<Ipv4Net, Arc<RouteAttrs>>,
    v6: FastMap<Ipv6Net, Arc<RouteAttrs>>,
}

impl Sent {
    fn get(&self, prefix: &IpNet) -> Option<&Arc<RouteAttrs>> {
        match prefix {
            IpNet::V4(net) => self.v4.get(net),
            IpNet::V6(net) => self.v6.get(net),
        }
    }

    fn insert(&mut self, prefix: IpNet, attrs: Arc<RouteAttrs>) -> Option<Arc<RouteAttrs>> {
        match prefix {
            IpNet::V4(net) => self.v4.insert(net, attrs),
            IpNet::V6(net) => self.v6.insert(net, attrs),
        }
    }

    fn remove(&mut self, prefix: &IpNet) -> Option<Arc<RouteAttrs>> {
        match prefix {
            IpNet::V4(net) => self.v4.remove(net),
            IpNet::V6(net) => self.v6.remove(net),
        }
    }

    fn iter(&self) -> impl Iterator<Item = (IpNet, &Arc<RouteAttrs>)> {
        let v4 = self.v4.iter().map(|(n, a)| (IpNet::V4(*n), a));
        let v6 = self.v6.iter().map(|(n, a)| (IpNet::V6(*n), a));
        v4.chain(v6)
    }
}

impl Batch {
    fn add(&mut self, nlri: Nlri, attrs: &Arc<RouteAttrs>) {
        self.announce
            .entry(Arc::as_ptr(attrs))
            .or_insert_with(|| (Arc::clone(attrs), Vec::new()))
            .1
            .push(nlri);
    }

    fn withdraw(&mut self, nlri: Nlri) {
        self.withdraw.entry(nlri.family()).or_default().push(nlri);
    }

    /// Withdrawals first, then announcements, each packed into as few
    /// messages as fit.
    fn encode(self, class: &ExportClass) -> BytesMut {
        let mut packer = UpdatePacker::new(class.encode);
        let mut out = BytesMut::new();
        for (family, prefixes) in &self.withdraw {
            if let Err(e) = packer.withdraw(*family, prefixes, &mut out) {
                warn!(error = %e, "cannot encode withdrawals");
            }
        }
        for (attrs, prefixes) in self.announce.values() {
            let (v4, v6): (Vec<Nlri>, Vec<Nlri>) =
                prefixes.iter().partition(|n| n.prefix.addr().is_ipv4());
            let mut wire = PathAttributes {
                next_hop: None,
                ..attrs.attrs.clone()
            };
            if !v4.is_empty() {
                match attrs.next_hop {
                    IpAddr::V4(next_hop) => {
                        wire.next_hop = Some(next_hop);
                        if let Err(e) = packer.announce_ipv4(&wire, &v4, &mut out) {
                            warn!(error = %e, "cannot encode announcements");
                        }
                        wire.next_hop = None;
                    }
                    // RFC 8950 IPv4 over an IPv6 next hop is not spoken yet.
                    IpAddr::V6(_) => warn!("IPv4 prefixes with an IPv6 next hop are not sent"),
                }
            }
            if !v6.is_empty() {
                let next_hop = match attrs.next_hop {
                    IpAddr::V6(global) => NextHop::V6 {
                        global,
                        link_local: attrs.link_local,
                    },
                    IpAddr::V4(v4) => NextHop::V6 {
                        global: v4.to_ipv6_mapped(),
                        link_local: None,
                    },
                };
                if let Err(e) =
                    packer.announce_mp(Family::Ipv6Unicast, next_hop, &wire, &v6, &mut out)
                {
                    warn!(error = %e, "cannot encode announcements");
                }
            }
        }
        out
    }
}
