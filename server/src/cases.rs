//! [`CaseRepos`]: one samod repository per case, started when a member first syncs it, stopped again
//! when nobody uses it, plus the lobby.
//!
//! samod 0.16 attaches every connection of a repository to every document it has loaded: a
//! (connection, document) pair costs memory and is walked on every connection change, so one repository
//! for the whole relay grows with connections × documents (BENCHMARKS.md: 200 phones took 57 s to
//! connect). Here a case's repository only ever meets its own documents and its members' connections.
//!
//! All repositories share the relay's storage (so the same storage id), peer id and share policy. A
//! document belongs to one case, so only one repository ever loads or writes it: a repository that is
//! being unloaded finishes its writes before the same case's next repository starts.
//!
//! The **lobby** is a repository that never loads a document: every connection's handshake (and anything
//! else that names no document: leave, errors, unexpected messages) goes to it, so samod still checks the
//! join, the protocol version and the peer id. See `demux` for the routing.
//!
//! **Unloading** (`--case-unload-ms`): a case's repository (with its documents) is stopped and dropped once
//! nothing holds it (no WebSocket has a connection to it, no request is using it) and nobody has used it
//! for the delay; its next use starts it again from storage. A WebSocket lets go of a case after the same
//! delay without traffic about it (`demux`: its connection to the case goes *dormant*) and asks to be
//! **woken** ([`CaseRepos::watch`]) when anyone uses the case again, to reconnect to it before samod has
//! anything to push. So an idle phone costs its WebSocket and its lobby connection, not its case.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use casebook_core::relay_api::RELAY_PEER_ID;
use futures::channel::mpsc;
use samod::{AcceptorHandle, PeerId, Repo};
use tokio::sync::{OnceCell, watch};

use crate::accounts::Directory;
use crate::inbound::Documents;
use crate::policy::RelayPolicy;
use crate::quota::{Quota, QuotaStorage};

/// The unload delay until the configuration sets one (`Config::default().case_unload_ms`).
const DEFAULT_UNLOAD_AFTER: Duration = Duration::from_secs(60);

/// One running samod repository and where connections join it.
pub(crate) struct CaseRepo {
    /// The repository.
    repo: Repo,
    /// Its acceptor: one virtual connection per WebSocket connection that syncs this case.
    pub(crate) acceptor: AcceptorHandle,
    /// Its documents, for the dry run of inbound changes (and for applying changes from elsewhere).
    pub(crate) documents: Documents,
    /// When it was last used (milliseconds on the [`CaseRepos`] clock).
    used_ms: AtomicU64,
    /// Uses so far: a WebSocket compares it to tell whether anyone used the case since it last looked.
    uses: AtomicU64,
    /// samod's tasks of this repository (see [`CaseRuntime`]).
    tasks: Tasks,
}

/// The tasks a repository spawned.
type Tasks = Arc<Mutex<Vec<tokio::task::AbortHandle>>>;

/// samod's runtime for one repository: tokio, keeping the tasks so that a stopped repository's can be
/// ended, and without a timer.
///
/// samod 0.16's tasks never end: its IO loop holds (through the repository's state) the sender of its own
/// queue, so a stopped repository stays in memory with its documents, and its connector keeps sending the
/// IO loop a tick every 100 ms. That tick only drives dialers' retries (`Hub::handle_tick`), and the relay
/// dials nobody: here `sleep` never completes, so an idle repository costs no wake-ups.
#[derive(Clone)]
struct CaseRuntime {
    handle: tokio::runtime::Handle,
    tasks: Tasks,
}

impl samod::runtime::RuntimeHandle for CaseRuntime {
    fn spawn(&self, f: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        let task = self.handle.spawn(f);
        lock(&self.tasks).push(task.abort_handle());
    }

    fn sleep(&self, _: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(std::future::pending())
    }
}

