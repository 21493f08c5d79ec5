//! Sync over the relay's WebSocket: authentication at the upgrade, membership on the wire, live revocation,
//! and every kind of bad input — each refused with its own close code while other clients keep syncing.

mod common;

use std::time::Duration;

use casebook_core::relay_api::{CaseHeads, CaseUsage, DeviceCredentials, RegisterDocument, Role};
use casebook_core::storage::key;
use common::{Client, StoppedRelay, TestRelay, eventually, expect_close, get, put, wait_for, ws_connect};
use futures::{SinkExt, StreamExt};
use samod::DocHandle;
use tokio_tungstenite::tungstenite::Message;

const SOON: Duration = Duration::from_secs(5);

/// Ana owns a case (created offline, registered, then synced) with `title = first`.
async fn shared_case(relay: &TestRelay) -> (DeviceCredentials, Client, DocHandle) {
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let mut client = Client::offline(&ana).await;
    let doc = client.create("title", "first").await;
    http.register_case(&ana.token, &doc.document_id().to_string()).await;
    client.dial(&relay.handle, &ana.token);
    client.established().await;
    (ana, client, doc)
}

async fn usage(relay: &TestRelay, token: &str, case: &str) -> CaseUsage {
    relay.http().get(&format!("/v1/cases/{case}/usage"), Some(token)).await.json()
}

/// Wait until the relay has stored something of the case.
async fn stored(relay: &TestRelay, token: &str, case: &str) {
    let deadline = tokio::time::Instant::now() + SOON;
    while usage(relay, token, case).await.bytes == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the relay did not store the case");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn upgrade_needs_a_valid_token_header_or_query() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    assert_eq!(ws_connect(&http, None, false).await.err(), Some(401));
    assert_eq!(ws_connect(&http, Some(&"0".repeat(64)), false).await.err(), Some(401));
    assert_eq!(ws_connect(&http, Some("garbage"), true).await.err(), Some(401));
    let mut ws = ws_connect(&http, Some(&ana.token), true).await.expect("?token= accepted");
    ws.close(None).await.unwrap();
    let mut ws = ws_connect(&http, Some(&ana.token), false).await.expect("Bearer accepted");
    ws.close(None).await.unwrap();
    let r = http.get("/v1/sync", Some(&ana.token)).await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_input"), "not a WebSocket request");
}

#[tokio::test]
async fn members_sync_a_case_and_its_documents() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let (ana, ana_client, ana_doc) = shared_case(&relay).await;
    let case = ana_doc.document_id().clone();
    let ben = http.member(&ana.token, &case.to_string(), "Ben", Role::Editor).await;
    let ben_client = Client::connect(&relay.handle, &ben).await;

    let ben_doc = ben_client.find_soon(&case).await;
    assert_eq!(get(&ben_doc, "title").await.as_deref(), Some("first"));
    put(&ben_doc, "title", "from Ben").await;
    assert!(wait_for(&ana_doc, "title", "from Ben", SOON).await, "Ana receives Ben's edit");
    put(&ana_doc, "status", "from Ana").await;
    assert!(wait_for(&ben_doc, "status", "from Ana", SOON).await, "Ben receives Ana's edit live");

    // A notes document registered by an editor is covered by the case's membership.
    let notes = ben_client.create("notes", "Ben's notes").await;
    let r = http
        .post(
            &format!("/v1/cases/{case}/documents"),
            Some(&ben.token),
            &RegisterDocument { doc_id: notes.document_id().to_string() },
        )
        .await;
    assert_eq!(r.status, 204);
    let ana_notes = {
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            if let Some(d) = ana_client.find(notes.document_id()).await {
                break d;
            }
            assert!(tokio::time::Instant::now() < deadline, "Ana never found the notes");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert!(wait_for(&ana_notes, "notes", "Ben's notes", SOON).await);
    let metrics = http.get("/metrics", None).await.body;
    assert!(metrics.contains("casebook_relay_connections 2\n"), "{metrics}");
    assert!(!metrics.contains("casebook_relay_messages_in_total 0\n"));
    // Every inbound message and every durable write was timed.
    let count = |name: &str| -> u64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name}_count "))).expect(name);
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(count("casebook_relay_sync_message_seconds") > 0, "{metrics}");
    assert!(count("casebook_relay_storage_write_seconds") > 0, "{metrics}");
    // Writes are flushed to disk: they take time (the histogram times the write, not a ready future).
    let sum: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("casebook_relay_storage_write_seconds_sum "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(sum > 0.0, "{metrics}");
    ana_client.stop().await;
    ben_client.stop().await;
}

