//! Offline exchange without a server: a file with a case's changes since a given state ("AirDrop to my
//! brother"), and optionally the files of its attachments. Importing the same file twice, or an older one,
//! changes nothing.
//!
//! Format, version 1 (changes only): `CBXCHG01`, a little-endian u32 header length, a JSON header
//! `{"case": ID, "docs": [{"id": DOC, "changes": [LEN, …]}, …]}`, then each document's changes (raw
//! Automerge change chunks) in header order. Sizes are checked before anything is decoded, and every change
//! is decoded strictly (checksummed) before any is applied.
//!
//! Version 2 (with attachments; written only when the file carries at least one attachment, so a file
//! without attachments stays readable by older versions): `CBXCHG02`, the same header length and header
//! with `"blobs": [{"sha256": HEX, "size": N}, …]`, the same changes, then per blob, in header order, a
//! record header (the 32 raw bytes of its SHA-256, its size as a little-endian u64, both equal to its
//! header entry) followed by its bytes, and the end marker `CBXEND02`. Written and read sequentially: a
//! blob is never whole in memory (64 KiB at a time); only the changes section (at most
//! [`MAX_EXCHANGE_BYTES`]) is.
//!
//! An import checks and merges the changes in memory, then checks the blob list against the merged case
//! (every blob must be an attachment of the case, with its size), then streams each blob into storage
//! through [`BlobWriter`], which verifies its SHA-256; only when every blob is stored are the changes
//! written. A refused file (truncated, damaged, a blob that does not match its hash) stores nothing: the
//! blobs it had written are deleted again.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

use automerge::{AutoCommit, Change, ChangeHash};
use sha2::{Digest, Sha256};

use crate::am::TEXT_ENCODING;

use crate::case::{Case, CaseState};
use crate::error::{Error, Result};
use crate::ids::{CaseId, DocId};
use crate::model::attachment::{BlobReader, BlobWriter, blob_manifest, delete_blob, hex, is_sha256_hex};
use crate::schema;
use crate::store::Store;
use crate::tracked_doc::TrackedDoc;

const MAGIC: &[u8; 8] = b"CBXCHG01";
const MAGIC_V2: &[u8; 8] = b"CBXCHG02";
const END_V2: &[u8; 8] = b"CBXEND02";
/// Largest exchange file accepted (bytes); with attachments, the largest part before the attachments.
pub const MAX_EXCHANGE_BYTES: usize = 64 << 20;
/// Largest attachment file an exchange file may carry (bytes).
pub const MAX_EXCHANGE_BLOB_BYTES: u64 = 4 << 30;
const MAX_HEADER: usize = 1 << 20;
const MAX_DOCS: usize = 10_000;
const MAX_CHANGES: usize = 2_000_000;
const MAX_BLOBS: usize = 100_000;

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    case: String,
    docs: Vec<DocEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    blobs: Vec<BlobEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct BlobEntry {
    sha256: String,
    size: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct DocEntry {
    id: String,
    changes: Vec<usize>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// The case.
    pub case: CaseId,
    /// Whether the case was new to this store.
    pub new_case: bool,
    /// Changes that were new to this store.
    pub new_changes: usize,
    /// Attachment files the file carried that were new to this device (stored, verified).
    pub new_attachments: usize,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportReport {
    /// Bytes written.
    pub bytes: u64,
    /// Attachment files carried.
    pub attachments: usize,
    /// Attachments whose files are not on this device (so not carried; the receiver syncs them later).
    pub attachments_missing: usize,
}

/// Counts bytes written through it.
struct Counting<'w> {
    inner: &'w mut dyn Write,
    n: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_err(e: std::io::Error) -> Error {
    Error::Storage(crate::storage::StorageError::Io(format!("cannot write the exchange file: {e}")))
}

/// Read exactly `buf.len()` bytes; a short file is truncated.
fn read_exact(r: &mut dyn Read, buf: &mut [u8]) -> Result<()> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => bad("truncated or padded: sizes do not match the file"),
        k => bad(format!("cannot be read: {k}")),
    })
}

