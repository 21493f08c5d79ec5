//! The relay on PostgreSQL (`--database`): the storage interface and attachment files on a real server
//! (a fresh database per test, dropped after), then the relay end to end — accounts, a case two members
//! sync, an attachment, and everything still there after a restart on the same database.

mod common;

use std::io::Read;
use std::time::Duration;

use casebook_core::relay_api::{CaseHeads, Me, Role};
use casebook_core::storage::{Storage, StorageKey, key};
use casebook_server::PgStorage;
use common::{Client, Http, TestDb, heads_hex, put, wait_for, wait_for_relay_heads};

const SCHEMA_VERSION: i32 = 1;
const SOON: Duration = Duration::from_secs(5);

fn k(s: &str) -> StorageKey {
    key(s.split('/')).unwrap()
}

#[test]
fn key_value_like_every_storage() {
    let db = TestDb::create();
    let s = PgStorage::open(&db.url).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    // Migrations are idempotent (a second node starting).
    let again = PgStorage::open(&db.url).unwrap();
    assert_eq!(again.schema_version().unwrap(), SCHEMA_VERSION);

    assert_eq!(s.load(&k("a/b")).unwrap(), None);
    s.put(&k("a/b"), b"one").unwrap();
    s.put(&k("a/b"), b"two").unwrap();
    assert_eq!(again.load(&k("a/b")).unwrap().as_deref(), Some(&b"two"[..]), "committed: seen by others");
    s.delete(&k("a/b")).unwrap();
    s.delete(&k("a/b")).unwrap();
    assert_eq!(s.load(&k("a/b")).unwrap(), None);

    for key_ in ["doc/incremental/1", "doc/incremental/2", "doc/snapshot/x", "doc", "docx/incremental/1", "do/x"] {
        s.put(&k(key_), key_.as_bytes()).unwrap();
    }
    let mut got: Vec<String> = s.load_range(&k("doc")).unwrap().into_iter().map(|(k, _)| k.to_string()).collect();
    got.sort();
    assert_eq!(got, vec!["doc", "doc/incremental/1", "doc/incremental/2", "doc/snapshot/x"]);
    let mut keys: Vec<String> = s.keys(&k("doc/incremental")).unwrap().into_iter().map(|k| k.to_string()).collect();
    keys.sort();
    assert_eq!(keys, vec!["doc/incremental/1", "doc/incremental/2"]);

    let v: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    s.put(&k("bin/x"), &v).unwrap();
    assert_eq!(s.load(&k("bin/x")).unwrap().unwrap(), v);

    for i in 0..1100 {
        s.put(&k(&format!("many/{i:05}")), b"x").unwrap();
    }
    let mut seen = Vec::new();
    s.scan(&mut |key_, _| {
        seen.push(key_.to_string());
        Ok(())
    })
    .unwrap();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "in key order");
    assert_eq!(seen.len(), 6 + 1 + 1100);
}

#[test]
fn blob_files_append_resume_truncate_rename() {
    let db = TestDb::create();
    let s = PgStorage::open(&db.url).unwrap();
    let b = s.blobs();
    assert_eq!(b.size("c1/s1").unwrap(), None);
    assert!(b.open_read("c1/s1", 0).unwrap().is_none());
    assert!(b.open_append("c1/s1", 5).is_err(), "absent and not at 0");
    assert!(b.size("../etc/passwd").is_err());
    let data: Vec<u8> = (0..700_000u32).map(|i| (i % 253) as u8).collect();
    let mut w = b.open_append("c1/s1", 0).unwrap();
    w.write(&data[..300_000]).unwrap();
    w.sync().unwrap();
    assert_eq!(b.size("c1/s1").unwrap(), Some(300_000));
    // Resume where it stands; an append further on is refused.
    assert!(b.open_append("c1/s1", 400_000).is_err());
    let mut w = b.open_append("c1/s1", 300_000).unwrap();
    w.write(&data[300_000..]).unwrap();
    w.sync().unwrap();
    let mut all = Vec::new();
    b.open_read("c1/s1", 0).unwrap().unwrap().read_to_end(&mut all).unwrap();
    assert_eq!(all, data);
    let mut tail = Vec::new();
    b.open_read("c1/s1", 650_001).unwrap().unwrap().read_to_end(&mut tail).unwrap();
    assert_eq!(tail, &data[650_001..]);
    // Cut back (in the middle of a row), then appended again from there.
    b.truncate("c1/s1", 333_333).unwrap();
    assert_eq!(b.size("c1/s1").unwrap(), Some(333_333));
    let mut w = b.open_append("c1/s1", 333_333).unwrap();
    w.write(&data[333_333..]).unwrap();
    w.sync().unwrap();
    let mut all = Vec::new();
    b.open_read("c1/s1", 0).unwrap().unwrap().read_to_end(&mut all).unwrap();
    assert_eq!(all, data);
    // Opening for append at a shorter length cuts the file.
    drop(b.open_append("c1/s1", 10).unwrap());
    assert_eq!(b.size("c1/s1").unwrap(), Some(10));
    b.rename("c1/s1", "c1/s2").unwrap();
    assert_eq!((b.size("c1/s1").unwrap(), b.size("c1/s2").unwrap()), (None, Some(10)));
    let mut w = b.open_append("c2/s3", 0).unwrap();
    w.write(b"x").unwrap();
    w.sync().unwrap();
    let mut w = b.open_append("top", 0).unwrap();
    w.sync().unwrap();
    assert_eq!(b.list("c1").unwrap(), vec!["s2"]);
    assert_eq!(b.list("").unwrap(), vec!["top"]);
    b.delete("c1/s2").unwrap();
    b.delete("c1/s2").unwrap();
    assert_eq!(b.list("c1").unwrap(), Vec::<String>::new());
}

