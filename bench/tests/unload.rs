//! Unloading idle cases (`--case-unload-ms`), end to end through the relay's WebSocket with the load
//! generator's wire client: a case nobody uses is unloaded and syncs again afterwards with its data, and
//! members who stay connected but quiet past the delay still get each other's edits (their case
//! connections went dormant and are woken). The relay's own test (`server/src/cases.rs`) checks that the
//! repository is really unloaded, and that one held by a connection is not.

use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use casebook_bench::idle::small_case;
use casebook_bench::setup::families;
use casebook_bench::target::{Kind, Target};
use casebook_bench::wire::{Conn, Incoming, Replica};
use casebook_server::{Config, Relay};

const DELAY_MS: u64 = 200;
const WAIT: Duration = Duration::from_secs(30);

/// Past the delay: quiet connections let go of their cases and the relay unloads them.
async fn idle_past_the_delay() {
    tokio::time::sleep(Duration::from_millis(DELAY_MS * 5)).await;
}

/// The relay's `/metrics` text.
async fn metrics(http: &str) -> String {
    let url = format!("{http}/metrics");
    tokio::task::spawn_blocking(move || {
        ureq::get(&url).call().expect("metrics").body_mut().read_to_string().expect("metrics text")
    })
    .await
    .expect("the request ran")
}

fn title(r: &Replica) -> Option<String> {
    r.doc.get(ROOT, "title").ok().flatten().map(|(v, _)| v.as_str().unwrap_or_default().to_string())
}

fn edit(r: &mut Replica, text: &str) {
    let mut tx = r.doc.transaction();
    tx.put(ROOT, "title", text).expect("put");
    tx.commit();
}

/// Receive until `r` has `want` as its title (answering the relay as a client does).
async fn until_title(r: &mut Replica, conn: &mut Conn, want: &str) {
    let got = tokio::time::timeout(WAIT, async {
        while title(r).as_deref() != Some(want) {
            match conn.recv().await.expect("recv") {
                Incoming::Msg(m) => {
                    if r.apply(&m).expect("apply") {
                        r.flush(conn).await.expect("send");
                    }
                }
                Incoming::Control => {}
                Incoming::Closed => panic!("the relay closed the connection"),
            }
        }
    })
    .await;
    assert!(got.is_ok(), "`{want}` did not arrive; title {:?}", title(r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_cases_unload_and_sync_again_and_quiet_members_still_get_edits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config { case_unload_ms: DELAY_MS, ..Config::for_tests(dir.path()) };
    let relay = Relay::start(config).await.expect("relay");
    let target = Target {
        kind: Kind::Ours,
        ws_url: format!("{}/v1/sync", relay.url()),
        http_url: Some(relay.http_url()),
        pid: None,
        others: Vec::new(),
    };
    let fam = families(&target, 1, 2, 1).await.expect("family").pop().expect("one");
    let (ana, ben) = (&fam.members[0], &fam.members[1]);
    let connect = |m: &casebook_bench::setup::Member| {
        let (url, token, peer) = (target.ws_url.clone(), m.token.clone(), m.peer_id.clone());
        async move { Conn::connect(&url, token.as_deref(), &peer, WAIT).await.expect("connect") }
    };

    // Ana stores the case and leaves; nobody uses it past the delay: the relay unloads it.
    let mut a = Replica::new(fam.doc_id.clone(), small_case());
    edit(&mut a, "first");
    let mut a_conn = connect(ana).await;
    a.sync_until(&mut a_conn, WAIT, Replica::relay_has_ours).await.expect("ana syncs");
    a_conn.close().await;
    idle_past_the_delay().await;
    // Operators see it in the metrics.
    let metrics = metrics(&relay.http_url()).await;
    assert!(metrics.contains("\ncasebook_relay_cases_loaded 0\n"), "{metrics}");
    assert!(!metrics.contains("\ncasebook_relay_cases_unloaded_total 0\n"), "{metrics}");

    // Ben, from nothing, gets all of it from the reloaded case.
    let mut b = Replica::new(fam.doc_id.clone(), automerge::Automerge::new());
    let mut b_conn = connect(ben).await;
    let heads = a.heads();
    b.sync_until(&mut b_conn, WAIT, |r| r.heads() == heads).await.expect("ben syncs after the unload");
    assert_eq!(title(&b).as_deref(), Some("first"));

    // Both connected, both quiet past the delay (their case connections go dormant, the case unloads);
    // then each edit still reaches the other one, several times over.
    let mut a_conn = connect(ana).await;
    a.sync_until(&mut a_conn, WAIT, Replica::relay_has_ours).await.expect("ana syncs again");
    for round in 0..3 {
        idle_past_the_delay().await;
        let text = format!("from ana {round}");
        edit(&mut a, &text);
        a.flush(&mut a_conn).await.expect("ana sends");
        until_title(&mut b, &mut b_conn, &text).await;

        idle_past_the_delay().await;
        let text = format!("from ben {round}");
        edit(&mut b, &text);
        b.flush(&mut b_conn).await.expect("ben sends");
        until_title(&mut a, &mut a_conn, &text).await;
    }
    // And the relay still holds everything after one more unload.
    idle_past_the_delay().await;
    a_conn.close().await;
    b_conn.close().await;
    let mut c = Replica::new(fam.doc_id.clone(), automerge::Automerge::new());
    let mut c_conn = connect(ana).await;
    let heads = b.heads();
    c.sync_until(&mut c_conn, WAIT, |r| r.heads() == heads).await.expect("a new replica syncs");
    assert_eq!(title(&c).as_deref(), Some("from ben 2"));
    c_conn.close().await;
    relay.shutdown().await;
}
