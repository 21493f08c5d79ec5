//! [`PgStorage`]: the relay's [`Storage`] in PostgreSQL (`--database postgres://…`), for operators who
//! keep their data in a database server they already back up and replicate. sled stays the default.
//!
//! # Tables (migration 1)
//! - `casebook_kv (key text collate "C" primary key, value bytea)`: every key of the core's storage
//!   interface in its flat `a/b/c` form (samod's document chunks `<doc>/incremental/<hash>`,
//!   `<doc>/snapshot/<hash>`, and the relay's records `relay/…`). The "C" collation orders keys bytewise,
//!   so a prefix scan is a range: `key = p or (key >= 'p/' and key < 'p0')` (`0` follows `/`).
//! - `casebook_blob_file (name text collate "C" primary key, len bigint)` and
//!   `casebook_blob_chunk (name, off bigint, data bytea, primary key (name, off))`: attachment files as
//!   rows of at most 256 KiB, so a file is never one value nor whole in memory.
//! - `casebook_schema (version integer)`: the migrations applied. Migrations run at start (and by
//!   `casebook-server migrate`) in one transaction under an advisory lock, so nodes starting together
//!   apply each once.
//!
//! # Durability and threads
//! Every write is its own transaction (PostgreSQL's default `synchronous_commit = on`): when `put`
//! returns, the row is committed, so [`Storage::flush`] has nothing left to do. The storage interface is
//! synchronous and is called from the relay's async tasks; the `postgres` client runs its own runtime and
//! must not be driven from inside another, so each connection lives on a thread of its own and callers
//! hand it their query and wait for the answer ([`Pool`]). A lost connection is re-opened on the next
//! query.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, Sender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use casebook_core::blob_store::{BlobAppend, BlobRead, BlobStore};
use casebook_core::storage::{Storage, StorageError, StorageKey, Write, key};

/// Connections (and threads) of a [`PgStorage`].
const CONNECTIONS: usize = 4;
/// Largest row of an attachment file.
pub(crate) const CHUNK: usize = 256 << 10;
/// The newest migration this binary knows.
pub(crate) const SCHEMA_VERSION: i32 = 1;
/// Advisory lock key of the migrations (any constant shared by every node).
const MIGRATION_LOCK: i64 = 0x4341_5345_424f_4f4b; // "CASEBOOK"

const MIGRATION_1: &str = r#"
create table if not exists casebook_kv (
    key text collate "C" primary key,
    value bytea not null
);
create table if not exists casebook_blob_file (
    name text collate "C" primary key,
    len bigint not null
);
create table if not exists casebook_blob_chunk (
    name text collate "C" not null,
    off bigint not null,
    data bytea not null,
    primary key (name, off)
);
"#;

type Job = Box<dyn FnOnce(&mut postgres::Client) + Send>;

/// Threads that each own a connection, taking queries from one queue.
struct Pool {
    jobs: Mutex<Sender<Job>>,
}

fn pg_err(e: postgres::Error) -> StorageError {
    // The server's message names the statement's problem (a timeout, a lost connection), never the values
    // bound to it; the client's own text for a server error is only "db error".
    match e.as_db_error() {
        Some(db) => StorageError::Io(format!("PostgreSQL: {} ({})", db.message(), db.code().code())),
        None => StorageError::Io(format!("PostgreSQL: {e}")),
    }
}

/// Longest a statement of the serving relay may run, and longest an unanswered write may wait on a silent
/// network, before it fails: a database that stops answering fails requests (and is retried by samod and
/// the phones) instead of holding the relay's directory and connections for ever.
const STATEMENT_DEADLINE: Duration = Duration::from_secs(10);

