//! `casebook notes` and `casebook summary`: each caregiver's own notes of an appointment, and the shared
//! summary. Notes are shown only to the person running the command, never logged.

use std::collections::BTreeMap;

use anyhow::Result;
use casebook_core::Case;
use casebook_core::model::appointment::AppointmentNotes;
use casebook_core::model::text::TextField;
use clap::Subcommand;
use serde::Serialize;

use crate::commands::text::{append_line, replace_text};
use crate::context::Ctx;
use crate::{input, lookup, output};

/// Subcommands of `casebook notes`.
#[derive(Debug, Subcommand)]
pub(crate) enum NotesCmd {
    /// Append a line to your notes of an appointment (author: --as or you).
    Append {
        /// Appointment id (or unique prefix).
        appointment: String,
        /// The text (`-` reads it from standard input).
        text: String,
    },
    /// Show everyone's notes of an appointment and the shared summary.
    Show {
        /// Appointment id (or unique prefix).
        appointment: String,
    },
    /// Replace your notes of an appointment (only what differs is edited).
    Set {
        /// Appointment id (or unique prefix).
        appointment: String,
        /// The new text (`-` reads it from standard input).
        text: String,
    },
}

/// Subcommands of `casebook summary`.
#[derive(Debug, Subcommand)]
pub(crate) enum SummaryCmd {
    /// Append a line to the shared summary of an appointment.
    Append {
        /// Appointment id (or unique prefix).
        appointment: String,
        /// The text (`-` reads it from standard input).
        text: String,
    },
    /// Show the shared summary of an appointment.
    Show {
        /// Appointment id (or unique prefix).
        appointment: String,
    },
    /// Replace the shared summary (only what differs is edited).
    Set {
        /// Appointment id (or unique prefix).
        appointment: String,
        /// The new text (`-` reads it from standard input).
        text: String,
    },
}

/// The notes of an appointment with the names of their authors.
#[derive(Serialize)]
pub(crate) struct NamedNotes {
    appointment: String,
    #[serde(flatten)]
    notes: AppointmentNotes,
    /// Caregiver names by id, for the authors.
    authors: BTreeMap<String, String>,
}

/// Read an appointment's notes (`appointment` must be a full id).
pub(crate) fn named_notes(case: &mut Case, appointment: &str) -> Result<NamedNotes> {
    let notes = case.notes(appointment)?;
    let team: BTreeMap<String, String> = case.care_team().into_iter().map(|c| (c.id, c.name)).collect();
    let authors = notes
        .by_author
        .iter()
        .filter_map(|n| team.get(&n.author).map(|name| (n.author.clone(), name.clone())))
        .collect();
    Ok(NamedNotes { appointment: appointment.to_string(), notes, authors })
}

/// Notes for people.
pub(crate) fn human(n: &NamedNotes) -> String {
    let mut out = Vec::new();
    let name = |id: &str| n.authors.get(id).map_or_else(|| "a former caregiver".to_string(), |s| output::line(s));
    let mut written: Vec<_> = n.notes.by_author.iter().filter(|a| !a.text.trim().is_empty()).collect();
    written.sort_by_cached_key(|a| (name(&a.author).to_lowercase(), a.author.clone()));
    if written.is_empty() {
        out.push("No notes yet: casebook notes append APPOINTMENT TEXT".to_string());
    }
    for a in written {
        out.push(format!("Notes by {} ({}):\n{}", name(&a.author), a.author, output::indent(&a.text, "  ")));
    }
    if n.notes.summary.trim().is_empty() {
        out.push("Shared summary: —".into());
    } else {
        out.push(format!("Shared summary:\n{}", output::indent(&n.notes.summary, "  ")));
    }
    out.join("\n\n")
}

/// Run a `notes` subcommand.
pub(crate) fn run_notes(ctx: &Ctx, cmd: NotesCmd) -> Result<()> {
    match cmd {
        NotesCmd::Append { appointment, text } => {
            let text = input::text(text)?;
            output::edit(ctx, |o| {
                let appointment = lookup::appointment(&o.case, &appointment)?;
                let author = ctx.author(o)?;
                append_line(&mut o.case, &TextField::AppointmentNotes { appointment, author }, &text)
            })?;
            output::saved(ctx, "Notes saved.")
        }
        NotesCmd::Set { appointment, text } => {
            let text = input::text(text)?;
            output::edit(ctx, |o| {
                let appointment = lookup::appointment(&o.case, &appointment)?;
                let author = ctx.author(o)?;
                replace_text(&mut o.case, &TextField::AppointmentNotes { appointment, author }, &text)
            })?;
            output::saved(ctx, "Notes saved.")
        }
        NotesCmd::Show { appointment } => {
            let mut open = ctx.open()?;
            let appointment = lookup::appointment(&open.case, &appointment)?;
            let notes = named_notes(&mut open.case, &appointment)?;
            output::emit(ctx, &notes, human)
        }
    }
}

#[derive(Serialize)]
struct Summary {
    appointment: String,
    summary: String,
}

/// Run a `summary` subcommand.
pub(crate) fn run_summary(ctx: &Ctx, cmd: SummaryCmd) -> Result<()> {
    match cmd {
        SummaryCmd::Append { appointment, text } => {
            let text = input::text(text)?;
            output::edit(ctx, |o| {
                let appointment = lookup::appointment(&o.case, &appointment)?;
                append_line(&mut o.case, &TextField::AppointmentSummary(appointment), &text)
            })?;
            output::saved(ctx, "Summary saved.")
        }
        SummaryCmd::Set { appointment, text } => {
            let text = input::text(text)?;
            output::edit(ctx, |o| {
                let appointment = lookup::appointment(&o.case, &appointment)?;
                replace_text(&mut o.case, &TextField::AppointmentSummary(appointment), &text)
            })?;
            output::saved(ctx, "Summary saved.")
        }
        SummaryCmd::Show { appointment } => {
            let mut open = ctx.open()?;
            let appointment = lookup::appointment(&open.case, &appointment)?;
            let summary = open.case.notes(&appointment)?.summary;
            output::emit(ctx, &Summary { appointment, summary }, |s| {
                if s.summary.trim().is_empty() { "No shared summary yet.".into() } else { output::clean(&s.summary) }
            })
        }
    }
}
