//! [`CaseObserver`]: the foreign trait an app implements to hear that a case changed, and the registry
//! that calls them (shared by a [`crate::Store`], the cases it opens and the sync client started on it).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use casebook_core::changes::CaseSection;

/// Where a change came from: what the app does to show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChangeOrigin {
    /// A write through a `Case` of this store (this device). Already visible through that `Case`: a
    /// screen that made it need not re-read anything.
    Local,
    /// Changes from other devices arrived through the relay and were merged into the open case (or, if
    /// no case is open, into the store): re-read the sections named.
    Remote,
    /// An exchange file was imported into the store: open the case again to see the changes.
    Import,
}

/// A part of a case, as a screen shows it.
#[uniffi::remote(Enum)]
pub enum CaseSection {
    /// Patient and diagnosis.
    Patient,
    /// The decision date.
    Decision,
    /// The critical situations.
    Critical,
    /// Specialists.
    Specialists,
    /// Record requests and their events.
    RecordRequests,
    /// The records chronology.
    Documents,
    /// Medications.
    Medications,
    /// Family cancer history.
    FamilyHistory,
    /// Questions, their order and answers.
    Questions,
    /// Appointments (time, place, kind).
    Appointments,
    /// Notes and summaries of appointments.
    Notes,
    /// Opinions.
    Opinions,
    /// The care team.
    CareTeam,
    /// Tasks.
    Tasks,
    /// Costs.
    Costs,
    /// Symptoms and concerns.
    Symptoms,
    /// Preferences.
    Preferences,
}

/// What changed in a case, and where the change came from.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseChange {
    /// Where it came from.
    pub origin: ChangeOrigin,
    /// The parts of the case that changed (empty for `Local` and `Import`, and for a remote change merged
    /// into a case that is not open: then re-read what the screen shows).
    pub sections: Vec<CaseSection>,
    /// Appointments whose details or notes changed (ids).
    pub appointments: Vec<String>,
}

impl CaseChange {
    /// A change with no detail.
    pub(crate) fn of(origin: ChangeOrigin) -> Self {
        Self { origin, sections: Vec::new(), appointments: Vec::new() }
    }
}

impl From<casebook_core::changes::CaseChange> for CaseChange {
    fn from(c: casebook_core::changes::CaseChange) -> Self {
        Self {
            origin: ChangeOrigin::Remote,
            sections: c.sections.into_iter().collect(),
            appointments: c.appointments.into_iter().collect(),
        }
    }
}

/// Told when a case changed. Implemented in Kotlin, Swift or Python; called on the thread that made the
/// change (local writes) or on a background thread (relay, import): hand over to the UI thread and return
/// quickly. An exception thrown here is caught and logged; it never undoes the change. One call per write
/// and one per merge of remote changes.
#[uniffi::export(foreign)]
pub trait CaseObserver: Send + Sync {
    /// Case `case_id` changed.
    fn on_case_changed(&self, case_id: String, change: CaseChange);
}

/// Observers of one kind, each under an id (to remove it again). Called without the lock held, so an
/// observer may add or remove observers or call back into the API.
pub(crate) struct Observers<T: ?Sized> {
    next: AtomicU64,
    list: Mutex<Vec<(u64, Arc<T>)>>,
}

impl<T: ?Sized> Default for Observers<T> {
    fn default() -> Self {
        Self { next: AtomicU64::new(1), list: Mutex::new(Vec::new()) }
    }
}

impl<T: ?Sized> Observers<T> {
    /// Add an observer; returns its id.
    pub(crate) fn add(&self, observer: Arc<T>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.list.lock().unwrap_or_else(PoisonError::into_inner).push((id, observer));
        id
    }

    /// Remove the observer with this id; whether there was one.
    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        let before = list.len();
        list.retain(|(i, _)| *i != id);
        list.len() != before
    }

    /// Call `f` on every observer, catching a panic (a foreign exception surfaces as one).
    pub(crate) fn each(&self, f: impl Fn(&T)) {
        let list: Vec<Arc<T>> =
            self.list.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|(_, o)| o.clone()).collect();
        for o in list {
            if catch_unwind(AssertUnwindSafe(|| f(&o))).is_err() {
                tracing::error!("an observer threw; ignored");
            }
        }
    }
}

/// The case observers of a store.
pub(crate) type CaseObservers = Observers<dyn CaseObserver>;

impl CaseObservers {
    /// Tell every observer that `case_id` changed.
    pub(crate) fn changed(&self, case_id: &str, change: CaseChange) {
        self.each(|o| o.on_case_changed(case_id.to_string(), change.clone()));
    }
}
