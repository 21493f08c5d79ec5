//! Casebook end-to-end tests: see `tests/` (kill -9 durability, CLI) and the helper binaries in `src/bin/`.

pub mod bytes;
mod cli_stores;
pub mod in_process_relay;
pub mod node;
pub mod phone;
pub mod proxy;
mod relay_process;
pub mod weak;

pub use cli_stores::CliStores;
pub use in_process_relay::InProcessRelay;
pub use phone::Phone;
pub use relay_process::{RelayProcess, build_bin, free_port, relay_bin};
