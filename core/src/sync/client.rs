//! [`SyncClient`]: a local [`Store`] connected to a relay.
//!
//! The client owns a tokio runtime (callers — the CLI, the FFI — stay synchronous) and a samod repository
//! over the store's own storage ([`SamodStorage`]), so samod reads and writes the same chunks as
//! [`Store`] and [`Case`]. It dials the relay with [`RelayDialer`] and reconnects by itself.
//!
//! # Moving changes between a [`Case`] and samod
//! A [`Case`] keeps its own in-memory Automerge documents; samod keeps its own copy of each document of a
//! synced case in a [`samod::DocHandle`]. [`SyncClient::sync_case`] reconciles them, document by document,
//! under the handle's lock:
//! - **push**: the changes the case has and the handle lacks (`get_changes_added`) are applied to the
//!   handle; samod stores them (same keys, same bytes: a no-op on storage) and sends them to the relay;
//! - **pull**: the changes the handle has and the case lacks are merged into the case
//!   (`Case::merge_external`), which also writes and flushes them, so they never show as unsaved edits
//!   and survive a crash even before samod's own asynchronous write.
//!
//! Only documents the case has open are merged into it; the others are read from storage when opened
//! (samod keeps storage current). Between calls, remote changes arrive in the handles and are announced
//! with [`SyncEvent::CaseChanged`]; local saves reach the relay at the next `sync_case`.
//!
//! Do not call the client from inside an async runtime (it blocks on its own).

use std::sync::Arc;
use std::time::Duration;

use automerge::{Automerge, ReadDoc};
use futures::StreamExt;
use samod::{BackoffConfig, DialerHandle, DocHandle, PeerId, Repo, RepoEvent, RepoObserver, SearchState};

use crate::bridge;
use crate::case::Case;
use crate::ids::{CaseId, DocId};
use crate::relay_api::{CaseMembership, DeviceCredentials, RELAY_PEER_ID, peer_id_for_device};
use crate::storage::{SamodStorage, Storage, key};
use crate::store::Store;

use super::dialer::{DialProgress, RelayDialer};
use super::error::{SyncError, SyncResult};
use super::monitor::{self, FIND_TIMEOUT};
use super::relay_client::RelayClient;
use super::shared::{DocSync, Link, Shared, lock};
use super::status::{CaseSyncStatus, SyncObserver, SyncState};

/// Tuning of a [`SyncClient`].
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The relay's samod peer id: a relay whose handshake claims another id is disconnected (and redialed).
    /// [`RELAY_PEER_ID`] by default; `None` accepts any.
    pub relay_peer_id: Option<String>,
    /// First reconnection delay (then doubled per failed attempt, with jitter).
    pub initial_backoff: Duration,
    /// Longest reconnection delay.
    pub max_backoff: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            relay_peer_id: Some(RELAY_PEER_ID.to_string()),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// A store connected to a relay. See the [module documentation](self) for how changes move.
pub struct SyncClient {
    /// The runtime running samod and the background tasks (`None` once stopped).
    runtime: Option<tokio::runtime::Runtime>,
    /// The samod repository over the store's storage.
    repo: Repo,
    /// The dialer's handle (connection state, close).
    dialer: DialerHandle<SyncError>,
    /// The relay's HTTP API, signed in with this device's token.
    relay: RelayClient,
    /// State shared with the background tasks.
    shared: Arc<Shared>,
    /// This device's account.
    account_id: String,
}

/// Tells the monitor about documents samod opens (the relay may push notes documents we were missing).
struct OpenedDocs(Arc<Shared>);

impl RepoObserver for OpenedDocs {
    fn observe(&self, event: &RepoEvent) {
        if let RepoEvent::DocumentOpened { document_id } = event {
            lock(&self.0.opened).push(document_id.clone());
            self.0.wake.notify_one();
        }
    }
}

fn runtime_error(e: std::io::Error) -> SyncError {
    crate::Error::Storage(crate::storage::StorageError::Io(format!("cannot start the sync runtime: {e}"))).into()
}

