//! Casebook core benchmarks: typing throughput against raw Automerge, latency of one durable edit, and a
//! generated one-year case opened in a fresh process.
//!
//! ```text
//! cargo bench -p casebook-core --bench core_bench                 # full run (a few minutes)
//! cargo bench -p casebook-core --bench core_bench -- --quick      # smoke run at small N (seconds)
//! CASEBOOK_BENCH_QUICK=1 cargo bench -p casebook-core --bench core_bench
//! cargo bench -p casebook-core --bench core_bench -- typing       # only some sections:
//!                                                                 #   typing, durable, year
//! ```
//!
//! Run any other way than by `cargo bench` (which passes `--bench`), e.g. by `cargo test --all-targets`,
//! it does the smoke run unless given `--full`.
//!
//! The one-year case is measured by re-executing this binary with the hidden argument `--child-open`, so
//! that the figures (open time, peak resident memory) are not polluted by the generation.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, TextEncoding};
use casebook_core::model::appointment::{AppointmentKind, NewAppointment};
use casebook_core::model::chronology::{DocumentKind, Location};
use casebook_core::model::cost::CostCategory;
use casebook_core::model::opinion::NewOpinion;
use casebook_core::model::question::{Category, Priority};
use casebook_core::model::record_request::{Channel, NewEvent, RecordItem};
use casebook_core::model::specialist::{NciDesignation, NewSpecialist};
use casebook_core::model::text::TextField;
use casebook_core::storage::SledStorage;
use casebook_core::{Case, CaseId, Store};

/// Hidden argument: run the one-year-case open measurement in this (fresh) process.
pub(crate) const CHILD_ARG: &str = "--child-open";

/// Sizes of one run.
pub(crate) struct Config {
    quick: bool,
    /// Single-character edits of the typing benchmark.
    typing_edits: usize,
    /// Rounds of each in-memory typing variant (the median is reported).
    typing_rounds: usize,
    /// Acknowledged edits timed in the durable-edit benchmark.
    durable_iters: usize,
    /// Appointments of the one-year case.
    appointments: usize,
    /// Authors writing notes at each appointment.
    authors: usize,
    /// Characters each author types per appointment.
    note_chars: usize,
    /// Keystrokes between saves (the app's debounce).
    save_every: usize,
    /// Other items of the one-year case (specialists, requests, documents, tasks, costs, questions …).
    other_items: usize,
    /// Fresh processes that open the one-year case.
    child_runs: usize,
}

impl Config {
    pub(crate) fn full() -> Self {
        Self {
            quick: false,
            typing_edits: 100_000,
            typing_rounds: 3,
            durable_iters: 2_000,
            appointments: 150,
            authors: 3,
            note_chars: 2_000,
            save_every: 10,
            other_items: 500,
            child_runs: 5,
        }
    }

    pub(crate) fn quick() -> Self {
        Self {
            quick: true,
            typing_edits: 5_000,
            typing_rounds: 1,
            durable_iters: 200,
            appointments: 6,
            authors: 3,
            note_chars: 150,
            save_every: 10,
            other_items: 40,
            child_runs: 1,
        }
    }
}

/// One line of the final summary.
struct Verdict {
    figure: String,
    measured: String,
    target: String,
    ok: Option<bool>,
}

#[derive(Default)]
pub(crate) struct Summary(Vec<Verdict>);

impl Summary {
    fn add(&mut self, figure: impl Into<String>, measured: impl Into<String>, target: &str, ok: Option<bool>) {
        self.0.push(Verdict { figure: figure.into(), measured: measured.into(), target: target.to_string(), ok });
    }

