//! Attachments: blobs on the device, references in the document.

#[path = "support/bytes.rs"]
mod bytes;
use bytes::pseudo_random;

use std::sync::Arc;

use casebook_core::model::attachment::{AttachTarget, CHUNK_SIZE, NewAttachment, TargetKind, strip_jpeg_app1_bytes};
use casebook_core::model::chronology::{DocumentKind, Location};
use casebook_core::model::record_request::{Channel, RecordItem};
use casebook_core::model::retraction::{ItemKind, Retract};
use casebook_core::storage::{MemoryStorage, Storage, key};
use casebook_core::{Error, Store};

fn setup() -> (Arc<MemoryStorage>, Store, casebook_core::Case, String, String) {
    let storage = Arc::new(MemoryStorage::new());
    let store = Store::with_storage(storage.clone());
    let (mut case, me) = store.create_case("Pat", "Ana", None).unwrap();
    let doc = case
        .add_document(Some("2026-10-01"), DocumentKind::PathologyReport, None, "biopsy report", Location::Digital)
        .unwrap();
    (storage, store, case, me, doc)
}

fn target(kind: TargetKind, id: &str) -> AttachTarget {
    AttachTarget { kind, id: id.to_string() }
}

#[test]
fn attach_offline_list_and_open_byte_identical() {
    let (storage, store, mut case, me, doc) = setup();
    let bytes = pseudo_random(3 * CHUNK_SIZE + 12_345, 1);
    let a = case
        .attach(
            target(TargetKind::Document, &doc),
            NewAttachment::new("scan.pdf", "application/pdf", Some(&me)),
            &bytes[..],
        )
        .unwrap();
    assert_eq!(a.size, bytes.len() as u64);
    assert!(a.on_device);
    case.save().unwrap();
    // The bytes are a file of the blob store, named by the hash; the key/value store holds the manifest only.
    let blob_keys = storage.load_range(&key(["casebook", "blob", &a.sha256]).unwrap()).unwrap();
    assert_eq!(blob_keys.len(), 1, "a manifest");
    assert!(blob_keys.iter().all(|(_, v)| v.len() < 200));
    assert_eq!(storage.blobs().size(&a.sha256).unwrap(), Some(bytes.len() as u64));

    let case = store.open_case(case.id()).unwrap();
    let listed = case.attachments(Some(&target(TargetKind::Document, &doc)));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].file_name, "scan.pdf");
    assert_eq!(listed[0].author.as_deref(), Some(me.as_str()));
    assert_eq!(case.read_attachment(&a.id).unwrap(), bytes);
    assert_eq!(case.attachments(None).len(), 1);
}

#[test]
fn every_target_kind_and_retractions() {
    let (_s, _store, mut case, me, doc) = setup();
    let rr = case.add_record_request("Lab", &[RecordItem::PathologySlides], Channel::LabRelease).unwrap();
    let n = |name| NewAttachment::new(name, "image/png", Some(me.as_str()));
    let a1 = case.attach_bytes(target(TargetKind::Document, &doc), n("a.png"), b"one").unwrap();
    let a2 = case.attach_bytes(target(TargetKind::RecordRequest, &rr), n("b.png"), b"two").unwrap();
    assert_eq!(case.attachments(None).len(), 2);
    // Unknown targets are refused.
    assert!(matches!(
        case.attach_bytes(target(TargetKind::Opinion, "nope"), n("c.png"), b"x"),
        Err(Error::UnknownId { .. })
    ));
    let how = Retract { today: casebook_core::dates::today(), by: Some(&me), reason: Some("wrong file") };
    case.retract_attachment(&a1.id, how).unwrap();
    assert_eq!(case.attachments(None).iter().map(|a| a.id.clone()).collect::<Vec<_>>(), vec![a2.id.clone()]);
    assert_eq!(case.attachment_retractions(&a1.id).len(), 1);
    case.retract_record_request(&rr, how).unwrap();
    assert!(case.attachments(None).is_empty());
    assert!(matches!(
        case.attach_bytes(target(TargetKind::RecordRequest, &rr), n("d.png"), b"x"),
        Err(Error::Retracted { .. })
    ));
}