#[test]
fn a_wrong_address_is_a_clear_error() {
    let e = PgStorage::open("postgres://nobody@127.0.0.1:1/none").unwrap_err().to_string();
    assert!(e.contains("PostgreSQL"), "{e}");
    assert!(PgStorage::open("not a url").is_err());
}

async fn relay_on(db: &TestDb) -> casebook_server::RelayHandle {
    let dir = tempfile::tempdir().unwrap();
    let config = casebook_server::Config {
        database: Some(db.url.clone()),
        ..casebook_server::Config::for_tests(&dir.path().join("unused"))
    };
    casebook_server::Relay::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_serves_from_postgres_and_keeps_everything_across_a_restart() {
    let db = TestDb::create();
    let relay = relay_on(&db).await;
    let http = Http::new(relay.addr());
    assert_eq!(http.get("/readyz", None).await.status, 200);
    let ana = http.create_account("Ana").await;
    let mut ana_client = Client::offline(&ana).await;
    let ana_doc = ana_client.create("title", "first").await;
    let case = ana_doc.document_id().clone();
    http.register_case(&ana.token, &case.to_string()).await;
    ana_client.dial(&relay, &ana.token);
    ana_client.established().await;
    let ben = http.member(&ana.token, &case.to_string(), "Ben", Role::Editor).await;
    let ben_client = Client::connect(&relay, &ben).await;
    let ben_doc = ben_client.find_soon(&case).await;
    assert!(wait_for(&ben_doc, "title", "first", SOON).await);
    put(&ben_doc, "title", "from Ben").await;
    assert!(wait_for(&ana_doc, "title", "from Ben", SOON).await, "Ana receives Ben's edit through PostgreSQL");

    // An attachment in rows.
    let bytes: Vec<u8> = (0..600_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let sha: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
    };
    for (off, part) in [(0usize, &bytes[..500_000]), (500_000, &bytes[500_000..])] {
        let path = format!("/v1/cases/{case}/blobs/{sha}?offset={off}&size={}", bytes.len());
        let r = http.raw("PUT", &path, Some(&ana.token), Some(("application/octet-stream", part))).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let want = heads_hex(&ana_doc);
    let heads_path = format!("/v1/cases/{case}/heads");
    wait_for_relay_heads(&http, &ana.token, &case.to_string(), &want).await;
    ana_client.stop().await;
    ben_client.stop().await;
    relay.shutdown().await;

    // Nothing of it is in clear where it should not be: tokens are stored hashed.
    let storage = PgStorage::open(&db.url).unwrap();
    let mut stored = Vec::new();
    storage
        .scan(&mut |_, v| {
            stored.extend_from_slice(v);
            Ok(())
        })
        .unwrap();
    let text = String::from_utf8_lossy(&stored);
    assert!(!text.contains(&ana.token) && !text.contains(&ben.token), "a token is stored in clear");
    drop(storage);

    // A new relay process on the same database: accounts, memberships, the case and the file are there.
    let relay = relay_on(&db).await;
    let http = Http::new(relay.addr());
    let me: Me = http.get("/v1/me", Some(&ben.token)).await.json();
    assert_eq!(me.display_name, "Ben");
    let h: CaseHeads = http.get(&heads_path, Some(&ana.token)).await.json();
    assert_eq!(h.documents[0].heads, want);
    let r = http.get(&format!("/v1/cases/{case}/blobs/{sha}"), Some(&ben.token)).await;
    assert_eq!(r.status, 200);
    assert!(r.body.as_bytes() == &bytes[..], "the attachment came back byte for byte");
    let fresh = Client::connect(&relay, &ana).await;
    let found = fresh.find(&case).await.expect("the case syncs after the restart");
    assert!(wait_for(&found, "title", "from Ben", SOON).await);
    fresh.stop().await;
    relay.shutdown().await;
}

#[test]
fn a_database_that_stops_answering_fails_the_write_instead_of_holding_it() {
    let db = TestDb::create();
    // The relay's 10 s deadline, shortened through the URL's own options (an operator's options win).
    let s = PgStorage::open(&format!("{}?options=-c%20lock_timeout%3D300", db.url)).unwrap();
    s.put(&k("doc/incremental/a"), b"first").unwrap();
    // Another session holds the table: PostgreSQL does not answer the relay's write.
    let mut other = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let mut held = other.transaction().unwrap();
    held.batch_execute("lock table casebook_kv in access exclusive mode").unwrap();
    let started = std::time::Instant::now();
    let e = s.put(&k("doc/incremental/b"), b"second").unwrap_err().to_string();
    let waited = started.elapsed();
    assert!(e.contains("lock timeout"), "a clear error: {e}");
    assert!(waited < Duration::from_secs(5), "failed after {waited:?}, not at the deadline");
    held.rollback().unwrap();
    // Nothing stored was lost, and the next write goes through.
    let stored = |name: &str| s.load_range(&k(name)).unwrap().into_iter().map(|(_, v)| v).next();
    assert_eq!(stored("doc/incremental/a").as_deref(), Some(&b"first"[..]));
    assert_eq!(stored("doc/incremental/b"), None);
    s.put(&k("doc/incremental/b"), b"second").unwrap();
    assert_eq!(stored("doc/incremental/b").as_deref(), Some(&b"second"[..]));
}

#[tokio::test]
async fn a_database_that_does_not_answer_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = casebook_server::Config {
        database: Some("postgres://nobody@127.0.0.1:1/none".into()),
        ..casebook_server::Config::for_tests(dir.path())
    };
    let e = casebook_server::Relay::start(config).await.unwrap_err().to_string();
    assert!(e.contains("PostgreSQL"), "{e}");
}
