//! Attachments: photos, scans, PDFs and recordings on a document of the chronology, a record request, an
//! appointment or an opinion. The bytes are a blob on this device's storage (content-addressed, chunked);
//! the case holds the reference ([`Attachment`]).
//!
//! A large file goes in two steps so that the case is never locked while it is written: `Store.storeBlob`
//! (the file's bytes, off every case's lock, `async`) then `Case.attachStored` (the quick reference).
//! Reading: `Case.readAttachment` (small files, in memory) or `Store.exportAttachment` (to a file,
//! verified against its SHA-256). Pinning "keep offline" is per device (`Store.keepOffline`); the transfers
//! with the relay are on `SyncClient` (`uploadAttachments`, `downloadAttachment`, `downloadPinned`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use casebook_core::CaseId;
use casebook_core::model::attachment::{
    AttachTarget as CoreTarget, AttachmentRef, BlobReader, NewAttachment, StoredBlob as CoreStoredBlob, TargetKind,
};
use casebook_core::model::retraction::Retract;

use crate::case::Case;
use crate::convert::{parse_case_id, today_or, u64_of};
use crate::error::{CasebookError, Result};
use crate::model::record_request::Retraction;
use crate::store::Store;

/// What kind of item an attachment hangs on.
#[uniffi::remote(Enum)]
pub enum TargetKind {
    /// A document of the chronology.
    Document,
    /// A record request.
    RecordRequest,
    /// An appointment (a recording made with consent, a letter handed over).
    Appointment,
    /// An opinion.
    Opinion,
}

/// An item attachments hang on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct AttachTarget {
    /// What kind of item.
    pub kind: TargetKind,
    /// Its id.
    pub id: String,
}

impl From<CoreTarget> for AttachTarget {
    fn from(t: CoreTarget) -> Self {
        Self { kind: t.kind, id: t.id }
    }
}

impl From<AttachTarget> for CoreTarget {
    fn from(t: AttachTarget) -> Self {
        Self { kind: t.kind, id: t.id }
    }
}

/// An attachment as the case references it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Attachment {
    /// Attachment id.
    pub id: String,
    /// What it is attached to.
    pub target: AttachTarget,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type (`image/jpeg`, `application/pdf`, …).
    pub media_type: String,
    /// File name as stored (raw text: make it safe for display).
    pub file_name: String,
    /// Caregiver id of who added it.
    pub author: Option<String>,
    /// When it was added (RFC 3339, UTC).
    pub added_at: String,
    /// Whether the bytes are on this device (if not: `SyncClient.downloadAttachment`).
    pub on_device: bool,
}

impl From<AttachmentRef> for Attachment {
    fn from(a: AttachmentRef) -> Self {
        Self {
            id: a.id,
            target: a.target.into(),
            sha256: a.sha256,
            size: a.size,
            media_type: a.media_type,
            file_name: a.file_name,
            author: a.author,
            added_at: a.added_at,
            on_device: a.on_device,
        }
    }
}

/// A file's bytes written to this device by `Store.storeBlob`, ready for `Case.attachStored`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StoredBlob {
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

impl From<CoreStoredBlob> for StoredBlob {
    fn from(b: CoreStoredBlob) -> Self {
        Self { sha256: b.sha256, size: b.size }
    }
}

impl From<StoredBlob> for CoreStoredBlob {
    fn from(b: StoredBlob) -> Self {
        Self { sha256: b.sha256, size: b.size }
    }
}

/// Where the cases of a store are read from without holding any lock: the cases the app has open (their
/// unsaved attaches included), else the saved case. Taken on the calling thread, used on a blocking one.
pub(crate) struct CaseSource {
    /// The cases open in the app (empty without the `sync` feature: the saved case is read).
    open: Vec<Arc<Mutex<casebook_core::Case>>>,
    /// The core store.
    pub(crate) store: casebook_core::Store,
}

impl CaseSource {
    pub(crate) fn of(store: &Store) -> Self {
        #[cfg(feature = "sync")]
        let open = store.open_cases();
        #[cfg(not(feature = "sync"))]
        let open = Vec::new();
        Self { open, store: store.inner.clone() }
    }

    /// Run `f` on case `id`: the open case (locked only for `f`), else the saved case. Never called with a
    /// case's lock held; one case locked at a time.
    fn with_case<T>(&self, id: &CaseId, f: impl FnOnce(&casebook_core::Case) -> casebook_core::Result<T>) -> Result<T> {
        for shared in &self.open {
            // A poisoned case is skipped: the saved case is read instead.
            let Ok(case) = shared.lock() else { continue };
            if case.id() == id {
                return Ok(f(&case)?);
            }
        }
        Ok(f(&self.store.open_case(id)?)?)
    }

