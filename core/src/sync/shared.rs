//! The state the [`super::SyncClient`] shares with its background tasks: the connection ("link"), the
//! watched cases and documents, and how a case's [`CaseSyncStatus`] is derived from samod's per-peer
//! document states.
//!
//! A document is up to date with the relay when the relay's last message advertised heads that we have
//! entirely (`their_heads == shared_heads`) and that cover every local change (`shared_heads` equal to
//! our heads; automerge sets `shared_heads` to the peer's heads once it knows all of them). "Saved to the
//! relay" is the second half alone, remembered across disconnections (`acked`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use automerge::ChangeHash;
use samod::{ConnectionId, DocHandle, DocumentId, PeerDocState};

use crate::ids::{CaseId, DocId};
use crate::store::Store;

use super::error::SyncError;
use super::status::{CaseSyncStatus, SyncEvent, SyncObserver, SyncState};

/// Lock a mutex, recovering it if a panicking thread poisoned it (every update below is a plain
/// assignment, so the data is never half-updated).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Unix seconds now.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The connection to the relay while no samod connection is established.
#[derive(Debug, Clone)]
pub(crate) enum Link {
    /// A dial attempt or the handshake is under way.
    Connecting,
    /// The last attempt failed or the connection dropped; samod retries after a backoff.
    Offline,
    /// The relay refused this device for good; samod does not retry.
    Failed(SyncError),
}

/// What is known about one document's exchange with the relay.
#[derive(Debug, Default)]
pub(crate) struct DocSync {
    /// samod's state of this document per connection.
    pub(crate) peers: HashMap<ConnectionId, PeerDocState>,
    /// The heads of samod's copy of the document.
    pub(crate) heads: Vec<ChangeHash>,
    /// The heads the open case had (or storage had, for a document the case has not open) after the last
    /// `sync_case`: remote changes make `heads` differ.
    pub(crate) case_heads: Vec<ChangeHash>,
    /// The heads last announced with [`SyncEvent::CaseChanged`].
    pub(crate) notified: Vec<ChangeHash>,
    /// The last local heads the relay acknowledged.
    pub(crate) acked: Option<Vec<ChangeHash>>,
    /// Heads known to be on local storage (written by the case, by `sync_case`, or loaded by samod).
    pub(crate) stored: Vec<ChangeHash>,
}

