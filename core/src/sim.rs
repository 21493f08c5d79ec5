//! Deterministic simulation (feature `sim`): a relay and 3–5 caregivers' devices in one process, over an
//! in-memory network that drops, duplicates, delays and reorders messages, with disconnections, relay
//! restarts from its stored data, app restarts and lost phones — all driven by one seeded scheduler.
//!
//! Every node runs samod-core, the sans-IO engine inside both the relay and the sync client, stepped by
//! hand ([`node`]) over Casebook's [`Storage`](crate::storage::Storage) in samod's layout (the relay's on
//! sled, on disk, in one seed of 8). Each device ([`device`]) runs the apps' own sync engine
//! ([`crate::engine`]) — the very code `SyncClient` drives on tokio — with a synchronous executor of its
//! effects: samod look-ups, exchanges between the open [`Case`](crate::Case) and samod through the same
//! bridge, membership answers. The world only plays the users and the network; a sync is a save and the
//! case's documents handed to the engine, and other devices' changes reach an open case only by the
//! engine's live merge. [`EngineSabotage`] plants a bug in the engine: the simulation must then fail.
//! Not simulated: the relay's HTTP/WebSocket layer (accounts, tokens, frame limits, document
//! registration) — the relay's own tests and the crash harness cover it with real sockets.
//!
//! Time is virtual and every decision comes from the seed; so do document, item and Automerge actor ids
//! (a thread-local generator in `ids`, set only while a seed runs), and the messages one node emits at
//! once are put on the network in a fixed order (samod-core emits them in hash-map order). A seed replays
//! exactly, in another process too: the same schedule and the same documents, byte for byte.
//!
//! At the end of a seed the network heals (every caregiver syncs once, then only the network and the
//! engines move changes) and [`run_seed`] checks: every device holds identical documents (and so does the
//! relay's storage), every device's engine then says the case is up to date and saved to the relay, every
//! derived view is equal, and every piece of text that was acknowledged — saved on a device, or reached the
//! relay or another device before a phone was lost — is present everywhere.

mod device;
mod node;
mod ops;
mod world;

pub use world::{EngineSabotage, SimConfig, SimFailure, SimReport, run_seed};
