//! Who did what: every change is attributed to the caregiver whose device made it; conflicts name who set
//! each value and when; a field's or an item's history lists every value it took, identically on every
//! replica.

use std::time::{SystemTime, UNIX_EPOCH};

use casebook_core::model::appointment::{AppointmentField, AppointmentKind, NewAppointment};
use casebook_core::model::history::{HistoryAction, HistoryEntry};
use casebook_core::model::patient::PatientField;
use casebook_core::model::text::TextField;
use casebook_core::{Case, CaseId, Error, Store};

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Send everything each store has to the other, through exchange files.
fn swap(a: &Store, b: &Store, id: &CaseId) {
    let (fa, fb) = (a.export_changes(id, None).unwrap(), b.export_changes(id, None).unwrap());
    b.import_changes(&fa).unwrap();
    a.import_changes(&fb).unwrap();
}

/// Ana creates the case in her store; Ben receives it in his and joins the care team on his phone.
/// Both stores are on disk (sled), as on phones.
struct Siblings {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    a: Store,
    b: Store,
    id: CaseId,
    ana: String,
    ben: String,
}

fn siblings() -> Siblings {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(da.path()).unwrap();
    let b = Store::open(db.path()).unwrap();
    let (case, ana) = a.create_case("Mum", "Ana", Some("daughter")).unwrap();
    let id = case.id().clone();
    b.import_changes(&a.export_changes(&id, None).unwrap()).unwrap();
    let mut cb = b.open_case(&id).unwrap();
    // Joining: the caregiver is added before the device knows who it is (as the apps and the CLI do).
    let ben = cb.add_caregiver("Ben", Some("son")).unwrap();
    cb.save().unwrap();
    b.set_me(&id, &ben).unwrap();
    // The next edit of the same session binds its actor: the joining edit is Ben's too.
    cb.set_patient(PatientField::CancerType, Some("breast")).unwrap();
    cb.save().unwrap();
    swap(&a, &b, &id);
    Siblings { _dirs: (da, db), a, b, id, ana, ben }
}

fn who(e: &HistoryEntry) -> (Option<&str>, Option<&str>) {
    (e.by.caregiver_id.as_deref(), e.by.caregiver.as_deref())
}

