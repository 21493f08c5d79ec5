//! Presence on the sync client: [`SyncClient::set_presence`], [`SyncClient::presence`],
//! [`SyncEvent::PresenceChanged`]. The protocol (automerge-repo 2.5's `Presence`: wire format, heartbeat,
//! expiry, hello) is the sans-IO [`crate::presence`]; this module runs it.
//!
//! - **Out**: one task per document with presence set. It broadcasts what
//!   [`DocPresence::poll`] says through samod's handle of the document (`DocHandle::broadcast`, an
//!   ephemeral message the relay forwards to the other members' devices that have the document), sleeps
//!   until [`DocPresence::next_due_ms`] or a wake-up, prunes expired peers, and introduces this device
//!   again ([`DocPresence::greet`]) when a new connection to the document is established (after a
//!   reconnection).
//! - **In**: the relay connection's transport shows every inbound message to
//!   [`Driver::presence_inbound`] before samod gets it. Ephemeral messages about a document with presence
//!   set go to its [`DocPresence`]: samod's `DocHandle::ephemera()` gives payloads without their sender,
//!   and a presence peer *is* its sender.
//!
//! Only members' devices exchange these messages: the relay routes an ephemeral message to the case's own
//! samod repository, which forwards it to the connections its share policy lets read the document.
//!
//! Nothing here logs a state (it may hold a caregiver's name): ids, reasons and counts only.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures::StreamExt;
use samod::{ConnectionId, DocHandle, PeerDocState};
use tokio::sync::Notify;

use crate::ids::{CaseId, DocId};
use crate::presence::{self, DocPresence, PeerPresence, PresenceState, PresenceStats, PresenceTiming, Received};

use super::super::driver::{Driver, SharedCase, lock, now_ms};
use super::super::error::{SyncError, SyncResult};
use super::super::status::SyncEvent;
use super::SyncClient;

/// How often a presence task looks for samod's handle of its document while it has none (the case is
/// still being looked up).
const HANDLE_POLL: Duration = Duration::from_millis(250);

/// The presence of every document with presence set (shared by the driver's tasks, the inbound tap and
/// the [`SyncClient`]).
#[derive(Default)]
pub(crate) struct PresenceHub {
    inner: Mutex<Hub>,
    /// Whether any document has presence set: the inbound tap returns at once otherwise.
    active: AtomicBool,
    /// This device's samod peer id (set with the first presence; its own messages are not peers).
    own_peer: OnceLock<String>,
}

#[derive(Default)]
struct Hub {
    timing: PresenceTiming,
    docs: HashMap<DocId, Slot>,
    next_id: u64,
}

struct Slot {
    /// Tells the slot's task from the task of an earlier slot of the same document.
    id: u64,
    case: CaseId,
    state: DocPresence,
    wake: Arc<Notify>,
    task: tokio::task::AbortHandle,
}

type PeerUpdates = futures::stream::BoxStream<'static, HashMap<ConnectionId, PeerDocState>>;

impl Driver {
    /// The inbound tap: take an ephemeral message about a document with presence set. Quick, never
    /// blocks (one short lock); called for every message from the relay.
    pub(crate) fn presence_inbound(&self, bytes: &[u8]) {
        if !self.presence.active.load(Ordering::Relaxed) {
            return;
        }
        let Some(e) = presence::ephemeral_envelope(bytes) else { return };
        if self.presence.own_peer.get().is_some_and(|me| me == e.sender) {
            return;
        }
        let (changed, wake) = {
            let mut hub = lock(&self.presence.inner);
            let Some(slot) = hub.docs.get_mut(&e.doc) else { return };
            match slot.state.receive(e.sender, e.data, now_ms()) {
                Received::Applied { changed } => (changed.then(|| slot.case.clone()), Some(slot.wake.clone())),
                Received::Dropped(why) => {
                    tracing::debug!(document = %e.doc, reason = %why, "presence message dropped");
                    (None, None)
                }
                Received::Ignored => (None, None),
            }
        };
        // A hello may now be due.
        if let Some(w) = wake {
            w.notify_one();
        }
        if let Some(case_id) = changed {
            self.emit(SyncEvent::PresenceChanged { case_id, doc: e.doc });
        }
    }
}

