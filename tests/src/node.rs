//! Running the Node.js side of the interop tests (`tests/tests/interop_*.rs`): the pinned npm packages of
//! `tests/interop/` (installed on first use) and a node process whose output is drained.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// `tests/interop/`: the Node.js scripts and their pinned npm packages.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// Run a tool, or fail with what is missing.
pub fn tool_version(tool: &str) -> String {
    match Command::new(tool).arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Ok(out) => panic!(
            "`{tool} --version` failed ({}): the interop tests need Node.js >= 20 and npm\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "cannot run `{tool}` ({e}): the interop tests need Node.js >= 20 and npm on the PATH \
             (Debian/Ubuntu: `apt-get install nodejs npm`, or https://nodejs.org)"
        ),
    }
}

/// Whether every dependency pinned in `package.json` is installed at its pinned version.
pub fn npm_packages_installed(dir: &Path) -> bool {
    let read = |p: PathBuf| std::fs::read(p).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let manifest = read(dir.join("package.json")).expect("tests/interop/package.json");
    let deps = manifest["dependencies"].as_object().expect("package.json dependencies");
    deps.iter().all(|(name, version)| {
        read(dir.join("node_modules").join(name).join("package.json")).is_some_and(|p| p["version"] == *version)
    })
}

/// Check Node.js, and install the npm packages (versions from the committed `package-lock.json`) unless
/// they are installed already.
///
/// `npm install --no-save` rather than `npm ci`: the lock file has no entries for cbor-x's optional native
/// accelerator packages (`@cbor-extract/*`), which `npm ci` insists on; `--omit=optional` leaves them out
/// everywhere (cbor-x then uses its pure-JS decoder) and `--no-save` never rewrites the lock file.
pub fn ensure_npm_packages() {
    let node = tool_version("node");
    let major: u32 = node.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    assert!(major >= 20, "the interop tests need Node.js >= 20, found {node}");
    let dir = interop_dir();
    if npm_packages_installed(&dir) {
        return;
    }
    tool_version("npm");
    let started = Instant::now();
    let out = Command::new("npm")
        .args(["install", "--no-save", "--omit=optional", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .output()
        .expect("run npm install");
    assert!(
        out.status.success(),
        "`npm install` in {} failed ({}):\n{}\n{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(npm_packages_installed(&dir), "npm install did not install the versions pinned in package.json");
    eprintln!("interop: npm install took {:?}", started.elapsed());
}

/// The node process (killed if the test fails before it exits), its stdout and stderr drained by threads so
/// that it never blocks on a full pipe.
pub struct Node {
    child: Child,
    out: Option<JoinHandle<String>>,
    err: Option<JoinHandle<String>>,
}

impl Node {
    /// Start `command` (stdin closed, stdout and stderr drained).
    pub fn spawn(mut command: Command) -> Node {
        let mut child =
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start node");
        let drain = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = r.read_to_string(&mut s);
                s
            })
        };
        let out = Some(drain(Box::new(child.stdout.take().expect("piped"))));
        let err = Some(drain(Box::new(child.stderr.take().expect("piped"))));
        Node { child, out, err }
    }

    /// Whether it exited already.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().expect("poll node").is_some()
    }

    /// Wait for it to exit (at most `timeout`); its exit status, stdout and stderr.
    pub fn finish(&mut self, timeout: Duration) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + timeout;
        while !self.exited() {
            assert!(Instant::now() < deadline, "the node script did not exit within {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = self.child.wait().expect("node status");
        let text = |h: Option<JoinHandle<String>>| h.map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        (status, text(self.out.take()), text(self.err.take()))
    }

    /// [`Node::finish`], the script's stdout parsed as its JSON report (or a failure that shows it).
    pub fn finish_json(&mut self, timeout: Duration) -> (ExitStatus, serde_json::Value, String) {
        let (status, out, err) = self.finish(timeout);
        let report = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("the node script printed no JSON ({e}), exit {status}:\n{out}\n{err}"));
        (status, report, err)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
