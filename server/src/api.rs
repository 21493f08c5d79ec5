//! The HTTP API of [`casebook_core::relay_api`]: handlers validate, call the directory, map errors.
//!
//! Every error is a JSON [`ApiError`](casebook_core::relay_api::ApiError) — malformed JSON and bad paths
//! (400), oversized bodies (413), unknown routes (404) and wrong methods (405) included. A case the caller
//! is not a member of answers exactly like a case that does not exist.

use std::str::FromStr;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Router, middleware};
use casebook_core::relay_api::{
    CaseHeads, CaseMembership, CaseUsage, ChangeRole, CreateAccount, CreateInvite, DeviceCredentials, DeviceInfo,
    DocumentHeads, Invite, LastSeen, LinkCode, LinkDevice, Me, Member, RecoverAccount, RecoveryCode, RedeemInvite,
    RegisterCase, RegisterDocument,
};
use serde::de::DeserializeOwned;

use crate::accounts::{INVITE_TTL_DEFAULT, INVITE_TTL_MAX, INVITE_TTL_MIN};
use crate::auth::{Authed, ClientIp};
use crate::error::{Error, Result};
use crate::limits::RateLimiter;
use crate::metrics::LimitKind;
use crate::state::AppState;
use crate::sync;

/// Longest display name or device name, in characters.
const MAX_NAME_CHARS: usize = 80;
/// Longest code accepted as input, in bytes.
const MAX_CODE_BYTES: usize = 64;

/// The relay's router: API, sync, health and metrics.
pub(crate) fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    // With --metrics-listen, `/metrics` moves to that address.
    let main_metrics = match state.config.metrics_listen {
        None => Router::new().route("/metrics", get(metrics)),
        Some(_) => Router::new(),
    };
    Router::new()
        .route("/v1/accounts", post(create_account))
        .route("/v1/accounts/recover", post(recover_account))
        .route("/v1/me", get(me))
        .route("/v1/me/recovery-code", post(rotate_recovery_code))
        .route("/v1/devices", get(list_devices))
        .route("/v1/devices/link-codes", post(create_link_code))
        .route("/v1/devices/link", post(link_device))
        .route("/v1/devices/{device_id}", delete(revoke_device))
        .route("/v1/cases", post(register_case).get(list_cases))
        .route("/v1/cases/{case_id}/documents", post(register_document))
        .route("/v1/cases/{case_id}/invites", post(create_invite))
        .route("/v1/cases/{case_id}/usage", get(case_usage))
        .route("/v1/cases/{case_id}/heads", get(case_heads))
        .route(
            "/v1/cases/{case_id}/blobs/{sha256}",
            put(crate::blobs::put_blob)
                .get(crate::blobs::get_blob)
                .layer(DefaultBodyLimit::max(state.config.max_blob_chunk_bytes)),
        )
        .route("/v1/cases/{case_id}/blobs/{sha256}/status", get(crate::blobs::blob_status))
        .route(
            "/v1/cases/{case_id}/blobs/retain",
            post(crate::blobs::retain_blobs).layer(DefaultBodyLimit::max(1024 * 1024)),
        )
        .route("/v1/invites/redeem", post(redeem_invite))
        .route("/v1/cases/{case_id}/members", get(members))
        .route("/v1/cases/{case_id}/last-seen", get(last_seen))
        .route("/v1/cases/{case_id}/members/{account_id}", put(change_role).delete(remove_member))
        .route("/v1/sync", get(sync::upgrade))
        .route("/healthz", get(crate::health::healthz))
        .route("/readyz", get(crate::health::readyz))
        .merge(main_metrics)
        .fallback(|| async { Error::NotFound("no such route") })
        .method_not_allowed_fallback(|| async {
            let body = Json(casebook_core::relay_api::ApiError {
                error: "invalid_input".into(),
                message: "method not allowed on this route".into(),
            });
            (StatusCode::METHOD_NOT_ALLOWED, body)
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::map_response_with_state(state.clone(), count_response))
        .with_state(state)
}

/// The monitoring router served on `--metrics-listen`: metrics, health and readiness only.
pub(crate) fn monitoring_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(crate::health::healthz))
        .route("/readyz", get(crate::health::readyz))
        .fallback(|| async { Error::NotFound("no such route") })
        .with_state(state)
}

