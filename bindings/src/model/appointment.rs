//! Appointments (step 6): who goes, when, recording consent; notes per caregiver and a shared summary
//! (each appointment's notes are a document of their own, opened when first read or written).

use casebook_core::model::appointment::{
    Appointment as CoreAppointment, AppointmentField, AppointmentKind, AppointmentNotes as CoreNotes,
    AuthorNotes as CoreAuthorNotes, Consent as CoreConsent, NewAppointment as CoreNew,
};

use casebook_core::model::retraction::Retract;

use crate::case::Case;
use crate::convert::{date, date_time, device_zone};
use crate::error::Result;

/// Kind of appointment.
#[uniffi::remote(Enum)]
pub enum AppointmentKind {
    /// With the treating (first) oncologist.
    FirstOpinion,
    /// Second-opinion consultation.
    SecondOpinion,
    /// Third-opinion consultation.
    ThirdOpinion,
    /// Follow-up.
    FollowUp,
    /// Tests, scans, biopsy.
    Tests,
    /// Other.
    Other,
}

/// A settable appointment field (see [`Case::set_appointment`]).
#[uniffi::remote(Enum)]
pub enum AppointmentField {
    /// Kind (snake_case key, e.g. `second_opinion`).
    Kind,
    /// Specialist id.
    Specialist,
    /// Start, `YYYY-MM-DDTHH:MM` (local time of the place).
    Start,
    /// Time zone of the place, an IANA name (e.g. `America/New_York`).
    Tz,
    /// Place.
    Place,
    /// Date a written summary was requested, `YYYY-MM-DD`.
    SummaryRequested,
    /// Date it was received, `YYYY-MM-DD`.
    SummaryReceived,
}

/// A person's consent to record the consultation.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Consent {
    /// Who consented (as written).
    pub person: String,
    /// When, `YYYY-MM-DD`.
    pub date: String,
}

/// An appointment (its notes: [`Case::notes`]).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Appointment {
    /// Item id.
    pub id: String,
    /// Kind.
    pub kind: AppointmentKind,
    /// Specialist id, if linked.
    pub specialist: Option<String>,
    /// Start (local time of the place), `YYYY-MM-DDTHH:MM`.
    pub start: Option<String>,
    /// Time zone of the place (IANA name, e.g. `America/New_York`), if known: show it with the start when
    /// it is not the phone's.
    pub tz: Option<String>,
    /// Place.
    pub place: Option<String>,
    /// Who attends (names as written).
    pub attendees: Vec<String>,
    /// Recording consents.
    pub recording_consent: Vec<Consent>,
    /// When a written consultation summary was requested.
    pub summary_requested: Option<String>,
    /// When it was received.
    pub summary_received: Option<String>,
    /// Marked attended (`true`) or not attended (`false`); `None`: it follows the start time.
    pub attended: Option<bool>,
}

/// One caregiver's notes of an appointment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuthorNotes {
    /// Caregiver id.
    pub author: String,
    /// The notes.
    pub text: String,
}

/// The notes of an appointment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AppointmentNotes {
    /// Notes per author.
    pub by_author: Vec<AuthorNotes>,
    /// The shared summary.
    pub summary: String,
}

/// Fields of a new appointment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewAppointment {
    /// Kind.
    pub kind: AppointmentKind,
    /// Specialist id.
    #[uniffi(default = None)]
    pub specialist: Option<String>,
    /// Start, `YYYY-MM-DDTHH:MM` (local time of the place).
    #[uniffi(default = None)]
    pub start: Option<String>,
    /// Place.
    #[uniffi(default = None)]
    pub place: Option<String>,
    /// Time zone of the place, an IANA name (e.g. `America/New_York`); default: the device's zone.
    #[uniffi(default = None)]
    pub tz: Option<String>,
}

impl From<CoreConsent> for Consent {
    fn from(c: CoreConsent) -> Self {
        Self { person: c.person, date: casebook_core::dates::format_date(c.date) }
    }
}

