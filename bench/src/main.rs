//! `relay-bench`: runs each workload against our relay and the automerge-repo reference relay in the same
//! run and prints one table (each figure for both, and the ratio). See `bench/run.sh`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use casebook_bench::target::{Kind, RelayProcess, Spec};
use casebook_bench::{active, catchup, idle};
use clap::Parser;

/// Relay load generator: our relay vs the automerge-repo reference relay.
#[derive(Parser, Debug)]
struct Args {
    /// Our relay's binary (casebook-server, release build).
    #[arg(long)]
    ours: Option<PathBuf>,
    /// The reference relay's script (bench/reference/server.mjs, npm packages installed).
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Workloads to run: idle, active, catchup.
    #[arg(long, value_delimiter = ',', default_value = "idle,active,catchup")]
    workloads: Vec<String>,
    /// Idle scale: client counts.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000")]
    idle: Vec<usize>,
    /// Idle scale: handshakes in flight at once.
    #[arg(long, default_value_t = 100)]
    parallel: usize,
    /// Idle scale: seconds to hold all connections before measuring.
    #[arg(long, default_value_t = 3)]
    hold_secs: u64,
    /// Active families: cases.
    #[arg(long, default_value_t = 300)]
    families: usize,
    /// Active families: members per case.
    #[arg(long, default_value_t = 3)]
    members: usize,
    /// Active families: edits/s per member, one step each, until p99 passes the limit.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    rates: Vec<f64>,
    /// Active families: seconds per rate step.
    #[arg(long, default_value_t = 10)]
    step_secs: u64,
    /// Active families: p99 limit, ms.
    #[arg(long, default_value_t = 100.0)]
    p99_limit_ms: f64,
    /// Catch-up: edits per replica while offline.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000")]
    catchup: Vec<usize>,
}

/// One line of the table: (figure, ours, reference, lower is better).
type Row = (String, Option<f64>, Option<f64>, bool);

fn specs(args: &Args) -> Vec<Spec> {
    let mut v = Vec::new();
    if let Some(p) = &args.ours {
        v.push(Spec::Ours(p.clone()));
    }
    if let Some(p) = &args.reference {
        v.push(Spec::Reference(p.clone()));
    }
    v
}

fn put(rows: &mut Vec<Row>, name: String, kind: Kind, value: Option<f64>, lower_better: bool) {
    let i = match rows.iter().position(|r| r.0 == name) {
        Some(i) => i,
        None => {
            rows.push((name, None, None, lower_better));
            rows.len() - 1
        }
    };
    match kind {
        Kind::Ours => rows[i].1 = value,
        Kind::Reference => rows[i].2 = value,
    }
}

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
    }
}

fn name(kind: Kind) -> &'static str {
    match kind {
        Kind::Ours => "ours",
        Kind::Reference => "reference",
    }
}

