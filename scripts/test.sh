#!/usr/bin/env bash
# Every test Casebook has, on a fresh machine: installs what it needs, then formatting, lints, the whole
# test suite (unit, property, store conformance, kill -9 durability, CLI end-to-end) and a benchmark smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."

# Toolchain components (the machine's Rust comes from rustup).
if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

# The CLI's calendar test parses the exported .ics with a real iCalendar parser (Python's icalendar).
if ! python3 -c "import icalendar" >/dev/null 2>&1; then
  python3 -m pip install --quiet icalendar
fi

# Disk: incremental caches double what a one-off build writes, and CI machines' disks can be small.
export CARGO_INCREMENTAL=0
disk() { echo "   disk: target $(du -sh "${CARGO_TARGET_DIR:-target}" 2>/dev/null | cut -f1), free $(df -h . | awk 'NR==2 {print $4}')"; }
disk
echo "== fmt";    cargo fmt --all -- --check
echo "== clippy"; cargo clippy --workspace --all-targets -- -D warnings
echo "== tests";  cargo test --workspace
disk
# The deterministic simulation (core feature `sim`, not part of the workspace build): 200 seeds.
echo "== simulation"
cargo clippy -p casebook-core --features sim --all-targets -- -D warnings
cargo test -p casebook-core --features sim --test simulation -- --nocapture
disk
echo "== bench smoke"; CASEBOOK_BENCH_QUICK=1 cargo bench -p casebook-core --bench core_bench
# Mobile bindings: cargo check for Android and iOS (installs the rustup targets), then the Kotlin (JVM) and
# Python scenarios through the generated bindings against a real relay (installs kotlinc and JNA).
echo "== bindings: android/ios check"; bindings/check-targets.sh
echo "== bindings: kotlin + python";   bindings/tests/run.sh
disk
echo "== all green"
