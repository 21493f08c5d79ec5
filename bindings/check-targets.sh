#!/usr/bin/env bash
# `cargo check` of casebook-ffi (with the `sync` feature) for Android (aarch64-linux-android) and iOS
# (aarch64-apple-ios) on a Linux machine without the Android NDK or Xcode.
#
# Pure Rust needs nothing; the one C dependency is ring (rustls' crypto provider), whose build script
# compiles C for the target. Without a target sysroot we compile it the way ring itself does for sysroot-less
# cross builds (musl, wasm): host clang with `--target=…`, `-nostdlibinc -DRING_CORE_NOSTDLIBINC=1`.
# ring's one Apple SDK header, <TargetConditionals.h>, is replaced by a three-line stub for the iOS check.
# This proves that the Rust code compiles for both targets; it links nothing. The real builds use the
# NDK (cargo-ndk) and Xcode: see mobile-examples/android/README.md and mobile-examples/ios/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(aarch64-linux-android aarch64-apple-ios)
if command -v rustup >/dev/null 2>&1; then
  rustup target add "${targets[@]}" >/dev/null 2>&1
fi
if ! command -v clang >/dev/null 2>&1; then
  echo "== installing clang (compiles ring's C for the check)"
  apt-get install -y clang llvm >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y clang llvm >/dev/null; }
fi
ar=$(command -v llvm-ar || ls /usr/bin/llvm-ar-* 2>/dev/null | head -1 || true)
ar=${ar:-ar}

stub=bindings/tests/.build/ios-sdk-stub
mkdir -p "$stub/include"
cat > "$stub/include/TargetConditionals.h" <<'H'
/* Stub for `cargo check --target aarch64-apple-ios` without Xcode (see bindings/check-targets.sh). */
#define TARGET_OS_MAC 1
#define TARGET_OS_IPHONE 1
#define TARGET_OS_OSX 0
H
nostd="-nostdlibinc -DRING_CORE_NOSTDLIBINC=1"

echo "== cargo check -p casebook-ffi --target aarch64-linux-android"
CC_aarch64_linux_android=clang AR_aarch64_linux_android="$ar" \
  CFLAGS_aarch64_linux_android="--target=aarch64-linux-android21 $nostd" \
  cargo check -q -p casebook-ffi --target aarch64-linux-android

echo "== cargo check -p casebook-ffi --target aarch64-apple-ios"
SDKROOT="$PWD/$stub" CC_aarch64_apple_ios=clang AR_aarch64_apple_ios="$ar" \
  CFLAGS_aarch64_apple_ios="--target=arm64-apple-ios13.0 $nostd -isystem $PWD/$stub/include -Wno-overriding-t-option" \
  cargo check -q -p casebook-ffi --target aarch64-apple-ios
