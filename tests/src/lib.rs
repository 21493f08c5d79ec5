//! Casebook end-to-end tests: see `tests/` (kill -9 durability, CLI) and the helper binaries in `src/bin/`.
