//! Presence interop (issue item 9): an unmodified `@automerge/automerge-repo` 2.5.6 client from npm, using
//! its real `Presence` class on an appointment's notes document, and the Rust sync client see each other
//! through a real relay — "Ben is in this appointment's notes" both ways:
//!
//! 1. (`--mode goodbye`) Rust sets its presence first; the JS client starts its `Presence` and sees the
//!    Rust peer's state; Rust sees the JS state, then the JS `broadcast("editing", "summary")` update; Rust
//!    answers with a new state, which JS sees; JS `stop()`s, and its goodbye removes it from Rust at once
//!    (Rust keeps automerge-repo's default 45 s time to live here, so only the goodbye can explain it).
//! 2. (`--mode vanish`, heartbeats every 500 ms on both sides) Rust's goodbye (`clear_presence`) removes
//!    it from JS; Rust's presence set again reaches JS. The Rust app then restarts (no goodbye; JS still
//!    knows it): the new client gets the JS state although JS changes nothing (it starts with a goodbye
//!    and a snapshot, which makes JS answer as to a new peer). Then the JS process exits without a
//!    goodbye and Rust drops it when its time (3 s) is up.
//!
//! The JavaScript side is `tests/interop/presence.mjs`; its npm packages are those of `interop_js.rs`
//! (`tests/interop/package.json`), installed by this test when missing. Node.js >= 20 and npm are required:
//! without them this test fails, it is never skipped.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebook_core::Store;
use casebook_core::model::appointment::{AppointmentKind, NewAppointment};
use casebook_core::presence::{CaregiverPresence, DEFAULT_PEER_TTL_MS, PeerPresence};
use casebook_core::relay_api::{Role, peer_id_for_device};
use casebook_core::sync::{RelayClient, SyncClient, SyncEvent};
use casebook_tests::InProcessRelay;
use casebook_tests::node::{Node, ensure_npm_packages, interop_dir};

/// How long each side waits for the other.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Timing of the second run: heartbeats every 500 ms on both sides; Rust forgets a silent peer after 3 s,
/// JS after 20 s (so that JS still knows the Rust device across its restart).
const HEARTBEAT: Duration = Duration::from_millis(500);
const TTL: Duration = Duration::from_millis(3_000);
const JS_TTL: Duration = Duration::from_secs(20);

