//! An in-process stand-in for the relay, for the sync client's tests: the HTTP routes of
//! `casebook_core::relay_api` (accounts, recovery codes, devices, cases, documents, invites, members, last
//! seen — just enough bookkeeping) and
//! `/v1/sync`, which checks the Bearer token and hands the WebSocket to a samod repository bound to the
//! device's peer id. It can be stopped and restarted on the same port with its data, and it can hold
//! accepted sync connections before the samod handshake (to observe the "connecting" state).

#![allow(dead_code, unreachable_pub, clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use casebook_core::relay_api::{
    ApiError, CaseMembership, CaseUsage, ChangeRole, CreateAccount, CreateInvite, DeviceCredentials, DeviceInfo,
    Invite, LastSeen, Me, Member, RELAY_PEER_ID, RecoverAccount, RecoveryCode, RedeemInvite, RegisterCase,
    RegisterDocument, Role, peer_id_for_device,
};
use casebook_core::storage::{MemoryStorage, SamodStorage};
use samod::{AcceptorHandle, PeerId, Repo};

#[derive(Default)]
struct Data {
    /// token → (account, device)
    tokens: HashMap<String, (String, String)>,
    /// account → display name
    accounts: HashMap<String, String>,
    /// case → (account → role)
    cases: BTreeMap<String, BTreeMap<String, Role>>,
    /// document → case
    docs: HashMap<String, String>,
    /// invite code → (case, role)
    invites: HashMap<String, (String, Role)>,
    /// recovery code → account
    recovery: HashMap<String, String>,
    /// device → when it last opened a sync connection (Unix seconds)
    seen: HashMap<String, u64>,
}

struct Inner {
    data: Mutex<Data>,
    /// The current samod acceptor (replaced at each restart).
    acceptor: Mutex<Option<AcceptorHandle>>,
    /// WebSocket upgrade requests received (accepted or refused).
    upgrades: AtomicUsize,
    /// Whether accepted sync connections wait before reaching samod.
    hold: tokio::sync::watch::Sender<bool>,
    counter: AtomicUsize,
}

type Shared = Arc<Inner>;

/// One running incarnation of the relay.
struct Running {
    runtime: tokio::runtime::Runtime,
    repo: Repo,
}

/// The fake relay.
pub struct FakeRelay {
    inner: Shared,
    storage: MemoryStorage,
    addr: SocketAddr,
    running: Option<Running>,
}

fn err(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(ApiError { error: code.into(), message: message.into() })).into_response()
}

fn auth(s: &Shared, headers: &HeaderMap) -> Result<(String, String), Response> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let data = s.data.lock().unwrap();
    token
        .and_then(|t| data.tokens.get(&t).cloned())
        .ok_or_else(|| err(StatusCode::UNAUTHORIZED, "unauthorized", "missing or invalid token"))
}

fn role_of(data: &Data, case: &str, account: &str) -> Option<Role> {
    data.cases.get(case).and_then(|m| m.get(account)).copied()
}

impl Inner {
    fn new_device(&self, account: &str) -> DeviceCredentials {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let device = format!("dev{n}");
        let token = format!("{:064x}", 0xC0FFEE_u64 * 1000 + n as u64);
        self.data.lock().unwrap().tokens.insert(token.clone(), (account.to_string(), device.clone()));
        DeviceCredentials { account_id: account.to_string(), device_id: device, token, recovery_code: None }
    }

