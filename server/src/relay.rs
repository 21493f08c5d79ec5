//! [`Relay::start`] and [`RelayHandle`]: open the data directory, load the directory of accounts and
//! cases, start the sync engine (`cases`) and serve HTTP(S); shut down in order.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use casebook_core::storage::{SledStorage, Storage};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

use crate::Config;
use crate::accounts::{Directory, DirectoryLimits};
use crate::api;
use crate::bus::PgBus;
use crate::cases::CaseRepos;
use crate::connections::{Connections, Kick};
use crate::detachable::Detachable;
use crate::error::{Error, Result};
use crate::limits::RateLimiter;
use crate::listener::ClientAddr;
use crate::metrics::Metrics;
use crate::quota::{Quota, QuotaStorage};
use crate::seen::{self, Seen};
use crate::state::{AppState, Shared, unix_now};
use crate::tls::{self, TlsListener};

/// The relay. See [`Relay::start`].
#[derive(Debug)]
pub struct Relay;

/// A running relay: its address, and how to stop it.
pub struct RelayHandle {
    addr: SocketAddr,
    tls: bool,
    state: AppState,
    database: Arc<Detachable>,
    stop_http: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    /// Saves last-seen times periodically.
    seen_saver: JoinHandle<()>,
    /// The monitoring listener (`--metrics-listen`) and its server.
    monitoring: Option<(SocketAddr, JoinHandle<std::io::Result<()>>)>,
    /// Reloads the TLS certificate when its files change.
    tls_reloader: Option<JoinHandle<()>>,
    /// Serves the admin socket (online backups).
    admin: Option<JoinHandle<()>>,
    /// With PostgreSQL: the change signals to and from the other relay processes, and what follows them.
    cluster: Option<(Arc<PgBus>, JoinHandle<()>)>,
}

impl std::fmt::Debug for RelayHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayHandle").field("addr", &self.addr).field("tls", &self.tls).finish()
    }
}

