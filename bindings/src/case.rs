//! [`Case`]: an open case. The core's `Case` under a mutex (it is not `Sync`); every read and write of
//! the model is in `model/`, one file per part of the guide, as `#[uniffi::export] impl Case` blocks.

use std::sync::{Arc, Mutex, MutexGuard};

use casebook_core::autosave::Autosave;

use crate::convert::u64_of;
use crate::error::{CasebookError, Result};
use crate::model::exchange::CaseState;
use crate::observer::{CaseChange, CaseObservers, ChangeOrigin};

/// An open case. Thread-safe: calls are serialized on a lock and each is quick (sub-millisecond edits);
/// the sync client never holds that lock while it waits on the network, so a read or write from the UI
/// thread takes bounded time whatever the network does.
///
/// Writes are saved by the store's autosave about a second after the last one (and at once on
/// `SyncClient.pause` or [`Case::save`]); a saved edit goes to the relay by itself when a sync client
/// runs. Every successful write tells the store's observers (`ChangeOrigin.LOCAL`), after the lock is
/// released; changes from other devices are merged in live (`ChangeOrigin.REMOTE`).
#[derive(uniffi::Object)]
pub struct Case {
    /// The core case, shared with the sync client (which merges other devices' changes into it).
    pub(crate) inner: Arc<Mutex<casebook_core::Case>>,
    /// Its id, readable without the lock.
    id: String,
    /// The store's observers.
    observers: Arc<CaseObservers>,
    /// The store's autosave.
    autosave: Arc<Autosave>,
}

/// What a save wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SaveStats {
    /// Changes written.
    pub changes: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Whether a document was compacted into a snapshot.
    pub compacted: bool,
}

impl From<casebook_core::SaveStats> for SaveStats {
    fn from(s: casebook_core::SaveStats) -> Self {
        Self { changes: u64_of(s.changes), bytes: u64_of(s.bytes), compacted: s.compacted }
    }
}

impl Case {
    pub(crate) fn new(
        inner: Arc<Mutex<casebook_core::Case>>,
        id: String,
        observers: Arc<CaseObservers>,
        autosave: Arc<Autosave>,
    ) -> Self {
        Self { id, inner, observers, autosave }
    }

    /// The core case, locked. A lock poisoned by a panic in an earlier call is refused rather than
    /// trusted: that call may have left an edit half done.
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, casebook_core::Case>> {
        self.inner.lock().map_err(|_| CasebookError::Internal {
            reason: "an earlier call on this case failed unexpectedly: open the case again".into(),
        })
    }

    /// Run a read.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&mut casebook_core::Case) -> T) -> Result<T> {
        Ok(f(&mut *self.lock()?))
    }

    /// Run a read that may fail.
    pub(crate) fn try_read<T>(
        &self,
        f: impl FnOnce(&mut casebook_core::Case) -> casebook_core::Result<T>,
    ) -> Result<T> {
        Ok(f(&mut *self.lock()?)?)
    }

    /// Run a named write; on success tell the observers (after the lock is released).
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut casebook_core::Case) -> casebook_core::Result<T>) -> Result<T> {
        let out = f(&mut *self.lock()?)?;
        self.autosave.touch(&self.inner);
        self.observers.changed(&self.id, CaseChange::of(ChangeOrigin::Local));
        Ok(out)
    }
}

#[uniffi::export]
impl Case {
    /// The case id (share it with the invite code; it names the case in exchange files and on the relay).
    pub fn id(&self) -> String {
        self.id.clone()
    }

    /// Whether there are edits not yet saved.
    pub fn has_unsaved_changes(&self) -> Result<bool> {
        self.read(|c| c.has_unsaved_changes())
    }

    /// Write and flush every pending edit: when this returns, the edits survive a crash. On error nothing
    /// saved before is lost and the edits stay pending for the next save.
    pub fn save(&self) -> Result<SaveStats> {
        // The disk flush runs without the case's lock: other threads' reads and writes do not wait for it.
        if self.inner.is_poisoned() {
            drop(self.lock()?);
        }
        Ok(casebook_core::save_shared(&self.inner)?.into())
    }

    /// The current state (heads of every document): give it to a peer so that it exports only what you
    /// lack (see [`Case::export_changes`]).
    pub fn state(&self) -> Result<CaseState> {
        Ok(self.try_read(|c| c.state())?.into())
    }