    fn print(&self, quick: bool) {
        println!();
        println!("== Summary ==");
        if quick {
            println!("  (quick mode: small N, a smoke test; compare only full-mode figures with the targets)");
        }
        println!("  {:<62} {:>22}  {:<12} result", "figure", "measured", "target");
        for v in &self.0 {
            let r = match v.ok {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "-",
            };
            println!("  {:<62} {:>22}  {:<12} {r}", v.figure, v.measured, v.target);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(CHILD_ARG) {
        child_open(&args[1..]);
        return;
    }
    let env_quick = std::env::var("CASEBOOK_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    // `cargo bench` passes `--bench`; without it (`cargo test --all-targets` runs this binary as a test,
    // in a debug build) only the smoke run makes sense.
    let under_test = !args.iter().any(|a| a == "--bench" || a == "--full");
    let quick = env_quick || under_test || args.iter().any(|a| a == "--quick");
    let cfg = if quick { Config::quick() } else { Config::full() };
    // `cargo bench` passes `--bench`; other dashed arguments are ignored too.
    let sections: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with('-')).collect();
    for s in &sections {
        assert!(["typing", "durable", "year"].contains(s), "unknown section {s:?}: expected typing, durable or year");
    }
    let run = |s: &str| sections.is_empty() || sections.contains(&s);

    println!("Casebook core benchmarks ({} mode{})", if cfg.quick { "quick" } else { "full" }, build_note());
    let mut summary = Summary::default();
    if run("typing") {
        typing(&cfg, &mut summary);
    }
    let year = if run("year") { Some(year_case(&cfg, &mut summary)) } else { None };
    if run("durable") {
        durable(&cfg, year.as_ref(), &mut summary);
    }
    summary.print(cfg.quick);
}

fn build_note() -> &'static str {
    if cfg!(debug_assertions) { ", DEBUG build: figures are not meaningful" } else { ", optimised build" }
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Keys typed: each one UTF-16 code unit (so indices are simple), some of them outside ASCII.
const KEYS: &[&str] = &[
    "e", "t", "a", "o", "i", "n", " ", "s", "h", "r", "d", "l", "u", "c", "m", "w", "f", "g", "y", "p", "b", "v", "k",
    " ", " ", ",", ".", "é", "ü", "—", "\n",
];

/// One single-character edit: insert one key, or delete one unit (backspace).
#[derive(Clone, Copy)]
struct Edit {
    index: usize,
    delete: usize,
    insert: &'static str,
}

/// A typing session: mostly typing at the cursor, about 5% backspaces, and every 100 keystrokes a chance
/// that the cursor jumps elsewhere in the text (20%) or back to the end (50%).
fn typing_script(n: usize, seed: u64) -> Vec<Edit> {
    let mut rng = Rng(seed);
    let (mut len, mut cursor) = (0usize, 0usize);
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        if !v.is_empty() && v.len() % 100 == 0 {
            match rng.below(10) {
                0 | 1 => cursor = rng.below(len + 1),
                2..=6 => cursor = len,
                _ => {}
            }
        }
        if cursor > 0 && rng.below(20) == 0 {
            cursor -= 1;
            len -= 1;
            v.push(Edit { index: cursor, delete: 1, insert: "" });
        } else {
            v.push(Edit { index: cursor, delete: 0, insert: KEYS[rng.below(KEYS.len())] });
            cursor += 1;
            len += 1;
        }
    }
    v
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// `123456` → `123,456`.
fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn row(label: &str, value: impl std::fmt::Display, note: &str) {
    println!("  {label:<62} {value:>22}  {note}");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Percentiles of a latency sample.
struct Latency {
    n: usize,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    p999: Duration,
    max: Duration,
    mean: Duration,
}

impl Latency {
    fn of(mut v: Vec<Duration>) -> Self {
        v.sort();
        let pick = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
        Self {
            n: v.len(),
            p50: pick(0.50),
            p90: pick(0.90),
            p99: pick(0.99),
            p999: pick(0.999),
            max: *v.last().expect("non-empty sample"),
            mean: v.iter().sum::<Duration>() / v.len() as u32,
        }
    }

    fn header(label: &str) {
        println!(
            "  {label:<62} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}  (ms)",
            "p50", "p90", "p99", "p99.9", "max", "mean", "n"
        );
    }

    fn row(&self, label: &str, note: &str) {
        println!(
            "  {label:<62} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.2} {:>8.3} {:>7}  {note}",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.p999),
            ms(self.max),
            ms(self.mean),
            self.n
        );
    }
}

/// A value of `/proc/self/status` in KiB (VmHWM: peak resident set; VmRSS: current).
fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// (apparent bytes, allocated bytes) of every file under `dir`.
fn dir_size(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0, 0);
    for e in std::fs::read_dir(dir).expect("read store dir").flatten() {
        let m = e.metadata().expect("metadata");
        if m.is_dir() {
            let (a, b) = dir_size(&e.path());
            total.0 += a;
            total.1 += b;
        } else {
            total.0 += m.len();
            total.1 += m.blocks() * 512;
        }
    }
    total
}

/// A case with one caregiver and one appointment whose notes document is open; returns the notes field.
fn bench_case(store: &Store) -> (Case, TextField) {
    let (mut case, me) = store.create_case("Bench Patient", "Alex", Some("daughter")).expect("create case");
    let appointment = case
        .add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() })
        .expect("add appointment");
    let field = TextField::AppointmentNotes { appointment, author: me };
    case.text_len(&field).expect("open the notes");
    case.save().expect("save");
    (case, field)
}

/// A raw document shaped like a notes document: `{notes: {author: Text}}`.
fn raw_doc() -> (AutoCommit, ObjId) {
    let mut doc = AutoCommit::new_with_encoding(TextEncoding::Utf16CodeUnit);
    let notes = doc.put_object(ROOT, "notes", ObjType::Map).expect("map");
    let text = doc.put_object(&notes, "author", ObjType::Text).expect("text");
    doc.commit();
    (doc, text)
}

