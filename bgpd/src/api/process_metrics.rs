//! The standard `process_*` metrics Prometheus' client libraries export, so
//! dashboards and alerts written for any Prometheus target work for bgpd:
//! read from /proc for this process when /metrics is asked.

use std::fmt::Write as _;

/// `/proc` times are in USER_HZ, 100 on every Linux (a fixed ABI).
const USER_HZ: f64 = 100.0;

/// Appends the process_* samples (those /proc gives; none if it does not).
pub fn write(out: &mut String) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    };
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command (in parentheses, which may hold spaces):
    // utime and stime are the 14th and 15th, starttime the 22nd.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    let boot = std::fs::read_to_string("/proc/stat")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    let open_fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count()).ok();
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
    let mut sample = |name: &str, kind: &str, help: &str, value: Option<f64>| {
        if let Some(value) = value {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
    };
    sample(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        field(14)
            .zip(field(15))
            .map(|(user, system)| (user + system) / USER_HZ),
    );
    sample(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        kib("VmRSS:").map(|k| (k * 1024) as f64),
    );
    sample(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        kib("VmSize:").map(|k| (k * 1024) as f64),
    );
    sample(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        open_fds.map(|n| n as f64),
    );
    sample(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        max_fds.map(|n| n as f64),
    );
    sample(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        field(22)
            .zip(boot)
            .map(|(ticks, boot)| boot + ticks / USER_HZ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_described() {
        let mut out = String::new();
        write(&mut out);
        assert!(out.contains("\nprocess_cpu_seconds_total "), "{out}");
        for name in [
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
        ] {
            let value: f64 = out
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("no {name}: {out}"))
                .parse()
                .unwrap();
            assert!(value > 0.0, "{name} = {value}");
        }
        let start: f64 = out
            .lines()
            .find_map(|l| l.strip_prefix("process_start_time_seconds "))
            .unwrap()
            .parse()
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(start <= now && start > now - 86_400.0, "{start} vs {now}");
    }
}
