//! [`SyncClient`]: a store kept in sync with a relay. The core's `SyncClient` runs on its own runtime and
//! reconnects by itself; this wrapper makes it an object (async where the network is), attaches the
//! store's open cases to it, forwards its events to the store's [`CaseObserver`](crate::CaseObserver)s
//! and to [`SyncObserver`]s, and converts types.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use casebook_core::sync::{
    CaseSyncStatus as CoreStatus, RelayClient, SyncClient as CoreClient, SyncEvent, SyncState, TransferDirection,
    TransferOptions,
};

use crate::case::Case;
use crate::convert::parse_case_id;
use crate::convert::u32_of;
use crate::error::{CasebookError, Result};
use crate::model::attachment::CaseSource;
use crate::observer::Observers;
use crate::store::Store;

use super::relay::{CaseMembership, DeviceCredentials, Relay};

pub mod presence;
use presence::PresenceObserver;

/// Where a case stands with the relay.
#[uniffi::remote(Enum)]
pub enum SyncState {
    /// No connection (no network, relay down, or the token was refused). Edits stay on the device and go
    /// out when the connection returns.
    Offline,
    /// Connecting to the relay.
    Connecting,
    /// Connected; changes are still being exchanged.
    Syncing,
    /// Connected; the relay holds every local edit and this device has every edit the relay holds.
    UpToDate,
}

/// The sync status of one case (what an appointment screen shows: "offline — saved on this phone",
/// "syncing", "saved to the relay").
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseSyncStatus {
    /// Connection and exchange state.
    pub state: SyncState,
    /// Unix seconds when the case was last up to date with the relay (kept across restarts).
    pub last_synced_at: Option<u64>,
    /// Whether the relay has every local edit handed to the sync client.
    pub saved_to_relay: bool,
}

impl From<CoreStatus> for CaseSyncStatus {
    fn from(s: CoreStatus) -> Self {
        Self { state: s.state, last_synced_at: s.last_synced_at, saved_to_relay: s.saved_to_relay }
    }
}

/// Told about sync: a case's status changed, or sync stopped for good. Called on a background thread:
/// hand over to the UI thread and return quickly. An exception thrown here is caught and logged.
#[uniffi::export(foreign)]
pub trait SyncObserver: Send + Sync {
    /// The sync status of case `case_id` changed.
    fn on_sync_status_changed(&self, case_id: String, status: CaseSyncStatus);
    /// The relay refused this device for good (`Unauthorized`: wrong or revoked token): sync stopped;
    /// sign in again and start a new client.
    fn on_sync_failed(&self, error: CasebookError);
    /// The relay says this account is not a member of case `case_id` (removed from it, or it was never
    /// shared): it is not synced.
    fn on_not_member(&self, case_id: String);
}

/// Told how an attachment transfer advances (`SyncClient.uploadAttachments`, `downloadAttachment`,
/// `downloadPinned`). Called on a background thread, at most about every 100 ms per attachment and always
/// when one is complete (`done == total`): hand over to the UI thread and return quickly. An exception
/// thrown here is caught and logged; the transfer goes on.
#[uniffi::export(foreign)]
pub trait TransferProgress: Send + Sync {
    /// `done` of the `total` bytes of attachment `attachment_id` are transferred.
    fn on_progress(&self, attachment_id: String, done: u64, total: u64);
}

/// Told how attachments move in the background (`SyncClient.setMoveAttachments`, on by default): the client
/// uploads the blobs the relay lacks and downloads those kept offline after each sync. Called on a
/// background thread, about every 100 ms per attachment and always once one is complete (`done == total`:
/// a download is then on this device, refresh its screen). An exception thrown here is caught and logged.
#[uniffi::export(foreign)]
pub trait AttachmentTransferObserver: Send + Sync {
    /// `done` of the `total` bytes of attachment `attachment_id` of case `case_id` moved, up to the relay
    /// (`upload`) or down to this device.
    fn on_attachment_progress(&self, case_id: String, attachment_id: String, upload: bool, done: u64, total: u64);
}

