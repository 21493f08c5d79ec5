//! The sync client against an in-process relay stand-in (a samod repository behind an axum WebSocket
//! endpoint that checks the Bearer token): two devices converge, a refused token stops for good, the client
//! reconnects after the relay restarts, and the status goes Offline → Connecting → UpToDate with "saved to
//! the relay" only once the relay acknowledged.

#[path = "support/fake_relay.rs"]
mod fake_relay;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebook_core::model::appointment::{AppointmentField, AppointmentKind, NewAppointment};
use casebook_core::model::text::TextField;
use casebook_core::relay_api::{DeviceCredentials, Role};
use casebook_core::sync::{CaseSyncStatus, SharedCase, SyncClient, SyncError, SyncEvent, SyncOptions, SyncState};
use casebook_core::{Case, CaseId, Store};
use fake_relay::FakeRelay;

const WAIT: Duration = Duration::from_secs(30);

fn options() -> SyncOptions {
    SyncOptions {
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        ..Default::default()
    }
}

fn sled_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Store::open(dir.path()).unwrap(), dir)
}

/// Every event a client emits.
fn record(client: &SyncClient) -> Arc<Mutex<Vec<SyncEvent>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    client.add_observer(Arc::new(move |e: SyncEvent| sink.lock().unwrap().push(e)));
    events
}

/// The states announced for a case, in order.
fn announced(events: &Mutex<Vec<SyncEvent>>, case: &CaseId) -> Vec<CaseSyncStatus> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            SyncEvent::StatusChanged { case_id, status } if case_id == case => Some(status.clone()),
            _ => None,
        })
        .collect()
}

fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An open case shared with the sync client.
fn shared(case: Case) -> SharedCase {
    Arc::new(Mutex::new(case))
}

/// Sync every replica in turn until all hold the same changes (a few rounds: each pull may bring what
/// another replica pushed meanwhile).
fn converge(replicas: &[(&SyncClient, &SharedCase)]) {
    for _ in 0..6 {
        for (client, case) in replicas {
            client.block_on(client.sync_and_wait(case, WAIT)).unwrap();
        }
        let states: Vec<_> = replicas.iter().map(|(_, c)| c.lock().unwrap().state().unwrap()).collect();
        if states.windows(2).all(|w| w[0] == w[1]) {
            return;
        }
    }
    panic!("replicas did not converge");
}

fn notes(author: &str, appointment: &str) -> TextField {
    TextField::AppointmentNotes { appointment: appointment.to_string(), author: author.to_string() }
}