/// Whether the reader is at its end.
fn at_end(r: &mut dyn Read) -> Result<bool> {
    let mut b = [0u8; 1];
    loop {
        match r.read(&mut b) {
            Ok(n) => return Ok(n == 0),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(bad(format!("cannot be read: {}", e.kind()))),
        }
    }
}

/// Changes checked and merged in memory, not written yet.
struct Merged {
    case: CaseId,
    docs: BTreeMap<DocId, TrackedDoc>,
    new_case: bool,
    new_changes: usize,
}

fn bad(s: impl Into<String>) -> Error {
    Error::BadExchange(s.into())
}

fn parse_heads(hs: Option<&Vec<String>>) -> Vec<ChangeHash> {
    hs.map(|v| v.iter().filter_map(|h| h.parse().ok()).collect()).unwrap_or_default()
}

impl Store {
    /// Export the saved changes of a case that a peer at state `since` lacks (everything with `None`), without
    /// attachment files (version 1, see the [module documentation](self)).
    pub fn export_changes(&self, case: &CaseId, since: Option<&CaseState>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.export_exchange(case, since, false, &mut out)?;
        Ok(out)
    }

    /// Write an exchange file of a case to `out`: the saved changes a peer at state `since` lacks
    /// (everything with `None`) and, with `with_attachments`, the files of the case's live attachments that
    /// this device holds and the peer does not (`since.blobs`), streamed from storage and checked against
    /// their SHA-256 on the way (a file damaged on this device fails the export rather than reach the
    /// peer). Without any attachment file to carry, the file is version 1, as [`Store::export_changes`].
    pub fn export_exchange(
        &self,
        case: &CaseId,
        since: Option<&CaseState>,
        with_attachments: bool,
        out: &mut dyn Write,
    ) -> Result<ExportReport> {
        let c = self.open_case(case)?;
        let storage = self.storage();
        let mut ids = vec![case.clone()];
        ids.extend(c.notes_doc_ids().into_iter().map(|(_, d)| d));
        let mut docs = Vec::new();
        let mut changes_bytes = Vec::new();
        for id in ids {
            let Some(mut t) = TrackedDoc::load(&*storage, &id, case)? else {
                continue;
            };
            let heads: Vec<ChangeHash> = parse_heads(since.and_then(|s| s.docs.get(id.as_str())))
                .into_iter()
                .filter(|h| t.doc.get_change_by_hash(h).is_some())
                .collect();
            let changes = t.doc.get_changes(&heads);
            if changes.is_empty() {
                continue;
            }
            docs.push(DocEntry { id: id.to_string(), changes: changes.iter().map(|c| c.raw_bytes().len()).collect() });
            for c in &changes {
                changes_bytes.extend_from_slice(c.raw_bytes());
            }
        }
        let mut blobs: Vec<BlobEntry> = Vec::new();
        let mut missing = 0;
        if with_attachments {
            let mut seen = BTreeSet::new();
            for a in c.attachments(None) {
                if !seen.insert(a.sha256.clone()) || since.is_some_and(|s| s.blobs.contains(&a.sha256)) {
                    continue;
                }
                match blob_manifest(&*storage, &a.sha256)? {
                    Some(m) if m.complete && m.size == a.size => {
                        blobs.push(BlobEntry { sha256: a.sha256, size: a.size })
                    }
                    _ => missing += 1,
                }
            }
        }
        let magic = if blobs.is_empty() { MAGIC } else { MAGIC_V2 };
        let header = serde_json::to_vec(&Header { case: case.to_string(), docs, blobs: blobs.clone() })
            .map_err(|e| bad(e.to_string()))?;
        let mut w = Counting { inner: out, n: 0 };
        w.write_all(magic).map_err(write_err)?;
        w.write_all(&(header.len() as u32).to_le_bytes()).map_err(write_err)?;
        w.write_all(&header).map_err(write_err)?;
        w.write_all(&changes_bytes).map_err(write_err)?;
        drop(changes_bytes);
        let mut buf = vec![0u8; 64 << 10];
        for b in &blobs {
            let sha_raw: Vec<u8> =
                (0..32).map(|i| u8::from_str_radix(&b.sha256[2 * i..2 * i + 2], 16).unwrap_or(0)).collect();
            w.write_all(&sha_raw).map_err(write_err)?;
            w.write_all(&b.size.to_le_bytes()).map_err(write_err)?;
            let damaged = || Error::InvalidInput {
                field: "attachment",
                reason: "an attachment's file is damaged on this device: export without attachments".into(),
            };
            let mut r = BlobReader::open(storage.clone(), &b.sha256, 0)?.ok_or_else(damaged)?;
            let (mut h, mut n) = (Sha256::new(), 0u64);
            loop {
                let k = match r.read(&mut buf) {
                    Ok(k) => k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => return Err(damaged()),
                };
                if k == 0 {
                    break;
                }
                n += k as u64;
                if n > b.size {
                    return Err(damaged());
                }
                h.update(&buf[..k]);
                w.write_all(&buf[..k]).map_err(write_err)?;
            }
            if n != b.size || hex(&h.finalize()) != b.sha256 {
                return Err(damaged());
            }
        }
        if !blobs.is_empty() {
            w.write_all(END_V2).map_err(write_err)?;
        }
        w.flush().map_err(write_err)?;
        Ok(ExportReport { bytes: w.n, attachments: blobs.len(), attachments_missing: missing })
    }