#[test]
fn a_conflict_names_both_caregivers_and_when_and_the_history_is_the_same_on_both_replicas() {
    let s = siblings();
    let before = now();
    let mut ca = s.a.open_case(&s.id).unwrap();
    let mut cb = s.b.open_case(&s.id).unwrap();
    let appt = ca
        .add_appointment(NewAppointment {
            kind: Some(AppointmentKind::SecondOpinion),
            start: Some("2026-12-01T09:30"),
            ..Default::default()
        })
        .unwrap();
    ca.save().unwrap();
    swap(&s.a, &s.b, &s.id);
    let mut cb2 = s.b.open_case(&s.id).unwrap();
    drop(cb);
    // Offline, both move the appointment.
    ca.set_appointment(&appt, AppointmentField::Start, Some("2026-12-01T10:00")).unwrap();
    cb2.set_appointment(&appt, AppointmentField::Start, Some("2026-12-02T11:00")).unwrap();
    ca.save().unwrap();
    cb2.save().unwrap();
    swap(&s.a, &s.b, &s.id);
    let after = now();
    let mut ma = s.a.open_case(&s.id).unwrap();
    cb = s.b.open_case(&s.id).unwrap();

    let path = format!("appointments/{appt}/start");
    let conflicts = ma.conflicts();
    assert_eq!(conflicts, cb.conflicts(), "both replicas show the same conflicts, authors included");
    let c = conflicts.iter().find(|c| c.path == path).expect("the start is a conflict");
    assert_eq!(c.values.len(), 2);
    assert_eq!(c.set_by.len(), 2, "one author per value");
    for (value, by) in c.values.iter().zip(&c.set_by) {
        let expected = if value == "2026-12-01T10:00" { (&s.ana, "Ana") } else { (&s.ben, "Ben") };
        assert_eq!(by.caregiver_id.as_ref(), Some(expected.0), "{value}");
        assert_eq!(by.caregiver.as_deref(), Some(expected.1), "{value}");
        let at = by.at.expect("every change carries its time");
        assert!((before..=after).contains(&at), "{at} within [{before}, {after}]");
    }
    // Resolving still works, by position as listed.
    let pick = c.values.iter().position(|v| v == "2026-12-02T11:00").unwrap();

    // The field's history: the first value (Ana), then both concurrent values, each with its author.
    let ha = ma.history(&path).unwrap();
    let hb = cb.history(&path).unwrap();
    assert_eq!(ha, hb, "the same history on both replicas");
    let rows: Vec<(&str, Option<&str>, bool)> =
        ha.iter().map(|e| (e.value.as_deref().unwrap(), e.by.caregiver.as_deref(), e.current)).collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0], ("2026-12-01T09:30", Some("Ana"), false), "overwritten values are listed");
    let mut concurrent = rows[1..].to_vec();
    concurrent.sort();
    assert_eq!(concurrent, vec![("2026-12-01T10:00", Some("Ana"), true), ("2026-12-02T11:00", Some("Ben"), true)]);
    assert!(ha.iter().all(|e| e.action == HistoryAction::Set && e.path == path && e.by.at.is_some()));

    ma.resolve_conflict(&path, pick).unwrap();
    let h = ma.history(&path).unwrap();
    assert_eq!(h.len(), 4);
    let last = h.last().unwrap();
    assert_eq!((last.value.as_deref(), who(last)), (Some("2026-12-02T11:00"), (Some(&*s.ana), Some("Ana"))));
    let now_current: Vec<&str> = h.iter().filter(|e| e.current).filter_map(|e| e.value.as_deref()).collect();
    assert_eq!(now_current, vec!["2026-12-02T11:00"]);
    // Keeping the value Automerge shows removes the other (Ana kept Ben's value, which stays his); keeping
    // the other one writes it again (Ana set it).
    if c.values[0] == "2026-12-02T11:00" {
        assert_eq!((last.action, last.current), (HistoryAction::Kept, false));
        assert!(h.iter().any(|e| e.current && who(e) == (Some(&*s.ben), Some("Ben"))));
    } else {
        assert_eq!((last.action, last.current), (HistoryAction::Set, true));
    }
    ma.save().unwrap();
    swap(&s.a, &s.b, &s.id);
    assert_eq!(h, s.b.open_case(&s.id).unwrap().history(&path).unwrap(), "the resolution reached Ben as it is");
}

