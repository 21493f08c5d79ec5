//! End-to-end through a real relay on 127.0.0.1:0 with real sled stores in temp dirs:
//! siblings editing offline then syncing, and a relay restarted from its data directory.

use std::time::Instant;

use casebook_core::CaseId;
use casebook_core::model::appointment::{AppointmentField, AppointmentKind, NewAppointment};
use casebook_core::model::patient::PatientField;
use casebook_core::model::record_request::{Channel, NewEvent, RecordItem};
use casebook_core::model::text::TextField;
use casebook_core::relay_api::Role;
use casebook_core::sync::{RelayClient, SharedCase};
use casebook_tests::InProcessRelay;
use casebook_tests::phone::{Phone, WAIT};

/// Ana creates and shares a case with an appointment; Ben joins it as editor. Both end online.
fn family(url: &str) -> (Phone, Phone, SharedCase, SharedCase, CaseId, String, String, String) {
    let mut ana = Phone::new(url, "Ana");
    let mut ben = Phone::new(url, "Ben");
    let (mut a, ana_id) = ana.store.create_case("Mum", "Ana", Some("daughter")).unwrap();
    let appt =
        a.add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() }).unwrap();
    a.save().unwrap();
    let id = a.id().clone();
    let a = std::sync::Arc::new(std::sync::Mutex::new(a));
    let s = ana.online(url);
    s.block_on(s.share_case(&a)).unwrap();
    ana.sync(&a);
    let code = ana.sync.as_ref().unwrap().relay().create_invite(&id, Role::Editor, None).unwrap().code;
    RelayClient::with_token(url, &ben.creds.token).unwrap().redeem_invite(&code).unwrap();
    let s = ben.online(url);
    let b = s.block_on(s.join_case(&id, WAIT)).unwrap();
    let ben_id = b.lock().unwrap().add_caregiver("Ben", Some("son")).unwrap();
    b.lock().unwrap().save().unwrap();
    ben.sync(&b);
    ana.sync(&a);
    (ana, ben, a, b, id, appt, ana_id, ben_id)
}

#[test]
fn siblings_edit_offline_then_sync_to_identical_cases() {
    let relay_dir = tempfile::tempdir().unwrap();
    let relay = InProcessRelay::start_in(relay_dir.path());
    let url = relay.url();
    let (mut ana, mut ben, a, b, _id, appt, ana_id, ben_id) = family(&url);

    // The basement: both offline, typing in the same consultation and editing other fields.
    ana.offline();
    ben.offline();
    let na = TextField::AppointmentNotes { appointment: appt.clone(), author: ana_id.clone() };
    let nb = TextField::AppointmentNotes { appointment: appt.clone(), author: ben_id.clone() };
    let mut typed_a = String::new();
    let mut typed_b = String::new();
    for i in 0..200 {
        let wa = format!("a{i}é ");
        let wb = format!("b{i}😀診 ");
        a.lock().unwrap().append_text(&na, &wa).unwrap();
        b.lock().unwrap().append_text(&nb, &wb).unwrap();
        typed_a.push_str(&wa);
        typed_b.push_str(&wb);
        if i % 10 == 9 {
            a.lock().unwrap().save().unwrap();
            b.lock().unwrap().save().unwrap();
        }
    }
    a.lock().unwrap().append_text(&TextField::AppointmentSummary(appt.clone()), "PET first. ").unwrap();
    b.lock().unwrap().append_text(&TextField::AppointmentSummary(appt.clone()), "Summary promised.").unwrap();
    a.lock().unwrap().set_patient(PatientField::Stage, Some("IIIA")).unwrap();
    b.lock().unwrap().set_patient(PatientField::Stage, Some("IIB")).unwrap();
    a.lock().unwrap().set_appointment(&appt, AppointmentField::Start, Some("2026-12-01T09:30")).unwrap();
    b.lock().unwrap().set_appointment(&appt, AppointmentField::Start, Some("2026-12-01T14:00")).unwrap();
    let r =
        b.lock().unwrap().add_record_request("City Lab", &[RecordItem::PathologySlides], Channel::LabRelease).unwrap();
    b.lock()
        .unwrap()
        .log_request_event(
            &r,
            NewEvent { kind: "requested_in_writing", date: "2026-11-20", ..Default::default() },
            casebook_core::dates::parse_date("today", "2026-11-20").unwrap(),
        )
        .unwrap();
    a.lock().unwrap().save().unwrap();
    b.lock().unwrap().save().unwrap();

    // Upstairs: online again.
    let started = Instant::now();
    ana.online(&url);
    ben.online(&url);
    ana.sync(&a);
    ben.sync(&b);
    ana.sync(&a);
    let took = started.elapsed();
    println!("sync after offline editing took {} ms", took.as_millis());

    assert_eq!(a.lock().unwrap().state().unwrap(), b.lock().unwrap().state().unwrap(), "identical documents");
    let notes = a.lock().unwrap().notes(&appt).unwrap();
    assert_eq!(notes, b.lock().unwrap().notes(&appt).unwrap());
    let text_of = |who: &str| notes.by_author.iter().find(|n| n.author == who).unwrap().text.clone();
    assert_eq!(text_of(&ana_id), typed_a, "no word of Ana's lost");
    assert_eq!(text_of(&ben_id), typed_b, "no word of Ben's lost");
    assert!(notes.summary.contains("PET first.") && notes.summary.contains("Summary promised."));
    let paths: Vec<String> = a.lock().unwrap().conflicts().into_iter().map(|c| c.path).collect();
    assert!(paths.contains(&"patient/stage".to_string()), "{paths:?}");
    assert!(paths.contains(&format!("appointments/{appt}/start")), "{paths:?}");
    assert_eq!(a.lock().unwrap().conflicts(), b.lock().unwrap().conflicts());
    assert_eq!(a.lock().unwrap().record_requests(), b.lock().unwrap().record_requests());
    for p in [&ana, &ben] {
        assert!(p.sync.as_ref().unwrap().status(a.lock().unwrap().id()).saved_to_relay);
    }
    ana.offline();
    ben.offline();
    relay.stop();
}

