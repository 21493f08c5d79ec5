//! The sync engine: one sans-IO state machine per store that decides how the store's cases are kept in
//! sync with the relay. It takes [`Event`]s (a case was saved or attached, samod found or changed a
//! document, the connection came or went, an HTTP call returned, time passed) and returns [`Effect`]s
//! (look a document up in samod, exchange a document between the open case and samod, check membership,
//! register a document, announce a status). It spawns nothing, blocks on nothing and does no I/O.
//!
//! Two drivers carry the effects out: [`crate::sync::SyncClient`] on its tokio runtime (WebSocket, HTTP,
//! the apps' open cases), and the deterministic simulation (`crate::sim`, feature `sim`) on a seeded
//! in-memory network. Both run this very code, so a sync race the simulation finds is a race of the apps.
//!
//! # What the engine tracks
//! Per case: its documents (the overview and one notes document per appointment), whether the relay
//! confirmed this account's membership, which documents still need registering with the relay, and the
//! last status announced. Per document: samod's heads, the heads the open case (or storage) holds, the
//! relay's view of it per connection (from samod), and whether an exchange is under way. A document whose
//! samod heads differ from the case's is exchanged; one exchange per document at a time.
//!
//! # Status
//! A document is up to date with the relay when the relay's last message advertised heads that we have
//! entirely (`their_heads == shared_heads`) and that cover every local change (`shared_heads` equal to
//! our heads). "Saved to the relay" is the second half alone, remembered across disconnections.

pub mod status;

use std::collections::{BTreeMap, HashMap};

use automerge::ChangeHash;
use samod_core::ConnectionId;

use crate::ids::{CaseId, DocId};

pub use status::{CaseSyncStatus, SyncState};

/// How often, while connected, pending registrations, membership checks and missing documents are
/// retried.
pub const RETRY_EVERY_MS: u64 = 10_000;

/// One document of a case as the case holds it (sent with [`Event::CaseDocs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocInfo {
    /// The document.
    pub id: DocId,
    /// Its heads in the open case, or `None` if the case has not opened it (then storage is what counts).
    pub heads: Option<Vec<ChangeHash>>,
    /// Whether the relay is known to have this document registered to the case.
    pub relay_knows: bool,
    /// samod's heads right after the driver handed it the changes of these heads itself (the save's own
    /// changes, pushed without locking the case again): no exchange is needed for them.
    pub in_samod: Option<Vec<ChangeHash>>,
}

/// What samod knows of the relay's view of one document over one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerState {
    /// Heads both sides are known to have.
    pub shared_heads: Option<Vec<ChangeHash>>,
    /// The heads the relay last advertised.
    pub their_heads: Option<Vec<ChangeHash>>,
    /// Whether the relay ignores our changes to it (this account is a viewer).
    pub read_only: bool,
}

/// The connection to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent {
    /// A dial attempt or the handshake is under way.
    Connecting,
    /// Connected (handshake done) over this samod connection.
    Connected(ConnectionId),
    /// The attempt failed or the connection dropped; the dialer retries after a backoff.
    Offline,
    /// The relay refused this device for good (token refused): sync stops.
    Refused,
}

/// The answer to [`Effect::CheckMembership`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// This account is a member of the case.
    Member,
    /// It is not (removed, or never was): the relay will not sync the case.
    NotMember,
    /// The relay could not be asked (network): try again later.
    Unreachable,
}

/// Something that happened, for [`Engine::handle`].
#[derive(Debug, Clone)]
pub enum Event {
    /// Time passed (the driver ticks about once a second); retries fall due.
    Tick,
    /// The connection changed.
    Link(LinkEvent),
    /// A case was saved, attached, or merged into: its documents as the case holds them. `open`: an app
    /// has the case open (changes that arrive are merged into it live).
    CaseDocs {
        /// The case.
        case: CaseId,
        /// Its documents, the overview first.
        docs: Vec<DocInfo>,
        /// Whether the case is open in the app.
        open: bool,
    },
    /// The app closed the case (its last open handle went away).
    Closed {
        /// The case.
        case: CaseId,
    },
    /// The answer to [`Effect::Find`]: samod's heads of the document, or `None` if samod cannot produce it.
    Found {
        /// The case.
        case: CaseId,
        /// The document.
        doc: DocId,
        /// samod's heads, if found.
        heads: Option<Vec<ChangeHash>>,
    },
    /// samod's copy of a document changed (a change from the relay, or one we pushed).
    DocChanged {
        /// The document.
        doc: DocId,
        /// Its new heads in samod.
        heads: Vec<ChangeHash>,
    },
    /// samod's view of the relay's state of a document changed.
    Peers {
        /// The document.
        doc: DocId,
        /// Per connection.
        peers: Vec<(ConnectionId, PeerState)>,
    },
    /// The answer to [`Effect::Exchange`]: the case (or storage) and samod now both hold `heads`.
    Exchanged {
        /// The case.
        case: CaseId,
        /// The document.
        doc: DocId,
        /// The heads both sides hold now (`None` if the exchange failed: it is tried again later).
        heads: Option<Vec<ChangeHash>>,
    },
    /// The answer to [`Effect::CheckMembership`].
    Membership {
        /// The case.
        case: CaseId,
        /// The answer.
        outcome: Membership,
    },
    /// The answer to [`Effect::Register`]: `done` if the relay has it (or never will from this device).
    Registered {
        /// The case.
        case: CaseId,
        /// The document.
        doc: DocId,
        /// Whether nothing is left to do for it.
        done: bool,
    },
    /// samod opened a document (the relay may have pushed a notes document we were missing).
    Opened {
        /// The document.
        doc: DocId,
    },
}

