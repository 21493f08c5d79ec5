//! Idle scale: N clients, each with its own case, connect, sync it, and stay connected.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::setup::{Family, families};
use crate::target::Target;
use crate::wire::{Conn, Incoming, Replica};

/// Idle scale figures.
#[derive(Debug, Clone)]
pub struct IdleResult {
    /// Clients asked for.
    pub clients: usize,
    /// Clients connected and in sync with their case.
    pub connected: usize,
    /// Account setup (ours only), seconds.
    pub setup_secs: f64,
    /// From the first connect until every client was in sync, seconds.
    pub connect_secs: f64,
    /// Relay RSS before the first connection, bytes.
    pub rss_before: Option<u64>,
    /// Relay RSS with all connected (after the hold), bytes.
    pub rss_after: Option<u64>,
    /// Relay RSS after the further settle time (none if not asked), bytes.
    pub rss_settled: Option<u64>,
    /// Clients still connected at the end (a relay that closed idle ones would show here).
    pub still_connected: usize,
    /// Each relay process's RSS before the first connection, bytes (one entry unless a cluster).
    pub rss_before_each: Vec<Option<u64>>,
    /// Each relay process's RSS with all connected, bytes.
    pub rss_after_each: Vec<Option<u64>>,
}

impl IdleResult {
    /// Relay memory per connection, bytes.
    pub fn bytes_per_connection(&self) -> Option<f64> {
        Some((self.rss_after? as f64 - self.rss_before? as f64) / self.connected.max(1) as f64)
    }

    /// Relay memory per connection after the settle time, bytes.
    pub fn settled_bytes_per_connection(&self) -> Option<f64> {
        Some((self.rss_settled? as f64 - self.rss_before? as f64) / self.connected.max(1) as f64)
    }

    /// Each relay process's memory growth per connection it holds (clients are spread round robin),
    /// bytes, in process order.
    pub fn bytes_per_connection_each(&self) -> Vec<Option<f64>> {
        let n = self.rss_after_each.len().max(1);
        (0..n)
            .map(|k| {
                // Clients k, k + n, k + 2n, … went to process k (all of them counted, connected or not).
                let held = (self.clients + n - 1 - k) / n;
                let (a, b) = (self.rss_after_each.get(k).copied()??, self.rss_before_each.get(k).copied()??);
                Some((a as f64 - b as f64) / held.max(1) as f64)
            })
            .collect()
    }
}

/// A small case document (a few fields and a note), as a client creates it.
pub fn small_case() -> automerge::Automerge {
    let mut d = AutoCommit::new();
    d.put(ROOT, "display_name", "Bench patient").expect("put");
    let notes = d.put_object(ROOT, "notes", ObjType::Text).expect("put_object");
    d.splice_text(&notes, 0, 0, "Appointment notes: first visit.").expect("splice");
    d.commit();
    d.document().clone()
}

async fn client(
    target: Arc<Target>,
    index: usize,
    fam: Family,
    connecting: Arc<Semaphore>,
    done: mpsc::UnboundedSender<bool>,
    mut stop: watch::Receiver<bool>,
) -> bool {
    let member = &fam.members[0];
    let permit = connecting.acquire().await;
    let conn = async {
        let mut conn =
            Conn::connect(target.ws_url_for(index), member.token.as_deref(), &member.peer_id, Duration::from_secs(120))
                .await?;
        let mut r = Replica::new(fam.doc_id.clone(), small_case());
        r.sync_until(&mut conn, Duration::from_secs(120), Replica::relay_has_ours).await?;
        anyhow::Ok(conn)
    }
    .await;
    drop(permit);
    let _ = done.send(conn.is_ok());
    drop(done);
    let Ok(mut conn) = conn else { return false };
    loop {
        tokio::select! {
            r = conn.recv() => match r {
                Ok(Incoming::Closed) | Err(_) => return false,
                _ => {}
            },
            _ = stop.changed() => break,
        }
    }
    conn.close().await;
    true
}

/// Connect `n` clients (at most `parallel` handshakes at a time), hold them `hold`, measure, then (unless
/// `settle` is zero) hold them `settle` more and measure again; report.
pub async fn run(target: &Target, n: usize, parallel: usize, hold: Duration, settle: Duration) -> Result<IdleResult> {
    let t = Instant::now();
    let fams = families(target, n, 1, 16).await?;
    let setup_secs = t.elapsed().as_secs_f64();
    eprintln!("idle: {n} identities in {setup_secs:.1} s");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before_each = target.rss_each();
    let rss_before = rss_before_each.iter().copied().sum();
    let target = Arc::new(target.clone());
    let connecting = Arc::new(Semaphore::new(parallel.max(1)));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for (i, fam) in fams.into_iter().enumerate() {
        tasks.push(tokio::spawn(client(target.clone(), i, fam, connecting.clone(), done_tx.clone(), stop_rx.clone())));
    }
    drop(done_tx);
    let mut connected = 0;
    for _ in 0..n {
        match done_rx.recv().await {
            Some(ok) => connected += usize::from(ok),
            None => break,
        }
    }
    let connect_secs = start.elapsed().as_secs_f64();
    eprintln!("idle: {connected}/{n} connected in {connect_secs:.1} s");
    tokio::time::sleep(hold).await;
    let rss_after_each = target.rss_each();
    let rss_after = rss_after_each.iter().copied().sum();
    let rss_settled = if settle.is_zero() {
        None
    } else {
        tokio::time::sleep(settle).await;
        target.rss_bytes()
    };
    let _ = stop_tx.send(true);
    let mut still_connected = 0;
    for t in tasks {
        still_connected += usize::from(t.await.unwrap_or(false));
    }
    Ok(IdleResult {
        clients: n,
        connected,
        setup_secs,
        connect_secs,
        rss_before,
        rss_after,
        rss_settled,
        still_connected,
        rss_before_each,
        rss_after_each,
    })
}
