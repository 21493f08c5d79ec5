//! Attachments: photos, scans, PDFs and recordings on a document of the chronology, a record request, an
//! appointment or an opinion.
//!
//! # What is stored
//! The bytes are a content-addressed **blob** kept outside the CRDT, on the device only, as a plain file
//! of the storage's [`BlobStore`] named by its hash (`<sha256 hex>`: on disk
//! `<store directory>/attachments/<sha256 hex>`), never as values of the key/value store; its manifest
//! stays there: `casebook/blob/<sha256 hex>/manifest` (JSON: size, bytes held, complete, first
//! written). The file is written and read through a small buffer, so a blob is never whole in memory.
//!
//! Durability: the manifest is written only after the bytes it counts are fsynced (a download's
//! [`BlobWriter::flush`], about every MiB); on open a file longer than its manifest says is cut back to it,
//! and a missing or shorter one makes the blob incomplete (the sync downloads it again). A file written from
//! a reader ([`Store::store_blob`](crate::Store::store_blob), [`Case::attach`]) is hashed as it is written
//! to `tmp/<random>`, fsynced, then renamed to its hash. Blobs of the earlier layout (1 MiB chunks as
//! values, `casebook/blob/<sha256>/c/<i>`) are moved into files once when the store opens
//! ([`Store::open`](crate::Store::open)).
//!
//! The document holds the reference, in the target item's `attachments` map (keyed by attachment id, like
//! every collection): `{sha256, size, media_type, file_name, author?, added_at}`. An attachment is retracted
//! like any item (a `retracted_<id>` entry on it, see [`retraction`](super::retraction)); attachments of
//! a retracted item, and retracted attachments, leave every listing. The key is new and optional: older
//! readers ignore it (an additive change of the schema).
//!
//! Blobs that no attachment of any case of the store references are deleted by
//! [`Store::collect_blobs`](crate::Store::collect_blobs) (after a grace period, so that a blob written by an
//! attach whose case is not saved yet survives).
//!
//! Photos carry their location in their Exif and XMP metadata: [`Case::attach`] removes it from a JPEG,
//! PNG, HEIC/HEIF or WebP unless asked to keep it ([`NewAttachment::keep_location`]); see
//! [`photo_location`](super::photo_location).

use std::collections::BTreeSet;
use std::io::Read;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::retraction::{self, Retract, Retraction};
use super::{check_caregiver, item, items, optional, required};
use crate::am;
use crate::blob_store::{BlobAppend, BlobRead, BlobStore};
use crate::case::Case;
use crate::dates::format_date;
use crate::error::{Error, Result};
use crate::ids::new_item_id;
use crate::storage::{Storage, StorageKey, key};

/// Size of one chunk of a blob: how often a download's progress is made durable, and the size of the
/// values of the earlier layout (blobs as sled values).
pub const CHUNK_SIZE: usize = 1 << 20;
/// The buffer blob bytes are copied through (hashing, writing from a reader).
const IO_BUF: usize = 128 << 10;
/// The directory of the blob store that holds files being written from a reader.
const TMP_DIR: &str = "tmp";
/// The default per-file limit.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 100 << 20;
/// Blobs younger than this are not collected by default (their attach may not be saved yet).
pub const GC_GRACE_SECS: u64 = 3600;

/// What an attachment is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A document of the chronology.
    Document,
    /// A record request.
    RecordRequest,
    /// An appointment (a recording made with consent, a letter handed over).
    Appointment,
    /// An opinion.
    Opinion,
}

impl TargetKind {
    /// Every kind.
    pub const ALL: [TargetKind; 4] =
        [TargetKind::Document, TargetKind::RecordRequest, TargetKind::Appointment, TargetKind::Opinion];

    fn section(self) -> &'static str {
        match self {
            TargetKind::Document => "documents",
            TargetKind::RecordRequest => "record_requests",
            TargetKind::Appointment => "appointments",
            TargetKind::Opinion => "opinions",
        }
    }

    /// The kind in words.
    pub fn noun(self) -> &'static str {
        match self {
            TargetKind::Document => "document",
            TargetKind::RecordRequest => "record request",
            TargetKind::Appointment => "appointment",
            TargetKind::Opinion => "opinion",
        }
    }
}

/// An item attachments hang on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct AttachTarget {
    /// What kind of item.
    pub kind: TargetKind,
    /// Its id.
    pub id: String,
}

