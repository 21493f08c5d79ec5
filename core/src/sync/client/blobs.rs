//! The sync client moves attachment blobs by itself: after a case syncs (it becomes up to date, or other
//! devices' changes are merged into it), and on a slow sweep, a background pass per case
//! - uploads the attachment blobs this device holds and the relay lacks (editors and owners),
//! - downloads the attachments pinned "keep offline" on this device ([`Store::pin_attachment`]),
//! - sends the relay the list of blobs the case references when it changed (editors and owners; the relay
//!   keeps blobs uploaded within the last hour whatever the list says),
//!
//! reporting progress as [`SyncEvent::AttachmentProgress`] (throttled). A pass runs on a blocking thread of
//! the client's runtime, never on the caller's; the case's lock is taken only to read its attachment list
//! (memory and local storage), never while bytes move. One pass per case at a time: a trigger during a pass
//! runs one more pass after it. A failed pass, or one that left a pinned attachment behind (its bytes not on
//! the relay yet), is retried with backoff (1 s doubling to 5 min) and on the next sync after it. A case
//! this account is no longer a member of stops being moved. [`SyncClient::stop`](super::SyncClient::stop)
//! ends the passes between two blobs (a blob under way finishes or fails on its detached thread).
//!
//! [`Store::pin_attachment`]: crate::Store::pin_attachment

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::ids::CaseId;
use crate::model::attachment::{AttachmentRef, blob_manifest};
use crate::relay_api::Role;

use super::super::attachments::{download_pinned, retain_attachments, upload_attachments};
use super::super::driver::{Driver, lock};
use super::super::error::SyncError;
use super::super::relay_client::TransferOptions;
use super::super::status::{SyncEvent, SyncState, TransferDirection};

/// The first wait before a failed or incomplete pass is retried.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between retries.
const MAX_RETRY: Duration = Duration::from_secs(300);
/// How long the relay's word on this account's role is trusted (a removal also arrives as `NotMember`).
const ROLE_TTL: Duration = Duration::from_secs(60);
/// The shortest time between two progress events of one attachment (but the last).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What the client knows of one case's blob passes.
#[derive(Debug, Default)]
struct Job {
    /// A pass is running.
    running: bool,
    /// Triggered during the running pass: run another after it.
    again: bool,
    /// Not a member any more: never moved again in this session.
    stopped: bool,
    /// Passes failed or incomplete in a row.
    failures: u32,
    /// No pass before this (backoff after a failure).
    not_before: Option<Instant>,
    /// The blob list last sent to the relay.
    retained: Option<BTreeSet<String>>,
    /// Blobs known complete on the relay (uploaded, or found there, by a pass of this session).
    uploaded: BTreeSet<String>,
    /// This account's role in the case, and when the relay said so.
    role: Option<(Role, Instant)>,
}

/// Whether a role uploads and retains.
fn is_writer(role: Role) -> bool {
    matches!(role, Role::Owner | Role::Editor)
}

/// The blob passes of the client's cases.
pub(crate) struct BlobMover {
    jobs: std::sync::Mutex<HashMap<CaseId, Job>>,
    /// Whether passes run (on by default; [`SyncClient::set_move_attachments`](super::SyncClient::set_move_attachments)).
    pub(crate) enabled: AtomicBool,
    /// Set when the client stops: passes end between two blobs.
    pub(crate) stopping: AtomicBool,
    /// How often every case synced in this session is looked at again.
    pub(crate) sweep: Duration,
}

impl BlobMover {
    pub(crate) fn new(enabled: bool, sweep: Duration) -> Self {
        BlobMover {
            jobs: Default::default(),
            enabled: AtomicBool::new(enabled),
            stopping: AtomicBool::new(false),
            sweep,
        }
    }

    fn on(&self) -> bool {
        self.enabled.load(Ordering::SeqCst) && !self.stopping.load(Ordering::SeqCst)
    }

    /// The case is not (any more) a member's: stop moving its blobs.
    pub(crate) fn stop_case(&self, case: &CaseId) {
        lock(&self.jobs).entry(case.clone()).or_default().stopped = true;
    }
}

/// How a pass ended.
enum Outcome {
    /// Everything moved.
    Done,
    /// Some pinned attachment is not on the relay yet: look again later.
    Incomplete,
    /// Not a member any more.
    NotMember,
}

