//! Deterministic simulation (feature `sim`): a relay and 3–5 caregivers' devices in one process, over an
//! in-memory network that drops, duplicates, delays and reorders messages, with disconnections, relay
//! restarts from its stored data, app restarts and lost phones — all driven by one seeded scheduler.
//!
//! Every node runs samod-core, the sans-IO engine inside both the relay and the sync client, stepped by
//! hand ([`node`]) over Casebook's [`Storage`](crate::storage::Storage) in samod's layout (the relay's on
//! sled, on disk, in one seed of 8); each device
//! keeps its [`Case`](crate::Case) in sync with its node through the same bridge the sync client uses.
//! Not simulated: the relay's HTTP/WebSocket layer (accounts, tokens, frame limits) — the relay's own
//! tests and the crash harness cover it with real sockets.
//!
//! Time is virtual and every decision comes from the seed; so do document, item and Automerge actor ids
//! (a thread-local generator in `ids`, set only while a seed runs), and the messages one node emits at
//! once are put on the network in a fixed order (samod-core emits them in hash-map order). A seed replays
//! exactly, in another process too: the same schedule and the same documents, byte for byte.
//!
//! At the end of a seed the network heals and [`run_seed`] checks: every device holds identical documents
//! (and so does the relay's storage), every derived view is equal, and every piece of text that was
//! acknowledged — saved on a device, or reached the relay or another device before a phone was lost — is
//! present everywhere.

mod node;
mod ops;
mod world;

pub use world::{SimConfig, SimFailure, SimReport, run_seed};
