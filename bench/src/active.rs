//! Active families: C cases × M members, every member editing its notes at a rate; latency from an edit
//! to its arrival at each other member, at rising rates.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use tokio::sync::{mpsc, watch};

use crate::setup::{Family, families};
use crate::stats::percentile;
use crate::target::{Target, proc_cpu_secs};
use crate::wire::{Conn, Incoming, Replica};

/// One rate step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Edits per second per member.
    pub rate_per_member: f64,
    /// Edits made per second, all members.
    pub edits_per_sec: f64,
    /// Deliveries received / expected (each edit to every other member), in %.
    pub delivered_pct: f64,
    /// Edit-to-other-member latency p50, ms (members of a family are spread over a cluster's processes round
    /// robin, so with several processes most deliveries cross processes).
    pub p50_ms: f64,
    /// p99, ms.
    pub p99_ms: f64,
    /// Relay CPU during the step, % of one core.
    pub relay_cpu_pct: Option<f64>,
    /// Load generator CPU during the step, % of one core.
    pub bench_cpu_pct: Option<f64>,
    /// Relay RSS at the end of the step, bytes.
    pub relay_rss: Option<u64>,
}

/// Active families figures.
#[derive(Debug, Clone)]
pub struct ActiveResult {
    /// Families (cases).
    pub families: usize,
    /// Members per family.
    pub members: usize,
    /// Each rate step, in order, up to the first over the limit.
    pub steps: Vec<Step>,
    /// The p99 limit the ramp stops at, ms.
    pub p99_limit_ms: f64,
    /// With a drain time ([`run`]): deliveries still missing that long after the last step
    /// (each edit to every other member; 0: every edit reached every member, late or not).
    pub undelivered_after_drain: Option<usize>,
}

impl ActiveResult {
    /// The highest edits/s of a step with p99 under the limit and ≥ 99 % delivered.
    pub fn sustained_edits_per_sec(&self) -> f64 {
        self.steps
            .iter()
            .filter(|s| s.p99_ms <= self.p99_limit_ms && s.delivered_pct >= 99.0)
            .map(|s| s.edits_per_sec)
            .fold(0.0, f64::max)
    }
}

struct Shared {
    epoch: Instant,
    members: usize,
    /// Per (family, member): (send time µs since epoch, step) of each edit, by seq - 1.
    sent: Vec<Mutex<Vec<(u64, u32)>>>,
    /// Per step: latencies in µs.
    samples: Mutex<Vec<Vec<u64>>>,
    step: AtomicU32,
    /// Deliveries received, all steps (late ones too).
    delivered: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

fn seq_of(doc: &automerge::Automerge, member: usize) -> u64 {
    match doc.get(ROOT, format!("s{member}")) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Uint(u) => *u,
            ScalarValue::Int(i) => *i as u64,
            _ => 0,
        },
        _ => 0,
    }
}

