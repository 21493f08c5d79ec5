//! Privacy checks: the real relay binary at `RUST_LOG=trace` and two clients (in-process, every event of
//! Casebook's own code captured at trace) run a shared case with distinctive marker text; no log line may
//! contain the patient's name, the diagnosis, the note text, a device token or the invite code; the relay's
//! data files hold no token or code in clear; and an invite code cannot be guessed within the rate limit.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebook_core::model::appointment::{AppointmentKind, NewAppointment};
use casebook_core::model::patient::PatientField;
use casebook_core::model::text::TextField;
use casebook_core::relay_api::Role;
use casebook_core::sync::{RelayClient, SyncClient};
use casebook_core::{Case, Store};
use casebook_tests::RelayProcess;

const WAIT: Duration = Duration::from_secs(30);
const PATIENT: &str = "Zebulon Quixotic-Marker";
const DIAGNOSIS: &str = "glioma-marker-DX7731";
const NOTE: &str = "MARKER-NOTE-4471 the tumour board wants a biopsy";
const BEN_NOTE: &str = "MARKER-BEN-9902 ask about trials";

/// In-process capture of every event: Casebook's own targets at trace, others at info (as the relay's
/// guard allows).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_client_logs() -> Captured {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let captured = Captured::default();
    let writer = captured.clone();
    let layer = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(move || writer.clone()).with_filter(
        tracing_subscriber::filter::filter_fn(|m| {
            m.target().starts_with("casebook") || *m.level() <= tracing::Level::INFO
        }),
    );
    use tracing_subscriber::Layer;
    tracing_subscriber::registry().with(layer).try_init().expect("the only subscriber of this test binary");
    captured
}

fn secrets_in(haystack: &[u8], secrets: &[(&str, &str)]) -> Vec<String> {
    secrets
        .iter()
        .filter(|(_, s)| haystack.windows(s.len()).any(|w| w == s.as_bytes()))
        .map(|(what, _)| what.to_string())
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        // Regular files only: the running relay's admin socket (`admin.sock`) cannot be read.
        if p.is_dir() {
            out.extend(files_under(&p))
        } else if p.is_file() {
            out.push(p)
        }
    }
    out
}

fn notes(case: &mut Case, appt: &str) -> String {
    case.notes(appt).unwrap().by_author.into_iter().map(|a| a.text).collect::<Vec<_>>().join("|")
}

