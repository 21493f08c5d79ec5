//! The bounded fuzz run of CI: every target from a fixed seed for a few hundred inputs (a few seconds at
//! most each). Longer runs: `cargo run --release -p casebook-fuzz -- all --secs 120` (see RELIABILITY.md).

use std::time::Duration;

use casebook_fuzz::{Budget, TARGETS, run, target};

#[test]
fn every_target_survives_a_bounded_run() {
    let execs: u64 = std::env::var("CASEBOOK_FUZZ_EXECS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    for name in TARGETS {
        let mut t = target(name).unwrap();
        let report = run(t.as_mut(), 42, Budget { execs, time: Duration::from_secs(20) });
        assert!(report.execs > 0, "{name} ran nothing");
        let findings: Vec<String> = report.findings.iter().map(|f| f.what.clone()).collect();
        assert!(
            findings.is_empty(),
            "{name}: {findings:?} (replay: cargo run -p casebook-fuzz -- {name} --seed 42 --execs {execs})"
        );
    }
}
