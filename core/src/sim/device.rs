//! One simulated device ([`Client`]): a store and its open case, a samod-core [`Node`], and the sync
//! [`Engine`] of the apps with a synchronous executor of its effects — what `crate::sync::driver` does on
//! tokio (tasks, blocking threads, document watchers), done inline and in a fixed order.
//!
//! Events reach the engine from three places: the world queues link changes, ticks and the case's
//! documents ([`Client::inbox`]); after every network step [`Client::drive`] compares samod's copy of each
//! document the engine follows with what it last reported (the driver's document watchers); and every
//! effect that asks a question is answered at once, so one call runs until the engine has nothing left
//! to do.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use automerge::{ChangeHash, ReadDoc};
use samod_core::{ConnectionId, DialerId, DocumentId};

use crate::engine::{DocInfo, Effect, Engine, Event, Membership, PeerState};
use crate::model::text::TextField;
use crate::storage::{Storage, key};
use crate::{Case, CaseId, DocId, Store, bridge};

use super::node::Node;
use super::world::{Res, SimReport, e};

/// Events one [`Client::drive`] may hand the engine before the simulation calls it a livelock.
const MAX_EVENTS: usize = 100_000;

/// A caregiver's device.
pub(super) struct Client {
    /// The caregiver's name (used when joining the case).
    pub(super) name: String,
    /// The device's samod peer id (kept across app restarts).
    pub(super) peer: String,
    /// The caregiver's id in the case, once known.
    pub(super) me: Option<String>,
    /// The device's storage (shared by the store and samod, as in the apps).
    pub(super) storage: Arc<dyn Storage>,
    /// The store over that storage.
    pub(super) store: Store,
    /// The case, open in the app (`None` until joined).
    pub(super) case: Option<Case>,
    /// samod.
    pub(super) node: Node,
    /// samod's dialer of the relay.
    pub(super) dialer: DialerId,
    /// Whether the device has a network.
    pub(super) online: bool,
    /// Typed, not saved yet.
    pub(super) pending: Vec<(TextField, String)>,
    /// Saved locally (acknowledged).
    pub(super) saved: Vec<(TextField, String)>,
    /// The sync engine (a new one at each app start).
    pub(super) engine: Engine,
    /// Events for the engine, handled at the next [`Client::drive`].
    pub(super) inbox: Vec<Event>,
    /// What the engine was last told of each document it looked up in samod.
    reported: BTreeMap<DocId, Reported>,
    /// The node's version when the engine was last told about it ([`Node::version`]).
    watched: Option<u64>,
}

/// What the engine was last told of a document it looked up ([`Effect::Find`]).
struct Reported {
    /// samod's id of the document (parsing one is not free).
    id: DocumentId,
    /// samod's heads as last reported, or why none were.
    heads: Seen,
    /// samod's view of the relay's state of it as last reported, by connection.
    peers: Vec<(ConnectionId, PeerState)>,
}

enum Seen {
    /// samod had the document, with these heads.
    Heads(Vec<ChangeHash>),
    /// samod could not produce it.
    Missing,
    /// It arrived since ([`Event::Opened`]); the engine looks it up again.
    Arrived,
}

impl Client {
    /// A device whose app just started: nothing open, a fresh engine.
    pub(super) fn new(
        name: String,
        peer: String,
        me: Option<String>,
        storage: Arc<dyn Storage>,
        node: Node,
        dialer: DialerId,
        engine: Engine,
    ) -> Self {
        Client {
            name,
            peer,
            me,
            store: Store::with_storage(storage.clone()),
            storage,
            case: None,
            node,
            dialer,
            online: true,
            pending: Vec::new(),
            saved: Vec::new(),
            engine,
            inbox: Vec::new(),
            reported: BTreeMap::new(),
            watched: None,
        }
    }

    /// Queue the open case's documents for the engine ("push now", after a save): what the driver's
    /// `push_now` does. Nothing if the app has no case open.
    pub(super) fn attach(&mut self) -> Res<()> {
        let Some(case) = self.case.as_mut() else { return Ok(()) };
        let docs = case_docs(&*self.storage, case)?;
        self.inbox.push(Event::CaseDocs { case: case.id().clone(), docs, open: true });
        Ok(())
    }

