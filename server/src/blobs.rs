//! Attachment blobs: content-addressed bytes of a case, uploaded in chunks and resumable both ways.
//!
//! # Storage
//! The bytes are a plain file per blob, `<data dir>/attachments/<case>/<sha256>` (the storage's
//! [`BlobStore`]; not `blobs/`, which sled owns), appended to chunk by chunk and read back through a small
//! buffer, so a blob is never a database value nor whole in memory. Both path components are validated
//! ids (a case id that parses, 64 lowercase hex digits) and the blob store checks them again: no path
//! traversal. `relay/blob-meta/<case>/<sha256>` in sled: JSON [`Meta`] (declared size, bytes received,
//! complete, first upload time). A blob belongs to the case it was uploaded to (two cases holding the same
//! file hold two copies: nothing is learned across cases).
//!
//! Durability: a chunk is fsynced (and the directory, when the file is new) before the metadata counts it
//! and before the PUT is answered. Whenever the metadata is read for a write or a status, a file longer than
//! it says (bytes of a chunk never acknowledged, a crash) is cut back to it, and a missing or shorter file
//! starts the blob over (`received` 0). Blobs of the earlier layout (chunks as sled values,
//! `relay/blob-data/<case>/<sha256>/<offset>`) are moved into files at start ([`migrate_chunked_blobs`]).
//!
//! # Rules
//! Members only, exactly like documents: a non-member (and an unknown case) gets 404. Editors and owners
//! upload, every member downloads. An upload appends at the offset the relay holds (`GET …/status` says
//! where); the chunk that completes the declared size is verified against the SHA-256 (a mismatch
//! discards the blob: 400). Blob bytes count in the case quota; a blob over `--max-blob-bytes` is refused
//! (413). A download is streamed chunk by chunk and checks membership before each chunk, so a removed
//! member's download stops.
//!
//! # Collection
//! The relay cannot read references without loading documents, so the client tells it: `POST
//! …/blobs/retain` lists the blobs the case references and the relay deletes the case's other blobs,
//! except those first uploaded within the last hour (a sibling's attach whose document change has not
//! reached the relay yet).

use std::collections::BTreeSet;
use std::sync::Mutex;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use casebook_core::blob_store::BlobRead;
use casebook_core::relay_api::{BlobStatus, RetainBlobs, RetainedBlobs, Role};
use casebook_core::storage::{Storage, StorageKey, key};
use sha2::{Digest, Sha256};

use crate::api::{ApiJson, ApiPath};
use crate::auth::Authed;
use crate::error::{Error, Result};
use crate::state::AppState;

/// Blobs first uploaded less than this long ago are kept by a retain.
const RETAIN_GRACE_SECS: u64 = 3600;

/// One blob write at a time (appends and verification read-modify-write the metadata).
static WRITE: Mutex<()> = Mutex::new(());

/// What the relay holds of a blob.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Meta {
    size: u64,
    received: u64,
    complete: bool,
    created: u64,
}

fn meta_key(case: &str, sha: &str) -> Result<StorageKey> {
    Ok(key(["relay", "blob-meta", case, sha])?)
}
/// The earlier layout's chunks of a blob (only [`migrate_chunked_blobs`] and deletion look there).
fn data_prefix(case: &str, sha: &str) -> Result<StorageKey> {
    Ok(key(["relay", "blob-data", case, sha])?)
}
/// The blob store's name of a blob's file: `<case>/<sha256>` (both validated ids).
fn file_name(case: &str, sha: &str) -> String {
    format!("{case}/{sha}")
}
/// Bytes read from a blob's file at a time (hashing, download).
const READ_BYTES: usize = 128 << 10;

fn load_meta(raw: &dyn Storage, case: &str, sha: &str) -> Result<Option<Meta>> {
    Ok(raw.load(&meta_key(case, sha)?)?.and_then(|v| serde_json::from_slice(&v).ok()))
}

fn put_meta(raw: &dyn Storage, case: &str, sha: &str, m: &Meta) -> Result<()> {
    let v = serde_json::to_vec(m).map_err(|e| Error::Internal(e.to_string()))?;
    raw.put(&meta_key(case, sha)?, &v)?;
    Ok(())
}

/// Delete a blob: its metadata (and any chunk of the earlier layout), then its file.
fn delete_blob(raw: &dyn Storage, case: &str, sha: &str) -> Result<()> {
    for k in raw.keys(&data_prefix(case, sha)?)? {
        raw.delete(&k)?;
    }
    raw.delete(&meta_key(case, sha)?)?;
    raw.blobs().delete(&file_name(case, sha))?;
    Ok(())
}

