//! Drift repair: a notification that touches a prefix of ours (our route
//! deleted or replaced by someone else, the holder of a prefix we could not
//! take gone) queues the prefix; a few milliseconds later, so that a burst
//! becomes one batch, the queued prefixes are programmed again. Changes of
//! the devices routes go through (a device appears, is deleted, goes down or
//! up) and of the uplink's addresses are not reported route by route (IPv4
//! drops routes through a device that goes down without a word), so they
//! make the thread list the routes of ours once and compare them with what
//! it installed. There is no periodic scan.

use ipnet::IpNet;

use crate::fasthash::FastSet;
use crate::netlink::message::{AddressInfo, LinkInfo};
use crate::netlink::{Event, RouteInfo};

use crate::table::{Held, RouteTable};

use super::Worker;

impl Worker {
    /// Reads the kernel's notifications and reacts.
    pub(super) fn read_events(&mut self) {
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        for event in kernel.events() {
            match event {
                Event::Route {
                    route,
                    deleted,
                    replaced,
                } => self.on_route(route, deleted, replaced),
                Event::Link(link) => self.on_link(link),
                Event::Address(address) => self.on_address(address),
                Event::Overrun => {
                    tracing::warn!(
                        "kernel notifications were lost; comparing our routes with the kernel's"
                    );
                    self.schedule_resync();
                    self.list_for_learning();
                }
            }
        }
    }

    /// The repair is due: the routes of ours are compared with the kernel's
    /// if a notification asked for it, and the queued prefixes join `dirty`.
    pub(super) fn take_repairs(&mut self, dirty: &mut FastSet<IpNet>) {
        if std::mem::take(&mut self.resync) {
            self.compare_with_kernel(dirty);
        }
        if !self.repair.is_empty() {
            tracing::info!(
                routes = self.repair.len(),
                "programming again the routes that changes by others touched"
            );
        }
        dirty.extend(self.repair.drain());
    }

    /// Someone else changed a route (our own changes never come here).
    fn on_route(&mut self, route: RouteInfo, deleted: bool, replaced: bool) {
        if let (Some(learning), Some(kernel)) = (self.learning.as_mut(), self.kernel.as_ref()) {
            let owner = kernel.owner();
            if route.table == owner.table && route.protocol != owner.protocol {
                learning.noticed(&route, deleted, kernel.names());
            }
        }
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        let owner = kernel.owner();
        if route.table != owner.table {
            return;
        }
        let prefix = route.prefix;
        let ours = route.protocol == owner.protocol;
        if ours && deleted {
            kernel.forget_adopted(&prefix);
        }
        let mut shared = self.status.lock();
        let routes = &mut shared.routes;
        let resolved =
            !ours && routes.any_resolved() && re_resolve_through(routes, prefix, &mut self.repair);
        // Whether the prefix is programmed again, and what is held there now
        // when that changed.
        let (repair, held) = match (routes.get(&prefix), deleted, ours) {
            (None, ..) => (false, None),
            // Ours, gone: maybe someone else's now.
            (Some(entry), true, true) if entry.held != Held::Nothing => (true, Some(Held::Unknown)),
            (Some(_), true, true) => (false, None),
            // Someone else's route went: the cause of a failure may be gone.
            (Some(_), true, false) => (routes.error(&prefix).is_some(), None),
            (Some(entry), false, true) => match &entry.held {
                Held::Ours(spec) if spec.matches(&route) => (false, None),
                _ => (true, Some(Held::Stray(Some(route.metric)))),
            },
            (Some(entry), false, false) if entry.held == Held::Nothing => (false, None),
            // Someone else's route put in place of ours, or beside it.
            (Some(_), false, false) => (
                true,
                Some(if replaced {
                    Held::Nothing
                } else {
                    Held::Unknown
                }),
            ),
        };
        if let Some(held) = held {
            routes.modify(prefix, |entry| entry.held = held);
        }
        drop(shared);
        if resolved {
            self.schedule_repair();
        }
        if repair {
            tracing::debug!(
                %prefix,
                protocol = route.protocol,
                deleted,
                "a route at a prefix of ours was changed by someone else; programming it again"
            );
            self.repair.insert(prefix);
            self.schedule_repair();
        }
    }

