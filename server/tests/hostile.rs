//! Hostile members on the sync WebSocket, speaking the automerge-repo wire protocol by hand: malformed
//! changes inside well-formed sync messages (automerge 0.12 panics applying some of them) and floods of
//! tiny messages. Each is refused on its own connection while the case keeps syncing for everyone else and
//! nothing stored changes.

mod common;

use std::time::Duration;

use automerge::ReadDoc;
use automerge::sync::{Message as SyncMessage, MessageVersion};
use automerge::transaction::Transactable;
use automerge::{Change, ChangeHash};
use casebook_core::relay_api::{DeviceCredentials, RELAY_PEER_ID, Role, peer_id_for_device};
use common::{Client, TestRelay, Ws, expect_close, get, put, wait_for, ws_connect};
use futures::{SinkExt, StreamExt};
use samod::DocHandle;
use sha2::Digest;
use tokio_tungstenite::tungstenite::Message;

const SOON: Duration = Duration::from_secs(5);

/// A change found by `casebook-fuzz exchange`: seq 5 of an actor the document has never seen, no deps.
/// Its checksum is wrong as committed (the exchange import does not check it); [`with_checksum`] fixes it.
const FIXTURE: &[u8] = include_bytes!("../../core/tests/fixtures/malformed/change-panics-apply.bin");

// --- The wire protocol: CBOR maps with text keys. ---

fn join(peer: &str) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::new());
    e.map(3).unwrap();
    e.str("type").unwrap().str("join").unwrap();
    e.str("senderId").unwrap().str(peer).unwrap();
    e.str("supportedProtocolVersions").unwrap().array(1).unwrap().str("1").unwrap();
    e.into_writer()
}

fn sync(doc: &str, peer: &str, data: &[u8]) -> Vec<u8> {
    doc_message("sync", DocIdForm::Text, doc, peer, data, 0)
}

/// How a message names its document: samod reads a bs58 string or the 16 bytes of its UUID.
#[derive(Debug, Clone, Copy)]
enum DocIdForm {
    Text,
    Bytes,
}

/// A `sync` or `request` message; `padding` bytes in an extra field that samod skips.
fn doc_message(kind: &str, form: DocIdForm, doc: &str, peer: &str, data: &[u8], padding: usize) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::new());
    e.map(if padding > 0 { 6 } else { 5 }).unwrap();
    e.str("type").unwrap().str(kind).unwrap();
    e.str("documentId").unwrap();
    match form {
        DocIdForm::Text => e.str(doc).unwrap(),
        DocIdForm::Bytes => e.bytes(doc.parse::<samod::DocumentId>().unwrap().as_bytes()).unwrap(),
    };
    e.str("senderId").unwrap().str(peer).unwrap();
    e.str("targetId").unwrap().str(RELAY_PEER_ID).unwrap();
    e.str("data").unwrap().bytes(data).unwrap();
    if padding > 0 {
        e.str("padding").unwrap().bytes(&vec![0u8; padding]).unwrap();
    }
    e.into_writer()
}

/// A v1 automerge sync message announcing `heads` and carrying `changes`.
fn sync_data(heads: Vec<ChangeHash>, changes: Vec<Vec<u8>>) -> Vec<u8> {
    SyncMessage { heads, need: vec![], have: vec![], changes: changes.into(), flags: None, version: MessageVersion::V1 }
        .encode()
}

/// A raw connection as `creds`' device, handshake done.
async fn raw_peer(relay: &TestRelay, creds: &DeviceCredentials) -> Ws {
    let mut ws = ws_connect(&relay.http(), Some(&creds.token), false).await.unwrap();
    ws.send(Message::Binary(join(&peer_id_for_device(&creds.device_id)).into())).await.unwrap();
    loop {
        match tokio::time::timeout(SOON, ws.next()).await.expect("an answer to join") {
            Some(Ok(Message::Binary(b))) if b.windows(4).any(|w| w == b"peer") => return ws,
            Some(Ok(_)) => {}
            other => panic!("no `peer` answer: {other:?}"),
        }
    }
}

// --- Change chunks: magic, checksum, type, LEB128 length, body (deps, actor, seq, ...). ---

fn leb(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb(b: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    for i in 0.. {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            break;
        }
    }
    v
}

/// `(chunk type, body)` of a chunk.
fn split_chunk(chunk: &[u8]) -> (u8, Vec<u8>) {
    let mut at = 9;
    let len = read_leb(chunk, &mut at) as usize;
    (chunk[8], chunk[at..at + len].to_vec())
}

