//! Attachments end to end: a real in-process relay, real sled stores, and the TCP proxy cutting every
//! connection every 2 s.
//!
//! The large transfer's size is `CASEBOOK_ATTACHMENT_TEST_MB` (50 by default).

use casebook_tests::bytes::pseudo_random;

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebook_core::model::attachment::{AttachTarget, BlobWriter, NewAttachment, TargetKind};
use casebook_core::model::chronology::{DocumentKind, Location};
use casebook_core::relay_api::{DeviceCredentials, Role};
use casebook_core::sync::attachments::{download_attachment, download_pinned, retain_attachments, upload_attachments};
use casebook_core::sync::{RelayClient, SyncClient, SyncEvent, SyncOptions, TransferDirection, TransferOptions};
use casebook_core::{CaseId, Store};
use casebook_tests::InProcessRelay;
use casebook_tests::proxy::{Mode, Proxy};

const WAIT: Duration = Duration::from_secs(30);

struct Phone {
    store: Store,
    creds: DeviceCredentials,
    _dir: tempfile::TempDir,
}

impl Phone {
    fn new(url: &str, name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let creds = RelayClient::new(url).unwrap().create_account(name, None).unwrap();
        Self { store, creds, _dir: dir }
    }
    fn relay(&self, url: &str) -> RelayClient {
        RelayClient::with_token(url, &self.creds.token).unwrap()
    }
}

/// A client that moves blobs only when asked (these tests count what the explicit calls move).
fn explicit() -> SyncOptions {
    SyncOptions { move_attachments: false, ..Default::default() }
}

