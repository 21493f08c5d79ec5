//! The simulated world: one relay node and 3–5 client devices, an in-memory network that drops,
//! duplicates, delays and reorders messages, and a seeded scheduler that interleaves caregivers'
//! edits, saves, syncs, disconnections, relay restarts, app restarts and lost phones.
//!
//! The world only moves bytes and plays the user: what reaches a device's sync engine (its link coming and
//! going, ticks, a synced case's documents) is queued on the device, and after every network step each
//! device's engine runs ([`Client::drive`]). Remote changes reach an open case only through the engine
//! (live merge): nothing here exchanges documents between a case and samod.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use samod_core::network::BackoffConfig;
use samod_core::{ConnectionId, DialerId, ListenerId, ShareConfig, UnixTimestamp};

use crate::engine::{Engine, Event, LinkEvent};
use crate::model::text::TextField;
use crate::relay_api::RELAY_PEER_ID;
use crate::storage::{MemoryStorage, SledStorage, Storage};
use crate::{CaseId, DocId, Store, bridge};

use super::device::Client;
use super::node::{Node, Policy};
use super::ops;

const URL: &str = "wss://relay.sim.invalid/v1/sync";
const CLIENT_PREFIX: &str = "sim-device-";
/// Virtual time starts here (milliseconds since the epoch).
const EPOCH_MS: u64 = 1_764_000_000_000;

/// What one seed runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Scheduler steps before the network heals.
    pub steps: usize,
    /// Probability that a delivered message is lost instead.
    pub drop: f64,
    /// Probability that a delivered message is delivered twice.
    pub duplicate: f64,
    /// Probability that the next message delivered is not the oldest in flight.
    pub reorder: f64,
    /// A deliberate bug in every device's sync engine (to prove that the simulation catches it).
    pub sabotage: EngineSabotage,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self { steps: 300, drop: 0.03, duplicate: 0.03, reorder: 0.2, sabotage: EngineSabotage::None }
    }
}

/// A bug planted in the sync engine of every simulated device ([`SimConfig::sabotage`]): a simulation
/// that passes with one of these does not test the engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EngineSabotage {
    /// The engine as the apps run it.
    #[default]
    None,
    /// Changes that arrive from the relay are never merged into the open case (no live merge).
    IgnoreRemoteChanges,
}

impl EngineSabotage {
    /// A new sync engine with this bug planted.
    fn engine(self) -> Engine {
        let mut engine = Engine::new();
        engine.sabotage.ignore_remote_changes = self == EngineSabotage::IgnoreRemoteChanges;
        engine
    }
}

/// What happened during one seed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimReport {
    /// The seed.
    pub seed: u64,
    /// Client devices.
    pub clients: usize,
    /// Domain operations applied.
    pub operations: u64,
    /// Messages delivered (duplicates included).
    pub delivered: u64,
    /// Messages lost on purpose.
    pub dropped: u64,
    /// Messages delivered twice on purpose.
    pub duplicated: u64,
    /// Messages delivered out of order on purpose.
    pub reordered: u64,
    /// Exchanges between a case and samod the devices' sync engines asked for.
    pub exchanges: u64,
    /// Exchanges that merged changes into an open case.
    pub merges: u64,
    /// Connections cut.
    pub disconnects: u64,
    /// Relay restarts from its stored data.
    pub relay_restarts: u64,
    /// Client restarts from their stored data (unsaved typing lost, as on a killed app).
    pub client_restarts: u64,
    /// Phones lost: a device replaced by an empty one that downloads the case again.
    pub wipes: u64,
    /// Text tokens checked at the end (each typed character by character).
    pub tokens_checked: u64,
    /// Tokens legitimately gone: typed but never saved before an app restart, or saved only on a lost phone.
    pub tokens_legitimately_lost: u64,
    /// Heal rounds needed to converge.
    pub heal_rounds: u64,
    /// The final heads of every document (equal on every device): two runs of a seed give the same.
    pub fingerprint: String,
}