/// A chunk of `kind` around `body` with a correct checksum (the first 4 bytes of the SHA-256 of type,
/// length and body).
fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut hashed = vec![kind];
    leb(body.len() as u64, &mut hashed);
    hashed.extend(body);
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83];
    out.extend(&sha2::Sha256::digest(&hashed)[..4]);
    out.extend(hashed);
    out
}

fn with_checksum(change: &[u8]) -> Vec<u8> {
    let (kind, body) = split_chunk(change);
    chunk(kind, &body)
}

/// `change` with its sequence number replaced by `seq` (checksum recomputed).
fn with_seq(change: &[u8], seq: u64) -> Vec<u8> {
    let (kind, body) = split_chunk(change);
    let mut at = 0;
    let deps = read_leb(&body, &mut at) as usize;
    at += 32 * deps;
    let actor_len = read_leb(&body, &mut at) as usize;
    at += actor_len;
    let seq_at = at;
    read_leb(&body, &mut at);
    let mut new = body[..seq_at].to_vec();
    leb(seq, &mut new);
    new.extend(&body[at..]);
    chunk(kind, &new)
}

fn hash_of(change: &[u8]) -> ChangeHash {
    Change::try_from(change).expect("the change decodes").hash()
}

/// A well-formed change on top of `doc` by a new actor: `key = value`.
async fn change_on_top(doc: &DocHandle, key: &str, value: &str) -> Vec<u8> {
    let (key, value) = (key.to_string(), value.to_string());
    doc.with_document_async(move |d| {
        let mut fork = d.fork();
        let mut tx = fork.transaction();
        tx.put(automerge::ROOT, key, value).unwrap();
        tx.commit();
        let heads = d.get_heads();
        fork.get_changes(&heads).into_iter().next().unwrap().raw_bytes().to_vec()
    })
    .await
    .unwrap()
}

/// Ana owns a case with `title = first`, stored on the relay; Ben is an editor, connected through samod.
struct Case {
    relay: TestRelay,
    ana: DeviceCredentials,
    ana_client: Client,
    ana_doc: DocHandle,
    ben: DeviceCredentials,
    id: String,
}

async fn case(adjust: impl FnOnce(&mut casebook_server::Config)) -> Case {
    let relay = TestRelay::start_with(adjust).await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let mut ana_client = Client::offline(&ana).await;
    let ana_doc = ana_client.create("title", "first").await;
    let id = ana_doc.document_id().to_string();
    http.register_case(&ana.token, &id).await;
    ana_client.dial(&relay.handle, &ana.token);
    ana_client.established().await;
    let ben = http.member(&ana.token, &id, "Ben", Role::Editor).await;
    // Wait until the relay has the case: a member finds it.
    let probe = Client::connect(&relay.handle, &ben).await;
    probe.find(ana_doc.document_id()).await.expect("the relay has the case");
    probe.stop().await;
    Case { relay, ana, ana_client, ana_doc, ben, id }
}

/// The case still syncs both ways between Ana and a freshly connected member.
async fn still_syncs(c: &Case, marker: &str) {
    let cat = c.relay.http().member(&c.ana.token, &c.id, "Cat", Role::Editor).await;
    let cat_client = Client::connect(&c.relay.handle, &cat).await;
    let cat_doc = cat_client.find(c.ana_doc.document_id()).await.expect("the relay still serves the case");
    assert_eq!(get(&cat_doc, "title").await.as_deref(), Some("first"));
    put(&c.ana_doc, "status", marker).await;
    assert!(wait_for(&cat_doc, "status", marker, SOON).await, "a member receives Ana's edit ({marker})");
    put(&cat_doc, "reply", marker).await;
    assert!(wait_for(&c.ana_doc, "reply", marker, SOON).await, "Ana receives a member's edit ({marker})");
    cat_client.stop().await;
}

#[tokio::test]
async fn a_well_formed_change_sent_by_hand_reaches_the_other_members() {
    // The hand-written wire path really reaches samod's apply: without this, the malformed-change test
    // below would prove nothing.
    let c = case(|_| {}).await;
    let good = change_on_top(&c.ana_doc, "title", "by hand").await;
    let mut ws = raw_peer(&c.relay, &c.ben).await;
    let peer = peer_id_for_device(&c.ben.device_id);
    ws.send(Message::Binary(sync(&c.id, &peer, &sync_data(vec![hash_of(&good)], vec![good])).into())).await.unwrap();
    assert!(wait_for(&c.ana_doc, "title", "by hand", SOON).await, "Ana receives the hand-sent change");
    ws.close(None).await.unwrap();
    c.ana_client.stop().await;
}

