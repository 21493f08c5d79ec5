//! [`Phone`]: a caregiver's device in an end-to-end test — a real sled store in a temp dir, an account on
//! the relay, and a sync client while it is online.

use std::time::Duration;

use casebook_core::Store;
use casebook_core::relay_api::DeviceCredentials;
use casebook_core::sync::{RelayClient, SharedCase, SyncClient};

/// How long [`Phone::sync`] waits for a case to be up to date.
pub const WAIT: Duration = Duration::from_secs(30);

/// A device: its store, its credentials, and its sync client when online. Panics on any failure (a test
/// helper).
pub struct Phone {
    /// The device's store (sled in [`Phone`]'s temp dir).
    pub store: Store,
    /// The sync client while online.
    pub sync: Option<SyncClient>,
    /// The device's credentials.
    pub creds: DeviceCredentials,
    _dir: tempfile::TempDir,
}

impl Phone {
    /// A new account called `name` on the relay at `url` (`http://…`), on a fresh store; offline.
    pub fn new(url: &str, name: &str) -> Self {
        init_logging();
        let creds = RelayClient::new(url).expect("relay URL").create_account(name, None).expect("an account");
        Self::of(&creds)
    }

    /// Another device with the same credentials (a fresh store); offline.
    pub fn of(creds: &DeviceCredentials) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(dir.path()).expect("a store");
        Phone { store, sync: None, creds: creds.clone(), _dir: dir }
    }

    /// Go online with the relay at `url` (after going offline if it was online).
    pub fn online(&mut self, url: &str) -> &SyncClient {
        self.offline();
        self.sync = Some(SyncClient::start(&self.store, url, self.creds.clone()).expect("a sync client"));
        self.client()
    }

    /// Go offline (the sync client stops).
    pub fn offline(&mut self) {
        if let Some(s) = self.sync.take() {
            s.stop().expect("the sync client stops");
        }
    }

    /// The sync client; panics when offline.
    pub fn client(&self) -> &SyncClient {
        self.sync.as_ref().expect("online")
    }

    /// Wait (up to [`WAIT`]) until `case` holds everything the relay held when asked.
    pub fn sync(&self, case: &SharedCase) {
        let s = self.client();
        s.block_on(s.sync_and_wait(case, WAIT)).expect("the case syncs");
    }
}

/// Log to the test's captured output at the levels of `RUST_LOG` (nothing when it is unset): a failed
/// test then shows what the clients and the relay did.
fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
