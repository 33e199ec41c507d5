//! One pass of kernel changes: classified routes in, one outcome per route
//! out. Everything goes to the kernel in batches; what the kernel refuses is
//! handled in a second batch:
//!
//! - a recursive next hop the kernel will not take (`via P` with P not
//!   directly reachable: EINVAL "Nexthop has invalid gateway" for IPv4,
//!   EHOSTUNREACH for IPv6) is replaced by the kernel's own route toward P
//!   (RTM_GETROUTE), `via G dev D`, as BIRD's `gateway recursive` and Calico's
//!   GoBGP daemon (`recursiveNexthopLookup`, calico.md §2.9 item 8) do;
//! - ENODEV means a device was recreated under a new index: names are
//!   resolved again and the route retried;
//! - a first install uses `NLM_F_EXCL`, because `NLM_F_REPLACE` would replace
//!   a route of another protocol with the same key (the kernel matches
//!   prefix, tos and metric only). EEXIST then names the holder; when it
//!   carries our protocol it is ours, and it is replaced. Routes known to be
//!   ours (installed by this process, or found with our protocol at start)
//!   are replaced with `NLM_F_CREATE | NLM_F_REPLACE`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::AddressFamily;

use crate::classify::{Action, Hop, Via};
use crate::netlink::message::{self, route_of};
use crate::netlink::{
    errno, Answer, KernelError, NextHopSpec, Owner, Request, RouteSpec, Transport,
};

/// What to do with one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Put the route there; `replace` when it is known to be ours already.
    Install {
        prefix: IpNet,
        action: Action,
        replace: bool,
    },
    /// Remove our route to the prefix, if there is one.
    Delete { prefix: IpNet },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The route as the kernel now has it, in `ip route` words, and how it
    /// was arrived at when not as classified.
    Installed { route: String, note: Option<String> },
    /// Our route is gone (or was never there).
    Removed,
    /// The kernel refused, or a device is missing: why.
    Failed { error: String },
}

#[derive(Debug)]
pub(crate) struct Kernel {
    transport: Transport,
    owner: Owner,
    /// Device names resolved to indexes once, and again on ENODEV.
    indexes: HashMap<String, u32>,
    names: HashMap<u32, String>,
    /// Prefixes with a route of ours found at start (left by an earlier run)
    /// that no pass has touched since.
    adopted: HashSet<IpNet>,
}

