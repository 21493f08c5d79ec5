//! Every operation and derived view of the case model, through the public API.

use casebook_core::model::appointment::{AppointmentField, AppointmentKind, NewAppointment};
use casebook_core::model::chronology::{DocumentKind, Location};
use casebook_core::model::cost::{CostCategory, parse_amount};
use casebook_core::model::critical::Situation;
use casebook_core::model::opinion::{Aspect, NewOpinion};
use casebook_core::model::patient::PatientField;
use casebook_core::model::progress::Progress;
use casebook_core::model::question::{Category, GUIDE_QUESTIONS, Priority};
use casebook_core::model::record_request::{Channel, NewEvent, RecordItem, RequestStatus};
use casebook_core::model::retraction::Retract;
use casebook_core::model::specialist::{NciDesignation, NewSpecialist, SpecialistField, SpecialistStatus};
use casebook_core::model::team::DetailLevel;
use casebook_core::model::text::TextField;
use casebook_core::{Case, Error, Store};
use time::macros::date;

fn new_case() -> (Store, Case, String) {
    let store = Store::in_memory();
    let (case, me) = store.create_case("Mum", "Ana", Some("daughter")).unwrap();
    (store, case, me)
}

/// Asserts that a failed operation left nothing to save.
fn assert_unchanged(case: &mut Case) {
    assert!(!case.has_unsaved_changes(), "a refused operation must change nothing");
}

#[test]
fn empty_case_has_guide_questions_and_no_derived_surprises() {
    let (_s, case, me) = new_case();
    let qs = case.questions();
    assert_eq!(qs.len(), 6);
    for (q, (text, cat)) in qs.iter().zip(GUIDE_QUESTIONS) {
        assert_eq!(q.text, text);
        assert_eq!(q.category, cat);
        assert_eq!(q.added_by, "guide");
    }
    assert_eq!(case.patient().display_name.as_deref(), Some("Mum"));
    assert_eq!(case.care_team()[0].id, me);
    let w = case.decision_window(date!(2026 - 01 - 01));
    assert_eq!((w.date, w.is_default, w.days_left), (None, false, None));
    assert!(!case.verdict().strongly_advised);
    assert!(case.record_requests().is_empty());
    assert!(case.conflicts().is_empty());
    assert_eq!(case.cost_totals().total_cents, 0);
    let p: Progress = case.progress(date!(2026 - 01 - 01));
    assert_eq!(p.steps.len(), 7);
    assert_eq!(p.done, 0);
    assert!(p.steps.iter().all(|s| s.next.is_some()));
}

#[test]
fn patient_fields_validate_and_refusals_change_nothing() {
    let (_s, mut case, _) = new_case();
    case.set_patient(PatientField::CancerType, Some("lung")).unwrap();
    case.set_patient(PatientField::Histology, Some("adenocarcinoma")).unwrap();
    case.set_patient(PatientField::Stage, Some("IIIA")).unwrap();
    case.set_patient(PatientField::DiagnosisDate, Some("2026-01-20")).unwrap();
    case.set_patient(PatientField::BirthYear, Some("1958")).unwrap();
    case.set_patient(PatientField::OncologistName, Some("Dr. Ng")).unwrap();
    case.set_patient(PatientField::OncologistFacility, Some("City Hospital")).unwrap();
    case.set_patient(PatientField::OncologistContact, Some("555-0100")).unwrap();
    case.set_patient(PatientField::DiagnosingFacility, Some("City Hospital")).unwrap();
    case.set_patient(PatientField::TreatmentStarted, Some("no")).unwrap();
    case.append_text(&TextField::ProposedTreatment, "chemoradiation").unwrap();
    case.save().unwrap();
    let p = case.patient();
    assert_eq!(p.stage.as_deref(), Some("IIIA"));
    assert_eq!(p.diagnosis_date, Some(date!(2026 - 01 - 20)));
    assert_eq!(p.age_at(date!(2026 - 06 - 01)), Some(68));
    assert_eq!(p.oncologist.name.as_deref(), Some("Dr. Ng"));
    assert_eq!(p.proposed_treatment, "chemoradiation");
    assert!(!p.treatment_started);

    for (field, bad) in [
        (PatientField::DiagnosisDate, "2026-02-30"),
        (PatientField::DiagnosisDate, "yesterday"),
        (PatientField::Age, "-3"),
        (PatientField::Age, "200"),
        (PatientField::BirthYear, "12"),
        (PatientField::TreatmentStarted, "maybe"),
    ] {
        let e = case.set_patient(field, Some(bad)).unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{field:?} {bad}: {e}");
        assert_unchanged(&mut case);
    }
    assert_eq!(case.patient().diagnosis_date, Some(date!(2026 - 01 - 20)));
    case.set_patient(PatientField::Stage, None).unwrap();
    assert_eq!(case.patient().stage, None);
}