    /// Import an exchange file held in memory (see [`Store::import_exchange`]).
    pub fn import_changes(&self, file: &[u8]) -> Result<ImportReport> {
        if file.len() > MAX_EXCHANGE_BYTES && file.get(..8) != Some(MAGIC_V2.as_slice()) {
            return Err(bad(format!("larger than {} MiB", MAX_EXCHANGE_BYTES >> 20)));
        }
        self.import_exchange(&mut &file[..])
    }

    /// Import an exchange file, read sequentially from `file` (version 1 or 2). The changes are checked and
    /// merged in memory first; then the attachment files are stored (each verified against its SHA-256);
    /// then the changes are written and flushed at once. A file that does not apply changes nothing: the
    /// attachment files it had stored are deleted again.
    pub fn import_exchange(&self, file: &mut dyn Read) -> Result<ImportReport> {
        let mut head = [0u8; 12];
        if file.read_exact(&mut head).is_err() || (&head[..8] != MAGIC && &head[..8] != MAGIC_V2) {
            return Err(bad("not a Casebook exchange file"));
        }
        let v2 = &head[..8] == MAGIC_V2;
        let hlen = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes")) as usize;
        if hlen > MAX_HEADER {
            return Err(bad("header length out of range"));
        }
        let mut header = vec![0u8; hlen];
        file.read_exact(&mut header).map_err(|_| bad("header length out of range"))?;
        let header: Header = serde_json::from_slice(&header).map_err(|_| bad("header is not valid"))?;
        if header.docs.len() > MAX_DOCS {
            return Err(bad("too many documents"));
        }
        let n_changes: usize = header.docs.iter().map(|d| d.changes.len()).sum();
        if n_changes > MAX_CHANGES {
            return Err(bad("too many changes"));
        }
        if !v2 && !header.blobs.is_empty() {
            return Err(bad("header is not valid"));
        }
        let total = header
            .docs
            .iter()
            .flat_map(|d| d.changes.iter())
            .try_fold(0usize, |a, l| a.checked_add(*l))
            .ok_or_else(|| bad("sizes overflow"))?;
        if 12usize.saturating_add(hlen).saturating_add(total) > MAX_EXCHANGE_BYTES {
            return Err(bad(format!("larger than {} MiB", MAX_EXCHANGE_BYTES >> 20)));
        }
        let mut changes = vec![0u8; total];
        read_exact(file, &mut changes)?;
        let mut merged = self.merge(&header, &changes)?;
        drop(changes);
        let mut new_attachments = 0;
        if v2 {
            let mut fresh = Vec::new();
            match self.import_blobs(&header.blobs, &mut merged, file, &mut fresh) {
                Ok(n) => new_attachments = n,
                Err(e) => {
                    let storage = self.storage();
                    for sha in &fresh {
                        delete_blob(&*storage, sha)?;
                    }
                    storage.flush()?;
                    return Err(e);
                }
            }
        } else if !at_end(file)? {
            return Err(bad("truncated or padded: sizes do not match the file"));
        }
        let storage = self.storage();
        let mut saved = Vec::new();
        for t in merged.docs.values_mut() {
            let (stats, heads, _) = t.write(&*storage)?;
            saved.push((stats, heads));
        }
        storage.flush()?;
        for (t, (stats, heads)) in merged.docs.values_mut().zip(saved) {
            t.mark_saved(&*storage, heads, stats)?;
        }
        storage.flush()?;
        self.register(&merged.case)?;
        Ok(ImportReport {
            case: merged.case,
            new_case: merged.new_case,
            new_changes: merged.new_changes,
            new_attachments,
        })
    }

