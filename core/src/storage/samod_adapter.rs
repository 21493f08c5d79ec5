//! [`SamodStorage`]: any [`Storage`] as the storage of a samod repository (relay and sync client).

use std::collections::HashMap;
use std::sync::Arc;

use super::{Storage, StorageKey};

/// Adapts a [`Storage`] to samod's infallible async storage trait. Every `put` and `delete` is flushed
/// before it completes, so "saved to the relay" means durable. samod's trait cannot return an error: a failed
/// read is reported as absent data and a failed write is counted in [`SamodStorage::failures`] and logged
/// without content; the document stays in memory and is written again with its next change.
#[derive(Clone)]
pub struct SamodStorage {
    inner: Arc<dyn Storage>,
    failures: Arc<std::sync::atomic::AtomicU64>,
}

impl SamodStorage {
    /// Wrap a storage.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        Self { inner, failures: Arc::default() }
    }

    /// How many storage operations failed since this adapter was created.
    pub fn failures(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn failed(&self, what: &str, e: &super::StorageError) {
        self.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(operation = what, error = %e, "casebook storage operation failed");
    }
}

impl samod::storage::Storage for SamodStorage {
    fn load(&self, key: StorageKey) -> impl Future<Output = Option<Vec<u8>>> + Send {
        let r = match self.inner.load(&key) {
            Ok(v) => v,
            Err(e) => {
                self.failed("load", &e);
                None
            }
        };
        std::future::ready(r)
    }

    fn load_range(&self, prefix: StorageKey) -> impl Future<Output = HashMap<StorageKey, Vec<u8>>> + Send {
        let r = match self.inner.load_range(&prefix) {
            Ok(v) => v.into_iter().collect(),
            Err(e) => {
                self.failed("load_range", &e);
                HashMap::new()
            }
        };
        std::future::ready(r)
    }

    fn put(&self, key: StorageKey, data: Vec<u8>) -> impl Future<Output = ()> + Send {
        if let Err(e) = self.inner.put(&key, &data).and_then(|_| self.inner.flush()) {
            self.failed("put", &e);
        }
        std::future::ready(())
    }

    fn delete(&self, key: StorageKey) -> impl Future<Output = ()> + Send {
        if let Err(e) = self.inner.delete(&key).and_then(|_| self.inner.flush()) {
            self.failed("delete", &e);
        }
        std::future::ready(())
    }
}
