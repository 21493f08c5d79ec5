//! Catch-up after offline: two replicas of a case diverge by K edits each while offline, then each syncs
//! through the relay; the second one's session is measured (it sends its K changes and gets the other's K).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc, Value, sync};

use crate::idle::small_case;
use crate::setup::families;
use crate::target::Target;
use crate::wire::{Conn, Replica};

/// One divergence size.
#[derive(Debug, Clone)]
pub struct CatchupRow {
    /// Edits made offline by each replica.
    pub edits: usize,
    /// Size of the changes to exchange (both replicas' new changes, automerge's own encoding), bytes.
    pub change_bytes: u64,
    /// Messages the returning replica sent until it held everything and the relay acknowledged its heads.
    pub round_trips: u32,
    /// Bytes on the wire in that session (both directions, automerge-repo envelopes included).
    pub wire_bytes: u64,
    /// Wall time of that session, ms.
    pub wall_ms: f64,
    /// The same, for the first replica to come back (it only uploads its own K changes).
    pub first_round_trips: u32,
}

fn edit(r: &mut Replica, k: usize, tag: &str) -> Result<u64> {
    let before = r.doc.get_heads();
    let notes = match r.doc.get(ROOT, "notes")? {
        Some((Value::Object(ObjType::Text), id)) => id,
        _ => bail!("no notes"),
    };
    for i in 0..k {
        let mut tx = r.doc.transaction();
        let len = tx.length(&notes);
        tx.splice_text(&notes, len, 0, &format!("{tag}{i} "))?;
        tx.commit();
    }
    Ok(r.doc.get_changes(&before).iter().map(|c| c.raw_bytes().len() as u64).sum())
}

/// Reconnect with the persisted sync state, as a client with storage would.
fn persisted(state: &sync::State) -> sync::State {
    sync::State::decode(&state.encode()).expect("a sync state decodes")
}

/// Run each divergence size in `sizes`.
pub async fn run(target: &Target, sizes: &[usize]) -> Result<Vec<CatchupRow>> {
    let timeout = Duration::from_secs(120);
    let mut rows = Vec::new();
    for &k in sizes {
        let fam = families(target, 1, 2, 1).await?.remove(0);
        let (ma, mb) = (&fam.members[0], &fam.members[1]);
        let connect = |m: &crate::setup::Member| {
            let (url, token, peer) = (target.ws_url.clone(), m.token.clone(), m.peer_id.clone());
            async move { Conn::connect(&url, token.as_deref(), &peer, timeout).await }
        };
        // Both replicas in sync, then offline.
        let mut a = Replica::new(fam.doc_id.clone(), small_case());
        let mut ca = connect(ma).await?;
        a.sync_until(&mut ca, timeout, Replica::relay_has_ours).await?;
        let mut b = Replica::new(fam.doc_id.clone(), automerge::Automerge::new());
        let mut cb = connect(mb).await?;
        b.sync_until(&mut cb, timeout, Replica::relay_has_ours).await?;
        ca.close().await;
        cb.close().await;
        // Diverge.
        let change_bytes = edit(&mut a, k, "a")? + edit(&mut b, k, "b")?;
        let mut merged = a.doc.clone();
        merged.merge(&mut b.doc.clone())?;
        let mut want = merged.get_heads();
        want.sort();
        // A comes back first, then B (measured).
        a.state = persisted(&a.state);
        let mut ca = connect(ma).await?;
        let first_round_trips = a.sync_until(&mut ca, timeout, Replica::relay_has_ours).await?;
        b.state = persisted(&b.state);
        let mut cb = connect(mb).await?;
        let t = Instant::now();
        let round_trips = b.sync_until(&mut cb, timeout, |r| r.heads() == want && r.relay_has_ours()).await?;
        let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
        rows.push(CatchupRow {
            edits: k,
            change_bytes,
            round_trips,
            wire_bytes: cb.bytes_in + cb.bytes_out,
            wall_ms,
            first_round_trips,
        });
        ca.close().await;
        cb.close().await;
    }
    Ok(rows)
}
