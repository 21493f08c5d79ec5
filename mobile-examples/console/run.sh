#!/usr/bin/env bash
# Casebook on the JVM, from Kotlin, in one command: builds the Rust library and its Kotlin bindings,
# compiles this example with the Android app's view-models, starts a local relay and runs the story of
# two siblings taking notes in the same consultation. Installs kotlinc (npm; it ships kotlinx-coroutines)
# and JNA (Debian) if missing. Not run by CI (scripts/test.sh runs bindings/tests/run.sh, which compiles
# and runs the same view-models).
#
#   mobile-examples/console/run.sh            # with a local relay
#   mobile-examples/console/run.sh --offline  # exchange files only
set -euo pipefail
cd "$(dirname "$0")/../.."
source bindings/tests/tools.sh
ensure_kotlin_tools

bindings/generate.sh >/dev/null
libdir="$(cd "${CARGO_TARGET_DIR:-target}/debug" && pwd)"
out=mobile-examples/console/.build
mkdir -p "$out"
echo "== compiling the example (bindings + Flow support + shared view-models + Main.kt)"
"$KOTLINC" -nowarn -include-runtime -jvm-target 17 -cp "$JNA_JAR:$COROUTINES_JAR" -d "$out/console.jar" \
  $(find bindings/generated/kotlin -name '*.kt') \
  $(find bindings/kotlin-support -name '*.kt' | sort) \
  $(find mobile-examples/android/shared-viewmodel/src/main/kotlin -name '*.kt' | sort) \
  mobile-examples/console/src/Main.kt

relay_pid=""
relay_dir=""
cleanup() {
  [[ -n "$relay_pid" ]] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null || true
  [[ -n "$relay_dir" ]] && rm -rf "$relay_dir"
}
trap cleanup EXIT
relay_url=""
if [[ "${1:-}" != "--offline" ]]; then
  cargo build -q -p casebook-server
  relay_dir=$(mktemp -d)
  NO_COLOR=1 "${CARGO_TARGET_DIR:-target}/debug/casebook-server" --listen 127.0.0.1:0 --data-dir "$relay_dir/data" \
    > "$relay_dir/log" 2>&1 &
  relay_pid=$!
  for _ in $(seq 1 100); do
    addr=$(sed -n 's/.*relay listening.*addr=\([^ ]*\).*/\1/p' "$relay_dir/log" | head -1)
    [[ -n "$addr" ]] && break
    sleep 0.1
  done
  [[ -n "${addr:-}" ]] || { echo "the relay did not start:"; cat "$relay_dir/log"; exit 1; }
  relay_url="http://$addr"
  echo "== relay listening at $relay_url"
fi
java -Djna.library.path="$libdir" -cp "$out/console.jar:$JNA_JAR:$COROUTINES_JAR" MainKt $relay_url
