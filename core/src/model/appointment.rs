//! Appointments (step 6): who goes, when, recording consent, notes per author and a shared summary.
//!
//! Notes live in the appointment's own Automerge document, opened only when needed, so a year of
//! consultations does not slow down opening the case.
//!
//! The start is the local time of the place where the appointment happens; its time zone (an IANA name,
//! e.g. `America/New_York`) is kept beside it as an optional `tz` key, an additive change: older readers
//! ignore it and read the start as before.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use time::{Date, PrimitiveDateTime};

use super::retraction::{ItemKind, Retract};
use super::{Keyed, check_caregiver, item, items, new_item, optional};
use crate::am;
use crate::case::Case;
use crate::dates::{Zone, format_date, format_date_time, parse_date, parse_date_time, stored_date, stored_zone};
use crate::error::{Error, Result};
use crate::ids::DocId;

keyed_enum! {
    /// Kind of appointment.
    AppointmentKind {
        /// With the treating (first) oncologist.
        FirstOpinion => "first_opinion",
        /// Second-opinion consultation.
        SecondOpinion => "second_opinion",
        /// Third-opinion consultation.
        ThirdOpinion => "third_opinion",
        /// Follow-up.
        FollowUp => "follow_up",
        /// Tests, scans, biopsy.
        Tests => "tests",
        /// Other.
        Other => "other",
    }
}

/// A person's consent to record the consultation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Consent {
    /// Who consented (as written).
    pub person: String,
    /// When.
    pub date: Date,
}

/// An appointment (without its notes: see [`Case::notes`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Appointment {
    /// Item id.
    pub id: String,
    /// Kind.
    pub kind: AppointmentKind,
    /// Specialist id, if linked.
    pub specialist: Option<String>,
    /// Start (local time of the place).
    pub start: Option<PrimitiveDateTime>,
    /// Time zone of the place (IANA name, e.g. `America/New_York`), if known: show it with the start when it
    /// differs from the viewer's.
    pub tz: Option<String>,
    /// Place.
    pub place: Option<String>,
    /// Who attends (names as written).
    pub attendees: Vec<String>,
    /// Recording consents.
    pub recording_consent: Vec<Consent>,
    /// When a written consultation summary was requested.
    pub summary_requested: Option<Date>,
    /// When it was received.
    pub summary_received: Option<Date>,
    /// Marked attended (`true`) or not attended — missed, cancelled (`false`) by someone; `None` when no one
    /// marked it, and then whether it took place follows from its start time ([`Appointment::attended_by`]).
    pub attended: Option<bool>,
}

impl Appointment {
    /// Whether the appointment took place as of `now` (local time): its mark if someone set one, else
    /// whether its start time has passed (strictly before `now`). An appointment without a start time and
    /// without a mark has not taken place.
    pub fn attended_by(&self, now: PrimitiveDateTime) -> bool {
        self.attended.unwrap_or_else(|| self.start.is_some_and(|s| s < now))
    }
}

/// One author's notes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuthorNotes {
    /// Caregiver id.
    pub author: String,
    /// The notes.
    pub text: String,
}

/// The notes of an appointment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppointmentNotes {
    /// Notes per author, by author id.
    pub by_author: Vec<AuthorNotes>,
    /// The shared summary.
    pub summary: String,
}

/// Fields of a new appointment.
#[derive(Debug, Clone, Default)]
pub struct NewAppointment<'a> {
    /// Kind (required).
    pub kind: Option<AppointmentKind>,
    /// Specialist id.
    pub specialist: Option<&'a str>,
    /// Start, YYYY-MM-DDTHH:MM (local time of the place).
    pub start: Option<&'a str>,
    /// Time zone of the place, an IANA name (e.g. `America/New_York`); apps default it to the device's.
    pub tz: Option<&'a str>,
    /// Place.
    pub place: Option<&'a str>,
}

keyed_enum! {
    /// A settable appointment field.
    AppointmentField {
        /// Kind.
        Kind => "kind",
        /// Specialist id.
        Specialist => "specialist",
        /// Start.
        Start => "start",
        /// Time zone of the place (IANA name).
        Tz => "tz",
        /// Place.
        Place => "place",
        /// Date a written summary was requested.
        SummaryRequested => "summary_requested",
        /// Date it was received.
        SummaryReceived => "summary_received",
    }
}

