//! The on-disk [`Storage`]: sled. This is the only module in the workspace that names sled.
//!
//! Keys are stored as their flat `a/b/c` form in the default tree. sled buffers writes and loses up to
//! about half a second of them on a crash unless flushed, so callers flush before reporting a save.
//!
//! Attachment bytes are files in `<directory>/attachments/` ([`Storage::blobs`], a
//! [`FileBlobStore`]), never sled values; sled itself tolerates the extra directory (it reads only `conf`,
//! `db`, `snap.*` and its own `blobs/`, which is why the attachments are not there).

use std::path::Path;

use std::sync::Arc;

use super::{Storage, StorageError, StorageKey, flat, unflat};
use crate::blob_store::{BlobStore, FileBlobStore};

/// The directory of attachment files inside the sled directory.
const ATTACHMENTS_DIR: &str = "attachments";

/// A [`Storage`] in a sled database directory, attachment files in its `attachments/` subdirectory.
/// Clones share the same database.
#[derive(Clone)]
pub struct SledStorage {
    db: sled::Db,
    blobs: Arc<FileBlobStore>,
}

fn io(e: sled::Error) -> StorageError {
    match e {
        sled::Error::Io(e) => StorageError::Io(e.to_string()),
        sled::Error::Corruption { .. } => StorageError::Corrupt("sled reported corruption".into()),
        other => StorageError::Io(other.to_string()),
    }
}

/// How long [`SledStorage::open`] waits for a lock that a handle closed a moment ago may still hold.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl SledStorage {
    /// Open (or create) the database in directory `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        // A database this process closed a moment ago may still be locked: sled lets go of its file lock
        // when its background flusher has ended, after the last handle is dropped. A lock held that long is
        // someone else's (another process, or a handle still open here).
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match Self::open_once(path) {
                Err(StorageError::Locked(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path) -> Result<Self, StorageError> {
        let db = sled::Config::new().path(path).mode(sled::Mode::LowSpace).open().map_err(|e| match e {
            sled::Error::Io(e) if e.to_string().contains("could not acquire lock") => {
                StorageError::Locked(format!("{}", path.display()))
            }
            sled::Error::Io(e) => StorageError::Io(format!("cannot open store at {}: {e}", path.display())),
            other => StorageError::Corrupt(format!("cannot open store at {}: {other}", path.display())),
        })?;
        Ok(Self { db, blobs: Arc::new(FileBlobStore::new(path.join(ATTACHMENTS_DIR))) })
    }

    /// Whether directory `path` holds a sled database (without creating one).
    pub fn exists(path: &Path) -> bool {
        path.join("conf").is_file() && path.join("db").exists()
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        self.db.size_on_disk().map_err(io)
    }
}

impl Storage for SledStorage {
    fn load(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get(flat(key)).map_err(io)?.map(|v| v.to_vec()))
    }

    fn load_range(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        let exact = flat(prefix);
        let mut out = Vec::new();
        if let Some(v) = self.db.get(&exact).map_err(io)? {
            out.push((prefix.clone(), v.to_vec()));
        }
        for entry in self.db.scan_prefix(format!("{exact}/")) {
            let (k, v) = entry.map_err(io)?;
            let k = std::str::from_utf8(&k).map_err(|_| StorageError::InvalidKey)?;
            out.push((unflat(k)?, v.to_vec()));
        }
        Ok(out)
    }

    fn keys(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError> {
        let exact = flat(prefix);
        let mut out = Vec::new();
        if self.db.contains_key(&exact).map_err(io)? {
            out.push(prefix.clone());
        }
        for k in self.db.scan_prefix(format!("{exact}/")).keys() {
            let k = k.map_err(io)?;
            let k = std::str::from_utf8(&k).map_err(|_| StorageError::InvalidKey)?;
            out.push(unflat(k)?);
        }
        Ok(out)
    }

    fn put(&self, key: &StorageKey, data: &[u8]) -> Result<(), StorageError> {
        self.db.insert(flat(key), data).map_err(io)?;
        Ok(())
    }

    fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        self.db.remove(flat(key)).map_err(io)?;
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.db.flush().map_err(io)?;
        Ok(())
    }

    fn blobs(&self) -> Arc<dyn BlobStore> {
        self.blobs.clone()
    }

    fn compare_and_swap(
        &self,
        key: &StorageKey,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        match self.db.compare_and_swap(flat(key), expected, new).map_err(io)? {
            Ok(()) => {
                self.db.flush().map_err(io)?;
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }

    fn scan(&self, visit: &mut super::ScanVisitor<'_>) -> Result<(), StorageError> {
        for entry in self.db.iter() {
            let (k, v) = entry.map_err(io)?;
            let k = std::str::from_utf8(&k).map_err(|_| StorageError::InvalidKey)?;
            visit(&unflat(k)?, &v)?;
        }
        Ok(())
    }
}
