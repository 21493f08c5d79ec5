//! [`BlobStore`]: where the bytes of attachment blobs live — plain files beside the key/value store, never
//! values inside it (a 100 MiB scan must not pass through the database's cache or log).
//!
//! A blob file is named by a [`BlobStore`] *name*: one to three components joined by `/`, each 1–128
//! characters of `A-Z a-z 0-9 _ -` (a SHA-256 in hex, a case id, `tmp`, a random id). Names are checked
//! by every method, so no name reaches outside the store's directory (no `..`, no absolute path, no
//! separator of its own). The device names a blob by its hash (`<sha256>`), the relay by case and hash
//! (`<case>/<sha256>`); small metadata (size, bytes received, complete) stays in the key/value store and
//! is written only after the bytes it describes are durable.
//!
//! Two implementations: [`FileBlobStore`] (a directory; what [`SledStorage`](crate::storage::SledStorage)
//! uses, in `<sled directory>/attachments/`, because sled owns `blobs/` in its directory) and
//! [`MemoryBlobStore`] (what [`MemoryStorage`](crate::storage::MemoryStorage) uses in tests). Bytes are
//! written through [`BlobAppend`] (append, then [`BlobAppend::sync`]: file data fsynced, and the directory
//! when the file was created) and read through a plain [`Read`] from an offset: nothing in this module
//! holds a blob whole in memory except the in-memory store itself.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A reader of a blob file from some offset to its end.
pub type BlobRead = Box<dyn Read + Send + Sync>;

/// Bytes of attachment blobs, by name (see the [module documentation](self) for what a name may be).
/// Every method may fail with an I/O error; none panics on a missing or damaged file.
pub trait BlobStore: Send + Sync + 'static {
    /// The length of file `name` in bytes, `None` if there is no such file.
    fn size(&self, name: &str) -> io::Result<Option<u64>>;
    /// A reader of file `name` from byte `offset` (clamped to its end), `None` if there is no such file.
    fn open_read(&self, name: &str, offset: u64) -> io::Result<Option<BlobRead>>;
    /// A writer appending to file `name` at byte `at`: the file is cut back to `at` bytes when longer,
    /// created when absent and `at` is 0; an error when it is shorter than `at` (or absent and `at` > 0).
    fn open_append(&self, name: &str, at: u64) -> io::Result<Box<dyn BlobAppend>>;
    /// Cut file `name` back to `len` bytes (no-op when it is not longer), durably.
    fn truncate(&self, name: &str, len: u64) -> io::Result<()>;
    /// Rename file `from` to `to` (replacing `to`), durably.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Delete file `name` (no error when there is none).
    fn delete(&self, name: &str) -> io::Result<()>;
    /// The names of the files directly in directory `dir` (`""`: the top), sorted; empty when `dir` does
    /// not exist. Only names that are valid components are listed.
    fn list(&self, dir: &str) -> io::Result<Vec<String>>;
}

/// Appends bytes to a blob file ([`BlobStore::open_append`]).
pub trait BlobAppend: Send {
    /// Append `data` (not durable yet).
    fn write(&mut self, data: &[u8]) -> io::Result<()>;
    /// Make every byte appended so far durable: the file's data, and the directory entry when the file was
    /// created by this writer.
    fn sync(&mut self) -> io::Result<()>;
}

/// Whether `c` is a valid component of a blob name.
fn valid_component(c: &str) -> bool {
    (1..=128).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Check a blob name (a file) or a directory (`""` allowed when `dir`).
fn check_name(name: &str, dir: bool) -> io::Result<()> {
    let ok = (dir && name.is_empty()) || {
        let parts: Vec<&str> = name.split('/').collect();
        parts.len() <= 3 && parts.iter().all(|c| valid_component(c))
    };
    if ok { Ok(()) } else { Err(io::Error::new(io::ErrorKind::InvalidInput, "invalid blob name")) }
}

/// Blob files in a directory: name `a/b` is the file `<root>/a/b`.
#[derive(Debug, Clone)]
pub struct FileBlobStore {
    root: PathBuf,
}

/// fsync a directory (its entries: a file created, renamed or deleted in it). A no-op where directories
/// cannot be opened (not Unix).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

impl FileBlobStore {
    /// The store in directory `root` (created with the first file).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FileBlobStore { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &str, dir: bool) -> io::Result<PathBuf> {
        check_name(name, dir)?;
        Ok(if name.is_empty() { self.root.clone() } else { self.root.join(name) })
    }

    /// Create `dir` and the missing directories above it, each one's parent fsynced.
    fn make_dirs(dir: &Path) -> io::Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        if let Some(p) = dir.parent() {
            Self::make_dirs(p)?;
        }
        match std::fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) => return Err(e),
        }
        match dir.parent() {
            Some(p) => sync_dir(p),
            None => Ok(()),
        }
    }
}

