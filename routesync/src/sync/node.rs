//! The node as routes are classified: the configured address, or the
//! uplink's as the kernel has it when that differs (its prefix length, or a
//! new address once the configured one has been seen there and moved). A
//! change classifies every route again.

use std::net::IpAddr;

use ipnet::IpNet;

use super::Worker;

impl Worker {
    /// The node as routes are classified: the configured address, with the
    /// prefix length the uplink has for it; or, once the configured address
    /// has been seen on the uplink and has moved, the uplink's new address.
    /// A change re-classifies every route.
    pub(super) fn refresh_node(&mut self) {
        let mut node = self.node.clone();
        if let Some(kernel) = self
            .kernel
            .as_ref()
            .filter(|k| k.index_of(&self.node.uplink).is_some())
        {
            let addresses = kernel.addresses_of(&node.uplink);
            let on_uplink =
                |configured: IpNet| addresses.iter().any(|a| a.addr() == configured.addr());
            if on_uplink(self.node.address) {
                self.follow_uplink = true;
            }
            if self.follow_uplink {
                node.address = uplink_address(self.node.address, &addresses);
                node.address_v6 = self
                    .node
                    .address_v6
                    .map(|v6| uplink_address(v6, &addresses));
            }
        }
        if node == self.effective {
            return;
        }
        if node == self.node {
            tracing::info!(
                address = %node.address,
                subnet = %node.subnet(),
                "classifying every route with the configured address"
            );
        } else {
            tracing::warn!(
                configured = %self.node.address,
                kernel = %node.address,
                subnet = %node.subnet(),
                uplink = %node.uplink,
                "the uplink's address in the kernel is not the configured one; classifying every route with the kernel's"
            );
        }
        self.effective = node;
        self.publish_context();
        self.repair.extend(self.status.lock().routes.prefixes());
        self.schedule_repair();
    }
}

/// The uplink's address standing for `configured`: the same address with the
/// uplink's prefix length; or, when it is gone, the uplink's first address of
/// the family (not link-local); or `configured` when the uplink has none.
fn uplink_address(configured: IpNet, addresses: &[IpNet]) -> IpNet {
    if configured.addr().is_unspecified() {
        return configured;
    }
    if let Some(same) = addresses.iter().find(|a| a.addr() == configured.addr()) {
        return *same;
    }
    let link_local =
        |a: &IpNet| matches!(a.addr(), IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
    addresses
        .iter()
        .find(|a| a.addr().is_ipv4() == configured.addr().is_ipv4() && !link_local(a))
        .copied()
        .unwrap_or(configured)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn the_uplinks_address_stands_for_the_configured_one() {
        let configured = net("10.0.1.11/24");
        assert_eq!(
            uplink_address(configured, &[net("10.0.1.11/16")]),
            net("10.0.1.11/16")
        );
        assert_eq!(
            uplink_address(configured, &[net("fe80::1/64"), net("10.0.2.11/24")]),
            net("10.0.2.11/24")
        );
        assert_eq!(uplink_address(configured, &[]), configured);
        let v6 = net("fd00:1::11/64");
        assert_eq!(
            uplink_address(v6, &[net("fe80::1/64"), net("10.0.2.11/24")]),
            v6
        );
        let none = net("0.0.0.0/32");
        assert_eq!(uplink_address(none, &[net("10.0.2.11/24")]), none);
    }
}
