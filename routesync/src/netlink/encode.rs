//! A batch of requests, encoded back to back in one buffer, ready to be sent
//! in slices. Route changes, which come by the hundred thousand, are encoded
//! by hand here (a header, an `rtmsg` and four or five attributes), without
//! building a `RouteMessage` and its attribute list for each; everything else
//! goes through netlink-packet-route. A unit test checks that both encode a
//! route the same way.

use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_route::RouteNetlinkMessage;

use super::error::align;
use super::message::{Owner, RouteSpec};

/// include/uapi/linux/rtnetlink.h
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTN_UNSPEC: u8 = 0;
const RTN_UNICAST: u8 = 1;
const RTN_BLACKHOLE: u8 = 6;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_NOWHERE: u8 = 255;
/// `RTNH_F_ONLINK`, in `rtm_flags` for one hop and `rtnh_flags` per hop.
const RTNH_F_ONLINK: u8 = 4;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Requests encoded back to back; sequence numbers are set when sent.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) buf: Vec<u8>,
    /// Where each message ends in `buf`.
    pub(crate) ends: Vec<usize>,
}

impl Batch {
    pub fn with_capacity(messages: usize) -> Self {
        Self {
            buf: Vec::with_capacity(messages * 64),
            ends: Vec::with_capacity(messages),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Message `index` as it sits in the buffer.
    pub fn range(&self, index: usize) -> std::ops::Range<usize> {
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        start..self.ends[index]
    }

    /// Any rtnetlink message, with `NLM_F_REQUEST | flags`.
    pub fn push_message(&mut self, message: RouteNetlinkMessage, flags: u16) {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let start = self.buf.len();
        let len = align(packet.buffer_len());
        self.buf.resize(start + len, 0);
        packet.serialize(&mut self.buf[start..]);
        self.ends.push(self.buf.len());
    }

    /// `RTM_NEWROUTE` for `spec` (with `flags` such as `NLM_F_CREATE |
    /// NLM_F_EXCL`), or `RTM_DELROUTE` for our route to `prefix` when `spec`
    /// is `None` (at `delete_metric` when given, else at any metric): the
    /// same bytes as [`super::message::new_route`] and
    /// [`super::message::del_route`] give.
    pub fn push_route(
        &mut self,
        owner: Owner,
        prefix: IpNet,
        spec: Option<&RouteSpec>,
        delete_metric: Option<u32>,
        flags: u16,
    ) {
        let start = self.buf.len();
        let kind = if spec.is_some() {
            RTM_NEWROUTE
        } else {
            RTM_DELROUTE
        };
        // nlmsghdr: the length is filled in at the end.
        self.put_u32(0);
        self.put_u16(kind);
        self.put_u16(NLM_F_REQUEST | flags);
        self.put_u32(0);
        self.put_u32(0);
        // rtmsg
        let family = match prefix {
            IpNet::V4(_) => AF_INET,
            IpNet::V6(_) => AF_INET6,
        };
        let table = u8::try_from(owner.table).unwrap_or(0);
        let (scope, route_type, mut route_flags) = match spec {
            None => (RT_SCOPE_NOWHERE, RTN_UNSPEC, 0u32),
            Some(RouteSpec::Blackhole) => (RT_SCOPE_UNIVERSE, RTN_BLACKHOLE, 0),
            Some(RouteSpec::Unicast { .. }) => (RT_SCOPE_UNIVERSE, RTN_UNICAST, 0),
        };
        if let Some(RouteSpec::Unicast { hops, .. }) = spec {
            if let [hop] = hops.as_slice() {
                if hop.onlink {
                    route_flags |= u32::from(RTNH_F_ONLINK);
                }
            }
        }
        self.buf.extend_from_slice(&[
            family,
            prefix.prefix_len(),
            0,
            0,
            table,
            owner.protocol,
            scope,
            route_type,
        ]);
        self.put_u32(route_flags);
        self.put_address_attr(RTA_DST, prefix.network());
        self.put_attr(RTA_TABLE, &owner.table.to_ne_bytes());
        let metric = match spec {
            Some(RouteSpec::Unicast { metric, .. }) => Some(*metric),
            Some(RouteSpec::Blackhole) => None,
            None => delete_metric,
        };
        if let Some(metric) = metric {
            self.put_attr(RTA_PRIORITY, &metric.to_ne_bytes());
        }
        if let Some(RouteSpec::Unicast { hops, .. }) = spec {
            match hops.as_slice() {
                [hop] => {
                    self.put_address_attr(RTA_GATEWAY, hop.gateway);
                    if let Some(index) = hop.ifindex {
                        self.put_attr(RTA_OIF, &index.to_ne_bytes());
                    }
                }
                hops => {
                    let nest = self.buf.len();
                    self.put_u16(0);
                    self.put_u16(RTA_MULTIPATH);
                    for hop in hops {
                        let at = self.buf.len();
                        self.put_u16(0);
                        self.buf.push(if hop.onlink { RTNH_F_ONLINK } else { 0 });
                        self.buf.push(0);
                        self.put_u32(hop.ifindex.unwrap_or(0));
                        self.put_address_attr(RTA_GATEWAY, hop.gateway);
                        let len = (self.buf.len() - at) as u16;
                        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
                    }
                    let len = (self.buf.len() - nest) as u16;
                    self.buf[nest..nest + 2].copy_from_slice(&len.to_ne_bytes());
                }
            }
        }
        let len = (self.buf.len() - start) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
        self.ends.push(self.buf.len());
    }

    fn put_u16(&mut self, value: u16) {
        self.buf.extend_from_slice(&value.to_ne_bytes());
    }

    fn put_u32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_ne_bytes());
    }

