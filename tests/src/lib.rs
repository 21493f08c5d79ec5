//! Casebook end-to-end tests: see `tests/` (kill -9 durability, CLI) and the helper binaries in `src/bin/`.

pub mod bytes;
pub mod in_process_relay;
pub mod node;
pub mod proxy;
mod relay_process;
pub mod weak;

pub use in_process_relay::InProcessRelay;
pub use relay_process::{RelayProcess, build_bin, free_port, relay_bin};