#[test]
fn two_devices_merge_notes_typed_offline_both_ways() {
    let relay = FakeRelay::start();
    let ana = relay.account("ana");
    let ben = relay.account("ben");

    // Ana creates and shares the case.
    let (store_a, _dir_a) = sled_store();
    let (mut case_a, ana_id) = store_a.create_case("Mum", "Ana", Some("daughter")).unwrap();
    let appt = case_a
        .add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() })
        .unwrap();
    case_a.save().unwrap();
    let id = case_a.id().clone();
    let case_a = shared(case_a);
    let client_a = SyncClient::start_with(&store_a, &relay.url(), ana, options()).unwrap();
    let events_a = record(&client_a);
    let membership = client_a.block_on(client_a.share_case(&case_a)).unwrap();
    assert_eq!(membership.role, Role::Owner);
    let st = client_a.block_on(client_a.wait_until_synced(&id, WAIT)).unwrap();
    assert!(st.saved_to_relay && st.last_synced_at.is_some());

    // Ben joins with his own store.
    relay.add_member(id.as_str(), &ben.account_id, Role::Editor);
    let (store_b, _dir_b) = sled_store();
    let client_b = SyncClient::start_with(&store_b, &relay.url(), ben, options()).unwrap();
    let case_b = client_b.block_on(client_b.join_case(&id, WAIT)).unwrap();
    assert_eq!(case_b.lock().unwrap().appointments().len(), 1);
    assert!(store_b.list_cases().unwrap().iter().any(|c| c.id == id));
    let ben_id = {
        let mut b = case_b.lock().unwrap();
        let me = b.add_caregiver("Ben", Some("son")).unwrap();
        b.save().unwrap();
        me
    };

    // Both take notes in the same consultation and edit other fields; neither pushes in between.
    let follow_up = {
        let mut a = case_a.lock().unwrap();
        a.append_text(&notes(&ana_id, &appt), "Dr. Ruiz suggests a PET scan first. ").unwrap();
        a.set_appointment(&appt, AppointmentField::Place, Some("Hospital Clínic, Barcelona")).unwrap();
        a.save().unwrap();
        let mut b = case_b.lock().unwrap();
        b.append_text(&notes(&ben_id, &appt), "Ask whether the trial is still recruiting. ").unwrap();
        b.set_appointment(&appt, AppointmentField::Start, Some("2025-03-04T10:30")).unwrap();
        // Ben also adds a follow-up with notes: a notes document Ana has never seen.
        let f =
            b.add_appointment(NewAppointment { kind: Some(AppointmentKind::FollowUp), ..Default::default() }).unwrap();
        b.append_text(&notes(&ben_id, &f), "Follow-up in three months — 随访 🙂").unwrap();
        b.save().unwrap();
        f
    };

    // Ben pushes: Ana's open case gets his edits without any call by Ana (live merge), and she is told
    // what changed.
    client_b.block_on(client_b.sync_and_wait(&case_b, WAIT)).unwrap();
    eventually("Ben's follow-up notes in Ana's open case", WAIT, || {
        case_a.lock().unwrap().notes(&follow_up).is_ok_and(|n| n.by_author.iter().any(|a| a.text.contains("随访")))
    });
    let changes: Vec<_> = events_a
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            SyncEvent::CaseChanged { case_id, change } if *case_id == id => Some(change.clone()),
            _ => None,
        })
        .collect();
    assert!(changes.iter().any(|c| c.appointments.contains(&follow_up)), "{changes:?}");

    converge(&[(&client_a, &case_a), (&client_b, &case_b)]);
    for case in [&case_a, &case_b] {
        let mut case = case.lock().unwrap();
        let n = case.notes(&appt).unwrap();
        let all: String = n.by_author.iter().map(|a| a.text.as_str()).collect();
        assert!(all.contains("PET scan") && all.contains("trial is still recruiting"), "{all}");
        let a = case.appointments().into_iter().find(|a| a.id == appt).unwrap();
        assert_eq!(a.place.as_deref(), Some("Hospital Clínic, Barcelona"));
        assert!(a.start.is_some());
        let f = case.notes(&follow_up).unwrap();
        assert_eq!(f.by_author[0].text, "Follow-up in three months — 随访 🙂");
        assert!(!case.has_unsaved_changes());
    }
    assert_eq!(case_a.lock().unwrap().notes(&appt).unwrap(), case_b.lock().unwrap().notes(&appt).unwrap());

    // Every notes document was registered with the relay, and everything reached it.
    let registered = relay.documents(id.as_str());
    assert!(registered.len() >= 3, "{registered:?}");
    for d in &registered {
        eventually("the relay to store every document", WAIT, || relay.has_document(d));
    }
    let st = client_a.status(&id);
    assert_eq!(st.state, SyncState::UpToDate);
    assert!(st.saved_to_relay);

    // What was pulled is durable: a fresh open of Ana's store has Ben's notes.
    client_a.stop().unwrap();
    client_b.stop().unwrap();
    let mut reopened = store_a.open_case(&id).unwrap();
    assert_eq!(reopened.notes(&follow_up).unwrap().by_author[0].text, "Follow-up in three months — 随访 🙂");
    assert_eq!(reopened.state().unwrap(), case_b.lock().unwrap().state().unwrap());
}

#[test]
fn a_refused_token_stops_sync_for_good() {
    let relay = FakeRelay::start();
    let store = Store::in_memory();
    let (case, _) = store.create_case("Mum", "Ana", None).unwrap();
    let case = shared(case);
    let id = case.lock().unwrap().id().clone();
    let wrong = DeviceCredentials {
        account_id: "acc-nobody".into(),
        device_id: "dev-nobody".into(),
        token: "f".repeat(64),
        recovery_code: None,
    };
    let client = SyncClient::start_with(&store, &relay.url(), wrong, options()).unwrap();
    let events = record(&client);
    eventually("the permanent failure", WAIT, || client.failure().is_some());
    assert!(matches!(client.failure(), Some(SyncError::Unauthorized)));
    // No endless retry: the one refused upgrade stays the only one, although the backoff is 50-400 ms.
    let upgrades = relay.upgrades();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(relay.upgrades(), upgrades);
    assert_eq!(upgrades, 1);
    assert!(matches!(client.sync_case(&case), Err(SyncError::Unauthorized)));
    assert!(matches!(client.block_on(client.wait_until_synced(&id, WAIT)), Err(SyncError::Unauthorized)));
    assert_eq!(client.status(&id).state, SyncState::Offline);
    eventually("the Failed event", WAIT, || {
        events.lock().unwrap().iter().any(|e| matches!(e, SyncEvent::Failed { error: SyncError::Unauthorized }))
    });
}

