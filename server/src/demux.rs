//! [`Demux`]: one WebSocket's sync messages, routed to the repository of the case each one is about.
//!
//! A connection is one samod connection to the lobby (`cases`), opened at once, plus one virtual connection
//! per case the device syncs, opened at its first message about that case. Routing, by the message's
//! envelope:
//!
//! - the first message (the join) goes to the lobby, which answers it; it is kept, and replayed as the
//!   opening message of every case connection (whose own answer is dropped: the device already has one);
//! - a message about a document (`request`, `sync`, `doc-unavailable`, `ephemeral`,
//!   `remote-heads-changed`) of a case the device is a member of goes to that case's connection, after the
//!   dry run of its changes (`inbound::dry_run`); a `request` or `sync` also stamps when the device last
//!   synced the case (`seen`);
//! - a `request` or `sync` about any other document is answered `doc-unavailable`, as samod answers when
//!   the share policy refuses (so a non-member still cannot tell a case exists); other messages about it
//!   are dropped. If no case has the document yet (a phone often syncs a new document a moment before its
//!   registration reaches the relay), the message is also **parked**, and delivered again when the
//!   directory changes and the device may now sync it — samod's share policy did the same for it before;
//! - everything else (leave, error, a second join, unknown types, undecodable bytes) goes to the lobby,
//!   which applies samod's protocol rules and ends the connection if needed.
//!
//! Any of the connection's samod connections ending ends the WebSocket, with the close code of its reason,
//! except a case connection the WebSocket lets go of itself: after the unload delay (`--case-unload-ms`)
//! without traffic about the case in either direction, and without anyone else using the case, the case
//! connection goes **dormant** (closed; the WebSocket stays open) so that the case's repository can be
//! unloaded (`cases`). The WebSocket is then woken when anyone uses the case again (a member's message, a
//! request) and reconnects to it at once, replaying the join, so that samod pushes what changed; its own
//! next message about the case reconnects it too.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use casebook_core::relay_api::RELAY_PEER_ID;
use futures::channel::mpsc;
use futures::stream::FuturesUnordered;
use futures::{SinkExt, Stream, StreamExt};
use samod::{AcceptorEvent, ConnFinishedReason, DocumentId, PeerId, Transport};

use crate::cases::CaseRepo;
use crate::inbound::{self, Changes};
use crate::state::AppState;

/// Most documents a connection keeps parked messages for.
const MAX_PARKED_DOCS: usize = 64;
/// Most bytes of parked messages per connection; a larger message is answered but not parked.
const MAX_PARKED_BYTES: usize = 1024 * 1024;
/// Inbound queue of one samod connection (messages).
const QUEUE: usize = 8;

/// The inbound side of one samod connection.
type Inbound = mpsc::Sender<Result<Vec<u8>, std::io::Error>>;

/// Why a delivery ends the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A samod connection ended: the reason, or `None` if it is not known (yet).
    Ended(Option<ConnFinishedReason>),
    /// The dry run refused the message's changes.
    DryRun(&'static str),
    /// The relay is stopping.
    Stopping,
}

/// What [`Demux::next_event`] reports.
#[derive(Debug)]
pub(crate) enum CaseEvent {
    /// A case connection ended, with samod's reason: the WebSocket ends.
    Ended(ConnFinishedReason),
    /// Someone uses this dormant case again.
    Woken(String),
}

/// What happened to a delivered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// Handed to a samod connection.
    ToSamod,
    /// Answered `doc-unavailable` (or dropped) by the relay itself.
    Answered,
}

/// A case's samod connection for this WebSocket.
struct CaseConn {
    repo: Arc<CaseRepo>,
    inbound: Inbound,
    /// Which of this WebSocket's connections to the case it is (an ended dormant one is not an error).
    serial: u64,
    /// Messages samod sent on it so far.
    sent: Arc<AtomicU64>,
    /// What the last look saw: the repository's uses and `sent`, and since when they have not changed.
    seen_uses: u64,
    seen_sent: u64,
    quiet_since: Instant,
}

/// A case connection's end: the case, the connection's serial and samod's reason.
type Ended = Pin<Box<dyn Future<Output = (String, u64, ConnFinishedReason)> + Send>>;

/// The messages kept for documents no case has yet (see the module documentation).
#[derive(Default)]
struct Parked {
    by_doc: HashMap<DocumentId, Vec<u8>>,
    bytes: usize,
}

