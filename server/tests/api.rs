//! The relay's HTTP API against a real relay (127.0.0.1:0, sled in a temp dir).

mod common;

use std::time::Duration;

use casebook_core::DocId;
use casebook_core::relay_api::{
    CaseMembership, CaseUsage, ChangeRole, CreateAccount, CreateInvite, DeviceCredentials, Invite, LinkCode,
    LinkDevice, Me, Member, RegisterDocument, Role,
};
use common::{Http, TestRelay};

fn case_id() -> String {
    DocId::random().to_string()
}

#[tokio::test]
async fn accounts_me_and_tokens() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let r = http
        .post("/v1/accounts", None, &CreateAccount { display_name: "  Ana ".into(), device_name: Some("phone".into()) })
        .await;
    assert_eq!(r.status, 201);
    let creds: DeviceCredentials = r.json();
    assert_eq!(creds.token.len(), 64);
    assert!(creds.token.bytes().all(|b| b.is_ascii_hexdigit()));

    let me: Me = http.get("/v1/me", Some(&creds.token)).await.json();
    assert_eq!((me.display_name.as_str(), me.account_id.as_str()), ("Ana", creds.account_id.as_str()));
    assert_eq!(me.device_id, creds.device_id);

    let r = http.get("/v1/me", None).await;
    assert_eq!((r.status, r.error_code().as_str()), (401, "unauthorized"));
    let r = http.get("/v1/me", Some(&"0".repeat(64))).await;
    assert_eq!((r.status, r.error_code().as_str()), (401, "unauthorized"));
    let r = http.get("/v1/me", Some("short")).await;
    assert_eq!(r.status, 401);

    // The token is stored hashed only: it appears nowhere in the database (files, or rows).
    let stopped = relay.stop().await;
    for (place, bytes) in stopped.stored_bytes() {
        assert!(!bytes.windows(64).any(|w| w == creds.token.as_bytes()), "a device token is stored in {place}");
    }
}

#[tokio::test]
async fn bad_input_gets_json_errors() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let creds = http.create_account("Ana").await;
    let bad_names = ["", "   ", &"x".repeat(81), "a\u{7}b"];
    for name in bad_names {
        let r = http.post("/v1/accounts", None, &CreateAccount { display_name: name.into(), device_name: None }).await;
        assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_input"), "{name:?}");
    }
    let r = http.raw("POST", "/v1/accounts", None, Some(("application/json", b"{\"display_name\": "))).await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_input"));
    let r = http.raw("POST", "/v1/accounts", None, Some(("application/json", b"[1,2,3]"))).await;
    assert_eq!(r.status, 400);
    let r = http.raw("POST", "/v1/accounts", None, Some(("text/plain", b"{\"display_name\":\"A\"}"))).await;
    assert_eq!(r.status, 400);
    let r = http.raw("POST", "/v1/invites/redeem", Some(&creds.token), None).await;
    assert_eq!(r.status, 400);
    let big = format!("{{\"display_name\":\"{}\"}}", "x".repeat(17 * 1024));
    let r = http.raw("POST", "/v1/accounts", None, Some(("application/json", big.as_bytes()))).await;
    assert_eq!((r.status, r.error_code().as_str()), (413, "too_large"));
    let r = http.post("/v1/cases", Some(&creds.token), &serde_json::json!({"case_id": "not-an-id"})).await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_input"));
    let r = http
        .post(&format!("/v1/cases/{}/invites", case_id()), Some(&creds.token), &serde_json::json!({"role": "admin"}))
        .await;
    assert_eq!(r.status, 400);
    let r = http.get("/v1/nothing-here", None).await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"));
    let r = http.get("/v1/accounts", None).await;
    assert_eq!(r.status, 405);
    let _: casebook_core::relay_api::ApiError = r.json();

    let metrics = http.get("/metrics", None).await.body;
    assert!(metrics.contains("casebook_relay_limit_hits_total{kind=\"body_size\"} 1"), "{metrics}");
    assert!(!metrics.contains("casebook_relay_limit_hits_total{kind=\"invalid_input\"} 0"));
    // Nothing of the refused requests was stored.
    assert!(metrics.contains("casebook_relay_accounts 1\n"), "{metrics}");
}