#[test]
fn corruption_is_detected_and_missing_blobs_say_so() {
    let (storage, _store, mut case, me, doc) = setup();
    let bytes = pseudo_random(CHUNK_SIZE + 10, 2);
    let a = case
        .attach_bytes(
            target(TargetKind::Document, &doc),
            NewAttachment::new("x.bin", "application/octet-stream", Some(&me)),
            &bytes,
        )
        .unwrap();
    // One byte of the blob's file damaged (same length).
    let mut damaged = bytes.clone();
    damaged[CHUNK_SIZE + 3] ^= 0xFF;
    let mut f = storage.blobs().open_append(&a.sha256, 0).unwrap();
    f.write(&damaged).unwrap();
    f.sync().unwrap();
    let err = case.read_attachment(&a.id).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("SHA-256"), "{err}");
    assert!(!err.to_string().contains("x.bin"), "no file names in errors");

    for k in storage.keys(&key(["casebook", "blob", &a.sha256]).unwrap()).unwrap() {
        storage.delete(&k).unwrap();
    }
    let err = case.open_attachment(&a.id).err().unwrap();
    assert!(err.to_string().contains("not on this device yet"), "{err}");
    assert!(!case.attachment(&a.id).unwrap().on_device);
}

#[test]
fn the_size_limit_is_refused_clearly_and_leaves_nothing() {
    let (storage, _store, mut case, me, doc) = setup();
    let mut new = NewAttachment::new("big.bin", "application/octet-stream", Some(&me));
    new.max_bytes = 2 * CHUNK_SIZE as u64;
    let bytes = vec![7u8; 2 * CHUNK_SIZE + 1];
    let err = case.attach_bytes(target(TargetKind::Document, &doc), new.clone(), &bytes).unwrap_err();
    assert!(err.to_string().contains("larger than the limit"), "{err}");
    assert!(case.attachments(None).is_empty());
    assert!(storage.keys(&key(["casebook", "blob-tmp"]).unwrap()).unwrap().is_empty());
    assert!(storage.keys(&key(["casebook", "blob"]).unwrap()).unwrap().is_empty());
    // Exactly at the limit is fine.
    case.attach_bytes(target(TargetKind::Document, &doc), new, &bytes[..2 * CHUNK_SIZE]).unwrap();
}

#[test]
fn unreferenced_blobs_are_collected() {
    let (storage, store, mut case, me, doc) = setup();
    let n = || NewAttachment::new("p.png", "image/png", Some(me.as_str()));
    let keep = case.attach_bytes(target(TargetKind::Document, &doc), n(), &pseudo_random(5000, 3)).unwrap();
    let gone = case.attach_bytes(target(TargetKind::Document, &doc), n(), &pseudo_random(CHUNK_SIZE * 2, 4)).unwrap();
    let how = Retract { today: casebook_core::dates::today(), by: None, reason: None };
    case.retract_attachment(&gone.id, how).unwrap();
    case.save().unwrap();
    // Young blobs survive the default collection.
    assert_eq!(store.collect_blobs().unwrap().deleted, 0);
    let r = store.collect_blobs_older_than(0).unwrap();
    assert_eq!((r.kept, r.deleted, r.freed_bytes), (1, 1, 2 * CHUNK_SIZE as u64));
    assert!(storage.keys(&key(["casebook", "blob", &gone.sha256]).unwrap()).unwrap().is_empty());
    let case = store.open_case(case.id()).unwrap();
    assert_eq!(case.read_attachment(&keep.id).unwrap(), pseudo_random(5000, 3));
    // Retracting the chronology document drops its attachments from the references too.
    let mut case = case;
    case.retract_item(ItemKind::Document, &doc, how).unwrap();
    case.save().unwrap();
    assert_eq!(store.collect_blobs_older_than(0).unwrap().deleted, 1);
}

/// A small JPEG: SOI, an APP0 (JFIF), an APP1 Exif segment with a GPS IFD tag, a DQT, SOS, data, EOI.
fn jpeg_with_exif() -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8];
    let app0 = b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0";
    j.extend([0xFF, 0xE0]);
    j.extend(((app0.len() + 2) as u16).to_be_bytes());
    j.extend(app0);
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x88\x25\0\x04\0\0\0\x01\0\0\0\x1aGPS 48.8584N 2.2945E".to_vec();
    exif.extend([0u8; 8]);
    j.extend([0xFF, 0xE1]);
    j.extend(((exif.len() + 2) as u16).to_be_bytes());
    j.extend(&exif);
    j.extend([0xFF, 0xDB, 0x00, 0x04, 0x01, 0x02]);
    j.extend([0xFF, 0xDA, 0x00, 0x03, 0x01]);
    j.extend(b"image data with GPS bytes inside the scan \xFF\x00 stays");
    j.extend([0xFF, 0xD9]);
    j
}

