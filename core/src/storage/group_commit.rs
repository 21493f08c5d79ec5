//! [`GroupCommit`]: writes from many callers made durable together, on a thread of their own.
//!
//! Making a write durable costs about the same for one write as for a hundred (sled: a log write, a
//! `sync_file_range` and two thread hand-offs; PostgreSQL: a commit), and waiting for it on the caller's
//! thread holds that thread — on the relay, one of the async runtime's few workers, on PostgreSQL for a
//! network round trip. So a write is handed to a committer thread, which takes every write waiting when it
//! is free, applies them in the order they were handed over, makes them durable with one
//! [`Storage::write_batch`], and only then completes each write's future. The caller awaits durability
//! without holding a thread; a relay under load commits many writes per flush.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::channel::oneshot;

use super::{Storage, StorageError, StorageKey, Write};

/// Most writes one batch takes.
const MAX_WRITES: usize = 1024;
/// Most bytes of values one batch takes (a batch is one transaction on PostgreSQL).
const MAX_BYTES: usize = 16 << 20;
/// Least time between the starts of two commits: under load, writes gather this long into one commit (at
/// most 500 flushes a second); a write arriving when the store has been idle that long is committed at
/// once.
const LINGER: Duration = Duration::from_millis(2);

/// An owned write waiting in the queue.
enum Owned {
    Put(StorageKey, Vec<u8>),
    Delete(StorageKey),
}

impl Owned {
    fn as_write(&self) -> Write<'_> {
        match self {
            Owned::Put(k, v) => Write::Put(k, v),
            Owned::Delete(k) => Write::Delete(k),
        }
    }

    fn len(&self) -> usize {
        match self {
            Owned::Put(_, v) => v.len(),
            Owned::Delete(_) => 0,
        }
    }
}

/// A write (`None`: a barrier, nothing to write) and whom to tell when it is durable.
struct Op {
    write: Option<Owned>,
    done: oneshot::Sender<Result<(), StorageError>>,
}

/// Counters of a [`GroupCommit`].
#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    writes: AtomicU64,
}

/// A committer thread in front of a [`Storage`] (see the module documentation). Dropping it lets the
/// thread commit what is queued, then waits for it to end.
pub struct GroupCommit {
    queue: Option<Sender<Op>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").field("counters", &self.counters).finish()
    }
}

fn stopped() -> StorageError {
    StorageError::Io("the storage's committer has stopped".into())
}