impl Parked {
    /// Keep `bytes` as the latest message about `doc`, within the limits.
    fn put(&mut self, doc: DocumentId, bytes: Vec<u8>) {
        if let Some(old) = self.by_doc.remove(&doc) {
            self.bytes -= old.len();
        }
        if self.by_doc.len() < MAX_PARKED_DOCS && self.bytes + bytes.len() <= MAX_PARKED_BYTES {
            self.bytes += bytes.len();
            self.by_doc.insert(doc, bytes);
        }
    }

    /// Take the messages about documents that `ready` accepts now.
    fn take(&mut self, mut ready: impl FnMut(&DocumentId) -> bool) -> Vec<Vec<u8>> {
        let docs: Vec<DocumentId> = self.by_doc.keys().filter(|d| ready(d)).cloned().collect();
        let taken: Vec<Vec<u8>> = docs.iter().filter_map(|d| self.by_doc.remove(d)).collect();
        self.bytes -= taken.iter().map(Vec::len).sum::<usize>();
        taken
    }
}

/// One WebSocket's routing (see the module documentation).
pub(crate) struct Demux {
    state: AppState,
    device_id: String,
    peer: PeerId,
    to_ws: mpsc::UnboundedSender<Vec<u8>>,
    lobby: Inbound,
    join: Option<Vec<u8>>,
    cases: HashMap<String, CaseConn>,
    ended: FuturesUnordered<Ended>,
    parked: Parked,
    /// Serial of the next case connection.
    serial: u64,
    /// Cases whose connection is dormant, and where their wake-ups arrive.
    dormant: std::collections::HashSet<String>,
    wake_tx: mpsc::UnboundedSender<String>,
    wake_rx: mpsc::UnboundedReceiver<String>,
}

impl Demux {
    /// Routing for a connection of `device_id` (samod peer `peer`) whose lobby connection reads `lobby`;
    /// every samod connection writes to `to_ws`.
    pub(crate) fn new(
        state: AppState,
        device_id: String,
        peer: PeerId,
        lobby: Inbound,
        to_ws: mpsc::UnboundedSender<Vec<u8>>,
    ) -> Self {
        let (wake_tx, wake_rx) = mpsc::unbounded();
        Demux {
            state,
            device_id,
            peer,
            to_ws,
            lobby,
            join: None,
            cases: HashMap::new(),
            ended: FuturesUnordered::new(),
            parked: Parked::default(),
            serial: 0,
            dormant: std::collections::HashSet::new(),
            wake_tx,
            wake_rx,
        }
    }

    /// Route one inbound message; `changes` is what `inbound::check` found in it.
    pub(crate) async fn deliver(&mut self, bytes: Vec<u8>, changes: Option<Changes>) -> Result<Delivered, Refused> {
        if self.join.is_none() {
            self.join = Some(bytes.clone());
            return send(&mut self.lobby, bytes).await;
        }
        let Some(doc) = inbound::envelope(&bytes)
            .and_then(|e| Some((e.kind == "request" || e.kind == "sync", e.document()?.clone())))
        else {
            return send(&mut self.lobby, bytes).await;
        };
        let (answers, doc) = doc;
        let Some((case_id, _role)) = self.state.dir.access(&self.device_id, &doc.to_string()) else {
            if answers {
                let _ = self.to_ws.unbounded_send(doc_unavailable(&self.peer, &doc));
                if self.state.dir.case_of(&doc.to_string()).is_none() {
                    self.parked.put(doc, bytes);
                }
            }
            return Ok(Delivered::Answered);
        };
        // A request or sync about a document of a case the device's account is a member of: the device
        // syncs the case (stamped once the message passed the dry run).
        let seen = answers.then(|| (self.state.seen.clone(), self.state.now(), self.device_id.clone()));
        let state = self.state.clone();
        let conn = self.case_conn(&case_id).await?;
        state.cases.touch(&case_id, &conn.repo);
        if let Some(changes) = changes {
            inbound::dry_run(&conn.repo.documents, changes).await.map_err(Refused::DryRun)?;
        }
        if let Some((seen, now, device_id)) = seen {
            seen.case_synced(&case_id, &device_id, now);
        }
        send(&mut conn.inbound, bytes).await
    }

    /// Whether messages are parked (then [`Demux::unpark`] is worth calling on directory changes).
    pub(crate) fn has_parked(&self) -> bool {
        !self.parked.by_doc.is_empty()
    }

