#!/usr/bin/env bash
# Build casebook-ffi and generate its Kotlin, Swift and Python bindings (uniffi library mode) into
# bindings/generated/{kotlin,swift,python}, with the shared library copied beside the Python module.
#
#   bindings/generate.sh            # debug build (what the tests use)
#   bindings/generate.sh --release  # release build
#
# Environment: CASEBOOK_FFI_FEATURES (cargo --features for casebook-ffi; default: the default features,
# which include `sync`), CARGO_TARGET_DIR (default: target/ at the workspace root).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
cargo_profile=()
if [[ "${1:-}" == "--release" ]]; then
  profile=release
  cargo_profile=(--release)
fi
features=()
if [[ -n "${CASEBOOK_FFI_FEATURES:-}" ]]; then
  features=(--features "$CASEBOOK_FFI_FEATURES")
fi

target_dir="${CARGO_TARGET_DIR:-target}"
case "$(uname -s)" in
  Darwin) lib="$target_dir/$profile/libcasebook_ffi.dylib" ;;
  *) lib="$target_dir/$profile/libcasebook_ffi.so" ;;
esac
out=bindings/generated

cargo build -p casebook-ffi "${cargo_profile[@]}" "${features[@]}"
rm -rf "$out"
mkdir -p "$out"
cargo run -q -p uniffi-bindgen -- generate "$lib" \
  --language kotlin --language swift --language python \
  --out-dir "$out" --no-format
# Library mode writes every language into one directory: sort them.
mkdir -p "$out/kotlin" "$out/swift" "$out/python"
mv "$out/org" "$out/kotlin/"
mv "$out"/*.swift "$out"/*.h "$out"/*.modulemap "$out/swift/"
mv "$out"/*.py "$out/python/"
cp "$lib" "$out/python/"
echo "generated: $out/kotlin (package org.casebook.ffi), $out/swift, $out/python; library: $lib"
