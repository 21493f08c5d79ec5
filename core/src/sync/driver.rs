//! The tokio driver of the [`Engine`]: one task feeds it events (from the dialer, samod's document
//! watchers, the app's saves, HTTP answers, a one-second tick) and carries out the effects it returns —
//! samod look-ups and watchers as tasks, HTTP calls and case merges on blocking threads.
//!
//! # The lock rule
//! The engine's mutex is held only for one `Engine::handle` call (microseconds, no I/O). A case's mutex is
//! taken only by [`Driver::exchange`] (on a blocking thread) and by the app; under it the driver touches
//! only local things (the case's documents, samod's in-memory copy, local storage), never the network and
//! never the runtime. So any read or write of a case from any thread takes bounded time whatever the
//! network does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use automerge::{ChangeHash, ReadDoc};
use futures::StreamExt;
use samod::{DocHandle, Repo, SearchState};
use tokio::sync::mpsc::UnboundedSender;

use crate::bridge;
use crate::case::Case;
use crate::engine::{DocInfo, Effect, Engine, Event, Membership, PeerState};
use crate::ids::{CaseId, DocId};
use crate::storage::incremental_key;
use crate::store::Store;

use super::error::SyncError;
use super::relay_client::RelayClient;
use super::status::{SyncEvent, SyncObserver};

/// An open case shared between the app and the sync client: the sync client merges other devices'
/// changes into it while the app reads and writes it.
pub type SharedCase = Arc<Mutex<Case>>;

/// What a locked case tells about its documents ([`Driver::snapshot`]).
pub(crate) struct DocsSnapshot {
    case_id: CaseId,
    /// `(appointment, notes document)` of every appointment.
    notes: Vec<(String, DocId)>,
    /// The saved heads of every document the case has open.
    saved: HashMap<DocId, Vec<ChangeHash>>,
}

/// How long one look-up of a document in samod may take.
pub(crate) const FIND_TIMEOUT: Duration = Duration::from_secs(10);

/// Lock a mutex of the driver's own state, recovering it if a panicking thread poisoned it (every update
/// is a plain assignment, so the data is never half-updated).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The state the driver's tasks share with the [`super::SyncClient`].
pub(crate) struct Driver {
    /// The local store.
    pub(crate) store: Store,
    /// The engine (locked for one `handle` call at a time).
    pub(crate) engine: Mutex<Engine>,
    /// Events for the engine task.
    pub(crate) events: UnboundedSender<Event>,
    /// samod's handles of the documents found.
    pub(crate) handles: Mutex<HashMap<DocId, DocHandle>>,
    /// The document watcher tasks.
    pub(crate) watchers: Mutex<Vec<tokio::task::AbortHandle>>,
    /// Documents a search of samod is under way for (see [`Driver::search`]).
    pub(crate) searching: Mutex<std::collections::HashSet<DocId>>,
    /// The cases the app has open, by id (weak: a case the app dropped is no longer merged into).
    pub(crate) open: Mutex<HashMap<CaseId, Vec<Weak<Mutex<Case>>>>>,
    /// The relay's HTTP API.
    pub(crate) relay: RelayClient,
    /// Why sync stopped for good, if it did.
    pub(crate) failure: Mutex<Option<SyncError>>,
    /// Bumped after every engine step (waiters re-check).
    pub(crate) version: tokio::sync::watch::Sender<u64>,
    /// Registered observers.
    pub(crate) observers: Mutex<Vec<Arc<dyn SyncObserver>>>,
    /// Events for the observer thread (`None` once stopped).
    pub(crate) notify: Mutex<Option<std::sync::mpsc::Sender<SyncEvent>>>,
    /// The samod repository.
    pub(crate) repo: Repo,
    /// The runtime the driver's tasks run on.
    pub(crate) rt: tokio::runtime::Handle,
    /// Presence in documents (see `client/presence.rs`).
    pub(crate) presence: super::client::presence::PresenceHub,
    /// The background blob passes (see `client/blobs.rs`).
    pub(crate) blobs: super::client::blobs::BlobMover,
}

