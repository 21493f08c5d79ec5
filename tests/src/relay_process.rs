//! [`RelayProcess`]: the real relay binary (`casebook-server`) on a loopback port, with `RUST_LOG=trace`
//! and its output captured line by line; killed with SIGKILL by [`RelayProcess::kill`].

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Build a binary of another workspace package (once per process) into the target directory and profile the
/// tests were built with, and return its path: `CARGO_BIN_EXE_*` only exists for the test's own package.
pub fn build_bin(package: &str, bin: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // <target>/<profile>/deps/TEST-HASH → <target>/<profile>
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps").to_path_buf();
    let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(other) => other.to_string(),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--quiet", "-p", package, "--bin", bin, "--profile", &profile])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo build");
    assert!(out.status.success(), "cargo build -p {package} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let path = profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.is_file(), "{} not found after the build", path.display());
    path
}

/// The relay binary, built once per test run.
pub fn relay_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| build_bin("casebook-server", "casebook-server"))
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The relay binary with `RUST_LOG=trace`, stdout and stderr captured.
pub struct RelayProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The port.
    pub port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl RelayProcess {
    /// Start on `port` (a free one if `None`) over `dir`, with extra flags; waits until it serves.
    pub fn start(dir: &Path, port: Option<u16>, extra: &[&str]) -> Self {
        Self::start_logging(dir, port, extra, "trace")
    }

    /// [`RelayProcess::start`] with `RUST_LOG=log` (several relays at `trace` slow a 2-core machine).
    pub fn start_logging(dir: &Path, port: Option<u16>, extra: &[&str], log: &str) -> Self {
        let port = port.unwrap_or_else(free_port);
        let mut child = Command::new(relay_bin())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir", &dir.display().to_string()])
            .args(extra)
            .env("RUST_LOG", log)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the relay");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let streams: [Box<dyn std::io::Read + Send>; 2] =
            [Box::new(child.stderr.take().expect("stderr")), Box::new(child.stdout.take().expect("stdout"))];
        for stream in streams {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the relay did not start: {:?}", lines.lock().unwrap());
            std::thread::sleep(Duration::from_millis(25));
        }
        RelayProcess { child, url, port, lines }
    }

    /// What it logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// SIGKILL, and what it logged.
    pub fn kill(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