impl Case {
    /// Add an appointment. Returns its id. Its notes document is created with it.
    pub fn add_appointment(&mut self, a: NewAppointment<'_>) -> Result<String> {
        let kind = a.kind.ok_or(Error::InvalidInput { field: "kind", reason: "required".into() })?;
        let start = a.start.map(|s| parse_date_time("start", s)).transpose()?;
        let tz = optional(a.tz).map(|z| Zone::named("tz", &z)).transpose()?;
        let place = optional(a.place);
        let notes_id = DocId::random();
        self.edit(|doc| {
            if let Some(s) = a.specialist {
                item(doc, "specialists", s, "specialist")?;
            }
            let (id, o) = new_item(doc, "appointments")?;
            doc.put(&o, "kind", kind.key())?;
            am::put_opt_str(doc, &o, "specialist", a.specialist)?;
            am::put_opt_str(doc, &o, "start", start.map(format_date_time).as_deref())?;
            am::put_opt_str(doc, &o, "tz", tz.as_ref().and_then(Zone::name))?;
            am::put_opt_str(doc, &o, "place", place.as_deref())?;
            doc.put_object(&o, "attendees", ObjType::Map)?;
            doc.put_object(&o, "recording_consent", ObjType::Map)?;
            doc.put(&o, "notes_doc", notes_id.as_str())?;
            Ok(id)
        })
    }

    /// Set an appointment field (validated: kind, known specialist id, date-time, dates, a time zone this
    /// device knows).
    pub fn set_appointment(&mut self, id: &str, field: AppointmentField, value: Option<&str>) -> Result<()> {
        let value = optional(value);
        let stored = match (field, value.as_deref()) {
            (_, None) => None,
            (AppointmentField::Kind, Some(v)) => Some(AppointmentKind::parse("kind", v)?.key().to_string()),
            (AppointmentField::Start, Some(v)) => Some(format_date_time(parse_date_time("start", v)?)),
            (AppointmentField::Tz, Some(v)) => Zone::named("tz", v)?.name().map(str::to_string),
            (AppointmentField::SummaryRequested | AppointmentField::SummaryReceived, Some(v)) => {
                Some(format_date(parse_date(field.key_static(), v)?))
            }
            (_, Some(v)) => Some(v.to_string()),
        };
        if field == AppointmentField::Kind && stored.is_none() {
            return Err(Error::InvalidInput { field: "kind", reason: "required".into() });
        }
        self.edit(|doc| {
            if field == AppointmentField::Specialist
                && let Some(s) = &stored
            {
                item(doc, "specialists", s, "specialist")?;
            }
            let o = item(doc, "appointments", id, "appointment")?;
            am::put_opt_str(doc, &o, field.key(), stored.as_deref())
        })
    }

    /// Add or remove an attendee.
    pub fn set_attendee(&mut self, id: &str, person: &str, attending: bool) -> Result<()> {
        let person = super::required("attendee", person)?;
        self.edit(|doc| {
            let o = item(doc, "appointments", id, "appointment")?;
            let m = am::child(doc, &o, "attendees", "attendees")?;
            if attending {
                doc.put(&m, person.as_str(), true)?;
            } else if doc.get(&m, person.as_str())?.is_some() {
                doc.delete(&m, person.as_str())?;
            }
            Ok(())
        })
    }

    /// Record that `person` consented to recording on `date` (YYYY-MM-DD).
    pub fn record_consent(&mut self, id: &str, person: &str, date: &str) -> Result<()> {
        let person = super::required("person", person)?;
        let date = parse_date("date", date)?;
        self.edit(|doc| {
            let o = item(doc, "appointments", id, "appointment")?;
            let m = am::child(doc, &o, "recording_consent", "recording consent")?;
            doc.put(&m, person.as_str(), format_date(date))?;
            Ok(())
        })
    }

