//! Moving changes between a [`Case`](crate::Case)'s own copy of a document and samod's copy: the
//! synchronous heart of the sync client, shared by [`crate::sync::SyncClient`] and the deterministic
//! simulation ([`crate::sim`]) so that the simulation exercises the code the apps run.

use automerge::{Automerge, AutomergeError, Change, ChangeHash, ReadDoc};

#[cfg(feature = "sim")]
use crate::case::Case;
use crate::ids::DocId;
use crate::storage::{Storage, StorageError, incremental_key, key, snapshot_key};
use crate::{Result, schema};

/// Step one of an exchange, on the case's copy (under the case's lock): its heads, and the changes it
/// has that samod (at `samod_heads`) lacks.
pub(crate) fn outgoing(mine: &Automerge, samod_heads: &[ChangeHash]) -> (Vec<ChangeHash>, Vec<Change>) {
    let before = mine.get_heads();
    let base: Vec<ChangeHash> = samod_heads.iter().filter(|h| mine.get_change_by_hash(h).is_some()).copied().collect();
    let push = if same(&base, &before) { Vec::new() } else { mine.get_changes(&base) };
    (before, push)
}

/// Step two, on samod's copy (under samod's lock only): apply `push`, and return the changes samod has
/// beyond the case's `before` heads, with samod's heads.
pub(crate) fn incoming(
    theirs: &mut Automerge,
    push: Vec<Change>,
    before: &[ChangeHash],
) -> std::result::Result<(Vec<Change>, Vec<ChangeHash>), AutomergeError> {
    if !push.is_empty() {
        theirs.apply_changes(push)?;
    }
    let heads = theirs.get_heads();
    let pull = if same(&heads, before) { Vec::new() } else { theirs.get_changes(before) };
    Ok((pull, heads))
}

fn same(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    a.len() == b.len() && a.iter().all(|h| b.contains(h))
}

/// Whether storage holds any chunk of document `id`.
pub(crate) fn on_storage(storage: &dyn Storage, id: &DocId) -> std::result::Result<bool, StorageError> {
    Ok(!storage.keys(&key([id.as_str()])?)?.is_empty())
}

/// Make every notes document of the case exist on storage — at least its deterministic first change,
/// identical on every replica — so that samod always finds it locally and the relay's copy merges into
/// it (samod remembers a document it once failed to find and never looks at storage for it again).
/// Returns the notes documents, and flushes if it wrote any.
#[cfg(feature = "sim")]
pub(crate) fn materialize_notes(storage: &dyn Storage, case: &Case) -> Result<Vec<DocId>> {
    materialize_notes_of(storage, case.id(), &case.notes_doc_ids())
}

/// [`materialize_notes`] given the case's `(appointment, notes document)` pairs, so that a caller holding
/// the case's lock only to read them can do the storage work without it.
pub(crate) fn materialize_notes_of(
    storage: &dyn Storage,
    case_id: &crate::CaseId,
    notes: &[(String, DocId)],
) -> Result<Vec<DocId>> {
    let mut wrote = false;
    let mut ids = Vec::new();
    for (appointment, id) in notes {
        if !on_storage(storage, id)? {
            let mut genesis = schema::genesis_notes(id, case_id, appointment)?;
            for c in genesis.get_changes(&[]) {
                storage.put(&incremental_key(id, &c.hash())?, c.raw_bytes())?;
            }
            wrote = true;
        }
        ids.push(id.clone());
    }
    if wrote {
        storage.flush()?;
    }
    Ok(ids)
}

/// Whether a message from the relay must not reach this device's samod: a `request` for a document this
/// device does not hold. samod would open the document for it, find nothing on storage, and then never
/// look at storage for it again — so a notes document the case creates or learns a moment later (its first
/// change written by [`materialize_notes`], notes typed into it) would never reach samod, and never leave
/// the phone until the app restarts; if every device is in that state the relay never gets it either (found
/// by the simulation: a phone lost right after creating an appointment). Holding the request back only
/// means not answering "unavailable": the relay gets the document when this device opens it and syncs.
pub(crate) fn hold_back_from_relay(bytes: &[u8], storage: &dyn Storage) -> bool {
    match envelope(bytes) {
        Some((kind, Some(doc))) if kind == "request" => !on_storage(storage, &doc).unwrap_or(true),
        _ => false,
    }
}

/// The `type` and `documentId` (sent as text or as 16 bytes) of a samod wire message; `None` if it is not
/// a CBOR map with a text `type`.
pub(crate) fn envelope(bytes: &[u8]) -> Option<(String, Option<DocId>)> {
    let mut d = minicbor::Decoder::new(bytes);
    let n = d.map().ok()??;
    let (mut kind, mut doc) = (None, None);
    for _ in 0..n {
        match d.str().ok()? {
            "type" => kind = Some(d.str().ok()?.to_string()),
            "documentId" => {
                doc = match d.datatype().ok()? {
                    minicbor::data::Type::String => d.str().ok()?.parse::<DocId>().ok(),
                    _ => samod_core::DocumentId::try_from(d.bytes().ok()?.to_vec()).ok().map(DocId::from),
                }
            }
            _ => d.skip().ok()?,
        }
    }
    Some((kind?, doc))
}

/// Store a case document found through the relay as one snapshot (flushed, rather than waiting for
/// samod's own asynchronous write) and list the case in the store; the caller then opens it.
pub(crate) fn store_joined_case(store: &crate::Store, case_id: &crate::CaseId, doc: &Automerge) -> Result<()> {
    let storage = store.storage();
    storage.put(&snapshot_key(case_id, &doc.get_heads())?, &doc.save())?;
    storage.flush()?;
    store.register(case_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    fn message(kind: &str, doc: &DocId, as_bytes: bool) -> Vec<u8> {
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(4).unwrap().str("type").unwrap().str(kind).unwrap();
        e.str("senderId").unwrap().str("casebook-relay").unwrap();
        if as_bytes {
            e.str("documentId").unwrap().bytes(doc.to_document_id().as_bytes()).unwrap();
        } else {
            e.str("documentId").unwrap().str(doc.as_str()).unwrap();
        }
        e.str("data").unwrap().bytes(&[0x42]).unwrap();
        e.into_writer()
    }

    #[test]
    fn only_requests_for_documents_not_held_are_held_back() {
        let storage = MemoryStorage::new();
        let held = DocId::random();
        let other = DocId::random();
        storage.put(&key([held.as_str(), "incremental", "00"]).unwrap(), b"x").unwrap();
        for as_bytes in [false, true] {
            assert!(hold_back_from_relay(&message("request", &other, as_bytes), &storage));
            assert!(!hold_back_from_relay(&message("request", &held, as_bytes), &storage));
            assert!(!hold_back_from_relay(&message("sync", &other, as_bytes), &storage));
        }
        assert!(!hold_back_from_relay(b"\\xa1garbage", &storage));
        assert!(!hold_back_from_relay(&[], &storage));
    }
}