/// Something the driver must do, returned by [`Engine::handle`]. Each effect that asks a question is
/// answered by the event named in its documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Get samod's handle of a document (on local storage, else from the relay) and follow its changes
    /// ([`Event::DocChanged`], [`Event::Peers`]). Answered by [`Event::Found`].
    Find {
        /// The case.
        case: CaseId,
        /// The document.
        doc: DocId,
    },
    /// Exchange a document between the case and samod: push what the case has and samod lacks, merge what
    /// samod has into the open case (or, if the case or this document is not open, write it to storage
    /// — the changes after `since`), and tell the app what changed. Answered by [`Event::Exchanged`]
    /// (and, for the overview, [`Event::CaseDocs`] when it named new documents).
    Exchange {
        /// The case.
        case: CaseId,
        /// The document.
        doc: DocId,
        /// The heads the case (or storage) held before.
        since: Vec<ChangeHash>,
        /// Whether an app has the case open.
        open: bool,
    },
    /// Ask the relay whether this account is a member of the case (HTTP). Answered by
    /// [`Event::Membership`].
    CheckMembership {
        /// The case.
        case: CaseId,
    },
    /// Register a notes document with the relay (HTTP). Answered by [`Event::Registered`].
    Register {
        /// The case.
        case: CaseId,
        /// The document.
        doc: DocId,
    },
    /// A case's status changed: tell the app.
    Status {
        /// The case.
        case: CaseId,
        /// Its new status.
        status: CaseSyncStatus,
    },
    /// The case came up to date: record the time on the device (kept across restarts).
    RecordSyncTime {
        /// The case.
        case: CaseId,
        /// Unix seconds.
        at_secs: u64,
    },
    /// The relay says this account is not a member of the case: tell the app.
    NotMember {
        /// The case.
        case: CaseId,
    },
}

/// Where a document stands with samod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// A [`Effect::Find`] is under way.
    Finding,
    /// samod has it and the driver follows it.
    Watched,
    /// samod could not produce it (neither here nor on the relay yet); looked for again later.
    Missing,
}

/// What the engine knows about one document.
#[derive(Debug, Clone)]
struct DocState {
    found: Found,
    /// samod's heads.
    heads: Vec<ChangeHash>,
    /// The heads the case (or storage, for a document the case has not open) holds.
    case_heads: Vec<ChangeHash>,
    /// samod's view of the relay's state, per connection.
    peers: HashMap<ConnectionId, PeerState>,
    /// The last local heads the relay acknowledged.
    acked: Option<Vec<ChangeHash>>,
    /// An exchange is under way.
    exchanging: bool,
    /// The case saved changes that have not reached samod yet (an exchange is due or under way).
    local_pending: bool,
    /// samod's copy changed while an exchange was under way (its answer may not be samod's latest heads).
    changed_while_exchanging: bool,
    /// The case saved changes since the last exchange started: another exchange is due (a save made while
    /// one is under way is not covered by its answer).
    dirty: bool,
    /// The last exchange failed: tried again at the next tick.
    retry: bool,
    /// Whether `case_heads` is known: a document the case has not opened holds what storage holds, which
    /// is what samod loads, so its heads are learnt from samod when found.
    case_heads_known: bool,
}

impl DocState {
    fn new(case_heads: Option<Vec<ChangeHash>>) -> Self {
        Self {
            found: Found::Finding,
            heads: Vec::new(),
            case_heads_known: case_heads.is_some(),
            case_heads: case_heads.unwrap_or_default(),
            peers: HashMap::new(),
            acked: None,
            exchanging: false,
            local_pending: true,
            changed_while_exchanging: false,
            dirty: false,
            retry: false,
        }
    }

    /// (up to date with the relay, relay holds every local change) over connection `conn`.
    fn assess(&mut self, conn: Option<ConnectionId>) -> (bool, bool) {
        let peer = conn.and_then(|c| self.peers.get(&c));
        let shared = peer.and_then(|p| p.shared_heads.as_deref());
        let theirs = peer.and_then(|p| p.their_heads.as_deref());
        if shared.is_some_and(|s| same_set(s, &self.heads)) {
            self.acked = Some(self.heads.clone());
        }
        let saved = self.acked.as_deref().is_some_and(|a| same_set(a, &self.heads));
        let have_theirs = matches!((theirs, shared), (Some(t), Some(s)) if same_set(t, s));
        // A relay that ignores our changes (this account is a viewer) cannot acknowledge local edits: up to
        // date then means we have everything it has.
        let read_only = peer.is_some_and(|p| p.read_only);
        // Changes still moving between the case and samod: neither up to date nor (if local) saved.
        let settled = self.found == Found::Watched && !self.exchanging && !self.differs();
        let saved = saved && !self.local_pending && self.found == Found::Watched;
        (settled && have_theirs && (saved || read_only), saved)
    }

    /// Whether samod and the case hold different changes (an exchange is due).
    fn differs(&self) -> bool {
        self.found == Found::Watched && (self.dirty || !same_set(&self.heads, &self.case_heads))
    }
}

