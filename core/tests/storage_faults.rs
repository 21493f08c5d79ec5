//! Storage faults: a full disk or an I/O error during a save gives a clear error, loses nothing saved
//! before, keeps the edits pending, and the next save after space returns succeeds. Run against a
//! fault-injecting wrapper around both storages (memory and sled on disk); "restart" means reopening
//! the store from what the inner storage holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use casebook_core::model::appointment::{AppointmentKind, NewAppointment};
use casebook_core::model::text::TextField;
use casebook_core::storage::{MemoryStorage, SledStorage, Storage, StorageError, StorageKey};
use casebook_core::{Case, CaseId, Error, Store};

/// Fails writes on demand: `puts_left` successful puts/deletes remain before every further write fails
/// (negative: never fail); flushes fail whenever `flush_fails` is set.
struct Faulty<S> {
    inner: Arc<S>,
    puts_left: AtomicI64,
    flush_fails: std::sync::atomic::AtomicBool,
}

impl<S: Storage> Faulty<S> {
    fn new(inner: Arc<S>) -> Self {
        Faulty { inner, puts_left: AtomicI64::new(-1), flush_fails: false.into() }
    }
    fn disk_full_after(&self, puts: i64) {
        self.puts_left.store(puts, Ordering::SeqCst);
    }
    fn flush_fails(&self, on: bool) {
        self.flush_fails.store(on, Ordering::SeqCst);
    }
    fn space_returns(&self) {
        self.disk_full_after(-1);
        self.flush_fails(false);
    }
    fn write_allowed(&self) -> Result<(), StorageError> {
        let left = self.puts_left.load(Ordering::SeqCst);
        if left == 0 {
            return Err(StorageError::Io("No space left on device (os error 28)".into()));
        }
        if left > 0 {
            self.puts_left.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

impl<S: Storage> Storage for Faulty<S> {
    fn load(&self, k: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.load(k)
    }
    fn load_range(&self, p: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        self.inner.load_range(p)
    }
    fn put(&self, k: &StorageKey, data: &[u8]) -> Result<(), StorageError> {
        self.write_allowed()?;
        self.inner.put(k, data)
    }
    fn delete(&self, k: &StorageKey) -> Result<(), StorageError> {
        self.write_allowed()?;
        self.inner.delete(k)
    }
    fn flush(&self) -> Result<(), StorageError> {
        if self.flush_fails.load(Ordering::SeqCst) {
            return Err(StorageError::Io("Input/output error (os error 5)".into()));
        }
        self.inner.flush()
    }
}

/// A named way to make the next writes fail.
type Inject<S> = Box<dyn Fn(&Faulty<S>)>;

fn notes_field(case: &mut Case) -> TextField {
    let appt = case.appointments().into_iter().next().expect("an appointment").id;
    let author = case.care_team().into_iter().next().expect("a caregiver").id;
    TextField::AppointmentNotes { appointment: appt, author }
}

fn notes_text(case: &mut Case) -> String {
    let f = notes_field(case);
    case.text(&f).unwrap()
}

/// The scenario, on any inner storage; `reopen` gives a store over what the inner storage holds durably.
fn scenario<S: Storage>(inner: Arc<S>, reopen: impl Fn(Arc<S>) -> Store) {
    let faulty = Arc::new(Faulty::new(inner.clone()));
    let store = Store::with_storage(faulty.clone());
    let (mut case, _) = store.create_case("Pat", "Ana", None).unwrap();
    let id: CaseId = case.id().clone();
    case.add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() }).unwrap();
    let f = notes_field(&mut case);
    case.append_text(&f, "saved before the fault.").unwrap();
    case.save().unwrap();

    // Disk full at once, after one write (a save half written), and a failing flush; then during a
    // compaction (more than 256 chunks).
    let faults: [(&str, Inject<S>); 3] = [
        ("disk full", Box::new(|f| f.disk_full_after(0))),
        ("disk full after one write", Box::new(|f| f.disk_full_after(1))),
        ("flush I/O error", Box::new(|f| f.flush_fails(true))),
    ];
    let mut expected = notes_text(&mut case);
    for (round, (what, inject)) in faults.iter().enumerate() {
        let edit = format!(" edit {round}");
        case.append_text(&f, &edit).unwrap();
        case.set_patient(casebook_core::model::patient::PatientField::Stage, Some(&format!("{round}"))).unwrap();
        inject(&faulty);
        let err = case.save().expect_err(what);
        assert!(matches!(err, Error::Storage(_)), "{what}: {err}");
        let msg = err.to_string();
        assert!(msg.contains("No space left") || msg.contains("Input/output"), "{what}: a clear error: {msg}");
        assert!(case.has_unsaved_changes(), "{what}: the edits stay pending");
        // A second attempt while the disk is still full fails the same way, losing nothing.
        assert!(case.save().is_err(), "{what}: still failing");
        // Nothing saved before is lost: a fresh store over the durable data has everything up to the fault.
        let mut reopened = reopen(inner.clone()).open_case(&id).unwrap();
        assert!(notes_text(&mut reopened).starts_with(&expected), "{what}: saved text lost");
        drop(reopened);
        faulty.space_returns();
        case.save().unwrap_or_else(|e| panic!("{what}: save after space returns: {e}"));
        assert!(!case.has_unsaved_changes());
        expected.push_str(&edit);
        let mut reopened = reopen(inner.clone()).open_case(&id).unwrap();
        assert_eq!(notes_text(&mut reopened), expected, "{what}: the pending edit is saved after recovery");
    }

    // A fault during compaction: past 256 chunks a save writes a snapshot and deletes the chunks it
    // supersedes.
    for i in 0..300 {
        case.append_text(&f, ".").unwrap();
        if i == 280 {
            faulty.disk_full_after(0);
            assert!(case.save().is_err());
            faulty.space_returns();
        }
        case.save().unwrap();
        expected.push('.');
    }
    let mut reopened = reopen(inner.clone()).open_case(&id).unwrap();
    assert_eq!(notes_text(&mut reopened), expected);
    // Faults while the compaction deletes old chunks (after its snapshot is flushed).
    for left in 1..4 {
        case.append_text(&f, "!").unwrap();
        faulty.disk_full_after(left);
        let _ = case.save();
        faulty.space_returns();
        case.save().unwrap();
        expected.push('!');
        let mut reopened = reopen(inner.clone()).open_case(&id).unwrap();
        assert_eq!(notes_text(&mut reopened), expected, "fault after {left} writes");
    }
}

#[test]
fn memory_storage_faults_lose_nothing_and_recover() {
    scenario(Arc::new(MemoryStorage::new()), |inner| Store::with_storage(inner));
}

#[test]
fn sled_storage_faults_lose_nothing_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let sled = Arc::new(SledStorage::open(dir.path()).unwrap());
    scenario(sled, |inner| Store::with_storage(inner));
}