/// A connection; `serving`: with [`STATEMENT_DEADLINE`] (a bulk load by `migrate` has none).
fn connect(url: &str, serving: bool) -> Result<postgres::Client, StorageError> {
    let mut config: postgres::Config =
        url.parse().map_err(|e| StorageError::Io(format!("not a PostgreSQL URL: {e}")))?;
    config.connect_timeout(Duration::from_secs(5));
    config.application_name("casebook-server");
    if serving {
        let ms = STATEMENT_DEADLINE.as_millis();
        // Before what the URL asks for: an operator's own `options` come later and win.
        let options = format!("-c statement_timeout={ms} -c lock_timeout={ms} {}", config.get_options().unwrap_or(""));
        config.options(options.trim());
        config.keepalives(true).keepalives_idle(STATEMENT_DEADLINE).tcp_user_timeout(STATEMENT_DEADLINE);
    }
    config.connect(postgres::NoTls).map_err(pg_err)
}

impl Pool {
    /// `connections` threads, each with its connection; with `reconnect`, a lost connection is opened again
    /// for the next query (without, its queries fail: a bulk load must not go on outside its transaction).
    fn start(url: &str, connections: usize, reconnect: bool) -> Result<Arc<Pool>, StorageError> {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        for i in 0..connections {
            let (url, rx, ready_tx) = (url.to_string(), rx.clone(), ready_tx.clone());
            std::thread::Builder::new()
                .name(format!("casebook-pg-{i}"))
                .spawn(move || {
                    // Connected on its own thread (the client's runtime must not nest in the caller's);
                    // the first connection of each thread is made here, so a wrong URL fails the start.
                    match connect(&url, reconnect) {
                        Ok(c) => {
                            let _ = ready_tx.send(Ok(()));
                            worker(&url, Some(c), &rx, reconnect);
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                })
                .map_err(|e| StorageError::Io(e.to_string()))?;
        }
        drop(ready_tx);
        let pool = Arc::new(Pool { jobs: Mutex::new(tx) });
        for _ in 0..connections {
            // On an error, dropping the pool's sender ends the threads that did connect.
            ready.recv().map_err(|_| StorageError::Io("a PostgreSQL connection thread failed".into()))??;
        }
        Ok(pool)
    }

    /// Run `f` on a connection and wait for its result.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, StorageError> {
        let (tx, rx) = sync_channel(1);
        let job: Job = Box::new(move |c| {
            let _ = tx.send(f(c).map_err(pg_err));
        });
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| StorageError::Io("the PostgreSQL connections have stopped".into()))?;
        rx.recv().map_err(|_| StorageError::Io("lost the connection to PostgreSQL".into()))?
    }
}

fn worker(url: &str, mut client: Option<postgres::Client>, jobs: &Mutex<Receiver<Job>>, reconnect: bool) {
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(|e| e.into_inner());
            match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            client = if reconnect { connect(url, true).ok() } else { None };
        }
        match client.as_mut() {
            Some(c) => job(c),
            // Dropping the job drops its reply channel: the caller gets "lost the connection".
            None => {
                tracing::warn!("PostgreSQL is unreachable");
                drop(job);
            }
        }
    }
}

/// The relay's storage in PostgreSQL. Clones share the connections.
#[derive(Clone)]
pub struct PgStorage {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgStorage")
    }
}

fn flat(k: &StorageKey) -> String {
    k.to_string()
}

fn unflat(s: &str) -> Result<StorageKey, StorageError> {
    key(s.split('/'))
}

