//! Wall-clock times as BIRD prints them, in UTC (containers run in UTC; BIRD
//! uses the local zone, which is the same there).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// (year, month, day, hour, minute, second) of `time`, UTC.
pub fn civil(time: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rest / 3600) as u32,
        (rest % 3600 / 60) as u32,
        (rest % 60) as u32,
    )
}

/// `YYYY-MM-DD HH:MM:SS`.
pub fn date_time(time: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(time);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// RFC 3339 in UTC, `YYYY-MM-DDTHH:MM:SSZ`, as Kubernetes writes a time.
pub fn rfc3339(time: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(time);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// BIRD's `timeformat protocol` default: `HH:MM:SS` within the last 20 hours,
/// else `YYYY-MM-DD` (docs/CALICO-CONTRACT.md §5.1).
pub fn since(time: SystemTime, now: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(time);
    match now.duration_since(time) {
        Ok(age) if age >= Duration::from_secs(20 * 3600) => format!("{y:04}-{mo:02}-{d:02}"),
        _ => format!("{h:02}:{mi:02}:{s:02}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(UNIX_EPOCH), (1970, 1, 1, 0, 0, 0));
        // 2026-11-22 03:04:05 UTC.
        let t = UNIX_EPOCH + Duration::from_secs(1_795_316_645);
        assert_eq!(date_time(t), "2026-11-22 03:04:05");
        assert_eq!(rfc3339(t), "2026-11-22T03:04:05Z");
        assert_eq!(
            date_time(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00"
        );
    }

    #[test]
    fn since_switches_to_a_date_after_twenty_hours() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_316_645);
        assert_eq!(since(t, t + Duration::from_secs(3600)), "03:04:05");
        assert_eq!(since(t, t + Duration::from_secs(21 * 3600)), "2026-11-22");
    }
}
