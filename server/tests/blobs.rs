//! Attachment blobs on the relay: chunked, resumable uploads; members only; the quota counts them.

mod common;

use casebook_core::relay_api::{BlobStatus, RetainBlobs, RetainedBlobs, Role};
use common::{Http, TestRelay};
use sha2::{Digest, Sha256};

fn case_id() -> String {
    casebook_core::DocId::random().to_string()
}

/// Printable bytes (the test client reads bodies as text).
fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'a' + (x % 26) as u8
        })
        .collect()
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|b| format!("{b:02x}")).collect()
}

async fn put(http: &Http, token: &str, case: &str, sha: &str, offset: u64, size: u64, body: &[u8]) -> common::Resp {
    let path = format!("/v1/cases/{case}/blobs/{sha}?offset={offset}&size={size}");
    http.raw("PUT", &path, Some(token), Some(("application/octet-stream", body))).await
}

async fn status(http: &Http, token: &str, case: &str, sha: &str) -> common::Resp {
    http.get(&format!("/v1/cases/{case}/blobs/{sha}/status"), Some(token)).await
}

#[tokio::test]
async fn chunked_upload_resumes_and_downloads() {
    let relay = TestRelay::start_with(|c| c.max_blob_chunk_bytes = 64 * 1024).await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let case = case_id();
    http.register_case(&ana.token, &case).await;
    let bytes = data(200_000, 1);
    let h = sha(&bytes);
    let size = bytes.len() as u64;

    // Nothing yet.
    let s: BlobStatus = status(&http, &ana.token, &case, &h).await.json();
    assert_eq!((s.received, s.complete), (0, false));
    // Two chunks, then a "cut": the client asks where the relay stands and resumes.
    let r = put(&http, &ana.token, &case, &h, 0, size, &bytes[..60_000]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = put(&http, &ana.token, &case, &h, 60_000, size, &bytes[60_000..120_000]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A chunk larger than the chunk limit is refused.
    let r = put(&http, &ana.token, &case, &h, 120_000, size, &bytes[120_000..]).await;
    assert_eq!(r.status, 413, "{}", r.body);
    // A chunk at the wrong offset is a conflict.
    let r = put(&http, &ana.token, &case, &h, 100_000, size, &bytes[100_000..150_000]).await;
    assert_eq!(r.status, 409, "{}", r.body);
    // A chunk the relay already holds (a lost answer) is fine.
    let r = put(&http, &ana.token, &case, &h, 60_000, size, &bytes[60_000..120_000]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s: BlobStatus = status(&http, &ana.token, &case, &h).await.json();
    assert_eq!((s.size, s.received, s.complete), (size, 120_000, false));
    let head = http.raw("HEAD", &format!("/v1/cases/{case}/blobs/{h}/status"), Some(&ana.token), None).await;
    assert_eq!(head.status, 200);
    // Not downloadable until complete.
    assert_eq!(http.get(&format!("/v1/cases/{case}/blobs/{h}"), Some(&ana.token)).await.status, 404);
    let r = put(&http, &ana.token, &case, &h, 120_000, size, &bytes[120_000..180_000]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = put(&http, &ana.token, &case, &h, 180_000, size, &bytes[180_000..]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s: BlobStatus = r.json();
    assert!(s.complete);

    let r = http.get(&format!("/v1/cases/{case}/blobs/{h}"), Some(&ana.token)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_bytes(), &bytes[..]);
}

#[tokio::test]
async fn a_hash_mismatch_is_refused_and_discarded() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let case = case_id();
    http.register_case(&ana.token, &case).await;
    let bytes = data(1000, 2);
    let wrong = sha(b"something else");
    let r = put(&http, &ana.token, &case, &wrong, 0, 1000, &bytes).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("SHA-256"));
    let s: BlobStatus = status(&http, &ana.token, &case, &wrong).await.json();
    assert_eq!((s.received, s.complete), (0, false));
    // A malformed name is refused.
    let r = put(&http, &ana.token, &case, "ABC", 0, 3, b"abc").await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn members_only_viewers_download_only_removed_members_refused() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let case = case_id();
    http.register_case(&ana.token, &case).await;
    let viewer = http.member(&ana.token, &case, "Val", Role::Viewer).await;
    let editor = http.member(&ana.token, &case, "Ed", Role::Editor).await;
    let stranger = http.create_account("Eve").await;
    let bytes = data(5000, 3);
    let h = sha(&bytes);

    // Non-members: 404 exactly as for a case that does not exist.
    let unknown = case_id();
    for (c, tok) in [(&case, &stranger.token), (&unknown, &ana.token)] {
        assert_eq!(put(&http, tok, c, &h, 0, 5000, &bytes).await.status, 404);
        assert_eq!(status(&http, tok, c, &h).await.status, 404);
        assert_eq!(http.get(&format!("/v1/cases/{c}/blobs/{h}"), Some(tok)).await.status, 404);
    }
    // Viewers cannot upload.
    assert_eq!(put(&http, &viewer.token, &case, &h, 0, 5000, &bytes).await.status, 403);
    // Editors can; viewers download.
    assert_eq!(put(&http, &editor.token, &case, &h, 0, 5000, &bytes).await.status, 200);
    let r = http.get(&format!("/v1/cases/{case}/blobs/{h}"), Some(&viewer.token)).await;
    assert_eq!((r.status, r.body.as_bytes()), (200, &bytes[..]));
    // The same blob in another case is not reachable through it.
    let other = case_id();
    http.register_case(&ana.token, &other).await;
    assert_eq!(http.get(&format!("/v1/cases/{other}/blobs/{h}"), Some(&ana.token)).await.status, 404);
    // A removed member is refused.
    let r = http.delete(&format!("/v1/cases/{case}/members/{}", viewer.account_id), Some(&ana.token)).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(http.get(&format!("/v1/cases/{case}/blobs/{h}"), Some(&viewer.token)).await.status, 404);
    // Viewers cannot collect either.
    let editor_retain = http
        .post(&format!("/v1/cases/{case}/blobs/retain"), Some(&editor.token), &RetainBlobs { sha256: vec![] })
        .await;
    assert_eq!(editor_retain.status, 200, "{}", editor_retain.body);
    let kept: RetainedBlobs = editor_retain.json();
    assert_eq!(kept.deleted, 0, "a blob uploaded within the hour is kept");
}

#[tokio::test]
async fn the_quota_and_the_per_file_limit_count_blobs() {
    let relay = TestRelay::start_with(|c| {
        c.case_quota_bytes = 300_000;
        c.max_blob_bytes = 200_000;
    })
    .await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let case = case_id();
    http.register_case(&ana.token, &case).await;
    let big = data(200_001, 4);
    let r = put(&http, &ana.token, &case, &sha(&big), 0, big.len() as u64, &big[..1000]).await;
    assert_eq!(r.status, 413, "{}", r.body);

    let a = data(150_000, 5);
    assert_eq!(put(&http, &ana.token, &case, &sha(&a), 0, a.len() as u64, &a).await.status, 200);
    let usage: casebook_core::relay_api::CaseUsage =
        http.get(&format!("/v1/cases/{case}/usage"), Some(&ana.token)).await.json();
    assert!(usage.bytes >= 150_000, "{usage:?}");
    let b = data(180_000, 6);
    let r = put(&http, &ana.token, &case, &sha(&b), 0, b.len() as u64, &b).await;
    assert_eq!(r.status, 507, "{}", r.body);
    assert_eq!(r.error_code(), "quota_exceeded");
}
