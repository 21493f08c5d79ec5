//! [`Node`]: one samod-core hub and its document actors, driven by hand (sans-IO) over a Casebook
//! [`Storage`]. The same engine the relay and the sync client run inside samod's async runtime; here
//! every step happens when the simulation says so, with virtual time and a seeded random generator.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use automerge::Automerge;
use rand::SeedableRng;
use rand::rngs::StdRng;
use samod_core::actors::document::io::{DocumentIoResult, DocumentIoTask};
use samod_core::actors::document::{DocActorResult, DocumentActor};
use samod_core::actors::hub::io::HubIoAction;
use samod_core::actors::hub::{DispatchedCommand, Hub, HubEvent, HubResults};
use samod_core::actors::{DocToHubMsg, HubToDocMsg};
use samod_core::io::{IoResult, StorageResult, StorageTask};
use samod_core::network::{BackoffConfig, ConnectionEvent, DialerConfig, ListenerConfig, PeerDocState};
use samod_core::{
    CommandId, CommandResult, ConnectionId, DialerId, DocumentActorId, DocumentId, ListenerId, LoaderState, PeerId,
    SamodLoader, ShareConfig, UnixTimestamp,
};

use crate::storage::Storage;

/// Decides what a peer may see of a document (samod's share policy).
pub(crate) type Policy = Arc<dyn Fn(&PeerId, &DocumentId) -> ShareConfig + Send + Sync>;

/// Work queued inside a node until [`Node::settle`] runs it.
enum Work {
    Hub(HubEvent),
    ToActor(DocumentActorId, HubToDocMsg),
    ActorIo(DocumentActorId, IoResult<DocumentIoResult>),
}

/// A sans-IO samod-core node. Outgoing bytes collect in [`Node::take_outbox`].
pub(crate) struct Node {
    hub: Box<Hub>,
    actors: HashMap<DocumentActorId, DocumentActor>,
    by_doc: HashMap<DocumentId, DocumentActorId>,
    storage: Arc<dyn Storage>,
    policy: Policy,
    rng: StdRng,
    now: UnixTimestamp,
    work: VecDeque<Work>,
    results: HashMap<CommandId, CommandResult>,
    outbox: Vec<(ConnectionId, Vec<u8>)>,
    closing: Vec<ConnectionId>,
    dial_requests: Vec<DialerId>,
    failed: Vec<ConnectionId>,
    storage_errors: u64,
    /// Bumped whenever the node does any work (its documents or their peers may have changed).
    version: u64,
}

/// Run one storage task against a Casebook storage (samod's keys are Casebook's keys).
fn run_storage(storage: &dyn Storage, task: StorageTask, errors: &mut u64) -> StorageResult {
    match task {
        StorageTask::Load { key } => StorageResult::Load {
            value: storage.load(&key).unwrap_or_else(|_| {
                *errors += 1;
                None
            }),
        },
        StorageTask::LoadRange { prefix } => StorageResult::LoadRange {
            values: storage.load_range(&prefix).map(|v| v.into_iter().collect()).unwrap_or_else(|_| {
                *errors += 1;
                HashMap::new()
            }),
        },
        StorageTask::Put { key, value } => {
            if storage.put(&key, &value).and_then(|_| storage.flush()).is_err() {
                *errors += 1;
            }
            StorageResult::Put
        }
        StorageTask::Delete { key } => {
            if storage.delete(&key).and_then(|_| storage.flush()).is_err() {
                *errors += 1;
            }
            StorageResult::Delete
        }
    }
}

impl Node {
    /// Load a node over `storage` (samod reads or writes its storage id first).
    pub(crate) fn load(
        peer_id: &str,
        storage: Arc<dyn Storage>,
        policy: Policy,
        seed: u64,
        now: UnixTimestamp,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut loader = SamodLoader::new(PeerId::from_string(peer_id.to_string()));
        let mut errors = 0;
        let hub = loop {
            match loader.step(&mut rng, now) {
                LoaderState::NeedIo(tasks) => {
                    for t in tasks {
                        let payload = run_storage(&*storage, t.action, &mut errors);
                        loader.provide_io_result(IoResult { task_id: t.task_id, payload });
                    }
                }
                LoaderState::Loaded(hub) => break hub,
            }
        };
        Node {
            hub,
            actors: HashMap::new(),
            by_doc: HashMap::new(),
            storage,
            policy,
            rng,
            now,
            work: VecDeque::new(),
            results: HashMap::new(),
            outbox: Vec::new(),
            closing: Vec::new(),
            dial_requests: Vec::new(),
            failed: Vec::new(),
            storage_errors: errors,
            version: 0,
        }
    }

