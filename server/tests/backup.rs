//! Online backup: `casebook_server::backup::backup` copies a serving relay's data directory (through its
//! admin socket) while clients keep writing; `restore` makes a new directory a relay starts from, with the
//! same accounts, cases, document heads and attachment bytes.

mod common;

use std::time::Duration;

use casebook_core::relay_api::{CaseHeads, Me};
use common::{Client, TestRelay, heads_hex, put, wait_for_relay_heads};
use sha2::{Digest, Sha256};

const SOON: Duration = Duration::from_secs(5);
/// Why these tests do not run on PostgreSQL.
const BACKUP_IS_SLEDS: &str = "`casebook-server backup`/`restore` copy a sled data directory (through the admin \
    socket, which a relay on PostgreSQL does not serve); PostgreSQL is backed up with pg_dump";

fn hex_sha(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_everything() {
    if common::skip_on_postgres(BACKUP_IS_SLEDS) {
        return;
    }
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let mut client = Client::offline(&ana).await;
    let doc = client.create("title", "first").await;
    let case = doc.document_id().to_string();
    http.register_case(&ana.token, &case).await;
    client.dial(&relay.handle, &ana.token);
    client.established().await;
    // An attachment of 300 KB.
    // (Text bytes: the test client reads bodies as text.)
    let bytes: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let sha = hex_sha(&bytes);
    let path = format!("/v1/cases/{case}/blobs/{sha}?offset=0&size={}", bytes.len());
    let r = http.raw("PUT", &path, Some(&ana.token), Some(("application/octet-stream", &bytes[..300_000 / 2]))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let path = format!("/v1/cases/{case}/blobs/{sha}?offset=150000&size={}", bytes.len());
    let r = http.raw("PUT", &path, Some(&ana.token), Some(("application/octet-stream", &bytes[150_000..]))).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // The relay holds Ana's edit.
    put(&doc, "title", "second").await;
    let heads_path = format!("/v1/cases/{case}/heads");
    wait_for_relay_heads(&http, &ana.token, &case, &heads_hex(&doc)).await;

    // Backups while Ana keeps typing: the relay keeps serving (its writes only wait while the database is
    // copied), and each backup verifies.
    let typing = {
        let doc = doc.clone();
        tokio::spawn(async move {
            for i in 0..200 {
                put(&doc, "typing", &format!("keystroke {i}")).await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let backups = tempfile::tempdir().unwrap();
    let data_dir = relay.dir.path().to_path_buf();
    for i in 0..3 {
        let out = backups.path().join(format!("b{i}.bin"));
        let dir = data_dir.clone();
        let sum = tokio::task::spawn_blocking(move || casebook_server::backup::backup(&dir, &out)).await.unwrap();
        let sum = sum.expect("an online backup");
        assert!(sum.entries > 5 && sum.files == 1, "{sum:?}");
    }
    typing.await.unwrap();
    // The relay was serving all along and still is (the backup went through its socket: the directory is
    // locked by the running relay).
    assert_eq!(http.get("/readyz", None).await.status, 200);

    // Once typing stopped and reached the relay, one more backup; restore it and start a relay on it.
    let want = heads_hex(&doc);
    wait_for_relay_heads(&http, &ana.token, &case, &want).await;
    let out = backups.path().join("final.bin");
    let (dir, o) = (data_dir.clone(), out.clone());
    tokio::task::spawn_blocking(move || casebook_server::backup::backup(&dir, &o)).await.unwrap().unwrap();
    let restored = backups.path().join("restored");
    let (o, r) = (out.clone(), restored.clone());
    tokio::task::spawn_blocking(move || casebook_server::backup::restore(&o, &r)).await.unwrap().unwrap();
    client.stop().await;
    relay.handle.shutdown().await;

    let config = casebook_server::Config::for_tests(&restored);
    let again = casebook_server::Relay::start(config).await.unwrap();
    let http = common::Http::new(again.addr());
    let me: Me = http.get("/v1/me", Some(&ana.token)).await.json();
    assert_eq!(me.display_name, "Ana", "the account and its token came back");
    let h: CaseHeads = http.get(&heads_path, Some(&ana.token)).await.json();
    assert_eq!(h.documents[0].heads, want, "the case came back at the heads it had");
    let r = http.get(&format!("/v1/cases/{case}/blobs/{sha}"), Some(&ana.token)).await;
    assert_eq!(r.status, 200);
    assert_eq!(hex_sha(r.body.as_bytes()), sha, "the attachment came back byte for byte");
    // A new device of the account syncs the restored case.
    let fresh = Client::connect(&again, &ana).await;
    let found = fresh.find(doc.document_id()).await.expect("the restored case syncs");
    assert!(common::wait_for(&found, "title", "second", SOON).await);
    fresh.stop().await;
    again.shutdown().await;
}

#[tokio::test]
async fn a_stopped_relay_is_backed_up_from_its_directory() {
    if common::skip_on_postgres(BACKUP_IS_SLEDS) {
        return;
    }
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let dir = relay.dir;
    relay.handle.shutdown().await;
    assert!(!dir.path().join(casebook_server::backup::ADMIN_SOCKET).exists(), "the socket goes with the relay");
    let out = dir.path().parent().unwrap().join(format!("stopped-{}.bin", std::process::id()));
    let sum = casebook_server::backup::backup(dir.path(), &out).unwrap();
    assert!(sum.entries > 0);
    let restored = tempfile::tempdir().unwrap();
    let target = restored.path().join("data");
    casebook_server::backup::restore(&out, &target).unwrap();
    std::fs::remove_file(&out).unwrap();
    let again = casebook_server::Relay::start(casebook_server::Config::for_tests(&target)).await.unwrap();
    let me: Me = common::Http::new(again.addr()).get("/v1/me", Some(&ana.token)).await.json();
    assert_eq!(me.display_name, "Ana");
    again.shutdown().await;
}
