//! Benchmark of attachment blobs: attach (write to the device's store), upload to and download from the
//! relay running as a separate process (the release `casebook-server` binary) over loopback; prints one
//! line per figure.
//!
//! Each run: a new device store attaches an N MiB file (pseudo-random bytes produced by a reader as they
//! are read, so the benchmark itself never holds the file), uploads it with [`RelayClient::upload_blob`]
//! (1 MiB chunks, the defaults of [`TransferOptions`]) and a second device store downloads it with
//! [`RelayClient::download_blob`] (verified against its SHA-256) in a new process of this binary (so
//! that its peak RSS is not hidden by memory the attach freed and the allocator kept). Per phase: wall time and throughput, CPU
//! time (utime + stime of `/proc/<pid>/stat`) of this process (the client) and of the relay process, and
//! the peak resident memory of each during the phase: the peak (`VmHWM`) is reset before the phase by
//! writing `5` to `/proc/<pid>/clear_refs`, and the figure is that peak minus the resident size (`VmRSS`)
//! when the phase began. A blob that streams grows neither process by anything near N MiB.
//!
//! Usage (release build): `cargo run --release -p casebook-tests --bin attachment_bench -- [--mb N]
//! [--runs N] [--relay PATH] [--cold-download]`, or the environment variables `ATTACHMENT_BENCH_MB` and
//! `ATTACHMENT_BENCH_RUNS`. Defaults: 50 MiB, 3 runs (a new pair of device stores each run, one relay for
//! all); figures are the median of the runs, each run's value in brackets. The relay binary is
//! `casebook-server` next to this binary (built with `cargo build -p casebook-server` in the same profile
//! when it is missing) unless `--relay` names one. `--cold-download` restarts the relay (same data) before
//! each download, so that it serves the blob from disk rather than from what its store still caches of the
//! upload.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use casebook_core::Store;
use casebook_core::model::attachment::{AttachTarget, BlobReader, BlobWriter, NewAttachment, TargetKind};
use casebook_core::model::chronology::{DocumentKind, Location};
use casebook_core::sync::{RelayClient, TransferOptions};

/// A setting from `--name N`, else the environment variable `var`, else `default`.
fn setting(args: &[String], name: &str, var: &str, default: usize) -> Result<usize> {
    let flag = format!("--{name}");
    if let Some(i) = args.iter().position(|a| *a == flag) {
        let v = args.get(i + 1).ok_or_else(|| anyhow!("{flag} needs a number"))?;
        return Ok(v.parse()?);
    }
    match std::env::var(var) {
        Ok(v) => Ok(v.parse()?),
        Err(_) => Ok(default),
    }
}

/// Pseudo-random bytes (xorshift64), produced as they are read: `remaining` more of them.
struct Noise {
    x: u64,
    remaining: u64,
    pending: [u8; 8],
    pending_len: usize,
}

