//! The kernel as routesync sees it: one pass of changes in, one outcome per
//! route out; the links and addresses routes depend on; the notifications of
//! what others change.
//!
//! Everything goes to the kernel in batches; what the kernel refuses is
//! handled in a second batch:
//!
//! - a recursive next hop the kernel will not take (`via P` with P not
//!   directly reachable: EINVAL "Nexthop has invalid gateway" for IPv4,
//!   EHOSTUNREACH for IPv6) is replaced by the kernel's own route toward P
//!   (RTM_GETROUTE), `via G dev D`, as BIRD's `gateway recursive` and Calico's
//!   GoBGP daemon (`recursiveNexthopLookup`, docs/CALICO-CONTRACT.md §4.4) do;
//!   when a foreign route toward P changes, the worker programs such routes
//!   again (`sync/repair.rs`, `re_resolve_through`);
//! - ENODEV means a device was recreated under a new index: names are
//!   resolved again and the route retried;
//! - a first install uses `NLM_F_EXCL`, because `NLM_F_REPLACE` would replace
//!   a route of another protocol with the same key (the kernel matches
//!   prefix, tos and metric only). EEXIST then names the holder; when it
//!   carries our protocol it is ours, and it is replaced. Routes known to be
//!   ours (installed by this process, or found with our protocol at start)
//!   are replaced with `NLM_F_CREATE | NLM_F_REPLACE`.
//!
//! The monitor socket is opened before anything is listed, so that no change
//! made after a listing is missed.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::os::fd::BorrowedFd;

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::AddressFamily;

use crate::classify::{Action, Hop, Via};
use crate::fasthash::FastMap;
use crate::netlink::message::{
    self, address_info, link_info, protocol_name, route_of, AddressInfo, LinkInfo,
};
use crate::netlink::{
    errno, Answer, Batch, Event, KernelError, Monitor, NextHopSpec, NextHopSpecs, Owner, RouteInfo,
    RouteSpec, Transport,
};

/// What to do with one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Put the route there; `replace` when it is known to be ours already.
    /// `retire`: the metric of a route of ours at the prefix that goes once
    /// this one is in (the kernel keys routes by metric too, so a route
    /// whose metric changes is a new route beside the old).
    Install {
        prefix: IpNet,
        action: Action,
        replace: bool,
        retire: Option<u32>,
    },
    /// Remove our route to the prefix, if there is one.
    Delete { prefix: IpNet },
}

