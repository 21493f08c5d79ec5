//! Offline exchange: a case's state (what a peer has) and the report of an import.

use std::collections::HashMap;

use casebook_core::CaseState as CoreState;
use casebook_core::exchange::ImportReport as CoreReport;

use crate::convert::u64_of;

/// The state of a case: the heads of each of its documents. A peer sends it so that an export carries
/// only what it lacks.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct CaseState {
    /// Heads (hex change hashes) of each document of the case, by document id.
    pub docs: HashMap<String, Vec<String>>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ImportReport {
    /// The case.
    pub case_id: String,
    /// Whether the case was new to this store.
    pub new_case: bool,
    /// Changes that were new to this store.
    pub new_changes: u64,
}

impl From<CoreState> for CaseState {
    fn from(s: CoreState) -> Self {
        Self { docs: s.docs.into_iter().collect() }
    }
}

impl From<CaseState> for CoreState {
    fn from(s: CaseState) -> Self {
        CoreState { docs: s.docs.into_iter().collect() }
    }
}

impl From<CoreReport> for ImportReport {
    fn from(r: CoreReport) -> Self {
        Self { case_id: r.case.to_string(), new_case: r.new_case, new_changes: u64_of(r.new_changes) }
    }
}
