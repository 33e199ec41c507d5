//! Which interface is the node's uplink: the one that holds the node's
//! address (as Calico's node address is detected on an interface). Read from
//! the kernel of the caller's namespace.

use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::RouteNetlinkMessage;

use crate::netlink::message::{get_link_by_index, link_of};
use crate::netlink::{Batch, Transport};

/// The name of the interface holding `address`, or `None` when no interface
/// has it. Errors are the kernel's, as text.
pub fn interface_with(address: IpAddr) -> Result<Option<String>, String> {
    let mut transport = Transport::open().map_err(|e| format!("netlink: {e}"))?;
    let addresses = transport
        .dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))
        .map_err(|e| e.to_string())?;
    let index = addresses.iter().find_map(|message| {
        let RouteNetlinkMessage::NewAddress(a) = message else { return None };
        let holds = a.attributes.iter().any(|attr| {
            matches!(attr, AddressAttribute::Address(ip) | AddressAttribute::Local(ip) if *ip == address)
        });
        holds.then_some(a.header.index)
    });
    let Some(index) = index else { return Ok(None) };
    let mut batch = Batch::default();
    batch.push_message(get_link_by_index(index), 0);
    let answers = transport.transact(&mut batch, &mut || {});
    Ok(answers
        .iter()
        .flat_map(|answer| answer.replies.iter())
        .find_map(link_of)
        .map(|(_, name)| name))
}