fn same_set(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// Whether the relay confirmed this account's membership of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Unknown,
    Checking,
    Yes,
    No,
}

/// What the engine knows about one case.
#[derive(Debug, Clone)]
struct CaseState {
    docs: BTreeMap<DocId, DocState>,
    member: Member,
    /// Documents the relay has not confirmed as registered, and whether a registration is under way.
    unregistered: BTreeMap<DocId, bool>,
    open: bool,
    announced: Option<CaseSyncStatus>,
    last_synced_at: Option<u64>,
}

/// The link as the engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Connecting,
    Connected(ConnectionId),
    Offline,
    Refused,
}

/// The sync engine of one store. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Engine {
    link: Link,
    cases: BTreeMap<CaseId, CaseState>,
    /// Which case each document belongs to.
    doc_case: HashMap<DocId, CaseId>,
    now_ms: u64,
    next_retry_ms: u64,
    /// Deliberate faults, to prove that the simulation tests this engine.
    #[cfg(feature = "sim")]
    pub(crate) sabotage: Sabotage,
}

/// Bugs the simulation must catch (feature `sim` only).
#[cfg(feature = "sim")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sabotage {
    /// Never exchange a document after a remote change (only after local saves).
    pub(crate) ignore_remote_changes: bool,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    /// A new engine: connecting, no case.
    pub fn new() -> Self {
        Self {
            link: Link::Connecting,
            cases: BTreeMap::new(),
            doc_case: HashMap::new(),
            now_ms: 0,
            next_retry_ms: 0,
            #[cfg(feature = "sim")]
            sabotage: Sabotage::default(),
        }
    }

    /// Handle one event at `now_ms` (Unix milliseconds); returns what the driver must do.
    pub fn handle(&mut self, now_ms: u64, event: Event) -> Vec<Effect> {
        self.now_ms = self.now_ms.max(now_ms);
        let mut out = Vec::new();
        match event {
            Event::Tick => {
                for d in self.cases.values_mut().flat_map(|c| c.docs.values_mut()).filter(|d| d.retry) {
                    d.retry = false;
                    d.dirty = true;
                }
            }
            Event::Link(l) => self.on_link(l, &mut out),
            Event::CaseDocs { case, docs, open } => self.on_case_docs(case, docs, open, &mut out),
            Event::Closed { case } => {
                if let Some(c) = self.cases.get_mut(&case) {
                    c.open = false;
                }
            }
            Event::Found { case, doc, heads } => {
                if let Some(d) = self.cases.get_mut(&case).and_then(|c| c.docs.get_mut(&doc)) {
                    match heads {
                        Some(h) => {
                            d.found = Found::Watched;
                            if !d.case_heads_known {
                                // Not open in the case when it told us: storage holds what samod loaded from
                                // it. But the app may have opened it since (a screen reading the notes), and
                                // samod may hold more than storage (from the relay): one exchange settles
                                // both (it merges into the case if open, else writes what storage lacks).
                                d.case_heads = h.clone();
                                d.case_heads_known = true;
                                d.dirty = true;
                            }
                            d.local_pending = !same_set(&h, &d.case_heads);
                            d.heads = h;
                        }
                        None => d.found = Found::Missing,
                    }
                }
            }
            Event::DocChanged { doc, heads } => {
                #[cfg(feature = "sim")]
                let ignore = self.sabotage.ignore_remote_changes;
                if let Some(d) = self.doc_mut(&doc) {
                    d.heads = heads;
                    d.changed_while_exchanging |= d.exchanging;
                    #[cfg(feature = "sim")]
                    if ignore {
                        d.case_heads = d.heads.clone();
                    }
                }
            }
            Event::Peers { doc, peers } => {
                if let Some(d) = self.doc_mut(&doc) {
                    d.peers.extend(peers);
                }
            }
            Event::Exchanged { case, doc, heads } => {
                if let Some(d) = self.cases.get_mut(&case).and_then(|c| c.docs.get_mut(&doc)) {
                    d.exchanging = false;
                    d.retry = heads.is_none();
                    if let Some(h) = heads {
                        // The exchange read samod's heads: unless samod changed meanwhile (its event then
                        // carries the newer heads), they are samod's heads now, without waiting for the
                        // watcher's event (which would otherwise make the same exchange run again).
                        if !d.changed_while_exchanging {
                            d.heads = h.clone();
                        }
                        d.case_heads = h;
                        // A save that came during the exchange is still to be pushed.
                        d.local_pending = d.dirty;
                    }
                }
            }
            Event::Membership { case, outcome } => {
                if let Some(c) = self.cases.get_mut(&case) {
                    c.member = match outcome {
                        Membership::Member => Member::Yes,
                        Membership::NotMember => {
                            out.push(Effect::NotMember { case: case.clone() });
                            Member::No
                        }
                        Membership::Unreachable => Member::Unknown,
                    };
                }
            }
            Event::Registered { case, doc, done } => {
                if let Some(c) = self.cases.get_mut(&case) {
                    if done {
                        c.unregistered.remove(&doc);
                    } else if let Some(busy) = c.unregistered.get_mut(&doc) {
                        *busy = false;
                    }
                }
            }
            Event::Opened { doc } => {
                if let Some(case) = self.doc_case.get(&doc).cloned()
                    && let Some(d) = self.cases.get_mut(&case).and_then(|c| c.docs.get_mut(&doc))
                    && d.found == Found::Missing
                {
                    d.found = Found::Finding;
                    out.push(Effect::Find { case, doc });
                }
            }
        }
        self.retry_if_due(&mut out);
        self.plan_exchanges(&mut out);
        self.refresh_statuses(&mut out);
        out
    }

    fn doc_mut(&mut self, doc: &DocId) -> Option<&mut DocState> {
        let case = self.doc_case.get(doc)?;
        self.cases.get_mut(case)?.docs.get_mut(doc)
    }

    fn connected(&self) -> Option<ConnectionId> {
        match self.link {
            Link::Connected(c) => Some(c),
            _ => None,
        }
    }

    fn on_link(&mut self, l: LinkEvent, out: &mut Vec<Effect>) {
        if self.link == Link::Refused {
            return;
        }
        self.link = match l {
            LinkEvent::Connecting => Link::Connecting,
            LinkEvent::Connected(c) => Link::Connected(c),
            LinkEvent::Offline => Link::Offline,
            LinkEvent::Refused => Link::Refused,
        };
        if let Link::Connected(_) = self.link {
            // Catch up at once: membership (checked again at every connection: the relay closes a removed
            // member's connection, so this is how a removal is learnt), registrations, missing documents.
            self.next_retry_ms = 0;
            for c in self.cases.values_mut() {
                if c.member == Member::Yes {
                    c.member = Member::Unknown;
                }
            }
        }
        let _ = out;
    }

    fn on_case_docs(&mut self, case: CaseId, docs: Vec<DocInfo>, open: bool, out: &mut Vec<Effect>) {
        let connected = self.connected().is_some();
        let reachable = matches!(self.link, Link::Connected(_) | Link::Connecting);
        let c = self.cases.entry(case.clone()).or_insert_with(|| CaseState {
            docs: BTreeMap::new(),
            member: Member::Unknown,
            unregistered: BTreeMap::new(),
            open,
            announced: None,
            last_synced_at: None,
        });
        c.open = open;
        for info in docs {
            self.doc_case.insert(info.id.clone(), case.clone());
            if !info.relay_knows {
                c.unregistered.entry(info.id.clone()).or_insert(false);
            }
            match c.docs.get_mut(&info.id) {
                Some(d) => {
                    if let Some(h) = info.heads
                        && !same_set(&h, &d.case_heads)
                    {
                        d.case_heads = h;
                        d.case_heads_known = true;
                        match info.in_samod {
                            // Pushed by the driver: samod has them (and maybe more, merged next).
                            Some(samod) if !d.exchanging => {
                                d.heads = samod;
                                d.local_pending = false;
                            }
                            _ => {
                                d.local_pending = true;
                                d.dirty = true;
                            }
                        }
                    }
                }
                None => {
                    c.docs.insert(info.id.clone(), DocState::new(info.heads));
                    out.push(Effect::Find { case: case.clone(), doc: info.id });
                }
            }
        }
        if c.member == Member::Unknown && reachable {
            c.member = Member::Checking;
            out.push(Effect::CheckMembership { case: case.clone() });
        }
        if connected && c.member != Member::No {
            for (doc, busy) in c.unregistered.iter_mut().filter(|(_, b)| !**b) {
                *busy = true;
                out.push(Effect::Register { case: case.clone(), doc: doc.clone() });
            }
        }
    }

    /// While connected, every [`RETRY_EVERY_MS`]: check unknown memberships, register pending documents,
    /// look again for missing ones.
    fn retry_if_due(&mut self, out: &mut Vec<Effect>) {
        if self.connected().is_none() || self.now_ms < self.next_retry_ms {
            return;
        }
        self.next_retry_ms = self.now_ms + RETRY_EVERY_MS;
        for (id, c) in &mut self.cases {
            if c.member == Member::Unknown {
                c.member = Member::Checking;
                out.push(Effect::CheckMembership { case: id.clone() });
            }
            if c.member != Member::No {
                for (doc, busy) in c.unregistered.iter_mut().filter(|(_, b)| !**b) {
                    *busy = true;
                    out.push(Effect::Register { case: id.clone(), doc: doc.clone() });
                }
            }
            for (doc, d) in c.docs.iter_mut().filter(|(_, d)| d.found == Found::Missing) {
                d.found = Found::Finding;
                out.push(Effect::Find { case: id.clone(), doc: doc.clone() });
            }
        }
    }

    /// Exchange every document whose samod copy and case copy differ (one exchange per document at a time:
    /// a document that changes again meanwhile is exchanged again when the first one is answered).
    fn plan_exchanges(&mut self, out: &mut Vec<Effect>) {
        for (id, c) in &mut self.cases {
            for (doc, d) in c.docs.iter_mut().filter(|(_, d)| !d.exchanging && !d.retry && d.differs()) {
                d.exchanging = true;
                d.changed_while_exchanging = false;
                d.dirty = false;
                out.push(Effect::Exchange {
                    case: id.clone(),
                    doc: doc.clone(),
                    since: d.case_heads.clone(),
                    open: c.open,
                });
            }
        }
    }

    fn status_of(&mut self, case: &CaseId) -> Option<CaseSyncStatus> {
        let conn = self.connected();
        let link = self.link;
        let now_secs = self.now_ms / 1000;
        let c = self.cases.get_mut(case)?;
        let mut all_up = !c.docs.is_empty();
        let mut all_saved = !c.docs.is_empty();
        for d in c.docs.values_mut() {
            let (up, saved) = d.assess(conn);
            all_up &= up;
            all_saved &= saved;
        }
        let state = match link {
            Link::Connected(_) if all_up => SyncState::UpToDate,
            Link::Connected(_) => SyncState::Syncing,
            Link::Connecting => SyncState::Connecting,
            Link::Offline | Link::Refused => SyncState::Offline,
        };
        let last_synced_at = if state == SyncState::UpToDate { Some(now_secs) } else { c.last_synced_at };
        Some(CaseSyncStatus { state, last_synced_at, saved_to_relay: all_saved })
    }

    fn refresh_statuses(&mut self, out: &mut Vec<Effect>) {
        let ids: Vec<CaseId> = self.cases.keys().cloned().collect();
        for id in ids {
            let Some(status) = self.status_of(&id) else { continue };
            let c = self.cases.get_mut(&id).expect("listed above");
            if c.docs.values().all(|d| d.found != Found::Watched) {
                // Nothing known yet (the first look-ups are under way).
                continue;
            }
            let before = c.announced.as_ref().map(|s| (s.state, s.saved_to_relay));
            if status.state == SyncState::UpToDate {
                if before.map(|b| b.0) != Some(SyncState::UpToDate)
                    && let Some(at_secs) = status.last_synced_at
                {
                    out.push(Effect::RecordSyncTime { case: id.clone(), at_secs });
                }
                c.last_synced_at = status.last_synced_at;
            }
            if before != Some((status.state, status.saved_to_relay)) {
                out.push(Effect::Status { case: id.clone(), status: status.clone() });
            }
            c.announced = Some(status);
        }
    }

    /// Fill in a case's last sync time from an earlier session (read from the device by the driver).
    pub fn set_last_synced(&mut self, case: &CaseId, at_secs: Option<u64>) {
        if let Some(c) = self.cases.get_mut(case)
            && c.last_synced_at.is_none()
        {
            c.last_synced_at = at_secs;
        }
    }

    /// The current status of a case; `None` if the engine has never heard of it.
    pub fn status(&mut self, case: &CaseId) -> Option<CaseSyncStatus> {
        self.status_of(case)
    }

    /// Whether the relay said this account is not a member of the case.
    pub fn refused(&self, case: &CaseId) -> bool {
        self.cases.get(case).is_some_and(|c| c.member == Member::No)
    }

    /// Whether the case is up to date with the relay **and** the open case holds everything samod holds:
    /// no look-up, registration or exchange under way, no document missing. What `sync_and_wait` waits for.
    pub fn settled(&mut self, case: &CaseId) -> bool {
        if self.status_of(case).map(|s| s.state) != Some(SyncState::UpToDate) {
            return false;
        }
        // Every document registered too: the relay shares a document with other members only once it is.
        self.cases.get(case).is_some_and(|c| {
            c.unregistered.is_empty()
                && c.docs.values().all(|d| d.found == Found::Watched && !d.exchanging && !d.differs())
        })
    }

    /// samod's heads of a document of a case as the engine last heard them (`None` if it does not follow
    /// the document or samod has not produced it).
    pub fn samod_heads(&self, case: &CaseId, doc: &DocId) -> Option<Vec<ChangeHash>> {
        let d = self.cases.get(case)?.docs.get(doc)?;
        (d.found == Found::Watched).then(|| d.heads.clone())
    }

    /// The last sync time of every case that has one (recorded by the driver at shutdown).
    pub fn sync_times(&mut self) -> Vec<(CaseId, u64)> {
        let ids: Vec<CaseId> = self.cases.keys().cloned().collect();
        ids.into_iter().filter_map(|id| self.status_of(&id)?.last_synced_at.map(|t| (id, t))).collect()
    }

    /// The documents of a case the engine follows (watched or not), for drivers and diagnostics.
    pub fn docs_of(&self, case: &CaseId) -> Vec<DocId> {
        self.cases.get(case).map(|c| c.docs.keys().cloned().collect()).unwrap_or_default()
    }

    /// Ids and heads of a case's documents, for a log line when a wait times out (no content).
    pub fn describe(&self, case: &CaseId) -> String {
        let Some(c) = self.cases.get(case) else { return "unknown case".into() };
        let mut s = format!("member={:?} link={:?}", c.member, self.link);
        for (id, d) in &c.docs {
            s.push_str(&format!(
                "; {id}: {:?} heads={:?} case={:?} acked={:?} exchanging={} peers={:?}",
                d.found, d.heads, d.case_heads, d.acked, d.exchanging, d.peers
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> ChangeHash {
        ChangeHash([b; 32])
    }

    fn conn() -> ConnectionId {
        ConnectionId::from(7u32)
    }

    fn info(id: &DocId, heads: Vec<ChangeHash>) -> DocInfo {
        DocInfo { id: id.clone(), heads: Some(heads), relay_knows: true, in_samod: None }
    }

    fn peer(shared: Vec<ChangeHash>, theirs: Vec<ChangeHash>) -> PeerState {
        PeerState { shared_heads: Some(shared), their_heads: Some(theirs), read_only: false }
    }

    /// A connected engine with one watched case of one document holding `h(1)` on both sides.
    fn watched() -> (Engine, CaseId) {
        let mut e = Engine::new();
        let case = CaseId::random();
        e.handle(0, Event::Link(LinkEvent::Connected(conn())));
        let fx = e.handle(1, Event::CaseDocs { case: case.clone(), docs: vec![info(&case, vec![h(1)])], open: true });
        assert!(fx.contains(&Effect::Find { case: case.clone(), doc: case.clone() }));
        assert!(fx.contains(&Effect::CheckMembership { case: case.clone() }));
        let fx = e.handle(2, Event::Found { case: case.clone(), doc: case.clone(), heads: Some(vec![h(1)]) });
        assert!(!fx.iter().any(|f| matches!(f, Effect::Exchange { .. })), "same heads: nothing to exchange");
        (e, case)
    }

    #[test]
    fn a_remote_change_is_exchanged_once_at_a_time() {
        let (mut e, case) = watched();
        let fx = e.handle(3, Event::DocChanged { doc: case.clone(), heads: vec![h(2)] });
        assert_eq!(
            fx.iter().filter(|f| matches!(f, Effect::Exchange { .. })).count(),
            1,
            "the remote change is merged: {fx:?}"
        );
        // Another change before the exchange is answered: no second exchange yet.
        let fx = e.handle(4, Event::DocChanged { doc: case.clone(), heads: vec![h(3)] });
        assert!(!fx.iter().any(|f| matches!(f, Effect::Exchange { .. })));
        // The first exchange merged h(2) only: a second one follows for h(3).
        let fx = e.handle(5, Event::Exchanged { case: case.clone(), doc: case.clone(), heads: Some(vec![h(2)]) });
        assert!(fx.contains(&Effect::Exchange {
            case: case.clone(),
            doc: case.clone(),
            since: vec![h(2)],
            open: true
        }));
        let fx = e.handle(6, Event::Exchanged { case: case.clone(), doc: case.clone(), heads: Some(vec![h(3)]) });
        assert!(!fx.iter().any(|f| matches!(f, Effect::Exchange { .. })));
    }

    #[test]
    fn a_local_save_is_pushed_once() {
        let (mut e, case) = watched();
        let fx = e.handle(3, Event::CaseDocs { case: case.clone(), docs: vec![info(&case, vec![h(5)])], open: true });
        assert!(fx.contains(&Effect::Exchange {
            case: case.clone(),
            doc: case.clone(),
            since: vec![h(5)],
            open: true
        }));
        // Answered before the watcher reports samod's new heads: no second exchange of the same changes.
        let fx = e.handle(4, Event::Exchanged { case: case.clone(), doc: case.clone(), heads: Some(vec![h(5)]) });
        assert!(!fx.iter().any(|f| matches!(f, Effect::Exchange { .. })), "{fx:?}");
        let fx = e.handle(5, Event::DocChanged { doc: case.clone(), heads: vec![h(5)] });
        assert!(!fx.iter().any(|f| matches!(f, Effect::Exchange { .. })), "{fx:?}");
    }

    #[test]
    fn status_needs_both_directions_and_remembers_saved() {
        let (mut e, case) = watched();
        assert_eq!(e.status(&case).unwrap().state, SyncState::Syncing);
        // The relay has our change and nothing else.
        let fx = e.handle(3, Event::Peers { doc: case.clone(), peers: vec![(conn(), peer(vec![h(1)], vec![h(1)]))] });
        let st = e.status(&case).unwrap();
        assert_eq!((st.state, st.saved_to_relay), (SyncState::UpToDate, true));
        assert!(fx.iter().any(|f| matches!(f, Effect::Status { status, .. } if status.state == SyncState::UpToDate)));
        assert!(fx.iter().any(|f| matches!(f, Effect::RecordSyncTime { .. })));
        assert!(e.settled(&case));
        // Disconnected: still saved, offline.
        e.handle(4, Event::Link(LinkEvent::Offline));
        let st = e.status(&case).unwrap();
        assert_eq!((st.state, st.saved_to_relay), (SyncState::Offline, true));
        // A local edit while offline: pushed to samod, not saved to the relay.
        e.handle(5, Event::CaseDocs { case: case.clone(), docs: vec![info(&case, vec![h(2)])], open: true });
        e.handle(6, Event::DocChanged { doc: case.clone(), heads: vec![h(2)] });
        e.handle(7, Event::Exchanged { case: case.clone(), doc: case.clone(), heads: Some(vec![h(2)]) });
        assert!(!e.status(&case).unwrap().saved_to_relay);
        // The relay advertises a change we lack: saved, not up to date.
        e.handle(8, Event::Link(LinkEvent::Connected(conn())));
        e.handle(9, Event::Peers { doc: case.clone(), peers: vec![(conn(), peer(vec![h(2)], vec![h(9)]))] });
        let st = e.status(&case).unwrap();
        assert_eq!((st.state, st.saved_to_relay), (SyncState::Syncing, true));
    }

    /// A save right after the case was up to date is not covered by the relay's earlier acknowledgement:
    /// a wait that follows the push must not return before the new changes are in samod and acknowledged.
    #[test]
    fn a_new_save_is_not_up_to_date_until_exchanged_and_acknowledged() {
        let (mut e, case) = watched();
        e.handle(3, Event::Peers { doc: case.clone(), peers: vec![(conn(), peer(vec![h(1)], vec![h(1)]))] });
        assert!(e.settled(&case));
        e.handle(4, Event::CaseDocs { case: case.clone(), docs: vec![info(&case, vec![h(2)])], open: true });
        let st = e.status(&case).unwrap();
        assert_eq!((st.state, st.saved_to_relay), (SyncState::Syncing, false), "pending push");
        e.handle(5, Event::DocChanged { doc: case.clone(), heads: vec![h(2)] });
        e.handle(6, Event::Exchanged { case: case.clone(), doc: case.clone(), heads: Some(vec![h(2)]) });
        assert!(!e.status(&case).unwrap().saved_to_relay, "in samod, not acknowledged yet");
        e.handle(7, Event::Peers { doc: case.clone(), peers: vec![(conn(), peer(vec![h(2)], vec![h(2)]))] });
        let st = e.status(&case).unwrap();
        assert_eq!((st.state, st.saved_to_relay), (SyncState::UpToDate, true));
    }

    /// A save made while an exchange is under way is pushed by another exchange, and is not reported as
    /// saved in between (found by the weak-network suite: the last keystrokes stayed on the phone while the
    /// status said "saved to the relay").
    #[test]
    fn a_save_during_an_exchange_is_pushed_by_the_next_one() {
        let (mut e, case) = watched();
        let fx = e.handle(3, Event::CaseDocs { case: case.clone(), docs: vec![info(&case, vec![h(2)])], open: true });
        assert!(fx.iter().any(|f| matches!(f, Effect::Exchange { .. })));
        let fx = e.handle(4, Event::CaseDocs { case: case.clone(), docs: vec![info(&case, vec![h(3)])], open: true });
        assert!(!fx.iter().any(|f| matches!(f, Effect::Exchange { .. })), "one exchange at a time");
        let fx = e.handle(5, Event::Exchanged { case: case.clone(), doc: case.clone(), heads: Some(vec![h(2)]) });
        assert!(fx.iter().any(|f| matches!(f, Effect::Exchange { .. })), "h(3) is pushed: {fx:?}");
        e.handle(6, Event::Peers { doc: case.clone(), peers: vec![(conn(), peer(vec![h(2)], vec![h(2)]))] });
        assert!(!e.status(&case).unwrap().saved_to_relay);
        e.handle(7, Event::Exchanged { case: case.clone(), doc: case.clone(), heads: Some(vec![h(3)]) });
        e.handle(8, Event::Peers { doc: case.clone(), peers: vec![(conn(), peer(vec![h(3)], vec![h(3)]))] });
        let st = e.status(&case).unwrap();
        assert_eq!((st.state, st.saved_to_relay), (SyncState::UpToDate, true));
    }

    #[test]
    fn a_failed_exchange_is_tried_again_at_the_next_tick() {
        let (mut e, case) = watched();
        e.handle(3, Event::CaseDocs { case: case.clone(), docs: vec![info(&case, vec![h(2)])], open: true });
        let fx = e.handle(4, Event::Exchanged { case: case.clone(), doc: case.clone(), heads: None });
        assert!(!fx.iter().any(|f| matches!(f, Effect::Exchange { .. })), "no hot loop");
        let fx = e.handle(5, Event::Tick);
        assert!(fx.iter().any(|f| matches!(f, Effect::Exchange { .. })));
    }

    /// A save the driver pushed to samod itself needs no exchange (the case is not locked again).
    #[test]
    fn a_save_pushed_by_the_driver_needs_no_exchange() {
        let (mut e, case) = watched();
        let pushed = DocInfo { in_samod: Some(vec![h(2)]), ..info(&case, vec![h(2)]) };
        let fx = e.handle(3, Event::CaseDocs { case: case.clone(), docs: vec![pushed], open: true });
        assert!(!fx.iter().any(|f| matches!(f, Effect::Exchange { .. })), "{fx:?}");
        // samod had a remote change too: merged by an exchange.
        let pushed = DocInfo { in_samod: Some(vec![h(3), h(4)]), ..info(&case, vec![h(3)]) };
        let fx = e.handle(4, Event::CaseDocs { case: case.clone(), docs: vec![pushed], open: true });
        assert!(fx.iter().any(|f| matches!(f, Effect::Exchange { .. })), "{fx:?}");
    }

    #[test]
    fn a_viewer_is_up_to_date_without_acknowledgements() {
        let (mut e, case) = watched();
        let p = PeerState { shared_heads: Some(vec![h(0)]), their_heads: Some(vec![h(0)]), read_only: true };
        e.handle(3, Event::Peers { doc: case.clone(), peers: vec![(conn(), p)] });
        let st = e.status(&case).unwrap();
        assert_eq!((st.state, st.saved_to_relay), (SyncState::UpToDate, false));
    }

    #[test]
    fn registrations_and_lookups_are_retried_while_connected() {
        let mut e = Engine::new();
        let case = CaseId::random();
        let notes = DocId::random();
        let docs = vec![
            info(&case, vec![h(1)]),
            DocInfo { id: notes.clone(), heads: None, relay_knows: false, in_samod: None },
        ];
        // Offline: nothing that needs the network.
        e.handle(0, Event::Link(LinkEvent::Offline));
        let fx = e.handle(1, Event::CaseDocs { case: case.clone(), docs, open: true });
        assert!(!fx.iter().any(|f| matches!(f, Effect::Register { .. } | Effect::CheckMembership { .. })));
        e.handle(2, Event::Found { case: case.clone(), doc: notes.clone(), heads: None });
        // Connected: membership, registration and the missing document at once.
        let fx = e.handle(3, Event::Link(LinkEvent::Connected(conn())));
        assert!(fx.contains(&Effect::CheckMembership { case: case.clone() }));
        assert!(fx.contains(&Effect::Register { case: case.clone(), doc: notes.clone() }));
        assert!(fx.contains(&Effect::Find { case: case.clone(), doc: notes.clone() }));
        // A failed registration waits for the next retry.
        e.handle(4, Event::Registered { case: case.clone(), doc: notes.clone(), done: false });
        let fx = e.handle(5, Event::Tick);
        assert!(!fx.iter().any(|f| matches!(f, Effect::Register { .. })));
        let fx = e.handle(5 + RETRY_EVERY_MS, Event::Tick);
        assert!(fx.contains(&Effect::Register { case: case.clone(), doc: notes.clone() }));
        e.handle(6 + RETRY_EVERY_MS, Event::Registered { case: case.clone(), doc: notes.clone(), done: true });
        let fx = e.handle(7 + 2 * RETRY_EVERY_MS, Event::Tick);
        assert!(!fx.iter().any(|f| matches!(f, Effect::Register { .. })));
    }

    #[test]
    fn a_case_is_not_settled_while_a_document_waits_for_its_registration() {
        let (mut e, case) = watched();
        e.handle(3, Event::Peers { doc: case.clone(), peers: vec![(conn(), peer(vec![h(1)], vec![h(1)]))] });
        assert!(e.settled(&case));
        let notes = DocId::random();
        let docs = vec![info(&case, vec![h(1)]), DocInfo { id: notes.clone(), ..info(&notes, vec![h(9)]) }];
        let docs: Vec<DocInfo> = docs.into_iter().map(|d| DocInfo { relay_knows: d.id == case, ..d }).collect();
        let fx = e.handle(4, Event::CaseDocs { case: case.clone(), docs, open: true });
        assert!(fx.contains(&Effect::Register { case: case.clone(), doc: notes.clone() }));
        e.handle(5, Event::Found { case: case.clone(), doc: notes.clone(), heads: Some(vec![h(9)]) });
        // The relay acknowledged the notes (samod syncs them) but the registration is still under way: the
        // relay shares them with nobody yet.
        e.handle(6, Event::Peers { doc: notes.clone(), peers: vec![(conn(), peer(vec![h(9)], vec![h(9)]))] });
        assert!(!e.settled(&case));
        e.handle(7, Event::Registered { case: case.clone(), doc: notes.clone(), done: true });
        assert!(e.settled(&case));
    }

    #[test]
    fn a_document_the_case_had_not_open_is_exchanged_once_found() {
        let (mut e, case) = watched();
        let notes = DocId::random();
        let docs = vec![info(&case, vec![h(1)]), DocInfo { heads: None, ..info(&notes, vec![]) }];
        e.handle(3, Event::CaseDocs { case: case.clone(), docs, open: true });
        // The app may have opened it meanwhile, and samod may hold more than storage: one exchange.
        let fx = e.handle(4, Event::Found { case: case.clone(), doc: notes.clone(), heads: Some(vec![h(7)]) });
        assert!(fx.contains(&Effect::Exchange {
            case: case.clone(),
            doc: notes.clone(),
            since: vec![h(7)],
            open: true
        }));
        let fx = e.handle(5, Event::Exchanged { case: case.clone(), doc: notes.clone(), heads: Some(vec![h(7)]) });
        assert!(!fx.iter().any(|f| matches!(f, Effect::Exchange { .. })), "{fx:?}");
    }

    #[test]
    fn not_a_member_is_told_once_and_sticks() {
        let (mut e, case) = watched();
        let fx = e.handle(3, Event::Membership { case: case.clone(), outcome: Membership::NotMember });
        assert!(fx.contains(&Effect::NotMember { case: case.clone() }));
        assert!(e.refused(&case));
        let fx = e.handle(4 + RETRY_EVERY_MS, Event::Tick);
        assert!(!fx.iter().any(|f| matches!(f, Effect::CheckMembership { .. })));
    }

    #[test]
    fn membership_is_checked_again_at_every_connection() {
        let (mut e, case) = watched();
        e.handle(3, Event::Membership { case: case.clone(), outcome: Membership::Member });
        e.handle(4, Event::Link(LinkEvent::Offline));
        let fx = e.handle(5, Event::Link(LinkEvent::Connected(conn())));
        assert!(fx.contains(&Effect::CheckMembership { case: case.clone() }), "{fx:?}");
        let fx = e.handle(6, Event::Membership { case: case.clone(), outcome: Membership::NotMember });
        assert!(fx.contains(&Effect::NotMember { case: case.clone() }));
    }

    #[test]
    fn a_refused_token_ends_the_link_for_good() {
        let (mut e, case) = watched();
        e.handle(3, Event::Link(LinkEvent::Refused));
        e.handle(4, Event::Link(LinkEvent::Connecting));
        assert_eq!(e.status(&case).unwrap().state, SyncState::Offline);
    }
}
