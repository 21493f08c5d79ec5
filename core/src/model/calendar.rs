//! The case as a calendar (RFC 5545 iCalendar text) for the family's calendar app: appointments, the
//! decision date, the legal due dates of record requests, the dates lent slides and blocks go back, and task
//! due dates.
//!
//! # Privacy
//! Calendars sync to third-party clouds (DOMAIN.md, "Calendars"): by default an event says only what kind
//! of date it is — "Medical appointment", "Records request due", "Return pathology material", "Decision
//! date", "Task due" — never a diagnosis, a note, a task's own wording, a specialist, a custodian or a place.
//! [`CalendarOptions::details`] adds names, titles and places, for a calendar the family keeps to itself.
//!
//! # Updating, never duplicating
//! Each event has a stable `UID`, `<kind>-<item id>@<case id>.casebook` (`decision-date@<case id>.casebook`
//! for the decision date), and a `SEQUENCE` derived from the document alone: the number of changes that
//! touched what the event is made of (the item, its log and retractions; the specialists for an
//! appointment, the care team for a task, the patient section for the decision date). History only grows,
//! so the number never goes down, and it goes up whenever the event can have changed: importing the file
//! again updates the events already imported. An entry that no longer applies — a retracted item, an
//! appointment marked not attended, a request answered, material returned, a task done, a decision
//! recorded, a date cleared — stays in the file as `STATUS:CANCELLED` with the same UID (and a higher
//! SEQUENCE), so that a re-import removes it from the calendar.
//!
//! Which entries are open, and their dates, come from [`Case::agenda`] (the same rules, not a copy of
//! them); appointments are all listed, past ones included (a calendar keeps its history).
//!
//! # Times
//! An appointment's start is the local time of its place; with its zone known it is written in UTC (`Z`),
//! so every calendar shows it at the right instant without a `VTIMEZONE`; without a zone it is written as a
//! floating local time. Appointments have no end time in the case: each is given
//! [`APPOINTMENT_MINUTES`]. Dates without a time (due dates, the decision date) are all-day events.
//!
//! # Cost
//! Reading the `SEQUENCE`s decodes every change of the overview document once: meant for an export on
//! request, not for every screen.

use std::collections::{HashMap, HashSet};

use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ScalarValue};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::agenda::{AgendaEntry, AgendaKind, appointment_label};
use super::appointment::AppointmentKind;
use super::record_request::{RecordItem, RequestProgress};
use super::retraction::is_retracted;
use super::{Keyed, all_items};
use crate::am;
use crate::case::Case;
use crate::dates::{Zone, parse_date_time, stored_date, stored_zone};
use crate::error::{Error, Result};

/// The length given to an appointment (the case keeps its start only).
pub const APPOINTMENT_MINUTES: i64 = 60;

/// What the calendar is computed for, and how much it says.
#[derive(Debug, Clone)]
pub struct CalendarOptions {
    /// The device's local date: a record request's state and due date are derived as of this day (as the
    /// agenda's are).
    pub today: Date,
    /// When the file is made (`DTSTAMP` of every event).
    pub stamp: OffsetDateTime,
    /// Put names, task titles and places in the events (specialist, custodian, caregiver, place). Off by
    /// default: calendars sync to third parties.
    pub details: bool,
}

/// When an event happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventTime {
    /// A whole day.
    AllDay(Date),
    /// From `start` to `end`, in UTC (an appointment whose place's zone is known).
    Utc {
        /// Start, UTC.
        start: PrimitiveDateTime,
        /// End, UTC.
        end: PrimitiveDateTime,
    },
    /// From `start` to `end`, local time wherever the calendar is (an appointment without a zone, or with a
    /// zone this device's time zone database does not know).
    Floating {
        /// Start, local.
        start: PrimitiveDateTime,
        /// End, local.
        end: PrimitiveDateTime,
    },
}

