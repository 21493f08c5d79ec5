//! A family's access to a case over the relay's HTTP API (real relay on 127.0.0.1:0, sled in a temp dir):
//! co-owners and succession, account recovery codes, the account's devices, and when each member's
//! devices last synced the case.
//!
//! Every event of the relay in this test binary is captured (at trace), to check that no recovery code is
//! ever logged.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use casebook_core::relay_api::{
    CaseMembership, ChangeRole, DeviceCredentials, DeviceInfo, LastSeen, Member, RecoverAccount, RecoveryCode, Role,
};
use common::{Client, Http, TestRelay, eventually, expect_close, ws_connect};

const SOON: Duration = Duration::from_secs(5);

/// Every event, captured in memory.
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

/// The capture of this test binary's events (installed by the first test to ask).
fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");
        captured
    })
}

fn logged(text: &str) -> bool {
    let bytes = logs().0.lock().unwrap();
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
}

fn case_id() -> String {
    casebook_core::DocId::random().to_string()
}

fn member_path(case: &str, account: &str) -> String {
    format!("/v1/cases/{case}/members/{account}")
}

async fn change_role(http: &Http, token: &str, case: &str, account: &str, role: Role) -> common::Resp {
    http.send_json("PUT", &member_path(case, account), Some(token), &ChangeRole { role }).await
}

async fn recover(http: &Http, code: &str, revoke_other_devices: bool) -> common::Resp {
    let body =
        RecoverAccount { recovery_code: code.into(), device_name: Some("new phone".into()), revoke_other_devices };
    http.post("/v1/accounts/recover", None, &body).await
}

async fn roles(http: &Http, token: &str, case: &str) -> Vec<(String, Role)> {
    let members: Vec<Member> = http.get(&format!("/v1/cases/{case}/members"), Some(token)).await.json();
    members.into_iter().map(|m| (m.display_name, m.role)).collect()
}

#[tokio::test]
async fn a_co_owner_takes_over_and_the_last_owner_stays() {
    logs();
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let case = case_id();
    http.register_case(&ana.token, &case).await;
    let ben = http.member(&ana.token, &case, "Ben", Role::Editor).await;
    let cal = http.member(&ana.token, &case, "Cal", Role::Viewer).await;

    // The last owner can neither leave, step down nor be removed.
    let r = http.delete(&member_path(&case, &ana.account_id), Some(&ana.token)).await;
    assert_eq!((r.status, r.error_code().as_str()), (409, "conflict"));
    assert!(r.body.contains("the last owner cannot leave; make another member an owner first, or name a successor"));
    let r = change_role(&http, &ana.token, &case, &ana.account_id, Role::Editor).await;
    assert_eq!((r.status, r.error_code().as_str()), (409, "conflict"), "{}", r.body);
    let r = http.delete(&member_path(&case, &ana.account_id), Some(&ben.token)).await;
    assert_eq!(r.status, 403, "only an owner removes others");
    let r = change_role(&http, &ben.token, &case, &ben.account_id, Role::Owner).await;
    assert_eq!(r.status, 403, "an editor cannot make itself owner");

    // Ana makes Ben a co-owner; she leaves; Ben invites and removes.
    let r = change_role(&http, &ana.token, &case, &ben.account_id, Role::Owner).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json::<Member>().role, Role::Owner);
    let r = http.delete(&member_path(&case, &ana.account_id), Some(&ana.token)).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(http.get("/v1/cases", Some(&ana.token)).await.json::<Vec<CaseMembership>>().is_empty());
    let dee = http.member(&ben.token, &case, "Dee", Role::Editor).await;
    let r = http.delete(&member_path(&case, &cal.account_id), Some(&ben.token)).await;
    assert_eq!(r.status, 204);
    assert_eq!(roles(&http, &dee.token, &case).await, vec![("Ben".into(), Role::Owner), ("Dee".into(), Role::Editor)]);

    // Invites still grant editor or viewer only.
    let r = http
        .post(
            &format!("/v1/cases/{case}/invites"),
            Some(&ben.token),
            &casebook_core::relay_api::CreateInvite { role: Role::Owner, expires_in_secs: None },
        )
        .await;
    assert_eq!(r.status, 400);

    // Two owners: one steps down; an owner removes another owner.
    change_role(&http, &ben.token, &case, &dee.account_id, Role::Owner).await;
    let r = change_role(&http, &dee.token, &case, &dee.account_id, Role::Viewer).await;
    assert_eq!((r.status, r.json::<Member>().role), (200, Role::Viewer), "stepping down");
    let r = change_role(&http, &ben.token, &case, &ben.account_id, Role::Editor).await;
    assert_eq!(r.status, 409, "Ben is the last owner again");
    change_role(&http, &ben.token, &case, &dee.account_id, Role::Owner).await;
    let r = http.delete(&member_path(&case, &ben.account_id), Some(&dee.token)).await;
    assert_eq!(r.status, 204, "an owner removes another owner");
    assert_eq!(roles(&http, &dee.token, &case).await, vec![("Dee".into(), Role::Owner)]);
}