impl Driver {
    /// Hand an event to the engine task.
    pub(crate) fn send(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Other devices' changes were merged into a case: a blob pass once it is up to date (now if it is).
    fn blob_trigger(self: &Arc<Self>, case: &CaseId) {
        let up = lock(&self.engine).status(case).is_some_and(|s| s.state == crate::engine::SyncState::UpToDate);
        if up {
            self.blobs_due(case);
        }
    }

    /// Hand an event to the observer thread.
    pub(crate) fn emit(&self, event: SyncEvent) {
        if let Some(tx) = lock(&self.notify).as_ref() {
            let _ = tx.send(event);
        }
    }

    /// Whether every change of `target` (documents and heads) is in the open case: samod holds them and the
    /// engine has heard samod's current heads (`engine_heads`, per document of `target`), so that a settled
    /// case (its documents hold samod's heads as the engine knows them) holds them too. A document samod
    /// has not found does not hold its heads, unless they are none.
    pub(crate) fn holds(&self, target: &[(DocId, Vec<ChangeHash>)], engine_heads: &[Option<Vec<ChangeHash>>]) -> bool {
        target.iter().zip(engine_heads).all(|((doc, heads), known)| {
            if heads.is_empty() {
                return true;
            }
            let Some(known) = known else { return false };
            let Some(handle) = lock(&self.handles).get(doc).cloned() else { return false };
            handle.with_document(|d| {
                let mut now = d.get_heads();
                let mut known = known.clone();
                now.sort_unstable();
                known.sort_unstable();
                now == known && d.get_missing_deps(heads).is_empty()
            })
        })
    }

    /// The first live open handle of a case, if the app has it open.
    pub(crate) fn open_case(&self, id: &CaseId) -> Option<SharedCase> {
        let mut open = lock(&self.open);
        let list = open.get_mut(id)?;
        list.retain(|w| w.strong_count() > 0);
        list.iter().find_map(Weak::upgrade)
    }

    /// Remember that the app has `case` open (merges go into it from now on).
    pub(crate) fn remember_open(&self, id: &CaseId, case: &SharedCase) {
        let mut open = lock(&self.open);
        let list = open.entry(id.clone()).or_default();
        list.retain(|w| w.strong_count() > 0);
        if !list.iter().any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(case))) {
            list.push(Arc::downgrade(case));
        }
    }

    /// What a locked case tells about its documents: memory reads only (the storage work that follows,
    /// [`Driver::case_docs_of`], runs without the lock).
    pub(crate) fn snapshot(case: &Case) -> DocsSnapshot {
        DocsSnapshot {
            case_id: case.id().clone(),
            notes: case.notes_doc_ids(),
            saved: case.open_docs().map(|t| (t.id.clone(), t.saved_heads().to_vec())).collect(),
        }
    }

    /// The documents of a case as the engine needs them, every notes document made to exist on storage
    /// first ([`bridge::materialize_notes_of`]). Local storage work; no case lock needed. `pushed`: samod's
    /// heads for the documents whose saved changes the driver handed to samod itself.
    pub(crate) fn case_docs_of(
        &self,
        snap: DocsSnapshot,
        pushed: &HashMap<DocId, Vec<ChangeHash>>,
    ) -> crate::Result<Vec<DocInfo>> {
        let DocsSnapshot { case_id, notes, mut saved } = snap;
        let ids = bridge::materialize_notes_of(&*self.store.storage(), &case_id, &notes)?;
        let info = |id: DocId, heads: Option<Vec<ChangeHash>>, relay_knows: bool| DocInfo {
            in_samod: pushed.get(&id).cloned(),
            id,
            heads,
            relay_knows,
        };
        let mut docs = vec![info(case_id.clone(), saved.remove(&case_id), true)];
        for id in ids {
            let relay_knows = self.store.relay_knows(&case_id, &id)?;
            docs.push(info(id.clone(), saved.remove(&id), relay_knows));
        }
        Ok(docs)
    }

    /// Save a case and tell the engine about it ("push now"): the save's own changes go to samod here,
    /// without locking the case again. The case's lock is held for memory work only (the disk flush runs
    /// without it).
    pub(crate) fn push_now(self: &Arc<Self>, case: &SharedCase) -> Result<(), SyncError> {
        let (_, written) = crate::case::save_shared_changes(case)?;
        let mut pushed = HashMap::new();
        for (doc, heads, changes) in written {
            let Some(handle) = lock(&self.handles).get(&doc).cloned() else { continue };
            match handle.with_document(|d| d.apply_changes(changes).map(|_| d.get_heads())) {
                Ok(after) if heads.iter().all(|h| after.contains(h)) => {
                    pushed.insert(doc, after);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(document = %doc, error = %e, "samod refused a saved change; exchanging"),
            }
        }
        let snap = Self::snapshot(&*case.lock().map_err(|_| poisoned())?);
        let id = snap.case_id.clone();
        let docs = self.case_docs_of(snap, &pushed)?;
        self.remember_open(&id, case);
        // Handled here rather than queued, so that a wait that follows sees the case.
        self.step(Event::CaseDocs { case: id, docs, open: true });
        Ok(())
    }

    /// Hand one event to the engine and carry out its effects (which never wait). Called by the engine
    /// task, and by API calls whose next step must see the event handled.
    pub(crate) fn step(self: &Arc<Self>, event: Event) {
        let last_synced = match &event {
            Event::CaseDocs { case, .. } => Some((case.clone(), self.store.last_synced(case).ok().flatten())),
            _ => None,
        };
        let effects = {
            let mut engine = lock(&self.engine);
            let fx = engine.handle(now_ms(), event);
            if let Some((case, at)) = last_synced {
                engine.set_last_synced(&case, at);
            }
            fx
        };
        for fx in effects {
            self.carry_out(fx);
        }
        self.version.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Carry out one effect of the engine. Never waits: anything that may wait runs on a task or a blocking
    /// thread and answers with an event.
    pub(crate) fn carry_out(self: &Arc<Self>, effect: Effect) {
        match effect {
            Effect::Find { case, doc } => {
                let this = self.clone();
                self.rt.spawn(async move { this.find(case, doc).await });
            }
            Effect::Exchange { case, doc, since: _, open: _ } => {
                let this = self.clone();
                self.rt.spawn_blocking(move || {
                    let heads = match this.exchange(&case, &doc) {
                        Ok(h) => h,
                        Err(e) => {
                            tracing::warn!(case = %case, document = %doc, error = %e, "exchange failed; will retry");
                            None
                        }
                    };
                    this.send(Event::Exchanged { case, doc, heads });
                });
            }
            Effect::CheckMembership { case } => {
                let this = self.clone();
                self.rt.spawn_blocking(move || {
                    let outcome = match this.relay.list_cases() {
                        Ok(list) if list.iter().any(|m| m.case_id == case.as_str()) => Membership::Member,
                        Ok(_) => Membership::NotMember,
                        Err(SyncError::Unauthorized) => Membership::Unreachable,
                        Err(e) => {
                            tracing::debug!(case = %case, error = %e, "membership check postponed");
                            Membership::Unreachable
                        }
                    };
                    this.send(Event::Membership { case, outcome });
                });
            }
            Effect::Register { case, doc } => {
                let this = self.clone();
                self.rt.spawn_blocking(move || {
                    let done = match this.relay.register_document(&case, &doc) {
                        // Conflict: registered already (by another member, or by us before a crash).
                        Ok(()) | Err(SyncError::Conflict { .. }) => {
                            if let Err(e) = this.store.set_relay_knows(&case, &doc) {
                                tracing::warn!(error = %e, "cannot record a registered document");
                            }
                            true
                        }
                        // A viewer cannot register: its documents do not reach others anyway.
                        Err(SyncError::Forbidden { .. }) => true,
                        Err(e) => {
                            tracing::debug!(case = %case, error = %e, "document registration postponed");
                            false
                        }
                    };
                    this.send(Event::Registered { case, doc, done });
                });
            }
            Effect::Status { case, status } => {
                if status.state == crate::engine::SyncState::UpToDate {
                    self.blobs_due(&case);
                }
                self.emit(SyncEvent::StatusChanged { case_id: case, status })
            }
            Effect::RecordSyncTime { case, at_secs } => {
                if let Err(e) = self.store.set_last_synced(&case, at_secs) {
                    tracing::warn!(case = %case, error = %e, "cannot record the last sync time");
                }
            }
            Effect::NotMember { case } => {
                self.blobs.stop_case(&case);
                self.emit(SyncEvent::NotMember { case_id: case })
            }
        }
    }

    /// [`Effect::Find`]: samod's handle, then a watcher that forwards its changes and peer states.
    async fn find(self: Arc<Self>, case: CaseId, doc: DocId) {
        let existing = lock(&self.handles).get(&doc).cloned();
        if let Some(h) = existing {
            let heads = h.with_document(|d| d.get_heads());
            self.send(Event::Found { case, doc, heads: Some(heads) });
            return;
        }
        // One search per document at a time: a retry while one is under way finds it still missing.
        if !lock(&self.searching).insert(doc.clone()) {
            self.send(Event::Found { case, doc, heads: None });
            return;
        }
        let handle = self.search(&case, &doc).await;
        lock(&self.searching).remove(&doc);
        let Some(handle) = handle else { return };
        if lock(&self.handles).contains_key(&doc) {
            // Found meanwhile by an earlier look-up, which watches it already.
            let heads = handle.with_document(|d| d.get_heads());
            self.send(Event::Found { case, doc, heads: Some(heads) });
            return;
        }
        // Subscribe before reading the heads, so that no change slips in between.
        let mut changes = handle.changes();
        let (peers, mut peer_updates) = handle.peers();
        let heads = handle.with_document(|d| d.get_heads());
        lock(&self.handles).insert(doc.clone(), handle);
        self.send(Event::Peers { doc: doc.clone(), peers: peer_states(peers) });
        self.send(Event::Found { case, doc: doc.clone(), heads: Some(heads) });
        let this = self.clone();
        let watcher = self.rt.spawn(async move {
            loop {
                let event = tokio::select! {
                    Some(c) = changes.next() => Event::DocChanged { doc: doc.clone(), heads: c.new_heads },
                    Some(p) = peer_updates.next() => Event::Peers { doc: doc.clone(), peers: peer_states(p) },
                    else => break,
                };
                this.send(event);
            }
        });
        lock(&self.watchers).push(watcher.abort_handle());
    }

    /// samod's handle of a document: on local storage, else from the relay. If samod cannot produce it
    /// within [`FIND_TIMEOUT`] (the relay does not have it yet: a sibling's new notes document whose
    /// registration or first push is still on its way), the engine is told it is missing and the search
    /// goes on: samod completes it when the relay announces the document (a new look-up would not ask the
    /// relay again). `None` if the search ended without it (samod stopping); the engine was told.
    async fn search(&self, case: &CaseId, doc: &DocId) -> Option<DocHandle> {
        let missing = || Event::Found { case: case.clone(), doc: doc.clone(), heads: None };
        let Ok((mut state, mut updates)) = self.repo.search(doc.to_document_id()) else {
            self.send(missing());
            return None;
        };
        let deadline = tokio::time::Instant::now() + FIND_TIMEOUT;
        let mut told = false;
        loop {
            if let SearchState::Found(h) = state {
                return Some(h);
            }
            let next = if told {
                updates.next().await
            } else {
                match tokio::time::timeout_at(deadline, updates.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        tracing::debug!(document = %doc, "samod cannot produce a document yet; still searching");
                        self.send(missing());
                        told = true;
                        continue;
                    }
                }
            };
            match next {
                Some(s) => state = s,
                None => {
                    if !told {
                        self.send(missing());
                    }
                    return None;
                }
            }
        }
    }

    /// [`Effect::Exchange`], on a blocking thread: exchange one document between the open case and samod,
    /// or write to storage what it lacks of samod's changes if the case (or this document) is not open.
    /// Returns the heads both sides hold afterwards.
    ///
    /// Three steps, so that the case's lock covers memory work on the case's own copy only: (1) under the
    /// case's lock, what samod lacks; (2) under samod's lock alone, push it and take what the case lacks;
    /// (3) under the case's lock, merge that (only if there is something to merge).
    pub(crate) fn exchange(self: &Arc<Self>, case_id: &CaseId, doc: &DocId) -> crate::Result<Option<Vec<ChangeHash>>> {
        let Some(handle) = lock(&self.handles).get(doc).cloned() else { return Ok(None) };
        if let Some(shared) = self.open_case(case_id) {
            let samod_heads = handle.with_document(|d| d.get_heads());
            let outgoing = match shared.lock() {
                Ok(mut case) => case
                    .open_docs_mut()
                    .find(|t| t.id == *doc)
                    .map(|t| bridge::outgoing(t.doc.document(), &samod_heads)),
                Err(_) => None,
            };
            if let Some((before, push)) = outgoing {
                let (pull, heads) =
                    handle.with_document(|d| bridge::incoming(d, push, &before)).map_err(crate::Error::from)?;
                if pull.is_empty() {
                    return Ok(Some(heads));
                }
                let Ok(mut case) = shared.lock() else { return Ok(None) };
                let n = case.merge_external(doc, pull)?;
                let change = case.changed_since(doc, &before);
                let snap = (n > 0 && doc == case_id).then(|| Self::snapshot(&case));
                drop(case);
                if n > 0 {
                    // What the merge wrote, made durable without the case's lock held.
                    self.store.storage().flush()?;
                    self.emit(SyncEvent::CaseChanged { case_id: case_id.clone(), change });
                    // New attachments may have come with it (a pass runs once the case is up to date).
                    self.blob_trigger(case_id);
                }
                if let Some(snap) = snap {
                    let docs = self.case_docs_of(snap, &HashMap::new())?;
                    self.send(Event::CaseDocs { case: case_id.clone(), docs, open: true });
                }
                return Ok(Some(heads));
            }
        }
        // Not open: make sure storage holds everything samod holds (samod's own write is asynchronous), so
        // that the case opened later, or after a crash, has it all. What storage holds is read from storage,
        // not taken from `since`: changes samod received from the relay before the engine found the document
        // may not be written yet, and an app opening the document right after would miss them.
        let storage = self.store.storage();
        let stored = match crate::tracked_doc::TrackedDoc::load(&*storage, doc, case_id)? {
            Some(mut t) => t.doc.get_heads(),
            None => Vec::new(),
        };
        let (delta, heads) = handle.with_document(|d| {
            let known: Vec<_> = stored.iter().filter(|h| d.get_change_by_hash(h).is_some()).copied().collect();
            (d.get_changes(&known), d.get_heads())
        });
        let mut wrote = false;
        for c in &delta {
            let k = incremental_key(doc, &c.hash())?;
            if storage.load(&k)?.is_none() {
                storage.put(&k, c.raw_bytes())?;
                wrote = true;
            }
        }
        if wrote {
            storage.flush()?;
        }
        if !delta.is_empty() {
            // A notes document the open case has not loaded: name its appointment (no diff needed).
            let change = self
                .open_case(case_id)
                .and_then(|shared| shared.lock().ok().map(|mut c| c.changed_since(doc, &[])))
                .unwrap_or_default();
            self.emit(SyncEvent::CaseChanged { case_id: case_id.clone(), change });
            self.blob_trigger(case_id);
        }
        Ok(Some(heads))
    }
}

fn poisoned() -> SyncError {
    SyncError::InvalidInput { reason: "an earlier call on this case failed unexpectedly: open the case again".into() }
}

fn peer_states(peers: HashMap<samod::ConnectionId, samod::PeerDocState>) -> Vec<(samod::ConnectionId, PeerState)> {
    peers
        .into_iter()
        .map(|(c, p)| {
            (c, PeerState { shared_heads: p.shared_heads, their_heads: p.their_heads, read_only: p.peer_read_only })
        })
        .collect()
}

/// The engine task: runs until the event channel closes (the client stopped).
pub(crate) async fn run(driver: Arc<Driver>, mut events: tokio::sync::mpsc::UnboundedReceiver<Event>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(driver.blobs.sweep.max(Duration::from_millis(100)));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            e = events.recv() => match e {
                Some(e) => e,
                None => break,
            },
            _ = tick.tick() => Event::Tick,
            _ = sweep.tick() => {
                driver.sweep_blobs();
                continue;
            }
        };
        driver.step(event);
    }
}
