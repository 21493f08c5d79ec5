//! `casebook letter`: a record request as a ready-to-sign letter to its custodian (plain text, or a PDF
//! with `--out letter.pdf`): the patient's right-of-access request for the records, a loan request for
//! slides and blocks.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use casebook_core::model::letter::DeliveryFormat;
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::commands::calendar::write_atomically;
use crate::commands::packet::pdf_error;
use crate::context::Ctx;
use crate::keyed::keyed;
use crate::{lookup, output};

/// The letter's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LetterFormat {
    /// Plain text.
    Text,
    /// A PDF (US Letter), ready to print and sign.
    Pdf,
}

/// Arguments of `casebook letter`.
#[derive(Debug, Args)]
pub(crate) struct LetterArgs {
    /// The record request (id or unique id prefix, as `casebook request list` shows it).
    request: String,
    /// Write the letter to this file instead of standard output (`-`: standard output); a `.pdf` file gets
    /// the letter as a PDF.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// How the copies are to be delivered: disc, portal or paper (default: disc when imaging studies are
    /// requested, else paper).
    #[arg(long, value_parser = keyed::<DeliveryFormat>())]
    format: Option<DeliveryFormat>,
    /// The letter's file format (default: from the file's extension, `.pdf` for a PDF; text otherwise).
    #[arg(long, value_enum)]
    output_format: Option<LetterFormat>,
}

#[derive(Serialize)]
struct Letter {
    request: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    output_format: LetterFormat,
    letter: String,
}

/// Print (or write) the letter, dated today (the `--tz` zone, or `--today`).
pub(crate) fn print(ctx: &Ctx, a: LetterArgs) -> Result<()> {
    let open = ctx.open()?;
    let ids = open.case.record_requests().into_iter().map(|r| r.id).collect();
    let id = lookup::item("record request", &a.request, ids)?;
    let text = open.case.request_letter(&id, ctx.today(), a.format)?;
    let file = a.out.filter(|p| p.as_os_str() != "-");
    let is_pdf = |p: &PathBuf| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf"));
    let output_format = a.output_format.unwrap_or(match &file {
        Some(p) if is_pdf(p) => LetterFormat::Pdf,
        _ => LetterFormat::Text,
    });
    if output_format == LetterFormat::Pdf {
        let pdf = casebook_pdf::letter_pdf(&open.case, &id, ctx.today(), a.format).map_err(pdf_error)?;
        let Some(path) = &file else {
            let mut out = std::io::stdout().lock();
            return match out.write_all(&pdf).and_then(|()| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => Ok(other?),
            };
        };
        write_atomically(path, &pdf)?;
    } else if let Some(path) = &file {
        write_atomically(path, text.as_bytes())?;
    }
    let done = Letter { request: id, file: file.map(|p| p.display().to_string()), output_format, letter: text };
    output::emit(ctx, &done, |d| match &d.file {
        Some(f) => format!("Wrote the letter for request {} to {f}: print it, sign it and send it.", d.request),
        None => d.letter.clone(),
    })
}
