//! Issue 13: kill -9 of the relay and of the client in the middle of an attachment upload loses nothing
//! already acknowledged.
//!
//! Both tests upload a 20 MB pseudo-random blob in 256 KiB chunks to the real relay binary
//! ([`RelayProcess`]) over a sled data dir:
//! - the relay is SIGKILLed after a few acknowledged chunks, while the upload keeps going, and restarted on
//!   the same port and data dir: its status holds at least every acknowledged byte, the same upload resumes
//!   from there (never below) and completes, and a download is byte-identical (hash verified);
//! - the client (the `blob_uploader` helper binary, a real process with its own sled store) is SIGKILLed
//!   after a few acknowledged chunks: the store opens again and holds the blob whole (hash verified), the
//!   relay still holds every acknowledged byte, and the resumed upload starts from the relay's `received`
//!   (not from 0) and completes.

use casebook_tests::bytes::pseudo_random;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebook_core::model::attachment::{BlobReader, BlobWriter, blob_manifest};
use casebook_core::relay_api::DeviceCredentials;
use casebook_core::sync::{RelayClient, SyncClient, TransferOptions};
use casebook_core::{CaseId, Store};
use casebook_tests::RelayProcess;

const WAIT: Duration = Duration::from_secs(30);
const BLOB_BYTES: usize = 20 << 20;
const CHUNK: usize = 256 << 10;
/// Chunks the relay must have acknowledged before the kill.
const ACKED_CHUNKS_BEFORE_KILL: u64 = 4;

/// SHA-256 (hex) of `bytes`, computed by core's blob writer in a scratch store.
fn sha256_of(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap().store_blob(bytes, true, u64::MAX).unwrap().sha256
}

fn options() -> TransferOptions {
    TransferOptions {
        chunk_bytes: CHUNK,
        deadline: Duration::from_secs(60),
        first_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
    }
}

/// An account and a case shared on the relay (so that the account may upload blobs to it).
fn account_and_case(url: &str) -> (DeviceCredentials, CaseId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let creds = RelayClient::new(url).unwrap().create_account("Ana", None).unwrap();
    let (case, _) = store.create_case("Pat", "Ana", None).unwrap();
    let id = case.id().clone();
    let case = Arc::new(Mutex::new(case));
    let sync = SyncClient::start(&store, url, creds.clone()).unwrap();
    sync.block_on(sync.share_case(&case)).unwrap();
    sync.block_on(sync.sync_and_wait(&case, WAIT)).unwrap();
    let _ = sync.stop();
    (creds, id)
}

fn reader_at(store: &Store, sha: &str, at: u64) -> std::io::Result<Box<dyn Read>> {
    let r = BlobReader::open(store.storage(), sha, at)
        .map_err(std::io::Error::other)?
        .ok_or_else(|| std::io::Error::other("the blob is not on this device"))?;
    Ok(Box::new(r))
}

/// Download the blob into a fresh store (verified against its hash by `BlobWriter::finish`) and check it is
/// byte-identical to `expected`, and hashes to `sha`.
fn download_and_check(relay: &RelayClient, case: &CaseId, sha: &str, expected: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let writer = BlobWriter::open(store.storage(), sha, expected.len() as u64).unwrap();
    relay.download_blob(case, sha, writer, &options(), |_, _| {}).unwrap();
    let mut got = Vec::with_capacity(expected.len());
    reader_at(&store, sha, 0).unwrap().read_to_end(&mut got).unwrap();
    assert!(got == expected, "the downloaded blob differs from the uploaded one");
    assert_eq!(sha256_of(&got), sha);
}

#[test]
fn relay_killed_mid_upload_keeps_every_acknowledged_chunk_and_the_upload_resumes() {
    let started = Instant::now();
    let relay_dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(relay_dir.path(), None, &[]);
    // Building the relay binary (`build_bin`) can dominate: time the test from here.
    let (built, started) = (started.elapsed(), Instant::now());
    let (port, url) = (relay.port, relay.url.clone());
    let (creds, case) = account_and_case(&url);

    let data = Arc::new(pseudo_random(BLOB_BYTES, 13));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let blob = store.store_blob(&data[..], true, u64::MAX).unwrap();
    assert_eq!(blob.sha256, sha256_of(&data));
    let size = blob.size;

    // Every progress report of the upload, in order: after the first (the resume point, 0), each one is a
    // chunk the relay acknowledged or, after a failure, the relay's `received` the upload resumes from.
    let reports: Arc<Mutex<Vec<u64>>> = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let upload = {
        let (store, reports, case, sha) = (store.clone(), reports.clone(), case.clone(), blob.sha256.clone());
        let client = RelayClient::with_token(&url, &creds.token).unwrap();
        std::thread::spawn(move || {
            let mut signalled = false;
            client.upload_blob(
                &case,
                &sha,
                size,
                |at| reader_at(&store, &sha, at),
                &options(),
                |done, _| {
                    reports.lock().unwrap().push(done);
                    if !signalled && done >= ACKED_CHUNKS_BEFORE_KILL * CHUNK as u64 {
                        signalled = true;
                        let _ = tx.send(());
                    }
                    // Pace the upload so that the kill lands mid-upload (not after the last chunk).
                    std::thread::sleep(Duration::from_millis(5));
                },
            )
        })
    };

    rx.recv_timeout(WAIT).expect("the relay acknowledged a few chunks");
    relay.kill();
    let kill_index = {
        // What the relay acknowledged before it died: replies already on their way may still arrive, so
        // wait until the upload has failed (no new report for a while) before reading the high-water mark.
        std::thread::sleep(Duration::from_millis(300));
        reports.lock().unwrap().len()
    };
    let acknowledged = *reports.lock().unwrap()[..kill_index].iter().max().unwrap();
    assert!(acknowledged >= ACKED_CHUNKS_BEFORE_KILL * CHUNK as u64);
    assert!(acknowledged < size, "the upload finished before the kill: make it slower");

    let relay = RelayProcess::start(relay_dir.path(), Some(port), &[]);
    let client = RelayClient::with_token(&url, &creds.token).unwrap();
    let status = client.blob_status(&case, &blob.sha256).unwrap();
    assert_eq!(status.size, size);
    assert!(
        status.received >= acknowledged,
        "the relay lost acknowledged bytes: holds {} after the restart, had acknowledged {acknowledged}",
        status.received
    );

    let done = upload.join().unwrap().expect("the upload resumes and completes after the restart");
    assert!(done.complete);
    let reports = reports.lock().unwrap().clone();
    let after = &reports[kill_index..];
    assert!(!after.is_empty(), "no progress after the restart");
    assert!(
        after.iter().all(|&r| r >= acknowledged),
        "the upload resumed below what the relay had acknowledged ({acknowledged}): {after:?}"
    );
    assert_eq!(*reports.last().unwrap(), size);
    let final_status = client.blob_status(&case, &blob.sha256).unwrap();
    assert!(final_status.complete && final_status.received == size, "{final_status:?}");

    download_and_check(&client, &case, &blob.sha256, &data);
    drop(relay);
    eprintln!(
        "relay kill: acknowledged {acknowledged} of {size} bytes before the kill, relay held {} after the restart, \
         resumed at {}, {:?} (relay built and started in {built:?})",
        status.received,
        after[0],
        started.elapsed()
    );
}