#[tokio::test]
async fn leaving_naming_a_successor() {
    logs();
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let eve = http.create_account("Eve").await;
    let case = case_id();
    http.register_case(&ana.token, &case).await;
    let ben = http.member(&ana.token, &case, "Ben", Role::Viewer).await;
    let leave = |successor: &str| format!("{}?successor={successor}", member_path(&case, &ana.account_id));

    let r = http.delete(&leave(&eve.account_id), Some(&ana.token)).await;
    assert_eq!(r.status, 404, "the successor must be a member");
    let r = http.delete(&leave(&ana.account_id), Some(&ana.token)).await;
    assert_eq!(r.status, 400, "nor oneself");
    let r = http.delete(&leave("../../x"), Some(&ana.token)).await;
    assert_eq!(r.status, 404);
    let r = http
        .delete(&format!("{}?successor={}", member_path(&case, &ana.account_id), ben.account_id), Some(&ben.token))
        .await;
    assert_eq!(r.status, 400, "a successor is named only when leaving");
    let r = http
        .delete(&format!("{}?successor={}", member_path(&case, &ben.account_id), ana.account_id), Some(&ben.token))
        .await;
    assert_eq!(r.status, 403, "only an owner names a successor");
    let r = http
        .delete(&format!("{}?successor={}", member_path(&case, &ana.account_id), ben.account_id), Some(&eve.token))
        .await;
    assert_eq!(r.status, 404, "a non-member learns nothing");

    let r = http.delete(&leave(&ben.account_id), Some(&ana.token)).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(roles(&http, &ben.token, &case).await, vec![("Ben".into(), Role::Owner)]);
    assert_eq!(http.get(&format!("/v1/cases/{case}/members"), Some(&ana.token)).await.status, 404);
    // It was one write, and it lasts.
    let relay = relay.restart(|_| {}).await;
    assert_eq!(roles(&relay.http(), &ben.token, &case).await, vec![("Ben".into(), Role::Owner)]);
}