#[test]
fn decision_window_defaults_to_diagnosis_plus_28_days_across_month_ends() {
    let (_s, mut case, _) = new_case();
    case.set_patient(PatientField::DiagnosisDate, Some("2026-01-31")).unwrap();
    let w = case.decision_window(date!(2026 - 02 - 01));
    assert_eq!(w.date, Some(date!(2026 - 02 - 28)));
    assert!(w.is_default);
    assert_eq!(w.days_left, Some(27));
    // Leap year month end.
    case.set_patient(PatientField::DiagnosisDate, Some("2028-02-10")).unwrap();
    assert_eq!(case.decision_window(date!(2028 - 02 - 10)).date, Some(date!(2028 - 03 - 09)));
    // An agreed date wins and is not a default; past dates give negative days.
    case.set_decision_date(Some("2028-03-01")).unwrap();
    let w = case.decision_window(date!(2028 - 03 - 05));
    assert_eq!((w.date, w.is_default, w.days_left), (Some(date!(2028 - 03 - 01)), false, Some(-4)));
    case.save().unwrap();
    assert!(case.set_decision_date(Some("03/01/2028")).is_err());
    assert_unchanged(&mut case);
    case.set_decision_date(None).unwrap();
    assert!(case.decision_window(date!(2028 - 03 - 05)).is_default);
}

#[test]
fn flags_and_verdict_list_reasons_in_guide_order() {
    let (_s, mut case, _) = new_case();
    assert_eq!(case.flags().len(), 7);
    case.set_flag(Situation::RareCancer, true, Some("sarcoma subtype")).unwrap();
    case.set_flag(Situation::AdvancedOrMetastatic, true, None).unwrap();
    case.set_flag(Situation::YoungPatient, false, None).unwrap();
    let v = case.verdict();
    assert!(v.strongly_advised);
    assert_eq!(v.reasons, vec![Situation::AdvancedOrMetastatic, Situation::RareCancer]);
    let rare = case.flags().into_iter().find(|f| f.situation == Situation::RareCancer).unwrap();
    assert_eq!(rare.note.as_deref(), Some("sarcoma subtype"));
    case.set_flag(Situation::RareCancer, false, None).unwrap();
    case.set_flag(Situation::AdvancedOrMetastatic, false, None).unwrap();
    assert!(!case.verdict().strongly_advised);
}

