//! Backups of a relay's data directory, online: `casebook-server backup --data-dir DIR --out FILE` while
//! the relay serves, `casebook-server restore --from FILE --data-dir NEW` into a new directory.
//!
//! # How a running relay is reached
//! The relay listens on a Unix socket in its data directory, `admin.sock` (mode 0600: only the relay's own
//! user, or root, can connect; nothing of it is on the network). `backup` connects, sends `backup\n`, and
//! receives the backup as a stream. When no relay runs (no socket, or nobody listening), `backup` opens the
//! directory itself.
//!
//! # What is copied, and when
//! While the database is copied, the relay's writes wait ([`Detachable::pause_writes`]); reads, and so
//! syncs that only read, go on. The copy is therefore one instant of the database: a document compaction
//! (new snapshot written, old chunks deleted) is either wholly before it or wholly after it. Attachment
//! files are copied after the writes resume, each up to the length its metadata had at that instant (the
//! relay only appends to a file before it records the new length); a file deleted in between (a blob
//! collected) is left out, and the restored relay starts that blob over if a client still sends it.
//!
//! # Format
//! `CASEBOOK-RELAY-BACKUP\n`, a format version (u32, big endian), then records: `K` key (u32 length + flat
//! key) value (u64 length + bytes); `F` attachment file name (u32 + bytes) and contents (u64 + bytes); and
//! last `E`, the number of records (u64) and the SHA-256 of every byte before it. Lengths are checked
//! before anything is allocated; a restore writes into a new directory and deletes it unless the whole
//! file, checksum included, was read.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use casebook_core::storage::{SledStorage, Storage, StorageError, key};
use sha2::{Digest, Sha256};

use crate::detachable::Detachable;
use crate::error::{Error, Result};

/// The admin socket's file name in the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";
const MAGIC: &[u8] = b"CASEBOOK-RELAY-BACKUP\n";
const VERSION: u32 = 1;
/// Longest key accepted in a backup (keys are short: ids and hashes).
const MAX_KEY: u32 = 4096;
/// Largest value accepted in a backup (a document chunk is at most a sync message, 64 MiB by default).
const MAX_VALUE: u64 = 1 << 30;
/// Largest attachment file accepted in a backup.
const MAX_FILE: u64 = 1 << 40;

/// What a backup holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackupSummary {
    /// Database entries.
    pub entries: u64,
    /// Attachment files.
    pub files: u64,
    /// Attachment files left out (deleted, or shorter than recorded, while the backup ran).
    pub files_skipped: u64,
    /// Bytes of the backup.
    pub bytes: u64,
}

