//! [`Store`]: the entry point. Many cases in one [`Storage`]; create, list, open, delete, exchange.

use std::path::Path;
use std::sync::Arc;

use crate::case::Case;
use crate::error::{Error, Result};
use crate::ids::CaseId;
use crate::model::patient::PatientField;
use crate::storage::{MemoryStorage, SledStorage, Storage, key};
use crate::tracked_doc::TrackedDoc;

/// A case as listed: its id and display name, or why it cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CaseListing {
    /// Case id.
    pub id: CaseId,
    /// Patient display name, if the case opens.
    pub display_name: Option<String>,
    /// Why the case cannot be opened (corrupt, newer schema), if it cannot.
    pub error: Option<String>,
}

/// This device's account on a relay.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelayAccount {
    /// The relay's base URL (`http(s)://…` or `ws(s)://…`).
    pub server: String,
    /// The account's display name.
    pub display_name: String,
    /// Account, device and token.
    pub credentials: crate::relay_api::DeviceCredentials,
}

/// A local store of cases.
#[derive(Clone)]
pub struct Store {
    storage: Arc<dyn Storage>,
}

const INDEX: &str = "casebook";

impl Store {
    /// Open (or create) an on-disk store in directory `dir` (sled; attachment files in `dir/attachments/`).
    /// Attachment blobs of the earlier layout (chunks inside sled) are moved into files the first time; a
    /// failure to move them (a full disk) is logged and retried at the next open, never fatal.
    pub fn open(dir: &Path) -> Result<Self> {
        let store = Self::with_storage(Arc::new(SledStorage::open(dir)?));
        match crate::model::attachment::migrate_chunked_blobs(&*store.storage) {
            Ok(0) => {}
            Ok(moved) => tracing::info!(moved, "attachment blobs moved from the database into files"),
            Err(e) => tracing::warn!(error = %e, "cannot move attachment blobs into files yet"),
        }
        Ok(store)
    }

    /// Open an existing on-disk store; an error if `dir` holds none (so a mistyped path creates nothing).
    pub fn open_existing(dir: &Path) -> Result<Self> {
        if !SledStorage::exists(dir) {
            return Err(Error::InvalidInput {
                field: "store",
                reason: format!("no Casebook store at {}", dir.display()),
            });
        }
        Self::open(dir)
    }

    /// A store in memory (tests).
    pub fn in_memory() -> Self {
        Self::with_storage(Arc::new(MemoryStorage::new()))
    }

    /// A store over any storage.
    pub fn with_storage(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }

    /// The underlying storage (to back a samod repository with [`crate::storage::SamodStorage`]).
    pub fn storage(&self) -> Arc<dyn Storage> {
        self.storage.clone()
    }

    /// Create and save a case for a patient, with its first caregiver (who becomes this device's "me" for
    /// the case). Returns the case and the caregiver id.
    pub fn create_case(
        &self,
        patient_display_name: &str,
        caregiver_name: &str,
        relationship: Option<&str>,
    ) -> Result<(Case, String)> {
        // Both names are checked before anything is written: a refused name leaves no half-made case.
        crate::model::required("patient", patient_display_name)?;
        crate::model::required("name", caregiver_name)?;
        let created = crate::dates::format_date(crate::dates::today());
        let mut case = Case::create(self.storage.clone(), &created)?;
        case.set_patient(PatientField::DisplayName, Some(patient_display_name))?;
        let me = case.add_caregiver(caregiver_name, relationship)?;
        // The creation's edits (seeds, the patient, the caregiver) are attributed to the creator from this
        // save on (the binding of this session's actor, see `model::history`).
        case.set_local_caregiver(&me);
        case.save()?;
        self.register(case.id())?;
        self.set_me(case.id(), &me)?;
        Ok((case, me))
    }

