//! The benchmark harness (the `bench` crate, `bench --quick`) run by the
//! test suite so that it never rots: every scenario runs every daemon it
//! names once at a small size, every figure comes out, and the report and
//! its charts are written. Timings are not asserted: they are what the
//! benchmarks report.

use ::bench::{self, Options};
use testnets::require_privileges;

use crate::support::binary;

#[test]
fn the_quick_benchmarks_run_every_daemon_and_report_every_figure() {
    require_privileges!();
    let options = Options {
        bgpd: binary().to_owned(),
        scenarios: Vec::new(),
        quick: true,
        daemons: Vec::new(),
        sizes: Vec::new(),
    };
    let results = bench::run(&options, &mut |line| eprintln!("{line}")).unwrap();
    let ids: Vec<&str> = results.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10"]
    );
    for result in &results {
        assert!(!result.rows.is_empty(), "{} has no rows", result.id);
        for row in &result.rows {
            assert!(
                row.failures.is_empty(),
                "{} with {}: {:?}",
                result.id,
                row.daemon,
                row.failures
            );
            for metric in result.metrics {
                if metric.bgpd_only && row.daemon != bench::Daemon::Bgpd {
                    assert!(
                        !row.summaries.contains_key(metric.key),
                        "{} with {}: {} is bgpd's alone",
                        result.id,
                        row.daemon,
                        metric.key
                    );
                    continue;
                }
                let summary = row.summaries.get(metric.key).unwrap_or_else(|| {
                    panic!("{} with {}: no {}", result.id, row.daemon, metric.key)
                });
                assert_eq!(summary.runs, 1);
                assert!(
                    summary.median.is_finite() && summary.median >= 0.0,
                    "{} with {}: {} = {}",
                    result.id,
                    row.daemon,
                    metric.key,
                    summary.median
                );
            }
        }
    }

    let dir = tempdir();
    bench::report::write(&dir, &results, "bench --quick", true).unwrap();
    let report = std::fs::read_to_string(dir.join("BENCHMARKS.md")).unwrap();
    for heading in [
        "## S1 ingest",
        "## S2 route-reflector fan-out",
        "## S3 node-to-node mesh",
        "## S4 kernel",
        "## S5 churn in a mesh",
        "## S6 etcd to the kernels",
        "## S7 a production-size datastore",
        "## S8 a workload route to the kernels",
        "## S9 hard failure in a mesh",
        "## S10 BFD at reflector scale",
        "BIRD 1.6",
        "GoBGP",
        "| 5,000 | bgpd |",
    ] {
        assert!(report.contains(heading), "{heading} missing:\n{report}");
    }
    for chart in [
        "s1.svg", "s2.svg", "s3.svg", "s4.svg", "s5.svg", "s6.svg", "s8.svg", "s9.svg", "s10.svg",
    ] {
        let svg = std::fs::read_to_string(dir.join("benchmarks").join(chart)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<rect x="),
            "{chart}: {svg}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("podroute-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
