//! Output: JSON for machines, text for people, and the small formatting helpers the commands share.
//!
//! Everything here goes to standard output for the person running the command; nothing is logged.

use std::io::{ErrorKind, Write};

use anyhow::Result;
use casebook_core::dates::{format_date, format_date_time};
use serde::Serialize;
use time::{Date, PrimitiveDateTime};

use crate::context::Ctx;

/// Write `text` (plus a final newline if missing) to standard output. A closed pipe (`| head`) is not an
/// error.
pub(crate) fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let res =
        out.write_all(text.as_bytes()).and_then(|()| if text.ends_with('\n') { Ok(()) } else { out.write_all(b"\n") });
    match res.and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Print `value` as pretty JSON.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    print(&serde_json::to_string_pretty(value)?)
}

/// Print `value` as JSON with `--json`, else as the text `human` makes of it.
pub(crate) fn emit<T: Serialize + ?Sized>(ctx: &Ctx, value: &T, human: impl FnOnce(&T) -> String) -> Result<()> {
    if ctx.json() { json(value) } else { print(&human(value)) }
}

/// The JSON answer of a write.
#[derive(Serialize)]
struct Done<'a> {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

/// Report a saved write: `message` for people, `{"ok": true}` for machines.
pub(crate) fn saved(ctx: &Ctx, message: &str) -> Result<()> {
    emit(ctx, &Done { ok: true, id: None }, |_| message.to_string())
}

/// Report a saved write that created an entry: `message` for people, `{"ok": true, "id": …}` for machines.
pub(crate) fn saved_id(ctx: &Ctx, message: &str, id: &str) -> Result<()> {
    emit(ctx, &Done { ok: true, id: Some(id) }, |_| message.to_string())
}

/// Report a saved addition: `message` and the new id for people, `{"ok": true, "id": …}` for machines.
pub(crate) fn added(ctx: &Ctx, what: &str, id: &str) -> Result<()> {
    emit(ctx, &Done { ok: true, id: Some(id) }, |_| format!("Added {what} {id}."))
}

/// A date, or a dash.
pub(crate) fn date(d: Option<Date>) -> String {
    d.map(format_date).unwrap_or_else(|| "—".into())
}

/// A date and time, or a dash.
pub(crate) fn date_time(d: Option<PrimitiveDateTime>) -> String {
    d.map(|d| format_date_time(d).replacen('T', " ", 1)).unwrap_or_else(|| "—".into())
}

/// An optional text, or a dash.
pub(crate) fn opt(s: Option<&str>) -> &str {
    s.filter(|s| !s.trim().is_empty()).unwrap_or("—")
}

/// An amount in cents as `1234.50`.
pub(crate) fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `1 day`, `3 days`.
pub(crate) fn days(n: i64) -> String {
    if n.abs() == 1 { format!("{n} day") } else { format!("{n} days") }
}

/// Days to a date: `12 days left`, `today`, `3 days ago`.
pub(crate) fn days_left(n: i64) -> String {
    match n {
        0 => "today".into(),
        n if n > 0 => format!("{} left", days(n)),
        n => format!("{} ago", days(-n)),
    }
}

/// `yes` / `no`.
pub(crate) fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Indent every line of a multi-line text.
pub(crate) fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}")).collect::<Vec<_>>().join("\n")
}

/// Left-aligned columns; the last column is not padded.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(width(c));
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let n = cells.len();
        cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| if i + 1 == n { c.to_string() } else { format!("{c}{}", " ".repeat(widths[i] - width(c))) })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(rows.iter().map(|r| line(r.iter().map(String::as_str).collect())));
    out.join("\n")
}

/// A list, or `empty` when there is nothing in it.
pub(crate) fn table_or(empty: &str, header: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() { empty.to_string() } else { table(header, rows) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(money(12050), "120.50");
        assert_eq!(money(7), "0.07");
        assert_eq!(days_left(1), "1 day left");
        assert_eq!(days_left(-3), "3 days ago");
        assert_eq!(table(&["A", "BB"], &[vec!["xyz".into(), "1".into()]]), "A    BB\nxyz  1");
    }
}
