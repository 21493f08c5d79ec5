//! [`Case`]: one family's second-opinion case, open for reading and editing.
//!
//! A case is an overview Automerge document plus one notes document per appointment, opened only when
//! that appointment's notes are read or written. Writes are named operations (in `model/`); each applies
//! completely or returns a typed error and changes nothing. Edits are held in memory until
//! [`Case::save`], which writes and flushes them: a save that returns `Ok` is durable.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use automerge::{AutoCommit, ChangeHash};

use crate::error::{Error, Result};
use crate::ids::{CaseId, DocId};
use crate::model::text::TextTarget;
use crate::storage::Storage;
use crate::tracked_doc::{SaveStats, TrackedDoc};
use crate::{am, schema};

/// An open case. Not `Sync`: share it behind a mutex; every method is quick (sub-millisecond edits).
pub struct Case {
    /// The overview document; its id is the case id.
    pub(crate) main: TrackedDoc,
    /// Notes documents opened so far, by appointment id.
    pub(crate) notes: BTreeMap<String, TrackedDoc>,
    /// Where the case is saved.
    pub(crate) storage: Arc<dyn Storage>,
    /// The text object last typed into; cleared whenever an open document may change other than by a
    /// splice (see `TextTarget`).
    pub(crate) text_cache: Option<TextTarget>,
    /// Held for a whole [`save_shared`], so that two saves of this case never interleave.
    saving: Arc<Mutex<()>>,
    /// The caregiver using this device for the case ("me"), once known: read from the store's local
    /// record when first needed, until found (a device may learn it after opening the case, by joining).
    me: Option<String>,
    /// Whether this session's Automerge actor is bound to its caregiver in the overview document
    /// (`actors`, see [`crate::model::history`]).
    bound: bool,
}

/// What [`Case::write_pending`] wrote, for [`Case::mark_written`].
struct PendingSave {
    written: Vec<(DocId, Vec<ChangeHash>, SaveStats)>,
    /// The changes written, per document (for the sync client to hand to samod directly).
    changes: Vec<(DocId, Vec<ChangeHash>, Vec<automerge::Change>)>,
    total: SaveStats,
}

/// What [`save_shared_changes`] made durable: per document, its heads and the changes written.
pub(crate) type Written = Vec<(DocId, Vec<ChangeHash>, Vec<automerge::Change>)>;

/// Save a case shared between threads without holding its lock while the disk flushes: the pending
/// changes are written under the lock (memory work), the flush (milliseconds to tens of milliseconds on a
/// phone) runs without it, and what became durable is recorded under the lock again. Reads and writes of
/// the case from other threads (a UI typing) wait for the two short steps only. Saves of one case are
/// serialized. Same promise as [`Case::save`]: `Ok` means durable.
pub fn save_shared(case: &Mutex<Case>) -> Result<SaveStats> {
    Ok(save_shared_changes(case)?.0)
}

/// [`save_shared`], also returning the changes it wrote (the sync client hands them to samod without
/// locking the case again).
pub(crate) fn save_shared_changes(case: &Mutex<Case>) -> Result<(SaveStats, Written)> {
    let poisoned = || Error::Storage(crate::storage::StorageError::Io("the case is unusable after a panic".into()));
    let (storage, saving) = {
        let c = case.lock().map_err(|_| poisoned())?;
        (c.storage.clone(), c.saving.clone())
    };
    let _one_at_a_time = saving.lock().unwrap_or_else(|e| e.into_inner());
    let mut pending = case.lock().map_err(|_| poisoned())?.write_pending()?;
    if pending.written.is_empty() {
        return Ok((pending.total, Vec::new()));
    }
    storage.flush()?;
    let total = pending.total;
    let changes = std::mem::take(&mut pending.changes);
    case.lock().map_err(|_| poisoned())?.mark_written(pending)?;
    if total.compacted {
        storage.flush()?;
    }
    Ok((total, changes))
}

