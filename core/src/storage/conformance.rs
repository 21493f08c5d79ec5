//! The storage conformance suite: the same cases against every [`Storage`] implementation.

use super::{MemoryStorage, SledStorage, Storage, key};

fn k(s: &str) -> super::StorageKey {
    key(s.split('/')).unwrap()
}

fn put_load_delete(s: &dyn Storage) {
    assert_eq!(s.load(&k("a/b")).unwrap(), None);
    s.put(&k("a/b"), b"one").unwrap();
    s.put(&k("a/b"), b"two").unwrap();
    s.flush().unwrap();
    assert_eq!(s.load(&k("a/b")).unwrap().as_deref(), Some(&b"two"[..]));
    s.delete(&k("a/b")).unwrap();
    s.delete(&k("a/b")).unwrap();
    assert_eq!(s.load(&k("a/b")).unwrap(), None);
}

fn range_is_by_component(s: &dyn Storage) {
    for key_ in ["doc/incremental/1", "doc/incremental/2", "doc/snapshot/x", "doc", "docx/incremental/1", "do/x"] {
        s.put(&k(key_), key_.as_bytes()).unwrap();
    }
    let mut got: Vec<String> = s.load_range(&k("doc")).unwrap().into_iter().map(|(k, _)| k.to_string()).collect();
    got.sort();
    assert_eq!(got, vec!["doc", "doc/incremental/1", "doc/incremental/2", "doc/snapshot/x"]);
    let mut keys: Vec<String> = s.keys(&k("doc/incremental")).unwrap().into_iter().map(|k| k.to_string()).collect();
    keys.sort();
    assert_eq!(keys, vec!["doc/incremental/1", "doc/incremental/2"]);
    for (key_, v) in s.load_range(&k("doc")).unwrap() {
        assert_eq!(key_.to_string().as_bytes(), &v[..]);
    }
}

fn scan_visits_everything_in_key_order(s: &dyn Storage) {
    for key_ in ["b/2", "a", "b/1", "a/x"] {
        s.put(&k(key_), key_.as_bytes()).unwrap();
    }
    let mut seen = Vec::new();
    s.scan(&mut |key_, v| {
        assert_eq!(key_.to_string().as_bytes(), v);
        seen.push(key_.to_string());
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, vec!["a", "a/x", "b/1", "b/2"]);
}

fn binary_values(s: &dyn Storage) {
    let v: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    s.put(&k("bin/x"), &v).unwrap();
    s.flush().unwrap();
    assert_eq!(s.load(&k("bin/x")).unwrap().unwrap(), v);
}

macro_rules! suite {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn put_load_delete() {
                let (s, _g) = $make;
                super::put_load_delete(&s);
            }
            #[test]
            fn range_is_by_component() {
                let (s, _g) = $make;
                super::range_is_by_component(&s);
            }
            #[test]
            fn binary_values() {
                let (s, _g) = $make;
                super::binary_values(&s);
            }
            #[test]
            fn scan_visits_everything_in_key_order() {
                let (s, _g) = $make;
                super::scan_visits_everything_in_key_order(&s);
            }
        }
    };
}

suite!(memory, (MemoryStorage::new(), ()));
suite!(sled, {
    let dir = tempfile::tempdir().unwrap();
    (SledStorage::open(dir.path()).unwrap(), dir)
});

#[test]
fn sled_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SledStorage::open(dir.path()).unwrap();
        s.put(&k("a/b"), b"kept").unwrap();
        s.flush().unwrap();
    }
    let s = SledStorage::open(dir.path()).unwrap();
    assert_eq!(s.load(&k("a/b")).unwrap().as_deref(), Some(&b"kept"[..]));
}

#[test]
fn keys_reject_slashes_and_empty_parts() {
    assert!(key(["a/b"]).is_err());
    assert!(key(["a", ""]).is_err());
    assert!(key(["a", "b"]).is_ok());
}
