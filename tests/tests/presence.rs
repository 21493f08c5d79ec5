//! Presence (issue item 9) through a real relay on 127.0.0.1:0 with real stores: members' devices see
//! each other in an appointment's notes ("Ben is in this appointment's notes"); a member removed from the
//! case stops receiving presence and stops being seen; an account that was never a member receives none.
//! The interop with automerge-repo 2.5's JS `Presence` is `interop_presence_js.rs`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebook_core::model::appointment::{AppointmentKind, NewAppointment};
use casebook_core::presence::{CaregiverPresence, PeerPresence};
use casebook_core::relay_api::{DeviceCredentials, Role, peer_id_for_device};
use casebook_core::sync::{RelayClient, SharedCase, SyncClient, SyncEvent};
use casebook_core::{DocId, Store};

const WAIT: Duration = Duration::from_secs(30);
/// Short timing so that the test runs in seconds (automerge-repo's defaults are 15 s and 45 s).
const HEARTBEAT: Duration = Duration::from_millis(300);
const TTL: Duration = Duration::from_millis(1_500);
/// The time to live while a device restarts.
const LONG_TTL: Duration = Duration::from_secs(10);

struct Phone {
    store: Store,
    sync: SyncClient,
    creds: DeviceCredentials,
    events: Arc<Mutex<Vec<SyncEvent>>>,
    _dir: tempfile::TempDir,
}

impl Phone {
    fn new(url: &str, name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let creds = RelayClient::new(url).unwrap().create_account(name, None).unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sync = Self::client(&store, url, &creds, &events, TTL);
        Self { store, sync, creds, events, _dir: dir }
    }

    fn client(
        store: &Store,
        url: &str,
        creds: &DeviceCredentials,
        events: &Arc<Mutex<Vec<SyncEvent>>>,
        ttl: Duration,
    ) -> SyncClient {
        let sync = SyncClient::start(store, url, creds.clone()).unwrap();
        sync.set_presence_timing(HEARTBEAT, ttl).unwrap();
        let sink = events.clone();
        sync.add_observer(Arc::new(move |e: SyncEvent| sink.lock().unwrap().push(e)));
        sync
    }

    /// The app restarts: the client stops (no goodbye) and a new one starts on the same store.
    /// The app is killed by the system and started again (no goodbye: peers still know this device).
    fn restart(&mut self, url: &str, ttl: Duration) {
        self.sync.stop_as_if_killed().unwrap();
        self.sync = Self::client(&self.store, url, &self.creds, &self.events, ttl);
    }

    fn peer_id(&self) -> String {
        peer_id_for_device(&self.creds.device_id)
    }

    fn presence_changes(&self, doc: &DocId) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, SyncEvent::PresenceChanged { doc: d, .. } if d == doc))
            .count()
    }

    /// The caregiver presence of `peer` as this phone sees it in `doc`.
    fn sees(&self, doc: &DocId, peer: &Phone) -> Option<CaregiverPresence> {
        self.sync.presence(doc).iter().find(|p| p.peer_id == peer.peer_id()).and_then(PeerPresence::caregiver)
    }
}

fn me(phone: &Phone, name: &str, editing: &str, appointment: &str) -> CaregiverPresence {
    CaregiverPresence {
        caregiver: phone.creds.account_id.clone(),
        name: name.into(),
        editing: Some(editing.into()),
        appointment: Some(appointment.into()),
    }
}

/// Poll `f` every 20 ms until it returns `Some`, or fail after [`WAIT`].
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn join(url: &str, phone: &Phone, case: &casebook_core::CaseId, owner: &SyncClient) -> SharedCase {
    let code = owner.relay().create_invite(case, Role::Editor, None).unwrap().code;
    RelayClient::with_token(url, &phone.creds.token).unwrap().redeem_invite(&code).unwrap();
    let shared = phone.sync.block_on(phone.sync.join_case(case, WAIT)).unwrap();
    phone.sync.block_on(phone.sync.sync_and_wait(&shared, WAIT)).unwrap();
    shared
}