/// A new attachment's description.
#[derive(Debug, Clone)]
pub struct NewAttachment<'a> {
    /// The file's name, as the family knows it.
    pub file_name: &'a str,
    /// Its media type (`image/jpeg`, `application/pdf`, `audio/mp4`, …).
    pub media_type: &'a str,
    /// Caregiver id of who adds it.
    pub author: Option<&'a str>,
    /// When it is added.
    pub at: OffsetDateTime,
    /// Keep a photo's Exif/XMP metadata (its location among them); removed by default
    /// ([`photo_location`](super::photo_location)).
    pub keep_location: bool,
    /// The per-file limit in bytes ([`DEFAULT_MAX_ATTACHMENT_BYTES`] unless the app says otherwise).
    pub max_bytes: u64,
}

impl<'a> NewAttachment<'a> {
    /// A description with the defaults: added now, location dropped, the default limit.
    pub fn new(file_name: &'a str, media_type: &'a str, author: Option<&'a str>) -> Self {
        NewAttachment {
            file_name,
            media_type,
            author,
            at: OffsetDateTime::now_utc(),
            keep_location: false,
            max_bytes: DEFAULT_MAX_ATTACHMENT_BYTES,
        }
    }
}

/// An attachment as the document references it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AttachmentRef {
    /// Attachment id.
    pub id: String,
    /// What it is attached to.
    pub target: AttachTarget,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
    /// File name, as stored (raw text: make it safe for display).
    pub file_name: String,
    /// Caregiver id of who added it.
    pub author: Option<String>,
    /// When it was added (RFC 3339, UTC).
    pub added_at: String,
    /// Whether the bytes are on this device.
    pub on_device: bool,
}

/// What the device holds of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlobManifest {
    /// Size of the whole blob.
    pub size: u64,
    /// Bytes held so far (from the start).
    pub received: u64,
    /// Whether every byte is held and the hash was verified.
    pub complete: bool,
    /// When the blob was first written (unix seconds).
    pub created: u64,
}

fn blob_prefix(sha: &str) -> Result<StorageKey> {
    Ok(key(["casebook", "blob", sha])?)
}
fn manifest_key(sha: &str) -> Result<StorageKey> {
    Ok(key(["casebook", "blob", sha, "manifest"])?)
}
fn chunk_key(sha: &str, i: u64) -> Result<StorageKey> {
    Ok(key(["casebook", "blob", sha, "c", &i.to_string()])?)
}