impl Driver {
    /// A case synced: run a blob pass for it (now, or after the one running; not before its backoff).
    pub(crate) fn blobs_due(self: &Arc<Self>, case: &CaseId) {
        if !self.blobs.on() {
            return;
        }
        {
            let mut jobs = lock(&self.blobs.jobs);
            let job = jobs.entry(case.clone()).or_default();
            if job.stopped {
                return;
            }
            if job.running || job.not_before.is_some_and(|t| Instant::now() < t) {
                job.again = true;
                return;
            }
            job.running = true;
        }
        let this = self.clone();
        let case = case.clone();
        self.rt.spawn_blocking(move || this.blob_passes(case));
    }

    /// A user action (a pin): a pass now if the case is up to date, skipping a failure's backoff.
    pub(crate) fn blobs_now(self: &Arc<Self>, case: &CaseId) {
        if let Some(job) = lock(&self.blobs.jobs).get_mut(case) {
            job.not_before = None;
        }
        let up = lock(&self.engine).status(case).is_some_and(|s| s.state == SyncState::UpToDate);
        if up {
            self.blobs_due(case);
        }
    }

    /// Every case synced in this session and up to date now: look again (pinned attachments whose bytes
    /// reached the relay since, a pin set meanwhile).
    pub(crate) fn sweep_blobs(self: &Arc<Self>) {
        let cases: Vec<CaseId> =
            lock(&self.blobs.jobs).iter().filter(|(_, j)| !j.stopped).map(|(c, _)| c.clone()).collect();
        for case in cases {
            let up = lock(&self.engine).status(&case).is_some_and(|s| s.state == SyncState::UpToDate);
            if up {
                self.blobs_due(&case);
            }
        }
    }

    /// Run passes for a case until no trigger is pending (a blocking thread).
    fn blob_passes(self: Arc<Self>, case: CaseId) {
        loop {
            let outcome = if self.blobs.on() { self.blob_pass(&case) } else { Ok(Outcome::Done) };
            let retry = {
                let mut jobs = lock(&self.blobs.jobs);
                let job = jobs.entry(case.clone()).or_default();
                match &outcome {
                    Ok(Outcome::Done) => {
                        job.failures = 0;
                        job.not_before = None;
                    }
                    Ok(Outcome::NotMember) => job.stopped = true,
                    Ok(Outcome::Incomplete) | Err(_) => {
                        job.failures = job.failures.saturating_add(1);
                        let wait =
                            FIRST_RETRY.saturating_mul(1 << job.failures.min(9).saturating_sub(1)).min(MAX_RETRY);
                        job.not_before = Some(Instant::now() + wait);
                    }
                }
                if let Err(e) = &outcome {
                    // Ids and error kinds only.
                    tracing::debug!(case = %case, error = %e, "attachment pass failed; will retry");
                }
                if job.again && !job.stopped && job.not_before.is_none() && self.blobs.on() {
                    job.again = false;
                    continue;
                }
                job.running = false;
                job.not_before.filter(|_| !job.stopped).map(|t| t.saturating_duration_since(Instant::now()))
            };
            if let Some(wait) = retry {
                let this = self.clone();
                let case = case.clone();
                self.rt.spawn(async move {
                    tokio::time::sleep(wait).await;
                    if let Some(job) = lock(&this.blobs.jobs).get_mut(&case) {
                        job.not_before = None;
                    }
                    let up = lock(&this.engine).status(&case).is_some_and(|s| s.state == SyncState::UpToDate);
                    if up {
                        this.blobs_due(&case);
                    }
                });
            }
            return;
        }
    }

