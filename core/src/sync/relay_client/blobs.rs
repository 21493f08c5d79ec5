//! Attachment blobs over the relay's HTTP API: chunked, resumable uploads and downloads that retry with
//! backoff within a deadline (a connection that drops every few seconds still gets a 50 MB scan through).

use std::io::Read;
use std::time::{Duration, Instant};

use crate::ids::CaseId;
use crate::model::attachment::BlobWriter;
use crate::relay_api::{BlobStatus, RetainBlobs, RetainedBlobs};

use super::{RelayClient, SyncError, SyncResult, api_error, check, segment, transport_error};

/// How a blob transfer behaves.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// Bytes per upload request (the relay's `--max-blob-chunk-bytes`, 1 MiB by default, must allow it).
    pub chunk_bytes: usize,
    /// Give up (with the last error) when this much time has passed without finishing.
    pub deadline: Duration,
    /// First wait after a failure; doubles up to [`TransferOptions::max_backoff`].
    pub first_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            chunk_bytes: 1 << 20,
            deadline: Duration::from_secs(600),
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Whether a failure is worth another attempt (network, relay trouble, a stale offset).
fn retryable(e: &SyncError) -> bool {
    e.is_transient() || matches!(e, SyncError::Conflict { .. } | SyncError::Server(_) | SyncError::Network(_))
}

struct Backoff {
    next: Duration,
    max: Duration,
    until: Instant,
}

impl Backoff {
    fn new(o: &TransferOptions) -> Self {
        Backoff { next: o.first_backoff, max: o.max_backoff, until: Instant::now() + o.deadline }
    }
    /// Wait before the next attempt, or give `e` back when the deadline has passed.
    fn wait(&mut self, e: SyncError) -> SyncResult<()> {
        let now = Instant::now();
        if now >= self.until || !retryable(&e) {
            return Err(e);
        }
        std::thread::sleep(self.next.min(self.until - now));
        self.next = (self.next * 2).min(self.max);
        Ok(())
    }
    fn reset(&mut self, o: &TransferOptions) {
        self.next = o.first_backoff;
    }
}

fn io_local(e: std::io::Error) -> SyncError {
    SyncError::Local(std::sync::Arc::new(crate::Error::Storage(crate::storage::StorageError::Io(e.to_string()))))
}

impl RelayClient {
    /// An agent for blob transfers: no whole-request timeout (a large file takes long), bounded phases.
    fn blob_agent(&self) -> ureq::Agent {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(None)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_send_request(Some(Duration::from_secs(30)))
            .timeout_send_body(Some(Duration::from_secs(60)))
            .timeout_recv_response(Some(Duration::from_secs(30)))
            .timeout_recv_body(Some(Duration::from_secs(120)))
            .max_redirects(0)
            .user_agent(concat!("casebook/", env!("CARGO_PKG_VERSION")))
            .build();
        ureq::Agent::new_with_config(config)
    }

    fn blob_path(case_id: &CaseId, sha256: &str) -> String {
        format!("/v1/cases/{}/blobs/{}", segment(case_id.as_str()), segment(sha256))
    }

    fn bearer(&self) -> SyncResult<String> {
        Ok(format!("Bearer {}", self.token.as_deref().ok_or(SyncError::Unauthorized)?))
    }

    /// `GET /v1/cases/{case}/blobs/{sha256}/status`: what the relay holds of a blob.
    pub fn blob_status(&self, case_id: &CaseId, sha256: &str) -> SyncResult<BlobStatus> {
        self.json::<(), _>(ureq::http::Method::GET, &format!("{}/status", Self::blob_path(case_id, sha256)), None, true)
    }

    /// `POST /v1/cases/{case}/blobs/retain`: the relay deletes the case's blobs not listed (those uploaded
    /// within the last hour excepted). Editors and owners.
    pub fn retain_blobs(&self, case_id: &CaseId, sha256: Vec<String>) -> SyncResult<RetainedBlobs> {
        let path = format!("/v1/cases/{}/blobs/retain", segment(case_id.as_str()));
        self.json(ureq::http::Method::POST, &path, Some(&RetainBlobs { sha256 }), true)
    }

