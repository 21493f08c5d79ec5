//! Moving a case's attachment blobs between this device and the relay: upload what the relay lacks,
//! download what is opened or pinned "keep offline", tell the relay which blobs the case still references.
//!
//! Every function here works on a list of [`AttachmentRef`]s read from the case beforehand: no network
//! call is made while a [`Case`](crate::Case) is locked (the lock rule).

use crate::Store;
use crate::ids::CaseId;
use crate::model::attachment::{AttachmentRef, BlobReader, BlobWriter, blob_manifest};
use crate::relay_api::RetainedBlobs;

use super::{RelayClient, SyncError, SyncResult, TransferOptions};

fn local(e: crate::Error) -> SyncError {
    SyncError::Local(std::sync::Arc::new(e))
}

/// Upload every attachment of `attachments` whose bytes are on this device and not complete on the relay
/// (one blob at a time; each resumes where the relay stands). `progress(attachment, done, total)` follows
/// the bytes. Returns how many blobs were sent.
pub fn upload_attachments(
    relay: &RelayClient,
    store: &Store,
    case_id: &CaseId,
    attachments: &[AttachmentRef],
    options: &TransferOptions,
    mut progress: impl FnMut(&AttachmentRef, u64, u64),
) -> SyncResult<usize> {
    let storage = store.storage();
    let mut sent = 0;
    let mut seen = std::collections::BTreeSet::new();
    for a in attachments {
        if !seen.insert(a.sha256.clone()) {
            continue;
        }
        let on_device = matches!(blob_manifest(&*storage, &a.sha256).map_err(local)?, Some(m) if m.complete);
        if !on_device {
            continue;
        }
        if relay.blob_status(case_id, &a.sha256)?.complete {
            continue;
        }
        let s = storage.clone();
        let sha = a.sha256.clone();
        let open_at = move |offset: u64| -> std::io::Result<Box<dyn std::io::Read>> {
            match BlobReader::open(s.clone(), &sha, offset) {
                Ok(Some(r)) => Ok(Box::new(r)),
                Ok(None) => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "the blob left this device")),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            }
        };
        relay.upload_blob(case_id, &a.sha256, a.size, open_at, options, |d, t| progress(a, d, t))?;
        sent += 1;
    }
    Ok(sent)
}

/// Download attachment `a` to this device (resuming what an earlier attempt left; verified by its hash).
/// Nothing to do when it is already here.
pub fn download_attachment(
    relay: &RelayClient,
    store: &Store,
    case_id: &CaseId,
    a: &AttachmentRef,
    options: &TransferOptions,
    progress: impl FnMut(u64, u64),
) -> SyncResult<()> {
    let storage = store.storage();
    if matches!(blob_manifest(&*storage, &a.sha256).map_err(local)?, Some(m) if m.complete) {
        return Ok(());
    }
    let writer = BlobWriter::open(storage, &a.sha256, a.size).map_err(local)?;
    relay.download_blob(case_id, &a.sha256, writer, options, progress)
}

/// Download every attachment pinned "keep offline" on this device ([`Store::pinned_attachments`]) that is
/// not here yet; those the relay does not hold (yet) are skipped. Returns how many were downloaded.
pub fn download_pinned(
    relay: &RelayClient,
    store: &Store,
    case_id: &CaseId,
    attachments: &[AttachmentRef],
    options: &TransferOptions,
    mut progress: impl FnMut(&AttachmentRef, u64, u64),
) -> SyncResult<usize> {
    let pinned = store.pinned_attachments(case_id).map_err(local)?;
    let mut n = 0;
    for a in attachments.iter().filter(|a| pinned.contains(&a.id) && !a.on_device) {
        match download_attachment(relay, store, case_id, a, options, |d, t| progress(a, d, t)) {
            Ok(()) => n += 1,
            // Not on the relay yet (the sibling who attached it has not uploaded it): the next sync.
            Err(SyncError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Tell the relay which blobs the case references (every live attachment), so that it deletes the others.
pub fn retain_attachments(
    relay: &RelayClient,
    case_id: &CaseId,
    attachments: &[AttachmentRef],
) -> SyncResult<RetainedBlobs> {
    let mut shas: Vec<String> = attachments.iter().map(|a| a.sha256.clone()).collect();
    shas.sort();
    shas.dedup();
    relay.retain_blobs(case_id, shas)
}
