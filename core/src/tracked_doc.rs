//! [`TrackedDoc`]: one Automerge document together with what of it is already on storage, and the chunk
//! layout it is saved in (automerge-repo's: one `incremental` chunk per change, compacted into one
//! `snapshot` chunk once enough of them pile up).

use std::collections::HashSet;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, Change, ChangeHash, LoadOptions, OnPartialLoad};

use crate::am::TEXT_ENCODING;
use crate::error::{Error, Result};
use crate::guard;
use crate::ids::{CaseId, DocId};
use crate::storage::{Storage, StorageKey, incremental_key, key, snapshot_key};

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

#[cfg(feature = "sim")]
thread_local! {
    /// The deterministic simulation's virtual clock (Unix seconds) for this thread, while a seed runs.
    static SIM_CLOCK: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) };
}

/// Make this thread's commit times come from the simulation's virtual clock (Unix seconds), or from the
/// wall clock again with `None`. For the deterministic simulation only: a seed must replay byte for byte.
#[cfg(feature = "sim")]
pub(crate) fn set_sim_clock(unix_secs: Option<i64>) {
    SIM_CLOCK.with(|c| c.set(unix_secs));
}

/// The time every local change is stamped with (Automerge's change `time`): Unix seconds, from the wall
/// clock, or from the simulation's virtual clock while a seed runs on this thread.
pub(crate) fn clock_secs() -> i64 {
    #[cfg(feature = "sim")]
    if let Some(t) = SIM_CLOCK.with(std::cell::Cell::get) {
        return t;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn prefix(id: &DocId) -> Result<StorageKey> {
    Ok(key([id.as_str()])?)
}

impl TrackedDoc {
    /// A new document not yet on storage.
    pub(crate) fn new(id: DocId, doc: AutoCommit) -> Self {
        Self { id, doc, saved_heads: Vec::new(), chunks: HashSet::new(), incrementals: 0 }
    }

    /// Load a document from its chunks; `None` if storage holds nothing for it. `case` names the case in
    /// errors.
    pub(crate) fn load(storage: &dyn Storage, id: &DocId, case: &CaseId) -> Result<Option<Self>> {
        let entries = storage.load_range(&prefix(id)?)?;
        if entries.is_empty() {
            return Ok(None);
        }
        let corrupt = |detail: String| Error::Corrupt { case: case.clone(), detail };
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
        // Automerge may panic on malformed chunks (see `guard`): every step runs guarded, on a document that
        // is thrown away on error.
        let strict = || LoadOptions::new().text_encoding(TEXT_ENCODING).on_partial_load(OnPartialLoad::Error);
        let mut doc = AutoCommit::new_with_encoding(TEXT_ENCODING);
        for (i, (_, bytes)) in snapshots.iter().enumerate() {
            let mut snap = guard::catch(|| AutoCommit::load_with_options(bytes, strict()))
                .map_err(|e| corrupt(format!("snapshot of document {id} does not load: {e}")))?
                .map_err(|e| corrupt(format!("snapshot of document {id} does not load: {e}")))?;
            if i == 0 {
                doc = snap;
            } else {
                guard::catch(|| doc.merge(&mut snap))
                    .map_err(|e| corrupt(format!("snapshots of document {id} do not merge: {e}")))?
                    .map_err(|e| corrupt(format!("snapshots of document {id} do not merge: {e}")))?;
            }
        }
        let mut changes = Vec::with_capacity(incrementals.len());
        for (_, bytes) in &incrementals {
            guard::change_chunk(bytes).map_err(|why| corrupt(format!("a change of document {id}: {why}")))?;
            changes.push(
                guard::catch(|| Change::try_from(&bytes[..]))
                    .map_err(|e| corrupt(format!("a change of document {id} does not load: {e}")))?
                    .map_err(|e| corrupt(format!("a change of document {id} does not load: {e}")))?,
            );
        }
        let hashes: Vec<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
        guard::catch(|| doc.apply_changes(changes))
            .map_err(|e| corrupt(format!("changes of document {id} do not apply: {e}")))?
            .map_err(|e| corrupt(format!("changes of document {id} do not apply: {e}")))?;
        // A stored change that cannot be applied lacks part of its history: chunks were lost. (A snapshot
        // may carry "orphans" — changes received before their dependencies, which automerge's `save`
        // keeps; they wait in the document's queue, as they did before the save, and are not a loss.)
        if hashes.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
            return Err(corrupt(format!("document {id} is missing changes (truncated)")));
        }
        doc.set_actor(crate::ids::fresh_actor());
        let saved_heads = doc.get_heads();
        let n_inc = incrementals.len();
        let chunks = snapshots.into_iter().chain(incrementals).map(|(k, _)| k).collect();
        Ok(Some(Self { id: id.clone(), doc, saved_heads, chunks, incrementals: n_inc }))
    }

    /// Commit the open transaction (pending edits: coalesced keystrokes, a named operation) as one change
    /// stamped with the time ([`clock_secs`]). Every commit of a local edit goes through here, so that
    /// Automerge never closes a transaction implicitly with time 0. Returns whether a change was made.
    pub(crate) fn commit(&mut self) -> bool {
        if self.doc.pending_ops() == 0 {
            return false;
        }
        self.doc.commit_with(CommitOptions::default().with_time(clock_secs())).is_some()
    }

    /// Whether this device wrote to the document since it was opened (its current actor made a change,
    /// committed or pending).
    pub(crate) fn wrote(&mut self) -> bool {
        self.doc.pending_ops() > 0 || self.doc.get_last_local_change().is_some()
    }

    /// Whether the document holds edits not yet durable.
    pub(crate) fn is_dirty(&mut self) -> bool {
        self.doc.pending_ops() > 0 || self.doc.get_heads() != self.saved_heads
    }

    /// Commit pending edits and write every change not yet on storage. Not durable until the storage is
    /// flushed: call [`TrackedDoc::mark_saved`] after a successful flush.
    pub(crate) fn write(&mut self, storage: &dyn Storage) -> Result<(SaveStats, Vec<ChangeHash>, Vec<Change>)> {
        self.commit();
        let heads = self.doc.get_heads();
        if heads == self.saved_heads {
            return Ok((SaveStats::default(), heads, Vec::new()));
        }
        let mut stats = SaveStats::default();
        let changes = self.doc.get_changes(&self.saved_heads);
        if self.incrementals + changes.len() > COMPACT_AFTER {
            let bytes = self.doc.save();
            let k = snapshot_key(&self.id, &heads)?;
            storage.put(&k, &bytes)?;
            stats.bytes = bytes.len();
            stats.changes = changes.len();
            stats.compacted = true;
            return Ok((stats, heads, changes));
        }
        for c in &changes {
            let k = incremental_key(&self.id, &c.hash())?;
            storage.put(&k, c.raw_bytes())?;
            self.chunks.insert(k);
            self.incrementals += 1;
            stats.changes += 1;
            stats.bytes += c.raw_bytes().len();
        }
        Ok((stats, heads, changes))
    }

    /// The heads known to be durable on storage.
    #[cfg(any(feature = "sync", feature = "sim"))]
    pub(crate) fn saved_heads(&self) -> &[ChangeHash] {
        &self.saved_heads
    }

    /// Record that `heads` are durable. After a compaction, the superseded chunks are deleted (their
    /// content is in the snapshot; a crash before the deletion only leaves redundant chunks behind).
    pub(crate) fn mark_saved(&mut self, storage: &dyn Storage, heads: Vec<ChangeHash>, stats: SaveStats) -> Result<()> {
        self.saved_heads = heads;
        if stats.compacted {
            let snapshot = snapshot_key(&self.id, &self.saved_heads)?;
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

    /// Merge changes received by another component sharing this storage (the sync client's samod
    /// repository) and make sure they are durable here: each applied change is written as an incremental
    /// chunk unless already there (samod stores them too, but asynchronously), then flushed. Changes already
    /// in the document are skipped. If the document holds unsaved edits, the merged changes are left for
    /// the next save instead. Returns how many changes were new.
    pub(crate) fn merge_external(&mut self, storage: &dyn Storage, changes: Vec<Change>) -> Result<usize> {
        let clean = !self.is_dirty();
        // Pending local edits become a change of their own (with its time) before the merge closes them.
        self.commit();
        let new: Vec<Change> =
            changes.into_iter().filter(|c| self.doc.get_change_by_hash(&c.hash()).is_none()).collect();
        if new.is_empty() {
            return Ok(0);
        }
        self.doc.apply_changes(new.clone())?;
        // Changes whose dependencies are missing wait inside Automerge and are not part of the document.
        let applied: Vec<&Change> = new.iter().filter(|c| self.doc.get_change_by_hash(&c.hash()).is_some()).collect();
        if clean {
            for c in &applied {
                let k = incremental_key(&self.id, &c.hash())?;
                if storage.load(&k)?.is_none() {
                    storage.put(&k, c.raw_bytes())?;
                }
                if self.chunks.insert(k) {
                    self.incrementals += 1;
                }
            }
            // Flushed by the caller, outside the case's lock (a lost unflushed chunk only means the change
            // comes again from its source).
            self.saved_heads = self.doc.get_heads();
        }
        Ok(applied.len())
    }

    /// Delete every chunk of document `id`.
    pub(crate) fn delete_all(storage: &dyn Storage, id: &DocId) -> Result<()> {
        for k in storage.keys(&prefix(id)?)? {
            storage.delete(&k)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use automerge::{ROOT, ReadDoc};

    use super::*;
    use crate::storage::MemoryStorage;

    fn saved(storage: &MemoryStorage, t: &mut TrackedDoc) {
        let (stats, heads, _) = t.write(storage).unwrap();
        storage.flush().unwrap();
        t.mark_saved(storage, heads, stats).unwrap();
    }

    fn get(t: &TrackedDoc, k: &str) -> Option<i64> {
        t.doc.get(ROOT, k).unwrap().and_then(|(v, _)| v.as_i64())
    }

    #[test]
    fn external_changes_are_merged_durably_and_are_not_unsaved_edits() {
        let storage = MemoryStorage::new();
        let case = DocId::random();
        let id = DocId::random();
        let mut a = TrackedDoc::new(id.clone(), AutoCommit::new_with_encoding(TEXT_ENCODING));
        a.doc.put(ROOT, "x", 1).unwrap();
        saved(&storage, &mut a);

        // Another replica's change, as samod would hand it over.
        let mut other = a.doc.fork();
        other.put(ROOT, "y", 2).unwrap();
        other.commit();
        let heads = a.doc.get_heads();
        let changes = other.get_changes(&heads);
        assert_eq!(a.merge_external(&storage, changes.clone()).unwrap(), 1);
        assert!(!a.is_dirty());
        assert_eq!(get(&a, "y"), Some(2));
        // Idempotent.
        assert_eq!(a.merge_external(&storage, changes).unwrap(), 0);
        // On storage, without a save.
        let b = TrackedDoc::load(&storage, &id, &case).unwrap().unwrap();
        assert_eq!(get(&b, "y"), Some(2));

        // With a pending local edit, the merged changes wait for the save (which writes both).
        let mut c = TrackedDoc::load(&storage, &id, &case).unwrap().unwrap();
        c.doc.put(ROOT, "z", 3).unwrap();
        other.put(ROOT, "w", 4).unwrap();
        other.commit();
        let heads = c.doc.get_heads();
        let changes = other.get_changes(&heads);
        assert_eq!(c.merge_external(&storage, changes).unwrap(), 1);
        assert!(c.is_dirty());
        saved(&storage, &mut c);
        let d = TrackedDoc::load(&storage, &id, &case).unwrap().unwrap();
        assert_eq!((get(&d, "w"), get(&d, "z")), (Some(4), Some(3)));
    }

    /// Found by the simulation: a snapshot written by samod (or by joining a case) while the document held
    /// a change whose dependency had not arrived yet carries that change as an "orphan"; the case must
    /// still open (it did not: "missing changes (truncated)"), and the dependency merges later. A stored
    /// incremental change whose history is gone is still refused.
    #[test]
    fn a_snapshot_with_an_orphan_change_loads_but_a_lost_change_does_not() {
        let storage = MemoryStorage::new();
        let case = DocId::random();
        let id = DocId::random();
        let mut origin = AutoCommit::new_with_encoding(TEXT_ENCODING);
        origin.put(ROOT, "x", 1).unwrap();
        origin.commit();
        let base = origin.get_heads();
        origin.put(ROOT, "y", 2).unwrap();
        origin.commit();
        let first = origin.get_changes(&base)[0].clone();
        origin.put(ROOT, "z", 3).unwrap();
        origin.commit();
        let orphan = origin.get_changes(&[first.hash()])[0].clone();

        // A replica that has the base and received the third change before the second.
        let mut replica = AutoCommit::new_with_encoding(TEXT_ENCODING);
        replica.apply_changes(origin.get_changes(&[]).into_iter().filter(|c| c.hash() == base[0])).unwrap();
        replica.apply_changes([orphan.clone()]).unwrap();
        assert_eq!(replica.get_missing_deps(&[]), vec![first.hash()]);
        let snapshot = key([id.as_str(), "snapshot", "s1"]).unwrap();
        storage.put(&snapshot, &replica.save()).unwrap();

        let mut loaded = TrackedDoc::load(&storage, &id, &case).unwrap().expect("the case opens");
        assert_eq!(get(&loaded, "x"), Some(1));
        assert_eq!(get(&loaded, "z"), None, "the orphan waits for its dependency");
        loaded.merge_external(&storage, vec![first.clone()]).unwrap();
        assert_eq!((get(&loaded, "y"), get(&loaded, "z")), (Some(2), Some(3)), "dependency and orphan apply");
        let reloaded = TrackedDoc::load(&storage, &id, &case).unwrap().unwrap();
        assert_eq!((get(&reloaded, "y"), get(&reloaded, "z")), (Some(2), Some(3)), "and stay applied");

        // An incremental change whose dependency was lost is corruption.
        let lost = MemoryStorage::new();
        for c in origin.get_changes(&[]) {
            if c.hash() != first.hash() {
                lost.put(&key([id.as_str(), "incremental", &c.hash().to_string()]).unwrap(), c.raw_bytes()).unwrap();
            }
        }
        let err = TrackedDoc::load(&lost, &id, &case).err().expect("refused");
        assert!(err.to_string().contains("missing changes"), "{err}");
    }
}