#[test]
fn no_health_data_or_secret_in_logs_and_no_secret_in_the_relays_files() {
    let client_logs = capture_client_logs();
    let relay_dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(relay_dir.path(), None, &[]);
    let url = relay.url.clone();

    let (ana_dir, ben_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ana_store, ben_store) = (Store::open(ana_dir.path()).unwrap(), Store::open(ben_dir.path()).unwrap());
    let ana_creds =
        RelayClient::new(&url).unwrap().create_account("Ana Marker-Caregiver", Some("Ana's phone")).unwrap();
    let ben_creds = RelayClient::new(&url).unwrap().create_account("Ben Marker-Caregiver", None).unwrap();
    let (mut a, ana_id) = ana_store.create_case(PATIENT, "Ana Marker-Caregiver", Some("daughter")).unwrap();
    a.set_patient(PatientField::CancerType, Some(DIAGNOSIS)).unwrap();
    let appt =
        a.add_appointment(NewAppointment { kind: Some(AppointmentKind::SecondOpinion), ..Default::default() }).unwrap();
    a.append_text(&TextField::AppointmentNotes { appointment: appt.clone(), author: ana_id }, NOTE).unwrap();
    a.save().unwrap();
    let id = a.id().clone();
    let a = Arc::new(Mutex::new(a));
    let ana = SyncClient::start(&ana_store, &url, ana_creds.clone()).unwrap();
    ana.block_on(ana.share_case(&a)).unwrap();
    ana.block_on(ana.sync_and_wait(&a, WAIT)).unwrap();
    let invite = ana.relay().create_invite(&id, Role::Editor, None).unwrap().code;
    RelayClient::with_token(&url, &ben_creds.token).unwrap().redeem_invite(&invite).unwrap();
    let ben = SyncClient::start(&ben_store, &url, ben_creds.clone()).unwrap();
    let b = ben.block_on(ben.join_case(&id, WAIT)).unwrap();
    {
        let mut b = b.lock().unwrap();
        let ben_id = b.add_caregiver("Ben Marker-Caregiver", Some("son")).unwrap();
        b.append_text(&TextField::AppointmentNotes { appointment: appt.clone(), author: ben_id }, BEN_NOTE).unwrap();
        b.save().unwrap();
    }
    ben.block_on(ben.sync_and_wait(&b, WAIT)).unwrap();
    let deadline = Instant::now() + WAIT;
    while !notes(&mut a.lock().unwrap(), &appt).contains(BEN_NOTE) {
        assert!(Instant::now() < deadline, "Ana never received Ben's note");
        ana.block_on(ana.sync_and_wait(&a, WAIT)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        b.lock().unwrap().patient().display_name.as_deref(),
        Some(PATIENT),
        "the data really went through the relay"
    );
    ana.stop().unwrap();
    ben.stop().unwrap();
    let relay_lines = relay.kill();

    let secrets = [
        ("patient name", PATIENT),
        ("diagnosis", DIAGNOSIS),
        ("Ana's note", NOTE),
        ("Ben's note", BEN_NOTE),
        ("a caregiver's name", "Marker-Caregiver"),
        ("a device name", "Ana's phone"),
        ("Ana's token", ana_creds.token.as_str()),
        ("Ben's token", ben_creds.token.as_str()),
        ("the invite code", invite.as_str()),
    ];
    assert!(relay_lines.len() > 10, "the relay logged: {relay_lines:?}");
    assert!(relay_lines.iter().any(|l| l.contains("sync connection opened")), "trace logs captured");
    for line in &relay_lines {
        let found = secrets_in(line.as_bytes(), &secrets);
        assert!(found.is_empty(), "relay log line with {found:?}: {line}");
    }
    let client = client_logs.0.lock().unwrap().clone();
    for line in String::from_utf8_lossy(&client).lines() {
        let found = secrets_in(line.as_bytes(), &secrets);
        assert!(found.is_empty(), "client log line with {found:?}: {line}");
    }

    // The relay's files: tokens and codes only as hashes (case content is stored, by design).
    let files = files_under(relay_dir.path());
    assert!(!files.is_empty());
    let mut all = Vec::new();
    for f in &files {
        all.extend(std::fs::read(f).unwrap());
    }
    assert!(secrets_in(&all, &[("diagnosis", DIAGNOSIS)]).len() == 1, "the scan reads the stored data");
    let compact_invite = invite.replace('-', "");
    let raw_tokens: Vec<Vec<u8>> = [&ana_creds.token, &ben_creds.token]
        .iter()
        .map(|t| (0..32).map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).unwrap()).collect())
        .collect();
    let found = secrets_in(
        &all,
        &[
            ("Ana's token", &ana_creds.token),
            ("Ben's token", &ben_creds.token),
            ("the invite code", &invite),
            ("the invite code without dashes", &compact_invite),
        ],
    );
    assert!(found.is_empty(), "in the relay's data files: {found:?}");
    for raw in raw_tokens {
        assert!(!all.windows(32).any(|w| w == raw.as_slice()), "a token's raw bytes are in the relay's data files");
    }
}

#[test]
fn an_invite_code_cannot_be_guessed_within_the_rate_limit() {
    // The arithmetic: 100-bit codes, at most 50 pending invites per case, 10 redemptions per address per
    // minute, an invite lives at most 30 days. Even a million addresses guessing for 30 days:
    let code_bits = 100f64;
    let attempts = 10.0 * 60.0 * 24.0 * 30.0 * 1e6;
    let p = attempts * 50.0 / code_bits.exp2();
    assert!(p < 1e-15, "success probability {p:e}");

    // And the limiter blocks: the 11th attempt within a minute is refused, even with the right code.
    let relay_dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(relay_dir.path(), None, &["--redeem-attempts-per-minute", "10"]);
    let url = relay.url.clone();
    let owner = RelayClient::new(&url).unwrap().create_account("Owner", None).unwrap();
    let guesser = RelayClient::new(&url).unwrap().create_account("Guesser", None).unwrap();
    let owner_api = RelayClient::with_token(&url, &owner.token).unwrap();
    let case = casebook_core::DocId::random();
    owner_api.register_case(&case).unwrap();
    let code = owner_api.create_invite(&case, Role::Editor, None).unwrap().code;
    let api = RelayClient::with_token(&url, &guesser.token).unwrap();
    let mut refused = Vec::new();
    for i in 0..10 {
        let guess = format!("{:020}", i)
            .chars()
            .collect::<Vec<_>>()
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join("-");
        refused.push(api.redeem_invite(&guess).unwrap_err().to_string());
    }
    let blocked = api.redeem_invite(&code).unwrap_err().to_string();
    let _ = relay.kill();
    assert!(refused.iter().all(|e| !e.contains("429") && !e.to_lowercase().contains("rate")), "{refused:?}");
    assert!(
        blocked.contains("429")
            || blocked.to_lowercase().contains("rate")
            || blocked.to_lowercase().contains("too many"),
        "{blocked}"
    );
}
