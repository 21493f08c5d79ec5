//! [`TrackedDoc`]: one Automerge document together with what of it is already on storage, and the chunk
//! layout it is saved in (automerge-repo's: one `incremental` chunk per change, compacted into one
//! `snapshot` chunk once enough of them pile up).

use std::collections::HashSet;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Change, ChangeHash, LoadOptions, OnPartialLoad};

use crate::am::TEXT_ENCODING;
use crate::error::{Error, Result};
use crate::ids::{CaseId, DocId};
use crate::storage::{Storage, StorageKey, key};

/// Incremental chunks tolerated before a save compacts the document into one snapshot.
pub(crate) const COMPACT_AFTER: usize = 256;

/// A loaded document and its persistence bookkeeping.
pub(crate) struct TrackedDoc {
    /// The document's id.
    pub(crate) id: DocId,
    /// The document itself (pending edits live in its open transaction until [`TrackedDoc::save`]).
    pub(crate) doc: AutoCommit,
    /// Heads known to be durable on storage.
    saved_heads: Vec<ChangeHash>,
    /// Chunk keys known to be on storage (superseded by the next compaction).
    chunks: HashSet<StorageKey>,
    /// Incremental chunks written since the last snapshot.
    incrementals: usize,
}

/// What a save wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SaveStats {
    /// Changes written.
    pub changes: usize,
    /// Bytes written.
    pub bytes: usize,
    /// Whether the document was compacted into a snapshot.
    pub compacted: bool,
}

impl SaveStats {
    pub(crate) fn add(&mut self, o: SaveStats) {
        self.changes += o.changes;
        self.bytes += o.bytes;
        self.compacted |= o.compacted;
    }
}

fn prefix(id: &DocId) -> Result<StorageKey> {
    Ok(key([id.as_str()])?)
}

impl TrackedDoc {
    /// A new document not yet on storage.
    pub(crate) fn new(id: DocId, doc: AutoCommit) -> Self {
        Self {
            id,
            doc,
            saved_heads: Vec::new(),
            chunks: HashSet::new(),
            incrementals: 0,
        }
    }

    /// Load a document from its chunks; `None` if storage holds nothing for it. `case` names the case in
    /// errors.
    pub(crate) fn load(storage: &dyn Storage, id: &DocId, case: &CaseId) -> Result<Option<Self>> {
        let entries = storage.load_range(&prefix(id)?)?;
        if entries.is_empty() {
            return Ok(None);
        }
        let corrupt = |detail: String| Error::Corrupt {
            case: case.clone(),
            detail,
        };
        // Snapshots first (one full document), then incremental changes in any order.
        let mut snapshots = Vec::new();
        let mut incrementals = Vec::new();
        for (k, v) in entries {
            let kind = k.to_string();
            if kind.contains("/snapshot/") {
                snapshots.push((k, v));
            } else if kind.contains("/incremental/") {
                incrementals.push((k, v));
            }
        }
        // Strict decoding: a damaged or truncated chunk is an error, never silently skipped.
        let strict = || LoadOptions::new().text_encoding(TEXT_ENCODING).on_partial_load(OnPartialLoad::Error);
        let mut doc = AutoCommit::new_with_encoding(TEXT_ENCODING);
        for (i, (_, bytes)) in snapshots.iter().enumerate() {
            let mut snap = AutoCommit::load_with_options(bytes, strict())
                .map_err(|e| corrupt(format!("snapshot of document {id} does not load: {e}")))?;
            if i == 0 {
                doc = snap;
            } else {
                doc.merge(&mut snap)?;
            }
        }
        let mut changes = Vec::with_capacity(incrementals.len());
        for (_, bytes) in &incrementals {
            changes.push(
                Change::try_from(&bytes[..])
                    .map_err(|e| corrupt(format!("a change of document {id} does not load: {e}")))?,
            );
        }
        doc.apply_changes(changes).map_err(|e| corrupt(format!("changes of document {id} do not apply: {e}")))?;
        if !doc.get_missing_deps(&[]).is_empty() {
            return Err(corrupt(format!("document {id} is missing changes (truncated)")));
        }
        let saved_heads = doc.get_heads();
        let n_inc = incrementals.len();
        let chunks = snapshots.into_iter().chain(incrementals).map(|(k, _)| k).collect();
        Ok(Some(Self {
            id: id.clone(),
            doc,
            saved_heads,
            chunks,
            incrementals: n_inc,
        }))
    }

    /// Whether the document holds edits not yet durable.
    pub(crate) fn is_dirty(&mut self) -> bool {
        self.doc.pending_ops() > 0 || self.doc.get_heads() != self.saved_heads
    }

    /// Commit pending edits and write every change not yet on storage. Not durable until the storage is
    /// flushed: call [`TrackedDoc::mark_saved`] after a successful flush.
    pub(crate) fn write(&mut self, storage: &dyn Storage) -> Result<(SaveStats, Vec<ChangeHash>)> {
        self.doc.commit();
        let heads = self.doc.get_heads();
        if heads == self.saved_heads {
            return Ok((SaveStats::default(), heads));
        }
        let mut stats = SaveStats::default();
        let changes = self.doc.get_changes(&self.saved_heads);
        if self.incrementals + changes.len() > COMPACT_AFTER {
            let bytes = self.doc.save();
            let hash = samod_core::CompactionHash::new(&heads);
            let k = key([self.id.as_str(), "snapshot", &hash.to_string()])?;
            storage.put(&k, &bytes)?;
            stats.bytes = bytes.len();
            stats.changes = changes.len();
            stats.compacted = true;
            return Ok((stats, heads));
        }
        for c in &changes {
            let k = key([self.id.as_str(), "incremental", &c.hash().to_string()])?;
            storage.put(&k, c.raw_bytes())?;
            self.chunks.insert(k);
            self.incrementals += 1;
            stats.changes += 1;
            stats.bytes += c.raw_bytes().len();
        }
        Ok((stats, heads))
    }

    /// Record that `heads` are durable. After a compaction, the superseded chunks are deleted (their
    /// content is in the snapshot; a crash before the deletion only leaves redundant chunks behind).
    pub(crate) fn mark_saved(&mut self, storage: &dyn Storage, heads: Vec<ChangeHash>, stats: SaveStats) -> Result<()> {
        self.saved_heads = heads;
        if stats.compacted {
            let snapshot = key([
                self.id.as_str(),
                "snapshot",
                &samod_core::CompactionHash::new(&self.saved_heads).to_string(),
            ])?;
            for k in self.chunks.drain() {
                if k != snapshot {
                    storage.delete(&k)?;
                }
            }
            self.chunks.insert(snapshot);
            self.incrementals = 0;
        }
        Ok(())
    }

    /// Delete every chunk of document `id`.
    pub(crate) fn delete_all(storage: &dyn Storage, id: &DocId) -> Result<()> {
        for k in storage.keys(&prefix(id)?)? {
            storage.delete(&k)?;
        }
        Ok(())
    }
}
