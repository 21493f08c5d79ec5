#!/usr/bin/env bash
# Relay benchmark (issue 5): our relay (casebook-server, release) vs the automerge-repo reference relay
# (bench/reference/server.mjs), every workload against both in the same run, one table on stdout.
#
#   bench/run.sh                       # full run (defaults of relay-bench: idle 1000,5000,10000; 300×3 families; …)
#   bench/run.sh --idle 100 --families 20 --rates 1,4 --step-secs 5 --catchup 1,10,100   # a quicker one
#
# Extra arguments go to relay-bench (`cargo run --release -p casebook-bench --bin relay-bench -- --help`).
# Needs Node.js >= 20 and npm for the reference relay.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "# $(date -u +%FT%TZ) · nproc $(nproc) · $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) · $(grep MemTotal /proc/meminfo | xargs)"
echo "# load before: $(uptime)"

cargo build --release -p casebook-server -p casebook-bench

# The reference relay's npm packages (pinned in bench/reference/package.json). cbor-x's optional native
# packages are absent from this registry: --omit=optional (cbor-x then uses its pure-JS codec).
if [ ! -d bench/reference/node_modules/@automerge/automerge-repo-storage-nodefs ]; then
  (cd bench/reference && npm install --no-save --omit=optional --no-audit --no-fund)
fi

# 10,000 clients need 10,000 descriptors in the load generator and as many in each relay.
ulimit -n "$(ulimit -Hn)" || true
echo "# fd limit: $(ulimit -n)"

target/release/relay-bench \
  --ours target/release/casebook-server \
  --reference bench/reference/server.mjs \
  "$@"
echo "# load after: $(uptime)"
