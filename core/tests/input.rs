//! Input a person can rely on: impossible dates refused with what is wrong, empty names refused
//! everywhere a name is entered, plausibility warnings across fields, lists in a meaningful order.

use casebook_core::dates::{parse_date, parse_date_time};
use casebook_core::model::appointment::{AppointmentField, AppointmentKind, NewAppointment};
use casebook_core::model::chronology::{DocumentKind, Location};
use casebook_core::model::cost::CostCategory;
use casebook_core::model::decision::NewDecision;
use casebook_core::model::opinion::NewOpinion;
use casebook_core::model::patient::PatientField;
use casebook_core::model::plausibility::PlausibilityKind as K;
use casebook_core::model::question::{Category, Priority};
use casebook_core::model::record_request::{Channel, NewEvent, RecordItem};
use casebook_core::model::specialist::{NewSpecialist, SpecialistField};
use casebook_core::{Case, Error, Store};
use time::macros::{date, datetime};

fn new_case() -> (Store, Case, String) {
    let store = Store::in_memory();
    let (case, me) = store.create_case("Mum", "Ana", Some("daughter")).unwrap();
    (store, case, me)
}

fn reason(e: Error) -> (&'static str, String) {
    match e {
        Error::InvalidInput { field, reason } => (field, reason),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn impossible_dates_say_what_is_wrong() {
    for (input, expected) in [
        ("2026-02-30", "2026-02-30: February 2026 has 28 days"),
        ("2024-02-30", "2024-02-30: February 2024 has 29 days"),
        ("2026-04-31", "2026-04-31: April 2026 has 30 days"),
        ("2026-13-01", "2026-13-01: there is no month 13 (months run from 01 to 12)"),
        ("2026-00-10", "2026-00-10: there is no month 0 (months run from 01 to 12)"),
        ("2026-01-00", "2026-01-00: there is no day 0"),
        ("12/01/2026", "12/01/2026: write dates as YYYY-MM-DD (e.g. 2026-03-05)"),
        ("2026-1-5", "2026-1-5: write dates as YYYY-MM-DD (e.g. 2026-03-05)"),
        ("next tuesday", "next tuesday: write dates as YYYY-MM-DD (e.g. 2026-03-05)"),
        ("", "\"\": write dates as YYYY-MM-DD (e.g. 2026-03-05)"),
        ("2026-02-3\u{1b}", "\"2026-02-3\\u{1b}\": write dates as YYYY-MM-DD (e.g. 2026-03-05)"),
    ] {
        let (field, why) = reason(parse_date("due", input).unwrap_err());
        assert_eq!((field, why.as_str()), ("due", expected), "{input:?}");
    }
    assert_eq!(parse_date("due", " 2024-02-29 ").unwrap(), date!(2024 - 02 - 29));
    let long = "x".repeat(100);
    let (_, why) = reason(parse_date("due", &long).unwrap_err());
    assert!(why.len() < 100, "the input is cut: {why}");

    for (input, expected) in [
        ("2026-02-30T10:00", "2026-02-30T10:00: February 2026 has 28 days"),
        ("2024-02-28 25:00", "2024-02-28 25:00: there is no hour 25 (hours run from 00 to 23)"),
        ("2024-02-28T10:61", "2024-02-28T10:61: there is no minute 61 (minutes run from 00 to 59)"),
        ("2024-02-28", "2024-02-28: write a date and time as YYYY-MM-DDTHH:MM (e.g. 2026-03-05T14:30)"),
        ("28/02/2024 10:00", "28/02/2024 10:00: write a date and time as YYYY-MM-DDTHH:MM (e.g. 2026-03-05T14:30)"),
        ("2024-02-28T9:30", "2024-02-28T9:30: write a date and time as YYYY-MM-DDTHH:MM (e.g. 2026-03-05T14:30)"),
    ] {
        let (_, why) = reason(parse_date_time("start", input).unwrap_err());
        assert_eq!(why, expected, "{input:?}");
    }
    assert_eq!(parse_date_time("start", "2024-02-29T23:59").unwrap(), datetime!(2024-02-29 23:59));
    assert_eq!(parse_date_time("start", "2024-02-29 09:05").unwrap(), datetime!(2024-02-29 09:05));
}

#[test]
fn empty_names_are_refused_everywhere_a_name_is_entered() {
    let store = Store::in_memory();
    for (patient, me) in [("  ", "Ana"), ("Mum", "\u{200b}\n\t"), ("", "")] {
        assert!(matches!(store.create_case(patient, me, None), Err(Error::InvalidInput { .. })), "{patient:?} {me:?}");
    }
    assert!(store.list_cases().unwrap().is_empty(), "a refused name leaves no half-made case");

    let (_s, mut case, me) = new_case();
    let blanks = ["", "   ", "\n\t", "\u{200b}\u{feff}", "\u{202e}"];
    for blank in blanks {
        let results: Vec<(&str, casebook_core::Result<()>)> = vec![
            ("caregiver", case.add_caregiver(blank, Some("son")).map(drop)),
            ("specialist", case.add_specialist(NewSpecialist { name: blank, ..Default::default() }).map(drop)),
            (
                "custodian",
                case.add_record_request(blank, &[RecordItem::PathologyReport], Channel::PatientRequest).map(drop),
            ),
            ("medication", case.add_medication(blank, Some("5 mg")).map(drop)),
            ("relative", case.add_family_history(blank, "breast", None).map(drop)),
            ("cancer", case.add_family_history("mother", blank, None).map(drop)),
            ("document", case.add_document(None, DocumentKind::Other, None, blank, Location::Digital).map(drop)),
            ("task", case.add_task(blank, None, None).map(drop)),
            ("question", case.add_question(blank, Category::Other, Priority::Normal, &me).map(drop)),
            ("patient name", case.set_patient(PatientField::DisplayName, Some(blank))),
        ];
        for (what, r) in results {
            assert!(matches!(r, Err(Error::InvalidInput { .. })), "{what} {blank:?}: {r:?}");
        }
        assert!(!case.has_unsaved_changes(), "{blank:?}: refused names change nothing");
    }
    let sp = case.add_specialist(NewSpecialist { name: "Dr. Okafor", ..Default::default() }).unwrap();
    assert!(case.set_specialist(&sp, SpecialistField::Name, Some(" \u{200b} ")).is_err());
    let appt =
        case.add_appointment(NewAppointment { kind: Some(AppointmentKind::Tests), ..Default::default() }).unwrap();
    assert!(case.set_attendee(&appt, "\u{2060}", true).is_err());
    assert!(case.record_consent(&appt, " ", "2024-01-01").is_err());
    let q = case.questions()[0].id.clone();
    assert!(case.add_answer(&q, &appt, &me, "\n").is_err());
    let today = date!(2026 - 03 - 20);
    let d = NewDecision { text: "\u{feff}", date: "2026-03-19", ..Default::default() };
    assert!(case.record_decision(d, today).is_err());
    // Clearing the patient's name stays possible; a blank optional field still clears it.
    case.set_patient(PatientField::DisplayName, None).unwrap();
    assert_eq!(case.patient().display_name, None);
    case.set_patient(PatientField::Stage, Some("IIIA")).unwrap();
    case.set_patient(PatientField::Stage, Some("\u{200b}")).unwrap();
    assert_eq!(case.patient().stage, None);
}

fn kinds(case: &Case, today: time::Date) -> Vec<K> {
    case.plausibility(today).into_iter().map(|w| w.kind).collect()
}

#[test]
fn plausibility_warnings_across_fields() {
    let (_s, mut case, me) = new_case();
    let today = date!(2026 - 03 - 20);
    assert!(case.plausibility(today).is_empty());

    // A diagnosis in the future, and a birth year that disagrees with the age.
    case.set_patient(PatientField::DiagnosisDate, Some("2026-04-01")).unwrap();
    case.set_patient(PatientField::Age, Some("67")).unwrap();
    case.set_patient(PatientField::BirthYear, Some("1970")).unwrap();
    let w = case.plausibility(today);
    assert_eq!(w.iter().map(|w| w.kind).collect::<Vec<_>>(), [K::DiagnosisInFuture, K::AgeAndBirthYear]);
    assert_eq!(w[0].message, "the diagnosis date 2026-04-01 is after today (2026-03-20): check it");
    assert_eq!(w[0].item, None);
    case.set_patient(PatientField::BirthYear, Some("1959")).unwrap();
    case.set_patient(PatientField::DiagnosisDate, Some("2026-02-10")).unwrap();
    assert!(case.plausibility(today).is_empty(), "{:?}", case.plausibility(today));

    // A second-opinion consultation before the diagnosis; tests before it are normal.
    let early = case
        .add_appointment(NewAppointment {
            kind: Some(AppointmentKind::SecondOpinion),
            start: Some("2026-02-01T10:00"),
            ..Default::default()
        })
        .unwrap();
    case.add_appointment(NewAppointment {
        kind: Some(AppointmentKind::Tests),
        start: Some("2026-01-15T10:00"),
        ..Default::default()
    })
    .unwrap();
    let w = case.plausibility(today);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].kind, w[0].item.as_deref()), (K::AppointmentBeforeDiagnosis, Some(early.as_str())));
    assert_eq!(w[0].message, "a second-opinion appointment on 2026-02-01 is before the diagnosis date (2026-02-10)");
    case.set_appointment(&early, AppointmentField::Start, Some("2026-04-02T10:00")).unwrap();
    case.set_attended(&early, Some(true)).unwrap();
    case.set_appointment(&early, AppointmentField::SummaryRequested, Some("2026-03-10")).unwrap();
    case.set_appointment(&early, AppointmentField::SummaryReceived, Some("2026-03-05")).unwrap();
    assert_eq!(kinds(&case, today), [K::AttendedInFuture, K::SummaryBeforeRequest]);
    case.set_attended(&early, None).unwrap();
    case.set_appointment(&early, AppointmentField::SummaryReceived, Some("2026-03-25")).unwrap();
    assert_eq!(kinds(&case, today), [K::SummaryInFuture]);
    case.set_appointment(&early, AppointmentField::SummaryReceived, None).unwrap();

    // A decision date before the diagnosis; a decision dated before the opinion it follows.
    case.set_decision_date(Some("2026-02-01")).unwrap();
    assert_eq!(kinds(&case, today), [K::DecisionDateBeforeDiagnosis]);
    case.set_decision_date(Some("2026-03-30")).unwrap();
    let second = case.add_opinion(NewOpinion { rank: 2, date: Some("2026-03-15"), ..Default::default() }).unwrap();
    let d = NewDecision {
        text: "Surgery",
        date: "2026-03-12",
        opinion: Some(&second),
        recorded_by: Some(&me),
        ..Default::default()
    };
    let decided = case.record_decision(d, today).unwrap();
    let w = case.plausibility(today);
    assert_eq!((w.len(), w[0].kind, w[0].item.as_deref()), (1, K::DecisionBeforeOpinion, Some(decided.as_str())));
    assert_eq!(w[0].message, "the decision is dated 2026-03-12, before opinion 2 that it follows (2026-03-15)");
    // Recording the decision again with the right date clears it: the latest entry stands.
    let d = NewDecision { text: "Surgery", date: "2026-03-16", opinion: Some(&second), ..Default::default() };
    case.record_decision(d, today).unwrap();
    assert!(case.plausibility(today).is_empty());

    // Opinions and documents dated in the future; a second opinion before the diagnosis.
    case.add_opinion(NewOpinion { rank: 3, date: Some("2026-03-27"), ..Default::default() }).unwrap();
    case.add_opinion(NewOpinion { rank: 2, date: Some("2026-01-27"), ..Default::default() }).unwrap();
    case.add_opinion(NewOpinion { rank: 1, date: Some("2026-01-27"), ..Default::default() }).unwrap();
    case.add_document(Some("2026-05-01"), DocumentKind::PathologyReport, None, "Path", Location::Digital).unwrap();
    assert_eq!(kinds(&case, today), [K::OpinionBeforeDiagnosis, K::OpinionInFuture, K::DocumentInFuture]);
    let w = case.plausibility(today);
    assert_eq!(w[2].message, "a pathology report is dated 2026-05-01, after today (2026-03-20)");
    // Warnings are kinds and dates only: no names, no text.
    assert!(w.iter().all(|w| !w.message.contains("Mum") && !w.message.contains("Path\u{20}")));
    // As of a later day, the future dates are no longer in the future.
    assert_eq!(kinds(&case, date!(2026 - 06 - 01)), [K::OpinionBeforeDiagnosis]);
}

