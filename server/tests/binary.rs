//! The `casebook-server` binary: flags and environment, logs without content, graceful SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use casebook_core::relay_api::{CreateAccount, DeviceCredentials};
use common::{Client, Http, get, put, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_casebook-server");

/// Kills the relay process if the test fails before stopping it.
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn help_lists_every_limit_with_its_environment_variable() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--data-dir",
        "--tls-cert",
        "--tls-key",
        "--max-message-bytes",
        "--max-body-bytes",
        "--max-connections",
        "--idle-timeout-secs",
        "--auth-failures-per-minute",
        "--redeem-attempts-per-minute",
        "--case-quota-bytes",
        "CASEBOOK_LISTEN",
        "CASEBOOK_DATA_DIR",
        "CASEBOOK_MAX_MESSAGE_BYTES",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_logs_no_content_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // On a PostgreSQL run, the process keeps everything in a fresh database.
    let db = common::on_postgres().then(common::TestDb::create);
    let on_db = |mut c: Command| {
        match &db {
            Some(db) => c.env("CASEBOOK_DATABASE", &db.url),
            None => c.env_remove("CASEBOOK_DATABASE"),
        };
        c
    };
    let mut child = on_db(Command::new(BIN))
        .args(["--listen", "127.0.0.1:0"])
        .env("CASEBOOK_DATA_DIR", dir.path())
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = Kill(child);
    let log = Arc::new(Mutex::new(String::new()));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let reader = {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap();
                if line.contains("relay listening")
                    && let Some(addr) = line.split("addr=").nth(1).and_then(|s| s.split_whitespace().next())
                {
                    let _ = addr_tx.send(addr.to_string());
                }
                log.lock().unwrap().push_str(&line);
                log.lock().unwrap().push('\n');
            }
        })
    };
    let addr: std::net::SocketAddr = addr_rx.recv_timeout(Duration::from_secs(20)).expect("listening").parse().unwrap();
    let http = Http::new(addr);
    assert_eq!(http.get("/healthz", None).await.body, "ok");

    // A case with health information syncs through the relay.
    let r = http
        .post(
            "/v1/accounts",
            None,
            &CreateAccount { display_name: "Zelda Quixote".into(), device_name: Some("Zelda's phone".into()) },
        )
        .await;
    let ana: DeviceCredentials = r.json();
    let mut client = Client::offline(&ana).await;
    let doc = client.create("diagnosis", "SECRET-DIAGNOSIS-TEXT").await;
    http.register_case(&ana.token, &doc.document_id().to_string()).await;
    client.dial_url(&format!("ws://{addr}"), &ana.token);
    client.established().await;
    put(&doc, "notes", "PRIVATE-NOTE-WORDS").await;
    let ben =
        http.member(&ana.token, &doc.document_id().to_string(), "Ben", casebook_core::relay_api::Role::Editor).await;
    let mut other = Client::offline(&ben).await;
    other.dial_url(&format!("ws://{addr}"), &ben.token);
    other.established().await;
    // Ana's first sync may still be on its way to the relay: look again until it is there.
    let found = {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(d) = other.find(doc.document_id()).await {
                break d;
            }
            assert!(tokio::time::Instant::now() < deadline, "Ben never found the case");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert!(wait_for(&found, "notes", "PRIVATE-NOTE-WORDS", Duration::from_secs(5)).await);
    assert_eq!(get(&found, "diagnosis").await.as_deref(), Some("SECRET-DIAGNOSIS-TEXT"));
    client.stop().await;
    other.stop().await;

    let status = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..200 {
        if let Some(s) = child.0.try_wait().unwrap() {
            exited = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exited = exited.expect("the relay stops within 10 s of SIGTERM");
    assert!(exited.success(), "{exited:?}");
    reader.join().unwrap();
    let log = log.lock().unwrap().clone();
    assert!(log.contains("relay stopped"), "{log}");
    assert!(log.contains("sync connection opened"), "{log}");
    for secret in ["SECRET-DIAGNOSIS", "PRIVATE-NOTE", "Zelda", "Quixote", "phone", "Ben"] {
        assert!(!log.contains(secret), "the log contains {secret:?}:\n{log}");
    }
    for secret in [ana.token.as_str(), ben.token.as_str()] {
        assert!(!log.contains(secret), "the log contains a token");
    }
    // The data directory (or database) is released and complete: a new relay process opens it.
    let again = on_db(Command::new(BIN))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut again = Kill(again.unwrap());
    std::thread::sleep(Duration::from_millis(500));
    assert!(again.0.try_wait().unwrap().is_none(), "the second relay is running");
    Command::new("kill").args(["-TERM", &again.0.id().to_string()]).status().unwrap();
    assert!(again.0.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_a_monitoring_address_and_the_probe() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json", "--metrics-listen", "127.0.0.1:0"])
        .env("CASEBOOK_DATA_DIR", dir.path())
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = Kill(child);
    let lines = Arc::new(Mutex::new(Vec::<serde_json::Value>::new()));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap();
                let v: serde_json::Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
                let message = v["fields"]["message"].as_str().unwrap_or("").to_string();
                if message == "relay listening" || message == "monitoring listening" {
                    let _ = addr_tx.send((message, v["fields"]["addr"].as_str().unwrap().to_string()));
                }
                lines.lock().unwrap().push(v);
            }
        })
    };
    let mut public = None;
    let mut monitoring = None;
    while public.is_none() || monitoring.is_none() {
        let (what, addr) = addr_rx.recv_timeout(Duration::from_secs(20)).expect("listening");
        let addr: std::net::SocketAddr = addr.parse().unwrap();
        if what == "relay listening" { public = Some(addr) } else { monitoring = Some(addr) }
    }
    let (public, monitoring) = (public.unwrap(), monitoring.unwrap());
    let http = Http::new(public);
    http.post("/v1/accounts", None, &CreateAccount { display_name: "Zelda Quixote".into(), device_name: None }).await;
    assert_eq!(http.get("/metrics", None).await.status, 404);
    assert!(Http::new(monitoring).get("/metrics", None).await.body.contains("casebook_relay_accounts 1"));

    // The probe a container health check runs: 0 when ready, 1 when nothing answers.
    let probe = |url: String| Command::new(BIN).args(["probe", "--url", &url]).output().unwrap();
    assert!(probe(format!("http://{monitoring}/readyz")).status.success());
    assert!(probe(format!("http://{public}/readyz")).status.success());
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = probe(format!("http://{closed}/readyz"));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));

    // An online backup of the serving relay, then a restore into a new directory.
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("relay.backup");
    let out =
        Command::new(BIN).args(["backup", "--data-dir"]).arg(dir.path()).arg("--out").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("backup written: "));
    let restored = backups.path().join("restored");
    let out =
        Command::new(BIN).args(["restore", "--from"]).arg(&file).arg("--data-dir").arg(&restored).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = Command::new(BIN).args(["restore", "--from"]).arg(&file).arg("--data-dir").arg(&restored).output();
    assert!(!again.unwrap().status.success(), "a restore never writes over a directory that holds data");

    Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(child.0.wait().unwrap().success());
    reader.join().unwrap();
    let lines = lines.lock().unwrap();
    assert!(lines.iter().any(|v| v["fields"]["message"] == "relay stopped"));
    assert!(lines.iter().all(|v| v["level"].is_string() && v["timestamp"].is_string()));
    let text: String = lines.iter().map(|v| v.to_string()).collect();
    assert!(!text.contains("Zelda") && !text.contains("Quixote"), "a name reached the log");
}
