//! The sync client's background work on its runtime: one watcher per document (samod's peer states and
//! change notifications), and the monitor, which follows the connection, recomputes statuses, announces
//! events, and — whenever the relay is reachable — registers pending documents and looks again for notes
//! documents that other devices may have created.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::collections::HashMap;

use futures::{Stream, StreamExt};
use samod::{ConnectionId, DialerEvent, DialerHandle, DocHandle, PeerDocState, Repo};
use samod_core::DocumentChanged;

use crate::ids::{CaseId, DocId};

use super::error::SyncError;
use super::relay_client::RelayClient;
use super::shared::{DocSync, Link, Shared, WatchedDoc, lock};

/// How often the monitor retries pending registrations and missing documents while connected.
const RETRY_EVERY: Duration = Duration::from_secs(10);
/// How long one look-up of a document on the relay may take.
pub(crate) const FIND_TIMEOUT: Duration = Duration::from_secs(10);

/// Start watching `handle` for case `case`; returns the document's sync state (the existing one if the
/// document is watched already). `case_heads`: the heads the case has of it; `stored`: heads known to be
/// on storage.
///
/// The watcher subscribes to the handle's changes and peer states here, before reading its heads, so that
/// no change slips between the two: a change subscribed to only later (when the spawned task first runs)
/// would leave `heads` stale and the case "syncing" for ever.
pub(crate) fn watch(
    shared: &Arc<Shared>,
    runtime: &tokio::runtime::Handle,
    case: &CaseId,
    doc: &DocId,
    handle: DocHandle,
    case_heads: Vec<automerge::ChangeHash>,
    stored: Vec<automerge::ChangeHash>,
) -> Arc<Mutex<DocSync>> {
    let mut cases = lock(&shared.cases);
    let entry = cases.entry(case.clone()).or_default();
    entry.missing.remove(doc);
    if let Some(w) = entry.docs.get(doc) {
        return w.sync.clone();
    }
    let changes = handle.changes();
    let (peers, peer_updates) = handle.peers();
    let heads = handle.with_document(|d| d.get_heads());
    let sync = Arc::new(Mutex::new(DocSync {
        peers,
        heads,
        case_heads: case_heads.clone(),
        notified: case_heads,
        stored,
        ..Default::default()
    }));
    let watcher = runtime.spawn(watch_doc(shared.clone(), changes, peer_updates, sync.clone())).abort_handle();
    entry.docs.insert(doc.clone(), WatchedDoc { handle, sync: sync.clone(), watcher });
    shared.wake.notify_one();
    sync
}

/// Follow one document: its per-connection states and its heads.
async fn watch_doc(
    shared: Arc<Shared>,
    changes: impl Stream<Item = DocumentChanged>,
    peers: impl Stream<Item = HashMap<ConnectionId, PeerDocState>>,
    sync: Arc<Mutex<DocSync>>,
) {
    let mut peers = std::pin::pin!(peers);
    let mut changes = std::pin::pin!(changes);
    shared.wake.notify_one();
    loop {
        tokio::select! {
            Some(p) = peers.next() => lock(&sync).peers.extend(p),
            Some(c) = changes.next() => lock(&sync).heads = c.new_heads,
            else => break,
        }
        shared.wake.notify_one();
    }
}

/// The monitor: runs until the client stops.
pub(crate) async fn run(shared: Arc<Shared>, dialer: DialerHandle<SyncError>, repo: Repo, relay: RelayClient) {
    let mut events = dialer.events();
    let mut events_open = true;
    let mut retry = tokio::time::interval(RETRY_EVERY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut catch_up = false;
        tokio::select! {
            _ = shared.wake.notified() => {}
            ev = events.next(), if events_open => match ev {
                Some(DialerEvent::Connected { .. }) => catch_up = true,
                Some(DialerEvent::Disconnected { .. }) => shared.set_link(Link::Offline),
                Some(DialerEvent::Reconnecting { .. }) => shared.set_link(Link::Connecting),
                Some(DialerEvent::MaxRetriesReached) => {
                    shared.set_link(Link::Failed(SyncError::Network("gave up reconnecting".into())));
                }
                // The dialer's `Refused` progress report carries the reason and set the link already.
                Some(DialerEvent::PermanentFailure) => {}
                None => events_open = false,
            },
            _ = retry.tick() => catch_up = dialer.is_connected(),
        }
        let opened = std::mem::take(&mut *lock(&shared.opened));
        if !opened.is_empty() {
            let cases = lock(&shared.cases);
            catch_up |= opened.iter().any(|d| cases.values().any(|c| c.missing.contains(&DocId::from(d.clone()))));
        }
        if catch_up {
            let (shared2, relay2) = (shared.clone(), relay.clone());
            tokio::task::spawn_blocking(move || register_pending(&shared2, &relay2));
            tokio::spawn(find_missing(shared.clone(), repo.clone()));
        }
        shared.refresh(dialer.connection_id());
    }
}