impl Relay {
    /// Open (or create) the data directory, load accounts and memberships, bind the listener and start
    /// serving in background tasks of the current tokio runtime. With `config.listen` on port 0 the
    /// handle tells the port chosen.
    pub async fn start(config: Config) -> Result<RelayHandle> {
        config.validate()?;
        let (tls_acceptor, tls_certs) = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                let (acceptor, certs) = tls::acceptor(cert, key)?;
                (Some(acceptor), Some(certs))
            }
            _ => (None, None),
        };
        let data_dir = config.data_dir.clone();
        let database_url = config.database.clone();
        let limits = DirectoryLimits::from(&config);
        let (database, dir, seen) = tokio::task::spawn_blocking(move || -> Result<_> {
            let backend: Arc<dyn Storage> = match &database_url {
                Some(url) => Arc::new(crate::PgStorage::open(url)?),
                None => {
                    std::fs::create_dir_all(&data_dir)?;
                    Arc::new(SledStorage::open(&data_dir)?)
                }
            };
            let database = Arc::new(Detachable::new(backend));
            match crate::blobs::migrate_chunked_blobs(&*database) {
                Ok(0) => {}
                Ok(moved) => tracing::info!(moved, "attachment blobs moved from the database into files"),
                Err(e) => tracing::warn!(error = %e, "cannot move attachment blobs into files yet"),
            }
            crate::health::check_format(&*database)?;
            let dir = Directory::open(database.clone(), limits, unix_now())?;
            let seen = Seen::open(database.clone(), &dir)?;
            Ok((database, Arc::new(dir), Arc::new(seen)))
        })
        .await
        .map_err(|e| Error::Internal(format!("startup task failed: {e}")))??;

        let storage: Arc<dyn Storage> = database.clone();
        let metrics = Arc::new(Metrics::default());
        let quota = Arc::new(Quota::new(storage.clone(), dir.clone(), config.case_quota_bytes, metrics.clone()));
        let mut samod_storage = QuotaStorage::new(storage.clone(), quota.clone());
        // Several processes may share a PostgreSQL database: tell them of every write, hear theirs.
        let bus = match config.bus.as_ref().or(config.database.as_ref()) {
            Some(url) if config.database.is_some() => {
                let (bus, events) = PgBus::start(url, crate::secret::new_id(), metrics.clone())?;
                dir.set_announce(bus.clone());
                samod_storage = samod_storage.with_announce(bus.clone());
                Some((bus, events))
            }
            _ => None,
        };
        let cases = CaseRepos::start(samod_storage.clone(), dir.clone(), quota.clone())
            .await
            .ok_or_else(|| Error::Internal("the sync engine did not start".into()))?;
        cases.unload_after(config.case_unload());

        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let tls = tls_acceptor.is_some();

        let state = AppState(Arc::new(Shared {
            permits: Arc::new(Semaphore::new(config.max_connections)),
            auth_limiter: RateLimiter::new(config.auth_failures_per_minute, Duration::from_secs(60)),
            redeem_limiter: RateLimiter::new(config.redeem_attempts_per_minute, Duration::from_secs(60)),
            account_limiter: RateLimiter::new(config.accounts_per_hour, Duration::from_secs(3600)),
            config,
            dir,
            seen: seen.clone(),
            quota,
            database: storage.clone(),
            storage: samod_storage,
            metrics,
            connections: Arc::new(Connections::default()),
            cases,
            shutting_down: AtomicBool::new(false),
            clock_offset: AtomicU64::new(0),
        }));

        let app = api::router(state.clone()).into_make_service_with_connect_info::<ClientAddr>();
        let (stop_http, stopped) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        let server = match tls_acceptor {
            None => tokio::spawn(axum::serve(listener, app).with_graceful_shutdown(stopped).into_future()),
            Some(acceptor) => {
                let listener = TlsListener::new(listener, acceptor)?;
                tokio::spawn(axum::serve(listener, app).with_graceful_shutdown(stopped).into_future())
            }
        };
        let seen_saver = tokio::spawn(seen::persist_periodically(seen));
        let monitoring = match state.config.metrics_listen {
            None => None,
            Some(at) => {
                let listener = TcpListener::bind(at).await?;
                let at = listener.local_addr()?;
                let app = api::monitoring_router(state.clone());
                tracing::info!(addr = %at, "monitoring listening");
                Some((at, tokio::spawn(axum::serve(listener, app).into_future())))
            }
        };
        let reload_every = Duration::from_secs(state.config.tls_reload_secs);
        let tls_reloader = tls_certs
            .filter(|_| !reload_every.is_zero())
            .map(|certs| tokio::spawn(certs.reload_periodically(reload_every)));
        // Online backups of sled through the admin socket; PostgreSQL has its own (pg_dump).
        let admin = match state.config.database {
            None => crate::backup::serve_admin(&state.config.data_dir, database.clone()),
            Some(_) => None,
        };
        let repair_every = Duration::from_secs(state.config.cluster_repair_secs.max(1));
        let cluster =
            bus.map(|(bus, events)| (bus, tokio::spawn(crate::cluster::follow(state.clone(), events, repair_every))));
        let backend = if state.config.database.is_some() { "postgres" } else { "sled" };
        tracing::info!(%addr, tls, backend, "relay listening");
        Ok(RelayHandle {
            addr,
            tls,
            state,
            database,
            stop_http,
            server,
            seen_saver,
            monitoring,
            tls_reloader,
            admin,
            cluster,
        })
    }
}