async fn run_one(spec: &Spec, args: &Args, workload: &str, rows: &mut Vec<Row>) -> Result<()> {
    let kind = spec.kind();
    match workload {
        "idle" => {
            for &n in &args.idle {
                let mut relay: RelayProcess = spec.start()?;
                let r = idle::run(&relay.target, n, args.parallel, Duration::from_secs(args.hold_secs)).await;
                relay.stop();
                let r = r?;
                eprintln!("[{}] idle {n}: {r:?}", name(kind));
                put(rows, format!("idle {n}: clients connected and in sync"), kind, Some(r.connected as f64), false);
                put(rows, format!("idle {n}: time to connect all (s)"), kind, Some(r.connect_secs), true);
                put(
                    rows,
                    format!("idle {n}: relay memory per connection (KB)"),
                    kind,
                    r.bytes_per_connection().map(|b| b / 1024.0),
                    true,
                );
                put(
                    rows,
                    format!("idle {n}: relay RSS, all connected (MB)"),
                    kind,
                    r.rss_after.map(|b| b as f64 / 1048576.0),
                    true,
                );
            }
        }
        "active" => {
            let mut relay = spec.start()?;
            let rates: Vec<f64> = args.rates.clone();
            let r = active::run(
                &relay.target,
                args.families,
                args.members,
                &rates,
                Duration::from_secs(args.step_secs),
                args.p99_limit_ms,
            )
            .await;
            relay.stop();
            let r = r?;
            let f = format!("active {}×{}", r.families, r.members);
            for s in &r.steps {
                eprintln!("[{}] {f} step: {s:?}", name(kind));
                let at = format!("{f} @ {} edit/s/member", s.rate_per_member);
                put(rows, format!("{at}: edits/s made"), kind, Some(s.edits_per_sec), false);
                put(rows, format!("{at}: delivered (%)"), kind, Some(s.delivered_pct), false);
                put(rows, format!("{at}: p50 (ms)"), kind, Some(s.p50_ms), true);
                put(rows, format!("{at}: p99 (ms)"), kind, Some(s.p99_ms), true);
                put(rows, format!("{at}: relay CPU (% of a core)"), kind, s.relay_cpu_pct, true);
                put(rows, format!("{at}: load generator CPU (% of a core)"), kind, s.bench_cpu_pct, true);
                put(rows, format!("{at}: relay RSS (MB)"), kind, s.relay_rss.map(|b| b as f64 / 1048576.0), true);
            }
            put(
                rows,
                format!("{f}: highest sustained edits/s (p99 ≤ {} ms, ≥ 99 % delivered)", r.p99_limit_ms),
                kind,
                Some(r.sustained_edits_per_sec()),
                false,
            );
        }
        "catchup" => {
            let mut relay = spec.start()?;
            let r = catchup::run(&relay.target, &args.catchup).await;
            relay.stop();
            for row in r? {
                eprintln!("[{}] catch-up: {row:?}", name(kind));
                let k = row.edits;
                put(
                    rows,
                    format!("catch-up {k}+{k}: round trips (returning replica)"),
                    kind,
                    Some(row.round_trips as f64),
                    true,
                );
                put(
                    rows,
                    format!("catch-up {k}+{k}: round trips (first replica back)"),
                    kind,
                    Some(row.first_round_trips as f64),
                    true,
                );
                put(
                    rows,
                    format!("catch-up {k}+{k}: changes' own size (bytes)"),
                    kind,
                    Some(row.change_bytes as f64),
                    true,
                );
                put(rows, format!("catch-up {k}+{k}: wire bytes"), kind, Some(row.wire_bytes as f64), true);
                put(
                    rows,
                    format!("catch-up {k}+{k}: wire bytes / changes"),
                    kind,
                    Some(row.wire_bytes as f64 / row.change_bytes.max(1) as f64),
                    true,
                );
                put(rows, format!("catch-up {k}+{k}: wall time (ms)"), kind, Some(row.wall_ms), true);
            }
        }
        other => anyhow::bail!("unknown workload `{other}` (idle, active, catchup)"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let specs = specs(&args);
    anyhow::ensure!(!specs.is_empty(), "give --ours and/or --reference");
    let mut rows: Vec<Row> = Vec::new();
    for w in &args.workloads {
        for spec in &specs {
            if let Err(e) = run_one(spec, &args, w, &mut rows).await {
                eprintln!("[{}] {w} failed: {e:#}", name(spec.kind()));
                put(&mut rows, format!("{w}: FAILED ({e:#})"), spec.kind(), None, true);
            }
        }
    }
    println!("| figure | ours | reference | ours / reference |");
    println!("|---|---:|---:|---:|");
    for (fig, o, r, lower) in &rows {
        let ratio = match (o, r) {
            (Some(o), Some(r)) if *r != 0.0 => {
                format!("{:.2}× ({})", o / r, if *lower { "lower is better" } else { "higher is better" })
            }
            _ => "–".into(),
        };
        println!("| {fig} | {} | {} | {ratio} |", fmt(*o), fmt(*r));
    }
    Ok(())
}