/// A file of a [`FileBlobStore`] being appended to.
struct FileAppend {
    file: File,
    /// The directory to fsync at the next sync (the file was created).
    new_in: Option<PathBuf>,
}

impl BlobAppend for FileAppend {
    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        if let Some(dir) = self.new_in.take() {
            sync_dir(&dir)?;
        }
        Ok(())
    }
}

fn absent_ok(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

impl BlobStore for FileBlobStore {
    fn size(&self, name: &str) -> io::Result<Option<u64>> {
        match std::fs::metadata(self.path(name, false)?) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Err(io::Error::new(io::ErrorKind::InvalidData, "a blob's file is not a regular file")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn open_read(&self, name: &str, offset: u64) -> io::Result<Option<BlobRead>> {
        let mut file = match File::open(self.path(name, false)?) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(offset.min(len)))?;
        Ok(Some(Box::new(file)))
    }

    fn open_append(&self, name: &str, at: u64) -> io::Result<Box<dyn BlobAppend>> {
        let path = self.path(name, false)?;
        let (file, created) = match OpenOptions::new().write(true).open(&path) {
            Ok(f) => (f, false),
            Err(e) if e.kind() == io::ErrorKind::NotFound && at == 0 => {
                let dir = path.parent().unwrap_or(&self.root);
                Self::make_dirs(dir)?;
                (OpenOptions::new().write(true).create(true).truncate(true).open(&path)?, true)
            }
            Err(e) => return Err(e),
        };
        let mut file = file;
        let len = file.metadata()?.len();
        if len < at {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a blob's file is shorter than expected"));
        }
        if len > at {
            file.set_len(at)?;
        }
        file.seek(SeekFrom::Start(at))?;
        let new_in = created.then(|| path.parent().unwrap_or(&self.root).to_path_buf());
        Ok(Box::new(FileAppend { file, new_in }))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(self.path(name, false)?)?;
        if file.metadata()?.len() > len {
            file.set_len(len)?;
            file.sync_all()?;
        }
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let (from, to) = (self.path(from, false)?, self.path(to, false)?);
        let dir = to.parent().unwrap_or(&self.root).to_path_buf();
        Self::make_dirs(&dir)?;
        std::fs::rename(&from, &to)?;
        sync_dir(&dir)?;
        if let Some(f) = from.parent()
            && f != dir
        {
            sync_dir(f)?;
        }
        Ok(())
    }

    fn delete(&self, name: &str) -> io::Result<()> {
        absent_ok(std::fs::remove_file(self.path(name, false)?))
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let entries = match std::fs::read_dir(self.path(dir, true)?) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e?;
            if !e.file_type()?.is_file() {
                continue;
            }
            if let Some(n) = e.file_name().to_str().filter(|n| valid_component(n)) {
                out.push(n.to_string());
            }
        }
        out.sort();
        Ok(out)
    }
}

type Files = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

/// Blob files in memory (tests, simulations); clones share the same files. Sync is a no-op.
#[derive(Debug, Clone, Default)]
pub struct MemoryBlobStore {
    files: Files,
}

impl MemoryBlobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn lock(files: &Files) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
    // Every update is one map operation: a panic elsewhere cannot leave it half-done.
    files.lock().unwrap_or_else(|e| e.into_inner())
}

/// A file of a [`MemoryBlobStore`] being appended to.
struct MemoryAppend {
    files: Files,
    name: String,
}