#[test]
fn non_members_get_not_found() {
    let relay = FakeRelay::start();
    let (ana, ben) = (relay.account("ana"), relay.account("ben"));
    let store_a = Store::in_memory();
    let shared_case = shared(store_a.create_case("Mum", "Ana", None).unwrap().0);
    let unshared = shared(store_a.create_case("Dad", "Ana", None).unwrap().0);
    let client_a = SyncClient::start_with(&store_a, &relay.url(), ana, options()).unwrap();
    let events = record(&client_a);
    client_a.block_on(client_a.share_case(&shared_case)).unwrap();
    // A case nobody registered: pushing returns at once; waiting says why it never syncs.
    let unshared_id = unshared.lock().unwrap().id().clone();
    client_a.sync_case(&unshared).unwrap();
    assert!(matches!(client_a.block_on(client_a.wait_until_synced(&unshared_id, WAIT)), Err(SyncError::NotFound)));
    eventually("the NotMember event", WAIT, || {
        events.lock().unwrap().iter().any(|e| matches!(e, SyncEvent::NotMember { case_id } if *case_id == unshared_id))
    });
    // A member of nothing asks for Ana's case.
    let client_b = SyncClient::start_with(&Store::in_memory(), &relay.url(), ben, options()).unwrap();
    let id = shared_case.lock().unwrap().id().clone();
    assert!(matches!(client_b.block_on(client_b.join_case(&id, WAIT)), Err(SyncError::NotFound)));
}

#[test]
fn reconnects_after_the_relay_restarts() {
    let mut relay = FakeRelay::start();
    let (ana, ben) = (relay.account("ana"), relay.account("ben"));
    let store_a = Store::in_memory();
    let (mut case_a, ana_id) = store_a.create_case("Mum", "Ana", None).unwrap();
    let appt =
        case_a.add_appointment(NewAppointment { kind: Some(AppointmentKind::FollowUp), ..Default::default() }).unwrap();
    let id = case_a.id().clone();
    let case_a = shared(case_a);
    let client_a = SyncClient::start_with(&store_a, &relay.url(), ana, options()).unwrap();
    client_a.block_on(client_a.share_case(&case_a)).unwrap();
    client_a.block_on(client_a.wait_until_synced(&id, WAIT)).unwrap();
    relay.add_member(id.as_str(), &ben.account_id, Role::Editor);
    let store_b = Store::in_memory();
    let client_b = SyncClient::start_with(&store_b, &relay.url(), ben, options()).unwrap();
    let case_b = client_b.block_on(client_b.join_case(&id, WAIT)).unwrap();

    // The relay goes away; Ana keeps writing and pushing (offline: returns at once, nothing lost).
    relay.stop();
    eventually("Ana to notice", WAIT, || !client_a.is_connected());
    case_a.lock().unwrap().append_text(&notes(&ana_id, &appt), "Written while the relay was down.").unwrap();
    let t = Instant::now();
    client_a.sync_case(&case_a).unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "offline sync_case took {:?}", t.elapsed());
    eventually("Ana's status to show the edit unsaved", WAIT, || !client_a.status(&id).saved_to_relay);
    let st = client_a.status(&id);
    assert!(matches!(st.state, SyncState::Offline | SyncState::Connecting), "{st:?}");
    match client_a.block_on(client_a.wait_until_synced(&id, Duration::from_millis(500))) {
        Err(SyncError::Timeout { state }) => assert!(matches!(state, SyncState::Offline | SyncState::Connecting)),
        other => panic!("expected a timeout while offline, got {other:?}"),
    }

    // It comes back (same port, same data): Ana's edit goes out by itself, and reaches Ben's open case
    // without any call by Ben.
    relay.restart();
    let st = client_a.block_on(client_a.wait_until_synced(&id, WAIT)).unwrap();
    assert!(st.saved_to_relay);
    eventually("Ana's edit in Ben's open case", WAIT, || {
        case_b
            .lock()
            .unwrap()
            .notes(&appt)
            .is_ok_and(|n| n.by_author.first().is_some_and(|a| a.text == "Written while the relay was down."))
    });
    converge(&[(&client_b, &case_b), (&client_a, &case_a)]);
}

