//! [`Durable`]: no sync message leaves the relay with heads it has not made durable.
//!
//! samod answers a sync message and hands its changes to storage in the same step, in no set order, and
//! storage completes a write only when a group commit made it durable (`casebook_core::storage::GroupCommit`).
//! A device takes the heads the relay sends as "saved to the relay", and a sibling may rely on it too, so
//! every outgoing sync message waits until its heads are stored and committed: each head's change stored
//! as an incremental chunk, or a snapshot at exactly these heads, or a head the relay already confirmed in
//! an earlier message of the document. The last confirmed heads of each document are kept, so the same
//! heads sent to every member cost one look-up.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::ChangeHash;
use casebook_core::DocId;
use casebook_core::storage::{Storage, StorageError, incremental_key, snapshot_key};

use crate::inbound::leb128;

/// Longest an outgoing message waits for its heads to be durable before it goes anyway (with a warning):
/// a flush takes milliseconds; longer means storage is failing, which `GET …/heads` still reports.
pub(crate) const DURABLE_WAIT: Duration = Duration::from_secs(5);
/// How long the fast path (what this process saw written) is waited on before storage is asked.
pub(crate) const FAST_WAIT: Duration = Duration::from_millis(500);

/// Most change hashes remembered per document: beyond, the set starts again (a head it no longer holds is
/// then confirmed from storage, [`crate::quota::QuotaStorage::until_durable`]'s slow path).
const MAX_TRACKED: usize = 20_000;

/// What this process knows to be durable, per document: the changes it stored (or loaded) and the heads it
/// last confirmed; and a wake-up for the messages waiting on that document's writes.
#[derive(Default)]
pub(crate) struct Durable {
    docs: Mutex<HashMap<String, DocDurable>>,
}

#[derive(Default)]
struct DocDurable {
    stored: HashSet<ChangeHash>,
    confirmed: Vec<ChangeHash>,
    wake: Arc<tokio::sync::Notify>,
}

impl Durable {
    /// Changes of `doc` are durable (a write completed, or they were loaded from storage): remember them and
    /// wake the messages waiting on the document.
    pub(crate) fn stored(&self, doc: &str, hashes: impl IntoIterator<Item = ChangeHash>) {
        let wake = {
            let mut docs = self.lock();
            let d = docs.entry(doc.to_string()).or_default();
            if d.stored.len() > MAX_TRACKED {
                d.stored.clear();
            }
            d.stored.extend(hashes);
            d.wake.clone()
        };
        wake.notify_waiters();
    }

    /// `Ok` (and remembered as confirmed) if every head of `heads` is known durable; otherwise what wakes
    /// when the document's next write completes (arm it, then check again).
    pub(crate) fn check(&self, doc: &str, heads: &[ChangeHash]) -> Result<(), Arc<tokio::sync::Notify>> {
        let mut docs = self.lock();
        let d = docs.entry(doc.to_string()).or_default();
        if heads.iter().all(|h| d.stored.contains(h) || d.confirmed.contains(h)) {
            d.confirmed = heads.to_vec();
            Ok(())
        } else {
            Err(d.wake.clone())
        }
    }

    /// The heads last confirmed for `doc`.
    pub(crate) fn confirmed(&self, doc: &str) -> Vec<ChangeHash> {
        self.lock().get(doc).map(|d| d.confirmed.clone()).unwrap_or_default()
    }

    /// Record `heads` of `doc` as durable (confirmed from storage).
    pub(crate) fn confirm(&self, doc: &str, heads: Vec<ChangeHash>) {
        self.lock().entry(doc.to_string()).or_default().confirmed = heads;
    }