fn sled_db(dir: &Path) -> sled::Db {
    // The same configuration as `SledStorage::open`.
    sled::Config::new().path(dir).mode(sled::Mode::LowSpace).open().expect("open sled")
}

// ---------------------------------------------------------------------------------------------------------
// 1. Typing

/// Raw Automerge, every splice in one open transaction (what the typed API does between saves).
fn raw_splice_only(script: &[Edit]) -> (Duration, String) {
    let (mut doc, t) = raw_doc();
    let start = Instant::now();
    for e in script {
        doc.splice_text(&t, e.index, e.delete as isize, e.insert).expect("splice");
    }
    let elapsed = start.elapsed();
    (elapsed, doc.text(&t).expect("text"))
}

/// Raw Automerge, commit after every splice (one change per keystroke).
fn raw_commit_each(script: &[Edit]) -> (Duration, String) {
    let (mut doc, t) = raw_doc();
    let start = Instant::now();
    for e in script {
        doc.splice_text(&t, e.index, e.delete as isize, e.insert).expect("splice");
        doc.commit();
    }
    let elapsed = start.elapsed();
    (elapsed, doc.text(&t).expect("text"))
}

/// Typed API, coalesced: `Case::splice_text` only, no save.
fn typed_splice(script: &[Edit]) -> (Duration, String) {
    let store = Store::in_memory();
    let (mut case, field) = bench_case(&store);
    let start = Instant::now();
    for e in script {
        case.splice_text(&field, e.index, e.delete, e.insert).expect("splice");
    }
    let elapsed = start.elapsed();
    (elapsed, case.text(&field).expect("text"))
}

/// Raw Automerge, appends only (`length` + splice at the end).
fn raw_append(script: &[Edit]) -> (Duration, String) {
    let (mut doc, t) = raw_doc();
    let start = Instant::now();
    for e in script {
        let len = doc.length(&t);
        doc.splice_text(&t, len, 0, e.insert).expect("splice");
    }
    let elapsed = start.elapsed();
    (elapsed, doc.text(&t).expect("text"))
}

/// Typed API, appends only: `Case::append_text`, no save.
fn typed_append(script: &[Edit]) -> (Duration, String) {
    let store = Store::in_memory();
    let (mut case, field) = bench_case(&store);
    let start = Instant::now();
    for e in script {
        case.append_text(&field, e.insert).expect("append");
    }
    let elapsed = start.elapsed();
    (elapsed, case.text(&field).expect("text"))
}

/// Typed API with a durable `Case::save` (sled in a temporary directory) every `every` keystrokes.
fn typed_durable(script: &[Edit], every: usize) -> (Duration, String, usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open store");
    let (mut case, field) = bench_case(&store);
    let mut compactions = 0;
    let start = Instant::now();
    for (k, e) in script.iter().enumerate() {
        case.splice_text(&field, e.index, e.delete, e.insert).expect("splice");
        if (k + 1) % every == 0 {
            compactions += usize::from(case.save().expect("save").compacted);
        }
    }
    compactions += usize::from(case.save().expect("save").compacted);
    let elapsed = start.elapsed();
    (elapsed, case.text(&field).expect("text"), compactions)
}

/// Raw Automerge + raw sled, the floor of durable typing: commit every `every` keystrokes, write the change
/// under its key and flush (no compaction, no bookkeeping, no validation).
fn raw_durable(script: &[Edit], every: usize) -> (Duration, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = sled_db(dir.path());
    let (mut doc, t) = raw_doc();
    let write = |doc: &mut AutoCommit| {
        if doc.commit().is_some() {
            let c = doc.get_last_local_change().expect("change");
            db.insert(format!("doc/incremental/{}", c.hash()), c.raw_bytes()).expect("insert");
            db.flush().expect("flush");
        }
    };
    let start = Instant::now();
    for (k, e) in script.iter().enumerate() {
        doc.splice_text(&t, e.index, e.delete as isize, e.insert).expect("splice");
        if (k + 1) % every == 0 {
            write(&mut doc);
        }
    }
    write(&mut doc);
    let elapsed = start.elapsed();
    (elapsed, doc.text(&t).expect("text"))
}

