//! Time to make the packet (HTML, PDF, PDF with the appendix) and the request letter PDF for the core
//! benchmark's one-year case (150 appointments with notes by 3 authors, 500 other items: documents, tasks,
//! requests, costs, questions …; `core/benches/core_bench.rs`, included here so that the case is the same).
//!
//! ```text
//! cargo bench -p casebook-pdf --bench packet_bench             # full one-year case (~1 min to generate)
//! CASEBOOK_BENCH_QUICK=1 cargo bench -p casebook-pdf --bench packet_bench   # small case, seconds
//! ```
//!
//! Run other than by `cargo bench` (e.g. `cargo test --all-targets`), it does the quick run.

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../core/benches/core_bench.rs"]
mod core_bench;

use std::time::{Duration, Instant};

use casebook_core::Store;
use casebook_pdf::{PacketOptions, letter_pdf, packet_pdf};

/// Median of `runs` timings of `f`, and the last output's size.
fn time(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut size = 0;
    for _ in 0..runs {
        let start = Instant::now();
        size = f();
        times.push(start.elapsed());
    }
    times.sort();
    (times[0], times[times.len() / 2], size)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The one-year case's open time is measured by re-executing this binary (see core_bench.rs).
    if args.first().map(String::as_str) == Some(core_bench::CHILD_ARG) {
        core_bench::child_open(&args[1..]);
        return;
    }
    let env_quick = std::env::var("CASEBOOK_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let quick = env_quick || !args.iter().any(|a| a == "--bench" || a == "--full");
    let cfg = if quick { core_bench::Config::quick() } else { core_bench::Config::full() };
    let mut summary = core_bench::Summary::default();
    let year = core_bench::year_case(&cfg, &mut summary);

    let store = Store::open(year.dir.path()).expect("open store");
    let case = store.open_case(&year.case).expect("open case");
    let today = time::Date::from_calendar_date(2025, time::Month::December, 31).expect("date");
    let runs = if quick { 2 } else { 7 };

    // The first PDF of a process also discovers the system fonts: timed on its own.
    let start = Instant::now();
    let first = packet_pdf(&case, today, &PacketOptions::default()).expect("packet");
    let first_pdf = start.elapsed();

    let data = case.packet_data(today);
    let html = time(runs, || case.packet_html(today).len());
    let pdf = time(runs, || packet_pdf(&case, today, &PacketOptions::default()).expect("packet").len());
    let appendix = time(runs, || {
        packet_pdf(&case, today, &PacketOptions { appendix: true, ..PacketOptions::default() }).expect("packet").len()
    });
    let request = case
        .record_requests()
        .into_iter()
        .find(|r| r.channel == casebook_core::model::record_request::Channel::PatientRequest);
    let letter = request.map(|r| time(runs, || letter_pdf(&case, &r.id, today, None).expect("letter").len()));

    println!();
    println!(
        "== Packet and letter, one-year case ({} mode; {} records, {} questions, {} attachments; {} runs, min / median) ==",
        if quick { "quick" } else { "full" },
        data.records.len(),
        data.open_questions.len() + data.answered_questions.len(),
        data.records.iter().map(|r| r.files.len()).sum::<usize>() + data.other_files.len(),
        runs
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  first packet PDF of the process (font discovery included): {:.1} ms, {} bytes",
        ms(first_pdf),
        first.len()
    );
    for (label, (min, median, size)) in
        [("packet HTML", html), ("packet PDF", pdf), ("packet PDF with appendix", appendix)]
            .into_iter()
            .chain(letter.map(|l| ("request letter PDF", l)))
    {
        println!("  {label:<28} {:>9.1} / {:>9.1} ms   {size:>9} bytes", ms(min), ms(median));
    }
}
