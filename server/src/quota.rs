//! Per-case storage quota: [`Quota`] counts the stored bytes of every document of a case, and
//! [`QuotaStorage`] (the samod storage of the relay) feeds it on every write.
//!
//! When a case's bytes exceed the quota, its share policy turns read-only for everyone: the relay stops
//! accepting its changes (clients keep theirs locally), keeps serving reads, and the API answers
//! `quota_exceeded` (registering documents, `GET /v1/cases/{id}/usage`). The write that crosses the line is
//! stored, so a case can overshoot by at most one sync message (bounded by the message size limit). If
//! compaction brings the case back under the quota, it becomes writable again.
//!
//! Usage is counted lazily: a document's bytes are read from storage the first time the document is
//! written or its case's usage is asked for after a start, then kept up to date from the writes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use casebook_core::storage::{SamodStorage, Storage, StorageError, StorageKey, key};

use crate::accounts::Directory;
use crate::cluster::{Announce, Signal};
use crate::durable::{DURABLE_WAIT, Durable, FAST_WAIT, chunk_hashes, outgoing_heads, stored_at};
use crate::metrics::{LimitKind, Metrics};

/// Bytes stored per document. Pure bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct UsageBook {
    docs: HashMap<String, u64>,
}

impl UsageBook {
    /// Bytes of `doc`, if counted.
    pub(crate) fn get(&self, doc: &str) -> Option<u64> {
        self.docs.get(doc).copied()
    }

    /// Set the bytes of `doc` (first count from storage).
    pub(crate) fn set(&mut self, doc: &str, bytes: u64) {
        self.docs.insert(doc.to_string(), bytes);
    }

    /// A value of `doc` went from `old` bytes (absent: `None`) to `new` (deleted: `None`). A document not
    /// counted yet is left uncounted: its first count reads storage, which holds the write.
    pub(crate) fn apply(&mut self, doc: &str, old: Option<usize>, new: Option<usize>) {
        if let Some(v) = self.docs.get_mut(doc) {
            *v = v.saturating_sub(old.unwrap_or(0) as u64).saturating_add(new.unwrap_or(0) as u64);
        }
    }

    /// Total bytes of `docs` (uncounted ones as zero).
    pub(crate) fn total<'a>(&self, docs: impl IntoIterator<Item = &'a String>) -> u64 {
        docs.into_iter().filter_map(|d| self.get(d)).sum()
    }
}

/// Whether `bytes` is over `limit` (0 disables the quota).
pub(crate) fn over_quota(bytes: u64, limit: u64) -> bool {
    limit > 0 && bytes > limit
}

/// The quota of every case.
pub(crate) struct Quota {
    raw: Arc<dyn Storage>,
    dir: Arc<Directory>,
    limit: u64,
    book: Mutex<UsageBook>,
    over: RwLock<HashSet<String>>,
    metrics: Arc<Metrics>,
}

impl Quota {
    /// A quota of `limit` bytes per case over `raw`.
    pub(crate) fn new(raw: Arc<dyn Storage>, dir: Arc<Directory>, limit: u64, metrics: Arc<Metrics>) -> Self {
        Quota { raw, dir, limit, book: Mutex::default(), over: RwLock::default(), metrics }
    }

