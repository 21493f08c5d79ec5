//! Deterministic simulation (see `casebook_core::sim`): a relay and 3–5 devices in one process over a
//! lossy, reordering in-memory network with disconnections, relay restarts, app restarts and lost phones.
//!
//! - `CASEBOOK_SIM_SEEDS=N` runs seeds `CASEBOOK_SIM_FIRST..CASEBOOK_SIM_FIRST+N` (default 1, 200 seeds);
//! - `CASEBOOK_SIM_SEED=S` replays one seed (what a failure prints);
//! - `CASEBOOK_SIM_STEPS=K` changes the steps per seed (default 300).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use casebook_core::sim::{SimConfig, SimReport, run_seed};

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn replay(seed: u64, steps: usize) -> String {
    let steps =
        if steps == SimConfig::default().steps { String::new() } else { format!("CASEBOOK_SIM_STEPS={steps} ") };
    format!(
        "{steps}CASEBOOK_SIM_SEED={seed} cargo test -p casebook-core --features sim --test simulation -- --nocapture"
    )
}

/// Run one seed; a panic inside counts as a failure of that seed.
fn one(seed: u64, cfg: &SimConfig) -> Result<SimReport, String> {
    match catch_unwind(AssertUnwindSafe(|| run_seed(seed, cfg))) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(f)) => Err(f.to_string()),
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(format!("seed {seed} panicked: {}", msg.unwrap_or_default()))
        }
    }
}

#[test]
fn seeds_converge_without_losing_acknowledged_text() {
    let mut cfg = SimConfig::default();
    if let Some(s) = env("CASEBOOK_SIM_STEPS") {
        cfg.steps = s as usize;
    }
    let seeds: Vec<u64> = match env("CASEBOOK_SIM_SEED") {
        Some(s) => vec![s],
        None => {
            let first = env("CASEBOOK_SIM_FIRST").unwrap_or(1);
            (first..first + env("CASEBOOK_SIM_SEEDS").unwrap_or(200)).collect()
        }
    };
    let started = Instant::now();
    let mut total = SimReport::default();
    let mut failures = Vec::new();
    for &seed in &seeds {
        match one(seed, &cfg) {
            Ok(r) => {
                total.absorb(&r);
                if seeds.len() == 1 {
                    eprintln!("{r:#?}");
                }
            }
            Err(f) => {
                eprintln!("{f}\n  replay: {}", replay(seed, cfg.steps));
                failures.push(seed);
            }
        }
    }
    eprintln!(
        "simulation: {} seeds x {} steps in {:.1} s; {} devices, {} operations, {} messages delivered \
         ({} dropped, {} duplicated, {} reordered), {} disconnects, {} relay restarts, {} app restarts, \
         {} lost phones; {} acknowledged text tokens checked, {} legitimately lost (never saved, or only on a \
         lost phone); worst heal {} rounds; {} failed",
        seeds.len(),
        cfg.steps,
        started.elapsed().as_secs_f64(),
        total.clients,
        total.operations,
        total.delivered,
        total.dropped,
        total.duplicated,
        total.reordered,
        total.disconnects,
        total.relay_restarts,
        total.client_restarts,
        total.wipes,
        total.tokens_checked,
        total.tokens_legitimately_lost,
        total.heal_rounds,
        failures.len()
    );
    assert!(failures.is_empty(), "failing seeds: {failures:?} (each printed its replay command above)");
    assert!(total.tokens_checked > 0 && total.delivered > 0, "the simulation exercised nothing");
}

/// The same seed twice in one process: the same schedule, the same documents, byte for byte.
#[test]
fn a_seed_replays_exactly() {
    let cfg = SimConfig { steps: 150, ..SimConfig::default() };
    let a = run_seed(7, &cfg).unwrap();
    let b = run_seed(7, &cfg).unwrap();
    assert!(a.delivered > 0 && !a.fingerprint.is_empty());
    assert_eq!(a, b);
    assert_ne!(run_seed(8, &cfg).unwrap().fingerprint, a.fingerprint);
}