impl GroupCommit {
    /// Start a committer thread writing to `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        let (tx, rx) = channel();
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name("casebook-commit".into())
            .spawn(move || run(&*storage, &rx, &c))
            .map_err(|e| tracing::error!(error = %e, "cannot start the storage committer thread"))
            .ok();
        GroupCommit { queue: thread.is_some().then_some(tx), thread, counters }
    }

    fn submit(&self, write: Option<Owned>) -> impl Future<Output = Result<(), StorageError>> + Send + 'static + use<> {
        let (done, rx) = oneshot::channel();
        let queued = self.queue.as_ref().is_some_and(|q| q.send(Op { write, done }).is_ok());
        async move {
            if !queued {
                return Err(stopped());
            }
            rx.await.unwrap_or_else(|_| Err(stopped()))
        }
    }

    /// Store `data` under `key`; the future completes when it is durable. Writes are applied in the order
    /// of these calls.
    pub fn put(
        &self,
        key: StorageKey,
        data: Vec<u8>,
    ) -> impl Future<Output = Result<(), StorageError>> + Send + 'static + use<> {
        self.submit(Some(Owned::Put(key, data)))
    }

    /// Remove `key`; the future completes when that is durable.
    pub fn delete(&self, key: StorageKey) -> impl Future<Output = Result<(), StorageError>> + Send + 'static + use<> {
        self.submit(Some(Owned::Delete(key)))
    }

    /// Completes when every write handed over before this call is durable (or has failed).
    pub fn barrier(&self) -> impl Future<Output = Result<(), StorageError>> + Send + 'static + use<> {
        self.submit(None)
    }

    /// Batches committed so far and the writes they held: their ratio is the writes per flush.
    pub fn counts(&self) -> (u64, u64) {
        (self.counters.batches.load(Ordering::Relaxed), self.counters.writes.load(Ordering::Relaxed))
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The committer: wait for a write, take every other one waiting (up to the limits), commit them as one
/// batch, report to each caller. Ends when every sender is gone and the queue is empty.
fn run(storage: &dyn Storage, rx: &Receiver<Op>, counters: &Counters) {
    let mut last_start: Option<Instant> = None;
    while let Ok(first) = rx.recv() {
        let mut bytes = first.write.as_ref().map_or(0, Owned::len);
        let mut batch = vec![first];
        // Under load (the last commit started less than LINGER ago), gather until LINGER has passed.
        let gather_until = last_start.map(|t| t + LINGER).filter(|&t| t > Instant::now());
        while batch.len() < MAX_WRITES && bytes < MAX_BYTES {
            let next = match gather_until {
                Some(until) => rx.recv_timeout(until.saturating_duration_since(Instant::now())).ok(),
                None => rx.try_recv().ok(),
            };
            let Some(op) = next else { break };
            bytes += op.write.as_ref().map_or(0, Owned::len);
            batch.push(op);
        }
        last_start = Some(Instant::now());
        commit(storage, batch, counters);
    }
}

fn commit(storage: &dyn Storage, batch: Vec<Op>, counters: &Counters) {
    let writes: Vec<Write<'_>> = batch.iter().filter_map(|op| op.write.as_ref().map(Owned::as_write)).collect();
    let result = if writes.is_empty() { Ok(()) } else { guarded(storage, &writes) };
    counters.batches.fetch_add(1, Ordering::Relaxed);
    counters.writes.fetch_add(writes.len() as u64, Ordering::Relaxed);
    match result {
        Ok(()) => {
            for op in batch {
                let _ = op.done.send(Ok(()));
            }
        }
        // One bad write must not fail the others: apply them one at a time, each with its own answer.
        Err(e) if writes.len() > 1 => {
            tracing::warn!(error = %e, writes = writes.len(), "a batch of writes failed; writing them one by one");
            for op in batch {
                let r = match &op.write {
                    Some(w) => guarded(storage, &[w.as_write()]),
                    None => Ok(()),
                };
                let _ = op.done.send(r);
            }
        }
        Err(e) => {
            for op in batch {
                let _ = op.done.send(Err(e.clone()));
            }
        }
    }
}

/// [`Storage::write_batch`], with a panic reported as an error (the thread goes on serving).
fn guarded(storage: &dyn Storage, writes: &[Write<'_>]) -> Result<(), StorageError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| storage.write_batch(writes)))
        .unwrap_or_else(|_| Err(StorageError::Io("a storage write panicked".into())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{MemoryStorage, key};
    use std::sync::Mutex;

    /// A storage that records each batch, can hold writes until released, and fails a chosen key.
    #[derive(Default)]
    struct Recording {
        inner: MemoryStorage,
        batches: Mutex<Vec<Vec<String>>>,
        gate: Mutex<()>,
        flushes: AtomicU64,
    }

    impl Storage for Recording {
        fn load(&self, k: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
            self.inner.load(k)
        }
        fn load_range(&self, p: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
            self.inner.load_range(p)
        }
        fn put(&self, k: &StorageKey, v: &[u8]) -> Result<(), StorageError> {
            if k.to_string().ends_with("bad") {
                return Err(StorageError::Io("refused".into()));
            }
            self.inner.put(k, v)
        }
        fn delete(&self, k: &StorageKey) -> Result<(), StorageError> {
            self.inner.delete(k)
        }
        fn flush(&self) -> Result<(), StorageError> {
            self.flushes.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        fn write_batch(&self, writes: &[Write<'_>]) -> Result<(), StorageError> {
            let names = writes
                .iter()
                .map(|w| match w {
                    Write::Put(k, _) => format!("put {k}"),
                    Write::Delete(k) => format!("delete {k}"),
                })
                .collect();
            self.batches.lock().unwrap().push(names);
            let _held = self.gate.lock().unwrap();
            for w in writes {
                match w {
                    Write::Put(k, v) => self.put(k, v)?,
                    Write::Delete(k) => self.delete(k)?,
                }
            }
            self.flush()
        }
    }

    #[test]
    fn writes_waiting_during_a_commit_are_committed_together_in_order() {
        let storage = Arc::new(Recording::default());
        let commit = GroupCommit::new(storage.clone());
        let k = |n: &str| key(["doc", "incremental", n]).unwrap();
        // Hold the committer inside its first batch while more writes queue up behind it.
        let held = storage.gate.lock().unwrap();
        let first = commit.put(k("a"), b"1".to_vec());
        while storage.batches.try_lock().map(|b| b.is_empty()).unwrap_or(true) {
            std::thread::yield_now();
        }
        let later: Vec<_> = vec![
            Box::pin(commit.put(k("b"), b"2".to_vec())) as std::pin::Pin<Box<dyn Future<Output = _> + Send>>,
            Box::pin(commit.delete(k("a"))),
            Box::pin(commit.put(k("c"), b"3".to_vec())),
            Box::pin(commit.barrier()),
        ];
        drop(held);
        futures::executor::block_on(async {
            first.await.unwrap();
            for f in later {
                f.await.unwrap();
            }
        });
        let batches = storage.batches.lock().unwrap().clone();
        assert_eq!(
            batches,
            vec![
                vec!["put doc/incremental/a".to_string()],
                vec![
                    "put doc/incremental/b".to_string(),
                    "delete doc/incremental/a".to_string(),
                    "put doc/incremental/c".to_string()
                ],
            ],
            "one flush for the three writes that waited, in their order"
        );
        assert_eq!(storage.flushes.load(Ordering::Relaxed), 2);
        assert_eq!(storage.inner.load(&k("a")).unwrap(), None);
        assert_eq!(storage.inner.load(&k("c")).unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(commit.counts(), (2, 4));
    }

    #[test]
    fn a_failing_write_fails_alone_and_a_drop_commits_what_is_queued() {
        let storage = Arc::new(Recording::default());
        let commit = GroupCommit::new(storage.clone());
        let k = |n: &str| key(["doc", "incremental", n]).unwrap();
        let held = storage.gate.lock().unwrap();
        let first = commit.put(k("first"), b"0".to_vec());
        while storage.batches.try_lock().map(|b| b.is_empty()).unwrap_or(true) {
            std::thread::yield_now();
        }
        let good = commit.put(k("good"), b"1".to_vec());
        let bad = commit.put(k("bad"), b"2".to_vec());
        let also_good = commit.put(k("also-good"), b"3".to_vec());
        drop(held);
        futures::executor::block_on(async {
            first.await.unwrap();
            good.await.unwrap();
            assert!(bad.await.is_err(), "the refused write reports its failure");
            also_good.await.unwrap();
        });
        assert!(storage.inner.load(&k("also-good")).unwrap().is_some());
        // Writes queued when the committer is dropped are committed before the drop returns.
        let pending: Vec<_> = (0..50).map(|i| commit.put(k(&format!("late-{i}")), vec![i as u8])).collect();
        drop(commit);
        for i in 0..50 {
            assert!(storage.inner.load(&k(&format!("late-{i}"))).unwrap().is_some(), "late-{i} written");
        }
        futures::executor::block_on(async {
            for f in pending {
                f.await.unwrap();
            }
        });
    }
}
