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
}

impl Target {
    /// Resident memory of the relay process in bytes (`VmRSS`), if measurable.
    pub fn rss_bytes(&self) -> Option<u64> {
        self.pid.and_then(|p| proc_status_kb(p, "VmRSS:")).map(|kb| kb * 1024)
    }

    /// Peak resident memory of the relay process in bytes (`VmHWM`), if measurable.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        self.pid.and_then(|p| proc_status_kb(p, "VmHWM:")).map(|kb| kb * 1024)
    }

    /// CPU seconds (user + system) used by the relay process so far.
    pub fn cpu_secs(&self) -> Option<f64> {
        self.pid.and_then(proc_cpu_secs)
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
            Spec::Ours(..) => Target {
                kind: Kind::Ours,
                ws_url: format!("ws://127.0.0.1:{port}/v1/sync"),
                http_url: Some(format!("http://127.0.0.1:{port}")),
                pid: Some(pid),
            },
            Spec::Reference(_) => Target {
                kind: Kind::Reference,
                ws_url: format!("ws://127.0.0.1:{port}"),
                http_url: None,
                pid: Some(pid),
            },
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