/// The metadata of a blob, made to agree with its file (call with [`WRITE`] held): a file longer than
/// `received` (a chunk written but never acknowledged: a crash between the write and the metadata) is cut
/// back to it; a missing or shorter file (lost or damaged outside the relay) starts the blob over.
fn reconciled_meta(raw: &dyn Storage, case: &str, sha: &str) -> Result<Option<Meta>> {
    let Some(mut m) = load_meta(raw, case, sha)? else { return Ok(None) };
    let blobs = raw.blobs();
    let name = file_name(case, sha);
    let len = blobs.size(&name)?.unwrap_or(0);
    if len > m.received {
        blobs.truncate(&name, m.received)?;
    } else if len < m.received {
        tracing::warn!(case_id = case, "a blob's file is shorter than its metadata: the blob starts over");
        blobs.delete(&name)?;
        m.received = 0;
        m.complete = false;
        put_meta(raw, case, sha, &m)?;
        raw.flush()?;
    }
    Ok(Some(m))
}

/// SHA-256 (hex) and length of what `r` yields, through a small buffer.
fn hash_of(mut r: impl std::io::Read) -> std::io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; READ_BYTES];
    let mut n = 0u64;
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => {
                h.update(&buf[..k]);
                n += k as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((h.finalize().iter().map(|b| format!("{b:02x}")).collect(), n))
}

/// Move blobs of the earlier layout (chunks as sled values, `relay/blob-data/<case>/<sha256>/<offset>`)
/// into files, once: each blob's chunks are copied in order (as far as they are contiguous and its
/// metadata counts), the file is fsynced, the metadata records what it holds, then the chunks are deleted.
/// Safe to run again after a crash at any point. Returns how many blobs were moved.
pub(crate) fn migrate_chunked_blobs(raw: &dyn Storage) -> Result<usize> {
    let mut blobs_found = BTreeSet::new();
    for k in raw.keys(&key(["relay", "blob-data"])?)? {
        let s = k.to_string();
        let parts: Vec<&str> = s.split('/').collect();
        if let [_, _, case, sha, _] = parts[..]
            && (1..=64).contains(&case.len())
            && case.bytes().all(|b| b.is_ascii_alphanumeric())
            && path_sha(sha).is_ok()
        {
            blobs_found.insert((case.to_string(), sha.to_string()));
        }
    }
    let blobs = raw.blobs();
    let mut moved = 0;
    for (case, sha) in blobs_found {
        let Some(mut m) = load_meta(raw, &case, &sha)? else {
            delete_blob(raw, &case, &sha)?;
            continue;
        };
        let mut chunks: Vec<(u64, StorageKey)> = raw
            .keys(&data_prefix(&case, &sha)?)?
            .into_iter()
            .filter_map(|k| k.to_string().rsplit('/').next().and_then(|s| s.parse().ok()).map(|o| (o, k)))
            .collect();
        chunks.sort_by_key(|(o, _)| *o);
        let name = file_name(&case, &sha);
        let mut file = blobs.open_append(&name, 0)?;
        let mut held = 0u64;
        for (o, k) in &chunks {
            if *o != held || held >= m.received {
                break;
            }
            let Some(c) = raw.load(k)? else { break };
            let take = (c.len() as u64).min(m.received - held) as usize;
            file.write(&c[..take])?;
            held += take as u64;
        }
        file.sync()?;
        drop(file);
        m.complete = m.complete && held == m.size;
        m.received = held;
        put_meta(raw, &case, &sha, &m)?;
        raw.flush()?;
        for (_, k) in chunks {
            raw.delete(&k)?;
        }
        raw.flush()?;
        moved += 1;
    }
    Ok(moved)
}

/// Bytes of attachment blobs a case holds on the relay (what the quota counts).
pub(crate) fn case_blob_bytes(raw: &dyn Storage, case: &str) -> u64 {
    let Ok(prefix) = key(["relay", "blob-meta", case]) else { return 0 };
    match raw.load_range(&prefix) {
        Ok(entries) => {
            entries.iter().filter_map(|(_, v)| serde_json::from_slice::<Meta>(v).ok()).map(|m| m.received).sum()
        }
        Err(e) => {
            tracing::warn!(case_id = case, error = %e, "cannot count the blob bytes of a case");
            0
        }
    }
}

fn status(sha: &str, m: Option<Meta>) -> BlobStatus {
    BlobStatus {
        sha256: sha.to_string(),
        size: m.map(|m| m.size).unwrap_or(0),
        received: m.map(|m| m.received).unwrap_or(0),
        complete: m.is_some_and(|m| m.complete),
    }
}

