//! `casebook export`, `import` and `state`: exchange a case's changes as a file, without a server.
//!
//! On the receiving device, `casebook state > STATE.json`; on the sending device,
//! `casebook export --out FILE --since STATE.json` writes only what the receiver lacks.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use casebook_core::CaseState;
use casebook_core::exchange::MAX_EXCHANGE_BYTES;
use clap::Args;
use serde::Serialize;

use crate::context::Ctx;
use crate::{failure, output};

/// Arguments of `casebook export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// File to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Only the changes a device at this state lacks (a file written by `casebook state` there).
    #[arg(long, value_name = "STATEFILE")]
    since: Option<PathBuf>,
}

/// Arguments of `casebook import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The exchange file.
    file: PathBuf,
}

/// Arguments of `casebook state`.
#[derive(Debug, Args)]
pub(crate) struct StateArgs {
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Serialize)]
struct Exported {
    file: String,
    bytes: usize,
    since: bool,
}

/// Write the case's changes (since a state, or all) to a file.
pub(crate) fn export(ctx: &Ctx, a: ExportArgs) -> Result<()> {
    let since = a
        .since
        .as_deref()
        .map(|p| -> Result<CaseState> {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read state file {}", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a state file written by `casebook state`", p.display()))
        })
        .transpose()?;
    let store = ctx.store()?;
    let id = ctx.case_id(&store)?;
    let bytes = store.export_changes(&id, since.as_ref())?;
    write_atomically(&a.out, &bytes)?;
    let done = Exported { file: a.out.display().to_string(), bytes: bytes.len(), since: since.is_some() };
    output::emit(ctx, &done, |d| {
        let what = if d.since { "changes since the given state" } else { "the whole case" };
        format!("Wrote {what} to {} ({} bytes).", d.file, d.bytes)
    })
}

/// Write a file completely or not at all (a temporary file beside it, then a rename).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().ok_or_else(|| failure::invalid(format!("{} is not a file name", path.display())))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".part");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Merge an exchange file into the store (created if needed).
pub(crate) fn import(ctx: &Ctx, a: ImportArgs) -> Result<()> {
    let len = std::fs::metadata(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?.len();
    if len > MAX_EXCHANGE_BYTES as u64 {
        return Err(failure::invalid(format!(
            "{} is larger than {} MiB: not an exchange file",
            a.file.display(),
            MAX_EXCHANGE_BYTES >> 20
        )));
    }
    let bytes = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let store = ctx.store_or_create()?;
    let report = store.import_changes(&bytes)?;
    let me = store.me(&report.case)?;
    output::emit(ctx, &report, |r| {
        let mut out = vec![match (r.new_case, r.new_changes) {
            (true, n) => format!("Imported case {} ({}).", r.case, changes(n)),
            (false, 0) => format!("Nothing new for case {}: this store already had every change.", r.case),
            (false, n) => format!("Merged {} into case {}.", changes(n), r.case),
        }];
        if me.is_none() {
            out.push("Tip: add yourself with `casebook caregiver add NAME`, then `casebook me set NAME`.".to_string());
        }
        out.join("\n")
    })
}

fn changes(n: usize) -> String {
    if n == 1 { "1 new change".into() } else { format!("{n} new changes") }
}

/// Print (or write) the case's state as JSON.
pub(crate) fn state(ctx: &Ctx, a: StateArgs) -> Result<()> {
    let mut open = ctx.open()?;
    let state = open.case.state()?;
    let text = serde_json::to_string_pretty(&state)?;
    match a.out {
        Some(p) => {
            write_atomically(&p, format!("{text}\n").as_bytes())?;
            output::saved(ctx, &format!("Wrote the case state to {}.", p.display()))
        }
        None => output::print(&text),
    }
}