/// What `SyncClient.retainAttachments` made the relay delete.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RetainedBlobs {
    /// Blobs deleted on the relay.
    pub deleted: u64,
    /// Bytes freed there.
    pub freed_bytes: u64,
}

/// Calls a [`TransferProgress`], throttled, never letting a foreign exception unwind into the transfer.
struct Reporter {
    progress: Option<Arc<dyn TransferProgress>>,
    /// The last call: attachment, bytes done, when.
    last: Option<(String, u64, std::time::Instant)>,
}

/// The shortest time between two progress calls of one attachment (but the last).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

impl Reporter {
    fn new(progress: Option<Arc<dyn TransferProgress>>) -> Self {
        Self { progress, last: None }
    }

    fn report(&mut self, attachment_id: &str, done: u64, total: u64) {
        let Some(progress) = &self.progress else { return };
        let now = std::time::Instant::now();
        if let Some((id, d, at)) = &self.last
            && id == attachment_id
            && (*d == done || (done < total && now.duration_since(*at) < PROGRESS_EVERY))
        {
            return;
        }
        self.last = Some((attachment_id.to_string(), done, now));
        let call = std::panic::AssertUnwindSafe(|| progress.on_progress(attachment_id.to_string(), done, total));
        if std::panic::catch_unwind(call).is_err() {
            tracing::error!("a transfer progress callback threw; ignored");
        }
    }
}

/// A store connected to a relay. Start one per signed-in device and keep it while the app runs; pause it
/// when the app goes to the background, resume it when it comes back, stop it when the app goes away.
///
/// How changes move: every case opened from the store is kept in sync while it is open. Other devices'
/// changes are merged into it as they arrive (the store's observers hear `ChangeOrigin.REMOTE`, naming
/// what changed); its edits are saved by the store's autosave and then sent (or at once with
/// [`SyncClient::sync_case`]). Nothing here holds a case's lock while waiting on the network: reads and
/// writes of a case stay fast on any network. Calls that wait on the network are `async` (Kotlin
/// `suspend`, Swift `async`).
#[derive(uniffi::Object)]
pub struct SyncClient {
    /// The core client; `None` once stopped.
    inner: RwLock<Option<Arc<CoreClient>>>,
    /// The store it syncs.
    store: Arc<Store>,
    /// The relay API signed in as this device.
    relay: Arc<Relay>,
    /// Sync observers.
    observers: Arc<Observers<dyn SyncObserver>>,
    /// Presence observers (see `presence.rs`).
    presence_observers: Arc<Observers<dyn PresenceObserver>>,
    /// Observers of the background attachment transfers.
    transfer_observers: Arc<Observers<dyn AttachmentTransferObserver>>,
}

