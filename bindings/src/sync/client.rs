//! [`SyncClient`]: a store kept in sync with a relay. The core's `SyncClient` runs on its own runtime and
//! reconnects by itself; this wrapper makes it an object, forwards its events to the store's
//! [`CaseObserver`](crate::CaseObserver)s and to [`SyncObserver`]s, and converts types.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use casebook_core::sync::{CaseSyncStatus as CoreStatus, SyncClient as CoreClient, SyncEvent, SyncState};

use crate::case::Case;
use crate::convert::parse_case_id;
use crate::error::{CasebookError, Result};
use crate::observer::{CaseObservers, ChangeOrigin, Observers};
use crate::store::Store;

use super::relay::{CaseMembership, DeviceCredentials, Relay};

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
}

/// A store connected to a relay. Start one per signed-in device and keep it while the app runs; stop
/// it when the app goes away (or let it be dropped).
///
/// How changes move: [`SyncClient::sync_case`] saves an open case and hands its edits to the relay
/// (works offline: they go out when the connection returns) and merges what other devices sent into it.
/// When other devices' changes arrive, the store's observers hear `ChangeOrigin.RELAY`: call `syncCase`
/// on the open case again to merge them.
#[derive(uniffi::Object)]
pub struct SyncClient {
    /// The core client; `None` once stopped.
    inner: RwLock<Option<CoreClient>>,
    /// The relay API signed in as this device.
    relay: Arc<Relay>,
    /// The store's case observers (for cases opened by `join_case`).
    case_observers: Arc<CaseObservers>,
    /// Sync observers.
    observers: Arc<Observers<dyn SyncObserver>>,
}

fn timeout(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

impl SyncClient {
    /// Run `f` on the running core client.
    fn with<T>(&self, f: impl FnOnce(&CoreClient) -> Result<T>) -> Result<T> {
        let guard = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(c) => f(c),
            None => Err(CasebookError::Stopped),
        }
    }
}

#[uniffi::export]
impl SyncClient {
    /// Connect `store` to the relay at `relay_url` as the device of `credentials`. Returns at once; the
    /// connection is made (and remade after network loss) in the background.
    #[uniffi::constructor]
    pub fn start(store: Arc<Store>, relay_url: String, credentials: DeviceCredentials) -> Result<Arc<Self>> {
        let inner = CoreClient::start(&store.inner, &relay_url, credentials.into())?;
        let relay = Arc::new(Relay { inner: inner.relay().clone() });
        let observers: Arc<Observers<dyn SyncObserver>> = Arc::new(Observers::default());
        let case_observers = store.observers.clone();
        {
            let observers = observers.clone();
            let case_observers = case_observers.clone();
            inner.add_observer(Arc::new(move |event: SyncEvent| match event {
                SyncEvent::CaseChanged { case_id } => case_observers.changed(case_id.as_str(), ChangeOrigin::Relay),
                SyncEvent::StatusChanged { case_id, status } => {
                    let status = CaseSyncStatus::from(status);
                    observers.each(|o| o.on_sync_status_changed(case_id.to_string(), status.clone()));
                }
                SyncEvent::Failed { error } => observers.each(|o| o.on_sync_failed(error.clone().into())),
            }));
        }
        Ok(Arc::new(Self { inner: RwLock::new(Some(inner)), relay, case_observers, observers }))
    }

    /// The relay's HTTP API signed in as this device (invites, members, devices).
    pub fn relay(&self) -> Arc<Relay> {
        self.relay.clone()
    }

    /// This device's account id.
    pub fn account_id(&self) -> Result<String> {
        self.with(|c| Ok(c.account_id().to_string()))
    }

    /// Whether the relay connection is established.
    pub fn is_connected(&self) -> Result<bool> {
        self.with(|c| Ok(c.is_connected()))
    }

    /// Register a case on the relay (this account becomes its owner) and start syncing it. Sharing a case
    /// this account registered already is not an error.
    pub fn share_case(&self, case: Arc<Case>) -> Result<CaseMembership> {
        self.with(|c| Ok(c.share_case(&mut *case.lock()?)?.into()))
    }

    /// Fetch a case this account is a member of (after `Relay.redeemInvite`) into the store and sync it.
    /// Waits up to `timeout_ms` for the connection and the first download. A case already in the store is
    /// opened and synced.
    pub fn join_case(&self, case_id: String, timeout_ms: u32) -> Result<Arc<Case>> {
        let id = parse_case_id(&case_id)?;
        let case = self.with(|c| Ok(c.join_case(&id, timeout(timeout_ms))?))?;
        Ok(Arc::new(Case::new(case, self.case_observers.clone())))
    }

    /// Save the case, hand its edits to the relay and merge what other devices sent into it. Works
    /// offline (not an error: see [`SyncClient::status`]). Call it after each save and on
    /// `ChangeOrigin.RELAY`; re-read the case afterwards.
    pub fn sync_case(&self, case: Arc<Case>) -> Result<()> {
        self.with(|c| Ok(c.sync_case(&mut *case.lock()?)?))
    }

    /// The sync status of a case.
    pub fn status(&self, case_id: String) -> Result<CaseSyncStatus> {
        let id = parse_case_id(&case_id)?;
        self.with(|c| Ok(c.status(&id).into()))
    }

    /// Wait until the case is up to date with the relay (at most `timeout_ms`), then `syncCase` again to
    /// merge what arrived. `Timeout` says how far it got; `Unauthorized`, `NotFound` (not a member) end it.
    pub fn wait_until_synced(&self, case_id: String, timeout_ms: u32) -> Result<CaseSyncStatus> {
        let id = parse_case_id(&case_id)?;
        self.with(|c| Ok(c.wait_until_synced(&id, timeout(timeout_ms))?.into()))
    }

    /// Add a sync observer; returns an id for [`SyncClient::remove_observer`].
    pub fn add_observer(&self, observer: Arc<dyn SyncObserver>) -> u64 {
        self.observers.add(observer)
    }

    /// Remove a sync observer; whether it was registered.
    pub fn remove_observer(&self, id: u64) -> bool {
        self.observers.remove(id)
    }

    /// Close the connection and stop (pending writes complete, the store is flushed). Later calls fail
    /// with `Stopped`; stopping twice is not an error.
    pub fn stop(&self) -> Result<()> {
        let client = self.inner.write().unwrap_or_else(PoisonError::into_inner).take();
        match client {
            Some(c) => Ok(c.stop()?),
            None => Ok(()),
        }
    }
}
