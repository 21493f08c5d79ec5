//! Presence (feature `sync`): "Ben is in this appointment's notes", as automerge-repo 2.5's `Presence`
//! API shares it — sans-IO: bytes and `now_ms` in, bytes and peer states out. The sync client
//! (`SyncClient::set_presence`, `presence`, [`SyncEvent::PresenceChanged`](crate::sync::SyncEvent)) runs
//! it on its runtime; this module does no I/O and reads no clock.
//!
//! # Wire format (automerge-repo 2.5.6)
//! Read from the npm package `@automerge/automerge-repo@2.5.6`: `dist/presence/Presence.js`,
//! `dist/presence/PeerPresenceInfo.js`, `dist/presence/constants.js`, `dist/presence/types.d.ts`,
//! `dist/helpers/cbor.js` and `dist/DocHandle.js` (`broadcast`).
//!
//! A presence message is the `data` of an automerge-repo **ephemeral message** about the document
//! (`{type: "ephemeral", senderId, targetId, count, sessionId, documentId, data}`; samod 0.16's
//! `DocHandle::broadcast` sends one, and relays gossip them with the original `senderId`). `data` is the
//! CBOR encoding (cbor-x, `useRecords: false`: plain CBOR maps with text keys, decoded as objects) of
//!
//! ```text
//! { "__presence": { "type": "snapshot",  "state": { <channel>: <value>, … } } }   full state
//! { "__presence": { "type": "update",    "channel": <text>, "value": <any> } }    one channel
//! { "__presence": { "type": "heartbeat" } }                                       still here
//! { "__presence": { "type": "goodbye" } }                                         left
//! ```
//!
//! There is no peer, user or device id in the payload: a peer **is** the ephemeral message's `senderId`
//! (a Casebook device's samod peer id, `device-<device id>`, which the relay binds to the device's
//! token). A peer's state is a map of *channels* to values; a snapshot or an update is merged into what
//! is known of the peer (`{...known, ...state}`: a snapshot never removes a channel), and stamps it
//! `lastSeenAt` and `lastActiveAt`; a heartbeat stamps `lastSeenAt` of a *known* peer only (a heartbeat
//! from an unknown peer is ignored); a goodbye forgets the peer at once.
//!
//! **Getting a snapshot**: there is no request message. Whoever receives any presence message from a peer
//! it does not know broadcasts its own full state (a snapshot) after [`ANNOUNCE_DELAY_MS`] ("hello";
//! `Presence.announce`; automerge-repo does it even for a goodbye, Casebook not). So a newcomer's first
//! snapshot or heartbeat makes everyone present send theirs. That relies on a newcomer being *unknown*:
//! automerge-repo tabs get a fresh random peer id, but a Casebook device's peer id is stable, so a device
//! whose app restarted within the others' time to live would stay known to them and never get their
//! states (it would ignore their heartbeats as unknown, and they would ignore its snapshot as known).
//! Casebook therefore **starts with a goodbye then its snapshot** ([`DocPresence::new`]), and does the same
//! when a new connection to the document is established ([`DocPresence::greet`], after a reconnection): the
//! goodbye makes every peer forget it, the snapshot then comes from an unknown peer, and every peer, JS
//! included, answers with its own snapshot. Peers show the device leave and come back in the same instant.
//! Replies to hellos are plain snapshots, so this cannot loop.
//!
//! Casebook's state (what an app shows as "Ben is in this appointment's notes") is set on the
//! appointment's **notes document**, one channel per field: see [`CaregiverPresence`]
//! (`{"caregiver": <account id>, "name": "Ben", "editing": "notes", "appointment": <id>}`). A JS peer
//! may send any channels; they are kept as JSON values ([`PresenceState`]).
//!
//! # Timing (`dist/presence/constants.js`, `Presence.js`)
//! - a heartbeat every [`DEFAULT_HEARTBEAT_MS`] (`DEFAULT_HEARTBEAT_INTERVAL_MS` = 15 000 ms) when
//!   nothing else was sent: every snapshot or update restarts the interval (`resetHeartbeats`);
//! - a peer not seen for [`DEFAULT_PEER_TTL_MS`] (`DEFAULT_PEER_TTL_MS` = 3 × heartbeat = 45 000 ms) is
//!   forgotten. automerge-repo prunes once per heartbeat interval; here a peer is hidden the moment its
//!   time is up ([`DocPresence::peers`]) and pruned at [`DocPresence::next_due_ms`];
//! - the "hello" snapshot to a new peer [`ANNOUNCE_DELAY_MS`] (500 ms) after its first message.
//!
//! # Hostile input
//! Any member's device can send anything. A message is size-capped ([`MAX_MESSAGE_BYTES`]) **before**
//! decoding; decoding is depth-capped ([`MAX_DEPTH`]) and never panics; a peer's state keeps at most
//! [`MAX_CHANNELS`] channels, a document at most [`MAX_PEERS`] peers. A malformed, oversized or
//! over-limit message is dropped and counted ([`PresenceStats::dropped`]); a well-formed ephemeral
//! message that is not presence is ignored.
//!
//! # Privacy
//! A state may hold a caregiver's name. Nothing here logs; the `Debug` output of [`PeerPresence`],
//! [`CaregiverPresence`] and [`DocPresence`] leaves state values out, and the sync client logs ids and
//! counts only.

use std::collections::BTreeMap;
use std::fmt;

use minicbor::data::Type;
use serde_json::{Map, Number, Value};

use crate::ids::DocId;

/// The key of automerge-repo's presence envelope (`PRESENCE_MESSAGE_MARKER`).
pub const MARKER: &str = "__presence";
/// Heartbeat interval (automerge-repo `DEFAULT_HEARTBEAT_INTERVAL_MS`).
pub const DEFAULT_HEARTBEAT_MS: u64 = 15_000;
/// A peer not seen for this long is forgotten (automerge-repo `DEFAULT_PEER_TTL_MS`, 3 heartbeats).
pub const DEFAULT_PEER_TTL_MS: u64 = 3 * DEFAULT_HEARTBEAT_MS;
/// Delay of the snapshot sent to a peer seen for the first time (automerge-repo `Presence.announce`).
pub const ANNOUNCE_DELAY_MS: u64 = 500;
/// Largest presence message decoded (and sent); larger ones are dropped unread.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Deepest nesting of arrays and maps decoded.
pub const MAX_DEPTH: usize = 16;
/// Most peers kept per document; messages from more are dropped.
pub const MAX_PEERS: usize = 64;
/// Most channels kept per peer; an update adding one more is dropped.
pub const MAX_CHANNELS: usize = 64;
/// Longest peer id accepted.
pub const MAX_PEER_ID_BYTES: usize = 256;

/// A presence state: channel → value (automerge-repo's `PresenceState`, `Record<string, any>`).
pub type PresenceState = Map<String, Value>;

