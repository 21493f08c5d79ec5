//! [`InProcessRelay`]: the real relay (`casebook_server`) in the test process, on a free port of 127.0.0.1,
//! with a runtime of its own, so that synchronous tests and other processes (the CLI) can use it.

use std::net::SocketAddr;
use std::path::Path;

use tempfile::TempDir;

/// A relay in this process. Shut down by [`InProcessRelay::stop`] or when dropped.
pub struct InProcessRelay {
    rt: tokio::runtime::Runtime,
    handle: Option<casebook_server::RelayHandle>,
    /// The data directory when the relay made its own.
    _dir: Option<TempDir>,
}

impl InProcessRelay {
    /// A relay with its data in a new temporary directory.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut relay = Self::start_in(dir.path());
        relay._dir = Some(dir);
        relay
    }

    /// A relay with its data in `dir` (a relay started again in the same directory serves what it stored).
    pub fn start_in(dir: &Path) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let handle = rt
            .block_on(casebook_server::Relay::start(casebook_server::Config::for_tests(dir)))
            .expect("the relay starts");
        Self { rt, handle: Some(handle), _dir: None }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.handle.as_ref().expect("running").http_url()
    }

    /// `ws://127.0.0.1:PORT`, the base of its WebSocket sync endpoint (`/v1/sync`).
    pub fn ws_url(&self) -> String {
        self.handle.as_ref().expect("running").url()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.handle.as_ref().expect("running").addr()
    }

    /// Shut it down (its data stays in its directory).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}

impl Drop for InProcessRelay {
    fn drop(&mut self) {
        self.shutdown();
    }
}
