//! [`AppState`]: what every handler and connection task shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::Config;
use crate::accounts::Directory;
use crate::connections::Connections;
use crate::error::{Error, Result};
use crate::limits::RateLimiter;
use crate::metrics::{Gauges, Metrics};
use crate::quota::{Quota, QuotaStorage};
use crate::seen::Seen;

/// Shared state of a running relay.
pub(crate) struct Shared {
    /// The configuration it was started with.
    pub(crate) config: Config,
    /// Accounts, devices, cases, members.
    pub(crate) dir: Arc<Directory>,
    /// When devices last synced each case, and were last connected.
    pub(crate) seen: Arc<Seen>,
    /// Per-case storage accounting.
    pub(crate) quota: Arc<Quota>,
    /// The relay's database (readiness probes).
    pub(crate) database: Arc<dyn casebook_core::storage::Storage>,
    /// The samod storage (for its failure count).
    pub(crate) storage: QuotaStorage,
    /// Counters.
    pub(crate) metrics: Arc<Metrics>,
    /// Live sync connections.
    pub(crate) connections: Arc<Connections>,
    /// The samod repositories: the lobby (handshakes) and one per case in use.
    pub(crate) cases: crate::cases::CaseRepos,
    /// One permit per sync connection.
    pub(crate) permits: Arc<Semaphore>,
    /// Failed authentications per address.
    pub(crate) auth_limiter: RateLimiter,
    /// Code redemptions per address.
    pub(crate) redeem_limiter: RateLimiter,
    /// Account creations per address.
    pub(crate) account_limiter: RateLimiter,
    /// Set when shutdown begins: new upgrades get 503.
    pub(crate) shutting_down: AtomicBool,
    /// Seconds added to the system clock for expiry checks (tests move time forward).
    pub(crate) clock_offset: AtomicU64,
}

/// Cheap to clone handle on [`Shared`].
#[derive(Clone)]
pub(crate) struct AppState(pub(crate) Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Shared {
    /// Current values of the gauges.
    pub(crate) fn gauges(&self) -> Gauges {
        let c = self.dir.counts();
        let (storage_commits, storage_committed_writes) = self.storage.commit_counts();
        Gauges {
            accounts: c.accounts,
            devices: c.devices,
            cases: c.cases,
            documents: c.documents,
            cases_over_quota: self.quota.over_count(),
            cases_loaded: self.cases.running_count(),
            cases_unloaded: self.cases.unloaded_count(),
            storage_failures: self.storage.failures(),
            storage_commits,
            storage_committed_writes,
        }
    }

    /// Unix time in seconds as the relay sees it (system clock plus the test offset).
    pub(crate) fn now(&self) -> u64 {
        unix_now() + self.clock_offset.load(Ordering::Relaxed)
    }

    /// Whether shutdown has begun.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }
}

/// Unix time in seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs()
}

impl AppState {
    /// Run a directory operation (blocking storage I/O) on a blocking thread.
    pub(crate) async fn with_dir<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Directory, u64) -> Result<T> + Send + 'static,
    {
        let dir = self.dir.clone();
        let now = self.now();
        tokio::task::spawn_blocking(move || f(&dir, now))
            .await
            .map_err(|e| Error::Internal(format!("directory task failed: {e}")))?
    }
}
