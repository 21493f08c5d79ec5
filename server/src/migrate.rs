//! Moving a relay from sled to PostgreSQL: `casebook-server migrate --from-sled DIR --to postgres://…`.
//!
//! [`sled_to_postgres`] copies a stopped single-node relay's whole data directory — every key/value entry
//! of its sled database (documents, accounts, devices, cases, invites, last-seen times, blob metadata) and
//! every attachment file of its [`BlobStore`] — into a PostgreSQL database, which a relay started with
//! `--database` then serves as it is.
//!
//! # Safety
//! - The sled directory is only read, never written: sled rewrites parts of its files whenever it opens a
//!   database, so the migration takes sled's lock on the directory (refused while a relay runs there:
//!   [`MigrateError::SourceInUse`]; held to the end, so no relay starts on it meanwhile), copies sled's own
//!   files (not the attachments) into the system's temporary directory (`TMPDIR`: it needs room for the
//!   database), reads the copy and removes it. The attachment files are read in place. A directory without
//!   a sled database is refused (never created), and so is one written by a newer relay.
//! - The target's migrations are applied first; then everything is written in one transaction, in batches
//!   (at most [`BATCH_ENTRIES`] entries or [`BATCH_BYTES`] bytes per statement), read back and compared
//!   with what was read from sled (counts and a SHA-256, [`Fingerprint`]) before it is committed: a failure
//!   anywhere, a mismatch included, leaves the database as it was. The transaction holds the relay's
//!   migration lock, so a relay started on the database meanwhile waits for it.
//! - A database that already holds relay data is refused ([`MigrateError::TargetNotEmpty`]) with nothing
//!   written — unless it holds exactly what the directory holds (a migration that already succeeded):
//!   then the summary says [`MigrateSummary::already_migrated`] and nothing is written either.
//!
//! # Which attachment files
//! The relay names its files `<case>/<sha256>`. A [`BlobStore`]
//! lists the files of one directory, so the directories listed are those of every case the database knows
//! (`relay/case/<case>`, `relay/blob-meta/<case>/…`), the top and `tmp` — which is every directory the relay
//! writes to. Files are copied as they are, byte for byte, including a file longer than its metadata says
//! (an upload chunk never acknowledged): the relay cuts it back at its next write, as it would have on sled.

use std::collections::BTreeSet;
use std::fs::{File, TryLockError};
use std::io::Read;
use std::path::{Path, PathBuf};

use casebook_core::blob_store::{BlobStore, FileBlobStore};
use casebook_core::storage::{SledStorage, Storage, StorageError};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::pg_storage::{CHUNK, PgLoad};

/// Most key/value entries written in one statement.
pub const BATCH_ENTRIES: usize = 1000;
/// Most bytes (values, or attachment rows) written in one statement, give or take one value.
pub const BATCH_BYTES: usize = 8 << 20;

/// Why a migration was refused or failed (beside storage and I/O errors).
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The source directory holds no sled database.
    #[error("{0}: not a relay data directory (no sled database there)")]
    NoSource(PathBuf),
    /// A process (a relay, a backup) holds the sled database.
    #[error("{0}: the data directory is in use by another process (is a relay running on it?): stop it, then migrate")]
    SourceInUse(PathBuf),
    /// The target database holds relay data other than the directory's.
    #[error(
        "the target database already holds relay data ({entries} entries, {files} attachment files) that is not \
         this data directory's: migrate into a new, empty database"
    )]
    TargetNotEmpty {
        /// Key/value entries in the target.
        entries: u64,
        /// Attachment files in the target.
        files: u64,
    },
    /// What was read back from the database is not what was read from sled (nothing was committed).
    #[error(
        "verification failed, nothing was committed: sled has {source_entries} entries and {source_files} files, \
         the database read back {target_entries} entries and {target_files} files, checksums {}",
        if source_sha256 == target_sha256 { "equal" } else { "differ" }
    )]
    Mismatch {
        /// Entries read from sled.
        source_entries: u64,
        /// Files read from sled.
        source_files: u64,
        /// Checksum of sled's side.
        source_sha256: String,
        /// Entries read back from the database.
        target_entries: u64,
        /// Files read back from the database.
        target_files: u64,
        /// Checksum of the database's side.
        target_sha256: String,
    },
}