    /// Mark an appointment attended (`Some(true)`), not attended — missed or cancelled — (`Some(false)`), or
    /// clear the mark (`None`: whether it took place then follows from its start time). Stored as a plain
    /// boolean `attended` on the appointment, a key older readers ignore; two caregivers marking it
    /// differently offline show as a conflict (`casebook conflicts`).
    pub fn set_attended(&mut self, id: &str, attended: Option<bool>) -> Result<()> {
        self.edit(|doc| {
            let o = item(doc, "appointments", id, "appointment")?;
            match attended {
                Some(b) => doc.put(&o, "attended", b)?,
                None => {
                    if doc.get(&o, "attended")?.is_some() {
                        doc.delete(&o, "attended")?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Retract an appointment: a retraction entry (who, when, why) is written on it and it leaves every listing,
    /// but nothing is deleted: it stays, as it stands, among [`Case::retracted_items`]. It leaves the appointments, the agenda and progress; its notes stay readable (and can no longer be written).
    /// Refused: an unknown or already retracted id, an author who is not on the care team. Returns the
    /// retraction's id.
    pub fn retract_appointment(&mut self, id: &str, how: Retract<'_>) -> Result<String> {
        self.retract_item(ItemKind::Appointment, id, how)
    }

    /// Every appointment, by start time (unscheduled last).
    pub fn appointments(&self) -> Vec<Appointment> {
        let doc = &self.main.doc;
        let mut v: Vec<Appointment> = items(doc, "appointments")
            .into_iter()
            .map(|(id, o)| {
                let attendees = am::get_obj(doc, &o, "attendees")
                    .map(|m| am::keys(doc, &m).into_iter().filter(|k| am::get_bool(doc, &m, k)).collect())
                    .unwrap_or_default();
                let recording_consent = am::get_obj(doc, &o, "recording_consent")
                    .map(|m| {
                        am::keys(doc, &m)
                            .into_iter()
                            .filter_map(|p| {
                                let date = stored_date(am::get_str(doc, &m, &p))?;
                                Some(Consent { person: p, date })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Appointment {
                    kind: am::get_str(doc, &o, "kind")
                        .and_then(|k| AppointmentKind::from_key(&k))
                        .unwrap_or(AppointmentKind::Other),
                    specialist: am::get_str(doc, &o, "specialist"),
                    start: am::get_str(doc, &o, "start").and_then(|s| parse_date_time("start", &s).ok()),
                    tz: stored_zone(am::get_str(doc, &o, "tz")),
                    place: am::get_str(doc, &o, "place"),
                    attendees,
                    recording_consent,
                    summary_requested: stored_date(am::get_str(doc, &o, "summary_requested")),
                    summary_received: stored_date(am::get_str(doc, &o, "summary_received")),
                    attended: am::get_opt_bool(doc, &o, "attended"),
                    id,
                }
            })
            .collect();
        v.sort_by(|a, b| (a.start.is_none(), a.start, &a.id).cmp(&(b.start.is_none(), b.start, &b.id)));
        v
    }

    /// The notes of an appointment (opens its notes document).
    pub fn notes(&mut self, appointment: &str) -> Result<AppointmentNotes> {
        let d = &self.notes_doc(appointment)?.doc;
        let mut by_author = Vec::new();
        if let Some(m) = am::get_obj(d, &ROOT, "notes") {
            for author in am::keys(d, &m) {
                // Two devices of the same caregiver may each have created the text offline: show both.
                let text = d
                    .get_all(&m, author.as_str())?
                    .iter()
                    .filter_map(|(v, id)| am::value_to_string(d, v, id))
                    .collect::<Vec<_>>()
                    .join("\n");
                by_author.push(AuthorNotes { author, text });
            }
        }
        Ok(AppointmentNotes { by_author, summary: am::get_text(d, &ROOT, "summary") })
    }

    /// The notes text object of `author` in an appointment, created on first use.
    pub(crate) fn notes_text(&mut self, appointment: &str, author: &str) -> Result<automerge::ObjId> {
        check_caregiver(&self.main.doc, author)?;
        item(&self.main.doc, "appointments", appointment, "appointment")?;
        let case = self.id().clone();
        let tracked = self.notes_doc(appointment)?;
        let notes_id = tracked.id.clone();
        let d = &mut tracked.doc;
        let m = am::get_obj(d, &ROOT, "notes").ok_or_else(|| Error::InvalidInput {
            field: "notes",
            reason: "notes document lacks its notes map".into(),
        })?;
        if let Some(t) = am::get_obj(d, &m, author) {
            return Ok(t);
        }
        // The same change on every device of every caregiver: never two competing text objects.
        d.apply_changes([crate::schema::author_notes_change(&notes_id, &case, appointment, author)?])?;
        am::get_obj(d, &m, author).ok_or_else(|| Error::InvalidInput {
            field: "notes",
            reason: "the author's notes could not be created".into(),
        })
    }
}

impl AppointmentField {
    fn key_static(self) -> &'static str {
        self.key()
    }
}
