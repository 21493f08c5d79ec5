//! `casebook-server migrate --from-sled DIR --to postgres://…`: a sled relay with accounts, two shared cases,
//! an attachment and an invite is stopped and moved into a fresh PostgreSQL database; a relay on that
//! database serves every case at the same heads to fresh clients of every member, the same tokens, the
//! attachment byte for byte, the members, roles and the pending invite. A second migration into the now used
//! database, and a migration of a directory a relay holds, are refused with nothing written; the sled
//! directory is never changed.
//!
//! The source is always sled, whatever `CASEBOOK_TEST_BACKEND` says.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use casebook_core::relay_api::{
    BlobStatus, CaseHeads, CaseMembership, DeviceCredentials, Me, Member, RegisterDocument, Role,
};
use casebook_server::migrate::{MigrateError, fingerprint_postgres, fingerprint_sled, sled_to_postgres};
use casebook_server::{Config, Error, Relay, RelayHandle};
use common::{Client, Http, TestDb, files_under, heads_hex, put, wait_for};
use samod::{DocHandle, DocumentId};
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_casebook-server");
const SOON: Duration = Duration::from_secs(10);

fn hex_sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Every regular file of a directory with the SHA-256 of its bytes.
fn files_of(dir: &std::path::Path) -> BTreeMap<String, String> {
    files_under(dir).into_iter().map(|p| (p.display().to_string(), hex_sha(&std::fs::read(&p).unwrap()))).collect()
}

async fn heads(http: &Http, token: &str, case: &str) -> Vec<(String, Vec<String>)> {
    let h: CaseHeads = http.get(&format!("/v1/cases/{case}/heads"), Some(token)).await.json();
    let mut out: Vec<(String, Vec<String>)> = h.documents.into_iter().map(|d| (d.document_id, d.heads)).collect();
    out.sort();
    out
}