#[tokio::test]
async fn link_codes_are_single_use_and_expire() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let first = http.create_account("Ana").await;
    let r = http.post_empty("/v1/devices/link-codes", None).await;
    assert_eq!(r.status, 401);
    let link: LinkCode = http.post_empty("/v1/devices/link-codes", Some(&first.token)).await.json();
    assert!(link.code.replace('-', "").len() >= 16, "at least 80 bits");

    let r = http
        .post("/v1/devices/link", None, &LinkDevice { code: link.code.clone(), device_name: Some("tablet".into()) })
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let second: DeviceCredentials = r.json();
    assert_eq!(second.account_id, first.account_id);
    assert_ne!(second.device_id, first.device_id);
    let me: Me = http.get("/v1/me", Some(&second.token)).await.json();
    assert_eq!(me.device_id, second.device_id);

    let r = http.post("/v1/devices/link", None, &LinkDevice { code: link.code.clone(), device_name: None }).await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"), "reused");
    let r = http
        .post("/v1/devices/link", None, &LinkDevice { code: "ABCD-EFGH-JKMN-PQRS-TVWX".into(), device_name: None })
        .await;
    assert_eq!(r.status, 404, "guessed");

    let old: LinkCode = http.post_empty("/v1/devices/link-codes", Some(&first.token)).await.json();
    relay.handle.advance_clock(Duration::from_secs(3600));
    let r = http.post("/v1/devices/link", None, &LinkDevice { code: old.code, device_name: None }).await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("expired"), "{}", r.body);
}

#[tokio::test]
async fn device_revocation() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let first = http.create_account("Ana").await;
    let link: LinkCode = http.post_empty("/v1/devices/link-codes", Some(&first.token)).await.json();
    let lost: DeviceCredentials =
        http.post("/v1/devices/link", None, &LinkDevice { code: link.code, device_name: None }).await.json();
    let other = http.create_account("Ben").await;

    let r = http.delete(&format!("/v1/devices/{}", lost.device_id), Some(&other.token)).await;
    assert_eq!(r.status, 404, "another account's device");
    let r = http.delete("/v1/devices/not-a-device", Some(&first.token)).await;
    assert_eq!(r.status, 404);
    let r = http.delete(&format!("/v1/devices/{}", lost.device_id), Some(&first.token)).await;
    assert_eq!(r.status, 204);
    assert_eq!(http.get("/v1/me", Some(&lost.token)).await.status, 401);
    assert_eq!(http.get("/v1/me", Some(&first.token)).await.status, 200);
    let r = http.delete(&format!("/v1/devices/{}", lost.device_id), Some(&first.token)).await;
    assert_eq!(r.status, 404, "already revoked");
}

#[tokio::test]
async fn cases_and_documents() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let ben = http.create_account("Ben").await;
    let case = case_id();
    let m = http.register_case(&ana.token, &case).await;
    assert_eq!(m, CaseMembership { case_id: case.clone(), role: Role::Owner });
    assert_eq!(http.register_case(&ana.token, &case).await.role, Role::Owner, "idempotent");
    let r = http.post("/v1/cases", Some(&ben.token), &serde_json::json!({ "case_id": case })).await;
    assert_eq!((r.status, r.error_code().as_str()), (409, "conflict"));
    let mine: Vec<CaseMembership> = http.get("/v1/cases", Some(&ana.token)).await.json();
    assert_eq!(mine, vec![m]);
    assert!(http.get("/v1/cases", Some(&ben.token)).await.json::<Vec<CaseMembership>>().is_empty());

    let doc = case_id();
    let path = format!("/v1/cases/{case}/documents");
    let r = http.post(&path, Some(&ben.token), &RegisterDocument { doc_id: doc.clone() }).await;
    assert_eq!(r.status, 404, "non-member");
    let editor = http.member(&ana.token, &case, "Cal", Role::Editor).await;
    let viewer = http.member(&ana.token, &case, "Dee", Role::Viewer).await;
    let r = http.post(&path, Some(&viewer.token), &RegisterDocument { doc_id: doc.clone() }).await;
    assert_eq!((r.status, r.error_code().as_str()), (403, "forbidden"));
    let r = http.post(&path, Some(&editor.token), &RegisterDocument { doc_id: doc.clone() }).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = http.post(&path, Some(&ana.token), &RegisterDocument { doc_id: doc.clone() }).await;
    assert_eq!(r.status, 204, "idempotent");
    let r = http.post(&path, Some(&ana.token), &RegisterDocument { doc_id: "nope".into() }).await;
    assert_eq!(r.status, 400);

    // First case to register a document owns it.
    let other_case = case_id();
    http.register_case(&ben.token, &other_case).await;
    let r = http
        .post(&format!("/v1/cases/{other_case}/documents"), Some(&ben.token), &RegisterDocument { doc_id: doc.clone() })
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (409, "conflict"));
    let r = http.post("/v1/cases", Some(&ben.token), &serde_json::json!({ "case_id": doc })).await;
    assert_eq!(r.status, 409, "a registered document cannot become a case");

    let usage: CaseUsage = http.get(&format!("/v1/cases/{case}/usage"), Some(&viewer.token)).await.json();
    assert_eq!((usage.case_id.as_str(), usage.bytes, usage.quota_exceeded), (case.as_str(), 0, false));
    assert_eq!(http.get(&format!("/v1/cases/{case}/usage"), Some(&ben.token)).await.status, 404);
}

