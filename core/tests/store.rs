//! The store: many cases, schema versions, corrupt data, offline exchange, conflicts across replicas.
//! Runs against the in-memory store and sled in a temp dir.

use std::sync::Arc;

use automerge::transaction::Transactable;
use casebook_core::model::appointment::{AppointmentField, AppointmentKind, NewAppointment};
use casebook_core::model::patient::PatientField;
use casebook_core::model::text::TextField;
use casebook_core::storage::{MemoryStorage, SledStorage, Storage, key};
use casebook_core::{Error, Store};

fn stores() -> Vec<(Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sled = Store::with_storage(Arc::new(SledStorage::open(dir.path()).unwrap()));
    vec![(Store::with_storage(Arc::new(MemoryStorage::new())), None), (sled, Some(dir))]
}

#[test]
fn create_list_open_delete() {
    for (store, _dir) in stores() {
        let (a, me) = store.create_case("Mum", "Ana", None).unwrap();
        let (b, _) = store.create_case("Dad", "Ana", None).unwrap();
        assert_eq!(store.me(a.id()).unwrap().as_deref(), Some(me.as_str()));
        let mut names: Vec<_> = store.list_cases().unwrap().into_iter().map(|c| c.display_name.unwrap()).collect();
        names.sort();
        assert_eq!(names, vec!["Dad", "Mum"]);
        store.delete_case(a.id()).unwrap();
        assert!(matches!(store.open_case(a.id()), Err(Error::CaseNotFound(_))));
        assert!(matches!(store.delete_case(a.id()), Err(Error::CaseNotFound(_))));
        assert_eq!(store.list_cases().unwrap().len(), 1);
        assert!(store.open_case(b.id()).is_ok());
    }
}

#[test]
fn saved_edits_reopen_and_unsaved_ones_do_not() {
    for (store, _dir) in stores() {
        let (mut case, me) = store.create_case("Mum", "Ana", None).unwrap();
        let appt = case
            .add_appointment(NewAppointment { kind: Some(AppointmentKind::FollowUp), ..Default::default() })
            .unwrap();
        case.append_text(&TextField::AppointmentNotes { appointment: appt.clone(), author: me.clone() }, "saved")
            .unwrap();
        case.save().unwrap();
        case.append_text(&TextField::AppointmentNotes { appointment: appt.clone(), author: me.clone() }, " unsaved")
            .unwrap();
        let mut again = store.open_case(case.id()).unwrap();
        assert_eq!(again.notes(&appt).unwrap().by_author[0].text, "saved");
    }
}

#[test]
fn many_saves_compact_and_still_load() {
    for (store, _dir) in stores() {
        let (mut case, _) = store.create_case("Mum", "Ana", None).unwrap();
        for i in 0..600 {
            case.append_text(&TextField::Symptoms, &format!("{i} ")).unwrap();
            case.save().unwrap();
        }
        let id = case.id().clone();
        let chunks = store.storage().keys(&key([id.as_str()]).unwrap()).unwrap();
        assert!(chunks.len() < 300, "compaction keeps chunks bounded, found {}", chunks.len());
        let again = store.open_case(&id).unwrap();
        assert!(again.symptoms().starts_with("0 1 2 "));
        assert!(again.symptoms().ends_with("598 599 "));
    }
}

#[test]
fn a_corrupt_case_names_itself_and_leaves_others_alone() {
    for (store, _dir) in stores() {
        let (good, _) = store.create_case("Good", "Ana", None).unwrap();
        let (bad, _) = store.create_case("Bad", "Ana", None).unwrap();
        let s = store.storage();
        // Damage every chunk of the bad case (truncate to half).
        for (k, v) in s.load_range(&key([bad.id().as_str()]).unwrap()).unwrap() {
            s.put(&k, &v[..v.len() / 2]).unwrap();
        }
        s.flush().unwrap();
        let err = store.open_case(bad.id()).err().unwrap();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(bad.id().as_str()), "{err}");
        assert!(store.open_case(good.id()).is_ok());
        let list = store.list_cases().unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.iter().any(|c| c.id == *bad.id() && c.error.is_some()));
        assert!(list.iter().any(|c| c.id == *good.id() && c.display_name.as_deref() == Some("Good")));
        // Garbage bytes as an extra chunk are reported too.
        s.put(&key([good.id().as_str(), "incremental", "garbage"]).unwrap(), b"\x85\x6f\x4a\x83 not automerge")
            .unwrap();
        assert!(matches!(store.open_case(good.id()), Err(Error::Corrupt { .. })));
    }
}