/// A case id from a path: malformed ids are unknown cases.
fn path_case(case_id: &str) -> Result<String> {
    if case_id.len() > 64 {
        return Err(Error::NotFound("no such case"));
    }
    use std::str::FromStr;
    samod::DocumentId::from_str(case_id.trim()).map(|d| d.to_string()).map_err(|_| Error::NotFound("no such case"))
}

fn path_sha(sha: &str) -> Result<String> {
    if sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(sha.to_string())
    } else {
        Err(Error::InvalidInput("a blob is named by its SHA-256 in 64 lowercase hex digits".into()))
    }
}

fn query_u64(query: Option<&str>, name: &str) -> Result<Option<u64>> {
    let Some(q) = query else { return Ok(None) };
    for pair in q.split('&') {
        if let Some(v) = pair.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return v.parse().map(Some).map_err(|_| Error::InvalidInput(format!("{name} must be a number")));
        }
    }
    Ok(None)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Internal(format!("blob task failed: {e}")))?
}

/// `PUT /v1/cases/{case_id}/blobs/{sha256}?offset=N&size=S`: append one chunk.
pub(crate) async fn put_blob(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ApiPath((case_id, sha)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
    body: std::result::Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<BlobStatus>> {
    let case = path_case(&case_id)?;
    if state.dir.role_of(&auth, &case)? == Role::Viewer {
        return Err(Error::Forbidden("viewers cannot add attachments"));
    }
    let sha = path_sha(&sha)?;
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge(format!("a blob chunk is at most {} bytes", state.config.max_blob_chunk_bytes))
        } else {
            Error::InvalidInput("unreadable body".into())
        }
    })?;
    let offset = query_u64(query.as_deref(), "offset")?.ok_or(Error::InvalidInput("offset is required".into()))?;
    let size = query_u64(query.as_deref(), "size")?.ok_or(Error::InvalidInput("size is required".into()))?;
    if size > state.config.max_blob_bytes {
        return Err(Error::TooLarge(format!("an attachment is at most {} bytes", state.config.max_blob_bytes)));
    }
    let raw = state.quota.raw().clone();
    let quota = state.quota.clone();
    let now = state.now();
    let st = state.clone();
    let out = blocking(move || {
        let _one = WRITE.lock().unwrap_or_else(|e| e.into_inner());
        let blobs = raw.blobs();
        let name = file_name(&case, &sha);
        let mut m = match reconciled_meta(&*raw, &case, &sha)? {
            Some(m) if m.size == size => m,
            Some(m) if m.complete => return Ok(status(&sha, Some(m))),
            Some(_) => {
                if offset != 0 {
                    return Err(Error::Conflict("the blob's size differs from its first upload: start over"));
                }
                delete_blob(&*raw, &case, &sha)?;
                Meta { size, received: 0, complete: false, created: now }
            }
            None => Meta { size, received: 0, complete: false, created: now },
        };
        if m.complete {
            return Ok(status(&sha, Some(m)));
        }
        if m.received == 0 && offset == 0 {
            // A new blob must fit in the quota whole.
            let limit = quota.limit();
            if limit > 0 && quota.case_usage(&case).saturating_add(size) > limit {
                st.metrics.limit_hit(crate::metrics::LimitKind::CaseQuota);
                return Err(Error::QuotaExceeded);
            }
        }
        if offset != m.received {
            if offset < m.received && offset + body.len() as u64 <= m.received {
                // A chunk the relay already holds (its answer was lost): nothing to do.
                return Ok(status(&sha, Some(m)));
            }
            return Err(Error::Conflict("the offset is not where the upload stands: ask for its status"));
        }
        if m.received + body.len() as u64 > m.size {
            return Err(Error::InvalidInput("more bytes than the declared size".into()));
        }
        if !body.is_empty() || m.received == 0 {
            // Durable before the metadata counts it and before the answer acknowledges it.
            let mut file = blobs.open_append(&name, offset)?;
            file.write(&body)?;
            file.sync()?;
            m.received += body.len() as u64;
        }
        if m.received == m.size {
            let verified = match blobs.open_read(&name, 0)? {
                Some(r) => hash_of(std::io::Read::take(r, m.size)).is_ok_and(|(h, n)| n == m.size && h == sha),
                None => false,
            };
            if !verified {
                delete_blob(&*raw, &case, &sha)?;
                raw.flush()?;
                quota.refresh(&case);
                return Err(Error::InvalidInput(
                    "the bytes do not match their SHA-256; the upload was discarded".into(),
                ));
            }
            m.complete = true;
        }
        put_meta(&*raw, &case, &sha, &m)?;
        raw.flush()?;
        if m.complete {
            quota.refresh(&case);
        }
        Ok(status(&sha, Some(m)))
    })
    .await?;
    Ok(Json(out))
}

