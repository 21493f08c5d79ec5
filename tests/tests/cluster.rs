//! Several relay processes on one PostgreSQL database (issue 14): the real `casebook-server` binary three
//! times over a fresh database, phones on real sled stores syncing through different processes.
//!
//! - siblings connected to different processes edit online (live) and offline, and converge;
//! - an invite redeemed at the same moment on two processes succeeds exactly once;
//! - a member removed on process 1 stops receiving on process 3, and a device revoked on process 1 has its
//!   live connection on process 3 closed, within a second;
//! - a process killed (SIGKILL) while a phone syncs through a load balancer: the phone goes on through the
//!   others and nothing the relay acknowledged is lost;
//! - the bus (PostgreSQL `LISTEN/NOTIFY`, reached through a proxy here) goes silent for a while: cases still
//!   converge (the periodic repair), and quickly again once it is back.
//!
//! Needs PostgreSQL (`CASEBOOK_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432`); the README test
//! command starts or installs it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebook_core::CaseId;
use casebook_core::model::appointment::{AppointmentKind, NewAppointment};
use casebook_core::model::text::TextField;
use casebook_core::relay_api::Role;
use casebook_core::sync::{RelayClient, SharedCase, SyncClient};
use casebook_tests::RelayProcess;
use casebook_tests::phone::{Phone, WAIT};
use casebook_tests::proxy::{Mode, Proxy};