#[test]
fn client_killed_mid_upload_keeps_its_blob_and_resumes_from_the_relays_offset() {
    let started = Instant::now();
    let relay_dir = tempfile::tempdir().unwrap();
    let _relay = RelayProcess::start(relay_dir.path(), None, &[]);
    let (built, started) = (started.elapsed(), Instant::now());
    let url = _relay.url.clone();
    let (creds, case) = account_and_case(&url);

    let seed = 21u64;
    let client_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_blob_uploader"))
        .arg(client_dir.path())
        .args([url.as_str(), creds.token.as_str(), case.as_str()])
        .args([BLOB_BYTES.to_string(), seed.to_string(), CHUNK.to_string(), "5".to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn blob_uploader");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut sha = String::new();
    let mut acknowledged = 0u64;
    // Read until a few chunks are acknowledged, then SIGKILL the client.
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("STORED ") {
            sha = rest.split(' ').next().unwrap().to_string();
        } else if let Some(n) = line.strip_prefix("ACK ") {
            acknowledged = acknowledged.max(n.parse().unwrap());
            if acknowledged >= ACKED_CHUNKS_BEFORE_KILL * CHUNK as u64 {
                break;
            }
        } else if line == "DONE" {
            panic!("the upload finished before the kill: make it slower");
        }
    }
    child.kill().unwrap(); // SIGKILL
    let exit = child.wait().unwrap();
    assert!(!exit.success(), "the client was killed: {exit:?}");
    // Acknowledgements printed just before the kill.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(n) = line.strip_prefix("ACK ") {
            acknowledged = acknowledged.max(n.parse().unwrap());
        }
        assert_ne!(line, "DONE", "the upload finished before the kill");
    }
    let data = pseudo_random(BLOB_BYTES, seed);
    let size = data.len() as u64;
    assert_eq!(sha, sha256_of(&data), "the helper stored a different blob");
    assert!(acknowledged >= ACKED_CHUNKS_BEFORE_KILL * CHUNK as u64 && acknowledged < size);

    // The killed client's store opens again and holds the blob whole.
    let store = Store::open(client_dir.path()).expect("the killed client's store opens");
    let manifest = blob_manifest(&*store.storage(), &sha).unwrap().expect("the blob's manifest survived");
    assert!(manifest.complete && manifest.size == size, "{manifest:?}");
    let mut local = Vec::with_capacity(data.len());
    reader_at(&store, &sha, 0).unwrap().read_to_end(&mut local).unwrap();
    assert!(local == data, "the blob on the killed client's device differs from what it stored");
    assert_eq!(sha256_of(&local), sha);

    // The relay holds every acknowledged byte; the upload resumes from there, not from 0.
    let client = RelayClient::with_token(&url, &creds.token).unwrap();
    let status = client.blob_status(&case, &sha).unwrap();
    assert!(!status.complete && status.size == size, "{status:?}");
    assert!(status.received >= acknowledged, "relay holds {} < acknowledged {acknowledged}", status.received);
    let mut reports = Vec::new();
    let done = client
        .upload_blob(&case, &sha, size, |at| reader_at(&store, &sha, at), &options(), |d, _| reports.push(d))
        .unwrap();
    assert!(done.complete);
    assert_eq!(reports[0], status.received, "the resumed upload did not start from the relay's offset");
    assert!(reports[0] > 0, "the resumed upload restarted from 0");
    assert_eq!(*reports.last().unwrap(), size);

    download_and_check(&client, &case, &sha, &data);
    eprintln!(
        "client kill: acknowledged {acknowledged} of {size} bytes before the kill, relay held {}, resumed there, \
         {:?} (relay built and started in {built:?})",
        status.received,
        started.elapsed()
    );
}