    /// Set the virtual clock.
    pub(crate) fn set_now(&mut self, now: UnixTimestamp) {
        self.now = now;
    }

    /// Queue an event and run everything it causes.
    fn dispatch(&mut self, event: HubEvent) {
        self.work.push_back(Work::Hub(event));
        self.settle();
    }

    /// Run a command and return its result (commands on a live hub complete synchronously).
    fn command(&mut self, c: DispatchedCommand) -> Option<CommandResult> {
        self.dispatch(c.event);
        self.results.remove(&c.command_id)
    }

    /// Add a listener (the relay side).
    pub(crate) fn add_listener(&mut self, url: &url::Url) -> ListenerId {
        match self.command(HubEvent::add_listener(ListenerConfig { url: url.clone() })) {
            Some(CommandResult::AddListener { listener_id }) => listener_id,
            other => panic!("add_listener: unexpected {other:?}"),
        }
    }

    /// Add a dialer (the client side); dial requests show up in [`Node::take_dial_requests`].
    pub(crate) fn add_dialer(&mut self, url: &url::Url, backoff: BackoffConfig) -> DialerId {
        match self.command(HubEvent::add_dialer(DialerConfig { url: url.clone(), backoff })) {
            Some(CommandResult::AddDialer { dialer_id }) => dialer_id,
            other => panic!("add_dialer: unexpected {other:?}"),
        }
    }

    /// A transport for `dialer` is up: create its connection.
    pub(crate) fn dialer_connected(&mut self, dialer: DialerId, expected: Option<&str>) -> Option<ConnectionId> {
        let expected = expected.map(|p| PeerId::from_string(p.to_string()));
        match self.command(HubEvent::create_dialer_connection(dialer, expected)) {
            Some(CommandResult::CreateConnection { connection_id }) => Some(connection_id),
            _ => None,
        }
    }

    /// The transport for `dialer` could not be made.
    pub(crate) fn dial_failed(&mut self, dialer: DialerId) {
        self.dispatch(HubEvent::dial_failed(dialer, "unreachable".into(), false));
    }

    /// An inbound transport on `listener`: create its connection.
    pub(crate) fn accept(&mut self, listener: ListenerId, expected: Option<&str>) -> Option<ConnectionId> {
        let expected = expected.map(|p| PeerId::from_string(p.to_string()));
        match self.command(HubEvent::create_listener_connection(listener, expected)) {
            Some(CommandResult::CreateConnection { connection_id }) => Some(connection_id),
            _ => None,
        }
    }

    /// Bytes arrived on `conn`.
    pub(crate) fn receive(&mut self, conn: ConnectionId, bytes: Vec<u8>) {
        self.dispatch(HubEvent::receive(conn, bytes).event);
    }

    /// The transport of `conn` is gone.
    pub(crate) fn connection_lost(&mut self, conn: ConnectionId) {
        self.dispatch(HubEvent::connection_lost(conn));
    }

    /// Let timers run (dialer backoff).
    pub(crate) fn tick(&mut self) {
        self.dispatch(HubEvent::tick());
    }

    /// Ask for a document: loaded from storage, else requested from connected peers.
    pub(crate) fn find(&mut self, doc: &DocumentId) {
        if !self.by_doc.contains_key(doc) {
            let _ = self.command(HubEvent::search_for_doc(doc.clone()));
        }
    }

    /// The document if its actor is ready.
    pub(crate) fn document(&self, doc: &DocumentId) -> Option<&Automerge> {
        let a = self.actors.get(self.by_doc.get(doc)?)?;
        a.is_document_ready().then(|| a.document())
    }

    /// Modify a ready document; samod stores and announces the result.
    pub(crate) fn with_document<R>(&mut self, doc: &DocumentId, f: impl FnOnce(&mut Automerge) -> R) -> Option<R> {
        let id = *self.by_doc.get(doc)?;
        let actor = self.actors.get_mut(&id)?;
        if !actor.is_document_ready() {
            return None;
        }
        let r = actor.with_document(self.now, f).ok()?;
        self.handle_actor(id, r.actor_result);
        self.settle();
        Some(r.value)
    }

    /// What this node knows of each peer's state of a document (what samod's `DocHandle::peers` reports);
    /// `None` if the document has no actor.
    pub(crate) fn peers(&self, doc: &DocumentId) -> Option<HashMap<ConnectionId, PeerDocState>> {
        Some(self.actors.get(self.by_doc.get(doc)?)?.peers())
    }