impl SimReport {
    /// Add `other`'s counts to these (the worst heal is kept; seed and fingerprint are left alone).
    pub fn absorb(&mut self, other: &SimReport) {
        self.clients += other.clients;
        self.operations += other.operations;
        self.delivered += other.delivered;
        self.dropped += other.dropped;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.exchanges += other.exchanges;
        self.merges += other.merges;
        self.disconnects += other.disconnects;
        self.relay_restarts += other.relay_restarts;
        self.client_restarts += other.client_restarts;
        self.wipes += other.wipes;
        self.tokens_checked += other.tokens_checked;
        self.tokens_legitimately_lost += other.tokens_legitimately_lost;
        self.heal_rounds = self.heal_rounds.max(other.heal_rounds);
    }
}

/// A seed whose invariants did not hold.
#[derive(Debug, Clone)]
pub struct SimFailure {
    /// The seed.
    pub seed: u64,
    /// What went wrong.
    pub reason: String,
}

impl std::fmt::Display for SimFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seed {} failed: {}", self.seed, self.reason)
    }
}

struct Relay {
    storage: Arc<dyn Storage>,
    node: Option<(Node, ListenerId)>,
    /// The relay's sled database directory, when this seed runs the relay on sled (removed at the end).
    sled: Option<SledDir>,
}

/// A sled directory of the simulation's relay, removed when the run ends.
struct SledDir(std::path::PathBuf);

impl Drop for SledDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One seed in this many runs the relay on sled, on disk (reopened at each relay restart).
const SLED_EVERY: u64 = 8;

struct Link {
    client: usize,
    client_conn: ConnectionId,
    relay_conn: ConnectionId,
}

struct Packet {
    link: u64,
    to_relay: bool,
    bytes: Vec<u8>,
}

struct World {
    cfg: SimConfig,
    rng: StdRng,
    now_ms: u64,
    case_id: CaseId,
    relay: Relay,
    clients: Vec<Client>,
    links: BTreeMap<u64, Link>,
    next_link: u64,
    in_flight: VecDeque<Packet>,
    /// Tokens of lost phones that reached the relay or another device: they must survive.
    required: Vec<(TextField, String)>,
    devices: u64,
    report: SimReport,
    /// Notable events, for failure messages.
    log: Vec<String>,
    step: u64,
}

pub(super) type Res<T> = Result<T, String>;

pub(super) fn e<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |err| format!("{what}: {err}")
}

fn url() -> url::Url {
    url::Url::parse(URL).expect("valid URL")
}

fn relay_policy() -> Policy {
    // Every simulated device belongs to a member of the case; nobody else does.
    Arc::new(
        |peer, _doc| {
            if peer.as_str().starts_with(CLIENT_PREFIX) { ShareConfig::read_write() } else { ShareConfig::none() }
        },
    )
}

fn client_policy() -> Policy {
    Arc::new(|peer, _doc| if peer.as_str() == RELAY_PEER_ID { ShareConfig::read_write() } else { ShareConfig::none() })
}

fn backoff() -> BackoffConfig {
    BackoffConfig {
        initial_delay: std::time::Duration::from_millis(200),
        max_delay: std::time::Duration::from_secs(5),
        max_retries: None,
    }
}