impl PgStorage {
    /// Connect to `url` (e.g. `postgres://casebook@db.internal/casebook`) and apply the migrations this
    /// binary knows. Refuses a database migrated by a newer relay.
    pub fn open(url: &str) -> Result<Self, StorageError> {
        let pool = Pool::start(url, CONNECTIONS, true)?;
        let applied = pool.run(migrate)?;
        if applied > SCHEMA_VERSION {
            return Err(StorageError::Corrupt(format!(
                "the database was migrated by a newer relay (schema {applied}; this relay knows {SCHEMA_VERSION})"
            )));
        }
        Ok(PgStorage { pool })
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<i32, StorageError> {
        self.pool.run(|c| Ok(c.query_one("select coalesce(max(version), 0) from casebook_schema", &[])?.get(0)))
    }
}

/// A bulk load of a whole relay into a database ([`crate::migrate`]): one connection of its own and one
/// transaction, begun by [`PgLoad::begin`] and committed by [`PgLoad::commit`]; dropped without a commit
/// (or on any error), nothing of it stays. The transaction holds the migration lock, so a relay starting on
/// the same database meanwhile waits until the load is committed or gone.
pub(crate) struct PgLoad {
    pool: Arc<Pool>,
    committed: bool,
}

/// What a database holds already: key/value entries and attachment files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Held {
    /// Rows of `casebook_kv`.
    pub(crate) entries: u64,
    /// Rows of `casebook_blob_file`.
    pub(crate) files: u64,
}

