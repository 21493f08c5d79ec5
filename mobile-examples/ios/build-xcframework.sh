#!/usr/bin/env bash
# Build the Casebook core for iOS (device + simulator) as an XCFramework and generate its Swift bindings,
# into CasebookFFI/ (a Swift package the app depends on). Needs macOS with Xcode (xcodebuild, lipo) and
# rustup; run from anywhere.
#
#   mobile-examples/ios/build-xcframework.sh            # release
#   PROFILE=debug mobile-examples/ios/build-xcframework.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

if [[ "$(uname -s)" != "Darwin" ]]; then
  echo "build-xcframework.sh needs macOS with Xcode (xcodebuild, lipo)." >&2
  exit 1
fi
profile="${PROFILE:-release}"
flag=(); [[ "$profile" == "release" ]] && flag=(--release)
export IPHONEOS_DEPLOYMENT_TARGET=16.0

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "${targets[@]}"
for t in "${targets[@]}"; do
  cargo build -p casebook-ffi --lib "${flag[@]}" --target "$t"
done

# Swift bindings, from the host build of the same code (library mode reads the metadata in the library).
cargo build -p casebook-ffi --lib "${flag[@]}"
gen="$root/target/uniffi-swift"
rm -rf "$gen" && mkdir -p "$gen"
cargo run -q -p uniffi-bindgen -- generate "target/$profile/libcasebook_ffi.dylib" --language swift --out-dir "$gen"

# Headers: the C header and the module map (named module.modulemap, as an XCFramework expects).
headers="$root/target/uniffi-swift/include"
mkdir -p "$headers"
cp "$gen/casebook_ffiFFI.h" "$headers/"
cp "$gen/casebook_ffiFFI.modulemap" "$headers/module.modulemap"

# One simulator library for both simulator architectures.
sim="$root/target/ios-sim-universal/$profile"
mkdir -p "$sim"
lipo -create \
  "target/aarch64-apple-ios-sim/$profile/libcasebook_ffi.a" \
  "target/x86_64-apple-ios/$profile/libcasebook_ffi.a" \
  -output "$sim/libcasebook_ffi.a"

out="$here/CasebookFFI"
rm -rf "$out/casebook_ffiFFI.xcframework"
xcodebuild -create-xcframework \
  -library "target/aarch64-apple-ios/$profile/libcasebook_ffi.a" -headers "$headers" \
  -library "$sim/libcasebook_ffi.a" -headers "$headers" \
  -output "$out/casebook_ffiFFI.xcframework"
cp "$gen/casebook_ffi.swift" "$out/Sources/CasebookFFI/casebook_ffi.swift"
# The AsyncStreams over the observers (Store.caseChanges, SyncClient.statusUpdates/events), same module.
cp "$root/bindings/swift-support/CasebookStreams.swift" "$out/Sources/CasebookFFI/CasebookStreams.swift"
echo "Built $out/casebook_ffiFFI.xcframework and $out/Sources/CasebookFFI/{casebook_ffi,CasebookStreams}.swift"
