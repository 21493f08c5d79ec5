//! The fuzz targets and what they share: a copyable in-memory storage, a sample case, a real relay with
//! a tiny blocking HTTP client.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use casebook_core::model::appointment::{AppointmentKind, NewAppointment};
use casebook_core::model::patient::PatientField;
use casebook_core::model::text::TextField;
use casebook_core::relay_api::DeviceCredentials;
use casebook_core::storage::{Storage, StorageError, StorageKey, key};
use casebook_core::{Case, CaseId, Store};
use casebook_server::{Config, Relay, RelayHandle};

pub mod exchange;
pub mod http;
pub mod loader;
pub mod photo;
pub mod ws;

/// An in-memory [`Storage`] whose content can be copied and compared (clones share the map).
#[derive(Clone, Default)]
pub struct CopyStorage {
    map: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl CopyStorage {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything stored.
    pub fn dump(&self) -> BTreeMap<String, Vec<u8>> {
        self.map().clone()
    }

    /// An independent copy.
    pub fn deep_copy(&self) -> Self {
        CopyStorage { map: Arc::new(Mutex::new(self.dump())) }
    }

    /// Store raw bytes under a flat key (`a/b/c`).
    pub fn put_raw(&self, k: &str, v: &[u8]) {
        self.map().insert(k.to_string(), v.to_vec());
    }
}

impl Storage for CopyStorage {
    fn load(&self, k: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.map().get(&k.to_string()).cloned())
    }

    fn load_range(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        let exact = prefix.to_string();
        let dir = format!("{exact}/");
        let mut out = Vec::new();
        for (k, v) in self.map().iter() {
            if *k == exact || k.starts_with(&dir) {
                out.push((key(k.split('/'))?, v.clone()));
            }
        }
        Ok(out)
    }

    fn put(&self, k: &StorageKey, data: &[u8]) -> Result<(), StorageError> {
        self.map().insert(k.to_string(), data.to_vec());
        Ok(())
    }

    fn delete(&self, k: &StorageKey) -> Result<(), StorageError> {
        self.map().remove(&k.to_string());
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// A saved sample case: patient, caregiver, an appointment with notes. Returns the case, the caregiver
/// and the appointment.
pub fn sample_case(store: &Store) -> anyhow::Result<(Case, String, String)> {
    let (mut case, me) = store.create_case("Fuzz Patient", "Ana", Some("daughter"))?;
    case.set_patient(PatientField::CancerType, Some("fuzz diagnosis"))?;
    let appt = case.add_appointment(NewAppointment {
        kind: Some(AppointmentKind::SecondOpinion),
        start: Some("2026-12-01T09:30"),
        ..Default::default()
    })?;
    case.append_text(&TextField::AppointmentNotes { appointment: appt.clone(), author: me.clone() }, "Agrees.")?;
    case.save()?;
    Ok((case, me, appt))
}

/// Open a case by id (helper for targets).
pub fn case_id(case: &Case) -> CaseId {
    case.id().clone()
}

/// A real relay on `127.0.0.1:0` in a temp dir, on its own tokio runtime.
pub struct Rig {
    /// The runtime the relay runs on.
    pub rt: tokio::runtime::Runtime,
    /// The relay.
    pub relay: Option<RelayHandle>,
    /// Its data directory.
    pub dir: tempfile::TempDir,
}

impl Rig {
    /// Start a relay with [`Config::for_tests`].
    pub fn start() -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let dir = tempfile::tempdir()?;
        let config = Config::for_tests(dir.path());
        let relay = rt.block_on(Relay::start(config))?;
        Ok(Rig { rt, relay: Some(relay), dir })
    }

    /// The relay's address.
    pub fn addr(&self) -> SocketAddr {
        self.relay.as_ref().expect("running").addr()
    }

    /// One HTTP/1.1 request (`Connection: close`): status and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        request(self.addr(), method, path, token, body)
    }

    /// Create an account.
    pub fn create_account(&self, name: &str) -> anyhow::Result<DeviceCredentials> {
        let body = serde_json::json!({ "display_name": name }).to_string();
        let (status, body) = self.request("POST", "/v1/accounts", None, Some(body.as_bytes()))?;
        anyhow::ensure!(status == 201, "account creation: {status}");
        Ok(serde_json::from_slice(&body)?)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(relay) = self.relay.take() {
            self.rt.block_on(relay.shutdown());
        }
    }
}

/// One blocking HTTP/1.1 request with `Connection: close`; returns the status and the (de-chunked) body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or_default();
    head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| anyhow::anyhow!("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status: u16 =
        head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| anyhow::anyhow!("no status"))?;
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 || eol + 2 + n > b.len() {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[(eol + 4 + n).min(b.len())..];
    }
    out
}