    /// Add a case id to the list of cases (idempotent, durable).
    pub fn register(&self, id: &CaseId) -> Result<()> {
        self.storage.put(&key([INDEX, "cases", id.as_str()])?, b"")?;
        self.storage.flush()?;
        Ok(())
    }

    /// Every case in the store. A case that cannot be opened is listed with its error; it never hides
    /// the others.
    pub fn list_cases(&self) -> Result<Vec<CaseListing>> {
        let mut out = Vec::new();
        for k in self.storage.keys(&key([INDEX, "cases"])?)? {
            let Some(id) = k.to_string().rsplit('/').next().and_then(|s| s.parse::<CaseId>().ok()) else {
                continue;
            };
            out.push(match self.open_case(&id) {
                Ok(c) => CaseListing { id, display_name: c.patient().display_name, error: None },
                Err(e) => CaseListing { id, display_name: None, error: Some(e.to_string()) },
            });
        }
        Ok(out)
    }

    /// Open a case.
    pub fn open_case(&self, id: &CaseId) -> Result<Case> {
        Case::open(self.storage.clone(), id)
    }

    /// Delete a case and every document of it from this store.
    pub fn delete_case(&self, id: &CaseId) -> Result<()> {
        let case = self.open_case(id);
        if let Ok(case) = &case {
            for (_, notes) in case.notes_doc_ids() {
                TrackedDoc::delete_all(&*self.storage, &notes)?;
            }
        } else if !self.is_registered(id)? {
            return Err(Error::CaseNotFound(id.clone()));
        }
        TrackedDoc::delete_all(&*self.storage, id)?;
        self.storage.delete(&key([INDEX, "cases", id.as_str()])?)?;
        self.storage.delete(&key([INDEX, "me", id.as_str()])?)?;
        self.storage.delete(&key([INDEX, "synced", id.as_str()])?)?;
        for k in self.storage.keys(&key([INDEX, "relay-docs", id.as_str()])?)? {
            self.storage.delete(&k)?;
        }
        self.storage.flush()?;
        Ok(())
    }

    fn is_registered(&self, id: &CaseId) -> Result<bool> {
        Ok(self.storage.load(&key([INDEX, "cases", id.as_str()])?)?.is_some())
    }

    /// Remember which caregiver uses this device for a case (local only, never synced).
    pub fn set_me(&self, case: &CaseId, caregiver: &str) -> Result<()> {
        self.storage.put(&key([INDEX, "me", case.as_str()])?, caregiver.as_bytes())?;
        self.storage.flush()?;
        Ok(())
    }

    /// Record when a case was last up to date with the relay (unix seconds; local only, not flushed: a
    /// crash may lose it, never a case).
    #[cfg_attr(not(feature = "sync"), allow(dead_code))]
    pub(crate) fn set_last_synced(&self, case: &CaseId, unix_secs: u64) -> Result<()> {
        self.storage.put(&key([INDEX, "synced", case.as_str()])?, unix_secs.to_string().as_bytes())?;
        Ok(())
    }