#[test]
fn members_see_each_others_presence_and_non_members_never_do() {
    let relay_dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let relay =
        rt.block_on(casebook_server::Relay::start(casebook_server::Config::for_tests(relay_dir.path()))).unwrap();
    let url = relay.http_url();

    // Ana shares a case with an appointment; Ben and Eve join it. Mallory has an account, no membership.
    let ana = Phone::new(&url, "Ana");
    let mut ben = Phone::new(&url, "Ben");
    let eve = Phone::new(&url, "Eve");
    let mallory = Phone::new(&url, "Mallory");
    let (mut case, _) = ana.store.create_case("Mum", "Ana", Some("daughter")).unwrap();
    let appt = case
        .add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() })
        .unwrap();
    case.save().unwrap();
    let id = case.id().clone();
    let a: SharedCase = Arc::new(Mutex::new(case));
    ana.sync.block_on(ana.sync.share_case(&a)).unwrap();
    ana.sync.block_on(ana.sync.sync_and_wait(&a, WAIT)).unwrap();
    let b = join(&url, &ben, &id, &ana.sync);
    let e = join(&url, &eve, &id, &ana.sync);

    // Each opens the appointment's notes: presence on its notes document.
    let doc = ana.sync.set_appointment_presence(&a, &appt, me(&ana, "Ana", "notes", &appt).to_state()).unwrap();
    assert_eq!(ben.sync.set_appointment_presence(&b, &appt, me(&ben, "Ben", "notes", &appt).to_state()).unwrap(), doc);
    assert_eq!(eve.sync.set_appointment_presence(&e, &appt, me(&eve, "Eve", "notes", &appt).to_state()).unwrap(), doc);
    // Mallory knows the ids (say, from a screenshot) and listens.
    mallory.sync.set_presence(&id, &doc, me(&mallory, "Mallory", "notes", &appt).to_state()).unwrap();

    // "Ben is in this appointment's notes", on every member's device.
    let started = Instant::now();
    for (viewer, others) in [(&ana, [&ben, &eve]), (&ben, [&ana, &eve]), (&eve, [&ana, &ben])] {
        for other in others {
            let seen = wait_for("members to see each other", || viewer.sees(&doc, other));
            assert_eq!(seen.caregiver, other.creds.account_id);
            assert_eq!(seen.editing.as_deref(), Some("notes"));
            assert_eq!(seen.appointment.as_deref(), Some(appt.as_str()));
        }
    }
    eprintln!("presence: all members see each other after {:?}", started.elapsed());
    assert_eq!(ana.sees(&doc, &ben).unwrap().name, "Ben");
    wait_for("PresenceChanged events", || (ana.presence_changes(&doc) >= 2).then_some(()));
    assert!(ana.events.lock().unwrap().iter().any(|e| matches!(e,
        SyncEvent::PresenceChanged { case_id, doc: d } if *case_id == id && *d == doc)));

    // Heartbeats keep everyone present well past the time to live.
    std::thread::sleep(TTL * 2);
    assert_eq!(ana.sync.presence(&doc).len(), 2, "heartbeats keep peers present");

    // Ana removes Eve. Ben moves on to the summary.
    ana.sync.relay().remove_member(&id, &eve.creds.account_id).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    ben.sync.set_presence(&id, &doc, me(&ben, "Ben", "summary", &appt).to_state()).unwrap();
    wait_for("Ana to see Ben in the summary", || {
        (ana.sees(&doc, &ben)?.editing.as_deref() == Some("summary")).then_some(())
    });
    // Eve keeps heartbeating, but the relay no longer forwards her messages: she expires for Ana and Ben.
    wait_for("Eve to expire for Ana", || ana.sees(&doc, &eve).is_none().then_some(()));
    wait_for("Eve to expire for Ben", || ben.sees(&doc, &eve).is_none().then_some(()));
    assert!(eve.sync.own_presence(&doc).is_some(), "Eve still heartbeats");

    // And nothing reaches Eve any more: her view empties when her peers' time is up, she never sees the
    // summary, and no message arrives for the document while Ana and Ben keep heartbeating.
    wait_for("Ana and Ben to expire for Eve", || eve.sync.presence(&doc).is_empty().then_some(()));
    let received = eve.sync.presence_stats(&doc).received;
    let quiet = Instant::now();
    while quiet.elapsed() < TTL * 2 {
        assert!(eve.sync.presence(&doc).is_empty(), "a removed member sees presence again");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(eve.sync.presence_stats(&doc).received, received, "presence reached a removed member");
    assert_eq!(ana.sync.presence(&doc).len(), 1, "Ana sees Ben only");

    // Mallory never received anything, and nobody ever saw her.
    assert_eq!(mallory.sync.presence_stats(&doc).received, 0, "presence reached a non-member");
    assert!(mallory.sync.presence(&doc).is_empty());
    assert!(ana.sees(&doc, &mallory).is_none() && ben.sees(&doc, &mallory).is_none());
    // No message was malformed along the way.
    for p in [&ana, &ben, &eve] {
        assert_eq!(p.sync.presence_stats(&doc).dropped, 0);
    }

    // Ben's app restarts while Ana still shows him (10 s to live now), and Ana changes nothing: his new
    // client must get her state all the same (it starts with a goodbye, so Ana takes it for a new peer and
    // sends her state; automerge-repo never re-sends a state to a peer it knows).
    ana.sync.set_presence_timing(HEARTBEAT, LONG_TTL).unwrap();
    ben.restart(&url, LONG_TTL);
    let b = ben.sync.block_on(ben.sync.join_case(&id, WAIT)).unwrap();
    ben.sync.block_on(ben.sync.sync_and_wait(&b, WAIT)).unwrap();
    assert!(ana.sees(&doc, &ben).is_some(), "Ana forgot Ben during his restart: the test proves nothing");
    let restarted = Instant::now();
    ben.sync.set_appointment_presence(&b, &appt, me(&ben, "Ben", "notes", &appt).to_state()).unwrap();
    let seen = wait_for("Ben's restarted app to see Ana", || ben.sees(&doc, &ana));
    assert_eq!(seen.editing.as_deref(), Some("notes"));
    assert!(restarted.elapsed() < LONG_TTL / 2, "Ben saw Ana only after {:?}", restarted.elapsed());
    wait_for("Ana to see Ben back in the notes", || {
        (ana.sees(&doc, &ben)?.editing.as_deref() == Some("notes")).then_some(())
    });
    eprintln!("presence: Ben's restarted app sees Ana after {:?}", restarted.elapsed());

    // Ben leaves the notes: his goodbye removes him for Ana at once (long before his time would be up).
    let left = Instant::now();
    ben.sync.clear_presence(&doc);
    assert!(ben.sync.presence(&doc).is_empty() && ben.sync.own_presence(&doc).is_none());
    wait_for("Ben's goodbye", || ana.sees(&doc, &ben).is_none().then_some(()));
    assert!(left.elapsed() < LONG_TTL / 2, "Ben expired instead of saying goodbye ({:?})", left.elapsed());

    // Ben is back in the notes, then his app goes to the background: pausing says goodbye too.
    ben.sync.set_appointment_presence(&b, &appt, me(&ben, "Ben", "notes", &appt).to_state()).unwrap();
    wait_for("Ana to see Ben in the notes again", || ana.sees(&doc, &ben));
    let paused = Instant::now();
    ben.sync.pause().unwrap();
    wait_for("Ben's goodbye at pause", || ana.sees(&doc, &ben).is_none().then_some(()));
    assert!(paused.elapsed() < LONG_TTL / 2, "Ben expired instead of saying goodbye ({:?})", paused.elapsed());
    // Back in the foreground, the new connection introduces him again.
    ben.sync.resume().unwrap();
    wait_for("Ana to see Ben after his resume", || ana.sees(&doc, &ben));

    for p in [ana, ben, eve, mallory] {
        p.sync.stop().unwrap();
    }
    rt.block_on(relay.shutdown());
}