impl From<CoreAppointment> for Appointment {
    fn from(a: CoreAppointment) -> Self {
        Self {
            id: a.id,
            kind: a.kind,
            specialist: a.specialist,
            start: date_time(a.start),
            tz: a.tz,
            place: a.place,
            attendees: a.attendees,
            recording_consent: a.recording_consent.into_iter().map(Into::into).collect(),
            summary_requested: date(a.summary_requested),
            summary_received: date(a.summary_received),
            attended: a.attended,
        }
    }
}

impl From<CoreAuthorNotes> for AuthorNotes {
    fn from(n: CoreAuthorNotes) -> Self {
        Self { author: n.author, text: n.text }
    }
}

impl From<CoreNotes> for AppointmentNotes {
    fn from(n: CoreNotes) -> Self {
        Self { by_author: n.by_author.into_iter().map(Into::into).collect(), summary: n.summary }
    }
}

#[uniffi::export]
impl Case {
    /// Every appointment, by start time (unscheduled last).
    pub fn appointments(&self) -> Result<Vec<Appointment>> {
        Ok(self.read(|c| c.appointments())?.into_iter().map(Into::into).collect())
    }

    /// Add an appointment (its notes document is created with it). Its time zone defaults to the device's
    /// (none if the device's cannot be found). Returns its id.
    pub fn add_appointment(&self, appointment: NewAppointment) -> Result<String> {
        let tz = appointment.tz.or_else(device_zone);
        self.write(|c| {
            c.add_appointment(CoreNew {
                kind: Some(appointment.kind),
                specialist: appointment.specialist.as_deref(),
                start: appointment.start.as_deref(),
                tz: tz.as_deref(),
                place: appointment.place.as_deref(),
            })
        })
    }

    /// Set (or with `None`, clear) an appointment field; the kind cannot be cleared.
    pub fn set_appointment(&self, id: String, field: AppointmentField, value: Option<String>) -> Result<()> {
        self.write(|c| c.set_appointment(&id, field, value.as_deref()))
    }

    /// Mark an appointment attended (`true`), not attended — missed, cancelled — (`false`), or clear the
    /// mark (`None`: it counts as attended once its start time has passed).
    pub fn set_attended(&self, id: String, attended: Option<bool>) -> Result<()> {
        self.write(|c| c.set_attended(&id, attended))
    }

    /// Add (`attending = true`) or remove an attendee.
    pub fn set_attendee(&self, id: String, person: String, attending: bool) -> Result<()> {
        self.write(|c| c.set_attendee(&id, &person, attending))
    }

    /// Record that `person` consented to recording on `date` (`YYYY-MM-DD`).
    pub fn record_consent(&self, id: String, person: String, date: String) -> Result<()> {
        self.write(|c| c.record_consent(&id, &person, &date))
    }

    /// Retract an appointment entered by mistake: a retraction entry (who, when, why) is written on it; it leaves
    /// the lists but nothing is deleted (see `retracted_items`). `today` is the app's local date (default:
    /// today in the device's time zone). Returns the retraction's id.
    #[uniffi::method(default(reason = None, by = None, today = None))]
    pub fn retract_appointment(
        &self,
        id: String,
        reason: Option<String>,
        by: Option<String>,
        today: Option<String>,
    ) -> Result<String> {
        let today = crate::convert::today_or(today)?;
        self.write(|c| c.retract_appointment(&id, Retract { today, by: by.as_deref(), reason: reason.as_deref() }))
    }

    /// The notes of an appointment: each caregiver's, and the shared summary. Edit them with
    /// `SharedText.AppointmentNotes` / `SharedText.AppointmentSummary`.
    pub fn notes(&self, appointment: String) -> Result<AppointmentNotes> {
        Ok(self.try_read(|c| c.notes(&appointment))?.into())
    }
}
