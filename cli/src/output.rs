//! Output: JSON for machines, text for people, and the small formatting helpers the commands share.
//!
//! Everything here goes to standard output for the person running the command (warnings and errors to
//! standard error); nothing is logged.
//!
//! # Text from the case never reaches the terminal raw
//! Any text of a case may come from another device (a sibling's phone, an exchange file, a relay), so it
//! may hold terminal escape codes (colours, cursor moves, a title change, a hyperlink), a bell, carriage
//! returns or backspaces that overwrite what was printed, or bidirectional overrides that reorder it. The
//! human output neutralises them:
//! - [`line`] for single-line fields (names, titles, table cells — [`table`] and [`opt`] apply it): line
//!   breaks and tabs become spaces, so a name cannot forge a line of output, and every other control or
//!   bidi override character becomes a visible escape such as `\u{1b}`;
//! - [`clean`] for multi-line texts (notes, summaries — [`indent`] applies it): line breaks and tabs stay,
//!   a carriage return becomes a line break, every other control or bidi override becomes a visible escape;
//! - [`print`] and [`warn`] escape, as a last line of defence, whatever a command forgot: escape, the other
//!   C0 and C1 controls (line break and tab aside) and the bidi overrides.
//!
//! `--json` output stays exact: JSON escapes the C0 controls itself, and [`json`] writes the C1 controls,
//! the bidi overrides and the line and paragraph separators as `\uXXXX` escapes, which parse back to the
//! same strings.

use std::borrow::Cow;
use std::io::{ErrorKind, Write};
use std::sync::Mutex;

use anyhow::Result;
use casebook_core::dates::{format_date, format_date_time};
use casebook_core::model::plausibility::Warning;
use serde::Serialize;
use time::{Date, PrimitiveDateTime};

use crate::context::Ctx;

/// A bidirectional embedding, override or isolate: text after it may be shown in another order than it is
/// written (U+202A–U+202E, U+2066–U+2069).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A character that must not reach a terminal as it is: a C0 or C1 control (escape, bell, backspace,
/// carriage return, line break, tab, …), delete, or a bidi control.
fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// `c` as a visible escape: `\u{1b}`.
fn escaped(c: char) -> String {
    c.escape_unicode().to_string()
}

/// A single-line field for people: line breaks (also U+2028, U+2029) and tabs become spaces; every other
/// control or bidi override character becomes a visible escape.
pub(crate) fn line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' | '\u{2028}' | '\u{2029}' => out.push(' '),
            c if is_unsafe(c) => out.push_str(&escaped(c)),
            c => out.push(c),
        }
    }
    out
}

/// A multi-line text for people: line breaks and tabs stay, a carriage return (alone or before a line
/// break) and U+2028, U+2029 become a line break; every other control or bidi override character becomes a
/// visible escape.
pub(crate) fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push('\n');
            }
            '\n' | '\t' => out.push(c),
            '\u{2028}' | '\u{2029}' => out.push('\n'),
            c if is_unsafe(c) => out.push_str(&escaped(c)),
            c => out.push(c),
        }
    }
    out
}

/// The last line of defence before a terminal: every control character but line break and tab, and every
/// bidi control, as a visible escape.
fn defend(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars().map(|c| if is_unsafe(c) && c != '\n' && c != '\t' { escaped(c) } else { c.to_string() }).collect(),
    )
}

/// Write `text` (plus a final newline if missing) to standard output, defended (see the module
/// documentation). A closed pipe (`| head`) is not an error.
pub(crate) fn print(text: &str) -> Result<()> {
    write_raw(&defend(text))
}

/// Write `text` (plus a final newline if missing) to standard output as it is.
fn write_raw(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let res =
        out.write_all(text.as_bytes()).and_then(|()| if text.ends_with('\n') { Ok(()) } else { out.write_all(b"\n") });
    match res.and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Write one line to standard error, defended (see the module documentation). Errors writing it are
/// ignored: there is nowhere left to report them.
pub(crate) fn eprint_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let text = defend(text);
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.write_all(b"\n")).and_then(|()| err.flush());
}