/// Heartbeat, expiry and hello delay, in milliseconds. [`Default`]: automerge-repo's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceTiming {
    /// Interval of heartbeats when nothing else is sent.
    pub heartbeat_ms: u64,
    /// A peer not seen for this long is forgotten.
    pub peer_ttl_ms: u64,
    /// Delay of the snapshot sent to a new peer.
    pub announce_delay_ms: u64,
}

impl Default for PresenceTiming {
    fn default() -> Self {
        Self {
            heartbeat_ms: DEFAULT_HEARTBEAT_MS,
            peer_ttl_ms: DEFAULT_PEER_TTL_MS,
            announce_delay_ms: ANNOUNCE_DELAY_MS,
        }
    }
}

impl PresenceTiming {
    /// Whether these values make sense: a heartbeat of at least 10 ms, and a time to live longer than
    /// the heartbeat (else peers flicker out between heartbeats).
    pub fn is_valid(&self) -> bool {
        self.heartbeat_ms >= 10 && self.peer_ttl_ms > self.heartbeat_ms
    }
}

/// One presence message (the value under [`MARKER`]).
#[derive(Clone, PartialEq)]
pub enum PresenceMessage {
    /// The sender's full state.
    Snapshot {
        /// Channel → value.
        state: PresenceState,
    },
    /// One channel of the sender's state.
    Update {
        /// The channel.
        channel: String,
        /// Its new value.
        value: Value,
    },
    /// The sender is still here.
    Heartbeat,
    /// The sender left.
    Goodbye,
}

impl fmt::Debug for PresenceMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Snapshot { state } => write!(f, "Snapshot({} channels)", state.len()),
            Self::Update { channel, .. } => write!(f, "Update({channel})"),
            Self::Heartbeat => f.write_str("Heartbeat"),
            Self::Goodbye => f.write_str("Goodbye"),
        }
    }
}

/// Why a message was dropped. Carries no content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("presence message too large")]
    TooLarge,
    /// Not valid CBOR (or trailing bytes).
    #[error("presence message is not valid CBOR")]
    Cbor,
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("presence message nested too deeply")]
    TooDeep,
    /// A presence envelope whose content is not one of the four messages.
    #[error("not a valid presence message")]
    BadMessage,
    /// The sender id is empty or too long.
    #[error("bad presence sender")]
    BadSender,
    /// Over [`MAX_PEERS`] or [`MAX_CHANNELS`].
    #[error("presence limits reached")]
    OverLimit,
}

impl PresenceMessage {
    /// The message as an ephemeral payload: `{"__presence": {...}}` in CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let mut inner = Map::new();
        let kind = match self {
            Self::Snapshot { state } => {
                inner.insert("state".into(), Value::Object(state.clone()));
                "snapshot"
            }
            Self::Update { channel, value } => {
                inner.insert("channel".into(), Value::String(channel.clone()));
                inner.insert("value".into(), value.clone());
                "update"
            }
            Self::Heartbeat => "heartbeat",
            Self::Goodbye => "goodbye",
        };
        inner.insert("type".into(), Value::String(kind.into()));
        let mut envelope = Map::new();
        envelope.insert(MARKER.into(), Value::Object(inner));
        encode_value(&Value::Object(envelope))
    }

    /// Decode an ephemeral payload. `Ok(None)`: valid CBOR but not a presence message (another use of
    /// ephemeral messages: ignore it). Never panics; the size cap is checked before anything is read.
    pub fn decode(bytes: &[u8]) -> Result<Option<Self>, Malformed> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(Malformed::TooLarge);
        }
        let mut d = minicbor::Decoder::new(bytes);
        let value = decode_value(&mut d, 0)?;
        if d.position() != bytes.len() {
            return Err(Malformed::Cbor);
        }
        let Value::Object(mut envelope) = value else { return Ok(None) };
        let Some(message) = envelope.remove(MARKER) else { return Ok(None) };
        let Value::Object(mut m) = message else { return Err(Malformed::BadMessage) };
        let kind = match m.get("type") {
            Some(Value::String(k)) => k.clone(),
            _ => return Err(Malformed::BadMessage),
        };
        Ok(Some(match kind.as_str() {
            "snapshot" => match m.remove("state") {
                Some(Value::Object(state)) => Self::Snapshot { state },
                _ => return Err(Malformed::BadMessage),
            },
            "update" => match m.remove("channel") {
                Some(Value::String(channel)) => {
                    Self::Update { channel, value: m.remove("value").unwrap_or(Value::Null) }
                }
                _ => return Err(Malformed::BadMessage),
            },
            "heartbeat" => Self::Heartbeat,
            "goodbye" => Self::Goodbye,
            _ => return Err(Malformed::BadMessage),
        }))
    }
}

/// A JSON value as CBOR the way cbor-x writes a JS value: maps with text keys, integers as integers,
/// other numbers as 64-bit floats.
fn encode_value(v: &Value) -> Vec<u8> {
    fn put(e: &mut minicbor::Encoder<Vec<u8>>, v: &Value) {
        // Writing into a Vec cannot fail.
        let _ = match v {
            Value::Null => e.null().map(|_| ()),
            Value::Bool(b) => e.bool(*b).map(|_| ()),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    e.u64(u).map(|_| ())
                } else if let Some(i) = n.as_i64() {
                    e.i64(i).map(|_| ())
                } else {
                    e.f64(n.as_f64().unwrap_or(0.0)).map(|_| ())
                }
            }
            Value::String(s) => e.str(s).map(|_| ()),
            Value::Array(a) => {
                let _ = e.array(a.len() as u64);
                for x in a {
                    put(e, x);
                }
                Ok(())
            }
            Value::Object(m) => {
                let _ = e.map(m.len() as u64);
                for (k, x) in m {
                    let _ = e.str(k);
                    put(e, x);
                }
                Ok(())
            }
        };
    }
    let mut e = minicbor::Encoder::new(Vec::new());
    put(&mut e, v);
    e.into_writer()
}

/// The depth of a JSON value (a scalar is 0).
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A number as JSON: integral values in JavaScript's safe range as integers (JS has one number type, and
/// cbor-x sends large integers as floats), non-finite ones as `null`.
fn number(f: f64) -> Value {
    const SAFE: f64 = 9_007_199_254_740_991.0;
    if f.is_finite() && f.fract() == 0.0 && f.abs() <= SAFE {
        return Value::Number(Number::from(f as i64));
    }
    Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
}