    /// When a case was last up to date with the relay (unix seconds), if ever.
    #[cfg_attr(not(feature = "sync"), allow(dead_code))]
    pub(crate) fn last_synced(&self, case: &CaseId) -> Result<Option<u64>> {
        Ok(self
            .storage
            .load(&key([INDEX, "synced", case.as_str()])?)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse().ok()))
    }

    /// Whether this device registered (or received) document `doc` of a case on the relay already.
    #[cfg_attr(not(feature = "sync"), allow(dead_code))]
    pub(crate) fn relay_knows(&self, case: &CaseId, doc: &crate::DocId) -> Result<bool> {
        Ok(self.storage.load(&key([INDEX, "relay-docs", case.as_str(), doc.as_str()])?)?.is_some())
    }

    /// Remember that the relay knows document `doc` of a case (so it is registered once).
    #[cfg_attr(not(feature = "sync"), allow(dead_code))]
    pub(crate) fn set_relay_knows(&self, case: &CaseId, doc: &crate::DocId) -> Result<()> {
        self.storage.put(&key([INDEX, "relay-docs", case.as_str(), doc.as_str()])?, b"")?;
        Ok(())
    }

    /// Remember this device's relay account (local only, never synced; the token is a secret of this
    /// device and is stored like the case data, in the local store). The account's recovery code, if the
    /// credentials carry one, is not stored: it is for the user to write down, never at rest on the device.
    pub fn set_relay_account(&self, account: &RelayAccount) -> Result<()> {
        let mut account = account.clone();
        account.credentials.recovery_code = None;
        let bytes = serde_json::to_vec(&account)
            .map_err(|e| Error::InvalidInput { field: "relay account", reason: e.to_string() })?;
        self.storage.put(&key([INDEX, "relay-account"])?, &bytes)?;
        self.storage.flush()?;
        Ok(())
    }

    /// This device's relay account, if one was created or linked.
    pub fn relay_account(&self) -> Result<Option<RelayAccount>> {
        match self.storage.load(&key([INDEX, "relay-account"])?)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(|_| Error::InvalidInput {
                field: "relay account",
                reason: "the stored relay account is unreadable; create or link the account again".into(),
            }),
        }
    }

    /// The caregiver using this device for a case, if set.
    pub fn me(&self, case: &CaseId) -> Result<Option<String>> {
        stored_me(&*self.storage, case)
    }

    /// Delete every attachment blob on this device that no case of the store references (retracted
    /// attachments and attachments of retracted items do not count), except blobs written in the last hour
    /// (an attach whose case is not saved yet). A case that cannot be opened keeps every blob.
    pub fn collect_blobs(&self) -> Result<crate::model::attachment::BlobCollection> {
        self.collect_blobs_older_than(crate::model::attachment::GC_GRACE_SECS)
    }

    /// [`Store::collect_blobs`] with another grace period in seconds (0: every unreferenced blob; only when
    /// no attach is in progress).
    pub fn collect_blobs_older_than(&self, grace_secs: u64) -> Result<crate::model::attachment::BlobCollection> {
        let mut referenced = std::collections::BTreeSet::new();
        let mut all_open = true;
        for listing in self.list_cases()? {
            match self.open_case(&listing.id) {
                Ok(c) => referenced.extend(c.referenced_blobs()),
                Err(_) => all_open = false,
            }
        }
        crate::model::attachment::collect_blobs(&*self.storage, all_open.then_some(&referenced), grace_secs)
    }
}

/// The caregiver using this device for a case, as [`Store::me`] reads it (an open [`Case`] reads it too,
/// to attribute its edits).
pub(crate) fn stored_me(storage: &dyn Storage, case: &CaseId) -> Result<Option<String>> {
    Ok(storage.load(&key([INDEX, "me", case.as_str()])?)?.and_then(|v| String::from_utf8(v).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay_api::DeviceCredentials;

    #[test]
    fn the_recovery_code_is_never_stored() {
        let storage = Arc::new(MemoryStorage::new());
        let store = Store::with_storage(storage.clone());
        let code = "7QK2-M9XD-AB12-CD34-EF56-GH78-JK90";
        let account = RelayAccount {
            server: "https://relay.example.org".into(),
            display_name: "Ana".into(),
            credentials: DeviceCredentials {
                account_id: "acc".into(),
                device_id: "dev".into(),
                token: "f".repeat(64),
                recovery_code: Some(code.into()),
            },
        };
        store.set_relay_account(&account).unwrap();
        let stored = store.relay_account().unwrap().unwrap();
        assert_eq!(stored.credentials.recovery_code, None);
        assert_eq!(stored.credentials.token, account.credentials.token);
        let raw = storage.load(&key([INDEX, "relay-account"]).unwrap()).unwrap().unwrap();
        assert!(!String::from_utf8(raw).unwrap().contains(code));
    }
}
