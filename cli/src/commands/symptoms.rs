//! `casebook symptoms`: symptoms and concerns, a text the whole family writes.

use anyhow::Result;
use casebook_core::model::text::TextField;
use clap::Subcommand;
use serde::Serialize;

use crate::commands::text::{append_line, replace_text};
use crate::context::Ctx;
use crate::{input, output};

/// Subcommands of `casebook symptoms`.
#[derive(Debug, Subcommand)]
pub(crate) enum SymptomsCmd {
    /// Show the symptoms and concerns.
    Show,
    /// Append a line.
    Append {
        /// The text (`-` reads it from standard input).
        text: String,
    },
    /// Replace the whole text (only what differs is edited).
    Set {
        /// The new text (`-` reads it from standard input).
        text: String,
    },
}

#[derive(Serialize)]
struct Shown {
    symptoms: String,
}

/// Run a `symptoms` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: SymptomsCmd) -> Result<()> {
    match cmd {
        SymptomsCmd::Show => {
            let open = ctx.open()?;
            output::emit(ctx, &Shown { symptoms: open.case.symptoms() }, |s| {
                if s.symptoms.trim().is_empty() {
                    "No symptoms or concerns written down yet: casebook symptoms append TEXT".into()
                } else {
                    output::clean(&s.symptoms)
                }
            })
        }
        SymptomsCmd::Append { text } => {
            let text = input::text(text)?;
            output::edit(ctx, |o| append_line(&mut o.case, &TextField::Symptoms, &text))?;
            output::saved(ctx, "Symptoms saved.")
        }
        SymptomsCmd::Set { text } => {
            let text = input::text(text)?;
            output::edit(ctx, |o| replace_text(&mut o.case, &TextField::Symptoms, &text))?;
            output::saved(ctx, "Symptoms saved.")
        }
    }
}
