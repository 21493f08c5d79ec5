//! Offline exchange: a case's state (what a peer has) and the report of an import.

use std::collections::HashMap;

use casebook_core::CaseState as CoreState;
use casebook_core::exchange::{ExportReport as CoreExport, ImportReport as CoreReport};

use crate::case::Case;
use crate::convert::{parse_case_id, u64_of};
use crate::error::{CasebookError, Result};
use crate::observer::{CaseChange, ChangeOrigin};
use crate::store::Store;

/// The state of a case: the heads of each of its documents. A peer sends it so that an export carries
/// only what it lacks.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct CaseState {
    /// Heads (hex change hashes) of each document of the case, by document id.
    pub docs: HashMap<String, Vec<String>>,
    /// SHA-256 of the attachment files the device holds (`Case.exchange_state`; empty from `Case.state`):
    /// an export with attachments leaves those out.
    #[uniffi(default = [])]
    pub blobs: Vec<String>,
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
    /// Attachment files the exchange file carried that were new to this device (stored, verified).
    pub new_attachments: u64,
}

/// What an export to a file wrote.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExportReport {
    /// Bytes written.
    pub bytes: u64,
    /// Attachment files carried.
    pub attachments: u64,
    /// Attachments whose files are not on this device (not carried: the receiver syncs them later).
    pub attachments_missing: u64,
}

impl From<CoreState> for CaseState {
    fn from(s: CoreState) -> Self {
        Self { docs: s.docs.into_iter().collect(), blobs: s.blobs.into_iter().collect() }
    }
}

impl From<CaseState> for CoreState {
    fn from(s: CaseState) -> Self {
        CoreState { docs: s.docs.into_iter().collect(), blobs: s.blobs.into_iter().collect() }
    }
}

impl From<CoreReport> for ImportReport {
    fn from(r: CoreReport) -> Self {
        Self {
            case_id: r.case.to_string(),
            new_case: r.new_case,
            new_changes: u64_of(r.new_changes),
            new_attachments: u64_of(r.new_attachments),
        }
    }
}

impl From<CoreExport> for ExportReport {
    fn from(r: CoreExport) -> Self {
        Self { bytes: r.bytes, attachments: u64_of(r.attachments), attachments_missing: u64_of(r.attachments_missing) }
    }
}

/// Run blocking file work on tokio's blocking pool, awaited without blocking the caller.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| CasebookError::Internal { reason: "an exchange operation did not complete".into() })?
}

