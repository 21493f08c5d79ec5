//! [`Config`]: where the relay listens, where it keeps its data, and every limit it enforces.
//!
//! The same struct is the command line (`clap` derive: every field is a flag with a `CASEBOOK_*`
//! environment variable) and the library's configuration ([`Config::default`], [`Config::for_tests`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3030";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./casebook-data";
/// Default maximum WebSocket message (and frame) size: 64 MiB, so a large case's first sync passes.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Default maximum JSON request body: 16 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024;
/// Default per-case storage quota: 512 MiB.
pub const DEFAULT_CASE_QUOTA_BYTES: u64 = 512 * 1024 * 1024;
/// Default largest attachment (blob): 100 MiB.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 100 * 1024 * 1024;
/// Default largest blob upload request body (one chunk): 1 MiB.
pub const DEFAULT_MAX_BLOB_CHUNK_BYTES: usize = 1024 * 1024;
/// Default sustained inbound messages per second on one sync connection.
pub const DEFAULT_SYNC_MESSAGES_PER_SEC: u32 = 500;
/// Default inbound message burst on one sync connection: a full-size case's first round (one message per
/// document, up to `--max-documents-per-case`) fits in it.
pub const DEFAULT_SYNC_MESSAGE_BURST: u32 = 10_000;
/// Default sustained inbound bytes per second on one sync connection: 32 MiB.
pub const DEFAULT_SYNC_BYTES_PER_SEC: u64 = 32 * 1024 * 1024;
/// Default inbound byte burst on one sync connection: a whole case up to the default quota (512 MiB).
pub const DEFAULT_SYNC_BYTE_BURST: u64 = DEFAULT_CASE_QUOTA_BYTES;
/// Default delay before an unused case's sync repository is unloaded: a minute.
pub const DEFAULT_CASE_UNLOAD_MS: u64 = 60_000;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, target, message, fields).
    Json,
}

/// The relay's configuration. Every limit has a flag and an environment variable; `--help` lists them.
#[derive(Debug, Clone, Parser)]
#[command(name = "casebook-server", version, about = "Casebook relay: authenticated sync of cases over WebSocket")]
pub struct Config {
    /// Address to listen on (use port 0 for a free port).
    #[arg(long, env = "CASEBOOK_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Directory of the relay's sled database (documents, accounts, memberships). Created if missing.
    #[arg(long, env = "CASEBOOK_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// Keep everything in PostgreSQL instead of sled in --data-dir (e.g. `postgres://casebook@db/casebook`;
    /// migrations run at start). Any number of relay processes may share one database (a cluster; see
    /// server/README.md).
    #[arg(long, env = "CASEBOOK_DATABASE", hide_env_values = true)]
    pub database: Option<String>,

    /// Where relay processes sharing --database signal each other that something changed (PostgreSQL
    /// `LISTEN/NOTIFY`); by default the --database itself. Signals only: a lost one is repaired from the
    /// database (--cluster-repair-secs), never loses data.
    #[arg(long, env = "CASEBOOK_BUS", hide_env_values = true)]
    pub bus: Option<String>,

    /// With --database: every this many seconds, reload the directory and apply other processes' stored
    /// changes to the open documents, whatever the signals said (repairs lost signals).
    #[arg(long, env = "CASEBOOK_CLUSTER_REPAIR_SECS", default_value_t = 10)]
    pub cluster_repair_secs: u64,

    /// PEM certificate chain: serve `https://` and `wss://` (requires --tls-key).
    #[arg(long, env = "CASEBOOK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key matching --tls-cert.
    #[arg(long, env = "CASEBOOK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Take the client address for rate limits from this header (e.g. `X-Forwarded-For`, rightmost entry)
    /// instead of the TCP peer. Set it only behind a reverse proxy that overwrites the header.
    #[arg(long, env = "CASEBOOK_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,

    /// Largest WebSocket message or frame accepted, in bytes; checked before decoding.
    #[arg(long, env = "CASEBOOK_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,