    /// An exchange file with this case's saved changes that a peer at `since` lacks (all with `None`).
    /// Save first: unsaved edits are not exported.
    #[uniffi::method(default(since = None))]
    pub fn export_changes(&self, since: Option<CaseState>) -> Result<Vec<u8>> {
        let since: Option<casebook_core::CaseState> = since.map(Into::into);
        self.try_read(|c| c.export_changes(since.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use super::*;
    use casebook_core::model::appointment::AppointmentKind;

    use crate::model::appointment::NewAppointment;
    use crate::model::text::SharedText;
    use crate::observer::CaseObserver;
    use crate::store::Store;

    #[derive(Default)]
    struct Seen(StdMutex<Vec<(String, ChangeOrigin)>>);

    impl CaseObserver for Seen {
        fn on_case_changed(&self, case_id: String, change: CaseChange) {
            self.0.lock().unwrap().push((case_id, change.origin));
        }
    }

    struct Throws;

    impl CaseObserver for Throws {
        fn on_case_changed(&self, _: String, _: CaseChange) {
            panic!("a foreign exception surfaces as a panic");
        }
    }

    #[test]
    fn writes_notify_reads_and_refused_writes_do_not() {
        let store = Store::in_memory();
        let seen = Arc::new(Seen::default());
        store.add_observer(seen.clone());
        let throws = store.add_observer(Arc::new(Throws));
        let created = store.create_case("Mum".into(), "Ana".into(), None).unwrap();
        let case = created.case;
        let appt = case
            .add_appointment(NewAppointment {
                kind: AppointmentKind::SecondOpinion,
                specialist: None,
                start: None,
                place: None,
                tz: None,
            })
            .unwrap();
        let field = SharedText::AppointmentNotes { appointment: appt.clone(), author: created.me.clone() };
        case.append_text(field.clone(), "é😀".into()).unwrap();
        assert_eq!(case.text_len(field.clone()).unwrap(), 3, "UTF-16 units");
        let _ = case.notes(appt).unwrap();
        let _ = case.progress(Some("2026-01-01".into())).unwrap();
        assert!(matches!(case.splice_text(field, 2, 0, "x".into()), Err(CasebookError::InvalidInput { .. })));
        assert!(matches!(case.retract_task("nope".into(), None, None, None), Err(CasebookError::NotFound { .. })));
        let events = seen.0.lock().unwrap().clone();
        assert_eq!(events.len(), 2, "one per successful write: {events:?}");
        assert!(events.iter().all(|(id, o)| *id == case.id() && *o == ChangeOrigin::Local));
        assert!(store.remove_observer(throws));
        assert!(!store.remove_observer(throws));
    }

    #[test]
    fn a_poisoned_case_is_refused_not_trusted() {
        let store = Store::in_memory();
        let case = store.create_case("Mum".into(), "Ana".into(), None).unwrap().case;
        let c = case.clone();
        let _ = std::thread::spawn(move || {
            let _guard = c.inner.lock().unwrap();
            panic!("a bug while holding the case");
        })
        .join();
        assert!(matches!(case.patient(), Err(CasebookError::Internal { .. })));
    }

    #[test]
    fn plausibility_warnings_come_through_with_their_code() {
        let store = Store::in_memory();
        let case = store.create_case("Mum".into(), "Ana".into(), None).unwrap().case;
        assert!(case.plausibility(Some("2026-01-01".into())).unwrap().is_empty());
        case.set_patient(casebook_core::model::patient::PatientField::DiagnosisDate, Some("2026-03-01".into()))
            .unwrap();
        let w = case.plausibility(Some("2026-01-01".into())).unwrap();
        assert_eq!(w.iter().map(|w| w.kind.as_str()).collect::<Vec<_>>(), ["diagnosis_in_future"], "{w:?}");
        assert!(case.plausibility(Some("2026-04-01".into())).unwrap().is_empty(), "no longer in the future");
        assert!(matches!(case.plausibility(Some("soon".into())), Err(CasebookError::InvalidInput { .. })));
    }

    #[test]
    fn bad_dates_and_ids_are_invalid_input() {
        let store = Store::in_memory();
        let case = store.create_case("Mum".into(), "Ana".into(), None).unwrap().case;
        assert!(matches!(case.progress(Some("tomorrow".into())), Err(CasebookError::InvalidInput { .. })));
        assert!(matches!(store.open_case("not-an-id".into()), Err(CasebookError::InvalidInput { .. })));
        assert!(!crate::store::is_valid_case_id("x".into()));
        assert!(crate::store::is_valid_case_id(case.id()));
    }
}