/// What a relay's storage holds, summed up: counts, and one SHA-256 over every entry (key and value, in key
/// order) followed by every attachment file (name, length and the SHA-256 of its bytes, in name order).
/// Equal fingerprints mean equal contents, whatever the backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// Key/value entries.
    pub entries: u64,
    /// Bytes of their values.
    pub value_bytes: u64,
    /// Attachment files.
    pub files: u64,
    /// Bytes of the attachment files.
    pub file_bytes: u64,
    /// The checksum, 64 hex digits.
    pub sha256: String,
}

/// What [`sled_to_postgres`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateSummary {
    /// What both sides hold (verified equal).
    pub fingerprint: Fingerprint,
    /// Statements that wrote data (0 when already migrated).
    pub batches: u64,
    /// The database already held exactly this data: nothing was written.
    pub already_migrated: bool,
}

/// Builds a [`Fingerprint`]: entries first, in key order, then files in name order.
struct Summing {
    fp: Fingerprint,
    sha: Sha256,
}

impl Summing {
    fn new() -> Self {
        Summing { fp: Fingerprint::default(), sha: Sha256::new() }
    }

    fn entry(&mut self, key: &str, value: &[u8]) {
        self.sha.update(b"K");
        self.sha.update((key.len() as u64).to_be_bytes());
        self.sha.update(key.as_bytes());
        self.sha.update((value.len() as u64).to_be_bytes());
        self.sha.update(value);
        self.fp.entries += 1;
        self.fp.value_bytes += value.len() as u64;
    }

    fn file(&mut self, name: &str, len: u64, digest: &[u8]) {
        self.sha.update(b"F");
        self.sha.update((name.len() as u64).to_be_bytes());
        self.sha.update(name.as_bytes());
        self.sha.update(len.to_be_bytes());
        self.sha.update(digest);
        self.fp.files += 1;
        self.fp.file_bytes += len;
    }

    fn finish(mut self) -> Fingerprint {
        self.fp.sha256 = hex::encode(self.sha.finalize());
        self.fp
    }
}

/// Key/value entries waiting to be written.
struct Batch<'a> {
    load: Option<&'a PgLoad>,
    entries: Vec<(String, Vec<u8>)>,
    bytes: usize,
    written: u64,
}

impl Batch<'_> {
    fn push(&mut self, key: String, value: &[u8]) -> std::result::Result<(), StorageError> {
        let Some(load) = self.load else { return Ok(()) };
        self.bytes += key.len() + value.len();
        self.entries.push((key, value.to_vec()));
        if self.entries.len() >= BATCH_ENTRIES || self.bytes >= BATCH_BYTES {
            self.flush(load)?;
        }
        Ok(())
    }

    fn flush(&mut self, load: &PgLoad) -> std::result::Result<(), StorageError> {
        if !self.entries.is_empty() {
            load.put_entries(std::mem::take(&mut self.entries))?;
            self.bytes = 0;
            self.written += 1;
        }
        Ok(())
    }
}

/// The directory a case's files are in, from a relay key: `relay/case/<case>` or
/// `relay/blob-meta/<case>/<sha>`.
fn case_dir(flat: &str) -> Option<&str> {
    let rest = flat.strip_prefix("relay/case/").or_else(|| flat.strip_prefix("relay/blob-meta/"))?;
    rest.split('/').next().filter(|c| !c.is_empty())
}

