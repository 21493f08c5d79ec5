//! `casebook text`: any shared text field, by name, edited by position in UTF-16 code units (the unit of
//! the mobile and web apps), and the text helpers other commands use.

use anyhow::Result;
use casebook_core::Case;
use casebook_core::model::text::TextField;
use clap::Subcommand;
use serde::Serialize;

use crate::context::{Ctx, Open};
use crate::{input, lookup, output};

/// Help on how text fields are named.
const FIELD_HELP: &str = "The text field: proposed_treatment, symptoms, wishes, question:ID, specialist:ID, \
opinion:ID, notes:APPOINTMENT[:CAREGIVER] (default caregiver: --as or you), summary:APPOINTMENT";

/// Subcommands of `casebook text`.
#[derive(Debug, Subcommand)]
pub(crate) enum TextCmd {
    /// Show a text field and its length in UTF-16 code units.
    Show {
        #[arg(help = FIELD_HELP)]
        field: String,
    },
    /// Append text at the end of a field (exactly as given).
    Append {
        #[arg(help = FIELD_HELP)]
        field: String,
        /// The text to append (`-` reads it from standard input).
        text: String,
    },
    /// Replace a field's whole text (only the part that differs is edited, so concurrent edits merge).
    Set {
        #[arg(help = FIELD_HELP)]
        field: String,
        /// The new text (`-` reads it from standard input).
        text: String,
    },
    /// Delete DELETE units at INDEX and insert TEXT there (positions in UTF-16 code units).
    Splice {
        #[arg(help = FIELD_HELP)]
        field: String,
        /// Position, in UTF-16 code units from the start.
        index: usize,
        /// How many UTF-16 code units to delete.
        delete: usize,
        /// What to insert (`-` reads it from standard input).
        #[arg(default_value = "")]
        text: String,
    },
}

/// Run a `text` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: TextCmd) -> Result<()> {
    match cmd {
        TextCmd::Show { field } => {
            let mut open = ctx.open()?;
            let f = resolve_field(ctx, &open, &field)?;
            let text = open.case.text(&f)?;
            let shown = Shown { field, len_utf16: open.case.text_len(&f)?, text };
            output::emit(ctx, &shown, |s| output::clean(&s.text))
        }
        TextCmd::Append { field, text } => {
            let text = input::text(text)?;
            output::edit(ctx, |o| {
                let f = resolve_field(ctx, o, &field)?;
                Ok(o.case.append_text(&f, &text)?)
            })?;
            output::saved(ctx, "Text appended.")
        }
        TextCmd::Set { field, text } => {
            let text = input::text(text)?;
            output::edit(ctx, |o| {
                let f = resolve_field(ctx, o, &field)?;
                replace_text(&mut o.case, &f, &text)
            })?;
            output::saved(ctx, "Text saved.")
        }
        TextCmd::Splice { field, index, delete, text } => {
            let text = input::text(text)?;
            output::edit(ctx, |o| {
                let f = resolve_field(ctx, o, &field)?;
                Ok(o.case.splice_text(&f, index, delete, &text)?)
            })?;
            output::saved(ctx, "Text edited.")
        }
    }
}

#[derive(Serialize)]
struct Shown {
    field: String,
    text: String,
    len_utf16: usize,
}

/// Parse a field name, completing id prefixes and the default notes author.
fn resolve_field(ctx: &Ctx, open: &Open, field: &str) -> Result<TextField> {
    let case = &open.case;
    let parsed = match field.split(':').collect::<Vec<_>>().as_slice() {
        ["notes", appointment] => {
            TextField::AppointmentNotes { appointment: appointment.to_string(), author: ctx.author(open)? }
        }
        _ => TextField::parse(field)?,
    };
    Ok(match parsed {
        TextField::Question(id) => TextField::Question(lookup::question(case, &id)?),
        TextField::SpecialistNotes(id) => TextField::SpecialistNotes(lookup::specialist(case, &id)?),
        TextField::OpinionTreatment(id) => TextField::OpinionTreatment(lookup::opinion(case, &id)?),
        TextField::AppointmentNotes { appointment, author } => TextField::AppointmentNotes {
            appointment: lookup::appointment(case, &appointment)?,
            author: lookup::caregiver(case, &author)?,
        },
        TextField::AppointmentSummary(id) => TextField::AppointmentSummary(lookup::appointment(case, &id)?),
        other => other,
    })
}

/// Replace a text field's content with `new`, editing only the span that differs.
pub(crate) fn replace_text(case: &mut Case, field: &TextField, new: &str) -> Result<()> {
    let old = case.text(field)?;
    let (index, delete, insert) = minimal_splice(&old, new);
    if delete > 0 || !insert.is_empty() {
        case.splice_text(field, index, delete, insert)?;
    }
    Ok(())
}

/// Append `text` as a new line: a line break is added first unless the field is empty or ends with one.
pub(crate) fn append_line(case: &mut Case, field: &TextField, text: &str) -> Result<()> {
    let current = case.text(field)?;
    if current.is_empty() || current.ends_with('\n') {
        case.append_text(field, text)?;
    } else {
        case.append_text(field, &format!("\n{text}"))?;
    }
    Ok(())
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// The single splice turning `old` into `new`: (index, delete) in UTF-16 units, and the text to insert.
fn minimal_splice<'a>(old: &str, new: &'a str) -> (usize, usize, &'a str) {
    let prefix: usize = old.chars().zip(new.chars()).take_while(|(a, b)| a == b).map(|(a, _)| a.len_utf8()).sum();
    let (old_rest, new_rest) = (&old[prefix..], &new[prefix..]);
    let suffix: usize =
        old_rest.chars().rev().zip(new_rest.chars().rev()).take_while(|(a, b)| a == b).map(|(a, _)| a.len_utf8()).sum();
    let old_mid = &old_rest[..old_rest.len() - suffix];
    let new_mid = &new_rest[..new_rest.len() - suffix];
    (utf16_len(&old[..prefix]), utf16_len(old_mid), new_mid)
}

#[cfg(test)]
mod tests {
    use super::minimal_splice;

    fn apply(old: &str, (i, d, ins): (usize, usize, &str)) -> String {
        let mut u: Vec<u16> = old.encode_utf16().collect();
        u.splice(i..i + d, ins.encode_utf16());
        String::from_utf16(&u).unwrap()
    }

    #[test]
    fn minimal_splices_round_trip() {
        for (old, new) in [
            ("", "héllo wörld"),
            ("héllo wörld", ""),
            ("héllo wörld", "héllo brave wörld"),
            ("a😀b", "a😀😀b"),
            ("診断 ok", "診断 fine"),
            ("same", "same"),
            ("aaa", "aa"),
        ] {
            let s = minimal_splice(old, new);
            assert_eq!(apply(old, s), new, "{old:?} -> {new:?}");
        }
        assert_eq!(minimal_splice("héllo wörld", "héllo brave wörld"), (6, 0, "brave "));
        assert_eq!(minimal_splice("x😀y", "x😀z"), (3, 1, "z"));
    }
}