#[test]
fn attached_offline_synced_and_downloaded_byte_identical_on_a_sibling_phone() {
    let relay = InProcessRelay::start();
    let url = relay.url();
    let ana = Phone::new(&url, "Ana");
    let ben = Phone::new(&url, "Ben");

    // Ana, offline: a case, a document of the chronology, a scan attached to it.
    let (mut a, me) = ana.store.create_case("Mum", "Ana", Some("daughter")).unwrap();
    let doc =
        a.add_document(Some("2026-10-02"), DocumentKind::PathologyReport, None, "biopsy", Location::Digital).unwrap();
    let scan = pseudo_random(3 * 1024 * 1024 + 777, 7);
    let target = AttachTarget { kind: TargetKind::Document, id: doc.clone() };
    let att =
        a.attach(target.clone(), NewAttachment::new("scan.pdf", "application/pdf", Some(&me)), &scan[..]).unwrap();
    a.save().unwrap();
    let id = a.id().clone();

    // Online: share, sync the document, upload the blob the relay lacks.
    let a = Arc::new(Mutex::new(a));
    let sa = SyncClient::start_with(&ana.store, &url, ana.creds.clone(), explicit()).unwrap();
    sa.block_on(sa.share_case(&a)).unwrap();
    sa.block_on(sa.sync_and_wait(&a, WAIT)).unwrap();
    let list = a.lock().unwrap().attachments(None);
    let opts = TransferOptions::default();
    let sent = upload_attachments(&ana.relay(&url), &ana.store, &id, &list, &opts, |_, _, _| {}).unwrap();
    assert_eq!(sent, 1);
    // Nothing more to send the second time.
    assert_eq!(upload_attachments(&ana.relay(&url), &ana.store, &id, &list, &opts, |_, _, _| {}).unwrap(), 0);

    // Ben joins: he sees the reference, not the bytes, until he downloads them.
    let code = ana.relay(&url).create_invite(&id, Role::Viewer, None).unwrap().code;
    ben.relay(&url).redeem_invite(&code).unwrap();
    let sb = SyncClient::start_with(&ben.store, &url, ben.creds.clone(), explicit()).unwrap();
    let b = sb.block_on(sb.join_case(&id, WAIT)).unwrap();
    let theirs = b.lock().unwrap().attachments(Some(&target));
    assert_eq!(theirs.len(), 1);
    assert_eq!((theirs[0].id.as_str(), theirs[0].sha256.as_str()), (att.id.as_str(), att.sha256.as_str()));
    assert!(!theirs[0].on_device);
    let err = b.lock().unwrap().open_attachment(&att.id).err().unwrap();
    assert!(err.to_string().contains("not on this device yet"), "{err}");
    // Pinned "keep offline": the sync's download pass fetches it.
    ben.store.pin_attachment(&id, &att.id, true).unwrap();
    let n = download_pinned(&ben.relay(&url), &ben.store, &id, &theirs, &opts, |_, _, _| {}).unwrap();
    assert_eq!(n, 1);
    assert_eq!(b.lock().unwrap().read_attachment(&att.id).unwrap(), scan);
    // A viewer cannot collect the relay's blobs; the editor's retain keeps referenced (and young) ones.
    assert!(retain_attachments(&ben.relay(&url), &id, &theirs).is_err());
    assert_eq!(retain_attachments(&ana.relay(&url), &id, &list).unwrap().deleted, 0);

    // Pinned but not uploaded yet: the download pass skips it, the next one gets it.
    let third = pseudo_random(4000, 9);
    let att3 = a
        .lock()
        .unwrap()
        .attach_bytes(target.clone(), NewAttachment::new("c.png", "image/png", Some(&me)), &third)
        .unwrap();
    a.lock().unwrap().save().unwrap();
    sa.block_on(sa.sync_and_wait(&a, WAIT)).unwrap();
    sb.block_on(sb.sync_and_wait(&b, WAIT)).unwrap();
    ben.store.pin_attachment(&id, &att3.id, true).unwrap();
    let theirs = b.lock().unwrap().attachments(None);
    assert_eq!(download_pinned(&ben.relay(&url), &ben.store, &id, &theirs, &opts, |_, _, _| {}).unwrap(), 0);
    let list = a.lock().unwrap().attachments(None);
    assert_eq!(upload_attachments(&ana.relay(&url), &ana.store, &id, &list, &opts, |_, _, _| {}).unwrap(), 1);
    assert_eq!(download_pinned(&ben.relay(&url), &ben.store, &id, &theirs, &opts, |_, _, _| {}).unwrap(), 1);
    assert_eq!(b.lock().unwrap().read_attachment(&att3.id).unwrap(), third);

    // A removed member can no longer download.
    let other = pseudo_random(1000, 8);
    let att2 =
        a.lock().unwrap().attach_bytes(target, NewAttachment::new("b.png", "image/png", Some(&me)), &other).unwrap();
    a.lock().unwrap().save().unwrap();
    upload_attachments(&ana.relay(&url), &ana.store, &id, std::slice::from_ref(&att2), &opts, |_, _, _| {}).unwrap();
    ana.relay(&url).remove_member(&id, &ben.creds.account_id).unwrap();
    let quick = TransferOptions { deadline: Duration::from_secs(1), ..TransferOptions::default() };
    assert!(download_attachment(&ben.relay(&url), &ben.store, &id, &att2, &quick, |_, _| {}).is_err());
    sa.stop().unwrap();
    sb.stop().unwrap();
}