/// The relay's stored bytes for the case, once they stop changing.
async fn settled_usage(c: &Case) -> u64 {
    let read = || async {
        let r = c.relay.http().get(&format!("/v1/cases/{}/usage", c.id), Some(&c.ana.token)).await;
        r.json::<casebook_core::relay_api::CaseUsage>().bytes
    };
    let mut last = read().await;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = read().await;
        if now == last && now > 0 {
            return now;
        }
        last = now;
    }
}

async fn metrics(c: &Case) -> String {
    c.relay.http().get("/metrics", None).await.body
}

/// A counter's value in the Prometheus text.
fn counter(metrics: &str, name: &str) -> u64 {
    metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn malformed_changes_in_sync_messages_never_break_the_relay_for_others() {
    let c = case(|_| {}).await;
    let http = c.relay.http();
    // Another family's case on the same relay: samod runs every document in one task, so before the dry
    // run one panicking change stopped this case too.
    let dan = http.create_account("Dan").await;
    let mut dan_client = Client::offline(&dan).await;
    let dan_doc = dan_client.create("title", "Dan's case").await;
    let dan_case = dan_doc.document_id().to_string();
    http.register_case(&dan.token, &dan_case).await;
    dan_client.dial(&c.relay.handle, &dan.token);
    dan_client.established().await;
    let eve = http.member(&dan.token, &dan_case, "Eve", Role::Editor).await;
    let eve_client = Client::connect(&c.relay.handle, &eve).await;
    let eve_doc = eve_client.find(dan_doc.document_id()).await.expect("Eve finds Dan's case");

    let peer = peer_id_for_device(&c.ben.device_id);
    let on_top = change_on_top(&c.ana_doc, "title", "never applied").await;
    let fixed = with_checksum(FIXTURE);
    let renumbered = with_seq(&on_top, 2);
    // An empty document only queues the renumbered change (its dependency is missing there): a dry run
    // must use the relay's own state of the document to catch it.
    let queued = std::panic::catch_unwind(|| automerge::Automerge::new().load_incremental(&renumbered));
    assert!(matches!(queued, Ok(Ok(0))), "{queued:?}");
    let before = settled_usage(&c).await;
    let refused: Vec<(&str, &str, DocIdForm, Vec<u8>)> = vec![
        // Checksum fixed: seq 5 of an unknown actor with no deps, applied at once: automerge panics.
        ("fixture with checksum", "sync", DocIdForm::Text, fixed.clone()),
        // A real change on top of the case's heads, renumbered to seq 2 of its (unknown) actor: its deps are
        // in the relay's document, so it is applied there and panics.
        ("seq 2 of an unknown actor", "sync", DocIdForm::Text, renumbered.clone()),
        // The same in a `request`, naming the document by its 16 bytes.
        ("seq 2, request, id as bytes", "request", DocIdForm::Bytes, renumbered.clone()),
    ];
    for (name, kind, form, change) in refused {
        let mut ws = raw_peer(&c.relay, &c.ben).await;
        let data = sync_data(vec![hash_of(&change)], vec![change]);
        ws.send(Message::Binary(doc_message(kind, form, &c.id, &peer, &data, 0).into())).await.unwrap();
        assert_eq!(expect_close(&mut ws).await, Some((1002, "malformed change in a sync message".into())), "{name}");
    }
    // As committed the fixture's checksum is wrong: automerge returns an error, samod drops the message
    // and the connection stays open.
    let mut ws = raw_peer(&c.relay, &c.ben).await;
    ws.send(Message::Binary(sync(&c.id, &peer, &sync_data(vec![], vec![FIXTURE.to_vec()])).into())).await.unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(500), expect_close(&mut ws)).await.is_err(), "left open");
    ws.close(None).await.unwrap();

    assert_eq!(settled_usage(&c).await, before, "nothing stored");
    let m = metrics(&c).await;
    assert_eq!(counter(&m, "casebook_relay_limit_hits_total{kind=\"protocol\"}"), 3, "{m}");
    // Every case keeps syncing, and nobody ever sees the refused changes.
    still_syncs(&c, "after the malformed changes").await;
    put(&dan_doc, "status", "still syncing").await;
    assert!(wait_for(&eve_doc, "status", "still syncing", SOON).await, "another case keeps syncing");
    let hashes = [hash_of(&fixed), hash_of(&renumbered)];
    let seen = c.ana_doc.with_document_async(move |d| hashes.iter().any(|h| d.get_change_by_hash(h).is_some()));
    assert!(!seen.await.unwrap());
    assert_eq!(get(&c.ana_doc, "title").await.as_deref(), Some("first"));
    c.ana_client.stop().await;
    dan_client.stop().await;
    eve_client.stop().await;
}

