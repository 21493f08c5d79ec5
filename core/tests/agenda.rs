//! The agenda (`Case::agenda`): entries from every source in time order, late flags, the default decision
//! date labelled, done things left out, identical on every replica whatever the order of arrival; and
//! "today" as the device's local date.

use casebook_core::dates::Zone;
use casebook_core::model::agenda::{AgendaEntry, AgendaKind};
use casebook_core::model::appointment::{AppointmentField, AppointmentKind, NewAppointment};
use casebook_core::model::decision::NewDecision;
use casebook_core::model::patient::PatientField;
use casebook_core::model::record_request::{Channel, NewEvent, RecordItem};
use casebook_core::model::specialist::NewSpecialist;
use casebook_core::{Case, Error, Store};
use time::Date;
use time::macros::{date, datetime};

const TODAY: Date = date!(2026 - 12 - 05);

fn new_case() -> (Store, Case, String) {
    let store = Store::in_memory();
    let (case, me) = store.create_case("Mum", "Ana", Some("daughter")).unwrap();
    (store, case, me)
}

fn appointment(case: &mut Case, kind: AppointmentKind, start: &str) -> String {
    case.add_appointment(NewAppointment { kind: Some(kind), start: Some(start), ..Default::default() }).unwrap()
}

fn event(case: &mut Case, request: &str, kind: &str, date: &str) {
    case.log_request_event(request, NewEvent { kind, date, ..Default::default() }, TODAY).unwrap();
}

/// (date, time, kind, late) of each entry, for compact assertions.
fn shape(agenda: &[AgendaEntry]) -> Vec<(String, Option<String>, AgendaKind, bool)> {
    agenda
        .iter()
        .map(|e| {
            let time = e.time.map(|t| format!("{:02}:{:02}", t.hour(), t.minute()));
            (casebook_core::dates::format_date(e.date), time, e.kind, e.late)
        })
        .collect()
}