/// Decode one CBOR item as JSON. Byte strings, `undefined` and other simple values become `null`; tags
/// are dropped (their content kept); non-text map keys become their JSON text.
fn decode_value(d: &mut minicbor::Decoder<'_>, level: usize) -> Result<Value, Malformed> {
    let cbor = |_| Malformed::Cbor;
    Ok(match d.datatype().map_err(cbor)? {
        Type::Bool => Value::Bool(d.bool().map_err(cbor)?),
        Type::Null => {
            d.null().map_err(cbor)?;
            Value::Null
        }
        Type::Undefined => {
            d.undefined().map_err(cbor)?;
            Value::Null
        }
        Type::Simple => {
            d.simple().map_err(cbor)?;
            Value::Null
        }
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Value::Number(Number::from(d.u64().map_err(cbor)?)),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 => Value::Number(Number::from(d.i64().map_err(cbor)?)),
        Type::Int => number(i128::from(d.int().map_err(cbor)?) as f64),
        Type::F16 => {
            // 0xf9 and two bytes (minicbor decodes half floats only with its `half` feature).
            let at = d.position();
            let b = d.input().get(at + 1..at + 3).ok_or(Malformed::Cbor)?;
            d.set_position(at + 3);
            number(half_to_f64(u16::from_be_bytes([b[0], b[1]])))
        }
        Type::F32 => number(f64::from(d.f32().map_err(cbor)?)),
        Type::F64 => number(d.f64().map_err(cbor)?),
        Type::Bytes | Type::BytesIndef => {
            d.skip().map_err(cbor)?;
            Value::Null
        }
        Type::String => Value::String(d.str().map_err(cbor)?.to_string()),
        Type::StringIndef => {
            let mut s = String::new();
            for part in d.str_iter().map_err(cbor)? {
                s.push_str(part.map_err(cbor)?);
            }
            Value::String(s)
        }
        Type::Array | Type::ArrayIndef => {
            if level >= MAX_DEPTH {
                return Err(Malformed::TooDeep);
            }
            let len = d.array().map_err(cbor)?;
            let mut items = Vec::new();
            // Every item takes at least one byte: a false length ends at the end of the (capped) input.
            let mut i = 0u64;
            while len.is_none_or(|n| i < n) {
                if len.is_none() && at_break(d)? {
                    break;
                }
                items.push(decode_value(d, level + 1)?);
                i += 1;
            }
            Value::Array(items)
        }
        Type::Map | Type::MapIndef => {
            if level >= MAX_DEPTH {
                return Err(Malformed::TooDeep);
            }
            let len = d.map().map_err(cbor)?;
            let mut map = Map::new();
            let mut i = 0u64;
            while len.is_none_or(|n| i < n) {
                if len.is_none() && at_break(d)? {
                    break;
                }
                let key = match decode_value(d, level + 1)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                let value = decode_value(d, level + 1)?;
                map.insert(key, value);
                i += 1;
            }
            Value::Object(map)
        }
        Type::Tag => {
            d.tag().map_err(cbor)?;
            if level >= MAX_DEPTH {
                return Err(Malformed::TooDeep);
            }
            decode_value(d, level + 1)?
        }
        Type::Break | Type::Unknown(_) => return Err(Malformed::Cbor),
    })
}

/// An IEEE 754 half-precision float (RFC 8949, appendix D).
fn half_to_f64(h: u16) -> f64 {
    let exp = (h >> 10) & 0x1f;
    let mant = f64::from(h & 0x3ff);
    let v = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (mant + 1024.0) * 2f64.powi(i32::from(e) - 25),
    };
    if h & 0x8000 != 0 { -v } else { v }
}

/// At the break that ends an indefinite-length array or map: consume it.
fn at_break(d: &mut minicbor::Decoder<'_>) -> Result<bool, Malformed> {
    if d.datatype().map_err(|_| Malformed::Cbor)? == Type::Break {
        d.set_position(d.position() + 1);
        return Ok(true);
    }
    Ok(false)
}

/// The fields of a samod wire message that presence needs, if it is an ephemeral message: who sent it
/// (the original sender, also when a relay forwards it), about which document, and its payload.
#[derive(Clone, PartialEq, Eq)]
pub struct Ephemeral<'a> {
    /// `senderId`.
    pub sender: &'a str,
    /// `documentId`.
    pub doc: DocId,
    /// `data`.
    pub data: &'a [u8],
}

impl fmt::Debug for Ephemeral<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ephemeral {{ sender: {}, doc: {}, {} bytes }}", self.sender, self.doc, self.data.len())
    }
}

/// Read a samod wire message (a CBOR map) as an ephemeral message; `None` for any other message or bytes
/// that are not one.
pub fn ephemeral_envelope(bytes: &[u8]) -> Option<Ephemeral<'_>> {
    let mut d = minicbor::Decoder::new(bytes);
    let n = d.map().ok()??;
    let (mut kind, mut sender, mut doc, mut data) = (None, None, None, None);
    for _ in 0..n {
        match d.str().ok()? {
            "type" => {
                let k = d.str().ok()?;
                if k != "ephemeral" {
                    return None;
                }
                kind = Some(k);
            }
            "senderId" => sender = Some(d.str().ok()?),
            "documentId" => {
                doc = match d.datatype().ok()? {
                    Type::String => d.str().ok()?.parse::<DocId>().ok(),
                    _ => samod_core::DocumentId::try_from(d.bytes().ok()?.to_vec()).ok().map(DocId::from),
                }
            }
            "data" => data = Some(d.bytes().ok()?),
            _ => d.skip().ok()?,
        }
    }
    kind?;
    Some(Ephemeral { sender: sender?, doc: doc?, data: data? })
}

/// What is known of one peer of a document.
#[derive(Clone, PartialEq)]
pub struct PeerPresence {
    /// The peer: the ephemeral messages' `senderId` (a Casebook device: `device-<device id>`).
    pub peer_id: String,
    /// Its state: channel → value.
    pub state: PresenceState,
    /// Unix ms of its last message (any kind).
    pub last_seen_ms: u64,
    /// Unix ms of its last snapshot or update.
    pub last_active_ms: u64,
}

impl fmt::Debug for PeerPresence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerPresence")
            .field("peer_id", &self.peer_id)
            .field("channels", &self.state.keys().collect::<Vec<_>>())
            .field("last_seen_ms", &self.last_seen_ms)
            .field("last_active_ms", &self.last_active_ms)
            .finish()
    }
}

impl PeerPresence {
    /// The state as Casebook's caregiver presence, if it is one.
    pub fn caregiver(&self) -> Option<CaregiverPresence> {
        CaregiverPresence::from_state(&self.state)
    }

    /// A text channel of the state (`"name"`…), if it is text.
    pub fn text(&self, channel: &str) -> Option<&str> {
        self.state.get(channel).and_then(Value::as_str)
    }

    /// The state as a JSON object (text).
    pub fn state_json(&self) -> String {
        Value::Object(self.state.clone()).to_string()
    }
}