/// Counts and hashes what goes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(b)?;
        self.hash.update(&b[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Write a backup of `db` to `out`; with `live`, the relay's writes wait while the entries are copied.
fn write_backup(db: &dyn Storage, live: Option<&Detachable>, out: impl Write) -> Result<BackupSummary> {
    let mut w = Hashing { inner: BufWriter::with_capacity(256 << 10, out), hash: Sha256::new(), bytes: 0 };
    let mut sum = BackupSummary::default();
    w.write_all(MAGIC)?;
    w.write_all(&VERSION.to_be_bytes())?;
    // Attachment files to copy afterwards: (file name, length recorded at the instant of the copy).
    let mut files: Vec<(String, u64)> = Vec::new();
    {
        let _paused = live.map(|d| d.pause_writes());
        db.scan(&mut |k, v| {
            let flat = k.to_string();
            let io = |r: io::Result<()>| r.map_err(|e| StorageError::Io(e.to_string()));
            io(w.write_all(b"K"))?;
            io(w.write_all(&(flat.len() as u32).to_be_bytes()))?;
            io(w.write_all(flat.as_bytes()))?;
            io(w.write_all(&(v.len() as u64).to_be_bytes()))?;
            io(w.write_all(v))?;
            sum.entries += 1;
            if let Some(name) = flat.strip_prefix("relay/blob-meta/") {
                let received = serde_json::from_slice::<serde_json::Value>(v)
                    .ok()
                    .and_then(|m| m.get("received").and_then(|r| r.as_u64()))
                    .unwrap_or(0);
                files.push((name.to_string(), received));
            }
            Ok(())
        })
        .map_err(|e| Error::Internal(format!("reading the database: {e}")))?;
    }
    let blobs = db.blobs();
    let mut buf = vec![0u8; 128 << 10];
    for (name, len) in files {
        let reader = match blobs.size(&name) {
            Ok(Some(size)) if size >= len => blobs.open_read(&name, 0)?,
            _ => None,
        };
        let Some(mut reader) = reader else {
            sum.files_skipped += 1;
            continue;
        };
        w.write_all(b"F")?;
        w.write_all(&(name.len() as u32).to_be_bytes())?;
        w.write_all(name.as_bytes())?;
        w.write_all(&len.to_be_bytes())?;
        let mut left = len;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = reader.read(&mut buf[..want])?;
            if n == 0 {
                // The file was cut while being copied: the backup cannot hold it consistently.
                return Err(Error::Internal(
                    "an attachment file shrank while it was copied; run the backup again".into(),
                ));
            }
            w.write_all(&buf[..n])?;
            left -= n as u64;
        }
        sum.files += 1;
    }
    w.write_all(b"E")?;
    w.write_all(&(sum.entries + sum.files).to_be_bytes())?;
    let digest = w.hash.clone().finalize();
    w.inner.write_all(&digest)?;
    w.inner.flush()?;
    sum.bytes = w.bytes + digest.len() as u64;
    Ok(sum)
}

/// Back up the running relay's `database` into `out` (the admin socket's `backup` command).
pub(crate) fn backup_live(database: &Detachable, out: impl Write) -> Result<BackupSummary> {
    write_backup(database, Some(database), out)
}

/// Back up the relay whose data directory is `data_dir` into file `out`: through its admin socket when it
/// runs, from the directory itself when it does not. The file is written beside `out` and renamed when
/// complete and verified.
pub fn backup(data_dir: &Path, out: &Path) -> Result<BackupSummary> {
    let partial = partial_path(out);
    let result = (|| -> Result<BackupSummary> {
        let mut file = std::fs::File::create(&partial)?;
        let mut sum = match connect(data_dir)? {
            Some(mut sock) => {
                sock.write_all(b"backup\n")?;
                io::copy(&mut sock, &mut BufWriter::new(&mut file))?;
                BackupSummary::default()
            }
            None => {
                let db = SledStorage::open(data_dir).map_err(|e| match e {
                    StorageError::Locked(_) => Error::Config(format!(
                        "{}: a relay holds this data directory but its admin socket does not answer",
                        data_dir.display()
                    )),
                    e => e.into(),
                })?;
                write_backup(&db, None, BufWriter::new(&mut file))?
            }
        };
        file.sync_all()?;
        drop(file);
        // Whatever the source, read the file back: a backup that does not verify is not a backup.
        let checked = verify(&partial)?;
        sum.entries = checked.entries;
        sum.files = checked.files;
        sum.bytes = checked.bytes;
        std::fs::rename(&partial, out)?;
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(sum)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn partial_path(out: &Path) -> PathBuf {
    let mut p = out.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

#[cfg(unix)]
fn connect(data_dir: &Path) -> Result<Option<std::os::unix::net::UnixStream>> {
    match std::os::unix::net::UnixStream::connect(data_dir.join(ADMIN_SOCKET)) {
        Ok(s) => Ok(Some(s)),
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(unix))]
fn connect(_data_dir: &Path) -> Result<Option<std::fs::File>> {
    Ok(None)
}

/// Where a record goes while a backup is read.
trait Sink {
    fn entry(&mut self, key: &str, value: &[u8]) -> Result<()>;
    fn file(&mut self, name: &str, len: u64, from: &mut dyn Read) -> Result<()>;
}

fn bad(what: &str) -> Error {
    Error::Config(format!("not a complete Casebook relay backup: {what}"))
}

/// Read a backup from `input`, handing its records to `sink`; checks every length and the checksum.
fn read_backup(input: impl Read, sink: &mut dyn Sink) -> Result<BackupSummary> {
    struct Hashed<R> {
        inner: R,
        hash: Sha256,
        bytes: u64,
    }
    impl<R: Read> Read for Hashed<R> {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(b)?;
            self.hash.update(&b[..n]);
            self.bytes += n as u64;
            Ok(n)
        }
    }
    let mut r = Hashed { inner: BufReader::with_capacity(256 << 10, input), hash: Sha256::new(), bytes: 0 };
    let eof = |e: io::Error| if e.kind() == io::ErrorKind::UnexpectedEof { bad("it ends early") } else { e.into() };
    let mut magic = [0u8; MAGIC.len()];
    r.read_exact(&mut magic).map_err(eof)?;
    if magic != MAGIC {
        return Err(bad("it does not start like one"));
    }
    let mut u32b = [0u8; 4];
    let mut u64b = [0u8; 8];
    r.read_exact(&mut u32b).map_err(eof)?;
    if u32::from_be_bytes(u32b) != VERSION {
        return Err(bad("written by another version of the relay"));
    }
    let mut sum = BackupSummary::default();
    loop {
        let mut kind = [0u8; 1];
        r.read_exact(&mut kind).map_err(eof)?;
        match kind[0] {
            b'K' | b'F' => {
                r.read_exact(&mut u32b).map_err(eof)?;
                let klen = u32::from_be_bytes(u32b);
                if klen == 0 || klen > MAX_KEY {
                    return Err(bad("a name of impossible length"));
                }
                let mut name = vec![0u8; klen as usize];
                r.read_exact(&mut name).map_err(eof)?;
                let name = String::from_utf8(name).map_err(|_| bad("a name that is not text"))?;
                r.read_exact(&mut u64b).map_err(eof)?;
                let len = u64::from_be_bytes(u64b);
                if kind[0] == b'K' {
                    if len > MAX_VALUE {
                        return Err(bad("a value of impossible length"));
                    }
                    let mut value = vec![0u8; len as usize];
                    r.read_exact(&mut value).map_err(eof)?;
                    sink.entry(&name, &value)?;
                    sum.entries += 1;
                } else {
                    if len > MAX_FILE {
                        return Err(bad("a file of impossible length"));
                    }
                    let mut take = (&mut r).take(len);
                    sink.file(&name, len, &mut take)?;
                    if take.limit() != 0 {
                        return Err(bad("it ends early"));
                    }
                    sum.files += 1;
                }
            }
            b'E' => {
                r.read_exact(&mut u64b).map_err(eof)?;
                let expected = r.hash.clone().finalize();
                let mut digest = [0u8; 32];
                r.inner.read_exact(&mut digest).map_err(eof)?;
                if u64::from_be_bytes(u64b) != sum.entries + sum.files || digest[..] != expected[..] {
                    return Err(bad("its checksum does not match (damaged)"));
                }
                if r.inner.read(&mut [0u8; 1])? != 0 {
                    return Err(bad("bytes after its end"));
                }
                sum.bytes = r.bytes + 32;
                return Ok(sum);
            }
            _ => return Err(bad("an unknown record")),
        }
    }
}

/// Check a backup file end to end (lengths, checksum) without restoring it.
pub fn verify(file: &Path) -> Result<BackupSummary> {
    struct Discard;
    impl Sink for Discard {
        fn entry(&mut self, _: &str, _: &[u8]) -> Result<()> {
            Ok(())
        }
        fn file(&mut self, _: &str, _: u64, from: &mut dyn Read) -> Result<()> {
            io::copy(from, &mut io::sink())?;
            Ok(())
        }
    }
    read_backup(std::fs::File::open(file)?, &mut Discard)
}

/// Restore backup `from` into `data_dir`, which must not exist or be empty. On any error (damaged or
/// truncated backup, disk full) the directory is removed again: a restore is whole or nothing.
pub fn restore(from: &Path, data_dir: &Path) -> Result<BackupSummary> {
    if data_dir.exists() && std::fs::read_dir(data_dir)?.next().is_some() {
        return Err(Error::Config(format!("{}: restore into a new or empty directory", data_dir.display())));
    }
    struct Into {
        db: SledStorage,
    }
    impl Sink for Into {
        fn entry(&mut self, k: &str, value: &[u8]) -> Result<()> {
            let k = key(k.split('/')).map_err(|_| bad("an invalid key"))?;
            Ok(self.db.put(&k, value)?)
        }
        fn file(&mut self, name: &str, _len: u64, from: &mut dyn Read) -> Result<()> {
            let mut out = self.db.blobs().open_append(name, 0).map_err(|_| bad("an invalid attachment file name"))?;
            let mut buf = vec![0u8; 128 << 10];
            loop {
                let n = from.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                out.write(&buf[..n])?;
            }
            out.sync()?;
            Ok(())
        }
    }
    let result = (|| -> Result<BackupSummary> {
        std::fs::create_dir_all(data_dir)?;
        let mut sink = Into { db: SledStorage::open(data_dir)? };
        let sum = read_backup(std::fs::File::open(from)?, &mut sink)?;
        sink.db.flush()?;
        Ok(sum)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(data_dir);
    }
    result
}

/// Serve the admin socket in `data_dir` until the task is aborted: `backup` streams a backup of
/// `database`. Returns `None` (and logs) when the socket cannot be created (a path too long for a Unix
/// socket, say): the relay serves without it, and backups need it stopped.
#[cfg(unix)]
pub(crate) fn serve_admin(data_dir: &Path, database: Arc<Detachable>) -> Option<tokio::task::JoinHandle<()>> {
    use std::os::unix::fs::PermissionsExt;
    let path = data_dir.join(ADMIN_SOCKET);
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "no admin socket: online backups are not available");
            return None;
        }
    };
    if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
        tracing::warn!(error = %e, "admin socket: cannot restrict its permissions; closing it");
        let _ = std::fs::remove_file(&path);
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let database = database.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncBufReadExt, AsyncReadExt};
                let mut reader = tokio::io::BufReader::new(stream);
                let mut line = String::new();
                let read = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    (&mut reader).take(64).read_line(&mut line),
                )
                .await;
                if !matches!(read, Ok(Ok(_))) || line.trim() != "backup" {
                    return;
                }
                let Ok(stream) = reader.into_inner().into_std() else { return };
                let _ = stream.set_nonblocking(false);
                // The relay's writes wait while the database is copied: a reader that stops reading must
                // not hold them for longer than this.
                let _ = stream.set_write_timeout(Some(std::time::Duration::from_secs(30)));
                let started = std::time::Instant::now();
                let done = tokio::task::spawn_blocking(move || backup_live(&database, stream)).await;
                match done {
                    Ok(Ok(sum)) => tracing::info!(
                        entries = sum.entries,
                        files = sum.files,
                        files_skipped = sum.files_skipped,
                        bytes = sum.bytes,
                        ms = started.elapsed().as_millis() as u64,
                        "online backup sent"
                    ),
                    Ok(Err(e)) => tracing::warn!(error = %e, "online backup failed"),
                    Err(e) => tracing::warn!(error = %e, "online backup task failed"),
                }
            });
        }
    }))
}

