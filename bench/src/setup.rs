//! Who the clients are: for our relay, accounts, devices and cases through the HTTP API (blocking, run on
//! tokio's blocking pool); for the reference relay, random peer ids and nothing else.

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::target::{Kind, Target};

/// One client's identity.
#[derive(Debug, Clone)]
pub struct Member {
    /// The peer id it announces.
    pub peer_id: String,
    /// Its device token (our relay only).
    pub token: Option<String>,
}

/// A case (one document) and its members; the first member is the owner.
#[derive(Debug, Clone)]
pub struct Family {
    /// The case document id.
    pub doc_id: String,
    /// Its members.
    pub members: Vec<Member>,
}

fn post(agent: &ureq::Agent, url: &str, token: Option<&str>, body: Value) -> Result<Value> {
    let mut req = agent.post(url).header("Content-Type", "application/json");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.send(body.to_string()).with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    if !status.is_success() {
        bail!("POST {url}: {status} {text}");
    }
    Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? })
}

fn str_field(v: &Value, k: &str) -> Result<String> {
    v[k].as_str().map(str::to_owned).with_context(|| format!("no `{k}` in {v}"))
}

fn account(agent: &ureq::Agent, http: &str, name: &str) -> Result<Member> {
    let v = post(agent, &format!("{http}/v1/accounts"), None, json!({"display_name": name}))?;
    Ok(Member { peer_id: format!("device-{}", str_field(&v, "device_id")?), token: Some(str_field(&v, "token")?) })
}

/// Create one family of `members` on `http` (blocking).
fn family_blocking(agent: &ureq::Agent, http: &str, members: usize) -> Result<Family> {
    let doc_id = crate::wire::new_doc_id();
    let owner = account(agent, http, "bench owner")?;
    let ot = owner.token.clone();
    post(agent, &format!("{http}/v1/cases"), ot.as_deref(), json!({"case_id": doc_id}))?;
    let mut all = vec![owner];
    for _ in 1..members {
        let m = account(agent, http, "bench member")?;
        let inv = post(agent, &format!("{http}/v1/cases/{doc_id}/invites"), ot.as_deref(), json!({"role": "editor"}))?;
        post(
            agent,
            &format!("{http}/v1/invites/redeem"),
            m.token.as_deref(),
            json!({"code": str_field(&inv, "code")?}),
        )?;
        all.push(m);
    }
    Ok(Family { doc_id, members: all })
}

/// `count` families of `members` each, ready to connect to `target` (`parallel` HTTP requests at a time).
pub async fn families(target: &Target, count: usize, members: usize, parallel: usize) -> Result<Vec<Family>> {
    match (target.kind, &target.http_url) {
        (Kind::Reference, _) => Ok((0..count)
            .map(|_| Family {
                doc_id: crate::wire::new_doc_id(),
                members: (0..members)
                    .map(|_| Member { peer_id: format!("bench-{}", uuid::Uuid::new_v4().simple()), token: None })
                    .collect(),
            })
            .collect()),
        (Kind::Ours, None) => bail!("our relay needs its HTTP URL"),
        (Kind::Ours, Some(http)) => {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let results: Vec<Result<Family>> = futures::stream::iter(0..count)
                .map(|_| {
                    let (agent, http) = (agent.clone(), http.clone());
                    async move { tokio::task::spawn_blocking(move || family_blocking(&agent, &http, members)).await? }
                })
                .buffer_unordered(parallel.max(1))
                .collect()
                .await;
            results.into_iter().collect()
        }
    }
}

/// One member owning `count` new cases (`parallel` HTTP requests at a time): the cold-start population.
/// For the reference relay, a random peer id and random document ids.
pub async fn owner_with_cases(target: &Target, count: usize, parallel: usize) -> Result<(Member, Vec<String>)> {
    let ids: Vec<String> = (0..count).map(|_| crate::wire::new_doc_id()).collect();
    match (target.kind, &target.http_url) {
        (Kind::Reference, _) => {
            Ok((Member { peer_id: format!("bench-{}", uuid::Uuid::new_v4().simple()), token: None }, ids))
        }
        (Kind::Ours, None) => bail!("our relay needs its HTTP URL"),
        (Kind::Ours, Some(http)) => {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let owner = {
                let (agent, http) = (agent.clone(), http.clone());
                tokio::task::spawn_blocking(move || account(&agent, &http, "bench owner")).await??
            };
            let results: Vec<Result<Value>> = futures::stream::iter(ids.clone())
                .map(|id| {
                    let (agent, http, token) = (agent.clone(), http.clone(), owner.token.clone());
                    tokio::task::spawn_blocking(move || {
                        post(&agent, &format!("{http}/v1/cases"), token.as_deref(), json!({"case_id": id}))
                    })
                })
                .buffer_unordered(parallel.max(1))
                .map(|r| r.map_err(anyhow::Error::from).and_then(|r| r))
                .collect()
                .await;
            for r in results {
                r?;
            }
            Ok((owner, ids))
        }
    }
}
