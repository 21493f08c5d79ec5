//! Structured logs with `tracing`: `RUST_LOG` filters (default `info`), under a guard that no filter can
//! lift: other crates log at most at `info`. Their debug and trace events print what passes through them —
//! tungstenite prints WebSocket frames, samod and automerge print sync messages, sled prints stored values —
//! and all of those carry note text. The relay's own events carry ids and counts only: never display names,
//! device names, tokens, note text or diagnoses.

use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Whether an event of `target` at `level` may be logged at all.
pub(crate) fn allowed(target: &str, level: &Level) -> bool {
    let ours = target == "casebook_server" || target.starts_with("casebook_server::");
    ours || *level <= Level::INFO
}

/// Install the global subscriber (the binary does; tests may install their own). Does nothing if one is
/// already installed.
pub fn init_logging() {
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let layer = fmt::layer().with_filter(filter_fn(|m| allowed(m.target(), m.level()))).with_filter(env);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_crates_never_log_below_info() {
        assert!(!allowed("samod_core::actors::document", &Level::DEBUG));
        assert!(!allowed("samod::io_loop", &Level::TRACE));
        assert!(!allowed("tungstenite::protocol", &Level::TRACE));
        assert!(!allowed("sled::pagecache", &Level::DEBUG));
        assert!(allowed("samod_core::actors::hub", &Level::WARN));
        assert!(allowed("hyper", &Level::INFO));
        assert!(allowed("casebook_server::sync", &Level::TRACE));
        assert!(!allowed("casebook_server_evil", &Level::TRACE));
    }
}
