//! The agenda: one view of what comes next, in time order — appointments, the decision date, the legal due
//! dates of record requests, slides and blocks to return, tasks — with what is late.
//!
//! Derived from the case as of a day (never stored), from the document alone: identical on every replica
//! whatever the order edits arrived in. Done things are left out (an appointment that took place or was
//! marked not attended, a settled request, material returned, a task done, a decision recorded); past
//! dates appear only while still open, flagged late.

use time::{Date, Time};

use super::appointment::{Appointment, AppointmentKind};
use super::record_request::{EventKind, RecordItem, RequestProgress, RequestStatus};
use crate::case::Case;

keyed_enum! {
    /// What an agenda entry is. On the same day and time, entries follow this order.
    AgendaKind {
        /// The date by which a treatment decision is agreed with the care team, or its default.
        DecisionDate => "decision_date",
        /// The legal due date of a record request (HIPAA right of access, the patient's own request for
        /// information).
        RecordsDue => "records_due",
        /// The date lent slides or blocks must be back at the lab.
        ReturnMaterial => "return_material",
        /// A task's due date.
        Task => "task",
        /// An appointment.
        Appointment => "appointment",
    }
}

/// One entry of the agenda.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgendaEntry {
    /// The day: an appointment's start date (local to its place), a due date, the decision date.
    pub date: Date,
    /// The time of day, for an appointment with a start (local to its place); serialized as `HH:MM`.
    #[serde(serialize_with = "hh_mm")]
    pub time: Option<Time>,
    /// The time zone of an appointment's place (IANA name), when it was given.
    pub tz: Option<String>,
    /// What it is.
    pub kind: AgendaKind,
    /// What to do or where to go, with names (specialist, custodian, caregiver) rather than ids; the task's
    /// own title for a task. Nothing is taken from the diagnosis.
    pub title: String,
    /// The item it belongs to (appointment, record request or task id); `None` for the decision date.
    pub id: Option<String>,
    /// Past its date and still open: a task or return late, a record request overdue (past its legal due
    /// date without a final answer), a decision date passed with no decision recorded.
    pub late: bool,
    /// For the decision date: true when it is the default (diagnosis + 28 days, a rule of thumb), not a date
    /// agreed with the care team. False for every other entry.
    pub is_default: bool,
    /// Days from today to the date (negative once passed).
    pub days_left: i64,
}

fn hh_mm<S: serde::Serializer>(t: &Option<Time>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format!("{:02}:{:02}", t.hour(), t.minute())),
        None => s.serialize_none(),
    }
}

/// "Second-opinion consultation", "Follow-up", … (also the calendar's detailed titles).
pub(crate) fn appointment_label(kind: AppointmentKind) -> &'static str {
    match kind {
        AppointmentKind::FirstOpinion => "Appointment with the treating oncologist",
        AppointmentKind::SecondOpinion => "Second-opinion consultation",
        AppointmentKind::ThirdOpinion => "Third-opinion consultation",
        AppointmentKind::FollowUp => "Follow-up",
        AppointmentKind::Tests => "Tests",
        AppointmentKind::Other => "Appointment",
    }
}

/// "pathology slides", "pathology slides and tissue blocks", or `None` when no specimen is requested.
fn specimens(items: &[RecordItem]) -> Option<&'static str> {
    let slides = items.contains(&RecordItem::PathologySlides);
    let blocks = items.contains(&RecordItem::TissueBlocks);
    match (slides, blocks) {
        (true, true) => Some("pathology slides and tissue blocks"),
        (true, false) => Some("pathology slides"),
        (false, true) => Some("tissue blocks"),
        (false, false) => None,
    }
}

/// `name`, or `fallback` when it is blank.
fn or<'a>(name: &'a str, fallback: &'a str) -> &'a str {
    if name.trim().is_empty() { fallback } else { name }
}

