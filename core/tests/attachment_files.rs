//! Attachment blobs as files on disk (`<store>/attachments/<sha256>`): they survive a reopen, a damaged
//! file gives a clear error or a new download (never a panic, never a silent wrong byte), a download's file
//! longer than its manifest is cut back, and blobs of the earlier layout (chunks inside sled) move into
//! files when the store opens.

#[path = "support/bytes.rs"]
mod bytes;
use bytes::pseudo_random;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use casebook_core::model::attachment::{
    AttachTarget, BlobManifest, BlobReader, BlobWriter, CHUNK_SIZE, NewAttachment, TargetKind, blob_manifest, hex,
};
use casebook_core::model::chronology::{DocumentKind, Location};
use casebook_core::storage::{SledStorage, Storage, key};
use casebook_core::{CaseId, Error, Store};
use sha2::{Digest, Sha256};

/// A store in `dir` with a case holding one document, and `bytes` attached to it. Returns the case id and
/// the attachment's id and hash.
fn attach(dir: &Path, bytes: &[u8]) -> (CaseId, String, String) {
    let store = Store::open(dir).unwrap();
    let (mut case, me) = store.create_case("Mum", "Ana", None).unwrap();
    let doc = case.add_document(None, DocumentKind::ImagingStudy, None, "CT", Location::Digital).unwrap();
    let a = case
        .attach(
            AttachTarget { kind: TargetKind::Document, id: doc },
            NewAttachment::new("ct.dcm", "application/dicom", Some(&me)),
            bytes,
        )
        .unwrap();
    case.save().unwrap();
    (case.id().clone(), a.id, a.sha256)
}

fn blob_file(dir: &Path, sha: &str) -> std::path::PathBuf {
    dir.join("attachments").join(sha)
}

#[test]
fn a_blob_is_a_file_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = pseudo_random(3 * CHUNK_SIZE + 4321, 1);
    let (id, att, sha) = attach(dir.path(), &bytes);
    assert_eq!(std::fs::read(blob_file(dir.path(), &sha)).unwrap(), bytes);
    // No temporary file is left behind.
    let tmp = dir.path().join("attachments").join("tmp");
    assert!(std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0) == 0);

    let store = Store::open(dir.path()).unwrap();
    let case = store.open_case(&id).unwrap();
    assert!(case.attachment(&att).unwrap().on_device);
    assert!(case.read_attachment(&att).unwrap() == bytes);
    // Reading from an offset.
    let mut tail = Vec::new();
    BlobReader::open(store.storage(), &sha, 3 * CHUNK_SIZE as u64).unwrap().unwrap().read_to_end(&mut tail).unwrap();
    assert!(tail == bytes[3 * CHUNK_SIZE..]);
    // Storing the same bytes again keeps the one file.
    assert_eq!(store.store_blob(&bytes[..], true, u64::MAX).unwrap().sha256, sha);
    assert_eq!(std::fs::read_dir(dir.path().join("attachments")).unwrap().count(), 2, "the blob and tmp/");
}

#[test]
fn a_damaged_file_gives_a_clear_error_or_a_new_download_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = pseudo_random(CHUNK_SIZE + 777, 2);
    let (id, att, sha) = attach(dir.path(), &bytes);
    let path = blob_file(dir.path(), &sha);

    // A flipped byte (same length): reading ends in an error, not in wrong bytes.
    let mut damaged = bytes.clone();
    damaged[1000] ^= 0xFF;
    std::fs::write(&path, &damaged).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let case = store.open_case(&id).unwrap();
    match case.read_attachment(&att) {
        Err(Error::Corrupt { detail, .. }) => assert!(detail.contains("SHA-256"), "{detail}"),
        other => panic!("expected a corrupt error, got {other:?}"),
    }

    // A cut file: not on the device any more (the sync downloads it again), a clear error on open.
    std::fs::write(&path, &bytes[..500]).unwrap();
    assert!(!case.attachment(&att).unwrap().on_device);
    let e = case.open_attachment(&att).err().expect("refused");
    assert!(e.to_string().contains("not on this device"), "{e}");
    assert!(!blob_manifest(&*store.storage(), &sha).unwrap().unwrap().complete);
    // A download starts it over and verifies it.
    let mut w = BlobWriter::open(store.storage(), &sha, bytes.len() as u64).unwrap();
    assert_eq!(w.received(), 0);
    w.write(&bytes).unwrap();
    w.finish().unwrap();
    assert!(case.read_attachment(&att).unwrap() == bytes);

    // A missing file: the same.
    std::fs::remove_file(&path).unwrap();
    assert!(!case.attachment(&att).unwrap().on_device);
    assert!(BlobReader::open(store.storage(), &sha, 0).unwrap().is_none());
    assert!(case.read_attachment(&att).is_err());

    // A directory where the file should be: an error, no panic.
    std::fs::create_dir(&path).unwrap();
    assert!(BlobReader::open(store.storage(), &sha, 0).is_err());
    assert!(case.read_attachment(&att).is_err());
}

#[test]
fn a_download_file_longer_than_its_manifest_is_cut_back() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = pseudo_random(2 * CHUNK_SIZE + 99, 3);
    let sha = hex(&Sha256::digest(&bytes));
    let store = Store::open(dir.path()).unwrap();
    let mut w = BlobWriter::open(store.storage(), &sha, bytes.len() as u64).unwrap();
    w.write(&bytes[..1000]).unwrap();
    w.flush().unwrap();
    // Bytes written after the flush, then a crash (the manifest still says 1,000).
    w.write(&bytes[1000..5000]).unwrap();
    drop(w);
    let mut f = std::fs::OpenOptions::new().append(true).open(blob_file(dir.path(), &sha)).unwrap();
    f.write_all(b"garbage after a crash").unwrap();
    drop(f);
    let mut w = BlobWriter::open(store.storage(), &sha, bytes.len() as u64).unwrap();
    assert_eq!(w.received(), 1000);
    assert_eq!(std::fs::metadata(blob_file(dir.path(), &sha)).unwrap().len(), 1000);
    w.write(&bytes[1000..]).unwrap();
    w.finish().unwrap();
    let mut got = Vec::new();
    BlobReader::open(store.storage(), &sha, 0).unwrap().unwrap().read_to_end(&mut got).unwrap();
    assert!(got == bytes);
}