#[test]
fn a_large_scan_gets_through_a_connection_cut_every_two_seconds() {
    let mb: usize = std::env::var("CASEBOOK_ATTACHMENT_TEST_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let relay = InProcessRelay::start();
    let proxy = Proxy::start(relay.addr()).unwrap();
    let url = proxy.url();
    let ana = Phone::new(&relay.url(), "Ana");
    let ben = Phone::new(&relay.url(), "Ben");
    let (mut a, me) = ana.store.create_case("Mum", "Ana", None).unwrap();
    let doc = a.add_document(None, DocumentKind::ImagingStudy, None, "CT", Location::Digital).unwrap();
    let id: CaseId = a.id().clone();
    ana.relay(&relay.url()).register_case(&id).unwrap();
    let code = ana.relay(&relay.url()).create_invite(&id, Role::Editor, None).unwrap().code;
    ben.relay(&relay.url()).redeem_invite(&code).unwrap();

    let bytes = pseudo_random(mb << 20, 9);
    let t = Instant::now();
    let target = AttachTarget { kind: TargetKind::Document, id: doc };
    let att = a.attach(target, NewAttachment::new("ct.dcm", "application/dicom", Some(&me)), &bytes[..]).unwrap();
    a.save().unwrap();
    let attach_time = t.elapsed();

    proxy.set_mode(Mode::Cut { every: Duration::from_secs(2) });
    let opts = TransferOptions { deadline: Duration::from_secs(120), ..TransferOptions::default() };
    let t = Instant::now();
    // Every (re)start of the upload opens the blob at the offset the relay stands at: count them.
    let opened = std::sync::atomic::AtomicUsize::new(0);
    // On this machine an upload through a local proxy can finish between two cuts: cut every live
    // connection every 40 ms as well, so that it surely resumes (blob files move at 150-250 MB/s here).
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(40));
                proxy.cut_all();
            }
        });
        let storage = ana.store.storage();
        let open_at = |offset: u64| -> std::io::Result<Box<dyn Read>> {
            opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let r = casebook_core::model::attachment::BlobReader::open(storage.clone(), &att.sha256, offset)
                .map_err(|e| std::io::Error::other(e.to_string()))?
                .expect("on Ana's phone");
            Ok(Box::new(r))
        };
        let r = ana.relay(&url).upload_blob(&id, &att.sha256, att.size, open_at, &opts, |_, _| {});
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        r.unwrap();
    });
    let up = t.elapsed();
    let up_resumes = opened.load(std::sync::atomic::Ordering::SeqCst) - 1;
    assert!(up_resumes > 0 || up < Duration::from_millis(300), "the upload was cut and resumed ({up:?})");
    let status = ana.relay(&relay.url()).blob_status(&id, &att.sha256).unwrap();
    assert!(status.complete && status.size == bytes.len() as u64);

    let t = Instant::now();
    let mut down_resumes = 0;
    let mut prev = u64::MAX;
    let writer = BlobWriter::open(ben.store.storage(), &att.sha256, att.size).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(40));
                proxy.cut_all();
            }
        });
        let r = ben.relay(&url).download_blob(&id, &att.sha256, writer, &opts, |done, total| {
            if done == prev && done < total {
                down_resumes += 1;
            }
            prev = done;
        });
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        r.unwrap();
    });
    let down = t.elapsed();
    assert!(down_resumes > 0 || down < Duration::from_millis(300), "the download was cut and resumed ({down:?})");
    let mut got = Vec::new();
    casebook_core::model::attachment::BlobReader::open(ben.store.storage(), &att.sha256, 0)
        .unwrap()
        .expect("complete on Ben's phone")
        .read_to_end(&mut got)
        .unwrap();
    assert!(got == bytes, "byte-identical");
    let mbps = |d: Duration| mb as f64 / d.as_secs_f64();
    eprintln!(
        "{mb} MB: attach {attach_time:.2?}; upload {up:.2?} ({:.1} MB/s), download {down:.2?} ({:.1} MB/s) \
         through a proxy cutting every 2 s and every live connection every 40 ms; resumes: upload {up_resumes}, download {down_resumes}",
        mbps(up),
        mbps(down),
    );
}