    /// The per-case limit in bytes (0: none).
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    fn book(&self) -> std::sync::MutexGuard<'_, UsageBook> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ensure(&self, book: &mut UsageBook, doc: &str) {
        if book.get(doc).is_some() {
            return;
        }
        let bytes = match key([doc]).and_then(|k| self.raw.load_range(&k)) {
            Ok(entries) => entries.iter().map(|(_, v)| v.len() as u64).sum(),
            Err(e) => {
                tracing::warn!(doc_id = doc, error = %e, "cannot count stored bytes of a document");
                0
            }
        };
        book.set(doc, bytes);
    }

    /// Make sure `doc` is counted before a write to it.
    pub(crate) fn before_write(&self, doc: &str) {
        let mut book = self.book();
        self.ensure(&mut book, doc);
    }

    /// Stored bytes of a case (all its documents and its attachment blobs).
    pub(crate) fn case_usage(&self, case_id: &str) -> u64 {
        let docs = self.dir.documents_of(case_id);
        let blobs = crate::blobs::case_blob_bytes(&*self.raw, case_id);
        let mut book = self.book();
        for d in &docs {
            self.ensure(&mut book, d);
        }
        book.total(&docs).saturating_add(blobs)
    }

    /// The relay's raw storage (blobs live there, beside the documents).
    pub(crate) fn raw(&self) -> &Arc<dyn Storage> {
        &self.raw
    }

    /// Whether a case is over its quota (as of its last write).
    pub(crate) fn is_over(&self, case_id: &str) -> bool {
        self.over.read().unwrap_or_else(|e| e.into_inner()).contains(case_id)
    }

    /// Cases over quota.
    pub(crate) fn over_count(&self) -> usize {
        self.over.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A write to `doc` happened: a value went from `old` to `new` bytes.
    pub(crate) fn after_write(&self, doc: &str, old: Option<usize>, new: Option<usize>) {
        self.book().apply(doc, old, new);
        let Some(case) = self.dir.case_of(doc) else { return };
        self.refresh(&case);
    }

    /// Another relay process wrote to `doc` (cluster signal): count it if `doc` is counted here (else it is
    /// counted from storage when first needed).
    pub(crate) fn remote_write(&self, doc: &str, old: Option<usize>, new: Option<usize>) {
        {
            let mut book = self.book();
            if book.get(doc).is_none() {
                return;
            }
            book.apply(doc, old, new);
        }
        let Some(case) = self.dir.case_of(doc) else { return };
        self.refresh(&case);
    }

    /// Drop every count: each is read again from storage when next needed (the cluster's periodic repair,
    /// so that lost signals never leave a count wrong for long).
    pub(crate) fn forget_counts(&self) {
        *self.book() = UsageBook::default();
    }

    /// Re-evaluate a case against the quota; tell share policies when it flips.
    pub(crate) fn refresh(&self, case_id: &str) {
        let bytes = self.case_usage(case_id);
        let now_over = over_quota(bytes, self.limit);
        let flipped = {
            let mut over = self.over.write().unwrap_or_else(|e| e.into_inner());
            if now_over { over.insert(case_id.to_string()) } else { over.remove(case_id) }
        };
        if flipped {
            if now_over {
                self.metrics.limit_hit(LimitKind::CaseQuota);
                tracing::warn!(case_id, bytes, quota = self.limit, "case over its storage quota: now read-only");
            } else {
                tracing::info!(case_id, bytes, quota = self.limit, "case back under its storage quota");
            }
            self.dir.notify();
        }
    }
}

/// The document a storage key belongs to (`<doc id>/<kind>/<hash>`), if it is a document key.
fn doc_of(k: &StorageKey) -> Option<String> {
    let flat = k.to_string();
    let mut parts = flat.split('/');
    let doc = parts.next()?;
    parts.next()?;
    Some(doc.to_string())
}

/// The relay's samod storage: the core's [`SamodStorage`] (flushed writes) plus quota accounting.
#[derive(Clone)]
pub(crate) struct QuotaStorage {
    inner: SamodStorage,
    raw: Arc<dyn Storage>,
    quota: Arc<Quota>,
    /// Other relay processes on the same database, told of every chunk written (none with sled).
    announce: Option<Arc<dyn Announce>>,
    /// Heads confirmed durable, for outgoing messages.
    durable: Arc<Durable>,
}

impl QuotaStorage {
    /// Wrap `raw` for samod, counting into `quota`.
    pub(crate) fn new(raw: Arc<dyn Storage>, quota: Arc<Quota>) -> Self {
        QuotaStorage { inner: SamodStorage::new(raw.clone()), raw, quota, announce: None, durable: Arc::default() }
    }

