//! What a UI shows about sync: the [`SyncState`] and [`CaseSyncStatus`] of a case, computed by the
//! [`super::Engine`].

use std::fmt;

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