async fn count_response(State(state): State<AppState>, response: Response) -> Response {
    let status = response.status();
    state.metrics.http_response(status.as_u16());
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => state.metrics.limit_hit(LimitKind::BodySize),
        StatusCode::BAD_REQUEST => state.metrics.limit_hit(LimitKind::InvalidInput),
        _ => {}
    }
    response
}

/// A JSON body whose rejections are JSON errors too (400 malformed, 413 too large).
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> Error {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Error::TooLarge("request body too large".into());
    }
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            Error::InvalidInput("expected a JSON body with Content-Type: application/json".into())
        }
        JsonRejection::JsonSyntaxError(_) => Error::InvalidInput("malformed JSON body".into()),
        other => {
            let mut text = other.body_text();
            text.truncate(200);
            Error::InvalidInput(text)
        }
    }
}

/// Path parameters whose rejections are JSON errors.
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|_| Error::InvalidInput("malformed path".into()))
    }
}

/// A display or device name: trimmed, 1–80 characters, no control characters.
fn valid_name(field: &str, name: &str) -> Result<String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(Error::InvalidInput(format!("{field} must be 1 to {MAX_NAME_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!("{field} must not contain control characters")));
    }
    Ok(name.to_string())
}

fn valid_device_name(name: Option<String>) -> Result<Option<String>> {
    match name.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(n) => valid_name("device_name", n).map(Some),
    }
}

/// An automerge-repo document id in canonical form.
fn document_id(value: &str) -> Option<String> {
    if value.len() > 64 {
        return None;
    }
    samod::DocumentId::from_str(value.trim()).ok().map(|d| d.to_string())
}

/// A case id from a path: malformed ids are unknown cases.
fn path_case(case_id: &str) -> Result<String> {
    document_id(case_id).ok_or(Error::NotFound("no such case"))
}

/// An account or device id from a path: 32 hex digits.
fn path_id(id: &str, missing: &'static str) -> Result<String> {
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| id.to_ascii_lowercase())
        .ok_or(Error::NotFound(missing))
}

fn code_input(code: &str) -> Result<String> {
    if code.len() > MAX_CODE_BYTES {
        return Err(Error::InvalidInput(format!("a code is at most {MAX_CODE_BYTES} characters")));
    }
    Ok(code.to_string())
}

fn rate(limiter: &RateLimiter, ip: ClientIp, kind: LimitKind, what: &'static str, state: &AppState) -> Result<()> {
    limiter.take(ip.0, Instant::now()).map_err(|retry_after| {
        state.metrics.limit_hit(kind);
        tracing::info!(client = %ip.0, limit = kind.as_str(), "rate limited");
        Error::RateLimited { what, retry_after }
    })
}

fn count_limit(state: &AppState, e: Error) -> Error {
    if matches!(e, Error::LimitReached(_)) {
        state.metrics.limit_hit(LimitKind::Count);
    }
    e
}

async fn create_account(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(body): ApiJson<CreateAccount>,
) -> Result<(StatusCode, Json<DeviceCredentials>)> {
    let display_name = valid_name("display_name", &body.display_name)?;
    let device_name = valid_device_name(body.device_name)?;
    rate(&state.account_limiter, ip, LimitKind::AccountRate, "accounts created", &state)?;
    let creds = state.with_dir(move |d, now| d.create_account(display_name, device_name, now)).await?;
    tracing::info!(account_id = %creds.account_id, device_id = %creds.device_id, "account created");
    Ok((StatusCode::CREATED, Json(creds)))
}

/// `POST /v1/accounts/recover`: a new device of the account a recovery code belongs to, with a new code.
///
/// Every attempt spends from the client address's code-redemption budget (shared with invite and link
/// codes: `redeem_attempts_per_minute`, 10 by default), wrong codes included. The odds of guessing: a
/// recovery code is 140 random bits and does not expire, so at the default 10 attempts a minute an address
/// gets 10 × 60 × 24 × 365 ≈ 5.3 million ≈ 2^22.3 attempts a year; against one account's code that is
/// 2^22.3 / 2^140 ≈ 2^-117.7 a year, and even against a million accounts at once (any code of any account
/// will do) 2^20 × 2^-117.7 ≈ 2^-97.7 — per address; a million addresses still leave it below 2^-77.
async fn recover_account(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(body): ApiJson<RecoverAccount>,
) -> Result<(StatusCode, Json<DeviceCredentials>)> {
    let code = code_input(&body.recovery_code)?;
    let device_name = valid_device_name(body.device_name)?;
    let revoke_others = body.revoke_other_devices;
    rate(&state.redeem_limiter, ip, LimitKind::RedeemRate, "code redemptions", &state)?;
    let (creds, revoked) = state
        .with_dir(move |d, now| d.recover_account(&code, device_name, revoke_others, now))
        .await
        .map_err(|e| count_limit(&state, e))?;
    let mut closed = 0;
    for device_id in &revoked {
        closed += state.connections.kick_device(device_id, crate::connections::Kick::Revoked);
        state.seen.forget_device(device_id);
    }
    tracing::info!(
        account_id = %creds.account_id,
        device_id = %creds.device_id,
        revoked_devices = revoked.len(),
        closed_connections = closed,
        "account recovered"
    );
    Ok((StatusCode::CREATED, Json(creds)))
}