/// Casebook's presence state: who (caregiver account id and display name) is doing what (`editing`:
/// `"notes"`, `"summary"`…) in which appointment. Sent as one channel per field, so that a JS client reads
/// `peerStates.value[peer].value.name`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CaregiverPresence {
    /// Channel `caregiver`: the caregiver's account id.
    pub caregiver: String,
    /// Channel `name`: the name to show ("Ben").
    pub name: String,
    /// Channel `editing`: what they are doing (`"notes"`, `"summary"`…), if anything.
    pub editing: Option<String>,
    /// Channel `appointment`: the appointment's id, if the document is an appointment's notes.
    pub appointment: Option<String>,
}

impl fmt::Debug for CaregiverPresence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaregiverPresence")
            .field("caregiver", &self.caregiver)
            .field("name", &"…")
            .field("editing", &self.editing)
            .field("appointment", &self.appointment)
            .finish()
    }
}

impl CaregiverPresence {
    /// As a presence state (absent optional fields are `null`, so that setting them clears them on peers,
    /// whose snapshots merge).
    pub fn to_state(&self) -> PresenceState {
        let opt = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
        let mut m = Map::new();
        m.insert("caregiver".into(), Value::String(self.caregiver.clone()));
        m.insert("name".into(), Value::String(self.name.clone()));
        m.insert("editing".into(), opt(&self.editing));
        m.insert("appointment".into(), opt(&self.appointment));
        m
    }

    /// Read a state; `None` unless `caregiver` and `name` are text.
    pub fn from_state(state: &PresenceState) -> Option<Self> {
        let text = |k: &str| state.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Self {
            caregiver: text("caregiver")?,
            name: text("name")?,
            editing: text("editing"),
            appointment: text("appointment"),
        })
    }
}

/// Counters of one document's presence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PresenceStats {
    /// Ephemeral messages received for the document.
    pub received: u64,
    /// Of which dropped: malformed, oversized, bad sender, or over a limit.
    pub dropped: u64,
}

/// What [`DocPresence::receive`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Not a presence message.
    Ignored,
    /// Dropped (and counted).
    Dropped(Malformed),
    /// Applied; `changed`: the peers shown changed (a peer appeared, changed state, left or expired).
    Applied {
        /// Whether [`DocPresence::peers`] changed.
        changed: bool,
    },
}

#[derive(Clone)]
struct Peer {
    state: PresenceState,
    last_seen_ms: u64,
    last_active_ms: u64,
}

/// The presence of one document: our state (sent as snapshot/updates, heartbeats, hellos) and the peers'.
/// Sans-IO: [`DocPresence::poll`] says what to broadcast when, [`DocPresence::receive`] takes what arrived.
#[derive(Clone)]
pub struct DocPresence {
    timing: PresenceTiming,
    local: PresenceState,
    peers: BTreeMap<String, Peer>,
    /// Messages to send at the next poll (a snapshot, or updates).
    pending: Vec<PresenceMessage>,
    /// When to send the next heartbeat.
    next_heartbeat_ms: u64,
    /// When to send a "hello" snapshot to new peers.
    announce_at: Option<u64>,
    /// Send a goodbye right before the next snapshot ([`DocPresence::new`], [`DocPresence::greet`]).
    reintroduce: bool,
    stats: PresenceStats,
}

impl fmt::Debug for DocPresence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocPresence")
            .field("timing", &self.timing)
            .field("peers", &self.peers.keys().collect::<Vec<_>>())
            .field("pending", &self.pending)
            .field("next_heartbeat_ms", &self.next_heartbeat_ms)
            .field("announce_at", &self.announce_at)
            .field("reintroduce", &self.reintroduce)
            .field("stats", &self.stats)
            .finish()
    }
}

impl DocPresence {
    /// Start presence with `state` (automerge-repo `Presence.start`): a goodbye and a snapshot are due at
    /// once (see "Getting a snapshot" in the [module documentation](self)).
    pub fn new(state: PresenceState, timing: PresenceTiming, now_ms: u64) -> Self {
        Self {
            timing,
            local: state.clone(),
            peers: BTreeMap::new(),
            pending: vec![PresenceMessage::Snapshot { state }],
            next_heartbeat_ms: now_ms.saturating_add(timing.heartbeat_ms),
            announce_at: None,
            reintroduce: true,
            stats: PresenceStats::default(),
        }
    }

    /// Replace our whole state: a snapshot is due at once (replacing any unsent message).
    pub fn set_state(&mut self, state: PresenceState) {
        self.local = state.clone();
        self.pending = vec![PresenceMessage::Snapshot { state }];
    }

    /// Set one channel of our state (automerge-repo `Presence.broadcast`): an update is due at once.
    pub fn set_channel(&mut self, channel: &str, value: Value) {
        self.local.insert(channel.to_string(), value.clone());
        if let Some(PresenceMessage::Snapshot { state }) = self.pending.first_mut() {
            state.insert(channel.to_string(), value);
        } else {
            self.pending.retain(|m| !matches!(m, PresenceMessage::Update { channel: c, .. } if c == channel));
            self.pending.push(PresenceMessage::Update { channel: channel.to_string(), value });
        }
    }

    /// Change the timing (the next heartbeat is rescheduled).
    pub fn set_timing(&mut self, timing: PresenceTiming, now_ms: u64) {
        self.timing = timing;
        self.next_heartbeat_ms = self.next_heartbeat_ms.min(now_ms.saturating_add(timing.heartbeat_ms));
    }

    /// Introduce ourselves again shortly (after the hello delay): a goodbye then our snapshot, so that every
    /// peer sends us its state. Used when a new connection to the document is established (after a
    /// reconnection, peers that forgot us would ignore our heartbeats, and peers we forgot would not know
    /// that we need their state).
    pub fn greet(&mut self, now_ms: u64) {
        self.reintroduce = true;
        if self.announce_at.is_none() {
            self.announce_at = Some(now_ms.saturating_add(self.timing.announce_delay_ms));
        }
    }

    /// Our state.
    pub fn local_state(&self) -> &PresenceState {
        &self.local
    }

    /// The counters.
    pub fn stats(&self) -> PresenceStats {
        self.stats
    }

    /// The goodbye to broadcast when presence stops (automerge-repo `Presence.stop`).
    pub fn goodbye() -> Vec<u8> {
        PresenceMessage::Goodbye.encode()
    }

    fn expired(&self, p: &Peer, now_ms: u64) -> bool {
        p.last_seen_ms.saturating_add(self.timing.peer_ttl_ms) < now_ms
    }

