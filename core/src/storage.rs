//! Key/value persistence behind one trait: [`Storage`].
//!
//! Keys follow automerge-repo's layout (`<doc id>/incremental/<change hash>`,
//! `<doc id>/snapshot/<compaction hash>`), so the same data can back a samod repository through
//! [`SamodStorage`]. Two implementations: [`SledStorage`] on disk (the only code in the workspace that
//! names sled) and [`MemoryStorage`] for tests.
//!
//! The bytes of attachment blobs are not values of the store: each storage hands out a
//! [`BlobStore`](crate::blob_store::BlobStore) ([`Storage::blobs`]) that keeps them as files — in
//! `<sled directory>/attachments/` for [`SledStorage`], in memory for [`MemoryStorage`].

use std::sync::Arc;

pub use samod::storage::StorageKey;

mod group_commit;
mod memory;
mod samod_adapter;
mod sled_storage;

pub use group_commit::GroupCommit;
pub use memory::MemoryStorage;
pub use samod_adapter::SamodStorage;
pub use sled_storage::SledStorage;

/// One write of a [`Storage::write_batch`].
#[derive(Debug, Clone, Copy)]
pub enum Write<'a> {
    /// Store the bytes under the key.
    Put(&'a StorageKey, &'a [u8]),
    /// Remove the key.
    Delete(&'a StorageKey),
}

/// A storage backend failure. Carries no stored content.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// The backend reported an I/O error (disk full, permission, device error).
    #[error("I/O error: {0}")]
    Io(String),
    /// The store is open in another process (sled allows one at a time); try again when it is closed.
    #[error("the store is in use by another process: {0}")]
    Locked(String),
    /// The on-disk database could not be opened or is damaged.
    #[error("database unusable: {0}")]
    Corrupt(String),
    /// A key that is not a valid storage key.
    #[error("invalid storage key")]
    InvalidKey,
}

/// What [`Storage::scan`] calls with each entry (key, value); an error stops the scan and is returned.
pub type ScanVisitor<'a> = dyn FnMut(&StorageKey, &[u8]) -> Result<(), StorageError> + 'a;

/// A synchronous key/value store with prefix scans. Every method may fail; [`Storage::flush`] makes every
/// earlier `put` and `delete` durable.
pub trait Storage: Send + Sync + 'static {
    /// The value under `key`, if any.
    fn load(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError>;
    /// Every entry whose key is `prefix` itself or starts with `prefix`'s components.
    fn load_range(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError>;
    /// Every key whose key is `prefix` or starts with its components, without values.
    fn keys(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError> {
        Ok(self.load_range(prefix)?.into_iter().map(|(k, _)| k).collect())
    }
    /// Store `data` under `key` (not yet durable).
    fn put(&self, key: &StorageKey, data: &[u8]) -> Result<(), StorageError>;
    /// Remove `key` (not yet durable).
    fn delete(&self, key: &StorageKey) -> Result<(), StorageError>;
    /// Make every earlier write durable.
    fn flush(&self) -> Result<(), StorageError>;
    /// Apply `writes` in order and make them (and every earlier write) durable: what [`GroupCommit`] calls
    /// with the writes it gathered. By default each write, then one [`Storage::flush`]; a store with
    /// transactions commits them as one. On an error, any of them may or may not have been applied.
    fn write_batch(&self, writes: &[Write<'_>]) -> Result<(), StorageError> {
        for w in writes {
            match w {
                Write::Put(k, v) => self.put(k, v)?,
                Write::Delete(k) => self.delete(k)?,
            }
        }
        self.flush()
    }
    /// Where the bytes of attachment blobs live beside this storage (always the same files for the same
    /// storage). By default none: reads find nothing and writes fail.
    fn blobs(&self) -> Arc<dyn crate::blob_store::BlobStore> {
        Arc::new(crate::blob_store::NoBlobStore)
    }
    /// Visit every entry in key order, one at a time (a backup streams the store without holding it in
    /// memory). Writes made during the visit may or may not be seen; callers that need one instant pause
    /// their writers. By default unsupported.
    fn scan(&self, visit: &mut ScanVisitor<'_>) -> Result<(), StorageError> {
        let _ = visit;
        Err(StorageError::Io("this storage cannot be scanned".into()))
    }
    /// Atomically replace the value under `key` by `new` (`None`: delete it) if it is exactly `expected`
    /// (`None`: absent); `Ok(false)`, and nothing written, if it is not. Durable when it returns `Ok(true)`
    /// (no [`Storage::flush`] needed), because the callers are rules that must hold across processes
    /// sharing one database (a single-use code taken once, a membership changed from what was read). By
    /// default unsupported.
    fn compare_and_swap(
        &self,
        key: &StorageKey,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        let _ = (key, expected, new);
        Err(StorageError::Io("this storage has no conditional writes".into()))
    }
    /// Remove the value under `key` and return it, atomically: of several callers (threads or processes on
    /// the same database) at most one gets it. Durable when it returns. Built on
    /// [`Storage::compare_and_swap`].
    fn take(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        loop {
            let Some(value) = self.load(key)? else { return Ok(None) };
            if self.compare_and_swap(key, Some(&value), None)? {
                return Ok(Some(value));
            }
        }
    }
}

impl<S: Storage + ?Sized> Storage for Arc<S> {
    fn load(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).load(key)
    }
    fn load_range(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        (**self).load_range(prefix)
    }
    fn keys(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError> {
        (**self).keys(prefix)
    }
    fn put(&self, key: &StorageKey, data: &[u8]) -> Result<(), StorageError> {
        (**self).put(key, data)
    }
    fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        (**self).delete(key)
    }
    fn flush(&self) -> Result<(), StorageError> {
        (**self).flush()
    }
    fn write_batch(&self, writes: &[Write<'_>]) -> Result<(), StorageError> {
        (**self).write_batch(writes)
    }
    fn blobs(&self) -> Arc<dyn crate::blob_store::BlobStore> {
        (**self).blobs()
    }
    fn scan(&self, visit: &mut ScanVisitor<'_>) -> Result<(), StorageError> {
        (**self).scan(visit)
    }
    fn compare_and_swap(
        &self,
        key: &StorageKey,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        (**self).compare_and_swap(key, expected, new)
    }
    fn take(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).take(key)
    }
}

/// Build a key from components; fails on an empty component or one containing `/`.
pub fn key<I, S>(parts: I) -> Result<StorageKey, StorageError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    StorageKey::from_parts(parts).map_err(|_| StorageError::InvalidKey)
}

/// The key of one raw change of document `doc` (samod's layout: `<doc>/incremental/<change hash>`). The
/// one place the chunk key layout is spelled out, with [`snapshot_key`].
pub fn incremental_key(doc: &crate::DocId, change: &automerge::ChangeHash) -> Result<StorageKey, StorageError> {
    key([doc.as_str(), "incremental", &change.to_string()])
}

/// The key of a full save of document `doc` at `heads` (samod's layout:
/// `<doc>/snapshot/<sha256 of the heads>`).
pub fn snapshot_key(doc: &crate::DocId, heads: &[automerge::ChangeHash]) -> Result<StorageKey, StorageError> {
    key([doc.as_str(), "snapshot", &samod_core::CompactionHash::new(heads).to_string()])
}

/// The flat string form of a key: components joined by `/` (components never contain `/`).
pub(crate) fn flat(key: &StorageKey) -> String {
    key.to_string()
}

/// Parse the flat string form back into a key.
pub(crate) fn unflat(s: &str) -> Result<StorageKey, StorageError> {
    key(s.split('/'))
}

#[cfg(test)]
mod conformance;
