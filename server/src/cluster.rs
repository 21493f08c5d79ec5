//! Several relay processes on one PostgreSQL database: what one process tells the others, and what a
//! process does when told.
//!
//! **The design.** Every process serves any case over the shared storage; there is no owner of a case, no
//! lease, no forwarding between processes. What must be decided once is decided by the database (see
//! `accounts`: single-use codes taken with a conditional delete, case records changed by compare-and-swap).
//! Every write a process makes is followed by a [`Signal`] on the bus (`bus`, PostgreSQL `LISTEN/NOTIFY`):
//! a directory record changed, or a document chunk was stored or deleted. A process hearing a signal
//!
//! - reloads that directory record (share policies re-evaluate at once, so a member removed on one process
//!   stops receiving on every other within the signal's latency; a revoked device's live connections are
//!   closed with 4401);
//! - reads that chunk and applies it to the document if the case's samod repository is open here (samod
//!   then sends the change to the devices connected here, and stores what it lacks: chunk keys are content
//!   hashes, so a chunk another process stored is written again with the same key and bytes);
//! - adjusts the case's storage count (quota).
//!
//! Signals are hints: one can be lost (the bus down, a process busy, a queue full). So every
//! `--cluster-repair-secs` (and whenever the bus reconnects) a process reloads the whole directory and, for
//! every document open here, applies every stored chunk it has not applied yet. Nothing acknowledged to a
//! device depends on a signal: an acknowledgement (`GET …/heads`) reports what is stored.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use casebook_core::storage::{Storage, key};
use futures::StreamExt;
use samod::{DocHandle, DocumentId, SearchState};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::connections::Kick;
use crate::state::AppState;

/// What one relay process tells the others after a write committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Signal {
    /// The directory record `relay/<kind>/<id>` was written or deleted.
    Record {
        /// `account`, `device`, `case`, …
        kind: String,
        /// The record's id.
        id: String,
    },
    /// A document chunk (`<doc>/<incremental|snapshot>/<hash>`) was stored or deleted.
    Chunk {
        /// The storage key, flat (`a/b/c`).
        key: String,
        /// Bytes before the write (`None`: absent).
        old: Option<u64>,
        /// Bytes after the write (`None`: deleted).
        new: Option<u64>,
    },
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |n| n.to_string())
}

fn parse_opt(s: &str) -> Option<Option<u64>> {
    if s == "-" { Some(None) } else { s.parse().ok().map(Some) }
}

impl Signal {
    /// One line of a bus message (ids and keys hold no spaces).
    pub(crate) fn encode(&self) -> String {
        match self {
            Signal::Record { kind, id } => format!("r {kind} {id}"),
            Signal::Chunk { key, old, new } => format!("c {} {} {key}", opt(*old), opt(*new)),
        }
    }

    /// The signal of one line; `None` for anything else (ignored).
    pub(crate) fn decode(line: &str) -> Option<Signal> {
        let mut parts = line.split(' ');
        let signal = match parts.next()? {
            "r" => Signal::Record { kind: parts.next()?.to_string(), id: parts.next()?.to_string() },
            "c" => {
                let old = parse_opt(parts.next()?)?;
                let new = parse_opt(parts.next()?)?;
                Signal::Chunk { key: parts.next()?.to_string(), old, new }
            }
            _ => return None,
        };
        parts.next().is_none().then_some(signal)
    }
}

/// Where a process announces its writes (the bus; nothing with sled).
pub(crate) trait Announce: Send + Sync {
    /// Tell the other processes; never blocks (a signal that cannot be queued is dropped and counted:
    /// the periodic repair covers it).
    fn announce(&self, signal: Signal);
}

/// What the bus delivers to this process.
#[derive(Debug)]
pub(crate) enum BusEvent {
    /// Signals of another process.
    Signals(Vec<Signal>),
    /// The bus (re)connected: signals may have been missed meanwhile.
    Connected,
}

/// Chunks applied to each open document, so that a repair applies only what is new.
#[derive(Default)]
pub(crate) struct Applied {
    docs: Mutex<HashMap<String, HashSet<String>>>,
    /// Repairs run so far.
    repairs: std::sync::atomic::AtomicU64,
}

