//! `relay-bench`: runs each workload against our relay and the automerge-repo reference relay in the same
//! run and prints one table (each figure for both, and the ratio). See `bench/run.sh`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use casebook_bench::target::{Cluster, Kind, RelayProcess, Spec};
use casebook_bench::{active, catchup, cold, idle, storm};
use clap::Parser;

/// Relay load generator: our relay vs the automerge-repo reference relay.
#[derive(Parser, Debug)]
struct Args {
    /// Our relay's binary (casebook-server, release build).
    #[arg(long)]
    ours: Option<PathBuf>,
    /// A flag added to our relay's command line (repeat it), e.g. `--ours-arg=--case-unload-ms=5000`.
    #[arg(long, allow_hyphen_values = true)]
    ours_arg: Vec<String>,
    /// Our relay as this many processes on one PostgreSQL database (a list: each count is run in turn,
    /// idle, active and catch-up; clients spread over the processes round robin). More than 1 needs
    /// `--ours-database`. Default 1: one process, as before.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    ours_nodes: Vec<usize>,
    /// A PostgreSQL server for our relay (admin URL without a database name, e.g.
    /// `postgres://postgres@127.0.0.1:5432`): each node count runs on a new database there, dropped at the
    /// end. Without it our relay runs on sled in its data directory.
    #[arg(long)]
    ours_database: Option<String>,
    /// The reference relay's script (bench/reference/server.mjs, npm packages installed).
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Workloads to run: idle, active, catchup, storm, cold.
    #[arg(long, value_delimiter = ',', default_value = "idle,active,catchup,storm,cold")]
    workloads: Vec<String>,
    /// Time limit of one workload at one size against one relay, seconds. A size that does not finish is
    /// reported as such and the larger sizes of that workload are skipped for that relay.
    #[arg(long, default_value_t = 300)]
    limit_secs: u64,
    /// Largest client count (idle, storm) run against our relay; larger sizes run against the reference
    /// only and are reported as not run for ours. No limit by default (a single samod repository for the
    /// whole relay needed one: see BENCHMARKS.md, "connections × documents").
    #[arg(long, default_value_t = usize::MAX)]
    ours_max: usize,
    /// Idle scale: client counts.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000")]
    idle: Vec<usize>,
    /// Idle scale: handshakes in flight at once.
    #[arg(long, default_value_t = 100)]
    parallel: usize,
    /// Idle scale: seconds to hold all connections before measuring.
    #[arg(long, default_value_t = 3)]
    hold_secs: u64,
    /// Idle scale: then hold them this many seconds more and measure again, "idle" (0: not measured). Our
    /// relay lets go of idle cases after its --case-unload-ms (60 s by default; see `--ours-arg`).
    #[arg(long, default_value_t = 0)]
    settle_secs: u64,
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
    /// Active families: after the last step, wait this many seconds with nobody editing and count the
    /// deliveries still missing (0: not counted).
    #[arg(long, default_value_t = 0)]
    drain_secs: u64,
    /// Active families: p99 limit, ms.
    #[arg(long, default_value_t = 100.0)]
    p99_limit_ms: f64,
    /// Reconnect storm: client counts.
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    storm: Vec<usize>,
    /// Cold start: stored case counts.
    #[arg(long, value_delimiter = ',', default_value = "10000")]
    cold: Vec<usize>,
    /// Catch-up: edits per replica while offline.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000")]
    catchup: Vec<usize>,
}

/// One line of the table: (figure, ours, reference, lower is better).
type Row = (String, Option<f64>, Option<f64>, bool);

/// One relay to run the workloads against: how to start it, as how many processes, on which database.
struct Setup {
    spec: Spec,
    nodes: usize,
    database: Option<String>,
    /// Prefix of its figures' names (empty: our relay as before, or the reference).
    label: String,
}

fn specs(args: &Args) -> Vec<Setup> {
    let mut v = Vec::new();
    if let Some(p) = &args.ours {
        let spec = Spec::Ours(p.clone(), args.ours_arg.clone());
        let plain = args.ours_database.is_none() && args.ours_nodes == [1];
        for &nodes in &args.ours_nodes {
            let label = match (&args.ours_database, plain) {
                (_, true) => String::new(),
                (None, false) => format!("sled ×{nodes} · "),
                (Some(_), false) => format!("PostgreSQL ×{nodes} · "),
            };
            v.push(Setup { spec: spec.clone(), nodes, database: args.ours_database.clone(), label });
        }
    }
    if let Some(p) = &args.reference {
        v.push(Setup { spec: Spec::Reference(p.clone()), nodes: 1, database: None, label: String::new() });
    }
    v
}

