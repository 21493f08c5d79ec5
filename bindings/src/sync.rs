//! Sync with a relay (feature `sync`): the relay's HTTP API and the live sync client.
//!
//! - [`relay`]: [`Relay`], the relay's HTTP API (accounts, devices, cases, invites, members) as blocking
//!   calls, and its records.
//! - [`client`]: [`SyncClient`], a store kept in sync with a relay on the core's own runtime, its status
//!   records and the [`SyncObserver`] foreign trait; [`client::presence`]: who else is in an appointment's
//!   notes, and the [`PresenceObserver`] foreign trait.

pub mod client;
pub mod relay;

pub use client::presence::{CaregiverPresence, PeerPresence, PresenceObserver};
pub use client::{SyncClient, SyncObserver};
pub use relay::Relay;