impl Applied {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.docs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The repair running beside the signals, if any; aborted with the follower.
#[derive(Default)]
struct Repairs(Option<tokio::task::JoinHandle<()>>);

impl Repairs {
    /// Start a repair beside the signals. A periodic one (`again` false) is skipped while one runs; after a
    /// reconnection (`again` true) one runs after the current one, since signals were missed meanwhile.
    fn start(&mut self, state: &AppState, applied: &Arc<Applied>, again: bool) {
        let running = self.0.take().filter(|h| !h.is_finished());
        if running.is_some() && !again {
            self.0 = running;
            return;
        }
        let (state, applied) = (state.clone(), applied.clone());
        self.0 = Some(tokio::spawn(async move {
            if let Some(previous) = running {
                let _ = previous.await;
            }
            repair_all(&state, &applied).await;
        }));
    }
}

impl Drop for Repairs {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}

/// Follow the bus and repair periodically until `events` ends. A repair (the whole directory and every
/// open document's chunk list, read from the database: hundreds of milliseconds with hundreds of cases
/// open) runs beside the signals, not in front of them: the edits other processes announce meanwhile
/// reach the devices here at once.
pub(crate) async fn follow(state: AppState, mut events: UnboundedReceiver<BusEvent>, repair_every: Duration) {
    let applied = Arc::new(Applied::default());
    let mut repair = tokio::time::interval(repair_every.max(Duration::from_millis(100)));
    repair.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    repair.tick().await;
    let mut repairs = Repairs::default();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                None => return,
                Some(BusEvent::Connected) => repairs.start(&state, &applied, true),
                Some(BusEvent::Signals(mut signals)) => {
                    // Take what is already queued too: one pass per burst.
                    while let Ok(BusEvent::Signals(more)) = events.try_recv() {
                        signals.extend(more);
                    }
                    handle(&state, &applied, signals).await;
                }
            },
            _ = repair.tick() => repairs.start(&state, &applied, false),
        }
    }
}

/// A chunk written by another process: its key, bytes before and after.
type ChunkWrite = (String, Option<u64>, Option<u64>);

/// Apply a burst of signals: directory records first (a new document's registration before its chunks).
async fn handle(state: &AppState, applied: &Arc<Applied>, signals: Vec<Signal>) {
    let mut records: Vec<(String, String)> = Vec::new();
    let mut chunks: BTreeMap<String, Vec<ChunkWrite>> = BTreeMap::new();
    for s in signals {
        match s {
            Signal::Record { kind, id } => {
                if !records.iter().any(|(k, i)| *k == kind && *i == id) {
                    records.push((kind, id));
                }
            }
            Signal::Chunk { key, old, new } => {
                let doc = key.split('/').next().unwrap_or_default().to_string();
                chunks.entry(doc).or_default().push((key, old, new));
            }
        }
    }
    if !records.is_empty() {
        let dir = state.dir.clone();
        let reloaded = tokio::task::spawn_blocking(move || {
            let mut revoked = Vec::new();
            for (kind, id) in records {
                match dir.reload(&kind, &id) {
                    Ok(r) => revoked.extend(r.revoked_devices),
                    Err(e) => tracing::warn!(kind, error = %e, "cannot reload a directory record"),
                }
            }
            revoked
        })
        .await;
        for device in reloaded.unwrap_or_default() {
            state.connections.kick_device(&device, Kick::Revoked);
        }
    }
    for (doc, writes) in chunks {
        for (_, old, new) in &writes {
            state.quota.remote_write(&doc, old.map(|v| v as usize), new.map(|v| v as usize));
        }
        let keys: Vec<String> = writes.into_iter().filter(|(_, _, new)| new.is_some()).map(|(k, _, _)| k).collect();
        if keys.is_empty() {
            continue;
        }
        let Some(case) = state.dir.case_of(&doc) else { continue };
        match state.cases.running(&case) {
            // Applied to the open document; its dormant WebSockets here wake up to receive it.
            // Touched even when nothing was new to the document (samod may have loaded it from storage after
            // the write): a dormant WebSocket here may still lack it.
            Some(repo) => {
                let changed = apply(state, applied, &doc, Some(keys)).await;
                tracing::debug!(case_id = case, changed, "another process's chunks applied");
                state.cases.touch(&case, &repo);
            }
            // Not open here: WebSockets here that let go of the case (dormant) start it again, from storage.
            None => {
                let woken = state.cases.wake_watchers(&case).await;
                tracing::debug!(case_id = case, woken, "another process wrote to a case not open here");
                // Started again for them: open the document too (a repository starts without documents, and
                // samod pushes only what it has open to the connections that come back).
                if woken && let Some(repo) = state.cases.running(&case) {
                    apply(state, applied, &doc, Some(keys)).await;
                    state.cases.touch(&case, &repo);
                }
            }
        }
    }
}

/// The samod handle of `doc` if its case's repository runs here and has it (loads it from storage if it
/// is not loaded yet); `None` when nothing here serves it.
async fn open_handle(state: &AppState, doc: &str) -> Option<DocHandle> {
    let case = state.dir.case_of(doc)?;
    let repo = state.cases.running(&case)?;
    let id: DocumentId = doc.parse().ok()?;
    let (mut search, mut updates) = repo.repo().search(id).ok()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match search {
            SearchState::Found(h) => return Some(h),
            // Asked from the devices here (it was not stored when one asked): nothing to apply to.
            SearchState::Requesting(_) => return None,
            SearchState::Loading => match tokio::time::timeout_at(deadline, updates.next()).await {
                Ok(Some(next)) => search = next,
                _ => return None,
            },
        }
    }
}

