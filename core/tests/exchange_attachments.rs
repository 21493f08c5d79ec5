//! Exchange files that carry attachment files: streamed out, verified in, all or nothing.

#[path = "support/bytes.rs"]
mod bytes;
use bytes::pseudo_random;

use std::io::{Seek, Write};
use std::sync::Arc;

use casebook_core::model::attachment::{AttachTarget, NewAttachment, TargetKind, blob_manifest};
use casebook_core::model::chronology::{DocumentKind, Location};
use casebook_core::storage::{MemoryStorage, Storage, key};
use casebook_core::{Error, Store};

/// Ana's store with a case whose document has a 3 MiB scan; (store, case id, attachment id, bytes).
fn ana() -> (Store, casebook_core::CaseId, String, Vec<u8>) {
    let store = Store::with_storage(Arc::new(MemoryStorage::new()));
    let (mut case, me) = store.create_case("Pat", "Ana", None).unwrap();
    let doc = case
        .add_document(Some("2026-10-01"), DocumentKind::PathologyReport, None, "biopsy report", Location::Digital)
        .unwrap();
    let bytes = pseudo_random(3 << 20, 7);
    let t = AttachTarget { kind: TargetKind::Document, id: doc };
    let a = case.attach(t, NewAttachment::new("scan.pdf", "application/pdf", Some(&me)), &bytes[..]).unwrap();
    case.save().unwrap();
    (store, case.id().clone(), a.id, bytes)
}

/// Everything a store holds under `casebook/`.
fn dump(storage: &MemoryStorage) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> =
        storage.load_range(&key(["casebook"]).unwrap()).unwrap().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    v.sort();
    v
}

#[test]
fn an_export_with_attachments_carries_the_files_byte_identical() {
    let (a, id, att, bytes) = ana();
    // Streamed through a real file, as the CLI does.
    let mut file = tempfile::tempfile().unwrap();
    let report = a.export_exchange(&id, None, true, &mut file).unwrap();
    assert_eq!(report.attachments, 1);
    assert_eq!(report.attachments_missing, 0);
    assert!(report.bytes > bytes.len() as u64);
    file.flush().unwrap();
    file.rewind().unwrap();

    let b = Store::with_storage(Arc::new(MemoryStorage::new()));
    let r = b.import_exchange(&mut file).unwrap();
    assert!(r.new_case);
    assert_eq!(r.new_attachments, 1);
    let mut case = b.open_case(&id).unwrap();
    assert!(case.attachment(&att).unwrap().on_device);
    assert_eq!(case.read_attachment(&att).unwrap(), bytes, "byte identical");

    // Importing it again stores nothing new.
    file.rewind().unwrap();
    let again = b.import_exchange(&mut file).unwrap();
    assert_eq!((again.new_changes, again.new_attachments), (0, 0));

    // Ben's state names the file he holds: an export since it carries neither changes nor the file, and is a
    // version 1 file (what older versions read).
    let state = case.exchange_state().unwrap();
    assert_eq!(state.blobs.len(), 1);
    let mut out = Vec::new();
    let r = a.export_exchange(&id, Some(&state), true, &mut out).unwrap();
    assert_eq!(r.attachments, 0);
    assert!(out.starts_with(b"CBXCHG01"));
    // Without attachments: exactly what `export_changes` writes.
    let mut plain = Vec::new();
    a.export_exchange(&id, None, false, &mut plain).unwrap();
    assert_eq!(plain, a.export_changes(&id, None).unwrap());
}

#[test]
fn an_old_file_without_attachments_still_imports() {
    let (a, id, att, _) = ana();
    let old = a.export_changes(&id, None).unwrap();
    assert!(old.starts_with(b"CBXCHG01"));
    let b = Store::with_storage(Arc::new(MemoryStorage::new()));
    let r = b.import_changes(&old).unwrap();
    assert_eq!(r.new_attachments, 0);
    let case = b.open_case(&id).unwrap();
    assert!(!case.attachment(&att).unwrap().on_device, "the reference came, the file did not");
}

#[test]
fn a_truncated_or_damaged_file_is_refused_and_stores_nothing() {
    let (a, id, _, bytes) = ana();
    let mut file = Vec::new();
    a.export_exchange(&id, None, true, &mut file).unwrap();
    let sha = a.open_case(&id).unwrap().attachments(None)[0].sha256.clone();
    let blob_at = file.len() - 8 - bytes.len();
    assert_eq!(&file[blob_at..blob_at + 16], &bytes[..16]);

    let storage = Arc::new(MemoryStorage::new());
    let b = Store::with_storage(storage.clone());
    let before = dump(&storage);
    let check_refused = |f: &[u8], what: &str, needle: &str| {
        let e = b.import_exchange(&mut &f[..]).unwrap_err();
        match &e {
            Error::BadExchange(m) => assert!(m.contains(needle), "{what}: {m}"),
            other => panic!("{what}: {other:?}"),
        }
        assert!(blob_manifest(&*storage, &sha).unwrap().is_none(), "{what}: no blob left");
        assert!(b.list_cases().unwrap().is_empty(), "{what}: no case");
        assert_eq!(dump(&storage), before, "{what}: the store is unchanged");
    };
    // Cut in the middle of the attachment (after 2 MiB were stored), and just before the end marker.
    check_refused(&file[..blob_at + (2 << 20) + 5], "truncated in the file", "truncated");
    check_refused(&file[..file.len() - 8], "truncated before the end", "truncated");
    check_refused(&[&file[..], b"x"].concat(), "padded", "truncated or padded");
    // One byte of the attachment flipped: its SHA-256 no longer matches.
    let mut damaged = file.clone();
    damaged[blob_at + (3 << 20) - 1] ^= 0x40;
    check_refused(&damaged, "damaged", "SHA-256");
    // A record header that does not match the list.
    let mut wrong = file.clone();
    wrong[blob_at - 1] ^= 1;
    check_refused(&wrong, "bad record header", "does not match");

    // The intact file still imports afterwards.
    b.import_exchange(&mut &file[..]).unwrap();
    assert_eq!(
        b.open_case(&id).unwrap().read_attachment(&a.open_case(&id).unwrap().attachments(None)[0].id).unwrap(),
        bytes
    );
}

#[test]
fn a_file_carrying_something_that_is_not_an_attachment_is_refused() {
    let (a, id, _, _) = ana();
    let mut file = Vec::new();
    a.export_exchange(&id, None, true, &mut file).unwrap();
    // Claim another size in the header (the JSON is ASCII: edit the number in place, same length).
    let hlen = u32::from_le_bytes(file[8..12].try_into().unwrap()) as usize;
    let header = String::from_utf8(file[12..12 + hlen].to_vec()).unwrap();
    let size = format!("\"size\":{}", 3 << 20);
    assert!(header.contains(&size), "{header}");
    let forged = header.replace(&size, &format!("\"size\":{}", (3 << 20) - 1));
    let mut f = file.clone();
    f[12..12 + hlen].copy_from_slice(forged.as_bytes());
    let b = Store::with_storage(Arc::new(MemoryStorage::new()));
    let e = b.import_exchange(&mut &f[..]).unwrap_err();
    assert!(matches!(&e, Error::BadExchange(m) if m.contains("not an attachment")), "{e:?}");
    assert!(b.list_cases().unwrap().is_empty());
}