    /// One attribute, padded to 4 bytes.
    fn put_attr(&mut self, kind: u16, value: &[u8]) {
        self.put_u16((4 + value.len()) as u16);
        self.put_u16(kind);
        self.buf.extend_from_slice(value);
        let padded = align(self.buf.len());
        self.buf.resize(padded, 0);
    }

    fn put_address_attr(&mut self, kind: u16, address: IpAddr) {
        match address {
            IpAddr::V4(a) => self.put_attr(kind, &a.octets()),
            IpAddr::V6(a) => self.put_attr(kind, &a.octets()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::message::{del_route, new_route, NextHopSpec, NextHopSpecs};
    use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};

    fn both(owner: Owner, prefix: &str, spec: Option<RouteSpec>, flags: u16) {
        both_at(owner, prefix, spec, None, flags);
    }

    fn both_at(
        owner: Owner,
        prefix: &str,
        spec: Option<RouteSpec>,
        delete_metric: Option<u32>,
        flags: u16,
    ) {
        let prefix: IpNet = prefix.parse().unwrap();
        let mut by_hand = Batch::default();
        by_hand.push_route(owner, prefix, spec.as_ref(), delete_metric, flags);
        let message = match &spec {
            Some(spec) => new_route(owner, prefix, spec),
            None => del_route(owner, prefix, delete_metric),
        };
        let mut by_library = Batch::default();
        by_library.push_message(message, flags);
        assert_eq!(by_hand.buf, by_library.buf, "{prefix} {spec:?}");
    }

    fn unicast(hops: NextHopSpecs) -> RouteSpec {
        RouteSpec::Unicast { hops, metric: 1024 }
    }

    fn hop(gateway: &str, ifindex: Option<u32>, onlink: bool) -> NextHopSpec {
        NextHopSpec {
            gateway: gateway.parse().unwrap(),
            ifindex,
            onlink,
        }
    }

    #[test]
    fn routes_are_encoded_as_netlink_packet_route_encodes_them() {
        let main = Owner {
            protocol: 12,
            table: 254,
        };
        let big = Owner {
            protocol: 186,
            table: 1000,
        };
        let create = NLM_F_CREATE | NLM_F_EXCL;
        let replace = NLM_F_CREATE | NLM_F_REPLACE;
        for owner in [main, big] {
            both(owner, "10.244.3.0/26", None, 0);
            both(owner, "fd00:244::/122", None, 0);
            both_at(owner, "10.244.3.0/26", None, Some(1024), 0);
            both(owner, "10.244.1.0/26", Some(RouteSpec::Blackhole), create);
            let one = unicast(smallvec::smallvec![hop("10.0.2.13", Some(7), true)]);
            both(owner, "10.244.3.0/26", Some(one), replace);
            let recursive = unicast(smallvec::smallvec![hop("10.0.2.13", None, false)]);
            both(owner, "10.244.3.0/26", Some(recursive), create);
            let multipath = unicast(smallvec::smallvec![
                hop("10.0.1.12", Some(2), false),
                hop("10.0.2.13", Some(7), true),
                hop("10.0.2.14", None, false),
            ]);
            both(owner, "10.244.3.0/26", Some(multipath), create);
            let v6 = unicast(smallvec::smallvec![hop("fd00:1::12", Some(2), false)]);
            both(owner, "fd00:244::/122", Some(v6), create);
            let v6_multipath = unicast(smallvec::smallvec![
                hop("fd00:1::12", Some(2), false),
                hop("fe80::1", Some(2), false),
            ]);
            both(owner, "fd00:244::/122", Some(v6_multipath), create);
        }
    }
}
