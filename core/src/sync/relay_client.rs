//! [`RelayClient`]: the relay's whole HTTP API ([`crate::relay_api`]) as typed blocking calls.
//!
//! HTTPS uses rustls with the ring provider and the webpki root certificates (no OpenSSL, so it builds for
//! Android and iOS). Error bodies ([`ApiError`]) and statuses become [`SyncError`] variants.

use std::time::Duration;

use samod::Url;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ids::{CaseId, DocId};
use crate::relay_api::{
    ApiError, CaseHeads, CaseMembership, CaseUsage, ChangeRole, CreateAccount, CreateInvite, DeviceCredentials,
    DeviceInfo, Invite, LastSeen, LinkCode, LinkDevice, Me, Member, RecoverAccount, RecoveryCode, RedeemInvite,
    RegisterCase, RegisterDocument, Role,
};

use super::error::{SyncError, SyncResult};

mod blobs;
pub use blobs::TransferOptions;

/// Largest response body read (bytes): the API's answers are small JSON documents.
const MAX_RESPONSE: u64 = 4 << 20;
/// Whole-request timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connection (TCP + TLS) timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one relay, optionally signed in with a device token. Cheap to clone (connections are
/// pooled and shared).
#[derive(Clone)]
pub struct RelayClient {
    /// `http(s)://host[:port]` plus any path prefix, without a trailing slash.
    base: Url,
    /// The device token sent as `Authorization: Bearer`.
    token: Option<String>,
    /// The pooled HTTP agent.
    agent: ureq::Agent,
}

impl std::fmt::Debug for RelayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("RelayClient").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