/// `GET /v1/cases/{case_id}/blobs/{sha256}/status`.
pub(crate) async fn blob_status(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ApiPath((case_id, sha)): ApiPath<(String, String)>,
) -> Result<Json<BlobStatus>> {
    let case = path_case(&case_id)?;
    state.dir.role_of(&auth, &case)?;
    let sha = path_sha(&sha)?;
    let raw = state.quota.raw().clone();
    let m = blocking(move || {
        let _one = WRITE.lock().unwrap_or_else(|e| e.into_inner());
        reconciled_meta(&*raw, &case, &sha).map(|m| (sha, m))
    })
    .await?;
    Ok(Json(status(&m.0, m.1)))
}

/// `GET /v1/cases/{case_id}/blobs/{sha256}` with an optional `Range: bytes=N-`.
pub(crate) async fn get_blob(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ApiPath((case_id, sha)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let case = path_case(&case_id)?;
    state.dir.role_of(&auth, &case)?;
    let sha = path_sha(&sha)?;
    let range = match headers.get(header::RANGE) {
        None => None,
        Some(v) => {
            let s = v.to_str().unwrap_or("");
            let n = s
                .strip_prefix("bytes=")
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or(Error::InvalidInput("only Range: bytes=N- is supported".into()))?;
            Some(n)
        }
    };
    let raw = state.quota.raw().clone();
    let (c2, s2) = (case.clone(), sha.clone());
    let (m, file) = blocking(move || {
        let m = load_meta(&*raw, &c2, &s2)?.filter(|m| m.complete).ok_or(Error::NotFound("no such blob"))?;
        let blobs = raw.blobs();
        let name = file_name(&c2, &s2);
        if blobs.size(&name)?.is_none_or(|len| len < m.size) {
            tracing::warn!(case_id = %c2, "a complete blob's file is missing or short: not served");
            return Err(Error::NotFound("no such blob"));
        }
        let start = range.unwrap_or(0).min(m.size);
        let file = blobs.open_read(&name, start)?.ok_or(Error::NotFound("no such blob"))?;
        Ok((m, file))
    })
    .await?;
    let start = range.unwrap_or(0);
    if start > m.size {
        return Err(Error::InvalidInput("range starts after the end of the blob".into()));
    }
    // The file from `start`, READ_BYTES at a time (each read on a blocking thread).
    struct Left {
        file: Option<BlobRead>,
        remaining: u64,
    }
    let stream = futures::stream::unfold(
        (Left { file: Some(file), remaining: m.size - start }, state.clone(), auth, case),
        |(mut left, st, auth, case)| async move {
            if left.remaining == 0 {
                return None;
            }
            let mut file = left.file.take()?;
            // Membership is checked before every read: a removed member's download stops here.
            if st.dir.role_of(&auth, &case).is_err() {
                let e = std::io::Error::other("no longer a member of the case");
                return Some((Err(e), (left, st, auth, case)));
            }
            let want = left.remaining.min(READ_BYTES as u64) as usize;
            let r = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; want];
                let mut got = 0;
                while got < want {
                    match std::io::Read::read(&mut file, &mut buf[got..]) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                buf.truncate(got);
                Ok((file, buf))
            })
            .await;
            let item = match r {
                Ok(Ok((file, buf))) if !buf.is_empty() => {
                    left.remaining -= buf.len() as u64;
                    left.file = Some(file);
                    Ok(Bytes::from(buf))
                }
                _ => Err(std::io::Error::other("the blob's file is unreadable")),
            };
            Some((item, (left, st, auth, case)))
        },
    );
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&(m.size - start).to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if range.is_some() {
        let end = m.size.saturating_sub(1);
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{}", m.size)) {
            h.insert(header::CONTENT_RANGE, v);
        }
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(resp)
}