impl Op {
    pub fn prefix(&self) -> IpNet {
        match self {
            Self::Install { prefix, .. } | Self::Delete { prefix } => *prefix,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The route as the kernel now has it, and how it was arrived at when not
    /// as classified.
    Installed {
        spec: RouteSpec,
        note: Option<String>,
    },
    /// Our route is gone (or was never there).
    Removed,
    /// The kernel refused, or a device is missing: why.
    Failed { error: String },
}

#[derive(Debug)]
pub(crate) struct Kernel {
    transport: Transport,
    monitor: Monitor,
    owner: Owner,
    /// Every link, by index, kept current by the monitor.
    links: HashMap<u32, LinkInfo>,
    /// Device names to indexes: from the links, and looked up on demand.
    indexes: HashMap<String, u32>,
    /// Every index ever seen with its name, to describe routes.
    names: HashMap<u32, String>,
    /// Every address, kept current by the monitor.
    addresses: Vec<AddressInfo>,
    /// Devices that routes of ours have gone through: their changes matter.
    used: HashSet<u32>,
    /// Prefixes with a route of ours found at start (left by an earlier run)
    /// that no pass has touched since, with that route's metric.
    adopted: FastMap<IpNet, u32>,
}

/// How many routes of `owner` the kernel holds now, in the calling thread's
/// namespace: one dump, without the monitor or the links.
pub fn count_ours(owner: Owner) -> Result<usize, String> {
    let mut transport = Transport::open().map_err(|e| format!("netlink socket: {e}"))?;
    Ok(dump_ours(&mut transport, owner)?.len())
}

fn dump_ours(transport: &mut Transport, owner: Owner) -> Result<FastMap<IpNet, RouteInfo>, String> {
    let mut ours = FastMap::default();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        transport
            .dump_each(message::dump_routes(family, owner), &mut |m| {
                if let Some(r) = route_of(&m) {
                    if r.table == owner.table && r.protocol == owner.protocol {
                        ours.insert(r.prefix, r);
                    }
                }
            })
            .map_err(|e| format!("listing routes: {e}"))?;
    }
    Ok(ours)
}

impl Kernel {
    /// Opens the sockets in the calling thread's namespace, subscribes to
    /// changes, then lists links, addresses and the routes of ours already
    /// there.
    pub fn open(owner: Owner) -> Result<Self, String> {
        let mut transport = Transport::open().map_err(|e| format!("netlink socket: {e}"))?;
        let monitor =
            Monitor::open(transport.port()).map_err(|e| format!("netlink monitor socket: {e}"))?;
        let mut links = HashMap::new();
        transport
            .dump_each(message::dump_links(), &mut |m| {
                if let Some(link) = link_info(&m) {
                    links.insert(link.index, link);
                }
            })
            .map_err(|e| format!("listing links: {e}"))?;
        let mut addresses = Vec::new();
        transport
            .dump_each(message::dump_addresses(), &mut |m| {
                addresses.extend(address_info(&m));
            })
            .map_err(|e| format!("listing addresses: {e}"))?;
        let mut kernel = Self {
            transport,
            monitor,
            owner,
            indexes: links.values().map(|l| (l.name.clone(), l.index)).collect(),
            names: links.values().map(|l| (l.index, l.name.clone())).collect(),
            links,
            addresses,
            used: HashSet::new(),
            adopted: FastMap::default(),
        };
        let ours = kernel.dump_ours()?;
        kernel.adopted = ours.into_iter().map(|(p, r)| (p, r.metric)).collect();
        tracing::info!(
            protocol = owner.protocol,
            table = owner.table,
            found = kernel.adopted.len(),
            "kernel routes of ours found at start"
        );
        Ok(kernel)
    }

    /// Every route of ours in the kernel now, by prefix.
    pub fn dump_ours(&mut self) -> Result<FastMap<IpNet, RouteInfo>, String> {
        dump_ours(&mut self.transport, self.owner)
    }

    /// Every route of our table that is not ours, for learning.
    pub fn dump_theirs(&mut self) -> Result<Vec<RouteInfo>, String> {
        let owner = self.owner;
        // Protocol 0 asks the kernel for every protocol's routes.
        let every = Owner {
            protocol: 0,
            table: owner.table,
        };
        let mut theirs = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            self.transport
                .dump_each(message::dump_routes(family, every), &mut |m| {
                    if let Some(r) = route_of(&m) {
                        if r.table == owner.table && r.protocol != owner.protocol {
                            theirs.push(r);
                        }
                    }
                })
                .map_err(|e| format!("listing routes: {e}"))?;
        }
        Ok(theirs)
    }

    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// Whether a route of ours from before this process is at `prefix`.
    pub fn adopted(&self, prefix: &IpNet) -> bool {
        self.adopted.contains_key(prefix)
    }

    /// The metric of the route of ours from before this process at `prefix`.
    pub fn adopted_metric(&self, prefix: &IpNet) -> Option<u32> {
        self.adopted.get(prefix).copied()
    }

    pub fn adopted_prefixes(&self) -> Vec<IpNet> {
        self.adopted.keys().copied().collect()
    }

    /// The adopted route at `prefix` is gone, or no longer to be swept.
    pub fn forget_adopted(&mut self, prefix: &IpNet) -> bool {
        self.adopted.remove(prefix).is_some()
    }

    /// Ends adoption: what is left is someone's to decide.
    pub fn clear_adopted(&mut self) {
        self.adopted.clear();
    }