fn typing(cfg: &Config, summary: &mut Summary) {
    let n = cfg.typing_edits;
    let script = typing_script(n, 0x5eed_cafe);
    let deletes = script.iter().filter(|e| e.delete > 0).count();
    println!();
    println!(
        "== 1. Typing: {} single-character edits into one author's appointment notes ({} inserts, {} backspaces, cursor jumps) ==",
        thousands(n as f64),
        thousands((n - deletes) as f64),
        thousands(deletes as f64)
    );
    println!("  in-memory variants: median of {} rounds, interleaved", cfg.typing_rounds);

    type Variant = fn(&[Edit]) -> (Duration, String);
    let variants: [(&str, Variant); 5] = [
        ("raw_splice", raw_splice_only),
        ("typed_splice", typed_splice),
        ("raw_commit", raw_commit_each),
        ("raw_append", raw_append),
        ("typed_append", typed_append),
    ];
    // Warm-up (allocator, caches, page faults) so that the first variant timed is not penalised.
    let warm = typing_script(n.min(2_000), 1);
    for (_, f) in variants {
        black_box(f(&warm));
    }
    let mut times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut texts: BTreeMap<&str, String> = BTreeMap::new();
    for _ in 0..cfg.typing_rounds {
        for (name, f) in variants {
            let (d, text) = f(&script);
            times.entry(name).or_default().push(d);
            texts.insert(name, text);
        }
    }
    assert_eq!(texts["typed_splice"], texts["raw_splice"], "typed and raw texts differ");
    assert_eq!(texts["raw_commit"], texts["raw_splice"], "raw texts differ");
    assert_eq!(texts["typed_append"], texts["raw_append"], "typed and raw appended texts differ");
    let t: BTreeMap<&str, Duration> = times.into_iter().map(|(k, v)| (k, median(v))).collect();

    let (typed_durable_t, typed_durable_text, compactions) = typed_durable(&script, cfg.save_every);
    let (raw_durable_t, raw_durable_text) = raw_durable(&script, cfg.save_every);
    assert_eq!(typed_durable_text, texts["raw_splice"]);
    assert_eq!(raw_durable_text, texts["raw_splice"]);

    let rate = |d: Duration| format!("{} edits/s", thousands(per_sec(n, d)));
    println!("  {:<62} {:>22}  what is included", "variant", "throughput");
    row(
        "raw automerge: splice_text, commit per keystroke",
        rate(t["raw_commit"]),
        "one change per keystroke, in memory",
    );
    row("raw automerge: splice_text, no commit", rate(t["raw_splice"]), "splices only, one open transaction");
    row(
        "typed API: Case::splice_text (coalesced, no save)",
        rate(t["typed_splice"]),
        "field lookup (cached) + range/surrogate check + splice",
    );
    row("raw automerge: length + splice_text at the end", rate(t["raw_append"]), "appends only");
    row("typed API: Case::append_text", rate(t["typed_append"]), "appends only (same checks)");
    row(
        &format!("raw automerge + sled: commit + put + flush every {}", cfg.save_every),
        rate(raw_durable_t),
        "durable floor: no compaction, no bookkeeping",
    );
    row(
        &format!("typed API: splice_text + Case::save() every {}", cfg.save_every),
        rate(typed_durable_t),
        &format!("durable (sled flush); {compactions} compactions included"),
    );

    let strict = t["typed_splice"].as_secs_f64() / t["raw_splice"].as_secs_f64();
    let vs_commit = t["typed_splice"].as_secs_f64() / t["raw_commit"].as_secs_f64();
    let append = t["typed_append"].as_secs_f64() / t["raw_append"].as_secs_f64();
    let durable = typed_durable_t.as_secs_f64() / raw_durable_t.as_secs_f64();
    println!("  time ratios (typed / raw; below 1 means the typed API is faster):");
    row("typed splice / raw splice (same work, no commit)", format!("{strict:.2}x"), "");
    row("typed splice / raw commit-per-keystroke", format!("{vs_commit:.2}x"), "");
    row("typed append / raw append", format!("{append:.2}x"), "");
    row(&format!("typed + save every {0} / raw + sled every {0}", cfg.save_every), format!("{durable:.2}x"), "");

    summary.add(
        format!("typing: raw automerge, commit per keystroke ({})", thousands(n as f64)),
        rate(t["raw_commit"]),
        "-",
        None,
    );
    summary.add("typing: typed API splice_text (coalesced)", rate(t["typed_splice"]), "-", None);
    summary.add(format!("typing: typed API + save every {}", cfg.save_every), rate(typed_durable_t), "-", None);
    summary.add(
        "typing overhead: typed / raw commit-per-keystroke",
        format!("{vs_commit:.2}x"),
        "<= 1.2x",
        Some(vs_commit <= 1.2),
    );
    summary.add(
        "typing overhead: typed / raw splice (same work)",
        format!("{strict:.2}x"),
        "<= 1.2x",
        Some(strict <= 1.2),
    );
    summary.add("typing overhead: typed append / raw append", format!("{append:.2}x"), "<= 1.2x", Some(append <= 1.2));
}