/// Read everything of `src` (entries in key order, then files), summing it up; with `load`, write it
/// there too. Returns the fingerprint and the number of statements written.
fn read_source(src: &Source, load: Option<&PgLoad>) -> Result<(Fingerprint, u64)> {
    let mut sum = Summing::new();
    let mut batch = Batch { load, entries: Vec::new(), bytes: 0, written: 0 };
    let mut dirs: BTreeSet<String> = ["".to_string(), "tmp".to_string()].into();
    src.db.scan(&mut |k, v| {
        let flat = k.to_string();
        sum.entry(&flat, v);
        if let Some(dir) = case_dir(&flat) {
            dirs.insert(dir.to_string());
        }
        batch.push(flat, v)
    })?;
    if let Some(load) = load {
        batch.flush(load)?;
    }
    let mut written = batch.written;

    let blobs = &src.blobs;
    let mut names = Vec::new();
    for dir in &dirs {
        let listed = match blobs.list(dir) {
            Ok(l) => l,
            // An id that cannot be a directory of the store holds no file.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => continue,
            Err(e) => return Err(e.into()),
        };
        names.extend(listed.into_iter().map(|n| if dir.is_empty() { n } else { format!("{dir}/{n}") }));
    }
    names.sort();
    let mut rows: Vec<(String, u64, Vec<u8>)> = Vec::new();
    let mut files: Vec<(String, u64)> = Vec::new();
    let mut pending = 0usize;
    for name in names {
        let Some(mut reader) = blobs.open_read(&name, 0)? else {
            return Err(Error::Internal("an attachment file went away while it was copied".into()));
        };
        let mut file_sha = Sha256::new();
        let mut len = 0u64;
        loop {
            let mut row = vec![0u8; CHUNK];
            let mut filled = 0;
            while filled < CHUNK {
                let n = reader.read(&mut row[filled..])?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            row.truncate(filled);
            file_sha.update(&row);
            if load.is_some() {
                pending += row.len();
                rows.push((name.clone(), len, row));
            }
            len += filled as u64;
            if let Some(load) = load
                && pending >= BATCH_BYTES
            {
                load.put_blob_rows(std::mem::take(&mut rows), std::mem::take(&mut files))?;
                pending = 0;
                written += 1;
            }
            if filled < CHUNK {
                break;
            }
        }
        sum.file(&name, len, &file_sha.finalize());
        files.push((name, len));
    }
    if let Some(load) = load
        && (!rows.is_empty() || !files.is_empty())
    {
        load.put_blob_rows(rows, files)?;
        written += 1;
    }
    Ok((sum.finish(), written))
}

/// Read everything the database holds (as the load's transaction sees it), summing it up.
fn read_target(load: &PgLoad) -> Result<Fingerprint> {
    const PAGE: i64 = 512;
    let mut sum = Summing::new();
    let mut after = None;
    loop {
        let page = load.entries_after(after.take(), PAGE)?;
        for (k, v) in &page {
            sum.entry(k, v);
        }
        match page.last() {
            Some((k, _)) if page.len() as i64 == PAGE => after = Some(k.clone()),
            _ => break,
        }
    }
    for (name, len) in load.blob_files()? {
        let mut file_sha = Sha256::new();
        let mut at = 0u64;
        loop {
            let rows = load.blob_rows_from(&name, at, 16)?;
            if rows.is_empty() {
                break;
            }
            for (off, data) in rows {
                if off != at {
                    return Err(Error::Internal("an attachment file read back has a gap".into()));
                }
                file_sha.update(&data);
                at += data.len() as u64;
            }
        }
        if at != len {
            return Err(Error::Internal("an attachment file read back is not its recorded length".into()));
        }
        sum.file(&name, len, &file_sha.finalize());
    }
    Ok(sum.finish())
}

/// The directory of attachment files in a sled relay's data directory (`<data dir>/attachments/`, see
/// the README's *Data*).
const ATTACHMENTS_DIR: &str = "attachments";

/// A stopped relay's sled data directory, opened for reading only.
struct Source {
    /// A copy of sled's own files (sled writes to its files when it opens or closes a database, even
    /// without a put), removed when this goes.
    db: SledStorage,
    copy: PathBuf,
    /// The attachment files, read in place.
    blobs: FileBlobStore,
    /// sled's lock on the original, held throughout: no relay can start on it meanwhile.
    _lock: File,
}

impl Drop for Source {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.copy);
    }
}

/// Copy the regular files and directories under `from` to `to` (created), but `skip` at the top.
fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let name = e.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let kind = e.file_type()?;
        if kind.is_dir() {
            copy_tree(&e.path(), &to.join(&name), &[])?;
        } else if kind.is_file() {
            std::fs::copy(e.path(), to.join(&name))?;
        }
    }
    Ok(())
}

