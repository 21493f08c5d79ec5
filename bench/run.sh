#!/usr/bin/env bash
# Relay benchmark (issue 5): our relay (casebook-server, release) vs the automerge-repo reference relay
# (bench/reference/server.mjs), every workload against both in the same run, one table on stdout.
#
#   bench/run.sh                       # full run at the sizes below (~30 min on 2 shared cores)
#   bench/run.sh --limit-secs 120      # extra arguments go to relay-bench (list options add to run.sh's)
#
# The sizes: the issue's (idle 1,000/5,000/10,000, 300×3 families, storm 1,000, cold 10,000), plus idle and
# storm at 200 to compare with earlier runs. Every workload at one size against one relay is bounded by
# --limit-secs; a size that does not finish is reported and the larger ones skipped for that relay.
# Idle runs last: after 10,000 connections the machine needs a moment before new sockets (the reference's
# active workload could not connect right after). For one workload, run relay-bench directly
# (`target/release/relay-bench --help`), e.g. `--ours target/release/casebook-server --workloads cold`.
# Our relay as several processes on one PostgreSQL database (issue 14; not part of the default run):
# `--ours-database postgres://postgres@127.0.0.1:5432` (an admin URL: each node count runs on a new
# database there, dropped at the end) and `--ours-nodes 1,2,3` (each count in turn; clients spread over the
# processes round robin, a family's members on different processes; setup through the first process's
# HTTP API); idle, active and catch-up only (storm and cold start need one sled process), e.g.
#   bench/run.sh --workloads active,idle --ours-nodes 1,2,3 --ours-database postgres://postgres@127.0.0.1:5432
# (with the reference left out: target/release/relay-bench --ours target/release/casebook-server … directly).
# Without --ours-database, our relay runs as one process on sled (--ours-nodes above 1 is refused).
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
  --workloads active,catchup,storm,cold,idle \
  --idle 200,1000,5000,10000 \
  --families 300 --members 3 --rates 0.25,0.5,1,2,4,8 --step-secs 8 \
  --catchup 1,10,100,1000 \
  --storm 200,1000 \
  --cold 10000 \
  --limit-secs 240 \
  "$@"
echo "# load after: $(uptime)"
