//! Test helpers: a real relay in a temp dir, a tiny HTTP/1.1 client (over TCP or TLS, from any loopback
//! source address), WebSocket clients, and a samod repository that dials the relay with a device token.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use automerge::ReadDoc;
use automerge::transaction::Transactable;
use casebook_core::relay_api::{
    CaseMembership, CreateAccount, CreateInvite, DeviceCredentials, Invite, RedeemInvite, RegisterCase, Role,
    peer_id_for_device,
};
use casebook_server::{Config, Relay, RelayHandle};
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use samod::{BackoffConfig, DialError, Dialer, DocHandle, DocumentId, PeerId, Repo, Transport};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Whether this run keeps its relays in PostgreSQL (`CASEBOOK_TEST_BACKEND=postgres`) rather than sled
/// (unset, or `sled`): the same suite runs against both backends.
pub fn on_postgres() -> bool {
    match std::env::var("CASEBOOK_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sled") => false,
        Ok("postgres") => true,
        Ok(other) => panic!("CASEBOOK_TEST_BACKEND={other}: sled or postgres"),
    }
}

/// For a test about sled's files or the data directory: on a PostgreSQL run, print why it does not apply
/// and return true (the test returns).
pub fn skip_on_postgres(why: &str) -> bool {
    if on_postgres() {
        eprintln!("skipped on PostgreSQL: {why}");
    }
    on_postgres()
}

/// A relay on 127.0.0.1:0 over a fresh temp dir — and on a PostgreSQL run, a fresh database (kept across
/// [`TestRelay::restart`], dropped with the relay).
pub struct TestRelay {
    pub handle: RelayHandle,
    pub dir: tempfile::TempDir,
    /// The relay's database on a PostgreSQL run.
    pub db: Option<TestDb>,
}

impl TestRelay {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        StoppedRelay::new().start_with(adjust).await
    }

    /// Stop and start again on the same data directory or database (a new port).
    pub async fn restart(self, adjust: impl FnOnce(&mut Config)) -> Self {
        self.stop().await.start_with(adjust).await
    }

    /// Shut the relay down gracefully, keeping its storage.
    pub async fn stop(self) -> StoppedRelay {
        let TestRelay { handle, dir, db } = self;
        handle.shutdown().await;
        StoppedRelay { dir, db }
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.addr()
    }

    pub fn http(&self) -> Http {
        Http::new(self.addr())
    }
}

/// A relay's storage without a relay: its temp data directory and, on a PostgreSQL run, its database.
pub struct StoppedRelay {
    pub dir: tempfile::TempDir,
    pub db: Option<TestDb>,
}

impl Default for StoppedRelay {
    fn default() -> Self {
        Self::new()
    }
}

impl StoppedRelay {
    /// Fresh storage for the run's backend.
    pub fn new() -> Self {
        StoppedRelay { dir: tempfile::tempdir().unwrap(), db: on_postgres().then(TestDb::create) }
    }

    /// The test configuration over this storage.
    pub fn config(&self) -> Config {
        Config { database: self.db.as_ref().map(|d| d.url.clone()), ..Config::for_tests(self.dir.path()) }
    }

    pub async fn start_with(self, adjust: impl FnOnce(&mut Config)) -> TestRelay {
        let mut config = self.config();
        adjust(&mut config);
        let handle = Relay::start(config).await.unwrap();
        TestRelay { handle, dir: self.dir, db: self.db }
    }

    /// The stored data, opened directly (no relay may run on it).
    pub fn storage(&self) -> Box<dyn casebook_core::storage::Storage> {
        match &self.db {
            Some(db) => Box::new(casebook_server::PgStorage::open(&db.url).unwrap()),
            None => Box::new(casebook_core::storage::SledStorage::open(self.dir.path()).unwrap()),
        }
    }

    /// Every stored byte, by where it is: each regular file under the data directory, and on a
    /// PostgreSQL run every value and attachment row of the database too.
    pub fn stored_bytes(&self) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = files_under(self.dir.path())
            .into_iter()
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        if let Some(db) = &self.db {
            out.extend(pg_rows(
                &db.url,
                "select 'kv ' || key, value from casebook_kv \
                 union all select 'blob ' || name || ' at ' || off, data from casebook_blob_chunk",
            ));
        }
        out
    }
}