impl Setup {
    /// Whether this is more than our relay as one process on sled (storm and cold start need that one).
    fn cluster(&self) -> bool {
        self.nodes > 1 || self.database.is_some()
    }

    /// Start it: our relay through [`Cluster`], the reference as one process.
    fn start(&self) -> Result<Started> {
        Ok(match self.spec.kind() {
            Kind::Ours => Started::Cluster(Cluster::start(&self.spec, self.nodes, self.database.as_deref())?),
            Kind::Reference => Started::One(self.spec.start()?),
        })
    }
}

/// A started relay: one process, or our relay's processes.
enum Started {
    One(RelayProcess),
    Cluster(Cluster),
}

impl Started {
    fn target(&self) -> &casebook_bench::target::Target {
        match self {
            Started::One(p) => &p.target,
            Started::Cluster(c) => &c.target,
        }
    }

    fn stop(&mut self) {
        match self {
            Started::One(p) => p.stop(),
            Started::Cluster(c) => c.stop(),
        }
    }
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

/// Whether `n` clients are above `--ours-max` for our relay (then a row says so).
fn skipped(rows: &mut Vec<Row>, kind: Kind, args: &Args, what: String, n: usize) -> bool {
    if kind != Kind::Ours || n <= args.ours_max {
        return false;
    }
    eprintln!("[ours] {what}: not run (above --ours-max {})", args.ours_max);
    put(rows, format!("{what}: not run (above --ours-max {}) (1 = yes)", args.ours_max), kind, Some(1.0), true);
    true
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

/// The result of a workload run under a time limit: `None` (and a row saying so) if it did not finish.
fn over_limit<T>(
    rows: &mut Vec<Row>,
    kind: Kind,
    what: String,
    limit: Duration,
    r: Result<Result<T>, tokio::time::error::Elapsed>,
) -> Result<Option<T>> {
    match r {
        Ok(r) => r.map(Some),
        Err(_) => {
            eprintln!("[{}] {what}: did not finish within {} s; larger sizes skipped", name(kind), limit.as_secs());
            put(rows, format!("{what}: did not finish within {} s (1 = yes)", limit.as_secs()), kind, Some(1.0), true);
            Ok(None)
        }
    }
}

async fn run_one(setup: &Setup, args: &Args, workload: &str, rows: &mut Vec<Row>) -> Result<()> {
    let spec = &setup.spec;
    let kind = spec.kind();
    if setup.cluster() && matches!(workload, "storm" | "cold") {
        eprintln!("[ours] {workload}: not run on PostgreSQL or several processes (one sled process only)");
        return Ok(());
    }
    let limit = Duration::from_secs(args.limit_secs);
    match workload {
        "idle" => {
            for &n in &args.idle {
                if skipped(rows, kind, args, format!("idle {n}"), n) {
                    break;
                }
                let mut relay = setup.start()?;
                let hold = (Duration::from_secs(args.hold_secs), Duration::from_secs(args.settle_secs));
                let r = idle::run(relay.target(), n, args.parallel, hold.0, hold.1);
                let r = tokio::time::timeout(limit, r).await;
                relay.stop();
                let Some(r) = over_limit(rows, kind, format!("idle {n}"), limit, r)? else { break };
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
                if setup.nodes > 1 {
                    for (k, b) in r.bytes_per_connection_each().into_iter().enumerate() {
                        put(
                            rows,
                            format!("idle {n}: process {} memory per connection it holds (KB)", k + 1),
                            kind,
                            b.map(|b| b / 1024.0),
                            true,
                        );
                    }
                }
                if args.settle_secs > 0 {
                    let s = args.hold_secs + args.settle_secs;
                    put(
                        rows,
                        format!("idle {n}: relay memory per connection after {s} s idle (KB)"),
                        kind,
                        r.settled_bytes_per_connection().map(|b| b / 1024.0),
                        true,
                    );
                    put(
                        rows,
                        format!("idle {n}: relay RSS after {s} s idle (MB)"),
                        kind,
                        r.rss_settled.map(|b| b as f64 / 1048576.0),
                        true,
                    );
                    put(
                        rows,
                        format!("idle {n}: clients still connected then"),
                        kind,
                        Some(r.still_connected as f64),
                        false,
                    );
                }
            }
        }
        "active" => {
            let mut relay = setup.start()?;
            let rates: Vec<f64> = args.rates.clone();
            let r = active::run(
                relay.target(),
                args.families,
                args.members,
                &rates,
                Duration::from_secs(args.step_secs),
                args.p99_limit_ms,
                Duration::from_secs(args.drain_secs),
            );
            let r = tokio::time::timeout(limit, r).await;
            relay.stop();
            let f = format!("active {}×{}", args.families, args.members);
            let Some(r) = over_limit(rows, kind, f, limit, r)? else { return Ok(()) };
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
            if let Some(n) = r.undelivered_after_drain {
                put(
                    rows,
                    format!("{f}: deliveries missing {} s after the last step", args.drain_secs),
                    kind,
                    Some(n as f64),
                    true,
                );
            }
        }
        "catchup" => {
            let mut relay = setup.start()?;
            let r = tokio::time::timeout(limit, catchup::run(relay.target(), &args.catchup)).await;
            relay.stop();
            let Some(r) = over_limit(rows, kind, "catch-up".into(), limit, r)? else { return Ok(()) };
            for row in r {
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
        "storm" => {
            for &n in &args.storm {
                if skipped(rows, kind, args, format!("storm {n}"), n) {
                    break;
                }
                let mut relay: RelayProcess = spec.start()?;
                let r = tokio::time::timeout(limit, storm::run(&mut relay, n, args.parallel, limit)).await;
                relay.stop();
                let Some(r) = over_limit(rows, kind, format!("storm {n}"), limit, r)? else { break };
                eprintln!("[{}] storm {n}: {r:?}", name(kind));
                let f = format!("storm {n}");
                put(rows, format!("{f}: clients connected before the restart"), kind, Some(r.connected as f64), false);
                put(rows, format!("{f}: clients up to date after it"), kind, Some(r.up_to_date as f64), false);
                put(rows, format!("{f}: stop (SIGTERM to exit, s)"), kind, Some(r.stop_secs), true);
                put(rows, format!("{f}: start (exec to listening, s)"), kind, Some(r.start_secs), true);
                put(rows, format!("{f}: listening → every client up to date (s)"), kind, Some(r.catch_up_secs), true);
                put(rows, format!("{f}: SIGTERM → every client up to date (s)"), kind, Some(r.total_secs), true);
                put(
                    rows,
                    format!("{f}: connection attempts per client"),
                    kind,
                    Some(r.attempts as f64 / n as f64),
                    true,
                );
                put(rows, format!("{f}: peak relay RSS after restart (MB)"), kind, r.peak_rss.map(mb), true);
            }
        }
        "cold" => {
            for &n in &args.cold {
                let mut relay: RelayProcess = spec.start()?;
                let r =
                    tokio::time::timeout(limit, cold::run(&mut relay, n, cold::TEMPLATES, cold::CHANGES, limit)).await;
                relay.stop();
                let Some(r) = over_limit(rows, kind, format!("cold {n}"), limit, r)? else { break };
                eprintln!("[{}] cold {n}: {r:?}", name(kind));
                let f = format!("cold {n}");
                put(rows, format!("{f}: one stored case (KB)"), kind, Some(r.case_bytes as f64 / 1024.0), true);
                put(rows, format!("{f}: data directory (MB)"), kind, Some(mb(r.dir_bytes)), true);
                put(rows, format!("{f}: exec → listening (ms)"), kind, Some(r.listen_secs * 1000.0), true);
                put(
                    rows,
                    format!("{f}: exec → first byte of the first sync (ms)"),
                    kind,
                    Some(r.first_byte_secs * 1000.0),
                    true,
                );
                put(rows, format!("{f}: exec → whole case synced (ms)"), kind, Some(r.first_sync_secs * 1000.0), true);
                put(rows, format!("{f}: relay RSS after the first sync (MB)"), kind, r.rss.map(mb), true);
                put(rows, format!("{f}: relay peak RSS (MB)"), kind, r.peak_rss.map(mb), true);
            }
        }
        other => anyhow::bail!("unknown workload `{other}` (idle, active, catchup, storm, cold)"),
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
        for setup in &specs {
            // Each relay's figures, then into the table under its label.
            eprintln!("== {}{} {w}", setup.label, name(setup.spec.kind()));
            let mut own: Vec<Row> = Vec::new();
            let kind = setup.spec.kind();
            if let Err(e) = run_one(setup, &args, w, &mut own).await {
                eprintln!("[{}{}] {w} failed: {e:#}", setup.label, name(kind));
                put(&mut own, format!("{w}: FAILED ({e:#})"), kind, None, true);
            }
            for (fig, o, r, lower) in own {
                put(&mut rows, format!("{}{fig}", setup.label), kind, if kind == Kind::Ours { o } else { r }, lower);
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
