//! The relay's [`Error`] and its mapping to HTTP responses with a JSON [`ApiError`] body.
//!
//! Messages carry ids and reasons only: never display names, note text or other case content.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use casebook_core::relay_api::ApiError;
use casebook_core::storage::StorageError;

/// Result alias of the relay.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the relay.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing, malformed or unknown credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Authenticated, but the role does not allow this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such thing, or nothing the caller may know of (identical either way).
    #[error("{0}")]
    NotFound(&'static str),
    /// A request value that does not parse or is out of range.
    #[error("{0}")]
    InvalidInput(String),
    /// The request conflicts with the current state (already registered, already a member, …).
    #[error("{0}")]
    Conflict(&'static str),
    /// A body over the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// A count limit (devices, members, documents, invites, cases) is reached.
    #[error("{0}")]
    LimitReached(String),
    /// Too many attempts from this client address; retry after the given time.
    #[error("too many {what} from this address; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// What was limited.
        what: &'static str,
        /// When the next attempt will be accepted.
        retry_after: Duration,
    },
    /// The case is over its storage quota.
    #[error("the case is over its storage quota on this relay; it is read-only here until it shrinks")]
    QuotaExceeded,
    /// The relay cannot take this now (connection limit, shutting down).
    #[error("{0}")]
    Unavailable(&'static str),
    /// Storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    /// Invalid configuration (flags, TLS files).
    #[error("configuration: {0}")]
    Config(String),
    /// I/O outside storage (binding the listener, reading TLS files).
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A bug or an unexpected state.
    #[error("internal error: {0}")]
    Internal(String),
    /// `casebook-server migrate` refused or failed ([`crate::migrate`]).
    #[error("migration: {0}")]
    Migrate(#[from] crate::migrate::MigrateError),
}

impl Error {
    /// The HTTP status and the stable machine code of [`ApiError::error`].
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid_input"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Error::LimitReached(_) => (StatusCode::CONFLICT, "conflict"),
            Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Error::QuotaExceeded => (StatusCode::INSUFFICIENT_STORAGE, "quota_exceeded"),
            Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Error::Storage(_) | Error::Config(_) | Error::Io(_) | Error::Internal(_) | Error::Migrate(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }

    /// The JSON body.
    pub fn to_api_error(&self) -> ApiError {
        let (_, code) = self.status_and_code();
        let message = match self {
            // Internal details stay in the log.
            Error::Storage(_) | Error::Config(_) | Error::Io(_) | Error::Internal(_) | Error::Migrate(_) => {
                "internal error on the relay".to_string()
            }
            other => other.to_string(),
        };
        ApiError { error: code.to_string(), message }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = (status, Json(self.to_api_error())).into_response();
        if let Error::RateLimited { retry_after, .. } = &self {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        let cases: Vec<(Error, u16, &str)> = vec![
            (Error::Unauthorized("x"), 401, "unauthorized"),
            (Error::Forbidden("x"), 403, "forbidden"),
            (Error::NotFound("x"), 404, "not_found"),
            (Error::InvalidInput("x".into()), 400, "invalid_input"),
            (Error::Conflict("x"), 409, "conflict"),
            (Error::TooLarge("x".into()), 413, "too_large"),
            (Error::RateLimited { what: "x", retry_after: Duration::from_secs(3) }, 429, "rate_limited"),
            (Error::QuotaExceeded, 507, "quota_exceeded"),
            (Error::Unavailable("x"), 503, "unavailable"),
            (Error::Internal("secret detail".into()), 500, "internal"),
        ];
        for (e, status, code) in cases {
            assert_eq!(e.status_and_code().0.as_u16(), status);
            assert_eq!(e.to_api_error().error, code);
        }
        assert!(!Error::Internal("secret detail".into()).to_api_error().message.contains("secret"));
    }

    #[test]
    fn rate_limited_sets_retry_after() {
        let r = Error::RateLimited { what: "x", retry_after: Duration::from_millis(1500) }.into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }
}
