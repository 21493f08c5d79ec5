//! Value conversions at the boundary: dates as ISO 8601 text, sizes as fixed-width integers, ids as text.

use casebook_core::dates::{Zone, format_date, format_date_time, parse_date, parse_date_time};
use time::{Date, PrimitiveDateTime};

use crate::error::CasebookError;

/// `YYYY-MM-DD`, or `None`.
pub(crate) fn date(d: Option<Date>) -> Option<String> {
    d.map(format_date)
}

/// `YYYY-MM-DDTHH:MM`, or `None`.
pub(crate) fn date_time(d: Option<PrimitiveDateTime>) -> Option<String> {
    d.map(format_date_time)
}

/// The day derived views are computed for: the app's local date if given (`YYYY-MM-DD`), else today in the
/// device's time zone (UTC if none can be found).
pub(crate) fn today_or(day: Option<String>) -> Result<Date, CasebookError> {
    match day {
        Some(d) => Ok(parse_date("today", &d)?),
        None => Ok(Zone::system_or_utc().today()),
    }
}

/// The local date and time derived views are computed for: the app's if given (`YYYY-MM-DDTHH:MM`), else
/// now in the device's time zone (UTC if none can be found).
pub(crate) fn now_or(now: Option<String>) -> Result<PrimitiveDateTime, CasebookError> {
    match now {
        Some(n) => Ok(parse_date_time("now", &n)?),
        None => Ok(Zone::system_or_utc().now()),
    }
}

/// The IANA name of the device's time zone, if one can be found.
pub(crate) fn device_zone() -> Option<String> {
    Zone::system().and_then(|z| z.name().map(str::to_string))
}

/// A count or size for the foreign side (saturating: never wraps).
pub(crate) fn u64_of(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A UTF-16 position or count for the core.
pub(crate) fn index(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// A UTF-16 length for the foreign side (texts are far below 4 Gi units; saturating all the same).
pub(crate) fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Parse a case id typed or stored by the app.
pub(crate) fn parse_case_id(id: &str) -> Result<casebook_core::CaseId, CasebookError> {
    Ok(id.parse()?)
}