#[test]
fn specialists_add_set_validate_remove() {
    let (_s, mut case, _) = new_case();
    let id = case
        .add_specialist(NewSpecialist {
            name: "Dr. Okafor",
            subspecialty: Some("thoracic oncology"),
            institution: Some("University Cancer Center"),
            nci: Some(NciDesignation::Comprehensive),
            contact: None,
        })
        .unwrap();
    case.set_specialist(&id, SpecialistField::Status, Some("scheduled")).unwrap();
    case.set_specialist(&id, SpecialistField::Contact, Some("intake@example.org")).unwrap();
    case.splice_text(&TextField::SpecialistNotes(id.clone()), 0, 0, "sees 300 lung cases a year").unwrap();
    case.save().unwrap();
    let s = &case.specialists()[0];
    assert_eq!(s.status, SpecialistStatus::Scheduled);
    assert_eq!(s.nci, NciDesignation::Comprehensive);
    assert_eq!(s.contact.as_deref(), Some("intake@example.org"));
    assert_eq!(s.notes, "sees 300 lung cases a year");
    assert!(matches!(
        case.set_specialist(&id, SpecialistField::Status, Some("maybe")),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(case.set_specialist("nope", SpecialistField::Name, Some("x")), Err(Error::UnknownId { .. })));
    assert!(case.add_specialist(NewSpecialist { name: "  ", ..Default::default() }).is_err());
    assert_unchanged(&mut case);
    case.retract_specialist(&id, RETRACT).unwrap();
    assert!(case.specialists().is_empty());
}

/// A retraction by nobody in particular, without a reason.
const RETRACT: Retract<'static> = Retract { today: date!(2026 - 12 - 31), by: None, reason: None };

/// The day events are logged on in these tests (after every event they log).
const LOGGED_ON: time::Date = date!(2026 - 12 - 31);

fn ev<'a>(kind: &'a str, date: &'a str) -> NewEvent<'a> {
    NewEvent { kind, date, ..Default::default() }
}

#[test]
fn record_request_due_dates_extension_overdue_and_waiting() {
    let (_s, mut case, me) = new_case();
    let r = case
        .add_record_request(
            "City Hospital pathology",
            &[RecordItem::PathologySlides, RecordItem::PathologyReport],
            Channel::PatientRequest,
        )
        .unwrap();
    let req = &case.record_requests()[0];
    assert_eq!(req.status, RequestStatus::NotRequested);
    assert_eq!(req.due, None);

    // Requested on Jan 31: due 30 days later, across February.
    case.log_request_event(&r, NewEvent { by: Some(&me), ..ev("requested_in_writing", "2026-01-31") }, LOGGED_ON)
        .unwrap();
    let req = case.record_requests().remove(0);
    assert_eq!(req.due, Some(date!(2026 - 03 - 02)));
    assert_eq!(req.status, RequestStatus::Requested);
    let p = req.clone().progress(date!(2026 - 03 - 02));
    assert!(!p.overdue);
    assert_eq!(p.days_waiting, Some(30));
    assert!(req.clone().progress(date!(2026 - 03 - 03)).overdue);
    assert_eq!(case.overdue_requests(date!(2026 - 03 - 03)).len(), 1);

    // A written extension adds 30 days once.
    case.log_request_event(&r, NewEvent { note: Some("staff shortage"), ..ev("extension", "2026-02-20") }, LOGGED_ON)
        .unwrap();
    let req = case.record_requests().remove(0);
    assert_eq!(req.due, Some(date!(2026 - 04 - 01)));
    assert_eq!(req.status, RequestStatus::Extended);
    assert!(case.overdue_requests(date!(2026 - 03 - 03)).is_empty());

    case.log_request_event(&r, NewEvent { fee_cents: Some(2_500), ..ev("fee", "2026-02-21") }, LOGGED_ON).unwrap();
    case.log_request_event(&r, ev("received", "2026-03-10"), LOGGED_ON).unwrap();
    case.set_return_by(&r, Some("2026-06-30")).unwrap();
    let req = case.record_requests().remove(0);
    assert_eq!(req.status, RequestStatus::Received);
    assert_eq!(req.fees_cents, 2_500);
    assert_eq!(req.return_by, Some(date!(2026 - 06 - 30)));
    let p = req.progress(date!(2026 - 05 - 01));
    assert!(!p.overdue, "received requests are never overdue");
    assert_eq!(p.days_waiting, Some(38), "waiting stops when records arrive");
    assert!(p.material_out, "slides received must go back");

    case.log_request_event(&r, ev("returned", "2026-05-02"), LOGGED_ON).unwrap();
    let p = case.request_progress(date!(2026 - 05 - 03)).remove(0);
    assert!(!p.material_out);
    assert_eq!(p.request.status, RequestStatus::Returned);
    assert_eq!(p.request.events.len(), 5);
}

#[test]
fn provider_channels_have_no_legal_clock_and_bad_events_are_refused() {
    let (_s, mut case, _) = new_case();
    let r = case.add_record_request("Imaging Center", &[RecordItem::ImagingDisc], Channel::ProviderToProvider).unwrap();
    case.log_request_event(&r, ev("requested_in_writing", "2026-01-01"), LOGGED_ON).unwrap();
    let req = case.record_requests().remove(0);
    assert_eq!(req.due, None);
    assert!(!req.progress(date!(2027 - 01 - 01)).overdue);
    case.save().unwrap();
    assert!(case.log_request_event(&r, ev("lost", "2026-01-02"), LOGGED_ON).is_err());
    assert!(case.log_request_event(&r, ev("received", "2026-13-01"), LOGGED_ON).is_err());
    assert!(case.log_request_event("missing", ev("received", "2026-01-02"), LOGGED_ON).is_err());
    assert!(
        case.log_request_event(&r, NewEvent { by: Some("stranger"), ..ev("received", "2026-01-02") }, LOGGED_ON)
            .is_err()
    );
    assert!(case.add_record_request("Lab", &[], Channel::LabRelease).is_err());
    assert_unchanged(&mut case);
}

#[test]
fn concurrent_request_events_both_survive_a_merge() {
    let store_a = Store::in_memory();
    let (mut a, _) = store_a.create_case("Dad", "Ben", None).unwrap();
    let r = a.add_record_request("Lab", &[RecordItem::PathologySlides], Channel::LabRelease).unwrap();
    a.save().unwrap();
    let store_b = Store::in_memory();
    store_b.import_changes(&store_a.export_changes(a.id(), None).unwrap()).unwrap();
    let mut b = store_b.open_case(a.id()).unwrap();
    a.log_request_event(&r, ev("requested_in_writing", "2026-02-01"), LOGGED_ON).unwrap();
    b.log_request_event(&r, ev("followed_up", "2026-02-10"), LOGGED_ON).unwrap();
    a.save().unwrap();
    b.save().unwrap();
    store_b.import_changes(&store_a.export_changes(a.id(), None).unwrap()).unwrap();
    let b = store_b.open_case(a.id()).unwrap();
    let kinds: Vec<_> = b.record_requests()[0].events.iter().map(|e| e.kind.to_string()).collect();
    assert_eq!(kinds, vec!["requested_in_writing", "followed_up"]);
}

#[test]
fn chronology_medications_history_and_symptoms() {
    let (_s, mut case, _) = new_case();
    let d2 = case
        .add_document(
            Some("2026-02-01"),
            DocumentKind::ImagingStudy,
            Some("Imaging Center"),
            "CT chest disc",
            Location::Physical,
        )
        .unwrap();
    let d1 = case
        .add_document(
            Some("2026-01-15"),
            DocumentKind::PathologyReport,
            Some("City Lab"),
            "Biopsy report",
            Location::Digital,
        )
        .unwrap();
    let d3 = case.add_document(None, DocumentKind::Other, None, "Letter", Location::Both).unwrap();
    let order: Vec<_> = case.documents().into_iter().map(|d| d.id).collect();
    assert_eq!(order, vec![d1, d2, d3.clone()]);
    case.retract_document(&d3, RETRACT).unwrap();
    let m = case.add_medication("Metformin", Some("500 mg twice daily")).unwrap();
    assert_eq!(case.medications()[0].dose.as_deref(), Some("500 mg twice daily"));
    case.retract_medication(&m, RETRACT).unwrap();
    let h = case.add_family_history("mother", "breast cancer", Some(52)).unwrap();
    assert_eq!(case.family_history()[0].age_at_diagnosis, Some(52));
    assert!(case.add_family_history("aunt", "ovarian", Some(400)).is_err());
    case.retract_family_history(&h, RETRACT).unwrap();
    case.append_text(&TextField::Symptoms, "Cough for 3 months; ").unwrap();
    case.append_text(&TextField::Symptoms, "tired after walking.").unwrap();
    assert_eq!(case.symptoms(), "Cough for 3 months; tired after walking.");
    assert!(case.add_document(Some("1/15/2026"), DocumentKind::Other, None, "x", Location::Digital).is_err());
}

#[test]
fn questions_order_answers_and_authors() {
    let (_s, mut case, me) = new_case();
    let q = case.add_question("Is surgery an option?", Category::Treatment, Priority::High, &me).unwrap();
    assert!(case.add_question("x?", Category::Other, Priority::Low, "nobody").is_err());
    assert_eq!(case.questions().last().unwrap().id, q);
    case.move_question(&q, 0).unwrap();
    assert_eq!(case.questions()[0].id, q);
    assert_eq!(case.questions().len(), 7);
    case.move_question(&q, 6).unwrap();
    assert_eq!(case.questions()[6].id, q);
    assert!(case.move_question(&q, 7).is_err());
    case.set_question_meta(&q, Some(Category::Logistics), Some(Priority::Low)).unwrap();
    let appt = case
        .add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() })
        .unwrap();
    case.add_answer(&q, &appt, &me, "Not at this stage").unwrap();
    assert!(case.add_answer(&q, "no-appt", &me, "x").is_err());
    let got = case.questions().into_iter().find(|x| x.id == q).unwrap();
    assert_eq!(got.category, Category::Logistics);
    assert_eq!(got.answers.len(), 1);
    assert_eq!(got.answers[0].appointment, appt);
    case.splice_text(&TextField::Question(q.clone()), 0, 2, "Would").unwrap();
    assert!(case.questions().iter().any(|x| x.text == "Would surgery an option?"));
    case.retract_question(&q, RETRACT).unwrap();
    assert_eq!(case.questions().len(), 6);
}