/// Open the sled directory of a stopped relay, for reading: take sled's lock on it (refused while a relay
/// runs there), copy sled's files into the system's temporary directory and open the copy.
fn open_source(dir: &Path) -> Result<Source> {
    if !SledStorage::exists(dir) {
        return Err(MigrateError::NoSource(dir.to_path_buf()).into());
    }
    // The lock sled takes when it opens a database (an exclusive `flock` of its `db` file).
    let lock = File::open(dir.join("db"))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(MigrateError::SourceInUse(dir.to_path_buf()).into()),
        Err(TryLockError::Error(e)) => return Err(e.into()),
    }
    let copy = std::env::temp_dir().join(format!("casebook-migrate-{}", uuid::Uuid::new_v4().simple()));
    let opened = copy_tree(dir, &copy, &[ATTACHMENTS_DIR, crate::backup::ADMIN_SOCKET])
        .map_err(Error::from)
        .and_then(|()| Ok(SledStorage::open(&copy)?));
    let db = match opened {
        Ok(db) => db,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&copy);
            return Err(e);
        }
    };
    let src = Source { db, copy, blobs: FileBlobStore::new(dir.join(ATTACHMENTS_DIR)), _lock: lock };
    crate::health::refuse_newer_format(&src.db)?;
    Ok(src)
}

/// Copy the stopped relay's sled data directory `sled_dir` into the PostgreSQL database at `url` (see the
/// [module documentation](self)): migrations first, then every entry and attachment file in one
/// transaction, verified before it is committed. Blocking: call it from a blocking thread.
pub fn sled_to_postgres(sled_dir: &Path, url: &str) -> Result<MigrateSummary> {
    let src = open_source(sled_dir)?;
    let load = PgLoad::begin(url)?;
    let held = load.held()?;
    if held.entries > 0 || held.files > 0 {
        let (source, _) = read_source(&src, None)?;
        let target = read_target(&load)?;
        drop(load);
        if source == target {
            return Ok(MigrateSummary { fingerprint: source, batches: 0, already_migrated: true });
        }
        return Err(MigrateError::TargetNotEmpty { entries: held.entries, files: held.files }.into());
    }
    let (source, batches) = read_source(&src, Some(&load))?;
    let target = read_target(&load)?;
    if source != target {
        return Err(MigrateError::Mismatch {
            source_entries: source.entries,
            source_files: source.files,
            source_sha256: source.sha256,
            target_entries: target.entries,
            target_files: target.files,
            target_sha256: target.sha256,
        }
        .into());
    }
    load.commit()?;
    Ok(MigrateSummary { fingerprint: source, batches, already_migrated: false })
}

/// The [`Fingerprint`] of a stopped relay's sled data directory (read only), e.g. to compare with a
/// database after a migration.
pub fn fingerprint_sled(sled_dir: &Path) -> Result<Fingerprint> {
    Ok(read_source(&open_source(sled_dir)?, None)?.0)
}

/// The [`Fingerprint`] of the relay data in the PostgreSQL database at `url` (migrations applied first).
pub fn fingerprint_postgres(url: &str) -> Result<Fingerprint> {
    read_target(&PgLoad::begin(url)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_directories_come_from_case_and_blob_keys() {
        assert_eq!(case_dir("relay/case/abc"), Some("abc"));
        assert_eq!(case_dir("relay/blob-meta/abc/0123"), Some("abc"));
        assert_eq!(case_dir("relay/account/abc"), None);
        assert_eq!(case_dir("doc/incremental/x"), None);
    }

    #[test]
    fn fingerprints_tell_contents_apart() {
        let fp = |entries: &[(&str, &[u8])], files: &[(&str, u64, &[u8])]| {
            let mut s = Summing::new();
            for (k, v) in entries {
                s.entry(k, v);
            }
            for (n, l, d) in files {
                s.file(n, *l, d);
            }
            s.finish()
        };
        let a = fp(&[("a/b", b"xy")], &[("c/s", 2, b"d1")]);
        assert_eq!(a, fp(&[("a/b", b"xy")], &[("c/s", 2, b"d1")]));
        assert_eq!((a.entries, a.value_bytes, a.files, a.file_bytes), (1, 2, 1, 2));
        assert_ne!(a, fp(&[("a/b", b"xz")], &[("c/s", 2, b"d1")]), "a value");
        assert_ne!(a.sha256, fp(&[("a/bx", b"y")], &[("c/s", 2, b"d1")]).sha256, "where a key ends");
        assert_ne!(a, fp(&[("a/b", b"xy")], &[("c/s", 2, b"d2")]), "a file's bytes");
        assert_ne!(a, fp(&[("a/b", b"xy")], &[("c/t", 2, b"d1")]), "a file's name");
    }
}