    /// Largest HTTP request body accepted, in bytes.
    #[arg(long, env = "CASEBOOK_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Maximum simultaneous WebSocket connections; further upgrades get 503.
    #[arg(long, env = "CASEBOOK_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Inbound WebSocket messages (frames of any kind) per second allowed on one sync connection, sustained;
    /// above it and its burst the connection is closed with 1008 (0: no limit).
    #[arg(long, env = "CASEBOOK_SYNC_MESSAGES_PER_SEC", default_value_t = DEFAULT_SYNC_MESSAGES_PER_SEC)]
    pub sync_messages_per_sec: u32,

    /// Inbound WebSocket messages one sync connection may send at once before the sustained rate applies.
    #[arg(long, env = "CASEBOOK_SYNC_MESSAGE_BURST", default_value_t = DEFAULT_SYNC_MESSAGE_BURST)]
    pub sync_message_burst: u32,

    /// Inbound bytes per second allowed on one sync connection, sustained; above it and its burst the
    /// connection is closed with 1008 (0: no limit).
    #[arg(long, env = "CASEBOOK_SYNC_BYTES_PER_SEC", default_value_t = DEFAULT_SYNC_BYTES_PER_SEC)]
    pub sync_bytes_per_sec: u64,

    /// Inbound bytes one sync connection may send at once before the sustained rate applies (a value below
    /// --max-message-bytes is raised to it, so a largest message always passes on a fresh connection).
    #[arg(long, env = "CASEBOOK_SYNC_BYTE_BURST", default_value_t = DEFAULT_SYNC_BYTE_BURST)]
    pub sync_byte_burst: u64,

    /// Close a WebSocket that sends nothing (not even a pong to the relay's pings) for this many seconds.
    #[arg(long, env = "CASEBOOK_IDLE_TIMEOUT_SECS", default_value_t = 120)]
    pub idle_timeout_secs: u64,

    /// Close a WebSocket that has not completed the sync handshake within this many seconds.
    #[arg(long, env = "CASEBOOK_HANDSHAKE_TIMEOUT_SECS", default_value_t = 15)]
    pub handshake_timeout_secs: u64,

    /// Failed authentications allowed per client address per minute; then 429 until the budget refills
    /// (0: no limit).
    #[arg(long, env = "CASEBOOK_AUTH_FAILURES_PER_MINUTE", default_value_t = 20)]
    pub auth_failures_per_minute: u32,

    /// Invite and link-code redemptions allowed per client address per minute (0: no limit).
    #[arg(long, env = "CASEBOOK_REDEEM_ATTEMPTS_PER_MINUTE", default_value_t = 10)]
    pub redeem_attempts_per_minute: u32,

    /// Accounts that one client address may create per hour (0: no limit).
    #[arg(long, env = "CASEBOOK_ACCOUNTS_PER_HOUR", default_value_t = 30)]
    pub accounts_per_hour: u32,

    /// Stored bytes per case (all its documents); above it the case becomes read-only on the relay
    /// (0: no quota).
    #[arg(long, env = "CASEBOOK_CASE_QUOTA_BYTES", default_value_t = DEFAULT_CASE_QUOTA_BYTES)]
    pub case_quota_bytes: u64,

    /// Largest attachment (blob) a case may store, in bytes.
    #[arg(long, env = "CASEBOOK_MAX_BLOB_BYTES", default_value_t = DEFAULT_MAX_BLOB_BYTES)]
    pub max_blob_bytes: u64,

    /// Largest body of one blob upload request (one chunk), in bytes.
    #[arg(long, env = "CASEBOOK_MAX_BLOB_CHUNK_BYTES", default_value_t = DEFAULT_MAX_BLOB_CHUNK_BYTES)]
    pub max_blob_chunk_bytes: usize,

    /// Devices per account.
    #[arg(long, env = "CASEBOOK_MAX_DEVICES_PER_ACCOUNT", default_value_t = 20)]
    pub max_devices_per_account: usize,

    /// Cases an account may be a member of.
    #[arg(long, env = "CASEBOOK_MAX_CASES_PER_ACCOUNT", default_value_t = 200)]
    pub max_cases_per_account: usize,