impl BlobAppend for MemoryAppend {
    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        lock(&self.files).entry(self.name.clone()).or_default().extend_from_slice(data);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BlobStore for MemoryBlobStore {
    fn size(&self, name: &str) -> io::Result<Option<u64>> {
        check_name(name, false)?;
        Ok(lock(&self.files).get(name).map(|v| v.len() as u64))
    }

    fn open_read(&self, name: &str, offset: u64) -> io::Result<Option<BlobRead>> {
        check_name(name, false)?;
        let files = lock(&self.files);
        let Some(v) = files.get(name) else { return Ok(None) };
        let from = (offset.min(v.len() as u64)) as usize;
        Ok(Some(Box::new(io::Cursor::new(v[from..].to_vec()))))
    }

    fn open_append(&self, name: &str, at: u64) -> io::Result<Box<dyn BlobAppend>> {
        check_name(name, false)?;
        let mut files = lock(&self.files);
        match files.get_mut(name) {
            Some(v) if v.len() as u64 >= at => v.truncate(at as usize),
            None if at == 0 => {
                files.insert(name.to_string(), Vec::new());
            }
            _ => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a blob's file is shorter than expected")),
        }
        Ok(Box::new(MemoryAppend { files: self.files.clone(), name: name.to_string() }))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        check_name(name, false)?;
        match lock(&self.files).get_mut(name) {
            Some(v) => {
                v.truncate(len.min(v.len() as u64) as usize);
                Ok(())
            }
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such blob file")),
        }
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        check_name(from, false)?;
        check_name(to, false)?;
        let mut files = lock(&self.files);
        let v = files.remove(from).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such blob file"))?;
        files.insert(to.to_string(), v);
        Ok(())
    }

    fn delete(&self, name: &str) -> io::Result<()> {
        check_name(name, false)?;
        lock(&self.files).remove(name);
        Ok(())
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        check_name(dir, true)?;
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        Ok(lock(&self.files)
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string)
            .collect())
    }
}

/// The blob store of a [`Storage`](crate::storage::Storage) that keeps no blob files: reads find nothing,
/// writes fail with a clear error.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBlobStore;

fn unsupported() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, "this storage keeps no attachment files")
}

impl BlobStore for NoBlobStore {
    fn size(&self, _: &str) -> io::Result<Option<u64>> {
        Ok(None)
    }
    fn open_read(&self, _: &str, _: u64) -> io::Result<Option<BlobRead>> {
        Ok(None)
    }
    fn open_append(&self, _: &str, _: u64) -> io::Result<Box<dyn BlobAppend>> {
        Err(unsupported())
    }
    fn truncate(&self, _: &str, _: u64) -> io::Result<()> {
        Err(unsupported())
    }
    fn rename(&self, _: &str, _: &str) -> io::Result<()> {
        Err(unsupported())
    }
    fn delete(&self, _: &str) -> io::Result<()> {
        Ok(())
    }
    fn list(&self, _: &str) -> io::Result<Vec<String>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conformance(s: &dyn BlobStore) {
        assert_eq!(s.size("a").unwrap(), None);
        assert!(s.open_read("a", 0).unwrap().is_none());
        assert!(s.open_append("a", 5).is_err(), "absent and not at 0");
        let mut w = s.open_append("c1/a", 0).unwrap();
        w.write(b"hello ").unwrap();
        w.write(b"world").unwrap();
        w.sync().unwrap();
        drop(w);
        assert_eq!(s.size("c1/a").unwrap(), Some(11));
        let mut got = String::new();
        s.open_read("c1/a", 6).unwrap().unwrap().read_to_string(&mut got).unwrap();
        assert_eq!(got, "world");
        // Appending at 5 cuts what follows.
        let mut w = s.open_append("c1/a", 5).unwrap();
        w.write(b"!").unwrap();
        w.sync().unwrap();
        assert_eq!(s.size("c1/a").unwrap(), Some(6));
        assert!(s.open_append("c1/a", 7).is_err(), "shorter than asked");
        s.truncate("c1/a", 2).unwrap();
        assert_eq!(s.size("c1/a").unwrap(), Some(2));
        s.rename("c1/a", "c1/b").unwrap();
        assert_eq!(s.size("c1/a").unwrap(), None);
        assert_eq!(s.list("c1").unwrap(), vec!["b".to_string()]);
        assert!(s.list("").unwrap().is_empty(), "c1 is a directory, not a file");
        assert!(s.list("nope").unwrap().is_empty());
        s.delete("c1/b").unwrap();
        s.delete("c1/b").unwrap();
        assert!(s.list("c1").unwrap().is_empty());
        for bad in ["", "..", "../x", "/etc/passwd", "a/../b", "a//b", "a/b/c/d", "a.b", "a\\b"] {
            assert!(s.size(bad).is_err(), "{bad:?} accepted");
            assert!(s.open_append(bad, 0).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn files_and_memory_behave_alike() {
        let dir = tempfile::tempdir().unwrap();
        conformance(&FileBlobStore::new(dir.path().join("attachments")));
        conformance(&MemoryBlobStore::new());
    }

    #[test]
    fn no_store_refuses_writes() {
        assert!(NoBlobStore.open_append("a", 0).is_err());
        assert_eq!(NoBlobStore.size("a").unwrap(), None);
    }
}
