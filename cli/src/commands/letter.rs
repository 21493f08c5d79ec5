//! `casebook letter`: a record request as a ready-to-sign letter to its custodian (plain text): the
//! patient's right-of-access request for the records, a loan request for slides and blocks.

use std::path::PathBuf;

use anyhow::Result;
use casebook_core::model::letter::DeliveryFormat;
use clap::Args;
use serde::Serialize;

use crate::commands::calendar::write_atomically;
use crate::context::Ctx;
use crate::keyed::keyed;
use crate::{lookup, output};

/// Arguments of `casebook letter`.
#[derive(Debug, Args)]
pub(crate) struct LetterArgs {
    /// The record request (id or unique id prefix, as `casebook request list` shows it).
    request: String,
    /// Write the letter to this file instead of standard output (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// How the copies are to be delivered: disc, portal or paper (default: disc when imaging studies are
    /// requested, else paper).
    #[arg(long, value_parser = keyed::<DeliveryFormat>())]
    format: Option<DeliveryFormat>,
}

#[derive(Serialize)]
struct Letter {
    request: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    letter: String,
}

/// Print (or write) the letter, dated today (the `--tz` zone, or `--today`).
pub(crate) fn print(ctx: &Ctx, a: LetterArgs) -> Result<()> {
    let open = ctx.open()?;
    let ids = open.case.record_requests().into_iter().map(|r| r.id).collect();
    let id = lookup::item("record request", &a.request, ids)?;
    let text = open.case.request_letter(&id, ctx.today(), a.format)?;
    let file = a.out.filter(|p| p.as_os_str() != "-");
    if let Some(path) = &file {
        write_atomically(path, text.as_bytes())?;
    }
    let done = Letter { request: id, file: file.map(|p| p.display().to_string()), letter: text };
    output::emit(ctx, &done, |d| match &d.file {
        Some(f) => format!("Wrote the letter for request {} to {f}: print it, sign it and send it.", d.request),
        None => d.letter.clone(),
    })
}
