//! Calendar dates and local date-times as stored in a case (ISO 8601 text), parsed with typed errors.

use time::{Date, OffsetDateTime, PrimitiveDateTime, format_description::FormatItem, macros::format_description};

use crate::error::{Error, Result};

const DATE: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");
const DATE_TIME: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]T[hour]:[minute]");

/// Parse `YYYY-MM-DD`. A refusal says what is wrong in the family's terms: `2026-02-30: February 2026 has
/// 28 days`, `2026-13-01: there is no month 13`, `12/01/2026: write dates as YYYY-MM-DD`.
pub fn parse_date(field: &'static str, s: &str) -> Result<Date> {
    let t = s.trim();
    checked_date(t).map_err(|why| Error::InvalidInput { field, reason: format!("{}: {why}", shown(t)) })
}

/// Parse a local date-time `YYYY-MM-DDTHH:MM` (a space instead of `T` is accepted). A refusal says what is
/// wrong: an impossible date (as [`parse_date`]), `there is no hour 25`, or the form to write.
pub fn parse_date_time(field: &'static str, s: &str) -> Result<PrimitiveDateTime> {
    let t = s.trim();
    let bad = |why: String| Error::InvalidInput { field, reason: format!("{}: {why}", shown(t)) };
    let form = || "write a date and time as YYYY-MM-DDTHH:MM (e.g. 2026-03-05T14:30)".to_string();
    let (day, clock) = t.split_once(['T', ' ']).ok_or_else(|| bad(form()))?;
    let (h, m) = clock.trim_start().split_once(':').ok_or_else(|| bad(form()))?;
    let (Some(hour), Some(minute)) = (digits(h, 2), digits(m, 2)) else {
        return Err(bad(form()));
    };
    let date = checked_date(day).map_err(|why| if why == DATE_FORM { form() } else { why }).map_err(bad)?;
    if hour > 23 {
        return Err(bad(format!("there is no hour {hour} (hours run from 00 to 23)")));
    }
    if minute > 59 {
        return Err(bad(format!("there is no minute {minute} (minutes run from 00 to 59)")));
    }
    let (Ok(hour), Ok(minute)) = (u8::try_from(hour), u8::try_from(minute)) else {
        return Err(bad(form()));
    };
    let time = time::Time::from_hms(hour, minute, 0).map_err(|_| bad(form()))?;
    Ok(PrimitiveDateTime::new(date, time))
}

/// How to write a date, when what was typed is not of that form.
const DATE_FORM: &str = "write dates as YYYY-MM-DD (e.g. 2026-03-05)";

/// A `YYYY-MM-DD` date, or why not (without the input).
fn checked_date(t: &str) -> std::result::Result<Date, String> {
    let parts: Vec<&str> = t.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(DATE_FORM.into());
    };
    let (Some(year), Some(month), Some(day)) = (digits(y, 4), digits(m, 2), digits(d, 2)) else {
        return Err(DATE_FORM.into());
    };
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(|| format!("there is no month {month} (months run from 01 to 12)"))?;
    let year = i32::try_from(year).map_err(|_| DATE_FORM.to_string())?;
    let days = month.length(year);
    if day == 0 || day > u32::from(days) {
        return Err(if day == 0 { "there is no day 0".to_string() } else { format!("{month} {year} has {days} days") });
    }
    let day = u8::try_from(day).map_err(|_| DATE_FORM.to_string())?;
    Date::from_calendar_date(year, month, day).map_err(|_| DATE_FORM.into())
}

