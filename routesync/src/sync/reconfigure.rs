//! New kernel settings or node addresses from the handle: under a new owner
//! (protocol or table), or with programming turned off, the routes of ours
//! under the old settings go first; then every prefix is classified again.

use proto::config::KernelConfig;

use crate::classify::NodeNetwork;

use super::remove::{delete_ours, known_ours};
use super::{owner, Worker};

impl Worker {
    /// New settings. A new protocol or table, or programming turned off,
    /// first removes every route of ours under the old settings; then every
    /// prefix is classified again.
    pub(super) fn reconfigure(&mut self, config: KernelConfig, node: NodeNetwork) {
        let moved = owner(&config) != owner(&self.config) || !config.enabled;
        if moved {
            let routes = &mut self.status.lock().routes;
            if let Some(mut kernel) = self.kernel.take() {
                let prefixes = known_ours(routes, &kernel);
                delete_ours(&mut kernel, prefixes);
            }
            routes.forget_kernel();
            self.kernel_error = None;
            self.sweep_at = None;
        }
        tracing::info!(
            enabled = config.enabled,
            protocol = config.protocol,
            table = config.table,
            uplink = %node.uplink,
            subnet = %node.subnet(),
            "kernel settings applied; classifying every route again"
        );
        if node != self.node {
            self.follow_uplink = false;
        }
        let ignored_changed = config.ignored_interfaces != self.config.ignored_interfaces;
        self.config = config;
        self.node = node;
        if let Some(learning) = self.learning.as_mut() {
            learning.rules.ignored_interfaces = self.config.ignored_interfaces.clone();
        }
        if self.config.enabled && self.kernel.is_none() {
            self.open_kernel();
        } else {
            self.refresh_node();
            if ignored_changed {
                self.learn_interfaces();
            }
        }
        self.publish_context();
        // Every prefix is in this pass anyway.
        self.repair.clear();
    }
}