/// Send `message` until the relay closes the socket; the close frame and how many were sent.
async fn flood(ws: Ws, message: Vec<u8>, at_most: usize) -> (Option<(u16, String)>, usize) {
    let (mut tx, mut rx) = ws.split();
    let closed = tokio::spawn(async move {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.next()).await.expect("a close in time") {
                Some(Ok(Message::Close(f))) => return f.map(|f| (u16::from(f.code), f.reason.to_string())),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    });
    let mut sent = 0;
    while sent < at_most && !closed.is_finished() {
        if tx.send(Message::Binary(message.clone().into())).await.is_err() {
            break;
        }
        sent += 1;
    }
    (closed.await.unwrap(), sent)
}

#[tokio::test]
async fn a_flooding_member_is_closed_with_1008_and_the_case_keeps_syncing() {
    let c = case(|config| {
        config.sync_messages_per_sec = 100;
        config.sync_message_burst = 1_000;
    })
    .await;
    let peer = peer_id_for_device(&c.ben.device_id);
    // A tiny, valid message that samod handles without an answer: "I have exactly your heads".
    let heads = c.ana_doc.with_document_async(|d| d.get_heads()).await.unwrap();
    let tiny = sync(&c.id, &peer, &sync_data(heads, vec![]));
    let before = settled_usage(&c).await;
    let in_before = counter(&metrics(&c).await, "casebook_relay_messages_in_total");

    let started = tokio::time::Instant::now();
    let (close, sent) = flood(raw_peer(&c.relay, &c.ben).await, tiny.clone(), 100_000).await;
    let took = started.elapsed();
    assert_eq!(close, Some((1008, "inbound rate limit exceeded".into())), "after {sent} messages");
    let m = metrics(&c).await;
    let accepted = counter(&m, "casebook_relay_messages_in_total") - in_before;
    eprintln!("flood: closed after {accepted} messages accepted ({sent} sent) in {took:?}");
    // The burst, the sustained rate over the flood's duration, the join and a little slack.
    let bound = 1_000 + (100.0 * took.as_secs_f64()) as u64 + 10;
    assert!(accepted > 1_000 && accepted <= bound, "{accepted} accepted, bound {bound}");
    assert_eq!(counter(&m, "casebook_relay_limit_hits_total{kind=\"message_rate\"}"), 1, "{m}");
    assert_eq!(settled_usage(&c).await, before, "nothing stored");

    // Another member of the case syncs both ways; the flooder's own next connection starts a fresh budget.
    still_syncs(&c, "after the flood").await;
    let mut ws = raw_peer(&c.relay, &c.ben).await;
    ws.send(Message::Binary(tiny.into())).await.unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(300), expect_close(&mut ws)).await.is_err(), "left open");
    ws.close(None).await.unwrap();
    c.ana_client.stop().await;
}

#[tokio::test]
async fn a_byte_flood_is_closed_with_1008() {
    let c = case(|config| {
        config.max_message_bytes = 64 * 1024;
        config.sync_bytes_per_sec = 16 * 1024;
        config.sync_byte_burst = 0; // raised to the largest message: 64 KiB
    })
    .await;
    let peer = peer_id_for_device(&c.ben.device_id);
    let heads = c.ana_doc.with_document_async(|d| d.get_heads()).await.unwrap();
    let padded = doc_message("sync", DocIdForm::Text, &c.id, &peer, &sync_data(heads, vec![]), 8 * 1024);
    let (close, sent) = flood(raw_peer(&c.relay, &c.ben).await, padded, 10_000).await;
    assert_eq!(close, Some((1008, "inbound rate limit exceeded".into())), "after {sent} messages");
    assert!(sent >= 8, "the burst passes first ({sent} sent)");
    still_syncs(&c, "after the byte flood").await;
    c.ana_client.stop().await;
}
