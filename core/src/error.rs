//! The core's typed errors.

use crate::ids::CaseId;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core. Each variant names what a caller can act on; none of them
/// carries note text or other health data, so errors are safe to log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No case with this id in the store.
    #[error("case {0} not found")]
    CaseNotFound(CaseId),
    /// An item id (specialist, request, question, appointment, …) that the case does not hold.
    #[error("no {kind} with id {id} in this case")]
    UnknownId {
        /// What kind of item was looked up.
        kind: &'static str,
        /// The id that was not found.
        id: String,
    },
    /// A value that does not parse or is out of range.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field or argument at fault.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A date that cannot be right for what it dates: an event after today, or an answer before the written
    /// request it answers. The reason names event kinds and dates only.
    #[error("impossible date: {reason}")]
    ImpossibleDate {
        /// What is wrong, and how to correct it.
        reason: String,
    },
    /// An item or entry that was retracted: it stays in the history but can no longer be changed.
    #[error("{kind} {id} was retracted")]
    Retracted {
        /// What kind of item or entry.
        kind: &'static str,
        /// Its id.
        id: String,
    },
    /// A text position outside the text or in the middle of a character.
    #[error("text index {index} (delete {delete}) is invalid for a text of {len} UTF-16 units: {reason}")]
    TextIndex {
        /// Requested position in UTF-16 code units.
        index: usize,
        /// Requested number of units to delete.
        delete: usize,
        /// Current length in UTF-16 code units.
        len: usize,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The stored case was written by a newer, incompatible version of Casebook.
    #[error(
        "case {case} uses schema version {found_major}.{found_minor}; this Casebook reads major version {supported_major} only — update the app"
    )]
    NewerSchema {
        /// The case concerned.
        case: CaseId,
        /// Major schema version found in the document.
        found_major: u64,
        /// Minor schema version found in the document.
        found_minor: u64,
        /// Major version this build understands.
        supported_major: u64,
    },
    /// Stored data of a case could not be decoded.
    #[error("case {case} is corrupt or truncated ({detail}); other cases are unaffected")]
    Corrupt {
        /// The case whose data is damaged.
        case: CaseId,
        /// What failed (no document content).
        detail: String,
    },
    /// An exchange file that is not a Casebook exchange file, is too large or is damaged.
    #[error("invalid exchange file: {0}")]
    BadExchange(String),
    /// The storage backend failed (disk full, I/O error, …). Nothing previously saved is lost.
    #[error("storage error: {0}")]
    Storage(#[from] crate::storage::StorageError),
    /// Automerge rejected an operation (a bug or a damaged document).
    #[error("document error: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}
