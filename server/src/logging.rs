//! Structured logs with `tracing`: `RUST_LOG` filters (default `info`), under a guard that no filter can
//! lift: other crates log at most at `info`. Their debug and trace events print what passes through them —
//! tungstenite prints WebSocket frames, samod and automerge print sync messages, sled prints stored values —
//! and all of those carry note text. The relay's own events carry ids and counts only: never display names,
//! device names, tokens, note text or diagnoses.
//!
//! `--log-format json` writes one JSON object per line (`timestamp`, `level`, `target`, `fields`) for log
//! collectors; the same guard applies.

use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry, fmt};

use crate::config::LogFormat;

/// Whether an event of `target` at `level` may be logged at all.
pub(crate) fn allowed(target: &str, level: &Level) -> bool {
    let ours = target == "casebook_server" || target.starts_with("casebook_server::");
    ours || *level <= Level::INFO
}

/// Install the global subscriber writing text lines (tests may install their own). Does nothing if one is
/// already installed.
pub fn init_logging() {
    init_logging_as(LogFormat::Text)
}

/// Install the global subscriber writing `format` to stdout (the binary does, with `--log-format`). Does
/// nothing if one is already installed.
pub fn init_logging_as(format: LogFormat) {
    let _ = tracing_subscriber::registry().with(layer(format, std::io::stdout)).try_init();
}

/// The guarded, `RUST_LOG`-filtered layer writing `format` to what `writer` makes.
fn layer<W>(format: LogFormat, writer: W) -> Box<dyn Layer<Registry> + Send + Sync>
where
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let guard = filter_fn(|m| allowed(m.target(), m.level()));
    match format {
        LogFormat::Text => fmt::layer().with_writer(writer).with_filter(guard).with_filter(env).boxed(),
        LogFormat::Json => fmt::layer().json().with_writer(writer).with_filter(guard).with_filter(env).boxed(),
    }
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

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_are_json_objects_and_keep_the_guard() {
        let buf = Buffer::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::registry().with(layer(LogFormat::Json, move || out.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "casebook_server::sync", case = "c1", "case loaded");
            tracing::debug!(target: "sled::pagecache", "a stored value");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "casebook_server::sync");
        assert_eq!(v["fields"]["message"], "case loaded");
        assert_eq!(v["fields"]["case"], "c1");
        assert!(v["timestamp"].is_string());
    }
}
