//! Cold start: a relay whose data directory holds N stored cases starts, and one member syncs one case.
//! Figures: time from starting the process to the first byte of that first sync, to the whole case, and
//! the relay's memory.
//!
//! The data directory is filled while the relay is stopped, directly in each relay's own storage layout,
//! with what the relay itself writes after compacting a document (one snapshot chunk per document):
//! - ours: the case registered through the HTTP API (one owner, N cases), then the chunk put under
//!   `<doc>/snapshot/<hash>` in the relay's sled database through the core's `SledStorage`;
//! - the reference: the chunk written by `NodeFSStorageAdapter`'s layout, `<dir>/<id[..2]>/<id[2..]>/snapshot/<hash>`.
//!
//! A case is synthetic but of a realistic size: [`CHANGES`] changes from 3 caregivers (fields, ~140 items,
//! notes typed in bursts of a few words), ~17 KB saved. [`TEMPLATES`] different documents are generated and
//! reused round-robin (generating 10,000 distinct ones would take longer than the measurement).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, ObjType, ROOT};
use casebook_core::storage::{SledStorage, Storage, key};

use crate::setup::owner_with_cases;
use crate::target::{Kind, Restartable};
use crate::wire::{Conn, Incoming, Replica};

/// Changes per case document (the full run's).
pub const CHANGES: usize = 1000;

/// Distinct case documents generated (the full run's); cases reuse them round-robin.
pub const TEMPLATES: usize = 16;

/// Cold start figures.
#[derive(Debug, Clone)]
pub struct ColdResult {
    /// Stored cases.
    pub cases: usize,
    /// Saved size of one case (mean over the templates), bytes.
    pub case_bytes: u64,
    /// Data directory size after populating (`du`-like: sum of file sizes), bytes.
    pub dir_bytes: u64,
    /// Time to register and write the cases (not part of the figure), seconds.
    pub populate_secs: f64,
    /// From starting the process until it listened, seconds.
    pub listen_secs: f64,
    /// From starting the process until the first byte of the first sync answer, seconds.
    pub first_byte_secs: f64,
    /// From starting the process until the member held the whole case, seconds.
    pub first_sync_secs: f64,
    /// Relay RSS after that first sync, bytes.
    pub rss: Option<u64>,
    /// Relay peak RSS (VmHWM) until then, bytes.
    pub peak_rss: Option<u64>,
}

