//! Interop (issue 3, test 5): an unmodified `@automerge/automerge-repo` 2.5 client from npm, with its
//! WebSocket network adapter and a device token in `?token=`, finds a case the Rust client created and
//! shared through a real relay, edits it, and the Rust client sees the edit — then the reverse.
//!
//! The JavaScript side is `tests/interop/interop.mjs`. Its npm packages (pinned by `tests/interop/package.json`
//! and `package-lock.json`) are installed by this test into `tests/interop/node_modules` when missing.
//! Node.js (>= 20) and npm are required: without them this test fails, it is never skipped.
//!
//! The texts hold accents, an emoji (a UTF-16 surrogate pair) and CJK: both sides count text positions in
//! UTF-16 code units, and each splices at a position computed on the other side's text.

use std::process::Command;
use std::time::{Duration, Instant};

use casebook_core::Store;
use casebook_core::model::patient::PatientField;
use casebook_core::model::text::TextField;
use casebook_core::relay_api::{Role, peer_id_for_device};
use casebook_core::sync::{RelayClient, SyncClient};
use casebook_tests::InProcessRelay;
use casebook_tests::node::{Node, ensure_npm_packages, interop_dir};
use serde_json::Value;

/// How long each side waits for the other.
const TIMEOUT: Duration = Duration::from_secs(60);

const NAME: &str = "Mãe (interop) 🌷";
const SYMPTOMS: &str = "Fatigue 😴, toux sèche 咳嗽.";
/// The JS client inserts `JS_INSERT` right after `JS_AFTER` and sets the stage.
const JS_AFTER: &str = "😴";
const JS_INSERT: &str = " (naps 2×/day, 午睡)";
const JS_STAGE: &str = "IIIA — T2 N2 M0";
/// Then the Rust client inserts `RUST_INSERT` right after `RUST_AFTER` (in the JS insert) and sets the stage.
const RUST_AFTER: &str = "午睡";
const RUST_INSERT: &str = " ✓ seen by Rust 🦀";
const RUST_STAGE: &str = "IIIB";

/// `text` with `insert` inserted right after the first `after`.
fn inserted(text: &str, after: &str, insert: &str) -> String {
    let at = text.find(after).expect("marker present") + after.len();
    format!("{}{insert}{}", &text[..at], &text[at..])
}

