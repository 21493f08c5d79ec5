//! A family's access to its cases when a phone is lost, end to end through a real relay on 127.0.0.1:0 with
//! real stores: the owner's only device is syncing live; on a new phone (a new, empty store) the owner
//! recovers the account with its recovery code, revoking the other devices. The account and its cases come
//! back on the new phone from the relay, the lost phone's token is refused and its live sync connection is
//! closed within a second, and the used recovery code stops working.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebook_core::relay_api::Role;
use casebook_core::store::RelayAccount;
use casebook_core::sync::{RelayClient, SharedCase, SyncClient, SyncError, SyncEvent};
use casebook_core::{CaseId, Store};

const WAIT: Duration = Duration::from_secs(30);

/// Poll `f` every 10 ms until it holds, or fail after `within`; returns how long it took.
fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if f() {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn case_names(store: &Store) -> Vec<(CaseId, Option<String>)> {
    let mut cases: Vec<_> = store.list_cases().unwrap().into_iter().map(|c| (c.id, c.display_name)).collect();
    cases.sort();
    cases
}

#[test]
fn recovery_on_a_new_phone_restores_the_cases_and_cuts_off_the_lost_one() {
    let relay_dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let relay =
        rt.block_on(casebook_server::Relay::start(casebook_server::Config::for_tests(relay_dir.path()))).unwrap();
    let url = relay.http_url();

    // The owner's phone: an account (its recovery code written down, never stored), two cases shared and
    // synced, the sync client connected.
    let phone_dir = tempfile::tempdir().unwrap();
    let phone = Store::open(phone_dir.path()).unwrap();
    let creds = RelayClient::new(&url).unwrap().create_account("Ana", Some("Ana's phone")).unwrap();
    let written_down = creds.recovery_code.clone().expect("a recovery code at account creation");
    let account = RelayAccount { server: url.clone(), display_name: "Ana".into(), credentials: creds.clone() };
    phone.set_relay_account(&account).unwrap();
    assert_eq!(phone.relay_account().unwrap().unwrap().credentials.recovery_code, None, "never at rest");
    let sync = SyncClient::start(&phone, &url, creds.clone()).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    sync.add_observer(Arc::new(move |e: SyncEvent| sink.lock().unwrap().push(e)));
    for (patient, me) in [("Mum", "Ana"), ("Dad", "Ana")] {
        let (case, _) = phone.create_case(patient, me, Some("daughter")).unwrap();
        let shared: SharedCase = Arc::new(Mutex::new(case));
        assert_eq!(sync.block_on(sync.share_case(&shared)).unwrap().role, Role::Owner);
        sync.block_on(sync.sync_and_wait(&shared, WAIT)).unwrap();
    }
    wait_until("the phone to be connected", WAIT, || sync.is_connected());
    assert_eq!(relay.connection_count(), 1);
    let on_the_phone = case_names(&phone);
    assert_eq!(on_the_phone.len(), 2);

    // The phone is lost. On a new phone: recovery, revoking every other device.
    let new_dir = tempfile::tempdir().unwrap();
    let new_phone = Store::open(new_dir.path()).unwrap();
    let anon = RelayClient::new(&url).unwrap();
    let recovered = anon.recover_account(&written_down, Some("new phone"), true).unwrap();
    let revoked_at = Instant::now();
    assert_eq!(recovered.account_id, creds.account_id, "the same account");
    assert_ne!(recovered.device_id, creds.device_id);

    // The lost phone's live connection is closed at once, and its token refused from now on.
    let closed = wait_until("the lost phone's connection to close", WAIT, || relay.connection_count() == 0);
    assert!(closed < Duration::from_secs(1), "the relay closed the lost phone's connection after {closed:?}");
    let noticed = wait_until("the lost phone to notice", WAIT, || !sync.is_connected());
    assert!(noticed < Duration::from_secs(1), "the lost phone was still connected after {noticed:?}");
    eprintln!("family access: the lost phone was cut off {:?} after the recovery", revoked_at.elapsed());
    let old = RelayClient::with_token(&url, &creds.token).unwrap();
    assert!(matches!(old.me(), Err(SyncError::Unauthorized)));
    assert!(matches!(old.list_cases(), Err(SyncError::Unauthorized)));
    wait_until("the lost phone's client to give up", WAIT, || matches!(sync.failure(), Some(SyncError::Unauthorized)));
    assert!(events.lock().unwrap().iter().any(|e| matches!(e, SyncEvent::Failed { error: SyncError::Unauthorized })));
    assert_eq!(relay.connection_count(), 0, "its reconnection attempts are refused");

    // The new phone: the recovered account, its cases back from the relay.
    let new_code = recovered.recovery_code.clone().expect("a new recovery code");
    assert_ne!(new_code, written_down);
    let account = RelayAccount { server: url.clone(), display_name: "Ana".into(), credentials: recovered.clone() };
    new_phone.set_relay_account(&account).unwrap();
    let new_sync = SyncClient::start(&new_phone, &url, recovered.clone()).unwrap();
    let memberships = new_sync.relay().list_cases().unwrap();
    assert_eq!(memberships.len(), 2);
    assert!(memberships.iter().all(|m| m.role == Role::Owner));
    for m in &memberships {
        let id = m.case_id.parse::<CaseId>().unwrap();
        let case = new_sync.block_on(new_sync.join_case(&id, WAIT)).unwrap();
        new_sync.block_on(new_sync.sync_and_wait(&case, WAIT)).unwrap();
    }
    assert_eq!(case_names(&new_phone), on_the_phone, "the same cases, with their content");
    let devices = new_sync.relay().list_devices().unwrap();
    assert_eq!(devices.len(), 1, "only the new phone is left");
    assert!(devices[0].this_device && devices[0].name.as_deref() == Some("new phone"));
    // The new phone syncs: the relay records when.
    let seen = new_sync.relay().last_seen(&memberships[0].case_id.parse::<CaseId>().unwrap()).unwrap();
    assert_eq!(seen.iter().map(|s| s.device_id.as_str()).collect::<Vec<_>>(), vec![recovered.device_id.as_str()]);

    // The used code is spent; the new one works (once more, without revoking).
    assert!(matches!(anon.recover_account(&written_down, None, false), Err(SyncError::NotFound)));
    let rotated = new_sync.relay().rotate_recovery_code().unwrap();
    assert!(matches!(anon.recover_account(&new_code, None, false), Err(SyncError::NotFound)), "replaced");
    let again = anon.recover_account(&rotated, None, false).unwrap();
    assert_eq!(again.account_id, creds.account_id);
    assert!(new_sync.relay().me().is_ok(), "recovery without revoking keeps the other devices");

    new_sync.stop().unwrap();
    let _ = sync.stop();
    rt.block_on(relay.shutdown());
}