fn same_set(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

impl DocSync {
    /// (up to date with the relay, relay holds every local change) over connection `conn`.
    pub(crate) fn assess(&mut self, conn: Option<ConnectionId>) -> (bool, bool) {
        let peer = conn.and_then(|c| self.peers.get(&c));
        let shared = peer.and_then(|p| p.shared_heads.as_deref());
        let theirs = peer.and_then(|p| p.their_heads.as_deref());
        if shared.is_some_and(|s| same_set(s, &self.heads)) {
            self.acked = Some(self.heads.clone());
        }
        let saved = self.acked.as_deref().is_some_and(|a| same_set(a, &self.heads));
        let have_theirs = matches!((theirs, shared), (Some(t), Some(s)) if same_set(t, s));
        // A peer that ignores our changes (this account is a viewer) cannot acknowledge local edits: up to
        // date then means we have everything it has.
        let read_only = peer.is_some_and(|p| p.peer_read_only);
        (have_theirs && (saved || read_only), saved)
    }
}

/// A document being synced: samod's handle and what is known about it.
pub(crate) struct WatchedDoc {
    /// samod's handle.
    pub(crate) handle: DocHandle,
    /// Updated by the document's watcher task.
    pub(crate) sync: Arc<Mutex<DocSync>>,
    /// The watcher task.
    pub(crate) watcher: tokio::task::AbortHandle,
}

/// A case being synced.
#[derive(Default)]
pub(crate) struct WatchedCase {
    /// Its documents that exist (locally or on the relay), by id.
    pub(crate) docs: BTreeMap<DocId, WatchedDoc>,
    /// Notes documents the case names that exist neither locally nor on the relay (yet).
    pub(crate) missing: BTreeSet<DocId>,
    /// Local documents the relay has not confirmed as registered.
    pub(crate) unregistered: BTreeSet<DocId>,
    /// Whether the relay confirmed that this account is a member.
    pub(crate) membership_checked: bool,
    /// The status last announced.
    pub(crate) announced: Option<CaseSyncStatus>,
    /// When the case was last seen up to date.
    pub(crate) last_synced_at: Option<u64>,
}

impl WatchedCase {
    /// Fill in the last sync time recorded by an earlier session.
    fn load_sync_time(&mut self, store: &Store, id: &CaseId) {
        if self.last_synced_at.is_none() {
            self.last_synced_at = store.last_synced(id).ok().flatten();
        }
    }

    /// The case's status given the connection (`conn`, if the handshake completed) and the link state.
    pub(crate) fn assess(&mut self, conn: Option<ConnectionId>, link: &Link) -> (SyncState, bool) {
        let mut all_up = !self.docs.is_empty();
        let mut all_saved = true;
        for d in self.docs.values() {
            let (up, saved) = lock(&d.sync).assess(conn);
            all_up &= up;
            all_saved &= saved;
        }
        let state = match (conn, link) {
            (Some(_), _) if all_up => SyncState::UpToDate,
            (Some(_), _) => SyncState::Syncing,
            (None, Link::Connecting) => SyncState::Connecting,
            (None, Link::Offline | Link::Failed(_)) => SyncState::Offline,
        };
        (state, !self.docs.is_empty() && all_saved)
    }
}

/// Shared between the client's API (caller threads) and its background tasks.
pub(crate) struct Shared {
    /// The local store.
    pub(crate) store: Store,
    /// Connection state while not connected.
    pub(crate) link: Mutex<Link>,
    /// Cases being synced.
    pub(crate) cases: Mutex<HashMap<CaseId, WatchedCase>>,
    /// Wakes the monitor task (a document or the connection changed).
    pub(crate) wake: tokio::sync::Notify,
    /// Bumped after every status refresh (waiters re-check).
    pub(crate) version: tokio::sync::watch::Sender<u64>,
    /// Documents samod opened since the monitor last looked (some may be missing notes documents that the
    /// relay pushed to us).
    pub(crate) opened: Mutex<Vec<DocumentId>>,
    /// Events for the dispatcher thread (`None` once stopped).
    pub(crate) events: Mutex<Option<std::sync::mpsc::Sender<SyncEvent>>>,
    /// Registered observers.
    pub(crate) observers: Arc<Mutex<Vec<Arc<dyn SyncObserver>>>>,
}

impl Shared {
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store,
            link: Mutex::new(Link::Connecting),
            cases: Mutex::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
            version: tokio::sync::watch::Sender::new(0),
            opened: Mutex::new(Vec::new()),
            events: Mutex::new(None),
            observers: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Hand an event to the dispatcher thread.
    pub(crate) fn emit(&self, event: SyncEvent) {
        if let Some(tx) = lock(&self.events).as_ref() {
            let _ = tx.send(event);
        }
    }

    /// Set the link state; a permanent failure is announced once.
    pub(crate) fn set_link(&self, link: Link) {
        let mut cur = lock(&self.link);
        if matches!(*cur, Link::Failed(_)) {
            return;
        }
        let failed = match &link {
            Link::Failed(e) => Some(e.clone()),
            _ => None,
        };
        *cur = link;
        drop(cur);
        if let Some(error) = failed {
            self.emit(SyncEvent::Failed { error });
        }
        self.wake.notify_one();
    }

    /// The permanent failure, if any.
    pub(crate) fn failure(&self) -> Option<SyncError> {
        match &*lock(&self.link) {
            Link::Failed(e) => Some(e.clone()),
            _ => None,
        }
    }

    /// The current status of a case (fresh, without announcing it). `None` if the case is not watched.
    pub(crate) fn status(&self, case: &CaseId, conn: Option<ConnectionId>) -> Option<CaseSyncStatus> {
        let link = lock(&self.link).clone();
        let mut cases = lock(&self.cases);
        let c = cases.get_mut(case)?;
        c.load_sync_time(&self.store, case);
        let (state, saved) = c.assess(conn, &link);
        let last_synced_at = if state == SyncState::UpToDate { Some(now_secs()) } else { c.last_synced_at };
        Some(CaseSyncStatus { state, last_synced_at, saved_to_relay: saved })
    }

    /// Recompute every watched case's status; announce what changed (status, remote changes); wake
    /// waiters.
    pub(crate) fn refresh(&self, conn: Option<ConnectionId>) {
        let link = lock(&self.link).clone();
        let now = now_secs();
        let mut events = Vec::new();
        {
            let mut cases = lock(&self.cases);
            // A case whose documents are not watched yet (first `sync_case` under way) has no status yet.
            for (id, c) in cases.iter_mut().filter(|(_, c)| !c.docs.is_empty()) {
                c.load_sync_time(&self.store, id);
                let (state, saved) = c.assess(conn, &link);
                if state == SyncState::UpToDate {
                    if c.announced.as_ref().map(|s| s.state) != Some(SyncState::UpToDate)
                        && let Err(e) = self.store.set_last_synced(id, now)
                    {
                        tracing::warn!(case = %id, error = %e, "cannot record the last sync time");
                    }
                    c.last_synced_at = Some(now);
                }
                let status = CaseSyncStatus { state, last_synced_at: c.last_synced_at, saved_to_relay: saved };
                if c.announced.as_ref().map(|s| (s.state, s.saved_to_relay)) != Some((state, saved)) {
                    events.push(SyncEvent::StatusChanged { case_id: id.clone(), status: status.clone() });
                }
                c.announced = Some(status);
                let mut changed = false;
                for d in c.docs.values() {
                    let mut s = lock(&d.sync);
                    if s.heads != s.case_heads && s.heads != s.notified {
                        s.notified = s.heads.clone();
                        changed = true;
                    }
                }
                if changed {
                    events.push(SyncEvent::CaseChanged { case_id: id.clone() });
                }
            }
        }
        self.version.send_modify(|v| *v = v.wrapping_add(1));
        for e in events {
            self.emit(e);
        }
    }

    /// Record the last sync time of every watched case (at shutdown).
    pub(crate) fn persist_sync_times(&self) {
        for (id, c) in lock(&self.cases).iter() {
            if let Some(t) = c.last_synced_at
                && let Err(e) = self.store.set_last_synced(id, t)
            {
                tracing::warn!(case = %id, error = %e, "cannot record the last sync time");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> ChangeHash {
        ChangeHash([b; 32])
    }

    fn peer(shared: Option<Vec<ChangeHash>>, theirs: Option<Vec<ChangeHash>>, read_only: bool) -> PeerDocState {
        PeerDocState {
            share_config: None,
            peer_read_only: read_only,
            last_received: None,
            last_sent: None,
            last_sent_heads: None,
            last_acked_heads: None,
            shared_heads: shared,
            their_heads: theirs,
        }
    }

    fn doc(heads: Vec<ChangeHash>, p: Option<PeerDocState>) -> (DocSync, ConnectionId) {
        let conn = ConnectionId::from(7u32);
        let mut d = DocSync { heads, ..Default::default() };
        if let Some(p) = p {
            d.peers.insert(conn, p);
        }
        (d, conn)
    }

    #[test]
    fn up_to_date_needs_both_directions() {
        // Nothing heard from the relay yet.
        let (mut d, c) = doc(vec![h(1)], None);
        assert_eq!(d.assess(Some(c)), (false, false));
        // The relay has our change and nothing else.
        let (mut d, c) = doc(vec![h(1)], Some(peer(Some(vec![h(1)]), Some(vec![h(1)]), false)));
        assert_eq!(d.assess(Some(c)), (true, true));
        // The relay advertises a change we lack: saved, but not up to date.
        let (mut d, c) = doc(vec![h(1)], Some(peer(Some(vec![h(1)]), Some(vec![h(2)]), false)));
        assert_eq!(d.assess(Some(c)), (false, true));
        // We have a change the relay has not acknowledged.
        let (mut d, c) = doc(vec![h(3)], Some(peer(Some(vec![h(1)]), Some(vec![h(1)]), false)));
        assert_eq!(d.assess(Some(c)), (false, false));
        // A read-only relay connection (viewer): up to date, never saved.
        let (mut d, c) = doc(vec![h(3)], Some(peer(Some(vec![h(1)]), Some(vec![h(1)]), true)));
        assert_eq!(d.assess(Some(c)), (true, false));
    }

    #[test]
    fn saved_to_relay_is_remembered_offline_until_the_next_edit() {
        let (mut d, c) = doc(vec![h(1)], Some(peer(Some(vec![h(1)]), Some(vec![h(1)]), false)));
        assert_eq!(d.assess(Some(c)), (true, true));
        // Disconnected: still saved.
        assert_eq!(d.assess(None), (false, true));
        // A new local edit while offline: not saved.
        d.heads = vec![h(2)];
        assert_eq!(d.assess(None), (false, false));
    }
}