    /// Announce every chunk written or deleted to the other processes of a cluster.
    pub(crate) fn with_announce(mut self, announce: Arc<dyn Announce>) -> Self {
        self.announce = Some(announce);
        self
    }

    fn announce(
        &self,
        key: &StorageKey,
        old: Option<usize>,
        new: Option<usize>,
    ) -> Option<(Arc<dyn Announce>, Signal)> {
        let a = self.announce.clone()?;
        Some((a, Signal::Chunk { key: key.to_string(), old: old.map(|v| v as u64), new: new.map(|v| v as u64) }))
    }

    /// Failed storage operations so far.
    pub(crate) fn failures(&self) -> u64 {
        self.inner.failures()
    }

    /// Completes when every write samod handed over before this call is durable.
    pub(crate) fn committed(&self) -> impl Future<Output = Result<(), StorageError>> + Send + 'static + use<> {
        self.inner.committed()
    }

    /// Wait until the heads an outgoing sync message carries are durable (see `durable`); `false` if
    /// that could not be confirmed within [`DURABLE_WAIT`] (the message goes anyway).
    pub(crate) async fn until_durable(&self, bytes: &[u8]) -> bool {
        let Some((doc, heads)) = outgoing_heads(bytes) else { return true };
        if heads.is_empty() {
            return true;
        }
        // First what this process saw written (or loaded), waiting for its writes to complete; after
        // FAST_WAIT, heads it did not see written (stored by another process and applied here by the
        // cluster, or forgotten) are asked of storage.
        let now = tokio::time::Instant::now();
        let (fast, deadline) = (now + FAST_WAIT, now + DURABLE_WAIT);
        loop {
            let wake = match self.durable.check(&doc, &heads) {
                Ok(()) => return true,
                Err(wake) => wake,
            };
            let next_write = wake.notified();
            tokio::pin!(next_write);
            next_write.as_mut().enable();
            let slow = tokio::time::Instant::now() >= fast;
            let durable = if slow {
                self.stored_and_committed(&doc, &heads).await
            } else {
                self.durable.check(&doc, &heads).is_ok()
            };
            if durable {
                return true;
            }
            let timed_out = tokio::time::timeout_at(if slow { deadline } else { fast }, next_write).await.is_err();
            if timed_out && slow {
                return false;
            }
        }
    }

    /// Whether storage holds `heads` of `doc` (and, on sled, has flushed them); remembered if so.
    async fn stored_and_committed(&self, doc: &str, heads: &[automerge::ChangeHash]) -> bool {
        let Ok(id) = doc.parse::<casebook_core::DocId>() else { return true };
        let (raw, h, confirmed) = (self.raw.clone(), heads.to_vec(), self.durable.confirmed(doc));
        let stored = tokio::task::spawn_blocking(move || stored_at(&*raw, &id, &h, &confirmed).unwrap_or(false))
            .await
            .unwrap_or(false);
        // Seen stored on sled is not yet flushed: wait for the commit of what was handed over so far (on
        // PostgreSQL what is seen is committed).
        if stored && (self.announce.is_some() || self.committed().await.is_ok()) {
            self.durable.confirm(doc, heads.to_vec());
            return true;
        }
        false
    }

    /// The documents of a case.
    pub(crate) fn documents_of(&self, case_id: &str) -> Vec<String> {
        self.quota.dir.documents_of(case_id)
    }

    /// Forget what is known durable of these documents (their case was unloaded).
    pub(crate) fn forget_durable(&self, docs: &[String]) {
        for d in docs {
            self.durable.forget(d);
        }
    }

    /// Batches of samod's writes committed so far and the writes they held.
    pub(crate) fn commit_counts(&self) -> (u64, u64) {
        self.inner.commit_counts()
    }

    fn old_len(&self, k: &StorageKey) -> Option<usize> {
        self.raw.load(k).ok().flatten().map(|v| v.len())
    }
}

impl samod::storage::Storage for QuotaStorage {
    fn load(&self, key: StorageKey) -> impl Future<Output = Option<Vec<u8>>> + Send {
        samod::storage::Storage::load(&self.inner, key)
    }

