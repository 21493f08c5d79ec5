//! [`SyncError`]: what can go wrong talking to the relay, in the terms an app acts on.

use std::sync::Arc;

use super::status::SyncState;

/// Result alias of the sync client.
pub type SyncResult<T> = std::result::Result<T, SyncError>;

/// A sync or relay API failure. Each variant is something an app handles differently; none carries case
/// content, so errors are safe to log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SyncError {
    /// The device token is wrong or was revoked: sign in (create an account or link the device) again.
    /// Permanent: the sync client stops reconnecting.
    #[error("the relay refused this device's token (wrong or revoked)")]
    Unauthorized,
    /// The account's role does not allow this (a viewer writing, an editor inviting, …).
    #[error("not allowed: {reason}")]
    Forbidden {
        /// The relay's explanation.
        reason: String,
    },
    /// No such case, invite, member or device — or the account is not a member of the case (the relay
    /// answers both the same way, so that a case id alone reveals nothing).
    #[error("not found on the relay (or this account is not a member)")]
    NotFound,
    /// The request was refused as invalid (bad display name, expired or used invite code, bad URL, …).
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// Why it was refused.
        reason: String,
    },
    /// The request conflicts with the relay's state (for example a case registered twice).
    #[error("conflict: {reason}")]
    Conflict {
        /// The relay's explanation.
        reason: String,
    },
    /// Too many requests (failed logins, invite redemptions): try again later.
    #[error("rate limited by the relay{}", retry_after_secs.map(|s| format!(", retry after {s} s")).unwrap_or_default())]
    RateLimited {
        /// Seconds to wait, if the relay said.
        retry_after_secs: Option<u64>,
    },
    /// A size limit or the case's storage quota on the relay was hit.
    #[error("relay limit reached: {reason}")]
    LimitExceeded {
        /// The relay's explanation.
        reason: String,
    },
    /// The relay cannot be reached (offline, DNS, TLS, timeout). Transient: retry later; sync resumes by
    /// itself when the network returns.
    #[error("network error: {0}")]
    Network(String),
    /// The relay failed or answered something this client does not understand.
    #[error("relay error: {0}")]
    Server(String),
    /// `wait_until_synced` ran out of time; `state` says how far it got (offline, connecting, syncing).
    #[error("timed out while {state}")]
    Timeout {
        /// The sync state when the time ran out.
        state: SyncState,
    },
    /// The sync client was stopped.
    #[error("the sync client is stopped")]
    Stopped,
    /// The local store failed (disk full, damaged case, …).
    #[error("local store: {0}")]
    Local(Arc<crate::Error>),
}

impl SyncError {
    /// Whether retrying later may succeed without the user doing anything (network, relay hiccup, rate
    /// limit, timeout).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SyncError::Network(_) | SyncError::Server(_) | SyncError::RateLimited { .. } | SyncError::Timeout { .. }
        )
    }
}

impl From<crate::Error> for SyncError {
    fn from(e: crate::Error) -> Self {
        SyncError::Local(Arc::new(e))
    }
}

impl From<crate::storage::StorageError> for SyncError {
    fn from(e: crate::storage::StorageError) -> Self {
        SyncError::Local(Arc::new(e.into()))
    }
}
