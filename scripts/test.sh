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

# The PDF packet and letter tests read the PDFs back with poppler (pdftotext, pdftoppm, pdffonts) and print
# names in Cyrillic, Arabic (DejaVu Sans), Chinese (WenQuanYi Micro Hei: the smallest CJK font package) and
# an emoji (Noto Color Emoji). Debian/Ubuntu package names; run as root (CI), no sudo.
pdf_packages=()
command -v pdftotext >/dev/null 2>&1 || pdf_packages+=(poppler-utils)
for pkg in fonts-dejavu-core fonts-wqy-microhei fonts-noto-color-emoji; do
  dpkg -s "$pkg" >/dev/null 2>&1 || pdf_packages+=("$pkg")
done
if [ "${#pdf_packages[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pdf_packages[@]}" >/dev/null
  else
    echo "install ${pdf_packages[*]} (poppler-utils, DejaVu Sans, WenQuanYi Micro Hei, Noto Color Emoji)" >&2
  fi
fi

# The relay binary's allocator (jemalloc, built from C by tikv-jemalloc-sys) needs make and a C compiler.
if ! command -v make >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make gcc >/dev/null
  else
    echo "install make and a C compiler (the relay binary builds jemalloc)" >&2
  fi
fi

# The relay's PostgreSQL backend is tested against a real server (each test creates its own database and
# drops it): PostgreSQL at 127.0.0.1:5432 with trust auth for `postgres` (CASEBOOK_TEST_POSTGRES to use
# another). Started if installed but stopped; installed from Debian's packages if missing.
pg_url=${CASEBOOK_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}
if ! pg_isready -q -d "$pg_url/postgres" 2>/dev/null; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "== installing PostgreSQL (Debian's package) for the relay's PostgreSQL tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    version=$(ls /etc/postgresql | sort -V | tail -1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    for _ in $(seq 1 30); do pg_isready -q -d "$pg_url/postgres" 2>/dev/null && break; sleep 1; done
    # A fresh Debian install asks for a password over TCP: give the test user one.
    if [ -z "${CASEBOOK_TEST_POSTGRES:-}" ] && ! psql -qAt -d "$pg_url/postgres" -c 'select 1' >/dev/null 2>&1; then
      su postgres -c "psql -qc \"alter user postgres password 'casebook-test'\"" >/dev/null
      pg_url=postgres://postgres:casebook-test@127.0.0.1:5432
    fi
  fi
  if ! pg_isready -q -d "$pg_url/postgres" 2>/dev/null; then
    echo "PostgreSQL does not answer at $pg_url: the relay's PostgreSQL tests need it (trust auth for" \
      "user postgres, or set CASEBOOK_TEST_POSTGRES=postgres://USER:PASSWORD@HOST:PORT)" >&2
    exit 1
  fi
fi
export CASEBOOK_TEST_POSTGRES=$pg_url

# Disk: incremental caches double what a one-off build writes, and CI machines' disks can be small.
export CARGO_INCREMENTAL=0
disk() { echo "   disk: target $(du -sh "${CARGO_TARGET_DIR:-target}" 2>/dev/null | cut -f1), free $(df -h . | awk 'NR==2 {print $4}')"; }
disk
echo "== fmt";    cargo fmt --all -- --check
echo "== clippy"; cargo clippy --workspace --all-targets -- -D warnings
echo "== tests";  cargo test --workspace
# The relay's whole suite once more with every test relay on PostgreSQL (a fresh database each, dropped
# after); the few tests about sled's files skip themselves with their reason.
echo "== relay suite on PostgreSQL"
relay_pg_started=$(date +%s)
CASEBOOK_TEST_BACKEND=postgres cargo test -p casebook-server --tests
echo "   relay suite on PostgreSQL: $(( $(date +%s) - relay_pg_started )) s"
disk
# The deterministic simulation (core feature `sim`, not part of the workspace build): 200 seeds.
echo "== simulation"
cargo clippy -p casebook-core --features sim --all-targets -- -D warnings
cargo test -p casebook-core --features sim --test simulation -- --nocapture
disk
echo "== bench smoke"; CASEBOOK_BENCH_QUICK=1 cargo bench -p casebook-core --bench core_bench
# The packet benchmark's smoke run in the test profile: `cargo bench` would build Typst optimized, ~8 minutes
# on a cold 2-core machine, for a run whose figures are not kept (BENCHMARKS.md has the real ones).
CASEBOOK_BENCH_QUICK=1 cargo test -p casebook-pdf --bench packet_bench
# Mobile bindings: cargo check for Android and iOS (installs the rustup targets), then the Kotlin (JVM) and
# Python scenarios through the generated bindings against a real relay (installs kotlinc and JNA).
echo "== bindings: android/ios check"; bindings/check-targets.sh
echo "== bindings: kotlin + python";   bindings/tests/run.sh
disk
echo "== all green"