    /// Check the blob list against the merged case, then store each blob of the file (those this device
    /// lacks; verified). `fresh` collects the blobs written, for the caller to delete on an error.
    fn import_blobs(
        &self,
        list: &[BlobEntry],
        merged: &mut Merged,
        file: &mut dyn Read,
        fresh: &mut Vec<String>,
    ) -> Result<usize> {
        if list.len() > MAX_BLOBS {
            return Err(bad("too many attachment files"));
        }
        let storage = self.storage();
        // What the case references once merged: every blob must be one of its attachments, with its size.
        let referenced: BTreeSet<(String, u64)> = {
            let case = match merged.docs.remove(&merged.case) {
                Some(main) => {
                    let c = crate::case::Case::unsaved(storage.clone(), main);
                    let refs = c.attachments(None);
                    merged.docs.insert(merged.case.clone(), c.main);
                    refs
                }
                None => self.open_case(&merged.case)?.attachments(None),
            };
            case.into_iter().map(|a| (a.sha256, a.size)).collect()
        };
        let mut seen = BTreeSet::new();
        for b in list {
            if !is_sha256_hex(&b.sha256) || !seen.insert(b.sha256.as_str()) {
                return Err(bad("an attachment file's SHA-256 is not valid"));
            }
            if b.size > MAX_EXCHANGE_BLOB_BYTES {
                return Err(bad("an attachment file is too large"));
            }
            if !referenced.contains(&(b.sha256.clone(), b.size)) {
                return Err(bad("the file carries a file that is not an attachment of the case"));
            }
        }
        let mut buf = vec![0u8; 64 << 10];
        let mut new = 0;
        for b in list {
            let mut rec = [0u8; 40];
            read_exact(file, &mut rec)?;
            if hex(&rec[..32]) != b.sha256 || u64::from_le_bytes(rec[32..].try_into().expect("8 bytes")) != b.size {
                return Err(bad("an attachment file's header does not match the file's list"));
            }
            let have = matches!(blob_manifest(&*storage, &b.sha256)?, Some(m) if m.complete && m.size == b.size);
            let mut writer = if have {
                None
            } else {
                fresh.push(b.sha256.clone());
                Some(BlobWriter::open(storage.clone(), &b.sha256, b.size)?)
            };
            // Bytes the device already holds (all of them, or what an interrupted download left) are skipped.
            let mut skip = writer.as_ref().map_or(b.size, BlobWriter::received);
            let mut left = b.size;
            while left > 0 {
                let want = (left.min(buf.len() as u64)) as usize;
                read_exact(file, &mut buf[..want])?;
                left -= want as u64;
                let from = (skip.min(want as u64)) as usize;
                skip -= from as u64;
                if let Some(w) = writer.as_mut()
                    && from < want
                {
                    w.write(&buf[from..want])?;
                }
            }
            if let Some(w) = writer {
                w.finish().map_err(|e| match e {
                    Error::Storage(e) => Error::Storage(e),
                    _ => bad("an attachment file does not match its SHA-256: the exchange file is damaged"),
                })?;
                new += 1;
            }
        }
        let mut end = [0u8; 8];
        read_exact(file, &mut end)?;
        if &end != END_V2 || !at_end(file)? {
            return Err(bad("truncated or padded: sizes do not match the file"));
        }
        Ok(new)
    }

