//! Smoke run of the cluster set-up (issue 14): our relay as two in-process relays on one new PostgreSQL
//! database (`CASEBOOK_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432`), clients spread over
//! both round robin: every idle client syncs, and the active families' edits reach the members on the
//! other relay. Checks the figures are sane, never the targets.

use std::time::Duration;

use casebook_bench::target::{Database, Kind, Node, Target};
use casebook_bench::{active, idle};
use casebook_server::{Config, Relay};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_run_against_two_relays_on_one_database() {
    let admin = std::env::var("CASEBOOK_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let db = Database::create(&admin).expect("PostgreSQL for the test (CASEBOOK_TEST_POSTGRES)");
    let (d1, d2) = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let config =
        |dir: &std::path::Path| Config { database: Some(db.url()), cluster_repair_secs: 2, ..Config::for_tests(dir) };
    // One after the other: the first runs the migrations.
    let a = Relay::start(config(d1.path())).await.expect("relay 1");
    let b = Relay::start(config(d2.path())).await.expect("relay 2");
    let target = Target {
        kind: Kind::Ours,
        ws_url: format!("{}/v1/sync", a.url()),
        http_url: Some(a.http_url()),
        // The relays share this process: memory figures would be the test's, so none.
        pid: None,
        others: vec![Node { ws_url: format!("{}/v1/sync", b.url()), pid: None }],
    };
    assert_eq!(
        (target.ws_url_for(0), target.ws_url_for(3)),
        (target.ws_url.as_str(), target.others[0].ws_url.as_str())
    );

    let r = idle::run(&target, 6, 6, Duration::from_millis(200), Duration::ZERO).await.expect("idle");
    assert_eq!((r.connected, r.rss_after_each.len()), (6, 2), "{r:?}");

    // Accounts made on relay 1 connect to relay 2; members of a family are on both.
    let r = active::run(&target, 2, 3, &[2.0], Duration::from_secs(1), 10_000.0, Duration::ZERO).await.expect("active");
    let s = &r.steps[0];
    assert!(s.edits_per_sec > 0.0 && s.delivered_pct > 50.0 && s.p99_ms >= s.p50_ms, "{s:?}");

    a.shutdown().await;
    b.shutdown().await;
    drop(db);
}