#[tokio::test]
async fn a_recovery_code_restores_the_account_once() {
    logs();
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let code = ana.recovery_code.clone().expect("a recovery code at account creation");
    let canonical = code.replace('-', "");
    assert_eq!(canonical.len(), 28, "140 bits");
    assert!(canonical.bytes().all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b)), "{code}");
    assert_ne!(http.create_account("Ben").await.recovery_code.expect("Ben's code"), code, "one code per account");
    let (one, two) = (case_id(), case_id());
    http.register_case(&ana.token, &one).await;
    http.register_case(&ana.token, &two).await;
    let mut before: Vec<CaseMembership> = http.get("/v1/cases", Some(&ana.token)).await.json();
    before.sort_by(|a, b| a.case_id.cmp(&b.case_id));

    // Typed loosely: lower case, spaces for dashes.
    let r = recover(&http, &code.to_lowercase().replace('-', " "), false).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let new: DeviceCredentials = r.json();
    assert_eq!(new.account_id, ana.account_id);
    assert_ne!(new.device_id, ana.device_id);
    let mut after: Vec<CaseMembership> = http.get("/v1/cases", Some(&new.token)).await.json();
    after.sort_by(|a, b| a.case_id.cmp(&b.case_id));
    assert_eq!(after, before, "the same cases");
    assert_eq!(http.get("/v1/me", Some(&ana.token)).await.status, 200, "the old device stays without revoke");

    // Rotated on use: the used code is refused, the new one works.
    let next = new.recovery_code.clone().expect("a new recovery code");
    assert_ne!(next, code);
    let r = recover(&http, &code, false).await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"));
    let r = recover(&http, &next, false).await;
    assert_eq!(r.status, 201);
    let third: DeviceCredentials = r.json();
    assert_eq!(third.account_id, ana.account_id);

    // Rotation on request.
    let r = http.post_empty("/v1/me/recovery-code", Some(&third.token)).await;
    assert_eq!(r.status, 201);
    let rotated: RecoveryCode = r.json();
    let last_issued = third.recovery_code.clone().unwrap();
    assert_eq!(recover(&http, &last_issued, false).await.status, 404, "replaced");
    assert_eq!(http.post_empty("/v1/me/recovery-code", None).await.status, 401);

    // Malformed input.
    assert_eq!(recover(&http, &"A".repeat(65), false).await.status, 400);
    assert_eq!(recover(&http, "short", false).await.status, 404);
    let r =
        http.post("/v1/accounts/recover", None, &serde_json::json!({ "recovery_code": rotated.recovery_code })).await;
    assert_eq!(r.status, 201, "device_name and revoke_other_devices are optional: {}", r.body);
    // Device credentials from linking carry no recovery code.
    let link: casebook_core::relay_api::LinkCode =
        http.post_empty("/v1/devices/link-codes", Some(&ana.token)).await.json();
    let r = http
        .post("/v1/devices/link", None, &casebook_core::relay_api::LinkDevice { code: link.code, device_name: None })
        .await;
    assert!(!r.body.contains("recovery_code"), "{}", r.body);

    // The codes are stored hashed only and never logged.
    let issued = [code, next, last_issued, rotated.recovery_code];
    let stored = relay.stop().await.stored_bytes();
    for c in &issued {
        let forms = [c.clone(), c.replace('-', "")];
        for (place, bytes) in &stored {
            for f in &forms {
                assert!(!bytes.windows(f.len()).any(|w| w == f.as_bytes()), "a recovery code in {place}");
            }
        }
        for f in &forms {
            assert!(!logged(f), "a recovery code was logged");
        }
    }
    assert!(logged("account recovered"), "the relay's events are captured");
}