impl PgLoad {
    /// Connect to `url`, apply the migrations (refusing a database of a newer relay), begin the
    /// transaction and take the migration lock in it.
    pub(crate) fn begin(url: &str) -> Result<PgLoad, StorageError> {
        let pool = Pool::start(url, 1, false)?;
        let applied = pool.run(migrate)?;
        if applied > SCHEMA_VERSION {
            return Err(StorageError::Corrupt(format!(
                "the database was migrated by a newer relay (schema {applied}; this relay knows {SCHEMA_VERSION})"
            )));
        }
        pool.run(|c| {
            c.batch_execute("begin")?;
            c.execute("select pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        })?;
        Ok(PgLoad { pool, committed: false })
    }

    /// How much the database holds (as seen in the transaction).
    pub(crate) fn held(&self) -> Result<Held, StorageError> {
        self.pool.run(|c| {
            let entries: i64 = c.query_one("select count(*) from casebook_kv", &[])?.get(0);
            let files: i64 = c.query_one("select count(*) from casebook_blob_file", &[])?.get(0);
            Ok(Held { entries: entries as u64, files: files as u64 })
        })
    }

    /// Insert key/value entries (flat keys) in one statement.
    pub(crate) fn put_entries(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), StorageError> {
        if entries.is_empty() {
            return Ok(());
        }
        let (keys, values): (Vec<String>, Vec<Vec<u8>>) = entries.into_iter().unzip();
        self.pool.run(move |c| {
            c.execute(
                "insert into casebook_kv (key, value) select * from unnest($1::text[], $2::bytea[])",
                &[&keys, &values],
            )
        })?;
        Ok(())
    }

    /// Insert rows of attachment files `(name, offset, bytes)` (at most [`CHUNK`] bytes each) and files
    /// `(name, length)`, in two statements.
    pub(crate) fn put_blob_rows(
        &self,
        rows: Vec<(String, u64, Vec<u8>)>,
        files: Vec<(String, u64)>,
    ) -> Result<(), StorageError> {
        let (mut names, mut offs, mut datas) = (Vec::new(), Vec::new(), Vec::new());
        for (n, off, data) in rows {
            names.push(n);
            offs.push(off as i64);
            datas.push(data);
        }
        let (file_names, lens): (Vec<String>, Vec<i64>) = files.into_iter().map(|(n, l)| (n, l as i64)).unzip();
        self.pool.run(move |c| {
            if !names.is_empty() {
                c.execute(
                    "insert into casebook_blob_chunk (name, off, data) \
                     select * from unnest($1::text[], $2::bigint[], $3::bytea[])",
                    &[&names, &offs, &datas],
                )?;
            }
            if !file_names.is_empty() {
                c.execute(
                    "insert into casebook_blob_file (name, len) select * from unnest($1::text[], $2::bigint[])",
                    &[&file_names, &lens],
                )?;
            }
            Ok(())
        })
    }

    /// Up to `limit` entries after key `after` (from the first when `None`), in key order.
    pub(crate) fn entries_after(
        &self,
        after: Option<String>,
        limit: i64,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        self.pool.run(move |c| {
            let rows = match &after {
                None => c.query("select key, value from casebook_kv order by key limit $1", &[&limit])?,
                Some(k) => {
                    c.query("select key, value from casebook_kv where key > $1 order by key limit $2", &[k, &limit])?
                }
            };
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    /// Every attachment file: name and recorded length, in name order.
    pub(crate) fn blob_files(&self) -> Result<Vec<(String, u64)>, StorageError> {
        self.pool.run(|c| {
            let rows = c.query("select name, len from casebook_blob_file order by name", &[])?;
            Ok(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64)).collect())
        })
    }

    /// Up to `limit` rows `(offset, bytes)` of attachment file `name` from offset `from` on, in order.
    pub(crate) fn blob_rows_from(
        &self,
        name: &str,
        from: u64,
        limit: i64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StorageError> {
        let (n, from) = (name.to_string(), from as i64);
        self.pool.run(move |c| {
            let rows = c.query(
                "select off, data from casebook_blob_chunk where name = $1 and off >= $2 order by off limit $3",
                &[&n, &from, &limit],
            )?;
            Ok(rows.iter().map(|r| (r.get::<_, i64>(0) as u64, r.get(1))).collect())
        })
    }

    /// Commit the transaction.
    pub(crate) fn commit(mut self) -> Result<(), StorageError> {
        self.pool.run(|c| c.batch_execute("commit"))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PgLoad {
    fn drop(&mut self) {
        if !self.committed {
            // Also what the server does when the connection closes mid-transaction.
            let _ = self.pool.run(|c| c.batch_execute("rollback"));
        }
    }
}

/// Apply the missing migrations in one transaction under the migration lock; the version reached.
fn migrate(c: &mut postgres::Client) -> Result<i32, postgres::Error> {
    let mut tx = c.transaction()?;
    tx.execute("select pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("create table if not exists casebook_schema (version integer primary key)")?;
    let at: i32 = tx.query_one("select coalesce(max(version), 0) from casebook_schema", &[])?.get(0);
    if at < 1 {
        tx.batch_execute(MIGRATION_1)?;
        tx.execute("insert into casebook_schema (version) values (1)", &[])?;
    }
    let now: i32 = tx.query_one("select coalesce(max(version), 0) from casebook_schema", &[])?.get(0);
    tx.commit()?;
    Ok(now)
}

/// The bounds of a prefix scan: `prefix/` up to (not including) `prefix0`.
fn range(prefix: &str) -> (String, String) {
    (format!("{prefix}/"), format!("{prefix}0"))
}

impl Storage for PgStorage {
    fn load(&self, k: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        let k = flat(k);
        self.pool
            .run(move |c| Ok(c.query_opt("select value from casebook_kv where key = $1", &[&k])?.map(|r| r.get(0))))
    }

    fn load_range(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        let p = flat(prefix);
        let (lo, hi) = range(&p);
        let rows = self.pool.run(move |c| {
            c.query("select key, value from casebook_kv where key = $1 or (key >= $2 and key < $3)", &[&p, &lo, &hi])
        })?;
        rows.iter().map(|r| Ok((unflat(r.get::<_, &str>(0))?, r.get(1)))).collect()
    }

    fn keys(&self, prefix: &StorageKey) -> Result<Vec<StorageKey>, StorageError> {
        let p = flat(prefix);
        let (lo, hi) = range(&p);
        let rows = self.pool.run(move |c| {
            c.query("select key from casebook_kv where key = $1 or (key >= $2 and key < $3)", &[&p, &lo, &hi])
        })?;
        rows.iter().map(|r| unflat(r.get::<_, &str>(0))).collect()
    }

    fn put(&self, k: &StorageKey, data: &[u8]) -> Result<(), StorageError> {
        let (k, v) = (flat(k), data.to_vec());
        self.pool.run(move |c| {
            c.execute(
                "insert into casebook_kv (key, value) values ($1, $2) \
                 on conflict (key) do update set value = excluded.value",
                &[&k, &v],
            )
        })?;
        Ok(())
    }

    fn delete(&self, k: &StorageKey) -> Result<(), StorageError> {
        let k = flat(k);
        self.pool.run(move |c| c.execute("delete from casebook_kv where key = $1", &[&k]))?;
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        // Every write committed before it returned.
        Ok(())
    }

    fn write_batch(&self, writes: &[Write<'_>]) -> Result<(), StorageError> {
        // One transaction, one commit, the writes in their order.
        let owned: Vec<(String, Option<Vec<u8>>)> = writes
            .iter()
            .map(|w| match w {
                Write::Put(k, v) => (flat(k), Some(v.to_vec())),
                Write::Delete(k) => (flat(k), None),
            })
            .collect();
        self.pool.run(move |c| {
            let mut tx = c.transaction()?;
            let put = tx.prepare(
                "insert into casebook_kv (key, value) values ($1, $2) \
                 on conflict (key) do update set value = excluded.value",
            )?;
            let delete = tx.prepare("delete from casebook_kv where key = $1")?;
            for (k, v) in &owned {
                match v {
                    Some(v) => tx.execute(&put, &[k, v])?,
                    None => tx.execute(&delete, &[k])?,
                };
            }
            tx.commit()
        })?;
        Ok(())
    }

    fn compare_and_swap(
        &self,
        k: &StorageKey,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        // One statement each, so PostgreSQL's row lock makes it atomic across every relay process.
        let (k, expected, new) = (flat(k), expected.map(<[u8]>::to_vec), new.map(<[u8]>::to_vec));
        self.pool.run(move |c| {
            let changed = match (&expected, &new) {
                (None, None) => {
                    return Ok(c.query_opt("select 1 from casebook_kv where key = $1", &[&k])?.is_none());
                }
                (None, Some(v)) => c.execute(
                    "insert into casebook_kv (key, value) values ($1, $2) on conflict (key) do nothing",
                    &[&k, v],
                )?,
                (Some(e), Some(v)) => {
                    c.execute("update casebook_kv set value = $3 where key = $1 and value = $2", &[&k, e, v])?
                }
                (Some(e), None) => c.execute("delete from casebook_kv where key = $1 and value = $2", &[&k, e])?,
            };
            Ok(changed == 1)
        })
    }

    fn blobs(&self) -> Arc<dyn BlobStore> {
        Arc::new(PgBlobs { pool: self.pool.clone() })
    }

    fn scan(&self, visit: &mut casebook_core::storage::ScanVisitor<'_>) -> Result<(), StorageError> {
        // Key order, a page at a time (never the whole table in memory).
        let mut after: Option<String> = None;
        loop {
            let from = after.clone();
            let rows: Vec<(String, Vec<u8>)> = self.pool.run(move |c| {
                let rows = match &from {
                    None => c.query("select key, value from casebook_kv order by key limit 512", &[])?,
                    Some(k) => {
                        c.query("select key, value from casebook_kv where key > $1 order by key limit 512", &[k])?
                    }
                };
                Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            })?;
            let Some((last, _)) = rows.last() else { return Ok(()) };
            after = Some(last.clone());
            for (k, v) in &rows {
                visit(&unflat(k)?, v)?;
            }
        }
    }
}

/// Attachment files in PostgreSQL rows ([`PgStorage::blobs`]).
struct PgBlobs {
    pool: Arc<Pool>,
}

/// A blob file name: one to three components of `A-Z a-z 0-9 _ -`, 1 to 128 characters each (the rule of
/// the core's file blob store, so both stores accept the same names).
fn check_name(name: &str, dir: bool) -> io::Result<()> {
    let ok_part = |c: &str| {
        !c.is_empty() && c.len() <= 128 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let parts: Vec<&str> = if name.is_empty() && dir { Vec::new() } else { name.split('/').collect() };
    if parts.len() > 3 || !parts.iter().all(|p| ok_part(p)) || (!dir && parts.is_empty()) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "invalid blob file name"));
    }
    Ok(())
}

fn io_err(e: StorageError) -> io::Error {
    io::Error::other(e.to_string())
}

fn len_of(c: &mut impl postgres::GenericClient, name: &str) -> Result<Option<i64>, postgres::Error> {
    Ok(c.query_opt("select len from casebook_blob_file where name = $1", &[&name])?.map(|r| r.get(0)))
}

/// Cut file `name` to `len` bytes inside a transaction.
fn cut(tx: &mut postgres::Transaction<'_>, name: &str, len: i64) -> Result<(), postgres::Error> {
    tx.execute("delete from casebook_blob_chunk where name = $1 and off >= $2", &[&name, &len])?;
    if let Some(r) = tx.query_opt(
        "select off, data from casebook_blob_chunk where name = $1 and off < $2 order by off desc limit 1",
        &[&name, &len],
    )? {
        let (off, mut data): (i64, Vec<u8>) = (r.get(0), r.get(1));
        let keep = (len - off) as usize;
        if data.len() > keep {
            data.truncate(keep);
            tx.execute("update casebook_blob_chunk set data = $3 where name = $1 and off = $2", &[&name, &off, &data])?;
        }
    }
    tx.execute("update casebook_blob_file set len = $2 where name = $1", &[&name, &len])?;
    Ok(())
}

impl BlobStore for PgBlobs {
    fn size(&self, name: &str) -> io::Result<Option<u64>> {
        check_name(name, false)?;
        let n = name.to_string();
        Ok(self.pool.run(move |c| len_of(c, &n)).map_err(io_err)?.map(|l| l as u64))
    }

    fn open_read(&self, name: &str, offset: u64) -> io::Result<Option<BlobRead>> {
        let Some(len) = self.size(name)? else { return Ok(None) };
        Ok(Some(Box::new(PgRead {
            pool: self.pool.clone(),
            name: name.to_string(),
            pos: offset.min(len),
            len,
            buf: Vec::new(),
            at: 0,
        })))
    }

    fn open_append(&self, name: &str, at: u64) -> io::Result<Box<dyn BlobAppend>> {
        check_name(name, false)?;
        let n = name.to_string();
        let at_i = at as i64;
        self.pool
            .run(move |c| {
                let mut tx = c.transaction()?;
                match len_of(&mut tx, &n)? {
                    None if at_i == 0 => {
                        tx.execute("insert into casebook_blob_file (name, len) values ($1, 0)", &[&n])?;
                    }
                    None => return Ok(Err("absent")),
                    Some(l) if l < at_i => return Ok(Err("shorter")),
                    Some(l) if l > at_i => cut(&mut tx, &n, at_i)?,
                    Some(_) => {}
                }
                tx.commit()?;
                Ok(Ok(()))
            })
            .map_err(io_err)?
            .map_err(|why| io::Error::new(io::ErrorKind::UnexpectedEof, format!("the blob file is {why}")))?;
        Ok(Box::new(PgAppend { pool: self.pool.clone(), name: name.to_string(), len: at, pending: Vec::new() }))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        check_name(name, false)?;
        let n = name.to_string();
        self.pool
            .run(move |c| {
                let mut tx = c.transaction()?;
                if len_of(&mut tx, &n)?.is_some_and(|l| l > len as i64) {
                    cut(&mut tx, &n, len as i64)?;
                }
                tx.commit()
            })
            .map_err(io_err)
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        check_name(from, false)?;
        check_name(to, false)?;
        let (f, t) = (from.to_string(), to.to_string());
        let found = self
            .pool
            .run(move |c| {
                let mut tx = c.transaction()?;
                if len_of(&mut tx, &f)?.is_none() {
                    return Ok(false);
                }
                tx.execute("delete from casebook_blob_chunk where name = $1", &[&t])?;
                tx.execute("delete from casebook_blob_file where name = $1", &[&t])?;
                tx.execute("update casebook_blob_chunk set name = $2 where name = $1", &[&f, &t])?;
                tx.execute("update casebook_blob_file set name = $2 where name = $1", &[&f, &t])?;
                tx.commit()?;
                Ok(true)
            })
            .map_err(io_err)?;
        if found { Ok(()) } else { Err(io::Error::new(io::ErrorKind::NotFound, "no such blob file")) }
    }

    fn delete(&self, name: &str) -> io::Result<()> {
        check_name(name, false)?;
        let n = name.to_string();
        self.pool
            .run(move |c| {
                let mut tx = c.transaction()?;
                tx.execute("delete from casebook_blob_chunk where name = $1", &[&n])?;
                tx.execute("delete from casebook_blob_file where name = $1", &[&n])?;
                tx.commit()
            })
            .map_err(io_err)
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        check_name(dir, true)?;
        let (lo, hi) = if dir.is_empty() { (String::new(), "\u{10ffff}".to_string()) } else { range(dir) };
        let names: Vec<String> = self
            .pool
            .run(move |c| {
                let rows = c.query(
                    "select name from casebook_blob_file where name >= $1 and name < $2 order by name",
                    &[&lo, &hi],
                )?;
                Ok(rows.iter().map(|r| r.get(0)).collect())
            })
            .map_err(io_err)?;
        let strip = if dir.is_empty() { 0 } else { dir.len() + 1 };
        Ok(names.into_iter().filter_map(|n| Some(n.get(strip..)?.to_string()).filter(|r| !r.contains('/'))).collect())
    }
}

/// Appends to a blob file: bytes collect in memory up to one row and are written as rows by `sync` (or
/// when a row is full), each row with the file's new length in one transaction.
struct PgAppend {
    pool: Arc<Pool>,
    name: String,
    len: u64,
    pending: Vec<u8>,
}

impl PgAppend {
    fn write_row(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.pending);
        let (n, off) = (self.name.clone(), self.len as i64);
        let new_len = off + data.len() as i64;
        self.pool
            .run(move |c| {
                let mut tx = c.transaction()?;
                tx.execute(
                    "insert into casebook_blob_chunk (name, off, data) values ($1, $2, $3)",
                    &[&n, &off, &data],
                )?;
                tx.execute("update casebook_blob_file set len = $2 where name = $1", &[&n, &new_len])?;
                tx.commit()
            })
            .map_err(io_err)?;
        self.len = new_len as u64;
        Ok(())
    }
}

impl BlobAppend for PgAppend {
    fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = (CHUNK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.pending.len() == CHUNK {
                self.write_row()?;
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.write_row()
    }
}

/// Reads a blob file a few rows at a time.
struct PgRead {
    pool: Arc<Pool>,
    name: String,
    pos: u64,
    len: u64,
    buf: Vec<u8>,
    at: usize,
}

impl Read for PgRead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at >= self.buf.len() {
            if self.pos >= self.len {
                return Ok(0);
            }
            let (n, pos) = (self.name.clone(), self.pos as i64);
            let row: Option<(i64, Vec<u8>)> = self
                .pool
                .run(move |c| {
                    Ok(c.query_opt(
                        "select off, data from casebook_blob_chunk where name = $1 and off <= $2 \
                         order by off desc limit 1",
                        &[&n, &pos],
                    )?
                    .map(|r| (r.get(0), r.get(1))))
                })
                .map_err(io_err)?;
            let Some((off, data)) = row else {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a part of the blob file is missing"));
            };
            let skip = (self.pos as i64 - off) as usize;
            if skip >= data.len() {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a part of the blob file is missing"));
            }
            self.buf = data;
            self.at = skip;
        }
        let want = ((self.len - self.pos) as usize).min(self.buf.len() - self.at);
        let n = want.min(out.len());
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        self.pos += n as u64;
        Ok(n)
    }
}