async fn member_task(
    target: Arc<Target>,
    fam: Family,
    index: usize,
    me: usize,
    shared: Arc<Shared>,
    ready: mpsc::UnboundedSender<Result<()>>,
    mut rate: watch::Receiver<f64>,
) -> Result<()> {
    let m = &fam.members[me];
    let setup = async {
        let mut conn = Conn::connect(
            target.ws_url_for(index * fam.members.len() + me),
            m.token.as_deref(),
            &m.peer_id,
            Duration::from_secs(60),
        )
        .await?;
        let doc = if me == 0 {
            let mut d = AutoCommit::new();
            let notes = d.put_object(ROOT, "notes", ObjType::Text)?;
            d.splice_text(&notes, 0, 0, "Appointment notes.")?;
            d.commit();
            d.document().clone()
        } else {
            automerge::Automerge::new()
        };
        let mut r = Replica::new(fam.doc_id.clone(), doc);
        r.sync_until(&mut conn, Duration::from_secs(120), Replica::relay_has_ours).await?;
        let notes = match r.doc.get(ROOT, "notes")? {
            Some((Value::Object(ObjType::Text), id)) => id,
            _ => bail!("no notes in the synced case"),
        };
        anyhow::Ok((conn, r, notes))
    }
    .await;
    // Report once and drop the sender: the setup waits for one report per member, not for the channel
    // to close (every task would otherwise hold it open for its whole life).
    let (mut conn, mut r, notes): (Conn, Replica, ObjId) = match setup {
        Ok(v) => {
            let _ = ready.send(Ok(()));
            drop(ready);
            v
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return Ok(());
        }
    };
    let members = shared.members;
    let mut seen = vec![0u64; members];
    let mut seq = 0u64;
    let mut period: Option<Duration> = None;
    let mut next = Instant::now();
    loop {
        let cur = *rate.borrow_and_update();
        if cur < 0.0 {
            break;
        }
        let new_period = (cur > 0.0).then(|| Duration::from_secs_f64(1.0 / cur));
        if new_period != period {
            period = new_period;
            if let Some(p) = period {
                // A random phase, so members do not edit in lockstep.
                let phase = (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0;
                next = Instant::now() + p.mul_f64(phase);
            }
        }
        let sleep_until = period.map(|_| next).unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            msg = conn.recv() => match msg? {
                Incoming::Msg(msg) => {
                    if r.apply(&msg)? {
                        let now = shared.now_us();
                        for (j, last) in seen.iter_mut().enumerate() {
                            if j == me { continue; }
                            let s = seq_of(&r.doc, j);
                            if s > *last {
                                shared.delivered.fetch_add((s - *last) as usize, Ordering::Relaxed);
                                let sent = shared.sent[index * members + j].lock().expect("lock");
                                let mut samples = shared.samples.lock().expect("lock");
                                for k in *last..s {
                                    if let Some(&(t, step)) = sent.get(k as usize) {
                                        samples[step as usize].push(now.saturating_sub(t));
                                    }
                                }
                                *last = s;
                            }
                        }
                        r.flush(&mut conn).await?;
                    }
                }
                Incoming::Control => {}
                Incoming::Closed => bail!("relay closed the connection"),
            },
            _ = tokio::time::sleep_until(sleep_until.into()) => {
                seq += 1;
                let mut tx = r.doc.transaction();
                let len = tx.length(&notes);
                tx.splice_text(&notes, len, 0, "x")?;
                tx.put(ROOT, format!("s{me}"), seq)?;
                let step = shared.step.load(Ordering::Relaxed);
                shared.sent[index * members + me].lock().expect("lock").push((shared.now_us(), step));
                tx.commit();
                r.flush(&mut conn).await?;
                if let Some(p) = period { next += p; }
            },
            _ = rate.changed() => {}
        }
    }
    conn.close().await;
    Ok(())
}