    /// What this node knows of a document, for failure messages: its phase, heads and peers.
    pub(crate) fn describe(&self, doc: &DocumentId) -> String {
        let Some(id) = self.by_doc.get(doc) else { return "no actor".into() };
        let Some(a) = self.actors.get(id) else { return "actor gone".into() };
        let heads: Vec<String> = a.document().get_heads().iter().map(|h| h.to_string()[..8].to_string()).collect();
        let peers: Vec<String> = a
            .peers()
            .iter()
            .map(|(c, p)| {
                let their = p
                    .their_heads
                    .as_ref()
                    .map(|h| h.iter().map(|x| x.to_string()[..8].to_string()).collect::<Vec<_>>());
                format!("{c:?}: share={:?} their={their:?}", p.share_config.map(|s| s.announce))
            })
            .collect();
        format!("ready={} heads={heads:?} peers={peers:?}", a.is_document_ready())
    }

    /// Messages to send since the last call, by connection.
    pub(crate) fn take_outbox(&mut self) -> Vec<(ConnectionId, Vec<u8>)> {
        std::mem::take(&mut self.outbox)
    }

    /// Connections the hub closed since the last call.
    pub(crate) fn take_closing(&mut self) -> Vec<ConnectionId> {
        std::mem::take(&mut self.closing)
    }

    /// Connections the hub reports failed since the last call.
    pub(crate) fn take_failed(&mut self) -> Vec<ConnectionId> {
        std::mem::take(&mut self.failed)
    }

    /// Dialers that want a transport, since the last call.
    pub(crate) fn take_dial_requests(&mut self) -> Vec<DialerId> {
        std::mem::take(&mut self.dial_requests)
    }

    /// How many storage operations failed.
    pub(crate) fn storage_errors(&self) -> u64 {
        self.storage_errors
    }

    /// A number that changes whenever the node has done any work since it was last read: nothing it
    /// reports can have changed while it stays the same.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// Run queued work until nothing is left.
    fn settle(&mut self) {
        while let Some(w) = self.work.pop_front() {
            self.version += 1;
            match w {
                Work::Hub(event) => {
                    let r = self.hub.handle_event(&mut self.rng, self.now, event);
                    self.handle_hub(r);
                }
                Work::ToActor(id, msg) => {
                    let Some(actor) = self.actors.get_mut(&id) else { continue };
                    if let Ok(r) = actor.handle_message(self.now, msg) {
                        self.handle_actor(id, r);
                    }
                }
                Work::ActorIo(id, result) => {
                    let Some(actor) = self.actors.get_mut(&id) else { continue };
                    if let Ok(r) = actor.handle_io_complete(self.now, result) {
                        self.handle_actor(id, r);
                    }
                }
            }
        }
    }

    fn handle_hub(&mut self, r: HubResults) {
        for args in r.spawn_actors {
            let id = args.actor_id();
            let doc = args.document_id().clone();
            let (actor, init) = DocumentActor::new(self.now, args);
            self.actors.insert(id, actor);
            self.by_doc.insert(doc, id);
            self.handle_actor(id, init);
        }
        for (id, result) in r.completed_commands {
            if !matches!(result, CommandResult::Receive { .. }) {
                self.results.insert(id, result);
            }
        }
        for task in r.new_tasks {
            match task.action {
                HubIoAction::Send { connection_id, msg } => self.outbox.push((connection_id, msg)),
                HubIoAction::Disconnect { connection_id } => self.closing.push(connection_id),
            }
        }
        for (id, msg) in r.actor_messages {
            self.work.push_back(Work::ToActor(id, msg));
        }
        for e in r.connection_events {
            if let ConnectionEvent::ConnectionFailed { connection_id, .. } = e {
                self.failed.push(connection_id);
            }
        }
        self.dial_requests.extend(r.dial_requests.into_iter().map(|d| d.dialer_id));
    }

    fn handle_actor(&mut self, id: DocumentActorId, r: DocActorResult) {
        let doc = self.actors.get(&id).map(|a| a.document_id().clone());
        for task in r.io_tasks {
            let payload = match task.action {
                DocumentIoTask::Storage(s) => {
                    DocumentIoResult::Storage(run_storage(&*self.storage, s, &mut self.storage_errors))
                }
                DocumentIoTask::CheckSharePolicy { peer_id } => DocumentIoResult::CheckSharePolicy(match &doc {
                    Some(d) => (self.policy)(&peer_id, d),
                    None => ShareConfig::none(),
                }),
            };
            self.work.push_back(Work::ActorIo(id, IoResult { task_id: task.task_id, payload }));
        }
        for msg in r.outgoing_messages {
            self.work.push_back(Work::Hub(HubEvent::actor_message(id, msg as DocToHubMsg)));
        }
        if r.stopped {
            self.actors.remove(&id);
            self.by_doc.retain(|_, a| *a != id);
        }
    }
}
