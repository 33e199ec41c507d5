//! Kernel route learning (`learn.rs`) fed from the worker's sockets: the
//! kernel's routes that are not ours listed when the sockets open or
//! notifications were lost, and the direct protocol's interface routes made
//! again when devices or addresses change.

use super::Worker;

impl Worker {
    /// Lists the kernel's routes that are not ours, for learning: at open,
    /// and after notices were lost.
    pub(super) fn list_for_learning(&mut self) {
        let (Some(learning), Some(kernel)) = (self.learning.as_mut(), self.kernel.as_mut()) else {
            return;
        };
        learning.prime_interfaces(kernel.addresses(), |index| kernel.link(index).cloned());
        match kernel.dump_theirs() {
            Ok(routes) => learning.listed(&routes, kernel.names()),
            Err(error) => tracing::warn!(%error, "cannot list the kernel's routes to learn them"),
        }
    }

    /// The direct protocol's routes, made again from the interfaces.
    pub(super) fn learn_interfaces(&mut self) {
        let (Some(learning), Some(kernel)) = (self.learning.as_mut(), self.kernel.as_ref()) else {
            return;
        };
        learning.interfaces(kernel.addresses(), |index| kernel.link(index).cloned());
    }
}