async fn me(State(state): State<AppState>, Authed(auth): Authed) -> Result<Json<Me>> {
    state.dir.me(&auth).map(Json)
}

async fn rotate_recovery_code(
    State(state): State<AppState>,
    Authed(auth): Authed,
) -> Result<(StatusCode, Json<RecoveryCode>)> {
    let account = auth.account_id.clone();
    let recovery_code = state.with_dir(move |d, _| d.rotate_recovery_code(&auth)).await?;
    tracing::info!(account_id = %account, "recovery code rotated");
    Ok((StatusCode::CREATED, Json(RecoveryCode { recovery_code })))
}

async fn list_devices(State(state): State<AppState>, Authed(auth): Authed) -> Json<Vec<DeviceInfo>> {
    Json(state.dir.devices(&auth, |device| state.seen.device(device)))
}

async fn create_link_code(State(state): State<AppState>, Authed(auth): Authed) -> Result<(StatusCode, Json<LinkCode>)> {
    let code =
        state.with_dir(move |d, now| d.create_link_code(&auth, now)).await.map_err(|e| count_limit(&state, e))?;
    Ok((StatusCode::CREATED, Json(code)))
}

async fn link_device(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(body): ApiJson<LinkDevice>,
) -> Result<(StatusCode, Json<DeviceCredentials>)> {
    let code = code_input(&body.code)?;
    let device_name = valid_device_name(body.device_name)?;
    rate(&state.redeem_limiter, ip, LimitKind::RedeemRate, "code redemptions", &state)?;
    let creds = state
        .with_dir(move |d, now| d.link_device(&code, device_name, now))
        .await
        .map_err(|e| count_limit(&state, e))?;
    tracing::info!(account_id = %creds.account_id, device_id = %creds.device_id, "device linked");
    Ok((StatusCode::CREATED, Json(creds)))
}

async fn revoke_device(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ApiPath(device_id): ApiPath<String>,
) -> Result<StatusCode> {
    let device_id = path_id(&device_id, "no such device")?;
    let id = device_id.clone();
    state.with_dir(move |d, _| d.revoke_device(&auth, &id)).await?;
    let closed = state.connections.kick_device(&device_id, crate::connections::Kick::Revoked);
    state.seen.forget_device(&device_id);
    tracing::info!(device_id = %device_id, closed_connections = closed, "device revoked");
    Ok(StatusCode::NO_CONTENT)
}

async fn register_case(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ApiJson(body): ApiJson<RegisterCase>,
) -> Result<(StatusCode, Json<CaseMembership>)> {
    let case_id = document_id(&body.case_id)
        .ok_or_else(|| Error::InvalidInput("case_id is not an automerge document id".into()))?;
    let account = auth.account_id.clone();
    let membership = state
        .with_dir(move |d, now| d.register_case(&auth, &case_id, now))
        .await
        .map_err(|e| count_limit(&state, e))?;
    tracing::info!(case_id = %membership.case_id, account_id = %account, "case registered");
    Ok((StatusCode::CREATED, Json(membership)))
}

async fn list_cases(State(state): State<AppState>, Authed(auth): Authed) -> Json<Vec<CaseMembership>> {
    Json(state.dir.list_cases(&auth))
}

async fn register_document(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ApiPath(case_id): ApiPath<String>,
    ApiJson(body): ApiJson<RegisterDocument>,
) -> Result<StatusCode> {
    let case_id = path_case(&case_id)?;
    let doc_id = document_id(&body.doc_id)
        .ok_or_else(|| Error::InvalidInput("doc_id is not an automerge document id".into()))?;
    // Membership first, so a non-member learns nothing about the quota either.
    state.dir.role_of(&auth, &case_id)?;
    if state.quota.is_over(&case_id) {
        return Err(Error::QuotaExceeded);
    }
    let (case, doc) = (case_id.clone(), doc_id.clone());
    state.with_dir(move |d, _| d.register_document(&auth, &case, &doc)).await.map_err(|e| count_limit(&state, e))?;
    tracing::info!(case_id = %case_id, doc_id = %doc_id, "document registered");
    Ok(StatusCode::NO_CONTENT)
}