    /// Take the payload of an ephemeral message from `sender` about this document.
    pub fn receive(&mut self, sender: &str, data: &[u8], now_ms: u64) -> Received {
        self.stats.received += 1;
        let message = if sender.is_empty() || sender.len() > MAX_PEER_ID_BYTES {
            Err(Malformed::BadSender)
        } else {
            PresenceMessage::decode(data)
        };
        let message = match message {
            Ok(Some(m)) => m,
            Ok(None) => return Received::Ignored,
            Err(e) => return self.drop_message(e),
        };
        let mut changed = !self.prune(now_ms).is_empty();
        let known = self.peers.contains_key(sender);
        let new_channels = |state: Option<&Peer>, channels: &mut dyn Iterator<Item = &String>| {
            let have = state.map(|p| &p.state);
            let added = channels.filter(|c| !have.is_some_and(|s| s.contains_key(*c))).count();
            have.map_or(0, |s| s.len()) + added
        };
        match &message {
            PresenceMessage::Goodbye => {}
            PresenceMessage::Heartbeat => {}
            PresenceMessage::Update { channel, .. } => {
                if !known && self.peers.len() >= MAX_PEERS {
                    return self.drop_message(Malformed::OverLimit);
                }
                if new_channels(self.peers.get(sender), &mut std::iter::once(channel)) > MAX_CHANNELS {
                    return self.drop_message(Malformed::OverLimit);
                }
            }
            PresenceMessage::Snapshot { state } => {
                if !known && self.peers.len() >= MAX_PEERS {
                    return self.drop_message(Malformed::OverLimit);
                }
                if new_channels(self.peers.get(sender), &mut state.keys()) > MAX_CHANNELS {
                    return self.drop_message(Malformed::OverLimit);
                }
            }
        }
        // A new peer gets our full state shortly ("hello"), whatever it sent (but a goodbye).
        if !known && message != PresenceMessage::Goodbye && self.announce_at.is_none() {
            self.announce_at = Some(now_ms.saturating_add(self.timing.announce_delay_ms));
        }
        match message {
            PresenceMessage::Heartbeat => {
                if let Some(p) = self.peers.get_mut(sender) {
                    p.last_seen_ms = now_ms;
                }
            }
            PresenceMessage::Goodbye => changed |= self.peers.remove(sender).is_some(),
            PresenceMessage::Update { channel, value } => {
                let mut one = Map::new();
                one.insert(channel, value);
                changed |= self.merge(sender, one, now_ms);
            }
            PresenceMessage::Snapshot { state } => changed |= self.merge(sender, state, now_ms),
        }
        Received::Applied { changed }
    }

    fn drop_message(&mut self, why: Malformed) -> Received {
        self.stats.dropped += 1;
        Received::Dropped(why)
    }

    /// Merge channels into a peer's state (`{...known, ...state}`); whether anything shown changed.
    fn merge(&mut self, sender: &str, state: PresenceState, now_ms: u64) -> bool {
        let mut changed = !self.peers.contains_key(sender);
        let peer = self.peers.entry(sender.to_string()).or_insert_with(|| Peer {
            state: Map::new(),
            last_seen_ms: now_ms,
            last_active_ms: now_ms,
        });
        for (k, v) in state {
            if peer.state.get(&k) != Some(&v) {
                peer.state.insert(k, v);
                changed = true;
            }
        }
        peer.last_seen_ms = now_ms;
        peer.last_active_ms = now_ms;
        changed
    }

    /// Forget the peers whose time is up; their ids.
    pub fn prune(&mut self, now_ms: u64) -> Vec<String> {
        let gone: Vec<String> =
            self.peers.iter().filter(|(_, p)| self.expired(p, now_ms)).map(|(id, _)| id.clone()).collect();
        for id in &gone {
            self.peers.remove(id);
        }
        gone
    }

    /// The payloads to broadcast now, in order: pending snapshot/updates, a hello snapshot that is due
    /// (each preceded by a goodbye when reintroducing ourselves), or a heartbeat that is due. Anything sent
    /// restarts the heartbeat interval.
    pub fn poll(&mut self, now_ms: u64) -> Vec<Vec<u8>> {
        if self.announce_at.is_some_and(|t| t <= now_ms) {
            self.announce_at = None;
            self.pending = vec![PresenceMessage::Snapshot { state: self.local.clone() }];
        }
        if self.reintroduce && matches!(self.pending.first(), Some(PresenceMessage::Snapshot { .. })) {
            self.reintroduce = false;
            self.pending.insert(0, PresenceMessage::Goodbye);
        }
        let mut out: Vec<Vec<u8>> = self.pending.drain(..).map(|m| m.encode()).collect();
        if out.is_empty() && now_ms >= self.next_heartbeat_ms {
            out.push(PresenceMessage::Heartbeat.encode());
        }
        if !out.is_empty() {
            self.next_heartbeat_ms = now_ms.saturating_add(self.timing.heartbeat_ms);
        }
        out
    }

    /// When [`DocPresence::poll`] or [`DocPresence::prune`] next has something to do (Unix ms; `0`: now).
    pub fn next_due_ms(&self) -> u64 {
        if !self.pending.is_empty() {
            return 0;
        }
        let expiry = self.peers.values().map(|p| p.last_seen_ms.saturating_add(self.timing.peer_ttl_ms) + 1).min();
        [Some(self.next_heartbeat_ms), self.announce_at, expiry].into_iter().flatten().min().unwrap_or(u64::MAX)
    }

    /// The peers present at `now_ms` (not expired), by peer id.
    pub fn peers(&self, now_ms: u64) -> Vec<PeerPresence> {
        self.peers
            .iter()
            .filter(|(_, p)| !self.expired(p, now_ms))
            .map(|(id, p)| PeerPresence {
                peer_id: id.clone(),
                state: p.state.clone(),
                last_seen_ms: p.last_seen_ms,
                last_active_ms: p.last_active_ms,
            })
            .collect()
    }
}

