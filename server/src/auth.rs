//! Authentication: device tokens from `Authorization: Bearer …` (or `?token=` on the sync upgrade), checked
//! against the directory, with failed attempts rate limited per client address.
//!
//! Extractors: [`Authed`] (a valid device) and [`ClientIp`] (the address rate limits count against).

use std::net::IpAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::accounts::DeviceAuth;
use crate::error::{Error, Result};
use crate::limits::client_ip;
use crate::listener::ClientAddr;
use crate::metrics::{AuthFailure, LimitKind};
use crate::state::AppState;

/// The client address of a request (see [`client_ip`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub(crate) IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<ClientAddr>>()
            .map(|c| c.0.0.ip())
            .ok_or_else(|| Error::Internal("no connection info".into()))?;
        Ok(ClientIp(client_ip(peer, &parts.headers, state.config.client_ip_header.as_deref())))
    }
}

/// The bearer token of a request, if any (`None` also for a malformed header).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Check a token for a request from `ip`: 429 while the address is blocked for failed attempts, 401 for a
/// missing or invalid token (an invalid one spends from the address's budget).
pub(crate) fn authenticate(state: &AppState, ip: IpAddr, token: Option<&str>) -> Result<DeviceAuth> {
    let now = Instant::now();
    if let Err(retry_after) = state.auth_limiter.check(ip, now) {
        state.metrics.limit_hit(LimitKind::AuthRate);
        return Err(Error::RateLimited { what: "failed authentications", retry_after });
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        state.metrics.auth_failure(AuthFailure::Missing);
        return Err(Error::Unauthorized("a device token is required (Authorization: Bearer <token>)"));
    };
    match state.dir.authenticate(token) {
        Some(auth) => Ok(auth),
        None => {
            state.metrics.auth_failure(AuthFailure::Invalid);
            state.auth_limiter.hit(ip, now);
            tracing::debug!(client = %ip, "invalid device token");
            Err(Error::Unauthorized("invalid or revoked device token"))
        }
    }
}

/// A request from a valid device.
#[derive(Debug, Clone)]
pub(crate) struct Authed(pub(crate) DeviceAuth);

impl FromRequestParts<AppState> for Authed {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        authenticate(state, ip, bearer(&parts.headers)).map(Authed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(auth: Option<&str>) -> HeaderMap {
        let mut b = Request::builder().uri("/v1/me");
        if let Some(a) = auth {
            b = b.header(AUTHORIZATION, a);
        }
        b.body(()).unwrap().into_parts().0.headers
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(&parts(Some("Bearer abc"))), Some("abc"));
        assert_eq!(bearer(&parts(Some("bearer  abc "))), Some("abc"));
        assert_eq!(bearer(&parts(Some("Basic abc"))), None);
        assert_eq!(bearer(&parts(Some("Bearer"))), None);
        assert_eq!(bearer(&parts(None)), None);
    }
}