impl Case {
    /// What comes next as of `today` (the device's local date), in time order: by date, then entries
    /// without a time of day before timed ones, then time, then [`AgendaKind`], then item id.
    ///
    /// - appointments with a start on or after `today`, unless marked attended or not attended (times are
    ///   each appointment's local time, with its zone in [`AgendaEntry::tz`]);
    /// - the decision date (agreed, or the default labelled [`AgendaEntry::is_default`]) until a decision is
    ///   recorded; late once passed;
    /// - the legal due date of each record request that has one and no final answer; late when overdue;
    /// - the return-by date of lent material not yet returned (nor denied); late once passed;
    /// - tasks with a due date, not done; late once passed.
    pub fn agenda(&self, today: Date) -> Vec<AgendaEntry> {
        let mut out = Vec::new();
        let entry = |date: Date, kind: AgendaKind, title: String, id: Option<String>, late: bool| AgendaEntry {
            date,
            time: None,
            tz: None,
            kind,
            title,
            id,
            late,
            is_default: false,
            days_left: (date - today).whole_days(),
        };

        let specialists = self.specialists();
        for a in self.appointments() {
            if let Some(e) = appointment_entry(&a, today, |id| {
                specialists.iter().find(|s| s.id == id).map(|s| s.name.clone()).filter(|n| !n.trim().is_empty())
            }) {
                out.push(e);
            }
        }

        let window = self.decision_window(today);
        if let Some(date) = window.date
            && self.decision().latest.is_none()
        {
            let title = if window.is_default {
                "Decide on treatment (default date: diagnosis + 28 days)"
            } else {
                "Decide on treatment (date agreed with the care team)"
            };
            out.push(AgendaEntry {
                is_default: window.is_default,
                ..entry(date, AgendaKind::DecisionDate, title.into(), None, date < today)
            });
        }

        for p in self.request_progress(today) {
            out.extend(
                request_entries(&p)
                    .into_iter()
                    .map(|(date, kind, title, late)| entry(date, kind, title, Some(p.request.id.clone()), late)),
            );
        }

        let team = self.care_team();
        for t in self.tasks() {
            let Some(due) = t.due.filter(|_| !t.done) else { continue };
            let who = t.assignee.as_ref().and_then(|a| team.iter().find(|c| &c.id == a)).map(|c| c.name.trim());
            let title = match who.filter(|n| !n.is_empty()) {
                Some(n) => format!("{} ({n})", or(&t.title, "Task")),
                None => or(&t.title, "Task").to_string(),
            };
            out.push(entry(due, AgendaKind::Task, title, Some(t.id), due < today));
        }

        out.sort_by(|a, b| {
            (a.date, a.time.is_some(), a.time, a.kind, &a.id, &a.title).cmp(&(
                b.date,
                b.time.is_some(),
                b.time,
                b.kind,
                &b.id,
                &b.title,
            ))
        });
        out
    }
}

/// An upcoming appointment's entry: started on or after `today`, not marked either way.
fn appointment_entry(a: &Appointment, today: Date, name_of: impl Fn(&str) -> Option<String>) -> Option<AgendaEntry> {
    let start = a.start?;
    if start.date() < today || a.attended.is_some() {
        return None;
    }
    let mut title = appointment_label(a.kind).to_string();
    if let Some(name) = a.specialist.as_deref().and_then(&name_of) {
        title.push_str(&format!(" with {name}"));
    }
    if let Some(place) = a.place.as_deref().filter(|p| !p.trim().is_empty()) {
        title.push_str(&format!(" at {place}"));
    }
    Some(AgendaEntry {
        date: start.date(),
        time: Some(start.time()),
        tz: a.tz.clone(),
        kind: AgendaKind::Appointment,
        title,
        id: Some(a.id.clone()),
        late: false,
        is_default: false,
        days_left: (start.date() - today).whole_days(),
    })
}

/// A request's entries: its legal due date while unanswered, its return-by date while the material is out.
fn request_entries(p: &RequestProgress) -> Vec<(Date, AgendaKind, String, bool)> {
    let r = &p.request;
    let custodian = or(&r.custodian, "the custodian");
    let mut out = Vec::new();
    if let Some(due) = r.due.filter(|_| !r.is_settled()) {
        let extended = r.events.iter().any(|e| e.counted && e.kind == EventKind::Extension);
        let extended = if extended { ", extended once" } else { "" };
        out.push((
            due,
            AgendaKind::RecordsDue,
            format!("Records due from {custodian} (legal deadline{extended}, counted from the day sent)"),
            p.overdue,
        ));
    }
    if let Some(by) = r.return_by.filter(|_| !matches!(r.status, RequestStatus::Returned | RequestStatus::Denied)) {
        let title = match specimens(&r.items) {
            Some(what) => format!("Return the {what} to {custodian}"),
            None => format!("Return the material lent by {custodian}"),
        };
        out.push((by, AgendaKind::ReturnMaterial, title, p.return_late));
    }
    out
}

#[cfg(test)]
mod tests {
    use time::macros::{date, time};

    use super::*;
    use crate::model::Keyed;

    #[test]
    fn time_serializes_as_hours_and_minutes() {
        let e = AgendaEntry {
            date: date!(2026 - 12 - 05),
            time: Some(time!(9:30)),
            tz: Some("America/New_York".into()),
            kind: AgendaKind::Appointment,
            title: "Second-opinion consultation".into(),
            id: Some("a1".into()),
            late: false,
            is_default: false,
            days_left: 0,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["time"], "09:30");
        assert_eq!(v["date"], "2026-12-05");
        assert_eq!(v["kind"], "appointment");
        let none = AgendaEntry { time: None, ..e };
        assert!(serde_json::to_value(&none).unwrap()["time"].is_null());
    }

    #[test]
    fn specimens_are_named() {
        assert_eq!(specimens(&[RecordItem::PathologySlides]), Some("pathology slides"));
        assert_eq!(
            specimens(&[RecordItem::TissueBlocks, RecordItem::PathologySlides]),
            Some("pathology slides and tissue blocks")
        );
        assert_eq!(specimens(&[RecordItem::PathologyReport]), None);
        assert_eq!(AgendaKind::from_key("records_due"), Some(AgendaKind::RecordsDue));
    }
}