impl CaseRepo {
    async fn start(storage: QuotaStorage, policy: RelayPolicy, label: &str) -> Option<CaseRepo> {
        let runtime = CaseRuntime { handle: tokio::runtime::Handle::current(), tasks: Arc::default() };
        let tasks = runtime.tasks.clone();
        let repo = Repo::builder(runtime)
            .with_storage(storage)
            .with_peer_id(PeerId::from(RELAY_PEER_ID))
            .with_share_policy(policy)
            .load()
            .await;
        // The URL only names the acceptor inside the repository.
        let url = samod::Url::parse(&format!("casebook-relay://{label}")).ok()?;
        let acceptor = repo.make_acceptor(url).ok()?;
        let documents = Documents::new(repo.clone());
        Some(CaseRepo { repo, acceptor, documents, used_ms: AtomicU64::new(0), uses: AtomicU64::new(0), tasks })
    }

    /// Close the acceptor (its connections end), stop the repository (its pending writes complete), then
    /// end its tasks (samod's never end by themselves), so that dropping it frees it.
    async fn stop(&self) {
        self.acceptor.close();
        if tokio::time::timeout(Duration::from_secs(5), self.repo.stop()).await.is_err() {
            // Its writes may still be under way: leave its tasks running.
            tracing::warn!("a sync repository did not stop in time");
            return;
        }
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }

    /// The samod repository (the cluster applies other nodes' stored changes to its open documents).
    pub(crate) fn repo(&self) -> &Repo {
        &self.repo
    }

    /// Uses so far (see [`CaseRepos::watch`]).
    pub(crate) fn uses(&self) -> u64 {
        self.uses.load(Ordering::SeqCst)
    }
}

/// A case's repository, once started (`None`: it could not start, the relay is stopping).
type Slot = Arc<OnceCell<Option<Arc<CaseRepo>>>>;

/// Where a dormant WebSocket wants to hear that a case is in use again: the case id is sent on it.
pub(crate) type Waker = mpsc::UnboundedSender<String>;

/// What the unloader and the connections share.
struct Inner {
    storage: QuotaStorage,
    policy: RelayPolicy,
    cases: Mutex<HashMap<String, Slot>>,
    /// Cases whose repository is stopping: their next repository starts once this turns `true`.
    unloading: Mutex<HashMap<String, watch::Receiver<bool>>>,
    /// Dormant WebSockets by case (see [`CaseRepos::watch`]); `watching` counts them.
    watchers: Mutex<HashMap<String, Vec<Waker>>>,
    watching: AtomicUsize,
    stopping: AtomicBool,
    /// Wakes the unloader when the relay stops.
    stop_now: tokio::sync::Notify,
    /// The unload delay in milliseconds (0: never).
    unload_after_ms: AtomicU64,
    /// Repositories unloaded so far.
    unloaded: AtomicU64,
    /// The clock of `used_ms`.
    epoch: Instant,
}

/// The lobby and the case repositories of a running relay.
pub(crate) struct CaseRepos {
    inner: Arc<Inner>,
    lobby: CaseRepo,
    unloader: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Stamp a use of `repo` (of `case_id`) and wake the WebSockets waiting for one.
    fn touch(&self, case_id: &str, repo: &CaseRepo) {
        repo.used_ms.store(self.now_ms(), Ordering::SeqCst);
        repo.uses.fetch_add(1, Ordering::SeqCst);
        if self.watching.load(Ordering::SeqCst) > 0
            && let Some(wakers) = lock(&self.watchers).remove(case_id)
        {
            self.watching.fetch_sub(wakers.len(), Ordering::SeqCst);
            for w in wakers {
                let _ = w.unbounded_send(case_id.to_string());
            }
        }
    }

    /// Stop and drop the repositories nothing holds that nobody used for the unload delay.
    async fn unload_idle(&self) {
        let after = self.unload_after_ms.load(Ordering::SeqCst);
        if after == 0 || self.stopping.load(Ordering::SeqCst) {
            return;
        }
        let now = self.now_ms();
        let mut idle = Vec::new();
        {
            let mut cases = lock(&self.cases);
            let mut unloading = lock(&self.unloading);
            cases.retain(|case_id, slot| {
                // Only this map holds the slot (nobody is starting or looking up the repository) and only
                // the slot holds the repository (no WebSocket is connected to it, no request uses it).
                if Arc::strong_count(slot) != 1 {
                    return true;
                }
                match slot.get() {
                    Some(Some(repo))
                        if Arc::strong_count(repo) == 1
                            && now.saturating_sub(repo.used_ms.load(Ordering::SeqCst)) >= after =>
                    {
                        let (done, wait) = watch::channel(false);
                        unloading.insert(case_id.clone(), wait);
                        idle.push((case_id.clone(), repo.clone(), done));
                        false
                    }
                    _ => true,
                }
            });
        }
        if idle.is_empty() {
            return;
        }
        let count = idle.len();
        futures::future::join_all(idle.into_iter().map(|(case_id, repo, done)| async move {
            repo.stop().await;
            drop(repo);
            self.storage.forget_durable(&self.storage.documents_of(&case_id));
            lock(&self.unloading).remove(&case_id);
            let _ = done.send(true);
        }))
        .await;
        self.unloaded.fetch_add(count as u64, Ordering::SeqCst);
        tracing::debug!(count, "idle case repositories unloaded");
        // On a blocking thread: it walks the whole heap.
        let _ = tokio::task::spawn_blocking(release_freed_memory).await;
    }

