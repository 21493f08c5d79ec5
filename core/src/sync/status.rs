//! What a UI shows about sync: [`CaseSyncStatus`] per case, and the [`SyncEvent`]s a [`SyncObserver`]
//! receives.

use crate::changes::CaseChange;
use crate::ids::{CaseId, DocId};

use super::error::SyncError;
pub use crate::engine::{CaseSyncStatus, SyncState};

/// A notification from the sync client. Delivered on a background thread: hand it over to the UI thread
/// and return quickly.
#[derive(Debug, Clone)]
pub enum SyncEvent {
    /// Changes from other devices arrived for this case and were merged: into the open case if the app
    /// has it attached (`change` names what changed: refresh those parts), else into the store (`change`
    /// is empty: a case opened afresh has them). One event per merge.
    CaseChanged {
        /// The case.
        case_id: CaseId,
        /// What changed.
        change: CaseChange,
    },
    /// The relay says this account is not a member of the case (removed, or never shared): it is not
    /// synced.
    NotMember {
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
    /// Who is present in a document changed (a peer appeared, changed its presence state, left or
    /// expired): read [`SyncClient::presence`](super::SyncClient::presence) again. Only for documents
    /// with presence set ([`SyncClient::set_presence`](super::SyncClient::set_presence)).
    PresenceChanged {
        /// The case the document belongs to.
        case_id: CaseId,
        /// The document (an appointment's notes).
        doc: DocId,
    },
    /// An attachment's bytes moving in the background (the client's own blob passes, see
    /// [`SyncClient::set_move_attachments`](super::SyncClient::set_move_attachments)): about every 100 ms per
    /// attachment, and always once complete (`done == total`: a download is then on this device).
    AttachmentProgress {
        /// The case.
        case_id: CaseId,
        /// The attachment.
        attachment_id: String,
        /// Up to the relay or down to this device.
        direction: TransferDirection,
        /// Bytes moved so far.
        done: u64,
        /// The attachment's size.
        total: u64,
    },
}

/// Which way an attachment's bytes move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferDirection {
    /// From this device to the relay.
    Upload,
    /// From the relay to this device.
    Download,
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
