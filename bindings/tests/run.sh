#!/usr/bin/env bash
# Tests through the generated bindings: the Kotlin scenario on the JVM (bindings + the Flow support of
# bindings/kotlin-support + the Android app's view-models) and the Python scenario, each against a relay
# the test starts. Installs what it needs on a fresh machine: kotlinc from npm into bindings/tests/.tools
# (it ships kotlinx-coroutines, which the generated `suspend` functions need), JNA from Debian
# (libjna-java). Java 17 must be present.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
tools=bindings/tests/.tools
build=bindings/tests/.build
KOTLIN_VERSION=2.4.20

# --- tools ---
source bindings/tests/tools.sh
ensure_kotlin_tools

# --- the library, its bindings and the relay ---
bindings/generate.sh
cargo build -q -p casebook-server
server="$(cd "${CARGO_TARGET_DIR:-target}/debug" && pwd)/casebook-server"
libdir="$(cd "${CARGO_TARGET_DIR:-target}/debug" && pwd)"

# --- Kotlin: bindings + Flow support + shared view-models + the scenario, compiled together ---
rm -rf "$build" && mkdir -p "$build"
echo "== kotlin: compiling (bindings, kotlin-support, shared-viewmodel, test)"
"$KOTLINC" -nowarn -include-runtime -jvm-target 17 -cp "$JNA_JAR:$COROUTINES_JAR" -d "$build/kotlin-test.jar" \
  $(find bindings/generated/kotlin -name "*.kt") \
  $(find bindings/kotlin-support -name '*.kt' | sort) \
  $(find mobile-examples/android/shared-viewmodel/src/main/kotlin -name '*.kt' | sort) \
  bindings/tests/kotlin/BindingsTest.kt
echo "== kotlin: running"
CASEBOOK_SERVER="$server" java -Djna.library.path="$libdir" -cp "$build/kotlin-test.jar:$JNA_JAR:$COROUTINES_JAR" BindingsTestKt

# --- Python ---
echo "== python: running"
CASEBOOK_SERVER="$server" PYTHONPATH=bindings/generated/python python3 bindings/tests/python/test_bindings.py