/// Without Unix sockets there is no admin socket: back up a stopped relay.
#[cfg(not(unix))]
pub(crate) fn serve_admin(_data_dir: &Path, _database: Arc<Detachable>) -> Option<tokio::task::JoinHandle<()>> {
    None
}

/// Remove the admin socket (at shutdown).
pub(crate) fn remove_admin_socket(data_dir: &Path) {
    let _ = std::fs::remove_file(data_dir.join(ADMIN_SOCKET));
}

#[cfg(test)]
mod tests {
    use super::*;
    use casebook_core::storage::MemoryStorage;

    fn sample() -> MemoryStorage {
        let s = MemoryStorage::new();
        s.put(&key(["relay", "account", "a1"]).unwrap(), b"{\"name\":\"x\"}").unwrap();
        s.put(&key(["doc1", "incremental", "h1"]).unwrap(), &[0u8, 1, 2, 255]).unwrap();
        s.put(&key(["relay", "blob-meta", "c1", "s1"]).unwrap(), br#"{"size":10,"received":6,"complete":false}"#)
            .unwrap();
        s.put(&key(["relay", "blob-meta", "c1", "s2"]).unwrap(), br#"{"size":3,"received":3,"complete":true}"#)
            .unwrap();
        let mut f = s.blobs().open_append("c1/s1", 0).unwrap();
        f.write(b"abcdefgh").unwrap(); // longer than recorded: only 6 bytes are copied
        f.sync().unwrap();
        s
    }

    struct Collect(Vec<(String, Vec<u8>)>, Vec<(String, Vec<u8>)>);
    impl Sink for Collect {
        fn entry(&mut self, k: &str, v: &[u8]) -> Result<()> {
            self.0.push((k.to_string(), v.to_vec()));
            Ok(())
        }
        fn file(&mut self, n: &str, _: u64, from: &mut dyn Read) -> Result<()> {
            let mut b = Vec::new();
            from.read_to_end(&mut b)?;
            self.1.push((n.to_string(), b));
            Ok(())
        }
    }

    #[test]
    fn round_trip_and_damage_is_refused() {
        let s = sample();
        let mut out = Vec::new();
        let sum = write_backup(&s, None, &mut out).unwrap();
        assert_eq!((sum.entries, sum.files, sum.files_skipped), (4, 1, 1), "s2 has no file");
        assert_eq!(sum.bytes, out.len() as u64);
        let mut got = Collect(Vec::new(), Vec::new());
        let read = read_backup(&out[..], &mut got).unwrap();
        assert_eq!((read.entries, read.files, read.bytes), (4, 1, out.len() as u64));
        assert_eq!(got.0.iter().find(|(k, _)| k == "doc1/incremental/h1").unwrap().1, vec![0u8, 1, 2, 255]);
        assert_eq!(got.1, vec![("c1/s1".to_string(), b"abcdef".to_vec())]);

        // Every truncation and a flipped byte anywhere are refused.
        for cut in [0, 5, MAGIC.len() + 4, out.len() / 2, out.len() - 1] {
            let e = read_backup(&out[..cut], &mut Collect(Vec::new(), Vec::new())).unwrap_err();
            assert!(e.to_string().contains("not a complete Casebook relay backup"), "{cut}: {e}");
        }
        for at in [MAGIC.len() + 6, out.len() / 2, out.len() - 40, out.len() - 1] {
            let mut bad = out.clone();
            bad[at] ^= 0x40;
            assert!(read_backup(&bad[..], &mut Collect(Vec::new(), Vec::new())).is_err(), "flip at {at}");
        }
        let mut longer = out.clone();
        longer.push(0);
        assert!(read_backup(&longer[..], &mut Collect(Vec::new(), Vec::new())).is_err());
        // A huge declared length is refused before anything is allocated.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&VERSION.to_be_bytes());
        huge.push(b'K');
        huge.extend_from_slice(&3u32.to_be_bytes());
        huge.extend_from_slice(b"a/b");
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        let e = read_backup(&huge[..], &mut Collect(Vec::new(), Vec::new())).unwrap_err();
        assert!(e.to_string().contains("impossible length"), "{e}");
    }

    #[test]
    fn restore_is_whole_or_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let s = sample();
        let file = tmp.path().join("b.bin");
        write_backup(&s, None, std::fs::File::create(&file).unwrap()).unwrap();
        let target = tmp.path().join("restored");
        let sum = restore(&file, &target).unwrap();
        assert_eq!((sum.entries, sum.files), (4, 1));
        {
            let db = SledStorage::open(&target).unwrap();
            assert_eq!(db.load(&key(["doc1", "incremental", "h1"]).unwrap()).unwrap().unwrap(), vec![0u8, 1, 2, 255]);
            assert_eq!(db.blobs().size("c1/s1").unwrap(), Some(6));
        }
        // Not into a directory that holds something.
        assert!(restore(&file, &target).unwrap_err().to_string().contains("new or empty"));
        // A damaged backup leaves no directory behind.
        let mut bytes = std::fs::read(&file).unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 1;
        std::fs::write(&file, &bytes).unwrap();
        let other = tmp.path().join("other");
        assert!(restore(&file, &other).is_err());
        assert!(!other.exists());
    }
}
