//! A minimal automerge-repo wire client: CBOR messages over one WebSocket, and an in-memory replica.
//!
//! Messages (CBOR maps with text keys): `join` {type, senderId, peerMetadata, supportedProtocolVersions} is
//! answered by `peer`; then `request` (the sender has nothing yet) and `sync` {type, senderId, targetId,
//! documentId, data} carry automerge sync messages. Anything else (`doc-unavailable`, ephemeral, heads
//! subscriptions) is decoded as far as its type and otherwise ignored.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash};
use futures::{SinkExt, StreamExt};
use minicbor::data::Type;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A decoded automerge-repo message: only the fields the bench reads.
#[derive(Debug, Default, Clone)]
pub struct Msg {
    /// `peer`, `sync`, `request`, `doc-unavailable`, …
    pub kind: String,
    /// The sender's peer id.
    pub sender_id: String,
    /// The document, for document messages.
    pub document_id: Option<String>,
    /// The automerge sync message, for `sync` and `request`.
    pub data: Option<Vec<u8>>,
}

fn new_encoder() -> minicbor::Encoder<Vec<u8>> {
    minicbor::Encoder::new(Vec::with_capacity(64))
}

/// The `join` message a client opens with.
pub fn encode_join(sender_id: &str) -> Vec<u8> {
    let mut e = new_encoder();
    (|| -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
        e.map(4)?.str("type")?.str("join")?.str("senderId")?.str(sender_id)?;
        e.str("peerMetadata")?.map(1)?.str("isEphemeral")?.bool(true)?;
        e.str("supportedProtocolVersions")?.array(1)?.str("1")?;
        Ok(())
    })()
    .expect("encoding into a Vec cannot fail");
    e.into_writer()
}

/// A `sync` or `request` message carrying `data`.
pub fn encode_doc_message(kind: &str, sender_id: &str, target_id: &str, document_id: &str, data: &[u8]) -> Vec<u8> {
    let mut e = new_encoder();
    (|| -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
        e.map(5)?.str("type")?.str(kind)?.str("senderId")?.str(sender_id)?;
        e.str("targetId")?.str(target_id)?.str("documentId")?.str(document_id)?;
        e.str("data")?.bytes(data)?;
        Ok(())
    })()
    .expect("encoding into a Vec cannot fail");
    e.into_writer()
}

/// Decode the fields of a message the bench reads; skips the others.
pub fn decode(bytes: &[u8]) -> Result<Msg> {
    let mut d = minicbor::Decoder::new(bytes);
    let len = d.map().context("message is not a CBOR map")?;
    let mut msg = Msg::default();
    let mut i = 0u64;
    loop {
        match len {
            Some(n) if i >= n => break,
            None if d.datatype()? == Type::Break => break,
            _ => {}
        }
        let key = d.str()?;
        match key {
            "type" => msg.kind = d.str()?.to_owned(),
            "senderId" => msg.sender_id = d.str()?.to_owned(),
            "documentId" => msg.document_id = Some(d.str()?.to_owned()),
            "data" => {
                if d.datatype()? == Type::Tag {
                    d.tag()?;
                }
                msg.data = Some(d.bytes()?.to_vec());
            }
            _ => d.skip()?,
        }
        i += 1;
    }
    Ok(msg)
}

/// What [`Conn::recv`] got.
#[derive(Debug)]
pub enum Incoming {
    /// An automerge-repo message.
    Msg(Msg),
    /// A control frame (ping/pong): answered by tungstenite, nothing to do.
    Control,
    /// The relay closed the connection.
    Closed,
}

/// One WebSocket connection that has done the `join`/`peer` handshake, with its traffic counters.
pub struct Conn {
    ws: Ws,
    /// Our peer id.
    pub peer_id: String,
    /// The relay's peer id (from its `peer` message).
    pub remote_id: String,
    /// Payload bytes received after the handshake.
    pub bytes_in: u64,
    /// Payload bytes sent after the handshake.
    pub bytes_out: u64,
    /// Messages received after the handshake.
    pub msgs_in: u64,
    /// Messages sent after the handshake.
    pub msgs_out: u64,
}

impl Conn {
    /// Connect to `url` (a sync endpoint; `token` is appended as `?token=`), send `join` as `peer_id`, and
    /// wait for the relay's `peer` (at most `timeout`).
    pub async fn connect(url: &str, token: Option<&str>, peer_id: &str, timeout: Duration) -> Result<Conn> {
        let full = match token {
            Some(t) => format!("{url}?token={t}"),
            None => url.to_owned(),
        };
        let fut = async {
            // tungstenite zeroes its read buffer (128 KiB by default) before every read: 6 % of the load
            // generator's CPU in the active workload. The same client runs against both relays.
            let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
            config.read_buffer_size = 16 * 1024;
            let (ws, _) = tokio_tungstenite::connect_async_with_config(full.as_str(), Some(config), false)
                .await
                .context("websocket connect")?;
            let mut conn = Conn {
                ws,
                peer_id: peer_id.to_owned(),
                remote_id: String::new(),
                bytes_in: 0,
                bytes_out: 0,
                msgs_in: 0,
                msgs_out: 0,
            };
            conn.ws.send(WsMessage::Binary(encode_join(peer_id).into())).await?;
            loop {
                match conn.recv().await? {
                    Incoming::Msg(m) if m.kind == "peer" => {
                        conn.remote_id = m.sender_id;
                        break;
                    }
                    Incoming::Msg(m) => bail!("expected `peer`, got `{}`", m.kind),
                    Incoming::Control => {}
                    Incoming::Closed => bail!("closed during the handshake"),
                }
            }
            conn.bytes_in = 0;
            conn.msgs_in = 0;
            Ok(conn)
        };
        tokio::time::timeout(timeout, fut).await.context("handshake timed out")?
    }

