//! [`Store`]: the entry point. One per app (one directory per device); many cases in it.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use casebook_core::autosave::Autosave;
use casebook_core::store::CaseListing as CoreListing;

use crate::case::Case;
use crate::convert::parse_case_id;
use crate::error::Result;
use crate::model::exchange::{CaseState, ImportReport};
use crate::observer::{CaseChange, CaseObserver, CaseObservers, ChangeOrigin};

/// A local store of cases (sled, on disk). Open one per directory and keep it for the app's lifetime:
/// a directory can be open only once at a time.
#[derive(uniffi::Object)]
pub struct Store {
    /// The core store.
    pub(crate) inner: casebook_core::Store,
    /// Observers of every case of this store.
    pub(crate) observers: Arc<CaseObservers>,
    /// Saves edited cases about a second after the last edit (and hands them to the sync client).
    pub(crate) autosave: Arc<Autosave>,
    /// The sync client running on this store, if any: open cases are attached to it.
    #[cfg(feature = "sync")]
    pub(crate) sync: Arc<Mutex<std::sync::Weak<crate::sync::SyncClient>>>,
    /// The cases opened from this store (weak: a case the app dropped is gone), to attach to a sync client
    /// started later.
    open: Mutex<Vec<std::sync::Weak<Mutex<casebook_core::Case>>>>,
}

/// How long after the last edit the autosave saves.
const AUTOSAVE_IDLE: Duration = Duration::from_secs(1);

/// A case as listed: its id and patient's display name, or why it cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseListing {
    /// Case id.
    pub id: String,
    /// Patient display name, if the case opens.
    pub display_name: Option<String>,
    /// Why the case cannot be opened (corrupt, newer version), if it cannot.
    pub error: Option<String>,
}

impl From<CoreListing> for CaseListing {
    fn from(l: CoreListing) -> Self {
        Self { id: l.id.to_string(), display_name: l.display_name, error: l.error }
    }
}

/// A case just created, with the id of its first caregiver (this device's user).
#[derive(uniffi::Record)]
pub struct NewCase {
    /// The open case.
    pub case: Arc<Case>,
    /// The caregiver id of this device's user in the case (author id of their notes and answers).
    pub me: String,
}

impl Store {
    /// Wrap an open core case of this store.
    pub(crate) fn wrap(&self, case: casebook_core::Case) -> Arc<Case> {
        let id = case.id().to_string();
        let shared = Arc::new(Mutex::new(case));
        {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            open.retain(|w| w.strong_count() > 0);
            open.push(Arc::downgrade(&shared));
        }
        #[cfg(feature = "sync")]
        if let Some(client) = self.sync.lock().unwrap_or_else(|e| e.into_inner()).upgrade() {
            client.attach(&shared);
        }
        Arc::new(Case::new(shared, id, self.observers.clone(), self.autosave.clone()))
    }

    /// Wrap a case the sync client opened (and attached) already.
    #[cfg(feature = "sync")]
    pub(crate) fn wrap_shared(&self, shared: Arc<Mutex<casebook_core::Case>>, id: String) -> Arc<Case> {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::downgrade(&shared));
        Arc::new(Case::new(shared, id, self.observers.clone(), self.autosave.clone()))
    }

    /// The cases opened from this store that are still open.
    #[cfg(feature = "sync")]
    pub(crate) fn open_cases(&self) -> Vec<Arc<Mutex<casebook_core::Case>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).iter().filter_map(std::sync::Weak::upgrade).collect()
    }
}