#[test]
fn appointments_notes_per_author_summary_and_consent() {
    let (store, mut case, ana) = new_case();
    let ben = case.add_caregiver("Ben", Some("son")).unwrap();
    let sp = case.add_specialist(NewSpecialist { name: "Dr. O", ..Default::default() }).unwrap();
    let a = case
        .add_appointment(NewAppointment {
            kind: Some(AppointmentKind::SecondOpinion),
            specialist: Some(&sp),
            start: Some("2026-03-02T09:30"),
            tz: Some("Europe/Madrid"),
            place: Some("Building B"),
        })
        .unwrap();
    case.set_attendee(&a, "Ana", true).unwrap();
    case.set_attendee(&a, "Mum", true).unwrap();
    case.record_consent(&a, "Dr. O", "2026-03-02").unwrap();
    case.set_appointment(&a, AppointmentField::SummaryRequested, Some("2026-03-02")).unwrap();
    let ana_notes = TextField::AppointmentNotes { appointment: a.clone(), author: ana.clone() };
    let ben_notes = TextField::AppointmentNotes { appointment: a.clone(), author: ben.clone() };
    case.append_text(&ana_notes, "Stage confirmed. ").unwrap();
    case.append_text(&ben_notes, "Ask about trial NCT-1").unwrap();
    case.append_text(&ana_notes, "PET scan next.").unwrap();
    case.append_text(&TextField::AppointmentSummary(a.clone()), "Agreed: PET first.").unwrap();
    case.save().unwrap();

    let case = &mut store.open_case(case.id()).unwrap();
    let appt = &case.appointments()[0];
    assert_eq!(appt.specialist.as_deref(), Some(sp.as_str()));
    assert_eq!(appt.attendees, vec!["Ana", "Mum"]);
    assert_eq!(appt.recording_consent[0].person, "Dr. O");
    assert_eq!(appt.summary_requested, Some(date!(2026 - 03 - 02)));
    assert_eq!(appt.start.unwrap().hour(), 9);
    assert_eq!(appt.tz.as_deref(), Some("Europe/Madrid"), "the zone of the place, kept");
    let notes = case.notes(&a).unwrap();
    let by: std::collections::HashMap<_, _> =
        notes.by_author.iter().map(|n| (n.author.clone(), n.text.clone())).collect();
    assert_eq!(by[&ana], "Stage confirmed. PET scan next.");
    assert_eq!(by[&ben], "Ask about trial NCT-1");
    assert_eq!(notes.summary, "Agreed: PET first.");

    assert!(case.set_appointment(&a, AppointmentField::Start, Some("tomorrow 9am")).is_err());
    assert!(case.set_appointment(&a, AppointmentField::Specialist, Some("ghost")).is_err());
    assert!(
        case.append_text(&TextField::AppointmentNotes { appointment: a.clone(), author: "ghost".into() }, "x").is_err()
    );
    assert!(case.notes("no-such-appointment").is_err());
    case.set_attendee(&a, "Mum", false).unwrap();
    assert_eq!(case.appointments()[0].attendees, vec!["Ana"]);
}

