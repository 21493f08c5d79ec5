//! The agenda: what comes next, in time order — appointments, the decision date, records due, slides and
//! blocks to return, tasks — with what is late (computed by the core, never stored; the same on every
//! phone).

use casebook_core::model::agenda::{AgendaEntry as CoreEntry, AgendaKind};

use crate::case::Case;
use crate::convert::today_or;
use crate::error::Result;

/// What an agenda entry is.
#[uniffi::remote(Enum)]
pub enum AgendaKind {
    /// The date by which a treatment decision is agreed with the care team, or its default.
    DecisionDate,
    /// The legal due date of a record request (HIPAA right of access).
    RecordsDue,
    /// The date lent slides or blocks must be back at the lab.
    ReturnMaterial,
    /// A task's due date.
    Task,
    /// An appointment.
    Appointment,
}

/// One entry of the agenda.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AgendaEntry {
    /// The day, `YYYY-MM-DD` (an appointment's: local to its place).
    pub date: String,
    /// The time of day of an appointment, `HH:MM` (local to its place).
    pub time: Option<String>,
    /// The time zone of an appointment's place (IANA name), if known: show it when it is not the phone's.
    pub tz: Option<String>,
    /// What it is.
    pub kind: AgendaKind,
    /// What to do or where to go, with names (specialist, custodian, caregiver) rather than ids; a task's own
    /// title. Nothing is taken from the diagnosis.
    pub title: String,
    /// The item it belongs to (appointment, record request or task id); `None` for the decision date.
    pub id: Option<String>,
    /// Past its date and still open (a record request: overdue).
    pub late: bool,
    /// For the decision date: the default (diagnosis + 28 days), not a date agreed with the care team.
    pub is_default: bool,
    /// Days from today to the date (negative once passed).
    pub days_left: i64,
}

impl From<CoreEntry> for AgendaEntry {
    fn from(e: CoreEntry) -> Self {
        Self {
            date: casebook_core::dates::format_date(e.date),
            time: e.time.map(|t| format!("{:02}:{:02}", t.hour(), t.minute())),
            tz: e.tz,
            kind: e.kind,
            title: e.title,
            id: e.id,
            late: e.late,
            is_default: e.is_default,
            days_left: e.days_left,
        }
    }
}

#[uniffi::export]
impl Case {
    /// What comes next as of `today` (`YYYY-MM-DD`, the app's local date; default: today in the device's
    /// time zone), in time order: by date, entries without a time before timed ones, then time, kind and
    /// id. Done things are left out; past dates appear only while still open, flagged `late`.
    #[uniffi::method(default(today = None))]
    pub fn agenda(&self, today: Option<String>) -> Result<Vec<AgendaEntry>> {
        let today = today_or(today)?;
        Ok(self.read(|c| c.agenda(today))?.into_iter().map(Into::into).collect())
    }
}
