//! Attachments: photos, scans, PDFs and recordings on a document of the chronology, a record request, an
//! appointment or an opinion.
//!
//! # What is stored
//! The bytes are a content-addressed **blob** kept outside the CRDT, on the device's storage only:
//! `casebook/blob/<sha256 hex>/manifest` (JSON: size, chunk size, how much is held, complete) and
//! `casebook/blob/<sha256 hex>/c/<chunk index>` (1 MiB each, the last one shorter). A blob is never one
//! value and never whole in memory when written from a reader.
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
//! JPEG photos carry their location in their Exif segment: [`Case::attach`] drops every APP1 segment (Exif
//! and XMP) of a JPEG unless asked to keep it ([`NewAttachment::keep_location`]).

use std::collections::BTreeSet;
use std::io::{Cursor, Read};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::retraction::{self, Retract, Retraction};
use super::{check_caregiver, item, items, optional, required};
use crate::am;
use crate::case::Case;
use crate::dates::format_date;
use crate::error::{Error, Result};
use crate::ids::new_item_id;
use crate::storage::{Storage, StorageKey, key};

/// Size of one stored chunk of a blob.
pub const CHUNK_SIZE: usize = 1 << 20;
/// The default per-file limit.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 100 << 20;
/// Blobs younger than this are not collected by default (their attach may not be saved yet).
pub const GC_GRACE_SECS: u64 = 3600;
/// The largest JPEG header (segments before the image data) read into memory to drop its APP1 segments.
const MAX_JPEG_HEADER: usize = 16 << 20;

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
    /// Keep a JPEG's Exif/XMP segments (its location among them); dropped by default.
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

/// The manifest of blob `sha` on this device, if any.
pub fn blob_manifest(storage: &dyn Storage, sha: &str) -> Result<Option<BlobManifest>> {
    check_sha(sha)?;
    Ok(storage.load(&manifest_key(sha)?)?.and_then(|v| serde_json::from_slice(&v).ok()))
}

fn put_manifest(storage: &dyn Storage, sha: &str, m: &BlobManifest) -> Result<()> {
    let v = serde_json::to_vec(m).map_err(|e| Error::InvalidInput { field: "manifest", reason: e.to_string() })?;
    storage.put(&manifest_key(sha)?, &v)?;
    Ok(())
}

/// Delete blob `sha` from this device (chunks, then the manifest; not flushed).
pub fn delete_blob(storage: &dyn Storage, sha: &str) -> Result<()> {
    check_sha(sha)?;
    for k in storage.keys(&blob_prefix(sha)?)? {
        storage.delete(&k)?;
    }
    Ok(())
}

/// Writes a blob whose hash and size are known in advance (a download), appending from where the device
/// is: [`BlobWriter::received`] says where to resume. The chunk being filled is kept in memory (at most
/// 1 MiB) and stored when full or at [`BlobWriter::flush`]. Verified against its hash by
/// [`BlobWriter::finish`].
pub struct BlobWriter {
    storage: std::sync::Arc<dyn Storage>,
    sha: String,
    manifest: BlobManifest,
    /// The bytes of the chunk being filled (chunk index `manifest.received / CHUNK_SIZE`).
    current: Vec<u8>,
}

