//! `ws`: hostile WebSocket messages to a real relay's `/v1/sync`, over a real socket, with a valid device
//! token. Input: a flags byte (bit 0: first complete a correct `join` handshake), then frames, each
//! `kind: u8` (0 binary, 1 text, 2 ping), `len: u16` little-endian, bytes. Invariants: no panic in the relay;
//! the upgrade always succeeds; every 200 inputs and at the end a well-behaved client still completes the
//! handshake and gets an answer to a document request.

use std::net::TcpStream;
use std::time::Duration;

use automerge::sync::SyncDoc;
use automerge::transaction::Transactable;
use casebook_core::DocId;
use casebook_core::relay_api::{DeviceCredentials, RELAY_PEER_ID, peer_id_for_device};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

use super::Rig;
use crate::{Target, mutate};

/// The target.
pub struct Ws {
    rig: Rig,
    device: DeviceCredentials,
    case: String,
}

impl Ws {
    /// A relay with an account and a registered case.
    pub fn new() -> anyhow::Result<Self> {
        let rig = Rig::start()?;
        let device = rig.create_account("Fuzz")?;
        let case = DocId::random().to_string();
        let body = json!({ "case_id": case }).to_string();
        let (s, _) = rig.request("POST", "/v1/cases", Some(&device.token), Some(body.as_bytes()))?;
        anyhow::ensure!(s == 201, "register case: {s}");
        Ok(Ws { rig, device, case })
    }

    fn peer(&self) -> String {
        peer_id_for_device(&self.device.device_id)
    }

    fn connect(&self) -> Result<WebSocket<TcpStream>, String> {
        let addr = self.rig.addr();
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(3))).map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut req = format!("ws://{addr}/v1/sync").into_client_request().map_err(|e| e.to_string())?;
        let auth = format!("Bearer {}", self.device.token).parse().map_err(|_| "header".to_string())?;
        req.headers_mut().insert("authorization", auth);
        let (ws, _) =
            tungstenite::client(req, stream).map_err(|e| format!("upgrade refused: {}", short(&e.to_string())))?;
        Ok(ws)
    }

    /// Send a correct join and wait for the relay's `peer` answer.
    fn handshake(&self, ws: &mut WebSocket<TcpStream>) -> Result<(), String> {
        ws.send(Message::binary(join(&self.peer()))).map_err(|e| format!("send join: {e}"))?;
        let answer = next_binary(ws).ok_or("no answer to a correct join")?;
        if !contains(&answer, b"peer") {
            return Err("the answer to a correct join is not `peer`".into());
        }
        Ok(())
    }
}