/// Every regular file under `dir` (a running relay's admin socket cannot be read).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p))
        } else if p.is_file() {
            out.push(p)
        }
    }
    out
}

/// The rows `(text, bytes)` a query answers on database `url`.
pub fn pg_rows(url: &str, sql: &str) -> Vec<(String, Vec<u8>)> {
    let (url, sql) = (url.to_string(), sql.to_string());
    // The synchronous client runs its own runtime: keep it off the test's.
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query(sql.as_str(), &[]).unwrap().iter().map(|r| (r.get(0), r.get(1))).collect()
    })
    .join()
    .unwrap()
}

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The `error` code of a JSON error body.
    pub fn error_code(&self) -> String {
        let v: serde_json::Value = self.json();
        v["error"].as_str().unwrap_or_else(|| panic!("not an ApiError: {}", self.body)).to_string()
    }
}

/// A minimal HTTP/1.1 client: one connection per request, `Connection: close`.
#[derive(Clone)]
pub struct Http {
    pub addr: SocketAddr,
    /// Source address (any 127.x.y.z on Linux), to act as another client.
    pub from: Option<IpAddr>,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Self {
        Http { addr, from: None }
    }

    pub fn with_source(&self, ip: &str) -> Self {
        Http { addr: self.addr, from: Some(ip.parse().unwrap()) }
    }

    pub async fn connect(&self) -> TcpStream {
        match self.from {
            None => TcpStream::connect(self.addr).await.unwrap(),
            Some(ip) => {
                let s = TcpSocket::new_v4().unwrap();
                s.bind(SocketAddr::new(ip, 0)).unwrap();
                s.connect(self.addr).await.unwrap()
            }
        }
    }

    pub async fn raw(&self, method: &str, path: &str, token: Option<&str>, body: Option<(&str, &[u8])>) -> Resp {
        let stream = self.connect().await;
        send_request(stream, &self.addr.to_string(), method, path, token, body).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.raw("GET", path, token, None).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.raw("DELETE", path, token, None).await
    }

    pub async fn send_json<T: Serialize>(&self, method: &str, path: &str, token: Option<&str>, body: &T) -> Resp {
        let bytes = serde_json::to_vec(body).unwrap();
        self.raw(method, path, token, Some(("application/json", &bytes))).await
    }

    pub async fn post<T: Serialize>(&self, path: &str, token: Option<&str>, body: &T) -> Resp {
        self.send_json("POST", path, token, body).await
    }

    pub async fn post_empty(&self, path: &str, token: Option<&str>) -> Resp {
        self.raw("POST", path, token, None).await
    }

    // --- API shortcuts ---

    pub async fn create_account(&self, name: &str) -> DeviceCredentials {
        let r = self.post("/v1/accounts", None, &CreateAccount { display_name: name.into(), device_name: None }).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()
    }

    pub async fn register_case(&self, token: &str, case_id: &str) -> CaseMembership {
        let r = self.post("/v1/cases", Some(token), &RegisterCase { case_id: case_id.into() }).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()
    }

    pub async fn invite(&self, token: &str, case_id: &str, role: Role) -> Invite {
        let r = self
            .post(&format!("/v1/cases/{case_id}/invites"), Some(token), &CreateInvite { role, expires_in_secs: None })
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()
    }

    pub async fn redeem(&self, token: &str, code: &str) -> Resp {
        self.post("/v1/invites/redeem", Some(token), &RedeemInvite { code: code.into() }).await
    }

    /// Owner `owner` shares `case_id` with a new account, returning its credentials.
    pub async fn member(&self, owner: &str, case_id: &str, name: &str, role: Role) -> DeviceCredentials {
        let creds = self.create_account(name).await;
        let invite = self.invite(owner, case_id, role).await;
        let r = self.redeem(&creds.token, &invite.code).await;
        assert_eq!(r.status, 200, "{}", r.body);
        creds
    }
}