    /// Members per case.
    #[arg(long, env = "CASEBOOK_MAX_MEMBERS_PER_CASE", default_value_t = 50)]
    pub max_members_per_case: usize,

    /// Registered documents per case (the case document plus one notes document per appointment).
    #[arg(long, env = "CASEBOOK_MAX_DOCUMENTS_PER_CASE", default_value_t = 10_000)]
    pub max_documents_per_case: usize,

    /// Unredeemed, unexpired invites per case.
    #[arg(long, env = "CASEBOOK_MAX_PENDING_INVITES_PER_CASE", default_value_t = 50)]
    pub max_pending_invites_per_case: usize,

    /// Lifetime of a device link code, in seconds.
    #[arg(long, env = "CASEBOOK_LINK_CODE_TTL_SECS", default_value_t = 600)]
    pub link_code_ttl_secs: u64,

    /// On shutdown, how long to let running syncs finish before closing connections, in seconds.
    #[arg(long, env = "CASEBOOK_SHUTDOWN_GRACE_SECS", default_value_t = 3)]
    pub shutdown_grace_secs: u64,

    /// Log format: `text` for people, `json` (one object per line) for log collectors.
    #[arg(long, env = "CASEBOOK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Also serve `/metrics`, `/healthz` and `/readyz` on this address (e.g. `127.0.0.1:9090`, reachable by
    /// the monitoring system only); `/metrics` is then no longer served on --listen.
    #[arg(long, env = "CASEBOOK_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// With TLS: check the certificate and key files every this many seconds and serve the new ones when
    /// they change (a renewed certificate needs no restart; 0: never). A pair that fails to load is logged
    /// and the current one kept.
    #[arg(long, env = "CASEBOOK_TLS_RELOAD_SECS", default_value_t = 30)]
    pub tls_reload_secs: u64,

    /// Unload a case's sync repository (its documents leave memory) once nothing has used it for this many
    /// milliseconds; a WebSocket lets go of a case after as long without traffic about it, and is woken when
    /// the case is used again. The next use loads it from storage (0: never unload).
    #[arg(long, env = "CASEBOOK_CASE_UNLOAD_MS", default_value_t = DEFAULT_CASE_UNLOAD_MS)]
    pub case_unload_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            database: None,
            bus: None,
            cluster_repair_secs: 10,
            tls_cert: None,
            tls_key: None,
            client_ip_header: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_connections: 1024,
            sync_messages_per_sec: DEFAULT_SYNC_MESSAGES_PER_SEC,
            sync_message_burst: DEFAULT_SYNC_MESSAGE_BURST,
            sync_bytes_per_sec: DEFAULT_SYNC_BYTES_PER_SEC,
            sync_byte_burst: DEFAULT_SYNC_BYTE_BURST,
            idle_timeout_secs: 120,
            handshake_timeout_secs: 15,
            auth_failures_per_minute: 20,
            redeem_attempts_per_minute: 10,
            accounts_per_hour: 30,
            case_quota_bytes: DEFAULT_CASE_QUOTA_BYTES,
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            max_blob_chunk_bytes: DEFAULT_MAX_BLOB_CHUNK_BYTES,
            max_devices_per_account: 20,
            max_cases_per_account: 200,
            max_members_per_case: 50,
            max_documents_per_case: 10_000,
            max_pending_invites_per_case: 50,
            link_code_ttl_secs: 600,
            shutdown_grace_secs: 3,
            log_format: LogFormat::Text,
            metrics_listen: None,
            tls_reload_secs: 30,
            case_unload_ms: DEFAULT_CASE_UNLOAD_MS,
        }
    }
}

impl Config {
    /// Defaults with data in `data_dir`, listening on `127.0.0.1:0` (a free port), with rate limits high
    /// enough that a test suite creating many accounts from one address is not throttled, and a short
    /// shutdown grace. Tests of a particular limit lower it on the returned value.
    pub fn for_tests(data_dir: &Path) -> Self {
        Config {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            data_dir: data_dir.to_path_buf(),
            auth_failures_per_minute: 10_000,
            redeem_attempts_per_minute: 10_000,
            accounts_per_hour: 100_000,
            shutdown_grace_secs: 1,
            ..Config::default()
        }
    }