#[uniffi::export]
impl Store {
    /// Open (or create) the store in directory `path` (the app's files directory, for example).
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self::from_core(casebook_core::Store::open(Path::new(&path))?)))
    }

    /// Open an existing store; `InvalidInput` if `path` holds none (a mistyped path creates nothing).
    #[uniffi::constructor]
    pub fn open_existing(path: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self::from_core(casebook_core::Store::open_existing(Path::new(&path))?)))
    }

    /// A store in memory, lost when dropped (previews, tests).
    #[uniffi::constructor]
    pub fn in_memory() -> Arc<Self> {
        Arc::new(Self::from_core(casebook_core::Store::in_memory()))
    }

    /// Create and save a case for a patient, with its first caregiver — this device's user, who becomes
    /// "me" for the case.
    #[uniffi::method(default(relationship = None))]
    pub fn create_case(
        &self,
        patient_display_name: String,
        caregiver_name: String,
        relationship: Option<String>,
    ) -> Result<NewCase> {
        let (case, me) = self.inner.create_case(&patient_display_name, &caregiver_name, relationship.as_deref())?;
        Ok(NewCase { case: self.wrap(case), me })
    }

    /// Every case of the store; one that cannot be opened is listed with its error.
    pub fn list_cases(&self) -> Result<Vec<CaseListing>> {
        Ok(self.inner.list_cases()?.into_iter().map(Into::into).collect())
    }

    /// Open a case. Each call returns a new `Case` with its own view: keep one per case and screen stack.
    pub fn open_case(&self, case_id: String) -> Result<Arc<Case>> {
        Ok(self.wrap(self.inner.open_case(&parse_case_id(&case_id)?)?))
    }

    /// Delete a case and every document of it from this device (not from the relay or other devices).
    pub fn delete_case(&self, case_id: String) -> Result<()> {
        Ok(self.inner.delete_case(&parse_case_id(&case_id)?)?)
    }

    /// The caregiver id of this device's user in a case, if set.
    pub fn me(&self, case_id: String) -> Result<Option<String>> {
        Ok(self.inner.me(&parse_case_id(&case_id)?)?)
    }

    /// Set which caregiver uses this device for a case (after joining: pick or add yourself in the care
    /// team). Local only, never synced.
    pub fn set_me(&self, case_id: String, caregiver_id: String) -> Result<()> {
        Ok(self.inner.set_me(&parse_case_id(&case_id)?, &caregiver_id)?)
    }

    /// An exchange file with the saved changes of a case that a peer at state `since` lacks (all of them
    /// with `None`), to hand over without a network (share sheet, USB, …).
    #[uniffi::method(default(since = None))]
    pub fn export_changes(&self, case_id: String, since: Option<CaseState>) -> Result<Vec<u8>> {
        let since = since.map(Into::into);
        Ok(self.inner.export_changes(&parse_case_id(&case_id)?, since.as_ref())?)
    }

    /// Import an exchange file: checked whole, then merged and saved at once; importing it twice changes
    /// nothing. Observers hear `Import` for the case: open it again to see the changes.
    pub fn import_changes(&self, file: Vec<u8>) -> Result<ImportReport> {
        let report = self.inner.import_changes(&file)?;
        let id = report.case.to_string();
        self.observers.changed(&id, CaseChange::of(ChangeOrigin::Import));
        Ok(report.into())
    }

    /// Add an observer of every case of this store (local writes, relay changes, imports). Returns an id
    /// for [`Store::remove_observer`].
    pub fn add_observer(&self, observer: Arc<dyn CaseObserver>) -> u64 {
        self.observers.add(observer)
    }

    /// Remove an observer; whether it was registered.
    pub fn remove_observer(&self, id: u64) -> bool {
        self.observers.remove(id)
    }

    /// Save at once every case edited since its last save (the autosave otherwise saves about a second
    /// after the last edit). `SyncClient.pause` calls it; call it when the app goes to the background
    /// without a sync client.
    pub fn flush_pending_saves(&self) {
        self.autosave.flush();
    }
}

impl Store {
    fn from_core(inner: casebook_core::Store) -> Self {
        #[cfg(feature = "sync")]
        let sync: Arc<Mutex<std::sync::Weak<crate::sync::SyncClient>>> = Arc::new(Mutex::new(std::sync::Weak::new()));
        #[cfg(feature = "sync")]
        let saver: casebook_core::autosave::Saver = {
            let sync = sync.clone();
            let save = casebook_core::autosave::save_only();
            Arc::new(move |case| match sync.lock().unwrap_or_else(|e| e.into_inner()).upgrade() {
                Some(client) => client.push(case),
                None => save(case),
            })
        };
        #[cfg(not(feature = "sync"))]
        let saver = casebook_core::autosave::save_only();
        Self {
            inner,
            observers: Arc::new(CaseObservers::default()),
            autosave: Arc::new(Autosave::start(AUTOSAVE_IDLE, saver)),
            #[cfg(feature = "sync")]
            sync,
            open: Mutex::new(Vec::new()),
        }
    }
}

/// Check that `id` is a well-formed case id (as typed or scanned), without opening anything.
#[uniffi::export]
pub fn is_valid_case_id(id: String) -> bool {
    parse_case_id(&id).is_ok()
}