    /// Hand the engine the queued events and every change of samod's documents since the last call, and
    /// carry out the effects it returns until none remain. Returns whether the engine got any event.
    pub(super) fn drive(&mut self, case_id: &CaseId, now_ms: u64, report: &mut SimReport) -> Res<bool> {
        let mut queue: VecDeque<Event> = std::mem::take(&mut self.inbox).into();
        queue.extend(self.watch());
        let any = !queue.is_empty();
        let mut handled = 0;
        while let Some(event) = queue.pop_front() {
            handled += 1;
            if handled > MAX_EVENTS {
                return Err(format!("the engine of {} never settles: {}", self.peer, self.engine.describe(case_id)));
            }
            for effect in self.engine.handle(now_ms, event) {
                self.carry_out(effect, &mut queue, report)?;
            }
        }
        Ok(any)
    }

    /// What the driver's document watchers report: for each document the engine looked up, samod's heads
    /// if they changed ([`Event::DocChanged`]) and its view of the relay's state if that changed
    /// ([`Event::Peers`]), or that a document reported missing has arrived ([`Event::Opened`]).
    fn watch(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        if self.watched == Some(self.node.version()) {
            return out;
        }
        self.watched = Some(self.node.version());
        for (doc, r) in &mut self.reported {
            if matches!(r.heads, Seen::Heads(_))
                && let Some(peers) = self.node.peers(&r.id)
            {
                let mut peers: Vec<(ConnectionId, PeerState)> = peers
                    .into_iter()
                    .map(|(c, p)| {
                        let state = PeerState {
                            shared_heads: p.shared_heads,
                            their_heads: p.their_heads,
                            read_only: p.peer_read_only,
                        };
                        (c, state)
                    })
                    .collect();
                peers.sort_by_key(|(c, _)| u32::from(*c));
                if peers != r.peers {
                    out.push(Event::Peers { doc: doc.clone(), peers: peers.clone() });
                    r.peers = peers;
                }
            }
            let Some(now) = self.node.document(&r.id).map(|d| d.get_heads()).filter(|h| !h.is_empty()) else {
                continue;
            };
            match &r.heads {
                Seen::Heads(last) if *last != now => {
                    out.push(Event::DocChanged { doc: doc.clone(), heads: now.clone() });
                    r.heads = Seen::Heads(now);
                }
                Seen::Missing => {
                    out.push(Event::Opened { doc: doc.clone() });
                    r.heads = Seen::Arrived;
                }
                Seen::Heads(_) | Seen::Arrived => {}
            }
        }
        out
    }

    /// Carry out one effect; the answer, if it asks a question, goes to the back of `queue`.
    fn carry_out(&mut self, effect: Effect, queue: &mut VecDeque<Event>, report: &mut SimReport) -> Res<()> {
        match effect {
            Effect::Find { case, doc } => {
                let id = doc.to_document_id();
                self.node.find(&id);
                // Ready now if samod had it on storage; otherwise requested from the relay, and reported
                // by `watch` when it arrives.
                let heads = self.node.document(&id).map(|d| d.get_heads()).filter(|h| !h.is_empty());
                let seen = heads.clone().map_or(Seen::Missing, Seen::Heads);
                self.reported.insert(doc.clone(), Reported { id, heads: seen, peers: Vec::new() });
                // Its peers are reported by the next `watch`, even if samod did no work meanwhile.
                self.watched = None;
                queue.push_back(Event::Found { case, doc, heads });
            }
            Effect::Exchange { case, doc, since, open: _ } => {
                report.exchanges += 1;
                let heads = self.exchange(&case, &doc, &since, queue, report)?;
                // What the exchange pushed changed samod's copy: its watcher reports that before the
                // exchange's answer arrives (the engine takes `Exchanged` as the case's heads only).
                let changed = self.watch();
                queue.extend(changed);
                queue.push_back(Event::Exchanged { case, doc, heads });
            }
            // Every simulated device belongs to a member of the case, and the relay knows every document.
            Effect::CheckMembership { case } => {
                queue.push_back(Event::Membership { case, outcome: Membership::Member })
            }
            Effect::Register { case, doc } => queue.push_back(Event::Registered { case, doc, done: true }),
            Effect::NotMember { case } => return Err(format!("{}: the engine says not a member of {case}", self.peer)),
            Effect::Status { .. } | Effect::RecordSyncTime { .. } => {}
        }
        Ok(())
    }