impl Noise {
    fn new(len: u64, seed: u64) -> Self {
        let x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        Noise { x, remaining: len, pending: [0; 8], pending_len: 0 }
    }
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = (buf.len() as u64).min(self.remaining) as usize;
        let mut n = 0;
        while n < want {
            if self.pending_len == 0 {
                self.x ^= self.x << 13;
                self.x ^= self.x >> 7;
                self.x ^= self.x << 17;
                self.pending = self.x.to_le_bytes();
                self.pending_len = 8;
            }
            let take = self.pending_len.min(want - n);
            let from = 8 - self.pending_len;
            buf[n..n + take].copy_from_slice(&self.pending[from..from + take]);
            self.pending_len -= take;
            n += take;
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A process seen through `/proc`: `self` or a pid.
#[derive(Clone)]
struct Proc {
    dir: PathBuf,
    ticks: f64,
}

impl Proc {
    fn new(pid: &str, ticks: f64) -> Self {
        Proc { dir: Path::new("/proc").join(pid), ticks }
    }

    /// User + system CPU time so far, seconds (every thread).
    fn cpu(&self) -> Result<f64> {
        let stat = std::fs::read_to_string(self.dir.join("stat"))?;
        // After the command name (in parentheses, which may hold spaces): field 3 (state) on.
        let rest = stat.rsplit_once(')').ok_or_else(|| anyhow!("unexpected /proc stat"))?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = f.get(11).ok_or_else(|| anyhow!("no utime"))?.parse()?;
        let stime: f64 = f.get(12).ok_or_else(|| anyhow!("no stime"))?.parse()?;
        Ok((utime + stime) / self.ticks)
    }

    /// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes.
    fn status(&self, field: &str) -> Result<u64> {
        let status = std::fs::read_to_string(self.dir.join("status"))?;
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
            .ok_or_else(|| anyhow!("no {field} in /proc status"))?;
        let kb: u64 = line.trim().trim_end_matches("kB").trim().parse()?;
        Ok(kb * 1024)
    }

    /// Reset the peak resident size (`VmHWM`) to the current one.
    fn reset_peak(&self) -> Result<()> {
        std::fs::write(self.dir.join("clear_refs"), "5").context("writing 5 to /proc/<pid>/clear_refs")
    }
}

/// What one phase cost one process.
#[derive(Clone, Copy, Default)]
struct Cost {
    cpu: f64,
    /// Peak resident size during the phase minus the resident size at its start, bytes.
    peak_growth: u64,
    /// Peak resident size during the phase, bytes.
    peak: u64,
}

/// Measures one process over a phase.
struct Meter {
    p: Proc,
    cpu0: f64,
    rss0: u64,
}

impl Meter {
    fn start(p: &Proc) -> Result<Self> {
        p.reset_peak()?;
        Ok(Meter { p: p.clone(), cpu0: p.cpu()?, rss0: p.status("VmRSS")? })
    }
    fn stop(self) -> Result<Cost> {
        let peak = self.p.status("VmHWM")?;
        Ok(Cost { cpu: self.p.cpu()? - self.cpu0, peak_growth: peak.saturating_sub(self.rss0), peak })
    }
}

/// One run's figures.
#[derive(Default)]
struct Run {
    attach: Duration,
    attach_client: Cost,
    upload: Duration,
    upload_client: Cost,
    upload_relay: Cost,
    download: Duration,
    download_client: Cost,
    download_relay: Cost,
}

/// The relay binary as a child process, killed when dropped.
struct Relay {
    child: Child,
    url: String,
    port: u16,
    bin: PathBuf,
    size: u64,
    dir: tempfile::TempDir,
}

impl Relay {
    fn start(bin: &Path, size: u64) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = casebook_tests::free_port();
        let child = Self::spawn(bin, size, port, dir.path())?;
        let relay = Relay { child, url: format!("http://127.0.0.1:{port}"), port, bin: bin.into(), size, dir };
        relay.wait_ready()?;
        Ok(relay)
    }

    fn spawn(bin: &Path, size: u64, port: u16, dir: &Path) -> Result<Child> {
        // Room for a blob larger than the default limit when --mb asks for one.
        let max_blob = size.max(100 << 20);
        Command::new(bin)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir", &dir.display().to_string()])
            .args(["--max-blob-bytes", &max_blob.to_string(), "--case-quota-bytes", &(4 * max_blob).to_string()])
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))
    }

    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            ensure!(Instant::now() < deadline, "the relay did not start within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Kill the relay and start it again over the same data (its memory holds none of the blobs then).
    fn restart(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        self.child = Self::spawn(&self.bin, self.size, self.port, self.dir.path())?;
        self.wait_ready()
    }

    fn proc(&self, ticks: f64) -> Proc {
        Proc::new(&self.child.id().to_string(), ticks)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `casebook-server` next to this binary, built (same profile, same target directory) when missing.
fn relay_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe.parent().ok_or_else(|| anyhow!("no directory of the executable"))?;
    let bin = profile_dir.join(format!("casebook-server{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() {
        return Ok(bin);
    }
    let target_dir = profile_dir.parent().ok_or_else(|| anyhow!("no target directory"))?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(p) => p,
    };
    eprintln!("building casebook-server ({profile}) …");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "-p", "casebook-server", "--bin", "casebook-server", "--profile", profile])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()?;
    ensure!(status.success() && bin.is_file(), "cargo build -p casebook-server failed");
    Ok(bin)
}