    /// Check and merge the changes of a file in memory (nothing written).
    fn merge(&self, header: &Header, changes_bytes: &[u8]) -> Result<Merged> {
        let case: CaseId = header.case.parse().map_err(|_| bad("bad case id"))?;
        let storage = self.storage();
        let mut offset = 0;
        let mut merged: BTreeMap<DocId, TrackedDoc> = BTreeMap::new();
        let mut new_changes = 0;
        let mut new_case = false;
        for d in &header.docs {
            let id: DocId = d.id.parse().map_err(|_| bad("bad document id"))?;
            let mut changes = Vec::with_capacity(d.changes.len());
            for &len in &d.changes {
                let bytes = &changes_bytes[offset..offset + len];
                offset += len;
                crate::guard::change_chunk(bytes).map_err(|why| bad(format!("a change of document {id}: {why}")))?;
                changes.push(
                    crate::guard::catch(|| Change::try_from(bytes))
                        .ok()
                        .and_then(|c| c.ok())
                        .ok_or_else(|| bad(format!("a change of document {id} does not decode")))?,
                );
            }
            let mut t = match merged.remove(&id) {
                Some(t) => t,
                None => match TrackedDoc::load(&*storage, &id, &case)? {
                    Some(t) => t,
                    None => {
                        if id == case {
                            new_case = true;
                        }
                        TrackedDoc::new(
                            id.clone(),
                            AutoCommit::new_with_encoding(TEXT_ENCODING).with_actor(crate::ids::fresh_actor()),
                        )
                    }
                },
            };
            let before = t.doc.get_heads();
            // Automerge may panic on malformed changes: the document `t` is dropped with the error.
            crate::guard::catch(|| t.doc.apply_changes(changes))
                .map_err(|_| bad(format!("changes of document {id} are malformed")))?
                .map_err(|_| bad(format!("changes of document {id} do not apply")))?;
            if !t.doc.get_missing_deps(&[]).is_empty() {
                return Err(bad(
                    "this file builds on changes this store does not have: import the earlier exchange first",
                ));
            }
            // automerge 0.12 applies some malformed changes without error and leaves a document that panics
            // later (`get_changes`, `save`): check, guarded, that the merged document re-encodes and reloads.
            let consistent = crate::guard::catch(|| {
                let n = if t.doc.get_heads() != before { t.doc.get_changes(&before).len() } else { 0 };
                let reloaded = AutoCommit::load(&t.doc.save());
                reloaded.map(|mut r| (n, r.get_heads() == t.doc.get_heads()))
            });
            match consistent {
                Ok(Ok((n, true))) => new_changes += n,
                _ => return Err(bad(format!("changes of document {id} are malformed"))),
            }
            if id == case {
                schema::check_case(&t.doc, &case).map_err(|e| match e {
                    Error::Corrupt { .. } => bad("the case document is not a Casebook case"),
                    other => other,
                })?;
            } else {
                schema::check_notes(&t.doc, &case).map_err(|_| bad("a document does not belong to this case"))?;
            }
            merged.insert(id, t);
        }
        if !merged.contains_key(&case) && TrackedDoc::load(&*storage, &case, &case)?.is_none() {
            return Err(bad("the file does not contain the case itself"));
        }
        Ok(Merged { case, docs: merged, new_case, new_changes })
    }
}

impl Case {
    /// Export this case's saved changes since `since` (see [`Store::export_changes`]).
    pub fn export_changes(&self, since: Option<&CaseState>) -> Result<Vec<u8>> {
        Store::with_storage(self.storage.clone()).export_changes(self.id(), since)
    }
}