fn admin_url() -> String {
    std::env::var("CASEBOOK_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn pg_admin(sql: &str) -> Result<(), postgres::Error> {
    let mut c = postgres::Client::connect(&format!("{}/postgres", admin_url()), postgres::NoTls)?;
    c.batch_execute(sql)
}

/// A fresh database, dropped when the test ends.
struct TestDb {
    name: String,
}

impl TestDb {
    fn create() -> TestDb {
        let name = format!("casebook_cluster_{:x}", std::process::id() as u64 * 1_000_003 + nanos() % 1_000_000);
        if let Err(e) = pg_admin(&format!("create database {name}")) {
            panic!("PostgreSQL is needed at {} ({e}): run the README test command, which starts it", admin_url());
        }
        TestDb { name }
    }

    fn url(&self) -> String {
        format!("{}/{}", admin_url(), self.name)
    }

    /// The same database reached through `proxy` (the bus of a process, cut by tests).
    fn url_through(&self, proxy: &Proxy) -> String {
        let admin = admin_url();
        let (scheme_user, _) = admin.rsplit_once('@').expect("postgres://user@host:port");
        format!("{scheme_user}@{}/{}", proxy.addr(), self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = pg_admin(&format!("drop database if exists {} with (force)", self.name));
    }
}

fn nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Relay processes on one database.
struct Cluster {
    nodes: Vec<Option<RelayProcess>>,
    _dirs: Vec<tempfile::TempDir>,
    _db: TestDb,
}

impl Cluster {
    /// `n` processes; `extra(i)` adds flags to process `i`.
    fn start(n: usize, db: TestDb, extra: impl Fn(usize) -> Vec<String>) -> Cluster {
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for i in 0..n {
            let dir = tempfile::tempdir().unwrap();
            let mut flags = vec!["--database".to_string(), db.url()];
            flags.extend(extra(i));
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            let log = std::env::var("CASEBOOK_CLUSTER_LOG").unwrap_or_else(|_| "info".into());
            nodes.push(Some(RelayProcess::start_logging(dir.path(), None, &flags, &log)));
            dirs.push(dir);
        }
        Cluster { nodes, _dirs: dirs, _db: db }
    }

    fn url(&self, i: usize) -> String {
        self.nodes[i].as_ref().expect("running").url.clone()
    }

    fn addr(&self, i: usize) -> SocketAddr {
        format!("127.0.0.1:{}", self.nodes[i].as_ref().expect("running").port).parse().unwrap()
    }

    /// The last lines each process logged (for failure messages).
    fn logs(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(n) = n {
                let lines = n.lines();
                out.push_str(&format!("--- process {i}\n"));
                for l in lines.iter().rev().take(60).rev() {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out
    }

    fn kill(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            n.kill();
        }
    }
}

fn symptoms(case: &SharedCase) -> String {
    case.lock().unwrap().text(&TextField::Symptoms).unwrap()
}

/// Type `words` into the symptoms and save; online, the save goes to the relay at once (what the apps'
/// autosave does through `sync_case`).
fn type_in(phone: &Phone, case: &SharedCase, words: &str) {
    case.lock().unwrap().append_text(&TextField::Symptoms, words).unwrap();
    match &phone.sync {
        Some(s) => s.sync_case(case).unwrap(),
        None => {
            case.lock().unwrap().save().unwrap();
        }
    }
}

/// Wait until `cond` holds; false after `within`.
fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ana (through `ana_url`) creates and shares a case; Ben (account made through `ben_url`) redeems the
/// invite through `redeem_url` and joins through `ben_url`. Both end online and in sync.
fn family(ana_url: &str, redeem_url: &str, ben_url: &str) -> (Phone, Phone, SharedCase, SharedCase, CaseId) {
    let mut ana = Phone::new(ana_url, "Ana");
    let mut ben = Phone::new(ben_url, "Ben");
    let (mut a, _) = ana.store.create_case("Mum", "Ana", Some("daughter")).unwrap();
    a.append_text(&TextField::Symptoms, "Started: ").unwrap();
    a.save().unwrap();
    let id = a.id().clone();
    let a = Arc::new(Mutex::new(a));
    let s = ana.online(ana_url);
    s.block_on(s.share_case(&a)).unwrap();
    ana.sync(&a);
    let code = ana.client().relay().create_invite(&id, Role::Editor, None).unwrap().code;
    RelayClient::with_token(redeem_url, &ben.creds.token).unwrap().redeem_invite(&code).unwrap();
    let s = ben.online(ben_url);
    let b = s.block_on(s.join_case(&id, WAIT)).unwrap();
    ben.sync(&b);
    (ana, ben, a, b, id)
}

/// `GET path` on a relay; the body.
fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// A gauge or counter from `/metrics`.
fn metric(addr: SocketAddr, name: &str) -> Option<f64> {
    http_get(addr, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

#[test]
fn siblings_on_different_processes_converge_online_and_offline() {
    let cluster = Cluster::start(3, TestDb::create(), |_| Vec::new());
    let (u0, u1, u2) = (cluster.url(0), cluster.url(1), cluster.url(2));
    let (mut ana, mut ben, a, b, _) = family(&u0, &u1, &u2);

    // Online: Ana types on process 1, Ben (on process 3) sees it live, and the other way round.
    type_in(&ana, &a, "cough at night. ");
    assert!(
        eventually(Duration::from_secs(10), || symptoms(&b).contains("cough at night")),
        "{}\n{}",
        symptoms(&b),
        cluster.logs()
    );
    type_in(&ben, &b, "Fever since Tuesday. ");
    assert!(eventually(Duration::from_secs(10), || symptoms(&a).contains("Fever since Tuesday")), "{}", symptoms(&a));

    // A new appointment with notes typed during it (a new notes document, registered and first stored by
    // process 1 while Ben, on process 3, learns of it from the overview): Ben reads the notes live.
    let (appt, notes) = {
        let mut c = a.lock().unwrap();
        let me = c.care_team().into_iter().find(|g| g.name == "Ana").expect("Ana").id;
        let appt = c
            .add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() })
            .unwrap();
        (appt.clone(), TextField::AppointmentNotes { appointment: appt, author: me })
    };
    ana.client().sync_case(&a).unwrap();
    for word in ["Dr Okafor: ", "PET-CT first, ", "then decide."] {
        a.lock().unwrap().append_text(&notes, word).unwrap();
        ana.client().sync_case(&a).unwrap();
    }
    let read_notes = |c: &SharedCase| c.lock().unwrap().text(&notes).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(15), || read_notes(&b).ends_with("then decide.")),
        "Ben's notes of {appt}: {:?}\n{}",
        read_notes(&b),
        cluster.logs()
    );

    // Offline: both type; then each comes back through another process.
    ana.offline();
    ben.offline();
    let mut typed = Vec::new();
    for i in 0..40 {
        let (wa, wb) = (format!("ana{i} "), format!("ben{i} "));
        type_in(&ana, &a, &wa);
        type_in(&ben, &b, &wb);
        typed.push(wa);
        typed.push(wb);
    }
    ana.online(&u1);
    ben.online(&u0);
    ana.sync(&a);
    ben.sync(&b);
    ana.sync(&a);
    assert!(
        eventually(Duration::from_secs(15), || symptoms(&a) == symptoms(&b)),
        "diverged:\n{}\n{}",
        symptoms(&a),
        symptoms(&b)
    );
    let text = symptoms(&a);
    for w in &typed {
        assert!(text.contains(w.as_str()), "{w} lost: {text}");
    }
    ana.offline();
    ben.offline();
}

#[test]
fn an_invite_redeemed_on_two_processes_at_once_succeeds_once() {
    let cluster = Cluster::start(3, TestDb::create(), |_| Vec::new());
    let (u0, u1, u2) = (cluster.url(0), cluster.url(1), cluster.url(2));
    let ana = RelayClient::new(&u0).unwrap().create_account("Ana", None).unwrap();
    let ana_api = RelayClient::with_token(&u0, &ana.token).unwrap();
    let case = CaseId::random();
    ana_api.register_case(&case).unwrap();
    let rounds = 8;
    for round in 0..rounds {
        let code = ana_api.create_invite(&case, Role::Editor, None).unwrap().code;
        let redeemers: Vec<std::thread::JoinHandle<bool>> = [&u1, &u2]
            .into_iter()
            .map(|url| {
                let creds = RelayClient::new(url).unwrap().create_account("Sibling", None).unwrap();
                let (url, code) = (url.clone(), code.clone());
                std::thread::spawn(move || {
                    RelayClient::with_token(&url, &creds.token).unwrap().redeem_invite(&code).is_ok()
                })
            })
            .collect();
        let wins = redeemers.into_iter().map(|t| t.join().unwrap()).filter(|ok| *ok).count();
        assert_eq!(wins, 1, "round {round}: the code worked {wins} times");
    }
    let members = RelayClient::with_token(&u2, &ana.token).unwrap().list_members(&case).unwrap();
    assert_eq!(members.len(), 1 + rounds, "{members:?}");
}

#[test]
fn a_removal_or_revocation_on_one_process_takes_effect_on_another_within_a_second() {
    let cluster = Cluster::start(3, TestDb::create(), |_| Vec::new());
    let (u0, u2) = (cluster.url(0), cluster.url(2));
    let (mut ana, mut ben, a, b, id) = family(&u0, &u0, &u2);
    type_in(&ana, &a, "before. ");
    assert!(eventually(Duration::from_secs(10), || symptoms(&b).contains("before.")));

    // Removed on process 1: Ben, connected to process 3, gets nothing written a second later.
    ana.client().relay().remove_member(&id, &ben.creds.account_id).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    type_in(&ana, &a, "after the removal. ");
    ana.sync(&a);
    std::thread::sleep(Duration::from_secs(2));
    assert!(!symptoms(&b).contains("after the removal"), "a removed member still receives: {}", symptoms(&b));
    ben.offline();

    // Revoked on process 1: a device's live connection on process 3 is closed within a second.
    let cy = Phone::new(&u0, "Cy");
    let sync = SyncClient::start(&cy.store, &u2, cy.creds.clone()).unwrap();
    let node3 = cluster.addr(2);
    assert!(eventually(Duration::from_secs(10), || metric(node3, "casebook_relay_connections") == Some(1.0)));
    let revoked_at = Instant::now();
    RelayClient::with_token(&u0, &cy.creds.token).unwrap().revoke_device(&cy.creds.device_id).unwrap();
    assert!(
        eventually(Duration::from_secs(1), || metric(node3, "casebook_relay_connections") == Some(0.0)),
        "still connected {:?} after the revocation",
        revoked_at.elapsed()
    );
    println!("revocation on process 1 closed the connection on process 3 after {:?}", revoked_at.elapsed());
    let _ = sync.stop();
    ana.offline();
}

/// A TCP load balancer: each connection goes to the first target that accepts it, in order.
struct Balancer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Balancer {
    fn start(targets: Vec<SocketAddr>) -> Balancer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Some(upstream) =
                    targets.iter().find_map(|t| TcpStream::connect_timeout(t, Duration::from_millis(500)).ok())
                else {
                    continue;
                };
                for (mut from, mut to) in
                    [(client.try_clone().unwrap(), upstream.try_clone().unwrap()), (upstream, client)]
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                        let _ = from.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Balancer { addr, stop }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

#[test]
fn a_process_killed_during_sync_loses_nothing_acknowledged() {
    let mut cluster = Cluster::start(3, TestDb::create(), |_| Vec::new());
    let balancer = Balancer::start(vec![cluster.addr(0), cluster.addr(1), cluster.addr(2)]);
    let lb = balancer.url();
    let u2 = cluster.url(2);
    let (mut ana, mut ben, a, b, id) = family(&lb, &lb, &u2);
    ben.offline();
    let mut acknowledged = String::new();
    let mut killed = false;
    for round in 0..12 {
        type_in(&ana, &a, &format!("round{round} "));
        if round == 4 {
            // SIGKILL process 1 (where the balancer sent Ana) while her sync is under way.
            let node = cluster.nodes[0].take().expect("running");
            let killer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                node.kill();
            });
            let s = ana.client();
            let _ = s.block_on(s.sync_and_wait(&a, Duration::from_secs(2)));
            killer.join().unwrap();
            killed = true;
            continue;
        }
        // Acknowledged: the relay reported it stored.
        let s = ana.client();
        if s.block_on(s.sync_and_wait(&a, WAIT)).is_ok() {
            acknowledged = symptoms(&a);
        }
    }
    assert!(killed);
    assert!(acknowledged.contains("round11"), "the phone never synced through the other processes: {acknowledged}");
    ana.offline();
    cluster.kill(1);
    // A fresh device of Ben downloads the case from process 3: everything acknowledged is there.
    let mut fresh = Phone::of(&ben.creds);
    let s = fresh.online(&u2);
    let case = s.block_on(s.join_case(&id, WAIT)).unwrap();
    fresh.sync(&case);
    assert_eq!(symptoms(&case), acknowledged);
    let _ = b;
    fresh.offline();
}