#[uniffi::export]
impl Case {
    /// The current state plus the attachment files this device holds: give it to a peer so that its
    /// `Store.exportExchangeFile` carries only the changes and files you lack.
    pub fn exchange_state(&self) -> Result<CaseState> {
        Ok(self.try_read(|c| c.exchange_state())?.into())
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Store {
    /// Write an exchange file of case `case_id` to `path` (replaced if it exists): the saved changes a peer
    /// at `since` lacks (all with `None`) and, with `with_attachments` (the default: a family moving a case
    /// without a relay expects its scans and photos to come along), the attachment files held on this
    /// device that the peer does not hold (`since.blobs`). Streamed: an attachment is never whole in
    /// memory. Written beside `path`, then renamed: no half-written file on failure.
    #[uniffi::method(default(since = None, with_attachments = true))]
    pub async fn export_exchange_file(
        &self,
        case_id: String,
        path: String,
        since: Option<CaseState>,
        with_attachments: bool,
    ) -> Result<ExportReport> {
        let id = parse_case_id(&case_id)?;
        let store = self.inner.clone();
        blocking(move || {
            let since: Option<CoreState> = since.map(Into::into);
            let path = std::path::PathBuf::from(path);
            let mut tmp = path.as_os_str().to_owned();
            tmp.push(".casebook-partial");
            let tmp = std::path::PathBuf::from(tmp);
            let write_error =
                |e: std::io::Error| CasebookError::Storage { reason: format!("the exchange file: {}", e.kind()) };
            let result = (|| -> Result<ExportReport> {
                // The error names the kind of failure, not the path (it may name the patient).
                let file = std::fs::File::create(&tmp).map_err(|e| CasebookError::InvalidInput {
                    reason: format!("path: the file cannot be created: {}", e.kind()),
                })?;
                let mut w = std::io::BufWriter::new(file);
                let report = store.export_exchange(&id, since.as_ref(), with_attachments, &mut w)?;
                w.into_inner().map_err(|e| write_error(e.into_error()))?.sync_all().map_err(write_error)?;
                std::fs::rename(&tmp, &path).map_err(write_error)?;
                Ok(report.into())
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result
        })
        .await
    }

    /// Import the exchange file at `path` (version 1 or 2: with attachment files, each verified against its
    /// SHA-256), read sequentially. A damaged or truncated file is refused whole (`InvalidInput`): nothing
    /// of it is stored. Observers hear `Import` for the case: open it again to see the changes.
    pub async fn import_exchange_file(&self, path: String) -> Result<ImportReport> {
        let store = self.inner.clone();
        let report = blocking(move || {
            let file = std::fs::File::open(&path).map_err(|e| CasebookError::InvalidInput {
                reason: format!("path: the file cannot be opened: {}", e.kind()),
            })?;
            Ok(store.import_exchange(&mut std::io::BufReader::with_capacity(1 << 20, file))?)
        })
        .await?;
        self.observers.changed(&report.case.to_string(), CaseChange::of(ChangeOrigin::Import));
        Ok(report.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    fn temp(name: &str) -> String {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let p = std::env::temp_dir().join(format!("casebook-ffi-{}-{nanos}-{name}", std::process::id()));
        p.to_string_lossy().into_owned()
    }

    #[test]
    fn an_exchange_file_carries_the_attachment_files() {
        use crate::model::attachment::AttachTarget;
        use casebook_core::model::attachment::TargetKind;
        let store = Store::in_memory();
        let created = store.create_case("Mum".into(), "Ana".into(), None).unwrap();
        let case = created.case;
        let appt = case
            .add_appointment(crate::model::appointment::NewAppointment {
                kind: casebook_core::model::appointment::AppointmentKind::SecondOpinion,
                specialist: None,
                start: None,
                place: None,
                tz: None,
            })
            .unwrap();
        let bytes: Vec<u8> = (0..(1u32 << 20) + 99).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let src = temp("scan.pdf");
        std::fs::write(&src, &bytes).unwrap();
        let blob = run(store.store_blob(src.clone(), false)).unwrap();
        std::fs::remove_file(&src).unwrap();
        let target = AttachTarget { kind: TargetKind::Appointment, id: appt };
        let a = case.attach_stored(target, blob, "scan.pdf".into(), "application/pdf".into(), None).unwrap();
        case.save().unwrap();

        let file = temp("case.cbx");
        let r = run(store.export_exchange_file(case.id(), file.clone(), None, true)).unwrap();
        assert_eq!((r.attachments, r.attachments_missing), (1, 0));
        let other = Store::in_memory();
        let r = run(other.import_exchange_file(file.clone())).unwrap();
        assert_eq!((r.new_case, r.new_attachments), (true, 1));
        let theirs = other.open_case(case.id()).unwrap();
        assert_eq!(theirs.read_attachment(a.id.clone()).unwrap(), bytes);
        let state = theirs.exchange_state().unwrap();
        assert_eq!(state.blobs, vec![a.sha256.clone()]);
        let r = run(store.export_exchange_file(case.id(), file.clone(), Some(state), true)).unwrap();
        assert_eq!(r.attachments, 0);
        std::fs::remove_file(&file).unwrap();

        let e = run(other.import_exchange_file(temp("missing.cbx")));
        assert!(matches!(e, Err(CasebookError::InvalidInput { .. })), "{e:?}");
    }
}