/// Wait until the relay reports `doc`'s heads as a device holds them.
async fn relay_holds(http: &Http, token: &str, case: &str, doc: &DocHandle) {
    let (id, want) = (doc.document_id().to_string(), heads_hex(doc));
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        if heads(http, token, case).await.iter().any(|(d, h)| *d == id && *h == want) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the relay never stored the device's heads");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn members(http: &Http, token: &str, case: &str) -> Vec<(String, String, Role)> {
    let m: Vec<Member> = http.get(&format!("/v1/cases/{case}/members"), Some(token)).await.json();
    let mut out: Vec<(String, String, Role)> = m.into_iter().map(|m| (m.account_id, m.display_name, m.role)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

async fn cases_of(http: &Http, token: &str) -> Vec<(String, Role)> {
    let c: Vec<CaseMembership> = http.get("/v1/cases", Some(token)).await.json();
    let mut out: Vec<(String, Role)> = c.into_iter().map(|c| (c.case_id, c.role)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `casebook-server migrate --from-sled DIR --to URL`, as an operator runs it.
fn migrate_cli(dir: &std::path::Path, url: &str) -> std::process::Output {
    Command::new(BIN)
        .args(["migrate", "--from-sled"])
        .arg(dir)
        .args(["--to", url])
        .env_remove("CASEBOOK_DATABASE")
        .output()
        .expect("the relay binary runs")
}

async fn sled_relay(dir: &std::path::Path) -> RelayHandle {
    Relay::start(Config::for_tests(dir)).await.unwrap()
}

async fn pg_relay(db: &TestDb, unused: &std::path::Path) -> RelayHandle {
    Relay::start(Config { database: Some(db.url.clone()), ..Config::for_tests(unused) }).await.unwrap()
}

/// What was recorded of a case before the move.
struct CaseSeen {
    id: String,
    docs: Vec<DocumentId>,
    heads: Vec<(String, Vec<String>)>,
    members: Vec<(String, String, Role)>,
    /// Each member's credentials and the value of `title` in the case document.
    creds: Vec<DeviceCredentials>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_relay_moves_into_postgres_whole() {
    let data = tempfile::tempdir().unwrap();
    let relay = sled_relay(data.path()).await;
    let http = Http::new(relay.addr());

    // Case 1: Ana owns it, Ben edits it; the case document and a second document, edited by both.
    let ana = http.create_account("Ana").await;
    let mut ana_client = Client::offline(&ana).await;
    let case1_doc = ana_client.create("title", "first").await;
    let case1 = case1_doc.document_id().to_string();
    http.register_case(&ana.token, &case1).await;
    let notes = ana_client.create("notes", "from Ana").await;
    let r = http
        .post(
            &format!("/v1/cases/{case1}/documents"),
            Some(&ana.token),
            &RegisterDocument { doc_id: notes.document_id().to_string() },
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    ana_client.dial(&relay, &ana.token);
    ana_client.established().await;
    let ben = http.member(&ana.token, &case1, "Ben", Role::Editor).await;
    let ben_client = Client::connect(&relay, &ben).await;
    let ben_case1 = ben_client.find_soon(case1_doc.document_id()).await;
    let ben_notes = ben_client.find_soon(notes.document_id()).await;
    put(&ben_case1, "title", "from Ben").await;
    put(&ben_notes, "notes", "and from Ben").await;
    assert!(wait_for(&case1_doc, "title", "from Ben", SOON).await);
    assert!(wait_for(&notes, "notes", "and from Ben", SOON).await);

    // Case 2: Ben owns it, Ana views it; an invite nobody redeemed yet.
    let mut ben_client2 = Client::offline(&ben).await;
    let case2_doc = ben_client2.create("title", "second case").await;
    let case2 = case2_doc.document_id().to_string();
    http.register_case(&ben.token, &case2).await;
    ben_client2.dial(&relay, &ben.token);
    ben_client2.established().await;
    let invite = http.invite(&ben.token, &case2, Role::Viewer).await;
    let r = http.redeem(&ana.token, &invite.code).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pending = http.invite(&ben.token, &case2, Role::Editor).await;
    put(&case2_doc, "status", "edited").await;

    // An attachment of case 1 (over two rows of the database: 600 KB in two chunks), and one upload of
    // case 2 left half done.
    let bytes: Vec<u8> = (0..600_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let sha = hex_sha(&bytes);
    for (off, part) in [(0usize, &bytes[..400_000]), (400_000, &bytes[400_000..])] {
        let path = format!("/v1/cases/{case1}/blobs/{sha}?offset={off}&size={}", bytes.len());
        let r = http.raw("PUT", &path, Some(&ana.token), Some(("application/octet-stream", part))).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let half: Vec<u8> = (0..1000u32).map(|i| b'A' + (i % 26) as u8).collect();
    let half_sha = hex_sha(&half);
    let path = format!("/v1/cases/{case2}/blobs/{half_sha}?offset=0&size={}", half.len());
    let r = http.raw("PUT", &path, Some(&ben.token), Some(("application/octet-stream", &half[..300]))).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // What the relay holds, recorded once it holds every device's latest change.
    relay_holds(&http, &ana.token, &case1, &case1_doc).await;
    relay_holds(&http, &ana.token, &case1, &notes).await;
    relay_holds(&http, &ben.token, &case2, &case2_doc).await;
    let mut seen = Vec::new();
    for (id, docs, creds) in [
        (&case1, vec![case1_doc.document_id().clone(), notes.document_id().clone()], vec![ana.clone(), ben.clone()]),
        (&case2, vec![case2_doc.document_id().clone()], vec![ben.clone(), ana.clone()]),
    ] {
        let h = heads(&http, &creds[0].token, id).await;
        assert_eq!(h.len(), docs.len());
        seen.push(CaseSeen {
            id: id.clone(),
            heads: h,
            members: members(&http, &creds[0].token, id).await,
            docs,
            creds,
        });
    }
    let ana_cases = cases_of(&http, &ana.token).await;
    let ben_cases = cases_of(&http, &ben.token).await;
    assert_eq!(ana_cases.len(), 2);
    for c in [ana_client, ben_client, ben_client2] {
        c.stop().await;
    }
    relay.shutdown().await;

    // The move, with the binary.
    let files_before = files_of(data.path());
    let db = TestDb::create();
    let out = migrate_cli(data.path(), &db.url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let source = fingerprint_sled(data.path()).unwrap();
    let target = fingerprint_postgres(&db.url).unwrap();
    assert_eq!(source, target);
    assert!(source.entries > 10 && source.files == 2 && source.file_bytes == 600_300, "{source:?}");
    assert!(stdout.contains("migrated in") && stdout.contains(&source.sha256), "{stdout}");
    assert!(stdout.contains(&format!("entries: {} ", source.entries)), "{stdout}");
    // Running it again is harmless: it is already there.
    let again = sled_to_postgres(data.path(), &db.url).unwrap();
    assert!(again.already_migrated && again.batches == 0);
    assert_eq!(again.fingerprint, source);
    assert_eq!(files_of(data.path()), files_before, "the sled directory changed");

    // A relay on the database.
    let unused = tempfile::tempdir().unwrap();
    let relay = pg_relay(&db, unused.path()).await;
    let http = Http::new(relay.addr());
    for (creds, name) in [(&ana, "Ana"), (&ben, "Ben")] {
        let me: Me = http.get("/v1/me", Some(&creds.token)).await.json();
        assert_eq!((me.display_name.as_str(), me.account_id.as_str()), (name, creds.account_id.as_str()));
    }
    assert_eq!(cases_of(&http, &ana.token).await, ana_cases);
    assert_eq!(cases_of(&http, &ben.token).await, ben_cases);
    for case in &seen {
        assert_eq!(heads(&http, &case.creds[0].token, &case.id).await, case.heads);
        assert_eq!(members(&http, &case.creds[0].token, &case.id).await, case.members);
        // A fresh device of every member syncs every document of the case to the recorded heads.
        for creds in &case.creds {
            let fresh = Client::connect(&relay, creds).await;
            for doc in &case.docs {
                let handle = fresh.find_soon(doc).await;
                let want = &case.heads.iter().find(|(d, _)| *d == doc.to_string()).unwrap().1;
                let deadline = tokio::time::Instant::now() + SOON;
                while heads_hex(&handle) != *want {
                    assert!(tokio::time::Instant::now() < deadline, "a member's fresh device never got the heads");
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
            fresh.stop().await;
        }
    }
    // The attachment, byte for byte, to a member; the half upload resumes where it stood.
    let r = http.get(&format!("/v1/cases/{case1}/blobs/{sha}"), Some(&ben.token)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.as_bytes() == &bytes[..], "the attachment changed");
    let s: BlobStatus = http.get(&format!("/v1/cases/{case2}/blobs/{half_sha}/status"), Some(&ben.token)).await.json();
    assert_eq!((s.received, s.complete), (300, false));
    let path = format!("/v1/cases/{case2}/blobs/{half_sha}?offset=300&size={}", half.len());
    let r = http.raw("PUT", &path, Some(&ben.token), Some(("application/octet-stream", &half[300..]))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json::<BlobStatus>().complete);
    // Roles: Ana views case 2 (no invites, no uploads), Ben owns it; the pending invite still works, once.
    let r = http
        .post(&format!("/v1/cases/{case2}/invites"), Some(&ana.token), &serde_json::json!({"role": "viewer"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let cleo = http.create_account("Cleo").await;
    let r = http.redeem(&cleo.token, &pending.code).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json::<CaseMembership>().role, Role::Editor);
    assert_eq!(http.redeem(&ana.token, &invite.code).await.status, 404, "a used invite stays used");
    relay.shutdown().await;

    // A second migration into the database, which now holds more than the directory: refused, nothing
    // written.
    let before = fingerprint_postgres(&db.url).unwrap();
    assert_ne!(before, source);
    match sled_to_postgres(data.path(), &db.url) {
        Err(Error::Migrate(MigrateError::TargetNotEmpty { entries, files })) => {
            assert_eq!((entries, files), (before.entries, before.files))
        }
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(fingerprint_postgres(&db.url).unwrap(), before);
    let out = migrate_cli(data.path(), &db.url);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already holds relay data") && stderr.contains("new, empty database"), "{stderr}");
    assert_eq!(files_of(data.path()), files_before, "the sled directory changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_in_use_or_missing_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let relay = sled_relay(data.path()).await;
    let http = Http::new(relay.addr());
    http.create_account("Ana").await;
    let db = TestDb::create();
    match sled_to_postgres(data.path(), &db.url) {
        Err(Error::Migrate(MigrateError::SourceInUse(dir))) => assert_eq!(dir, data.path()),
        other => panic!("not refused: {other:?}"),
    }
    let out = migrate_cli(data.path(), &db.url);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use") && stderr.contains("stop it"), "{stderr}");
    let empty = fingerprint_postgres(&db.url).unwrap();
    assert_eq!((empty.entries, empty.files), (0, 0), "something was written");
    relay.shutdown().await;

    // Stopped, it moves.
    let moved = sled_to_postgres(data.path(), &db.url).unwrap();
    assert!(!moved.already_migrated && moved.fingerprint.entries > 0);

    // A directory without a sled database is refused and left as it was.
    let nothing = tempfile::tempdir().unwrap();
    let other = TestDb::create();
    match sled_to_postgres(nothing.path(), &other.url) {
        Err(Error::Migrate(MigrateError::NoSource(_))) => {}
        other => panic!("not refused: {other:?}"),
    }
    assert!(files_under(nothing.path()).is_empty(), "a sled database was created");
}

#[test]
fn migrate_without_from_sled_still_applies_the_migrations() {
    let db = TestDb::create();
    let out = Command::new(BIN).args(["migrate", "--database", &db.url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("schema at version 1"));
    let out = Command::new(BIN).args(["migrate", "--to", &db.url]).env_remove("CASEBOOK_DATABASE").output().unwrap();
    assert!(!out.status.success(), "--to needs --from-sled");
}

#[test]
fn many_entries_and_large_files_go_in_batches_and_read_back_through_the_relays_storage() {
    use casebook_core::storage::{SledStorage, Storage, key};
    use casebook_server::PgStorage;
    use casebook_server::migrate::{BATCH_BYTES, BATCH_ENTRIES};
    use std::io::Read;

    let data = tempfile::tempdir().unwrap();
    let case = "caseA1";
    let big: Vec<u8> = (0..BATCH_BYTES as u32 + 300_000).map(|i| (i % 251) as u8).collect();
    let files: Vec<(String, Vec<u8>)> = vec![
        (format!("{case}/{}", "a".repeat(64)), big.clone()),
        (format!("{case}/{}", "b".repeat(64)), vec![7u8; 1000]),
        (format!("{case}/{}", "c".repeat(64)), Vec::new()),
        ("tmp/upload1".to_string(), vec![1u8; 10]),
    ];
    let entries = BATCH_ENTRIES * 2 + 17;
    {
        let s = SledStorage::open(data.path()).unwrap();
        for i in 0..entries {
            let value: Vec<u8> = (0..(i % 700) as u32).map(|b| (b * 7 + i as u32) as u8).collect();
            s.put(&key(["doc1", "incremental", &format!("{i:06}")]).unwrap(), &value).unwrap();
        }
        s.put(&key(["relay", "case", case]).unwrap(), b"{}").unwrap();
        for (name, bytes) in &files {
            let mut w = s.blobs().open_append(name, 0).unwrap();
            w.write(bytes).unwrap();
            w.sync().unwrap();
        }
        s.flush().unwrap();
    }
    let db = TestDb::create();
    let s = sled_to_postgres(data.path(), &db.url).unwrap();
    let f = &s.fingerprint;
    assert_eq!((f.entries, f.files), (entries as u64 + 1, files.len() as u64));
    assert_eq!(f.file_bytes, files.iter().map(|(_, b)| b.len() as u64).sum::<u64>());
    // Three statements of entries, and the files' rows over two.
    assert!(s.batches >= 5, "{s:?}");
    assert_eq!(fingerprint_postgres(&db.url).unwrap(), *f);

    // What the relay reads there.
    let pg = PgStorage::open(&db.url).unwrap();
    for i in [0, 1, BATCH_ENTRIES, entries - 1] {
        let value: Vec<u8> = (0..(i % 700) as u32).map(|b| (b * 7 + i as u32) as u8).collect();
        assert_eq!(pg.load(&key(["doc1", "incremental", &format!("{i:06}")]).unwrap()).unwrap(), Some(value));
    }
    assert_eq!(pg.keys(&key(["doc1"]).unwrap()).unwrap().len(), entries);
    for (name, bytes) in &files {
        let mut got = Vec::new();
        pg.blobs().open_read(name, 0).unwrap().expect("the file is there").read_to_end(&mut got).unwrap();
        assert!(got == *bytes, "{name} differs");
    }
    let mut tail = Vec::new();
    pg.blobs().open_read(&files[0].0, BATCH_BYTES as u64 + 1).unwrap().unwrap().read_to_end(&mut tail).unwrap();
    assert!(tail == big[BATCH_BYTES + 1..]);
}
