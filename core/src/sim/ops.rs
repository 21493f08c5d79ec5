//! Random domain operations a caregiver performs on a case, and every derived view as one comparable value.

use rand::Rng;
use rand::rngs::StdRng;
use time::macros::date;

use crate::model::appointment::{AppointmentField, AppointmentKind, NewAppointment};
use crate::model::critical::Situation;
use crate::model::opinion::NewOpinion;
use crate::model::patient::PatientField;
use crate::model::question::{Category, Priority};
use crate::model::record_request::{Channel, EventKind, NewEvent, RecordItem};
use crate::model::specialist::{NewSpecialist, SpecialistField};
use crate::model::text::TextField;
use crate::{Case, Keyed};

/// Non-ASCII on purpose: UTF-16 offsets, multi-byte characters, surrogate pairs.
const TEXTS: [&str; 4] = ["héllo", "wörld😀", "診断", "plain"];

/// Apply one random operation as caregiver `me` of client `client`; returns the text token written, if any.
/// `step` makes every token unique. Errors are bugs: the operations only use ids the case lists.
pub(crate) fn random_op(
    rng: &mut StdRng,
    c: &mut Case,
    me: &str,
    client: usize,
    step: u64,
) -> crate::Result<Option<(TextField, String)>> {
    let token = |kind: usize| format!("«{client}.{step} {}»", TEXTS[(step as usize + kind) % TEXTS.len()]);
    let sorted_appointments = |c: &Case| {
        let mut ap: Vec<String> = c.appointments().into_iter().map(|a| a.id).collect();
        ap.sort();
        ap
    };
    match rng.random_range(0..20u32) {
        0 => c.set_patient(PatientField::Stage, Some(["I", "IIA", "IIIB", "IV"][rng.random_range(0..4)]))?,
        1 => c.set_decision_date(Some(&format!("2026-02-{:02}", rng.random_range(1..28))))?,
        2 => c.set_flag(Situation::ALL[rng.random_range(0..Situation::ALL.len())], rng.random(), Some("note"))?,
        3 => {
            c.add_specialist(NewSpecialist { name: &format!("Dr {client}.{step}"), ..Default::default() })?;
        }
        4 => {
            let sp = c.specialists();
            if !sp.is_empty() {
                let status = ["researching", "contacted", "scheduled", "seen", "declined"][rng.random_range(0..5)];
                let i = rng.random_range(0..sp.len());
                c.set_specialist(&sp[i].id, SpecialistField::Status, Some(status))?;
            }
        }
        5 => {
            c.add_record_request("Lab", &[RecordItem::PathologySlides], Channel::PatientRequest)?;
        }
        6 => {
            let rq = c.record_requests();
            if !rq.is_empty() {
                let kind = EventKind::ALL[rng.random_range(0..EventKind::ALL.len())].key();
                let date = format!("2026-01-{:02}", rng.random_range(1..28));
                let i = rng.random_range(0..rq.len());
                let ev = NewEvent { kind, date: &date, by: Some(me), ..Default::default() };
                // An answer dated before the written request is refused, as the app refuses it: not a bug.
                match c.log_request_event(&rq[i].id, ev, date!(2026 - 02 - 15)) {
                    Ok(_) | Err(crate::Error::ImpossibleDate { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        7 => {
            c.add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() })?;
        }
        8 => {
            let ap = sorted_appointments(c);
            if !ap.is_empty() {
                let start = format!("2026-03-01T{:02}:00", rng.random_range(8..18));
                c.set_appointment(&ap[rng.random_range(0..ap.len())], AppointmentField::Start, Some(&start))?;
            }
        }
        9..=13 => {
            let ap = sorted_appointments(c);
            if !ap.is_empty() {
                let a = ap[rng.random_range(0..ap.len())].clone();
                let field = if rng.random_bool(0.75) {
                    TextField::AppointmentNotes { appointment: a, author: me.to_string() }
                } else {
                    TextField::AppointmentSummary(a)
                };
                let t = token(0);
                // Typed one character at a time, as on a phone: at the end, or at the start.
                let base = if rng.random_bool(0.7) { c.text_len(&field)? } else { 0 };
                let mut typed = 0;
                for ch in t.chars() {
                    c.splice_text(&field, base + typed, 0, &ch.to_string())?;
                    typed += ch.len_utf16();
                }
                return Ok(Some((field, t)));
            }
        }
        14 | 15 => {
            let t = token(1);
            c.append_text(&TextField::Symptoms, &t)?;
            return Ok(Some((TextField::Symptoms, t)));
        }
        16 => {
            c.add_question(&token(2), Category::Other, Priority::Normal, me)?;
        }
        17 => {
            let q = c.questions();
            if !q.is_empty() {
                c.move_question(&q[rng.random_range(0..q.len())].id, rng.random_range(0..q.len()))?;
            }
        }
        18 => {
            let k = rng.random_range(1..4u64);
            c.add_opinion(NewOpinion {
                rank: k,
                stage: Some(["II", "III", "IV"][k as usize - 1]),
                ..Default::default()
            })?;
        }
        _ => {
            c.add_task(&format!("task {client}.{step}"), Some(me), Some("2026-02-01"))?;
        }
    }
    Ok(None)
}

/// Every derived view of a case, as one comparable JSON value.
pub(crate) fn views(c: &mut Case) -> crate::Result<serde_json::Value> {
    let today = date!(2026 - 02 - 15);
    let mut notes = serde_json::Map::new();
    for a in c.appointments() {
        let n = c.notes(&a.id)?;
        notes.insert(a.id.clone(), serde_json::to_value(n).unwrap_or_default());
    }
    let v = |x: serde_json::Result<serde_json::Value>| x.unwrap_or_default();
    Ok(serde_json::json!({
        "patient": v(serde_json::to_value(c.patient())),
        "decision": v(serde_json::to_value(c.decision_window(today))),
        "flags": v(serde_json::to_value(c.flags())),
        "verdict": v(serde_json::to_value(c.verdict())),
        "specialists": v(serde_json::to_value(c.specialists())),
        "requests": v(serde_json::to_value(c.request_progress(today))),
        "documents": v(serde_json::to_value(c.documents())),
        "questions": v(serde_json::to_value(c.questions())),
        "appointments": v(serde_json::to_value(c.appointments())),
        "notes": notes,
        "opinions": v(serde_json::to_value(c.opinions())),
        "comparison": v(serde_json::to_value(c.compare_opinions())),
        "team": v(serde_json::to_value(c.care_team())),
        "tasks": v(serde_json::to_value(c.tasks())),
        "costs": v(serde_json::to_value(c.cost_totals())),
        "progress": v(serde_json::to_value(c.progress(today))),
        "agenda": v(serde_json::to_value(c.agenda(today))),
        "conflicts": v(serde_json::to_value(c.conflicts())),
        "symptoms": c.symptoms(),
    }))
}
