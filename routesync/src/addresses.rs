//! Notice of this host's addresses coming and going, for what must follow
//! them without polling: the node's registration (calico-node's
//! monitor-addresses polls every 60 s; this hears the kernel at once).

use std::io;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::netlink::monitor::{Event, Monitor};

/// A netlink socket subscribed to the IPv4 and IPv6 address groups, in the
/// namespace of the thread that opened it.
#[derive(Debug)]
pub struct AddressChanges {
    monitor: Monitor,
    events: Vec<Event>,
}

impl AddressChanges {
    pub fn open() -> io::Result<Self> {
        Ok(Self {
            monitor: Monitor::open_addresses()?,
            events: Vec::new(),
        })
    }

    /// Waits until an address comes or goes (or notices were lost: then
    /// one may have). Blocks the thread: run it on one of its own.
    pub fn wait(&mut self) -> io::Result<()> {
        loop {
            let mut fds = [PollFd::new(self.monitor.fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            if self.changed() {
                return Ok(());
            }
        }
    }

    /// Reads what is queued, without waiting: whether an address came or
    /// went, or notices were lost (then one may have).
    pub fn changed(&mut self) -> bool {
        self.events.clear();
        self.monitor.read(&mut self.events);
        self.events
            .iter()
            .any(|e| matches!(e, Event::Address(_) | Event::Overrun))
    }
}