    /// Upload blob `sha256` of `size` bytes to a case, from where the relay stands: `open_at(offset)` gives a
    /// reader of the blob from `offset` (for example [`crate::model::attachment::BlobReader::open`]). After
    /// a failure (network, relay, a stale offset) it asks the relay where the upload stands and resumes,
    /// with backoff, until `options.deadline`. `progress(done, total)` follows each chunk. Returns the
    /// relay's final status (complete: the relay verified the hash).
    pub fn upload_blob(
        &self,
        case_id: &CaseId,
        sha256: &str,
        size: u64,
        mut open_at: impl FnMut(u64) -> std::io::Result<Box<dyn Read>>,
        options: &TransferOptions,
        mut progress: impl FnMut(u64, u64),
    ) -> SyncResult<BlobStatus> {
        let agent = self.blob_agent();
        let auth = self.bearer()?;
        let mut backoff = Backoff::new(options);
        let mut buf = vec![0u8; options.chunk_bytes.max(1)];
        'resume: loop {
            let status = match self.blob_status(case_id, sha256) {
                Ok(s) => s,
                Err(e) => {
                    backoff.wait(e)?;
                    continue;
                }
            };
            if status.complete {
                progress(size, size);
                return Ok(status);
            }
            let mut pos = if status.size == size { status.received } else { 0 };
            progress(pos, size);
            let mut reader = open_at(pos).map_err(io_local)?;
            loop {
                let mut filled = 0;
                while filled < buf.len() && pos + (filled as u64) < size {
                    match reader.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(io_local(e)),
                    }
                }
                let take = filled.min((size - pos) as usize);
                if take == 0 && pos < size {
                    return Err(io_local(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the blob on this device is shorter than its size",
                    )));
                }
                let url = format!("{}{}?offset={pos}&size={size}", self.url(""), Self::blob_path(case_id, sha256));
                let req = ureq::http::Request::builder()
                    .method(ureq::http::Method::PUT)
                    .uri(url)
                    .header("Authorization", auth.as_str())
                    .header("Accept", "application/json")
                    .header("Content-Type", "application/octet-stream")
                    .body(buf[..take].to_vec())
                    .map_err(|e| SyncError::InvalidInput { reason: e.to_string() })?;
                let answer = agent.run(req).map_err(transport_error).and_then(check).and_then(|mut r| {
                    let b = r.body_mut().with_config().limit(1 << 20).read_to_vec().map_err(transport_error)?;
                    serde_json::from_slice::<BlobStatus>(&b)
                        .map_err(|e| SyncError::Server(format!("unexpected response: {e}")))
                });
                match answer {
                    Ok(s) => {
                        backoff.reset(options);
                        if s.complete {
                            progress(size, size);
                            return Ok(s);
                        }
                        if s.received != pos + take as u64 {
                            continue 'resume;
                        }
                        pos = s.received;
                        progress(pos, size);
                    }
                    Err(e) => {
                        backoff.wait(e)?;
                        continue 'resume;
                    }
                }
            }
        }
    }

    /// Download blob `sha256` of a case into `writer`, resuming from what the device holds
    /// ([`BlobWriter::received`]) with `Range: bytes=N-` after every failure, with backoff until
    /// `options.deadline`; the whole blob is verified against its hash at the end ([`BlobWriter::finish`]).
    /// `progress(done, total)` follows the bytes.
    pub fn download_blob(
        &self,
        case_id: &CaseId,
        sha256: &str,
        mut writer: BlobWriter,
        options: &TransferOptions,
        mut progress: impl FnMut(u64, u64),
    ) -> SyncResult<()> {
        let agent = self.blob_agent();
        let auth = self.bearer()?;
        let mut backoff = Backoff::new(options);
        let size = writer.size();
        let mut buf = vec![0u8; 256 << 10];
        while writer.received() < size {
            let from = writer.received();
            progress(from, size);
            let req = ureq::http::Request::builder()
                .method(ureq::http::Method::GET)
                .uri(format!("{}{}", self.url(""), Self::blob_path(case_id, sha256)))
                .header("Authorization", auth.as_str())
                .header("Range", format!("bytes={from}-"))
                .body(())
                .map_err(|e| SyncError::InvalidInput { reason: e.to_string() })?;
            let resp = match agent.run(req).map_err(transport_error).and_then(check) {
                Ok(r) => r,
                Err(e) => {
                    backoff.wait(e)?;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            if status != 206 && !(status == 200 && from == 0) {
                return Err(api_error(status, None, None));
            }
            let mut reader = resp.into_body().into_with_config().limit(size - from).reader();
            let mut failure = None;
            let mut since_flush = 0usize;
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        writer.write(&buf[..n]).map_err(|e| SyncError::Local(std::sync::Arc::new(e)))?;
                        since_flush += n;
                        if since_flush >= 1 << 20 {
                            writer.flush().map_err(|e| SyncError::Local(std::sync::Arc::new(e)))?;
                            since_flush = 0;
                        }
                        progress(writer.received(), size);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        failure = Some(SyncError::Network(e.to_string()));
                        break;
                    }
                }
            }
            writer.flush().map_err(|e| SyncError::Local(std::sync::Arc::new(e)))?;
            if let Some(e) = failure {
                // An attempt that moved forward starts the backoff over: only a stuck download slows down.
                if writer.received() > from {
                    backoff.reset(options);
                }
                backoff.wait(e)?;
            } else if writer.received() > from {
                backoff.reset(options);
            } else if writer.received() < size {
                backoff.wait(SyncError::Network("the relay sent nothing".into()))?;
            }
        }
        writer.finish().map_err(|e| SyncError::Local(std::sync::Arc::new(e)))?;
        progress(size, size);
        Ok(())
    }
}