#[tokio::test]
async fn invites_single_use_expiry_and_guessing() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let ben = http.create_account("Ben").await;
    let cal = http.create_account("Cal").await;
    let case = case_id();
    http.register_case(&ana.token, &case).await;
    let invites = format!("/v1/cases/{case}/invites");

    let r = http.post(&invites, Some(&ana.token), &CreateInvite { role: Role::Owner, expires_in_secs: None }).await;
    assert_eq!(r.status, 400, "owner is not grantable");
    for secs in [59, 30 * 24 * 3600 + 1] {
        let r = http
            .post(&invites, Some(&ana.token), &CreateInvite { role: Role::Viewer, expires_in_secs: Some(secs) })
            .await;
        assert_eq!(r.status, 400, "{secs}");
    }
    let r = http.post(&invites, Some(&ben.token), &CreateInvite { role: Role::Viewer, expires_in_secs: None }).await;
    assert_eq!(r.status, 404, "non-member");

    let invite = http.invite(&ana.token, &case, Role::Editor).await;
    assert_eq!((invite.case_id.as_str(), invite.role), (case.as_str(), Role::Editor));
    let r = http.redeem(&ben.token, &invite.code).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json::<CaseMembership>(), CaseMembership { case_id: case.clone(), role: Role::Editor });
    let r = http.post(&invites, Some(&ben.token), &CreateInvite { role: Role::Viewer, expires_in_secs: None }).await;
    assert_eq!((r.status, r.error_code().as_str()), (403, "forbidden"), "only the owner invites");

    let r = http.redeem(&cal.token, &invite.code).await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"), "reused");
    let r = http.redeem(&cal.token, "0000-0000-0000-0000-0000").await;
    assert_eq!(r.status, 404, "guessed");
    let r = http.redeem(&cal.token, "not a code").await;
    assert_eq!(r.status, 404);
    let r = http.redeem(&cal.token, &"A".repeat(65)).await;
    assert_eq!(r.status, 400);
    let r = http.redeem(&"f".repeat(64), &invite.code).await;
    assert_eq!(r.status, 401);

    let second = http.invite(&ana.token, &case, Role::Viewer).await;
    let r = http.redeem(&ben.token, &second.code).await;
    assert_eq!((r.status, r.error_code().as_str()), (409, "conflict"), "already a member");
    let expiring: Invite = http
        .post(&invites, Some(&ana.token), &CreateInvite { role: Role::Viewer, expires_in_secs: Some(60) })
        .await
        .json();
    relay.handle.advance_clock(Duration::from_secs(61));
    let r = http.redeem(&cal.token, &expiring.code).await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("expired"), "{}", r.body);
    // The unexpired one still works for someone else.
    assert_eq!(http.redeem(&cal.token, &second.code).await.status, 200);
}

