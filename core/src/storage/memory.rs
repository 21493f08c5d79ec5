//! An in-memory [`Storage`] for tests and simulations.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Storage, StorageError, StorageKey, flat, unflat};

/// A [`Storage`] kept in a `BTreeMap`; clones share the same map (and the same in-memory blob files,
/// [`Storage::blobs`]). Flush is a no-op.
#[derive(Clone, Default)]
pub struct MemoryStorage {
    map: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    blobs: Arc<crate::blob_store::MemoryBlobStore>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-updated: recover it.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Storage for MemoryStorage {
    fn load(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.map().get(&flat(key)).cloned())
    }

    fn load_range(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        let exact = flat(prefix);
        let dir = format!("{exact}/");
        let map = self.map();
        let mut out = Vec::new();
        if let Some(v) = map.get(&exact) {
            out.push((prefix.clone(), v.clone()));
        }
        for (k, v) in map.range(dir.clone()..) {
            if !k.starts_with(&dir) {
                break;
            }
            out.push((unflat(k)?, v.clone()));
        }
        Ok(out)
    }

    fn put(&self, key: &StorageKey, data: &[u8]) -> Result<(), StorageError> {
        self.map().insert(flat(key), data.to_vec());
        Ok(())
    }

    fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        self.map().remove(&flat(key));
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn blobs(&self) -> Arc<dyn crate::blob_store::BlobStore> {
        self.blobs.clone()
    }

    fn compare_and_swap(
        &self,
        key: &StorageKey,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        let mut map = self.map();
        let k = flat(key);
        if map.get(&k).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(v) => map.insert(k, v.to_vec()),
            None => map.remove(&k),
        };
        Ok(true)
    }

    fn scan(&self, visit: &mut super::ScanVisitor<'_>) -> Result<(), StorageError> {
        // A copy, so that `visit` may use the storage.
        let entries: Vec<(String, Vec<u8>)> = self.map().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (k, v) in entries {
            visit(&unflat(&k)?, &v)?;
        }
        Ok(())
    }
}