#[test]
fn cases_converge_while_the_bus_is_down_and_quickly_once_it_is_back() {
    let db = TestDb::create();
    let pg: SocketAddr = {
        let admin = admin_url();
        let host = admin.rsplit_once('@').unwrap().1.split('/').next().unwrap().to_string();
        std::net::ToSocketAddrs::to_socket_addrs(&host).unwrap().next().unwrap()
    };
    let proxies: Vec<Proxy> = (0..2).map(|_| Proxy::start(pg).unwrap()).collect();
    let bus_urls: Vec<String> = proxies.iter().map(|p| db.url_through(p)).collect();
    let cluster = Cluster::start(2, db, |i| {
        vec!["--bus".into(), bus_urls[i].clone(), "--cluster-repair-secs".into(), "2".into()]
    });
    let (u0, u1) = (cluster.url(0), cluster.url(1));
    let (mut ana, mut ben, a, b, _) = family(&u0, &u0, &u1);
    type_in(&ana, &a, "bus up. ");
    let t = Instant::now();
    assert!(eventually(Duration::from_secs(10), || symptoms(&b).contains("bus up.")));
    println!("with the bus: on the other process after {:?}", t.elapsed());

    for p in &proxies {
        p.set_mode(Mode::Blackhole);
    }
    type_in(&ana, &a, "bus down. ");
    let t = Instant::now();
    assert!(
        eventually(Duration::from_secs(15), || symptoms(&b).contains("bus down.")),
        "not repaired without the bus: {}",
        symptoms(&b)
    );
    println!("without the bus: on the other process after {:?} (repair every 2 s)", t.elapsed());
    type_in(&ben, &b, "reply while down. ");
    assert!(eventually(Duration::from_secs(15), || symptoms(&a).contains("reply while down.")));

    let node1 = cluster.addr(0);
    assert!(
        eventually(Duration::from_secs(8), || metric(node1, "casebook_relay_cluster_signals_dropped_total")
            .is_some_and(|n| n > 0.0)),
        "process 1 sent its signals into a dead bus without noticing"
    );
    for p in &proxies {
        p.set_mode(Mode::Pass);
    }
    // The bus reconnects (and repairs what it missed); then edits travel by signal again.
    std::thread::sleep(Duration::from_secs(8));
    type_in(&ana, &a, "bus back. ");
    let t = Instant::now();
    assert!(eventually(Duration::from_secs(10), || symptoms(&b).contains("bus back.")));
    println!("bus back: on the other process after {:?}", t.elapsed());
    ana.sync(&a);
    ben.sync(&b);
    assert!(eventually(Duration::from_secs(10), || symptoms(&a) == symptoms(&b)));
    ana.offline();
    ben.offline();
}

#[test]
fn a_quiet_member_on_another_process_still_receives() {
    // Cases unloaded after 300 ms without use: Ben's connection on process 2 lets go of the case (dormant)
    // and process 2 unloads it between Ana's edits, which reach it only through the database and a signal.
    let cluster = Cluster::start(2, TestDb::create(), |_| vec!["--case-unload-ms".into(), "300".into()]);
    let (u0, u1) = (cluster.url(0), cluster.url(1));
    let (mut ana, mut ben, a, b, _) = family(&u0, &u0, &u1);
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(1500));
        let words = format!("quiet round {round}. ");
        type_in(&ana, &a, &words);
        assert!(
            eventually(Duration::from_secs(10), || symptoms(&b).contains(&words)),
            "round {round}: {}\n{}",
            symptoms(&b),
            cluster.logs()
        );
    }
    ana.offline();
    ben.offline();
}
