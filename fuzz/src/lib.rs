//! # casebook-fuzz
//!
//! Nightly-free fuzzing of Casebook's hostile-input surfaces: a seeded loop that takes inputs from a
//! committed seed corpus (`fuzz/corpus/<target>/`) and the target's own generated seeds, mutates them
//! (generic byte mutations plus structure-aware ones per target), runs them and checks the target's
//! invariants. A panic anywhere in the process (relay tasks included) is a finding.
//!
//! # Layout
//! - [`mutate`]: generic byte mutations.
//! - [`targets`]: the five targets — `ws` (the relay's `/v1/sync` WebSocket), `exchange`
//!   ([`casebook_core::Store::import_changes`]), `loader` (stored chunks → [`casebook_core::Store::open_case`]),
//!   `photo` (the location stripper of attached photos: JPEG, PNG, HEIF, WebP), `http` (JSON bodies of every
//!   POST/PUT route of a real relay).
//! - [`run`]: the loop, with a seed and a budget of executions or seconds.
//!
//! Reproduce: `cargo run --release -p casebook-fuzz -- <target> --seed N --secs S` (same seed, same inputs;
//! the relay targets also depend on timing).

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub mod mutate;
pub mod targets;

/// Panics seen anywhere in the process since [`install_panic_counter`].
static PANICS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the thread running inputs: its panics are caught there (by the core's guard, or reported by
    /// [`run`] when they escape), so they are neither counted nor printed.
    static RUNNER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Where the runner thread's last panic came from (the innermost Casebook frame of its backtrace).
    static LAST_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The innermost `casebook` frame of the current backtrace.
fn casebook_frame() -> String {
    let bt = std::backtrace::Backtrace::force_capture().to_string();
    let lines: Vec<&str> = bt.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let l = l.trim();
        if l.contains("casebook_core::") || l.contains("casebook_server::") {
            let at = lines.get(i + 1).map(|s| s.trim()).unwrap_or_default();
            return format!("{} {}", l.split_once(": ").map_or(l, |x| x.1), at);
        }
    }
    String::new()
}

/// Count every panic on threads other than the runner's (relay tasks); the default hook prints those.
pub fn install_panic_counter() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if RUNNER.with(|r| r.get()) {
                let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
                let frame = casebook_frame();
                LAST_PANIC.with(|p| *p.borrow_mut() = format!("at {at}, from {frame}"));
            } else {
                PANICS.fetch_add(1, Ordering::SeqCst);
                previous(info);
            }
        }));
    });
}

/// Panics counted so far (threads other than a runner's).
pub fn panics() -> usize {
    PANICS.load(Ordering::SeqCst)
}

/// One fuzz target.
pub trait Target {
    /// Its name (also its corpus directory).
    fn name(&self) -> &'static str;
    /// Seeds generated from live data (valid messages, files, chunks), added to the committed corpus.
    fn seeds(&mut self) -> Vec<Vec<u8>>;
    /// A mutation of `input` (default: generic byte mutations, splicing from `corpus`).
    fn mutate(&mut self, input: &[u8], corpus: &[Vec<u8>], rng: &mut StdRng) -> Vec<u8> {
        mutate::bytes(input, corpus, rng)
    }
    /// Run one input; `Err` describes a violated invariant.
    fn exec(&mut self, input: &[u8]) -> Result<(), String>;
    /// Check that the system under test still serves well-behaved clients; `Err` is a finding.
    fn check_alive(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// The target names, in the order the smoke test runs them.
pub const TARGETS: [&str; 5] = ["exchange", "loader", "photo", "http", "ws"];

/// Build a target by name.
pub fn target(name: &str) -> anyhow::Result<Box<dyn Target>> {
    Ok(match name {
        "exchange" => Box::new(targets::exchange::Exchange::new()?),
        "loader" => Box::new(targets::loader::Loader::new()?),
        "photo" => Box::new(targets::photo::Photo::new()?),
        "http" => Box::new(targets::http::Http::new()?),
        "ws" => Box::new(targets::ws::Ws::new()?),
        other => anyhow::bail!("unknown target {other}; one of {TARGETS:?}"),
    })
}

/// The committed corpus directory of a target.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target)
}

/// Read a target's committed corpus (sorted by file name, so runs are reproducible).
pub fn read_corpus(target: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir(target))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files.into_iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// A budget: stop after `execs` executions or `secs` seconds, whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Maximum executions.
    pub execs: u64,
    /// Maximum wall time.
    pub time: Duration,
}

/// A violated invariant and the input that did it.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The input.
    pub input: Vec<u8>,
    /// What went wrong.
    pub what: String,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Target name.
    pub target: &'static str,
    /// Seed.
    pub seed: u64,
    /// Executions.
    pub execs: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Findings (at most one per distinct message).
    pub findings: Vec<Finding>,
}

impl Report {
    /// Executions per second.
    pub fn execs_per_sec(&self) -> f64 {
        self.execs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How often the well-behaved-client check runs.
const ALIVE_EVERY: u64 = 200;

/// Run `target` from `seed` within `budget`. Inputs are corpus entries (committed and generated) or
/// mutations of them; every input is run under `catch_unwind`, and panics on other threads (relay tasks)
/// are counted too.
pub fn run(target: &mut dyn Target, seed: u64, budget: Budget) -> Report {
    install_panic_counter();
    RUNNER.with(|r| r.set(true));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut corpus = read_corpus(target.name());
    corpus.extend(target.seeds());
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let start = Instant::now();
    let mut findings: Vec<Finding> = Vec::new();
    let record = |input: &[u8], what: String, findings: &mut Vec<Finding>| {
        if !findings.iter().any(|f| f.what == what) {
            findings.push(Finding { input: input.to_vec(), what });
        }
    };
    let mut execs = 0u64;
    while execs < budget.execs && start.elapsed() < budget.time {
        let input = if (execs as usize) < corpus.len() {
            corpus[execs as usize].clone()
        } else {
            let base = corpus[rng.random_range(0..corpus.len())].clone();
            if rng.random_ratio(1, 20) {
                mutate::random_bytes(&mut rng, 256)
            } else {
                target.mutate(&base, &corpus, &mut rng)
            }
        };
        let before = panics();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.exec(&input)));
        execs += 1;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(what)) => record(&input, what, &mut findings),
            Err(p) => {
                let at = LAST_PANIC.with(|l| l.borrow().clone());
                record(&input, format!("panic: {} {at}", panic_text(&p)), &mut findings)
            }
        }
        if panics() != before {
            record(&input, "a panic on another thread".into(), &mut findings);
        }
        if execs.is_multiple_of(ALIVE_EVERY)
            && let Err(what) = target.check_alive()
        {
            record(&input, format!("after this input: {what}"), &mut findings);
        }
    }
    if let Err(what) = target.check_alive() {
        record(&[], format!("at the end: {what}"), &mut findings);
    }
    RUNNER.with(|r| r.set(false));
    Report { target: static_name(target.name()), seed, execs, elapsed: start.elapsed(), findings }
}

fn static_name(n: &str) -> &'static str {
    TARGETS.iter().find(|t| **t == n).copied().unwrap_or("unknown")
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}
