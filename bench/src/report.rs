//! The report: `BENCHMARKS.md` with the machine, the versions, the command,
//! and per scenario a table of medians (min–max) with each peer's ratio to
//! bgpd; and one SVG chart per scenario of its primary figure, drawn here.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use testnets::speakers::bird::BirdVersion;
use testnets::{Error, Result};

use super::stats::Summary;
use super::{Daemon, Metric, ScenarioResult};

/// Writes `BENCHMARKS.md` and `benchmarks/<scenario>.svg` under `dir`. A
/// run of some scenarios replaces their sections of an existing report and
/// keeps the others, each of which says what measured it.
pub fn write(dir: &Path, results: &[ScenarioResult], command: &str, quick: bool) -> Result<()> {
    let charts = dir.join("benchmarks");
    std::fs::create_dir_all(&charts).map_err(Error::io(format!("create {}", charts.display())))?;
    for result in results {
        let path = charts.join(format!("{}.svg", result.id.to_lowercase()));
        std::fs::write(&path, chart(result))
            .map_err(Error::io(format!("write {}", path.display())))?;
    }
    let path = dir.join("BENCHMARKS.md");
    let measured_by = format!(
        "Measured by `{command}` on {} (commit {}).",
        today(),
        commit()
    );
    let mut sections: Vec<(String, String)> = results
        .iter()
        .map(|r| (r.id.to_owned(), scenario_section(r, &measured_by)))
        .collect();
    // A quick run stands alone: its figures mean little.
    if !quick {
        if let Ok(old) = std::fs::read_to_string(&path) {
            for (id, text) in kept_sections(&old) {
                if !sections.iter().any(|(ran, _)| *ran == id) {
                    sections.push((id, text));
                }
            }
        }
    }
    sections.sort_by_key(|(id, _)| id[1..].parse::<u32>().unwrap_or(u32::MAX));
    std::fs::write(&path, markdown(&sections, quick))
        .map_err(Error::io(format!("write {}", path.display())))
}

/// Today's date (UTC), as 2026-12-03.
fn today() -> String {
    let (year, month, day, ..) = bgpd::api::clock::civil(std::time::SystemTime::now());
    format!("{year}-{month:02}-{day:02}")
}

/// The commit the report is written at (the work tree it is run in).
fn commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

/// The scenario sections of an existing report (`## S<n> ...` to the next
/// `## `), by id. One from a report of before this format, without its
/// `Measured by` line, gets one naming that report's command.
fn kept_sections(old: &str) -> Vec<(String, String)> {
    let command = old
        .lines()
        .find_map(|l| l.strip_prefix("Command: "))
        .map(str::to_owned);
    let mut sections = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in old.split_inclusive('\n') {
        if let Some(heading) = line.strip_prefix("## ") {
            sections.extend(current.take());
            let id = heading.split_whitespace().next().unwrap_or("");
            let is_scenario = id
                .strip_prefix('S')
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
            if is_scenario {
                current = Some((id.to_owned(), line.to_owned()));
                if !old.contains("\nMeasured by `") {
                    if let Some(command) = &command {
                        let _ = write!(
                            current.as_mut().map(|(_, t)| t).expect("just set"),
                            "\nMeasured by {command}, in a run of every scenario.\n"
                        );
                    }
                }
            }
            continue;
        }
        if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
        }
    }
    sections.extend(current);
    sections
}

fn markdown(sections: &[(String, String)], quick: bool) -> String {
    let mut out = String::from("# Benchmarks\n\n");
    let _ = writeln!(
        out,
        "podroute's bgpd side by side with BIRD 2, BIRD 1.6, FRR and GoBGP, in one run on one \
         machine (scenarios of `../shared/reference/benchmarks.md` §5). Written by \
         `scripts/bench.sh` (the `bench` binary); do not edit by hand. Each scenario says the \
         command and the commit that measured it: a run of some scenarios replaces theirs.\n"
    );
    if quick {
        out.push_str("**Quick run**: small sizes and one run each; it proves the harness, its figures mean little.\n\n");
    }
    out.push_str("## Machine and versions\n\n");
    for (what, value) in machine() {
        let _ = writeln!(out, "- {what}: {value}");
    }
    out.push_str("\n## Method\n\n");
    out.push_str(
        "Each run starts a fresh network of namespaces and fresh daemons. The harness (Rust, in \
         the `bench` process) opens its BGP sessions itself where it is a peer (feeder, sink, \
         the fleet of S2; the daemon's sessions passive), writes pre-encoded UPDATEs, and \
         timestamps every prefix at a sink or every kernel route event (netlink watchers in \
         every namespace); the daemon is never polled while timing. The harness's sessions \
         offer a hold time of 240 s and send keepalives every 20 s. One warm-up and five \
         measured runs per daemon and size, the daemons' order shuffled each round; figures \
         are medians with min–max. CPU is the daemon's own (schedstat of every thread; FRR \
         counts bgpd and zebra), memory its resident set. **Ratio** is the peer's median over \
         bgpd's for times, CPU and memory, bgpd's over the peer's for rates: above 1 means bgpd \
         does better. The table of ratios under each scenario gives it for every figure.\n\n",
    );
    for (_, text) in sections {
        out.push_str(text);
    }
    out
}