#[test]
fn entries_from_every_source_in_time_order_with_what_is_late() {
    let (_s, mut case, me) = new_case();
    case.set_patient(PatientField::DiagnosisDate, Some("2026-11-20")).unwrap();
    let luis = case.add_caregiver("Luis", Some("son")).unwrap();
    let chen = case.add_specialist(NewSpecialist { name: "Dr Chen", ..Default::default() }).unwrap();

    // Appointments: one upcoming with a specialist, place and zone; one past (took place), one cancelled,
    // one without a start: only the first is on the agenda.
    let consult = case
        .add_appointment(NewAppointment {
            kind: Some(AppointmentKind::SecondOpinion),
            specialist: Some(&chen),
            start: Some("2026-12-07T09:30"),
            tz: Some("America/New_York"),
            place: Some("Cancer Center, building B"),
        })
        .unwrap();
    appointment(&mut case, AppointmentKind::FirstOpinion, "2026-11-25T10:00");
    let cancelled = appointment(&mut case, AppointmentKind::Tests, "2026-12-06T08:00");
    case.set_attended(&cancelled, Some(false)).unwrap();
    case.add_appointment(NewAppointment { kind: Some(AppointmentKind::FollowUp), ..Default::default() }).unwrap();
    // Later the same day as a task: the task (no time of day) comes first.
    let scan = appointment(&mut case, AppointmentKind::Tests, "2026-12-05T16:00");

    // Record requests: the patient's own request for a report, sent 11-01 (due 12-01: overdue); slides lent
    // lab to lab, received, to return by 12-10; slides already returned; a report already received.
    let report =
        case.add_record_request("City Hospital", &[RecordItem::PathologyReport], Channel::PatientRequest).unwrap();
    event(&mut case, &report, "requested_in_writing", "2026-11-01");
    let slides = case
        .add_record_request("City Hospital pathology", &[RecordItem::PathologySlides], Channel::LabRelease)
        .unwrap();
    event(&mut case, &slides, "requested_in_writing", "2026-11-02");
    event(&mut case, &slides, "received", "2026-11-20");
    case.set_return_by(&slides, Some("2026-12-10")).unwrap();
    let returned = case.add_record_request("Other lab", &[RecordItem::TissueBlocks], Channel::LabRelease).unwrap();
    event(&mut case, &returned, "requested_in_writing", "2026-11-02");
    event(&mut case, &returned, "received", "2026-11-10");
    event(&mut case, &returned, "returned", "2026-11-30");
    case.set_return_by(&returned, Some("2026-12-01")).unwrap();
    let done = case.add_record_request("Imaging centre", &[RecordItem::ImagingDisc], Channel::PatientRequest).unwrap();
    event(&mut case, &done, "requested_in_writing", "2026-11-01");
    event(&mut case, &done, "received", "2026-11-15");

    // Tasks: due today (not late), due before (late), done (left out), without a due date (left out).
    let today_task = case.add_task("Call the lab", Some(&luis), Some("2026-12-05")).unwrap();
    let late_task = case.add_task("Copy the imaging disc", Some(&me), Some("2026-12-01")).unwrap();
    let finished = case.add_task("Book the hotel", None, Some("2026-12-02")).unwrap();
    case.set_task_done(&finished, true).unwrap();
    case.add_task("Someday", None, None).unwrap();

    let agenda = case.agenda(TODAY);
    assert_eq!(
        shape(&agenda),
        vec![
            ("2026-12-01".into(), None, AgendaKind::RecordsDue, true),
            ("2026-12-01".into(), None, AgendaKind::Task, true),
            ("2026-12-05".into(), None, AgendaKind::Task, false),
            ("2026-12-05".into(), Some("16:00".into()), AgendaKind::Appointment, false),
            ("2026-12-07".into(), Some("09:30".into()), AgendaKind::Appointment, false),
            ("2026-12-10".into(), None, AgendaKind::ReturnMaterial, false),
            ("2026-12-18".into(), None, AgendaKind::DecisionDate, false),
        ]
    );
    let ids: Vec<Option<&str>> = agenda.iter().map(|e| e.id.as_deref()).collect();
    assert_eq!(
        ids,
        vec![
            Some(report.as_str()),
            Some(late_task.as_str()),
            Some(today_task.as_str()),
            Some(scan.as_str()),
            Some(consult.as_str()),
            Some(slides.as_str()),
            None
        ]
    );
    let titles: Vec<&str> = agenda.iter().map(|e| e.title.as_str()).collect();
    assert!(titles[0].starts_with("Records due from City Hospital"), "{}", titles[0]);
    assert_eq!(titles[1], "Copy the imaging disc (Ana)");
    assert_eq!(titles[2], "Call the lab (Luis)");
    assert_eq!(titles[4], "Second-opinion consultation with Dr Chen at Cancer Center, building B");
    assert_eq!(titles[5], "Return the pathology slides to City Hospital pathology");
    assert!(titles[6].contains("default date"), "{}", titles[6]);
    assert_eq!(agenda[4].tz.as_deref(), Some("America/New_York"));
    assert_eq!(agenda[3].tz, None);
    let days: Vec<i64> = agenda.iter().map(|e| e.days_left).collect();
    assert_eq!(days, vec![-4, -4, 0, 0, 2, 5, 13]);
    // Only the decision date can be a default; nothing names the diagnosis.
    assert_eq!(
        agenda.iter().map(|e| e.is_default).collect::<Vec<_>>(),
        [false, false, false, false, false, false, true]
    );

    // Slides not back by the return-by date are late.
    let later = case.agenda(date!(2026 - 12 - 11));
    let ret = later.iter().find(|e| e.kind == AgendaKind::ReturnMaterial).unwrap();
    assert!(ret.late && ret.days_left == -1);
}