    /// One pass: upload, download the pinned, retain. Without anything to move (every blob of this
    /// device known complete on the relay, nothing pinned missing, the retain list unchanged) it makes no
    /// request at all, so that the pass after every push costs nothing.
    fn blob_pass(self: &Arc<Self>, case: &CaseId) -> Result<Outcome, SyncError> {
        // The list: under the case's lock for a memory read (and local manifests) only.
        let list: Vec<AttachmentRef> = match self.open_case(case) {
            Some(shared) => match shared.lock() {
                Ok(c) => c.attachments(None),
                Err(_) => return Ok(Outcome::Done),
            },
            None => self.store.open_case(case)?.attachments(None),
        };
        let pinned = self.store.pinned_attachments(case)?;
        let shas: BTreeSet<String> = list.iter().map(|a| a.sha256.clone()).collect();
        let (uploaded, retained, cached_role) = {
            let jobs = lock(&self.blobs.jobs);
            let job = jobs.get(case);
            (
                job.map(|j| j.uploaded.clone()).unwrap_or_default(),
                job.and_then(|j| j.retained.clone()),
                job.and_then(|j| j.role).filter(|(_, at)| at.elapsed() < ROLE_TTL).map(|(r, _)| r),
            )
        };
        let to_upload: Vec<AttachmentRef> =
            list.iter().filter(|a| a.on_device && !uploaded.contains(&a.sha256)).cloned().collect();
        let to_download = list.iter().any(|a| pinned.contains(&a.id) && !a.on_device);
        // A case without attachments in this session has nothing to retain (a retraction of the last one
        // still sends the empty list: the list sent before was not empty).
        let retain_due = retained.as_ref() != Some(&shas) && !(retained.is_none() && shas.is_empty());
        let writer_work = !to_upload.is_empty() || retain_due;
        let nothing = !to_download && (cached_role.is_some_and(|r| !is_writer(r)) || !writer_work);
        if nothing {
            return Ok(Outcome::Done);
        }
        // The role, from the relay (no lock held), at most once a minute.
        let role = match cached_role {
            Some(r) => r,
            None => match self.relay.list_cases()?.into_iter().find(|m| m.case_id == case.as_str()) {
                Some(m) => {
                    if let Some(j) = lock(&self.blobs.jobs).get_mut(case) {
                        j.role = Some((m.role, Instant::now()));
                    }
                    m.role
                }
                None => return Ok(Outcome::NotMember),
            },
        };
        let writer = is_writer(role);
        let options = TransferOptions { deadline: Duration::from_secs(300), ..TransferOptions::default() };
        let mut progress = Progress::new(self.clone(), case.clone());
        if writer && !to_upload.is_empty() {
            self.check_stopping()?;
            match upload_attachments(&self.relay, &self.store, case, &to_upload, &options, |a, d, t| {
                progress.report(a, TransferDirection::Upload, d, t)
            }) {
                Ok(_) => {
                    if let Some(j) = lock(&self.blobs.jobs).get_mut(case) {
                        j.uploaded.extend(to_upload.iter().map(|a| a.sha256.clone()));
                    }
                }
                Err(SyncError::Forbidden { .. }) => {}
                Err(SyncError::NotFound) => return Ok(Outcome::NotMember),
                Err(e) => return Err(e),
            }
        }
        if to_download {
            self.check_stopping()?;
            match download_pinned(&self.relay, &self.store, case, &list, &options, |a, d, t| {
                progress.report(a, TransferDirection::Download, d, t)
            }) {
                Ok(_) => {}
                Err(SyncError::Forbidden { .. }) => return Ok(Outcome::NotMember),
                Err(e) => return Err(e),
            }
        }
        if writer && retain_due {
            self.check_stopping()?;
            match retain_attachments(&self.relay, case, &list) {
                Ok(_) => {
                    if let Some(j) = lock(&self.blobs.jobs).get_mut(case) {
                        j.retained = Some(shas);
                    }
                }
                Err(SyncError::Forbidden { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        // Pinned attachments still not here: their bytes are not on the relay yet.
        let storage = self.store.storage();
        let missing = list
            .iter()
            .filter(|a| pinned.contains(&a.id))
            .any(|a| !matches!(blob_manifest(&*storage, &a.sha256), Ok(Some(m)) if m.complete && m.size == a.size));
        Ok(if missing { Outcome::Incomplete } else { Outcome::Done })
    }

    fn check_stopping(&self) -> Result<(), SyncError> {
        if self.blobs.stopping.load(Ordering::SeqCst) { Err(SyncError::Stopped) } else { Ok(()) }
    }
}

/// Throttled progress events of one pass.
struct Progress {
    driver: Arc<Driver>,
    case: CaseId,
    /// The last event: attachment, bytes done, when.
    last: Option<(String, u64, Instant)>,
}

impl Progress {
    fn new(driver: Arc<Driver>, case: CaseId) -> Self {
        Progress { driver, case, last: None }
    }

    fn report(&mut self, a: &AttachmentRef, direction: TransferDirection, done: u64, total: u64) {
        let now = Instant::now();
        if let Some((id, d, at)) = &self.last
            && *id == a.id
            && (*d == done || (done < total && now.duration_since(*at) < PROGRESS_EVERY))
        {
            return;
        }
        self.last = Some((a.id.clone(), done, now));
        self.driver.emit(SyncEvent::AttachmentProgress {
            case_id: self.case.clone(),
            attachment_id: a.id.clone(),
            direction,
            done,
            total,
        });
    }
}
