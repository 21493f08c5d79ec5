//! Relay crash harness: the real relay binary is SIGKILLed at random moments while a client saves and
//! syncs edits; after each kill the relay restarts from its data directory, and a fresh device of another
//! member downloads the case: every edit the relay acknowledged (the client's `wait_until_synced`
//! returned) must be there, and the relay's store must open. `CASEBOOK_RELAY_KILLS` kills (default 5),
//! `CASEBOOK_SEED` to replay.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use casebook_core::model::text::TextField;
use casebook_core::relay_api::Role;
use casebook_core::sync::{RelayClient, SyncClient};
use casebook_core::{CaseId, Store};
use casebook_tests::RelayProcess;

const WAIT: Duration = Duration::from_secs(30);

/// xorshift64*: enough randomness for kill times, replayable from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A fresh device of `token`'s account downloads the case; its symptoms text.
fn download(url: &str, creds: &casebook_core::relay_api::DeviceCredentials, id: &CaseId) -> String {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let client = SyncClient::start(&store, url, creds.clone()).unwrap();
    let case = client.block_on(client.join_case(id, WAIT)).unwrap();
    client.block_on(client.sync_and_wait(&case, WAIT)).unwrap();
    let text = case.lock().unwrap().text(&TextField::Symptoms).unwrap();
    client.stop().unwrap();
    text
}

#[test]
fn nothing_the_relay_acknowledged_is_lost_when_it_is_killed() {
    let kills: usize = std::env::var("CASEBOOK_RELAY_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let seed: u64 = std::env::var("CASEBOOK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
    let replay =
        format!("CASEBOOK_SEED={seed} CASEBOOK_RELAY_KILLS={kills} cargo test -p casebook-tests --test relay_crash");
    let mut rng = Rng(seed);
    let relay_dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::start(relay_dir.path(), None, &[]);
    let (port, url) = (relay.port, relay.url.clone());

    let ana_dir = tempfile::tempdir().unwrap();
    let store = Store::open(ana_dir.path()).unwrap();
    let ana_creds = RelayClient::new(&url).unwrap().create_account("Ana", None).unwrap();
    let ben_creds = RelayClient::new(&url).unwrap().create_account("Ben", None).unwrap();
    let (case, _) = store.create_case("Pat", "Ana", None).unwrap();
    let id = case.id().clone();
    let case = Arc::new(std::sync::Mutex::new(case));
    let mut ana = SyncClient::start(&store, &url, ana_creds.clone()).unwrap();
    ana.block_on(ana.share_case(&case)).unwrap();
    ana.block_on(ana.sync_and_wait(&case, WAIT)).unwrap();
    let code = ana.relay().create_invite(&id, Role::Editor, None).unwrap().code;
    RelayClient::with_token(&url, &ben_creds.token).unwrap().redeem_invite(&code).unwrap();

    let mut acknowledged: Vec<String> = Vec::new();
    let mut edits = 0usize;
    for kill in 0..kills {
        // Kill after a random delay while Ana keeps editing and syncing.
        let delay = Duration::from_millis(100 + rng.next() % 900);
        let killed = Arc::new(AtomicBool::new(false));
        let killer = {
            let killed = killed.clone();
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                let lines = relay.kill();
                killed.store(true, Ordering::SeqCst);
                lines
            })
        };
        while !killed.load(Ordering::SeqCst) {
            let marker = format!("[k{kill}e{edits}]");
            edits += 1;
            {
                let mut c = case.lock().unwrap();
                c.append_text(&TextField::Symptoms, &marker).unwrap();
                c.save().unwrap();
            }
            if ana.sync_case(&case).is_ok()
                && ana.block_on(ana.wait_until_synced(&id, Duration::from_secs(2))).is_ok()
                && !killed.load(Ordering::SeqCst)
            {
                acknowledged.push(marker);
            }
        }
        killer.join().unwrap();
        // Ana goes offline (her unacknowledged edits stay in her store), the relay restarts from its data.
        let _ = ana.stop();
        relay = RelayProcess::start(relay_dir.path(), Some(port), &[]);
        let text = download(&url, &ben_creds, &id);
        let lost: Vec<&String> = acknowledged.iter().filter(|m| !text.contains(m.as_str())).collect();
        assert!(lost.is_empty(), "kill {kill}: acknowledged edits lost {lost:?} (replay: {replay})");
        ana = SyncClient::start(&store, &url, ana_creds.clone()).unwrap();
        let deadline = Instant::now() + WAIT;
        while ana.block_on(ana.sync_and_wait(&case, Duration::from_secs(5))).is_err() {
            assert!(Instant::now() < deadline, "Ana does not reconnect (replay: {replay})");
        }
    }
    ana.stop().unwrap();
    let text = download(&url, &ben_creds, &id);
    let all = case.lock().unwrap().text(&TextField::Symptoms).unwrap();
    assert_eq!(text, all, "after the last restart and resync, the relay has every edit (replay: {replay})");
    assert!(acknowledged.len() >= kills, "{} acknowledged edits over {kills} kills", acknowledged.len());
    eprintln!("relay_crash: {kills} kills, {edits} edits, {} acknowledged, seed {seed}", acknowledged.len());
    drop(relay);
}
