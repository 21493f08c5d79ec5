//! `casebook packet`: the case for the new specialist (the guide's step 4, "organize documentation"):
//! patient and diagnosis, the records with the files attached, medications, family history, symptoms, prior
//! opinions, the family's questions and the contacts. As a PDF (`--out packet.pdf`, optionally with an
//! appendix enclosing the attached images and PDFs) or as one self-contained HTML page (no script, nothing
//! loaded from elsewhere; open it in a browser to read or print it).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use casebook_core::model::packet::SECTIONS;
use casebook_pdf::PacketOptions;
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::commands::calendar::write_atomically;
use crate::context::Ctx;
use crate::{failure, output};

/// The packet's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PacketFormat {
    /// One self-contained HTML page.
    Html,
    /// A PDF (US Letter), optionally with the attached files enclosed (`--appendix`).
    Pdf,
}

/// Arguments of `casebook packet`.
#[derive(Debug, Args)]
pub(crate) struct PacketArgs {
    /// File to write (`.pdf` or `.html`); `-` writes to standard output.
    #[arg(long, value_name = "FILE", default_value = "-")]
    out: PathBuf,
    /// The format (default: from the file's extension, `.pdf` for a PDF; HTML otherwise).
    #[arg(long, value_enum)]
    format: Option<PacketFormat>,
    /// PDF only: enclose, in an appendix, the attached images (JPEG, PNG, GIF) and PDFs whose bytes are on
    /// this device (up to 50 MiB in all); the other files are listed as not enclosed.
    #[arg(long)]
    appendix: bool,
}

#[derive(Serialize)]
struct Written {
    file: String,
    format: PacketFormat,
    sections: Vec<&'static str>,
    appendix: bool,
}

/// The format `--format` names, else the one of `out`'s extension.
fn format_of(out: &Path, format: Option<PacketFormat>) -> PacketFormat {
    format.unwrap_or_else(|| {
        if out.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf")) {
            PacketFormat::Pdf
        } else {
            PacketFormat::Html
        }
    })
}

/// A PDF error as the CLI reports it: the case's own refusals keep their codes.
pub(crate) fn pdf_error(e: casebook_pdf::PdfError) -> anyhow::Error {
    match e {
        casebook_pdf::PdfError::Case(e) => e.into(),
        other => anyhow::Error::new(other),
    }
}

/// Write the packet, dated today (the `--tz` zone, or `--today`).
pub(crate) fn export(ctx: &Ctx, a: PacketArgs) -> Result<()> {
    let format = format_of(&a.out, a.format);
    if a.appendix && format != PacketFormat::Pdf {
        return Err(failure::invalid("--appendix is for the PDF packet: write a .pdf file or give --format pdf"));
    }
    let open = ctx.open()?;
    let bytes = match format {
        PacketFormat::Html => open.case.packet_html(ctx.today()).into_bytes(),
        PacketFormat::Pdf => {
            let options = PacketOptions { appendix: a.appendix, ..PacketOptions::default() };
            casebook_pdf::packet_pdf(&open.case, ctx.today(), &options).map_err(pdf_error)?
        }
    };
    if a.out.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        return match out.write_all(&bytes).and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        };
    }
    write_atomically(&a.out, &bytes)?;
    let done = Written { file: a.out.display().to_string(), format, sections: SECTIONS.to_vec(), appendix: a.appendix };
    output::emit(ctx, &done, |d| match d.format {
        PacketFormat::Html => format!(
            "Wrote the packet ({} sections) to {}: open it in a browser to check it, then print it or send it to \
             the specialist.",
            d.sections.len(),
            d.file
        ),
        PacketFormat::Pdf => format!(
            "Wrote the packet ({} sections{}) to {}: check it, then print it or send it to the specialist.",
            d.sections.len(),
            if d.appendix { ", with the attached files" } else { "" },
            d.file
        ),
    })
}