fn run_once(relay: &mut Relay, token: &str, size: u64, seed: u64, client: &Proc, cold: bool) -> Result<Run> {
    let mut run = Run::default();
    let ticks = client.ticks;
    let api = RelayClient::with_token(&relay.url, token)?;

    // Phone A: a case and a document of its chronology, registered on the relay.
    let dir_a = tempfile::tempdir()?;
    let store_a = Store::open(dir_a.path())?;
    let (mut case, me) = store_a.create_case("Mum", "Ana", None)?;
    let doc = case.add_document(None, DocumentKind::ImagingStudy, None, "CT", Location::Digital)?;
    let id = case.id().clone();
    api.register_case(&id)?;

    // Attach: hash and write the file chunk by chunk into A's store, then save the case.
    let target = AttachTarget { kind: TargetKind::Document, id: doc };
    let new = NewAttachment { max_bytes: size, ..NewAttachment::new("ct.dcm", "application/dicom", Some(&me)) };
    let m = Meter::start(client)?;
    let t = Instant::now();
    let att = case.attach(target, new, Noise::new(size, seed))?;
    case.save()?;
    run.attach = t.elapsed();
    run.attach_client = m.stop()?;
    ensure!(att.size == size, "attached {} bytes, not {size}", att.size);

    // Upload from A's store.
    let storage = store_a.storage();
    let open_at = |offset: u64| -> std::io::Result<Box<dyn Read>> {
        let r = BlobReader::open(storage.clone(), &att.sha256, offset)
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .ok_or_else(|| std::io::Error::other("the blob is not on phone A"))?;
        Ok(Box::new(r))
    };
    let opts = TransferOptions::default();
    let (mc, mr) = (Meter::start(client)?, Meter::start(&relay.proc(ticks))?);
    let t = Instant::now();
    let status = api.upload_blob(&id, &att.sha256, size, open_at, &opts, |_, _| {})?;
    run.upload = t.elapsed();
    run.upload_relay = mr.stop()?;
    run.upload_client = mc.stop()?;
    ensure!(status.complete && status.size == size, "the relay does not hold the blob whole");

    // Download into phone B's store (a second device of the same account), in a new process of this
    // binary: its peak RSS is not hidden by memory this process freed earlier and could reuse.
    if cold {
        relay.restart()?;
    }
    let mr = Meter::start(&relay.proc(ticks))?;
    let out = Command::new(std::env::current_exe()?)
        .args(["--download-child", &relay.url, token, id.as_str(), &att.sha256, &size.to_string()])
        .stderr(Stdio::inherit())
        .output()?;
    run.download_relay = mr.stop()?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "the download process failed: {text}");
    let f: Vec<f64> = text
        .lines()
        .find_map(|l| l.strip_prefix("download-child "))
        .ok_or_else(|| anyhow!("no figures from the download process: {text}"))?
        .split_whitespace()
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()?;
    ensure!(f.len() == 4, "unexpected figures from the download process: {text}");
    run.download = Duration::from_secs_f64(f[0]);
    run.download_client = Cost { cpu: f[1], peak_growth: f[2] as u64, peak: f[3] as u64 };
    Ok(run)
}

