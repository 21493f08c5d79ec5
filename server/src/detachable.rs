//! [`Detachable`]: the relay's handle on its database, which shutdown can cut.
//!
//! samod 0.16 never ends its background tasks (its I/O loop and the repository reference each other), so
//! they keep their storage — and through the share policy, the directory — alive after `Repo::stop`. Every
//! relay component therefore reaches the sled database through this wrapper; [`Detachable::detach`] drops
//! the database so its file lock is released and a new relay can open the same directory in the same
//! process. Any later operation fails with an I/O error (none is expected after the repository stopped).

use std::sync::{Arc, RwLock};

use casebook_core::storage::{Storage, StorageError, StorageKey, Write};

/// A [`Storage`] that forwards to an inner one until detached.
pub(crate) struct Detachable {
    inner: RwLock<Option<Arc<dyn Storage>>>,
    /// Writes (put, delete, flush) share it; an online backup takes it alone, so that what it copies is
    /// one instant of the database (writers wait meanwhile; reads go on).
    writes: RwLock<()>,
}

impl Detachable {
    /// Wrap `inner`.
    pub(crate) fn new(inner: Arc<dyn Storage>) -> Self {
        Detachable { inner: RwLock::new(Some(inner)), writes: RwLock::new(()) }
    }

    /// Drop the inner storage; returns it (so the caller can wait for the last reference to go).
    pub(crate) fn detach(&self) -> Option<Arc<dyn Storage>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Hold every write until the guard is dropped (an online backup's consistent copy).
    pub(crate) fn pause_writes(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        self.writes.write().unwrap_or_else(|e| e.into_inner())
    }

    fn writing(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.writes.read().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self) -> Result<Arc<dyn Storage>, StorageError> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| StorageError::Io("the relay has stopped".into()))
    }
}

impl Storage for Detachable {
    fn load(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        self.get()?.load(key)
    }
    fn load_range(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        self.get()?.load_range(prefix)
    }
    fn keys(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError> {
        self.get()?.keys(prefix)
    }
    fn put(&self, key: &StorageKey, data: &[u8]) -> Result<(), StorageError> {
        let _w = self.writing();
        self.get()?.put(key, data)
    }
    fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        let _w = self.writing();
        self.get()?.delete(key)
    }
    fn flush(&self) -> Result<(), StorageError> {
        let _w = self.writing();
        self.get()?.flush()
    }
    fn write_batch(&self, writes: &[Write<'_>]) -> Result<(), StorageError> {
        let _w = self.writing();
        self.get()?.write_batch(writes)
    }
    fn scan(&self, visit: &mut casebook_core::storage::ScanVisitor<'_>) -> Result<(), StorageError> {
        self.get()?.scan(visit)
    }
    fn compare_and_swap(
        &self,
        key: &StorageKey,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        let _w = self.writing();
        self.get()?.compare_and_swap(key, expected, new)
    }
    fn blobs(&self) -> Arc<dyn casebook_core::blob_store::BlobStore> {
        match self.get() {
            Ok(s) => s.blobs(),
            Err(_) => Arc::new(casebook_core::blob_store::NoBlobStore),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casebook_core::storage::{MemoryStorage, key};

    #[test]
    fn forwards_until_detached() {
        let d = Detachable::new(Arc::new(MemoryStorage::new()));
        let k = key(["a", "b"]).unwrap();
        d.put(&k, b"x").unwrap();
        assert_eq!(d.load(&k).unwrap().as_deref(), Some(&b"x"[..]));
        assert!(d.detach().is_some());
        assert!(d.load(&k).is_err());
        assert!(d.detach().is_none());
    }
}
