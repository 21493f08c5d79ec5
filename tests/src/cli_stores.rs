//! [`CliStores`]: the `casebook` binary run against named stores in one temporary directory (one store a
//! phone), the way the CLI end-to-end tests drive it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The CLI binary and a directory of stores (`ana`, `ben`, …), run with no `CASEBOOK_*` variables.
pub struct CliStores {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl CliStores {
    /// Build the CLI (once per test binary) and make an empty directory for the stores.
    pub fn new() -> Self {
        CliStores { bin: crate::build_bin("casebook-cli", "casebook"), dir: tempfile::tempdir().unwrap() }
    }

    /// The directory the stores (and the command's working directory) are in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Run `casebook --store DIR/STORE ARGS…` in the directory: (success, stdout, stderr).
    pub fn run(&self, store: &str, args: &[&str]) -> (bool, String, String) {
        let mut c = Command::new(&self.bin);
        c.arg("--store").arg(self.dir.path().join(store)).current_dir(self.dir.path());
        for var in ["CASEBOOK_STORE", "CASEBOOK_CASE", "CASEBOOK_AS", "CASEBOOK_TZ"] {
            c.env_remove(var);
        }
        let out = c.args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Run with `--json`; panics unless it succeeds; its output as JSON (`Null` when there is none).
    pub fn ok(&self, store: &str, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (success, out, err) = self.run(store, &all);
        assert!(success, "casebook {args:?} failed:\n{out}\n{err}");
        serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)
    }
}

impl Default for CliStores {
    fn default() -> Self {
        Self::new()
    }
}