    /// A device appeared, went, went down or came up.
    fn on_link(&mut self, link: LinkInfo) {
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        let before = kernel.link(link.index).cloned();
        kernel.observe_link(&link);
        if before
            .as_ref()
            .is_none_or(|b| b.up != link.up || b.name != link.name)
            || link.deleted
        {
            self.learn_interfaces();
        }
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        let named = link.name == self.node.uplink || link.name == self.config.tunnel_device;
        if !named && !kernel.used(link.index) {
            return;
        }
        let what = match &before {
            _ if link.deleted => "is gone",
            None => "appeared",
            Some(before) if before.up != link.up => {
                if link.up {
                    "came up"
                } else {
                    "went down"
                }
            }
            Some(before) if before.name != link.name => "was renamed",
            Some(_) => return,
        };
        tracing::info!(
            device = %link.name,
            index = link.index,
            "a device routes of ours use {what}; comparing our routes with the kernel's"
        );
        if link.name == self.node.uplink {
            self.refresh_node();
        }
        self.schedule_resync();
    }

    /// An address was added or removed: the uplink's give the node's subnet.
    fn on_address(&mut self, address: AddressInfo) {
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        kernel.observe_address(&address);
        self.learn_interfaces();
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        if kernel.index_of(&self.node.uplink) != Some(address.index) {
            return;
        }
        tracing::info!(
            address = %address.address,
            removed = address.deleted,
            uplink = %self.node.uplink,
            "the uplink's addresses changed"
        );
        self.refresh_node();
        // Removing a device's last IPv4 address drops the routes through it,
        // without a word.
        self.schedule_resync();
    }

    /// Lists our routes in the kernel and compares them with what was
    /// installed: what is missing or different is programmed again; failed
    /// routes are tried again too (a device may have come back).
    fn compare_with_kernel(&mut self, dirty: &mut FastSet<IpNet>) {
        let Some(kernel) = self.kernel.as_mut() else {
            return;
        };
        let theirs = match kernel.dump_ours() {
            Ok(theirs) => theirs,
            Err(error) => {
                tracing::warn!(%error, "cannot list our routes; trying every failed route again");
                dirty.extend(self.status.lock().routes.failed());
                return;
            }
        };
        for prefix in kernel.adopted_prefixes() {
            if !theirs.contains_key(&prefix) {
                kernel.forget_adopted(&prefix);
            }
        }
        let mut shared = self.status.lock();
        let routes = &mut shared.routes;
        let (mut missing, mut changed) = (0usize, 0usize);
        let mut differing = Vec::new();
        for (prefix, route) in routes.iter() {
            let now = theirs.get(&prefix);
            let same = match (&route.held, now) {
                (Held::Ours(spec), Some(theirs)) => spec.matches(theirs),
                (Held::Nothing, None) => true,
                _ => false,
            };
            if !same {
                let held = match now {
                    Some(theirs) => {
                        changed += 1;
                        Held::Stray(Some(theirs.metric))
                    }
                    None => {
                        if route.held != Held::Nothing {
                            missing += 1;
                        }
                        Held::Nothing
                    }
                };
                differing.push((prefix, held));
            }
        }
        for (prefix, held) in differing {
            routes.modify(prefix, |route| route.held = held);
            dirty.insert(prefix);
        }
        let failed = routes.failed_count();
        dirty.extend(routes.failed());
        tracing::info!(
            ours = theirs.len(),
            missing,
            changed,
            failed,
            "compared our routes with the kernel's"
        );
    }
}

/// A route of someone else's (the kernel's, an operator's, an IGP's) at
/// `changed` came, went or changed: the routes of ours resolved through
/// the kernel's route toward a next hop inside `changed` are programmed
/// again, so that they follow the new path, as BIRD's `gateway
/// recursive` follows its IGP table (docs/CALICO-CONTRACT.md §4.4).
/// Only foreign routes count: ours changing cannot make routes of ours
/// chase each other.
/// Returns whether any was.
fn re_resolve_through(
    routes: &mut RouteTable,
    changed: IpNet,
    repair: &mut FastSet<IpNet>,
) -> bool {
    let affected = routes.resolved_through(&changed);
    if affected.is_empty() {
        return false;
    }
    tracing::debug!(
        %changed,
        routes = affected.len(),
        "the route toward recursive next hops changed; resolving them again"
    );
    for prefix in affected {
        // Ours, to be replaced whatever it now is.
        routes.modify(prefix, |route| {
            route.held = Held::Stray(route.action.as_ref().and_then(|a| a.metric(&prefix)));
        });
        repair.insert(prefix);
    }
    true
}