/// Check a state we are about to send: an encoded snapshot within [`MAX_MESSAGE_BYTES`] and nesting within
/// [`MAX_DEPTH`] (so that peers applying the same limits accept it). The reason if not.
pub fn check_state(state: &PresenceState) -> Result<(), &'static str> {
    if state.values().map(depth).max().unwrap_or(0) + 3 > MAX_DEPTH {
        return Err("the presence state is nested too deeply");
    }
    if state.len() > MAX_CHANNELS {
        return Err("the presence state has too many channels");
    }
    if (PresenceMessage::Snapshot { state: state.clone() }).encode().len() > MAX_MESSAGE_BYTES {
        return Err("the presence state is too large");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: u64 = 1_700_000_000_000;

    fn state(v: Value) -> PresenceState {
        v.as_object().unwrap().clone()
    }

    fn ben() -> PresenceState {
        CaregiverPresence {
            caregiver: "acc-ben".into(),
            name: "Ben".into(),
            editing: Some("notes".into()),
            appointment: Some("appt-1".into()),
        }
        .to_state()
    }

    fn snapshot(s: PresenceState) -> Vec<u8> {
        PresenceMessage::Snapshot { state: s }.encode()
    }

    fn decoded(bytes: &[u8]) -> PresenceMessage {
        PresenceMessage::decode(bytes).unwrap().unwrap()
    }

    #[test]
    fn messages_round_trip() {
        for m in [
            PresenceMessage::Snapshot { state: ben() },
            PresenceMessage::Update { channel: "editing".into(), value: json!("summary") },
            PresenceMessage::Update { channel: "cursor".into(), value: json!({"line": 3, "at": [1.5, -2, null]}) },
            PresenceMessage::Heartbeat,
            PresenceMessage::Goodbye,
        ] {
            assert_eq!(decoded(&m.encode()), m);
        }
    }

    /// Bytes as cbor-x 1.6 (automerge-repo 2.5.6's `encode`, `useRecords: false`) writes
    /// `{__presence: {type: "snapshot", state: {name: "Ben", n: 1.5, big: 1700000000000}}}`: keys in
    /// insertion order, a float64, and an integer above 2^32 as a float64.
    #[test]
    fn decodes_what_cbor_x_writes() {
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(1).unwrap().str("__presence").unwrap();
        e.map(2).unwrap().str("type").unwrap().str("snapshot").unwrap();
        e.str("state").unwrap().map(3).unwrap();
        e.str("name").unwrap().str("Ben").unwrap();
        e.str("n").unwrap().f64(1.5).unwrap();
        e.str("big").unwrap().f64(1_700_000_000_000.0).unwrap();
        let m = decoded(&e.into_writer());
        assert_eq!(
            m,
            PresenceMessage::Snapshot { state: state(json!({"name": "Ben", "n": 1.5, "big": 1_700_000_000_000u64})) }
        );
        // Indefinite-length containers and strings, tags, bytes and undefined.
        let mut e = minicbor::Encoder::new(Vec::new());
        e.begin_map().unwrap().str("__presence").unwrap();
        e.begin_map().unwrap().str("type").unwrap().str("update").unwrap();
        e.str("channel").unwrap().begin_str().unwrap().str("edi").unwrap().str("ting").unwrap().end().unwrap();
        e.str("value").unwrap().begin_array().unwrap();
        e.tag(minicbor::data::Tag::new(1)).unwrap().u32(7).unwrap();
        e.bytes(&[1, 2]).unwrap().undefined().unwrap().i64(-5).unwrap();
        e.end().unwrap().end().unwrap().end().unwrap();
        let m = decoded(&e.into_writer());
        assert_eq!(m, PresenceMessage::Update { channel: "editing".into(), value: json!([7, null, null, -5]) });
        // Half floats: 1.5, -2, 65504, infinity (→ null).
        assert_eq!(half_to_f64(0x3e00), 1.5);
        assert_eq!(half_to_f64(0xc000), -2.0);
        assert_eq!(half_to_f64(0x7bff), 65504.0);
        assert_eq!(half_to_f64(0x0001), 2f64.powi(-24));
        let bytes = encode_value(&json!({"__presence": {"type": "update", "channel": "x"}}));
        let mut with_half = bytes[..bytes.len()].to_vec();
        // Replace the implicit null by an explicit "value": half 1.5.
        with_half[2 + 10] += 1; // inner map length 2 → 3
        with_half.extend([0x65, b'v', b'a', b'l', b'u', b'e', 0xf9, 0x3e, 0x00]);
        assert_eq!(decoded(&with_half), PresenceMessage::Update { channel: "x".into(), value: json!(1.5) });
        let inf = [&with_half[..with_half.len() - 3], &[0xf9, 0x7c, 0x00]].concat();
        assert_eq!(decoded(&inf), PresenceMessage::Update { channel: "x".into(), value: Value::Null });
    }

    #[test]
    fn other_ephemeral_messages_are_ignored_and_bad_ones_dropped() {
        let cbor = |v: Value| encode_value(&v);
        assert_eq!(PresenceMessage::decode(&cbor(json!({"cursor": 1}))), Ok(None));
        assert_eq!(PresenceMessage::decode(&cbor(json!("hello"))), Ok(None));
        for bad in [
            cbor(json!({"__presence": "snapshot"})),
            cbor(json!({"__presence": {"type": "dance"}})),
            cbor(json!({"__presence": {"type": 1}})),
            cbor(json!({"__presence": {"type": "snapshot", "state": [1, 2]}})),
            cbor(json!({"__presence": {"type": "snapshot"}})),
            cbor(json!({"__presence": {"type": "update", "value": 1}})),
        ] {
            assert_eq!(PresenceMessage::decode(&bad), Err(Malformed::BadMessage));
        }
        for bad in [vec![], vec![0xff], vec![0xa1], vec![0xa1, 0x61], vec![0x1c], vec![0xbf, 0x61, 0x61]] {
            assert_eq!(PresenceMessage::decode(&bad), Err(Malformed::Cbor), "{bad:?}");
        }
        // Trailing bytes.
        let mut two = cbor(json!({"__presence": {"type": "heartbeat"}}));
        two.push(0);
        assert_eq!(PresenceMessage::decode(&two), Err(Malformed::Cbor));
        // A huge declared length with no content, and deep nesting.
        assert_eq!(
            PresenceMessage::decode(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(Malformed::Cbor)
        );
        assert_eq!(PresenceMessage::decode(&[0x81; 1000]), Err(Malformed::TooDeep));
        assert_eq!(PresenceMessage::decode(&vec![0u8; MAX_MESSAGE_BYTES + 1]), Err(Malformed::TooLarge));
    }

    #[test]
    fn random_bytes_never_panic() {
        // A cheap deterministic fuzz: mutations of valid messages and random buffers.
        let valid = snapshot(ben());
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut p = DocPresence::new(ben(), PresenceTiming::default(), T0);
        for i in 0..20_000 {
            let mut bytes = if i % 2 == 0 { valid.clone() } else { vec![0; (next() % 64) as usize] };
            for _ in 0..(1 + next() % 4) {
                if bytes.is_empty() {
                    break;
                }
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            let _ = PresenceMessage::decode(&bytes);
            let _ = p.receive("device-x", &bytes, T0);
            let _ = ephemeral_envelope(&bytes);
        }
    }

    #[test]
    fn a_new_peer_is_greeted_and_shown_then_expires() {
        let timing = PresenceTiming::default();
        let mut me = DocPresence::new(ben(), timing, T0);
        // start: a goodbye and the snapshot go at once, then nothing until the heartbeat.
        let out: Vec<_> = me.poll(T0).iter().map(|b| decoded(b)).collect();
        assert_eq!(out, vec![PresenceMessage::Goodbye, PresenceMessage::Snapshot { state: ben() }]);
        assert!(me.poll(T0 + 1).is_empty());
        assert_eq!(me.next_due_ms(), T0 + DEFAULT_HEARTBEAT_MS);

        // Ana's snapshot arrives: she is shown, and we greet her 500 ms later.
        let ana = state(json!({"name": "Ana", "editing": "notes"}));
        let t = T0 + 1_000;
        assert_eq!(me.receive("device-ana", &snapshot(ana.clone()), t), Received::Applied { changed: true });
        assert_eq!(me.peers(t).len(), 1);
        assert_eq!(me.peers(t)[0].state, ana);
        assert_eq!(me.next_due_ms(), t + ANNOUNCE_DELAY_MS);
        assert!(me.poll(t + 499).is_empty());
        let hello = me.poll(t + ANNOUNCE_DELAY_MS);
        assert_eq!(
            hello.iter().map(|b| decoded(b)).collect::<Vec<_>>(),
            vec![PresenceMessage::Snapshot { state: ben() }]
        );
        // The hello restarted the heartbeat interval.
        let sent = t + ANNOUNCE_DELAY_MS;
        assert!(me.poll(sent + DEFAULT_HEARTBEAT_MS - 1).is_empty());
        assert_eq!(decoded(&me.poll(sent + DEFAULT_HEARTBEAT_MS)[0]), PresenceMessage::Heartbeat);

        // Her update merges one channel; the same value again is no change.
        let upd = PresenceMessage::Update { channel: "editing".into(), value: json!("summary") }.encode();
        assert_eq!(me.receive("device-ana", &upd, t + 2_000), Received::Applied { changed: true });
        assert_eq!(me.peers(t + 2_000)[0].state, state(json!({"name": "Ana", "editing": "summary"})));
        assert_eq!(me.receive("device-ana", &upd, t + 2_001), Received::Applied { changed: false });
        // A snapshot merges too (automerge-repo never removes a channel on a snapshot).
        me.receive("device-ana", &snapshot(state(json!({"name": "Ana M."}))), t + 2_002);
        assert_eq!(me.peers(t + 2_002)[0].state, state(json!({"name": "Ana M.", "editing": "summary"})));

        // Heartbeats keep her; silence beyond the TTL hides her, and prune forgets her.
        let hb = PresenceMessage::Heartbeat.encode();
        assert_eq!(me.receive("device-ana", &hb, t + 40_000), Received::Applied { changed: false });
        assert_eq!(me.peers(t + 40_000)[0].last_seen_ms, t + 40_000);
        assert_eq!(me.peers(t + 40_000)[0].last_active_ms, t + 2_002);
        assert_eq!(me.peers(t + 40_000 + DEFAULT_PEER_TTL_MS).len(), 1);
        assert!(me.peers(t + 40_001 + DEFAULT_PEER_TTL_MS).is_empty());
        assert!(me.next_due_ms() <= t + 40_001 + DEFAULT_PEER_TTL_MS);
        assert_eq!(me.prune(t + 40_001 + DEFAULT_PEER_TTL_MS), vec!["device-ana".to_string()]);
        assert!(me.prune(t + 40_002 + DEFAULT_PEER_TTL_MS).is_empty());
    }

    #[test]
    fn heartbeats_from_unknown_peers_are_ignored_but_greeted_and_goodbye_forgets() {
        let mut me = DocPresence::new(ben(), PresenceTiming::default(), T0);
        me.poll(T0);
        let hb = PresenceMessage::Heartbeat.encode();
        assert_eq!(me.receive("device-eve", &hb, T0 + 10), Received::Applied { changed: false });
        assert!(me.peers(T0 + 10).is_empty());
        assert_eq!(decoded(&me.poll(T0 + 510)[0]), PresenceMessage::Snapshot { state: ben() });
        // Goodbye from an unknown peer: nothing, and no hello.
        assert_eq!(me.receive("device-x", &DocPresence::goodbye(), T0 + 600), Received::Applied { changed: false });
        assert!(me.poll(T0 + 1_200).is_empty());
        me.receive("device-eve", &snapshot(state(json!({"name": "Eve"}))), T0 + 1_300);
        assert_eq!(me.peers(T0 + 1_300).len(), 1);
        assert_eq!(me.receive("device-eve", &DocPresence::goodbye(), T0 + 1_400), Received::Applied { changed: true });
        assert!(me.peers(T0 + 1_400).is_empty());
    }

    #[test]
    fn local_changes_are_sent_once_latest_first() {
        let mut me = DocPresence::new(ben(), PresenceTiming::default(), T0);
        me.set_channel("editing", json!("summary"));
        // Not yet sent: the channel goes into the pending snapshot (after the starting goodbye).
        let out: Vec<_> = me.poll(T0).iter().map(|b| decoded(b)).collect();
        assert_eq!(out, vec![PresenceMessage::Goodbye, PresenceMessage::Snapshot { state: me.local_state().clone() }]);
        assert_eq!(me.local_state()["editing"], json!("summary"));
        me.set_channel("editing", json!("a"));
        me.set_channel("editing", json!("b"));
        me.set_channel("cursor", json!(4));
        let out: Vec<_> = me.poll(T0 + 1).iter().map(|b| decoded(b)).collect();
        assert_eq!(
            out,
            vec![
                PresenceMessage::Update { channel: "editing".into(), value: json!("b") },
                PresenceMessage::Update { channel: "cursor".into(), value: json!(4) },
            ]
        );
        let mut s = ben();
        s.insert("editing".into(), json!("reading"));
        me.set_state(s.clone());
        assert_eq!(me.next_due_ms(), 0);
        let out = me.poll(T0 + 2);
        assert_eq!(out.len(), 1);
        assert_eq!(decoded(&out[0]), PresenceMessage::Snapshot { state: s });
        assert_eq!(me.next_due_ms(), T0 + 2 + DEFAULT_HEARTBEAT_MS);
    }

    /// Deliver everything `from` has to send at `now` to `to` (as the relay would).
    fn deliver(from: &mut DocPresence, from_id: &str, to: &mut DocPresence, now: u64) -> usize {
        let out = from.poll(now);
        for m in &out {
            to.receive(from_id, m, now);
        }
        out.len()
    }

    /// Two devices exchange messages for `ms` milliseconds, in steps of 50 ms.
    fn run(a: &mut DocPresence, b: &mut DocPresence, from: u64, ms: u64) {
        let mut t = from;
        while t <= from + ms {
            deliver(a, "device-a", b, t);
            deliver(b, "device-b", a, t);
            t += 50;
        }
    }

    #[test]
    fn a_device_that_restarts_gets_everyones_state_again() {
        let timing = PresenceTiming::default();
        let ana = state(json!({"name": "Ana"}));
        let mut a = DocPresence::new(ana.clone(), timing, T0);
        let mut b = DocPresence::new(ben(), timing, T0);
        run(&mut a, &mut b, T0, 2_000);
        assert_eq!(a.peers(T0 + 2_000)[0].state, ben());
        assert_eq!(b.peers(T0 + 2_000)[0].state, ana);
        // Ana's app restarts 5 s later (Ben still knows her: 45 s to live); Ben changes nothing.
        let t = T0 + 5_000;
        let mut a = DocPresence::new(ana.clone(), timing, t);
        run(&mut a, &mut b, t, 2_000);
        assert_eq!(a.peers(t + 2_000).len(), 1, "the restarted device never got Ben's state");
        assert_eq!(a.peers(t + 2_000)[0].state, ben());
        assert_eq!(b.peers(t + 2_000)[0].state, ana);
        // And it settles: from then on only heartbeats, no hello ping-pong.
        let t = t + 2_100;
        assert_eq!(deliver(&mut a, "device-a", &mut b, t) + deliver(&mut b, "device-b", &mut a, t), 0);
        let t = t + DEFAULT_HEARTBEAT_MS;
        let hb = PresenceMessage::Heartbeat.encode();
        assert_eq!(a.poll(t), vec![hb.clone()]);
        assert_eq!(b.poll(t), vec![hb]);
        // A new connection (reconnection): goodbye + snapshot after the hello delay, and Ben answers.
        a.greet(t);
        assert!(a.poll(t + ANNOUNCE_DELAY_MS - 1).is_empty());
        let again: Vec<_> = a.poll(t + ANNOUNCE_DELAY_MS).iter().map(|m| decoded(m)).collect();
        assert_eq!(again, vec![PresenceMessage::Goodbye, PresenceMessage::Snapshot { state: ana.clone() }]);
        for m in [PresenceMessage::Goodbye.encode(), snapshot(ana.clone())] {
            b.receive("device-a", &m, t + ANNOUNCE_DELAY_MS);
        }
        let answer: Vec<_> = b.poll(t + 2 * ANNOUNCE_DELAY_MS).iter().map(|m| decoded(m)).collect();
        assert_eq!(answer, vec![PresenceMessage::Snapshot { state: ben() }]);
    }

    #[test]
    fn limits_are_enforced_and_counted() {
        let mut me = DocPresence::new(ben(), PresenceTiming::default(), T0);
        let s = snapshot(state(json!({"name": "x"})));
        for i in 0..MAX_PEERS {
            assert_eq!(me.receive(&format!("device-{i}"), &s, T0), Received::Applied { changed: true });
        }
        assert_eq!(me.receive("device-one-too-many", &s, T0), Received::Dropped(Malformed::OverLimit));
        // A known peer still updates; heartbeats and goodbyes from anyone are fine.
        assert_eq!(
            me.receive("device-0", &snapshot(state(json!({"name": "y"}))), T0),
            Received::Applied { changed: true }
        );
        let mut many = Map::new();
        for i in 0..=MAX_CHANNELS {
            many.insert(format!("c{i}"), json!(i));
        }
        assert_eq!(me.receive("device-1", &snapshot(many), T0), Received::Dropped(Malformed::OverLimit));
        assert_eq!(me.receive("", &s, T0), Received::Dropped(Malformed::BadSender));
        assert_eq!(me.receive(&"d".repeat(MAX_PEER_ID_BYTES + 1), &s, T0), Received::Dropped(Malformed::BadSender));
        assert_eq!(me.receive("device-0", &[0xff, 0x00], T0), Received::Dropped(Malformed::Cbor));
        assert_eq!(me.receive("device-0", &encode_value(&json!({"other": 1})), T0), Received::Ignored);
        assert_eq!(me.stats(), PresenceStats { received: (MAX_PEERS + 7) as u64, dropped: 5 });
        assert_eq!(me.peers(T0).len(), MAX_PEERS);
    }

    #[test]
    fn states_we_send_are_checked() {
        assert!(check_state(&ben()).is_ok());
        let big = state(json!({"notes": "x".repeat(MAX_MESSAGE_BYTES)}));
        assert!(check_state(&big).is_err());
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH {
            deep = json!([deep]);
        }
        assert!(check_state(&state(json!({ "deep": deep }))).is_err());
        // What passes the check decodes on the other side.
        let mut ok = json!(1);
        for _ in 0..(MAX_DEPTH - 4) {
            ok = json!([ok]);
        }
        let s = state(json!({ "deep": ok }));
        assert!(check_state(&s).is_ok());
        assert_eq!(decoded(&snapshot(s.clone())), PresenceMessage::Snapshot { state: s });
    }

    #[test]
    fn caregiver_presence_maps_to_channels() {
        let c = CaregiverPresence::from_state(&ben()).unwrap();
        assert_eq!(c.name, "Ben");
        assert_eq!(c.editing.as_deref(), Some("notes"));
        assert_eq!(CaregiverPresence::from_state(&state(json!({"name": "Ben"}))), None);
        let mut partial = c.clone();
        partial.editing = None;
        assert_eq!(partial.to_state()["editing"], Value::Null);
        assert_eq!(CaregiverPresence::from_state(&partial.to_state()), Some(partial));
        // Debug leaves the name (and any state value) out.
        assert!(!format!("{c:?}").contains("Ben"));
        let p = PeerPresence { peer_id: "device-b".into(), state: ben(), last_seen_ms: 1, last_active_ms: 1 };
        assert!(!format!("{p:?}").contains("Ben"));
        assert!(!format!("{:?}", PresenceMessage::Snapshot { state: ben() }).contains("Ben"));
    }

    #[test]
    fn samod_ephemeral_messages_are_read() {
        let doc = DocId::random();
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(7).unwrap();
        e.str("type").unwrap().str("ephemeral").unwrap();
        e.str("senderId").unwrap().str("device-ben").unwrap();
        e.str("targetId").unwrap().str("device-ana").unwrap();
        e.str("count").unwrap().u64(3).unwrap();
        e.str("sessionId").unwrap().str("s").unwrap();
        e.str("documentId").unwrap().str(doc.as_str()).unwrap();
        e.str("data").unwrap().bytes(&[1, 2, 3]).unwrap();
        let bytes = e.into_writer();
        let m = ephemeral_envelope(&bytes).unwrap();
        assert_eq!((m.sender, &m.doc, m.data), ("device-ben", &doc, &[1u8, 2, 3][..]));
        // The document id as 16 bytes, as some peers send it.
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(4).unwrap().str("type").unwrap().str("ephemeral").unwrap();
        e.str("senderId").unwrap().str("p").unwrap();
        e.str("documentId").unwrap().bytes(doc.to_document_id().as_bytes()).unwrap();
        e.str("data").unwrap().bytes(&[]).unwrap();
        assert_eq!(ephemeral_envelope(&e.into_writer()).unwrap().doc, doc);
        // Other messages.
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(2).unwrap().str("type").unwrap().str("sync").unwrap().str("data").unwrap().bytes(&[1]).unwrap();
        assert!(ephemeral_envelope(&e.into_writer()).is_none());
        assert!(ephemeral_envelope(&[0xff]).is_none());
    }
}
