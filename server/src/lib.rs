//! # casebook-server
//!
//! Casebook's relay: caregivers' phones sync their cases through it, each whenever it has a network.
//! It speaks the automerge-repo sync protocol over an authenticated WebSocket (samod), keeps every case in
//! one sled database through the core's [`casebook_core::storage`], and serves the small HTTP API of
//! [`casebook_core::relay_api`] for accounts, devices, cases, invites and members.
//!
//! ```no_run
//! # async fn demo() -> casebook_server::Result<()> {
//! let dir = std::path::Path::new("/tmp/relay-data");
//! let relay = casebook_server::Relay::start(casebook_server::Config::for_tests(dir)).await?;
//! println!("sync at {}/v1/sync, API at {}", relay.url(), relay.http_url());
//! relay.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`config`]: [`Config`], the flags/environment and every limit with its default.
//! - `relay`: [`Relay::start`], [`RelayHandle`] (address, URL, graceful shutdown), [`run`],
//!   [`shutdown_signal`].
//! - `api`: HTTP handlers and the router; JSON extractors whose rejections are JSON errors.
//! - `sync`: the `/v1/sync` WebSocket: upgrade checks, the per-connection pump, close codes.
//! - `demux`: one WebSocket's sync messages routed to the repository of the case each is about.
//! - `cases`: one samod repository per case in use, plus the lobby that answers handshakes.
//! - `inbound`: the pre-check of inbound sync messages in front of samod (hostile Bloom filters, compressed
//!   changes, and the dry run of a member's changes on a fork of the document).
//! - `auth`: bearer tokens, the authenticated-device and client-address extractors.
//! - `accounts`: the directory of accounts, devices, cases, documents, members, link codes, invites —
//!   in memory, persisted under `relay/…` keys.
//! - `membership`: the role rules (pure).
//! - `policy`: samod's share policy from membership, with live updates.
//! - `quota`: per-case storage accounting and the samod storage wrapper that feeds it.
//! - `limits`: per-address token-bucket rate limits, the inbound budget of a sync connection (pure) and
//!   client address resolution.
//! - `connections`: live sync connections by device (revocation, shutdown).
//! - `seen`: when each device last synced each case and was last connected (in memory, saved every 30 s).
//! - `secret`: tokens, codes, hashes.
//! - `detachable`: the database handle that shutdown cuts (samod never releases its storage).
//! - `metrics`: counters and the Prometheus text.
//! - [`migrate`]: `casebook-server migrate --from-sled DIR --to URL`, a stopped relay's sled data directory
//!   copied into PostgreSQL and verified.
//! - `tls`, `listener`: rustls listener, client address for both listeners.
//! - `logging`: the tracing subscriber and its content guard.
//! - [`error`]: [`Error`] and its mapping to HTTP status + JSON body.
//! - `state`: what handlers share.
//!
//! # Invariants
//! - A device's samod peer id is bound at the upgrade to the device its token authenticates.
//! - A non-member learns nothing about a case: API answers and sync answers are those for an unknown one.
//! - Tokens and codes are stored only as SHA-256 hashes; codes are single use.
//! - Logs carry ids and counts only.
//! - Only the core's `SledStorage` names sled.

pub mod config;
pub mod error;

mod accounts;
mod api;
mod auth;
pub mod backup;
mod blobs;
mod bus;
mod cases;
mod cluster;
mod connections;
mod demux;
mod detachable;
mod durable;
mod health;
mod inbound;
mod limits;
mod listener;
mod logging;
mod membership;
mod metrics;
pub mod migrate;
mod pg_storage;
mod policy;
mod probe;
mod quota;
mod relay;
mod secret;
mod seen;
mod state;
mod sync;
mod tls;

pub use config::{Config, LogFormat};
pub use error::{Error, Result};
pub use logging::{init_logging, init_logging_as};
pub use pg_storage::PgStorage;
pub use probe::probe;
pub use relay::{Relay, RelayHandle, run, shutdown_signal};