impl EventTime {
    /// The start day (UTC for [`EventTime::Utc`]).
    pub fn date(&self) -> Date {
        match self {
            EventTime::AllDay(d) => *d,
            EventTime::Utc { start, .. } | EventTime::Floating { start, .. } => start.date(),
        }
    }

    fn sort_key(&self) -> (Date, Option<time::Time>) {
        match self {
            EventTime::AllDay(d) => (*d, None),
            EventTime::Utc { start, .. } | EventTime::Floating { start, .. } => (start.date(), Some(start.time())),
        }
    }
}

/// One event of the calendar.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CalendarEvent {
    /// The stable UID: `<kind>-<item id>@<case id>.casebook`.
    pub uid: String,
    /// What it is.
    pub kind: AgendaKind,
    /// The item (appointment, record request or task id); `None` for the decision date.
    pub item: Option<String>,
    /// Raised whenever the event can have changed (see the module documentation).
    pub sequence: u64,
    /// When.
    pub time: EventTime,
    /// The title (`SUMMARY`): generic unless [`CalendarOptions::details`].
    pub title: String,
    /// A note on the date (`DESCRIPTION`), if any: never names anyone unless [`CalendarOptions::details`].
    pub description: Option<String>,
    /// The place of an appointment (`LOCATION`), with [`CalendarOptions::details`] only.
    pub location: Option<String>,
    /// The entry no longer applies (`STATUS:CANCELLED`): a re-import removes it.
    pub cancelled: bool,
}

/// The generic title of each kind of entry: what a calendar shows by default.
pub fn generic_title(kind: AgendaKind) -> &'static str {
    match kind {
        AgendaKind::Appointment => "Medical appointment",
        AgendaKind::RecordsDue => "Records request due",
        AgendaKind::ReturnMaterial => "Return pathology material",
        AgendaKind::DecisionDate => "Decision date",
        AgendaKind::Task => "Task due",
    }
}

/// The kind as it appears in a UID.
fn uid_kind(kind: AgendaKind) -> &'static str {
    match kind {
        AgendaKind::Appointment => "appointment",
        AgendaKind::RecordsDue => "records-due",
        AgendaKind::ReturnMaterial => "return-material",
        AgendaKind::DecisionDate => "decision-date",
        AgendaKind::Task => "task",
    }
}

/// Shown with a records-due date (DOMAIN.md: say so where the due date is shown).
const DUE_NOTE: &str = "Legal due date of a records request, counted from the day the request was sent. The law \
                        counts from the day it was received, so this date is a little early: the safe side.";