/// The state of a case as a set of heads per document: what a peer already has. Exchange files carry the
/// changes after such a state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CaseState {
    /// Heads (hex change hashes) of each document of the case, by document id.
    pub docs: BTreeMap<String, Vec<String>>,
    /// SHA-256 of the attachment blobs the device holds ([`Case::exchange_state`]; empty from
    /// [`Case::state`]): an export with attachments leaves those out.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub blobs: std::collections::BTreeSet<String>,
}

impl Case {
    /// Create a new case document (not yet saved).
    pub(crate) fn create(storage: Arc<dyn Storage>, created: &str) -> Result<Self> {
        let id = DocId::random();
        let mut doc = AutoCommit::new_with_encoding(am::TEXT_ENCODING).with_actor(crate::ids::fresh_actor());
        schema::init_case(&mut doc, created)?;
        let mut main = TrackedDoc::new(id, doc);
        main.commit();
        let mut case = Case {
            main,
            notes: BTreeMap::new(),
            storage,
            text_cache: None,
            saving: Arc::default(),
            me: None,
            bound: false,
        };
        crate::model::question::seed_guide_questions(&mut case, created)?;
        Ok(case)
    }

    /// Open a saved case.
    pub(crate) fn open(storage: Arc<dyn Storage>, id: &CaseId) -> Result<Self> {
        let main = TrackedDoc::load(&*storage, id, id)?.ok_or_else(|| Error::CaseNotFound(id.clone()))?;
        schema::check_case(&main.doc, id)?;
        Ok(Case {
            main,
            notes: BTreeMap::new(),
            storage,
            text_cache: None,
            saving: Arc::default(),
            me: None,
            bound: false,
        })
    }

    /// Tell the case which caregiver uses this device (when the store records it only after the case's
    /// first edits: at its creation). This session's edits, earlier ones included, are attributed to them
    /// from the next save or edit on.
    pub(crate) fn set_local_caregiver(&mut self, caregiver: &str) {
        self.me = Some(caregiver.to_string());
    }

    /// The caregiver using this device for the case, if the store knows it. Attribution never stops an
    /// edit: a record that cannot be read counts as unknown (and is read again next time).
    fn local_caregiver(&mut self) -> Option<String> {
        if self.me.is_none() {
            self.me = crate::store::stored_me(&*self.storage, &self.main.id).ok().flatten();
        }
        self.me.clone()
    }

    /// Bind this session's actor to the local caregiver in the overview's open transaction, if it is not
    /// bound yet, the caregiver is known and `wrote` says this session changed a document of the case.
    fn bind_actor(&mut self, wrote: impl FnOnce(&mut Self) -> bool) -> Result<()> {
        if self.bound {
            return Ok(());
        }
        let Some(me) = self.local_caregiver() else {
            return Ok(());
        };
        if !wrote(self) {
            return Ok(());
        }
        crate::model::history::bind_actor(&mut self.main.doc, &me, crate::tracked_doc::clock_secs())?;
        self.bound = true;
        Ok(())
    }

    /// Commit the pending edits of every open document, each as one change stamped with the time, and bind
    /// this session's actor to its caregiver if it wrote and is not bound yet (in the same change as the
    /// overview's pending edits, if any, else in a change of its own).
    pub(crate) fn commit_all(&mut self) -> Result<()> {
        // In the overview's open transaction, with its pending text edits if any: one change.
        self.bind_actor(|c| c.main.wrote() || c.notes.values_mut().any(TrackedDoc::wrote))?;
        for doc in std::iter::once(&mut self.main).chain(self.notes.values_mut()) {
            doc.commit();
        }
        Ok(())
    }

    /// The case id.
    pub fn id(&self) -> &CaseId {
        &self.main.id
    }

    /// The overview document (read-only), for tools that inspect raw Automerge.
    pub fn document(&self) -> &AutoCommit {
        &self.main.doc
    }

    /// Whether edits were made since the last save.
    pub fn has_unsaved_changes(&mut self) -> bool {
        self.main.is_dirty() || self.notes.values_mut().any(|d| d.is_dirty())
    }

