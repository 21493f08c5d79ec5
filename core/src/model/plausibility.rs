//! Plausibility checks across fields: dates that each parse but together are unlikely to be right (an
//! opinion consultation before the diagnosis, a diagnosis in the future, a decision dated before the
//! opinion it follows). They are **warnings**, never refusals: the case may be right and the family knows
//! better; a check that refuses would block an honest entry, and a sibling's synced entry cannot be refused
//! anyway. Each check is cheap (one pass over a few lists) and worded in the family's terms, with kinds and
//! dates only — no names, no text — so a warning is safe to show anywhere.
//!
//! Checks that need the event log of a record request live with it
//! ([`RequestWarning`](super::record_request::RequestWarning)); they are not repeated here.

use time::Date;

use super::Keyed;
use super::appointment::AppointmentKind;
use crate::case::Case;
use crate::dates::format_date;

keyed_enum! {
    /// What a plausibility warning is about.
    PlausibilityKind {
        /// The diagnosis date is after today.
        DiagnosisInFuture => "diagnosis_in_future",
        /// The diagnosis date is before the patient's birth year.
        DiagnosisBeforeBirth => "diagnosis_before_birth",
        /// The age and the birth year disagree by more than a year.
        AgeAndBirthYear => "age_and_birth_year",
        /// A second- or third-opinion appointment starts before the diagnosis date.
        AppointmentBeforeDiagnosis => "appointment_before_diagnosis",
        /// An appointment marked attended starts after today.
        AttendedInFuture => "attended_in_future",
        /// A written consultation summary was received before it was requested.
        SummaryBeforeRequest => "summary_before_request",
        /// A written consultation summary requested or received after today.
        SummaryInFuture => "summary_in_future",
        /// The agreed decision date is before the diagnosis date.
        DecisionDateBeforeDiagnosis => "decision_date_before_diagnosis",
        /// The decision that stands is dated before the diagnosis date.
        DecisionBeforeDiagnosis => "decision_before_diagnosis",
        /// The decision that stands is dated before the opinion it follows.
        DecisionBeforeOpinion => "decision_before_opinion",
        /// An opinion is dated after today.
        OpinionInFuture => "opinion_in_future",
        /// A second (or later) opinion is dated before the diagnosis date.
        OpinionBeforeDiagnosis => "opinion_before_diagnosis",
        /// A document of the chronology is dated after today.
        DocumentInFuture => "document_in_future",
    }
}

/// Something in the case that is probably a typing mistake. Nothing is refused: the family checks it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// What it is about.
    pub kind: PlausibilityKind,
    /// The id of the item concerned (appointment, opinion, document, decision entry), if it is an item.
    pub item: Option<String>,
    /// The explanation, for the family (kinds and dates only).
    pub message: String,
}

fn warn(kind: PlausibilityKind, item: Option<&str>, message: String) -> Warning {
    Warning { kind, item: item.map(str::to_string), message }
}

fn appointment_label(kind: AppointmentKind) -> &'static str {
    match kind {
        AppointmentKind::SecondOpinion => "second-opinion appointment",
        AppointmentKind::ThirdOpinion => "third-opinion appointment",
        _ => "appointment",
    }
}