#[test]
fn a_case_created_by_one_caregiver_and_edited_by_another_names_each() {
    let s = siblings();
    let mut ca = s.a.open_case(&s.id).unwrap();

    // The creation (made before the first caregiver existed) is Ana's.
    let name = ca.history("patient/display_name").unwrap();
    assert_eq!(name.len(), 1);
    assert_eq!((name[0].value.as_deref(), who(&name[0])), (Some("Mum"), (Some(&*s.ana), Some("Ana"))));
    let created = ca.history("created").unwrap();
    assert_eq!(who(&created[0]), (Some(&*s.ana), Some("Ana")), "the case's first change too");
    // Ben's joining edit and his later one are his.
    let team = ca.item_history(&format!("care_team/{}", s.ben)).unwrap();
    assert!(!team.is_empty());
    assert!(team.iter().all(|e| who(e) == (Some(&*s.ben), Some("Ben"))), "{team:?}");
    let cancer = ca.history("patient/cancer_type").unwrap();
    assert_eq!((cancer[0].value.as_deref(), who(&cancer[0])), (Some("breast"), (Some(&*s.ben), Some("Ben"))));

    // Ben corrects the stage Ana set; both are listed, in order.
    ca.set_patient(PatientField::Stage, Some("IIA")).unwrap();
    ca.save().unwrap();
    swap(&s.a, &s.b, &s.id);
    let mut cb = s.b.open_case(&s.id).unwrap();
    cb.set_patient(PatientField::Stage, Some("IIB")).unwrap();
    cb.set_patient(PatientField::Stage, None).unwrap();
    cb.save().unwrap();
    swap(&s.a, &s.b, &s.id);
    ca = s.a.open_case(&s.id).unwrap();
    let stage = ca.history("patient/stage").unwrap();
    let rows: Vec<(HistoryAction, Option<&str>, Option<&str>)> =
        stage.iter().map(|e| (e.action, e.value.as_deref(), e.by.caregiver.as_deref())).collect();
    assert_eq!(
        rows,
        vec![
            (HistoryAction::Set, Some("IIA"), Some("Ana")),
            (HistoryAction::Set, Some("IIB"), Some("Ben")),
            (HistoryAction::Cleared, None, Some("Ben")),
        ]
    );
    assert_eq!(stage, cb.history("patient/stage").unwrap());

    // A text: one entry per change, with the text after it.
    ca.append_text(&TextField::Symptoms, "tired").unwrap();
    ca.save().unwrap();
    swap(&s.a, &s.b, &s.id);
    cb = s.b.open_case(&s.id).unwrap();
    cb.append_text(&TextField::Symptoms, ", short of breath").unwrap();
    let symptoms = cb.history("symptoms").unwrap();
    let edits: Vec<(Option<&str>, Option<&str>)> = symptoms
        .iter()
        .filter(|e| e.action == HistoryAction::Edited)
        .map(|e| (e.value.as_deref(), e.by.caregiver.as_deref()))
        .collect();
    assert_eq!(
        edits,
        vec![(Some("tired"), Some("Ana")), (Some(", short of breath"), Some("Ben"))],
        "unsaved typing included"
    );
    assert_eq!(symptoms[0].action, HistoryAction::Created);
}

#[test]
fn an_items_history_lists_every_field_change_and_notes_are_attributed() {
    let s = siblings();
    let mut ca = s.a.open_case(&s.id).unwrap();
    let appt = ca
        .add_appointment(NewAppointment {
            kind: Some(AppointmentKind::FirstOpinion),
            start: Some("2026-12-01T09:30"),
            place: Some("Clinic"),
            ..Default::default()
        })
        .unwrap();
    ca.append_text(
        &TextField::AppointmentNotes { appointment: appt.clone(), author: s.ana.clone() },
        "asked about trials",
    )
    .unwrap();
    ca.save().unwrap();
    swap(&s.a, &s.b, &s.id);
    let mut cb = s.b.open_case(&s.id).unwrap();
    cb.set_appointment(&appt, AppointmentField::Start, Some("2026-12-02T10:00")).unwrap();
    cb.set_attendee(&appt, "Ben", true).unwrap();
    cb.append_text(&TextField::AppointmentSummary(appt.clone()), "Second look at the scans").unwrap();
    cb.save().unwrap();
    swap(&s.a, &s.b, &s.id);
    let mut ca = s.a.open_case(&s.id).unwrap();

    let item = ca.item_history(&format!("appointments/{appt}")).unwrap();
    assert_eq!(item, cb.item_history(&format!("appointments/{appt}")).unwrap());
    let start = format!("appointments/{appt}/start");
    let starts: Vec<(Option<&str>, Option<&str>)> =
        item.iter().filter(|e| e.path == start).map(|e| (e.value.as_deref(), e.by.caregiver.as_deref())).collect();
    assert_eq!(starts, vec![(Some("2026-12-01T09:30"), Some("Ana")), (Some("2026-12-02T10:00"), Some("Ben"))]);
    let attendee = item.iter().find(|e| e.path == format!("appointments/{appt}/attendees/Ben")).expect("nested maps");
    assert_eq!((attendee.value.as_deref(), attendee.by.caregiver.as_deref()), (Some("true"), Some("Ben")));
    assert!(
        item.iter().any(|e| e.path == format!("appointments/{appt}/place") && e.by.caregiver.as_deref() == Some("Ana"))
    );

    // The notes document shares the session's actor: its edits are attributed through the same binding.
    let notes = ca.history(&format!("appointments/{appt}/notes/{}", s.ana)).unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!((notes[0].value.as_deref(), who(&notes[0])), (Some("asked about trials"), (Some(&*s.ana), Some("Ana"))));
    let summary = ca.history(&format!("appointments/{appt}/summary")).unwrap();
    assert_eq!(summary.len(), 1, "the notes document's deterministic first change is not listed: {summary:?}");
    assert_eq!(who(&summary[0]), (Some(&*s.ben), Some("Ben")));

    // Paths that name nothing.
    assert!(matches!(ca.history("nope/field"), Err(Error::UnknownId { .. })));
    assert!(ca.history("patient/never_set").unwrap().is_empty());
    assert!(matches!(ca.history("patient//stage"), Err(Error::InvalidInput { .. })));
    assert!(matches!(ca.item_history("patient/display_name"), Err(Error::InvalidInput { .. })));
}