    fn load_range(&self, prefix: StorageKey) -> impl Future<Output = HashMap<StorageKey, Vec<u8>>> + Send {
        let loaded = samod::storage::Storage::load_range(&self.inner, prefix);
        let durable = self.durable.clone();
        async move {
            let chunks = loaded.await;
            // What a document is loaded from is durable: its heads may be sent as they are.
            for (k, v) in &chunks {
                let k = k.to_string();
                if let Some(doc) = k.split('/').next() {
                    durable.stored(doc, chunk_hashes(&k, v));
                }
            }
            chunks
        }
    }

    fn put(&self, key: StorageKey, data: Vec<u8>) -> impl Future<Output = ()> + Send {
        let doc = doc_of(&key);
        let flat_key = key.to_string();
        let len = data.len();
        // On sled the old length is a local read, taken now, and the write is handed over now, in samod's
        // order. On a shared database the read is a round trip: taken on a blocking thread, never on a
        // runtime worker (the order of writes to different keys does not matter, and samod deletes a key
        // only after the write that supersedes it completed).
        let mut data = Some(data);
        let now = self.announce.is_none().then(|| {
            let old = self.prepare(doc.as_deref(), &key);
            (old, self.submit_put(doc.as_deref(), key.clone(), data.take().unwrap_or_default(), old))
        });
        let this = self.clone();
        async move {
            let (old, pending) = match now {
                Some(n) => n,
                None => {
                    let (t, d, k) = (this.clone(), doc.clone(), key.clone());
                    let old = tokio::task::spawn_blocking(move || t.prepare(d.as_deref(), &k)).await.unwrap_or(None);
                    (old, this.submit_put(doc.as_deref(), key, data.take().unwrap_or_default(), old))
                }
            };
            // Stored already (see `submit_put`): nothing written, nothing to count.
            let Some(pending) = pending else {
                if let Some(d) = &doc {
                    this.durable.stored(d, chunk_hashes(&flat_key, &[]));
                }
                return;
            };
            this.finish(pending).await;
            if let Some(d) = doc {
                this.quota.after_write(&d, old, Some(len));
            }
        }
    }

    fn delete(&self, key: StorageKey) -> impl Future<Output = ()> + Send {
        let doc = doc_of(&key);
        let now = self.announce.is_none().then(|| {
            let old = self.prepare(doc.as_deref(), &key);
            (old, self.submit_delete(doc.as_deref(), key.clone(), old))
        });
        let this = self.clone();
        async move {
            let (old, pending) = match now {
                Some(n) => n,
                None => {
                    let (t, d, k) = (this.clone(), doc.clone(), key.clone());
                    let old = tokio::task::spawn_blocking(move || t.prepare(d.as_deref(), &k)).await.unwrap_or(None);
                    (old, this.submit_delete(doc.as_deref(), key, old))
                }
            };
            this.finish(pending).await;
            if let Some(d) = doc {
                this.quota.after_write(&d, old, None);
            }
        }
    }
}

/// A write handed to the committer: its completion, the signal to send once it is durable, when it began.
struct Pending {
    write: futures::future::BoxFuture<'static, ()>,
    signal: Option<(Arc<dyn Announce>, Signal)>,
    started: std::time::Instant,
    /// For a put of a document chunk: the document and the changes it makes durable.
    durable: Option<(String, Vec<automerge::ChangeHash>)>,
}

impl QuotaStorage {
    /// Before writing `key` of document `doc`: its document's count loaded, and the length of what is
    /// stored under `key` now (`None`: nothing, or not a document key).
    fn prepare(&self, doc: Option<&str>, key: &StorageKey) -> Option<usize> {
        let d = doc?;
        self.quota.before_write(d);
        self.old_len(key)
    }