impl Case {
    /// The plausibility warnings of the case as of `today` (the caller's local date), in a fixed order:
    /// patient, appointments, decision, opinions, documents; within each, the order of its list. Identical on
    /// every replica holding the same changes.
    pub fn plausibility(&self, today: Date) -> Vec<Warning> {
        use PlausibilityKind as K;
        let d = format_date;
        let mut out = Vec::new();

        let patient = self.patient();
        let diagnosed = patient.diagnosis_date;
        if let Some(dx) = diagnosed {
            if dx > today {
                out.push(warn(
                    K::DiagnosisInFuture,
                    None,
                    format!("the diagnosis date {} is after today ({}): check it", d(dx), d(today)),
                ));
            }
            if let Some(born) = patient.birth_year
                && i64::from(dx.year()) < i64::try_from(born).unwrap_or(i64::MAX)
            {
                out.push(warn(
                    K::DiagnosisBeforeBirth,
                    None,
                    format!("the diagnosis date {} is before the birth year {born}", d(dx)),
                ));
            }
        }
        if let (Some(age), Some(born)) = (patient.age, patient.birth_year) {
            let derived = i64::from(today.year()) - i64::try_from(born).unwrap_or(0);
            let age = i64::try_from(age).unwrap_or(i64::MAX);
            if (derived - age).abs() > 1 {
                out.push(warn(
                    K::AgeAndBirthYear,
                    None,
                    format!(
                        "the age ({age}) and the birth year ({born}) do not match in {}: one of them is off",
                        today.year()
                    ),
                ));
            }
        }

        for a in self.appointments() {
            let day = a.start.map(|s| s.date());
            if let (Some(day), Some(dx)) = (day, diagnosed)
                && matches!(a.kind, AppointmentKind::SecondOpinion | AppointmentKind::ThirdOpinion)
                && day < dx
            {
                out.push(warn(
                    K::AppointmentBeforeDiagnosis,
                    Some(&a.id),
                    format!("a {} on {} is before the diagnosis date ({})", appointment_label(a.kind), d(day), d(dx)),
                ));
            }
            if let Some(day) = day.filter(|day| a.attended == Some(true) && *day > today) {
                out.push(warn(
                    K::AttendedInFuture,
                    Some(&a.id),
                    format!("an appointment on {} is marked attended, but that is after today ({})", d(day), d(today)),
                ));
            }
            if let (Some(asked), Some(got)) = (a.summary_requested, a.summary_received)
                && got < asked
            {
                out.push(warn(
                    K::SummaryBeforeRequest,
                    Some(&a.id),
                    format!(
                        "a written summary is recorded as received on {}, before it was requested ({})",
                        d(got),
                        d(asked)
                    ),
                ));
            }
            for (what, date) in [("requested", a.summary_requested), ("received", a.summary_received)] {
                if let Some(date) = date.filter(|x| *x > today) {
                    out.push(warn(
                        K::SummaryInFuture,
                        Some(&a.id),
                        format!("a written summary is recorded as {what} on {}, after today ({})", d(date), d(today)),
                    ));
                }
            }
        }

        let window = self.decision_window(today);
        if let (Some(agreed), Some(dx)) = (window.date.filter(|_| !window.is_default), diagnosed)
            && agreed < dx
        {
            out.push(warn(
                K::DecisionDateBeforeDiagnosis,
                None,
                format!("the agreed decision date {} is before the diagnosis date ({})", d(agreed), d(dx)),
            ));
        }
        let opinions = self.opinions();
        if let Some(decided) = self.decision().latest {
            if let Some(dx) = diagnosed.filter(|dx| decided.date < *dx) {
                out.push(warn(
                    K::DecisionBeforeDiagnosis,
                    Some(&decided.id),
                    format!("the decision is dated {}, before the diagnosis date ({})", d(decided.date), d(dx)),
                ));
            }
            if let Some(o) = decided.opinion.as_ref().and_then(|o| opinions.iter().find(|x| &x.id == o))
                && let Some(given) = o.date.filter(|given| decided.date < *given)
            {
                out.push(warn(
                    K::DecisionBeforeOpinion,
                    Some(&decided.id),
                    format!(
                        "the decision is dated {}, before opinion {} that it follows ({})",
                        d(decided.date),
                        o.rank,
                        d(given)
                    ),
                ));
            }
        }

        for o in &opinions {
            let Some(given) = o.date else { continue };
            if given > today {
                out.push(warn(
                    K::OpinionInFuture,
                    Some(&o.id),
                    format!("opinion {} is dated {}, after today ({})", o.rank, d(given), d(today)),
                ));
            }
            if let Some(dx) = diagnosed.filter(|dx| o.rank >= 2 && given < *dx) {
                out.push(warn(
                    K::OpinionBeforeDiagnosis,
                    Some(&o.id),
                    format!("opinion {} is dated {}, before the diagnosis date ({})", o.rank, d(given), d(dx)),
                ));
            }
        }

        for doc in self.documents() {
            if let Some(date) = doc.date.filter(|x| *x > today) {
                out.push(warn(
                    K::DocumentInFuture,
                    Some(&doc.id),
                    format!("a {} is dated {}, after today ({})", doc.kind.key().replace('_', " "), d(date), d(today)),
                ));
            }
        }
        out
    }
}