/// `POST /v1/cases/{case_id}/blobs/retain`: delete the case's blobs not listed (older than the grace).
pub(crate) async fn retain_blobs(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ApiPath(case_id): ApiPath<String>,
    ApiJson(body): ApiJson<RetainBlobs>,
) -> Result<Json<RetainedBlobs>> {
    let case = path_case(&case_id)?;
    if state.dir.role_of(&auth, &case)? == Role::Viewer {
        return Err(Error::Forbidden("viewers cannot remove attachments"));
    }
    let keep: BTreeSet<String> = body.sha256.into_iter().collect();
    let raw = state.quota.raw().clone();
    let quota = state.quota.clone();
    let now = state.now();
    let out = blocking(move || {
        let _one = WRITE.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = RetainedBlobs { deleted: 0, freed_bytes: 0 };
        for (k, v) in raw.load_range(&key(["relay", "blob-meta", &case])?)? {
            let Some(sha) = k.to_string().rsplit('/').next().map(str::to_string) else { continue };
            let Ok(m) = serde_json::from_slice::<Meta>(&v) else { continue };
            if keep.contains(&sha) || now.saturating_sub(m.created) < RETAIN_GRACE_SECS {
                continue;
            }
            delete_blob(&*raw, &case, &sha)?;
            out.deleted += 1;
            out.freed_bytes += m.received;
        }
        // Files without metadata (a crash between a first chunk and its metadata): never acknowledged.
        let blobs = raw.blobs();
        for sha in blobs.list(&case)? {
            if path_sha(&sha).is_ok() && load_meta(&*raw, &case, &sha)?.is_none() {
                blobs.delete(&file_name(&case, &sha))?;
            }
        }
        raw.flush()?;
        quota.refresh(&case);
        Ok(out)
    })
    .await?;
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use casebook_core::storage::SledStorage;

    const CASE: &str = "2W7hUGUKr7oAmKDYR6cdv8c6Wko6";

    fn sha() -> String {
        "ab".repeat(32)
    }

    fn write_file(raw: &dyn Storage, bytes: &[u8]) {
        let mut f = raw.blobs().open_append(&file_name(CASE, &sha()), 0).unwrap();
        f.write(bytes).unwrap();
        f.sync().unwrap();
    }

    #[test]
    fn a_file_longer_than_its_metadata_is_cut_back_and_a_short_one_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let raw = SledStorage::open(dir.path()).unwrap();
        let m = Meta { size: 100, received: 10, complete: false, created: 1 };
        put_meta(&raw, CASE, &sha(), &m).unwrap();
        // A crash after a chunk reached the file and before the metadata counted it.
        write_file(&raw, &[7; 30]);
        let got = reconciled_meta(&raw, CASE, &sha()).unwrap().unwrap();
        assert_eq!(got.received, 10);
        assert_eq!(raw.blobs().size(&file_name(CASE, &sha())).unwrap(), Some(10));
        assert!(std::fs::metadata(dir.path().join("attachments").join(CASE).join(sha())).unwrap().len() == 10);
        // A file lost outside the relay: the blob starts over, and the metadata says so.
        raw.blobs().delete(&file_name(CASE, &sha())).unwrap();
        let got = reconciled_meta(&raw, CASE, &sha()).unwrap().unwrap();
        assert_eq!((got.received, got.complete), (0, false));
        assert_eq!(load_meta(&raw, CASE, &sha()).unwrap().unwrap().received, 0);
        // No metadata: nothing.
        assert!(reconciled_meta(&raw, CASE, &"cd".repeat(32)).unwrap().is_none());
    }

    #[test]
    fn chunks_of_the_earlier_layout_move_into_files() {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = (0..40u8).collect();
        let hex: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        {
            let raw = SledStorage::open(dir.path()).unwrap();
            for (o, c) in [(0u64, &bytes[..16]), (16, &bytes[16..])] {
                raw.put(&key(["relay", "blob-data", CASE, &hex, &format!("{o:016}")]).unwrap(), c).unwrap();
            }
            put_meta(&raw, CASE, &hex, &Meta { size: 40, received: 40, complete: true, created: 1 }).unwrap();
            // Chunks without metadata: dropped.
            raw.put(&key(["relay", "blob-data", CASE, &sha(), &format!("{:016}", 0)]).unwrap(), b"x").unwrap();
            raw.flush().unwrap();
        }
        let raw = SledStorage::open(dir.path()).unwrap();
        assert_eq!(migrate_chunked_blobs(&raw).unwrap(), 1);
        assert!(raw.keys(&key(["relay", "blob-data"]).unwrap()).unwrap().is_empty());
        assert_eq!(std::fs::read(dir.path().join("attachments").join(CASE).join(&hex)).unwrap(), bytes);
        let m = load_meta(&raw, CASE, &hex).unwrap().unwrap();
        assert!(m.complete && m.received == 40);
        assert_eq!(migrate_chunked_blobs(&raw).unwrap(), 0);
        assert_eq!(case_blob_bytes(&raw, CASE), 40);
    }
}