    /// Hand a put to the committer; `None` if it is stored already: an incremental chunk is named by its
    /// change's hash, so under that name it is these bytes already (another relay process stored it, and
    /// samod writes again what it applied here) — no second commit, and no signal echoing back.
    fn submit_put(&self, doc: Option<&str>, key: StorageKey, data: Vec<u8>, old: Option<usize>) -> Option<Pending> {
        let len = data.len();
        if old == Some(len) && key.to_string().split('/').nth(1) == Some("incremental") {
            return None;
        }
        let signal = doc.and_then(|_| self.announce(&key, old, Some(len)));
        let durable = doc.map(|d| (d.to_string(), chunk_hashes(&key.to_string(), &data)));
        let started = std::time::Instant::now();
        let write = Box::pin(self.inner.put_owned(key, data));
        Some(Pending { write, signal, started, durable })
    }

    /// Hand a delete to the committer.
    fn submit_delete(&self, doc: Option<&str>, key: StorageKey, old: Option<usize>) -> Pending {
        let signal = doc.and_then(|_| self.announce(&key, old, None));
        let started = std::time::Instant::now();
        let write = Box::pin(self.inner.delete_owned(key));
        Pending { write, signal, started, durable: None }
    }

    /// Wait until the write is durable, time it, then tell the other processes.
    async fn finish(&self, p: Pending) {
        p.write.await;
        if let Some((doc, hashes)) = p.durable {
            self.durable.stored(&doc, hashes);
        }
        self.quota.metrics.storage_write.observe(p.started.elapsed());
        if let Some((a, s)) = p.signal {
            a.announce(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::DirectoryLimits;
    use casebook_core::storage::MemoryStorage;

    #[test]
    fn book_applies_puts_overwrites_and_deletes() {
        let mut b = UsageBook::default();
        b.apply("d", None, Some(100));
        assert_eq!(b.get("d"), None, "not counted yet: left to the first count from storage");
        b.set("d", 0);
        b.apply("d", None, Some(100));
        b.apply("d", Some(100), Some(40));
        b.apply("d", None, Some(10));
        assert_eq!(b.get("d"), Some(50));
        b.apply("d", Some(10), None);
        b.apply("d", Some(1000), None);
        assert_eq!(b.get("d"), Some(0));
        assert_eq!(b.total(&["d".to_string(), "e".to_string()]), 0);
        assert!(over_quota(11, 10) && !over_quota(10, 10) && !over_quota(u64::MAX, 0));
    }

    #[test]
    fn case_goes_read_only_over_quota_and_back() {
        const CASE: &str = "2W7hUGUKr7oAmKDYR6cdv8c6Wko6";
        const DOC: &str = "3NFtS2pmvmGpQEdKzR9zxK8UhTvA";
        let raw: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        raw.put(&key([CASE, "snapshot", "a"]).unwrap(), &[0; 60]).unwrap();
        let dir = Arc::new(Directory::open(raw.clone(), DirectoryLimits::from(&crate::Config::default()), 0).unwrap());
        let creds = dir.create_account("A".into(), None, 0).unwrap();
        let a = dir.authenticate(&creds.token).unwrap();
        dir.register_case(&a, CASE, 0).unwrap();
        dir.register_document(&a, CASE, DOC).unwrap();
        let quota = Arc::new(Quota::new(raw.clone(), dir.clone(), 100, Arc::default()));
        let storage = QuotaStorage::new(raw.clone(), quota.clone());
        let mut changes = dir.subscribe();
        changes.borrow_and_update();
        futures::executor::block_on(async {
            use samod::storage::Storage as _;
            storage.put(key([DOC, "incremental", "x"]).unwrap(), vec![0; 30]).await;
            assert_eq!(quota.case_usage(CASE), 90);
            assert!(!quota.is_over(CASE));
            storage.put(key([DOC, "incremental", "y"]).unwrap(), vec![0; 30]).await;
            assert!(quota.is_over(CASE));
            assert!(changes.has_changed().unwrap());
            storage.delete(key([CASE, "snapshot", "a"]).unwrap()).await;
            assert_eq!(quota.case_usage(CASE), 60);
            assert!(!quota.is_over(CASE));
        });
    }
}