/// The heads a device's handle holds, as the relay reports them (hex).
async fn heads_of(doc: &DocHandle) -> Vec<String> {
    doc.with_document(|d| d.get_heads()).iter().map(|h| h.to_string()).collect()
}

#[tokio::test]
async fn the_relay_reports_the_heads_it_holds_to_members_only() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let (ana, ana_client, ana_doc) = shared_case(&relay).await;
    let case = ana_doc.document_id().to_string();
    let ben = http.create_account("Ben").await;
    let path = format!("/v1/cases/{case}/heads");
    assert_eq!(http.get(&path, Some(&ben.token)).await.status, 404, "a non-member learns nothing");
    assert_eq!(http.get(&path, None).await.status, 401);

    // Once Ana's edit reached the relay, it reports her heads; a registered document it has no change of
    // yet is listed with no heads.
    put(&ana_doc, "title", "second").await;
    let want = heads_of(&ana_doc).await;
    let notes = casebook_core::ids::DocId::random().to_string();
    let r = http
        .post(&format!("/v1/cases/{case}/documents"), Some(&ana.token), &RegisterDocument { doc_id: notes.clone() })
        .await;
    assert_eq!(r.status, 204);
    let deadline = tokio::time::Instant::now() + SOON;
    let heads = loop {
        let h: CaseHeads = http.get(&path, Some(&ana.token)).await.json();
        if h.documents[0].heads == want {
            break h;
        }
        assert!(tokio::time::Instant::now() < deadline, "the relay never reported Ana's heads: {h:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(heads.case_id, case);
    assert_eq!(heads.documents.len(), 2, "{heads:?}");
    assert_eq!(heads.documents[0].document_id, case, "the case document first");
    assert_eq!((heads.documents[1].document_id.as_str(), heads.documents[1].heads.len()), (notes.as_str(), 0));
    ana_client.stop().await;
}

#[tokio::test]
async fn a_document_synced_before_its_registration_reaches_the_relay_once_registered() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let (ana, ana_client, ana_doc) = shared_case(&relay).await;
    let case = ana_doc.document_id().to_string();
    stored(&relay, &ana.token, &case).await;
    let before = usage(&relay, &ana.token, &case).await.bytes;

    // A new document reaches the relay before its registration does (a phone syncs as soon as it is online,
    // and registers over HTTP at the same time): the relay cannot tell which case it belongs to yet.
    let notes = ana_client.create("notes", "Ana's notes").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(usage(&relay, &ana.token, &case).await.bytes, before, "nothing stored before registration");
    let r = http
        .post(
            &format!("/v1/cases/{case}/documents"),
            Some(&ana.token),
            &RegisterDocument { doc_id: notes.document_id().to_string() },
        )
        .await;
    assert_eq!(r.status, 204);
    // Once registered, the relay takes it without Ana editing it again or anyone asking for it.
    let deadline = tokio::time::Instant::now() + SOON;
    while usage(&relay, &ana.token, &case).await.bytes == before {
        assert!(tokio::time::Instant::now() < deadline, "the relay never took the document registered late");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    ana_client.stop().await;
    let ben = http.member(&ana.token, &case, "Ben", Role::Viewer).await;
    let ben_client = Client::connect(&relay.handle, &ben).await;
    let ben_notes = ben_client.find(notes.document_id()).await.expect("from the relay alone");
    assert_eq!(get(&ben_notes, "notes").await.as_deref(), Some("Ana's notes"));
    ben_client.stop().await;
}

#[tokio::test]
async fn one_connection_syncs_several_cases_each_with_its_own_members() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let mut ana_client = Client::offline(&ana).await;
    let first = ana_client.create("title", "first case").await;
    let second = ana_client.create("title", "second case").await;
    for doc in [&first, &second] {
        http.register_case(&ana.token, &doc.document_id().to_string()).await;
    }
    ana_client.dial(&relay.handle, &ana.token);
    ana_client.established().await;
    // Ben is in both cases, Cleo in the second only.
    let ben = http.member(&ana.token, &first.document_id().to_string(), "Ben", Role::Editor).await;
    let invite = http.invite(&ana.token, &second.document_id().to_string(), Role::Editor).await;
    assert_eq!(http.redeem(&ben.token, &invite.code).await.status, 200);
    let cleo = http.member(&ana.token, &second.document_id().to_string(), "Cleo", Role::Editor).await;
    let ben_client = Client::connect(&relay.handle, &ben).await;
    let cleo_client = Client::connect(&relay.handle, &cleo).await;

    let ben_first = ben_client.find(first.document_id()).await.expect("Ben finds the first case");
    let ben_second = ben_client.find(second.document_id()).await.expect("and the second, on the same socket");
    assert_eq!(get(&ben_first, "title").await.as_deref(), Some("first case"));
    assert_eq!(get(&ben_second, "title").await.as_deref(), Some("second case"));
    assert!(cleo_client.find(first.document_id()).await.is_none(), "Cleo is not in the first case");
    let cleo_second = cleo_client.find(second.document_id()).await.expect("Cleo finds the second");

    put(&ben_first, "status", "Ben in the first").await;
    put(&ben_second, "status", "Ben in the second").await;
    assert!(wait_for(&first, "status", "Ben in the first", SOON).await);
    assert!(wait_for(&second, "status", "Ben in the second", SOON).await);
    assert!(wait_for(&cleo_second, "status", "Ben in the second", SOON).await);
    put(&cleo_second, "status", "Cleo").await;
    assert!(wait_for(&ben_second, "status", "Cleo", SOON).await, "live, on Ben's shared socket");
    for c in [ana_client, ben_client, cleo_client] {
        c.stop().await;
    }
}