#[test]
fn status_goes_offline_connecting_up_to_date() {
    let mut relay = FakeRelay::start();
    let ana = relay.account("ana");
    relay.stop();
    let store = Store::in_memory();
    let (case, _) = store.create_case("Mum", "Ana", None).unwrap();
    let id = case.id().clone();
    let case = shared(case);
    relay.add_member(id.as_str(), &ana.account_id, Role::Owner);

    let client = SyncClient::start_with(&store, &relay.url(), ana, options()).unwrap();
    let events = record(&client);
    client.sync_case(&case).unwrap();
    eventually("offline", WAIT, || client.status(&id).state == SyncState::Offline);
    assert!(!client.status(&id).saved_to_relay);

    // The relay is up but holds the connection before the samod handshake: connecting, nothing saved.
    relay.hold_sync(true);
    relay.restart();
    eventually("a held connection", WAIT, || relay.upgrades() > 0);
    eventually("connecting", WAIT, || client.status(&id).state == SyncState::Connecting);
    std::thread::sleep(Duration::from_millis(300));
    let st = client.status(&id);
    assert_eq!(st.state, SyncState::Connecting);
    assert!(!st.saved_to_relay);

    relay.hold_sync(false);
    let st = client.block_on(client.wait_until_synced(&id, WAIT)).unwrap();
    assert_eq!(st.state, SyncState::UpToDate);
    assert!(st.saved_to_relay);
    // The relay stores what it acknowledged (asynchronously, right after).
    eventually("the relay to store the case", WAIT, || relay.has_document(id.as_str()));

    // The announced sequence: Offline, later Connecting, later UpToDate; "saved" only at the end.
    eventually("the UpToDate announcement", WAIT, || {
        announced(&events, &id).iter().any(|s| s.state == SyncState::UpToDate)
    });
    let seq = announced(&events, &id);
    let pos = |s: SyncState| seq.iter().position(|x| x.state == s);
    let (off, conn, up) =
        (pos(SyncState::Offline).unwrap(), pos(SyncState::Connecting), pos(SyncState::UpToDate).unwrap());
    let conn =
        seq.iter().enumerate().skip(off).find(|(_, x)| x.state == SyncState::Connecting).map(|(i, _)| i).or(conn);
    assert!(off < conn.unwrap() && conn.unwrap() < up, "{seq:?}");
    assert!(seq[..up].iter().all(|s| !s.saved_to_relay), "{seq:?}");
    assert!(seq[up].saved_to_relay);
    assert!(seq[up].last_synced_at.is_some());
    client.stop().unwrap();
    // The time of the last sync is kept across restarts.
    let again = SyncClient::start_with(&store, &relay.url(), relay.account("ana2"), options()).unwrap();
    assert!(again.status(&id).last_synced_at.is_some());
}

#[test]
fn pause_closes_the_connection_and_resume_reopens_it() {
    let relay = FakeRelay::start();
    let ana = relay.account("ana");
    let store = Store::in_memory();
    let (mut case, me) = store.create_case("Mum", "Ana", None).unwrap();
    let appt =
        case.add_appointment(NewAppointment { kind: Some(AppointmentKind::FollowUp), ..Default::default() }).unwrap();
    let id = case.id().clone();
    let case = shared(case);
    let client = SyncClient::start_with(&store, &relay.url(), ana, options()).unwrap();
    client.block_on(client.share_case(&case)).unwrap();
    client.block_on(client.wait_until_synced(&id, WAIT)).unwrap();

    // Typed, not saved, then the app goes to the background: saved at once, connection closed.
    case.lock().unwrap().append_text(&notes(&me, &appt), "typed just before the phone locked").unwrap();
    client.pause().unwrap();
    assert!(!case.lock().unwrap().has_unsaved_changes(), "pause saves the open cases");
    eventually("disconnected", WAIT, || !client.is_connected());
    std::thread::sleep(Duration::from_millis(600));
    assert!(!client.is_connected(), "no redial while paused");
    client.resume().unwrap();
    let st = client.block_on(client.wait_until_synced(&id, WAIT)).unwrap();
    assert!(st.saved_to_relay);
}