#[test]
fn blobs_of_the_earlier_layout_move_into_files_when_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    let whole = pseudo_random(2 * CHUNK_SIZE + 10, 4);
    let partial = pseudo_random(3 * CHUNK_SIZE, 5);
    let (sha_whole, sha_partial) = (hex(&Sha256::digest(&whole)), hex(&Sha256::digest(&partial)));
    {
        // The earlier layout, written as the earlier code did: 1 MiB chunks and a manifest in sled.
        let sled = SledStorage::open(dir.path()).unwrap();
        let put = |sha: &str, bytes: &[u8], received: usize, complete: bool| {
            for (i, c) in bytes[..received].chunks(CHUNK_SIZE).enumerate() {
                sled.put(&key(["casebook", "blob", sha, "c", &i.to_string()]).unwrap(), c).unwrap();
            }
            let m = BlobManifest { size: bytes.len() as u64, received: received as u64, complete, created: 1 };
            sled.put(&key(["casebook", "blob", sha, "manifest"]).unwrap(), &serde_json::to_vec(&m).unwrap()).unwrap();
        };
        put(&sha_whole, &whole, whole.len(), true);
        put(&sha_partial, &partial, CHUNK_SIZE + 5, false);
        sled.put(&key(["casebook", "blob-tmp", "abc", "0"]).unwrap(), b"left by a crash").unwrap();
        sled.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let storage: Arc<dyn Storage> = store.storage();
    // Only manifests are left in the database.
    let keys = storage.keys(&key(["casebook", "blob"]).unwrap()).unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(storage.keys(&key(["casebook", "blob-tmp"]).unwrap()).unwrap().is_empty());
    let mut got = Vec::new();
    BlobReader::open(storage.clone(), &sha_whole, 0).unwrap().unwrap().read_to_end(&mut got).unwrap();
    assert!(got == whole);
    assert_eq!(std::fs::read(blob_file(dir.path(), &sha_whole)).unwrap(), whole);
    // The interrupted download resumes where it stood.
    let mut w = BlobWriter::open(storage.clone(), &sha_partial, partial.len() as u64).unwrap();
    assert_eq!(w.received(), CHUNK_SIZE as u64 + 5);
    w.write(&partial[CHUNK_SIZE + 5..]).unwrap();
    w.finish().unwrap();
    drop((storage, store));
    // A second open has nothing to move and changes nothing.
    let store = Store::open(dir.path()).unwrap();
    let mut got = Vec::new();
    BlobReader::open(store.storage(), &sha_partial, 0).unwrap().unwrap().read_to_end(&mut got).unwrap();
    assert!(got == partial);
}

#[test]
fn collection_deletes_files_no_case_references() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, kept) = attach(dir.path(), &pseudo_random(1000, 6));
    let store = Store::open(dir.path()).unwrap();
    let loose = store.store_blob(&pseudo_random(2000, 7)[..], true, u64::MAX).unwrap();
    // A file without a manifest (a crash between the two) and a leftover temporary file.
    std::fs::write(blob_file(dir.path(), &"ab".repeat(32)), b"orphan").unwrap();
    std::fs::create_dir_all(dir.path().join("attachments/tmp")).unwrap();
    std::fs::write(dir.path().join("attachments/tmp/0123abcd"), b"half an attach").unwrap();
    assert_eq!(store.collect_blobs().unwrap().deleted, 1, "only the orphan has no young manifest");
    let r = store.collect_blobs_older_than(0).unwrap();
    assert_eq!((r.kept, r.deleted, r.freed_bytes), (1, 1, 2000));
    assert!(blob_file(dir.path(), &kept).is_file());
    assert!(!blob_file(dir.path(), &loose.sha256).exists());
    assert_eq!(std::fs::read_dir(dir.path().join("attachments/tmp")).unwrap().count(), 0);
}

#[test]
fn a_second_writer_of_the_same_blob_waits_for_the_first_and_finds_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let bytes = Arc::new(pseudo_random(2 * CHUNK_SIZE + 5, 8));
    let sha = hex(&Sha256::digest(&bytes[..]));
    let mut first = BlobWriter::open(store.storage(), &sha, bytes.len() as u64).unwrap();
    first.write(&bytes[..CHUNK_SIZE]).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let second = {
        let (storage, sha, size) = (store.storage(), sha.clone(), bytes.len() as u64);
        std::thread::spawn(move || {
            // Blocks until the first writer is done (two appenders would cut each other's bytes).
            let w = BlobWriter::open(storage, &sha, size).unwrap();
            tx.send(w.received()).unwrap();
            w.finish().unwrap();
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(rx.try_recv().is_err(), "the second writer did not wait");
    first.write(&bytes[CHUNK_SIZE..]).unwrap();
    first.finish().unwrap();
    assert_eq!(rx.recv().unwrap(), bytes.len() as u64);
    second.join().unwrap();
    let mut got = Vec::new();
    BlobReader::open(store.storage(), &sha, 0).unwrap().unwrap().read_to_end(&mut got).unwrap();
    assert!(got == bytes[..]);
}