fn scenario_section(result: &ScenarioResult, measured_by: &str) -> String {
    let mut text = String::new();
    let out = &mut text;
    let _ = writeln!(out, "## {} {}\n", result.id, result.title);
    let _ = writeln!(out, "{measured_by}\n");
    let _ = writeln!(out, "{}\n", result.method);
    let _ = writeln!(
        out,
        "![{} chart](benchmarks/{}.svg)\n",
        result.id,
        result.id.to_lowercase()
    );
    let primary = &result.metrics[0];
    // A scenario only bgpd runs (no other daemon reads Calico's etcd) has no
    // ratios: its own reference figures stand in the table.
    let compared = result.rows.iter().any(|r| r.daemon != Daemon::Bgpd);
    let ratio_column = format!("ratio ({})", primary.label);
    table_header(
        out,
        result.metrics,
        compared.then_some(ratio_column.as_str()),
    );
    for size in result.sizes() {
        let bgpd = result
            .row(size, Daemon::Bgpd)
            .and_then(|r| r.summaries.get(primary.key));
        for row in result.rows.iter().filter(|r| r.size == size) {
            let _ = write!(out, "| {} | {} |", group(size), row.daemon);
            for metric in result.metrics {
                let cell = row
                    .summaries
                    .get(metric.key)
                    .map_or_else(|| "–".to_owned(), cell);
                let _ = write!(out, " {cell} |");
            }
            if !compared {
                out.push('\n');
                continue;
            }
            let ratio = match (row.daemon, bgpd, row.summaries.get(primary.key)) {
                (Daemon::Bgpd, Some(_), _) => "1".to_owned(),
                (_, Some(ours), Some(theirs)) => format!("{:.2}", ratio(primary, ours, theirs)),
                _ => "–".to_owned(),
            };
            let _ = writeln!(out, " {ratio} |");
        }
    }
    if compared {
        ratios_table(out, result);
    }
    let failures: Vec<String> = result
        .rows
        .iter()
        .flat_map(|r| {
            r.failures
                .iter()
                .map(move |f| format!("- {} at {}: {f}", r.daemon, group(r.size)))
        })
        .collect();
    if !failures.is_empty() {
        out.push_str("\nFailed runs (left out of the figures):\n\n");
        for f in failures {
            let _ = writeln!(out, "{}", f.replace('\n', " "));
        }
    }
    out.push('\n');
    text
}

/// A table's header: size, daemon, a column per figure, and `last`.
fn table_header(out: &mut String, metrics: &[Metric], last: Option<&str>) {
    out.push_str("| size | daemon |");
    let labels = metrics.iter().map(|m| m.label).chain(last);
    for label in labels.clone() {
        let _ = write!(out, " {label} |");
    }
    out.push_str("\n|---|---|");
    for _ in labels {
        out.push_str("---|");
    }
    out.push('\n');
}

/// Every peer's ratio to bgpd for every figure, a row per size and peer.
fn ratios_table(out: &mut String, result: &ScenarioResult) {
    out.push_str("\nRatios, peer / bgpd (above 1: bgpd does better):\n\n");
    table_header(out, result.metrics, None);
    for size in result.sizes() {
        let Some(bgpd) = result.row(size, Daemon::Bgpd) else {
            continue;
        };
        for row in result
            .rows
            .iter()
            .filter(|r| r.size == size && r.daemon != Daemon::Bgpd)
        {
            let _ = write!(out, "| {} | {} |", group(size), row.daemon);
            for metric in result.metrics {
                let cell = match (
                    bgpd.summaries.get(metric.key),
                    row.summaries.get(metric.key),
                ) {
                    (Some(ours), Some(theirs)) => format!("{:.2}", ratio(metric, ours, theirs)),
                    _ => "–".to_owned(),
                };
                let _ = write!(out, " {cell} |");
            }
            out.push('\n');
        }
    }
}

