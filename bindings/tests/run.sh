#!/usr/bin/env bash
# Tests through the generated bindings: the Kotlin scenario on the JVM (bindings + the Flow support of
# bindings/kotlin-support + the Android app's view-models) and the Python scenario, each against a relay
# the test starts. Installs what it needs on a fresh machine: kotlinc from npm into bindings/tests/.tools
# (it ships kotlinx-coroutines, which the generated `suspend` functions need), JNA from Debian
# (libjna-java). Java 17 must be present.
# After the Kotlin scenario, the Kotlin weak-network suite (WeakNetworkTest.kt): typing while our TCP proxy
# (tests/src/bin/tcp_proxy.rs) plays a bad network between the phones and the relay, against the library
# and relay built as they ship (release): its bounds are a phone's frame budget, which a debug build of
# automerge does not represent (CASEBOOK_KOTLIN_WEAK_NETWORK=0 skips it).
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

# --- Kotlin: the weak-network suite (typing while the proxy plays a bad network), against the jar above ---
if [[ "${CASEBOOK_KOTLIN_WEAK_NETWORK:-1}" == 1 ]]; then
# The library without the `pdf` feature: typing does not go through Typst, whose release build would add
# ~8 minutes to every run. Its API lacks the PDF functions, so the suite compiles against bindings
# generated from this very library.
cargo build -q --release -p casebook-ffi --no-default-features --features sync
cargo build -q --release -p casebook-server
cargo build -q -p casebook-tests --bin tcp_proxy
release="$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)"
rm -rf "$build/weak-bindings" && mkdir -p "$build/weak-bindings"
cargo run -q -p uniffi-bindgen -- generate "$release/libcasebook_ffi.so" --language kotlin \
  --out-dir "$build/weak-bindings" --no-format
echo "== kotlin weak network: compiling"
"$KOTLINC" -nowarn -include-runtime -jvm-target 17 -cp "$JNA_JAR:$COROUTINES_JAR" -d "$build/weak-network-test.jar" \
  $(find "$build/weak-bindings" -name '*.kt') bindings/tests/kotlin/WeakNetworkTest.kt
echo "== kotlin weak network: running"
# The JVM set up like a phone's runtime (ART): a concurrent collector, whose pauses stay well under a
# millisecond (the default G1 stops every thread for 7-70 ms per young collection here: JNA allocates
# 10-25 KB per call), and an app-sized heap (256 MB), so that collections come every few seconds. With a
# desktop-sized heap the JVM may not collect for minutes, and JNA's map of its live native allocations
# (one or more per call, freed once collected) grows past 100,000 entries: doubling it then stalls the
# keystroke that triggers it for 12-18 ms. Shenandoah where the JVM has it (OpenJDK builds of Debian,
# Ubuntu, Red Hat, Temurin), else ZGC.
weak_gc=-XX:+UseShenandoahGC
java "$weak_gc" -version >/dev/null 2>&1 || weak_gc=-XX:+UseZGC
CASEBOOK_SERVER="$release/casebook-server" CASEBOOK_PROXY="$libdir/tcp_proxy" java "$weak_gc" -Xmx256m \
  -Djna.library.path="$release" \
  -cp "$build/weak-network-test.jar:$JNA_JAR:$COROUTINES_JAR" weaknetwork.WeakNetworkTestKt
fi

# --- Python ---
echo "== python: running"
CASEBOOK_SERVER="$server" PYTHONPATH=bindings/generated/python python3 bindings/tests/python/test_bindings.py