#[test]
fn automerge_repo_js_client_and_rust_client_edit_the_same_case_through_the_relay() {
    ensure_npm_packages();
    let total = Instant::now();

    // A real relay on a free port, with its data in a temporary directory.
    let tmp = tempfile::tempdir().unwrap();
    let relay = InProcessRelay::start_in(&tmp.path().join("relay"));
    let http = relay.url();

    // Two accounts: Ana (Rust, owner) and Ben (the JS client).
    let anon = RelayClient::new(&http).unwrap();
    let ana = anon.create_account("Ana", Some("Ana's phone")).unwrap();
    let ben = anon.create_account("Ben", Some("Ben's browser")).unwrap();

    // Ana creates the case offline, then shares it and invites Ben as an editor; Ben redeems over HTTP.
    let store = Store::open(&tmp.path().join("ana")).unwrap();
    let (mut case, _me) = store.create_case(NAME, "Ana", Some("daughter")).unwrap();
    case.append_text(&TextField::Symptoms, SYMPTOMS).unwrap();
    case.save().unwrap();
    let id = case.id().clone();
    let shared = std::sync::Arc::new(std::sync::Mutex::new(case));
    let ana_device = ana.device_id.clone();
    let client = SyncClient::start(&store, &http, ana).unwrap();
    client.block_on(client.share_case(&shared)).unwrap();
    client.block_on(client.wait_until_synced(&id, TIMEOUT)).expect("the case reaches the relay");
    let invite = client.relay().create_invite(&id, Role::Editor, None).unwrap();
    let joined = RelayClient::with_token(&http, &ben.token).unwrap().redeem_invite(&invite.code).unwrap();
    assert_eq!((joined.case_id.as_str(), joined.role), (id.as_str(), Role::Editor));

    let after_js = inserted(SYMPTOMS, JS_AFTER, JS_INSERT);
    let after_rust = inserted(&after_js, RUST_AFTER, RUST_INSERT);

    let js_client = |peer_id: &str, timeout: Duration| {
        let mut command = Command::new("node");
        command
            .arg(interop_dir().join("interop.mjs"))
            .args(["--relay", &format!("{}/v1/sync", relay.ws_url())])
            .args(["--token", &ben.token])
            .args(["--peer-id", peer_id])
            .args(["--doc", &format!("automerge:{id}")])
            .args(["--expect-name", NAME, "--expect-symptoms", SYMPTOMS])
            .args(["--insert-after", JS_AFTER, "--insert", JS_INSERT, "--set-stage", JS_STAGE])
            .args(["--wait-symptoms", &after_rust, "--wait-stage", RUST_STAGE])
            .args(["--timeout-ms", &timeout.as_millis().to_string()])
            .current_dir(interop_dir());
        Node::spawn(command)
    };

    // The relay binds the peer id to the device: announcing another one (here Ana's) gets no session.
    let mut impostor = js_client(&peer_id_for_device(&ana_device), Duration::from_secs(2));
    let (status, out, err) = impostor.finish(TIMEOUT);
    let report: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    assert!(
        !status.success() && report["steps"].as_array().is_some_and(|s| s.is_empty()),
        "a JS client announcing another device's peer id was served ({status}):\n{out}\n{err}"
    );

    // The JS client: finds the case, checks it, edits it, then waits for the Rust edit.
    let started_js = Instant::now();
    let mut node = js_client(&peer_id_for_device(&ben.device_id), TIMEOUT);

    // JS → Rust: the Rust client sees the JS edit (a splice in a Text, a patient field written as Text),
    // merged live into the open case.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut case = shared.lock().unwrap();
        if case.text(&TextField::Symptoms).unwrap() == after_js && case.patient().stage.as_deref() == Some(JS_STAGE) {
            break;
        }
        if node.exited() {
            let (status, out, err) = node.finish(Duration::ZERO);
            panic!("the node script exited ({status}) before its edit reached Rust:\n{out}\n{err}");
        }
        assert!(
            Instant::now() < deadline,
            "the JS edit did not reach Rust within {TIMEOUT:?}: symptoms {:?}, stage {:?}",
            case.text(&TextField::Symptoms).unwrap(),
            case.patient().stage
        );
        drop(case);
        std::thread::sleep(Duration::from_millis(25));
    }
    let js_to_rust = started_js.elapsed();
    let mut case = shared.lock().unwrap();
    assert_eq!(case.patient().display_name.as_deref(), Some(NAME));

    // Rust → JS: an edit made after (and on top of) the JS one.
    let started_rust = Instant::now();
    let at = after_js.find(RUST_AFTER).unwrap() + RUST_AFTER.len();
    let at_utf16 = after_js[..at].encode_utf16().count();
    case.splice_text(&TextField::Symptoms, at_utf16, 0, RUST_INSERT).unwrap();
    case.set_patient(PatientField::Stage, Some(RUST_STAGE)).unwrap();
    assert_eq!(case.text(&TextField::Symptoms).unwrap(), after_rust);
    drop(case);
    client.sync_case(&shared).unwrap();
    client.block_on(client.wait_until_synced(&id, TIMEOUT)).expect("the Rust edit reaches the relay");

    let (status, out, err) = node.finish(TIMEOUT + Duration::from_secs(10));
    let rust_to_js = started_rust.elapsed();
    let report: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("the node script printed no JSON ({e}), exit {status}:\n{out}\n{err}"));
    assert!(status.success() && report["ok"] == true, "the node script failed ({status}):\n{report:#}\n{err}");
    if !err.trim().is_empty() {
        eprintln!("interop: node stderr:\n{err}");
    }
    assert_eq!(report["saw"]["display_name"], NAME);
    assert_eq!(report["saw"]["symptoms"], SYMPTOMS);
    assert_eq!(report["after_edit"]["symptoms"], after_js.as_str());
    // JS Automerge 3 wrote the stage as a Text object (which Rust read above); Rust writes a scalar string.
    assert_eq!(report["after_edit"]["stage_is_text"], true);
    assert_eq!(report["final"]["symptoms"], after_rust.as_str());
    assert_eq!(report["final"]["stage"], RUST_STAGE);
    assert_eq!(report["final"]["stage_is_text"], false);
    assert!(report["relay_peers"].as_array().is_some_and(|p| p.iter().any(|p| p == "casebook-relay")), "{report}");

    // Both replicas agree, and the relay kept the merged case: a Rust device that Ben links now (the JS
    // client is gone) joins the case and gets all of it.
    client.block_on(client.sync_and_wait(&shared, TIMEOUT)).unwrap();
    let mut case = shared.lock().unwrap();
    assert_eq!(case.text(&TextField::Symptoms).unwrap(), after_rust);
    assert_eq!(case.patient().stage.as_deref(), Some(RUST_STAGE));
    drop(case);
    client.stop().unwrap();
    let link = RelayClient::with_token(&http, &ben.token).unwrap().create_link_code().unwrap();
    let ben_phone = anon.link_device(&link.code, Some("Ben's phone")).unwrap();
    let ben_store = Store::open(&tmp.path().join("ben")).unwrap();
    let ben_client = SyncClient::start(&ben_store, &http, ben_phone).unwrap();
    let joined = ben_client.block_on(ben_client.join_case(&id, TIMEOUT)).expect("Ben's phone joins the case");
    ben_client.block_on(ben_client.sync_and_wait(&joined, TIMEOUT)).unwrap();
    let mut joined = joined.lock().unwrap();
    assert_eq!(joined.text(&TextField::Symptoms).unwrap(), after_rust);
    assert_eq!(joined.patient().stage.as_deref(), Some(RUST_STAGE));
    assert_eq!(joined.patient().display_name.as_deref(), Some(NAME));
    drop(joined);
    ben_client.stop().unwrap();

    eprintln!(
        "interop timings: JS→Rust {js_to_rust:?} (node start, connect, find, edit, Rust sees it); Rust→JS {rust_to_js:?} \
         (edit, relay ack, JS sees it, node exits); JS side {}; total {:?}",
        report["timings_ms"],
        total.elapsed()
    );
    relay.stop();
}
