//! `casebook export`, `import` and `state`: exchange a case's changes as a file, without a server.
//!
//! On the receiving device, `casebook state > STATE.json`; on the sending device,
//! `casebook export --out FILE --since STATE.json` writes only what the receiver lacks.
//!
//! An export carries the files of the case's attachments held on this device by default (those the
//! receiver's state says it holds are left out): the exchange file is how a family without a relay moves
//! the case, and a scan that arrives as "not on this device yet" with no relay to fetch it from is of no
//! use. `--no-attachments` writes the changes only (a small file, readable by older versions).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use casebook_core::CaseState;
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
    /// Leave the attachments' files out (changes only). By default the files held on this device go too.
    #[arg(long)]
    no_attachments: bool,
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
    bytes: u64,
    since: bool,
    attachments: usize,
    attachments_missing: usize,
}

/// Write the case's changes (since a state, or all), and the attachments' files, to a file.
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
    let report = write_atomically(&a.out, |w| Ok(store.export_exchange(&id, since.as_ref(), !a.no_attachments, w)?))?;
    let done = Exported {
        file: a.out.display().to_string(),
        bytes: report.bytes,
        since: since.is_some(),
        attachments: report.attachments,
        attachments_missing: report.attachments_missing,
    };
    output::emit(ctx, &done, |d| {
        let what = if d.since { "changes since the given state" } else { "the whole case" };
        let mut out = vec![format!("Wrote {what} to {} ({} bytes).", d.file, d.bytes)];
        if d.attachments > 0 {
            out.push(format!("With {}.", files(d.attachments)));
        }
        if d.attachments_missing > 0 {
            out.push(format!(
                "{} not on this device, so not in the file: sync, or open them, first.",
                files(d.attachments_missing)
            ));
        }
        out.join("\n")
    })
}

fn files(n: usize) -> String {
    if n == 1 { "1 attachment file".into() } else { format!("{n} attachment files") }
}

/// Write a file completely or not at all (a temporary file beside it, synced, then a rename).
fn write_atomically<T>(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<T>) -> Result<T> {
    let name = path.file_name().ok_or_else(|| failure::invalid(format!("{} is not a file name", path.display())))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".part");
    let tmp = path.with_file_name(tmp_name);
    let file = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let written = write(&mut w).and_then(|t| {
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok(t)
    });
    match written {
        Ok(t) => {
            std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
            Ok(t)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Merge an exchange file (and the attachment files it carries) into the store (created if needed).
pub(crate) fn import(ctx: &Ctx, a: ImportArgs) -> Result<()> {
    let file = std::fs::File::open(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let store = ctx.store_or_create()?;
    let report = store.import_exchange(&mut std::io::BufReader::with_capacity(1 << 20, file))?;
    let me = store.me(&report.case)?;
    output::emit(ctx, &report, |r| {
        let mut out = vec![match (r.new_case, r.new_changes) {
            (true, n) => format!("Imported case {} ({}).", r.case, changes(n)),
            (false, 0) => format!("Nothing new for case {}: this store already had every change.", r.case),
            (false, n) => format!("Merged {} into case {}.", changes(n), r.case),
        }];
        if r.new_attachments > 0 {
            out.push(format!("Stored {} (verified).", files(r.new_attachments)));
        }
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
    // With the attachment files this device holds, so that an export to it leaves them out.
    let state = open.case.exchange_state()?;
    let text = serde_json::to_string_pretty(&state)?;
    match a.out {
        Some(p) => {
            write_atomically(&p, |w| Ok(w.write_all(format!("{text}\n").as_bytes())?))?;
            output::saved(ctx, &format!("Wrote the case state to {}.", p.display()))
        }
        None => output::print(&text),
    }
}
