//! The relay under test: where to connect, how to get accounts, which process to measure; and starting
//! either relay as a child process on a free port with a temporary data directory.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Which relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// casebook-server: accounts and tokens.
    Ours,
    /// The automerge-repo sync server: no auth.
    Reference,
}

/// A running relay to drive.
#[derive(Debug, Clone)]
pub struct Target {
    /// Which relay (ours needs accounts).
    pub kind: Kind,
    /// The sync endpoint (`ws://…/v1/sync` for ours, `ws://…` for the reference).
    pub ws_url: String,
    /// The HTTP API (ours only).
    pub http_url: Option<String>,
    /// The relay's process, for memory and CPU (none: not measured).
    pub pid: Option<u32>,
    /// The other processes of a cluster (several relay processes on one database), after the first:
    /// empty for one process.
    pub others: Vec<Node>,
}

/// One more process of a cluster: where to connect, which process to measure.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its sync endpoint.
    pub ws_url: String,
    /// Its process (none: not measured).
    pub pid: Option<u32>,
}

impl Target {
    /// One process at `ws_url`.
    pub fn single(kind: Kind, ws_url: String, http_url: Option<String>, pid: Option<u32>) -> Target {
        Target { kind, ws_url, http_url, pid, others: Vec::new() }
    }

    /// How many relay processes (1 unless a cluster).
    pub fn processes(&self) -> usize {
        1 + self.others.len()
    }

    /// The sync endpoint for client `i`: the processes round robin (process 0 is the first).
    pub fn ws_url_for(&self, i: usize) -> &str {
        match i % self.processes() {
            0 => &self.ws_url,
            k => &self.others[k - 1].ws_url,
        }
    }

    fn pids(&self) -> impl Iterator<Item = Option<u32>> + '_ {
        std::iter::once(self.pid).chain(self.others.iter().map(|n| n.pid))
    }

    /// Resident memory of the relay process in bytes (`VmRSS`), if measurable; a cluster's sum.
    pub fn rss_bytes(&self) -> Option<u64> {
        self.rss_each().into_iter().sum()
    }

    /// Resident memory of each relay process in bytes (`VmRSS`), in process order.
    pub fn rss_each(&self) -> Vec<Option<u64>> {
        self.pids().map(|p| p.and_then(|p| proc_status_kb(p, "VmRSS:")).map(|kb| kb * 1024)).collect()
    }

    /// Peak resident memory of the relay process in bytes (`VmHWM`), if measurable; a cluster's sum.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        self.pids().map(|p| p.and_then(|p| proc_status_kb(p, "VmHWM:")).map(|kb| kb * 1024)).sum()
    }

    /// CPU seconds (user + system) used by the relay process so far; a cluster's sum.
    pub fn cpu_secs(&self) -> Option<f64> {
        self.pids().map(|p| p.and_then(proc_cpu_secs)).sum()
    }
}

fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// CPU seconds (user + system) of a process (`/proc/PID/stat`, 100 ticks per second).
pub fn proc_cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// How to start a relay.
#[derive(Debug, Clone)]
pub enum Spec {
    /// The casebook-server binary, and flags added to the ones the bench passes (`--ours-arg`).
    Ours(PathBuf, Vec<String>),
    /// `node <server.mjs>` (bench/reference).
    Reference(PathBuf),
}

/// A relay child process; killed when dropped.
pub struct RelayProcess {
    child: Child,
    spec: Spec,
    port: u16,
    dir: tempfile::TempDir,
    /// Where to connect.
    pub target: Target,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Spec {
    /// Which relay this starts.
    pub fn kind(&self) -> Kind {
        match self {
            Spec::Ours(..) => Kind::Ours,
            Spec::Reference(_) => Kind::Reference,
        }
    }

    /// Start the relay on a free loopback port with a new temporary data directory.
    pub fn start(&self) -> Result<RelayProcess> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let child = self.spawn(port, &dir)?;
        let mut p = RelayProcess { target: self.target(port, child.id()), child, spec: self.clone(), port, dir };
        p.wait_ready()?;
        Ok(p)
    }

    fn target(&self, port: u16, pid: u32) -> Target {
        match self {
            Spec::Ours(..) => Target::single(
                Kind::Ours,
                format!("ws://127.0.0.1:{port}/v1/sync"),
                Some(format!("http://127.0.0.1:{port}")),
                Some(pid),
            ),
            Spec::Reference(_) => Target::single(Kind::Reference, format!("ws://127.0.0.1:{port}"), None, Some(pid)),
        }
    }

    fn spawn(&self, port: u16, dir: &tempfile::TempDir) -> Result<Child> {
        let mut cmd = match self {
            Spec::Ours(bin, extra) => {
                let mut c = Command::new(bin);
                c.args(["--listen", &format!("127.0.0.1:{port}")])
                    .arg("--data-dir")
                    .arg(dir.path())
                    .args(["--max-connections", "100000", "--accounts-per-hour", "0"])
                    .args(["--redeem-attempts-per-minute", "0", "--auth-failures-per-minute", "0"])
                    .args(["--handshake-timeout-secs", "120", "--max-cases-per-account", "1000000"])
                    .args(extra)
                    .env("RUST_LOG", "warn");
                c
            }
            Spec::Reference(script) => {
                let mut c = Command::new("node");
                c.arg(script).args(["--port", &port.to_string()]).arg("--dir").arg(dir.path());
                c
            }
        };
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
        cmd.spawn().with_context(|| format!("starting {self:?}"))
    }
}