#[tokio::test]
async fn recovery_revoking_the_other_devices_signs_them_out_at_once() {
    logs();
    let relay = TestRelay::start_with(|c| c.max_devices_per_account = 2).await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let case = case_id();
    http.register_case(&ana.token, &case).await;
    let link: casebook_core::relay_api::LinkCode =
        http.post_empty("/v1/devices/link-codes", Some(&ana.token)).await.json();
    let tablet: DeviceCredentials = http
        .post("/v1/devices/link", None, &casebook_core::relay_api::LinkDevice { code: link.code, device_name: None })
        .await
        .json();
    let code = ana.recovery_code.clone().unwrap();
    let r = recover(&http, &code, false).await;
    assert_eq!((r.status, r.error_code().as_str()), (409, "conflict"), "at the device limit: {}", r.body);

    let mut phone = ws_connect(&http, Some(&ana.token), false).await.unwrap();
    let mut tab = ws_connect(&http, Some(&tablet.token), false).await.unwrap();
    assert!(eventually(SOON, || relay.handle.connection_count() == 2).await);
    let started = tokio::time::Instant::now();
    let r = recover(&http, &code, true).await;
    assert_eq!(r.status, 201, "the limit counts after revocation: {}", r.body);
    let new: DeviceCredentials = r.json();
    for ws in [&mut phone, &mut tab] {
        let (code, reason) = expect_close(ws).await.expect("a close frame");
        assert_eq!((code, reason.as_str()), (4401, "device token revoked"));
    }
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    for old in [&ana.token, &tablet.token] {
        assert_eq!(http.get("/v1/me", Some(old)).await.status, 401);
        assert_eq!(ws_connect(&http, Some(old), false).await.err(), Some(401));
    }
    assert!(eventually(SOON, || relay.handle.connection_count() == 0).await);
    let cases: Vec<CaseMembership> = http.get("/v1/cases", Some(&new.token)).await.json();
    assert_eq!(cases, vec![CaseMembership { case_id: case, role: Role::Owner }]);
    let devices: Vec<DeviceInfo> = http.get("/v1/devices", Some(&new.token)).await.json();
    assert_eq!(devices.len(), 1);
    assert_eq!(
        (devices[0].device_id.as_str(), devices[0].name.as_deref()),
        (new.device_id.as_str(), Some("new phone"))
    );
}

/// Wrong recovery codes spend the address's code-redemption budget like invite and link codes, so guessing
/// is hopeless: at the default 10 attempts a minute per address, a year of guessing is 10 × 60 × 24 × 365
/// ≈ 2^22.3 attempts, against 2^140 possible codes: a probability of about 2^-117.7 per address and year
/// for one account (2^-97.7 with a million accounts' codes to hit).
#[tokio::test]
async fn wrong_recovery_codes_are_rate_limited() {
    logs();
    let relay = TestRelay::start_with(|c| c.redeem_attempts_per_minute = 3).await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let guesser = http.with_source("127.0.0.6");
    for i in 0..3 {
        let r = recover(&guesser, &format!("0000-0000-0000-0000-0000-0000-000{i}"), false).await;
        assert_eq!(r.status, 404);
    }
    let r = recover(&guesser, ana.recovery_code.as_deref().unwrap(), false).await;
    assert_eq!((r.status, r.error_code().as_str()), (429, "rate_limited"), "even the right code, while blocked");
    assert!(r.header("retry-after").is_some());
    assert_eq!(guesser.redeem(&ana.token, "0000-0000-0000-0000-0001").await.status, 429, "one budget for codes");
    let r = recover(&http.with_source("127.0.0.7"), ana.recovery_code.as_deref().unwrap(), false).await;
    assert_eq!(r.status, 201, "another address is unaffected");
    let metrics = http.get("/metrics", None).await.body;
    assert!(!metrics.contains("casebook_relay_limit_hits_total{kind=\"redeem_rate\"} 0"), "{metrics}");
}

