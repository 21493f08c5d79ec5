//! Health for load balancers and orchestrators: `/healthz` (the process answers) and `/readyz` (it can
//! serve: not shutting down, its storage answers within a second, and the data directory is in the format
//! this binary writes).
//!
//! The storage format version is kept at `relay/meta/format`: written when a data directory is created,
//! checked at every start. A directory written by a newer relay is refused at start (it could hold records
//! this binary would misread); an older one would be migrated here when a format change comes.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use casebook_core::storage::{Storage, StorageKey, key};

use crate::error::{Error, Result};
use crate::state::AppState;

/// The format of the relay's stored records that this binary reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Longest a readiness probe waits for storage.
const STORAGE_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

fn format_key() -> Result<StorageKey> {
    Ok(key(["relay", "meta", "format"])?)
}

/// The stored format version (`None` for a data directory written before versions were recorded).
fn stored_format(storage: &dyn Storage) -> Result<Option<u32>> {
    let Some(raw) = storage.load(&format_key()?)? else { return Ok(None) };
    let v = std::str::from_utf8(&raw).ok().and_then(|s| s.trim().parse().ok());
    v.map(Some).ok_or_else(|| Error::Config("the data directory's format version does not decode".into()))
}

/// At start: record the format of a new (or unversioned) data directory; refuse one from a newer relay.
pub(crate) fn check_format(storage: &dyn Storage) -> Result<()> {
    match stored_format(storage)? {
        Some(v) if v == FORMAT_VERSION => Ok(()),
        Some(v) if v > FORMAT_VERSION => Err(Error::Config(format!(
            "the data directory was written by a newer relay (format {v}; this relay reads format \
             {FORMAT_VERSION}): upgrade this relay"
        ))),
        // Format 0 does not exist; an unversioned directory holds format-1 records.
        Some(_) | None => {
            storage.put(&format_key()?, FORMAT_VERSION.to_string().as_bytes())?;
            storage.flush()?;
            Ok(())
        }
    }
}

/// Refuse data written by a newer relay, without writing anything (what `migrate` checks on its source).
pub(crate) fn refuse_newer_format(storage: &dyn Storage) -> Result<()> {
    match stored_format(storage)? {
        Some(v) if v > FORMAT_VERSION => Err(Error::Config(format!(
            "the data directory was written by a newer relay (format {v}; this relay reads format \
             {FORMAT_VERSION}): upgrade this relay"
        ))),
        _ => Ok(()),
    }
}

/// The body of `/readyz`.
#[derive(Debug, serde::Serialize)]
struct Readiness {
    ready: bool,
    /// `ok`, `unreachable` or `timeout`.
    storage: &'static str,
    /// The stored format version, when storage answered.
    format_version: Option<u32>,
    /// The format this binary serves.
    expected_format_version: u32,
    shutting_down: bool,
}

/// `GET /healthz`: the process is alive and answers HTTP.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when the relay can serve, 503 (with the reason in the JSON body) when not.
pub(crate) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.database.clone();
    let probe = tokio::task::spawn_blocking(move || stored_format(&*database));
    let (storage, format_version) = match tokio::time::timeout(STORAGE_PROBE_TIMEOUT, probe).await {
        Ok(Ok(Ok(v))) => ("ok", v),
        Ok(_) => ("unreachable", None),
        Err(_) => ("timeout", None),
    };
    let shutting_down = state.is_shutting_down();
    let ready = storage == "ok" && format_version == Some(FORMAT_VERSION) && !shutting_down;
    let body = Readiness { ready, storage, format_version, expected_format_version: FORMAT_VERSION, shutting_down };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use casebook_core::storage::MemoryStorage;

    #[test]
    fn a_new_directory_is_stamped_and_a_newer_one_refused() {
        let s = MemoryStorage::new();
        assert_eq!(stored_format(&s).unwrap(), None);
        check_format(&s).unwrap();
        assert_eq!(stored_format(&s).unwrap(), Some(FORMAT_VERSION));
        check_format(&s).unwrap();
        s.put(&format_key().unwrap(), b"2").unwrap();
        let e = check_format(&s).unwrap_err().to_string();
        assert!(e.contains("newer relay"), "{e}");
        s.put(&format_key().unwrap(), b"garbage").unwrap();
        assert!(check_format(&s).is_err());
    }
}