/// `value` as pretty JSON, with the characters a terminal could act on written as `\uXXXX` escapes: the
/// C1 controls and delete (JSON escapes the C0 controls itself), the bidi controls and the line and
/// paragraph separators. The JSON parses back to exactly the same value.
pub(crate) fn json_text<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let text = serde_json::to_string_pretty(value)?;
    let risky = |c: char| is_unsafe(c) || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(risky) {
        return Ok(text);
    }
    // Outside strings, JSON text has only ASCII punctuation, digits, letters and whitespace (which
    // `to_string_pretty` writes as spaces and line breaks): the characters escaped here are inside strings.
    Ok(text
        .chars()
        .map(|c| if risky(c) && c != '\n' && c != ' ' { format!("\\u{:04x}", u32::from(c)) } else { c.to_string() })
        .collect())
}

/// Print `value` as pretty JSON (see [`json_text`]).
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    write_raw(&json_text(value)?)
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
    /// Plausibility warnings the write raised (see [`edit`]).
    warnings: Vec<Warning>,
}

/// Plausibility warnings raised by this process's write, reported once with its result.
static RAISED: Mutex<Vec<Warning>> = Mutex::new(Vec::new());

/// Open the case, apply `f` and save, as [`Ctx::edit`] does, and keep the plausibility warnings the edit
/// raised (those the case shows after it and did not show before), for [`saved`], [`saved_id`] and
/// [`added`] to report: on standard error as `warning: …` for people, in a `warnings` array for machines.
pub(crate) fn edit<T>(ctx: &Ctx, f: impl FnOnce(&mut crate::context::Open) -> Result<T>) -> Result<T> {
    let today = ctx.today();
    let (out, raised) = ctx.edit(|o| {
        let before = o.case.plausibility(today);
        let out = f(o)?;
        let raised: Vec<Warning> = o.case.plausibility(today).into_iter().filter(|w| !before.contains(w)).collect();
        Ok((out, raised))
    })?;
    RAISED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(raised);
    Ok(out)
}

