//! `http`: random and mutated JSON bodies to every POST/PUT route of a real relay. Input: one byte
//! choosing the route (low 3 bits) and the credentials (next bits: the owner's token, none, a garbage
//! token, a member's token), then the body. Invariants: never a 5xx; every 4xx is a JSON `ApiError`.

use casebook_core::DocId;
use casebook_core::relay_api::{ApiError, DeviceCredentials};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::json;

use super::Rig;
use crate::{Target, mutate};

/// The target.
pub struct Http {
    rig: Rig,
    owner: DeviceCredentials,
    member: DeviceCredentials,
    routes: Vec<(&'static str, String, serde_json::Value)>,
}

impl Http {
    /// A relay with an owner, a case and a member.
    pub fn new() -> anyhow::Result<Self> {
        let rig = Rig::start()?;
        let owner = rig.create_account("Owner")?;
        let member = rig.create_account("Member")?;
        let case = DocId::random().to_string();
        let body = json!({ "case_id": case }).to_string();
        let (s, _) = rig.request("POST", "/v1/cases", Some(&owner.token), Some(body.as_bytes()))?;
        anyhow::ensure!(s == 201, "register case: {s}");
        let (s, invite) = rig.request(
            "POST",
            &format!("/v1/cases/{case}/invites"),
            Some(&owner.token),
            Some(json!({ "role": "editor" }).to_string().as_bytes()),
        )?;
        anyhow::ensure!(s == 201, "invite: {s}");
        let invite: serde_json::Value = serde_json::from_slice(&invite)?;
        let code = invite["code"].as_str().unwrap_or_default().to_string();
        let (s, _) = rig.request(
            "POST",
            "/v1/invites/redeem",
            Some(&member.token),
            Some(json!({ "code": code }).to_string().as_bytes()),
        )?;
        anyhow::ensure!(s == 200, "redeem: {s}");
        let routes = vec![
            ("POST", "/v1/accounts".to_string(), json!({ "display_name": "Ana", "device_name": "phone" })),
            ("POST", "/v1/devices/link-codes".to_string(), json!({})),
            ("POST", "/v1/devices/link".to_string(), json!({ "code": code, "device_name": "tablet" })),
            ("POST", "/v1/cases".to_string(), json!({ "case_id": DocId::random().to_string() })),
            ("POST", format!("/v1/cases/{case}/documents"), json!({ "doc_id": DocId::random().to_string() })),
            ("POST", format!("/v1/cases/{case}/invites"), json!({ "role": "viewer", "expires_in_secs": 3600 })),
            ("POST", "/v1/invites/redeem".to_string(), json!({ "code": code })),
            ("PUT", format!("/v1/cases/{case}/members/{}", member.account_id), json!({ "role": "viewer" })),
        ];
        Ok(Http { rig, owner, member, routes })
    }
}

impl Target for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        self.routes
            .iter()
            .enumerate()
            .map(|(i, (_, _, body))| {
                let mut s = vec![i as u8];
                s.extend(serde_json::to_vec(body).unwrap_or_default());
                s
            })
            .collect()
    }

    fn mutate(&mut self, input: &[u8], corpus: &[Vec<u8>], rng: &mut StdRng) -> Vec<u8> {
        let Some((&sel, body)) = input.split_first() else {
            return mutate::bytes(input, corpus, rng);
        };
        let sel = if rng.random_ratio(1, 5) { rng.random() } else { sel };
        let mut out = vec![sel];
        if rng.random_ratio(2, 3) {
            out.extend(mutate::json(body, corpus, rng));
        } else {
            out.extend(mutate::bytes(body, corpus, rng));
        }
        out
    }

    fn exec(&mut self, input: &[u8]) -> Result<(), String> {
        let Some((&sel, body)) = input.split_first() else {
            return Ok(());
        };
        let (method, path, _) = &self.routes[sel as usize % self.routes.len()];
        let token = match (sel >> 3) % 4 {
            0 => Some(self.owner.token.as_str()),
            1 => None,
            2 => Some("not-a-token"),
            _ => Some(self.member.token.as_str()),
        };
        let (status, resp) =
            self.rig.request(method, path, token, Some(body)).map_err(|e| format!("request failed: {e}"))?;
        if status >= 500 {
            return Err(format!("{method} {path}: status {status}"));
        }
        if status >= 400 {
            match serde_json::from_slice::<ApiError>(&resp) {
                Ok(e) if !e.error.is_empty() => {}
                _ => return Err(format!("{method} {path}: a {status} whose body is not an ApiError")),
            }
        }
        Ok(())
    }

    fn check_alive(&mut self) -> Result<(), String> {
        let (s, _) = self.rig.request("GET", "/healthz", None, None).map_err(|e| e.to_string())?;
        let (m, _) = self.rig.request("GET", "/v1/me", Some(&self.owner.token), None).map_err(|e| e.to_string())?;
        if (s, m) != (200, 200) {
            return Err(format!("relay unhealthy: /healthz {s}, /v1/me {m}"));
        }
        Ok(())
    }
}
