//! The two timed phases every feeding scenario has: announce everything
//! until the observer holds it all, then withdraw everything until it holds
//! nothing, with the daemon's usage sampled around the first.

use std::time::Duration;

use testnets::{Error, Result};

use super::bgp_end::Feeder;
use super::tally::Tally;
use super::usage::{self, Usage};

/// How long the daemon is left alone before its steady memory is read.
const SETTLE: Duration = Duration::from_millis(500);

/// What the phases measured.
#[derive(Clone, Copy, Debug)]
pub struct Timed {
    /// From the first byte fed to 100 % and 99 % at the observer.
    pub fill: Duration,
    pub fill_99: Duration,
    /// From the first withdrawal to an empty observer.
    pub empty: Duration,
    /// The daemon before feeding and once the observer was full.
    pub before: Usage,
    pub after: Usage,
    /// The daemon once it had been quiet for a while after that: its
    /// steady memory (benchmarks.md §5 S1), without the buffers of the fill.
    pub steady: Usage,
}

/// Feeds `announce` until `tally` is full; runs `when_full` (untimed
/// checks); feeds `withdraw` until it is empty. `what` names the observer
/// in errors ("the sink", "the kernel").
pub fn fill_and_empty(
    feeder: &mut Feeder,
    tally: &Tally,
    pids: &[u32],
    (announce, withdraw): (&[u8], &[u8]),
    deadline: Duration,
    what: &str,
    when_full: impl FnOnce() -> Result<()>,
) -> Result<Timed> {
    let before = usage::sample(pids);
    tally.reset_marks();
    let (t0, _) = feeder.feed(announce)?;
    tally.wait(&format!("every prefix in {what}"), deadline, |s| {
        s.marks.full.is_some()
    })?;
    let filled = tally.marks();
    let after = usage::sample(pids);
    std::thread::sleep(SETTLE);
    let steady = usage::sample(pids);
    when_full()?;

    tally.reset_marks();
    let (w0, _) = feeder.feed(withdraw)?;
    tally.wait(&format!("{what} to be empty"), deadline, |s| {
        s.marks.empty.is_some()
    })?;
    let emptied = tally.marks();
    let (Some(full), Some(full_99), Some(empty)) = (filled.full, filled.full_99, emptied.empty)
    else {
        return Err(Error::Bench(format!("{what}: a mark was not reached")));
    };
    Ok(Timed {
        fill: full - t0,
        fill_99: full_99 - t0,
        empty: empty - w0,
        before,
        after,
        steady,
    })
}
