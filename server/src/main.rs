//! `casebook-server`: parse the configuration, start logging, run the relay until SIGINT or SIGTERM.
//! `casebook-server probe --url URL` checks a running relay's health instead (exit 0 when it answers 200);
//! `backup` and `restore` copy a data directory to one file and back (see `casebook_server::backup`);
//! `migrate` prepares a PostgreSQL database or moves a sled relay into one (`casebook_server::migrate`).

use std::time::Duration;

use clap::Parser;

/// jemalloc (feature `jemalloc`, on by default): a relay's memory follows the connections it has now, not
/// its peak (glibc keeps freed memory in its arenas; BENCHMARKS.md, memory per idle connection).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main` (the `_RJEM_MALLOC_CONF` environment variable overrides them):
/// freed pages go back to the system after 1 s unused (10 s by default) and at once past that (no lazy
/// `MADV_FREE` pages, which still count in the relay's RSS), by jemalloc's background threads. A burst of
/// 10,000 connections then costs 68 KB each at its peak instead of 82 (BENCHMARKS.md).
#[cfg(feature = "jemalloc")]
#[unsafe(export_name = "_rjem_malloc_conf")]
#[used]
static MALLOC_CONF: &[u8; 37] = b"dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// Tools beside serving.
#[derive(Debug, Parser)]
#[command(name = "casebook-server")]
enum Tool {
    /// Exit 0 when URL (plain http, e.g. http://127.0.0.1:3030/readyz) answers 200 within the timeout,
    /// 1 otherwise: a health check for containers and service managers.
    Probe {
        /// The URL to ask.
        #[arg(long, default_value = "http://127.0.0.1:3030/readyz")]
        url: String,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
    },
    /// Back up a relay's data directory into one file, while it serves (through its admin socket) or
    /// stopped. The file is verified before it is kept.
    Backup {
        /// The relay's data directory.
        #[arg(long, env = "CASEBOOK_DATA_DIR", default_value = casebook_server::config::DEFAULT_DATA_DIR)]
        data_dir: std::path::PathBuf,
        /// The backup file to write.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Apply the PostgreSQL migrations this binary knows and print the schema version (the relay also
    /// applies them at start); with --from-sled DIR --to URL, copy a stopped relay's sled data directory
    /// (every entry and attachment file) into the PostgreSQL database URL, verified, in one transaction.
    Migrate {
        /// The database, e.g. postgres://casebook@db.internal/casebook (without --from-sled).
        #[arg(long, env = "CASEBOOK_DATABASE", hide_env_values = true, required_unless_present = "from_sled")]
        database: Option<String>,
        /// The data directory of a stopped sled relay to copy (read only).
        #[arg(long, requires = "to")]
        from_sled: Option<std::path::PathBuf>,
        /// The PostgreSQL database to copy it into: new or empty (migrations are applied first).
        #[arg(long, requires = "from_sled")]
        to: Option<String>,
    },
    /// Restore a backup into a new (or empty) data directory; whole or nothing.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: std::path::PathBuf,
        /// The data directory to create.
        #[arg(long)]
        data_dir: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if matches!(std::env::args().nth(1).as_deref(), Some("probe" | "backup" | "restore" | "migrate")) {
        match Tool::parse() {
            Tool::Probe { url, timeout_secs } => {
                match casebook_server::probe(&url, Duration::from_secs(timeout_secs)) {
                    Ok(200) => return Ok(()),
                    Ok(status) => eprintln!("{url}: {status}"),
                    Err(e) => eprintln!("{url}: {e}"),
                }
                std::process::exit(1);
            }
            Tool::Backup { data_dir, out } => {
                let s = casebook_server::backup::backup(&data_dir, &out)?;
                println!("backup written: {} entries, {} attachment files, {} bytes", s.entries, s.files, s.bytes);
            }
            Tool::Migrate { from_sled: Some(dir), to: Some(url), .. } => {
                let s = tokio::task::spawn_blocking(move || casebook_server::migrate::sled_to_postgres(&dir, &url))
                    .await??;
                let f = &s.fingerprint;
                if s.already_migrated {
                    println!("already migrated: the database holds exactly this data directory's data");
                } else {
                    println!("migrated in {} batches (one transaction)", s.batches);
                }
                println!(
                    "entries: {} ({} bytes); attachment files: {} ({} bytes); verified on both sides, \
                     sha256 {}",
                    f.entries, f.value_bytes, f.files, f.file_bytes, f.sha256
                );
            }
            Tool::Migrate { database, .. } => {
                let database = database.ok_or_else(|| anyhow::anyhow!("--database is required"))?;
                let version = tokio::task::spawn_blocking(move || {
                    casebook_server::PgStorage::open(&database).and_then(|s| s.schema_version())
                })
                .await??;
                println!("database schema at version {version}");
            }
            Tool::Restore { from, data_dir } => {
                let s = casebook_server::backup::restore(&from, &data_dir)?;
                println!("restored: {} entries, {} attachment files into {}", s.entries, s.files, data_dir.display());
            }
        }
        return Ok(());
    }
    let config = casebook_server::Config::parse();
    casebook_server::init_logging_as(config.log_format);
    casebook_server::run(config, casebook_server::shutdown_signal()).await?;
    Ok(())
}