/// Run `families` × `members` clients through each of `rates` (edits/s per member) for `step` each, until
/// a step's p99 passes `p99_limit_ms`; then (unless `drain` is zero) wait `drain` more with nobody editing
/// and count the deliveries still missing (an edit that never reaches a member, as opposed to a late one).
/// Bounded: each member group must be in sync within 120 s, each step takes `step` + 1.5 s, and the
/// clients get 10 s in all to close.
pub async fn run(
    target: &Target,
    nfamilies: usize,
    members: usize,
    rates: &[f64],
    step: Duration,
    p99_limit_ms: f64,
    drain: Duration,
) -> Result<ActiveResult> {
    let fams = families(target, nfamilies, members, 16).await?;
    let setup_timeout = Duration::from_secs(120);
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        members,
        sent: (0..nfamilies * members).map(|_| Mutex::new(Vec::new())).collect(),
        samples: Mutex::new(vec![Vec::new(); rates.len()]),
        step: AtomicU32::new(0),
        delivered: Default::default(),
    });
    let target = Arc::new(target.clone());
    let (rate_tx, rate_rx) = watch::channel(0.0f64);
    let mut tasks = Tasks::default();
    // Owners first: the others find the case on the relay.
    for me in 0..members {
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
        for (i, fam) in fams.iter().enumerate() {
            tasks.0.push(tokio::spawn(member_task(
                target.clone(),
                fam.clone(),
                i,
                me,
                shared.clone(),
                ready_tx.clone(),
                rate_rx.clone(),
            )));
        }
        drop(ready_tx);
        let t = Instant::now();
        for _ in 0..nfamilies {
            match tokio::time::timeout(setup_timeout.saturating_sub(t.elapsed()), ready_rx.recv()).await {
                Ok(Some(r)) => r.with_context(|| format!("member {me} setup"))?,
                Ok(None) => bail!("member {me} setup: a member task ended without reporting"),
                Err(_) => bail!("member {me} setup: not every member was in sync after {setup_timeout:?}"),
            }
        }
        eprintln!("active: member {me} of {nfamilies} families in sync in {:.1} s", t.elapsed().as_secs_f64());
    }
    let mut result =
        ActiveResult { families: nfamilies, members, steps: Vec::new(), p99_limit_ms, undelivered_after_drain: None };
    let me = std::process::id();
    for (i, &rate) in rates.iter().enumerate() {
        shared.step.store(i as u32, Ordering::Relaxed);
        let (c0, b0, t0) = (target.cpu_secs(), proc_cpu_secs(me), Instant::now());
        let sent_before: usize = shared.sent.iter().map(|s| s.lock().expect("lock").len()).sum();
        let _ = rate_tx.send(rate);
        tokio::time::sleep(step).await;
        let _ = rate_tx.send(0.0);
        let wall = t0.elapsed().as_secs_f64();
        let (c1, b1) = (target.cpu_secs(), proc_cpu_secs(me));
        let sent: usize = shared.sent.iter().map(|s| s.lock().expect("lock").len()).sum::<usize>() - sent_before;
        // Let deliveries in flight arrive.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut lat = std::mem::take(&mut shared.samples.lock().expect("lock")[i]);
        let expected = sent * (members - 1);
        let s = Step {
            rate_per_member: rate,
            edits_per_sec: sent as f64 / wall,
            delivered_pct: if expected == 0 { 0.0 } else { 100.0 * lat.len() as f64 / expected as f64 },
            p50_ms: percentile(&mut lat, 50.0) as f64 / 1000.0,
            p99_ms: percentile(&mut lat, 99.0) as f64 / 1000.0,
            relay_cpu_pct: c0.zip(c1).map(|(a, b)| 100.0 * (b - a) / wall),
            bench_cpu_pct: b0.zip(b1).map(|(a, b)| 100.0 * (b - a) / wall),
            relay_rss: target.rss_bytes(),
        };
        let over = s.p99_ms > p99_limit_ms || s.delivered_pct < 99.0;
        result.steps.push(s);
        if over {
            break;
        }
    }
    if !drain.is_zero() {
        tokio::time::sleep(drain).await;
        let sent: usize = shared.sent.iter().map(|s| s.lock().expect("lock").len()).sum();
        let expected = sent * (members - 1);
        result.undelivered_after_drain = Some(expected.saturating_sub(shared.delivered.load(Ordering::Relaxed)));
    }
    let _ = rate_tx.send(-1.0);
    tasks.join(Duration::from_secs(10)).await;
    Ok(result)
}

/// Client tasks, aborted when dropped (a workload that fails or times out leaves nothing running).
#[derive(Default)]
pub struct Tasks(pub Vec<tokio::task::JoinHandle<Result<()>>>);

impl Tasks {
    /// Wait for every task, at most `limit` in all; abort what is left.
    pub async fn join(mut self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        for t in &mut self.0 {
            let _ = tokio::time::timeout_at(deadline, t).await;
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}
