//! [`SyncClient`]: a local [`Store`] connected to a relay.
//!
//! The client owns a tokio runtime and a samod repository over the store's own storage
//! ([`SamodStorage`]), so samod reads and writes the same chunks as [`Store`] and [`Case`](crate::Case). It dials the
//! relay with the private `RelayDialer` and reconnects by itself. What to sync when is decided by the
//! sans-IO [`Engine`]; the private driver carries its effects out (see
//! `driver.rs` for the lock rule).
//!
//! # How changes move
//! The app keeps its open cases as [`SharedCase`]s and hands them to the client ([`SyncClient::attach`],
//! or [`SyncClient::join_case`] which returns one). From then on:
//! - **live merge**: changes from other devices that reach samod are merged into the open case by the
//!   driver (under the case's lock, local work only) and announced once per merge with
//!   [`SyncEvent::CaseChanged`], naming what changed;
//! - **push**: [`SyncClient::sync_case`] saves the case and hands its new changes to samod, which sends
//!   them to the relay when connected ("push now"; an app that saves through its own debouncer calls it
//!   after each save).
//!
//! Every method that may wait on the network is `async` (run on the client's runtime whatever executor
//! polls it); [`SyncClient::block_on`] runs one from synchronous code (the CLI, tests). The other methods
//! return at once.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::ChangeHash;
use futures::StreamExt;
use samod::{BackoffConfig, DialerEvent, DialerHandle, PeerId, Repo, RepoEvent, RepoObserver, SearchState};

use crate::bridge;
use crate::engine::{Engine, Event, LinkEvent, Membership};
use crate::ids::{CaseId, DocId};
use crate::relay_api::{CaseMembership, DeviceCredentials, RELAY_PEER_ID, peer_id_for_device};
use crate::storage::SamodStorage;
use crate::store::Store;

use super::dialer::{DialProgress, RelayDialer};
use super::driver::{self, Driver, SharedCase, lock};
use super::error::{SyncError, SyncResult};
use super::relay_client::RelayClient;
use super::status::{CaseSyncStatus, SyncEvent, SyncObserver, SyncState};

pub(super) mod blobs;
pub(super) mod presence;

/// How long [`SyncClient::pause`] and [`SyncClient::stop`] let what was just sent (the last pushes, presence
/// goodbyes) leave before the connection closes.
const CLOSE_GRACE: Duration = Duration::from_millis(200);
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
    /// Move attachment blobs in the background after a case syncs (upload what the relay lacks, download
    /// what is pinned "keep offline", send the relay the blobs the case references): on by default; see
    /// [`SyncClient::set_move_attachments`].
    pub move_attachments: bool,
    /// How often the cases synced in this session are looked at again for blobs to move (pinned
    /// attachments whose bytes reached the relay since). 60 s by default.
    pub attachment_sweep: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            relay_peer_id: Some(RELAY_PEER_ID.to_string()),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            move_attachments: true,
            attachment_sweep: Duration::from_secs(60),
        }
    }
}

/// What is needed to dial the relay again after [`SyncClient::pause`].
struct DialConfig {
    relay: RelayClient,
    token: String,
    relay_peer_id: Option<PeerId>,
    backoff: BackoffConfig,
}

/// A store connected to a relay. See the [module documentation](self) for how changes move.
pub struct SyncClient {
    /// The runtime running samod and the driver (`None` once stopped).
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    /// Shared with the driver's tasks.
    driver: Arc<Driver>,
    /// The dialer's handle (`None` while paused).
    dialer: Mutex<Option<DialerHandle<SyncError>>>,
    /// Connections being closed after [`SyncClient::pause`]'s grace (still connected until then).
    closing: Arc<std::sync::atomic::AtomicUsize>,
    /// How to dial.
    dial: DialConfig,
    /// This device's account.
    account_id: String,
}

/// Tells the engine about documents samod opens (the relay may push notes documents we were missing).
struct OpenedDocs(tokio::sync::mpsc::UnboundedSender<Event>);