async fn create_invite(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ApiPath(case_id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateInvite>,
) -> Result<(StatusCode, Json<Invite>)> {
    let case_id = path_case(&case_id)?;
    let ttl = body.expires_in_secs.unwrap_or(INVITE_TTL_DEFAULT);
    if !(INVITE_TTL_MIN..=INVITE_TTL_MAX).contains(&ttl) {
        return Err(Error::InvalidInput(format!(
            "expires_in_secs must be between {INVITE_TTL_MIN} and {INVITE_TTL_MAX}"
        )));
    }
    let role = body.role;
    let invite = state
        .with_dir(move |d, now| d.create_invite(&auth, &case_id, role, ttl, now))
        .await
        .map_err(|e| count_limit(&state, e))?;
    tracing::info!(case_id = %invite.case_id, role = ?invite.role, "invite created");
    Ok((StatusCode::CREATED, Json(invite)))
}

async fn redeem_invite(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ip: ClientIp,
    ApiJson(body): ApiJson<RedeemInvite>,
) -> Result<Json<CaseMembership>> {
    let code = code_input(&body.code)?;
    rate(&state.redeem_limiter, ip, LimitKind::RedeemRate, "code redemptions", &state)?;
    let account = auth.account_id.clone();
    let membership =
        state.with_dir(move |d, now| d.redeem_invite(&auth, &code, now)).await.map_err(|e| count_limit(&state, e))?;
    tracing::info!(case_id = %membership.case_id, account_id = %account, role = ?membership.role, "invite redeemed");
    Ok(Json(membership))
}

async fn members(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ApiPath(case_id): ApiPath<String>,
) -> Result<Json<Vec<Member>>> {
    let case_id = path_case(&case_id)?;
    state.dir.members(&auth, &case_id).map(Json)
}

async fn change_role(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ApiPath((case_id, account_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ChangeRole>,
) -> Result<Json<Member>> {
    let case_id = path_case(&case_id)?;
    let account_id = path_id(&account_id, "no such member")?;
    let role = body.role;
    let (case, account) = (case_id.clone(), account_id.clone());
    let member = state.with_dir(move |d, _| d.change_role(&auth, &case, &account, role)).await?;
    tracing::info!(case_id = %case_id, account_id = %account_id, role = ?role, "role changed");
    Ok(Json(member))
}

/// The `successor` parameter of a query string: an account id (no decoding needed), if present.
fn query_successor(query: Option<&str>) -> Result<Option<String>> {
    let Some(value) = query.into_iter().flat_map(|q| q.split('&')).find_map(|p| p.strip_prefix("successor=")) else {
        return Ok(None);
    };
    path_id(value, "no such member").map(Some)
}

/// `DELETE /v1/cases/{case_id}/members/{account_id}[?successor={account_id}]`: an owner removes a member,
/// or a member leaves; leaving with `successor` makes that member an owner in the same write (owners only).
async fn remove_member(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ApiPath((case_id, account_id)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode> {
    let case_id = path_case(&case_id)?;
    let account_id = path_id(&account_id, "no such member")?;
    let successor = query_successor(query.as_deref())?;
    let (case, account) = (case_id.clone(), account_id.clone());
    match successor {
        None => {
            state.with_dir(move |d, _| d.remove_member(&auth, &case, &account)).await?;
            tracing::info!(case_id = %case_id, account_id = %account_id, "member removed");
        }
        Some(successor) => {
            if account_id != auth.account_id {
                // Membership first: a non-member learns nothing about the case.
                state.dir.role_of(&auth, &case_id)?;
                return Err(Error::InvalidInput("a successor is named only when leaving (removing yourself)".into()));
            }
            let named = successor.clone();
            state.with_dir(move |d, _| d.leave_naming(&auth, &case, &named)).await?;
            tracing::info!(case_id = %case_id, account_id = %account_id, successor = %successor, "owner left naming a successor");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn last_seen(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ApiPath(case_id): ApiPath<String>,
) -> Result<Json<Vec<LastSeen>>> {
    let case_id = path_case(&case_id)?;
    state.dir.last_seen(&auth, &case_id, |device| state.seen.case_device(&case_id, device)).map(Json)
}

async fn case_usage(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ApiPath(case_id): ApiPath<String>,
) -> Result<Json<CaseUsage>> {
    let case_id = path_case(&case_id)?;
    state.dir.role_of(&auth, &case_id)?;
    let quota = state.quota.clone();
    let case = case_id.clone();
    let bytes = tokio::task::spawn_blocking(move || quota.case_usage(&case))
        .await
        .map_err(|e| Error::Internal(format!("usage task failed: {e}")))?;
    Ok(Json(CaseUsage {
        case_id: case_id.clone(),
        bytes,
        quota_bytes: state.quota.limit(),
        quota_exceeded: state.quota.is_over(&case_id),
    }))
}

async fn case_heads(
    State(state): State<AppState>,
    Authed(auth): Authed,
    ApiPath(case_id): ApiPath<String>,
) -> Result<Json<CaseHeads>> {
    let case_id = path_case(&case_id)?;
    state.dir.role_of(&auth, &case_id)?;
    let repo = state.cases.case(&case_id).await.ok_or(Error::Unavailable("the relay is shutting down"))?;
    let mut documents = Vec::new();
    for doc in state.dir.documents_of(&case_id) {
        let id =
            samod::DocumentId::from_str(&doc).map_err(|_| Error::Internal("a stored document id is invalid".into()))?;
        // Heads the relay has stored, not only received: samod answers a sync message and writes its
        // changes in the same step, in no set order, and a device takes these heads as what the relay holds.
        let deadline = tokio::time::Instant::now() + DURABLE_HEADS_WAIT;
        let heads = loop {
            let heads = repo.documents.heads(&id).await.ok_or(Error::Unavailable("a document is still loading"))?;
            let (database, doc_id, h) = (state.database.clone(), casebook_core::DocId::from(id.clone()), heads.clone());
            let stored = tokio::task::spawn_blocking(move || crate::durable::stored_at(&*database, &doc_id, &h, &[]))
                .await
                .map_err(|e| Error::Internal(format!("storage task failed: {e}")))??;
            if stored {
                // Seen in the store is not yet durable on sled (applied by the committer, flushed after):
                // wait for the flush of everything handed over so far.
                state
                    .storage
                    .committed()
                    .await
                    .map_err(|_| Error::Unavailable("the relay could not save this case; ask again"))?;
                break heads;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Unavailable("the relay is still saving this case; ask again"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        documents.push(DocumentHeads { document_id: doc, heads: heads.iter().map(|h| h.to_string()).collect() });
    }
    Ok(Json(CaseHeads { case_id, documents }))
}

/// How long `GET …/heads` waits for the heads it holds in memory to be stored.
const DURABLE_HEADS_WAIT: Duration = Duration::from_secs(3);

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.metrics.render(state.gauges());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert_eq!(valid_name("n", "  Ana ").unwrap(), "Ana");
        assert!(valid_name("n", "").is_err());
        assert!(valid_name("n", "   ").is_err());
        assert!(valid_name("n", &"é".repeat(80)).is_ok());
        assert!(valid_name("n", &"é".repeat(81)).is_err());
        assert!(valid_name("n", "a\u{0}b").is_err());
        assert_eq!(valid_device_name(Some(" ".into())).unwrap(), None);
    }

    #[test]
    fn ids_are_validated() {
        let id = casebook_core::DocId::random().to_string();
        assert_eq!(document_id(&id), Some(id.clone()));
        assert_eq!(document_id("not-an-id"), None);
        assert!(matches!(path_case("x/y"), Err(Error::NotFound(_))));
        assert!(path_id(&"a".repeat(32), "m").is_ok());
        assert!(path_id("../etc", "m").is_err());
    }

    #[test]
    fn successor_from_query() {
        let id = "a".repeat(32);
        assert_eq!(query_successor(None).unwrap(), None);
        assert_eq!(query_successor(Some("x=1")).unwrap(), None);
        assert_eq!(query_successor(Some(&format!("x=1&successor={}", id.to_uppercase()))).unwrap(), Some(id));
        assert!(matches!(query_successor(Some("successor=../x")), Err(Error::NotFound(_))));
        assert!(matches!(query_successor(Some("successor=")), Err(Error::NotFound(_))));
    }
}