    /// Wait until a repository of `case_id` that is being unloaded has stopped (its writes are stored).
    async fn unloaded_before(&self, case_id: &str) {
        let wait = lock(&self.unloading).get(case_id).cloned();
        if let Some(mut wait) = wait {
            let _ = wait.wait_for(|done| *done).await;
        }
    }
}

impl CaseRepos {
    /// Start the lobby over `storage` (which creates the relay's storage id on first start, before any case
    /// repository reads it), and the unloader (delay: [`CaseRepos::unload_after`]).
    pub(crate) async fn start(storage: QuotaStorage, dir: Arc<Directory>, quota: Arc<Quota>) -> Option<CaseRepos> {
        let policy = RelayPolicy::new(dir, quota);
        let lobby = CaseRepo::start(storage.clone(), policy.clone(), "lobby").await?;
        let inner = Arc::new(Inner {
            storage,
            policy,
            cases: Mutex::new(HashMap::new()),
            unloading: Mutex::new(HashMap::new()),
            watchers: Mutex::new(HashMap::new()),
            watching: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            stop_now: tokio::sync::Notify::new(),
            unload_after_ms: AtomicU64::new(DEFAULT_UNLOAD_AFTER.as_millis() as u64),
            unloaded: AtomicU64::new(0),
            epoch: Instant::now(),
        });
        let unloader = tokio::spawn(unloader(Arc::downgrade(&inner)));
        Some(CaseRepos { inner, lobby, unloader: Mutex::new(Some(unloader)) })
    }