/// Whether `s` is a SHA-256 in lowercase hex.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn check_sha(sha: &str) -> Result<()> {
    if is_sha256_hex(sha) {
        Ok(())
    } else {
        Err(Error::InvalidInput { field: "sha256", reason: "expected 64 lowercase hex digits".into() })
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An I/O error of the blob files as a storage error (no path, no name: nothing private).
fn blob_io(e: std::io::Error) -> Error {
    Error::Storage(crate::storage::StorageError::Io(format!("attachment file: {e}")))
}

/// The manifest as stored, without looking at the file.
fn stored_manifest(storage: &dyn Storage, sha: &str) -> Result<Option<BlobManifest>> {
    Ok(storage.load(&manifest_key(sha)?)?.and_then(|v| serde_json::from_slice(&v).ok()))
}

/// The manifest of blob `sha` on this device, if any, as its file bears it out: when the file is missing
/// or shorter than the manifest counts (damaged, or cut by something else than Casebook), the blob is
/// reported incomplete with nothing received (so the sync downloads it again; [`BlobWriter::open`] starts
/// it over). The stored manifest is left as it is.
pub fn blob_manifest(storage: &dyn Storage, sha: &str) -> Result<Option<BlobManifest>> {
    check_sha(sha)?;
    let Some(mut m) = stored_manifest(storage, sha)? else { return Ok(None) };
    let len = storage.blobs().size(sha).map_err(blob_io)?.unwrap_or(0);
    if len < m.received {
        m.received = 0;
        m.complete = false;
    }
    Ok(Some(m))
}

fn put_manifest(storage: &dyn Storage, sha: &str, m: &BlobManifest) -> Result<()> {
    let v = serde_json::to_vec(m).map_err(|e| Error::InvalidInput { field: "manifest", reason: e.to_string() })?;
    storage.put(&manifest_key(sha)?, &v)?;
    Ok(())
}

/// Delete blob `sha` from this device: its manifest (and any value of the earlier layout), then its file
/// (the key/value deletions are not flushed).
pub fn delete_blob(storage: &dyn Storage, sha: &str) -> Result<()> {
    check_sha(sha)?;
    for k in storage.keys(&blob_prefix(sha)?)? {
        storage.delete(&k)?;
    }
    storage.blobs().delete(sha).map_err(blob_io)?;
    Ok(())
}

/// Blobs being written in this process, by blob store (its address) and hash: one writer per blob at a
/// time, because two appending to one file (the sync's download pass and an "open" download of the same
/// attachment) would cut each other's bytes.
static WRITING: std::sync::Mutex<BTreeSet<(usize, String)>> = std::sync::Mutex::new(BTreeSet::new());
/// Signalled when a blob leaves [`WRITING`].
static WRITING_DONE: std::sync::Condvar = std::sync::Condvar::new();

/// The right to write one blob's file; released when dropped.
struct WriteGuard {
    key: (usize, String),
}

impl WriteGuard {
    /// Wait until no one else in this process writes blob `sha` of `blobs`, then take it.
    fn acquire(blobs: &std::sync::Arc<dyn BlobStore>, sha: &str) -> Self {
        let key = (std::sync::Arc::as_ptr(blobs) as *const () as usize, sha.to_string());
        let mut writing = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        while writing.contains(&key) {
            writing = WRITING_DONE.wait(writing).unwrap_or_else(|e| e.into_inner());
        }
        writing.insert(key.clone());
        WriteGuard { key }
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        WRITING.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
        WRITING_DONE.notify_all();
    }
}

/// Writes a blob whose hash and size are known in advance (a download), appending to its file from where
/// the device is: [`BlobWriter::received`] says where to resume. Bytes go straight to the file (nothing is
/// buffered here); about every [`CHUNK_SIZE`] bytes, and at [`BlobWriter::flush`], the file is fsynced and
/// then the manifest records them. Verified against its hash by [`BlobWriter::finish`]. One writer per blob
/// at a time in a process: [`BlobWriter::open`] waits while another one writes the same blob (and then
/// finds what it left: often the whole blob).
pub struct BlobWriter {
    storage: std::sync::Arc<dyn Storage>,
    blobs: std::sync::Arc<dyn BlobStore>,
    sha: String,
    manifest: BlobManifest,
    /// The file being appended to (opened at the first write).
    file: Option<std::sync::Mutex<Box<dyn BlobAppend>>>,
    /// Bytes written since the manifest last recorded them.
    unsynced: u64,
    /// This writer's right to the blob's file (dropped last).
    _guard: WriteGuard,
}

impl BlobWriter {
    /// Start or resume writing blob `sha` of `size` bytes. A file longer than the manifest counts (bytes
    /// written after the last flush) is cut back to it; a missing or shorter one starts the blob over.
    pub fn open(storage: std::sync::Arc<dyn Storage>, sha: &str, size: u64) -> Result<Self> {
        check_sha(sha)?;
        let blobs = storage.blobs();
        let guard = WriteGuard::acquire(&blobs, sha);
        let fresh = |storage: &dyn Storage| -> Result<BlobManifest> {
            delete_blob(storage, sha)?;
            let m = BlobManifest { size, received: 0, complete: false, created: unix_now() };
            put_manifest(storage, sha, &m)?;
            Ok(m)
        };
        let mut manifest = match stored_manifest(&*storage, sha)? {
            Some(m) if m.size == size && m.received <= size => m,
            Some(_) | None => fresh(&*storage)?,
        };
        let len = blobs.size(sha).map_err(blob_io)?.unwrap_or(0);
        if len < manifest.received {
            manifest = fresh(&*storage)?;
        } else if len > manifest.received {
            blobs.truncate(sha, manifest.received).map_err(blob_io)?;
        }
        Ok(BlobWriter { storage, blobs, sha: sha.to_string(), manifest, file: None, unsynced: 0, _guard: guard })
    }

    /// The blob's size.
    pub fn size(&self) -> u64 {
        self.manifest.size
    }

    /// Bytes held so far (where a download resumes).
    pub fn received(&self) -> u64 {
        self.manifest.received
    }

    /// Whether the blob is complete and verified.
    pub fn is_complete(&self) -> bool {
        self.manifest.complete
    }

    /// Append bytes at [`BlobWriter::received`]. Refuses more bytes than the blob's size.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.manifest.received + data.len() as u64 > self.manifest.size {
            return Err(Error::InvalidInput { field: "blob", reason: "more bytes than its size".into() });
        }
        if data.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            let f = self.blobs.open_append(&self.sha, self.manifest.received).map_err(blob_io)?;
            self.file = Some(std::sync::Mutex::new(f));
        }
        if let Some(f) = self.file.as_mut() {
            f.get_mut().unwrap_or_else(|e| e.into_inner()).write(data).map_err(blob_io)?;
        }
        self.manifest.received += data.len() as u64;
        self.unsynced += data.len() as u64;
        if self.unsynced >= CHUNK_SIZE as u64 {
            // Progress a crash keeps (the manifest is flushed by the key/value store within a moment).
            self.sync_file()?;
            put_manifest(&*self.storage, &self.sha, &self.manifest)?;
            self.unsynced = 0;
        }
        Ok(())
    }

    /// fsync the file's bytes (and its directory entry when it was created).
    fn sync_file(&self) -> Result<()> {
        if let Some(f) = &self.file {
            f.lock().unwrap_or_else(|e| e.into_inner()).sync().map_err(blob_io)?;
        }
        Ok(())
    }

    /// Make every byte written so far durable (fsync), then record it in the manifest and flush (an
    /// interrupted download resumes from here).
    pub fn flush(&self) -> Result<()> {
        self.sync_file()?;
        put_manifest(&*self.storage, &self.sha, &self.manifest)?;
        self.storage.flush()?;
        Ok(())
    }

    /// Verify the whole blob against its hash and mark it complete. On a mismatch the blob is deleted and
    /// an error returned.
    pub fn finish(mut self) -> Result<()> {
        if self.manifest.received != self.manifest.size {
            return Err(Error::InvalidInput { field: "blob", reason: "incomplete".into() });
        }
        self.flush()?;
        self.file = None;
        let matches = match self.blobs.open_read(&self.sha, 0) {
            Ok(Some(r)) => {
                hash_of(r.take(self.manifest.size)).is_ok_and(|(h, n)| n == self.manifest.size && h == self.sha)
            }
            Ok(None) | Err(_) => false,
        };
        if !matches {
            delete_blob(&*self.storage, &self.sha)?;
            self.storage.flush()?;
            return Err(Error::InvalidInput {
                field: "blob",
                reason: "the bytes do not match their SHA-256; discarded".into(),
            });
        }
        self.manifest.complete = true;
        put_manifest(&*self.storage, &self.sha, &self.manifest)?;
        self.storage.flush()?;
        Ok(())
    }
}

