//! Kernel route events of one namespace, timestamped as they arrive: a
//! netlink socket in the RTNLGRP_IPV4_ROUTE group, read by a thread that
//! parses just what the tally needs (type, table, destination). The daemon
//! under test is never asked; the kernel tells.

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use ipnet::Ipv4Net;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;
use testnets::routes::{self, RouteKind};
use testnets::{Error, Host, Result};

use super::tally::Tally;

const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const AF_INET: u8 = 2;
const RT_TABLE_MAIN: u8 = 254;
const RTN_UNICAST: u8 = 1;
const RTN_BLACKHOLE: u8 = 6;
const RTA_DST: u16 = 1;
const NLMSG_HEADER: usize = 16;
const RTMSG_LEN: usize = 12;
/// Events can come faster than a busy box schedules the reader: a deep
/// queue (SO_RCVBUFFORCE, root only) rather than lost events.
const RECEIVE_BUFFER: usize = 512 << 20;

pub struct FibWatch {
    stop: Arc<AtomicBool>,
    /// Times the kernel dropped events (ENOBUFS) and the tally was resynced
    /// from a dump: those runs' times are late by the dump.
    pub overruns: Arc<AtomicUsize>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl FibWatch {
    /// Starts watching `host`'s main table for unicast IPv4 routes into
    /// `tally` (routes already there are not counted).
    pub fn start(host: &Host, tally: Arc<Tally>) -> Result<Self> {
        Self::start_for(host, tally, RTN_UNICAST)
    }

    /// The same for blackhole routes (a node's own blocks).
    pub fn blackholes(host: &Host, tally: Arc<Tally>) -> Result<Self> {
        Self::start_for(host, tally, RTN_BLACKHOLE)
    }

    fn start_for(host: &Host, tally: Arc<Tally>, route_type: u8) -> Result<Self> {
        let (socket, mut dumper) = host.ns().enter(|| {
            let mut socket =
                Socket::new(NETLINK_ROUTE).map_err(|e| Error::Netlink(format!("socket: {e}")))?;
            socket
                .bind_auto()
                .map_err(|e| Error::Netlink(format!("bind: {e}")))?;
            socket
                .add_membership(RTNLGRP_IPV4_ROUTE)
                .map_err(|e| Error::Netlink(format!("join the route group: {e}")))?;
            setsockopt(&socket.as_fd(), sockopt::RcvBufForce, &RECEIVE_BUFFER)
                .map_err(|e| Error::Netlink(format!("SO_RCVBUFFORCE: {e}")))?;
            // Wake up now and then to see whether to stop.
            setsockopt(
                &socket.as_fd(),
                sockopt::ReceiveTimeout,
                &TimeVal::new(0, 100_000),
            )
            .map_err(|e| Error::Netlink(format!("SO_RCVTIMEO: {e}")))?;
            Ok((socket, routes::dump_socket()?))
        })?;
        // What the kernel already holds counts too: a daemon may have
        // converged before the watch began. Events from now on follow it
        // (one seen twice changes nothing). An empty kernel is left alone,
        // so that no mark is set by the start itself.
        let held = held_routes(&mut dumper, kind_of(route_type))?;
        if !held.is_empty() {
            tally.resync(held);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let overruns = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, overruns) = (stop.clone(), overruns.clone());
            std::thread::spawn(move || {
                read(&socket, &mut dumper, &tally, route_type, &stop, &overruns)
            })
        };
        Ok(Self {
            stop,
            overruns,
            thread: Some(thread),
        })
    }

    /// Stops the reader; returns what it ran into.
    pub fn stop(mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(Error::Bench("the route watcher panicked".into())))
            })
            .unwrap_or(Ok(()))
    }
}

impl Drop for FibWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn kind_of(route_type: u8) -> RouteKind {
    if route_type == RTN_BLACKHOLE {
        RouteKind::Blackhole
    } else {
        RouteKind::Unicast
    }
}

/// The main table's IPv4 routes of `kind`, as a dump shows them now.
fn held_routes(dumper: &mut Socket, kind: RouteKind) -> Result<Vec<Ipv4Net>> {
    Ok(routes::main_table(routes::dump_with(dumper)?)
        .into_iter()
        .filter(|r| r.kind == kind)
        .filter_map(|r| match r.destination {
            ipnet::IpNet::V4(net) => Some(net),
            ipnet::IpNet::V6(_) => None,
        })
        .collect())
}

