//! # casebook-ffi
//!
//! Casebook's core for Kotlin (Android), Swift (iOS) and Python, through [uniffi] proc macros. A thin
//! layer: each object wraps a core type in `inner` and converts types (dates as ISO 8601 strings, enums
//! as uniffi enums, sizes as fixed-width integers); the logic — merging, storage, derived views, sync —
//! stays in `casebook-core`. The API is synchronous (edits are sub-millisecond; sync runs on the core's
//! own runtime), so Kotlin needs no kotlinx-coroutines. Events reach the app through foreign traits.
//!
//! # Layout
//! - [`store`]: [`Store`], the entry point: open a store at a path; create, list, open, delete cases;
//!   offline exchange files; observers.
//! - [`case`]: [`Case`], an open case: save, state, export; the lock and the change notifications.
//! - [`model`]: one file per part of the guide, mirroring the core's `model/`: its records and enums and
//!   the `Case` methods that read and write it (patient, decision window, critical situations,
//!   specialists, record requests, chronology, questions, appointments and notes, opinions, care team,
//!   tasks, costs, progress, the agenda, conflicts, collaborative text, exchange).
//! - [`observer`]: [`CaseObserver`], the foreign trait told when a case changed (here, from a relay, or
//!   from an imported file).
//! - `sync` (feature `sync`, on by default): [`Relay`] (accounts, devices, invites, members) and
//!   [`SyncClient`] (live sync of cases with a relay), with [`SyncObserver`].
//! - [`error`]: [`CasebookError`], the one error enum apps catch.
//!
//! # Invariants
//! - No logic of its own: every method is a core call plus conversions.
//! - No panic crosses the boundary: uniffi turns a panic into an `InternalException`; a throwing
//!   observer is caught and logged, never unwinds into the core.
//! - Observers are called without any lock held, so they may call back into the API.

uniffi::setup_scaffolding!();

pub mod case;
pub mod error;
pub mod model;
pub mod observer;
pub mod store;
#[cfg(feature = "sync")]
pub mod sync;

mod convert;

pub use case::Case;
pub use error::CasebookError;
pub use observer::{CaseObserver, ChangeOrigin};
pub use store::Store;
#[cfg(feature = "sync")]
pub use sync::{Relay, SyncClient, SyncObserver};