/// SHA-256 (hex) and length of what `r` yields, read through a small buffer.
fn hash_of(mut r: impl Read) -> std::io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut n = 0u64;
    let mut buf = vec![0u8; IO_BUF];
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex(&h.finalize()), n))
}

/// Reads a complete blob from its file, from an offset (straight into the caller's buffer: nothing of the
/// blob is kept in memory here).
pub struct BlobReader {
    sha: String,
    size: u64,
    pos: u64,
    file: BlobRead,
    hasher: Option<Sha256>,
}

impl BlobReader {
    /// A reader of complete blob `sha` from offset `offset`; `None` if the device does not hold it whole
    /// (its file missing or shorter than its size included).
    pub fn open(storage: std::sync::Arc<dyn Storage>, sha: &str, offset: u64) -> Result<Option<Self>> {
        let Some(m) = blob_manifest(&*storage, sha)? else { return Ok(None) };
        if !m.complete {
            return Ok(None);
        }
        let pos = offset.min(m.size);
        let Some(file) = storage.blobs().open_read(sha, pos).map_err(blob_io)? else { return Ok(None) };
        Ok(Some(BlobReader { sha: sha.to_string(), size: m.size, pos, file, hasher: None }))
    }

    /// The blob's size.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            if self.pos >= self.size
                && let Some(h) = self.hasher.take()
                && hex(&h.finalize()) != self.sha
            {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the attachment's bytes do not match its SHA-256 (damaged on this device)",
                ));
            }
            return Ok(0);
        }
        let want = ((self.size - self.pos).min(buf.len() as u64)) as usize;
        let n = loop {
            match self.file.read(&mut buf[..want]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the attachment's file on this device is shorter than its size (damaged)",
            ));
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Write the bytes of `reader` as a blob: to a temporary file while hashing (through a small buffer), then
/// fsynced and renamed to its hash. Returns (sha256 hex, size). Refuses more than `max` bytes.
fn write_blob(storage: &std::sync::Arc<dyn Storage>, reader: &mut dyn Read, max: u64) -> Result<(String, u64)> {
    let blobs = storage.blobs();
    let tmp = format!("{TMP_DIR}/{}", new_item_id());
    let mut file = blobs.open_append(&tmp, 0).map_err(blob_io)?;
    let mut h = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; IO_BUF];
    let written = loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                break Err(Error::InvalidInput { field: "file", reason: format!("cannot be read: {}", e.kind()) });
            }
        };
        size += n as u64;
        if size > max {
            break Err(Error::InvalidInput {
                field: "file",
                reason: format!("larger than the limit of {} MiB per attachment", max >> 20),
            });
        }
        h.update(&buf[..n]);
        if let Err(e) = file.write(&buf[..n]) {
            break Err(blob_io(e));
        }
    }
    .and_then(|()| file.sync().map_err(blob_io));
    drop(file);
    if let Err(e) = written {
        let _ = blobs.delete(&tmp);
        return Err(e);
    }
    let sha = hex(&h.finalize());
    let _guard = WriteGuard::acquire(&blobs, &sha);
    if matches!(blob_manifest(&**storage, &sha)?, Some(m) if m.complete) {
        blobs.delete(&tmp).map_err(blob_io)?;
        return Ok((sha, size));
    }
    // The manifest first (the bytes are durable in the temporary file): a collection running meanwhile
    // sees a young blob; a crash before the rename leaves a manifest whose file is missing, which counts
    // as not on the device.
    for k in storage.keys(&blob_prefix(&sha)?)? {
        storage.delete(&k)?;
    }
    put_manifest(&**storage, &sha, &BlobManifest { size, received: size, complete: true, created: unix_now() })?;
    if let Err(e) = blobs.rename(&tmp, &sha) {
        let _ = storage.delete(&manifest_key(&sha)?);
        let _ = blobs.delete(&tmp);
        return Err(blob_io(e));
    }
    storage.flush()?;
    Ok((sha, size))
}