#[test]
fn the_decision_date_agreed_default_passed_and_done() {
    let (_s, mut case, _) = new_case();
    assert!(case.agenda(TODAY).is_empty(), "no diagnosis date, nothing to do");
    case.set_patient(PatientField::DiagnosisDate, Some("2026-11-20")).unwrap();
    let default = case.agenda(TODAY);
    assert_eq!(default.len(), 1);
    assert!(default[0].is_default && !default[0].late);
    assert_eq!(default[0].date, date!(2026 - 12 - 18));

    case.set_decision_date(Some("2026-12-03")).unwrap();
    let agreed = case.agenda(TODAY);
    assert!(!agreed[0].is_default, "an agreed date is not labelled default");
    assert!(agreed[0].title.contains("agreed"), "{}", agreed[0].title);
    assert!(agreed[0].late, "passed with no decision recorded");
    assert_eq!(agreed[0].days_left, -2);

    case.record_decision(NewDecision { text: "Surgery", date: "2026-12-04", ..Default::default() }, TODAY).unwrap();
    assert!(case.agenda(TODAY).is_empty(), "a decision recorded: done");
}

#[test]
fn records_due_follow_the_clock_extension_and_answers() {
    let (_s, mut case, _) = new_case();
    let r = case.add_record_request("Clinic", &[RecordItem::LabReports], Channel::PatientRequest).unwrap();
    assert!(case.agenda(TODAY).is_empty(), "not yet requested: no due date");
    event(&mut case, &r, "requested_in_writing", "2026-11-01");
    event(&mut case, &r, "extension", "2026-11-20");
    let a = case.agenda(TODAY);
    assert_eq!((a[0].date, a[0].late), (date!(2026 - 12 - 31), false));
    assert!(a[0].title.contains("extended"), "{}", a[0].title);
    // Part of it arrived: still due on the extended date.
    event(&mut case, &r, "partially_received", "2026-12-01");
    let a = case.agenda(TODAY);
    assert_eq!(a[0].date, date!(2026 - 12 - 31));
    assert!(a[0].title.contains("extended"), "{}", a[0].title);
    // Provider to provider: no legal clock, nothing on the agenda.
    let p = case.add_record_request("Clinic", &[RecordItem::LabReports], Channel::ProviderToProvider).unwrap();
    event(&mut case, &p, "requested_in_writing", "2026-11-01");
    assert_eq!(case.agenda(TODAY).len(), 1);
    event(&mut case, &r, "received", "2026-12-04");
    assert!(case.agenda(TODAY).is_empty(), "received: done");
}

#[test]
fn a_task_due_today_is_not_late_in_an_american_evening() {
    let (_s, mut case, _) = new_case();
    case.add_task("Fax the request", None, Some("2026-12-05")).unwrap();
    // 2026-12-06T03:00Z is still the evening of 12-05 in California: due today, not late.
    let instant = datetime!(2026-12-06 03:00 UTC);
    let la = Zone::named("tz", "America/Los_Angeles").unwrap().local(instant).unwrap();
    assert_eq!(la, datetime!(2026-12-05 19:00));
    let there = case.agenda(la.date());
    assert_eq!((there[0].late, there[0].days_left), (false, 0));
    // In UTC (the old "today") it would already be a day late.
    let utc = Zone::utc().local(instant).unwrap();
    let here = case.agenda(utc.date());
    assert_eq!((here[0].late, here[0].days_left), (true, -1));
    // Days left are not one short either.
    case.set_decision_date(Some("2026-12-15")).unwrap();
    assert_eq!(case.decision_window(la.date()).days_left, Some(10));
    assert_eq!(case.decision_window(utc.date()).days_left, Some(9));
}

#[test]
fn a_consultation_whose_time_passed_today_counts_as_attended() {
    let (_s, mut case, _) = new_case();
    appointment(&mut case, AppointmentKind::SecondOpinion, "2026-12-05T09:30");
    let step6 = |now| case.progress_at(now).steps[5].achieved.iter().any(|a| a.contains("attended"));
    assert!(!step6(datetime!(2026-12-05 09:00)));
    assert!(step6(datetime!(2026-12-05 10:00)));
}