    /// The idle timeout as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.max(1))
    }

    /// The handshake timeout as a duration.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs.max(1))
    }

    /// The case unload delay (`None`: never unload).
    pub fn case_unload(&self) -> Option<Duration> {
        (self.case_unload_ms > 0).then(|| Duration::from_millis(self.case_unload_ms))
    }

    /// The inbound byte burst of a sync connection: `sync_byte_burst`, at least `max_message_bytes`.
    pub fn sync_byte_burst_effective(&self) -> u64 {
        self.sync_byte_burst.max(self.max_message_bytes as u64)
    }

    /// The shutdown grace as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// Check values that clap cannot: zero limits that would make the relay unusable.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |what: &str| Err(crate::Error::Config(format!("{what} must be greater than zero")));
        if self.max_message_bytes == 0 {
            return bad("max_message_bytes");
        }
        if self.max_body_bytes == 0 {
            return bad("max_body_bytes");
        }
        if self.max_blob_chunk_bytes == 0 {
            return bad("max_blob_chunk_bytes");
        }
        if self.max_connections == 0 {
            return bad("max_connections");
        }
        if self.link_code_ttl_secs == 0 {
            return bad("link_code_ttl_secs");
        }
        if self.sync_messages_per_sec > 0 && self.sync_message_burst == 0 {
            return bad("sync_message_burst");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(crate::Error::Config("--tls-cert and --tls-key go together".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_defaults_match_default() {
        let parsed = Config::try_parse_from(["casebook-server"]).unwrap();
        let d = Config::default();
        assert_eq!(parsed.listen, d.listen);
        assert_eq!(parsed.max_message_bytes, d.max_message_bytes);
        assert_eq!(parsed.case_quota_bytes, d.case_quota_bytes);
        assert_eq!(parsed.max_connections, d.max_connections);
        assert_eq!(parsed.sync_messages_per_sec, d.sync_messages_per_sec);
        assert_eq!(parsed.sync_message_burst, d.sync_message_burst);
        assert_eq!(parsed.sync_bytes_per_sec, d.sync_bytes_per_sec);
        assert_eq!(parsed.sync_byte_burst, d.sync_byte_burst);
        assert_eq!(parsed.log_format, d.log_format);
        assert_eq!(parsed.metrics_listen, d.metrics_listen);
        assert_eq!(parsed.tls_reload_secs, d.tls_reload_secs);
    }

    #[test]
    fn flags_override_and_tls_needs_both() {
        let c =
            Config::try_parse_from(["casebook-server", "--listen", "0.0.0.0:9000", "--max-connections", "3"]).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.max_connections, 3);
        let c =
            Config::try_parse_from(["casebook-server", "--sync-messages-per-sec", "0", "--sync-message-burst", "7"])
                .unwrap();
        assert_eq!((c.sync_messages_per_sec, c.sync_message_burst), (0, 7));
        assert!(Config::try_parse_from(["casebook-server", "--tls-cert", "a.pem"]).is_err());
        let c =
            Config::try_parse_from(["casebook-server", "--log-format", "json", "--metrics-listen", "127.0.0.1:9090"])
                .unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9090".parse().unwrap()));
        assert!(Config::try_parse_from(["casebook-server", "--log-format", "xml"]).is_err());
    }

    #[test]
    fn zero_limits_are_refused() {
        let c = Config { max_connections: 0, ..Config::default() };
        assert!(c.validate().is_err());
        assert!(Config::default().validate().is_ok());
        assert!(Config { sync_message_burst: 0, ..Config::default() }.validate().is_err());
        assert!(Config { sync_messages_per_sec: 0, sync_message_burst: 0, ..Config::default() }.validate().is_ok());
        let small_burst = Config { sync_byte_burst: 1024, ..Config::default() };
        assert_eq!(small_burst.sync_byte_burst_effective(), DEFAULT_MAX_MESSAGE_BYTES as u64);
    }
}
