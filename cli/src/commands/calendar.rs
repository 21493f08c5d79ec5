//! `casebook calendar`: the case as an iCalendar file (RFC 5545) to import into a calendar app —
//! appointments, the decision date, records due, slides and blocks to return, tasks due. Generic titles
//! unless `--details`; importing a newer file updates the events (stable UIDs, rising SEQUENCE) and removes
//! those that no longer apply (cancelled under the same UID).

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use casebook_core::model::calendar::{self, CalendarOptions};
use clap::Args;
use serde::Serialize;
use time::OffsetDateTime;

use crate::context::Ctx;
use crate::{failure, output};

/// Arguments of `casebook calendar`.
#[derive(Debug, Args)]
pub(crate) struct CalendarArgs {
    /// File to write (`.ics`); `-` writes the calendar to standard output.
    #[arg(long, value_name = "FILE", default_value = "-")]
    out: PathBuf,
    /// Put names and places in the events: specialists, custodians, caregivers, task titles, places. Off by
    /// default: calendars sync to third-party clouds.
    #[arg(long)]
    details: bool,
}

#[derive(Serialize)]
struct Written {
    file: String,
    events: usize,
    cancelled: usize,
    details: bool,
}

/// Write the calendar (as of today, in the `--tz` zone or `--today`).
pub(crate) fn export(ctx: &Ctx, a: CalendarArgs) -> Result<()> {
    let mut open = ctx.open()?;
    let stamp = OffsetDateTime::now_utc();
    let options = CalendarOptions { today: ctx.today(), stamp, details: a.details };
    let events = open.case.calendar_events(&options)?;
    let text = calendar::render(&events, stamp);
    if a.out.as_os_str() == "-" {
        return write_stdout(&text);
    }
    write_atomically(&a.out, text.as_bytes())?;
    let cancelled = events.iter().filter(|e| e.cancelled).count();
    let done = Written { file: a.out.display().to_string(), events: events.len(), cancelled, details: a.details };
    if a.details && !ctx.json() {
        output::eprint_line(
            "note: this calendar names specialists, custodians, caregivers and places: import it only into a \
             calendar no one else can see",
        );
    }
    output::emit(ctx, &done, |d| {
        let cancelled = match d.cancelled {
            0 => String::new(),
            n => format!(", {n} of them cancelled (they no longer apply: importing the file removes them)"),
        };
        let events = if d.events == 1 { "1 event".to_string() } else { format!("{} events", d.events) };
        format!("Wrote {events} to {}{cancelled}.", d.file)
    })
}

/// The calendar on standard output, as it is (CRLF line endings; its text holds no control character). On
/// a terminal, bidirectional overrides are shown as visible escapes, as everywhere else.
fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let shown = if out.is_terminal() {
        text.chars()
            .map(|c| {
                if matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        text.to_string()
    };
    match out.write_all(shown.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Write a file completely or not at all (a temporary file beside it, then a rename).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().ok_or_else(|| failure::invalid(format!("{} is not a file name", path.display())))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".part");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
