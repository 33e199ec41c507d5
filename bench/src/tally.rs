//! A workload's prefixes, and which of them an observer (the sink, a kernel
//! table) holds now, with the moments its count first crossed the marks a
//! run times: 99 % and 100 % while filling, 1 % and none while emptying.
//! Prefixes map to indices by arithmetic, so tallying allocates nothing.

use std::net::Ipv4Addr;
use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bgpd::packet::UpdateMessage;
use ipnet::{IpNet, Ipv4Net};
use testnets::{Error, Result};

/// `count` consecutive IPv4 prefixes of length `len` from `base`.
#[derive(Clone, Copy, Debug)]
pub struct Prefixes {
    base: u32,
    len: u8,
    count: usize,
}

impl Prefixes {
    pub fn new(base: Ipv4Addr, len: u8, count: usize) -> Self {
        Self {
            base: u32::from(base),
            len,
            count,
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn nth(&self, i: usize) -> Ipv4Net {
        let step = 1u32 << (32 - self.len);
        let addr = self.base + step * i as u32;
        Ipv4Net::new(Ipv4Addr::from(addr), self.len).expect("length checked in new")
    }

    pub fn index_of(&self, addr: Ipv4Addr, len: u8) -> Option<usize> {
        if len != self.len {
            return None;
        }
        let offset = u32::from(addr).checked_sub(self.base)?;
        let index = (offset >> (32 - self.len)) as usize;
        (index < self.count).then_some(index)
    }
}

impl State {
    /// Whether prefix `i` is held now.
    pub fn holds(&self, i: usize) -> bool {
        self.present.get(i).copied().unwrap_or(false)
    }
}

/// When the count first crossed each mark since the last reset.
#[derive(Clone, Copy, Debug, Default)]
pub struct Marks {
    pub full_99: Option<Instant>,
    pub full: Option<Instant>,
    pub empty_99: Option<Instant>,
    pub empty: Option<Instant>,
}

#[derive(Debug)]
pub struct State {
    present: Vec<bool>,
    /// When each prefix last came or went, when the tally keeps that.
    stamps: Option<Vec<Option<Instant>>>,
    pub count: usize,
    /// Prefixes seen that are not the workload's (a leak, or another route).
    pub foreign: usize,
    pub marks: Marks,
    pub last_change: Option<Instant>,
    closed: bool,
}

#[derive(Debug)]
pub struct Tally {
    prefixes: Prefixes,
    /// How many of them the observer should end up holding: all, unless
    /// some are never its to hold (a node's own blocks).
    expected: usize,
    /// Indices not counted either way: what the observer itself announces
    /// (a reflector may send a client's own routes back, RFC 4456 §8).
    ignored: Range<usize>,
    state: Mutex<State>,
    changed: Condvar,
}

impl Tally {
    pub fn new(prefixes: Prefixes) -> Self {
        Self::expecting(prefixes, prefixes.count)
    }

    /// A tally that is full at `expected` of the prefixes.
    pub fn expecting(prefixes: Prefixes, expected: usize) -> Self {
        Self {
            prefixes,
            expected,
            ignored: 0..0,
            state: Mutex::new(State {
                present: vec![false; prefixes.count],
                stamps: None,
                count: 0,
                foreign: 0,
                marks: Marks::default(),
                last_change: None,
                closed: false,
            }),
            changed: Condvar::new(),
        }
    }

    /// A tally of every prefix but those at `own`, which are neither
    /// counted nor foreign.
    pub fn all_but(prefixes: Prefixes, own: Range<usize>) -> Self {
        let mut tally = Self::expecting(prefixes, prefixes.count - own.len());
        tally.ignored = own;
        tally
    }

    /// Also keeps when each prefix last came or went ([`Tally::stamp`]).
    pub fn with_stamps(self) -> Self {
        self.lock().stamps = Some(vec![None; self.prefixes.count]);
        self
    }

    /// When prefix `i` last came or went, if the tally keeps stamps.
    pub fn stamp(&self, i: usize) -> Option<Instant> {
        self.lock().stamps.as_ref()?.get(i).copied().flatten()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets the marks, before a new phase is timed.
    pub fn reset_marks(&self) {
        self.lock().marks = Marks::default();
    }

    pub fn marks(&self) -> Marks {
        self.lock().marks
    }

    #[cfg(test)]
    fn count(&self) -> usize {
        self.lock().count
    }

    /// The observer is going away: its reader may stop without an error.
    pub fn close(&self) {
        self.lock().closed = true;
    }

    pub fn closed(&self) -> bool {
        self.lock().closed
    }

    /// Applies what an UPDATE announces and withdraws (IPv4 unicast).
    pub fn apply(&self, update: &UpdateMessage) {
        let mut state = self.lock();
        for n in &update.withdrawn {
            self.set(&mut state, n.prefix, false);
        }
        if let Some(unreach) = &update.attrs.mp_unreach {
            for n in &unreach.withdrawn {
                self.set(&mut state, n.prefix, false);
            }
        }
        for n in &update.nlri {
            self.set(&mut state, n.prefix, true);
        }
        if let Some(reach) = &update.attrs.mp_reach {
            for n in &reach.nlri {
                self.set(&mut state, n.prefix, true);
            }
        }
        self.finish(&mut state);
    }

    /// Applies a batch of kernel route events: (destination, added).
    pub fn apply_routes(&self, events: impl IntoIterator<Item = (Ipv4Net, bool)>) {
        let mut state = self.lock();
        for (prefix, added) in events {
            self.set(&mut state, IpNet::V4(prefix), added);
        }
        self.finish(&mut state);
    }

    /// Replaces what is present with `held` (after an observer lost events).
    pub fn resync(&self, held: impl IntoIterator<Item = Ipv4Net>) {
        let mut state = self.lock();
        state.present.iter_mut().for_each(|p| *p = false);
        state.count = 0;
        for prefix in held {
            self.set(&mut state, IpNet::V4(prefix), true);
        }
        self.finish(&mut state);
    }

    fn set(&self, state: &mut State, prefix: IpNet, present: bool) {
        let IpNet::V4(prefix) = prefix else {
            state.foreign += 1;
            return;
        };
        let Some(i) = self.prefixes.index_of(prefix.addr(), prefix.prefix_len()) else {
            state.foreign += usize::from(present);
            return;
        };
        if self.ignored.contains(&i) {
            return;
        }
        if state.present[i] != present {
            state.present[i] = present;
            if let Some(stamps) = &mut state.stamps {
                stamps[i] = Some(Instant::now());
            }
            if present {
                state.count += 1;
            } else {
                state.count -= 1;
            }
        }
    }

    fn finish(&self, state: &mut State) {
        let now = Instant::now();
        let total = self.expected;
        let marks = &mut state.marks;
        if state.count * 100 >= total * 99 && marks.full_99.is_none() {
            marks.full_99 = Some(now);
        }
        if state.count == total && marks.full.is_none() {
            marks.full = Some(now);
        }
        if state.count * 100 <= total && marks.empty_99.is_none() {
            marks.empty_99 = Some(now);
        }
        if state.count == 0 && marks.empty.is_none() {
            marks.empty = Some(now);
        }
        state.last_change = Some(now);
        self.changed.notify_all();
    }

    /// Waits until `done` holds of the state; the error shows the count.
    pub fn wait(&self, what: &str, timeout: Duration, done: impl Fn(&State) -> bool) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while !done(&state) {
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    what: what.to_owned(),
                    waited: timeout,
                    state: format!(
                        "{} of {} prefixes held, {} foreign",
                        state.count, self.expected, state.foreign
                    ),
                });
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(())
    }
}

/// How long one change may take to reach every observer.
const CHANGE_DEADLINE: Duration = Duration::from_secs(30);

/// Waits until every kernel of a cluster (node i's tally at i - 1) but
/// node `origin`'s holds, or lacks, the prefixes at `indices`; returns the
/// time from `t0` to the last of those changes. The tallies keep stamps.
pub fn settled(
    kernels: &[Arc<Tally>],
    origin: usize,
    indices: &[usize],
    present: bool,
    t0: Instant,
) -> Result<Duration> {
    let each = settled_each(kernels, origin, indices, present, t0)?;
    Ok(each.into_iter().max().unwrap_or_default())
}

/// Like [`settled`], the time of each kernel but `origin`'s: from `t0` to
/// its last change of those prefixes.
pub fn settled_each(
    kernels: &[Arc<Tally>],
    origin: usize,
    indices: &[usize],
    present: bool,
    t0: Instant,
) -> Result<Vec<Duration>> {
    let what = if present { "gain" } else { "lose" };
    let mut times = Vec::with_capacity(kernels.len());
    for (i, tally) in kernels.iter().enumerate() {
        if i + 1 == origin {
            continue;
        }
        let mut last = t0;
        for &index in indices {
            tally.wait(
                &format!("n{}'s kernel to {what} prefix {index} of n{origin}", i + 1),
                CHANGE_DEADLINE,
                |s| s.holds(index) == present,
            )?;
            if let Some(stamp) = tally.stamp(index) {
                last = last.max(stamp);
            }
        }
        times.push(last.saturating_duration_since(t0));
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_map_to_indices_and_back() {
        let p = Prefixes::new(Ipv4Addr::new(11, 0, 0, 0), 26, 1000);
        assert_eq!(p.nth(0).to_string(), "11.0.0.0/26");
        assert_eq!(p.nth(5).to_string(), "11.0.1.64/26");
        assert_eq!(p.index_of(Ipv4Addr::new(11, 0, 1, 64), 26), Some(5));
        assert_eq!(p.index_of(Ipv4Addr::new(11, 0, 1, 64), 24), None);
        assert_eq!(p.index_of(Ipv4Addr::new(10, 0, 0, 0), 26), None);
        assert_eq!(p.index_of(p.nth(1000).addr(), 26), None, "past the end");
    }

    #[test]
    fn marks_are_set_when_the_count_crosses_them() {
        let p = Prefixes::new(Ipv4Addr::new(11, 0, 0, 0), 24, 100);
        let tally = Tally::new(p);
        tally.apply_routes((0..98).map(|i| (p.nth(i), true)));
        assert!(tally.marks().full_99.is_none());
        tally.apply_routes([(p.nth(98), true), (p.nth(98), true)]);
        assert_eq!(tally.count(), 99, "a repeated add counts once");
        assert!(tally.marks().full_99.is_some() && tally.marks().full.is_none());
        tally.apply_routes([(p.nth(99), true), ("10.0.0.0/24".parse().unwrap(), true)]);
        assert!(tally.marks().full.is_some());
        assert_eq!(tally.lock().foreign, 1);
        tally.reset_marks();
        tally.apply_routes((0..99).map(|i| (p.nth(i), false)));
        assert!(tally.marks().empty_99.is_some() && tally.marks().empty.is_none());
        tally.apply_routes([(p.nth(99), false)]);
        assert!(tally.marks().empty.is_some());
        assert!(tally.marks().full.is_none(), "reset forgot the fill");
    }

    #[test]
    fn an_observers_own_prefixes_are_not_counted() {
        let p = Prefixes::new(Ipv4Addr::new(10, 244, 0, 0), 26, 6);
        let tally = Tally::all_but(p, 2..4);
        tally.apply_routes((0..4).map(|i| (p.nth(i), true)));
        assert_eq!(tally.count(), 2, "2 and 3 are its own");
        assert_eq!(tally.lock().foreign, 0);
        tally.apply_routes((4..6).map(|i| (p.nth(i), true)));
        assert!(tally.marks().full.is_some(), "full at 4 of 6");
    }

    #[test]
    fn stamps_say_when_each_prefix_came_and_went() {
        let p = Prefixes::new(Ipv4Addr::new(10, 244, 0, 0), 26, 3);
        let tally = Tally::new(p).with_stamps();
        assert_eq!(tally.stamp(1), None);
        tally.apply_routes([(p.nth(1), true)]);
        let came = tally.stamp(1).unwrap();
        assert!(tally.lock().holds(1) && !tally.lock().holds(0));
        tally.apply_routes([(p.nth(1), true)]);
        assert_eq!(tally.stamp(1), Some(came), "no change, no new stamp");
        tally.apply_routes([(p.nth(1), false)]);
        assert!(tally.stamp(1).unwrap() >= came && !tally.lock().holds(1));
        assert_eq!(Tally::new(p).stamp(0), None, "kept only when asked for");
    }
}
