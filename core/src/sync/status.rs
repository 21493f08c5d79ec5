//! What a UI shows about sync: [`CaseSyncStatus`] per case, and the [`SyncEvent`]s a [`SyncObserver`]
//! receives.

use std::fmt;

use crate::ids::CaseId;

use super::error::SyncError;

/// Where a case stands with the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// No connection to the relay (no network, relay down, or the token was refused). Edits stay on the
    /// device and go out when the connection returns.
    Offline,
    /// Connecting to the relay (or waiting for its handshake).
    Connecting,
    /// Connected; changes are still being exchanged.
    Syncing,
    /// Connected, the relay holds every local edit and this device has every edit the relay holds.
    UpToDate,
}

impl fmt::Display for SyncState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncState::Offline => "offline",
            SyncState::Connecting => "connecting",
            SyncState::Syncing => "syncing",
            SyncState::UpToDate => "up to date",
        })
    }
}

/// The sync status of one case.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CaseSyncStatus {
    /// Connection and exchange state.
    pub state: SyncState,
    /// Unix seconds when the case was last seen up to date with the relay (kept across restarts).
    pub last_synced_at: Option<u64>,
    /// Whether the relay has acknowledged every local edit handed to the sync client ("saved to the
    /// relay"): true also offline if nothing was edited since the last acknowledgement.
    pub saved_to_relay: bool,
}

/// A notification from the sync client. Delivered on a background thread: hand it over to the UI thread
/// and return quickly.
#[derive(Debug, Clone)]
pub enum SyncEvent {
    /// Changes from other devices arrived for this case: call `SyncClient::sync_case` on the open case to
    /// merge them (a case opened afresh already has them).
    CaseChanged {
        /// The case.
        case_id: CaseId,
    },
    /// The sync status of a case changed (state or "saved to the relay").
    StatusChanged {
        /// The case.
        case_id: CaseId,
        /// Its new status.
        status: CaseSyncStatus,
    },
    /// The relay refused the connection for good (wrong or revoked token): sync stopped; sign in again.
    Failed {
        /// Why.
        error: SyncError,
    },
}

/// Receives [`SyncEvent`]s (the FFI layer forwards them to Kotlin/Swift; the CLI's watch loop prints them).
/// Any `Fn(SyncEvent) + Send + Sync` closure is an observer.
pub trait SyncObserver: Send + Sync + 'static {
    /// Called for every event, on a background thread.
    fn on_event(&self, event: SyncEvent);
}

impl<F: Fn(SyncEvent) + Send + Sync + 'static> SyncObserver for F {
    fn on_event(&self, event: SyncEvent) {
        self(event)
    }
}