    /// Write every pending edit of every open document and flush: when this returns `Ok`, the edits
    /// survive a crash. On error nothing already saved is lost and the edits stay pending, so calling save
    /// again after the cause is fixed (space freed) saves them.
    pub fn save(&mut self) -> Result<SaveStats> {
        let storage = self.storage.clone();
        let pending = self.write_pending()?;
        if pending.written.is_empty() {
            return Ok(pending.total);
        }
        storage.flush()?;
        let total = pending.total;
        self.mark_written(pending)?;
        if total.compacted {
            storage.flush()?;
        }
        Ok(total)
    }

    /// Write every pending edit of every open document (not durable until the storage is flushed).
    fn write_pending(&mut self) -> Result<PendingSave> {
        self.commit_all()?;
        let storage = self.storage.clone();
        let mut written = Vec::new();
        let mut all_changes = Vec::new();
        let mut total = SaveStats::default();
        for doc in std::iter::once(&mut self.main).chain(self.notes.values_mut()) {
            let (stats, heads, changes) = doc.write(&*storage)?;
            if stats.changes > 0 {
                total.add(stats);
                written.push((doc.id.clone(), heads.clone(), stats));
                all_changes.push((doc.id.clone(), heads, changes));
            }
        }
        Ok(PendingSave { written, changes: all_changes, total })
    }

    /// Record that what [`Case::write_pending`] wrote is durable (after a flush); after a compaction the
    /// superseded chunks are deleted (flush again to make that durable).
    fn mark_written(&mut self, pending: PendingSave) -> Result<()> {
        let storage = self.storage.clone();
        for (id, heads, stats) in pending.written {
            let doc = if id == self.main.id {
                &mut self.main
            } else {
                self.notes.values_mut().find(|d| d.id == id).expect("written doc is open")
            };
            doc.mark_saved(&*storage, heads, stats)?;
        }
        Ok(())
    }

    /// Apply a named operation to the overview document as one change: all of it, or on error nothing.
    pub(crate) fn edit<T>(&mut self, f: impl FnOnce(&mut AutoCommit) -> Result<T>) -> Result<T> {
        // A named operation may move or remove what a cached text object was found through.
        self.text_cache = None;
        // Commit coalesced text edits first so that a rollback can only undo this operation.
        self.main.commit();
        match f(&mut self.main.doc) {
            Ok(v) => {
                // The first write of this session binds its actor to the local caregiver, in this change.
                let wrote = |c: &mut Self| automerge::transaction::Transactable::pending_ops(&c.main.doc) > 0;
                if let Err(e) = self.bind_actor(wrote) {
                    self.main.doc.rollback();
                    return Err(e);
                }
                self.main.commit();
                Ok(v)
            }
            Err(e) => {
                self.main.doc.rollback();
                Err(e)
            }
        }
    }

    /// The notes document of an appointment, loaded or created (identically on every replica).
    pub(crate) fn notes_doc(&mut self, appointment: &str) -> Result<&mut TrackedDoc> {
        if !self.notes.contains_key(appointment) {
            let appts = am::root_map(&self.main.doc, "appointments")?;
            let a = am::child(&self.main.doc, &appts, appointment, "appointment")?;
            let notes_id: DocId = am::get_str(&self.main.doc, &a, "notes_doc")
                .ok_or_else(|| Error::Corrupt {
                    case: self.id().clone(),
                    detail: "appointment without notes document".into(),
                })?
                .parse()?;
            let case_id = self.id().clone();
            let mut tracked = match TrackedDoc::load(&*self.storage, &notes_id, &case_id)? {
                Some(mut t) => {
                    if t.doc.get_heads().is_empty() {
                        let g = schema::genesis_notes(&notes_id, &case_id, appointment)?;
                        t.doc.merge(&mut g.clone())?;
                    }
                    schema::check_notes(&t.doc, &case_id)?;
                    t
                }
                None => TrackedDoc::new(notes_id.clone(), schema::genesis_notes(&notes_id, &case_id, appointment)?),
            };
            // One actor per session for every document of the case: its binding in the overview attributes
            // the notes this device writes too.
            tracked.doc.set_actor(self.main.doc.get_actor().clone());
            self.notes.insert(appointment.to_string(), tracked);
        }
        Ok(self.notes.get_mut(appointment).expect("inserted above"))
    }

