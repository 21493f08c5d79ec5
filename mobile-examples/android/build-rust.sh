#!/usr/bin/env bash
# Build libcasebook_ffi.so for the app's ABIs with cargo-ndk into app/src/main/jniLibs/<abi>/, and generate
# the Kotlin bindings (bindings/generated/kotlin, compiled by the :casebook-bindings module).
# Needs the Android NDK (ANDROID_NDK_HOME, or Android Studio's SDK Manager → NDK) and rustup.
#
#   mobile-examples/android/build-rust.sh            # release
#   PROFILE=debug mobile-examples/android/build-rust.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."

profile="${PROFILE:-release}"
flag=(); [[ "$profile" == "release" ]] && flag=(--release)

rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
command -v cargo-ndk >/dev/null 2>&1 || cargo install cargo-ndk
# minSdk 26, as in app/build.gradle.kts.
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 --platform 26 -o "$here/app/src/main/jniLibs" \
  build -p casebook-ffi --lib "${flag[@]}"

# The Kotlin bindings come from the host build of the same code (library mode).
bindings/generate.sh
echo "Built $here/app/src/main/jniLibs/*/libcasebook_ffi.so and bindings/generated/kotlin"