#[tokio::test]
async fn a_non_member_cannot_find_the_case() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let (ana, _ana_client, ana_doc) = shared_case(&relay).await;
    let case = ana_doc.document_id().clone();
    stored(&relay, &ana.token, &case.to_string()).await;
    let eve = http.create_account("Eve").await;
    let eve_client = Client::connect(&relay.handle, &eve).await;
    assert!(eve_client.find(&case).await.is_none(), "the case looks unavailable");
    let unknown = casebook_core::DocId::random().to_document_id();
    assert!(eve_client.find(&unknown).await.is_none(), "exactly like a document that does not exist");
    eve_client.stop().await;
}

#[tokio::test]
async fn a_viewer_reads_but_its_writes_never_reach_others() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let (ana, _ana_client, ana_doc) = shared_case(&relay).await;
    let case = ana_doc.document_id().clone();
    let vic = http.member(&ana.token, &case.to_string(), "Vic", Role::Viewer).await;
    let vic_client = Client::connect(&relay.handle, &vic).await;
    let vic_doc = vic_client.find(&case).await.expect("a viewer reads");
    put(&vic_doc, "title", "vandalised").await;
    put(&ana_doc, "status", "after").await;
    assert!(wait_for(&vic_doc, "status", "after", SOON).await, "the viewer keeps receiving");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(get(&ana_doc, "title").await.as_deref(), Some("first"), "the viewer's write was ignored");
    // And the relay did not keep it for anyone else either.
    let ben = http.member(&ana.token, &case.to_string(), "Ben", Role::Editor).await;
    let ben_client = Client::connect(&relay.handle, &ben).await;
    let ben_doc = ben_client.find(&case).await.unwrap();
    assert!(wait_for(&ben_doc, "status", "after", SOON).await);
    assert_eq!(get(&ben_doc, "title").await.as_deref(), Some("first"));
    vic_client.stop().await;
    ben_client.stop().await;
}

