//! `casebook-server`: parse the configuration, start logging, run the relay until SIGINT or SIGTERM.
//! `casebook-server probe --url URL` checks a running relay's health instead (exit 0 when it answers 200);
//! `backup` and `restore` copy a data directory to one file and back (see `casebook_server::backup`).

use std::time::Duration;

use clap::Parser;

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
    /// applies them at start).
    Migrate {
        /// The database, e.g. postgres://casebook@db.internal/casebook.
        #[arg(long, env = "CASEBOOK_DATABASE", hide_env_values = true)]
        database: String,
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
            Tool::Migrate { database } => {
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
