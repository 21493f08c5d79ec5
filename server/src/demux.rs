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
//! Any of the connection's samod connections ending ends the WebSocket, with the close code of its reason.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

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
}

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
    ended: FuturesUnordered<Pin<Box<dyn Future<Output = ConnFinishedReason> + Send>>>,
    parked: Parked,
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
        let conn = self.case_conn(&case_id).await?;
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

    /// Completes when one of the case connections ends, with its reason; never while there is none.
    pub(crate) async fn case_ended(&mut self) -> ConnFinishedReason {
        match self.ended.next().await {
            Some(reason) => reason,
            None => std::future::pending().await,
        }
    }

    /// Case connections open.
    pub(crate) fn cases(&self) -> usize {
        self.cases.len()
    }

    /// This WebSocket's connection to the repository of `case_id`, opened (with the join) if needed.
    async fn case_conn(&mut self, case_id: &str) -> Result<&mut CaseConn, Refused> {
        if !self.cases.contains_key(case_id) {
            let repo = self.state.cases.case(case_id).await.ok_or(Refused::Stopping)?;
            let (mut inbound, from_ws) = mpsc::channel(QUEUE);
            // The case repository answers the join too: the device has its answer from the lobby already.
            let mut answered = false;
            let to_ws = self.to_ws.clone().with_flat_map(move |m: Vec<u8>| {
                let first = !std::mem::replace(&mut answered, true);
                futures::stream::iter((!first).then_some(Ok(m)))
            });
            let transport = Transport::new(from_ws, to_ws).with_expected_peer_id(self.peer.clone());
            let conn = repo.acceptor.accept(transport).map_err(|_| Refused::Stopping)?;
            let mut ended: Pin<Box<dyn Future<Output = ConnFinishedReason> + Send>> =
                Box::pin(async move { finished(conn.events()).await });
            // Polled once now so that it listens before samod can end the connection.
            if let std::task::Poll::Ready(reason) = futures::poll!(&mut ended) {
                return Err(Refused::Ended(Some(reason)));
            }
            self.ended.push(ended);
            let join = self.join.clone().unwrap_or_default();
            send(&mut inbound, join).await?;
            self.cases.insert(case_id.to_string(), CaseConn { repo, inbound });
        }
        self.cases.get_mut(case_id).ok_or(Refused::Stopping)
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