#[tokio::test]
async fn a_removed_member_stops_receiving_within_a_second() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let (ana, _ana_client, ana_doc) = shared_case(&relay).await;
    let case = ana_doc.document_id().clone();
    let ben = http.member(&ana.token, &case.to_string(), "Ben", Role::Editor).await;
    let ben_client = Client::connect(&relay.handle, &ben).await;
    let ben_doc = ben_client.find(&case).await.unwrap();
    put(&ana_doc, "status", "before").await;
    assert!(wait_for(&ben_doc, "status", "before", SOON).await);

    let r = http.delete(&format!("/v1/cases/{case}/members/{}", ben.account_id), Some(&ana.token)).await;
    assert_eq!(r.status, 204);
    tokio::time::sleep(Duration::from_millis(200)).await;
    put(&ana_doc, "status", "secret").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(get(&ben_doc, "status").await.as_deref(), Some("before"), "nothing after the removal");
    // Ben's writes no longer reach Ana either.
    put(&ben_doc, "title", "from a former member").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(get(&ana_doc, "title").await.as_deref(), Some("first"));
    ben_client.stop().await;
}

#[tokio::test]
async fn a_revoked_device_is_disconnected_and_refused() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let mut ws = ws_connect(&http, Some(&ana.token), false).await.unwrap();
    assert!(eventually(SOON, || relay.handle.connection_count() == 1).await);
    let revoked_at = tokio::time::Instant::now();
    let r = http.delete(&format!("/v1/devices/{}", ana.device_id), Some(&ana.token)).await;
    assert_eq!(r.status, 204);
    let (code, reason) = expect_close(&mut ws).await.expect("a close frame");
    assert!(revoked_at.elapsed() < Duration::from_secs(1), "{:?}", revoked_at.elapsed());
    assert_eq!((code, reason.as_str()), (4401, "device token revoked"));
    assert_eq!(ws_connect(&http, Some(&ana.token), false).await.err(), Some(401));
    assert!(eventually(SOON, || relay.handle.connection_count() == 0).await);
}

#[tokio::test]
async fn a_peer_id_other_than_the_devices_is_refused() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let mut impostor = Client::offline_as("device-someone-else").await;
    impostor.dial(&relay.handle, &ana.token);
    let result = tokio::time::timeout(common::TIMEOUT, impostor.dialer.as_ref().unwrap().established()).await.unwrap();
    assert!(result.is_err(), "handshake refused");
    let metrics = http.get("/metrics", None).await.body;
    assert!(!metrics.contains("casebook_relay_limit_hits_total{kind=\"protocol\"} 0\n"), "{metrics}");
    impostor.stop().await;
}

#[tokio::test]
async fn bad_frames_close_only_their_connection_and_change_nothing_stored() {
    let relay = TestRelay::start_with(|c| c.max_message_bytes = 64 * 1024).await;
    let http = relay.http();
    let (ana, ana_client, ana_doc) = shared_case(&relay).await;
    let case = ana_doc.document_id().clone();
    let ben = http.member(&ana.token, &case.to_string(), "Ben", Role::Editor).await;
    let ben_client = Client::connect(&relay.handle, &ben).await;
    let ben_doc = ben_client.find(&case).await.unwrap();
    stored(&relay, &ana.token, &case.to_string()).await;
    let before = usage(&relay, &ana.token, &case.to_string()).await.bytes;

    // An oversized frame: 1009, before the payload is even read.
    let mut ws = ws_connect(&http, Some(&ana.token), false).await.unwrap();
    let _ = ws.send(Message::Binary(vec![0u8; 100 * 1024].into())).await;
    assert_eq!(expect_close(&mut ws).await.map(|c| c.0), Some(1009));
    // Garbage bytes where a CBOR message belongs: 1002.
    let mut ws = ws_connect(&http, Some(&ana.token), false).await.unwrap();
    ws.send(Message::Binary(b"\xff\x00 not cbor at all".to_vec().into())).await.unwrap();
    let (code, reason) = expect_close(&mut ws).await.unwrap();
    assert_eq!((code, reason.as_str()), (1002, "undecodable sync message"));
    // A truncated join message: 1002.
    let mut ws = ws_connect(&http, Some(&ana.token), false).await.unwrap();
    let join = b"\xa3\x64type\x64join\x68senderId\x68impo";
    ws.send(Message::Binary(join.to_vec().into())).await.unwrap();
    assert_eq!(expect_close(&mut ws).await.map(|c| c.0), Some(1002));
    // A text frame: 1003.
    let mut ws = ws_connect(&http, Some(&ana.token), false).await.unwrap();
    ws.send(Message::Text("{\"type\":\"join\"}".into())).await.unwrap();
    assert_eq!(expect_close(&mut ws).await.map(|c| c.0), Some(1003));

    // The healthy connections kept syncing throughout.
    put(&ana_doc, "status", "still syncing").await;
    assert!(wait_for(&ben_doc, "status", "still syncing", SOON).await);
    assert!(usage(&relay, &ana.token, &case.to_string()).await.bytes > before);
    let metrics = http.get("/metrics", None).await.body;
    assert!(metrics.contains("casebook_relay_limit_hits_total{kind=\"message_size\"} 1\n"), "{metrics}");
    assert!(metrics.contains("casebook_relay_limit_hits_total{kind=\"protocol\"} 3\n"), "{metrics}");
    ana_client.stop().await;
    ben_client.stop().await;
}