/// Move blobs of the earlier layout (1 MiB chunks as values, `casebook/blob/<sha>/c/<i>`) into files,
/// once: each blob's chunks are copied in order to a temporary file (as far as they are contiguous and the
/// manifest counts), fsynced and renamed to its hash; then the manifest records what the file holds and
/// the chunks are deleted. Leftover temporary chunks of an interrupted attach are deleted. Returns how
/// many blobs were moved. Safe to run again after a crash at any point.
pub(crate) fn migrate_chunked_blobs(storage: &dyn Storage) -> Result<usize> {
    let mut shas = BTreeSet::new();
    for k in storage.keys(&key(["casebook", "blob"])?)? {
        let s = k.to_string();
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() == 5 && parts[3] == "c" && is_sha256_hex(parts[2]) {
            shas.insert(parts[2].to_string());
        }
    }
    let blobs = storage.blobs();
    let mut moved = 0;
    for sha in shas {
        let Some(mut m) = stored_manifest(storage, &sha)? else {
            // Chunks without a manifest: an attach that never finished.
            delete_blob(storage, &sha)?;
            continue;
        };
        let tmp = format!("{TMP_DIR}/m{sha}");
        let mut file = blobs.open_append(&tmp, 0).map_err(blob_io)?;
        let mut held = 0u64;
        let mut i = 0u64;
        while held < m.received.min(m.size) {
            let Some(c) = storage.load(&chunk_key(&sha, i)?)? else { break };
            let take = (c.len() as u64).min(m.received - held) as usize;
            file.write(&c[..take]).map_err(blob_io)?;
            held += take as u64;
            i += 1;
            if c.len() < CHUNK_SIZE {
                break;
            }
        }
        file.sync().map_err(blob_io)?;
        drop(file);
        blobs.rename(&tmp, &sha).map_err(blob_io)?;
        m.complete = m.complete && held == m.size;
        m.received = held;
        put_manifest(storage, &sha, &m)?;
        storage.flush()?;
        for k in storage.keys(&key(["casebook", "blob", &sha, "c"])?)? {
            storage.delete(&k)?;
        }
        moved += 1;
    }
    for k in storage.keys(&key(["casebook", "blob-tmp"])?)? {
        storage.delete(&k)?;
    }
    storage.flush()?;
    Ok(moved)
}

pub use super::photo_location::{strip_jpeg_app1, strip_jpeg_app1_bytes};

/// A blob written to this device ([`Store::store_blob`](crate::Store::store_blob)), ready to attach.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredBlob {
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// Write the bytes of `reader` as a blob (a photo without its location unless `keep_location`).
fn store_blob(
    storage: &std::sync::Arc<dyn Storage>,
    reader: impl Read,
    keep_location: bool,
    max_bytes: u64,
) -> Result<StoredBlob> {
    let mut reader: Box<dyn Read + '_> = Box::new(reader);
    if !keep_location {
        // A JPEG, PNG, HEIF or WebP (whatever the media type says) loses its location (Exif, XMP).
        reader = super::photo_location::strip_location(reader)
            .map_err(|e| Error::InvalidInput { field: "file", reason: e.to_string() })?;
    }
    let (sha256, size) = write_blob(storage, &mut reader, max_bytes)?;
    Ok(StoredBlob { sha256, size })
}

impl crate::Store {
    /// Write a file's bytes to this device as a blob, without any case open (a large file takes a while):
    /// then [`Case::attach_stored`] references it. A photo (JPEG, PNG, HEIC/HEIF, WebP) loses its Exif and
    /// XMP metadata (its location) unless `keep_location`; a HEIC whose location cannot be removed safely is
    /// refused ([`photo_location`](super::photo_location)). Refused over `max_bytes`.
    pub fn store_blob(&self, reader: impl Read, keep_location: bool, max_bytes: u64) -> Result<StoredBlob> {
        store_blob(&self.storage(), reader, keep_location, max_bytes)
    }
}