    /// Forget a document (its case was unloaded: loading it again loads what is stored).
    pub(crate) fn forget(&self, doc: &str) {
        self.lock().remove(doc);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, DocDurable>> {
        self.docs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The changes a stored chunk makes durable: an incremental chunk's change (named in its key), or a
/// document chunk's heads (read from its header). Empty for anything else.
pub(crate) fn chunk_hashes(key: &str, value: &[u8]) -> Vec<ChangeHash> {
    let mut parts = key.split('/');
    let (_, kind, name) = (parts.next(), parts.next(), parts.next());
    match kind {
        Some("incremental") => name.and_then(|n| n.parse().ok()).into_iter().collect(),
        Some("snapshot") => document_heads(value).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The heads in a document chunk's header: magic, checksum, type 0, LEB128 length, then the actors (count,
/// each length-prefixed) and the heads (count, 32 bytes each).
fn document_heads(chunk: &[u8]) -> Option<Vec<ChangeHash>> {
    if chunk.len() < 9 || chunk[..4] != [0x85, 0x6f, 0x4a, 0x83] || chunk[8] != 0 {
        return None;
    }
    let mut at = 9;
    let next = |chunk: &[u8], at: &mut usize| -> Option<u64> {
        let (v, used) = leb128(chunk.get(*at..)?)?;
        *at += used;
        Some(v)
    };
    next(chunk, &mut at)?;
    for _ in 0..next(chunk, &mut at)? {
        let len = usize::try_from(next(chunk, &mut at)?).ok()?;
        at = at.checked_add(len)?;
    }
    let count = next(chunk, &mut at)?;
    let mut heads = Vec::new();
    for _ in 0..count {
        let h: [u8; 32] = chunk.get(at..at.checked_add(32)?)?.try_into().ok()?;
        heads.push(ChangeHash(h));
        at += 32;
    }
    Some(heads)
}

/// The document and heads of an outgoing `sync` or `request` message; `None` for any other message.
pub(crate) fn outgoing_heads(bytes: &[u8]) -> Option<(String, Vec<ChangeHash>)> {
    let e = crate::inbound::envelope(bytes)?;
    if !matches!(e.kind, "sync" | "request") {
        return None;
    }
    let doc = e.doc.flatten()?.to_string();
    // automerge's sync message: a type byte, then the heads (LEB128 count, 32 bytes each).
    let data = e.data?;
    let (count, used) = leb128(data.get(1..)?)?;
    let mut at = 1 + used;
    let mut heads = Vec::with_capacity(count.min(64) as usize);
    for _ in 0..count {
        let h: [u8; 32] = data.get(at..at + 32)?.try_into().ok()?;
        heads.push(ChangeHash(h));
        at += 32;
    }
    Some((doc, heads))
}

/// Whether `heads` of `doc` are stored: a snapshot at exactly these heads, or every head either in
/// `confirmed` or stored as its change's incremental chunk. (samod stores a change after its
/// dependencies, and a change inside a snapshot but not one of its heads has a descendant there, so it is
/// never again a head of the relay's document.)
pub(crate) fn stored_at(
    storage: &dyn Storage,
    doc: &DocId,
    heads: &[ChangeHash],
    confirmed: &[ChangeHash],
) -> Result<bool, StorageError> {
    let exists = |k: casebook_core::storage::StorageKey| -> Result<bool, StorageError> {
        Ok(storage.keys(&k)?.first() == Some(&k))
    };
    if heads.is_empty() || heads.iter().all(|h| confirmed.contains(h)) || exists(snapshot_key(doc, heads)?)? {
        return Ok(true);
    }
    for h in heads.iter().filter(|h| !confirmed.contains(h)) {
        if !exists(incremental_key(doc, h)?)? {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use casebook_core::storage::MemoryStorage;

    #[test]
    fn heads_count_as_stored_once_their_changes_a_snapshot_or_a_confirmation_are() {
        let s = MemoryStorage::new();
        let doc = DocId::random();
        let (a, b, c) = (ChangeHash([1; 32]), ChangeHash([2; 32]), ChangeHash([3; 32]));
        assert!(stored_at(&s, &doc, &[], &[]).unwrap());
        assert!(!stored_at(&s, &doc, &[a, b], &[]).unwrap());
        s.put(&incremental_key(&doc, &a).unwrap(), b"x").unwrap();
        assert!(!stored_at(&s, &doc, &[a, b], &[]).unwrap(), "one head of two is not stored yet");
        s.put(&incremental_key(&doc, &b).unwrap(), b"x").unwrap();
        assert!(stored_at(&s, &doc, &[a, b], &[]).unwrap());
        // After a compaction only the snapshot at these heads is there.
        let other = DocId::random();
        s.put(&snapshot_key(&other, &[a, b]).unwrap(), b"x").unwrap();
        assert!(stored_at(&s, &other, &[a, b], &[]).unwrap());
        assert!(!stored_at(&s, &other, &[a], &[]).unwrap());
        // A head confirmed before (inside that snapshot) and a new change stored on its own.
        assert!(!stored_at(&s, &other, &[b, c], &[a, b]).unwrap(), "c is not stored");
        s.put(&incremental_key(&other, &c).unwrap(), b"x").unwrap();
        assert!(stored_at(&s, &other, &[b, c], &[a, b]).unwrap());
    }

    #[test]
    fn a_stored_chunk_names_the_changes_it_makes_durable() {
        use automerge::transaction::Transactable;
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, "k", "v").unwrap();
        doc.commit();
        let mut other = doc.fork();
        other.put(automerge::ROOT, "k", "w").unwrap();
        other.commit();
        doc.put(automerge::ROOT, "j", "x").unwrap();
        doc.commit();
        doc.merge(&mut other).unwrap();
        let mut heads = doc.get_heads();
        assert_eq!(heads.len(), 2, "two concurrent heads");
        let mut read = chunk_hashes("d/snapshot/abc", &doc.save());
        heads.sort();
        read.sort();
        assert_eq!(read, heads);
        let h = heads[0];
        assert_eq!(chunk_hashes(&format!("d/incremental/{h}"), b"whatever"), vec![h]);
        assert!(chunk_hashes("d/snapshot/abc", b"garbage").is_empty());
        assert!(chunk_hashes("relay/case/x", b"").is_empty());
    }

    #[test]
    fn the_heads_of_an_outgoing_sync_message_are_read() {
        use automerge::sync::SyncDoc;
        use automerge::transaction::Transactable;
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, "k", "v").unwrap();
        doc.commit();
        let heads = doc.get_heads();
        let data = doc.document().generate_sync_message(&mut automerge::sync::State::new()).unwrap().encode();
        let id = samod::DocumentId::new(&mut rand::rng());
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(4).unwrap();
        e.str("type").unwrap().str("sync").unwrap();
        e.str("senderId").unwrap().str("relay").unwrap();
        e.str("documentId").unwrap().str(&id.to_string()).unwrap();
        e.str("data").unwrap().bytes(&data).unwrap();
        let bytes = e.into_writer();
        assert_eq!(outgoing_heads(&bytes), Some((id.to_string(), heads)));
        assert_eq!(outgoing_heads(b"\xa0"), None);
    }
}