#[test]
fn opinions_compare_and_suggest_a_third() {
    let (_s, mut case, _) = new_case();
    case.add_opinion(NewOpinion {
        rank: 1,
        diagnosis: Some("Adenocarcinoma"),
        stage: Some("IIIA"),
        treatment: Some("Chemoradiation"),
        ..Default::default()
    })
    .unwrap();
    assert!(!case.compare_opinions().suggest_third_opinion);
    let second = case
        .add_opinion(NewOpinion {
            rank: 2,
            diagnosis: Some("adenocarcinoma "),
            stage: Some("IIB"),
            treatment: Some("chemoradiation"),
            trials: Some("NCT-1"),
            ..Default::default()
        })
        .unwrap();
    let c = case.compare_opinions();
    assert_eq!(c.opinions, 2);
    assert_eq!(c.differences.len(), 1, "case and spacing do not count as differences");
    assert_eq!(c.differences[0].aspect, Aspect::Stage);
    assert!(c.suggest_third_opinion);
    case.set_opinion(&second, "stage", Some("IIIA")).unwrap();
    assert!(case.compare_opinions().differences.is_empty());
    assert!(case.add_opinion(NewOpinion { rank: 0, ..Default::default() }).is_err());
    assert!(case.set_opinion(&second, "colour", Some("x")).is_err());
    case.retract_opinion(&second, RETRACT).unwrap();
    assert_eq!(case.opinions().len(), 1);
}