impl RepoObserver for OpenedDocs {
    fn observe(&self, event: &RepoEvent) {
        if let RepoEvent::DocumentOpened { document_id } = event {
            let _ = self.0.send(Event::Opened { doc: DocId::from(document_id.clone()) });
        }
    }
}

fn runtime_error(e: std::io::Error) -> SyncError {
    crate::Error::Storage(crate::storage::StorageError::Io(format!("cannot start the sync runtime: {e}"))).into()
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
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let repo = runtime.block_on(
            Repo::builder(runtime.handle().clone())
                .with_storage(SamodStorage::new(store.storage()))
                .with_peer_id(PeerId::from(peer_id_for_device(&credentials.device_id)))
                .with_observer(OpenedDocs(tx.clone()))
                .load(),
        );
        let (notify, notified) = std::sync::mpsc::channel::<SyncEvent>();
        let driver = Arc::new(Driver {
            store: store.clone(),
            engine: Mutex::new(Engine::new()),
            events: tx,
            handles: Mutex::new(Default::default()),
            watchers: Mutex::new(Vec::new()),
            searching: Mutex::default(),
            open: Mutex::new(Default::default()),
            relay: relay.clone(),
            failure: Mutex::new(None),
            version: tokio::sync::watch::Sender::new(0),
            observers: Mutex::new(Vec::new()),
            notify: Mutex::new(Some(notify)),
            repo,
            rt: runtime.handle().clone(),
            presence: Default::default(),
            blobs: blobs::BlobMover::new(options.move_attachments, options.attachment_sweep),
        });
        // Observers are called on a thread of their own, so that they may call back into the client.
        {
            let driver = Arc::downgrade(&driver);
            std::thread::Builder::new()
                .name("casebook-sync-events".into())
                .spawn(move || {
                    for event in notified {
                        let Some(d) = driver.upgrade() else { break };
                        let list = lock(&d.observers).clone();
                        drop(d);
                        for o in list {
                            let e = event.clone();
                            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| o.on_event(e))).is_err() {
                                tracing::error!("a sync observer panicked");
                            }
                        }
                    }
                })
                .map_err(runtime_error)?;
        }
        runtime.spawn(driver::run(driver.clone(), rx));
        let dial = DialConfig {
            relay,
            token: credentials.token,
            relay_peer_id: options.relay_peer_id.map(PeerId::from),
            backoff: BackoffConfig {
                initial_delay: options.initial_backoff,
                max_delay: options.max_backoff,
                max_retries: None,
            },
        };
        let client = SyncClient {
            runtime: Mutex::new(Some(runtime)),
            driver,
            dialer: Mutex::new(None),
            closing: Arc::default(),
            dial,
            account_id: credentials.account_id,
        };
        client.connect()?;
        Ok(client)
    }

    /// Dial the relay (in the background) and follow the connection.
    fn connect(&self) -> SyncResult<()> {
        let rt = lock(&self.runtime);
        let rt = rt.as_ref().ok_or(SyncError::Stopped)?;
        let mut slot = lock(&self.dialer);
        if slot.is_some() {
            return Ok(());
        }
        let progress = {
            let d = Arc::downgrade(&self.driver);
            Arc::new(move |p: DialProgress| {
                let Some(d) = d.upgrade() else { return };
                match p {
                    DialProgress::Attempting | DialProgress::Open => d.send(Event::Link(LinkEvent::Connecting)),
                    DialProgress::Failed => d.send(Event::Link(LinkEvent::Offline)),
                    DialProgress::Refused(e) => {
                        let first = lock(&d.failure).replace(e.clone()).is_none();
                        d.send(Event::Link(LinkEvent::Refused));
                        if first {
                            d.emit(SyncEvent::Failed { error: e });
                        }
                    }
                }
            })
        };
        let dialer = RelayDialer::new(
            self.dial.relay.sync_url(),
            &self.dial.token,
            self.dial.relay_peer_id.clone(),
            progress,
            self.driver.store.storage(),
        )?;
        // Presence reads ephemeral messages with their sender (see `presence.rs`).
        let dialer = {
            let d = Arc::downgrade(&self.driver);
            dialer.with_tap(Arc::new(move |bytes: &[u8]| {
                if let Some(d) = d.upgrade() {
                    d.presence_inbound(bytes);
                }
            }))
        };
        let handle = {
            let _guard = rt.enter();
            self.driver.repo.dial(self.dial.backoff.clone(), Arc::new(dialer)).map_err(|_| SyncError::Stopped)?
        };
        self.driver.send(Event::Link(LinkEvent::Connecting));
        let watched = handle.clone();
        let d = Arc::downgrade(&self.driver);
        rt.spawn(async move {
            let mut events = watched.events();
            // Listening now, look whether the connection came up already: on a loaded phone the dial and its
            // handshake can complete before this task runs, and a `Connected` event sent before anyone
            // listened is lost (the case would show "connecting" while connected, until the next redial).
            if let (Some(c), Some(d)) = (watched.connection_id(), d.upgrade()) {
                d.send(Event::Link(LinkEvent::Connected(c)));
            }
            while let Some(ev) = events.next().await {
                let Some(d) = d.upgrade() else { break };
                let link = match ev {
                    DialerEvent::Connected { .. } => match watched.connection_id() {
                        Some(c) => LinkEvent::Connected(c),
                        None => continue,
                    },
                    DialerEvent::Disconnected { .. } => LinkEvent::Offline,
                    DialerEvent::Reconnecting { .. } => LinkEvent::Connecting,
                    DialerEvent::MaxRetriesReached => LinkEvent::Offline,
                    // The dialer's `Refused` progress report carries the reason and was told already.
                    DialerEvent::PermanentFailure => continue,
                };
                d.send(Event::Link(link));
            }
        });
        *slot = Some(handle);
        Ok(())
    }

    /// Run one of the client's `async` methods from synchronous code (the CLI, tests). Do not call it
    /// on a thread that holds a case's lock, nor from inside an async task.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        futures::executor::block_on(future)
    }

    /// Run `f` on the client's runtime and wait for it from any executor.
    async fn on_runtime<T: Send + 'static>(
        &self,
        f: impl Future<Output = SyncResult<T>> + Send + 'static,
    ) -> SyncResult<T> {
        let task = {
            let rt = lock(&self.runtime);
            rt.as_ref().ok_or(SyncError::Stopped)?.spawn(f)
        };
        task.await.map_err(|_| SyncError::Stopped)?
    }

    /// Run blocking `f` (an HTTP call) on the client's blocking threads and wait for it from any executor.
    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce() -> SyncResult<T> + Send + 'static) -> SyncResult<T> {
        let task = {
            let rt = lock(&self.runtime);
            rt.as_ref().ok_or(SyncError::Stopped)?.spawn_blocking(f)
        };
        task.await.map_err(|_| SyncError::Stopped)?
    }

    /// The relay's HTTP API, signed in as this device (invites, members, devices…). Its calls block:
    /// call them off the UI thread.
    pub fn relay(&self) -> &RelayClient {
        &self.driver.relay
    }

    /// Register an observer of [`SyncEvent`]s (called on a background thread). If the relay refused this
    /// device already, the observer is told at once ([`SyncEvent::Failed`]).
    pub fn add_observer(&self, observer: Arc<dyn SyncObserver>) {
        lock(&self.driver.observers).push(observer.clone());
        // A refusal may have come before this observer: it hears it too (once, on a thread of its own).
        if let Some(error) = self.failure() {
            let spawned = std::thread::Builder::new()
                .name("casebook-sync-events".into())
                .spawn(move || observer.on_event(SyncEvent::Failed { error }));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot tell a late observer about the refusal");
            }
        }
    }

    /// Whether the relay connection is established (handshake done); after [`SyncClient::pause`], until
    /// the connection has closed (a grace of 200 ms lets the last pushes and goodbyes leave).
    pub fn is_connected(&self) -> bool {
        lock(&self.dialer).as_ref().is_some_and(|d| d.is_connected())
            || self.closing.load(std::sync::atomic::Ordering::SeqCst) > 0
    }

    /// Why sync stopped for good (the relay refused this device's token), if it did.
    pub fn failure(&self) -> Option<SyncError> {
        lock(&self.driver.failure).clone()
    }

    /// Keep an open case in sync: other devices' changes are merged into it as they arrive (live merge),
    /// and its saved edits go to the relay. A case the relay does not know (never shared or joined) is
    /// only remembered; [`SyncClient::share_case`] starts syncing it. Saves the case; returns at once.
    pub fn attach(&self, case: &SharedCase) -> SyncResult<()> {
        let id = case.lock().map_err(|_| poisoned())?.id().clone();
        self.driver.remember_open(&id, case);
        if self.driver.store.relay_knows(&id, &id)? {
            self.driver.push_now(case)?;
        }
        Ok(())
    }

    /// "Push now": save the case and hand its new changes to samod (sent to the relay when connected; kept
    /// on the device until then). Attaches the case if it was not. Never waits on the network: the case's
    /// lock is held for the save only.
    ///
    /// Errors: local store errors only. A case this account is not a member of is announced with
    /// [`SyncEvent::NotMember`] and makes [`SyncClient::wait_until_synced`] fail with `NotFound`.
    pub fn sync_case(&self, case: &SharedCase) -> SyncResult<()> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        self.driver.push_now(case)
    }

    /// Register a case on the relay (this account becomes its owner) and start syncing it. Registering a
    /// case this account registered already is not an error.
    pub async fn share_case(&self, case: &SharedCase) -> SyncResult<CaseMembership> {
        let id = case.lock().map_err(|_| poisoned())?.id().clone();
        let relay = self.driver.relay.clone();
        let rid = id.clone();
        let membership = self
            .blocking(move || match relay.register_case(&rid) {
                Ok(m) => Ok(m),
                Err(SyncError::Conflict { reason }) => relay
                    .list_cases()?
                    .into_iter()
                    .find(|m| m.case_id == rid.as_str())
                    .ok_or(SyncError::Conflict { reason }),
                Err(e) => Err(e),
            })
            .await?;
        self.driver.store.set_relay_knows(&id, &id)?;
        self.driver.push_now(case)?;
        self.driver.step(Event::Membership { case: id, outcome: Membership::Member });
        Ok(membership)
    }

    /// Fetch a case this account is a member of (after redeeming an invite) from the relay into the store,
    /// open it and keep it in sync (attached). Waits up to `timeout` for the connection, the case and its
    /// notes (if the notes are not all there by then, the case is returned and they arrive live). A case
    /// already in the store is opened and attached.
    pub async fn join_case(&self, case_id: &CaseId, timeout: Duration) -> SyncResult<SharedCase> {
        let store = self.driver.store.clone();
        if bridge::on_storage(&*store.storage(), case_id).map_err(crate::Error::from)? {
            store.register(case_id)?;
            store.set_relay_knows(case_id, case_id)?;
            let case = Arc::new(Mutex::new(store.open_case(case_id)?));
            self.attach(&case)?;
            return Ok(case);
        }
        let established = lock(&self.dialer).as_ref().map(|d| d.established()).ok_or(SyncError::Stopped)?;
        let deadline = tokio::time::Instant::now() + timeout;
        let driver = self.driver.clone();
        let relay = self.driver.relay.clone();
        let id = case_id.clone();
        let handle = self
            .on_runtime(async move {
                match tokio::time::timeout_at(deadline, established).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => {
                        return Err(lock(&driver.failure)
                            .clone()
                            .unwrap_or(SyncError::Network("cannot reach the relay".into())));
                    }
                    Err(_) => return Err(SyncError::Timeout { state: SyncState::Connecting }),
                }
                let rid = id.clone();
                let list =
                    tokio::task::spawn_blocking(move || relay.list_cases()).await.map_err(|_| SyncError::Stopped)??;
                if !list.iter().any(|m| m.case_id == rid.as_str()) {
                    return Err(SyncError::NotFound);
                }
                // Search rather than find: a case registered a moment ago may reach the relay after our
                // request (the relay then announces it and the search completes).
                let (first, mut updates) = driver.repo.search(id.to_document_id()).map_err(|_| SyncError::Stopped)?;
                let mut state = first;
                loop {
                    match state {
                        SearchState::Found(h) => return Ok(h),
                        other => {
                            let unavailable =
                                matches!(&other, SearchState::Requesting(r) if r.is_currently_unavailable());
                            match tokio::time::timeout_at(deadline, updates.next()).await {
                                Ok(Some(next)) => state = next,
                                Ok(None) => return Err(SyncError::Stopped),
                                Err(_) if unavailable => return Err(SyncError::NotFound),
                                Err(_) => return Err(SyncError::Timeout { state: SyncState::Syncing }),
                            }
                        }
                    }
                }
            })
            .await?;
        // Write it ourselves (one snapshot, flushed) rather than wait for samod's asynchronous write.
        handle.with_document(|d| bridge::store_joined_case(&store, case_id, d))?;
        store.set_relay_knows(case_id, case_id)?;
        let case = Arc::new(Mutex::new(store.open_case(case_id)?));
        self.attach(&case)?;
        self.driver.step(Event::Membership { case: case_id.clone(), outcome: Membership::Member });
        // The rest of the case (notes documents) follows: wait for it within what is left of the timeout.
        // A case that is not complete by then is returned anyway; what is missing arrives live.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if let Err(e) = self.wait_for(case_id, left, |d, id| lock(&d.engine).settled(id)).await {
            tracing::debug!(case = %case_id, error = %e, "joined case returned before its last documents");
        }
        Ok(case)
    }

    fn link_state(&self) -> SyncState {
        if self.is_connected() {
            return SyncState::Syncing;
        }
        if self.failure().is_some() || lock(&self.dialer).is_none() {
            return SyncState::Offline;
        }
        SyncState::Connecting
    }

    /// The sync status of a case. A case not synced in this session reports the connection state and
    /// `saved_to_relay: false`.
    pub fn status(&self, case_id: &CaseId) -> CaseSyncStatus {
        if let Some(s) = lock(&self.driver.engine).status(case_id) {
            return s;
        }
        CaseSyncStatus {
            state: self.link_state(),
            last_synced_at: self.driver.store.last_synced(case_id).ok().flatten(),
            saved_to_relay: false,
        }
    }

    /// Wait until `done` holds for the case (checked after every engine step, without the engine's lock
    /// held), or fail.
    async fn wait_for(
        &self,
        case_id: &CaseId,
        timeout: Duration,
        done: impl Fn(&Driver, &CaseId) -> bool + Send + 'static,
    ) -> SyncResult<CaseSyncStatus> {
        let driver = self.driver.clone();
        let id = case_id.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        self.on_runtime(async move {
            let mut version = driver.version.subscribe();
            loop {
                if let Some(e) = lock(&driver.failure).clone() {
                    return Err(e);
                }
                let status = {
                    let mut e = lock(&driver.engine);
                    if e.refused(&id) {
                        return Err(SyncError::NotFound);
                    }
                    e.status(&id).ok_or_else(|| SyncError::InvalidInput {
                        reason: "this case is not being synced: attach or sync it first".into(),
                    })?
                };
                if done(&driver, &id) {
                    return Ok(lock(&driver.engine).status(&id).unwrap_or(status));
                }
                match tokio::time::timeout_at(deadline, version.changed()).await {
                    Err(_) => {
                        // Ids and hashes only: enough to tell which document stalled and why.
                        tracing::debug!(case = %id, state = %lock(&driver.engine).describe(&id), "sync timed out");
                        return Err(SyncError::Timeout { state: status.state });
                    }
                    Ok(Err(_)) => return Err(SyncError::Stopped),
                    Ok(Ok(())) => {}
                }
            }
        })
        .await
    }

    /// Wait until the case is up to date with the relay: the relay holds every local edit handed over and
    /// this device has everything the relay holds. Fails with `Unauthorized` (token refused), `NotFound`
    /// (not a member), or `Timeout { state }` (offline, connecting or still syncing).
    pub async fn wait_until_synced(&self, case_id: &CaseId, timeout: Duration) -> SyncResult<CaseSyncStatus> {
        self.wait_for(case_id, timeout, |d, id| {
            lock(&d.engine).status(id).is_some_and(|s| s.state == SyncState::UpToDate)
        })
        .await
    }

    /// Sync a case completely: push now, then wait until it is up to date **and** the open case holds
    /// everything the relay holds (merged live), including other devices' new appointments' notes.
    ///
    /// "Everything the relay holds" is what it holds when this call asks it (one HTTP request for the
    /// heads of the case's documents): the relay's pushes alone cannot tell a device that a change
    /// another device saved a moment ago is still on its way. If the relay cannot be asked, the call
    /// waits for the case to be up to date with what the relay last pushed.
    pub async fn sync_and_wait(&self, case: &SharedCase, timeout: Duration) -> SyncResult<CaseSyncStatus> {
        self.sync_case(case)?;
        let id = case.lock().map_err(|_| poisoned())?.id().clone();
        let deadline = tokio::time::Instant::now() + timeout;
        let relay = self.driver.relay.clone();
        let rid = id.clone();
        let asked = self
            .on_runtime(async move {
                let ask = tokio::task::spawn_blocking(move || relay.case_heads(&rid));
                Ok(match tokio::time::timeout_at(deadline, ask).await {
                    Ok(Ok(Ok(heads))) => Some(heads),
                    Ok(Ok(Err(e))) => {
                        tracing::debug!(error = %e, "the relay's heads could not be read");
                        None
                    }
                    _ => None,
                })
            })
            .await?;
        let target: Vec<(DocId, Vec<ChangeHash>)> = asked
            .map(|h| {
                h.documents
                    .iter()
                    .filter_map(|d| {
                        let doc = d.document_id.parse::<DocId>().ok()?;
                        let heads = d.heads.iter().filter_map(|h| h.parse().ok()).collect();
                        Some((doc, heads))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.wait_for(&id, left, move |d, id| {
            let known: Vec<Option<Vec<ChangeHash>>> = {
                let mut e = lock(&d.engine);
                if !e.settled(id) {
                    return false;
                }
                target.iter().map(|(doc, _)| e.samod_heads(id, doc)).collect()
            };
            // samod may hold changes the engine has not heard of yet (its event is on the way): then the
            // case does not hold them yet either.
            d.holds(&target, &known)
        })
        .await
    }

    /// The app goes to the background: save every attached case, push, and close the connection. Local
    /// reads and writes keep working; [`SyncClient::resume`] reconnects.
    pub fn pause(&self) -> SyncResult<()> {
        let open: Vec<SharedCase> = {
            let ids: Vec<CaseId> = lock(&self.driver.open).keys().cloned().collect();
            ids.iter().filter_map(|id| self.driver.open_case(id)).collect()
        };
        for case in &open {
            self.driver.push_now(case)?;
        }
        // Peers forget this device at once rather than when its presence expires.
        self.say_goodbye_everywhere();
        if let Some(d) = lock(&self.dialer).take() {
            // The connection closes after a short grace on the runtime (not on the caller's thread), so that
            // what was just pushed and the goodbyes can still leave.
            match lock(&self.runtime).as_ref() {
                Some(rt) => {
                    let closing = self.closing.clone();
                    closing.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    rt.spawn(async move {
                        tokio::time::sleep(CLOSE_GRACE).await;
                        d.close();
                        closing.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    });
                }
                None => d.close(),
            }
        }
        self.driver.step(Event::Link(LinkEvent::Offline));
        self.driver.store.storage().flush()?;
        Ok(())
    }

    /// The app is in the foreground again: reconnect (a no-op if connected).
    pub fn resume(&self) -> SyncResult<()> {
        if self.failure().is_some() {
            return Ok(());
        }
        self.connect()
    }

    /// Whether the client moves attachment blobs by itself (see `client/blobs.rs`): after a case syncs it
    /// uploads the blobs the relay lacks, downloads the attachments pinned "keep offline"
    /// ([`Store::pin_attachment`]) and, for editors and owners, sends the relay the blobs the case
    /// references; progress arrives as [`SyncEvent::AttachmentProgress`]. On a background thread, never
    /// holding a case's lock while bytes move; failures are retried with backoff. Turning it off lets an
    /// app (or the CLI's `sync`) move blobs with the explicit calls of [`super::attachments`] only; a pass
    /// under way finishes.
    pub fn set_move_attachments(&self, on: bool) {
        self.driver.blobs.enabled.store(on, std::sync::atomic::Ordering::SeqCst);
        if on {
            self.driver.sweep_blobs();
        }
    }

    /// Run a blob pass for a case now (if it is up to date and blobs move in the background): after the app
    /// pins an attachment "keep offline", so that its download starts without waiting for the next sync or
    /// sweep. A failed pass's backoff is skipped. Returns at once.
    pub fn move_attachments_now(&self, case_id: &CaseId) {
        self.driver.blobs_now(case_id);
    }

    /// This device's account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Close the connection, stop samod (its pending writes complete), flush the store. Later calls fail
    /// with `Stopped`. Blocks for at most ~12 s: call it off the UI thread (the bindings' `stop` is async).
    pub fn stop(&self) -> SyncResult<()> {
        self.driver.blobs.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        if self.say_goodbye_everywhere() > 0
            && let Some(rt) = lock(&self.runtime).as_ref()
        {
            // Let the goodbyes leave before the connection closes.
            let _ = futures::executor::block_on(rt.spawn(async { tokio::time::sleep(CLOSE_GRACE).await }));
        }
        let Some(rt) = lock(&self.runtime).take() else {
            return Ok(());
        };
        if let Some(d) = lock(&self.dialer).take() {
            d.close();
        }
        let repo = self.driver.repo.clone();
        let stopped = rt.spawn(async move {
            if tokio::time::timeout(Duration::from_secs(10), repo.stop()).await.is_err() {
                tracing::warn!("samod did not stop within 10 s");
            }
        });
        let _ = futures::executor::block_on(stopped);
        for w in lock(&self.driver.watchers).drain(..) {
            w.abort();
        }
        let times = lock(&self.driver.engine).sync_times();
        for (id, at) in times {
            if let Err(e) = self.driver.store.set_last_synced(&id, at) {
                tracing::warn!(case = %id, error = %e, "cannot record the last sync time");
            }
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            // Inside another runtime (an async caller): blocking on the shutdown is not allowed there.
            rt.shutdown_background();
        } else {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
        // A close after pause's grace that the runtime's shutdown cut short: the connection is gone too.
        self.closing.store(0, std::sync::atomic::Ordering::SeqCst);
        // Ends the event thread once it has delivered what is queued.
        *lock(&self.driver.notify) = None;
        self.driver.store.storage().flush()?;
        Ok(())
    }
}

fn poisoned() -> SyncError {
    SyncError::InvalidInput { reason: "an earlier call on this case failed unexpectedly: open the case again".into() }
}

impl Drop for SyncClient {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
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
        let creds = |token: &str| DeviceCredentials {
            account_id: "a".into(),
            device_id: "d".into(),
            token: token.into(),
            recovery_code: None,
        };
        let store = Store::in_memory();
        assert!(matches!(SyncClient::start(&store, "ftp://x", creds("t")), Err(SyncError::InvalidInput { .. })));
        assert!(matches!(
            SyncClient::start(&store, "http://127.0.0.1:9", creds("bad\ntoken")),
            Err(SyncError::InvalidInput { .. })
        ));
    }
}