/// Above 1 when bgpd does better; 1 when both are the same, zero
/// included (no missed packets on either side is a tie, not a NaN).
pub fn ratio(metric: &Metric, bgpd: &Summary, peer: &Summary) -> f64 {
    if bgpd.median == peer.median {
        1.0
    } else if metric.lower_is_better {
        peer.median / bgpd.median
    } else {
        bgpd.median / peer.median
    }
}

fn cell(s: &Summary) -> String {
    if s.runs == 1 || (s.max - s.min).abs() < f64::EPSILON {
        number(s.median)
    } else {
        format!("{} ({}–{})", number(s.median), number(s.min), number(s.max))
    }
}

/// Three significant figures, no exponent.
fn number(v: f64) -> String {
    let magnitude = if v == 0.0 {
        0
    } else {
        v.abs().log10().floor() as i32
    };
    let decimals = (2 - magnitude).clamp(0, 6) as usize;
    format!("{v:.decimals$}")
}

/// 1000000 as "1,000,000".
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn machine() -> Vec<(&'static str, String)> {
    let first_line = |program: &str, args: &[&str]| -> String {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| {
                let text = if o.stdout.is_empty() {
                    o.stderr
                } else {
                    o.stdout
                };
                String::from_utf8_lossy(&text)
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim()
                    .to_owned()
            })
            .unwrap_or_else(|| "not found".into())
    };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or_else(String::new, |kib| {
            format!("{:.1} GiB", kib as f64 / 1048576.0)
        });
    let bird16 = BirdVersion::V1_6.sbin().join("bird");
    vec![
        ("CPU", format!("{model}, {cores} cores")),
        ("memory", memory),
        ("kernel", first_line("uname", &["-r"])),
        ("BIRD 2", first_line("bird", &["--version"])),
        (
            "BIRD 1.6",
            first_line(&bird16.to_string_lossy(), &["--version"]),
        ),
        ("FRR", first_line("/usr/lib/frr/bgpd", &["--version"])),
        ("GoBGP", first_line("gobgpd", &["--version"])),
    ]
}

const PALETTE: [&str; 5] = ["#d62728", "#1f77b4", "#9467bd", "#2ca02c", "#ff7f0e"];