/// Both online: right after Ana's `sync_and_wait` returns, Ben's `sync_and_wait` returns with everything
/// the relay then held (the relay's push of Ana's change may still be on its way: the call asks the relay
/// for its heads). Twenty rounds, each a new change, one of them on a notes document made that round.
#[test]
fn sync_and_wait_returns_everything_the_relay_held_when_asked() {
    let relay = InProcessRelay::start();
    let url = relay.url();
    let (mut ana, mut ben, a, b, _id, _appt, ana_id, _ben_id) = family(&url);
    for round in 0..20 {
        let diagnosis = format!("2026-11-{:02}", round + 1);
        {
            let mut a = a.lock().unwrap();
            a.set_patient(PatientField::DiagnosisDate, Some(&diagnosis)).unwrap();
            if round == 10 {
                let new = NewAppointment { kind: Some(AppointmentKind::FollowUp), ..Default::default() };
                let appt = a.add_appointment(new).unwrap();
                let notes = TextField::AppointmentNotes { appointment: appt, author: ana_id.clone() };
                a.append_text(&notes, "new notes, new document").unwrap();
            }
            a.save().unwrap();
        }
        ana.sync(&a);
        ben.sync(&b);
        let (mut a, mut b) = (a.lock().unwrap(), b.lock().unwrap());
        let got = b.patient().diagnosis_date.map(casebook_core::dates::format_date);
        assert_eq!(got.as_deref(), Some(diagnosis.as_str()), "round {round}");
        assert_eq!(a.state().unwrap(), b.state().unwrap(), "round {round}: every document, notes included");
    }
    ana.offline();
    ben.offline();
    relay.stop();
}

#[test]
fn a_restarted_relay_serves_what_it_stored_to_a_sibling_who_was_offline() {
    let relay_dir = tempfile::tempdir().unwrap();
    let relay = InProcessRelay::start_in(relay_dir.path());
    let url = relay.url();
    let (mut ana, mut ben, a, _b, id, appt, ana_id, _) = family(&url);
    ben.offline();
    drop(_b);

    // Ana edits while Ben is offline; the relay stores it.
    let na = TextField::AppointmentNotes { appointment: appt.clone(), author: ana_id.clone() };
    a.lock().unwrap().append_text(&na, "Written while Ben was offline: 診断 confirmé 😀").unwrap();
    a.lock().unwrap().set_patient(PatientField::Stage, Some("IV")).unwrap();
    let appt2 = a
        .lock()
        .unwrap()
        .add_appointment(NewAppointment { kind: Some(AppointmentKind::FollowUp), ..Default::default() })
        .unwrap();
    a.lock()
        .unwrap()
        .append_text(
            &TextField::AppointmentNotes { appointment: appt2.clone(), author: ana_id.clone() },
            "follow-up notes",
        )
        .unwrap();
    a.lock().unwrap().save().unwrap();
    ana.sync(&a);
    assert!(ana.sync.as_ref().unwrap().status(&id).saved_to_relay);
    ana.offline();

    // The relay stops and starts again from its data directory (on a new port).
    relay.stop();
    let relay = InProcessRelay::start_in(relay_dir.path());
    let url = relay.url();

    // Ben comes online and receives everything.
    ben.online(&url);
    let b = std::sync::Arc::new(std::sync::Mutex::new(ben.store.open_case(&id).unwrap()));
    ben.sync(&b);
    assert_eq!(b.lock().unwrap().patient().stage.as_deref(), Some("IV"));
    let notes = b.lock().unwrap().notes(&appt).unwrap();
    assert!(notes.by_author.iter().any(|n| n.text == "Written while Ben was offline: 診断 confirmé 😀"), "{notes:?}");
    assert_eq!(b.lock().unwrap().notes(&appt2).unwrap().by_author[0].text, "follow-up notes");
    // And what Ben has is durable in his store.
    ben.offline();
    let mut again = ben.store.open_case(&id).unwrap();
    assert_eq!(again.notes(&appt2).unwrap().by_author[0].text, "follow-up notes");
    relay.stop();
}
