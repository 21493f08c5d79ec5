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
use casebook_core::sync::{CaseSyncStatus, SyncClient, SyncError, SyncEvent, SyncOptions, SyncState};
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

/// Sync every replica in turn until all hold the same changes (a few rounds: each pull may bring what
/// another replica pushed meanwhile).
fn converge(replicas: &mut [(&SyncClient, &mut Case)]) {
    for _ in 0..6 {
        for (client, case) in replicas.iter_mut() {
            client.sync_case(case).unwrap();
            client.wait_until_synced(case.id(), WAIT).unwrap();
            client.sync_case(case).unwrap();
        }
        let states: Vec<_> = replicas.iter_mut().map(|(_, c)| c.state().unwrap()).collect();
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
    let client_a = SyncClient::start_with(&store_a, &relay.url(), ana, options()).unwrap();
    let events_a = record(&client_a);
    let membership = client_a.share_case(&mut case_a).unwrap();
    assert_eq!(membership.role, Role::Owner);
    let st = client_a.wait_until_synced(&id, WAIT).unwrap();
    assert!(st.saved_to_relay && st.last_synced_at.is_some());

    // Ben joins with his own store.
    relay.add_member(id.as_str(), &ben.account_id, Role::Editor);
    let (store_b, _dir_b) = sled_store();
    let client_b = SyncClient::start_with(&store_b, &relay.url(), ben, options()).unwrap();
    let mut case_b = client_b.join_case(&id, WAIT).unwrap();
    assert_eq!(case_b.appointments().len(), 1);
    assert!(store_b.list_cases().unwrap().iter().any(|c| c.id == id));
    let ben_id = case_b.add_caregiver("Ben", Some("son")).unwrap();
    case_b.save().unwrap();

    // Both take notes in the same consultation and edit other fields, without syncing in between.
    case_a.append_text(&notes(&ana_id, &appt), "Dr. Ruiz suggests a PET scan first. ").unwrap();
    case_a.set_appointment(&appt, AppointmentField::Place, Some("Hospital Clínic, Barcelona")).unwrap();
    case_b.append_text(&notes(&ben_id, &appt), "Ask whether the trial is still recruiting. ").unwrap();
    case_b.set_appointment(&appt, AppointmentField::Start, Some("2025-03-04T10:30")).unwrap();
    // Ben also adds a follow-up with notes: a notes document Ana has never seen.
    let follow_up =
        case_b.add_appointment(NewAppointment { kind: Some(AppointmentKind::FollowUp), ..Default::default() }).unwrap();
    case_b.append_text(&notes(&ben_id, &follow_up), "Follow-up in three months — 随访 🙂").unwrap();
    case_a.save().unwrap();
    case_b.save().unwrap();

    // Ben syncs first: Ana is told that the case changed.
    client_b.sync_case(&mut case_b).unwrap();
    client_b.wait_until_synced(&id, WAIT).unwrap();
    eventually("CaseChanged at Ana", WAIT, || {
        events_a.lock().unwrap().iter().any(|e| matches!(e, SyncEvent::CaseChanged { case_id } if *case_id == id))
    });

    converge(&mut [(&client_a, &mut case_a), (&client_b, &mut case_b)]);
    for case in [&mut case_a, &mut case_b] {
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
    assert_eq!(case_a.notes(&appt).unwrap(), case_b.notes(&appt).unwrap());

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
    assert_eq!(reopened.state().unwrap(), case_b.state().unwrap());
}

#[test]
fn a_refused_token_stops_sync_for_good() {
    let relay = FakeRelay::start();
    let store = Store::in_memory();
    let (mut case, _) = store.create_case("Mum", "Ana", None).unwrap();
    let wrong =
        DeviceCredentials { account_id: "acc-nobody".into(), device_id: "dev-nobody".into(), token: "f".repeat(64) };
    let client = SyncClient::start_with(&store, &relay.url(), wrong, options()).unwrap();
    let events = record(&client);
    assert!(matches!(client.sync_case(&mut case), Err(SyncError::Unauthorized)));
    eventually("the permanent failure", WAIT, || client.failure().is_some());
    assert!(matches!(client.failure(), Some(SyncError::Unauthorized)));
    // No endless retry: the one refused upgrade stays the only one, although the backoff is 50-400 ms.
    let upgrades = relay.upgrades();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(relay.upgrades(), upgrades);
    assert_eq!(upgrades, 1);
    assert!(matches!(client.sync_case(&mut case), Err(SyncError::Unauthorized)));
    assert!(matches!(client.wait_until_synced(case.id(), WAIT), Err(SyncError::Unauthorized)));
    assert_eq!(client.status(case.id()).state, SyncState::Offline);
    eventually("the Failed event", WAIT, || {
        events.lock().unwrap().iter().any(|e| matches!(e, SyncEvent::Failed { error: SyncError::Unauthorized }))
    });
}

#[test]
fn non_members_get_not_found() {
    let relay = FakeRelay::start();
    let (ana, ben) = (relay.account("ana"), relay.account("ben"));
    let store_a = Store::in_memory();
    let (mut shared, _) = store_a.create_case("Mum", "Ana", None).unwrap();
    let (mut unshared, _) = store_a.create_case("Dad", "Ana", None).unwrap();
    let client_a = SyncClient::start_with(&store_a, &relay.url(), ana, options()).unwrap();
    client_a.share_case(&mut shared).unwrap();
    // A case nobody registered.
    assert!(matches!(client_a.sync_case(&mut unshared), Err(SyncError::NotFound)));
    // A member of nothing asks for Ana's case.
    let client_b = SyncClient::start_with(&Store::in_memory(), &relay.url(), ben, options()).unwrap();
    assert!(matches!(client_b.join_case(shared.id(), WAIT), Err(SyncError::NotFound)));
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
    let client_a = SyncClient::start_with(&store_a, &relay.url(), ana, options()).unwrap();
    client_a.share_case(&mut case_a).unwrap();
    client_a.wait_until_synced(&id, WAIT).unwrap();
    relay.add_member(id.as_str(), &ben.account_id, Role::Editor);
    let store_b = Store::in_memory();
    let client_b = SyncClient::start_with(&store_b, &relay.url(), ben, options()).unwrap();
    let mut case_b = client_b.join_case(&id, WAIT).unwrap();

    // The relay goes away; Ana keeps writing and syncing (offline: returns at once, nothing lost).
    relay.stop();
    eventually("Ana to notice", WAIT, || !client_a.is_connected());
    case_a.append_text(&notes(&ana_id, &appt), "Written while the relay was down.").unwrap();
    let t = Instant::now();
    client_a.sync_case(&mut case_a).unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "offline sync_case took {:?}", t.elapsed());
    let st = client_a.status(&id);
    assert!(matches!(st.state, SyncState::Offline | SyncState::Connecting), "{st:?}");
    assert!(!st.saved_to_relay);
    match client_a.wait_until_synced(&id, Duration::from_millis(500)) {
        Err(SyncError::Timeout { state }) => assert!(matches!(state, SyncState::Offline | SyncState::Connecting)),
        other => panic!("expected a timeout while offline, got {other:?}"),
    }

    // It comes back (same port, same data): Ana's edit goes out by itself, Ben receives it.
    relay.restart();
    let st = client_a.wait_until_synced(&id, WAIT).unwrap();
    assert!(st.saved_to_relay);
    converge(&mut [(&client_b, &mut case_b), (&client_a, &mut case_a)]);
    assert_eq!(case_b.notes(&appt).unwrap().by_author[0].text, "Written while the relay was down.");
}

#[test]
fn status_goes_offline_connecting_up_to_date() {
    let mut relay = FakeRelay::start();
    let ana = relay.account("ana");
    relay.stop();
    let store = Store::in_memory();
    let (mut case, _) = store.create_case("Mum", "Ana", None).unwrap();
    let id = case.id().clone();
    relay.add_member(id.as_str(), &ana.account_id, Role::Owner);

    let client = SyncClient::start_with(&store, &relay.url(), ana, options()).unwrap();
    let events = record(&client);
    client.sync_case(&mut case).unwrap();
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
    let st = client.wait_until_synced(&id, WAIT).unwrap();
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