#[test]
fn appointments_keep_their_time_zone() {
    let (_s, mut case, _) = new_case();
    let a = case
        .add_appointment(NewAppointment {
            kind: Some(AppointmentKind::SecondOpinion),
            start: Some("2026-12-07T09:30"),
            tz: Some("america/new_york"),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(case.appointments()[0].tz.as_deref(), Some("America/New_York"), "the database's spelling");
    case.set_appointment(&a, AppointmentField::Tz, Some("Europe/Madrid")).unwrap();
    assert_eq!(case.appointments()[0].tz.as_deref(), Some("Europe/Madrid"));
    case.save().unwrap();
    for bad in ["Mars/Base", "/etc/localtime", "UTC+5,M3"] {
        let e = case.set_appointment(&a, AppointmentField::Tz, Some(bad)).unwrap_err();
        assert!(matches!(e, Error::InvalidInput { field: "tz", .. }), "{bad}: {e}");
        let e = case
            .add_appointment(NewAppointment { kind: Some(AppointmentKind::Other), tz: Some(bad), ..Default::default() })
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { field: "tz", .. }), "{bad}: {e}");
    }
    assert!(!case.has_unsaved_changes(), "refusals change nothing");
    case.set_appointment(&a, AppointmentField::Tz, None).unwrap();
    assert_eq!(case.appointments()[0].tz, None);
}

#[test]
fn identical_on_every_replica_whatever_the_order_of_arrival() {
    let a_store = Store::in_memory();
    let (mut a, _) = a_store.create_case("Mum", "Ana", None).unwrap();
    let id = a.id().clone();
    a.set_patient(PatientField::DiagnosisDate, Some("2026-11-20")).unwrap();
    a.save().unwrap();
    let first = a_store.export_changes(&id, None).unwrap();
    let b_store = Store::in_memory();
    b_store.import_changes(&first).unwrap();
    let mut b = b_store.open_case(&id).unwrap();
    let ben = b.add_caregiver("Ben", None).unwrap();

    // Offline on both phones: entries on the same days, of the same and of different kinds.
    a.add_task("Call the lab", None, Some("2026-12-05")).unwrap();
    a.add_task("Pack the slides", None, Some("2026-12-10")).unwrap();
    appointment(&mut a, AppointmentKind::SecondOpinion, "2026-12-07T09:30");
    b.add_task("Call the insurer", Some(&ben), Some("2026-12-05")).unwrap();
    appointment(&mut b, AppointmentKind::Tests, "2026-12-07T09:30");
    let r = b.add_record_request("Lab", &[RecordItem::PathologySlides], Channel::LabRelease).unwrap();
    b.set_return_by(&r, Some("2026-12-10")).unwrap();
    let q = b.add_record_request("Clinic", &[RecordItem::PathologyReport], Channel::PatientRequest).unwrap();
    event(&mut b, &q, "requested_in_writing", "2026-11-01");
    b.set_decision_date(Some("2026-12-05")).unwrap();
    a.save().unwrap();
    b.save().unwrap();

    let from_a = a_store.export_changes(&id, None).unwrap();
    let from_b = b_store.export_changes(&id, None).unwrap();
    // A third phone gets B's changes before A's; A and B each get the other's.
    let c_store = Store::in_memory();
    c_store.import_changes(&from_b).unwrap();
    c_store.import_changes(&from_a).unwrap();
    a_store.import_changes(&from_b).unwrap();
    b_store.import_changes(&from_a).unwrap();
    let agendas: Vec<Vec<AgendaEntry>> =
        [&a_store, &b_store, &c_store].into_iter().map(|s| s.open_case(&id).unwrap().agenda(TODAY)).collect();
    assert_eq!(agendas[0].len(), 8, "{:#?}", agendas[0]);
    assert_eq!(agendas[0], agendas[1]);
    assert_eq!(agendas[0], agendas[2]);
    let kinds: Vec<AgendaKind> = agendas[0].iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            AgendaKind::RecordsDue,
            AgendaKind::DecisionDate,
            AgendaKind::Task,
            AgendaKind::Task,
            AgendaKind::Appointment,
            AgendaKind::Appointment,
            AgendaKind::ReturnMaterial,
            AgendaKind::Task,
        ]
    );
    // Same day, same kind: by id, the same order everywhere.
    assert!(agendas[0][2].id < agendas[0][3].id);
    assert!(agendas[0][4].id < agendas[0][5].id);
}