impl Kernel {
    /// Opens the socket in the calling thread's namespace and lists the
    /// routes of ours already there.
    pub fn open(owner: Owner) -> Result<Self, String> {
        let mut transport = Transport::open().map_err(|e| format!("netlink socket: {e}"))?;
        let mut adopted = HashSet::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let routes = transport
                .dump(message::dump_routes(family))
                .map_err(|e| format!("listing routes: {e}"))?;
            adopted.extend(
                routes
                    .iter()
                    .filter_map(route_of)
                    .filter(|r| r.table == owner.table && r.protocol == owner.protocol)
                    .map(|r| r.prefix),
            );
        }
        tracing::info!(
            protocol = owner.protocol,
            table = owner.table,
            found = adopted.len(),
            "kernel routes of ours found at start"
        );
        Ok(Self {
            transport,
            owner,
            indexes: HashMap::new(),
            names: HashMap::new(),
            adopted,
        })
    }

    /// Whether a route of ours from before this process is at `prefix`.
    pub fn adopted(&self, prefix: &IpNet) -> bool {
        self.adopted.contains(prefix)
    }

    pub fn adopted_prefixes(&self) -> Vec<IpNet> {
        self.adopted.iter().copied().collect()
    }

    /// Applies the ops; one outcome per op, in order.
    pub fn apply(&mut self, ops: &[Op]) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; ops.len()];
        self.resolve_devices(ops);

        // First batch: every op as classified.
        let mut sent = Vec::new();
        let mut requests = Vec::new();
        for (index, op) in ops.iter().enumerate() {
            match self.request(op, &HashMap::new()) {
                Ok(request) => {
                    sent.push(index);
                    requests.push(request);
                }
                Err(error) => outcomes[index] = Some(Outcome::Failed { error }),
            }
        }
        let answers = self.transport.transact(requests);
        let mut again = Vec::new();
        let mut recursive = Vec::new();
        let mut held = Vec::new();
        for (index, answer) in sent.into_iter().zip(answers) {
            let op = &ops[index];
            let outcome = match (op, answer.result) {
                (Op::Delete { .. }, Ok(())) => Outcome::Removed,
                // ESRCH / ENOENT: not there (any more); what we wanted.
                (Op::Delete { .. }, Err(e)) if e.is(errno::ESRCH) || e.is(errno::ENOENT) => {
                    Outcome::Removed
                }
                (Op::Delete { .. }, Err(e)) => Outcome::Failed {
                    error: format!("removing: {e}"),
                },
                (Op::Install { .. }, Ok(())) => self.installed(op, &HashMap::new(), None),
                (Op::Install { .. }, Err(e)) if e.is(errno::ENODEV) => {
                    again.push(index);
                    continue;
                }
                (Op::Install { action, .. }, Err(e)) if refused_recursion(action, &e) => {
                    recursive.push((index, e));
                    continue;
                }
                (Op::Install { replace: false, .. }, Err(e)) if e.is(errno::EEXIST) => {
                    held.push(index);
                    continue;
                }
                (Op::Install { .. }, Err(e)) => Outcome::Failed {
                    error: e.to_string(),
                },
            };
            outcomes[index] = Some(outcome);
        }

        // Second batch: devices looked up again, recursive next hops through
        // the kernel's route to them.
        if !again.is_empty() {
            self.indexes.clear();
            self.names.clear();
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

        for (op, outcome) in ops.iter().zip(&outcomes) {
            if matches!(outcome, Some(Outcome::Installed { .. } | Outcome::Removed)) {
                let (Op::Install { prefix, .. } | Op::Delete { prefix }) = op;
                self.adopted.remove(prefix);
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
        let mut requests = Vec::new();
        for (index, note) in retries {
            match self.request(&ops[index], resolved) {
                Ok(mut request) => {
                    if let Some(flags) = flags {
                        request.flags = flags;
                    }
                    sent.push((index, note));
                    requests.push(request);
                }
                Err(error) => outcomes[index] = Some(Outcome::Failed { error }),
            }
        }
        let answers = self.transport.transact(requests);
        for ((index, note), answer) in sent.into_iter().zip(answers) {
            outcomes[index] = Some(match answer.result {
                Ok(()) => self.installed(&ops[index], resolved, note),
                Err(e) => Outcome::Failed {
                    error: match note {
                        Some(note) => format!("{e} ({note})"),
                        None => e.to_string(),
                    },
                },
            });
        }
    }

    /// The request for one op.
    fn request(
        &self,
        op: &Op,
        resolved: &HashMap<IpAddr, Result<NextHopSpec, String>>,
    ) -> Result<Request, String> {
        match op {
            Op::Delete { prefix } => Ok(Request {
                message: message::del_route(self.owner, *prefix),
                flags: 0,
            }),
            Op::Install {
                prefix,
                action,
                replace,
            } => {
                let spec = self.spec(action, resolved)?;
                let flags = if *replace {
                    NLM_F_CREATE | NLM_F_REPLACE
                } else {
                    NLM_F_CREATE | NLM_F_EXCL
                };
                Ok(Request {
                    message: message::new_route(self.owner, *prefix, &spec),
                    flags,
                })
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
        let hops = match action {
            Action::Blackhole => return Ok(RouteSpec::Blackhole),
            Action::Forward(hops) => hops,
            Action::Withdrawn | Action::NotInstalled => {
                return Err("nothing to install".into());
            }
        };
        let mut specs: Vec<NextHopSpec> = Vec::with_capacity(hops.len());
        for Hop { gateway, via } in hops {
            let spec = match via {
                Via::Device { name, onlink } => NextHopSpec {
                    gateway: *gateway,
                    ifindex: Some(
                        *self
                            .indexes
                            .get(name)
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
        Ok(RouteSpec::Unicast(specs))
    }

    fn installed(
        &self,
        op: &Op,
        resolved: &HashMap<IpAddr, Result<NextHopSpec, String>>,
        note: Option<String>,
    ) -> Outcome {
        let Op::Install { prefix, action, .. } = op else {
            return Outcome::Removed;
        };
        let route = match self.spec(action, resolved) {
            Ok(spec) => self.render(*prefix, &spec),
            Err(error) => error,
        };
        Outcome::Installed { route, note }
    }

    /// Looks up every device the installs name that is not known yet, in one
    /// batch. Names that do not exist stay unknown; the route says so.
    fn resolve_devices(&mut self, ops: &[Op]) {
        let mut wanted = BTreeSet::new();
        for op in ops {
            if let Op::Install {
                action: Action::Forward(hops),
                ..
            } = op
            {
                for hop in hops {
                    if let Via::Device { name, .. } = &hop.via {
                        if !self.indexes.contains_key(name) {
                            wanted.insert(name.clone());
                        }
                    }
                }
            }
        }
        let requests = wanted
            .iter()
            .map(|name| Request {
                message: message::get_link_by_name(name),
                flags: 0,
            })
            .collect();
        let answers = self.transport.transact(requests);
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
        let requests = gateways
            .iter()
            .map(|gateway| Request {
                message: message::get_route(*gateway),
                flags: 0,
            })
            .collect();
        let answers = self.transport.transact(requests);
        let mut resolved = HashMap::new();
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
        let wanted: Vec<u32> = unknown_devices.into_iter().collect();
        let requests = wanted
            .iter()
            .map(|index| Request {
                message: message::get_link_by_index(*index),
                flags: 0,
            })
            .collect();
        for answer in self.transport.transact(requests) {
            self.learn_links(&answer);
        }
        resolved
    }

    /// For each held prefix: ours (our protocol in our table, added after
    /// start) or someone else's, described.
    fn holders(&mut self, ops: &[Op], held: &[usize]) -> Vec<Holder> {
        let prefixes: Vec<IpNet> = held
            .iter()
            .filter_map(|index| match &ops[*index] {
                Op::Install { prefix, .. } => Some(*prefix),
                Op::Delete { .. } => None,
            })
            .collect();
        let requests = prefixes
            .iter()
            .map(|prefix| Request {
                message: message::get_fib_match(*prefix),
                flags: 0,
            })
            .collect();
        let answers = self.transport.transact(requests);
        prefixes
            .into_iter()
            .zip(answers)
            .map(|(prefix, answer)| {
                let route = answer
                    .replies
                    .iter()
                    .find_map(route_of)
                    .filter(|r| r.prefix == prefix);
                match route {
                    Some(r) if r.protocol == self.owner.protocol && r.table == self.owner.table => {
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

    /// Like `ip route`: `10.244.3.0/26 via 10.0.2.13 dev tunl0 onlink proto bird`.
    fn render(&self, prefix: IpNet, spec: &RouteSpec) -> String {
        let mut text = String::new();
        let hop = |text: &mut String, hop: &NextHopSpec| {
            let _ = write!(text, " via {}", hop.gateway);
            if let Some(index) = hop.ifindex {
                match self.names.get(&index) {
                    Some(name) => {
                        let _ = write!(text, " dev {name}");
                    }
                    None => {
                        let _ = write!(text, " dev #{index}");
                    }
                }
            }
            if hop.onlink {
                text.push_str(" onlink");
            }
        };
        match spec {
            RouteSpec::Blackhole => {
                let _ = write!(text, "blackhole {prefix}");
            }
            RouteSpec::Unicast(hops) if hops.len() == 1 => {
                let _ = write!(text, "{prefix}");
                hop(&mut text, &hops[0]);
            }
            RouteSpec::Unicast(hops) => {
                let _ = write!(text, "{prefix}");
                for h in hops {
                    text.push_str(" nexthop");
                    hop(&mut text, h);
                }
            }
        }
        let _ = write!(text, " proto {}", protocol_name(self.owner.protocol));
        if self.owner.table != 254 {
            let _ = write!(text, " table {}", self.owner.table);
        }
        text
    }
}

enum Holder {
    Ours,
    Other(String),
}

/// Whether the kernel's refusal is the one for a gateway it cannot reach
/// directly, on a route with recursive hops.
fn refused_recursion(action: &Action, error: &KernelError) -> bool {
    let has_recursive =
        matches!(action, Action::Forward(hops) if hops.iter().any(|h| h.via == Via::Recursive));
    has_recursive
        && (error.is(errno::EINVAL)
            || error.is(errno::ENETUNREACH)
            || error.is(errno::EHOSTUNREACH))
}

fn recursive_gateways(op: &Op) -> Vec<IpAddr> {
    match op {
        Op::Install {
            action: Action::Forward(hops),
            ..
        } => hops
            .iter()
            .filter(|h| h.via == Via::Recursive)
            .map(|h| h.gateway)
            .collect(),
        _ => Vec::new(),
    }
}

/// `/etc/iproute2/rt_protos` names for the usual ones.
fn protocol_name(protocol: u8) -> String {
    match protocol {
        2 => "kernel".into(),
        3 => "boot".into(),
        4 => "static".into(),
        12 => "bird".into(),
        186 => "bgp".into(),
        other => other.to_string(),
    }
}
