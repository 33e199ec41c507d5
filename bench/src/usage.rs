//! What a daemon costs, read from /proc: CPU time to the nanosecond (the
//! sum of every thread's schedstat run time) and resident memory, current
//! and peak (VmRSS, VmHWM), summed over the daemon's processes.

use std::time::Duration;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu: Duration,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

impl Usage {
    /// CPU seconds from `earlier` to this sample (0 if threads that ran in
    /// between have gone, taking their time with them).
    pub fn cpu_since(&self, earlier: &Usage) -> f64 {
        self.cpu.saturating_sub(earlier.cpu).as_secs_f64()
    }
}

/// Samples the processes `pids` (one daemon, perhaps several processes:
/// FRR's bgpd and zebra). A process that is gone counts as nothing.
pub fn sample(pids: &[u32]) -> Usage {
    let mut usage = Usage::default();
    for pid in pids {
        usage.cpu += cpu(*pid);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        usage.rss_kib += kib(&status, "VmRSS:");
        usage.peak_rss_kib += kib(&status, "VmHWM:");
    }
    usage
}

/// The CPU time of one thread of this process (`tid` as
/// [`current_thread`] gave it); zero once it is gone.
pub fn thread_cpu(tid: u32) -> Duration {
    let path = format!("/proc/{}/task/{tid}/schedstat", std::process::id());
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// The calling thread's id, for [`thread_cpu`].
pub fn current_thread() -> u32 {
    nix::unistd::gettid().as_raw() as u32
}

fn cpu(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    tasks
        .filter_map(|task| {
            let path = task.ok()?.path().join("schedstat");
            let text = std::fs::read_to_string(path).ok()?;
            text.split_whitespace().next()?.parse::<u64>().ok()
        })
        .map(Duration::from_nanos)
        .sum()
}

fn kib(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_uses_cpu_and_memory() {
        let before = sample(&[std::process::id()]);
        // Some work to see the CPU time move.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert_ne!(x, 1);
        let after = sample(&[std::process::id()]);
        assert!(after.cpu > before.cpu);
        assert!(after.rss_kib > 0 && after.peak_rss_kib >= after.rss_kib);
        assert_eq!(sample(&[u32::MAX]), Usage::default(), "no such process");
        assert!(thread_cpu(current_thread()) > Duration::ZERO);
        assert_eq!(thread_cpu(u32::MAX), Duration::ZERO, "no such thread");
    }
}