    /// Ids of the notes documents of every appointment.
    pub(crate) fn notes_doc_ids(&self) -> Vec<(String, DocId)> {
        let doc = &self.main.doc;
        let Ok(appts) = am::root_map(doc, "appointments") else {
            return Vec::new();
        };
        am::keys(doc, &appts)
            .into_iter()
            .filter_map(|a| {
                let obj = am::get_obj(doc, &appts, &a)?;
                let id = am::get_str(doc, &obj, "notes_doc")?.parse().ok()?;
                Some((a, id))
            })
            .collect()
    }

    /// The open documents of the case (overview first, then open notes documents), for the sync client.
    /// Their pending edits are committed first (with their time), before the caller reads their changes.
    #[cfg(any(feature = "sync", feature = "sim"))]
    pub(crate) fn open_docs_mut(&mut self) -> impl Iterator<Item = &mut TrackedDoc> {
        for d in std::iter::once(&mut self.main).chain(self.notes.values_mut()) {
            d.commit();
        }
        std::iter::once(&mut self.main).chain(self.notes.values_mut())
    }

    /// The open documents of the case (overview first, then open notes documents), read-only.
    #[cfg(any(feature = "sync", feature = "sim"))]
    pub(crate) fn open_docs(&self) -> impl Iterator<Item = &TrackedDoc> {
        std::iter::once(&self.main).chain(self.notes.values())
    }

    /// Merge changes of document `doc` that the sync client received (and samod stored): applied to the
    /// document if it is open, written to storage (the caller flushes, after releasing the case's lock),
    /// and not reported as unsaved edits. A document of the case that
    /// is not open needs nothing: it is read from storage when opened. Returns how many changes were new.
    #[cfg_attr(not(any(feature = "sync", feature = "sim")), allow(dead_code))]
    pub(crate) fn merge_external(&mut self, doc: &DocId, changes: Vec<automerge::Change>) -> Result<usize> {
        let storage = self.storage.clone();
        let is_main = *doc == self.main.id;
        let target = if is_main { Some(&mut self.main) } else { self.notes.values_mut().find(|d| d.id == *doc) };
        let Some(target) = target else {
            return Ok(0);
        };
        let n = target.merge_external(&*storage, changes)?;
        if n > 0 {
            // The merged changes may move or remove what a cached text object was found through.
            self.text_cache = None;
            if is_main {
                schema::check_case(&self.main.doc, &self.main.id)?;
            }
        }
        Ok(n)
    }

    /// The current state (heads of every document of the case that is open or on storage).
    pub fn state(&mut self) -> Result<CaseState> {
        let mut docs = BTreeMap::new();
        self.commit_all()?;
        docs.insert(self.main.id.to_string(), hex_heads(&self.main.doc.get_heads()));
        for (appt, id) in self.notes_doc_ids() {
            let heads = match self.notes.get_mut(&appt) {
                Some(d) => d.doc.get_heads(),
                // Not open: what storage holds (nothing if its notes were never written).
                None => match TrackedDoc::load(&*self.storage, &id, &self.main.id)? {
                    Some(mut d) => d.doc.get_heads(),
                    None => continue,
                },
            };
            docs.insert(id.to_string(), hex_heads(&heads));
        }
        Ok(CaseState { docs, blobs: Default::default() })
    }

    /// [`Case::state`] plus the attachment blobs this device holds: what a peer needs to export only the
    /// changes **and** attachment files this device lacks (`casebook state`).
    pub fn exchange_state(&mut self) -> Result<CaseState> {
        let mut state = self.state()?;
        state.blobs = self.attachments(None).into_iter().filter(|a| a.on_device).map(|a| a.sha256).collect();
        Ok(state)
    }

    /// A case over an overview document merged in memory and not saved yet (an import reads it before it
    /// writes it; `main` is taken back from the field).
    pub(crate) fn unsaved(storage: Arc<dyn Storage>, main: TrackedDoc) -> Self {
        Case { main, notes: BTreeMap::new(), storage, text_cache: None, saving: Arc::default(), me: None, bound: false }
    }
}

pub(crate) fn hex_heads(h: &[ChangeHash]) -> Vec<String> {
    h.iter().map(|h| h.to_string()).collect()
}