// ---------------------------------------------------------------------------------------------------------
// 2. Durable edit

/// Latency of `f` over `n` iterations after a short warm-up.
fn latencies(n: usize, mut f: impl FnMut(usize)) -> Latency {
    for i in 0..20.min(n) {
        f(i);
    }
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        f(i);
        v.push(start.elapsed());
    }
    Latency::of(v)
}

fn durable(cfg: &Config, year: Option<&YearCase>, summary: &mut Summary) {
    let n = cfg.durable_iters;
    println!();
    println!("== 2. Durable edit: one small edit + Case::save() (sled flush), {n} iterations each ==");

    let dir = tempfile::tempdir().expect("temp dir");
    let db = sled_db(dir.path());
    let payload = [7u8; 200];
    let sled_only = latencies(n, |i| {
        db.insert(format!("k/{i}"), &payload[..]).expect("insert");
        db.flush().expect("flush");
    });
    drop(db);
    Latency::header("acknowledged edit");
    sled_only.row("sled alone: insert 200 B + flush", "");

    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("open store");
    let (mut case, field) = bench_case(&store);
    let mut compactions = 0;
    let fresh = latencies(n, |i| {
        let key = KEYS[i % KEYS.len()];
        case.append_text(&field, key).expect("append");
        compactions += usize::from(case.save().expect("save").compacted);
    });
    fresh.row("new case: 1 character into notes + save", &format!("{compactions} compactions"));
    summary.add(
        "durable edit p99 (new case, notes + save)",
        format!("{:.3} ms", ms(fresh.p99)),
        "< 1 ms",
        Some(fresh.p99 < Duration::from_millis(1)),
    );
    summary.add(
        "durable edit p50 / max (new case)",
        format!("{:.3} / {:.2} ms", ms(fresh.p50), ms(fresh.max)),
        "-",
        None,
    );

    if let Some(y) = year {
        let store = Store::open(y.dir.path()).expect("open store");
        let mut case = store.open_case(&y.case).expect("open case");
        let field =
            TextField::AppointmentNotes { appointment: y.sample_appointment.clone(), author: y.authors[0].clone() };
        let mut compactions = 0;
        let notes = latencies(n, |i| {
            case.append_text(&field, KEYS[i % KEYS.len()]).expect("append");
            compactions += usize::from(case.save().expect("save").compacted);
        });
        notes.row("one-year case: 1 character into notes + save", &format!("{compactions} compactions"));
        let task = y.task.clone();
        let mut compactions = 0;
        let overview = latencies(n, |i| {
            case.set_task_done(&task, i % 2 == 0).expect("task");
            compactions += usize::from(case.save().expect("save").compacted);
        });
        overview.row("one-year case: toggle a task (overview doc) + save", &format!("{compactions} compactions"));
        summary.add(
            "durable edit p99 (one-year case, notes + save)",
            format!("{:.3} ms", ms(notes.p99)),
            "< 1 ms",
            Some(notes.p99 < Duration::from_millis(1)),
        );
        summary.add(
            "durable edit p99 (one-year case, overview + save)",
            format!("{:.3} ms", ms(overview.p99)),
            "< 1 ms",
            Some(overview.p99 < Duration::from_millis(1)),
        );
        summary.add(
            "durable edit max (one-year case, overview + save)",
            format!("{:.2} ms", ms(overview.max)),
            "-",
            None,
        );
    }
    summary.add(
        "sled alone: insert 200 B + flush p50 / p99",
        format!("{:.3} / {:.3} ms", ms(sled_only.p50), ms(sled_only.p99)),
        "-",
        None,
    );
}

// ---------------------------------------------------------------------------------------------------------
// 3. One-year case

/// The generated case, kept on disk until the end of the run.
pub(crate) struct YearCase {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) case: CaseId,
    sample_appointment: String,
    authors: Vec<String>,
    task: String,
}