/// `--download-child URL TOKEN CASE SHA SIZE`: download the blob into a new store and print
/// `download-child <wall s> <cpu s> <peak RSS growth bytes> <peak RSS bytes>`.
fn download_child(args: &[String]) -> Result<()> {
    let [url, token, case, sha, size] = args else { return Err(anyhow!("--download-child URL TOKEN CASE SHA SIZE")) };
    let size: u64 = size.parse()?;
    let id: casebook_core::CaseId = case.parse()?;
    let me = Proc::new("self", clock_ticks());
    let api = RelayClient::with_token(url, token)?;
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let writer = BlobWriter::open(store.storage(), sha, size)?;
    let m = Meter::start(&me)?;
    let t = Instant::now();
    api.download_blob(&id, sha, writer, &TransferOptions::default(), |_, _| {})?;
    let wall = t.elapsed();
    let cost = m.stop()?;
    let reader = BlobReader::open(store.storage(), sha, 0)?;
    ensure!(reader.is_some_and(|r| r.size() == size), "the blob is not whole on phone B");
    println!("download-child {} {} {} {}", wall.as_secs_f64(), cost.cpu, cost.peak_growth, cost.peak);
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// `median [each run]` with `decimals` decimals.
fn figure(values: Vec<f64>, decimals: usize) -> String {
    let each: Vec<String> = values.iter().map(|v| format!("{v:.decimals$}")).collect();
    let m = median(values);
    if each.len() == 1 { format!("{m:.decimals$}") } else { format!("{m:.decimals$} [{}]", each.join(", ")) }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--download-child") {
        return download_child(&args[1..]);
    }
    let mb = setting(&args, "mb", "ATTACHMENT_BENCH_MB", 50)?;
    let runs = setting(&args, "runs", "ATTACHMENT_BENCH_RUNS", 3)?;
    ensure!(mb >= 1 && runs >= 1, "at least 1 MiB and 1 run");
    let relay_bin = match args.iter().position(|a| a == "--relay") {
        Some(i) => PathBuf::from(args.get(i + 1).ok_or_else(|| anyhow!("--relay needs a path"))?),
        None => relay_binary()?,
    };
    let size = (mb as u64) << 20;
    let ticks = clock_ticks();

    let cold = args.iter().any(|a| a == "--cold-download");
    let mut relay = Relay::start(&relay_bin, size)?;
    let client = Proc::new("self", ticks);
    let relay_rss_start = relay.proc(ticks).status("VmRSS")?;
    let token = RelayClient::new(&relay.url)?.create_account("Ana", None)?.token;

    let mut all = Vec::new();
    for i in 0..runs {
        all.push(run_once(&mut relay, &token, size, 1000 + i as u64, &client, cold)?);
    }
    let relay_rss_end = relay.proc(ticks).status("VmRSS")?;
    // The peaks are reset before every phase: the process's peak is the largest of the phases'.
    let client_peak = all
        .iter()
        .flat_map(|r| [r.attach_client.peak, r.upload_client.peak, r.download_client.peak])
        .max()
        .unwrap_or(0);

    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let col = |f: &dyn Fn(&Run) -> f64, decimals: usize| figure(all.iter().map(f).collect(), decimals);
    let rate = |d: Duration| mb as f64 / d.as_secs_f64();
    println!(
        "attachment_bench: {mb} MiB ({size} bytes) per attachment, {runs} run(s), relay {} on {} (child process, \
         RUST_LOG=warn{}); figures: median [each run]",
        relay_bin.display(),
        relay.url,
        if cold { "; restarted before each download" } else { "" }
    );
    println!("attach (local store) time: {} s", col(&|r| r.attach.as_secs_f64(), 3));
    println!("attach throughput: {} MiB/s", col(&|r| rate(r.attach), 1));
    println!("attach client CPU: {} s", col(&|r| r.attach_client.cpu, 2));
    println!("attach client peak RSS growth: {} MiB", col(&|r| mib(r.attach_client.peak_growth), 1));
    println!("upload time: {} s", col(&|r| r.upload.as_secs_f64(), 3));
    println!("upload throughput: {} MiB/s", col(&|r| rate(r.upload), 1));
    println!("upload client CPU: {} s", col(&|r| r.upload_client.cpu, 2));
    println!("upload client peak RSS growth: {} MiB", col(&|r| mib(r.upload_client.peak_growth), 1));
    println!("upload relay CPU: {} s", col(&|r| r.upload_relay.cpu, 2));
    println!("upload relay peak RSS growth: {} MiB", col(&|r| mib(r.upload_relay.peak_growth), 1));
    println!("upload relay peak RSS: {} MiB", col(&|r| mib(r.upload_relay.peak), 1));
    println!("download time: {} s", col(&|r| r.download.as_secs_f64(), 3));
    println!("download throughput: {} MiB/s", col(&|r| rate(r.download), 1));
    println!("download client CPU: {} s", col(&|r| r.download_client.cpu, 2));
    println!("download client peak RSS growth: {} MiB", col(&|r| mib(r.download_client.peak_growth), 1));
    println!("download relay CPU: {} s", col(&|r| r.download_relay.cpu, 2));
    println!("download relay peak RSS growth: {} MiB", col(&|r| mib(r.download_relay.peak_growth), 1));
    println!("download relay peak RSS: {} MiB", col(&|r| mib(r.download_relay.peak), 1));
    println!(
        "client peak RSS (largest phase of every run; the download in a process of its own): {:.1} MiB",
        mib(client_peak)
    );
    println!("relay RSS: {:.1} MiB at start, {:.1} MiB after the runs", mib(relay_rss_start), mib(relay_rss_end));
    Ok(())
}