    /// Deliver again the parked messages about documents the device may sync now.
    pub(crate) async fn unpark(&mut self) -> Result<(), Refused> {
        let (dir, device) = (self.state.dir.clone(), self.device_id.clone());
        for bytes in self.parked.take(|doc| dir.access(&device, &doc.to_string()).is_some()) {
            let changes = inbound::check(&bytes).ok().flatten();
            self.deliver(bytes, changes).await?;
        }
        Ok(())
    }

    /// Completes when one of the case connections ends, with its reason; never while there is none. The
    /// end of a connection the WebSocket let go of (dormant) is not reported.
    pub(crate) async fn case_ended(&mut self) -> ConnFinishedReason {
        loop {
            match self.ended.next().await {
                Some((case_id, serial, reason)) => {
                    if self.cases.get(&case_id).is_some_and(|c| c.serial == serial) {
                        return reason;
                    }
                }
                None => std::future::pending().await,
            }
        }
    }

    /// Cases synced on this WebSocket (connected or dormant).
    pub(crate) fn cases(&self) -> usize {
        self.cases.len() + self.dormant.len()
    }

    /// The next thing about this WebSocket's cases: a case connection ended ([`Demux::case_ended`]) or a
    /// dormant case is used again ([`Demux::wake`] it).
    pub(crate) async fn next_event(&mut self) -> CaseEvent {
        let Demux { cases, ended, dormant, wake_rx, .. } = self;
        let ended = async {
            loop {
                match ended.next().await {
                    Some((case_id, serial, reason)) => {
                        if cases.get(&case_id).is_some_and(|c| c.serial == serial) {
                            return reason;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            }
        };
        let woken = async {
            loop {
                match wake_rx.next().await {
                    Some(case_id) if dormant.contains(&case_id) => return case_id,
                    Some(_) => {}
                    None => std::future::pending::<()>().await,
                }
            }
        };
        tokio::select! {
            reason = ended => CaseEvent::Ended(reason),
            case_id = woken => CaseEvent::Woken(case_id),
        }
    }

    /// Reconnect to a dormant case that someone uses again, so that samod pushes what changes.
    pub(crate) async fn wake(&mut self, case_id: &str) -> Result<(), Refused> {
        if self.dormant.contains(case_id) {
            self.case_conn(case_id).await?;
        }
        Ok(())
    }

    /// Let go of the case connections without traffic (either way, nor anyone else's use of the case) for
    /// `after`; call it every fraction of `after`.
    pub(crate) fn let_go_of_quiet_cases(&mut self, after: Duration) {
        let now = Instant::now();
        let mut quiet = Vec::new();
        for (case_id, c) in &mut self.cases {
            let (uses, sent) = (c.repo.uses(), c.sent.load(Ordering::SeqCst));
            if uses != c.seen_uses || sent != c.seen_sent {
                (c.seen_uses, c.seen_sent, c.quiet_since) = (uses, sent, now);
            } else if now.duration_since(c.quiet_since) >= after {
                quiet.push(case_id.clone());
            }
        }
        for case_id in quiet {
            let Some(c) = self.cases.get(&case_id) else { continue };
            // Registered only if nobody used the case since we looked; then any later use wakes us.
            if self.state.cases.watch(&case_id, &c.repo, c.seen_uses, self.wake_tx.clone()) {
                // Dropping its inbound side ends the samod connection; dropping the repository lets the
                // case unload.
                self.cases.remove(&case_id);
                self.dormant.insert(case_id);
            }
        }
    }

    /// This WebSocket's connection to the repository of `case_id`, opened (with the join) if needed.
    async fn case_conn(&mut self, case_id: &str) -> Result<&mut CaseConn, Refused> {
        if !self.cases.contains_key(case_id) {
            let repo = self.state.cases.case(case_id).await.ok_or(Refused::Stopping)?;
            let (mut inbound, from_ws) = mpsc::channel(QUEUE);
            // The case repository answers the join too: the device has its answer from the lobby already.
            let mut answered = false;
            let sent = Arc::new(AtomicU64::new(0));
            let counted = sent.clone();
            let to_ws = self.to_ws.clone().with_flat_map(move |m: Vec<u8>| {
                counted.fetch_add(1, Ordering::SeqCst);
                let first = !std::mem::replace(&mut answered, true);
                futures::stream::iter((!first).then_some(Ok(m)))
            });
            let transport = Transport::new(from_ws, to_ws).with_expected_peer_id(self.peer.clone());
            let conn = repo.acceptor.accept(transport).map_err(|_| Refused::Stopping)?;
            self.serial += 1;
            let (case, serial) = (case_id.to_string(), self.serial);
            let mut ended: Ended = Box::pin(async move { (case, serial, finished(conn.events()).await) });
            // Polled once now so that it listens before samod can end the connection.
            if let std::task::Poll::Ready((_, _, reason)) = futures::poll!(&mut ended) {
                return Err(Refused::Ended(Some(reason)));
            }
            self.ended.push(ended);
            let join = self.join.clone().unwrap_or_default();
            send(&mut inbound, join).await?;
            self.dormant.remove(case_id);
            let seen_uses = repo.uses();
            self.cases.insert(
                case_id.to_string(),
                CaseConn { repo, inbound, serial, sent, seen_uses, seen_sent: 0, quiet_since: Instant::now() },
            );
        }
        self.cases.get_mut(case_id).ok_or(Refused::Stopping)
    }
}

impl Drop for Demux {
    fn drop(&mut self) {
        if !self.dormant.is_empty() {
            self.wake_rx.close();
            self.state.cases.unwatch(self.dormant.drain());
        }
    }
}

/// Completes when samod ends the connection whose `events` these are, with the reason (`Shutdown` if the
/// events stop first).
pub(crate) async fn finished(mut events: impl Stream<Item = AcceptorEvent> + Unpin) -> ConnFinishedReason {
    while let Some(event) = events.next().await {
        if let AcceptorEvent::ClientDisconnected { reason, .. } = event {
            return reason;
        }
    }
    ConnFinishedReason::Shutdown
}

/// Hand `bytes` to a samod connection.
async fn send(inbound: &mut Inbound, bytes: Vec<u8>) -> Result<Delivered, Refused> {
    inbound.send(Ok(bytes)).await.map(|()| Delivered::ToSamod).map_err(|_| Refused::Ended(None))
}

/// samod's `doc-unavailable` message from the relay to `peer` about `doc`.
fn doc_unavailable(peer: &PeerId, doc: &DocumentId) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::new());
    let written = e
        .map(4)
        .and_then(|e| e.str("type")?.str("doc-unavailable"))
        .and_then(|e| e.str("senderId")?.str(RELAY_PEER_ID))
        .and_then(|e| e.str("targetId")?.str(peer.as_str()))
        .and_then(|e| e.str("documentId")?.str(&doc.to_string()))
        .is_ok();
    debug_assert!(written, "encoding into a Vec cannot fail");
    e.into_writer()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> DocumentId {
        casebook_core::DocId::random().to_document_id()
    }

    #[test]
    fn doc_unavailable_reads_as_samod_reads_it() {
        let d = doc();
        let bytes = doc_unavailable(&PeerId::from("device-x"), &d);
        let e = inbound::envelope(&bytes).unwrap();
        assert_eq!(e.kind, "doc-unavailable");
        assert_eq!(e.document(), Some(&d));
        // The same bytes samod-core encodes for this message (field order included).
        let mut m = minicbor::Decoder::new(&bytes);
        assert_eq!(m.map().unwrap(), Some(4));
        let keys: Vec<String> = (0..4)
            .map(|_| {
                let k = m.str().unwrap().to_string();
                m.skip().unwrap();
                k
            })
            .collect();
        assert_eq!(keys, ["type", "senderId", "targetId", "documentId"]);
    }

    #[test]
    fn parking_keeps_the_latest_message_per_document_within_limits() {
        let mut p = Parked::default();
        let (a, b) = (doc(), doc());
        p.put(a.clone(), vec![1; 10]);
        p.put(a.clone(), vec![2; 20]);
        p.put(b.clone(), vec![3; MAX_PARKED_BYTES]);
        assert_eq!(p.bytes, 20, "a message over the byte limit is not parked");
        for _ in 0..MAX_PARKED_DOCS + 5 {
            p.put(doc(), vec![0; 1]);
        }
        assert_eq!(p.by_doc.len(), MAX_PARKED_DOCS);
        assert_eq!(p.take(|d| *d == a), vec![vec![2; 20]]);
        assert_eq!(p.bytes, MAX_PARKED_DOCS - 1);
        assert!(p.take(|d| *d == b).is_empty());
    }
}