    /// Unload a case's repository after `after` without use (`None`: never). Connections call it with the
    /// configured `--case-unload-ms` (the relay's start does not pass the configuration here).
    pub(crate) fn unload_after(&self, after: Option<Duration>) {
        let ms = after.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1));
        self.inner.unload_after_ms.store(ms, Ordering::SeqCst);
    }

    /// The unload delay (`None`: never).
    pub(crate) fn unload_delay(&self) -> Option<Duration> {
        match self.inner.unload_after_ms.load(Ordering::SeqCst) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// The lobby's acceptor: every connection's handshake.
    pub(crate) fn lobby(&self) -> &AcceptorHandle {
        &self.lobby.acceptor
    }

    /// The repository of `case_id`, started on first use (or after it was unloaded); `None` once the relay
    /// is stopping. Counts as a use of the case: dormant WebSockets of its members reconnect.
    pub(crate) async fn case(&self, case_id: &str) -> Option<Arc<CaseRepo>> {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return None;
        }
        let cell = lock(&self.inner.cases).entry(case_id.to_string()).or_default().clone();
        let inner = &self.inner;
        let repo = cell
            .get_or_init(|| async {
                inner.unloaded_before(case_id).await;
                CaseRepo::start(inner.storage.clone(), inner.policy.clone(), "case").await.map(Arc::new)
            })
            .await
            .clone()?;
        drop(cell);
        self.inner.touch(case_id, &repo);
        Some(repo)
    }

    /// The repository of `case_id` if it is running; never starts one (an unloaded case has none: its
    /// documents are in storage only). A lookup only: not a use (see [`CaseRepos::touch`]).
    pub(crate) fn running(&self, case_id: &str) -> Option<Arc<CaseRepo>> {
        lock(&self.inner.cases).get(case_id).and_then(|slot| slot.get().cloned().flatten())
    }

    /// Every running case repository with its case id (a lookup only, like [`CaseRepos::running`]).
    pub(crate) fn all_running(&self) -> Vec<(String, Arc<CaseRepo>)> {
        lock(&self.inner.cases).iter().filter_map(|(id, c)| Some((id.clone(), c.get().cloned().flatten()?))).collect()
    }

    /// Stamp a use of `repo`, the repository of `case_id` (a message about it, a change applied to one of
    /// its documents from elsewhere), waking its dormant WebSockets so that samod pushes to them again.
    pub(crate) fn touch(&self, case_id: &str, repo: &CaseRepo) {
        self.inner.touch(case_id, repo);
    }

    /// Wake the WebSockets of this relay that let go of `case_id` (dormant), if any: the case's repository
    /// starts (from storage) and they reconnect to it, so samod pushes them what they lack. For changes
    /// that reach the storage other than through this relay's repositories (another relay process of a
    /// cluster): without this, a member whose connection here is dormant would see them only at its next
    /// message about the case. Returns whether there were any.
    pub(crate) async fn wake_watchers(&self, case_id: &str) -> bool {
        if self.inner.watching.load(Ordering::SeqCst) == 0 || !lock(&self.inner.watchers).contains_key(case_id) {
            return false;
        }
        self.case(case_id).await.is_some()
    }

    /// A WebSocket lets go of `case_id` (whose repository had `uses` uses when the WebSocket last heard of
    /// it) and wants `waker` to get the case id at its next use. Returns `false`, registering nothing, if
    /// the case has been used since (the WebSocket should then keep its connection).
    pub(crate) fn watch(&self, case_id: &str, repo: &CaseRepo, uses: u64, waker: Waker) -> bool {
        let mut watchers = lock(&self.inner.watchers);
        // Under the lock: a use after this check wakes us (`touch` counts, then takes the lock).
        if repo.uses() != uses {
            return false;
        }
        watchers.entry(case_id.to_string()).or_default().push(waker);
        self.inner.watching.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Forget the wakers of a WebSocket that ends (those whose receiver is gone).
    pub(crate) fn unwatch(&self, case_ids: impl IntoIterator<Item = String>) {
        let mut watchers = lock(&self.inner.watchers);
        for case_id in case_ids {
            if let Some(wakers) = watchers.get_mut(&case_id) {
                let before = wakers.len();
                wakers.retain(|w| !w.is_closed());
                self.inner.watching.fetch_sub(before - wakers.len(), Ordering::SeqCst);
                if wakers.is_empty() {
                    watchers.remove(&case_id);
                }
            }
        }
    }

    /// Case repositories running now.
    pub(crate) fn running_count(&self) -> usize {
        lock(&self.inner.cases).values().filter(|s| matches!(s.get(), Some(Some(_)))).count()
    }

    /// Case repositories unloaded so far.
    pub(crate) fn unloaded_count(&self) -> u64 {
        self.inner.unloaded.load(Ordering::SeqCst)
    }

    /// Stop every repository, the lobby last. No new case repository starts afterwards.
    pub(crate) async fn stop(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.stop_now.notify_one();
        let unloader = lock(&self.unloader).take();
        if let Some(unloader) = unloader {
            // It finishes the unloads it has begun (their writes complete), then sees `stopping`.
            if tokio::time::timeout(Duration::from_secs(6), unloader).await.is_err() {
                tracing::warn!("the case unloader did not stop in time");
            }
        }
        let running: Vec<Slot> = lock(&self.inner.cases).drain().map(|(_, c)| c).collect();
        let stops = running.iter().filter_map(|c| c.get().cloned().flatten()).map(|r| async move { r.stop().await });
        futures::future::join_all(stops).await;
        self.lobby.stop().await;
    }
}

/// Give the heap pages that unloading freed back to the system. glibc keeps freed memory for reuse and
/// returns only the top of each heap by itself, so without this a relay's RSS stays at its peak however
/// many cases it unloads (2,000 idle clients, their cases unloaded: 184 MB before, 124 MB after).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_freed_memory() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: glibc's `malloc_trim` takes no pointers and only releases free memory, under the allocator's
    // own locks; any thread may call it at any time.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() {}