/// The task of one document's presence: send, sleep, prune, greet new connections. Ends when presence is
/// cleared (the slot is gone or is another's) or the client is dropped.
async fn run(driver: Weak<Driver>, doc: DocId, id: u64, wake: Arc<Notify>) {
    let mut handle: Option<DocHandle> = None;
    let mut updates: Option<PeerUpdates> = None;
    let mut synced: HashSet<ConnectionId> = HashSet::new();
    loop {
        let wait = {
            let Some(d) = driver.upgrade() else { return };
            if handle.is_none()
                && let Some(h) = lock(&d.handles).get(&doc).cloned()
            {
                let (now, later) = h.peers();
                // Connections synced already need no hello: the first snapshot goes to them.
                synced.extend(now.into_iter().filter(|(_, p)| p.their_heads.is_some()).map(|(c, _)| c));
                updates = Some(later.boxed());
                handle = Some(h);
            }
            let now = now_ms();
            let (sends, expired, case, next) = {
                let mut hub = lock(&d.presence.inner);
                let Some(slot) = hub.docs.get_mut(&doc).filter(|s| s.id == id) else { return };
                let sends = if handle.is_some() { slot.state.poll(now) } else { Vec::new() };
                let expired = !slot.state.prune(now).is_empty();
                (sends, expired, slot.case.clone(), slot.state.next_due_ms())
            };
            if let Some(h) = &handle {
                for m in sends {
                    h.broadcast(m);
                }
            }
            if expired {
                d.emit(SyncEvent::PresenceChanged { case_id: case, doc: doc.clone() });
            }
            let mut wait = Duration::from_millis(next.saturating_sub(now));
            if handle.is_none() {
                wait = wait.min(HANDLE_POLL);
            }
            wait
        };
        let next_peers = async {
            match updates.as_mut() {
                Some(u) => u.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            changed = next_peers => match changed {
                Some(peers) => {
                    let fresh: Vec<ConnectionId> = peers
                        .into_iter()
                        .filter(|(c, p)| p.their_heads.is_some() && !synced.contains(c))
                        .map(|(c, _)| c)
                        .collect();
                    if !fresh.is_empty() {
                        synced.extend(fresh);
                        let Some(d) = driver.upgrade() else { return };
                        if let Some(slot) = lock(&d.presence.inner).docs.get_mut(&doc).filter(|s| s.id == id) {
                            slot.state.greet(now_ms());
                        }
                    }
                }
                None => updates = None,
            },
        }
    }
}

impl SyncClient {
    /// Set this device's presence in a document of a case — for "Ben is in this appointment's notes", the
    /// appointment's notes document with a [`CaregiverPresence`](crate::presence::CaregiverPresence)'s
    /// [`to_state`](crate::presence::CaregiverPresence::to_state) (or see
    /// [`SyncClient::set_appointment_presence`]). Any JSON channels work: automerge-repo 2.5 clients see
    /// them in their `Presence`'s peer states.
    ///
    /// The first call for a document starts presence there: the state goes to the other members' devices
    /// that have the document open (once the case is synced), then a heartbeat every 15 s; peers' states
    /// are kept ([`SyncClient::presence`]) and changes announced with [`SyncEvent::PresenceChanged`].
    /// Later calls replace the state (sent at once). Returns at once.
    ///
    /// Errors: `InvalidInput` for a state over 16 KiB encoded or nested too deeply; `Stopped`.
    pub fn set_presence(&self, case_id: &CaseId, doc: &DocId, state: PresenceState) -> SyncResult<()> {
        presence::check_state(&state).map_err(|reason| SyncError::InvalidInput { reason: reason.into() })?;
        self.driver.presence.own_peer.get_or_init(|| self.driver.repo.peer_id().into_string());
        let rt = lock(&self.runtime);
        let rt = rt.as_ref().ok_or(SyncError::Stopped)?;
        let mut hub = lock(&self.driver.presence.inner);
        if let Some(slot) = hub.docs.get_mut(doc) {
            slot.state.set_state(state);
            slot.case = case_id.clone();
            slot.wake.notify_one();
            return Ok(());
        }
        hub.next_id += 1;
        let id = hub.next_id;
        let wake = Arc::new(Notify::new());
        let state = DocPresence::new(state, hub.timing, now_ms());
        let task = rt.spawn(run(Arc::downgrade(&self.driver), doc.clone(), id, wake.clone())).abort_handle();
        hub.docs.insert(doc.clone(), Slot { id, case: case_id.clone(), state, wake, task });
        self.driver.presence.active.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// [`SyncClient::set_presence`] on the notes document of an appointment of an open case; returns that
    /// document's id (for [`SyncClient::presence`] and [`SyncClient::clear_presence`]). `InvalidInput` if
    /// the case has no such appointment.
    pub fn set_appointment_presence(
        &self,
        case: &SharedCase,
        appointment: &str,
        state: PresenceState,
    ) -> SyncResult<DocId> {
        let (case_id, doc) = {
            let c = case.lock().map_err(|_| SyncError::InvalidInput {
                reason: "an earlier call on this case failed unexpectedly: open the case again".into(),
            })?;
            let doc = c.notes_doc_ids().into_iter().find(|(a, _)| a == appointment).map(|(_, d)| d);
            (c.id().clone(), doc)
        };
        let doc = doc.ok_or_else(|| SyncError::InvalidInput { reason: "the case has no such appointment".into() })?;
        self.set_presence(&case_id, &doc, state)?;
        Ok(doc)
    }

    /// Stop presence in a document (automerge-repo `Presence.stop`): a goodbye goes to the peers (who
    /// forget this device at once), heartbeats stop, and the peers' states are forgotten here. A no-op if
    /// presence is not set there. Call it when the user leaves the screen; [`SyncClient::pause`] and
    /// [`SyncClient::stop`] say goodbye in every document too.
    pub fn clear_presence(&self, doc: &DocId) {
        let slot = {
            let mut hub = lock(&self.driver.presence.inner);
            let slot = hub.docs.remove(doc);
            if hub.docs.is_empty() {
                self.driver.presence.active.store(false, Ordering::Relaxed);
            }
            slot
        };
        let Some(slot) = slot else { return };
        slot.task.abort();
        let running = lock(&self.runtime).is_some();
        if running && let Some(h) = lock(&self.driver.handles).get(doc).cloned() {
            h.broadcast(DocPresence::goodbye());
        }
        if !slot.state.peers(now_ms()).is_empty() {
            self.driver.emit(SyncEvent::PresenceChanged { case_id: slot.case, doc: doc.clone() });
        }
    }

    /// Say goodbye in every document with presence set (the app goes to the background or stops): the peers
    /// forget this device at once instead of when its time is up. The states stay set here: after
    /// [`SyncClient::resume`], the new connection introduces this device again. Returns how many
    /// goodbyes were sent.
    pub(crate) fn say_goodbye_everywhere(&self) -> usize {
        let docs: Vec<DocId> = lock(&self.driver.presence.inner).docs.keys().cloned().collect();
        let mut sent = 0;
        for doc in docs {
            if let Some(h) = lock(&self.driver.handles).get(&doc).cloned() {
                h.broadcast(DocPresence::goodbye());
                sent += 1;
            }
        }
        sent
    }

    /// Stop like an app the system kills: presence tasks end without a goodbye, then [`SyncClient::stop`].
    /// For tests of what peers see after a crash (they keep this device until its time is up).
    #[doc(hidden)]
    pub fn stop_as_if_killed(&self) -> SyncResult<()> {
        let slots: Vec<Slot> = lock(&self.driver.presence.inner).docs.drain().map(|(_, s)| s).collect();
        self.driver.presence.active.store(false, Ordering::Relaxed);
        for slot in slots {
            slot.task.abort();
        }
        self.stop()
    }

    /// The other devices present in a document (not expired), by peer id; empty unless presence is set
    /// there. A peer is a device (`device-<device id>`), or any automerge-repo client's peer id.
    pub fn presence(&self, doc: &DocId) -> Vec<PeerPresence> {
        lock(&self.driver.presence.inner).docs.get(doc).map(|s| s.state.peers(now_ms())).unwrap_or_default()
    }

    /// This device's presence state in a document, if set.
    pub fn own_presence(&self, doc: &DocId) -> Option<PresenceState> {
        lock(&self.driver.presence.inner).docs.get(doc).map(|s| s.state.local_state().clone())
    }

    /// Counters of a document's presence (messages received, and dropped as malformed or over a limit);
    /// zero unless presence is set there.
    pub fn presence_stats(&self, doc: &DocId) -> PresenceStats {
        lock(&self.driver.presence.inner).docs.get(doc).map(|s| s.state.stats()).unwrap_or_default()
    }

    /// Change the heartbeat interval and the time peers are kept without news (automerge-repo's
    /// `heartbeatMs` and `peerTtlMs`; defaults 15 s and 45 s), for documents with presence set now and
    /// later. Peers must agree roughly: a peer that heartbeats less often than our time to live flickers
    /// out. `InvalidInput` unless the heartbeat is at least 10 ms and shorter than the time to live.
    pub fn set_presence_timing(&self, heartbeat: Duration, peer_ttl: Duration) -> SyncResult<()> {
        let timing = PresenceTiming {
            heartbeat_ms: heartbeat.as_millis() as u64,
            peer_ttl_ms: peer_ttl.as_millis() as u64,
            ..PresenceTiming::default()
        };
        if !timing.is_valid() {
            return Err(SyncError::InvalidInput {
                reason: "the presence heartbeat must be at least 10 ms and shorter than the time to live".into(),
            });
        }
        let mut hub = lock(&self.driver.presence.inner);
        hub.timing = timing;
        let now = now_ms();
        for slot in hub.docs.values_mut() {
            slot.state.set_timing(timing, now);
            slot.wake.notify_one();
        }
        Ok(())
    }
}