#[test]
fn an_edit_from_a_device_that_knows_no_caregiver_is_from_an_unknown_device() {
    let a = Store::in_memory();
    let (mut ca, ana) = a.create_case("Mum", "Ana", None).unwrap();
    ca.set_patient(PatientField::Stage, Some("IIA")).unwrap();
    ca.save().unwrap();
    // A second device that never said who uses it.
    let b = Store::in_memory();
    b.import_changes(&a.export_changes(ca.id(), None).unwrap()).unwrap();
    let mut cb = b.open_case(ca.id()).unwrap();
    cb.set_patient(PatientField::Stage, Some("IIB")).unwrap();
    ca.set_patient(PatientField::Stage, Some("IIC")).unwrap();
    ca.save().unwrap();
    cb.save().unwrap();
    swap(&a, &b, ca.id());
    let mut cb = b.open_case(ca.id()).unwrap();
    let h = cb.history("patient/stage").unwrap();
    assert_eq!(h.len(), 3);
    let unknown = h.iter().find(|e| e.value.as_deref() == Some("IIB")).unwrap();
    assert_eq!(who(unknown), (None, None), "an unbound actor is an unknown device");
    assert!(unknown.by.at.is_some(), "its time is still known");
    let c = cb.conflicts().into_iter().find(|c| c.path == "patient/stage").unwrap();
    let by: Vec<Option<&str>> = c.set_by.iter().map(|b| b.caregiver_id.as_deref()).collect();
    assert!(by.contains(&None) && by.contains(&Some(ana.as_str())), "{by:?}");
    // Once that device learns who uses it, its later sessions are attributed.
    b.set_me(ca.id(), &ana).unwrap();
    cb.set_patient(PatientField::Stage, Some("III")).unwrap();
    let h = cb.history("patient/stage").unwrap();
    assert_eq!(who(h.last().unwrap()), (Some(ana.as_str()), Some("Ana")));
}

#[test]
fn a_caregiver_bound_but_not_in_this_replicas_team_has_an_id_and_no_name() {
    let a = Store::in_memory();
    let (mut ca, _) = a.create_case("Mum", "Ana", None).unwrap();
    a.set_me(ca.id(), "someone-else").unwrap();
    let mut reopened: Case = a.open_case(ca.id()).unwrap();
    reopened.set_patient(PatientField::Stage, Some("I")).unwrap();
    let h = reopened.history("patient/stage").unwrap();
    assert_eq!(who(&h[0]), (Some("someone-else"), None));
    ca.save().unwrap();
}