/// Add the `k`-th other item (cycling through kinds, in the proportions of a busy year); record the ids
/// needed later in `ids`. Returns the kind.
fn add_item(case: &mut Case, k: usize, rng: &mut Rng, ids: &mut Ids, date: &str) -> &'static str {
    const PATTERN: &[&str] = &[
        "document",
        "task",
        "record_request",
        "cost",
        "specialist",
        "question",
        "document",
        "task",
        "cost",
        "record_request",
        "medication",
        "document",
        "task",
        "question",
        "specialist",
        "cost",
        "document",
        "task",
        "record_request",
        "opinion",
    ];
    let kind = PATTERN[k % PATTERN.len()];
    let author = ids.authors[k % ids.authors.len()].clone();
    match kind {
        "specialist" => {
            let name = format!("Dr. Specialist {k}");
            let id = case
                .add_specialist(NewSpecialist {
                    name: &name,
                    subspecialty: Some("thoracic oncology"),
                    institution: Some("University Cancer Center"),
                    nci: Some(NciDesignation::Comprehensive),
                    contact: Some("+1 555 0100"),
                })
                .expect("specialist");
            ids.specialists.push(id);
        }
        "record_request" => {
            let id = case
                .add_record_request(
                    &format!("Hospital {k}"),
                    &[RecordItem::PathologySlides, RecordItem::PathologyReport, RecordItem::ImagingDisc],
                    Channel::PatientRequest,
                )
                .expect("record request");
            let today = casebook_core::dates::parse_date("date", date).expect("date");
            for ev in ["requested_in_writing", "acknowledged", "received"] {
                case.log_request_event(
                    &id,
                    NewEvent { kind: ev, date, note: Some("by phone"), fee_cents: None, by: Some(&author) },
                    today,
                )
                .expect("event");
            }
        }
        "document" => {
            let d = [DocumentKind::PathologyReport, DocumentKind::ImagingReport, DocumentKind::LabResult];
            case.add_document(Some(date), d[k % 3], Some("General Hospital"), &format!("Report {k}"), Location::Both)
                .expect("document");
        }
        "task" => {
            let id = case.add_task(&format!("Call the clinic about {k}"), Some(&author), Some(date)).expect("task");
            if rng.below(2) == 0 {
                case.set_task_done(&id, true).expect("done");
            }
            ids.tasks.push(id);
        }
        "cost" => {
            let c = [CostCategory::Consultation, CostCategory::Travel, CostCategory::Lodging];
            case.add_cost(c[k % 3], 1_000 + rng.below(50_000) as u64, Some(date), Some("receipt")).expect("cost");
        }
        "question" => {
            case.add_question(
                &format!("What are the options if the treatment {k} does not work?"),
                Category::Treatment,
                Priority::Normal,
                &author,
            )
            .expect("question");
        }
        "medication" => {
            case.add_medication(&format!("Medication {k}"), Some("10 mg daily")).expect("medication");
        }
        "opinion" => {
            let rank = (ids.opinions % 3 + 1) as u64;
            ids.opinions += 1;
            case.add_opinion(NewOpinion {
                rank,
                specialist: ids.specialists.last().map(String::as_str),
                date: Some(date),
                diagnosis: Some("adenocarcinoma"),
                stage: Some("IIIA"),
                treatment: Some("chemoradiation then surgery"),
                trials: None,
            })
            .expect("opinion");
        }
        _ => unreachable!(),
    }
    kind
}

#[derive(Default)]
struct Ids {
    authors: Vec<String>,
    specialists: Vec<String>,
    tasks: Vec<String>,
    opinions: usize,
}

