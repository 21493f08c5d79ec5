//! Smoke run of the load generator (CI): our relay in-process, each workload at tiny N, a few seconds.
//! Checks that every workload completes and its figures are sane, never the targets.

use std::path::Path;
use std::time::Duration;

use casebook_bench::target::{Kind, Restartable, Target};
use casebook_bench::{active, catchup, cold, idle, storm};
use casebook_server::{Config, Relay, RelayHandle};

/// Our relay in this process, restartable on the same address and data directory.
struct InProcess {
    dir: tempfile::TempDir,
    config: Config,
    handle: Option<RelayHandle>,
    target: Target,
}

fn target_of(handle: &RelayHandle) -> Target {
    Target {
        kind: Kind::Ours,
        ws_url: format!("{}/v1/sync", handle.url()),
        http_url: Some(handle.http_url()),
        // The relay shares this process: memory figures would be the test's, so none.
        pid: None,
        others: Vec::new(),
    }
}

impl InProcess {
    async fn start() -> InProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_tests(dir.path());
        let handle = Relay::start(config.clone()).await.expect("relay");
        // Restarts listen where the first start did.
        config.listen = handle.addr();
        let target = target_of(&handle);
        InProcess { dir, config, handle: Some(handle), target }
    }
}

impl Restartable for InProcess {
    fn target(&self) -> &Target {
        &self.target
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    async fn stop_relay(&mut self) -> anyhow::Result<()> {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
        Ok(())
    }

    async fn start_relay(&mut self) -> anyhow::Result<()> {
        let handle = Relay::start(self.config.clone()).await?;
        self.target = target_of(&handle);
        self.handle = Some(handle);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_run_against_our_relay() {
    let limit = Duration::from_secs(60);
    let mut relay = InProcess::start().await;
    let target = relay.target.clone();
    let t = std::time::Instant::now();
    let lap = |what: &str| eprintln!("smoke: {what} done at {:.1} s", t.elapsed().as_secs_f64());

    let r = idle::run(&target, 10, 10, Duration::from_millis(200), Duration::ZERO).await.expect("idle");
    assert_eq!(r.connected, 10, "{r:?}");
    assert!(r.connect_secs > 0.0 && r.connect_secs < 60.0, "{r:?}");
    lap("idle");

    let r = active::run(&target, 3, 3, &[2.0, 4.0], Duration::from_secs(1), 10_000.0, Duration::ZERO)
        .await
        .expect("active");
    assert_eq!(r.steps.len(), 2, "{r:?}");
    for s in &r.steps {
        assert!(s.edits_per_sec > 0.0 && s.delivered_pct > 50.0 && s.p99_ms >= s.p50_ms, "{s:?}");
    }
    lap("active");

    let rows = catchup::run(&target, &[1, 10]).await.expect("catch-up");
    for row in &rows {
        assert!(row.round_trips >= 1 && row.round_trips < 10, "{row:?}");
        assert!(row.change_bytes > 0 && row.wire_bytes > row.change_bytes / 2, "{row:?}");
    }
    lap("catch-up");

    let r = storm::run(&mut relay, 8, 8, limit).await.expect("storm");
    assert_eq!((r.connected, r.up_to_date), (8, 8), "{r:?}");
    assert!(r.catch_up_secs >= 0.0 && r.total_secs < 60.0, "{r:?}");
    lap("storm");

    let r = cold::run(&mut relay, 20, 2, 100, limit).await.expect("cold start");
    assert!(r.case_bytes > 500 && r.first_byte_secs > 0.0 && r.first_sync_secs >= r.first_byte_secs, "{r:?}");

    lap("cold start");
    relay.stop_relay().await.expect("stop");
}
