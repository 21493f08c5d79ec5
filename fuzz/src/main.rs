//! `casebook-fuzz TARGET [--seed N] [--secs S] [--execs N]`: run one target (or `all`) and print execs,
//! execs/s and findings; findings are written to `fuzz/findings/<target>/` (input, and `.txt` with what failed) and make the exit code 1.
//! `--replay FILE` runs one saved input against a fresh target. `--write-seeds` writes the targets' generated seeds into the committed corpus (`fuzz/corpus/<target>/`).

use std::time::Duration;

use casebook_fuzz::{Budget, TARGETS, run, target};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut names = Vec::new();
    let (mut seed, mut secs, mut execs) = (1u64, 10.0f64, u64::MAX);
    let mut write_seeds = false;
    let mut replay: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow::anyhow!("{a} needs a value"));
        match a.as_str() {
            "--seed" => seed = value()?.parse()?,
            "--secs" => secs = value()?.parse()?,
            "--execs" => execs = value()?.parse()?,
            "--write-seeds" => write_seeds = true,
            "--replay" => replay = Some(value()?.clone()),
            "all" => names.extend(TARGETS.iter().map(|s| s.to_string())),
            "-h" | "--help" => {
                println!("casebook-fuzz <{}|all>... [--seed N] [--secs S] [--execs N]", TARGETS.join("|"));
                return Ok(());
            }
            other => names.push(other.to_string()),
        }
    }
    anyhow::ensure!(!names.is_empty(), "name a target: {TARGETS:?} or all");
    let mut failed = false;
    for name in names {
        let mut t = target(&name)?;
        if let Some(file) = &replay {
            // One input, panics printed (with RUST_BACKTRACE=1, their location).
            let input = std::fs::read(file)?;
            println!("{name}: replay {file}: {:?}", t.exec(&input));
            continue;
        }
        if write_seeds {
            let dir = casebook_fuzz::corpus_dir(&name);
            std::fs::create_dir_all(&dir)?;
            for (i, s) in t.seeds().iter().enumerate() {
                std::fs::write(dir.join(format!("gen-{i:02}")), s)?;
            }
            continue;
        }
        let report = run(t.as_mut(), seed, Budget { execs, time: Duration::from_secs_f64(secs) });
        println!(
            "{name}: seed {seed}, {} execs in {:.1} s ({:.0} execs/s), {} findings",
            report.execs,
            report.elapsed.as_secs_f64(),
            report.execs_per_sec(),
            report.findings.len()
        );
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("findings").join(&name);
        for (i, f) in report.findings.iter().enumerate() {
            failed = true;
            std::fs::create_dir_all(&dir)?;
            let path = dir.join(format!("seed{seed}-{i}"));
            std::fs::write(&path, &f.input)?;
            std::fs::write(path.with_extension("txt"), &f.what)?;
            println!("  finding: {} (input: {})", f.what, path.display());
        }
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