impl RelayHandle {
    /// The address the relay listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The relay's base URL for the sync client: `ws://ADDR` (or `wss://ADDR` with TLS). The WebSocket is
    /// at `{url}/v1/sync`.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "wss" } else { "ws" }, self.addr)
    }

    /// The base URL of the HTTP API: `http://ADDR` (or `https://ADDR`).
    pub fn http_url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }

    /// The address of the monitoring listener (`--metrics-listen`), if any.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.monitoring.as_ref().map(|(a, _)| *a)
    }

    /// Open sync connections.
    pub fn connection_count(&self) -> usize {
        self.state.connections.len()
    }

    /// Move the relay's clock forward by `by` for expiry checks of link codes and invites — for tests of
    /// expiry (codes live at least a minute). Nothing else uses it.
    pub fn advance_clock(&self, by: Duration) {
        self.state.clock_offset.fetch_add(by.as_secs(), Ordering::Relaxed);
    }

    /// Stop: refuse new connections, let running syncs finish (until quiet, at most the configured
    /// grace), close every socket (1001), stop the samod repository (its pending writes complete), flush
    /// storage and release the data directory (it can be reopened by a new [`Relay::start`] in the same
    /// process once this returns).
    pub async fn shutdown(self) {
        let RelayHandle {
            addr,
            state,
            database,
            stop_http,
            server,
            seen_saver,
            monitoring,
            tls_reloader,
            admin,
            cluster,
            ..
        } = self;
        tracing::info!(%addr, "relay shutting down");
        state.shutting_down.store(true, Ordering::SeqCst);
        if let Some(reloader) = tls_reloader {
            reloader.abort();
        }
        if let Some(admin) = admin {
            admin.abort();
            let _ = admin.await;
            crate::backup::remove_admin_socket(&state.config.data_dir);
        }
        let _ = stop_http.send(());

        // Let running syncs finish: wait for 200 ms without a message, at most the grace period.
        let deadline = Instant::now() + state.config.shutdown_grace();
        let mut last = state.metrics.traffic();
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline && state.connections.len() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = state.metrics.traffic();
            if now != last {
                last = now;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= Duration::from_millis(200) {
                break;
            }
        }
        state.connections.kick_all(Kick::Shutdown);
        if !state.connections.wait_empty(Duration::from_secs(3)).await {
            tracing::warn!(open = state.connections.len(), "connections still open at shutdown");
        }
        // Every repository: acceptor closed, pending writes completed.
        state.cases.stop().await;
        if let Some((bus, follower)) = cluster {
            follower.abort();
            let _ = follower.await;
            // Give the last signals a moment to leave.
            let deadline = Instant::now() + Duration::from_millis(500);
            while bus.pending() > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            bus.stop();
        }
        match tokio::time::timeout(Duration::from_secs(5), server).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "HTTP server ended with an error"),
            Err(_) => tracing::warn!("HTTP server did not stop in time"),
            _ => {}
        }
        // The monitoring listener answered `/readyz` with 503 while draining; it stops with the relay.
        if let Some((_, monitoring)) = monitoring {
            monitoring.abort();
            let _ = monitoring.await;
        }
        // The last-seen times that changed since the last periodic save.
        seen_saver.abort();
        let _ = seen_saver.await;
        let seen = state.seen.clone();
        match tokio::task::spawn_blocking(move || seen.persist()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "saving last-seen times failed"),
            Err(e) => tracing::warn!(error = %e, "saving last-seen times: task failed"),
        }
        let failures = state.storage.failures();
        drop(state);
        // Cut samod's (never-ending) tasks off the database, flush it and close it.
        let Some(sled) = database.detach() else { return };
        let flushed = {
            let s = sled.clone();
            tokio::task::spawn_blocking(move || s.flush()).await
        };
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "final flush failed"),
            Err(e) => tracing::error!(error = %e, "final flush task failed"),
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&sled) > 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if Arc::strong_count(&sled) > 1 {
            tracing::warn!("the database is still in use after shutdown");
        }
        // Dropping the last reference closes sled (on a blocking thread: it joins its flusher).
        let _ = tokio::task::spawn_blocking(move || drop(sled)).await;
        tracing::info!(%addr, storage_failures = failures, "relay stopped");
    }
}

/// Run a relay until `shutdown` completes, then shut it down gracefully. This is what the binary does with
/// SIGINT/SIGTERM as `shutdown`.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    let handle = Relay::start(config).await?;
    shutdown.await;
    handle.shutdown().await;
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
