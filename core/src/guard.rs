//! A guard in front of Automerge for bytes from outside (exchange files, stored chunks, received
//! changes): automerge 0.12 panics on some malformed changes while applying them (out-of-range actor
//! indices, missing objects, inconsistent column lengths — found by `casebook-fuzz`). Every decode and
//! apply of such bytes runs under [`catch`], so a hostile or damaged input becomes a typed error. The
//! document being built is thrown away on a panic; nothing half-applied is kept.
//!
//! Inflation bombs: automerge inflates a compressed change chunk (type 2) with no bound, so a few
//! megabytes of deflate can become gigabytes. Casebook and samod only ever write uncompressed change
//! chunks (`Change::raw_bytes`), so [`change_chunk`] refuses every other chunk type before decoding.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Run `f`; a panic becomes `Err` with a short reason (Automerge's panic messages carry positions and
/// indices, never document content).
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let text = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!("malformed data rejected by the decoder ({})", text.chars().take(80).collect::<String>())
    })
}

/// Automerge's chunk magic bytes.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// `Err` unless `bytes` is an uncompressed change chunk (magic, checksum, type 1): a compressed chunk
/// (type 2) would be inflated without bound by the decoder.
pub(crate) fn change_chunk(bytes: &[u8]) -> Result<(), &'static str> {
    match bytes.get(..9) {
        Some(h) if h[..4] == MAGIC && h[8] == 1 => Ok(()),
        Some(h) if h[..4] == MAGIC && h[8] == 2 => Err("compressed change chunks are not accepted"),
        _ => Err("not a change chunk"),
    }
}