fn parse_attachment(
    doc: &AutoCommit,
    target: AttachTarget,
    id: String,
    o: &ObjId,
    storage: &dyn Storage,
) -> Option<AttachmentRef> {
    let sha256 = am::get_str(doc, o, "sha256").filter(|s| is_sha256_hex(s))?;
    let on_device = matches!(blob_manifest(storage, &sha256), Ok(Some(m)) if m.complete);
    Some(AttachmentRef {
        id,
        target,
        size: am::get_u64(doc, o, "size")?,
        media_type: am::get_str(doc, o, "media_type").unwrap_or_else(|| "application/octet-stream".into()),
        file_name: am::get_str(doc, o, "file_name").unwrap_or_default(),
        author: am::get_str(doc, o, "author"),
        added_at: am::get_str(doc, o, "added_at").unwrap_or_default(),
        sha256,
        on_device,
    })
}

impl Case {
    fn retracted_request_ids(&self) -> BTreeSet<String> {
        self.retracted_record_requests().into_iter().map(|r| r.id).collect()
    }

    /// The live target item's object, or an unknown-id or retracted error.
    fn target_obj(&self, target: &AttachTarget) -> Result<ObjId> {
        let o = item(&self.main.doc, target.kind.section(), &target.id, target.kind.noun())?;
        if target.kind == TargetKind::RecordRequest && self.retracted_request_ids().contains(&target.id) {
            return Err(Error::Retracted { kind: "record request", id: target.id.clone() });
        }
        Ok(o)
    }

    /// Attach the bytes of `reader` to `target`: the blob is written to a file of this device's storage
    /// (through a small buffer, fsynced; the reader is never held whole in memory) and the reference to the document (saved with the
    /// next [`Case::save`]). A photo loses its location (Exif, XMP) unless `new.keep_location`. Works
    /// offline; the sync uploads it later. Refused: an unknown or retracted target, an author not on the care
    /// team, an empty name or media type, a file over `new.max_bytes`.
    pub fn attach(&mut self, target: AttachTarget, new: NewAttachment<'_>, reader: impl Read) -> Result<AttachmentRef> {
        self.check_attach(&target, &new)?;
        let blob = store_blob(&self.storage, reader, new.keep_location, new.max_bytes)?;
        self.attach_stored(target, new, blob)
    }

    /// Validate an attach before its bytes are written.
    fn check_attach(&self, target: &AttachTarget, new: &NewAttachment<'_>) -> Result<(String, String)> {
        let file_name = required("file_name", new.file_name)?;
        let media_type = required("media_type", new.media_type)?;
        if media_type.len() > 255 || !media_type.contains('/') {
            return Err(Error::InvalidInput {
                field: "media_type",
                reason: "expected a media type such as image/jpeg".into(),
            });
        }
        if file_name.len() > 1024 {
            return Err(Error::InvalidInput { field: "file_name", reason: "longer than 1,024 bytes".into() });
        }
        if let Some(a) = new.author {
            check_caregiver(&self.main.doc, a)?;
        }
        self.target_obj(target)?;
        Ok((file_name, media_type))
    }