/// `s` trimmed, or `None` when blank.
fn named(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------------------------------------------------
// SEQUENCE: changes per part of the document.
// ---------------------------------------------------------------------------------------------------------

/// An object as changes name it (the root is never followed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ObjKey(u64, ActorId);

impl ObjKey {
    fn of(id: &ObjId) -> Option<Self> {
        match id {
            ObjId::Root => None,
            ObjId::Id(counter, actor, _) => Some(ObjKey(*counter, actor.clone())),
        }
    }
}

/// A part of the document whose changes are counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Part {
    /// An item of a section (with everything under it but texts).
    Item(&'static str, String),
    /// A whole section (with everything under it but texts).
    Section(&'static str),
}

/// Keys whose last value set is remembered: the date an event had before it was cleared.
const REMEMBERED: &[&str] = &["start", "tz", "due", "return_by", "date", "diagnosis_date"];

/// Counts, for each followed part of the overview, the changes that touched it.
#[derive(Default)]
struct Changes {
    parts: HashMap<Part, usize>,
    counts: Vec<u64>,
    /// Followed objects, by part.
    objects: HashMap<ObjKey, usize>,
    /// Sections whose keys are items: an operation on the section under an item's id touches that item.
    sections: HashMap<ObjKey, HashMap<String, usize>>,
    /// The current object of each followed item or section.
    roots: HashMap<Part, ObjKey>,
    /// The last string set under a remembered key of a followed object.
    last: HashMap<(ObjKey, String), String>,
}

impl Changes {
    fn part(&mut self, part: Part) -> usize {
        let next = self.parts.len();
        let i = *self.parts.entry(part).or_insert(next);
        if i == self.counts.len() {
            self.counts.push(0);
        }
        i
    }

    /// Follow every item of `section` (retracted ones included), each on its own.
    fn items(&mut self, doc: &AutoCommit, section: &'static str) {
        let Some(sec) = am::root_map(doc, section).ok().as_ref().and_then(ObjKey::of) else { return };
        for (id, o) in all_items(doc, section) {
            let i = self.part(Part::Item(section, id.clone()));
            if let Some(k) = ObjKey::of(&o) {
                self.objects.insert(k.clone(), i);
                self.roots.insert(Part::Item(section, id.clone()), k);
            }
            self.sections.entry(sec.clone()).or_default().insert(id, i);
        }
    }

    /// Follow a whole section.
    fn section(&mut self, doc: &AutoCommit, section: &'static str) {
        let i = self.part(Part::Section(section));
        if let Some(k) = am::root_map(doc, section).ok().as_ref().and_then(ObjKey::of) {
            self.objects.insert(k.clone(), i);
            self.roots.insert(Part::Section(section), k);
        }
    }

    /// Count the changes of `doc`. Changes are walked by their first operation's counter, which is greater
    /// than every operation of the changes they depend on (Lamport): an object is created before it is
    /// used. Objects created under a followed one (maps, lists; not texts) are followed too.
    fn count(&mut self, doc: &mut AutoCommit) -> std::result::Result<(), String> {
        let mut changes = doc.get_changes(&[]);
        changes.sort_by(|a, b| (a.start_op(), a.actor_id()).cmp(&(b.start_op(), b.actor_id())));
        let mut touched: Vec<usize> = Vec::new();
        for change in changes {
            let expanded = crate::guard::catch(|| change.decode())?;
            let start = expanded.start_op.get();
            let actor = change.actor_id();
            touched.clear();
            for (n, op) in expanded.operations.iter().enumerate() {
                let ObjectId::Id(obj) = &op.obj else { continue };
                let obj = ObjKey(obj.counter(), obj.actor().clone());
                let key = match &op.key {
                    Key::Map(k) => Some(k.as_str()),
                    Key::Seq(_) => None,
                };
                let part = self.objects.get(&obj).copied().or_else(|| {
                    let items = self.sections.get(&obj)?;
                    key.and_then(|k| items.get(k).copied())
                });
                let Some(part) = part else { continue };
                touched.push(part);
                match &op.action {
                    OpType::Make(kind) if *kind != ObjType::Text => {
                        let made = ObjKey(start.saturating_add(n as u64), actor.clone());
                        self.objects.insert(made, part);
                    }
                    OpType::Put(ScalarValue::Str(s)) => {
                        if let Some(k) = key.filter(|k| REMEMBERED.contains(k)) {
                            self.last.insert((obj, k.to_string()), s.to_string());
                        }
                    }
                    _ => {}
                }
            }
            touched.sort_unstable();
            touched.dedup();
            for &p in &touched {
                self.counts[p] += 1;
            }
        }
        Ok(())
    }

    /// Changes that touched `part` (0 for a part not followed).
    fn of(&self, part: &Part) -> u64 {
        self.parts.get(part).map_or(0, |&i| self.counts[i])
    }

    /// The last value set under `key` of `part`'s object, if it was ever set.
    fn last(&self, part: &Part, key: &str) -> Option<&str> {
        let root = self.roots.get(part)?;
        self.last.get(&(root.clone(), key.to_string())).map(String::as_str)
    }
}

// ---------------------------------------------------------------------------------------------------------
// The events.
// ---------------------------------------------------------------------------------------------------------

/// An appointment as read for the calendar (retracted ones included).
struct Appt {
    id: String,
    kind: AppointmentKind,
    specialist: Option<String>,
    start: Option<PrimitiveDateTime>,
    tz: Option<String>,
    place: Option<String>,
    attended: Option<bool>,
    retracted: bool,
}

/// Every appointment of the document, retracted ones included.
fn all_appointments(doc: &AutoCommit) -> Vec<Appt> {
    all_items(doc, "appointments")
        .into_iter()
        .map(|(id, o)| Appt {
            kind: am::get_str(doc, &o, "kind")
                .and_then(|k| AppointmentKind::from_key(&k))
                .unwrap_or(AppointmentKind::Other),
            specialist: am::get_str(doc, &o, "specialist"),
            start: am::get_str(doc, &o, "start").and_then(|s| parse_date_time("start", &s).ok()),
            tz: stored_zone(am::get_str(doc, &o, "tz")),
            place: am::get_str(doc, &o, "place"),
            attended: am::get_opt_bool(doc, &o, "attended"),
            retracted: is_retracted(doc, &o),
            id,
        })
        .collect()
}

/// The time of an appointment starting at `start` (local time of the place) in zone `tz`.
fn appointment_time(start: PrimitiveDateTime, tz: Option<&str>) -> EventTime {
    let length = Duration::minutes(APPOINTMENT_MINUTES);
    let utc = tz.and_then(|z| Zone::named("tz", z).ok()).and_then(|z| z.convert(start, &Zone::utc()).ok());
    match utc {
        Some(s) => EventTime::Utc { start: s, end: s.saturating_add(length) },
        None => EventTime::Floating { start, end: start.saturating_add(length) },
    }
}

/// "pathology slides", "tissue blocks", … lent by a request, for a detailed title.
fn specimens(items: &[RecordItem]) -> &'static str {
    match (items.contains(&RecordItem::PathologySlides), items.contains(&RecordItem::TissueBlocks)) {
        (true, true) => "pathology slides and tissue blocks",
        (true, false) => "pathology slides",
        (false, true) => "tissue blocks",
        (false, false) => "lent material",
    }
}

impl Case {
    /// The case as an iCalendar file (RFC 5545: CRLF line endings, lines folded at 75 octets, text
    /// escaped), one `VEVENT` per [`Case::calendar_events`] entry. See the
    /// [module documentation](crate::model::calendar) for what it holds, its privacy and its UIDs and
    /// SEQUENCEs.
    pub fn calendar(&mut self, options: &CalendarOptions) -> Result<String> {
        let events = self.calendar_events(options)?;
        Ok(render(&events, options.stamp))
    }

    /// The events of [`Case::calendar`], in time order (then kind, then UID). Pending edits are committed
    /// first (as a save would, without writing them).
    pub fn calendar_events(&mut self, options: &CalendarOptions) -> Result<Vec<CalendarEvent>> {
        self.commit_all()?;
        let mut changes = Changes::default();
        {
            let doc = &self.main.doc;
            for section in ["appointments", "record_requests", "tasks"] {
                changes.items(doc, section);
            }
            for section in ["specialists", "care_team", "decision", "patient"] {
                changes.section(doc, section);
            }
        }
        changes.count(&mut self.main.doc).map_err(|detail| Error::Corrupt {
            case: self.id().clone(),
            detail: format!("a change does not decode: {detail}"),
        })?;

        let case = self.id().as_str().to_string();
        let details = options.details;
        let mut out: Vec<CalendarEvent> = Vec::new();
        let event = |kind: AgendaKind, item: Option<&str>, sequence: u64, time: EventTime, cancelled: bool| {
            let uid = match item {
                Some(id) => format!("{}-{id}@{case}.casebook", uid_kind(kind)),
                None => format!("{}@{case}.casebook", uid_kind(kind)),
            };
            CalendarEvent {
                uid,
                kind,
                item: item.map(str::to_string),
                sequence,
                time,
                title: generic_title(kind).to_string(),
                description: None,
                location: None,
                cancelled,
            }
        };

        // Appointments: every one with a start (or a start it had), past ones included.
        let specialists = self.specialists();
        let spec_changes = changes.of(&Part::Section("specialists"));
        for a in all_appointments(&self.main.doc) {
            let part = Part::Item("appointments", a.id.clone());
            let former = || changes.last(&part, "start").and_then(|s| parse_date_time("start", s).ok());
            let Some(start) = a.start.or_else(former) else { continue };
            let tz = a.tz.clone().or_else(|| stored_zone(changes.last(&part, "tz").map(str::to_string)));
            let cancelled = a.retracted || a.start.is_none() || a.attended == Some(false);
            let mut e = event(
                AgendaKind::Appointment,
                Some(&a.id),
                changes.of(&part) + spec_changes,
                appointment_time(start, tz.as_deref()),
                cancelled,
            );
            if details {
                let mut title = appointment_label(a.kind).to_string();
                let who = a.specialist.as_deref().and_then(|s| specialists.iter().find(|x| x.id == s));
                if let Some(name) = named(who.map(|s| s.name.as_str())) {
                    title.push_str(&format!(" with {name}"));
                }
                e.title = title;
                e.location = named(a.place.as_deref()).map(str::to_string);
            }
            out.push(e);
        }

        // What is open, from the agenda: the decision date, records due, material to return, tasks due.
        let agenda: Vec<AgendaEntry> =
            self.agenda(options.today).into_iter().filter(|e| e.kind != AgendaKind::Appointment).collect();
        let open: HashSet<(AgendaKind, Option<&str>)> = agenda.iter().map(|e| (e.kind, e.id.as_deref())).collect();
        let seq_of = |kind: AgendaKind, id: Option<&str>| match (kind, id) {
            (AgendaKind::DecisionDate, _) | (_, None) => {
                changes.of(&Part::Section("decision")) + changes.of(&Part::Section("patient"))
            }
            (AgendaKind::RecordsDue | AgendaKind::ReturnMaterial, Some(id)) => {
                changes.of(&Part::Item("record_requests", id.to_string()))
            }
            (AgendaKind::Task, Some(id)) => {
                changes.of(&Part::Item("tasks", id.to_string())) + changes.of(&Part::Section("care_team"))
            }
            (AgendaKind::Appointment, Some(id)) => {
                changes.of(&Part::Item("appointments", id.to_string())) + spec_changes
            }
        };
        let describe = |e: &mut CalendarEvent, is_default: bool| {
            e.description = match e.kind {
                AgendaKind::RecordsDue => Some(DUE_NOTE.to_string()),
                AgendaKind::DecisionDate if is_default => {
                    Some("Default date (a rule of thumb), not a date agreed with the care team.".into())
                }
                AgendaKind::DecisionDate => Some("Date agreed with the care team.".into()),
                _ => None,
            };
        };
        for a in &agenda {
            let mut e =
                event(a.kind, a.id.as_deref(), seq_of(a.kind, a.id.as_deref()), EventTime::AllDay(a.date), false);
            describe(&mut e, a.is_default);
            if details {
                e.title = a.title.clone();
            }
            out.push(e);
        }

        // What was on the calendar and no longer applies: cancelled, at the date it had.
        let mut closed: Vec<(AgendaKind, Option<String>, Date, Option<String>)> = Vec::new();
        let decision_date = self.decision_window(options.today).date.or_else(|| {
            let agreed = stored_date(changes.last(&Part::Section("decision"), "date").map(str::to_string));
            let diagnosed = stored_date(changes.last(&Part::Section("patient"), "diagnosis_date").map(str::to_string));
            agreed.or_else(|| diagnosed?.checked_add(Duration::days(super::decision::DEFAULT_WINDOW_DAYS)))
        });
        if let Some(d) = decision_date {
            closed.push((AgendaKind::DecisionDate, None, d, Some("Decide on treatment".into())));
        }
        let requests: Vec<RequestProgress> = self
            .request_progress(options.today)
            .into_iter()
            .chain(self.retracted_record_requests().into_iter().map(|r| r.progress(options.today)))
            .collect();
        for p in &requests {
            let r = &p.request;
            let part = Part::Item("record_requests", r.id.clone());
            let custodian = named(Some(&r.custodian)).unwrap_or("the custodian");
            if let Some(d) = r.due {
                closed.push((
                    AgendaKind::RecordsDue,
                    Some(r.id.clone()),
                    d,
                    Some(format!("Records due from {custodian}")),
                ));
            }
            let by = r.return_by.or_else(|| stored_date(changes.last(&part, "return_by").map(str::to_string)));
            if let Some(d) = by {
                let title = format!("Return the {} to {custodian}", specimens(&r.items));
                closed.push((AgendaKind::ReturnMaterial, Some(r.id.clone()), d, Some(title)));
            }
        }
        let team = self.care_team();
        for (id, o) in all_items(&self.main.doc, "tasks") {
            let doc = &self.main.doc;
            let part = Part::Item("tasks", id.clone());
            let due = stored_date(am::get_str(doc, &o, "due"))
                .or_else(|| stored_date(changes.last(&part, "due").map(str::to_string)));
            if let Some(d) = due {
                let title = named(am::get_str(doc, &o, "title").as_deref()).unwrap_or("Task").to_string();
                let who = am::get_str(doc, &o, "assignee").and_then(|a| team.iter().find(|c| c.id == a));
                let title = match named(who.map(|c| c.name.as_str())) {
                    Some(n) => format!("{title} ({n})"),
                    None => title,
                };
                closed.push((AgendaKind::Task, Some(id), d, Some(title)));
            }
        }
        for (kind, id, date, title) in closed {
            if open.contains(&(kind, id.as_deref())) {
                continue;
            }
            let mut e = event(kind, id.as_deref(), seq_of(kind, id.as_deref()), EventTime::AllDay(date), true);
            if details && let Some(t) = title {
                e.title = t;
            }
            out.push(e);
        }

        out.sort_by(|a, b| (a.time.sort_key(), a.kind, &a.uid).cmp(&(b.time.sort_key(), b.kind, &b.uid)));
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------------------
// RFC 5545 text.
// ---------------------------------------------------------------------------------------------------------

/// The iCalendar text of `events` (as [`Case::calendar_events`] lists them), every event stamped `stamp`
/// (`DTSTAMP`): what [`Case::calendar`] returns.
pub fn render(events: &[CalendarEvent], stamp: OffsetDateTime) -> String {
    let stamp = stamp.to_offset(UtcOffset::UTC);
    let stamp = format!("{}Z", date_time_value(PrimitiveDateTime::new(stamp.date(), stamp.time())));
    let mut out = String::new();
    let mut line = |name: &str, value: &str| fold_into(&mut out, &format!("{name}:{value}"));
    line("BEGIN", "VCALENDAR");
    line("VERSION", "2.0");
    line("PRODID", "-//Casebook//Casebook calendar//EN");
    line("CALSCALE", "GREGORIAN");
    line("X-WR-CALNAME", "Casebook");
    for e in events {
        line("BEGIN", "VEVENT");
        line("UID", &escape_text(&e.uid));
        line("SEQUENCE", &e.sequence.to_string());
        line("DTSTAMP", &stamp);
        match e.time {
            EventTime::AllDay(d) => {
                line("DTSTART;VALUE=DATE", &date_value(d));
                line("DTEND;VALUE=DATE", &date_value(d.next_day().unwrap_or(d)));
                line("TRANSP", "TRANSPARENT");
            }
            EventTime::Utc { start, end } => {
                line("DTSTART", &format!("{}Z", date_time_value(start)));
                line("DTEND", &format!("{}Z", date_time_value(end)));
            }
            EventTime::Floating { start, end } => {
                line("DTSTART", &date_time_value(start));
                line("DTEND", &date_time_value(end));
            }
        }
        line("SUMMARY", &escape_text(&e.title));
        if let Some(d) = &e.description {
            line("DESCRIPTION", &escape_text(d));
        }
        if let Some(l) = &e.location {
            line("LOCATION", &escape_text(l));
        }
        line("STATUS", if e.cancelled { "CANCELLED" } else { "CONFIRMED" });
        line("END", "VEVENT");
    }
    line("END", "VCALENDAR");
    out
}

/// `YYYYMMDD`.
fn date_value(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

/// `YYYYMMDDTHHMMSS`.
fn date_time_value(d: PrimitiveDateTime) -> String {
    format!("{}T{:02}{:02}{:02}", date_value(d.date()), d.hour(), d.minute(), d.second())
}

/// A TEXT value (RFC 5545 3.3.11): backslash, semicolon and comma escaped, line breaks (CRLF, CR, LF,
/// U+2028, U+2029) as `\n`; a tab becomes a space and every other control character is dropped (they are
/// not allowed in a value).
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            '\n' | '\u{2028}' | '\u{2029}' => out.push_str("\\n"),
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Append `line` to `out` folded (RFC 5545 3.1): no physical line longer than 75 octets, each continuation
/// starting with one space, never splitting a UTF-8 character; CRLF after each line.
fn fold_into(out: &mut String, line: &str) {
    const MAX: usize = 75;
    let mut room = MAX;
    let mut used = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if used + len > room {
            out.push_str("\r\n ");
            // The continuation's leading space counts toward its 75 octets.
            room = MAX - 1;
            used = 0;
        }
        out.push(c);
        used += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    fn unfold(s: &str) -> String {
        s.replace("\r\n ", "")
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape_text("a,b;c\\d"), "a\\,b\\;c\\\\d");
        assert_eq!(escape_text("one\r\ntwo\rthree\nfour\u{2028}five"), "one\\ntwo\\nthree\\nfour\\nfive");
        assert_eq!(escape_text("tab\there\u{1b}[31m\u{7}"), "tab here[31m");
        assert_eq!(escape_text("Dr Müller 🩺"), "Dr Müller 🩺");
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let value = format!("SUMMARY:{}", "é🩺a,".repeat(40));
        let mut out = String::new();
        fold_into(&mut out, &value);
        assert!(out.ends_with("\r\n"));
        for l in out.trim_end_matches("\r\n").split("\r\n") {
            assert!(l.len() <= 75, "{} octets: {l:?}", l.len());
        }
        assert_eq!(unfold(&out).trim_end_matches("\r\n"), value);
        // A line of exactly 75 octets is not folded.
        let exact = "X".repeat(75);
        let mut out = String::new();
        fold_into(&mut out, &exact);
        assert_eq!(out, format!("{exact}\r\n"));
    }

    #[test]
    fn times_are_written_as_rfc_5545_values() {
        assert_eq!(date_value(date!(2026 - 03 - 05)), "20260305");
        assert_eq!(date_time_value(datetime!(2026-03-05 09:07:03)), "20260305T090703");
        let t = appointment_time(datetime!(2026-12-07 09:30), Some("America/New_York"));
        assert_eq!(t, EventTime::Utc { start: datetime!(2026-12-07 14:30), end: datetime!(2026-12-07 15:30) });
        let t = appointment_time(datetime!(2026-12-07 09:30), None);
        assert_eq!(t, EventTime::Floating { start: datetime!(2026-12-07 09:30), end: datetime!(2026-12-07 10:30) });
        let t = appointment_time(datetime!(2026-12-07 09:30), Some("Mars/Olympus_Mons"));
        assert!(matches!(t, EventTime::Floating { .. }));
    }
}