/// The CLI: `attach` offline, `sync` uploads, a sibling's `attachments` lists it, `open-attachment`
/// downloads and writes it byte-identical, `keep-offline` + `sync` downloads ahead of time.
#[test]
fn the_cli_attaches_syncs_and_opens() {
    let relay = InProcessRelay::start();
    let cli = casebook_tests::CliStores::new();
    let dir = cli.dir();
    let run = |store: &str, args: &[&str]| cli.run(store, args);
    let ok = |store: &str, args: &[&str]| cli.ok(store, args);
    ok("ana", &["case", "create", "--patient", "Maria", "--me", "Ana"]);
    let doc =
        ok("ana", &["document", "add", "Biopsy", "--kind", "pathology_report"])["id"].as_str().unwrap().to_string();
    let photo = pseudo_random(2 * 1024 * 1024 + 5, 11);
    std::fs::write(dir.join("photo.bin"), &photo).unwrap();
    let att = ok("ana", &["attach", &doc[..6], "photo.bin", "--media-type", "image/png"]);
    let att_id = att["id"].as_str().unwrap().to_string();
    assert_eq!(att["on_device"], true);

    ok("ana", &["account", "create", "--server", &relay.url(), "--name", "Ana"]);
    ok("ben", &["init"]);
    ok("ben", &["account", "create", "--server", &relay.url(), "--name", "Ben"]);
    let code = ok("ana", &["case", "share", "--role", "viewer"])["invite"]["code"].as_str().unwrap().to_string();
    ok("ben", &["invite", "accept", &code]);
    let (success, _, err) = run("ana", &["sync"]);
    assert!(success && err.contains("Attachments: 1 uploaded"), "{err}");
    ok("ben", &["sync"]);
    let list = ok("ben", &["attachments", &doc]);
    assert_eq!(list[0]["id"], att_id.as_str());
    assert_eq!(list[0]["on_device"], false);
    ok("ben", &["open-attachment", &att_id, "--out", "got.bin"]);
    assert!(std::fs::read(dir.join("got.bin")).unwrap() == photo, "byte-identical");
    assert_eq!(ok("ben", &["attachments"])[0]["on_device"], true);

    // A third device pins it: `sync` downloads it ahead of time.
    ok("cy", &["init"]);
    ok("cy", &["account", "create", "--server", &relay.url(), "--name", "Cy"]);
    let v = ok("ana", &["invite", "create", "--role", "viewer"]);
    let code = v["code"].as_str().or(v["invite"]["code"].as_str()).map(str::to_string);
    assert!(code.is_some(), "{v}");
    if let Some(code) = code {
        ok("cy", &["invite", "accept", &code]);
        ok("cy", &["sync"]);
        ok("cy", &["keep-offline", &att_id]);
        let (success, _, err) = run("cy", &["sync"]);
        assert!(success && err.contains("1 downloaded"), "{err}");
        assert_eq!(ok("cy", &["attachments"])[0]["on_device"], true);
    }
    let (success, _, err) = run("ben", &["open-attachment", "nope", "--out", "x.bin"]);
    assert!(!success && !err.is_empty());
}