#[test]
fn preferences_tasks_and_costs() {
    let (_s, mut case, me) = new_case();
    case.set_detail_level(Some(DetailLevel::Essentials)).unwrap();
    case.set_agreed_to_second_opinion(true).unwrap();
    case.append_text(&TextField::Wishes, "Wants to stay home as long as possible.").unwrap();
    let p = case.preferences();
    assert_eq!(p.detail_level, Some(DetailLevel::Essentials));
    assert!(p.agreed_to_second_opinion);
    assert!(p.wishes.starts_with("Wants"));

    let t1 = case.add_task("Call pathology lab", Some(&me), Some("2026-02-01")).unwrap();
    let t2 = case.add_task("Book hotel", None, None).unwrap();
    assert!(case.add_task("x", Some("ghost"), None).is_err());
    assert!(case.add_task("x", None, Some("soon")).is_err());
    case.set_task_done(&t1, true).unwrap();
    case.assign_task(&t2, Some(&me)).unwrap();
    let tasks = case.tasks();
    assert_eq!(tasks[0].id, t2, "open tasks first");
    assert!(tasks[1].done);
    case.retract_task(&t1, RETRACT).unwrap();

    case.add_cost(CostCategory::Consultation, parse_amount("450").unwrap(), Some("2026-03-02"), None).unwrap();
    case.add_cost(CostCategory::Travel, parse_amount("120.5").unwrap(), None, Some("train")).unwrap();
    let c = case.add_cost(CostCategory::Travel, parse_amount("9.99").unwrap(), None, None).unwrap();
    let t = case.cost_totals();
    assert_eq!(t.total_cents, 45_000 + 12_050 + 999);
    assert_eq!(t.by_category, vec![(CostCategory::Consultation, 45_000), (CostCategory::Travel, 13_049)]);
    case.retract_cost(&c, RETRACT).unwrap();
    assert_eq!(case.cost_totals().total_cents, 57_050);
    for bad in ["", "1.234", "-5", "1,5", "abc", "99999999999999999999"] {
        assert!(parse_amount(bad).is_err(), "{bad}");
    }
}