/// Poll `f` every 10 ms until it returns `Some`, failing after [`TIMEOUT`] or if `node` exits first.
fn wait_for<T>(what: &str, node: &mut Node, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if node.exited() {
            let (status, report, err) = node.finish_json(Duration::ZERO);
            panic!("the node script exited ({status}) while Rust waited for {what}:\n{report:#}\n{err}");
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn automerge_repo_js_presence_and_rust_presence_see_each_other_through_the_relay() {
    ensure_npm_packages();
    let tmp = tempfile::tempdir().unwrap();
    let relay = InProcessRelay::start_in(&tmp.path().join("relay"));
    let http = relay.url();

    // Ana (Rust) shares a case with an appointment; Ben (the JS client) is an editor.
    let anon = RelayClient::new(&http).unwrap();
    let ana = anon.create_account("Ana", Some("Ana's phone")).unwrap();
    let ben = anon.create_account("Ben", Some("Ben's browser")).unwrap();
    let store = Store::open(&tmp.path().join("ana")).unwrap();
    let (mut case, _) = store.create_case("Mum", "Ana", Some("daughter")).unwrap();
    let appt = case
        .add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() })
        .unwrap();
    case.save().unwrap();
    let id = case.id().clone();
    let shared = Arc::new(Mutex::new(case));
    let (ana_peer, ben_peer) = (peer_id_for_device(&ana.device_id), peer_id_for_device(&ben.device_id));
    let ana_account = ana.account_id.clone();
    let ana_creds = ana.clone();
    let events = Arc::new(Mutex::new(Vec::new()));
    let start = || {
        let client = SyncClient::start(&store, &http, ana_creds.clone()).unwrap();
        let events = events.clone();
        client.add_observer(Arc::new(move |e: SyncEvent| {
            if let SyncEvent::PresenceChanged { doc, .. } = e {
                events.lock().unwrap().push(doc);
            }
        }));
        client
    };
    let mut client = start();
    client.block_on(client.share_case(&shared)).unwrap();
    client.block_on(client.sync_and_wait(&shared, TIMEOUT)).expect("the case reaches the relay");
    let invite = client.relay().create_invite(&id, Role::Editor, None).unwrap();
    RelayClient::with_token(&http, &ben.token).unwrap().redeem_invite(&invite.code).unwrap();

    // Ana opens the appointment's notes.
    let ana_in = |editing: &str| {
        CaregiverPresence {
            caregiver: ana_account.clone(),
            name: "Ana 🌷".into(),
            editing: Some(editing.into()),
            appointment: Some(appt.clone()),
        }
        .to_state()
    };
    let doc = client.set_appointment_presence(&shared, &appt, ana_in("notes")).unwrap();
    client.block_on(client.sync_and_wait(&shared, TIMEOUT)).unwrap();
    let ben_in = |client: &SyncClient| client.presence(&doc).into_iter().find(|p| p.peer_id == ben_peer);
    let ben_in_rust = || ben_in(&client);

    let js = |mode: &str, timing: Option<(Duration, Duration)>| {
        let mut command = Command::new("node");
        command
            .arg(interop_dir().join("presence.mjs"))
            .args(["--relay", &format!("{}/v1/sync", relay.ws_url())])
            .args(["--token", &ben.token, "--peer-id", &ben_peer, "--doc", &format!("automerge:{doc}")])
            .args(["--rust-peer", &ana_peer, "--rust-name", "Ana 🌷"])
            .args(["--caregiver", &ben.account_id, "--name", "Ben", "--appointment", &appt])
            .args(["--mode", mode, "--timeout-ms", &TIMEOUT.as_millis().to_string()])
            .current_dir(interop_dir());
        if let Some((hb, ttl)) = timing {
            command.args(["--heartbeat-ms", &hb.as_millis().to_string(), "--ttl-ms", &ttl.as_millis().to_string()]);
        }
        Node::spawn(command)
    };

    // 1. Default timing (15 s heartbeats, 45 s time to live) on both sides.
    let started = Instant::now();
    let mut node = js("goodbye", None);
    let seen = wait_for("the JS presence in Rust", &mut node, ben_in_rust);
    let js_to_rust = started.elapsed();
    let ben_state = seen.caregiver().expect("a caregiver presence from JS");
    assert_eq!((ben_state.name.as_str(), ben_state.caregiver.as_str()), ("Ben", ben.account_id.as_str()));
    assert_eq!((ben_state.editing.as_deref(), ben_state.appointment.as_deref()), (Some("notes"), Some(appt.as_str())));
    wait_for("the JS update (editing: summary)", &mut node, || {
        ben_in_rust()?.caregiver()?.editing.filter(|e| e == "summary")
    });
    client.set_presence(&id, &doc, ana_in("reading")).unwrap();
    let answered = Instant::now();
    wait_for("the JS goodbye", &mut node, || ben_in_rust().is_none().then_some(()));
    let goodbye_after = answered.elapsed();
    assert!(
        goodbye_after < Duration::from_millis(DEFAULT_PEER_TTL_MS) / 3,
        "the JS peer was dropped after {goodbye_after:?}: expiry, not its goodbye"
    );
    let (status, report, err) = node.finish_json(TIMEOUT);
    assert!(status.success() && report["ok"] == true, "the node script failed ({status}):\n{report:#}\n{err}");
    // JS saw Rust's state, channel by channel, then Rust's new state.
    assert_eq!(report["saw_rust"]["name"], "Ana 🌷");
    assert_eq!(report["saw_rust"]["caregiver"], ana_account.as_str());
    assert_eq!(report["saw_rust"]["editing"], "notes");
    assert_eq!(report["saw_rust"]["appointment"], appt.as_str());
    assert_eq!(report["saw_rust_answer"]["editing"], "reading");
    assert!(!events.lock().unwrap().is_empty(), "no PresenceChanged event");
    assert!(events.lock().unwrap().iter().all(|d| *d == doc));
    assert_eq!(client.presence_stats(&doc).dropped, 0);
    eprintln!(
        "presence interop (goodbye): JS→Rust {js_to_rust:?}; dropped {goodbye_after:?} after Rust's answer; JS side {}",
        report["timings_ms"]
    );

    // 2. Short timing.
    client.set_presence_timing(HEARTBEAT, TTL).unwrap();
    client.set_presence(&id, &doc, ana_in("notes")).unwrap();
    let mut node = js("vanish", Some((HEARTBEAT, JS_TTL)));
    wait_for("the second JS presence in Rust", &mut node, || ben_in(&client));
    // Rust stays well past its time to live: JS heartbeats keep it present.
    std::thread::sleep(TTL + HEARTBEAT);
    assert!(ben_in(&client).is_some(), "JS heartbeats did not keep the JS peer present");
    // Rust leaves (goodbye) and comes back: JS, which forgot it, answers its snapshot with its own.
    client.clear_presence(&doc);
    assert!(client.presence(&doc).is_empty());
    std::thread::sleep(Duration::from_millis(300));
    client.set_presence(&id, &doc, ana_in("reading")).unwrap();
    wait_for("the JS presence after Rust's return", &mut node, || ben_in(&client));
    // The Rust app restarts (no goodbye: JS keeps it for 20 s). JS changes nothing; the new client must get
    // its state anyway.
    client.stop().unwrap();
    client = start();
    client.set_presence_timing(HEARTBEAT, TTL).unwrap();
    client.attach(&shared).unwrap();
    client.block_on(client.sync_and_wait(&shared, TIMEOUT)).unwrap();
    let restarted = Instant::now();
    client.set_presence(&id, &doc, ana_in("restarted")).unwrap();
    wait_for("the JS presence in the restarted Rust client", &mut node, || ben_in(&client));
    let seen_after_restart = restarted.elapsed();
    assert!(seen_after_restart < JS_TTL / 2, "the restarted client saw JS only after {seen_after_restart:?}");
    client.set_presence(&id, &doc, ana_in("done")).unwrap();
    let ben_in_rust = || ben_in(&client);
    // JS exits without a goodbye once it sees "done".
    let deadline = Instant::now() + TIMEOUT;
    while !node.exited() {
        assert!(Instant::now() < deadline, "the JS client did not exit");
        std::thread::sleep(Duration::from_millis(5));
    }
    let exited = Instant::now();
    let last: PeerPresence = ben_in_rust().expect("a peer that sent no goodbye is still present at once");
    while ben_in_rust().is_some() {
        assert!(exited.elapsed() < TIMEOUT, "the JS peer never expired");
        std::thread::sleep(Duration::from_millis(10));
    }
    let expired_after = exited.elapsed();
    let (status, report, err) = node.finish_json(TIMEOUT);
    assert!(status.success() && report["ok"] == true, "the node script failed ({status}):\n{report:#}\n{err}");
    assert!(report["steps"].as_array().unwrap().iter().any(|s| s == "saw_rust_goodbye"), "{report:#}");
    assert_eq!(report["saw_rust_again"]["editing"], "done");
    // Two goodbyes from Rust: `clear_presence`, and the restarted client's reintroduction.
    let goodbyes = report["events"].as_array().unwrap().iter().filter(|e| *e == "goodbye").count();
    assert!(goodbyes >= 2, "{report:#}");
    // Dropped by expiry: no sooner than its time to live after its last heartbeat, and not much later.
    assert!(expired_after + HEARTBEAT * 2 >= TTL, "expired after {expired_after:?}, sooner than the {TTL:?} TTL");
    assert!(expired_after <= TTL + Duration::from_secs(1), "expired only after {expired_after:?}");
    assert_eq!(last.caregiver().unwrap().name, "Ben");
    assert_eq!(client.presence_stats(&doc).dropped, 0);
    eprintln!(
        "presence interop (vanish): restarted Rust client saw JS after {seen_after_restart:?}; JS peer expired \
         {expired_after:?} after the JS exit (TTL {TTL:?}); JS side {}",
        report["timings_ms"]
    );

    client.stop().unwrap();
    relay.stop();
}