/// A synthetic case of realistic size: 3 caregivers, `changes` changes.
pub fn realistic_case(seed: usize, changes: usize) -> Automerge {
    let mut d = AutoCommit::new();
    let actors: Vec<ActorId> =
        (0..3).map(|a| ActorId::from(format!("bench-case-{seed}-actor-{a}").as_bytes())).collect();
    d.set_actor(actors[0].clone());
    d.put(ROOT, "schema", 1).expect("put");
    d.put(ROOT, "display_name", format!("Patient {seed}")).expect("put");
    d.put(ROOT, "stage", "second-opinion").expect("put");
    let items = d.put_object(ROOT, "items", ObjType::Map).expect("put_object");
    let notes = d.put_object(ROOT, "notes", ObjType::Text).expect("put_object");
    d.commit();
    let mut rng = seed as u64 + 1;
    let words = ["blood", "pressure", "follow-up", "scan", "results", "dose", "cardiology", "questions", "—", "é"];
    for i in 0..changes {
        d.set_actor(actors[i % 3].clone());
        if i.is_multiple_of(7) {
            let item = d.put_object(&items, format!("item-{seed}-{i}"), ObjType::Map).expect("put_object");
            d.put(&item, "kind", ["task", "cost", "question", "document"][i % 4]).expect("put");
            d.put(&item, "title", format!("Item {i} of case {seed}: {}", words[i % words.len()])).expect("put");
            d.put(&item, "done", i % 2 == 0).expect("put");
            d.put(&item, "amount_cents", (i * 137) as i64).expect("put");
        } else {
            // A burst of typing: a few pseudo-random words (typed text compresses far less than a
            // repeated vocabulary would).
            let len = automerge::ReadDoc::length(&d, &notes);
            let mut burst = String::new();
            for _ in 0..4 {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let w = (rng >> 33) as usize;
                if w.is_multiple_of(5) {
                    burst.push_str(words[w % words.len()]);
                } else {
                    (0..3 + w % 6).for_each(|k| burst.push((b'a' + ((w >> (k * 4)) % 26) as u8) as char));
                }
                burst.push(' ');
            }
            d.splice_text(&notes, len, 0, &burst).expect("splice");
        }
        d.commit();
    }
    d.document().clone()
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else { return 0 };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn populate(kind: Kind, dir: &Path, ids: &[String], templates: &[(Vec<u8>, String)]) -> Result<()> {
    match kind {
        Kind::Ours => {
            let db = SledStorage::open(dir).context("opening the relay's database")?;
            for (i, id) in ids.iter().enumerate() {
                let (bytes, hash) = &templates[i % templates.len()];
                db.put(&key([id.as_str(), "snapshot", hash.as_str()])?, bytes)?;
            }
            db.flush()?;
        }
        Kind::Reference => {
            for (i, id) in ids.iter().enumerate() {
                let (bytes, hash) = &templates[i % templates.len()];
                let d = dir.join(&id[..2]).join(&id[2..]).join("snapshot");
                std::fs::create_dir_all(&d)?;
                std::fs::write(d.join(hash), bytes)?;
            }
        }
    }
    Ok(())
}

/// Fill `relay`'s data directory with `n` cases (`templates` distinct documents of `changes` changes each,
/// [`TEMPLATES`] and [`CHANGES`] in the full run) while it is stopped, start it, and sync one case.
pub async fn run<R: Restartable>(
    relay: &mut R,
    n: usize,
    templates: usize,
    changes: usize,
    limit: Duration,
) -> Result<ColdResult> {
    anyhow::ensure!(n > 0 && templates > 0, "cold start needs at least one case");
    let t = Instant::now();
    let docs: Vec<Automerge> =
        tokio::task::spawn_blocking(move || (0..templates).map(|s| realistic_case(s, changes)).collect()).await?;
    let templates: Vec<(Vec<u8>, String)> =
        docs.iter().map(|d| (d.save(), d.get_heads().first().map(|h| h.to_string()).unwrap_or_default())).collect();
    let case_bytes = templates.iter().map(|t| t.0.len() as u64).sum::<u64>() / templates.len() as u64;
    let (member, ids) = owner_with_cases(relay.target(), n, 16).await?;
    relay.stop_relay().await?;
    let (kind, dir) = (relay.target().kind, relay.data_dir().to_path_buf());
    let ids2 = ids.clone();
    let templates2 = templates.clone();
    tokio::task::spawn_blocking(move || populate(kind, &dir, &ids2, &templates2)).await??;
    let dir_bytes = dir_size(relay.data_dir());
    let populate_secs = t.elapsed().as_secs_f64();
    eprintln!("cold: {n} cases of ~{case_bytes} B written in {populate_secs:.1} s ({dir_bytes} B on disk)");

    // The case synced: one in the middle of the population.
    let i = n / 2;
    let mut want = docs[i % docs.len()].get_heads();
    want.sort();
    let t0 = Instant::now();
    relay.start_relay().await?;
    let listen_secs = t0.elapsed().as_secs_f64();
    let target = relay.target().clone();
    let sync = async {
        // A real client retries: the first attempt may land while the relay is still setting up.
        let mut conn = loop {
            match Conn::connect(&target.ws_url, member.token.as_deref(), &member.peer_id, limit).await {
                Ok(c) => break c,
                Err(e) => {
                    eprintln!("cold: first connection failed ({e:#}); retrying");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        let mut r = Replica::new(ids[i].clone(), Automerge::new());
        r.flush(&mut conn).await?;
        let mut first_byte = None;
        while r.heads() != want {
            match conn.recv().await? {
                Incoming::Msg(m) => {
                    first_byte.get_or_insert_with(|| t0.elapsed().as_secs_f64());
                    if r.apply(&m)? {
                        r.flush(&mut conn).await?;
                    }
                }
                Incoming::Control => {}
                Incoming::Closed => bail!("the relay closed the connection"),
            }
        }
        let done = t0.elapsed().as_secs_f64();
        conn.close().await;
        anyhow::Ok((first_byte.unwrap_or(done), done))
    };
    let (first_byte_secs, first_sync_secs) =
        tokio::time::timeout(limit, sync).await.context("first sync timed out")??;
    Ok(ColdResult {
        cases: n,
        case_bytes,
        dir_bytes,
        populate_secs,
        listen_secs,
        first_byte_secs,
        first_sync_secs,
        rss: target.rss_bytes(),
        peak_rss: target.peak_rss_bytes(),
    })
}
