//! Resource bombs refused before they cost memory: a small exchange file whose change inflates to
//! hundreds of megabytes (automerge inflates compressed change chunks without bound), the same chunk in
//! storage, a deeply nested header, an oversized file.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use casebook_core::exchange::MAX_EXCHANGE_BYTES;
use casebook_core::storage::{MemoryStorage, Storage, key};
use casebook_core::{Error, Store};

/// A compressed change chunk (type 2) whose deflate payload inflates to `inflated` bytes of zeros.
fn deflate_bomb(inflated: usize) -> Vec<u8> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..inflated >> 20 {
        enc.write_all(&zeros).unwrap();
    }
    let payload = enc.finish().unwrap();
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut n = payload.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            chunk.push(b);
            break;
        }
        chunk.push(b | 0x80);
    }
    chunk.extend(payload);
    chunk
}

fn exchange_file(case: &str, header_docs: serde_json::Value, body: &[u8]) -> Vec<u8> {
    let header = serde_json::json!({ "case": case, "docs": header_docs }).to_string();
    let mut out = b"CBXCHG01".to_vec();
    out.extend((header.len() as u32).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(body);
    out
}

#[test]
fn an_inflation_bomb_in_an_exchange_file_is_refused_before_inflating() {
    let bomb = deflate_bomb(64 << 20);
    assert!(bomb.len() < 1 << 20, "a small file: {} bytes", bomb.len());
    let store = Store::in_memory();
    let (case, _) = store.create_case("Pat", "Ana", None).unwrap();
    let id = case.id().to_string();
    let file = exchange_file(&id, serde_json::json!([{ "id": id, "changes": [bomb.len()] }]), &bomb);
    let t = Instant::now();
    let err = store.import_changes(&file).unwrap_err();
    assert!(matches!(&err, Error::BadExchange(m) if m.contains("compressed")), "{err}");
    assert!(t.elapsed() < Duration::from_secs(1), "refused before inflating");
    assert!(store.open_case(case.id()).is_ok());
}

#[test]
fn an_inflation_bomb_in_storage_is_a_corrupt_case_not_an_oom() {
    let storage = Arc::new(MemoryStorage::new());
    let store = Store::with_storage(storage.clone());
    let (case, _) = store.create_case("Pat", "Ana", None).unwrap();
    storage.put(&key([case.id().as_str(), "incremental", "bomb"]).unwrap(), &deflate_bomb(64 << 20)).unwrap();
    let t = Instant::now();
    let err = store.open_case(case.id()).err().expect("refused");
    assert!(matches!(err, Error::Corrupt { .. }) && err.to_string().contains("compressed"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_deeply_nested_header_is_refused_without_overflowing_the_stack() {
    let store = Store::in_memory();
    let nested = format!("{}{}", "[".repeat(500_000), "]".repeat(500_000));
    let mut file = b"CBXCHG01".to_vec();
    file.extend((nested.len() as u32).to_le_bytes());
    file.extend(nested.as_bytes());
    assert!(matches!(store.import_changes(&file), Err(Error::BadExchange(_))));
}

#[test]
fn an_oversized_file_or_huge_declared_sizes_are_refused_before_decoding() {
    let store = Store::in_memory();
    let big = vec![0u8; MAX_EXCHANGE_BYTES + 1];
    assert!(matches!(store.import_changes(&big), Err(Error::BadExchange(_))));
    // Sizes that claim gigabytes in a tiny file.
    let id = casebook_core::DocId::random().to_string();
    let file = exchange_file(&id, serde_json::json!([{ "id": id, "changes": [usize::MAX, 2] }]), b"xx");
    assert!(matches!(store.import_changes(&file), Err(Error::BadExchange(_))));
    let file = exchange_file(&id, serde_json::json!([{ "id": id, "changes": vec![0; 3_000_000] }]), b"");
    assert!(matches!(store.import_changes(&file), Err(Error::BadExchange(_))));
}
