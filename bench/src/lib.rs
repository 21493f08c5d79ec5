//! # casebook-bench
//!
//! Load generator for the relay (issue 5). It drives many WebSocket clients against a relay with the
//! automerge-repo wire protocol — our relay (`casebook-server`, with accounts and tokens) or the reference
//! automerge-repo sync server (`bench/reference/server.mjs`, no auth) — the same way for both.
//!
//! Each client is a minimal wire client ([`wire`]): one WebSocket, CBOR `join`/`peer`/`request`/`sync`
//! messages and an in-memory Automerge document with its `sync::State`, so thousands of clients stay cheap.
//!
//! Workloads: [`idle`] (connect N, memory per connection), [`active`] (families editing at rising rates,
//! edit-to-member latency), [`catchup`] (replicas diverged offline, round trips and wire bytes), [`storm`]
//! (the relay restarts under N connected clients; time until all are up to date), [`cold`] (a relay with N
//! stored cases starts; time to the first byte of the first sync).
//! The binary (`relay-bench`) starts both relays ([`target`]) and prints one table; `bench/run.sh` is the
//! one command.

pub mod active;
pub mod catchup;
pub mod cold;
pub mod idle;
pub mod setup;
pub mod stats;
pub mod storm;
pub mod target;
pub mod wire;