#[test]
fn progress_follows_the_case() {
    let (_s, mut case, me) = new_case();
    let today = date!(2026 - 04 - 01);
    case.set_agreed_to_second_opinion(true).unwrap();
    let sp = case.add_specialist(NewSpecialist { name: "Dr. O", ..Default::default() }).unwrap();
    assert_eq!(case.progress(today).steps[1].next.as_deref(), Some("Contact one of the specialists you found"));
    case.set_specialist(&sp, SpecialistField::Status, Some("contacted")).unwrap();
    // A report: information, on the HIPAA clock (slides alone would have none).
    let r = case.add_record_request("Lab", &[RecordItem::PathologyReport], Channel::PatientRequest).unwrap();
    assert!(case.progress(today).steps[2].next.as_deref().unwrap().starts_with("Send 1 request"));
    case.log_request_event(&r, ev("requested_in_writing", "2026-01-01"), LOGGED_ON).unwrap();
    assert!(case.progress(today).steps[2].next.as_deref().unwrap().contains("overdue"));
    case.log_request_event(&r, ev("received", "2026-01-20"), LOGGED_ON).unwrap();
    case.add_document(Some("2026-01-20"), DocumentKind::PathologyReport, None, "Report", Location::Digital).unwrap();
    case.add_medication("Aspirin", None).unwrap();
    case.add_family_history("father", "colon cancer", None).unwrap();
    case.append_text(&TextField::Symptoms, "cough").unwrap();
    case.add_question("Which trials?", Category::Treatment, Priority::High, &me).unwrap();
    case.add_appointment(NewAppointment {
        kind: Some(AppointmentKind::SecondOpinion),
        start: Some("2026-03-01T10:00"),
        ..Default::default()
    })
    .map(|a| case.set_appointment(&a, AppointmentField::SummaryRequested, Some("2026-03-01")).unwrap())
    .unwrap();
    case.add_opinion(NewOpinion { rank: 1, stage: Some("II"), ..Default::default() }).unwrap();
    let p = case.progress(today);
    assert_eq!(p.done, 6, "{p:#?}");
    assert_eq!(
        p.steps[6].next.as_deref(),
        Some("Record each doctor's opinion to compare them, then record your decision together")
    );
    case.add_opinion(NewOpinion { rank: 2, stage: Some("III"), ..Default::default() }).unwrap();
    assert_eq!(
        case.progress(today).steps[6].next.as_deref(),
        Some(
            "The opinions differ on stage: the guide suggests considering a third opinion; record your decision \
             together when you have one"
        )
    );
    // A third opinion is not a decision: step 7 waits for the family's.
    case.add_opinion(NewOpinion { rank: 3, stage: Some("III"), ..Default::default() }).unwrap();
    let p = case.progress(today);
    assert_eq!(p.done, 6);
    assert_eq!(
        p.steps[6].next.as_deref(),
        Some("The opinions differ on stage: discuss them together and record your decision")
    );
    case.record_decision(
        casebook_core::model::decision::NewDecision {
            text: "Follow the third opinion",
            date: "2026-03-30",
            participants: vec![&me],
            ..Default::default()
        },
        today,
    )
    .unwrap();
    let p = case.progress(today);
    assert_eq!(p.done, 7);
    assert!(p.steps.iter().all(|s| !s.achieved.is_empty()));
}

#[test]
fn a_caregiver_bound_to_an_account_is_found_by_it() {
    let (_store, mut case, ana) = new_case();
    let ben = case.add_caregiver("Ben", Some("son")).unwrap();
    assert_eq!(case.caregiver_of_account("acct-ana"), None);
    case.link_caregiver_account(&ana, "acct-ana").unwrap();
    case.link_caregiver_account(&ben, "acct-ben").unwrap();
    assert_eq!(case.caregiver_of_account("acct-ana").as_deref(), Some(ana.as_str()));
    assert_eq!(case.caregiver_of_account("acct-ben").as_deref(), Some(ben.as_str()));
    assert_eq!(case.caregiver_of_account("acct-nobody"), None);
    // Binding again to the same account writes nothing.
    let before = case.state().unwrap();
    case.link_caregiver_account(&ana, "acct-ana").unwrap();
    assert_eq!(case.state().unwrap(), before);
    // Refused: an unknown caregiver, an empty account.
    assert!(matches!(case.link_caregiver_account("nobody", "acct"), Err(Error::UnknownId { .. })));
    assert!(matches!(case.link_caregiver_account(&ben, "  "), Err(Error::InvalidInput { .. })));
}