    /// The live attachments of case `id` (read once, before any transfer: no lock is held afterwards).
    #[cfg(feature = "sync")]
    pub(crate) fn attachments(&self, id: &CaseId) -> Result<Vec<AttachmentRef>> {
        self.with_case(id, |c| Ok(c.attachments(None)))
    }

    /// Live attachment `attachment` of case `id`.
    #[cfg(feature = "sync")]
    pub(crate) fn attachment(&self, id: &CaseId, attachment: &str) -> Result<AttachmentRef> {
        self.with_case(id, |c| c.attachment(attachment))
    }
}

/// What `Store.collectBlobs` did on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BlobCollection {
    /// Blobs kept (referenced, or written within the last hour).
    pub kept: u64,
    /// Blobs deleted.
    pub deleted: u64,
    /// Bytes freed.
    pub freed_bytes: u64,
}

/// Run blocking disk work on tokio's blocking pool, awaited without blocking the caller.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| CasebookError::Internal { reason: "an attachment operation did not complete".into() })?
}

/// Write the verified bytes of `reader` to `path` (through a temporary file beside it, renamed at the end;
/// removed on failure).
fn export_to(mut reader: BlobReader, path: &Path) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".casebook-partial");
    let tmp = PathBuf::from(tmp);
    let result = (|| -> Result<()> {
        let write_error = |e: std::io::Error| CasebookError::Storage {
            reason: format!("the attachment could not be written to the file: {}", e.kind()),
        };
        let mut file = std::fs::File::create(&tmp).map_err(|e| CasebookError::InvalidInput {
            reason: format!("path: the file cannot be created: {}", e.kind()),
        })?;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // The blob is damaged on this device (its hash or a chunk): never a silently wrong file.
                Err(e) => return Err(CasebookError::Corrupt { reason: format!("attachment: {e}") }),
            };
            file.write_all(&buf[..n]).map_err(write_error)?;
        }
        file.sync_all().map_err(write_error)?;
        std::fs::rename(&tmp, path).map_err(write_error)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[uniffi::export]
impl Case {
    /// The attachments of one item (none once it is retracted), or of every live item of the case when
    /// `target` is `None`; retracted attachments are left out. Ordered by when they were added.
    #[uniffi::method(default(target = None))]
    pub fn attachments(&self, target: Option<AttachTarget>) -> Result<Vec<Attachment>> {
        let target: Option<CoreTarget> = target.map(Into::into);
        Ok(self.read(|c| c.attachments(target.as_ref()))?.into_iter().map(Into::into).collect())
    }

    /// Live attachment `id` (`NotFound` if there is none or it was retracted).
    pub fn attachment(&self, id: String) -> Result<Attachment> {
        Ok(self.try_read(|c| c.attachment(&id))?.into())
    }

    /// Attach a blob written by `Store.storeBlob` to `target` (a quick write: the bytes are on the device
    /// already). Works offline; `SyncClient.uploadAttachments` sends the bytes later, the reference goes
    /// with the case's sync. Refused: an unknown or retracted target (`NotFound`), an author not on the
    /// care team, an empty name or a media type without `/`, a blob not on this device (`InvalidInput`).
    #[uniffi::method(default(author = None))]
    pub fn attach_stored(
        &self,
        target: AttachTarget,
        blob: StoredBlob,
        file_name: String,
        media_type: String,
        author: Option<String>,
    ) -> Result<Attachment> {
        let new = NewAttachment::new(&file_name, &media_type, author.as_deref());
        Ok(self.write(|c| c.attach_stored(target.into(), new, blob.into()))?.into())
    }

    /// The bytes of attachment `id`, verified against its SHA-256 (`Corrupt` if damaged on this device). For
    /// small files: the whole file is in memory (use `Store.exportAttachment` for large ones).
    /// `InvalidInput` when the bytes are not on this device yet (`onDevice` false: download them first).
    pub fn read_attachment(&self, id: String) -> Result<Vec<u8>> {
        // Only opening takes the lock; the bytes are read after it is released.
        let mut reader = self.try_read(|c| c.open_attachment(&id))?;
        let mut out = Vec::with_capacity(usize::try_from(reader.size()).unwrap_or(0));
        reader
            .read_to_end(&mut out)
            .map_err(|e| CasebookError::Corrupt { reason: format!("case {}, attachment {id}: {e}", self.id()) })?;
        Ok(out)
    }