/// Register with the relay the local documents it does not know yet (blocking HTTP). Stops at the first
/// failure that the next attempt may not have (network, not a member, refused token).
pub(crate) fn register_pending(shared: &Shared, relay: &RelayClient) {
    let pending: Vec<(CaseId, DocId)> = lock(&shared.cases)
        .iter()
        .flat_map(|(c, w)| w.unregistered.iter().map(move |d| (c.clone(), d.clone())))
        .collect();
    for (case, doc) in pending {
        let done = match relay.register_document(&case, &doc) {
            // Conflict: registered already (by another member, or by us before a crash).
            Ok(()) | Err(SyncError::Conflict { .. }) => {
                if let Err(e) = shared.store.set_relay_knows(&case, &doc) {
                    tracing::warn!(error = %e, "cannot record a registered document");
                }
                true
            }
            // A viewer cannot register: its documents do not reach others anyway.
            Err(SyncError::Forbidden { .. }) => true,
            Err(e) => {
                tracing::debug!(case = %case, error = %e, "document registration postponed");
                false
            }
        };
        if !done {
            break;
        }
        if let Some(w) = lock(&shared.cases).get_mut(&case) {
            w.unregistered.remove(&doc);
        }
    }
}

/// Look again for the notes documents of watched cases that neither this device nor the relay had.
async fn find_missing(shared: Arc<Shared>, repo: Repo) {
    let missing: Vec<(CaseId, DocId)> =
        lock(&shared.cases).iter().flat_map(|(c, w)| w.missing.iter().map(move |d| (c.clone(), d.clone()))).collect();
    let runtime = tokio::runtime::Handle::current();
    let finds = missing.into_iter().map(|(case, doc)| {
        let repo = repo.clone();
        async move {
            let found = tokio::time::timeout(FIND_TIMEOUT, repo.find(doc.to_document_id())).await;
            (case, doc, found)
        }
    });
    for (case, doc, found) in futures::future::join_all(finds).await {
        let Ok(Ok(Some(handle))) = found else {
            continue;
        };
        // It came from the relay, or the case created it since (its first notes): registering it is then
        // needed, and harmless otherwise.
        if !shared.store.relay_knows(&case, &doc).unwrap_or(false)
            && let Some(w) = lock(&shared.cases).get_mut(&case)
        {
            w.unregistered.insert(doc.clone());
        }
        // The case has none of it yet: announced as a remote change.
        // Nothing of it is known to be on storage (samod may have received it from the relay).
        watch(&shared, &runtime, &case, &doc, handle, Vec::new(), Vec::new());
        shared.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;

    use super::*;
    use crate::store::Store;

    /// A change made right after `watch` returns — before its task first runs — still reaches the
    /// document's recorded heads. (The watcher used to subscribe from inside the task, so such a change was
    /// missed and the case stayed "syncing" until the timeout.)
    #[test]
    fn a_change_right_after_watch_reaches_the_recorded_heads() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let repo = rt.block_on(Repo::builder(rt.handle().clone()).load());
        let handle = rt.block_on(repo.create(automerge::Automerge::new())).unwrap();
        let shared = Arc::new(Shared::new(Store::in_memory()));
        let case: CaseId = DocId::random();
        let before = handle.with_document(|d| d.get_heads());

        let sync = watch(
            &shared,
            rt.handle(),
            &case,
            &DocId::from(handle.document_id().clone()),
            handle.clone(),
            before.clone(),
            before.clone(),
        );
        // The watcher task has not run yet (current-thread runtime, not driven since the spawn).
        let after = handle.with_document(|d| {
            let mut tx = d.transaction();
            tx.put(automerge::ROOT, "k", "v").unwrap();
            tx.commit();
            d.get_heads()
        });
        assert_ne!(before, after);

        let seen = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    if lock(&sync).heads == after {
                        return;
                    }
                    shared.wake.notified().await;
                }
            })
            .await
        });
        assert!(seen.is_ok(), "recorded heads {:?}, document heads {after:?}", lock(&sync).heads);
        rt.block_on(repo.stop());
    }
}