impl BlobWriter {
    /// Start or resume writing blob `sha` of `size` bytes.
    pub fn open(storage: std::sync::Arc<dyn Storage>, sha: &str, size: u64) -> Result<Self> {
        check_sha(sha)?;
        let fresh = |storage: &dyn Storage| -> Result<BlobManifest> {
            delete_blob(storage, sha)?;
            let m = BlobManifest { size, received: 0, complete: false, created: unix_now() };
            put_manifest(storage, sha, &m)?;
            Ok(m)
        };
        let mut manifest = match blob_manifest(&*storage, sha)? {
            Some(m) if m.size == size && m.received <= size => m,
            Some(_) | None => fresh(&*storage)?,
        };
        let mut current = Vec::new();
        let off = (manifest.received % CHUNK_SIZE as u64) as usize;
        if off > 0 && !manifest.complete {
            let idx = manifest.received / CHUNK_SIZE as u64;
            match storage.load(&chunk_key(sha, idx)?)? {
                Some(mut c) if c.len() >= off => {
                    c.truncate(off);
                    current = c;
                }
                _ => manifest = fresh(&*storage)?,
            }
        }
        Ok(BlobWriter { storage, sha: sha.to_string(), manifest, current })
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
    pub fn write(&mut self, mut data: &[u8]) -> Result<()> {
        if self.manifest.received + data.len() as u64 > self.manifest.size {
            return Err(Error::InvalidInput { field: "blob", reason: "more bytes than its size".into() });
        }
        while !data.is_empty() {
            let n = (CHUNK_SIZE - self.current.len()).min(data.len());
            self.current.extend_from_slice(&data[..n]);
            self.manifest.received += n as u64;
            data = &data[n..];
            if self.current.len() == CHUNK_SIZE {
                let idx = (self.manifest.received - 1) / CHUNK_SIZE as u64;
                self.storage.put(&chunk_key(&self.sha, idx)?, &self.current)?;
                self.current.clear();
                put_manifest(&*self.storage, &self.sha, &self.manifest)?;
            }
        }
        Ok(())
    }

    /// Store the chunk being filled and flush (an interrupted download resumes from here).
    pub fn flush(&self) -> Result<()> {
        if !self.current.is_empty() {
            let idx = self.manifest.received / CHUNK_SIZE as u64;
            self.storage.put(&chunk_key(&self.sha, idx)?, &self.current)?;
        }
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
        let mut h = Sha256::new();
        let mut r = BlobReader::new_unchecked(self.storage.clone(), &self.sha, self.manifest.size);
        let mut buf = vec![0; 64 << 10];
        loop {
            let n = match r.read(&mut buf) {
                Ok(n) => n,
                Err(_) => {
                    h = Sha256::new();
                    h.update(b"unreadable");
                    break;
                }
            };
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        if hex(&h.finalize()) != self.sha {
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

/// Reads a blob chunk by chunk from storage (1 MiB in memory at a time).
pub struct BlobReader {
    storage: std::sync::Arc<dyn Storage>,
    sha: String,
    size: u64,
    pos: u64,
    chunk: Vec<u8>,
    chunk_pos: usize,
    hasher: Option<Sha256>,
}

impl BlobReader {
    fn new_unchecked(storage: std::sync::Arc<dyn Storage>, sha: &str, size: u64) -> Self {
        BlobReader { storage, sha: sha.to_string(), size, pos: 0, chunk: Vec::new(), chunk_pos: 0, hasher: None }
    }

    /// A reader of complete blob `sha` from offset `offset`; `None` if the device does not hold it whole.
    pub fn open(storage: std::sync::Arc<dyn Storage>, sha: &str, offset: u64) -> Result<Option<Self>> {
        let Some(m) = blob_manifest(&*storage, sha)? else { return Ok(None) };
        if !m.complete {
            return Ok(None);
        }
        let mut r = Self::new_unchecked(storage, sha, m.size);
        r.pos = offset.min(m.size);
        Ok(Some(r))
    }

    /// The blob's size.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.chunk_pos >= self.chunk.len() {
            if self.pos >= self.size {
                if let Some(h) = self.hasher.take()
                    && hex(&h.finalize()) != self.sha
                {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the attachment's bytes do not match its SHA-256 (damaged on this device)",
                    ));
                }
                return Ok(0);
            }
            let idx = self.pos / CHUNK_SIZE as u64;
            let off = (self.pos % CHUNK_SIZE as u64) as usize;
            let k = chunk_key(&self.sha, idx).map_err(|e| std::io::Error::other(e.to_string()))?;
            let c = self.storage.load(&k).map_err(|e| std::io::Error::other(e.to_string()))?.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "a chunk of the blob is missing")
            })?;
            let want = ((self.size - idx * CHUNK_SIZE as u64).min(CHUNK_SIZE as u64)) as usize;
            if c.len() != want || off > c.len() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "a chunk of the blob has the wrong size",
                ));
            }
            if let Some(h) = self.hasher.as_mut() {
                h.update(&c);
            }
            self.chunk = c;
            self.chunk_pos = off;
        }
        let n = (self.chunk.len() - self.chunk_pos).min(buf.len());
        buf[..n].copy_from_slice(&self.chunk[self.chunk_pos..self.chunk_pos + n]);
        self.chunk_pos += n;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Write the bytes of `reader` as a blob: chunks under a temporary prefix while hashing, then under the