#[test]
fn exif_is_stripped_from_jpegs_unless_kept() {
    let (_s, _store, mut case, me, doc) = setup();
    let jpeg = jpeg_with_exif();
    let stripped = strip_jpeg_app1_bytes(&jpeg);
    assert!(!stripped.windows(4).any(|w| w == b"Exif"));
    assert!(!stripped.windows(6).any(|w| w == b"48.858"));
    assert!(stripped.starts_with(&[0xFF, 0xD8, 0xFF, 0xE0]));
    assert!(stripped.ends_with(&[0xFF, 0xD9]));
    assert!(stripped.windows(9).any(|w| w == b"GPS bytes"), "the image data is untouched");

    let t = target(TargetKind::Document, &doc);
    let a = case.attach_bytes(t.clone(), NewAttachment::new("photo.jpg", "image/jpeg", Some(&me)), &jpeg).unwrap();
    assert_eq!(case.read_attachment(&a.id).unwrap(), stripped);
    let mut keep = NewAttachment::new("photo.jpg", "image/jpeg", Some(&me));
    keep.keep_location = true;
    let b = case.attach_bytes(t, keep, &jpeg).unwrap();
    assert_eq!(case.read_attachment(&b.id).unwrap(), jpeg);
}

#[test]
fn the_jpeg_stripper_never_panics_on_garbage() {
    let mut x = 99u64;
    for len in 0..400 {
        for _ in 0..20 {
            let mut v: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            if v.len() >= 2 {
                v[0] = 0xFF;
                v[1] = 0xD8;
            }
            if v.len() >= 3 && x.is_multiple_of(2) {
                v[2] = 0xFF;
            }
            let out = strip_jpeg_app1_bytes(&v);
            assert!(out.len() <= v.len());
        }
    }
    // Truncated versions of a real header.
    let j = jpeg_with_exif();
    for n in 0..j.len() {
        let out = strip_jpeg_app1_bytes(&j[..n]);
        assert!(out.len() <= n);
    }
}

#[test]
fn a_download_resumes_where_the_device_stands_and_is_verified() {
    use casebook_core::model::attachment::{BlobReader, BlobWriter, blob_manifest, hex};
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let bytes = pseudo_random(2 * CHUNK_SIZE + 999, 5);
    let sha = hex(&Sha256::digest(&bytes));
    let cut = CHUNK_SIZE + 12_345;
    let mut w = BlobWriter::open(storage.clone(), &sha, bytes.len() as u64).unwrap();
    w.write(&bytes[..1000]).unwrap();
    w.write(&bytes[1000..cut]).unwrap();
    w.flush().unwrap();
    drop(w);
    // Not readable until complete.
    assert!(BlobReader::open(storage.clone(), &sha, 0).unwrap().is_none());
    let mut w = BlobWriter::open(storage.clone(), &sha, bytes.len() as u64).unwrap();
    assert_eq!(w.received(), cut as u64);
    w.write(&bytes[cut..]).unwrap();
    assert!(w.write(b"x").is_err(), "no more than its size");
    w.finish().unwrap();
    let mut got = Vec::new();
    BlobReader::open(storage.clone(), &sha, 0).unwrap().unwrap().read_to_end(&mut got).unwrap();
    assert!(got == bytes);

    // Wrong bytes: refused and discarded.
    let other = hex(&Sha256::digest(b"other"));
    let mut w = BlobWriter::open(storage.clone(), &other, 10).unwrap();
    w.write(b"0123456789").unwrap();
    assert!(w.finish().unwrap_err().to_string().contains("SHA-256"));
    assert!(blob_manifest(&*storage, &other).unwrap().is_none());
}

#[test]
fn a_blob_stored_without_the_case_is_attached_in_a_quick_step() {
    let (_s, store, mut case, me, doc) = setup();
    let bytes = pseudo_random(CHUNK_SIZE + 3, 12);
    let blob = store.store_blob(&bytes[..], false, 10 << 20).unwrap();
    let a = case
        .attach_stored(target(TargetKind::Document, &doc), NewAttachment::new("r.m4a", "audio/mp4", Some(&me)), blob)
        .unwrap();
    assert_eq!(case.read_attachment(&a.id).unwrap(), bytes);
    let missing = casebook_core::model::attachment::StoredBlob { sha256: "a".repeat(64), size: 3 };
    assert!(
        case.attach_stored(target(TargetKind::Document, &doc), NewAttachment::new("x", "a/b", None), missing).is_err()
    );
}