/// Whether storage holds any chunk of document `id`.
fn on_storage(storage: &dyn Storage, id: &DocId) -> SyncResult<bool> {
    Ok(bridge::on_storage(storage, id)?)
}

impl SyncClient {
    /// Connect `store` to the relay at `relay_url` (`https://…`, or `http://` on loopback) as the device of
    /// `credentials`. Returns at once; the connection is made (and remade) in the background.
    pub fn start(store: &Store, relay_url: &str, credentials: DeviceCredentials) -> SyncResult<SyncClient> {
        Self::start_with(store, relay_url, credentials, SyncOptions::default())
    }

    /// [`SyncClient::start`] with options.
    pub fn start_with(
        store: &Store,
        relay_url: &str,
        credentials: DeviceCredentials,
        options: SyncOptions,
    ) -> SyncResult<SyncClient> {
        let relay = RelayClient::with_token(relay_url, &credentials.token)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("casebook-sync")
            .enable_all()
            .build()
            .map_err(runtime_error)?;
        let shared = Arc::new(Shared::new(store.clone()));

        // Observers are called on a thread of their own, so that they may call back into the client.
        let (tx, rx) = std::sync::mpsc::channel();
        *lock(&shared.events) = Some(tx);
        let observers = shared.observers.clone();
        std::thread::Builder::new()
            .name("casebook-sync-events".into())
            .spawn(move || {
                for event in rx {
                    let list = lock(&observers).clone();
                    for o in list {
                        let e = event.clone();
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| o.on_event(e))).is_err() {
                            tracing::error!("a sync observer panicked");
                        }
                    }
                }
            })
            .map_err(runtime_error)?;

        let repo = runtime.block_on(
            Repo::builder(runtime.handle().clone())
                .with_storage(SamodStorage::new(store.storage()))
                .with_peer_id(PeerId::from(peer_id_for_device(&credentials.device_id)))
                .with_observer(OpenedDocs(shared.clone()))
                .load(),
        );
        let progress = {
            let shared = shared.clone();
            Arc::new(move |p: DialProgress| match p {
                DialProgress::Attempting | DialProgress::Open => shared.set_link(Link::Connecting),
                DialProgress::Failed => shared.set_link(Link::Offline),
                DialProgress::Refused(e) => shared.set_link(Link::Failed(e)),
            })
        };
        let dialer = RelayDialer::new(
            relay.sync_url(),
            &credentials.token,
            options.relay_peer_id.map(PeerId::from),
            progress,
            store.storage(),
        )?;
        let backoff =
            BackoffConfig { initial_delay: options.initial_backoff, max_delay: options.max_backoff, max_retries: None };
        let dialer = {
            let _guard = runtime.enter();
            repo.dial(backoff, Arc::new(dialer)).map_err(|_| SyncError::Stopped)?
        };
        runtime.spawn(monitor::run(shared.clone(), dialer.clone(), repo.clone(), relay.clone()));
        Ok(SyncClient { runtime: Some(runtime), repo, dialer, relay, shared, account_id: credentials.account_id })
    }

    /// The relay's HTTP API, signed in as this device (invites, members, devices…).
    pub fn relay(&self) -> &RelayClient {
        &self.relay
    }

    /// Register an observer of [`super::SyncEvent`]s (called on a background thread).
    pub fn add_observer(&self, observer: Arc<dyn SyncObserver>) {
        lock(&self.shared.observers).push(observer);
    }

    /// Whether the relay connection is established (handshake done).
    pub fn is_connected(&self) -> bool {
        self.dialer.is_connected()
    }

    /// Why sync stopped for good (the relay refused this device's token), if it did.
    pub fn failure(&self) -> Option<SyncError> {
        self.shared.failure()
    }

    fn runtime(&self) -> SyncResult<&tokio::runtime::Runtime> {
        self.runtime.as_ref().ok_or(SyncError::Stopped)
    }

    /// Whether HTTP calls are worth trying now (skip them while the relay is known unreachable, so that
    /// an offline `sync_case` returns at once).
    fn relay_reachable(&self) -> bool {
        self.dialer.is_connected() || matches!(*lock(&self.shared.link), Link::Connecting)
    }

    /// Register a case on the relay (this account becomes its owner), then [`SyncClient::sync_case`] it.
    /// Registering a case this account registered already is not an error.
    pub fn share_case(&self, case: &mut Case) -> SyncResult<CaseMembership> {
        let id = case.id().clone();
        let membership = match self.relay.register_case(&id) {
            Ok(m) => m,
            Err(SyncError::Conflict { reason }) => self
                .relay
                .list_cases()?
                .into_iter()
                .find(|m| m.case_id == id.as_str())
                .ok_or(SyncError::Conflict { reason })?,
            Err(e) => return Err(e),
        };
        self.shared.store.set_relay_knows(&id, &id)?;
        lock(&self.shared.cases).entry(id).or_default().membership_checked = true;
        self.sync_case(case)?;
        Ok(membership)
    }

    /// Fetch a case this account is a member of (after redeeming an invite) from the relay into the store,
    /// and sync it. Waits up to `timeout` for the connection and the first download. A case already in the
    /// store is opened and synced.
    pub fn join_case(&self, case_id: &CaseId, timeout: Duration) -> SyncResult<Case> {
        let store = &self.shared.store;
        if on_storage(&*store.storage(), case_id)? {
            store.register(case_id)?;
            let mut case = store.open_case(case_id)?;
            self.sync_case(&mut case)?;
            return Ok(case);
        }
        let rt = self.runtime()?;
        let deadline = tokio::time::Instant::now() + timeout;
        let established = self.dialer.established();
        let connected = rt.block_on(async { tokio::time::timeout_at(deadline, established).await });
        match connected {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => {
                return Err(self.shared.failure().unwrap_or(SyncError::Network("cannot reach the relay".into())));
            }
            Err(_) => return Err(SyncError::Timeout { state: self.link_state() }),
        }
        self.check_membership(case_id)?;
        // Search rather than find: a case registered a moment ago may reach the relay after our request
        // (the relay then announces it and the search completes).
        let (first, mut updates) = self.repo.search(case_id.to_document_id()).map_err(|_| SyncError::Stopped)?;
        let found = rt.block_on(async {
            let mut state = first;
            loop {
                match state {
                    SearchState::Found(h) => return Ok(h),
                    other => {
                        let unavailable = matches!(&other, SearchState::Requesting(r) if r.is_currently_unavailable());
                        match tokio::time::timeout_at(deadline, updates.next()).await {
                            Ok(Some(next)) => state = next,
                            Ok(None) => return Err(SyncError::Stopped),
                            Err(_) if unavailable => return Err(SyncError::NotFound),
                            Err(_) => return Err(SyncError::Timeout { state: SyncState::Syncing }),
                        }
                    }
                }
            }
        });
        let handle = found?;
        // Write it ourselves (one snapshot, flushed) rather than wait for samod's asynchronous write.
        let heads = handle.with_document(|d| bridge::store_joined_case(store, case_id, d).map(|_| d.get_heads()))?;
        store.set_relay_knows(case_id, case_id)?;
        let mut case = store.open_case(case_id)?;
        monitor::watch(&self.shared, rt.handle(), case_id, case_id, handle, heads.clone(), heads);
        self.sync_case(&mut case)?;
        Ok(case)
    }

    /// Confirm with the relay (once per case and session) that this account is a member of the case.
    /// `NotFound` if it is not; a network failure is not an error (sync resumes when the relay is back).
    fn check_membership(&self, case_id: &CaseId) -> SyncResult<()> {
        if lock(&self.shared.cases).get(case_id).is_some_and(|c| c.membership_checked) {
            return Ok(());
        }
        match self.relay.list_cases() {
            Ok(list) => {
                if !list.iter().any(|m| m.case_id == case_id.as_str()) {
                    return Err(SyncError::NotFound);
                }
                lock(&self.shared.cases).entry(case_id.clone()).or_default().membership_checked = true;
                Ok(())
            }
            Err(e) if e.is_transient() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Save the case, then exchange its changes with samod (push local ones, pull remote ones into the open
    /// case) for the overview document and every notes document, registering new notes documents with the
    /// relay. Works offline: changes handed over now go out when the connection returns. Call it after each
    /// save (or on [`super::SyncEvent::CaseChanged`]).
    ///
    /// Errors: `NotFound` (not a member / case not on the relay), `Unauthorized` (token refused), local
    /// store errors. Offline is not an error: see [`SyncClient::status`].
    pub fn sync_case(&self, case: &mut Case) -> SyncResult<()> {
        let rt = self.runtime()?;
        if let Some(e) = self.shared.failure() {
            return Err(e);
        }
        case.save()?;
        let case_id = case.id().clone();
        let reachable = self.relay_reachable();
        if reachable {
            self.check_membership(&case_id)?;
        }

        // The overview first: what it pulls may name new notes documents.
        self.ensure_watched(rt, &case_id, std::slice::from_ref(&case_id))?;
        self.push_pull(case, &case_id, &case_id)?;

        let notes = self.materialize_notes(case)?;
        if reachable {
            monitor::register_pending(&self.shared, &self.relay);
        }
        self.ensure_watched(rt, &case_id, &notes)?;
        for id in &notes {
            self.push_pull(case, &case_id, id)?;
        }
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Make every notes document of the case exist on storage — at least its deterministic first change,
    /// identical on every replica — so that samod always finds it locally and the relay's copy merges into
    /// it. (samod remembers a document it once failed to find and never looks at storage for it again.)
    /// Documents the relay does not know yet are queued for registration. Returns the notes documents.
    fn materialize_notes(&self, case: &Case) -> SyncResult<Vec<DocId>> {
        let case_id = case.id();
        let store = &self.shared.store;
        let ids = bridge::materialize_notes(&*store.storage(), case)?;
        let mut unknown = Vec::new();
        for id in &ids {
            if !store.relay_knows(case_id, id)? {
                unknown.push(id.clone());
            }
        }
        lock(&self.shared.cases).entry(case_id.clone()).or_default().unregistered.extend(unknown);
        Ok(ids)
    }

    /// Make sure each of `docs` (all on storage) is watched. A document samod cannot produce (it failed to
    /// find it before it existed here) is remembered as missing; the monitor looks for it again.
    fn ensure_watched(&self, rt: &tokio::runtime::Runtime, case_id: &CaseId, docs: &[DocId]) -> SyncResult<()> {
        let unwatched: Vec<DocId> = {
            let cases = lock(&self.shared.cases);
            let w = cases.get(case_id);
            docs.iter().filter(|d| !w.is_some_and(|w| w.docs.contains_key(*d))).cloned().collect()
        };
        if unwatched.is_empty() {
            return Ok(());
        }
        let repo = self.repo.clone();
        let found = rt.block_on(futures::future::join_all(unwatched.into_iter().map(|id| {
            let repo = repo.clone();
            async move {
                let r = tokio::time::timeout(FIND_TIMEOUT, repo.find(id.to_document_id())).await;
                (id, r)
            }
        })));
        for (id, r) in found {
            match r {
                Ok(Ok(Some(handle))) => {
                    let heads = handle.with_document(|d| d.get_heads());
                    // Loaded from storage. The case's view is refreshed by the push/pull that follows.
                    monitor::watch(&self.shared, rt.handle(), case_id, &id, handle, heads.clone(), heads);
                }
                Ok(Err(_)) => return Err(SyncError::Stopped),
                Ok(Ok(None)) | Err(_) => {
                    tracing::warn!(document = %id, "samod cannot load a local document; will retry");
                    lock(&self.shared.cases).entry(case_id.clone()).or_default().missing.insert(id);
                }
            }
        }
        Ok(())
    }

    /// Exchange the changes of one watched document between the case and samod. Afterwards storage holds
    /// everything samod holds of it (written here if samod has not written it yet), so that a crash or a
    /// later open of the document never misses what was pulled.
    fn push_pull(&self, case: &mut Case, case_id: &CaseId, doc: &DocId) -> SyncResult<usize> {
        let watched: Option<(DocHandle, Arc<std::sync::Mutex<DocSync>>)> = lock(&self.shared.cases)
            .get(case_id)
            .and_then(|c| c.docs.get(doc))
            .map(|w| (w.handle.clone(), w.sync.clone()));
        let Some((handle, sync)) = watched else {
            return Ok(0);
        };
        let record = |d: &Automerge| {
            let heads = d.get_heads();
            let mut s = lock(&sync);
            s.heads = heads.clone();
            s.case_heads = heads.clone();
            heads
        };
        let exchanged = match case.open_docs_mut().find(|t| t.id == *doc) {
            Some(t) => {
                let mine: &Automerge = t.doc.document();
                Some(
                    handle
                        .with_document(|d| -> Result<_, automerge::AutomergeError> {
                            let pull = bridge::exchange(mine, d)?;
                            Ok((pull, record(d)))
                        })
                        .map_err(crate::Error::from)?,
                )
            }
            None => None,
        };
        match exchanged {
            Some((pulled, heads)) => {
                // Written and flushed by the merge (the pushed ones were saved by the case).
                let n = case.merge_external(doc, pulled)?;
                lock(&sync).stored = heads;
                Ok(n)
            }
            // Not open: the case reads it from storage when it opens it. Make sure storage has it all.
            None => {
                let stored = lock(&sync).stored.clone();
                let (delta, heads) = handle.with_document(|d| {
                    let known: Vec<_> = stored.into_iter().filter(|h| d.get_change_by_hash(h).is_some()).collect();
                    (d.get_changes(&known), record(d))
                });
                if !delta.is_empty() {
                    let storage = self.shared.store.storage();
                    for c in &delta {
                        let k = key([doc.as_str(), "incremental", &c.hash().to_string()])?;
                        if storage.load(&k)?.is_none() {
                            storage.put(&k, c.raw_bytes())?;
                        }
                    }
                    storage.flush()?;
                }
                lock(&sync).stored = heads;
                Ok(0)
            }
        }
    }

    fn link_state(&self) -> SyncState {
        if self.dialer.is_connected() {
            return SyncState::Syncing;
        }
        match *lock(&self.shared.link) {
            Link::Connecting => SyncState::Connecting,
            Link::Offline | Link::Failed(_) => SyncState::Offline,
        }
    }

    /// The sync status of a case. "Local edits" are those handed over by the last
    /// [`SyncClient::sync_case`]. A case never passed to `sync_case` in this session reports the connection
    /// state (syncing once connected) and `saved_to_relay: false`.
    pub fn status(&self, case_id: &CaseId) -> CaseSyncStatus {
        if let Some(s) = self.shared.status(case_id, self.dialer.connection_id()) {
            return s;
        }
        CaseSyncStatus {
            state: self.link_state(),
            last_synced_at: self.shared.store.last_synced(case_id).ok().flatten(),
            saved_to_relay: false,
        }
    }

    /// Wait until the case is up to date with the relay: the relay holds every local edit handed over by
    /// [`SyncClient::sync_case`] and this device has everything the relay holds (call `sync_case` again
    /// afterwards to merge what arrived into the open case). Fails with `Unauthorized` (token refused),
    /// `NotFound` (not a member), or `Timeout { state }` (offline, connecting or still syncing).
    pub fn wait_until_synced(&self, case_id: &CaseId, timeout: Duration) -> SyncResult<CaseSyncStatus> {
        let rt = self.runtime()?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut version = self.shared.version.subscribe();
        self.shared.wake.notify_one();
        let outcome = rt.block_on(async {
            loop {
                if let Some(e) = self.shared.failure() {
                    return Err(e);
                }
                let status = self.shared.status(case_id, self.dialer.connection_id()).ok_or_else(|| {
                    SyncError::InvalidInput { reason: "this case is not being synced: call sync_case first".into() }
                })?;
                if status.state == SyncState::UpToDate {
                    return Ok(status);
                }
                match tokio::time::timeout_at(deadline, version.changed()).await {
                    Err(_) => {
                        if let Some(c) = lock(&self.shared.cases).get(case_id) {
                            for (id, d) in &c.docs {
                                let s = lock(&d.sync);
                                // Ids and hashes only: enough to tell which document stalled and why.
                                tracing::debug!(
                                    document = %id,
                                    heads = ?s.heads,
                                    acked = ?s.acked,
                                    peers = ?s.peers,
                                    "sync timed out"
                                );
                            }
                        }
                        return Err(SyncError::Timeout { state: status.state });
                    }
                    Ok(Err(_)) => return Err(SyncError::Stopped),
                    Ok(Ok(())) => {}
                }
            }
        });
        match outcome {
            // Connected but never in sync: the relay may be refusing the case. Ask it why.
            Err(SyncError::Timeout { state: SyncState::Syncing }) => {
                lock(&self.shared.cases).entry(case_id.clone()).or_default().membership_checked = false;
                self.check_membership(case_id)?;
                Err(SyncError::Timeout { state: SyncState::Syncing })
            }
            other => other,
        }
    }

    /// Sync a case completely: [`SyncClient::sync_case`], wait until up to date, merge what arrived, and
    /// repeat while what arrived names documents not synced yet (a sibling's new appointments), so that on
    /// success the open case holds everything the relay holds and the relay holds every local edit.
    pub fn sync_and_wait(&self, case: &mut Case, timeout: Duration) -> SyncResult<CaseSyncStatus> {
        let deadline = std::time::Instant::now() + timeout;
        let id = case.id().clone();
        let watched =
            |this: &Self| lock(&this.shared.cases).get(&id).map(|c| c.docs.len() + c.missing.len()).unwrap_or(0);
        self.sync_case(case)?;
        loop {
            let before = watched(self);
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let status = self.wait_until_synced(&id, left)?;
            self.sync_case(case)?;
            if watched(self) == before {
                return Ok(status);
            }
        }
    }

    /// This device's account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Close the connection, stop samod (its pending writes complete), flush the store.
    pub fn stop(mut self) -> SyncResult<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> SyncResult<()> {
        let Some(rt) = self.runtime.take() else {
            return Ok(());
        };
        self.dialer.close();
        let repo = self.repo.clone();
        rt.block_on(async move {
            if tokio::time::timeout(Duration::from_secs(10), repo.stop()).await.is_err() {
                tracing::warn!("samod did not stop within 10 s");
            }
        });
        for c in lock(&self.shared.cases).values() {
            for d in c.docs.values() {
                d.watcher.abort();
            }
        }
        self.shared.persist_sync_times();
        rt.shutdown_timeout(Duration::from_secs(2));
        // Ends the event thread once it has delivered what is queued.
        *lock(&self.shared.events) = None;
        self.shared.store.storage().flush()?;
        Ok(())
    }
}

impl Drop for SyncClient {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(error = %e, "sync client did not stop cleanly");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_can_be_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<SyncClient>();
        send_sync::<RelayClient>();
        send_sync::<SyncError>();
    }

    #[test]
    fn starting_needs_a_valid_relay_url_and_token() {
        let creds =
            |token: &str| DeviceCredentials { account_id: "a".into(), device_id: "d".into(), token: token.into() };
        let store = Store::in_memory();
        assert!(matches!(SyncClient::start(&store, "ftp://x", creds("t")), Err(SyncError::InvalidInput { .. })));
        assert!(matches!(
            SyncClient::start(&store, "http://127.0.0.1:9", creds("bad\ntoken")),
            Err(SyncError::InvalidInput { .. })
        ));
    }
}