#[test]
fn a_newer_major_schema_is_refused_clearly() {
    for (store, _dir) in stores() {
        let (case, _) = store.create_case("Mum", "Ana", None).unwrap();
        let exported = store.export_changes(case.id(), None).unwrap();
        // Build a change that bumps the major version, as a future Casebook would.
        let s = store.storage();
        let mut raw = automerge::AutoCommit::new();
        for (_, chunk) in s.load_range(&key([case.id().as_str()]).unwrap()).unwrap() {
            raw.load_incremental(&chunk).unwrap();
        }
        let heads = raw.get_heads();
        raw.put(automerge::ROOT, "schema_major", 2u64).unwrap();
        raw.commit();
        let change = raw.save_after(&heads);
        s.put(&key([case.id().as_str(), "incremental", "future"]).unwrap(), &change).unwrap();
        let err = store.open_case(case.id()).err().unwrap();
        assert!(matches!(err, Error::NewerSchema { found_major: 2, supported_major: 1, .. }), "{err}");
        assert!(err.to_string().contains("update the app"));
        // The same case imported into a fresh store from an older file still opens.
        let other = Store::in_memory();
        other.import_changes(&exported).unwrap();
        assert!(other.open_case(case.id()).is_ok());
    }
}

#[test]
fn exchange_files_merge_idempotently_and_reject_garbage() {
    let a = Store::in_memory();
    let b = Store::in_memory();
    let (mut case_a, ana) = a.create_case("Mum", "Ana", None).unwrap();
    let appt = case_a
        .add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() })
        .unwrap();
    case_a
        .append_text(&TextField::AppointmentNotes { appointment: appt.clone(), author: ana.clone() }, "Ana: stage ok. ")
        .unwrap();
    case_a.save().unwrap();
    let first = a.export_changes(case_a.id(), None).unwrap();
    let r = b.import_changes(&first).unwrap();
    assert!(r.new_case);
    assert!(r.new_changes > 0);
    assert_eq!(b.import_changes(&first).unwrap().new_changes, 0, "importing twice is harmless");

    // B (brother) adds himself and notes in the same appointment while A adds more.
    let mut case_b = b.open_case(case_a.id()).unwrap();
    let ben = case_b.add_caregiver("Ben", None).unwrap();
    case_b
        .append_text(
            &TextField::AppointmentNotes { appointment: appt.clone(), author: ben.clone() },
            "Ben: 診断 confirmé 👍",
        )
        .unwrap();
    case_b.save().unwrap();
    case_a
        .append_text(&TextField::AppointmentNotes { appointment: appt.clone(), author: ana.clone() }, "More from Ana.")
        .unwrap();
    case_a.save().unwrap();

    let state_a = case_a.state().unwrap();
    let delta = b.export_changes(case_a.id(), Some(&state_a)).unwrap();
    assert!(delta.len() < b.export_changes(case_a.id(), None).unwrap().len(), "a delta is smaller than everything");
    a.import_changes(&delta).unwrap();
    b.import_changes(&a.export_changes(case_a.id(), None).unwrap()).unwrap();
    a.import_changes(&first).unwrap(); // an older file: harmless

    let mut ra = a.open_case(case_a.id()).unwrap();
    let mut rb = b.open_case(case_a.id()).unwrap();
    assert_eq!(ra.notes(&appt).unwrap(), rb.notes(&appt).unwrap());
    let notes = ra.notes(&appt).unwrap();
    let texts: Vec<&str> = notes.by_author.iter().map(|n| n.text.as_str()).collect();
    assert!(texts.contains(&"Ana: stage ok. More from Ana."));
    assert!(texts.contains(&"Ben: 診断 confirmé 👍"));
    assert_eq!(ra.state().unwrap(), rb.state().unwrap());

    for garbage in [&b""[..], b"CBXCHG01", b"hello world, not a file", &first[..first.len() - 3]] {
        assert!(matches!(b.import_changes(garbage), Err(Error::BadExchange(_))));
    }
    let mut flipped = first.clone();
    let n = flipped.len();
    flipped[n - 10] ^= 0xff;
    assert!(b.import_changes(&flipped).is_err());
    // A delta without its base is refused, not half-applied.
    let c = Store::in_memory();
    assert!(matches!(c.import_changes(&delta), Err(Error::BadExchange(_))));
    assert!(c.list_cases().unwrap().is_empty());
}

