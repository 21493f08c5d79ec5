//! Calendar dates and local date-times as stored in a case (ISO 8601 text), parsed with typed errors.

use time::{Date, PrimitiveDateTime, format_description::FormatItem, macros::format_description};

use crate::error::{Error, Result};

const DATE: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");
const DATE_TIME: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]T[hour]:[minute]");

/// Parse `YYYY-MM-DD`.
pub fn parse_date(field: &'static str, s: &str) -> Result<Date> {
    Date::parse(s.trim(), DATE).map_err(|_| Error::InvalidInput {
        field,
        reason: format!("{:?} is not a date of the form YYYY-MM-DD", truncate(s)),
    })
}

/// Parse a local date-time `YYYY-MM-DDTHH:MM` (a space instead of `T` is accepted).
pub fn parse_date_time(field: &'static str, s: &str) -> Result<PrimitiveDateTime> {
    let norm = s.trim().replacen(' ', "T", 1);
    PrimitiveDateTime::parse(&norm, DATE_TIME).map_err(|_| Error::InvalidInput {
        field,
        reason: format!("{:?} is not a date and time of the form YYYY-MM-DDTHH:MM", truncate(s)),
    })
}

/// Format a date as `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    d.format(DATE).expect("dates always format")
}

/// Format a local date-time as `YYYY-MM-DDTHH:MM`.
pub fn format_date_time(d: PrimitiveDateTime) -> String {
    d.format(DATE_TIME).expect("date-times always format")
}

/// Read a stored date leniently: a value that does not parse (written by a buggy peer) reads as absent.
pub(crate) fn stored_date(s: Option<String>) -> Option<Date> {
    s.and_then(|s| Date::parse(&s, DATE).ok())
}

/// Today's date in UTC (callers that need determinism pass their own `today`).
pub fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}
