//! Attachment blobs: content-addressed bytes of a case, uploaded in chunks and resumable both ways.
//!
//! # Storage
//! `relay/blob-meta/<case>/<sha256>`: JSON [`Meta`] (declared size, bytes received, complete, first upload
//! time). `relay/blob-data/<case>/<sha256>/<offset, 16 digits>`: one uploaded chunk (at most
//! `--max-blob-chunk-bytes`), so a blob is never one value nor whole in memory. A blob belongs to the case
//! it was uploaded to (two cases holding the same file hold two copies: nothing is learned across cases).
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
fn data_prefix(case: &str, sha: &str) -> Result<StorageKey> {
    Ok(key(["relay", "blob-data", case, sha])?)
}
fn chunk_key(case: &str, sha: &str, offset: u64) -> Result<StorageKey> {
    Ok(key(["relay", "blob-data", case, sha, &format!("{offset:016}")])?)
}

fn load_meta(raw: &dyn Storage, case: &str, sha: &str) -> Result<Option<Meta>> {
    Ok(raw.load(&meta_key(case, sha)?)?.and_then(|v| serde_json::from_slice(&v).ok()))
}

fn put_meta(raw: &dyn Storage, case: &str, sha: &str, m: &Meta) -> Result<()> {
    let v = serde_json::to_vec(m).map_err(|e| Error::Internal(e.to_string()))?;
    raw.put(&meta_key(case, sha)?, &v)?;
    Ok(())
}

fn delete_blob(raw: &dyn Storage, case: &str, sha: &str) -> Result<()> {
    for k in raw.keys(&data_prefix(case, sha)?)? {
        raw.delete(&k)?;
    }
    raw.delete(&meta_key(case, sha)?)?;
    Ok(())
}

/// The chunks of a blob as (offset, key), in order.
fn chunks(raw: &dyn Storage, case: &str, sha: &str) -> Result<Vec<(u64, StorageKey)>> {
    let mut v: Vec<(u64, StorageKey)> = raw
        .keys(&data_prefix(case, sha)?)?
        .into_iter()
        .filter_map(|k| k.to_string().rsplit('/').next().and_then(|s| s.parse().ok()).map(|o| (o, k)))
        .collect();
    v.sort_by_key(|(o, _)| *o);
    Ok(v)
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
        let mut m = match load_meta(&*raw, &case, &sha)? {
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
        if !body.is_empty() {
            raw.put(&chunk_key(&case, &sha, offset)?, &body)?;
            m.received += body.len() as u64;
        }
        if m.received == m.size {
            let mut h = Sha256::new();
            let mut at = 0u64;
            for (o, k) in chunks(&*raw, &case, &sha)? {
                let c = raw.load(&k)?.unwrap_or_default();
                if o != at {
                    at = u64::MAX;
                    break;
                }
                at += c.len() as u64;
                h.update(&c);
            }
            let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
            if at != m.size || hex != sha {
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
    let m = blocking(move || load_meta(&*raw, &case, &sha).map(|m| (sha, m))).await?;
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
    let (m, list) = blocking(move || {
        let m = load_meta(&*raw, &c2, &s2)?.filter(|m| m.complete).ok_or(Error::NotFound("no such blob"))?;
        Ok((m, chunks(&*raw, &c2, &s2)?))
    })
    .await?;
    let start = range.unwrap_or(0);
    if start > m.size {
        return Err(Error::InvalidInput("range starts after the end of the blob".into()));
    }
    // Chunks that hold bytes at or after `start`, with how much of each to skip.
    let next_offsets: Vec<u64> = list.iter().skip(1).map(|(o, _)| *o).chain(std::iter::once(m.size)).collect();
    let parts: Vec<(StorageKey, usize)> = list
        .into_iter()
        .zip(next_offsets)
        .filter(|((_, _), end)| *end > start)
        .map(|((o, k), _)| (k, start.saturating_sub(o) as usize))
        .collect();
    let stream = futures::stream::unfold(
        (parts.into_iter(), state.clone(), auth, case),
        |(mut it, st, auth, case)| async move {
            let (k, skip) = it.next()?;
            // Membership is checked before every chunk: a removed member's download stops here.
            if st.dir.role_of(&auth, &case).is_err() {
                return Some((Err(std::io::Error::other("no longer a member of the case")), (it, st, auth, case)));
            }
            let raw = st.quota.raw().clone();
            let r = tokio::task::spawn_blocking(move || raw.load(&k)).await;
            let item = match r {
                Ok(Ok(Some(c))) if skip <= c.len() => Ok(Bytes::from(c).slice(skip..)),
                _ => Err(std::io::Error::other("a chunk of the blob is unreadable")),
            };
            Some((item, (it, st, auth, case)))
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
        raw.flush()?;
        quota.refresh(&case);
        Ok(out)
    })
    .await?;
    Ok(Json(out))
}
