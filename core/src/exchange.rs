//! Offline exchange without a server: a file with a case's changes since a given state ("AirDrop to my
//! brother"). Importing the same file twice, or an older one, changes nothing.
//!
//! Format: `CBXCHG01`, a little-endian u32 header length, a JSON header
//! `{"case": ID, "docs": [{"id": DOC, "changes": [LEN, …]}, …]}`, then each document's changes (raw
//! Automerge change chunks) in header order. Sizes are checked before anything is decoded, and every change
//! is decoded strictly (checksummed) before any is applied.

use std::collections::BTreeMap;

use automerge::{AutoCommit, Change, ChangeHash};

use crate::am::TEXT_ENCODING;

use crate::case::{Case, CaseState};
use crate::error::{Error, Result};
use crate::ids::{CaseId, DocId};
use crate::schema;
use crate::store::Store;
use crate::tracked_doc::TrackedDoc;

const MAGIC: &[u8; 8] = b"CBXCHG01";
/// Largest exchange file accepted (bytes).
pub const MAX_EXCHANGE_BYTES: usize = 64 << 20;
const MAX_HEADER: usize = 1 << 20;
const MAX_DOCS: usize = 10_000;
const MAX_CHANGES: usize = 2_000_000;

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    case: String,
    docs: Vec<DocEntry>,
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
}

fn bad(s: impl Into<String>) -> Error {
    Error::BadExchange(s.into())
}

fn parse_heads(hs: Option<&Vec<String>>) -> Vec<ChangeHash> {
    hs.map(|v| v.iter().filter_map(|h| h.parse().ok()).collect()).unwrap_or_default()
}

impl Store {
    /// Export the saved changes of a case that a peer at state `since` lacks (everything with `None`).
    pub fn export_changes(&self, case: &CaseId, since: Option<&CaseState>) -> Result<Vec<u8>> {
        let c = self.open_case(case)?;
        let storage = self.storage();
        let mut ids = vec![case.clone()];
        ids.extend(c.notes_doc_ids().into_iter().map(|(_, d)| d));
        let mut docs = Vec::new();
        let mut blobs = Vec::new();
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
                blobs.push(c.raw_bytes().to_vec());
            }
        }
        let header = serde_json::to_vec(&Header { case: case.to_string(), docs }).map_err(|e| bad(e.to_string()))?;
        let mut out = Vec::with_capacity(12 + header.len() + blobs.iter().map(Vec::len).sum::<usize>());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        for b in blobs {
            out.extend_from_slice(&b);
        }
        Ok(out)
    }

    /// Import an exchange file. Everything is checked and merged in memory first; then written and
    /// flushed at once. A file that does not apply changes nothing.
    pub fn import_changes(&self, file: &[u8]) -> Result<ImportReport> {
        if file.len() > MAX_EXCHANGE_BYTES {
            return Err(bad(format!("larger than {} MiB", MAX_EXCHANGE_BYTES >> 20)));
        }
        if file.len() < 12 || &file[..8] != MAGIC {
            return Err(bad("not a Casebook exchange file"));
        }
        let hlen = u32::from_le_bytes(file[8..12].try_into().expect("4 bytes")) as usize;
        if hlen > MAX_HEADER || 12 + hlen > file.len() {
            return Err(bad("header length out of range"));
        }
        let header: Header = serde_json::from_slice(&file[12..12 + hlen]).map_err(|_| bad("header is not valid"))?;
        if header.docs.len() > MAX_DOCS {
            return Err(bad("too many documents"));
        }
        let n_changes: usize = header.docs.iter().map(|d| d.changes.len()).sum();
        if n_changes > MAX_CHANGES {
            return Err(bad("too many changes"));
        }
        let total = header
            .docs
            .iter()
            .flat_map(|d| d.changes.iter())
            .try_fold(0usize, |a, l| a.checked_add(*l))
            .ok_or_else(|| bad("sizes overflow"))?;
        if 12 + hlen + total != file.len() {
            return Err(bad("truncated or padded: sizes do not match the file"));
        }
        let case: CaseId = header.case.parse().map_err(|_| bad("bad case id"))?;
        let storage = self.storage();
        let mut offset = 12 + hlen;
        let mut merged: BTreeMap<DocId, TrackedDoc> = BTreeMap::new();
        let mut new_changes = 0;
        let mut new_case = false;
        for d in &header.docs {
            let id: DocId = d.id.parse().map_err(|_| bad("bad document id"))?;
            let mut changes = Vec::with_capacity(d.changes.len());
            for len in &d.changes {
                let bytes = &file[offset..offset + len];
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
        let mut saved = Vec::new();
        for t in merged.values_mut() {
            let (stats, heads, _) = t.write(&*storage)?;
            saved.push((stats, heads));
        }
        storage.flush()?;
        for (t, (stats, heads)) in merged.values_mut().zip(saved) {
            t.mark_saved(&*storage, heads, stats)?;
        }
        storage.flush()?;
        self.register(&case)?;
        Ok(ImportReport { case, new_case, new_changes })
    }
}

impl Case {
    /// Export this case's saved changes since `since` (see [`Store::export_changes`]).
    pub fn export_changes(&self, since: Option<&CaseState>) -> Result<Vec<u8>> {
        Store::with_storage(self.storage.clone()).export_changes(self.id(), since)
    }
}