/// `s` as a number if it is exactly `len` ASCII digits.
fn digits(s: &str, len: usize) -> Option<u32> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// What was typed, for an error message: as is when short and printable, else quoted with escapes and cut.
fn shown(t: &str) -> String {
    let cut = truncate(t);
    if cut.chars().count() == t.chars().count() && !t.is_empty() && !t.chars().any(char::is_control) {
        cut
    } else {
        format!("{cut:?}")
    }
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

/// A time zone: an IANA name such as `America/Los_Angeles` with its rules, read from the platform's time
/// zone database (`/usr/share/zoneinfo`, Android's own). "Today", "late" and "days left" follow the
/// device's zone, and an appointment keeps the zone of the place where it happens (DOMAIN.md, "Dates are
/// local").
///
/// The case model never reads the clock: callers turn an instant into a local date or date-time with
/// [`Zone::local`] (or [`Zone::today`], [`Zone::now`]) and pass that on.
#[derive(Debug, Clone)]
pub struct Zone {
    tz: jiff::tz::TimeZone,
    name: Option<String>,
}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone { tz: jiff::tz::TimeZone::UTC, name: Some("UTC".into()) }
    }

    /// The zone with the IANA name `name` (e.g. `America/Los_Angeles`; letter case is ignored, the name
    /// kept is the database's). Unknown names, file paths and POSIX rules are refused.
    pub fn named(field: &'static str, name: &str) -> Result<Zone> {
        let given = name.trim();
        if !is_zone_name(given) {
            return Err(Error::InvalidInput {
                field,
                reason: format!("{:?} is not a time zone name such as America/Los_Angeles", truncate(given)),
            });
        }
        let tz = jiff::tz::TimeZone::get(given).map_err(|_| Error::InvalidInput {
            field,
            reason: format!(
                "{:?} is not a time zone this device knows: give an IANA name such as America/Los_Angeles",
                truncate(given)
            ),
        })?;
        let name = tz.iana_name().unwrap_or(given).to_string();
        Ok(Zone { tz, name: Some(name) })
    }

    /// The device's zone: the `TZ` environment variable, else `/etc/localtime` (on Android the system
    /// property, on Windows the system setting). `None` when none can be found.
    pub fn system() -> Option<Zone> {
        let tz = jiff::tz::TimeZone::try_system().ok()?;
        let name = tz.iana_name().map(str::to_string);
        Some(Zone { tz, name })
    }

    /// The device's zone ([`Zone::system`]), or UTC when none can be found.
    pub fn system_or_utc() -> Zone {
        Zone::system().unwrap_or_else(Zone::utc)
    }

    /// The IANA name, when known (a zone given as a POSIX rule in `TZ`, or an `/etc/localtime` that is a
    /// copy rather than a link, has none).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The local date and time in this zone at the instant `at`, to the second.
    pub fn local(&self, at: OffsetDateTime) -> Result<PrimitiveDateTime> {
        let out_of_range = || Error::InvalidInput { field: "instant", reason: "out of the supported range".into() };
        let ts = jiff::Timestamp::new(at.unix_timestamp(), 0).map_err(|_| out_of_range())?;
        from_civil(self.tz.to_datetime(ts)).ok_or_else(out_of_range)
    }

    /// The local date and time now, in this zone.
    pub fn now(&self) -> PrimitiveDateTime {
        let now = OffsetDateTime::now_utc();
        self.local(now).unwrap_or_else(|_| PrimitiveDateTime::new(now.date(), now.time()))
    }

    /// Today's date in this zone.
    pub fn today(&self) -> Date {
        self.now().date()
    }

    /// The local time in zone `to` of the local time `wall` in this zone (a time skipped by a daylight-saving
    /// change counts as the time after it, a repeated one as its first occurrence).
    pub fn convert(&self, wall: PrimitiveDateTime, to: &Zone) -> Result<PrimitiveDateTime> {
        let out_of_range = || Error::InvalidInput { field: "start", reason: "out of the supported range".into() };
        let dt = to_civil(wall).ok_or_else(out_of_range)?;
        let ts = self.tz.to_timestamp(dt).map_err(|_| out_of_range())?;
        from_civil(to.tz.to_datetime(ts)).ok_or_else(out_of_range)
    }
}

/// Whether `s` has the shape of an IANA time zone name: ASCII letters, digits and `/ _ - +`, in non-empty
/// parts separated by `/`, at most 64 bytes (no file path, no POSIX rule). Says nothing of whether the
/// device's database knows it.
pub fn is_zone_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'))
        && s.split('/').all(|part| !part.is_empty() && !part.starts_with('-'))
}

/// Read a stored time zone name leniently: one that does not have the shape of a name (written by a buggy
/// peer) reads as absent. Never looks the name up, so that every replica reads the same whatever its
/// time zone database.
pub(crate) fn stored_zone(s: Option<String>) -> Option<String> {
    s.filter(|s| is_zone_name(s))
}