/// Wait until `f` holds (polled every 50 ms), or fail naming `what`.
fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The long-running clients move blobs by themselves: Ana attaches a scan while syncing, her client
/// uploads it; Ben pins it "keep offline" and his client downloads it; neither calls a blob function. The
/// case's lock is never held while bytes move: Ana's edits stay fast during her upload. Progress arrives
/// as events; once Ben is removed from the case, his client stops asking the relay for it.
#[test]
fn sync_clients_upload_and_download_pinned_blobs_in_the_background() {
    let relay = InProcessRelay::start();
    let url = relay.url();
    let ana = Phone::new(&url, "Ana");
    let ben = Phone::new(&url, "Ben");
    let options = SyncOptions {
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
        attachment_sweep: Duration::from_millis(300),
        ..Default::default()
    };
    let (mut a, me) = ana.store.create_case("Mum", "Ana", Some("daughter")).unwrap();
    let doc =
        a.add_document(Some("2026-10-02"), DocumentKind::PathologyReport, None, "biopsy", Location::Digital).unwrap();
    a.save().unwrap();
    let id = a.id().clone();
    let a = Arc::new(Mutex::new(a));
    let sa = SyncClient::start_with(&ana.store, &url, ana.creds.clone(), options.clone()).unwrap();
    let events = |c: &SyncClient| {
        let seen: Arc<Mutex<Vec<SyncEvent>>> = Arc::default();
        let s = seen.clone();
        c.add_observer(Arc::new(move |e: SyncEvent| {
            if matches!(e, SyncEvent::AttachmentProgress { .. }) {
                s.lock().unwrap().push(e)
            }
        }));
        seen
    };
    let ana_events = events(&sa);
    sa.block_on(sa.share_case(&a)).unwrap();
    sa.block_on(sa.sync_and_wait(&a, WAIT)).unwrap();

    let code = ana.relay(&url).create_invite(&id, Role::Viewer, None).unwrap().code;
    ben.relay(&url).redeem_invite(&code).unwrap();
    let sb = SyncClient::start_with(&ben.store, &url, ben.creds.clone(), options).unwrap();
    let ben_events = events(&sb);
    let b = sb.block_on(sb.join_case(&id, WAIT)).unwrap();

    // Ana attaches while syncing (as an app does: the attach, then its save pushes).
    let scan = pseudo_random(3 * 1024 * 1024 + 11, 21);
    let target = AttachTarget { kind: TargetKind::Document, id: doc.clone() };
    let att = a
        .lock()
        .unwrap()
        .attach(target.clone(), NewAttachment::new("scan.pdf", "application/pdf", Some(&me)), &scan[..])
        .unwrap();
    sa.sync_case(&a).unwrap();
    // Keystrokes while her client uploads: the case's lock is never held across the network.
    let mut slowest = Duration::ZERO;
    for i in 0..40 {
        let t = Instant::now();
        a.lock()
            .unwrap()
            .set_patient(casebook_core::model::patient::PatientField::Stage, Some(&format!("II{i}")))
            .unwrap();
        slowest = slowest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(slowest < Duration::from_millis(200), "an edit waited {slowest:?}");
    sa.sync_case(&a).unwrap();
    eventually("the scan complete on the relay", WAIT, || {
        ana.relay(&url).blob_status(&id, &att.sha256).is_ok_and(|s| s.complete)
    });

    // Ben sees the reference; he pins it and the bytes arrive by themselves.
    eventually("the reference on Ben's phone", WAIT, || b.lock().unwrap().attachment(&att.id).is_ok());
    assert!(!b.lock().unwrap().attachment(&att.id).unwrap().on_device, "not pinned: not downloaded");
    ben.store.pin_attachment(&id, &att.id, true).unwrap();
    eventually("the pinned scan on Ben's phone", WAIT, || {
        b.lock().unwrap().attachment(&att.id).is_ok_and(|x| x.on_device)
    });
    assert!(b.lock().unwrap().read_attachment(&att.id).unwrap() == scan, "byte-identical");

    let finished = |seen: &Arc<Mutex<Vec<SyncEvent>>>, dir: TransferDirection| {
        seen.lock().unwrap().iter().any(|e| {
            matches!(e, SyncEvent::AttachmentProgress { case_id, attachment_id, direction, done, total }
                if *case_id == id && *attachment_id == att.id && *direction == dir && done == total
                    && *total == scan.len() as u64)
        })
    };
    eventually("Ana's upload progress", WAIT, || finished(&ana_events, TransferDirection::Upload));
    eventually("Ben's download progress", WAIT, || finished(&ben_events, TransferDirection::Download));

    // Ben removed from the case: nothing more moves for him (his next pass finds he is not a member).
    let ben_account = sb.account_id().to_string();
    ana.relay(&url).remove_member(&id, &ben_account).unwrap();
    let second = pseudo_random(200_000, 22);
    let att2 = a
        .lock()
        .unwrap()
        .attach(target, NewAttachment::new("scan2.pdf", "application/pdf", Some(&me)), &second[..])
        .unwrap();
    sa.sync_case(&a).unwrap();
    eventually("the second scan on the relay", WAIT, || {
        ana.relay(&url).blob_status(&id, &att2.sha256).is_ok_and(|s| s.complete)
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(b.lock().unwrap().attachment(&att2.id).is_err(), "a removed member gets nothing new");
    sa.stop().unwrap();
    sb.stop().unwrap();
}
