//! Moving changes between a [`Case`](crate::Case)'s own copy of a document and samod's copy: the
//! synchronous heart of the sync client, shared by [`crate::sync::SyncClient`] and the deterministic
//! simulation ([`crate::sim`]) so that the simulation exercises the code the apps run.

use automerge::{Automerge, AutomergeError, Change};

use crate::case::Case;
use crate::ids::DocId;
use crate::storage::{Storage, StorageError, key};
use crate::{Result, schema};

/// Push into `theirs` (samod's copy) the changes `mine` (the case's copy) has and it lacks, and return the
/// changes `theirs` has and `mine` lacks, for [`Case::merge_external`].
pub(crate) fn exchange(mine: &Automerge, theirs: &mut Automerge) -> std::result::Result<Vec<Change>, AutomergeError> {
    let push = theirs.get_changes_added(mine);
    if !push.is_empty() {
        theirs.apply_changes(push)?;
    }
    Ok(mine.get_changes_added(theirs))
}

/// Whether storage holds any chunk of document `id`.
pub(crate) fn on_storage(storage: &dyn Storage, id: &DocId) -> std::result::Result<bool, StorageError> {
    Ok(!storage.keys(&key([id.as_str()])?)?.is_empty())
}

/// Make every notes document of the case exist on storage — at least its deterministic first change,
/// identical on every replica — so that samod always finds it locally and the relay's copy merges into
/// it (samod remembers a document it once failed to find and never looks at storage for it again).
/// Returns the notes documents, and flushes if it wrote any.
pub(crate) fn materialize_notes(storage: &dyn Storage, case: &Case) -> Result<Vec<DocId>> {
    let mut wrote = false;
    let mut ids = Vec::new();
    for (appointment, id) in case.notes_doc_ids() {
        if !on_storage(storage, &id)? {
            let mut genesis = schema::genesis_notes(&id, case.id(), &appointment)?;
            for c in genesis.get_changes(&[]) {
                storage.put(&key([id.as_str(), "incremental", &c.hash().to_string()])?, c.raw_bytes())?;
            }
            wrote = true;
        }
        ids.push(id);
    }
    if wrote {
        storage.flush()?;
    }
    Ok(ids)
}
