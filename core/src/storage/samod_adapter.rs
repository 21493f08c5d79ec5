//! [`SamodStorage`]: any [`Storage`] as the storage of a samod repository (relay and sync client).

use std::collections::HashMap;
use std::sync::Arc;

use super::{GroupCommit, Storage, StorageError, StorageKey};

/// Adapts a [`Storage`] to samod's infallible async storage trait. Every `put` and `delete` completes when
/// it is durable, so "saved to the relay" means durable; writes go through one [`GroupCommit`] (clones
/// share it), so concurrent writes share a flush and no caller's thread waits for one. samod's trait cannot
/// return an error: a failed read is reported as absent data and a failed write is counted in
/// [`SamodStorage::failures`] and logged without content; the document stays in memory and is written
/// again with its next change.
#[derive(Clone)]
pub struct SamodStorage {
    inner: Arc<dyn Storage>,
    commit: Arc<GroupCommit>,
    failures: Arc<std::sync::atomic::AtomicU64>,
}

impl SamodStorage {
    /// Wrap a storage (and start its committer thread).
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        let commit = Arc::new(GroupCommit::new(inner.clone()));
        Self { inner, commit, failures: Arc::default() }
    }

    /// Completes when every write handed to samod's storage before this call is durable.
    pub fn committed(&self) -> impl Future<Output = Result<(), StorageError>> + Send + 'static + use<> {
        self.commit.barrier()
    }

    /// samod's `put`, as a future that borrows nothing: the write is handed over now (in call order) and
    /// the future completes when it is durable (a failure is counted and logged).
    pub fn put_owned(&self, key: StorageKey, data: Vec<u8>) -> impl Future<Output = ()> + Send + 'static + use<> {
        let written = self.commit.put(key, data);
        let this = self.clone();
        async move {
            if let Err(e) = written.await {
                this.failed("put", &e);
            }
        }
    }

    /// samod's `delete`, as a future that borrows nothing (see [`SamodStorage::put_owned`]).
    pub fn delete_owned(&self, key: StorageKey) -> impl Future<Output = ()> + Send + 'static + use<> {
        let written = self.commit.delete(key);
        let this = self.clone();
        async move {
            if let Err(e) = written.await {
                this.failed("delete", &e);
            }
        }
    }

    /// Batches committed so far and the writes they held.
    pub fn commit_counts(&self) -> (u64, u64) {
        self.commit.counts()
    }

    /// How many storage operations failed since this adapter was created.
    pub fn failures(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn failed(&self, what: &str, e: &StorageError) {
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
        self.put_owned(key, data)
    }

    fn delete(&self, key: StorageKey) -> impl Future<Output = ()> + Send {
        self.delete_owned(key)
    }
}
