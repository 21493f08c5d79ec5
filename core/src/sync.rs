//! The sync client (feature `sync`): a local [`Store`](crate::Store) kept in sync with a Casebook relay.
//!
//! - [`relay_client`]: [`RelayClient`], the relay's HTTP API ([`crate::relay_api`]) as typed blocking calls
//!   (accounts, devices, cases, invites, members).
//! - [`client`]: [`SyncClient`], a samod repository over the store's storage on its own tokio runtime:
//!   attach open cases (live merge), push, share, join, status, wait, pause/resume, events.
//! - `driver` (private): carries out the effects of the sans-IO [`crate::engine::Engine`] on the runtime;
//!   states the lock rule; [`SharedCase`], an open case shared by the app and the client.
//! - `dialer` (private): the samod `Dialer` — WebSocket (`ws://`, `wss://` with rustls) to `/v1/sync` with
//!   the device token, reconnecting with exponential backoff and jitter.
//! - [`status`]: [`CaseSyncStatus`], [`SyncEvent`], [`SyncObserver`].
//! - [`error`]: [`SyncError`], the errors an app acts on.
//!
//! TLS is rustls with the ring provider and the webpki roots everywhere: no OpenSSL, so the client builds
//! for Android and iOS. This module is the only place in the core that opens sockets.

pub mod attachments;
pub mod client;
mod dialer;
mod driver;
pub mod error;
pub mod relay_client;
pub mod status;

pub use client::{SyncClient, SyncOptions};
pub use driver::SharedCase;
pub use error::{SyncError, SyncResult};
pub use relay_client::{RelayClient, TransferOptions};
pub use status::{CaseSyncStatus, SyncEvent, SyncObserver, SyncState, TransferDirection};