#[test]
fn concurrent_field_edits_are_shown_as_conflicts_and_resolved() {
    let a = Store::in_memory();
    let b = Store::in_memory();
    let (mut ca, _) = a.create_case("Mum", "Ana", None).unwrap();
    let appt = ca
        .add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() })
        .unwrap();
    ca.save().unwrap();
    b.import_changes(&a.export_changes(ca.id(), None).unwrap()).unwrap();
    let mut cb = b.open_case(ca.id()).unwrap();
    ca.set_patient(PatientField::Stage, Some("IIIA")).unwrap();
    cb.set_patient(PatientField::Stage, Some("IIB")).unwrap();
    ca.set_decision_date(Some("2026-03-01")).unwrap();
    cb.set_decision_date(Some("2026-03-08")).unwrap();
    ca.set_appointment(&appt, AppointmentField::Start, Some("2026-02-10T09:00")).unwrap();
    cb.set_appointment(&appt, AppointmentField::Start, Some("2026-02-10T14:00")).unwrap();
    ca.save().unwrap();
    cb.save().unwrap();
    a.import_changes(&b.export_changes(ca.id(), None).unwrap()).unwrap();
    b.import_changes(&a.export_changes(ca.id(), None).unwrap()).unwrap();
    let mut ma = a.open_case(ca.id()).unwrap();
    let mb = b.open_case(ca.id()).unwrap();
    let conflicts = ma.conflicts();
    assert_eq!(conflicts, mb.conflicts(), "both replicas show the same conflicts");
    let paths: Vec<&str> = conflicts.iter().map(|c| c.path.as_str()).collect();
    assert!(paths.contains(&"patient/stage"), "{paths:?}");
    assert!(paths.contains(&"decision/date"), "{paths:?}");
    assert!(paths.contains(&format!("appointments/{appt}/start").as_str()), "{paths:?}");
    let stage = conflicts.iter().find(|c| c.path == "patient/stage").unwrap();
    let mut vals = stage.values.clone();
    vals.sort();
    assert_eq!(vals, vec!["IIB", "IIIA"]);
    assert_eq!(
        ma.patient().stage.as_deref(),
        Some(stage.values[0].as_str()),
        "the first listed value is the one shown"
    );
    let pick = stage.values.iter().position(|v| v == "IIB").unwrap();
    ma.resolve_conflict("patient/stage", pick).unwrap();
    assert_eq!(ma.patient().stage.as_deref(), Some("IIB"));
    assert!(!ma.conflicts().iter().any(|c| c.path == "patient/stage"));
    assert!(ma.resolve_conflict("patient/stage", 0).is_err());
    assert!(ma.resolve_conflict("decision/date", 9).is_err());
    // Setting the field normally resolves too.
    ma.set_decision_date(Some("2026-03-05")).unwrap();
    assert_eq!(ma.conflicts().len(), 1);
}
