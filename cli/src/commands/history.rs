//! `casebook log PATH`: who did what — every value a field took (or every change of an item's fields),
//! by whom and when. (`history` is the family cancer history.)

use anyhow::Result;
use casebook_core::model::history::{Attribution, HistoryAction, HistoryEntry};
use clap::Args;

use crate::context::Ctx;
use crate::output;

/// Arguments of `casebook log`.
#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// A field, as `casebook conflicts` names them (patient/stage, decision/date, appointments/ID/start,
    /// symptoms, appointments/ID/notes/CAREGIVER, appointments/ID/summary), or an item or section
    /// (appointments/ID, patient) for every change of its fields.
    path: String,
}

/// Print the history of a field or of an item.
pub(crate) fn log(ctx: &Ctx, a: LogArgs) -> Result<()> {
    let mut open = ctx.open()?;
    let path = a.path.trim().trim_matches('/').to_string();
    let item = open.case.is_item(&path);
    let entries = if item { open.case.item_history(&path)? } else { open.case.history(&path)? };
    output::emit(ctx, &entries, |list| {
        if list.is_empty() {
            return format!("{}: never set.", output::line(&path));
        }
        let mut out = vec![format!("{}:", output::line(&path))];
        out.extend(list.iter().map(|e| format!("  {}", describe(ctx, &path, e))));
        out.join("\n")
    })
}

/// One entry: `2026-12-01 14:03  Ana: set 2026-12-01T09:30 (current)`; for an item, the field under it
/// before the value.
fn describe(ctx: &Ctx, asked: &str, e: &HistoryEntry) -> String {
    let field = e.path.strip_prefix(asked).map(|f| f.trim_start_matches('/')).unwrap_or(&e.path);
    let field = if field.is_empty() { String::new() } else { format!("{} ", output::line(field)) };
    let what = match (e.action, &e.value) {
        (HistoryAction::Set, Some(v)) => format!("set to {}", output::line(v)),
        (HistoryAction::Kept, Some(v)) => format!("kept {} (conflict resolved)", output::line(v)),
        (HistoryAction::Edited | HistoryAction::Created, Some(v)) if !v.is_empty() => {
            format!("{}: \"{}\"", e.action, excerpt(v))
        }
        (action, _) => action.to_string(),
    };
    let current = if e.current { " (current)" } else { "" };
    format!("{}  {}: {field}{what}{current}", when(ctx, e.by.at), who(&e.by))
}

/// The start of a text, on one line.
fn excerpt(text: &str) -> String {
    const MAX: usize = 60;
    let line = output::line(text);
    if line.chars().count() <= MAX { line } else { format!("{}…", line.chars().take(MAX).collect::<String>()) }
}

/// Who made a change: the caregiver's name, or what is known of them.
pub(crate) fn who(by: &Attribution) -> String {
    match (&by.caregiver, &by.caregiver_id) {
        (Some(name), _) => output::line(name),
        (None, Some(id)) => format!("caregiver {}", output::line(id)),
        (None, None) => "unknown device".into(),
    }
}

/// When a change was made, as a local date and time in the `--tz` zone (`YYYY-MM-DD HH:MM`).
pub(crate) fn when(ctx: &Ctx, at: Option<i64>) -> String {
    at.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| ctx.zone().local(t).ok())
        .map_or_else(|| "time unknown    ".into(), |t| output::date_time(Some(t)))
}
