//! [`RelayPolicy`]: samod's share policy from membership. For each (document, peer) samod subscribes to a
//! stream of decisions; ours yields the current one, then a new one whenever the directory or a quota
//! changes it (member removed, role changed, device revoked, document registered, quota crossed). samod
//! applies updates to live connections at once.
//!
//! A peer is a device (`device-<device id>`, bound at the upgrade). A document belongs to a case (the case
//! document itself or a registered one). Unknown documents, unregistered documents, unknown or revoked
//! devices and non-members all get [`ShareConfig::none`]: samod then answers exactly as for a document it
//! does not have, so a non-member cannot even learn that a case exists.

use std::sync::Arc;

use futures::Stream;
use samod::{DocumentId, PeerId, ShareConfig, SharePolicy};

use crate::accounts::Directory;
use crate::membership;
use crate::quota::Quota;

/// The relay's share policy.
#[derive(Clone)]
pub(crate) struct RelayPolicy {
    dir: Arc<Directory>,
    quota: Arc<Quota>,
}

impl RelayPolicy {
    /// A policy over `dir` and `quota`.
    pub(crate) fn new(dir: Arc<Directory>, quota: Arc<Quota>) -> Self {
        RelayPolicy { dir, quota }
    }

    /// The current decision for a document and a peer.
    pub(crate) fn decide(&self, doc_id: &str, peer_id: &str) -> ShareConfig {
        let Some(device_id) = peer_id.strip_prefix("device-") else { return ShareConfig::none() };
        match self.dir.access(device_id, doc_id) {
            None => ShareConfig::none(),
            Some((case_id, role)) => membership::share_config(Some(role), self.quota.is_over(&case_id)),
        }
    }
}

impl SharePolicy for RelayPolicy {
    fn share(&self, doc_id: DocumentId, peer_id: PeerId) -> impl Stream<Item = ShareConfig> + Send + 'static {
        // Subscribe before the first decision so no change can slip in between.
        let changes = self.dir.subscribe();
        let state = (self.clone(), changes, doc_id.to_string(), peer_id.into_string(), None::<ShareConfig>);
        futures::stream::unfold(state, |(policy, mut changes, doc, peer, last)| async move {
            loop {
                if last.is_some() && changes.changed().await.is_err() {
                    return None;
                }
                changes.borrow_and_update();
                let decision = policy.decide(&doc, &peer);
                if Some(decision) != last {
                    return Some((decision, (policy, changes, doc, peer, Some(decision))));
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::DirectoryLimits;
    use casebook_core::relay_api::{Role, peer_id_for_device};
    use casebook_core::storage::{MemoryStorage, Storage};
    use futures::StreamExt;
    use samod::ShareAccess;

    #[test]
    fn stream_follows_membership_live() {
        let case = casebook_core::DocId::random().to_document_id();
        let case_s = case.to_string();
        let raw: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let dir = Arc::new(Directory::open(raw.clone(), DirectoryLimits::from(&crate::Config::default()), 0).unwrap());
        let quota = Arc::new(Quota::new(raw, dir.clone(), 0, Arc::default()));
        let a = dir.authenticate(&dir.create_account("A".into(), None, 0).unwrap().token).unwrap();
        let b = dir.authenticate(&dir.create_account("B".into(), None, 0).unwrap().token).unwrap();
        let policy = RelayPolicy::new(dir.clone(), quota);
        dir.register_case(&a, &case_s, 0).unwrap();
        assert_eq!(policy.decide(&case_s, &peer_id_for_device(&a.device_id)).access, ShareAccess::ReadWrite);
        assert_eq!(policy.decide(&case_s, "peer-impostor").access, ShareAccess::None);

        let mut stream = Box::pin(policy.share(case, PeerId::from(peer_id_for_device(&b.device_id))));
        futures::executor::block_on(async {
            assert_eq!(stream.next().await.unwrap().access, ShareAccess::None);
            let invite = dir.create_invite(&a, &case_s, Role::Viewer, 600, 0).unwrap();
            dir.redeem_invite(&b, &invite.code, 0).unwrap();
            assert_eq!(stream.next().await.unwrap().access, ShareAccess::ReadOnly);
            dir.change_role(&a, &case_s, &b.account_id, Role::Editor).unwrap();
            assert_eq!(stream.next().await.unwrap().access, ShareAccess::ReadWrite);
            dir.remove_member(&a, &case_s, &b.account_id).unwrap();
            assert_eq!(stream.next().await.unwrap().access, ShareAccess::None);
        });
    }
}