/// Take the warnings [`edit`] kept.
fn take_raised() -> Vec<Warning> {
    std::mem::take(&mut *RAISED.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
}

/// Print warnings for people, on standard error.
pub(crate) fn warn(warnings: &[Warning]) {
    for w in warnings {
        eprint_line(&format!("warning: {}", line(&w.message)));
    }
}

fn done(ctx: &Ctx, id: Option<&str>, message: &str) -> Result<()> {
    let done = Done { ok: true, id, warnings: take_raised() };
    emit(ctx, &done, |_| message.to_string())?;
    if !ctx.json() {
        warn(&done.warnings);
    }
    Ok(())
}

/// Report a saved write: `message` for people, `{"ok": true, "warnings": […]}` for machines.
pub(crate) fn saved(ctx: &Ctx, message: &str) -> Result<()> {
    done(ctx, None, message)
}

/// Report a saved write that created an entry: `message` for people, `{"ok": true, "id": …,
/// "warnings": […]}` for machines.
pub(crate) fn saved_id(ctx: &Ctx, message: &str, id: &str) -> Result<()> {
    done(ctx, Some(id), message)
}

/// Report a saved addition: `message` and the new id for people, `{"ok": true, "id": …, "warnings": […]}`
/// for machines.
pub(crate) fn added(ctx: &Ctx, what: &str, id: &str) -> Result<()> {
    done(ctx, Some(id), &format!("Added {what} {id}."))
}

/// A date, or a dash.
pub(crate) fn date(d: Option<Date>) -> String {
    d.map(format_date).unwrap_or_else(|| "—".into())
}

/// A date and time, or a dash.
pub(crate) fn date_time(d: Option<PrimitiveDateTime>) -> String {
    d.map(|d| format_date_time(d).replacen('T', " ", 1)).unwrap_or_else(|| "—".into())
}

/// An optional single-line text (see [`line`]), or a dash.
pub(crate) fn opt(s: Option<&str>) -> String {
    s.filter(|s| !s.trim().is_empty()).map(line).unwrap_or_else(|| "—".into())
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

/// Indent every line of a multi-line text, cleaned (see [`clean`]).
pub(crate) fn indent(text: &str, by: &str) -> String {
    clean(text).lines().map(|l| format!("{by}{l}")).collect::<Vec<_>>().join("\n")
}

/// Left-aligned columns; the last column is not padded. Every cell is a single line (see [`line`]).
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| line(c)).collect()).collect();
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(width(c));
            }
        }
    }
    let row = |cells: Vec<&str>| {
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
    let mut out = vec![row(header.to_vec())];
    out.extend(rows.iter().map(|r| row(r.iter().map(String::as_str).collect())));
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

    #[test]
    fn single_line_fields_cannot_forge_lines_or_reach_the_terminal_raw() {
        assert_eq!(line("Ana"), "Ana");
        assert_eq!(line("Eve\nFAKE\r\tx"), "Eve FAKE  x");
        assert_eq!(line("a\u{1b}[31mb\u{7}c\u{8}\u{7f}"), "a\\u{1b}[31mb\\u{7}c\\u{8}\\u{7f}");
        assert_eq!(line("\u{9b}2J \u{85}"), "\\u{9b}2J \\u{85}", "C1 controls");
        assert_eq!(line("x\u{202e}gnp.exe\u{2066}\u{2069}"), "x\\u{202e}gnp.exe\\u{2066}\\u{2069}", "bidi controls");
        assert_eq!(line("a\u{2028}b\u{2029}c"), "a b c");
        assert_eq!(line("診断 😀 é \u{200f}"), "診断 😀 é \u{200f}", "text and direction marks stay");
        assert_eq!(opt(Some("x\ny")), "x y");
        assert_eq!(opt(Some("  ")), "—");
        let t = table(&["ID", "NAME", "X"], &[vec!["1".into(), "Eve\nFAKE".into(), "\u{1b}".into()]]);
        assert_eq!(t, "ID  NAME      X\n1   Eve FAKE  \\u{1b}");
    }

    #[test]
    fn multi_line_texts_keep_their_lines_and_lose_other_controls() {
        assert_eq!(clean("one\ntwo\tthree"), "one\ntwo\tthree");
        assert_eq!(clean("one\r\ntwo\rthree\u{2028}four"), "one\ntwo\nthree\nfour");
        assert_eq!(clean("a\u{1b}[1Ab\u{7}\u{9b}\u{202d}"), "a\\u{1b}[1Ab\\u{7}\\u{9b}\\u{202d}");
        assert_eq!(indent("one\r\n\u{1b}two", "  "), "  one\n  \\u{1b}two");
    }

    #[test]
    fn the_last_line_of_defence_and_json() {
        assert_eq!(defend("ok\n\tfine"), "ok\n\tfine");
        assert!(matches!(defend("plain"), Cow::Borrowed(_)));
        assert_eq!(defend("a\u{1b}b\rc\u{9b}\u{202e}"), "a\\u{1b}b\\u{d}c\\u{9b}\\u{202e}");
        let value = serde_json::json!({"name": "Eve\n\u{1b}[31m\u{9b}\u{202e}\u{2028}\u{7f}x", "n": 1});
        let text = json_text(&value).unwrap();
        assert!(!text.chars().any(|c| is_unsafe(c) && c != '\n' || c == '\u{2028}'), "{text:?}");
        assert!(text.contains(r#""Eve\n\u001b[31m\u009b\u202e\u2028\u007fx""#), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value, "JSON stays exact");
    }
}