/// Parse a relay address: `http://`, `https://`, `ws://` or `wss://` (the WebSocket forms are mapped to
/// their HTTP equivalents). A path prefix is kept (a relay behind a reverse proxy at `/casebook`).
pub(crate) fn parse_relay_url(relay_url: &str) -> SyncResult<Url> {
    let invalid = |reason: &str| SyncError::InvalidInput { reason: format!("relay URL: {reason}") };
    let mut url = Url::parse(relay_url.trim()).map_err(|e| invalid(&e.to_string()))?;
    let scheme = match url.scheme() {
        "http" | "ws" => "http",
        "https" | "wss" => "https",
        _ => return Err(invalid("must start with http://, https://, ws:// or wss://")),
    };
    if url.host_str().is_none() {
        return Err(invalid("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not contain credentials"));
    }
    url.set_scheme(scheme).map_err(|_| invalid("bad scheme"))?;
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

/// Percent-encode one path segment (ids are plain, but nothing typed by a user reaches a path unescaped).
fn segment(s: &str) -> String {
    crate::invite_link::percent_encode(s)
}

impl RelayClient {
    /// A client of the relay at `relay_url` (`https://relay.example.org`, `http://127.0.0.1:3030`), not
    /// signed in: only [`RelayClient::create_account`] and [`RelayClient::link_device`] work without a token.
    pub fn new(relay_url: &str) -> SyncResult<Self> {
        let base = parse_relay_url(relay_url)?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .max_redirects(0)
            .user_agent(concat!("casebook/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self { base, token: None, agent: ureq::Agent::new_with_config(config) })
    }

    /// A client signed in with a device token.
    pub fn with_token(relay_url: &str, token: &str) -> SyncResult<Self> {
        Ok(Self::new(relay_url)?.signed_in(token))
    }

    /// This client, signed in with `token`.
    pub fn signed_in(mut self, token: &str) -> Self {
        self.token = Some(token.trim().to_string());
        self
    }

    /// The relay's base URL (`http(s)://…`, no trailing slash).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The WebSocket sync endpoint: `ws(s)://…/v1/sync`.
    pub fn sync_url(&self) -> Url {
        let mut url = self.base.clone();
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme).expect("http(s) and ws(s) are interchangeable special schemes");
        let path = format!("{}/v1/sync", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url
    }

    // --- accounts and devices ---

    /// `POST /v1/accounts`: a new account with this device as its first device. The token is returned once,
    /// and so is the account's recovery code (`recovery_code`): show it to the user to write down, never
    /// store it.
    pub fn create_account(&self, display_name: &str, device_name: Option<&str>) -> SyncResult<DeviceCredentials> {
        let body =
            CreateAccount { display_name: display_name.to_string(), device_name: device_name.map(str::to_string) };
        self.json(ureq::http::Method::POST, "/v1/accounts", Some(&body), false)
    }

    /// `POST /v1/accounts/recover` (no token needed): a new device of the account `recovery_code` belongs
    /// to, for a user who lost every device or replaces a stolen one. The credentials carry a new recovery
    /// code: the one used stops working (show the new one to the user; never store it). With
    /// `revoke_other_devices`, every other device of the account is signed out at once (its token refused,
    /// its sync connection closed). A wrong code is `NotFound`; attempts are rate limited per address
    /// (`RateLimited`).
    pub fn recover_account(
        &self,
        recovery_code: &str,
        device_name: Option<&str>,
        revoke_other_devices: bool,
    ) -> SyncResult<DeviceCredentials> {
        let body = RecoverAccount {
            recovery_code: recovery_code.trim().to_string(),
            device_name: device_name.map(str::to_string),
            revoke_other_devices,
        };
        self.json(ureq::http::Method::POST, "/v1/accounts/recover", Some(&body), false)
    }

    /// `POST /v1/me/recovery-code`: a new recovery code for this account, returned once (the previous one
    /// stops working).
    pub fn rotate_recovery_code(&self) -> SyncResult<String> {
        let code: RecoveryCode = self.json::<(), _>(ureq::http::Method::POST, "/v1/me/recovery-code", None, true)?;
        Ok(code.recovery_code)
    }

    /// `GET /v1/me`: the account and device of this token (also a cheap token check).
    pub fn me(&self) -> SyncResult<Me> {
        self.json::<(), _>(ureq::http::Method::GET, "/v1/me", None, true)
    }

    /// `POST /v1/devices/link-codes`: a one-time code with which another device joins this account.
    pub fn create_link_code(&self) -> SyncResult<LinkCode> {
        self.json::<(), _>(ureq::http::Method::POST, "/v1/devices/link-codes", None, true)
    }

    /// `POST /v1/devices/link`: join the account of a link code (no token needed); returns this device's
    /// credentials.
    pub fn link_device(&self, code: &str, device_name: Option<&str>) -> SyncResult<DeviceCredentials> {
        let body = LinkDevice { code: code.trim().to_string(), device_name: device_name.map(str::to_string) };
        self.json(ureq::http::Method::POST, "/v1/devices/link", Some(&body), false)
    }

    /// `GET /v1/devices`: this account's devices, oldest first, with when each last connected.
    pub fn list_devices(&self) -> SyncResult<Vec<DeviceInfo>> {
        self.json::<(), _>(ureq::http::Method::GET, "/v1/devices", None, true)
    }

    /// `DELETE /v1/devices/{device_id}`: revoke a device's token (a lost phone). Own account only; a device
    /// may revoke itself (signing out for good: its token stops working at once).
    pub fn revoke_device(&self, device_id: &str) -> SyncResult<()> {
        self.empty::<()>(ureq::http::Method::DELETE, &format!("/v1/devices/{}", segment(device_id)), None)
    }

    // --- cases and documents ---

    /// `POST /v1/cases`: register a case on the relay; this account becomes its owner.
    pub fn register_case(&self, case_id: &CaseId) -> SyncResult<CaseMembership> {
        let body = RegisterCase { case_id: case_id.to_string() };
        self.json(ureq::http::Method::POST, "/v1/cases", Some(&body), true)
    }

    /// `POST /v1/cases/{case_id}/documents`: register another document of the case (an appointment's
    /// notes) so that members can sync it. Editor or owner.
    pub fn register_document(&self, case_id: &CaseId, doc_id: &DocId) -> SyncResult<()> {
        let body = RegisterDocument { doc_id: doc_id.to_string() };
        self.empty(ureq::http::Method::POST, &format!("/v1/cases/{}/documents", segment(case_id.as_str())), Some(&body))
    }

    /// `GET /v1/cases`: the cases this account is a member of, with its role in each.
    pub fn list_cases(&self) -> SyncResult<Vec<CaseMembership>> {
        self.json::<(), _>(ureq::http::Method::GET, "/v1/cases", None, true)
    }

    /// `GET /v1/cases/{case_id}/usage`: the case's storage on the relay and its quota (members only). Over
    /// the quota the relay stops accepting changes to the case (they stay on the devices).
    pub fn case_usage(&self, case_id: &CaseId) -> SyncResult<CaseUsage> {
        self.json::<(), _>(
            ureq::http::Method::GET,
            &format!("/v1/cases/{}/usage", segment(case_id.as_str())),
            None,
            true,
        )
    }

    /// `GET /v1/cases/{case_id}/heads`: the heads of every document of the case as the relay holds them now
    /// (members only).
    pub fn case_heads(&self, case_id: &CaseId) -> SyncResult<CaseHeads> {
        self.json::<(), _>(
            ureq::http::Method::GET,
            &format!("/v1/cases/{}/heads", segment(case_id.as_str())),
            None,
            true,
        )
    }

    // --- invites and members ---

    /// `POST /v1/cases/{case_id}/invites`: a single-use invite code granting `role` (owner only).
    /// `expires_in_secs`: 60 s to 30 days; the relay's default (7 days) if `None`.
    pub fn create_invite(&self, case_id: &CaseId, role: Role, expires_in_secs: Option<u64>) -> SyncResult<Invite> {
        let body = CreateInvite { role, expires_in_secs };
        self.json(
            ureq::http::Method::POST,
            &format!("/v1/cases/{}/invites", segment(case_id.as_str())),
            Some(&body),
            true,
        )
    }

    /// `POST /v1/invites/redeem`: join a case with an invite code.
    pub fn redeem_invite(&self, code: &str) -> SyncResult<CaseMembership> {
        let body = RedeemInvite { code: code.trim().to_string() };
        self.json(ureq::http::Method::POST, "/v1/invites/redeem", Some(&body), true)
    }

    /// `GET /v1/cases/{case_id}/members` (members only).
    pub fn list_members(&self, case_id: &CaseId) -> SyncResult<Vec<Member>> {
        self.json::<(), _>(
            ureq::http::Method::GET,
            &format!("/v1/cases/{}/members", segment(case_id.as_str())),
            None,
            true,
        )
    }

    /// `GET /v1/cases/{case_id}/last-seen`: when each current member's devices last synced the case, most
    /// recent first (members only).
    pub fn last_seen(&self, case_id: &CaseId) -> SyncResult<Vec<LastSeen>> {
        self.json::<(), _>(
            ureq::http::Method::GET,
            &format!("/v1/cases/{}/last-seen", segment(case_id.as_str())),
            None,
            true,
        )
    }

    /// `PUT /v1/cases/{case_id}/members/{account_id}`: change a member's role (owners only). `Owner` makes
    /// the member a co-owner; an owner steps down by changing its own role, unless it is the last owner
    /// (`Conflict`).
    pub fn change_role(&self, case_id: &CaseId, account_id: &str, role: Role) -> SyncResult<Member> {
        let path = format!("/v1/cases/{}/members/{}", segment(case_id.as_str()), segment(account_id));
        self.json(ureq::http::Method::PUT, &path, Some(&ChangeRole { role }), true)
    }

    /// `DELETE /v1/cases/{case_id}/members/{account_id}`: an owner removes a member (another owner
    /// included), or a member removes itself (leaves). The last owner cannot leave (`Conflict`).
    pub fn remove_member(&self, case_id: &CaseId, account_id: &str) -> SyncResult<()> {
        let path = format!("/v1/cases/{}/members/{}", segment(case_id.as_str()), segment(account_id));
        self.empty::<()>(ureq::http::Method::DELETE, &path, None)
    }

    /// Leave a case (remove this account from it). The last owner cannot (`Conflict`): see
    /// [`RelayClient::leave_case_naming`].
    pub fn leave_case(&self, case_id: &CaseId) -> SyncResult<()> {
        let me = self.me()?;
        self.remove_member(case_id, &me.account_id)
    }

    /// Leave a case as an owner, making the member `successor` (an account id) an owner in the same step
    /// (`DELETE /v1/cases/{case_id}/members/{own account_id}?successor={successor}`).
    pub fn leave_case_naming(&self, case_id: &CaseId, successor: &str) -> SyncResult<()> {
        let me = self.me()?;
        let path = format!(
            "/v1/cases/{}/members/{}?successor={}",
            segment(case_id.as_str()),
            segment(&me.account_id),
            segment(successor.trim())
        );
        self.empty::<()>(ureq::http::Method::DELETE, &path, None)
    }

    /// `GET /healthz`: whether the relay answers.
    pub fn health(&self) -> SyncResult<()> {
        let resp = self.send::<()>(ureq::http::Method::GET, "/healthz", None, false)?;
        check(resp).map(|_| ())
    }

    // --- plumbing ---

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
    }

    fn send<B: Serialize>(
        &self,
        method: ureq::http::Method,
        path: &str,
        body: Option<&B>,
        auth: bool,
    ) -> SyncResult<ureq::http::Response<ureq::Body>> {
        let mut req =
            ureq::http::Request::builder().method(method).uri(self.url(path)).header("Accept", "application/json");
        if auth {
            let token = self.token.as_deref().ok_or(SyncError::Unauthorized)?;
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        let result = match body {
            Some(b) => {
                let bytes = serde_json::to_vec(b).map_err(|e| SyncError::InvalidInput { reason: e.to_string() })?;
                let req = req
                    .header("Content-Type", "application/json")
                    .body(bytes)
                    .map_err(|e| SyncError::InvalidInput { reason: e.to_string() })?;
                self.agent.run(req)
            }
            None => {
                let req = req.body(()).map_err(|e| SyncError::InvalidInput { reason: e.to_string() })?;
                self.agent.run(req)
            }
        };
        result.map_err(transport_error)
    }

    fn json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: ureq::http::Method,
        path: &str,
        body: Option<&B>,
        auth: bool,
    ) -> SyncResult<T> {
        let resp = check(self.send(method, path, body, auth)?)?;
        let bytes = read_body(resp)?;
        serde_json::from_slice(&bytes).map_err(|e| SyncError::Server(format!("unexpected response: {e}")))
    }

    fn empty<B: Serialize>(&self, method: ureq::http::Method, path: &str, body: Option<&B>) -> SyncResult<()> {
        check(self.send(method, path, body, true)?).map(|_| ())
    }
}

fn read_body(mut resp: ureq::http::Response<ureq::Body>) -> SyncResult<Vec<u8>> {
    resp.body_mut().with_config().limit(MAX_RESPONSE).read_to_vec().map_err(transport_error)
}

/// A successful response, or the [`SyncError`] its status and [`ApiError`] body stand for.
fn check(resp: ureq::http::Response<ureq::Body>) -> SyncResult<ureq::http::Response<ureq::Body>> {
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let retry_after =
        resp.headers().get("Retry-After").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let body: Option<ApiError> = read_body(resp).ok().and_then(|b| serde_json::from_slice(&b).ok());
    Err(api_error(status, body, retry_after))
}

/// Map a failed status (and its body, if it parsed) to a [`SyncError`]. The body's stable code wins over
/// the status when both are present.
pub(crate) fn api_error(status: u16, body: Option<ApiError>, retry_after_secs: Option<u64>) -> SyncError {
    let (code, message) = match body {
        Some(ApiError { error, message }) => (error, message),
        None => (String::new(), format!("HTTP status {status}")),
    };
    match (code.as_str(), status) {
        ("unauthorized", _) | ("", 401) => SyncError::Unauthorized,
        ("forbidden", _) | ("", 403) => SyncError::Forbidden { reason: message },
        ("not_found", _) | ("", 404) => SyncError::NotFound,
        ("invalid_input", _) | ("", 400 | 422) => SyncError::InvalidInput { reason: message },
        ("conflict", _) | ("", 409) => SyncError::Conflict { reason: message },
        ("rate_limited", _) | ("", 429) => SyncError::RateLimited { retry_after_secs },
        ("too_large" | "quota_exceeded", _) | ("", 413 | 507) => SyncError::LimitExceeded { reason: message },
        (_, 401) => SyncError::Unauthorized,
        (_, 403) => SyncError::Forbidden { reason: message },
        (_, 404) => SyncError::NotFound,
        (_, 400 | 422) => SyncError::InvalidInput { reason: message },
        _ => SyncError::Server(format!("{message} (HTTP {status})")),
    }
}

/// A failure below HTTP (no status): the network, TLS, or a malformed answer.
fn transport_error(e: ureq::Error) -> SyncError {
    match e {
        ureq::Error::StatusCode(s) => api_error(s, None, None),
        ureq::Error::BadUri(u) => SyncError::InvalidInput { reason: format!("relay URL: {u}") },
        ureq::Error::BodyExceedsLimit(_) => SyncError::Server("response too large".into()),
        ureq::Error::Protocol(p) => SyncError::Server(format!("bad HTTP response: {p}")),
        other => SyncError::Network(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_urls_are_normalised() {
        let c = RelayClient::new("https://relay.example.org/").unwrap();
        assert_eq!(c.base_url().as_str(), "https://relay.example.org/");
        assert_eq!(c.sync_url().as_str(), "wss://relay.example.org/v1/sync");
        let c = RelayClient::new("ws://127.0.0.1:3030/prefix/").unwrap();
        assert_eq!(c.url("/v1/me"), "http://127.0.0.1:3030/prefix/v1/me");
        assert_eq!(c.sync_url().as_str(), "ws://127.0.0.1:3030/prefix/v1/sync");
        for bad in ["ftp://x", "relay.example.org", "https://user:pw@x.org", ""] {
            assert!(matches!(RelayClient::new(bad), Err(SyncError::InvalidInput { .. })), "{bad}");
        }
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("abc-DEF_1.2~"), "abc-DEF_1.2~");
        assert_eq!(segment("a/b?c d"), "a%2Fb%3Fc%20d");
    }

    #[test]
    fn statuses_and_codes_map_to_errors() {
        let body = |code: &str| Some(ApiError { error: code.into(), message: "because".into() });
        assert!(matches!(api_error(401, None, None), SyncError::Unauthorized));
        assert!(matches!(api_error(404, body("not_found"), None), SyncError::NotFound));
        assert!(
            matches!(api_error(400, body("invalid_input"), None), SyncError::InvalidInput { reason } if reason == "because")
        );
        assert!(matches!(api_error(429, None, Some(3)), SyncError::RateLimited { retry_after_secs: Some(3) }));
        assert!(matches!(api_error(413, body("quota_exceeded"), None), SyncError::LimitExceeded { .. }));
        assert!(matches!(api_error(503, body("unavailable"), None), SyncError::Server(_)));
        assert!(matches!(api_error(418, None, None), SyncError::Server(_)));
        // An unknown code falls back on the status.
        assert!(matches!(api_error(403, body("something_new"), None), SyncError::Forbidden { .. }));
    }
}