fn short(s: &str) -> String {
    s.chars().take(60).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The next binary message, skipping pings; `None` on close, error or timeout.
fn next_binary(ws: &mut WebSocket<TcpStream>) -> Option<Vec<u8>> {
    loop {
        match ws.read() {
            Ok(Message::Binary(b)) => return Some(b.to_vec()),
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
            _ => return None,
        }
    }
}

// --- A minimal CBOR writer for automerge-repo's wire messages (maps of text keys). ---

fn head(major: u8, n: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

/// A CBOR value of the messages.
enum V<'a> {
    T(&'a str),
    B(&'a [u8]),
    U(u64),
    A(Vec<V<'a>>),
    M(Vec<(&'a str, V<'a>)>),
}

fn cbor(v: &V<'_>, out: &mut Vec<u8>) {
    match v {
        V::T(s) => {
            head(3, s.len() as u64, out);
            out.extend(s.as_bytes());
        }
        V::B(b) => {
            head(2, b.len() as u64, out);
            out.extend(*b);
        }
        V::U(n) => head(0, *n, out),
        V::A(a) => {
            head(4, a.len() as u64, out);
            for x in a {
                cbor(x, out);
            }
        }
        V::M(m) => {
            head(5, m.len() as u64, out);
            for (k, x) in m {
                cbor(&V::T(k), out);
                cbor(x, out);
            }
        }
    }
}

fn msg(fields: Vec<(&str, V<'_>)>) -> Vec<u8> {
    let mut out = Vec::new();
    cbor(&V::M(fields), &mut out);
    out
}

fn join(peer: &str) -> Vec<u8> {
    msg(vec![("type", V::T("join")), ("senderId", V::T(peer)), ("supportedProtocolVersions", V::A(vec![V::T("1")]))])
}

fn doc_msg(kind: &str, doc: &str, peer: &str, data: &[u8]) -> Vec<u8> {
    msg(vec![
        ("type", V::T(kind)),
        ("documentId", V::T(doc)),
        ("senderId", V::T(peer)),
        ("targetId", V::T(RELAY_PEER_ID)),
        ("data", V::B(data)),
    ])
}

/// Two sync messages of a small document: the first (heads, bloom) and one carrying its changes.
fn sync_messages() -> (Vec<u8>, Vec<u8>) {
    let mut doc = automerge::AutoCommit::new();
    let _ = doc.put(automerge::ROOT, "kind", "case");
    let _ = doc.put(automerge::ROOT, "title", "fuzz");
    doc.commit();
    let mut doc = doc.document().clone();
    let mut state = automerge::sync::State::new();
    let first = doc.generate_sync_message(&mut state).map(|m| m.encode()).unwrap_or_default();
    // Pretend the other side has nothing: the next message carries the changes.
    let mut peer = automerge::Automerge::new();
    let mut peer_state = automerge::sync::State::new();
    if let Ok(m) = automerge::sync::Message::decode(&first) {
        let _ = peer.receive_sync_message(&mut peer_state, m);
    }
    if let Some(m) = peer.generate_sync_message(&mut peer_state) {
        let _ = doc.receive_sync_message(&mut state, m);
    }
    let second = doc.generate_sync_message(&mut state).map(|m| m.encode()).unwrap_or_default();
    (first, second)
}

/// Frame an input: flags, then frames.
fn frames(flags: u8, fs: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![flags];
    for (kind, bytes) in fs {
        out.push(*kind);
        out.extend((bytes.len().min(u16::MAX as usize) as u16).to_le_bytes());
        out.extend(&bytes[..bytes.len().min(u16::MAX as usize)]);
    }
    out
}

fn unframe(input: &[u8]) -> (u8, Vec<(u8, Vec<u8>)>) {
    let Some((&flags, mut rest)) = input.split_first() else {
        return (0, Vec::new());
    };
    let mut out = Vec::new();
    while !rest.is_empty() && out.len() < 64 {
        let kind = rest[0];
        let len = if rest.len() >= 3 { u16::from_le_bytes([rest[1], rest[2]]) as usize } else { 0 };
        let body_start = rest.len().min(3);
        let end = (body_start + len).min(rest.len());
        out.push((kind, rest[body_start..end].to_vec()));
        rest = &rest[end..];
    }
    (flags, out)
}

impl Target for Ws {
    fn name(&self) -> &'static str {
        "ws"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        let peer = self.peer();
        let (first, second) = sync_messages();
        let case = self.case.as_str();
        let other = DocId::random().to_string();
        vec![
            frames(0, &[(0, join(&peer))]),
            frames(0, &[(0, join("device-someone-else"))]),
            frames(1, &[(0, doc_msg("request", case, &peer, &first))]),
            frames(1, &[(0, doc_msg("request", case, &peer, &first)), (0, doc_msg("sync", case, &peer, &second))]),
            frames(1, &[(0, doc_msg("sync", &other, &peer, &second))]),
            frames(
                1,
                &[(
                    0,
                    msg(vec![
                        ("type", V::T("ephemeral")),
                        ("senderId", V::T(&peer)),
                        ("targetId", V::T(RELAY_PEER_ID)),
                        ("count", V::U(1)),
                        ("sessionId", V::T("s")),
                        ("documentId", V::T(case)),
                        ("data", V::B(b"\xa0")),
                    ]),
                )],
            ),
            frames(
                1,
                &[(
                    0,
                    msg(vec![
                        ("type", V::T("doc-unavailable")),
                        ("senderId", V::T(&peer)),
                        ("targetId", V::T(RELAY_PEER_ID)),
                        ("documentId", V::T(case)),
                    ]),
                )],
            ),
            frames(
                1,
                &[(
                    0,
                    msg(vec![
                        ("type", V::T("remote-subscription-change")),
                        ("senderId", V::T(&peer)),
                        ("targetId", V::T(RELAY_PEER_ID)),
                        ("add", V::A(vec![V::T("storage")])),
                        ("remove", V::A(vec![])),
                    ]),
                )],
            ),
            frames(1, &[(0, msg(vec![("type", V::T("leave")), ("senderId", V::T(&peer))]))]),
            frames(1, &[(0, msg(vec![("type", V::T("error")), ("message", V::T("x"))]))]),
            frames(1, &[(1, b"{\"type\":\"join\"}".to_vec()), (2, vec![1, 2, 3])]),
        ]
    }

    fn mutate(&mut self, input: &[u8], corpus: &[Vec<u8>], rng: &mut StdRng) -> Vec<u8> {
        let (mut flags, mut fs) = unframe(input);
        if fs.is_empty() || rng.random_ratio(1, 6) {
            return mutate::bytes(input, corpus, rng);
        }
        match rng.random_range(0..8) {
            0 => flags ^= 1,
            // A well-formed wire message whose automerge sync data is damaged: reaches the document's
            // sync decoder and change application in the relay.
            6 | 7 => {
                let (first, second) = sync_messages();
                let peer = self.peer();
                let data = mutate::bytes(if rng.random_ratio(1, 2) { &first } else { &second }, &[], rng);
                let kind = if rng.random_ratio(1, 2) { "request" } else { "sync" };
                return frames(1, &[(0, doc_msg(kind, &self.case, &peer, &data))]);
            }
            1 => {
                let i = rng.random_range(0..fs.len());
                let f = fs[i].clone();
                for _ in 0..rng.random_range(1..20) {
                    fs.push(f.clone());
                }
            }
            2 => {
                let i = rng.random_range(0..fs.len());
                fs.remove(i);
            }
            _ => {
                // Mutate one message's bytes (CBOR or the automerge sync data inside it).
                let i = rng.random_range(0..fs.len());
                fs[i].1 = mutate::bytes(&fs[i].1, corpus, rng);
            }
        }
        frames(flags, &fs)
    }

    fn exec(&mut self, input: &[u8]) -> Result<(), String> {
        let (flags, fs) = unframe(input);
        let mut ws = self.connect()?;
        if flags & 1 == 1 {
            self.handshake(&mut ws)?;
        }
        for (kind, bytes) in fs {
            let m = match kind % 3 {
                0 => Message::binary(bytes),
                1 => Message::text(String::from_utf8_lossy(&bytes).into_owned()),
                _ => Message::Ping(bytes.into()),
            };
            if ws.send(m).is_err() {
                break;
            }
        }
        // Close and wait for the relay's close (it processes what came before in order).
        let _ = ws.close(None);
        while ws.read().is_ok() {}
        Ok(())
    }

    fn check_alive(&mut self) -> Result<(), String> {
        let mut ws = self.connect()?;
        self.handshake(&mut ws)?;
        let (first, _) = sync_messages();
        ws.send(Message::binary(doc_msg("request", &self.case, &self.peer(), &first)))
            .map_err(|e| format!("send request: {e}"))?;
        let answer = next_binary(&mut ws).ok_or("no answer to a document request")?;
        if !contains(&answer, b"sync") && !contains(&answer, b"doc-unavailable") {
            return Err("unexpected answer to a document request".into());
        }
        let _ = ws.close(None);
        while ws.read().is_ok() {}
        let (s, _) = self.rig.request("GET", "/healthz", None, None).map_err(|e| e.to_string())?;
        if s != 200 {
            return Err(format!("/healthz {s}"));
        }
        Ok(())
    }
}