/// Every stored entry of a case document and of the relay's records, read with the relay stopped — but
/// when devices were last connected (`relay/device-seen/…`, `relay/seen/…`): a valid token that opens a
/// socket is seen, whatever it sends next.
fn snapshot(stopped: &StoppedRelay, doc: &str) -> Vec<(String, Vec<u8>)> {
    let s = stopped.storage();
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for prefix in [doc, "relay"] {
        out.extend(
            s.load_range(&key([prefix]).unwrap())
                .unwrap()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .filter(|(k, _)| !k.starts_with("relay/device-seen/") && !k.starts_with("relay/seen/")),
        );
    }
    out.sort();
    out
}

#[tokio::test]
async fn stored_data_is_unchanged_by_bad_input() {
    let relay = TestRelay::start_with(|c| c.max_message_bytes = 64 * 1024).await;
    let (ana, ana_client, ana_doc) = shared_case(&relay).await;
    let case = ana_doc.document_id().to_string();
    stored(&relay, &ana.token, &case).await;
    ana_client.stop().await;
    let stopped = relay.stop().await;
    let before = snapshot(&stopped, &case);
    assert!(before.iter().any(|(k, _)| k.starts_with(&case)));

    let relay = stopped.start_with(|c| c.max_message_bytes = 64 * 1024).await;
    let http = relay.http();
    let mut ws = ws_connect(&http, Some(&ana.token), false).await.unwrap();
    let _ = ws.send(Message::Binary(vec![7u8; 70 * 1024].into())).await;
    assert_eq!(expect_close(&mut ws).await.map(|c| c.0), Some(1009));
    let mut ws = ws_connect(&http, Some(&ana.token), false).await.unwrap();
    ws.send(Message::Binary(vec![0xa1, 0x64, 0x74, 0x79].into())).await.unwrap();
    assert_eq!(expect_close(&mut ws).await.map(|c| c.0), Some(1002));
    assert_eq!(ws_connect(&http, Some(&"1".repeat(64)), false).await.err(), Some(401));
    let r = http.raw("POST", "/v1/cases", Some(&ana.token), Some(("application/json", b"{\"case_id\":"))).await;
    assert_eq!(r.status, 400);
    let r = http.redeem(&ana.token, "0000-0000-0000-0000-0000").await;
    assert_eq!(r.status, 404);
    let stopped = relay.stop().await;
    assert_eq!(snapshot(&stopped, &case), before, "stored data changed");
}

#[tokio::test]
async fn connection_limit_answers_503_and_frees_slots() {
    let relay = TestRelay::start_with(|c| c.max_connections = 1).await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let mut first = ws_connect(&http, Some(&ana.token), false).await.unwrap();
    assert_eq!(ws_connect(&http, Some(&ana.token), false).await.err(), Some(503));
    let r = http.get("/v1/sync", Some(&ana.token)).await;
    assert!(r.status == 400 || r.status == 503);
    first.close(None).await.unwrap();
    while first.next().await.is_some() {}
    assert!(eventually(SOON, || relay.handle.connection_count() == 0).await);
    let mut again = ws_connect(&http, Some(&ana.token), false).await.expect("the slot was freed");
    again.close(None).await.unwrap();
    let metrics = http.get("/metrics", None).await.body;
    assert!(metrics.contains("casebook_relay_limit_hits_total{kind=\"connections\"} 1\n"), "{metrics}");
}