    /// A new recovery code for `account` (replacing its previous one).
    fn new_recovery_code(&self, account: &str) -> String {
        let code = format!("REC{:025}", self.counter.fetch_add(1, Ordering::SeqCst));
        let mut data = self.data.lock().unwrap();
        data.recovery.retain(|_, a| a != account);
        data.recovery.insert(code.clone(), account.to_string());
        code
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

async fn create_account(State(s): State<Shared>, Json(b): Json<CreateAccount>) -> Response {
    if b.display_name.trim().is_empty() || b.display_name.chars().count() > 80 {
        return err(StatusCode::BAD_REQUEST, "invalid_input", "display_name must be 1-80 characters");
    }
    let account = format!("acc{}", s.counter.fetch_add(1, Ordering::SeqCst));
    s.data.lock().unwrap().accounts.insert(account.clone(), b.display_name);
    let mut creds = s.new_device(&account);
    creds.recovery_code = Some(s.new_recovery_code(&account));
    (StatusCode::CREATED, Json(creds)).into_response()
}

async fn recover_account(State(s): State<Shared>, Json(b): Json<RecoverAccount>) -> Response {
    let Some(account) = s.data.lock().unwrap().recovery.get(&b.recovery_code).cloned() else {
        return err(StatusCode::NOT_FOUND, "not_found", "recovery code not recognised");
    };
    if b.revoke_other_devices {
        s.data.lock().unwrap().tokens.retain(|_, (a, _)| *a != account);
    }
    let mut creds = s.new_device(&account);
    creds.recovery_code = Some(s.new_recovery_code(&account));
    (StatusCode::CREATED, Json(creds)).into_response()
}

async fn rotate_recovery_code(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let (account, _) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    (StatusCode::CREATED, Json(RecoveryCode { recovery_code: s.new_recovery_code(&account) })).into_response()
}

async fn list_devices(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let (account, me) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let data = s.data.lock().unwrap();
    let mut devices: Vec<DeviceInfo> = data
        .tokens
        .values()
        .filter(|(a, _)| *a == account)
        .map(|(_, d)| DeviceInfo {
            device_id: d.clone(),
            name: None,
            created_at: 0,
            last_seen_at: data.seen.get(d).copied(),
            this_device: *d == me,
        })
        .collect();
    devices.sort_by(|a, b| a.device_id.cmp(&b.device_id));
    Json(devices).into_response()
}

async fn last_seen(State(s): State<Shared>, headers: HeaderMap, Path(case): Path<String>) -> Response {
    let (account, _) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let data = s.data.lock().unwrap();
    if role_of(&data, &case, &account).is_none() {
        return err(StatusCode::NOT_FOUND, "not_found", "no such case");
    }
    // The fake's "last sync of the case": the device's last sync connection, for every case of its account.
    let mut list: Vec<LastSeen> = data
        .tokens
        .values()
        .filter(|(a, _)| role_of(&data, &case, a).is_some())
        .filter_map(|(a, d)| {
            Some(LastSeen {
                account_id: a.clone(),
                display_name: data.accounts.get(a).cloned().unwrap_or_default(),
                device_id: d.clone(),
                device_name: None,
                synced_at: *data.seen.get(d)?,
            })
        })
        .collect();
    list.sort_by_key(|l| std::cmp::Reverse(l.synced_at));
    Json(list).into_response()
}

async fn me(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let (account, device) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let display_name = s.data.lock().unwrap().accounts.get(&account).cloned().unwrap_or_default();
    Json(Me { account_id: account, display_name, device_id: device }).into_response()
}

async fn register_case(State(s): State<Shared>, headers: HeaderMap, Json(b): Json<RegisterCase>) -> Response {
    let (account, _) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut data = s.data.lock().unwrap();
    if data.cases.contains_key(&b.case_id) {
        return err(StatusCode::CONFLICT, "conflict", "case already registered");
    }
    data.cases.insert(b.case_id.clone(), BTreeMap::from([(account, Role::Owner)]));
    data.docs.insert(b.case_id.clone(), b.case_id.clone());
    (StatusCode::CREATED, Json(CaseMembership { case_id: b.case_id, role: Role::Owner })).into_response()
}

async fn list_cases(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let (account, _) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let data = s.data.lock().unwrap();
    let list: Vec<CaseMembership> = data
        .cases
        .iter()
        .filter_map(|(c, m)| m.get(&account).map(|r| CaseMembership { case_id: c.clone(), role: *r }))
        .collect();
    Json(list).into_response()
}

async fn register_document(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(case): Path<String>,
    Json(b): Json<RegisterDocument>,
) -> Response {
    let (account, _) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut data = s.data.lock().unwrap();
    match role_of(&data, &case, &account) {
        None => return err(StatusCode::NOT_FOUND, "not_found", "no such case"),
        Some(Role::Viewer) => return err(StatusCode::FORBIDDEN, "forbidden", "viewers cannot add documents"),
        Some(_) => {}
    }
    match data.docs.get(&b.doc_id) {
        Some(c) if *c != case => err(StatusCode::CONFLICT, "conflict", "document belongs to another case"),
        _ => {
            data.docs.insert(b.doc_id, case);
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

async fn create_invite(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(case): Path<String>,
    Json(b): Json<CreateInvite>,
) -> Response {
    let (account, _) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut data = s.data.lock().unwrap();
    match role_of(&data, &case, &account) {
        None => return err(StatusCode::NOT_FOUND, "not_found", "no such case"),
        Some(Role::Owner) => {}
        Some(_) => return err(StatusCode::FORBIDDEN, "forbidden", "only the owner invites"),
    }
    if b.role == Role::Owner {
        return err(StatusCode::BAD_REQUEST, "invalid_input", "role must be editor or viewer");
    }
    let code = format!("INV{}", s.counter.fetch_add(1, Ordering::SeqCst));
    data.invites.insert(code.clone(), (case.clone(), b.role));
    (StatusCode::CREATED, Json(Invite { code, case_id: case, role: b.role, expires_at: 4_000_000_000 })).into_response()
}

async fn redeem_invite(State(s): State<Shared>, headers: HeaderMap, Json(b): Json<RedeemInvite>) -> Response {
    if b.code == "flood" {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("Retry-After", "7")],
            Json(ApiError { error: "rate_limited".into(), message: "slow down".into() }),
        )
            .into_response();
    }
    let (account, _) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut data = s.data.lock().unwrap();
    let Some((case, role)) = data.invites.remove(&b.code) else {
        return err(StatusCode::BAD_REQUEST, "invalid_input", "invite code unknown, used or expired");
    };
    data.cases.entry(case.clone()).or_default().insert(account, role);
    Json(CaseMembership { case_id: case, role }).into_response()
}

async fn list_members(State(s): State<Shared>, headers: HeaderMap, Path(case): Path<String>) -> Response {
    let (account, _) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let data = s.data.lock().unwrap();
    if role_of(&data, &case, &account).is_none() {
        return err(StatusCode::NOT_FOUND, "not_found", "no such case");
    }
    let members: Vec<Member> = data.cases[&case]
        .iter()
        .map(|(a, r)| Member {
            account_id: a.clone(),
            display_name: data.accounts.get(a).cloned().unwrap_or_default(),
            role: *r,
        })
        .collect();
    Json(members).into_response()
}

async fn usage(State(s): State<Shared>, headers: HeaderMap, Path(case): Path<String>) -> Response {
    let (account, _) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if role_of(&s.data.lock().unwrap(), &case, &account).is_none() {
        return err(StatusCode::NOT_FOUND, "not_found", "no such case");
    }
    Json(CaseUsage { case_id: case, bytes: 1234, quota_bytes: 0, quota_exceeded: false }).into_response()
}

async fn change_role(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((case, member)): Path<(String, String)>,
    Json(b): Json<ChangeRole>,
) -> Response {
    let (account, _) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut data = s.data.lock().unwrap();
    if role_of(&data, &case, &account) != Some(Role::Owner) {
        return err(StatusCode::NOT_FOUND, "not_found", "no such case");
    }
    let Some(r) = data.cases.get_mut(&case).and_then(|m| m.get_mut(&member)) else {
        return err(StatusCode::NOT_FOUND, "not_found", "no such member");
    };
    *r = b.role;
    let display_name = data.accounts.get(&member).cloned().unwrap_or_default();
    Json(Member { account_id: member, display_name, role: b.role }).into_response()
}

async fn remove_member(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((case, member)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (account, _) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut data = s.data.lock().unwrap();
    let mine = role_of(&data, &case, &account);
    if mine.is_none() || (mine != Some(Role::Owner) && member != account) {
        return err(StatusCode::NOT_FOUND, "not_found", "no such case");
    }
    let members = data.cases.get_mut(&case).unwrap();
    if let Some(successor) = query.get("successor") {
        if member != account || mine != Some(Role::Owner) || !members.contains_key(successor) {
            return err(StatusCode::BAD_REQUEST, "invalid_input", "bad successor");
        }
        members.insert(successor.clone(), Role::Owner);
    }
    let owners = members.values().filter(|r| **r == Role::Owner).count();
    if members.get(&member) == Some(&Role::Owner) && owners <= 1 {
        return err(StatusCode::CONFLICT, "conflict", "the last owner cannot leave");
    }
    members.remove(&member);
    StatusCode::NO_CONTENT.into_response()
}

async fn revoke_device(State(s): State<Shared>, headers: HeaderMap, Path(device): Path<String>) -> Response {
    let (account, _) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut data = s.data.lock().unwrap();
    let before = data.tokens.len();
    data.tokens.retain(|_, (a, d)| !(*a == account && *d == device));
    if data.tokens.len() == before {
        return err(StatusCode::NOT_FOUND, "not_found", "no such device");
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn sync(State(s): State<Shared>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    s.upgrades.fetch_add(1, Ordering::SeqCst);
    let (_, device) = match auth(&s, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    s.data.lock().unwrap().seen.insert(device.clone(), now());
    let Some(acceptor) = s.acceptor.lock().unwrap().clone() else {
        return err(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "stopping");
    };
    let mut hold = s.hold.subscribe();
    ws.on_upgrade(move |socket| async move {
        // Held: the socket is open but samod has not seen it (no handshake) until released.
        let _ = hold.wait_for(|h| !*h).await;
        let _ = acceptor.accept_axum(socket, Some(PeerId::from(peer_id_for_device(&device))));
    })
}

fn router(s: Shared) -> axum::Router {
    axum::Router::new()
        .route("/v1/accounts", post(create_account))
        .route("/v1/accounts/recover", post(recover_account))
        .route("/v1/me", get(me))
        .route("/v1/me/recovery-code", post(rotate_recovery_code))
        .route("/v1/devices", get(list_devices))
        .route("/v1/devices/{device}", delete(revoke_device))
        .route("/v1/cases", post(register_case).get(list_cases))
        .route("/v1/cases/{case}/documents", post(register_document))
        .route("/v1/cases/{case}/invites", post(create_invite))
        .route("/v1/invites/redeem", post(redeem_invite))
        .route("/v1/cases/{case}/members", get(list_members))
        .route("/v1/cases/{case}/usage", get(usage))
        .route("/v1/cases/{case}/last-seen", get(last_seen))
        .route("/v1/cases/{case}/members/{member}", axum::routing::put(change_role).delete(remove_member))
        .route("/v1/sync", get(sync))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(s)
}

impl FakeRelay {
    /// Start on a free loopback port.
    pub fn start() -> Self {
        let mut relay = FakeRelay {
            inner: Arc::new(Inner {
                data: Mutex::new(Data::default()),
                acceptor: Mutex::new(None),
                upgrades: AtomicUsize::new(0),
                hold: tokio::sync::watch::Sender::new(false),
                counter: AtomicUsize::new(1),
            }),
            storage: MemoryStorage::new(),
            addr: "127.0.0.1:0".parse().unwrap(),
            running: None,
        };
        relay.restart();
        relay
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A new account with one device.
    pub fn account(&self, name: &str) -> DeviceCredentials {
        let account = format!("acc-{name}");
        self.inner.data.lock().unwrap().accounts.insert(account.clone(), name.to_string());
        self.inner.new_device(&account)
    }

    /// Make `account` a member of `case` with `role`.
    pub fn add_member(&self, case: &str, account: &str, role: Role) {
        self.inner.data.lock().unwrap().cases.entry(case.to_string()).or_default().insert(account.to_string(), role);
    }

    /// Documents registered for `case`.
    pub fn documents(&self, case: &str) -> BTreeSet<String> {
        self.inner.data.lock().unwrap().docs.iter().filter(|(_, c)| *c == case).map(|(d, _)| d.clone()).collect()
    }

    /// WebSocket upgrade requests received so far.
    pub fn upgrades(&self) -> usize {
        self.inner.upgrades.load(Ordering::SeqCst)
    }

    /// Hold (or release) accepted sync connections before the samod handshake.
    pub fn hold_sync(&self, hold: bool) {
        self.inner.hold.send_replace(hold);
    }

    /// Whether the relay's samod repository holds document `doc` with content.
    pub fn has_document(&self, doc: &str) -> bool {
        use casebook_core::storage::{Storage, key};
        !self.storage.keys(&key([doc]).unwrap()).unwrap().is_empty()
    }

    /// Stop: every connection drops; data is kept.
    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            *self.inner.acceptor.lock().unwrap() = None;
            r.runtime.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(5), r.repo.stop()).await;
            });
            r.runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }

    /// (Re)start on the same port (a free one the first time) with the same data.
    pub fn restart(&mut self) {
        self.stop();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let storage = self.storage.clone();
        let addr = self.addr;
        let (repo, listener) = runtime.block_on(async move {
            let repo = Repo::build_tokio()
                .with_storage(SamodStorage::new(Arc::new(storage)))
                .with_peer_id(PeerId::from(RELAY_PEER_ID))
                .load()
                .await;
            // The port may take a moment to be free again after a stop.
            let mut tries = 0;
            let listener = loop {
                match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => break l,
                    Err(e) if tries < 50 => {
                        tries += 1;
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("cannot bind {addr}: {e}"),
                }
            };
            (repo, listener)
        });
        self.addr = listener.local_addr().unwrap();
        let acceptor = repo.make_acceptor(samod::Url::parse(&format!("ws://{}/v1/sync", self.addr)).unwrap()).unwrap();
        *self.inner.acceptor.lock().unwrap() = Some(acceptor);
        let app = router(self.inner.clone());
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        self.running = Some(Running { runtime, repo });
    }
}

impl Drop for FakeRelay {
    fn drop(&mut self) {
        self.stop();
    }
}
