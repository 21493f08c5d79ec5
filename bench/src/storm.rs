//! Reconnect storm: N clients, each with its own case, connected and in sync; the relay restarts (SIGTERM,
//! then the same binary on the same port and data directory); every client, having made one edit while the
//! relay was down, reconnects at once (retrying every ~100 ms) and syncs. Figures: time until every client
//! is up to date again (the relay holds its edit and it holds the relay's heads), peak relay memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc, Value, sync};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::active::Tasks;
use crate::idle::small_case;
use crate::setup::{Family, families};
use crate::target::{Restartable, Target};
use crate::wire::{Conn, Incoming, Replica};

/// Reconnect storm figures.
#[derive(Debug, Clone)]
pub struct StormResult {
    /// Clients asked for.
    pub clients: usize,
    /// Clients connected and in sync before the restart.
    pub connected: usize,
    /// Time to connect them all first, seconds.
    pub connect_secs: f64,
    /// SIGTERM until the old process exited, seconds.
    pub stop_secs: f64,
    /// Start of the new process until it listened, seconds.
    pub start_secs: f64,
    /// Clients up to date after the restart.
    pub up_to_date: usize,
    /// From the new process listening until the last client was up to date, seconds.
    pub catch_up_secs: f64,
    /// From SIGTERM to the old process until the last client was up to date, seconds.
    pub total_secs: f64,
    /// Connection attempts made after the restart, all clients (≥ clients: refused ones retried).
    pub attempts: u64,
    /// Peak resident memory of the new relay process (VmHWM), bytes.
    pub peak_rss: Option<u64>,
    /// Resident memory of the new relay process with every client back, bytes.
    pub rss_after: Option<u64>,
}

enum Report {
    /// Connected and in sync before the restart (or failed to).
    Connected(bool),
    /// Up to date after the restart, at this instant, after this many connection attempts.
    UpToDate(Instant, u64),
}

fn offline_edit(r: &mut Replica) -> Result<()> {
    let notes = match r.doc.get(ROOT, "notes")? {
        Some((Value::Object(ObjType::Text), id)) => id,
        _ => bail!("no notes"),
    };
    let mut tx = r.doc.transaction();
    let len = tx.length(&notes);
    tx.splice_text(&notes, len, 0, " edited offline")?;
    tx.commit();
    Ok(())
}

async fn client(
    target: Arc<Target>,
    fam: Family,
    connecting: Arc<Semaphore>,
    reports: mpsc::UnboundedSender<Report>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let member = &fam.members[0];
    let connect = || Conn::connect(&target.ws_url, member.token.as_deref(), &member.peer_id, Duration::from_secs(60));
    let mut r = Replica::new(fam.doc_id.clone(), small_case());
    let first = async {
        let _permit = connecting.acquire().await?;
        let mut conn = connect().await?;
        r.sync_until(&mut conn, Duration::from_secs(120), Replica::relay_has_ours).await?;
        anyhow::Ok(conn)
    }
    .await;
    let _ = reports.send(Report::Connected(first.is_ok()));
    let mut conn = first?;
    // Connected until the relay goes away.
    loop {
        match conn.recv().await {
            Ok(Incoming::Closed) | Err(_) => break,
            Ok(_) => {}
        }
    }
    offline_edit(&mut r)?;
    // What a client with storage keeps across connections: the persisted sync state.
    r.state = sync::State::decode(&r.state.encode())?;
    let mut attempts = 0u64;
    let mut conn = loop {
        attempts += 1;
        let jitter = Duration::from_millis(u64::from(uuid::Uuid::new_v4().as_u128() as u8) % 50);
        match connect().await {
            Ok(mut conn) => match r.sync_until(&mut conn, Duration::from_secs(60), Replica::relay_has_ours).await {
                Ok(_) => break conn,
                Err(_) => r.state = sync::State::decode(&r.state.encode())?,
            },
            Err(_) => tokio::time::sleep(Duration::from_millis(75) + jitter).await,
        }
    };
    let _ = reports.send(Report::UpToDate(Instant::now(), attempts));
    drop(reports);
    loop {
        tokio::select! {
            m = conn.recv() => match m {
                Ok(Incoming::Closed) | Err(_) => return Ok(()),
                Ok(_) => {}
            },
            _ = stop.changed() => break,
        }
    }
    conn.close().await;
    Ok(())
}

/// Connect `n` clients to `relay` (at most `parallel` handshakes at a time for the first connection;
/// none for the reconnection), restart it, wait (at most `limit`) until every client is up to date.
pub async fn run<R: Restartable>(relay: &mut R, n: usize, parallel: usize, limit: Duration) -> Result<StormResult> {
    let fams = families(relay.target(), n, 1, 16).await?;
    let target = Arc::new(relay.target().clone());
    let connecting = Arc::new(Semaphore::new(parallel.max(1)));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let start = Instant::now();
    let mut tasks = Tasks::default();
    for fam in fams {
        tasks.0.push(tokio::spawn(client(target.clone(), fam, connecting.clone(), tx.clone(), stop_rx.clone())));
    }
    drop(tx);
    let mut connected = 0;
    for _ in 0..n {
        match tokio::time::timeout(limit, rx.recv()).await {
            Ok(Some(Report::Connected(ok))) => connected += usize::from(ok),
            Ok(_) => bail!("a client ended before connecting"),
            Err(_) => bail!("storm: {connected}/{n} clients connected within {limit:?}"),
        }
    }
    let connect_secs = start.elapsed().as_secs_f64();
    eprintln!("storm: {connected}/{n} connected in {connect_secs:.1} s; restarting the relay");
    let t_stop = Instant::now();
    relay.stop_relay().await?;
    let stop_secs = t_stop.elapsed().as_secs_f64();
    let t_start = Instant::now();
    relay.start_relay().await?;
    let t_up = Instant::now();
    let start_secs = t_start.elapsed().as_secs_f64();
    let (mut up_to_date, mut attempts, mut last) = (0usize, 0u64, t_up);
    let deadline = tokio::time::Instant::now() + limit;
    while up_to_date < connected {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Report::UpToDate(at, a))) => {
                up_to_date += 1;
                attempts += a;
                last = last.max(at);
            }
            Ok(Some(Report::Connected(_))) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let target = relay.target();
    let (peak_rss, rss_after) = (target.peak_rss_bytes(), target.rss_bytes());
    let catch_up_secs = last.duration_since(t_up).as_secs_f64();
    let total_secs = last.duration_since(t_stop).as_secs_f64();
    eprintln!("storm: {up_to_date}/{connected} up to date {catch_up_secs:.2} s after the relay listened again");
    let _ = stop_tx.send(true);
    tasks.join(Duration::from_secs(10)).await;
    Ok(StormResult {
        clients: n,
        connected,
        connect_secs,
        stop_secs,
        start_secs,
        up_to_date,
        catch_up_secs,
        total_secs,
        attempts,
        peak_rss,
        rss_after,
    })
}