impl RelayProcess {
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("{:?} exited at start: {status}", self.spec);
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("{:?} did not listen within 60 s", self.spec)
    }

    /// Stop gracefully (SIGTERM, then kill after 10 s).
    pub fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A relay that can be stopped and started again on the same address and data directory: the relay
/// process of the full run, or an in-process relay in the smoke test.
pub trait Restartable: Send {
    /// Where to connect (and which process to measure) now.
    fn target(&self) -> &Target;
    /// The data directory (to pre-populate while stopped).
    fn data_dir(&self) -> &Path;
    /// Stop gracefully.
    fn stop_relay(&mut self) -> impl std::future::Future<Output = Result<()>> + Send;
    /// Start again; returns once it listens.
    fn start_relay(&mut self) -> impl std::future::Future<Output = Result<()>> + Send;
}

impl Restartable for RelayProcess {
    fn target(&self) -> &Target {
        &self.target
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    async fn stop_relay(&mut self) -> Result<()> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Ok(())
    }

    async fn start_relay(&mut self) -> Result<()> {
        self.child = self.spec.spawn(self.port, &self.dir)?;
        self.target.pid = Some(self.child.id());
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("{:?} exited at start: {status}", self.spec);
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        bail!("{:?} did not listen within 120 s", self.spec)
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new PostgreSQL database `casebook_bench_<pid>_<n>` for one run; dropped (with its connections) when
/// this is dropped.
pub struct Database {
    admin: String,
    name: String,
}

/// Run `sql` on the `postgres` database of the server `admin` (a URL without a database name), on its own
/// thread (the synchronous client must not run inside the async runtime).
fn admin_sql(admin: &str, sql: String) -> Result<()> {
    let url = format!("{}/postgres", admin.trim_end_matches('/'));
    std::thread::spawn(move || -> Result<()> {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).with_context(|| format!("connecting to {url}"))?;
        c.batch_execute(&sql).with_context(|| sql.clone())?;
        Ok(())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the database thread panicked"))?
}

impl Database {
    /// Create a new database on the PostgreSQL server `admin` (e.g. `postgres://postgres@127.0.0.1:5432`).
    pub fn create(admin: &str) -> Result<Database> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("casebook_bench_{}_{n}", std::process::id());
        admin_sql(admin, format!("CREATE DATABASE {name}"))?;
        Ok(Database { admin: admin.trim_end_matches('/').to_owned(), name })
    }

    /// Its URL, for the relay's `--database`.
    pub fn url(&self) -> String {
        format!("{}/{}", self.admin, self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = &self.name;
        if let Err(e) = admin_sql(&self.admin, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")) {
            eprintln!("dropping database {name}: {e:#}");
        }
    }
}

/// Our relay as `nodes` processes on one new PostgreSQL database (each with its own data directory and
/// port), or (no database) as one process on sled. Dropping it kills the processes, then drops the database.
pub struct Cluster {
    // Before `database`: fields drop in order, so the processes end before the database goes.
    procs: Vec<RelayProcess>,
    database: Option<Database>,
    /// Where to connect: the first process, and the others (`Target::ws_url_for`). Setup (accounts,
    /// cases) uses the first process's HTTP API.
    pub target: Target,
}

impl Cluster {
    /// Start our relay (`spec` must be [`Spec::Ours`]) as `nodes` processes on a new [`Database`] on the
    /// PostgreSQL server `admin`, one after the other (the first runs the migrations); without `admin`, one
    /// process on sled.
    pub fn start(spec: &Spec, nodes: usize, admin: Option<&str>) -> Result<Cluster> {
        let Spec::Ours(bin, extra) = spec else { bail!("only our relay runs as a cluster") };
        let Some(admin) = admin else {
            anyhow::ensure!(nodes == 1, "several relay processes need a PostgreSQL database (--ours-database)");
            let p = spec.start()?;
            return Ok(Cluster { target: p.target.clone(), procs: vec![p], database: None });
        };
        anyhow::ensure!(nodes >= 1, "at least one relay process");
        let database = Database::create(admin)?;
        let mut args = extra.clone();
        args.extend(["--database".to_owned(), database.url()]);
        let mut c = Cluster {
            procs: Vec::new(),
            database: Some(database),
            target: Target::single(Kind::Ours, String::new(), None, None),
        };
        let node_spec = Spec::Ours(bin.clone(), args);
        for _ in 0..nodes {
            c.procs.push(node_spec.start()?);
        }
        let mut target = c.procs[0].target.clone();
        target.others =
            c.procs[1..].iter().map(|p| Node { ws_url: p.target.ws_url.clone(), pid: p.target.pid }).collect();
        c.target = target;
        Ok(c)
    }

    /// Stop every process gracefully, then drop the database.
    pub fn stop(&mut self) {
        for p in &mut self.procs {
            p.stop();
        }
        self.procs.clear();
        self.database = None;
    }
}