fn read(
    socket: &Socket,
    dumper: &mut Socket,
    tally: &Tally,
    route_type: u8,
    stop: &AtomicBool,
    overruns: &AtomicUsize,
) -> Result<()> {
    let mut buf = Vec::with_capacity(1 << 20);
    let mut events = Vec::with_capacity(8192);
    let dumped = kind_of(route_type);
    while !stop.load(Ordering::Relaxed) {
        buf.clear();
        match socket.recv(&mut buf, 0) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {
                overruns.fetch_add(1, Ordering::Relaxed);
                tally.resync(held_routes(dumper, dumped)?);
                continue;
            }
            Err(e) => return Err(Error::Netlink(format!("receive route events: {e}"))),
        }
        events.clear();
        parse(&buf, route_type, &mut events);
        if !events.is_empty() {
            tally.apply_routes(events.drain(..));
        }
    }
    Ok(())
}

/// The (destination, added) of each main-table IPv4 route event of
/// `route_type` (RTN_UNICAST, RTN_BLACKHOLE) in one datagram.
fn parse(mut data: &[u8], route_type: u8, events: &mut Vec<(Ipv4Net, bool)>) {
    while data.len() >= NLMSG_HEADER {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if len < NLMSG_HEADER || len > data.len() {
            return;
        }
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        let message = &data[NLMSG_HEADER..len];
        data = &data[align(len).min(data.len())..];
        let added = match kind {
            RTM_NEWROUTE => true,
            RTM_DELROUTE => false,
            _ => continue,
        };
        if message.len() < RTMSG_LEN {
            continue;
        }
        let (family, dst_len, table, kind) = (message[0], message[1], message[4], message[7]);
        if family != AF_INET || table != RT_TABLE_MAIN || kind != route_type {
            continue;
        }
        let mut attrs = &message[RTMSG_LEN..];
        while attrs.len() >= 4 {
            let attr_len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
            let attr_type = u16::from_ne_bytes([attrs[2], attrs[3]]);
            if attr_len < 4 || attr_len > attrs.len() {
                break;
            }
            if attr_type == RTA_DST && attr_len == 8 {
                let addr = Ipv4Addr::new(attrs[4], attrs[5], attrs[6], attrs[7]);
                if let Ok(net) = Ipv4Net::new(addr, dst_len) {
                    events.push((net, added));
                }
                break;
            }
            attrs = &attrs[align(attr_len).min(attrs.len())..];
        }
    }
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A route event as the kernel sends it: a /26 via 10.0.1.1.
    fn new_route(kind: u16, table: u8, dst: [u8; 4]) -> Vec<u8> {
        let mut m = Vec::new();
        let len: u32 = (NLMSG_HEADER + RTMSG_LEN + 8 + 8) as u32;
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]); // flags, seq, pid
        m.extend_from_slice(&[AF_INET, 26, 0, 0, table, 186, 0, RTN_UNICAST]);
        m.extend_from_slice(&[0; 4]); // rtm_flags
                                      // RTA_GATEWAY comes first: the parser must step over it.
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&5u16.to_ne_bytes());
        m.extend_from_slice(&[10, 0, 1, 1]);
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&RTA_DST.to_ne_bytes());
        m.extend_from_slice(&dst);
        m
    }

    #[test]
    fn parses_main_table_unicast_events_and_skips_the_rest() {
        let mut data = new_route(RTM_NEWROUTE, RT_TABLE_MAIN, [11, 0, 0, 64]);
        data.extend(new_route(RTM_DELROUTE, RT_TABLE_MAIN, [11, 0, 0, 128]));
        data.extend(new_route(RTM_NEWROUTE, 255, [11, 0, 0, 192])); // local table
        let mut events = Vec::new();
        parse(&data, RTN_UNICAST, &mut events);
        assert_eq!(
            events,
            vec![
                ("11.0.0.64/26".parse().unwrap(), true),
                ("11.0.0.128/26".parse().unwrap(), false),
            ]
        );
    }
}