#[tokio::test]
async fn devices_and_when_members_last_synced() {
    logs();
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let mut ana_client = Client::offline(&ana).await;
    let doc = ana_client.create("title", "first").await;
    let case = doc.document_id().to_string();
    http.register_case(&ana.token, &case).await;
    let ben = http.member(&ana.token, &case, "Ben", Role::Editor).await;
    let eve = http.create_account("Eve").await;
    let last_seen = format!("/v1/cases/{case}/last-seen");

    // Nobody synced yet.
    let r = http.get(&last_seen, Some(&ana.token)).await;
    assert_eq!(r.status, 200);
    assert!(r.json::<Vec<LastSeen>>().is_empty());
    // A non-member gets exactly the answer for an unknown case.
    let r = http.get(&last_seen, Some(&eve.token)).await;
    let unknown = http.get(&format!("/v1/cases/{}/last-seen", case_id()), Some(&eve.token)).await;
    assert_eq!(r.status, 404);
    assert_eq!((r.status, &r.body), (unknown.status, &unknown.body));

    // Ana syncs, then Ben.
    ana_client.dial(&relay.handle, &ana.token);
    ana_client.established().await;
    let ben_client = Client::connect(&relay.handle, &ben).await;
    let found = ben_client.find_soon(doc.document_id()).await;
    assert_eq!(common::get(&found, "title").await.as_deref(), Some("first"));
    let now = casebook_now();
    let deadline = tokio::time::Instant::now() + SOON;
    let seen = loop {
        let seen: Vec<LastSeen> = http.get(&last_seen, Some(&ana.token)).await.json();
        if seen.len() == 2 {
            break seen;
        }
        assert!(tokio::time::Instant::now() < deadline, "both devices synced: {seen:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let bens = seen.iter().find(|l| l.device_id == ben.device_id).expect("Ben's device");
    assert_eq!((bens.account_id.as_str(), bens.display_name.as_str()), (ben.account_id.as_str(), "Ben"));
    assert!(bens.synced_at + 10 >= now && bens.synced_at <= now + 10, "{} vs {now}", bens.synced_at);
    assert!(seen[0].synced_at >= seen[1].synced_at, "most recent first");

    // Ben's devices: both listed, with when each last connected.
    let link: casebook_core::relay_api::LinkCode =
        http.post_empty("/v1/devices/link-codes", Some(&ben.token)).await.json();
    let tablet: DeviceCredentials = http
        .post(
            "/v1/devices/link",
            None,
            &casebook_core::relay_api::LinkDevice { code: link.code, device_name: Some("tablet".into()) },
        )
        .await
        .json();
    let devices: Vec<DeviceInfo> = http.get("/v1/devices", Some(&tablet.token)).await.json();
    assert_eq!(devices.len(), 2);
    let phone = devices.iter().find(|d| d.device_id == ben.device_id).unwrap();
    let tab = devices.iter().find(|d| d.device_id == tablet.device_id).unwrap();
    assert!(!phone.this_device && tab.this_device);
    assert_eq!(tab.name.as_deref(), Some("tablet"));
    assert!(phone.last_seen_at.is_some_and(|t| t + 10 >= now), "{phone:?}");
    assert_eq!(tab.last_seen_at, None, "never connected");
    assert_eq!(http.get("/v1/devices", None).await.status, 401);

    // Last-seen times survive a restart (saved at shutdown).
    ben_client.stop().await;
    ana_client.stop().await;
    let relay = relay.restart(|_| {}).await;
    let http = relay.http();
    let after: Vec<LastSeen> = http.get(&last_seen, Some(&ana.token)).await.json();
    assert_eq!(after.iter().find(|l| l.device_id == ben.device_id).map(|l| l.synced_at), Some(bens.synced_at));

    // A removed member's devices disappear, and so do revoked devices.
    let r = http.delete(&member_path(&case, &ben.account_id), Some(&ana.token)).await;
    assert_eq!(r.status, 204);
    let after: Vec<LastSeen> = http.get(&last_seen, Some(&ana.token)).await.json();
    assert_eq!(after.iter().map(|l| l.device_id.as_str()).collect::<Vec<_>>(), vec![ana.device_id.as_str()]);
    assert_eq!(http.get(&last_seen, Some(&ben.token)).await.status, 404);
    let link: casebook_core::relay_api::LinkCode =
        http.post_empty("/v1/devices/link-codes", Some(&ana.token)).await.json();
    let ana2: DeviceCredentials = http
        .post("/v1/devices/link", None, &casebook_core::relay_api::LinkDevice { code: link.code, device_name: None })
        .await
        .json();
    assert_eq!(http.delete(&format!("/v1/devices/{}", ana.device_id), Some(&ana2.token)).await.status, 204);
    assert!(http.get(&last_seen, Some(&ana2.token)).await.json::<Vec<LastSeen>>().is_empty());
    // A device may revoke itself.
    assert_eq!(http.delete(&format!("/v1/devices/{}", ana2.device_id), Some(&ana2.token)).await.status, 204);
    assert_eq!(http.get("/v1/me", Some(&ana2.token)).await.status, 401);
}

fn casebook_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}
