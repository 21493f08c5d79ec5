//! The relay's HTTP API through `RelayClient`, against the in-process fake relay: typed results, and each
//! failure mapped to the `SyncError` an app acts on.

#[path = "support/fake_relay.rs"]
mod fake_relay;

use casebook_core::Store;
use casebook_core::relay_api::Role;
use casebook_core::sync::{RelayClient, SyncError};
use fake_relay::FakeRelay;

#[test]
fn accounts_cases_invites_and_members() {
    let relay = FakeRelay::start();
    let anon = RelayClient::new(&relay.url()).unwrap();
    assert!(anon.health().is_ok());

    let ana = anon.create_account("Ana", Some("Ana's phone")).unwrap();
    assert_eq!(ana.token.len(), 64);
    let ana_c = RelayClient::with_token(&relay.url(), &ana.token).unwrap();
    let me = ana_c.me().unwrap();
    assert_eq!((me.account_id.as_str(), me.display_name.as_str()), (ana.account_id.as_str(), "Ana"));

    let store = Store::in_memory();
    let (case, _) = store.create_case("Mum", "Ana", None).unwrap();
    let id = case.id().clone();
    let m = ana_c.register_case(&id).unwrap();
    assert_eq!(m.role, Role::Owner);
    assert!(matches!(ana_c.register_case(&id), Err(SyncError::Conflict { .. })));
    assert_eq!(ana_c.list_cases().unwrap(), vec![m]);
    ana_c.register_document(&id, &casebook_core::DocId::random()).unwrap();

    let ben = anon.create_account("Ben", None).unwrap();
    let ben_c = RelayClient::with_token(&relay.url(), &ben.token).unwrap();
    // Not a member: the case does not exist for Ben.
    assert!(matches!(ben_c.list_members(&id), Err(SyncError::NotFound)));
    assert!(matches!(ben_c.create_invite(&id, Role::Editor, None), Err(SyncError::NotFound)));

    let invite = ana_c.create_invite(&id, Role::Editor, Some(3600)).unwrap();
    assert_eq!(invite.case_id, id.as_str());
    let joined = ben_c.redeem_invite(&invite.code).unwrap();
    assert_eq!(joined.role, Role::Editor);
    // Single use.
    assert!(matches!(ben_c.redeem_invite(&invite.code), Err(SyncError::InvalidInput { .. })));
    // An editor cannot invite.
    assert!(matches!(ben_c.create_invite(&id, Role::Viewer, None), Err(SyncError::Forbidden { .. })));

    assert_eq!(ben_c.case_usage(&id).unwrap().bytes, 1234);
    let members = ben_c.list_members(&id).unwrap();
    assert_eq!(members.len(), 2);
    let changed = ana_c.change_role(&id, &ben.account_id, Role::Viewer).unwrap();
    assert_eq!(changed.role, Role::Viewer);
    assert!(matches!(ben_c.register_document(&id, &casebook_core::DocId::random()), Err(SyncError::Forbidden { .. })));
    ben_c.leave_case(&id).unwrap();
    assert!(matches!(ben_c.list_members(&id), Err(SyncError::NotFound)));
    assert_eq!(ana_c.list_members(&id).unwrap().len(), 1);
}

#[test]
fn failures_map_to_typed_errors() {
    let relay = FakeRelay::start();
    let anon = RelayClient::new(&relay.url()).unwrap();
    // No token at all: refused before any request.
    assert!(matches!(anon.me(), Err(SyncError::Unauthorized)));
    // A wrong token.
    let wrong = RelayClient::with_token(&relay.url(), &"0".repeat(64)).unwrap();
    assert!(matches!(wrong.me(), Err(SyncError::Unauthorized)));
    assert!(matches!(wrong.list_cases(), Err(SyncError::Unauthorized)));
    // Validation, with the relay's reason.
    match anon.create_account("", None) {
        Err(SyncError::InvalidInput { reason }) => assert!(reason.contains("display_name"), "{reason}"),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    // Rate limiting, with Retry-After.
    let ana = relay.account("ana");
    let ana_c = RelayClient::with_token(&relay.url(), &ana.token).unwrap();
    assert!(matches!(ana_c.redeem_invite("flood"), Err(SyncError::RateLimited { retry_after_secs: Some(7) })));
    // Revoking the device's own token.
    ana_c.revoke_device(&ana.device_id).unwrap();
    assert!(matches!(ana_c.me(), Err(SyncError::Unauthorized)));

    // Nothing listens: a transient network error.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = RelayClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let e = down.create_account("Ana", None).unwrap_err();
    assert!(matches!(e, SyncError::Network(_)) && e.is_transient(), "{e:?}");
    // A bad URL.
    assert!(matches!(RelayClient::new("relay.example.org"), Err(SyncError::InvalidInput { .. })));
}

#[test]
fn recovery_codes_devices_last_seen_and_succession() {
    let relay = FakeRelay::start();
    let anon = RelayClient::new(&relay.url()).unwrap();
    let ana = anon.create_account("Ana", Some("phone")).unwrap();
    let code = ana.recovery_code.clone().expect("a recovery code at account creation");
    let ana_c = RelayClient::with_token(&relay.url(), &ana.token).unwrap();

    // Rotation: a new code, the old one refused.
    let rotated = ana_c.rotate_recovery_code().unwrap();
    assert_ne!(rotated, code);
    assert!(matches!(anon.recover_account(&code, None, false), Err(SyncError::NotFound)));
    // Recovery: a new device of the same account, a new code; the old devices signed out if asked.
    let tablet = anon.recover_account(&rotated, Some("tablet"), true).unwrap();
    assert_eq!(tablet.account_id, ana.account_id);
    assert_ne!(tablet.device_id, ana.device_id);
    assert!(tablet.recovery_code.as_deref().is_some_and(|c| c != rotated));
    assert!(matches!(ana_c.me(), Err(SyncError::Unauthorized)));
    let tablet_c = RelayClient::with_token(&relay.url(), &tablet.token).unwrap();
    let devices = tablet_c.list_devices().unwrap();
    assert_eq!(devices.len(), 1);
    assert!(devices[0].this_device && devices[0].device_id == tablet.device_id);

    // Co-owner and succession.
    let store = Store::in_memory();
    let (case, _) = store.create_case("Mum", "Ana", None).unwrap();
    let id = case.id().clone();
    tablet_c.register_case(&id).unwrap();
    let ben = anon.create_account("Ben", None).unwrap();
    let ben_c = RelayClient::with_token(&relay.url(), &ben.token).unwrap();
    ben_c.redeem_invite(&tablet_c.create_invite(&id, Role::Editor, None).unwrap().code).unwrap();
    assert!(matches!(tablet_c.leave_case(&id), Err(SyncError::Conflict { .. })), "the last owner");
    tablet_c.leave_case_naming(&id, &ben.account_id).unwrap();
    let members = ben_c.list_members(&id).unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!((members[0].account_id.as_str(), members[0].role), (ben.account_id.as_str(), Role::Owner));
    assert!(ben_c.last_seen(&id).unwrap().is_empty(), "nobody synced yet");
    assert!(matches!(tablet_c.last_seen(&id), Err(SyncError::NotFound)), "no longer a member");
}