#[tokio::test]
async fn silent_sockets_time_out_but_live_clients_stay() {
    let relay = TestRelay::start_with(|c| {
        c.idle_timeout_secs = 1;
        c.handshake_timeout_secs = 60;
    })
    .await;
    let http = relay.http();
    let (ana, ana_client, ana_doc) = shared_case(&relay).await;
    let mut silent = ws_connect(&http, Some(&ana.token), false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(expect_close(&mut silent).await, Some((4408, "idle timeout".into())));
    // samod's client answers the relay's pings: still connected, still syncing.
    let ben = http.member(&ana.token, &ana_doc.document_id().to_string(), "Ben", Role::Editor).await;
    let ben_client = Client::connect(&relay.handle, &ben).await;
    let ben_doc = ben_client.find(ana_doc.document_id()).await.unwrap();
    put(&ana_doc, "status", "after the timeout").await;
    assert!(wait_for(&ben_doc, "status", "after the timeout", SOON).await);
    ana_client.stop().await;
    ben_client.stop().await;
}

#[tokio::test]
async fn no_handshake_in_time_is_closed() {
    let relay = TestRelay::start_with(|c| c.handshake_timeout_secs = 1).await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let mut ws = ws_connect(&http, Some(&ana.token), false).await.unwrap();
    assert_eq!(expect_close(&mut ws).await, Some((4408, "no sync handshake in time".into())));
}

#[tokio::test]
async fn a_case_over_quota_turns_read_only() {
    let relay = TestRelay::start_with(|c| c.case_quota_bytes = 1).await;
    let http = relay.http();
    let (ana, ana_client, ana_doc) = shared_case(&relay).await;
    let case = ana_doc.document_id().clone();
    stored(&relay, &ana.token, &case.to_string()).await;
    let u = usage(&relay, &ana.token, &case.to_string()).await;
    assert!(u.quota_exceeded && u.quota_bytes == 1 && u.bytes > 1, "{u:?}");
    let r = http
        .post(
            &format!("/v1/cases/{case}/documents"),
            Some(&ana.token),
            &RegisterDocument { doc_id: casebook_core::DocId::random().to_string() },
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (507, "quota_exceeded"));
    // Reads still work; new changes are no longer accepted.
    put(&ana_doc, "status", "not stored").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ben = http.member(&ana.token, &case.to_string(), "Ben", Role::Editor).await;
    let ben_client = Client::connect(&relay.handle, &ben).await;
    let ben_doc = ben_client.find(&case).await.expect("still readable");
    assert_eq!(get(&ben_doc, "title").await.as_deref(), Some("first"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&ben_doc, "status").await, None);
    let metrics = http.get("/metrics", None).await.body;
    assert!(metrics.contains("casebook_relay_cases_over_quota 1\n"), "{metrics}");
    ana_client.stop().await;
    ben_client.stop().await;
}

#[tokio::test]
async fn shutdown_closes_sockets_and_a_restart_keeps_every_case() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let (ana, ana_client, ana_doc) = shared_case(&relay).await;
    let case = ana_doc.document_id().clone();
    put(&ana_doc, "status", "saved before the stop").await;
    let ben = http.member(&ana.token, &case.to_string(), "Ben", Role::Editor).await;
    // Wait until the relay has Ana's latest change: a fresh member sees it.
    let probe = Client::connect(&relay.handle, &ben).await;
    let probe_doc = probe.find(&case).await.unwrap();
    assert!(wait_for(&probe_doc, "status", "saved before the stop", SOON).await);
    probe.stop().await;

    let mut raw = ws_connect(&http, Some(&ana.token), false).await.unwrap();
    let stopping = tokio::spawn(relay.stop());
    assert_eq!(expect_close(&mut raw).await.map(|c| c.0), Some(1001));
    let stopped = stopping.await.unwrap();
    ana_client.stop().await;

    let relay = stopped.start_with(|_| {}).await;
    let ben_client = Client::connect(&relay.handle, &ben).await;
    let ben_doc = ben_client.find(&case).await.expect("the case survived the restart");
    assert_eq!(get(&ben_doc, "status").await.as_deref(), Some("saved before the stop"));
    ben_client.stop().await;
    relay.handle.shutdown().await;
}