pub(crate) fn year_case(cfg: &Config, summary: &mut Summary) -> YearCase {
    let keystrokes = cfg.appointments * cfg.authors * cfg.note_chars;
    println!();
    println!(
        "== 3. One-year case: {} appointments x {} authors x {} characters typed one by one ({} keystrokes), {} other items ==",
        cfg.appointments,
        cfg.authors,
        cfg.note_chars,
        thousands(keystrokes as f64),
        cfg.other_items
    );
    println!(
        "  cadence: each author's session at an appointment reopens the case (own device, own actor id), \
         appends characters one by one with Case::append_text and calls Case::save() every {} keystrokes; \
         every other item is its own operation followed by a save",
        cfg.save_every
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let gen_start = Instant::now();
    let store = Store::open(dir.path()).expect("open store");
    let (mut case, me) = store.create_case("Year Patient", "Alex", Some("daughter")).expect("create case");
    let mut ids = Ids { authors: vec![me], ..Default::default() };
    for (name, rel) in [("Sam", "son"), ("Robin", "spouse"), ("Kim", "friend")].iter().take(cfg.authors - 1) {
        ids.authors.push(case.add_caregiver(name, Some(rel)).expect("caregiver"));
    }
    case.save().expect("save");

    let mut rng = Rng(0x001e_a50f_da7a);
    let mut appointments = Vec::new();
    let mut items_added = 0;
    let mut save_times = Vec::with_capacity(keystrokes / cfg.save_every + 1);
    let mut session_opens = Vec::new();
    let mut typing_time = Duration::ZERO;
    let mut last_report = Instant::now();
    let base = time::Date::from_calendar_date(2025, time::Month::January, 6).expect("date");
    for a in 0..cfg.appointments {
        let day = base + time::Duration::days((a * 365 / cfg.appointments.max(1)) as i64);
        let date = casebook_core::dates::format_date(day);
        // Other items spread evenly over the year.
        let due = (a + 1) * cfg.other_items / cfg.appointments;
        while items_added < due {
            add_item(&mut case, items_added, &mut rng, &mut ids, &date);
            case.save().expect("save");
            items_added += 1;
        }
        let start = format!("{date}T09:30");
        let kinds = [AppointmentKind::SecondOpinion, AppointmentKind::FollowUp, AppointmentKind::Tests];
        let appointment = case
            .add_appointment(NewAppointment {
                kind: Some(kinds[a % 3]),
                specialist: ids.specialists.last().map(String::as_str),
                start: Some(&start),
                tz: None,
                place: Some("University Cancer Center, building B"),
            })
            .expect("appointment");
        case.set_attendee(&appointment, "Alex", true).expect("attendee");
        case.save().expect("save");

        for author in &ids.authors {
            let t = Instant::now();
            let mut session = store.open_case(case.id()).expect("open case");
            session_opens.push(t.elapsed());
            let field = TextField::AppointmentNotes { appointment: appointment.clone(), author: author.clone() };
            let t = Instant::now();
            for c in 0..cfg.note_chars {
                session.append_text(&field, KEYS[rng.below(KEYS.len())]).expect("append");
                if (c + 1) % cfg.save_every == 0 {
                    let s = Instant::now();
                    session.save().expect("save");
                    save_times.push(s.elapsed());
                }
            }
            session.save().expect("save");
            typing_time += t.elapsed();
        }
        appointments.push(appointment);
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!("  … {}/{} appointments, {:.0} s", a + 1, cfg.appointments, gen_start.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
    }
    while items_added < cfg.other_items {
        add_item(&mut case, items_added, &mut rng, &mut ids, "2025-12-30");
        case.save().expect("save");
        items_added += 1;
    }
    let case_id = case.id().clone();
    drop(case);
    drop(store);
    let generation = gen_start.elapsed();
    let saves = Latency::of(save_times);
    let opens = Latency::of(session_opens);
    row("generation time", format!("{:.1} s", generation.as_secs_f64()), "");
    row(
        "typing during generation (append + save every 10)",
        format!("{} keys/s", thousands(per_sec(keystrokes, typing_time))),
        "",
    );
    Latency::header("latency during generation");
    saves.row(&format!("Case::save() of {} keystrokes of notes", cfg.save_every), "");
    opens.row("Store::open_case at each session (growing overview)", "");

    let sled = SledStorage::open(dir.path()).expect("open sled");
    let sled_size = sled.size_on_disk().expect("size");
    drop(sled);
    let (mut keys, mut live, mut snapshots, mut incrementals) = (0u64, 0u64, 0u64, 0u64);
    for entry in sled_db(dir.path()).iter() {
        let (k, v) = entry.expect("sled entry");
        keys += 1;
        live += (k.len() + v.len()) as u64;
        let k = String::from_utf8_lossy(&k);
        snapshots += u64::from(k.contains("/snapshot/"));
        incrementals += u64::from(k.contains("/incremental/"));
    }
    let (apparent, allocated) = dir_size(dir.path());
    row(
        "bytes on disk: SledStorage::size_on_disk",
        format!("{} ({})", thousands(sled_size as f64), mib(sled_size)),
        "",
    );
    row("bytes on disk: files (apparent / allocated)", format!("{} / {}", mib(apparent), mib(allocated)), "du");
    row(
        "live data: keys + values in sled",
        mib(live),
        &format!("{keys} keys: {snapshots} snapshots, {incrementals} incremental changes"),
    );
    let text_bytes = keystrokes as u64;
    row("  for comparison: the typed characters", mib(text_bytes), "");

    // Open in fresh processes.
    let sample = appointments[appointments.len() / 2].clone();
    let exe = std::env::current_exe().expect("current exe");
    let mut runs: Vec<BTreeMap<String, f64>> = Vec::new();
    for _ in 0..cfg.child_runs {
        let out = Command::new(&exe)
            .arg(CHILD_ARG)
            .arg(dir.path())
            .arg(case_id.as_str())
            .arg(&sample)
            .output()
            .expect("run child");
        assert!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let m = stdout
            .lines()
            .filter_map(|l| {
                let mut w = l.strip_prefix("RESULT ")?.split_whitespace();
                Some((w.next()?.to_string(), w.next()?.parse().ok()?))
            })
            .collect();
        runs.push(m);
    }
    let stat = |k: &str| -> (f64, f64) {
        let mut v: Vec<f64> = runs.iter().map(|m| m[k]).collect();
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[v.len() - 1])
    };
    let expected_chars = (cfg.authors * cfg.note_chars) as f64;
    assert_eq!(stat("notes_chars").1, expected_chars, "the notes do not hold what was typed");
    println!("  fresh process ({} runs; median, worst):", cfg.child_runs);
    let show_ms = |k: &str| {
        let (m, w) = stat(k);
        format!("{m:.1} / {w:.1} ms")
    };
    let show_mb = |k: &str| {
        let (m, w) = stat(k);
        format!("{:.1} / {:.1} MiB", m / 1024.0, w / 1024.0)
    };
    row("  process baseline resident (VmHWM before opening)", show_mb("hwm_start_kib"), "");
    row("  Store::open (sled recovery)", show_ms("store_open_ms"), "");
    row("  + Store::open_case (overview document)", show_ms("open_case_ms"), "");
    row("  + reads: progress, appointments, tasks, requests, costs", show_ms("reads_ms"), "");
    row("    of which Case::progress (reads every section)", show_ms("progress_ms"), "");
    row("  = overview open, total", show_ms("overview_ms"), "target < 150 ms");
    row("  peak resident after the overview (VmHWM)", show_mb("hwm_overview_kib"), "target < 100 MB");
    row("  one appointment's notes: Case::notes", show_ms("notes_ms"), "target < 50 ms");
    row("  peak resident after one appointment's notes", show_mb("hwm_notes_kib"), "");
    row("  every appointment's notes, one after another", show_ms("all_notes_ms"), "extra");
    row("  peak resident after every notes document", show_mb("hwm_all_kib"), "extra");

    let (overview_ms, overview_worst) = stat("overview_ms");
    let (_, hwm_worst) = stat("hwm_overview_kib");
    let (notes_ms, notes_worst) = stat("notes_ms");
    let peak_mb = hwm_worst * 1024.0 / 1e6;
    summary.add("one-year case: generation time", format!("{:.0} s", generation.as_secs_f64()), "minutes", None);
    summary.add(
        "one-year case: open overview (fresh process, median / worst)",
        format!("{overview_ms:.1} / {overview_worst:.1} ms"),
        "< 150 ms",
        Some(overview_worst < 150.0),
    );
    summary.add(
        "one-year case: peak resident after opening (VmHWM, worst)",
        format!("{peak_mb:.1} MB"),
        "< 100 MB",
        Some(peak_mb < 100.0),
    );
    summary.add(
        "one-year case: open one appointment's notes (median / worst)",
        format!("{notes_ms:.1} / {notes_worst:.1} ms"),
        "< 50 ms",
        Some(notes_worst < 50.0),
    );
    summary.add("one-year case: bytes on disk (sled size_on_disk)", mib(sled_size), "-", None);

    YearCase {
        dir,
        case: case_id,
        sample_appointment: sample,
        task: ids.tasks.first().cloned().expect("a task"),
        authors: ids.authors,
    }
}

/// Child mode: open the case from disk in this fresh process and print `RESULT key value` lines.
pub(crate) fn child_open(args: &[String]) {
    let [dir, id, appointment] = args else {
        panic!("usage: {CHILD_ARG} DIR CASE_ID APPOINTMENT_ID");
    };
    let id: CaseId = id.parse().expect("case id");
    let out = |k: &str, v: f64| println!("RESULT {k} {v}");
    out("hwm_start_kib", proc_status_kib("VmHWM") as f64);

    let start = Instant::now();
    let store = Store::open(Path::new(dir)).expect("open store");
    let t_store = start.elapsed();
    let mut case = store.open_case(&id).expect("open case");
    let t_case = start.elapsed();
    let today = casebook_core::dates::today();
    black_box(case.progress(today));
    let t_progress = start.elapsed();
    let appointments = case.appointments();
    black_box(case.tasks());
    black_box(case.record_requests());
    black_box(case.cost_totals());
    let t_overview = start.elapsed();
    out("store_open_ms", ms(t_store));
    out("open_case_ms", ms(t_case - t_store));
    out("reads_ms", ms(t_overview - t_case));
    out("progress_ms", ms(t_progress - t_case));
    out("overview_ms", ms(t_overview));
    out("hwm_overview_kib", proc_status_kib("VmHWM") as f64);

    let start = Instant::now();
    let notes = case.notes(appointment).expect("notes");
    out("notes_ms", ms(start.elapsed()));
    out("hwm_notes_kib", proc_status_kib("VmHWM") as f64);
    let chars: usize = notes.by_author.iter().map(|n| n.text.encode_utf16().count()).sum();
    out("notes_chars", chars as f64);

    let start = Instant::now();
    for a in &appointments {
        black_box(case.notes(&a.id).expect("notes"));
    }
    out("all_notes_ms", ms(start.elapsed()));
    out("hwm_all_kib", proc_status_kib("VmHWM") as f64);
}
