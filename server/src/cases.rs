//! [`CaseRepos`]: one samod repository per case, started when a member first syncs it, plus the lobby.
//!
//! samod 0.16 attaches every connection of a repository to every document the repository has loaded: a
//! (connection, document) pair costs memory and is walked on every connection change, so one repository
//! for the whole relay grows with connections × documents (BENCHMARKS.md: 200 phones took 57 s to
//! connect). Here a case's repository only ever meets its own documents and its members' connections.
//!
//! All repositories share the relay's storage (so the same storage id), peer id and share policy. A
//! document belongs to one case, so only one repository ever loads or writes it.
//!
//! The **lobby** is a repository that never loads a document: every connection's handshake (and anything
//! else that names no document: leave, errors, unexpected messages) goes to it, so samod still checks the
//! join, the protocol version and the peer id. See `demux` for the routing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use casebook_core::relay_api::RELAY_PEER_ID;
use samod::{AcceptorHandle, PeerId, Repo};
use tokio::sync::OnceCell;

use crate::accounts::Directory;
use crate::inbound::Documents;
use crate::policy::RelayPolicy;
use crate::quota::{Quota, QuotaStorage};

/// One running samod repository and where connections join it.
pub(crate) struct CaseRepo {
    /// The repository.
    repo: Repo,
    /// Its acceptor: one virtual connection per WebSocket connection that syncs this case.
    pub(crate) acceptor: AcceptorHandle,
    /// Its documents, for the dry run of inbound changes.
    pub(crate) documents: Documents,
}

impl CaseRepo {
    async fn start(storage: QuotaStorage, policy: RelayPolicy, label: &str) -> Option<CaseRepo> {
        let repo = Repo::build_tokio()
            .with_storage(storage)
            .with_peer_id(PeerId::from(RELAY_PEER_ID))
            .with_share_policy(policy)
            .load()
            .await;
        // The URL only names the acceptor inside the repository.
        let url = samod::Url::parse(&format!("casebook-relay://{label}")).ok()?;
        let acceptor = repo.make_acceptor(url).ok()?;
        let documents = Documents::new(repo.clone());
        Some(CaseRepo { repo, acceptor, documents })
    }

    /// The samod repository (the cluster applies other nodes' stored changes to its open documents).
    pub(crate) fn repo(&self) -> &Repo {
        &self.repo
    }

    /// Close the acceptor (its connections end) and stop the repository (its pending writes complete).
    async fn stop(&self) {
        self.acceptor.close();
        if tokio::time::timeout(Duration::from_secs(5), self.repo.stop()).await.is_err() {
            tracing::warn!("a sync repository did not stop in time");
        }
    }
}

/// A case's repository, once started (`None`: it could not start, the relay is stopping).
type Slot = Arc<OnceCell<Option<Arc<CaseRepo>>>>;

/// The lobby and the case repositories of a running relay.
pub(crate) struct CaseRepos {
    storage: QuotaStorage,
    policy: RelayPolicy,
    lobby: CaseRepo,
    cases: Mutex<HashMap<String, Slot>>,
    stopping: std::sync::atomic::AtomicBool,
}

impl CaseRepos {
    /// Start the lobby over `storage` (which creates the relay's storage id on first start, before any case
    /// repository reads it).
    pub(crate) async fn start(storage: QuotaStorage, dir: Arc<Directory>, quota: Arc<Quota>) -> Option<CaseRepos> {
        let policy = RelayPolicy::new(dir, quota);
        let lobby = CaseRepo::start(storage.clone(), policy.clone(), "lobby").await?;
        Some(CaseRepos {
            storage,
            policy,
            lobby,
            cases: Mutex::new(HashMap::new()),
            stopping: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The lobby's acceptor: every connection's handshake.
    pub(crate) fn lobby(&self) -> &AcceptorHandle {
        &self.lobby.acceptor
    }

    /// The repository of `case_id`, started on first use; `None` once the relay is stopping.
    pub(crate) async fn case(&self, case_id: &str) -> Option<Arc<CaseRepo>> {
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        let cell = self.lock().entry(case_id.to_string()).or_default().clone();
        cell.get_or_init(|| async {
            CaseRepo::start(self.storage.clone(), self.policy.clone(), "case").await.map(Arc::new)
        })
        .await
        .clone()
    }

    /// The repository of `case_id` if it is running; never starts one.
    pub(crate) fn running(&self, case_id: &str) -> Option<Arc<CaseRepo>> {
        self.lock().get(case_id).and_then(|c| c.get().cloned().flatten())
    }

    /// Every running case repository with its case id.
    pub(crate) fn all_running(&self) -> Vec<(String, Arc<CaseRepo>)> {
        self.lock().iter().filter_map(|(id, c)| Some((id.clone(), c.get().cloned().flatten()?))).collect()
    }

    /// Stop every repository, the lobby last. No new case repository starts afterwards.
    pub(crate) async fn stop(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        let running: Vec<Slot> = self.lock().drain().map(|(_, c)| c).collect();
        let stops = running.iter().filter_map(|c| c.get().cloned().flatten()).map(|r| async move { r.stop().await });
        futures::future::join_all(stops).await;
        self.lobby.stop().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.cases.lock().unwrap_or_else(|e| e.into_inner())
    }
}