/// Unload idle repositories every quarter of the delay (20 ms to 5 s) until the relay stops.
async fn unloader(inner: Weak<Inner>) {
    loop {
        let Some(inner) = inner.upgrade() else { return };
        if inner.stopping.load(Ordering::SeqCst) {
            return;
        }
        inner.unload_idle().await;
        let period = match inner.unload_after_ms.load(Ordering::SeqCst) {
            0 => Duration::from_secs(5),
            ms => Duration::from_millis(ms / 4).clamp(Duration::from_millis(20), Duration::from_secs(5)),
        };
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = inner.stop_now.notified() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::DirectoryLimits;
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    use casebook_core::storage::{MemoryStorage, Storage};

    async fn repos() -> CaseRepos {
        let raw: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let dir = Arc::new(Directory::open(raw.clone(), DirectoryLimits::from(&crate::Config::default()), 0).unwrap());
        let quota = Arc::new(Quota::new(raw.clone(), dir.clone(), 0, Arc::default()));
        let storage = QuotaStorage::new(raw, quota.clone());
        CaseRepos::start(storage, dir, quota).await.unwrap()
    }

    async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unused_case_is_unloaded_and_starts_again_with_its_data() {
        let repos = repos().await;
        repos.unload_after(Some(Duration::from_millis(300)));
        // A document written through the case's repository.
        let repo = repos.case("case-a").await.unwrap();
        let mut doc = automerge::Automerge::new();
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "title", "kept").unwrap();
        tx.commit();
        let handle = repo.repo.create(doc).await.unwrap();
        let id = handle.document_id().clone();
        drop(handle);
        assert!(repos.running("case-a").is_some());

        // Held (as a WebSocket's connection holds it): never unloaded, however long unused.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert!(repos.running("case-a").is_some(), "a held repository stays");
        assert_eq!(repos.unloaded_count(), 0);
        repos.touch("case-a", &repo);
        drop(repo);

        // Used again and again (a message now and then), not held: stays while the uses come.
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(repos.running("case-a").is_some(), "a repository in use stays");
            drop(repos.case("case-a").await.unwrap());
        }
        assert_eq!(repos.unloaded_count(), 0);
        // Then unused for the delay: unloaded, no repository left.
        wait_until("the case is unloaded", || repos.unloaded_count() == 1).await;
        assert!(repos.running("case-a").is_none(), "running() never starts one");
        assert_eq!(repos.running_count(), 0);

        // Its next use starts it from storage: the document is there.
        let repo = repos.case("case-a").await.unwrap();
        let heads = repo.documents.heads(&id).await.unwrap();
        assert_eq!(heads.len(), 1, "the document was stored before the unload");
        let title = repo
            .repo
            .find(id)
            .await
            .unwrap()
            .unwrap()
            .with_document(|d| d.get(automerge::ROOT, "title").unwrap().map(|(v, _)| v.into_string().unwrap()));
        assert_eq!(title.as_deref(), Some("kept"));
        drop(repo);
        repos.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dormant_watcher_is_woken_by_the_next_use() {
        let repos = repos().await;
        repos.unload_after(None);
        let repo = repos.case("case-b").await.unwrap();
        let (tx, mut rx) = mpsc::unbounded();
        let (tx2, mut rx2) = mpsc::unbounded();
        let seen = repo.uses();
        repos.touch("case-b", &repo);
        assert!(!repos.watch("case-b", &repo, seen, tx.clone()), "used since: keep the connection");
        assert!(repos.watch("case-b", &repo, repo.uses(), tx));
        assert!(rx.try_recv().is_err(), "nothing yet");
        drop(repo);
        let _ = repos.case("case-b").await.unwrap();
        assert_eq!(rx.try_recv().ok().as_deref(), Some("case-b"));
        assert_eq!(repos.inner.watching.load(Ordering::SeqCst), 0);
        // A change from elsewhere (another relay process): wakes the dormant ones only.
        assert!(!repos.wake_watchers("case-b").await, "nobody is watching");
        let repo = repos.case("case-b").await.unwrap();
        assert!(repos.watch("case-b", &repo, repo.uses(), tx2));
        drop(repo);
        assert!(repos.wake_watchers("case-b").await);
        assert_eq!(rx2.try_recv().ok().as_deref(), Some("case-b"));
        repos.stop().await;
    }
}