#[tokio::test]
async fn members_roles_removal_and_leaving() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let case = case_id();
    http.register_case(&ana.token, &case).await;
    let ben = http.member(&ana.token, &case, "Ben", Role::Editor).await;
    let cal = http.member(&ana.token, &case, "Cal", Role::Viewer).await;
    let eve = http.create_account("Eve").await;
    let members_path = format!("/v1/cases/{case}/members");

    let members: Vec<Member> = http.get(&members_path, Some(&cal.token)).await.json();
    let summary: Vec<(&str, Role)> = members.iter().map(|m| (m.display_name.as_str(), m.role)).collect();
    assert_eq!(summary, vec![("Ana", Role::Owner), ("Ben", Role::Editor), ("Cal", Role::Viewer)]);

    // A non-member's answer is byte for byte the answer for a case that does not exist.
    let r_member_only = http.get(&members_path, Some(&eve.token)).await;
    let r_unknown = http.get(&format!("/v1/cases/{}/members", case_id()), Some(&eve.token)).await;
    assert_eq!(r_member_only.status, 404);
    assert_eq!((r_member_only.status, &r_member_only.body), (r_unknown.status, &r_unknown.body));
    let r_invalid = http.get("/v1/cases/xyz/members", Some(&eve.token)).await;
    assert_eq!((r_invalid.status, &r_invalid.body), (r_unknown.status, &r_unknown.body));

    let member = |id: &str| format!("{members_path}/{id}");
    let r = http.send_json("PUT", &member(&cal.account_id), Some(&ben.token), &ChangeRole { role: Role::Editor }).await;
    assert_eq!(r.status, 403, "only the owner changes roles");
    let r = http.send_json("PUT", &member(&ana.account_id), Some(&ana.token), &ChangeRole { role: Role::Viewer }).await;
    assert_eq!(r.status, 409, "the last owner cannot step down");
    let r = http.send_json("PUT", &member(&eve.account_id), Some(&ana.token), &ChangeRole { role: Role::Viewer }).await;
    assert_eq!(r.status, 404);
    let r = http.send_json("PUT", &member(&cal.account_id), Some(&ana.token), &ChangeRole { role: Role::Editor }).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json::<Member>().role, Role::Editor);

    let r = http.delete(&member(&cal.account_id), Some(&ben.token)).await;
    assert_eq!(r.status, 403, "only the owner removes others");
    let r = http.delete(&member(&ana.account_id), Some(&ana.token)).await;
    assert_eq!((r.status, r.error_code().as_str()), (409, "conflict"), "the last owner cannot leave");
    let r = http.delete(&member(&cal.account_id), Some(&ana.token)).await;
    assert_eq!(r.status, 204);
    assert_eq!(http.get(&members_path, Some(&cal.token)).await.status, 404, "removed");
    let r = http.delete(&member(&ben.account_id), Some(&ben.token)).await;
    assert_eq!(r.status, 204, "leaving");
    assert!(http.get("/v1/cases", Some(&ben.token)).await.json::<Vec<CaseMembership>>().is_empty());
    let members: Vec<Member> = http.get(&members_path, Some(&ana.token)).await.json();
    assert_eq!(members.len(), 1);
}

#[tokio::test]
async fn memberships_survive_a_restart() {
    let relay = TestRelay::start().await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let case = case_id();
    http.register_case(&ana.token, &case).await;
    let ben = http.member(&ana.token, &case, "Ben", Role::Viewer).await;
    let pending = http.invite(&ana.token, &case, Role::Editor).await;

    let relay = relay.restart(|_| {}).await;
    let http = relay.http();
    let members: Vec<Member> = http.get(&format!("/v1/cases/{case}/members"), Some(&ben.token)).await.json();
    assert_eq!(members.len(), 2);
    let cal = http.create_account("Cal").await;
    assert_eq!(http.redeem(&cal.token, &pending.code).await.status, 200);
}

#[tokio::test]
async fn failed_login_flood_is_rate_limited_per_address() {
    let relay = TestRelay::start_with(|c| c.auth_failures_per_minute = 5).await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let attacker = http.with_source("127.0.0.2");
    let wrong = "e".repeat(64);
    for _ in 0..5 {
        assert_eq!(attacker.get("/v1/me", Some(&wrong)).await.status, 401);
    }
    let r = attacker.get("/v1/me", Some(&wrong)).await;
    assert_eq!((r.status, r.error_code().as_str()), (429, "rate_limited"));
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Blocked means blocked: even a valid token from that address waits.
    assert_eq!(attacker.get("/v1/me", Some(&ana.token)).await.status, 429);
    let refused = common::ws_connect(&attacker, Some(&ana.token), false).await.err();
    assert_eq!(refused, Some(429), "the sync upgrade is blocked too");
    // Other clients are unaffected.
    assert_eq!(http.with_source("127.0.0.3").get("/v1/me", Some(&ana.token)).await.status, 200);
    assert_eq!(http.get("/v1/me", Some(&ana.token)).await.status, 200);
    let metrics = http.get("/metrics", None).await.body;
    assert!(metrics.contains("casebook_relay_auth_failures_total{reason=\"invalid\"} 5"), "{metrics}");
    assert!(!metrics.contains("casebook_relay_limit_hits_total{kind=\"auth_rate\"} 0"), "{metrics}");
}