/// hash (chunk by chunk). Returns (sha256 hex, size). Refuses more than `max` bytes.
fn write_blob(storage: &std::sync::Arc<dyn Storage>, reader: &mut dyn Read, max: u64) -> Result<(String, u64)> {
    let tmp = new_item_id();
    let tmp_key = |i: u64| -> Result<StorageKey> { Ok(key(["casebook", "blob-tmp", &tmp, &i.to_string()])?) };
    let cleanup = |n: u64| -> Result<()> {
        for i in 0..n {
            storage.delete(&tmp_key(i)?)?;
        }
        Ok(())
    };
    let mut h = Sha256::new();
    let mut size = 0u64;
    let mut chunks = 0u64;
    let mut buf = vec![0u8; CHUNK_SIZE];
    loop {
        let mut filled = 0;
        while filled < CHUNK_SIZE {
            let n = match reader.read(&mut buf[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    cleanup(chunks)?;
                    return Err(Error::InvalidInput { field: "file", reason: format!("cannot be read: {}", e.kind()) });
                }
            };
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        size += filled as u64;
        if size > max {
            cleanup(chunks)?;
            return Err(Error::InvalidInput {
                field: "file",
                reason: format!("larger than the limit of {} MiB per attachment", max >> 20),
            });
        }
        h.update(&buf[..filled]);
        storage.put(&tmp_key(chunks)?, &buf[..filled])?;
        chunks += 1;
        if filled < CHUNK_SIZE {
            break;
        }
    }
    let sha = hex(&h.finalize());
    let done = matches!(blob_manifest(&**storage, &sha)?, Some(m) if m.complete);
    if !done {
        delete_blob(&**storage, &sha)?;
        for i in 0..chunks {
            let c = storage.load(&tmp_key(i)?)?.ok_or_else(|| {
                Error::Storage(crate::storage::StorageError::Io("a chunk written a moment ago is missing".into()))
            })?;
            storage.put(&chunk_key(&sha, i)?, &c)?;
        }
        put_manifest(&**storage, &sha, &BlobManifest { size, received: size, complete: true, created: unix_now() })?;
    }
    cleanup(chunks)?;
    storage.flush()?;
    Ok((sha, size))
}

/// Whether `head` starts like a JPEG (SOI then a marker).
fn is_jpeg(head: &[u8]) -> bool {
    head.len() >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF
}

/// A JPEG stream without its APP1 segments (Exif, XMP: where a phone writes the location). The segments
/// before the image data are read (bounded) and rewritten; everything from the start of scan on is passed
/// through. Anything that does not parse as a JPEG header is passed through unchanged (never a panic).
pub fn strip_jpeg_app1<'r>(mut reader: Box<dyn Read + 'r>) -> std::io::Result<Box<dyn Read + 'r>> {
    let mut head = Vec::new();
    // Read exactly n more bytes into `head`; false on a short stream.
    fn more(r: &mut dyn Read, head: &mut Vec<u8>, n: usize) -> std::io::Result<bool> {
        let start = head.len();
        head.resize(start + n, 0);
        let mut got = 0;
        while got < n {
            match r.read(&mut head[start + got..]) {
                Ok(0) => {
                    head.truncate(start + got);
                    return Ok(false);
                }
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
    if !more(&mut reader, &mut head, 2)? || head[..] != [0xFF, 0xD8] {
        return Ok(Box::new(Cursor::new(head).chain(reader)));
    }
    let mut out = vec![0xFF, 0xD8];
    loop {
        let at = head.len();
        if !more(&mut reader, &mut head, 2)? || head[at] != 0xFF {
            // Not a marker where one must be: give the rest back untouched.
            out.extend_from_slice(&head[at..]);
            return Ok(Box::new(Cursor::new(out).chain(reader)));
        }
        let m = head[at + 1];
        // Markers without a length: TEM, RST0-7, SOI/EOI, and fill bytes.
        if m == 0x01 || (0xD0..=0xD9).contains(&m) || m == 0xFF || m == 0x00 {
            out.extend_from_slice(&head[at..]);
            if m == 0xD9 {
                return Ok(Box::new(Cursor::new(out).chain(reader)));
            }
            continue;
        }
        if !more(&mut reader, &mut head, 2)? {
            out.extend_from_slice(&head[at..]);
            return Ok(Box::new(Cursor::new(out).chain(reader)));
        }
        let len = u16::from_be_bytes([head[at + 2], head[at + 3]]) as usize;
        if len < 2 || head.len() + len > MAX_JPEG_HEADER {
            out.extend_from_slice(&head[at..]);
            return Ok(Box::new(Cursor::new(out).chain(reader)));
        }
        if !more(&mut reader, &mut head, len - 2)? {
            out.extend_from_slice(&head[at..]);
            return Ok(Box::new(Cursor::new(out).chain(reader)));
        }
        if m != 0xE1 {
            out.extend_from_slice(&head[at..]);
        }
        if m == 0xDA {
            // Start of scan: the image data follows, unparsed.
            return Ok(Box::new(Cursor::new(out).chain(reader)));
        }
    }
}

/// [`strip_jpeg_app1`] on bytes in memory.
pub fn strip_jpeg_app1_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match strip_jpeg_app1(Box::new(bytes)) {
        Ok(mut r) => {
            if r.read_to_end(&mut out).is_err() {
                return bytes.to_vec();
            }
            out
        }
        Err(_) => bytes.to_vec(),
    }
}

/// A blob written to this device ([`Store::store_blob`](crate::Store::store_blob)), ready to attach.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredBlob {
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// Write the bytes of `reader` as a blob (a JPEG without its APP1 segments unless `keep_location`).
fn store_blob(
    storage: &std::sync::Arc<dyn Storage>,
    reader: impl Read,
    keep_location: bool,
    max_bytes: u64,
) -> Result<StoredBlob> {
    let mut reader: Box<dyn Read + '_> = Box::new(reader);
    let cannot =
        |e: std::io::Error| Error::InvalidInput { field: "file", reason: format!("cannot be read: {}", e.kind()) };
    if !keep_location {
        // Peek at the start: a JPEG (whatever the media type says) loses its APP1 segments.
        let mut peek = [0u8; 3];
        let mut got = 0;
        while got < 3 {
            match reader.read(&mut peek[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(cannot(e)),
            }
        }
        let head = peek[..got].to_vec();
        let jpeg = is_jpeg(&head);
        reader = Box::new(Cursor::new(head).chain(reader));
        if jpeg {
            reader = strip_jpeg_app1(reader).map_err(cannot)?;
        }
    }
    let (sha256, size) = write_blob(storage, &mut reader, max_bytes)?;
    Ok(StoredBlob { sha256, size })
}

impl crate::Store {
    /// Write a file's bytes to this device as a blob, without any case open (a large file takes a while):
    /// then [`Case::attach_stored`] references it. A JPEG loses its APP1 (Exif, XMP: its location) segments
    /// unless `keep_location`. Refused over `max_bytes`.
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

    /// Attach the bytes of `reader` to `target`: the blob is written to this device's storage (chunked,
    /// flushed; the reader is never held whole in memory) and the reference to the document (saved with the
    /// next [`Case::save`]). A JPEG loses its APP1 (Exif, XMP) segments unless `new.keep_location`. Works
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

/// Delete every blob (and leftover temporary chunk) that no case in `referenced` needs. `referenced` must
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
    let mut shas = BTreeSet::new();
    for k in storage.keys(&key(["casebook", "blob"])?)? {
        let s = k.to_string();
        if let Some(sha) = s.split('/').nth(2) {
            shas.insert(sha.to_string());
        }
    }
    let now = unix_now();
    for sha in shas {
        if !is_sha256_hex(&sha) {
            continue;
        }
        let m = blob_manifest(storage, &sha)?;
        let young = m.is_some_and(|m| now.saturating_sub(m.created) < grace_secs);
        if referenced.contains(&sha) || young {
            out.kept += 1;
            continue;
        }
        out.freed_bytes += m.map(|m| m.received).unwrap_or(0);
        delete_blob(storage, &sha)?;
        out.deleted += 1;
    }
    // Temporary chunks of an attach that never finished (a crash), when no attach can be running.
    if grace_secs == 0 {
        for k in storage.keys(&key(["casebook", "blob-tmp"])?)? {
            storage.delete(&k)?;
        }
    }
    storage.flush()?;
    Ok(out)
}