fn timeout(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

impl SyncClient {
    /// The running core client.
    fn core(&self) -> Result<Arc<CoreClient>> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).clone().ok_or(CasebookError::Stopped)
    }

    /// A pin changed (`Store.keepOffline`): a background pass for the case now.
    pub(crate) fn move_attachments_now(&self, case_id: &casebook_core::CaseId) {
        if let Ok(c) = self.core() {
            c.move_attachments_now(case_id);
        }
    }

    /// Keep an open case in sync (called by the store for every case it opens).
    pub(crate) fn attach(&self, case: &Arc<Mutex<casebook_core::Case>>) {
        if let Ok(c) = self.core()
            && let Err(e) = c.attach(case)
        {
            tracing::warn!(error = %e, "cannot attach a case to the sync client");
        }
    }

    /// Run an attachment transfer on a blocking thread with the relay client signed in as this device and
    /// the store's cases (read before any transfer; no case is locked while bytes move), awaited without
    /// blocking the caller.
    async fn transfer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&RelayClient, &CaseSource) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let relay = self.core()?.relay().clone();
        let source = CaseSource::of(&self.store);
        tokio::task::spawn_blocking(move || f(&relay, &source))
            .await
            .map_err(|_| CasebookError::Internal { reason: "an attachment transfer did not complete".into() })?
    }

    /// Save a case and hand its edits to the sync engine (the autosave's saver).
    pub(crate) fn push(&self, case: &Arc<Mutex<casebook_core::Case>>) {
        match self.core() {
            Ok(c) => {
                if let Err(e) = c.sync_case(case) {
                    tracing::warn!(error = %e, "autosave: cannot push a case");
                }
            }
            Err(_) => casebook_core::autosave::save_only()(case),
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl SyncClient {
    /// Connect `store` to the relay at `relay_url` as the device of `credentials`. Returns at once; the
    /// connection is made (and remade after network loss) in the background. Cases opened from the store
    /// from now on are kept in sync while open.
    #[uniffi::constructor]
    pub fn start(store: Arc<Store>, relay_url: String, credentials: DeviceCredentials) -> Result<Arc<Self>> {
        let inner = Arc::new(CoreClient::start(&store.inner, &relay_url, credentials.into())?);
        let relay = Arc::new(Relay { inner: inner.relay().clone() });
        let observers: Arc<Observers<dyn SyncObserver>> = Arc::new(Observers::default());
        let presence_observers: Arc<Observers<dyn PresenceObserver>> = Arc::new(Observers::default());
        let transfer_observers: Arc<Observers<dyn AttachmentTransferObserver>> = Arc::new(Observers::default());
        {
            let observers = observers.clone();
            let presence_observers = presence_observers.clone();
            let transfer_observers = transfer_observers.clone();
            let case_observers = store.observers.clone();
            inner.add_observer(Arc::new(move |event: SyncEvent| match event {
                SyncEvent::CaseChanged { case_id, change } => case_observers.changed(case_id.as_str(), change.into()),
                SyncEvent::StatusChanged { case_id, status } => {
                    let status = CaseSyncStatus::from(status);
                    observers.each(|o| o.on_sync_status_changed(case_id.to_string(), status.clone()));
                }
                SyncEvent::Failed { error } => observers.each(|o| o.on_sync_failed(error.clone().into())),
                SyncEvent::NotMember { case_id } => observers.each(|o| o.on_not_member(case_id.to_string())),
                SyncEvent::PresenceChanged { case_id, doc } => {
                    presence_observers.each(|o| o.on_presence_changed(case_id.to_string(), doc.to_string()))
                }
                SyncEvent::AttachmentProgress { case_id, attachment_id, direction, done, total } => {
                    let upload = direction == TransferDirection::Upload;
                    transfer_observers.each(|o| {
                        o.on_attachment_progress(case_id.to_string(), attachment_id.clone(), upload, done, total)
                    })
                }
            }));
        }
        let client = Arc::new(Self {
            inner: RwLock::new(Some(inner)),
            store: store.clone(),
            relay,
            observers,
            presence_observers,
            transfer_observers,
        });
        *store.sync.lock().unwrap_or_else(PoisonError::into_inner) = Arc::downgrade(&client);
        for case in store.open_cases() {
            client.attach(&case);
        }
        Ok(client)
    }

    /// The relay's HTTP API signed in as this device (invites, members, devices).
    pub fn relay(&self) -> Arc<Relay> {
        self.relay.clone()
    }

    /// This device's account id.
    pub fn account_id(&self) -> Result<String> {
        Ok(self.core()?.account_id().to_string())
    }

    /// Whether the relay connection is established.
    pub fn is_connected(&self) -> Result<bool> {
        Ok(self.core()?.is_connected())
    }

    /// Register a case on the relay (this account becomes its owner) and start syncing it. Sharing a case
    /// this account registered already is not an error.
    pub async fn share_case(&self, case: Arc<Case>) -> Result<CaseMembership> {
        let core = self.core()?;
        Ok(core.share_case(&case.inner).await?.into())
    }

    /// Fetch a case this account is a member of (after `Relay.redeemInvite`) into the store, open it and
    /// keep it in sync. Waits up to `timeout_ms` for the connection and the first download. A case already
    /// in the store is opened.
    pub async fn join_case(&self, case_id: String, timeout_ms: u32) -> Result<Arc<Case>> {
        let id = parse_case_id(&case_id)?;
        let core = self.core()?;
        let shared = core.join_case(&id, timeout(timeout_ms)).await?;
        Ok(self.store.wrap_shared(shared, case_id))
    }

    /// "Push now": save the case and hand its edits to the relay (sent when connected). Never waits on
    /// the network. Not needed for correctness (the autosave does it about a second after the last edit).
    pub fn sync_case(&self, case: Arc<Case>) -> Result<()> {
        Ok(self.core()?.sync_case(&case.inner)?)
    }

    /// The sync status of a case.
    pub fn status(&self, case_id: String) -> Result<CaseSyncStatus> {
        let id = parse_case_id(&case_id)?;
        Ok(self.core()?.status(&id).into())
    }

    /// Wait until the case is up to date with the relay (at most `timeout_ms`). `Timeout` says how far it
    /// got; `Unauthorized`, `NotFound` (not a member) end it.
    pub async fn wait_until_synced(&self, case_id: String, timeout_ms: u32) -> Result<CaseSyncStatus> {
        let id = parse_case_id(&case_id)?;
        let core = self.core()?;
        Ok(core.wait_until_synced(&id, timeout(timeout_ms)).await?.into())
    }

    /// Push now, then wait (at most `timeout_ms`) until the relay has every edit of the case and the open
    /// case has every edit the relay has.
    pub async fn sync_and_wait(&self, case: Arc<Case>, timeout_ms: u32) -> Result<CaseSyncStatus> {
        let core = self.core()?;
        Ok(core.sync_and_wait(&case.inner, timeout(timeout_ms)).await?.into())
    }

    /// Upload every attachment of the case whose bytes are on this device and not yet on the relay (one at a
    /// time, each resuming where the relay stands, retrying through network loss for up to 10 minutes).
    /// Returns how many were uploaded. Editors and owners (`Forbidden` for a viewer). The attachments are
    /// read from the open case (unsaved ones included) before anything is sent; no case is locked while
    /// the bytes move.
    #[uniffi::method(default(progress = None))]
    pub async fn upload_attachments(
        &self,
        case_id: String,
        progress: Option<Arc<dyn TransferProgress>>,
    ) -> Result<u32> {
        let id = parse_case_id(&case_id)?;
        self.transfer(move |relay, cases| {
            let list = cases.attachments(&id)?;
            let mut reporter = Reporter::new(progress);
            let options = TransferOptions::default();
            let sent = casebook_core::sync::attachments::upload_attachments(
                relay,
                &cases.store,
                &id,
                &list,
                &options,
                |a, done, total| reporter.report(&a.id, done, total),
            )?;
            Ok(u32_of(sent))
        })
        .await
    }

    /// Download attachment `attachment_id` of the case to this device (resuming what an earlier attempt
    /// left, verified against its SHA-256); nothing to do when it is here already. Then `Case.readAttachment`
    /// or `Store.exportAttachment` read it. `NotFound`: no such attachment, or the relay does not hold its
    /// bytes (yet: the phone that attached it has not uploaded them).
    #[uniffi::method(default(progress = None))]
    pub async fn download_attachment(
        &self,
        case_id: String,
        attachment_id: String,
        progress: Option<Arc<dyn TransferProgress>>,
    ) -> Result<()> {
        let id = parse_case_id(&case_id)?;
        self.transfer(move |relay, cases| {
            let a = cases.attachment(&id, &attachment_id)?;
            let mut reporter = Reporter::new(progress);
            let options = TransferOptions::default();
            casebook_core::sync::attachments::download_attachment(relay, &cases.store, &id, &a, &options, |d, t| {
                reporter.report(&a.id, d, t)
            })?;
            Ok(())
        })
        .await
    }

    /// Download every attachment of the case kept offline on this device (`Store.keepOffline`) that is not
    /// here yet; those the relay does not hold yet are skipped (the next call gets them). Returns how many
    /// were downloaded.
    #[uniffi::method(default(progress = None))]
    pub async fn download_pinned(&self, case_id: String, progress: Option<Arc<dyn TransferProgress>>) -> Result<u32> {
        let id = parse_case_id(&case_id)?;
        self.transfer(move |relay, cases| {
            let list = cases.attachments(&id)?;
            let mut reporter = Reporter::new(progress);
            let options = TransferOptions::default();
            let n = casebook_core::sync::attachments::download_pinned(
                relay,
                &cases.store,
                &id,
                &list,
                &options,
                |a, done, total| reporter.report(&a.id, done, total),
            )?;
            Ok(u32_of(n))
        })
        .await
    }

    /// The app goes to the background: save every edited case at once, push, close the connection.
    /// Reads and writes keep working offline.
    pub fn pause(&self) -> Result<()> {
        self.store.autosave.flush();
        Ok(self.core()?.pause()?)
    }

    /// The app is in the foreground again: reconnect.
    pub fn resume(&self) -> Result<()> {
        Ok(self.core()?.resume()?)
    }

    /// Add a sync observer; returns an id for [`SyncClient::remove_observer`]. If the relay refused this
    /// device already (before the observer was added), the observer hears `onSyncFailed` at once.
    pub fn add_observer(&self, observer: Arc<dyn SyncObserver>) -> u64 {
        let id = self.observers.add(observer.clone());
        if let Some(error) = self.core().ok().and_then(|c| c.failure()) {
            let error: CasebookError = error.into();
            let told = std::thread::Builder::new().name("casebook-sync-events".into()).spawn(move || {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| observer.on_sync_failed(error))).is_err() {
                    tracing::error!("an observer threw; ignored");
                }
            });
            if let Err(e) = told {
                tracing::warn!(error = %e, "cannot tell a late observer about the refusal");
            }
        }
        id
    }

    /// Remove a sync observer; whether it was registered.
    pub fn remove_observer(&self, id: u64) -> bool {
        self.observers.remove(id)
    }

    /// Let the client move attachment blobs by itself (on from the start; `false` leaves them to the explicit
    /// calls): after each case
    /// syncs, on a background thread, it uploads the blobs the relay lacks, downloads the attachments kept
    /// offline (`Store.keepOffline`) and, for editors and owners, tells the relay which blobs the case
    /// still references. Never on the caller's thread, never holding a case while bytes move; failures are
    /// retried with backoff; a case this account was removed from stops. Progress reaches
    /// `addAttachmentObserver`'s observers. The explicit calls (`uploadAttachments`, …) keep working.
    pub fn set_move_attachments(&self, on: bool) -> Result<()> {
        self.core()?.set_move_attachments(on);
        Ok(())
    }

    /// Add an observer of the background attachment transfers; returns an id for
    /// [`SyncClient::remove_attachment_observer`].
    pub fn add_attachment_observer(&self, observer: Arc<dyn AttachmentTransferObserver>) -> u64 {
        self.transfer_observers.add(observer)
    }

    /// Remove an observer of the background attachment transfers; whether it was registered.
    pub fn remove_attachment_observer(&self, id: u64) -> bool {
        self.transfer_observers.remove(id)
    }

    /// Tell the relay which blobs case `case_id` references (every live attachment of the open or saved
    /// case): it deletes the case's other blobs (those uploaded within the last hour excepted). Editors and
    /// owners (`Forbidden` for a viewer).
    pub async fn retain_attachments(&self, case_id: String) -> Result<RetainedBlobs> {
        let id = parse_case_id(&case_id)?;
        self.transfer(move |relay, cases| {
            let list = cases.attachments(&id)?;
            let r = casebook_core::sync::attachments::retain_attachments(relay, &id, &list)?;
            Ok(RetainedBlobs { deleted: r.deleted, freed_bytes: r.freed_bytes })
        })
        .await
    }

    /// Save pending edits, close the connection and stop (pending writes complete, the store is flushed).
    /// Later calls fail with `Stopped`; stopping twice is not an error.
    pub async fn stop(&self) -> Result<()> {
        self.store.autosave.flush();
        let client = self.inner.write().unwrap_or_else(PoisonError::into_inner).take();
        match client {
            Some(c) => tokio::task::spawn_blocking(move || c.stop())
                .await
                .map_err(|_| CasebookError::Internal { reason: "the sync client did not stop cleanly".into() })?
                .map_err(Into::into),
            None => Ok(()),
        }
    }
}