fn from_civil(dt: jiff::civil::DateTime) -> Option<PrimitiveDateTime> {
    let month = time::Month::try_from(u8::try_from(dt.month()).ok()?).ok()?;
    let date = Date::from_calendar_date(i32::from(dt.year()), month, u8::try_from(dt.day()).ok()?).ok()?;
    let t = time::Time::from_hms(
        u8::try_from(dt.hour()).ok()?,
        u8::try_from(dt.minute()).ok()?,
        u8::try_from(dt.second()).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, t))
}

fn to_civil(d: PrimitiveDateTime) -> Option<jiff::civil::DateTime> {
    let i8_of = |n: u8| i8::try_from(n).ok();
    jiff::civil::DateTime::new(
        i16::try_from(d.year()).ok()?,
        i8_of(u8::from(d.month()))?,
        i8_of(d.day())?,
        i8_of(d.hour())?,
        i8_of(d.minute())?,
        i8_of(d.second())?,
        0,
    )
    .ok()
}

#[cfg(test)]
mod local_time_tests {
    use time::macros::{date, datetime};

    use super::*;

    fn zone(name: &str) -> Zone {
        Zone::named("tz", name).unwrap()
    }

    #[test]
    fn an_american_evening_is_still_the_same_day_there() {
        // 2026-12-06T03:00Z: the next day in UTC, still the evening of the 5th in California.
        let at = datetime!(2026-12-06 03:00 UTC);
        assert_eq!(zone("America/Los_Angeles").local(at).unwrap(), datetime!(2026-12-05 19:00));
        assert_eq!(zone("America/New_York").local(at).unwrap(), datetime!(2026-12-05 22:00));
        assert_eq!(zone("Europe/Madrid").local(at).unwrap(), datetime!(2026-12-06 04:00));
        assert_eq!(zone("Asia/Tokyo").local(at).unwrap(), datetime!(2026-12-06 12:00));
        assert_eq!(Zone::utc().local(at).unwrap().date(), date!(2026 - 12 - 06));
        // The offset of `at` does not matter, only the instant.
        let same = datetime!(2026-12-05 22:00 -05:00);
        assert_eq!(zone("America/Los_Angeles").local(same).unwrap(), datetime!(2026-12-05 19:00));
    }

    #[test]
    fn daylight_saving_time_is_followed() {
        // Summer: UTC-7 in California; winter: UTC-8.
        let la = zone("America/Los_Angeles");
        assert_eq!(la.local(datetime!(2026-07-01 06:30 UTC)).unwrap(), datetime!(2026-06-30 23:30));
        assert_eq!(la.local(datetime!(2026-01-01 07:30 UTC)).unwrap(), datetime!(2025-12-31 23:30));
    }

    #[test]
    fn names_are_checked_and_kept_as_the_database_spells_them() {
        assert_eq!(zone("america/los_angeles").name(), Some("America/Los_Angeles"));
        assert_eq!(zone(" Europe/Madrid ").name(), Some("Europe/Madrid"));
        assert_eq!(zone("UTC").name(), Some("UTC"));
        for bad in ["", "Mars/Olympus_Mons", "/etc/passwd", "../../etc/passwd", "EST5EDT,M3.2.0,M11.1.0", "a//b"] {
            let e = Zone::named("tz", bad).unwrap_err();
            assert!(matches!(e, Error::InvalidInput { field: "tz", .. }), "{bad}: {e}");
        }
        assert!(is_zone_name("Etc/GMT+5"));
        assert!(is_zone_name("America/Argentina/Buenos_Aires"));
        assert!(!is_zone_name("America/Los Angeles"));
        assert_eq!(stored_zone(Some("x\ny".into())), None);
        assert_eq!(stored_zone(Some("Asia/Tokyo".into())), Some("Asia/Tokyo".into()));
    }

    #[test]
    fn a_wall_time_converts_between_zones() {
        let ny = zone("America/New_York");
        let la = zone("America/Los_Angeles");
        assert_eq!(ny.convert(datetime!(2026-12-07 09:30), &la).unwrap(), datetime!(2026-12-07 06:30));
        assert_eq!(la.convert(datetime!(2026-12-07 22:00), &ny).unwrap(), datetime!(2026-12-08 01:00));
    }

    #[test]
    fn now_and_today_agree() {
        let la = zone("America/Los_Angeles");
        let (today, now) = (la.today(), la.now());
        assert!(now.date() == today || now.date() == today.next_day().unwrap());
    }
}
