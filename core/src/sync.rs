//! The sync client (feature `sync`): a local [`Store`](crate::Store) kept in sync with a Casebook relay.
//!
//! - [`relay_client`]: [`RelayClient`], the relay's HTTP API ([`crate::relay_api`]) as typed blocking calls
//!   (accounts, devices, cases, invites, members).
//! - [`client`]: [`SyncClient`], a samod repository over the store's storage on its own tokio runtime:
//!   `sync_case`, `status`, `wait_until_synced`, events.
//! - `dialer` (private): the samod `Dialer` — WebSocket (`ws://`, `wss://` with rustls) to `/v1/sync` with
//!   the device token, reconnecting with exponential backoff and jitter.
//! - `monitor`, `shared` (private): background watchers, status computation.
//! - [`status`]: [`CaseSyncStatus`], [`SyncEvent`], [`SyncObserver`].
//! - [`error`]: [`SyncError`], the errors an app acts on.
//!
//! TLS is rustls with the ring provider and the webpki roots everywhere: no OpenSSL, so the client builds
//! for Android and iOS. This module is the only place in the core that opens sockets.

pub mod client;
mod dialer;
pub mod error;
mod monitor;
pub mod relay_client;
mod shared;
pub mod status;

pub use client::{SyncClient, SyncOptions};
pub use error::{SyncError, SyncResult};
pub use relay_client::RelayClient;
pub use status::{CaseSyncStatus, SyncEvent, SyncObserver, SyncState};