/// Grouped bars of the primary figure's medians, one group per size, on a
/// log scale (the daemons differ by orders of magnitude).
fn chart(result: &ScenarioResult) -> String {
    let metric = &result.metrics[0];
    let sizes = result.sizes();
    let daemons: Vec<Daemon> = {
        let mut d: Vec<Daemon> = result.rows.iter().map(|r| r.daemon).collect();
        d.sort();
        d.dedup();
        d
    };
    let values: Vec<f64> = result
        .rows
        .iter()
        .filter_map(|r| r.summaries.get(metric.key).map(|s| s.median))
        .filter(|v| *v > 0.0)
        .collect();
    // With no figure above zero (every daemon at 0 ms), the axis still has a
    // decade to show: an infinite bound would make the grid loop forever.
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let lo = if lo.is_finite() { lo.max(1e-9) } else { 1.0 };
    let hi = values.iter().copied().fold(0.0, f64::max).max(lo * 10.0);
    let (lo_exp, hi_exp) = (lo.log10().floor(), hi.log10().ceil());
    let (width, height, left, top, bottom) = (760.0, 360.0, 70.0, 40.0, 60.0);
    let plot_h = height - top - bottom;
    let y = |v: f64| top + plot_h * (1.0 - (v.log10() - lo_exp) / (hi_exp - lo_exp));
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"20\" font-size=\"14\">{} {}: {} (log scale, median)</text>\n",
        result.id, result.title, metric.label
    );
    let mut exp = lo_exp;
    while exp <= hi_exp {
        let v = 10f64.powf(exp);
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            width - 10.0,
            left - 6.0,
            y(v) + 4.0,
            number(v),
            y = y(v)
        );
        exp += 1.0;
    }
    let group_w = (width - left - 10.0) / sizes.len().max(1) as f64;
    let bar_w = (group_w * 0.8) / daemons.len().max(1) as f64;
    for (g, size) in sizes.iter().enumerate() {
        let x0 = left + g as f64 * group_w + group_w * 0.1;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x0 + group_w * 0.4,
            height - bottom + 18.0,
            group(*size)
        );
        for (i, daemon) in daemons.iter().enumerate() {
            let Some(s) = result
                .row(*size, *daemon)
                .and_then(|r| r.summaries.get(metric.key))
            else {
                continue;
            };
            let top_y = y(s.median.max(lo));
            let x = x0 + i as f64 * bar_w;
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{top_y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{daemon}: {}</title></rect>",
                bar_w * 0.9,
                (top + plot_h - top_y).max(0.0),
                PALETTE[*daemon as usize % PALETTE.len()],
                number(s.median)
            );
        }
    }
    for (i, daemon) in daemons.iter().enumerate() {
        let x = left + i as f64 * 110.0;
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{daemon}</text>",
            height - 24.0,
            PALETTE[*daemon as usize % PALETTE.len()],
            x + 16.0,
            height - 14.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Row;

    #[test]
    fn a_partial_run_keeps_the_other_scenarios_sections() {
        let old = "# Benchmarks\n\nCommand: `testnets bench --out .`\n\n## Machine and versions\n\n- CPU: x\n\n\
                   ## Method\n\nm\n\n## S1 ingest\n\ntable 1\n\n## S6 etcd\n\ntable 6\n";
        let kept = kept_sections(old);
        let ids: Vec<&str> = kept.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["S1", "S6"], "machine and method are not scenarios");
        assert_eq!(
            kept[0].1,
            "## S1 ingest\n\nMeasured by `testnets bench --out .`, in a run of every scenario.\n\ntable 1\n\n"
        );
        // A report of this format keeps its sections as they are.
        let new = "# Benchmarks\n\n## S7 big\n\nMeasured by `x` on 2026-12-03 (commit abc).\n\nt\n";
        assert_eq!(
            kept_sections(new),
            [("S7".to_owned(), new[14..].to_owned())]
        );
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(1234.5), "1234");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(0.012345), "0.0123");
        assert_eq!(group(1_000_000), "1,000,000");
        assert_eq!(group(500), "500");
    }

    #[test]
    fn ratios_favour_bgpd_above_one() {
        let s = |m| Summary {
            median: m,
            min: m,
            max: m,
            runs: 1,
        };
        let time = Metric::lower("t", "t");
        let rate = Metric {
            lower_is_better: false,
            ..time
        };
        assert_eq!(ratio(&time, &s(10.0), &s(30.0)), 3.0);
        assert_eq!(ratio(&rate, &s(300.0), &s(100.0)), 3.0);
        assert_eq!(ratio(&time, &s(0.0), &s(0.0)), 1.0, "a tie at zero");
        assert_eq!(ratio(&time, &s(0.0), &s(2.0)), f64::INFINITY);
    }

    #[test]
    fn a_chart_of_figures_all_zero_is_drawn() {
        const METRICS: &[Metric] = &[Metric::lower("t", "time")];
        let row = |daemon| Row {
            size: 20,
            daemon,
            summaries: [("t", Summary::of(&[0.0]).unwrap())].into_iter().collect(),
            failures: Vec::new(),
        };
        let result = ScenarioResult {
            id: "S3",
            title: "mesh",
            method: "",
            metrics: METRICS,
            rows: vec![row(Daemon::Bgpd), row(Daemon::Bird2)],
        };
        let svg = chart(&result);
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    #[test]
    fn every_figure_of_every_peer_gets_a_ratio() {
        const METRICS: &[Metric] = &[Metric::lower("t", "time"), Metric::higher("r", "rate")];
        let row = |daemon, t: f64, r: Option<f64>| Row {
            size: 10,
            daemon,
            summaries: [("t", t)]
                .into_iter()
                .chain(r.map(|r| ("r", r)))
                .map(|(k, v)| (k, Summary::of(&[v]).unwrap()))
                .collect(),
            failures: Vec::new(),
        };
        let result = ScenarioResult {
            id: "S9",
            title: "test",
            method: "",
            metrics: METRICS,
            rows: vec![
                row(Daemon::Bgpd, 10.0, Some(300.0)),
                row(Daemon::Bird2, 25.0, Some(100.0)),
                row(Daemon::Frr, 40.0, None),
            ],
        };
        let mut out = String::new();
        ratios_table(&mut out, &result);
        assert!(out.contains("| size | daemon | time | rate |"), "{out}");
        assert!(out.contains("| 10 | BIRD 2 | 2.50 | 3.00 |"), "{out}");
        assert!(out.contains("| 10 | FRR | 4.00 | – |"), "{out}");
        assert!(
            !out.contains("| 10 | bgpd |"),
            "bgpd is the reference:\n{out}"
        );
    }
}