/// Apply stored chunks of `doc` to its open samod document: `keys`, or (`None`) every chunk not applied
/// yet. A key gone meanwhile (compacted into a snapshot) makes it read every chunk. Whether the document
/// changed.
async fn apply(state: &AppState, applied: &Arc<Applied>, doc: &str, keys: Option<Vec<String>>) -> bool {
    let Some(handle) = open_handle(state, doc).await else {
        applied.lock().remove(doc);
        return false;
    };
    let storage = state.database.clone();
    let applied = applied.clone();
    let metrics = state.metrics.clone();
    let started = std::time::Instant::now();
    let doc = doc.to_string();
    let result = tokio::task::spawn_blocking(move || -> Result<usize, casebook_core::storage::StorageError> {
        let known: HashSet<String> = applied.lock().get(&doc).cloned().unwrap_or_default();
        let mut chunks: Vec<(String, Vec<u8>)> = Vec::new();
        let mut listing = None;
        if let Some(keys) = keys {
            for k in keys.into_iter().filter(|k| !known.contains(k)) {
                match storage.load(&key(k.split('/'))?)? {
                    Some(v) => chunks.push((k, v)),
                    None => {
                        listing = Some(());
                        break;
                    }
                }
            }
        } else {
            listing = Some(());
        }
        let mut present: Option<HashSet<String>> = None;
        if listing.is_some() {
            // The keys only (cheap), then the values of those not applied yet: all of them at once the
            // first time this process meets the document, one by one afterwards.
            chunks.clear();
            let prefix = key([doc.as_str()])?;
            let keys: HashSet<String> = storage.keys(&prefix)?.iter().map(|k| k.to_string()).collect();
            let missing: Vec<&String> = keys.iter().filter(|k| !known.contains(*k)).collect();
            if missing.len() > 16 {
                chunks = storage
                    .load_range(&prefix)?
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .filter(|(k, _)| !known.contains(k))
                    .collect();
            } else {
                for k in missing {
                    if let Some(v) = storage.load(&key(k.split('/'))?)? {
                        chunks.push((k.clone(), v));
                    }
                }
            }
            present = Some(keys);
        }
        let mut changed = 0;
        handle.with_document(|d| {
            let before = d.get_heads();
            for (k, bytes) in &chunks {
                if let Err(e) = d.load_incremental(bytes) {
                    tracing::warn!(error = %e, "a stored chunk does not load");
                    let _ = k;
                }
            }
            if d.get_heads() != before {
                changed = chunks.len();
            }
        });
        let mut map = applied.lock();
        let set = map.entry(doc).or_default();
        if let Some(present) = present {
            set.retain(|k| present.contains(k));
        }
        set.extend(chunks.into_iter().map(|(k, _)| k));
        if changed > 0 {
            metrics.cluster_apply.observe(started.elapsed());
        }
        Ok(changed)
    })
    .await;
    match result {
        Ok(Ok(changed)) => changed > 0,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read another relay's chunks");
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "applying another relay's chunks failed");
            false
        }
    }
}

/// Reload the directory and apply every unapplied chunk of every document open here.
async fn repair_all(state: &AppState, applied: &Arc<Applied>) {
    let dir = state.dir.clone();
    match tokio::task::spawn_blocking(move || dir.reload_all()).await {
        Ok(Ok(r)) => {
            for device in r.revoked_devices {
                state.connections.kick_device(&device, Kick::Revoked);
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot reload the directory"),
        Err(e) => tracing::warn!(error = %e, "directory reload failed"),
    }
    // Counts drift only by lost signals: recounted from storage every 30th repair (a recount reads every
    // document's chunks again when it is next written).
    if applied.repairs.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 30 == 29 {
        state.quota.forget_counts();
    }
    let seen = state.seen.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || seen.merge_stored()).await {
        tracing::warn!(error = %e, "cannot read the other processes' last-seen times");
    }
    for (case, repo) in state.cases.all_running() {
        let mut changed = false;
        for doc in state.dir.documents_of(&case) {
            changed |= apply(state, applied, &doc, None).await;
        }
        if changed {
            state.cases.touch(&case, &repo);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_round_trip_and_junk_is_ignored() {
        let signals = [
            Signal::Record { kind: "case".into(), id: "2W7hUGUKr7oAmKDYR6cdv8c6Wko6".into() },
            Signal::Chunk { key: "doc/incremental/abc".into(), old: None, new: Some(120) },
            Signal::Chunk { key: "doc/snapshot/def".into(), old: Some(7), new: None },
        ];
        for s in &signals {
            assert_eq!(Signal::decode(&s.encode()).as_ref(), Some(s));
        }
        for junk in ["", "r case", "c 1 2", "c x - k", "x a b", "r a b c"] {
            assert_eq!(Signal::decode(junk), None, "{junk}");
        }
    }
}
