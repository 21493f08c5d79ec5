//! # Casebook core
//!
//! A family's second-opinion case as an Automerge CRDT, persisted in a key/value [`storage`] (sled on
//! disk), editable offline by several caregivers whose edits merge without losing a word.
//!
//! # Layout
//! - [`store`]: [`Store`], the entry point: create, list, open and delete cases.
//! - [`case`]: [`Case`], an open case: save, state; [`autosave`]: save on idle (the durability policy).
//! - [`model`]: the parts of a case, one file each — reads, named writes and derived views.
//! - [`exchange`]: offline export/import of changes as a file.
//! - [`storage`]: the [`storage::Storage`] trait, its sled and in-memory implementations and the samod
//!   adapter. The only module that touches sled.
//! - [`blob_store`]: the [`blob_store::BlobStore`] trait: attachment bytes as plain files beside the
//!   key/value store (a directory, or memory in tests).
//! - `engine` (features `sync` or `sim`): the sans-IO sync engine — events in, effects out — that the
//!   sync client and the deterministic simulation both drive; `changes`: what a merge changed in a case.
//! - [`relay_api`]: the relay's HTTP routes and JSON bodies, shared by relay and sync client;
//!   [`invite_link`]: an invite as a `casebook://invite/…` link (and QR payload) phones can share.
//! - `sync` (feature `sync`): the sync client — the relay's HTTP API as typed calls, and `SyncClient`,
//!   which keeps the store's cases in sync with a relay over WebSocket (samod, rustls). The only module
//!   that opens sockets; without the feature the core has no tokio and no network code.
//! - `presence` (feature `sync`): who else is in a document ("Ben is in this appointment's notes"), in the
//!   wire format of automerge-repo 2.5's `Presence` — sans-IO; the sync client runs it.
//! - [`dates`], [`ids`], [`error`]: value types and the typed error.
//! - `schema`, `am`, `tracked_doc`, `guard` (private): document layout, typed Automerge access, chunked
//!   persistence, the panic guard in front of Automerge for outside bytes.
//!
//! The domain (`case`, `model`) is synchronous and does no I/O beyond the [`storage::Storage`] trait.

mod am;
pub mod autosave;
pub mod blob_store;
#[cfg(any(feature = "sync", feature = "sim"))]
mod bridge;
pub mod case;
pub mod changes;
pub mod dates;
#[cfg(any(feature = "sync", feature = "sim"))]
pub mod engine;
pub mod error;
pub mod exchange;
mod guard;
pub mod ids;
pub mod invite_link;
pub mod model;
#[cfg(feature = "sync")]
pub mod presence;
pub mod relay_api;
mod schema;
#[cfg(feature = "sim")]
pub mod sim;
pub mod storage;
pub mod store;
#[cfg(feature = "sync")]
pub mod sync;
mod tracked_doc;

pub use case::{Case, CaseState, save_shared};
pub use error::{Error, Result};
pub use ids::{CaseId, DocId};
pub use model::Keyed;
pub use schema::{SCHEMA_MAJOR, SCHEMA_MINOR};
pub use store::{CaseListing, RelayAccount, Store};
pub use tracked_doc::SaveStats;