/// Run one seed: random operations and faults for `cfg.steps` steps, then heal the network and check the
/// invariants (every replica identical, every device's sync engine up to date, every derived view equal,
/// every acknowledged token present).
pub fn run_seed(seed: u64, cfg: &SimConfig) -> Result<SimReport, SimFailure> {
    let fail = |reason: String| SimFailure { seed, reason };
    // Ids (documents, items, Automerge actors) from the seed too, for this thread, until the run ends.
    struct Unseed;
    impl Drop for Unseed {
        fn drop(&mut self) {
            crate::ids::seed_thread(None);
            crate::tracked_doc::set_sim_clock(None);
        }
    }
    crate::ids::seed_thread(Some(seed ^ 0x05ee_d1d5));
    // Changes are stamped with the virtual time, so that a seed's documents replay byte for byte.
    crate::tracked_doc::set_sim_clock(Some((EPOCH_MS / 1000) as i64));
    let _unseed = Unseed;
    let mut w = World::new(seed, cfg.clone()).map_err(fail)?;
    for step in 0..cfg.steps {
        w.step(step as u64).map_err(|r| fail(format!("step {step}: {r}")))?;
    }
    w.heal().map_err(|r| fail(format!("heal: {r}")))?;
    w.check().map_err(fail)?;
    Ok(w.report)
}

impl World {
    fn new(seed: u64, cfg: SimConfig) -> Res<World> {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = rng.random_range(3..=5usize);
        let sled = seed
            .is_multiple_of(SLED_EVERY)
            .then(|| SledDir(std::env::temp_dir().join(format!("casebook-sim-{}-{seed}", std::process::id()))));
        let relay_storage: Arc<dyn Storage> = match &sled {
            Some(dir) => Arc::new(SledStorage::open(&dir.0).map_err(e("open the relay's sled database"))?),
            None => Arc::new(MemoryStorage::new()),
        };
        let now = UnixTimestamp::from_millis(EPOCH_MS as u128);
        let mut relay_node = Node::load(RELAY_PEER_ID, relay_storage.clone(), relay_policy(), rng.random(), now);
        let listener = relay_node.add_listener(&url());
        let mut w = World {
            cfg,
            rng,
            now_ms: EPOCH_MS,
            case_id: CaseId::random(),
            relay: Relay { storage: relay_storage, node: Some((relay_node, listener)), sled },
            clients: Vec::new(),
            links: BTreeMap::new(),
            next_link: 0,
            in_flight: VecDeque::new(),
            required: Vec::new(),
            devices: 0,
            report: SimReport { seed, clients: n, ..SimReport::default() },
            log: Vec::new(),
            step: 0,
        };
        for i in 0..n {
            let c = w.new_device(i, Arc::new(MemoryStorage::new()), None, None);
            w.clients.push(c);
        }
        // The first caregiver creates the case on their phone; the others join it through the relay.
        let c0 = &mut w.clients[0];
        let (case, me) = c0.store.create_case("Patient", "Caregiver 0", None).map_err(e("create case"))?;
        w.case_id = case.id().clone();
        c0.me = Some(me);
        c0.case = Some(case);
        w.pump()?;
        Ok(w)
    }

    fn now(&self) -> UnixTimestamp {
        UnixTimestamp::from_millis(self.now_ms as u128)
    }

    /// A device for caregiver `i` over `storage`, its app just started: a store, a samod node and a
    /// dialer, a fresh sync engine. `peer` is the device's samod peer id when it restarts (`None`: a new
    /// device).
    fn new_device(&mut self, i: usize, storage: Arc<dyn Storage>, me: Option<String>, peer: Option<String>) -> Client {
        self.devices += 1;
        let peer = peer.unwrap_or_else(|| format!("{CLIENT_PREFIX}{i}-{}", self.devices));
        let mut node = Node::load(&peer, storage.clone(), client_policy(), self.rng.random(), self.now());
        let dialer = node.add_dialer(&url(), backoff());
        let mut c = Client::new(format!("Caregiver {i}"), peer, me, storage, node, dialer, self.cfg.sabotage.engine());
        c.inbox.push(Event::Link(LinkEvent::Connecting));
        c
    }

    fn set_clocks(&mut self) {
        crate::tracked_doc::set_sim_clock(Some((self.now_ms / 1000) as i64));
        let now = self.now();
        for c in &mut self.clients {
            c.node.set_now(now);
        }
        if let Some((r, _)) = &mut self.relay.node {
            r.set_now(now);
        }
    }

