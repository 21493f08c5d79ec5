//! `casebook packet`: the case as one self-contained HTML page for the new specialist (the guide's step 4,
//! "organize documentation"): patient and diagnosis, the records with the files enclosed, medications,
//! family history, symptoms, prior opinions, the family's questions and the contacts. No script, nothing
//! loaded from elsewhere; open it in a browser to read or print it (A4 or Letter).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use casebook_core::model::packet::SECTIONS;
use clap::Args;
use serde::Serialize;

use crate::commands::calendar::write_atomically;
use crate::context::Ctx;
use crate::output;

/// Arguments of `casebook packet`.
#[derive(Debug, Args)]
pub(crate) struct PacketArgs {
    /// File to write (`.html`); `-` writes the page to standard output.
    #[arg(long, value_name = "FILE", default_value = "-")]
    out: PathBuf,
}

#[derive(Serialize)]
struct Written {
    file: String,
    sections: Vec<&'static str>,
}

/// Write the packet, dated today (the `--tz` zone, or `--today`).
pub(crate) fn export(ctx: &Ctx, a: PacketArgs) -> Result<()> {
    let open = ctx.open()?;
    let html = open.case.packet_html(ctx.today());
    if a.out.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        return match out.write_all(html.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        };
    }
    write_atomically(&a.out, html.as_bytes())?;
    let done = Written { file: a.out.display().to_string(), sections: SECTIONS.to_vec() };
    output::emit(ctx, &done, |d| {
        format!(
            "Wrote the packet ({} sections) to {}: open it in a browser to check it, then print it or send it to \
             the specialist.",
            d.sections.len(),
            d.file
        )
    })
}