#[tokio::test]
async fn code_redemption_is_rate_limited() {
    let relay = TestRelay::start_with(|c| c.redeem_attempts_per_minute = 3).await;
    let http = relay.http();
    let ana = http.create_account("Ana").await;
    let guesser = http.with_source("127.0.0.4");
    for i in 0..3 {
        let r = guesser.redeem(&ana.token, &format!("0000-0000-0000-0000-000{i}")).await;
        assert_eq!(r.status, 404);
    }
    let r = guesser.redeem(&ana.token, "0000-0000-0000-0000-0009").await;
    assert_eq!((r.status, r.error_code().as_str()), (429, "rate_limited"));
    assert!(r.header("retry-after").is_some());
    let r = guesser
        .post("/v1/devices/link", None, &LinkDevice { code: "0000-0000-0000-0000-0008".into(), device_name: None })
        .await;
    assert_eq!(r.status, 429, "link codes share the budget");
    let r = http.with_source("127.0.0.5").redeem(&ana.token, "0000-0000-0000-0000-0007").await;
    assert_eq!(r.status, 404, "another address still gets an answer");
}

#[tokio::test]
async fn health_and_metrics() {
    let relay = TestRelay::start().await;
    let http: Http = relay.http();
    let r = http.get("/healthz", None).await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    let ana = http.create_account("Ana").await;
    http.register_case(&ana.token, &case_id()).await;
    let r = http.get("/metrics", None).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    for name in [
        "casebook_relay_connections 0",
        "casebook_relay_cases 1",
        "casebook_relay_accounts 1",
        "casebook_relay_messages_in_total 0",
        "casebook_relay_bytes_out_total 0",
        "casebook_relay_auth_failures_total{reason=\"missing\"}",
        "casebook_relay_limit_hits_total{kind=\"message_size\"} 0",
        "casebook_relay_http_responses_total{class=\"2xx\"}",
    ] {
        assert!(r.body.contains(name), "{name} missing in\n{}", r.body);
    }
}

#[tokio::test]
async fn ready_when_storage_answers_and_monitoring_on_its_own_address() {
    let relay = TestRelay::start_with(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let http = relay.http();
    let r = http.get("/readyz", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = r.json();
    assert_eq!(v["ready"], true);
    assert_eq!(v["storage"], "ok");
    assert_eq!(v["format_version"], v["expected_format_version"]);
    // Metrics moved to the monitoring address; the public one no longer serves them.
    assert_eq!(http.get("/metrics", None).await.status, 404);
    let monitoring = Http::new(relay.handle.metrics_addr().expect("a monitoring address"));
    let r = monitoring.get("/metrics", None).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("casebook_relay_connections 0"), "{}", r.body);
    assert_eq!(monitoring.get("/readyz", None).await.status, 200);
    assert_eq!(monitoring.get("/healthz", None).await.body, "ok");
    // Nothing of the API is reachable there.
    assert_eq!(monitoring.post("/v1/accounts", None, &serde_json::json!({"display_name": "Ana"})).await.status, 404);
}

#[tokio::test]
async fn a_data_directory_from_a_newer_relay_is_refused_at_start() {
    let relay = TestRelay::start().await;
    let stopped = relay.stop().await;
    {
        let db = stopped.storage();
        db.put(&casebook_core::storage::key(["relay", "meta", "format"]).unwrap(), b"99").unwrap();
        db.flush().unwrap();
    }
    let e = casebook_server::Relay::start(stopped.config()).await.unwrap_err();
    assert!(e.to_string().contains("newer relay"), "{e}");
}