/// Send one request on `stream` and read the whole response.
pub async fn send_request<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> Resp {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let payload: &[u8] = match body {
        Some((ctype, bytes)) => {
            req.push_str(&format!("Content-Type: {ctype}\r\n"));
            bytes
        }
        None => b"",
    };
    req.push_str(&format!("Content-Length: {}\r\n\r\n", payload.len()));
    stream.write_all(req.as_bytes()).await.unwrap();
    // A body over the limit may be refused before it is read: ignore a reset while writing it.
    let _ = stream.write_all(payload).await;
    let _ = stream.flush().await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut raw)).await.expect("response in time");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Resp {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("response head");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")) {
        body = dechunk(&body);
    }
    Resp { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

pub type Ws = WebSocketStream<TcpStream>;

/// Open `/v1/sync` from `http`'s source address with the token as a Bearer header (or `?token=`),
/// returning the socket or the HTTP status of the refused upgrade.
pub async fn ws_connect(http: &Http, token: Option<&str>, in_query: bool) -> Result<Ws, u16> {
    let addr = http.addr;
    let url = match (token, in_query) {
        (Some(t), true) => format!("ws://{addr}/v1/sync?token={t}"),
        _ => format!("ws://{addr}/v1/sync"),
    };
    let mut request = url.into_client_request().unwrap();
    if let (Some(t), false) = (token, in_query) {
        request.headers_mut().insert("Authorization", format!("Bearer {t}").parse().unwrap());
    }
    let stream = http.connect().await;
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("unexpected WebSocket error: {e}"),
    }
}

/// Read until a close frame (or end), returning its code and reason.
pub async fn expect_close(ws: &mut Ws) -> Option<(u16, String)> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.expect("close in time") {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| (u16::from(f.code), f.reason.to_string())),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// A samod dialer over tokio-tungstenite that sends the device token as a Bearer header.
pub struct TokenDialer {
    pub url: samod::Url,
    pub token: String,
}

impl Dialer for TokenDialer {
    type Error = Infallible;