    /// Attach a blob already written to this device by [`Store::store_blob`](crate::Store::store_blob)
    /// (so that a large file is written without holding the case: only this quick step needs it). Refused
    /// as [`Case::attach`], and when the blob is not complete on this device.
    pub fn attach_stored(
        &mut self,
        target: AttachTarget,
        new: NewAttachment<'_>,
        blob: StoredBlob,
    ) -> Result<AttachmentRef> {
        let (file_name, media_type) = self.check_attach(&target, &new)?;
        let StoredBlob { sha256, size } = blob;
        if !matches!(blob_manifest(&*self.storage, &sha256)?, Some(m) if m.complete && m.size == size) {
            return Err(Error::InvalidInput { field: "blob", reason: "not on this device: store it first".into() });
        }
        if size > new.max_bytes {
            return Err(Error::InvalidInput {
                field: "file",
                reason: format!("larger than the limit of {} MiB per attachment", new.max_bytes >> 20),
            });
        }
        let at = new
            .at
            .to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| Error::InvalidInput { field: "at", reason: e.to_string() })?;
        let id = new_item_id();
        let t = target.clone();
        self.edit(|doc| {
            let o = item(doc, t.kind.section(), &t.id, t.kind.noun())?;
            let atts = match am::get_obj(doc, &o, "attachments") {
                Some(a) => a,
                None => doc.put_object(&o, "attachments", ObjType::Map)?,
            };
            let a = doc.put_object(&atts, id.as_str(), ObjType::Map)?;
            doc.put(&a, "sha256", sha256.as_str())?;
            doc.put(&a, "size", size)?;
            doc.put(&a, "media_type", media_type.as_str())?;
            doc.put(&a, "file_name", file_name.as_str())?;
            am::put_opt_str(doc, &a, "author", new.author)?;
            doc.put(&a, "added_at", at.as_str())?;
            Ok(())
        })?;
        Ok(AttachmentRef {
            id,
            target,
            sha256,
            size,
            media_type,
            file_name,
            author: new.author.map(str::to_string),
            added_at: at,
            on_device: true,
        })
    }

    /// [`Case::attach`] from bytes in memory.
    pub fn attach_bytes(
        &mut self,
        target: AttachTarget,
        new: NewAttachment<'_>,
        bytes: &[u8],
    ) -> Result<AttachmentRef> {
        self.attach(target, new, bytes)
    }

    /// The attachments of one item (none once it is retracted), or of every live item of the case when
    /// `target` is `None`; retracted attachments are left out. Ordered by when they were added, then id.
    pub fn attachments(&self, target: Option<&AttachTarget>) -> Vec<AttachmentRef> {
        let doc = &self.main.doc;
        let retracted_requests = self.retracted_request_ids();
        let mut out = Vec::new();
        for kind in TargetKind::ALL {
            if target.is_some_and(|t| t.kind != kind) {
                continue;
            }
            for (item_id, o) in items(doc, kind.section()) {
                if target.is_some_and(|t| t.id != item_id) {
                    continue;
                }
                if kind == TargetKind::RecordRequest && retracted_requests.contains(&item_id) {
                    continue;
                }
                let Some(atts) = am::get_obj(doc, &o, "attachments") else { continue };
                for aid in am::keys(doc, &atts) {
                    let Some(a) = am::get_obj(doc, &atts, &aid) else { continue };
                    if retraction::is_retracted(doc, &a) {
                        continue;
                    }
                    let t = AttachTarget { kind, id: item_id.clone() };
                    if let Some(r) = parse_attachment(doc, t, aid, &a, &*self.storage) {
                        out.push(r);
                    }
                }
            }
        }
        out.sort_by(|a, b| (&a.added_at, &a.id).cmp(&(&b.added_at, &b.id)));
        out
    }

    /// The live item (document of the chronology, record request, appointment or opinion) that item id
    /// `id` names, or that a unique prefix of it names: what attachments can hang on.
    pub fn attach_target(&self, id: &str) -> Result<AttachTarget> {
        let id = id.trim();
        let retracted_requests = self.retracted_request_ids();
        let mut found: Vec<AttachTarget> = Vec::new();
        for kind in TargetKind::ALL {
            for (item_id, _) in items(&self.main.doc, kind.section()) {
                if kind == TargetKind::RecordRequest && retracted_requests.contains(&item_id) {
                    continue;
                }
                if item_id == id {
                    return Ok(AttachTarget { kind, id: item_id });
                }
                if !id.is_empty() && item_id.starts_with(id) {
                    found.push(AttachTarget { kind, id: item_id });
                }
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::UnknownId { kind: "document, record request, appointment or opinion", id: id.to_string() }),
            _ => Err(Error::InvalidInput {
                field: "target",
                reason: format!("{id} names several items: give more of the id"),
            }),
        }
    }

    /// The live attachment `id`.
    pub fn attachment(&self, id: &str) -> Result<AttachmentRef> {
        self.attachments(None)
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| Error::UnknownId { kind: "attachment", id: id.to_string() })
    }

    /// Open attachment `id` for reading: a reader that verifies the bytes against the SHA-256 as it reaches
    /// the end (a damaged blob ends in an `InvalidData` error, never silently). Refused with a clear error
    /// when the bytes are not on this device yet (sync to download them).
    pub fn open_attachment(&self, id: &str) -> Result<BlobReader> {
        let a = self.attachment(id)?;
        match BlobReader::open(self.storage.clone(), &a.sha256, 0)? {
            Some(mut r) if r.size() == a.size => {
                r.hasher = Some(Sha256::new());
                Ok(r)
            }
            _ => Err(Error::InvalidInput {
                field: "attachment",
                reason: format!("{id} is not on this device yet: sync to download it"),
            }),
        }
    }

    /// The bytes of attachment `id`, verified against its hash (a mismatch is [`Error::Corrupt`]).
    pub fn read_attachment(&self, id: &str) -> Result<Vec<u8>> {
        let mut r = self.open_attachment(id)?;
        let mut out = Vec::with_capacity(r.size() as usize);
        r.read_to_end(&mut out)
            .map_err(|e| Error::Corrupt { case: self.id().clone(), detail: format!("attachment {id}: {e}") })?;
        Ok(out)
    }

    /// Retract attachment `id` (an entry of its own, nothing deleted; its blob is collected later if no
    /// other attachment references it). Returns the retraction's id.
    pub fn retract_attachment(&mut self, id: &str, how: Retract<'_>) -> Result<String> {
        let a = self.attachment(id)?;
        self.edit(|doc| {
            if let Some(by) = how.by {
                check_caregiver(doc, by)?;
            }
            let o = item(doc, a.target.kind.section(), &a.target.id, a.target.kind.noun())?;
            let atts = am::child(doc, &o, "attachments", "attachment")?;
            let at = am::child(doc, &atts, id, "attachment")?;
            let rid = new_item_id();
            let e = doc.put_object(&at, format!("retracted_{rid}"), ObjType::Map)?;
            doc.put(&e, "on", format_date(how.today))?;
            am::put_opt_str(doc, &e, "by", how.by)?;
            am::put_opt_str(doc, &e, "reason", optional(how.reason).as_deref())?;
            Ok(rid)
        })
    }

    /// The retractions of attachment `id` (retracted or not), oldest first.
    pub fn attachment_retractions(&self, id: &str) -> Vec<Retraction> {
        let doc = &self.main.doc;
        for kind in TargetKind::ALL {
            for (_, o) in super::all_items(doc, kind.section()) {
                if let Some(atts) = am::get_obj(doc, &o, "attachments")
                    && let Some(a) = am::get_obj(doc, &atts, id)
                {
                    return retraction::retractions(doc, &a);
                }
            }
        }
        Vec::new()
    }

    /// The SHA-256 of every blob the case's live attachments reference.
    pub fn referenced_blobs(&self) -> BTreeSet<String> {
        self.attachments(None).into_iter().map(|a| a.sha256).collect()
    }
}

