//! [`CasebookError`]: the one error type of the bindings (Kotlin `CasebookException`, Swift
//! `CasebookError`, Python `CasebookError`), with only the variants an app acts on differently. Fed by
//! `From` impls from the core's errors; messages carry ids and reasons, never case content.

use casebook_core::storage::StorageError;

/// Everything that can go wrong, by what the app does about it.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum CasebookError {
    /// No such case or item (specialist, request, appointment, conflict…), or — from a relay — no such
    /// case, invite or member, or this account is not a member. Refresh the screen.
    #[error("not found: {reason}")]
    NotFound {
        /// What was not found (ids only).
        reason: String,
    },
    /// A value the core refused (empty name, a date not `YYYY-MM-DD`, a text index past the end or inside
    /// a surrogate pair, a damaged or out-of-order exchange file, an expired invite…). Show the reason.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// Why, naming the field.
        reason: String,
    },
    /// The relay refused this device's token (wrong or revoked): sign in again (new account or linked
    /// device). Sync has stopped.
    #[error("the relay refused this device's token")]
    Unauthorized,
    /// The account's role does not allow this (a viewer writing, an editor inviting).
    #[error("not allowed: {reason}")]
    Forbidden {
        /// The relay's explanation.
        reason: String,
    },
    /// The request conflicts with the relay's state (for example a case registered twice).
    #[error("conflict: {reason}")]
    Conflict {
        /// The relay's explanation.
        reason: String,
    },
    /// Too many attempts (invite codes, sign-ins): wait, then try again.
    #[error("rate limited")]
    RateLimited {
        /// Seconds to wait, if the relay said.
        retry_after_secs: Option<u64>,
    },
    /// A relay limit was reached (the case's storage quota, a size limit): the case stays editable here.
    #[error("relay limit reached: {reason}")]
    LimitExceeded {
        /// The relay's explanation.
        reason: String,
    },
    /// The relay cannot be reached or failed: nothing is lost, sync resumes by itself.
    #[error("network: {reason}")]
    Network {
        /// What failed (no content).
        reason: String,
    },
    /// Waiting for sync ran out of time; the reason says how far it got (offline, connecting, syncing).
    #[error("timed out: {reason}")]
    Timeout {
        /// The sync state when the time ran out.
        reason: String,
    },
    /// The sync client was stopped: start a new one.
    #[error("the sync client is stopped")]
    Stopped,
    /// The device's storage failed (disk full, I/O error). Nothing saved before is lost; saving again
    /// after freeing space saves the pending edits.
    #[error("storage: {reason}")]
    Storage {
        /// What failed.
        reason: String,
    },
    /// A case's stored data is damaged; other cases are unaffected.
    #[error("corrupt: {reason}")]
    Corrupt {
        /// Which case and what failed (no content).
        reason: String,
    },
    /// The case was written by a newer Casebook: update the app.
    #[error("newer version: {reason}")]
    NewerVersion {
        /// The versions found and supported.
        reason: String,
    },
    /// A bug: a document operation failed unexpectedly, or an earlier call panicked while holding this
    /// case (reopen it).
    #[error("internal error: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
}

impl From<&casebook_core::Error> for CasebookError {
    fn from(e: &casebook_core::Error) -> Self {
        use casebook_core::Error as E;
        let reason = e.to_string();
        match e {
            E::CaseNotFound(_) | E::UnknownId { .. } | E::Retracted { .. } => CasebookError::NotFound { reason },
            E::InvalidInput { .. } | E::ImpossibleDate { .. } | E::TextIndex { .. } | E::BadExchange(_) => {
                CasebookError::InvalidInput { reason }
            }
            E::NewerSchema { .. } => CasebookError::NewerVersion { reason },
            E::Corrupt { .. } => CasebookError::Corrupt { reason },
            E::Storage(StorageError::InvalidKey) => CasebookError::InvalidInput { reason },
            E::Storage(StorageError::Io(_) | StorageError::Corrupt(_) | StorageError::Locked(_)) => {
                CasebookError::Storage { reason }
            }
            E::Automerge(_) => CasebookError::Internal { reason },
        }
    }
}

impl From<casebook_core::Error> for CasebookError {
    fn from(e: casebook_core::Error) -> Self {
        CasebookError::from(&e)
    }
}

#[cfg(feature = "sync")]
impl From<casebook_core::sync::SyncError> for CasebookError {
    fn from(e: casebook_core::sync::SyncError) -> Self {
        use casebook_core::sync::SyncError as S;
        let reason = e.to_string();
        match e {
            S::Unauthorized => CasebookError::Unauthorized,
            S::Forbidden { reason } => CasebookError::Forbidden { reason },
            S::NotFound => CasebookError::NotFound { reason },
            S::InvalidInput { reason } => CasebookError::InvalidInput { reason },
            S::Conflict { reason } => CasebookError::Conflict { reason },
            S::RateLimited { retry_after_secs } => CasebookError::RateLimited { retry_after_secs },
            S::LimitExceeded { reason } => CasebookError::LimitExceeded { reason },
            S::Network(_) | S::Server(_) => CasebookError::Network { reason },
            S::Timeout { state } => CasebookError::Timeout { reason: state.to_string() },
            S::Stopped => CasebookError::Stopped,
            S::Local(e) => CasebookError::from(&*e),
        }
    }
}

/// Result alias of the bindings.
pub type Result<T, E = CasebookError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_what_an_app_acts_on() {
        let e: CasebookError =
            casebook_core::Error::InvalidInput { field: "age", reason: "must be between 0 and 130".into() }.into();
        assert!(matches!(e, CasebookError::InvalidInput { ref reason } if reason.contains("age")));
        let e: CasebookError = casebook_core::Error::UnknownId { kind: "specialist", id: "x".into() }.into();
        assert!(matches!(e, CasebookError::NotFound { .. }));
        let e: CasebookError = casebook_core::Error::Storage(StorageError::Io("disk full".into())).into();
        assert!(matches!(e, CasebookError::Storage { .. }));
    }
}