    pub fn monitor_fd(&self) -> BorrowedFd<'_> {
        self.monitor.fd()
    }

    /// What others changed since the last call, without waiting. Links and
    /// addresses are kept current from it.
    pub fn events(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        self.monitor.read(&mut events);
        events
    }

    /// The link at `index` as last seen.
    pub fn link(&self, index: u32) -> Option<&LinkInfo> {
        self.links.get(&index)
    }

    /// The index of the device called `name`, as last seen.
    pub fn index_of(&self, name: &str) -> Option<u32> {
        self.links
            .values()
            .find(|l| l.name == name)
            .map(|l| l.index)
    }

    /// Whether a route of ours has gone through the device.
    pub fn used(&self, index: u32) -> bool {
        self.used.contains(&index)
    }

    /// Keeps the link table current.
    pub fn observe_link(&mut self, link: &LinkInfo) {
        if let Some(old) = self.links.get(&link.index) {
            if old.name != link.name && self.indexes.get(&old.name) == Some(&link.index) {
                self.indexes.remove(&old.name);
            }
        }
        if link.deleted {
            self.links.remove(&link.index);
            if self.indexes.get(&link.name) == Some(&link.index) {
                self.indexes.remove(&link.name);
            }
            self.addresses.retain(|a| a.index != link.index);
        } else {
            self.links.insert(link.index, link.clone());
            self.indexes.insert(link.name.clone(), link.index);
            self.names.insert(link.index, link.name.clone());
        }
    }

    /// Keeps the address list current.
    pub fn observe_address(&mut self, address: &AddressInfo) {
        self.addresses
            .retain(|a| !(a.index == address.index && a.address == address.address));
        if !address.deleted {
            self.addresses.push(address.clone());
        }
    }

    /// Every address, as last seen.
    pub fn addresses(&self) -> &[AddressInfo] {
        &self.addresses
    }

    /// The addresses of the device called `name`, in the kernel's order.
    pub fn addresses_of(&self, name: &str) -> Vec<IpNet> {
        let Some(index) = self.index_of(name) else {
            return Vec::new();
        };
        self.addresses
            .iter()
            .filter(|a| a.index == index)
            .map(|a| a.address)
            .collect()
    }

    /// Device names by index, to describe routes.
    pub fn names(&self) -> &HashMap<u32, String> {
        &self.names
    }

    /// Applies the ops; one outcome per op, in order.
    pub fn apply(&mut self, ops: &[Op]) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; ops.len()];
        if ops.is_empty() {
            return Vec::new();
        }
        self.resolve_devices(ops);

        // First batch: every op as classified.
        let none = HashMap::new();
        let mut batch = Batch::with_capacity(ops.len());
        let mut sent = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            match self.encode(&mut batch, op, &none, None) {
                Ok(spec) => sent.push((index, spec)),
                Err(error) => outcomes[index] = Some(Outcome::Failed { error }),
            }
        }
        let answers = self.send(&mut batch);
        let mut again = Vec::new();
        let mut recursive = Vec::new();
        let mut held = Vec::new();
        for ((index, spec), answer) in sent.into_iter().zip(answers) {
            let op = &ops[index];
            let outcome = match (op, answer.result, spec) {
                (Op::Delete { .. }, Ok(()), _) => Outcome::Removed,
                // ESRCH / ENOENT: not there (any more); what we wanted.
                (Op::Delete { .. }, Err(e), _) if e.is(errno::ESRCH) || e.is(errno::ENOENT) => {
                    Outcome::Removed
                }
                (Op::Delete { .. }, Err(e), _) => Outcome::Failed {
                    error: format!("removing: {e}"),
                },
                (Op::Install { .. }, Ok(()), Some(spec)) => Outcome::Installed { spec, note: None },
                (Op::Install { .. }, Ok(()), None) => Outcome::Failed {
                    error: "nothing to install".into(),
                },
                (Op::Install { .. }, Err(e), _) if e.is(errno::ENODEV) => {
                    again.push(index);
                    continue;
                }
                (Op::Install { action, .. }, Err(e), _) if refused_recursion(action, &e) => {
                    recursive.push((index, e));
                    continue;
                }
                (Op::Install { replace: false, .. }, Err(e), _) if e.is(errno::EEXIST) => {
                    held.push(index);
                    continue;
                }
                (Op::Install { .. }, Err(e), _) => Outcome::Failed {
                    error: e.to_string(),
                },
            };
            outcomes[index] = Some(outcome);
        }

        // Second batch: devices looked up again, recursive next hops through
        // the kernel's route to them.
        if !again.is_empty() {
            self.indexes.clear();
            self.resolve_devices(ops);
        }
        let gateways: BTreeSet<IpAddr> = recursive
            .iter()
            .flat_map(|(index, _)| recursive_gateways(&ops[*index]))
            .collect();
        let resolved = self.routes_toward(gateways);
        let mut retries: Vec<(usize, Option<String>)> =
            again.into_iter().map(|index| (index, None)).collect();
        for (index, refusal) in recursive {
            let note = format!(
                "the kernel refused a recursive next hop ({refusal}), so through its route to it"
            );
            retries.push((index, Some(note)));
        }
        self.retry(ops, retries, &resolved, &mut outcomes, None);

        // Who holds the prefixes that were not free.
        let holders = self.holders(ops, &held);
        let mut ours = Vec::new();
        for (index, holder) in held.into_iter().zip(holders) {
            match holder {
                Holder::Ours => ours.push((index, Some("replaced a route of ours".to_owned()))),
                Holder::Other(error) => outcomes[index] = Some(Outcome::Failed { error }),
            }
        }
        self.retry(
            ops,
            ours,
            &resolved,
            &mut outcomes,
            Some(NLM_F_CREATE | NLM_F_REPLACE),
        );

        self.retire(ops, &outcomes);
        for (op, outcome) in ops.iter().zip(&outcomes) {
            if let Some(Outcome::Installed {
                spec: RouteSpec::Unicast { hops, .. },
                ..
            }) = outcome
            {
                self.used.extend(hops.iter().filter_map(|h| h.ifindex));
            }
            let done = matches!(outcome, Some(Outcome::Installed { .. } | Outcome::Removed));
            if done && !self.adopted.is_empty() {
                self.adopted.remove(&op.prefix());
            }
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| Outcome::Failed {
                    error: "no answer from the kernel".into(),
                })
            })
            .collect()
    }

    /// Removes the routes of ours that installs at another metric replaced,
    /// once the new ones are in: the prefix is never without a route.
    fn retire(&mut self, ops: &[Op], outcomes: &[Option<Outcome>]) {
        let mut batch = Batch::default();
        let mut retired = Vec::new();
        for (op, outcome) in ops.iter().zip(outcomes) {
            if let (
                Op::Install {
                    prefix,
                    retire: Some(metric),
                    ..
                },
                Some(Outcome::Installed { spec, .. }),
            ) = (op, outcome)
            {
                if spec.metric(prefix) != *metric {
                    batch.push_route(self.owner, *prefix, None, Some(*metric), 0);
                    retired.push((*prefix, *metric));
                }
            }
        }
        if retired.is_empty() {
            return;
        }
        for ((prefix, metric), answer) in retired.into_iter().zip(self.send(&mut batch)) {
            match answer.result {
                Ok(()) => {}
                Err(e) if e.is(errno::ESRCH) || e.is(errno::ENOENT) => {}
                Err(error) => tracing::warn!(
                    %prefix,
                    metric,
                    %error,
                    "could not remove our route at its former metric"
                ),
            }
        }
    }

    /// Sends a batch; notifications queued meanwhile stay for [`Self::events`].
    fn send(&mut self, batch: &mut Batch) -> Vec<Answer> {
        self.transport.transact(batch, &mut || {})
    }

    /// Sends `retries` (op index, note) again, with `flags` instead of the
    /// op's own when given; recursive hops use `resolved`.
    fn retry(
        &mut self,
        ops: &[Op],
        retries: Vec<(usize, Option<String>)>,
        resolved: &HashMap<IpAddr, Result<NextHopSpec, String>>,
        outcomes: &mut [Option<Outcome>],
        flags: Option<u16>,
    ) {
        let mut sent = Vec::new();
        let mut batch = Batch::default();
        for (index, note) in retries {
            match self.encode(&mut batch, &ops[index], resolved, flags) {
                Ok(spec) => sent.push((index, note, spec)),
                Err(error) => outcomes[index] = Some(Outcome::Failed { error }),
            }
        }
        let answers = self.send(&mut batch);
        for ((index, note, spec), answer) in sent.into_iter().zip(answers) {
            outcomes[index] = Some(match (answer.result, spec) {
                (Ok(()), Some(spec)) => Outcome::Installed { spec, note },
                (Ok(()), None) => Outcome::Removed,
                (Err(e), _) => Outcome::Failed {
                    error: match note {
                        Some(note) => format!("{e} ({note})"),
                        None => e.to_string(),
                    },
                },
            });
        }
    }

    /// Encodes the request for one op into the batch, with the op's own
    /// flags or `flags`; the route sent, for an install.
    fn encode(
        &self,
        batch: &mut Batch,
        op: &Op,
        resolved: &HashMap<IpAddr, Result<NextHopSpec, String>>,
        flags: Option<u16>,
    ) -> Result<Option<RouteSpec>, String> {
        match op {
            Op::Delete { prefix } => {
                batch.push_route(self.owner, *prefix, None, None, flags.unwrap_or(0));
                Ok(None)
            }
            Op::Install {
                prefix,
                action,
                replace,
                ..
            } => {
                let spec = self.spec(action, resolved)?;
                let own = if *replace {
                    NLM_F_CREATE | NLM_F_REPLACE
                } else {
                    NLM_F_CREATE | NLM_F_EXCL
                };
                batch.push_route(self.owner, *prefix, Some(&spec), None, flags.unwrap_or(own));
                Ok(Some(spec))
            }
        }
    }

    /// The route for an action: device names become indexes; a recursive
    /// hop stays without a device unless `resolved` has the kernel's route
    /// toward it.
    fn spec(
        &self,
        action: &Action,
        resolved: &HashMap<IpAddr, Result<NextHopSpec, String>>,
    ) -> Result<RouteSpec, String> {
        let (hops, metric) = match action {
            Action::Blackhole => return Ok(RouteSpec::Blackhole),
            Action::Forward { hops, metric } => (hops, *metric),
            Action::Withdrawn | Action::NotInstalled => {
                return Err("nothing to install".into());
            }
        };
        let mut specs = NextHopSpecs::new();
        for Hop { gateway, via } in hops {
            let spec = match via {
                Via::Device { name, onlink } => NextHopSpec {
                    gateway: *gateway,
                    ifindex: Some(
                        *self
                            .indexes
                            .get(name.as_str())
                            .ok_or_else(|| format!("device {name} does not exist"))?,
                    ),
                    onlink: *onlink,
                },
                Via::Recursive => match resolved.get(gateway) {
                    Some(Ok(spec)) => spec.clone(),
                    Some(Err(error)) => return Err(error.clone()),
                    None => NextHopSpec {
                        gateway: *gateway,
                        ifindex: None,
                        onlink: false,
                    },
                },
            };
            // Two far next hops behind the same router become one hop.
            if !specs.contains(&spec) {
                specs.push(spec);
            }
        }
        Ok(RouteSpec::Unicast {
            hops: specs,
            metric,
        })
    }

    /// Looks up every device the installs name that is not known yet, in one
    /// batch. Names that do not exist stay unknown; the route says so.
    fn resolve_devices(&mut self, ops: &[Op]) {
        let mut wanted = BTreeSet::new();
        let mut last: Option<&str> = None;
        for op in ops {
            if let Op::Install {
                action: Action::Forward { hops, .. },
                ..
            } = op
            {
                for hop in hops {
                    if let Via::Device { name, .. } = &hop.via {
                        if last == Some(name.as_str()) {
                            continue;
                        }
                        last = Some(name.as_str());
                        if !self.indexes.contains_key(name.as_str()) {
                            wanted.insert(*name);
                        }
                    }
                }
            }
        }
        if wanted.is_empty() {
            return;
        }
        let mut batch = Batch::default();
        for name in &wanted {
            batch.push_message(message::get_link_by_name(name.as_str()), 0);
        }
        let answers = self.send(&mut batch);
        for (name, answer) in wanted.iter().zip(answers) {
            match &answer.result {
                Ok(()) => self.learn_links(&answer),
                Err(e) => tracing::debug!(device = %name, error = %e, "no such device"),
            }
        }
    }

    fn learn_links(&mut self, answer: &Answer) {
        for (index, name) in answer.replies.iter().filter_map(message::link_of) {
            self.indexes.insert(name.clone(), index);
            self.names.insert(index, name);
        }
    }

    /// The kernel's route toward each gateway (`ip route get P`), as the hop
    /// to use instead: `via G dev D`, or `via P dev D` when P is on D.
    fn routes_toward(
        &mut self,
        gateways: BTreeSet<IpAddr>,
    ) -> HashMap<IpAddr, Result<NextHopSpec, String>> {
        let mut resolved = HashMap::new();
        if gateways.is_empty() {
            return resolved;
        }
        let mut batch = Batch::default();
        for gateway in &gateways {
            batch.push_message(message::get_route(*gateway), 0);
        }
        let answers = self.send(&mut batch);
        let mut unknown_devices = BTreeSet::new();
        for (gateway, answer) in gateways.into_iter().zip(answers) {
            let route = answer.replies.iter().find_map(route_of);
            let hop = match (answer.result, route) {
                (Ok(()), Some(route)) => match route.oif {
                    Some(oif) => {
                        if !self.names.contains_key(&oif) {
                            unknown_devices.insert(oif);
                        }
                        Ok(NextHopSpec {
                            gateway: route.gateway.unwrap_or(gateway),
                            ifindex: Some(oif),
                            onlink: false,
                        })
                    }
                    None => Err(format!(
                        "the kernel's route to next hop {gateway} has no device"
                    )),
                },
                (Ok(()), None) => Err(format!("no route to next hop {gateway}")),
                (Err(e), _) => Err(format!("no route to next hop {gateway}: {e}")),
            };
            resolved.insert(gateway, hop);
        }
        // Names of the devices those routes use, for status and logs.
        if !unknown_devices.is_empty() {
            let mut batch = Batch::default();
            for index in &unknown_devices {
                batch.push_message(message::get_link_by_index(*index), 0);
            }
            for answer in self.send(&mut batch) {
                self.learn_links(&answer);
            }
        }
        resolved
    }

    /// For each held prefix: ours (our protocol in our table, added after
    /// start) or someone else's, described.
    fn holders(&mut self, ops: &[Op], held: &[usize]) -> Vec<Holder> {
        if held.is_empty() {
            return Vec::new();
        }
        let wanted: Vec<(IpNet, Option<u32>)> = held
            .iter()
            .map(|index| match &ops[*index] {
                Op::Install { prefix, action, .. } => (*prefix, action.metric(prefix)),
                Op::Delete { prefix } => (*prefix, None),
            })
            .collect();
        let mut batch = Batch::default();
        for (prefix, _) in &wanted {
            batch.push_message(message::get_fib_match(*prefix), 0);
        }
        let answers = self.send(&mut batch);
        wanted
            .into_iter()
            .zip(answers)
            .map(|((prefix, metric), answer)| {
                let route = answer
                    .replies
                    .iter()
                    .find_map(route_of)
                    .filter(|r| r.prefix == prefix);
                // The lookup answers with the prefix's best route: ours only
                // when it is at the metric the kernel refused, or a route of
                // someone else's there would be replaced.
                match route {
                    Some(r)
                        if r.protocol == self.owner.protocol
                            && r.table == self.owner.table
                            && metric.is_none_or(|m| m == r.metric) =>
                    {
                        Holder::Ours
                    }
                    Some(r) => Holder::Other(format!(
                        "a route with proto {} already holds {prefix} in table {}: left alone",
                        protocol_name(r.protocol),
                        r.table
                    )),
                    None => Holder::Other(format!(
                        "another route already holds {prefix}: left alone ({})",
                        KernelError::new(errno::EEXIST, None)
                    )),
                }
            })
            .collect()
    }
}

enum Holder {
    Ours,
    Other(String),
}

/// Whether the kernel's refusal is the one for a gateway it cannot reach
/// directly, on a route with recursive hops.
fn refused_recursion(action: &Action, error: &KernelError) -> bool {
    let has_recursive = matches!(action, Action::Forward { hops, .. } if hops.iter().any(|h| h.via == Via::Recursive));
    has_recursive
        && (error.is(errno::EINVAL)
            || error.is(errno::ENETUNREACH)
            || error.is(errno::EHOSTUNREACH))
}

fn recursive_gateways(op: &Op) -> Vec<IpAddr> {
    match op {
        Op::Install {
            action: Action::Forward { hops, .. },
            ..
        } => hops
            .iter()
            .filter(|h| h.via == Via::Recursive)
            .map(|h| h.gateway)
            .collect(),
        _ => Vec::new(),
    }
}