    /// Retract an attachment added by mistake: a retraction entry (who, when, why) is written on it; it
    /// leaves the lists but nothing is deleted. `today` is the app's local date (default: today in the
    /// device's time zone). Returns the retraction's id.
    #[uniffi::method(default(reason = None, by = None, today = None))]
    pub fn retract_attachment(
        &self,
        id: String,
        reason: Option<String>,
        by: Option<String>,
        today: Option<String>,
    ) -> Result<String> {
        let today = today_or(today)?;
        self.write(|c| c.retract_attachment(&id, Retract { today, by: by.as_deref(), reason: reason.as_deref() }))
    }

    /// The retractions of attachment `id` (retracted or not), oldest first.
    pub fn attachment_retractions(&self, id: String) -> Result<Vec<Retraction>> {
        Ok(self.read(|c| c.attachment_retractions(&id))?.into_iter().map(Into::into).collect())
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Store {
    /// Write the file at `path` to this device as a blob (chunked, never whole in memory; no case is
    /// locked meanwhile), then `Case.attachStored` references it. A photo (JPEG, PNG, HEIC/HEIF, WebP) loses
    /// its Exif and XMP metadata (where a phone writes the location) unless `keep_location`; a HEIC whose
    /// location cannot be removed safely is refused. Refused over 100 MiB, or when the file cannot be read
    /// (`InvalidInput`).
    #[uniffi::method(default(keep_location = false))]
    pub async fn store_blob(&self, path: String, keep_location: bool) -> Result<StoredBlob> {
        let store = self.inner.clone();
        blocking(move || {
            // The error names the kind of failure, not the path (it may name the patient).
            let file = std::fs::File::open(&path).map_err(|e| CasebookError::InvalidInput {
                reason: format!("path: the file cannot be opened: {}", e.kind()),
            })?;
            let max = casebook_core::model::attachment::DEFAULT_MAX_ATTACHMENT_BYTES;
            Ok(store.store_blob(std::io::BufReader::new(file), keep_location, max)?.into())
        })
        .await
    }

    /// Write attachment `attachment_id` of case `case_id` to the file at `path` (replaced if it exists),
    /// verified against its SHA-256: a damaged blob is `Corrupt` and leaves no file. Reads the open case if
    /// the app has one (else the saved case); no case is locked while the bytes are written.
    /// `InvalidInput` when the bytes are not on this device yet (`SyncClient.downloadAttachment`).
    pub async fn export_attachment(&self, case_id: String, attachment_id: String, path: String) -> Result<()> {
        let id = parse_case_id(&case_id)?;
        let source = CaseSource::of(self);
        blocking(move || {
            let reader = source.with_case(&id, |c| c.open_attachment(&attachment_id))?;
            export_to(reader, Path::new(&path))
        })
        .await
    }

    /// Keep attachment `attachment_id` of a case on this device ("keep offline": `SyncClient.downloadPinned`
    /// downloads it, or the client by itself, unless `SyncClient.setMoveAttachments(false)`), or stop keeping it
    /// (`on` false). Local only, never synced.
    pub fn keep_offline(&self, case_id: String, attachment_id: String, on: bool) -> Result<()> {
        let id = parse_case_id(&case_id)?;
        self.inner.pin_attachment(&id, &attachment_id, on)?;
        // A running sync client that moves blobs by itself starts the download now (in the background).
        #[cfg(feature = "sync")]
        if on && let Some(client) = self.sync.lock().unwrap_or_else(std::sync::PoisonError::into_inner).upgrade() {
            client.move_attachments_now(&id);
        }
        Ok(())
    }

    /// The attachments of a case kept offline on this device (ids).
    pub fn pinned_attachments(&self, case_id: String) -> Result<Vec<String>> {
        Ok(self.inner.pinned_attachments(&parse_case_id(&case_id)?)?.into_iter().collect())
    }

    /// Delete every attachment blob on this device that no case of the store references (retracted
    /// attachments and those of retracted items do not count), except blobs written within the last hour
    /// (an attach whose case is not saved yet). A case that cannot be opened keeps every blob. Reads every
    /// case: run off the UI thread (async).
    pub async fn collect_blobs(&self) -> Result<BlobCollection> {
        let store = self.inner.clone();
        blocking(move || {
            let c = store.collect_blobs()?;
            Ok(BlobCollection { kept: u64_of(c.kept), deleted: u64_of(c.deleted), freed_bytes: c.freed_bytes })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::appointment::NewAppointment;
    use casebook_core::model::appointment::AppointmentKind;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    /// A path in the temp directory, unique to this test run.
    fn temp(name: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        std::env::temp_dir().join(format!("casebook-ffi-{}-{nanos}-{name}", std::process::id()))
    }

    #[test]
    fn a_file_is_stored_attached_read_exported_pinned_and_retracted() {
        let store = Store::in_memory();
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
        // Over one chunk (1 MiB), not a multiple of it.
        let bytes: Vec<u8> = (0..(1u32 << 20) + 4321).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let file = temp("scan.pdf");
        std::fs::write(&file, &bytes).unwrap();
        let blob = run(store.store_blob(file.to_string_lossy().into_owned(), false)).unwrap();
        std::fs::remove_file(&file).unwrap();
        eq_size(&blob, &bytes);

        let target = AttachTarget { kind: TargetKind::Appointment, id: appt.clone() };
        let a = case
            .attach_stored(target.clone(), blob.clone(), "scan.pdf".into(), "application/pdf".into(), Some(created.me))
            .unwrap();
        assert!(a.on_device && a.sha256 == blob.sha256 && a.target == target, "{a:?}");
        assert_eq!(case.attachments(Some(target.clone())).unwrap(), vec![a.clone()]);
        assert_eq!(case.attachments(None).unwrap(), vec![a.clone()]);
        assert_eq!(case.attachment(a.id.clone()).unwrap(), a);
        assert_eq!(case.read_attachment(a.id.clone()).unwrap(), bytes);

        // Exported from the open case before it is saved, then from the saved case.
        let out = temp("out.pdf");
        run(store.export_attachment(case.id(), a.id.clone(), out.to_string_lossy().into_owned())).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), bytes);
        std::fs::remove_file(&out).unwrap();

        store.keep_offline(case.id(), a.id.clone(), true).unwrap();
        assert_eq!(store.pinned_attachments(case.id()).unwrap(), vec![a.id.clone()]);
        store.keep_offline(case.id(), a.id.clone(), false).unwrap();
        assert!(store.pinned_attachments(case.id()).unwrap().is_empty());

        // Refused: a blob not on this device, an unknown target, a file that does not exist.
        let ghost = StoredBlob { sha256: "0".repeat(64), size: 3 };
        let e = case.attach_stored(target.clone(), ghost, "x.pdf".into(), "application/pdf".into(), None);
        assert!(matches!(e, Err(CasebookError::InvalidInput { .. })), "{e:?}");
        let nowhere = AttachTarget { kind: TargetKind::Opinion, id: appt.clone() };
        let e = case.attach_stored(nowhere, blob, "x.pdf".into(), "application/pdf".into(), None);
        assert!(matches!(e, Err(CasebookError::NotFound { .. })), "{e:?}");
        let e = run(store.store_blob(temp("missing").to_string_lossy().into_owned(), false));
        assert!(matches!(e, Err(CasebookError::InvalidInput { .. })), "{e:?}");

        // Another device has the reference but not the bytes: a typed error, and no file written.
        case.save().unwrap();
        let other = Store::in_memory();
        other.import_changes(store.export_changes(case.id(), None).unwrap()).unwrap();
        let theirs = other.open_case(case.id()).unwrap();
        let seen = theirs.attachment(a.id.clone()).unwrap();
        assert!(!seen.on_device && seen.sha256 == a.sha256, "{seen:?}");
        let e = theirs.read_attachment(a.id.clone());
        assert!(matches!(e, Err(CasebookError::InvalidInput { .. })), "{e:?}");
        let out = temp("not-here.pdf");
        let e = run(other.export_attachment(case.id(), a.id.clone(), out.to_string_lossy().into_owned()));
        assert!(matches!(e, Err(CasebookError::InvalidInput { .. })), "{e:?}");
        assert!(!out.exists());

        let rid = case.retract_attachment(a.id.clone(), Some("wrong file".into()), None, None).unwrap();
        assert!(case.attachments(None).unwrap().is_empty());
        assert!(matches!(case.attachment(a.id.clone()), Err(CasebookError::NotFound { .. })));
        let r = case.attachment_retractions(a.id.clone()).unwrap();
        assert!(r.len() == 1 && r[0].id == rid && r[0].reason.as_deref() == Some("wrong file"), "{r:?}");
    }

    fn eq_size(blob: &StoredBlob, bytes: &[u8]) {
        assert_eq!(blob.size, bytes.len() as u64);
        assert_eq!(blob.sha256.len(), 64);
    }
}