    /// Send a `sync`/`request` message for `document_id`.
    pub async fn send_doc(&mut self, kind: &str, document_id: &str, data: &[u8]) -> Result<()> {
        let bytes = encode_doc_message(kind, &self.peer_id, &self.remote_id, document_id, data);
        self.bytes_out += bytes.len() as u64;
        self.msgs_out += 1;
        self.ws.send(WsMessage::Binary(bytes.into())).await?;
        Ok(())
    }

    /// The next frame (cancel safe: one `next()` of the stream).
    pub async fn recv(&mut self) -> Result<Incoming> {
        match self.ws.next().await {
            None => Ok(Incoming::Closed),
            Some(Err(e)) => Err(e.into()),
            Some(Ok(WsMessage::Binary(b))) => {
                self.bytes_in += b.len() as u64;
                self.msgs_in += 1;
                Ok(Incoming::Msg(decode(&b)?))
            }
            Some(Ok(WsMessage::Close(_))) => Ok(Incoming::Closed),
            Some(Ok(WsMessage::Text(_))) => bail!("text frame from the relay"),
            Some(Ok(_)) => Ok(Incoming::Control),
        }
    }

    /// Close the connection politely (errors ignored).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

/// An in-memory replica of one document and its sync state with the relay.
pub struct Replica {
    /// The document.
    pub doc: Automerge,
    /// Sync state with the relay.
    pub state: sync::State,
    /// The automerge-repo document id (bs58check, no `automerge:` prefix).
    pub doc_id: String,
}

impl Replica {
    /// A replica of `doc`.
    pub fn new(doc_id: String, doc: Automerge) -> Replica {
        Replica { doc, state: sync::State::new(), doc_id }
    }

    /// The next message to the relay, if any: (`request` while we have nothing, else `sync`, bytes).
    pub fn outgoing(&mut self) -> Option<(&'static str, Vec<u8>)> {
        let msg = self.doc.generate_sync_message(&mut self.state)?;
        let kind = if self.doc.get_heads().is_empty() { "request" } else { "sync" };
        Some((kind, msg.encode()))
    }

    /// Apply a sync message from the relay.
    pub fn receive(&mut self, data: &[u8]) -> Result<()> {
        let msg = sync::Message::decode(data).context("undecodable sync message")?;
        self.doc.receive_sync_message(&mut self.state, msg)?;
        Ok(())
    }

    /// Our heads, sorted.
    pub fn heads(&self) -> Vec<ChangeHash> {
        let mut h = self.doc.get_heads();
        h.sort();
        h
    }

    /// Whether the relay has told us it holds exactly our (non-empty) heads.
    pub fn relay_has_ours(&self) -> bool {
        let ours = self.heads();
        !ours.is_empty()
            && self.state.their_heads.as_ref().is_some_and(|t| {
                let mut t = t.clone();
                t.sort();
                t == ours
            })
    }

    /// Send what the sync state says is due, if anything; returns whether a message was sent.
    pub async fn flush(&mut self, conn: &mut Conn) -> Result<bool> {
        match self.outgoing() {
            Some((kind, data)) => {
                conn.send_doc(kind, &self.doc_id, &data).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Apply `msg` if it is a sync message for this document; returns whether it was.
    pub fn apply(&mut self, msg: &Msg) -> Result<bool> {
        if msg.document_id.as_deref() != Some(self.doc_id.as_str()) {
            return Ok(false);
        }
        match (msg.kind.as_str(), &msg.data) {
            ("sync" | "request", Some(data)) => {
                self.receive(data)?;
                Ok(true)
            }
            ("doc-unavailable", _) => bail!("the relay has no document {}", self.doc_id),
            _ => Ok(false),
        }
    }

    /// Exchange messages until `done` holds (at most `timeout`). Returns the number of messages we sent.
    pub async fn sync_until(
        &mut self,
        conn: &mut Conn,
        timeout: Duration,
        done: impl Fn(&Replica) -> bool,
    ) -> Result<u32> {
        let fut = async {
            let mut sent = u32::from(self.flush(conn).await?);
            while !done(self) {
                match conn.recv().await? {
                    Incoming::Msg(m) => {
                        if self.apply(&m)? && self.flush(conn).await? {
                            sent += 1;
                        }
                    }
                    Incoming::Control => {}
                    Incoming::Closed => bail!("the relay closed the connection"),
                }
            }
            Ok(sent)
        };
        tokio::time::timeout(timeout, fut).await.context("sync timed out")?
    }
}

/// A new random document id, as automerge-repo writes it.
pub fn new_doc_id() -> String {
    samod_core::DocumentId::try_from(uuid::Uuid::new_v4().as_bytes().to_vec())
        .expect("16 bytes are a document id")
        .to_string()
}