    /// Move everything the nodes emitted onto the network, cut what they closed, answer their dials; run
    /// every device's sync engine on what changed; again until nothing moves.
    fn pump(&mut self) -> Res<()> {
        for _ in 0..10_000 {
            self.pump_network()?;
            let mut fed = false;
            for c in &mut self.clients {
                fed |= c.drive(&self.case_id, self.now_ms, &mut self.report)?;
            }
            if !fed {
                return Ok(());
            }
        }
        Err("the devices' sync engines never settle".into())
    }

    /// Move everything the nodes emitted onto the network, cut what they closed, answer their dials.
    fn pump_network(&mut self) -> Res<()> {
        loop {
            let mut busy = false;
            for i in 0..self.clients.len() {
                let closing: Vec<ConnectionId> = {
                    let n = &mut self.clients[i].node;
                    let mut v = n.take_closing();
                    v.extend(n.take_failed());
                    v
                };
                for conn in closing {
                    if let Some(l) = self.link_of(|l| l.client == i && l.client_conn == conn) {
                        busy = true;
                        self.cut(l, true, true);
                    }
                }
                let mut batch = Vec::new();
                for (conn, bytes) in self.clients[i].node.take_outbox() {
                    // Bytes for a connection that is gone are lost with it.
                    if let Some(link) = self.link_of(|l| l.client == i && l.client_conn == conn) {
                        batch.push(Packet { link, to_relay: true, bytes });
                    }
                }
                self.send_batch(batch);
                for dialer in self.clients[i].node.take_dial_requests() {
                    busy = true;
                    self.dial(i, dialer);
                }
            }
            let (closing, outbox) = match &mut self.relay.node {
                Some((r, _)) => {
                    let mut v = r.take_closing();
                    v.extend(r.take_failed());
                    (v, r.take_outbox())
                }
                None => (Vec::new(), Vec::new()),
            };
            for conn in closing {
                if let Some(l) = self.link_of(|l| l.relay_conn == conn) {
                    busy = true;
                    self.cut(l, true, true);
                }
            }
            let mut batch = Vec::new();
            for (conn, bytes) in outbox {
                if let Some(link) = self.link_of(|l| l.relay_conn == conn) {
                    batch.push(Packet { link, to_relay: false, bytes });
                }
            }
            self.send_batch(batch);
            if !busy {
                return Ok(());
            }
        }
    }

    /// Put what one node emitted at once on the network. samod-core emits the messages of one event in
    /// hash-map order; ordering them by link and document (stable: each document's own order is kept)
    /// makes the schedule a function of the seed.
    fn send_batch(&mut self, mut batch: Vec<Packet>) {
        batch.sort_by_cached_key(|p| (p.link, bridge::envelope(&p.bytes).and_then(|(_, d)| d).map(|d| d.to_string())));
        self.in_flight.extend(batch);
    }

    fn link_of(&self, f: impl Fn(&Link) -> bool) -> Option<u64> {
        self.links.iter().find(|(_, l)| f(l)).map(|(id, _)| *id)
    }

    /// Close a link; each side that is told sees its connection lost.
    fn cut(&mut self, link: u64, tell_client: bool, tell_relay: bool) {
        let Some(l) = self.links.remove(&link) else { return };
        self.in_flight.retain(|p| p.link != link);
        if tell_client {
            let c = &mut self.clients[l.client];
            c.node.connection_lost(l.client_conn);
            c.inbox.push(Event::Link(LinkEvent::Offline));
        }
        if tell_relay && let Some((r, _)) = &mut self.relay.node {
            r.connection_lost(l.relay_conn);
        }
    }