#[test]
fn lists_are_in_a_meaningful_order() {
    let (_s, mut case, _me) = new_case();
    for name in ["zoe", "Bruno", "carla"] {
        case.add_caregiver(name, None).unwrap();
        case.add_specialist(NewSpecialist { name, ..Default::default() }).unwrap();
        case.add_medication(name, None).unwrap();
    }
    let names = |v: Vec<String>| v.join(",");
    assert_eq!(names(case.care_team().into_iter().map(|c| c.name).collect()), "Ana,Bruno,carla,zoe");
    assert_eq!(names(case.specialists().into_iter().map(|c| c.name).collect()), "Bruno,carla,zoe");
    assert_eq!(names(case.medications().into_iter().map(|c| c.name).collect()), "Bruno,carla,zoe");
    for (d, amount) in [(Some("2026-03-02"), 2), (None, 3), (Some("2026-03-01"), 1)] {
        case.add_cost(CostCategory::Travel, amount, d, None).unwrap();
    }
    assert_eq!(case.costs().iter().map(|c| c.amount_cents).collect::<Vec<_>>(), [1, 2, 3]);

    // Requests: awaited ones first by the day they went out (not sent yet last), then settled ones.
    let today = date!(2026 - 03 - 20);
    let items = [RecordItem::PathologyReport];
    let ev = |kind, date| NewEvent { kind, date, ..Default::default() };
    let unsent = case.add_record_request("A lab", &items, Channel::PatientRequest).unwrap();
    let settled = case.add_record_request("B lab", &items, Channel::PatientRequest).unwrap();
    case.log_request_event(&settled, ev("requested_in_writing", "2026-03-01"), today).unwrap();
    case.log_request_event(&settled, ev("received", "2026-03-05"), today).unwrap();
    let late = case.add_record_request("C lab", &items, Channel::PatientRequest).unwrap();
    case.log_request_event(&late, ev("requested_in_writing", "2026-03-10"), today).unwrap();
    let early = case.add_record_request("D lab", &items, Channel::PatientRequest).unwrap();
    case.log_request_event(&early, ev("requested_in_writing", "2026-02-10"), today).unwrap();
    let order: Vec<String> = case.record_requests().into_iter().map(|r| r.id).collect();
    assert_eq!(order, [early.clone(), late.clone(), unsent.clone(), settled.clone()]);
    let order: Vec<String> = case.request_progress(today).into_iter().map(|p| p.request.id).collect();
    assert_eq!(order, [early, late, unsent, settled]);
}
