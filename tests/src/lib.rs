//! Casebook end-to-end tests: see `tests/` (kill -9 durability, CLI) and the helper binaries in `src/bin/`.

pub mod proxy;
mod relay_process;
pub mod weak;

pub use relay_process::{RelayProcess, build_bin, free_port, relay_bin};