    fn dial(&mut self, i: usize, dialer: DialerId) {
        let up = self.clients[i].online && self.relay.node.is_some() && dialer == self.clients[i].dialer;
        if !up {
            let c = &mut self.clients[i];
            c.node.dial_failed(dialer);
            c.inbox.push(Event::Link(LinkEvent::Offline));
            return;
        }
        self.clients[i].inbox.push(Event::Link(LinkEvent::Connecting));
        let Some(client_conn) = self.clients[i].node.dialer_connected(dialer, Some(RELAY_PEER_ID)) else { return };
        let peer = self.clients[i].peer.clone();
        let (r, listener) = self.relay.node.as_mut().expect("checked above");
        let Some(relay_conn) = r.accept(*listener, Some(&peer)) else {
            let c = &mut self.clients[i];
            c.node.connection_lost(client_conn);
            c.inbox.push(Event::Link(LinkEvent::Offline));
            return;
        };
        self.clients[i].inbox.push(Event::Link(LinkEvent::Connected(client_conn)));
        self.links.insert(self.next_link, Link { client: i, client_conn, relay_conn });
        self.next_link += 1;
    }

    /// Deliver one message in flight: usually the oldest; sometimes another, lost, or twice.
    fn deliver_one(&mut self, faults: bool) -> Res<bool> {
        if self.in_flight.is_empty() {
            return Ok(false);
        }
        let idx = if faults && self.rng.random_bool(self.cfg.reorder) {
            self.report.reordered += 1;
            self.rng.random_range(0..self.in_flight.len())
        } else {
            0
        };
        let p = self.in_flight.remove(idx).expect("index in range");
        if faults && self.rng.random_bool(self.cfg.drop) {
            self.report.dropped += 1;
            return Ok(true);
        }
        let times = if faults && self.rng.random_bool(self.cfg.duplicate) {
            self.report.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..times {
            let Some(l) = self.links.get(&p.link) else { break };
            self.report.delivered += 1;
            if p.to_relay {
                if let Some((r, _)) = &mut self.relay.node {
                    r.receive(l.relay_conn, p.bytes.clone());
                }
            } else {
                let (c, conn) = (l.client, l.client_conn);
                // As the sync client's transport does (see `bridge::hold_back_from_relay`).
                if !bridge::hold_back_from_relay(&p.bytes, &*self.clients[c].storage) {
                    self.clients[c].node.receive(conn, p.bytes.clone());
                }
            }
            self.pump()?;
        }
        Ok(true)
    }

    fn save(&mut self, i: usize) -> Res<()> {
        let c = &mut self.clients[i];
        if let Some(case) = &mut c.case {
            case.save().map_err(e("save"))?;
            for (_, t) in &c.pending {
                self.log.push(format!("{}: client {i} saved {t}", self.step));
            }
            c.saved.append(&mut c.pending);
        }
        Ok(())
    }

    /// The caregiver syncs. A device without the case does what `SyncClient::join_case` does: looks for
    /// the case on the relay and, once it has arrived, stores it, opens it and joins as a caregiver. Then
    /// what `SyncClient::sync_case` does: save, and hand the case's documents to the sync engine, which
    /// exchanges what differs.
    fn sync(&mut self, i: usize) -> Res<()> {
        let case_id = self.case_id.clone();
        let case_doc = case_id.to_document_id();
        if self.clients[i].case.is_none() {
            let c = &mut self.clients[i];
            c.node.find(&case_doc);
            let Some(d) = c.node.document(&case_doc) else { return Ok(()) };
            let heads = d.get_heads();
            if heads.is_empty() {
                return Ok(());
            }
            bridge::store_joined_case(&c.store, &case_id, d).map_err(e("store the joined case"))?;
            let mut case = c.store.open_case(&case_id).map_err(e("open the joined case"))?;
            // A caregiver whose joining never reached the relay before the phone was lost joins again.
            let known = c.me.clone().filter(|me| case.caregiver(me).is_some());
            let me = match known {
                Some(me) => me,
                None => {
                    let me = case.add_caregiver(&c.name, None).map_err(e("join as caregiver"))?;
                    case.save().map_err(e("save after joining"))?;
                    me
                }
            };
            c.store.set_me(&case_id, &me).map_err(e("set me"))?;
            c.me = Some(me);
            c.case = Some(case);
        }
        self.save(i)?;
        self.clients[i].attach()?;
        self.pump()
    }

    fn advance(&mut self, ms: u64) -> Res<()> {
        self.now_ms += ms;
        self.set_clocks();
        for c in &mut self.clients {
            c.node.tick();
            c.inbox.push(Event::Tick);
        }
        if let Some((r, _)) = &mut self.relay.node {
            r.tick();
        }
        self.pump()
    }

    fn disconnect(&mut self, i: usize) {
        if let Some(l) = self.link_of(|l| l.client == i) {
            self.report.disconnects += 1;
            self.cut(l, true, true);
        }
    }

    fn relay_restart(&mut self) -> Res<()> {
        self.report.relay_restarts += 1;
        self.log.push(format!("{}: relay restarts", self.step));
        let links: Vec<u64> = self.links.keys().copied().collect();
        for l in links {
            self.cut(l, true, false);
        }
        // The process dies: everything in memory is gone, storage stays (a sled database is closed and opened
        // again, as by a new process).
        self.relay.node = None;
        if let Some(dir) = &self.relay.sled {
            self.relay.storage = Arc::new(MemoryStorage::new());
            self.relay.storage = Arc::new(SledStorage::open(&dir.0).map_err(e("reopen the relay's sled database"))?);
        }
        let seed = self.rng.random();
        let mut r = Node::load(RELAY_PEER_ID, self.relay.storage.clone(), relay_policy(), seed, self.now());
        let listener = r.add_listener(&url());
        self.relay.node = Some((r, listener));
        self.pump()
    }

    /// The app is killed and started again: what was saved is there, what was typed since is not.
    fn client_restart(&mut self, i: usize) -> Res<()> {
        self.report.client_restarts += 1;
        self.log.push(format!("{}: client {i} restarts", self.step));
        self.disconnect(i);
        let storage = self.clients[i].storage.clone();
        let me = self.clients[i].me.clone();
        let peer = Some(self.clients[i].peer.clone());
        let mut fresh = self.new_device(i, storage, me, peer);
        let old = &mut self.clients[i];
        self.report.tokens_legitimately_lost += old.pending.len() as u64;
        fresh.saved = std::mem::take(&mut old.saved);
        if old.case.is_some() {
            // The app opens the case again and attaches it to sync at once.
            fresh.case = Some(fresh.store.open_case(&self.case_id).map_err(e("reopen after restart"))?);
            fresh.attach()?;
        }
        self.clients[i] = fresh;
        self.pump()
    }

    /// The phone is lost; the caregiver signs in on a new, empty one. What the lost phone had saved must
    /// survive if it had reached the relay's storage or another device.
    fn wipe(&mut self, i: usize) -> Res<()> {
        self.report.wipes += 1;
        self.log.push(format!("{}: client {i} wiped", self.step));
        self.disconnect(i);
        let saved = std::mem::take(&mut self.clients[i].saved);
        self.report.tokens_legitimately_lost += self.clients[i].pending.len() as u64;
        let mut relay_copy = Store::with_storage(self.relay.storage.clone()).open_case(&self.case_id).ok();
        for (field, token) in saved {
            let mut found = relay_copy.as_mut().is_some_and(|c| c.text(&field).is_ok_and(|t| t.contains(&token)));
            for (j, other) in self.clients.iter_mut().enumerate() {
                if j != i && !found {
                    found = other.case.as_mut().is_some_and(|c| c.text(&field).is_ok_and(|t| t.contains(&token)));
                }
            }
            if found {
                self.log.push(format!("{}: client {i} wiped, {token} survives elsewhere", self.step));
                self.required.push((field, token));
            } else {
                self.report.tokens_legitimately_lost += 1;
            }
        }
        let me = self.clients[i].me.clone();
        self.clients[i] = self.new_device(i, Arc::new(MemoryStorage::new()), me, None);
        self.pump()
    }

    fn step(&mut self, step: u64) -> Res<()> {
        self.step = step;
        let n = self.clients.len();
        let i = self.rng.random_range(0..n);
        let roll = self.rng.random_range(0..1000u32);
        match roll {
            0..300 => {
                let c = &mut self.clients[i];
                if let (Some(case), Some(me)) = (&mut c.case, &c.me) {
                    self.report.operations += 1;
                    let written = ops::random_op(&mut self.rng, case, me, i, step).map_err(e("operation"))?;
                    c.pending.extend(written);
                }
            }
            300..380 => self.save(i)?,
            380..480 => self.sync(i)?,
            480..880 => {
                for _ in 0..self.rng.random_range(1..8) {
                    self.deliver_one(true)?;
                }
            }
            880..940 => {
                let ms = self.rng.random_range(50..3000);
                self.advance(ms)?;
            }
            940..960 => self.disconnect(i),
            960..980 => {
                let c = &mut self.clients[i];
                c.online = !c.online;
                if !c.online {
                    self.disconnect(i);
                }
            }
            980..986 => self.relay_restart()?,
            986..996 => self.client_restart(i)?,
            _ => {
                // A phone holding the only copy of the case cannot be lost in this model.
                if i != 0 || self.clients[0].case.is_none() || self.relay_has_case() {
                    self.wipe(i)?;
                }
            }
        }
        Ok(())
    }

    fn relay_has_case(&self) -> bool {
        bridge::on_storage(&*self.relay.storage, &self.case_id).unwrap_or(false)
    }

    /// No more faults: every device online, fresh connections; every caregiver syncs once, then only the
    /// network and the sync engines move changes (live merge) until nothing changes. A device without the
    /// case keeps trying to join. Once every replica is identical, every device's engine must say so: the
    /// case up to date with the relay and every local edit saved to it.
    fn heal(&mut self) -> Res<()> {
        for c in &mut self.clients {
            c.online = true;
        }
        let links: Vec<u64> = self.links.keys().copied().collect();
        for l in links {
            self.cut(l, true, true);
        }
        for i in 0..self.clients.len() {
            self.sync(i)?;
        }
        let mut quiet = 0;
        for round in 0..300u64 {
            self.advance(1000)?;
            for i in 0..self.clients.len() {
                if self.clients[i].case.is_none() {
                    self.sync(i)?;
                }
            }
            let mut n = 0;
            while self.deliver_one(false)? {
                n += 1;
                if n > 200_000 {
                    return Err("messages never stop".into());
                }
            }
            if self.in_flight.is_empty() && self.converged()? {
                quiet += 1;
                if quiet == 2 {
                    self.report.heal_rounds = round + 1;
                    // What the apps show then: up to date, every edit saved to the relay.
                    for (i, c) in self.clients.iter_mut().enumerate() {
                        if !c.engine.settled(&self.case_id) {
                            let status = c.engine.status(&self.case_id);
                            let engine = c.engine.describe(&self.case_id);
                            return Err(format!(
                                "client {i} holds everything but its engine says {status:?}: {engine}"
                            ));
                        }
                    }
                    return Ok(());
                }
            } else {
                quiet = 0;
            }
        }
        Err(format!("did not converge within 300 rounds: {}", self.divergence()))
    }

    fn converged(&mut self) -> Res<bool> {
        let mut first = None;
        for c in &mut self.clients {
            let Some(case) = &mut c.case else { return Ok(false) };
            let s = case.state().map_err(e("state"))?;
            match &first {
                None => first = Some(s),
                Some(f) if *f != s => return Ok(false),
                Some(_) => {}
            }
        }
        let relay = Store::with_storage(self.relay.storage.clone());
        let Ok(mut rc) = relay.open_case(&self.case_id) else { return Ok(false) };
        Ok(Some(rc.state().map_err(e("relay state"))?) == first)
    }

    /// Which documents differ between the replicas (for a failure message).
    fn divergence(&mut self) -> String {
        let mut states = Vec::new();
        for (i, c) in self.clients.iter_mut().enumerate() {
            let s = match c.case.as_mut() {
                None => Err("no case".to_string()),
                Some(case) => case.state().map_err(|e| e.to_string()),
            };
            states.push((format!("client {i}"), s));
        }
        let relay = Store::with_storage(self.relay.storage.clone())
            .open_case(&self.case_id)
            .and_then(|mut c| c.state())
            .map_err(|e| e.to_string());
        states.push(("relay storage".into(), relay));
        let mut out = Vec::new();
        let mut docs = std::collections::BTreeSet::new();
        for (who, s) in &states {
            match s {
                Ok(s) => docs.extend(s.docs.keys().cloned()),
                Err(e) => out.push(format!("{who}: {e}")),
            }
        }
        for d in docs {
            let heads: Vec<String> = states
                .iter()
                .filter_map(|(who, s)| s.as_ref().ok().map(|s| (who, s)))
                .map(|(who, s)| {
                    format!("{who}={:?}", s.docs.get(&d).map(|h| h.iter().map(|x| &x[..8]).collect::<Vec<_>>()))
                })
                .collect();
            let mut distinct = heads.iter().map(|h| h.split('=').nth(1).unwrap_or_default()).collect::<Vec<_>>();
            distinct.sort();
            distinct.dedup();
            if distinct.len() > 1 {
                out.push(format!("doc {d}: {}", heads.join(" ")));
                if let Ok(id) = d.parse::<DocId>() {
                    let id = id.to_document_id();
                    if let Some((r, _)) = &self.relay.node {
                        out.push(format!("  relay node: {}", r.describe(&id)));
                    }
                    for (i, c) in self.clients.iter().enumerate() {
                        out.push(format!("  client {i} node: {}", c.node.describe(&id)));
                    }
                }
            }
        }
        let links: Vec<usize> = self.links.values().map(|l| l.client).collect();
        format!("{}; links to clients {links:?}", out.join("; "))
    }

    /// The invariants.
    fn check(&mut self) -> Res<()> {
        let mut reference = None;
        for (i, c) in self.clients.iter_mut().enumerate() {
            let case = c.case.as_mut().ok_or(format!("client {i} never got the case"))?;
            let v = ops::views(case).map_err(e("views"))?;
            match &reference {
                None => reference = Some(v),
                Some(r) if *r != v => return Err(format!("client {i}'s derived views differ from client 0's")),
                Some(_) => {}
            }
        }
        let mut tokens: Vec<(TextField, String)> = self.required.clone();
        for c in &self.clients {
            tokens.extend(c.saved.iter().cloned());
            tokens.extend(c.pending.iter().cloned());
        }
        for (i, c) in self.clients.iter_mut().enumerate() {
            let case = c.case.as_mut().expect("checked above");
            for (field, token) in &tokens {
                let text = case.text(field).map_err(e("text"))?;
                if !text.contains(token.as_str()) {
                    let short = token.split(' ').next().unwrap_or_default().to_string();
                    let related: Vec<&String> =
                        self.log.iter().filter(|l| l.contains(&short) || !l.contains(" saved ")).collect();
                    return Err(format!(
                        "client {i} lost acknowledged text {token:?} in {field:?}; events: {related:?}"
                    ));
                }
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            if c.node.storage_errors() > 0 {
                return Err(format!("client {i}: {} storage errors", c.node.storage_errors()));
            }
        }
        self.report.tokens_checked = tokens.len() as u64;
        let state = self.clients[0].case.as_mut().expect("checked above").state().map_err(e("state"))?;
        self.report.fingerprint = format!("{:?}", state.docs);
        Ok(())
    }
}