fn pin_key(case: &crate::CaseId, attachment: &str) -> Result<StorageKey> {
    Ok(key(["casebook", "pinned", case.as_str(), attachment])?)
}

impl crate::Store {
    /// Pin attachment `attachment` of a case "keep offline" on this device (the sync downloads it), or unpin
    /// it. Local only, never synced.
    pub fn pin_attachment(&self, case: &crate::CaseId, attachment: &str, keep_offline: bool) -> Result<()> {
        let storage = self.storage();
        let k = pin_key(case, attachment)?;
        if keep_offline {
            storage.put(&k, b"")?
        } else {
            storage.delete(&k)?
        }
        storage.flush()?;
        Ok(())
    }

    /// The attachments of a case pinned "keep offline" on this device.
    pub fn pinned_attachments(&self, case: &crate::CaseId) -> Result<BTreeSet<String>> {
        let storage = self.storage();
        Ok(storage
            .keys(&key(["casebook", "pinned", case.as_str()])?)?
            .into_iter()
            .filter_map(|k| k.to_string().rsplit('/').next().map(str::to_string))
            .filter(|s| s != case.as_str())
            .collect())
    }
}

/// What [`collect_blobs`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BlobCollection {
    /// Blobs kept (referenced, or too young to collect).
    pub kept: usize,
    /// Blobs deleted.
    pub deleted: usize,
    /// Bytes freed.
    pub freed_bytes: u64,
}

/// Delete every blob (and leftover temporary file) that no case in `referenced` needs. `referenced` must
/// hold the references of every case of the store; a case that does not open keeps every blob (the caller
/// passes `None`).
pub(crate) fn collect_blobs(
    storage: &dyn Storage,
    referenced: Option<&BTreeSet<String>>,
    grace_secs: u64,
) -> Result<BlobCollection> {
    let mut out = BlobCollection::default();
    let Some(referenced) = referenced else {
        return Ok(out);
    };
    let blobs = storage.blobs();
    // Blobs with a manifest, and files without one (a crash between the file and its manifest).
    let mut shas = BTreeSet::new();
    for k in storage.keys(&key(["casebook", "blob"])?)? {
        let s = k.to_string();
        if let Some(sha) = s.split('/').nth(2) {
            shas.insert(sha.to_string());
        }
    }
    shas.extend(blobs.list("").map_err(blob_io)?);
    let now = unix_now();
    for sha in shas {
        if !is_sha256_hex(&sha) {
            continue;
        }
        let m = stored_manifest(storage, &sha)?;
        let young = m.is_some_and(|m| now.saturating_sub(m.created) < grace_secs);
        if referenced.contains(&sha) || young {
            out.kept += 1;
            continue;
        }
        out.freed_bytes += match m {
            Some(m) => m.received,
            None => blobs.size(&sha).map_err(blob_io)?.unwrap_or(0),
        };
        delete_blob(storage, &sha)?;
        out.deleted += 1;
    }
    // Temporary files of an attach that never finished (a crash), when no attach can be running.
    if grace_secs == 0 {
        for name in blobs.list(TMP_DIR).map_err(blob_io)? {
            blobs.delete(&format!("{TMP_DIR}/{name}")).map_err(blob_io)?;
        }
        for k in storage.keys(&key(["casebook", "blob-tmp"])?)? {
            storage.delete(&k)?;
        }
    }
    storage.flush()?;
    Ok(out)
}