    /// [`Effect::Exchange`], as the driver's `exchange`: between the open case and samod, or, if the case
    /// (or this document of it) is not open, samod's changes since `since` written to storage. Returns the
    /// heads both sides hold afterwards (`None`: samod does not have the document ready).
    fn exchange(
        &mut self,
        case_id: &CaseId,
        doc: &DocId,
        since: &[ChangeHash],
        queue: &mut VecDeque<Event>,
        report: &mut SimReport,
    ) -> Res<Option<Vec<ChangeHash>>> {
        let id = match self.reported.get(doc) {
            Some(r) => r.id.clone(),
            None => doc.to_document_id(),
        };
        if let Some(case) = self.case.as_mut().filter(|c| c.id() == case_id)
            && case.open_docs_mut().any(|t| t.id == *doc)
        {
            // The driver's three steps (see `Driver::exchange`): what samod lacks, push it and take what
            // the case lacks, merge.
            let Some(samod_heads) = self.node.document(&id).map(|d| d.get_heads()) else { return Ok(None) };
            let (before, push) = {
                let t = case.open_docs_mut().find(|t| t.id == *doc).expect("checked above");
                bridge::outgoing(t.doc.document(), &samod_heads)
            };
            let exchanged = self.node.with_document(&id, |d| bridge::incoming(d, push, &before));
            let Some(exchanged) = exchanged else { return Ok(None) };
            let (pulled, heads) = exchanged.map_err(e("exchange"))?;
            let n = case.merge_external(doc, pulled).map_err(e("merge"))?;
            if n > 0 {
                self.storage.flush().map_err(e("flush after a merge"))?;
                report.merges += 1;
                // The overview may name new notes documents.
                if doc == case_id {
                    let docs = case_docs(&*self.storage, case)?;
                    queue.push_back(Event::CaseDocs { case: case_id.clone(), docs, open: true });
                }
            }
            return Ok(Some(heads));
        }
        let Some(d) = self.node.document(&id) else { return Ok(None) };
        let known: Vec<ChangeHash> = since.iter().filter(|h| d.get_change_by_hash(h).is_some()).copied().collect();
        let mut wrote = false;
        for c in d.get_changes(&known) {
            let k = key([doc.as_str(), "incremental", &c.hash().to_string()]).map_err(e("key"))?;
            if self.storage.load(&k).map_err(e("load"))?.is_none() {
                self.storage.put(&k, c.raw_bytes()).map_err(e("put"))?;
                wrote = true;
            }
        }
        let heads = d.get_heads();
        if wrote {
            self.storage.flush().map_err(e("flush"))?;
        }
        Ok(Some(heads))
    }
}

/// The documents of a case as the engine needs them, as the driver's `case_docs` computes them: every
/// notes document made to exist on storage first, the saved heads of the open ones. The relay knows every
/// document here (the simulation has no HTTP: nothing is ever registered).
pub(super) fn case_docs(storage: &dyn Storage, case: &mut Case) -> Res<Vec<DocInfo>> {
    let case_id = case.id().clone();
    let notes = bridge::materialize_notes(storage, case).map_err(e("materialize notes"))?;
    let mut heads: BTreeMap<DocId, Vec<ChangeHash>> =
        case.open_docs().map(|t| (t.id.clone(), t.saved_heads().to_vec())).collect();
    let mut docs =
        vec![DocInfo { id: case_id.clone(), heads: heads.remove(&case_id), relay_knows: true, in_samod: None }];
    for id in notes {
        docs.push(DocInfo { heads: heads.remove(&id), id, relay_knows: true, in_samod: None });
    }
    Ok(docs)
}