    fn url(&self) -> samod::Url {
        self.url.clone()
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<Self::Error>>> {
        let url = self.url.clone();
        let token = self.token.clone();
        Box::pin(async move {
            let mut request = url.as_str().into_client_request().map_err(DialError::transient)?;
            request.headers_mut().insert("Authorization", format!("Bearer {token}").parse().unwrap());
            let (ws, _) = tokio_tungstenite::connect_async(request).await.map_err(DialError::transient)?;
            let (tx, rx) = ws.split();
            let rx = rx.filter_map(|m| {
                futures::future::ready(match m {
                    Ok(Message::Binary(b)) => Some(Ok(b.to_vec())),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
            });
            let tx = tx.with(|b: Vec<u8>| {
                futures::future::ready(Ok::<_, tokio_tungstenite::tungstenite::Error>(Message::Binary(b.into())))
            });
            Ok(Transport::new(rx, tx).with_expected_peer_id(PeerId::from(casebook_core::relay_api::RELAY_PEER_ID)))
        })
    }
}

/// A samod repository for a device, dialing the relay.
pub struct Client {
    pub repo: Repo,
    pub dialer: Option<samod::DialerHandle<Infallible>>,
}

impl Client {
    /// A repository with the device's peer id, not yet connected.
    pub async fn offline(creds: &DeviceCredentials) -> Self {
        Self::offline_as(&peer_id_for_device(&creds.device_id)).await
    }

    pub async fn offline_as(peer_id: &str) -> Self {
        let repo = Repo::build_tokio().with_peer_id(PeerId::from(peer_id)).load().await;
        Client { repo, dialer: None }
    }

    /// Dial the relay with `token`. A few retries: samod 0.16's first dial attempt can fail on a
    /// multi-thread runtime ("no dialer registered": `Repo::dial` registers the dialer after asking for a
    /// connection).
    pub fn dial(&mut self, relay: &RelayHandle, token: &str) {
        self.dial_url(&relay.url(), token);
    }

    /// Dial a relay by base URL (`ws://host:port`).
    pub fn dial_url(&mut self, base: &str, token: &str) {
        let dialer = TokenDialer { url: format!("{base}/v1/sync").parse().unwrap(), token: token.into() };
        let backoff = BackoffConfig {
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
            max_retries: Some(3),
        };
        self.dialer = Some(self.repo.dial(backoff, Arc::new(dialer)).unwrap());
    }

    /// A connected repository (handshake done).
    pub async fn connect(relay: &RelayHandle, creds: &DeviceCredentials) -> Self {
        let mut c = Self::offline(creds).await;
        c.dial(relay, &creds.token);
        c.established().await;
        c
    }

    pub async fn established(&self) {
        let dialer = self.dialer.as_ref().expect("dialed");
        tokio::time::timeout(TIMEOUT, dialer.established()).await.expect("handshake in time").expect("connected");
    }

    /// Create a document with `key = value`.
    pub async fn create(&self, key: &str, value: &str) -> DocHandle {
        let mut doc = automerge::Automerge::new();
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, key, value).unwrap();
        tx.commit();
        self.repo.create(doc).await.unwrap()
    }

    pub async fn find(&self, id: &DocumentId) -> Option<DocHandle> {
        tokio::time::timeout(TIMEOUT, self.repo.find(id.clone())).await.expect("find in time").unwrap()
    }

    /// Find a document another device has just sent to the relay: its first sync may still be on its
    /// way, and the relay answers "unavailable" until it is there, so ask again for up to 10 s.
    pub async fn find_soon(&self, id: &DocumentId) -> DocHandle {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if let Some(d) = self.find(id).await {
                return d;
            }
            assert!(tokio::time::Instant::now() < deadline, "the document never reached this device");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) {
        self.repo.stop().await;
    }
}

/// Set `key = value` in a document.
pub async fn put(doc: &DocHandle, key: &str, value: &str) {
    let (key, value) = (key.to_string(), value.to_string());
    doc.with_document_async(move |d| {
        let mut tx = d.transaction();
        tx.put(automerge::ROOT, key, value).unwrap();
        tx.commit();
    })
    .await
    .unwrap();
}

/// The string under `key`, if any.
pub async fn get(doc: &DocHandle, key: &str) -> Option<String> {
    let key = key.to_string();
    doc.with_document_async(move |d| {
        d.get(automerge::ROOT, key.as_str()).unwrap().and_then(|(v, _)| v.as_str().map(str::to_string))
    })
    .await
    .unwrap()
}

/// Wait until `key` of `doc` equals `value`, at most `within`.
pub async fn wait_for(doc: &DocHandle, key: &str, value: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if get(doc, key).await.as_deref() == Some(value) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Wait until `check` holds, polling, at most `within`.
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A fresh database on the test PostgreSQL server (`CASEBOOK_TEST_POSTGRES`, default
/// `postgres://postgres@127.0.0.1:5432`), dropped when this goes. The README test command makes sure the
/// server runs, so a missing server fails the test with that advice instead of skipping it.
pub struct TestDb {
    pub url: String,
    admin: String,
    name: String,
}

fn pg_admin(admin: &str, sql: String) -> Result<(), String> {
    let url = format!("{admin}/postgres");
    // The synchronous client runs its own runtime: keep it off the test's.
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).map_err(|e| e.to_string())?;
        c.batch_execute(&sql).map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "the PostgreSQL thread panicked".to_string())?
}

impl TestDb {
    pub fn create() -> TestDb {
        let admin =
            std::env::var("CASEBOOK_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!("casebook_test_{}", uuid::Uuid::new_v4().simple());
        if let Err(e) = pg_admin(&admin, format!("create database {name}")) {
            panic!("PostgreSQL is needed at {admin} ({e}): run the README test command, which starts it");
        }
        TestDb { url: format!("{admin}/{name}"), admin, name }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = pg_admin(&self.admin, format!("drop database if exists {} with (force)", self.name));
    }
}

/// Wait until the relay reports `want` as the heads of the case's first document (its overview): what a
/// member's edit looks like once the relay has stored it. Panics after 5 s.
pub async fn wait_for_relay_heads(http: &Http, token: &str, case: &str, want: &[String]) {
    let path = format!("/v1/cases/{case}/heads");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let h: casebook_core::relay_api::CaseHeads = http.get(&path, Some(token)).await.json();
        if h.documents.first().is_some_and(|d| d.heads == want) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the relay never reported the heads {want:?}: {h:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The heads of a device's handle as the relay reports them (hex).
pub fn heads_hex(doc: &DocHandle) -> Vec<String> {
    doc.with_document(|d| d.get_heads()).iter().map(|h| h.to_string()).collect()
}
