//! Benchmark of the sync engine's latencies, seen from the app: prints two tables.
//!
//! 1. The weak-network scenario ([`casebook_tests::weak::typing_under`]) under every proxy condition, with
//!    more keystrokes than the test suite: keystroke p50 / p99 / max, lock wait p99 / max, push p50 / max,
//!    time to converge after the network heals.
//! 2. Notification latency ([`casebook_tests::weak::notification_latency`]): from Ana's edit + push to
//!    Ben's `CaseChanged` notification through the relay on loopback, p50 / p99 / max.
//!
//! Usage (release build): `cargo run --release -p casebook-tests --bin sync_latency -- [--keystrokes N]
//! [--samples N] [--only PREFIX]`, or the environment variables `SYNC_LATENCY_KEYSTROKES` and
//! `SYNC_LATENCY_SAMPLES`. Defaults: 2,000 keystrokes per condition, 200 notification samples 20 ms apart.
//! `--only PREFIX` runs the conditions whose name starts with PREFIX (`good`, `blackhole`, `stall`, `cut`,
//! `latency`, `notification`) and nothing else.

use std::time::Duration;

use casebook_tests::proxy::Mode;
use casebook_tests::weak::{Scenario, ms, notification_latency, percentile, typing_under};

/// A setting from `--name N`, else the environment variable `var`, else `default`.
fn setting(args: &[String], name: &str, var: &str, default: usize) -> anyhow::Result<usize> {
    let flag = format!("--{name}");
    if let Some(i) = args.iter().position(|a| *a == flag) {
        let v = args.get(i + 1).ok_or_else(|| anyhow::anyhow!("{flag} needs a number"))?;
        return Ok(v.parse()?);
    }
    match std::env::var(var) {
        Ok(v) => Ok(v.parse()?),
        Err(_) => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let keystrokes = setting(&args, "keystrokes", "SYNC_LATENCY_KEYSTROKES", 2_000)?;
    let samples = setting(&args, "samples", "SYNC_LATENCY_SAMPLES", 200)?;
    anyhow::ensure!(keystrokes >= 10 && samples >= 1, "at least 10 keystrokes and 1 sample");
    let only = match args.iter().position(|a| a == "--only") {
        Some(i) => Some(args.get(i + 1).ok_or_else(|| anyhow::anyhow!("--only needs a condition"))?.clone()),
        None => None,
    };
    let selected = |name: &str| only.as_ref().is_none_or(|o| name.starts_with(o.as_str()));

    let scenario = Scenario { keystrokes, converge_within: Duration::from_secs(30), ..Scenario::default() };
    let conditions = [
        ("good network", Mode::Pass),
        ("blackhole", Mode::Blackhole),
        ("stall after 7 bytes", Mode::Stall { after: 7 }),
        ("cut every 2 s", Mode::Cut { every: Duration::from_secs(2) }),
        ("latency 200 ms", Mode::Latency(Duration::from_millis(200))),
    ];
    println!(
        "Keystrokes: {keystrokes} per condition, one every {:?}, a push every {}; sync thread: push + wait {:?}, \
         10 ms pause",
        scenario.typing_pace, scenario.push_every, scenario.sync_wait
    );
    println!();
    println!(
        "| condition | keystroke p50 | keystroke p99 | keystroke max | lock wait p99 | lock wait max | push p50 | \
         push max | converged after heal |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (name, mode) in conditions {
        if !selected(name) {
            continue;
        }
        let f = typing_under(mode, &scenario);
        let (p50, p99, max) = f.keystroke();
        let (_, lock_p99, lock_max) = f.lock_wait();
        let (push_p50, _, push_max) = f.push();
        let converged = f.converged.map(ms).unwrap_or_else(|| format!("> {:?}", scenario.converge_within));
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {converged} |",
            ms(p50),
            ms(p99),
            ms(max),
            ms(lock_p99),
            ms(lock_max),
            ms(push_p50),
            ms(push_max),
        );
    }

    if !selected("notification") {
        return Ok(());
    }
    let spacing = Duration::from_millis(20);
    let timeout = Duration::from_secs(5);
    let latencies = notification_latency(samples, spacing, timeout);
    let missed = latencies.iter().filter(|d| **d >= timeout).count();
    println!();
    println!(
        "Notification latency: Ana appends + sync_case -> Ben's CaseChanged (live merge into his open case), \
         relay on loopback, {samples} samples {spacing:?} apart"
    );
    println!();
    println!("| samples | p50 | p90 | p99 | max | not within {timeout:?} |");
    println!("|--:|--:|--:|--:|--:|--:|");
    println!(
        "| {samples} | {} | {} | {} | {} | {missed} |",
        ms(percentile(&latencies, 50)),
        ms(percentile(&latencies, 90)),
        ms(percentile(&latencies, 99)),
        ms(*latencies.last().expect("at least one sample")),
    );
    Ok(())
}
