//! [`Directory`]: accounts, devices, cases, their documents and members, link codes and invites.
//!
//! Kept in memory (the share policy asks on every document a peer touches) and persisted through the core
//! [`Storage`] trait under `relay/…` keys of the same database as the documents. Every mutation is written
//! and flushed before it is applied in memory and answered, so an acknowledged change survives a crash.
//! Single-use codes are consumed (deleted and flushed) before what they grant is written: a crash in between
//! loses the grant, never reuses the code.
//!
//! | key | value |
//! |---|---|
//! | `relay/account/<account id>` | [`AccountRec`] |
//! | `relay/device/<device id>` | [`DeviceRec`] (SHA-256 of the token, never the token) |
//! | `relay/link/<sha256 of code>` | [`LinkRec`] |
//! | `relay/case/<case id>` | [`CaseRec`] (members and roles) |
//! | `relay/doc/<doc id>` | the case id it belongs to |
//! | `relay/invite/<sha256 of code>` | [`InviteRec`] |
//! | `relay/recovery/<sha256 of code>` | the account id of a recovery code |
//!
//! (`relay/seen/…` and `relay/device-seen/…` hold the last-seen times of `seen`, not of this directory.)
//!
//! Methods are synchronous and take `now` (Unix seconds) so expiry is testable; they do blocking storage
//! I/O, so async callers run mutations on a blocking thread.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use casebook_core::relay_api::{
    CaseMembership, DeviceCredentials, DeviceInfo, Invite, LastSeen, LinkCode, Me, Member, Role,
};
use casebook_core::storage::{Storage, StorageError, key};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::membership;
use crate::secret;

const ROOT: &str = "relay";

/// Count limits the directory enforces (from [`crate::Config`]).
#[derive(Debug, Clone)]
pub(crate) struct DirectoryLimits {
    /// Devices per account.
    pub(crate) max_devices_per_account: usize,
    /// Cases an account may belong to.
    pub(crate) max_cases_per_account: usize,
    /// Members per case.
    pub(crate) max_members_per_case: usize,
    /// Registered documents per case.
    pub(crate) max_documents_per_case: usize,
    /// Pending invites per case.
    pub(crate) max_pending_invites_per_case: usize,
    /// Link code lifetime, seconds.
    pub(crate) link_code_ttl_secs: u64,
}

impl From<&crate::Config> for DirectoryLimits {
    fn from(c: &crate::Config) -> Self {
        DirectoryLimits {
            max_devices_per_account: c.max_devices_per_account,
            max_cases_per_account: c.max_cases_per_account,
            max_members_per_case: c.max_members_per_case,
            max_documents_per_case: c.max_documents_per_case,
            max_pending_invites_per_case: c.max_pending_invites_per_case,
            link_code_ttl_secs: c.link_code_ttl_secs,
        }
    }
}

/// Default invite lifetime (7 days) and its bounds (60 s – 30 days), as in the API contract.
pub(crate) const INVITE_TTL_DEFAULT: u64 = 7 * 24 * 3600;
/// Shortest invite lifetime.
pub(crate) const INVITE_TTL_MIN: u64 = 60;
/// Longest invite lifetime.
pub(crate) const INVITE_TTL_MAX: u64 = 30 * 24 * 3600;

/// An account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccountRec {
    /// What other members see.
    pub(crate) display_name: String,
    /// Unix seconds.
    pub(crate) created_at: u64,
    /// SHA-256 of the account's recovery code (so that rotating it deletes the old one). `None` for an
    /// account created before recovery codes existed, until it rotates one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) recovery_hash: Option<String>,
}

/// A device of an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DeviceRec {
    /// Its account.
    pub(crate) account_id: String,
    /// Optional label.
    pub(crate) name: Option<String>,
    /// SHA-256 of its token, hex.
    pub(crate) token_hash: String,
    /// Unix seconds.
    pub(crate) created_at: u64,
}

/// A pending device link code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LinkRec {
    /// The account the new device joins.
    pub(crate) account_id: String,
    /// Unix seconds after which it is refused.
    pub(crate) expires_at: u64,
}

/// A registered case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CaseRec {
    /// Unix seconds.
    pub(crate) created_at: u64,
    /// Account id → role. At least one owner (the account that registered it, and whoever an owner made
    /// owner since).
    pub(crate) members: BTreeMap<String, Role>,
}

/// A pending invite.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct InviteRec {
    /// The case.
    pub(crate) case_id: String,
    /// The role it grants.
    pub(crate) role: Role,
    /// Unix seconds after which it is refused.
    pub(crate) expires_at: u64,
}

/// The authenticated identity behind a device token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceAuth {
    /// The account.
    pub(crate) account_id: String,
    /// The device.
    pub(crate) device_id: String,
}

#[derive(Default)]
struct Inner {
    accounts: HashMap<String, AccountRec>,
    devices: HashMap<String, DeviceRec>,
    /// Token hash → device id.
    tokens: HashMap<String, String>,
    links: HashMap<String, LinkRec>,
    cases: HashMap<String, CaseRec>,
    /// Document id → case id, for documents other than the case document itself.
    docs: HashMap<String, String>,
    /// Case id → its other documents.
    case_docs: HashMap<String, BTreeSet<String>>,
    /// Account id → cases it belongs to.
    memberships: HashMap<String, BTreeSet<String>>,
    invites: HashMap<String, InviteRec>,
    /// Recovery code hash → account id.
    recovery: HashMap<String, String>,
}

impl Inner {
    fn role(&self, case_id: &str, account_id: &str) -> Option<Role> {
        self.cases.get(case_id)?.members.get(account_id).copied()
    }

    /// The caller's role, or the same `NotFound` as for a case that does not exist.
    fn member_role(&self, case_id: &str, account_id: &str) -> Result<Role> {
        self.role(case_id, account_id).ok_or(Error::NotFound("no such case"))
    }

    fn case_of<'a>(&'a self, doc_id: &'a str) -> Option<&'a str> {
        if self.cases.contains_key(doc_id) {
            return Some(doc_id);
        }
        self.docs.get(doc_id).map(String::as_str)
    }

    fn devices_of(&self, account_id: &str) -> usize {
        self.devices.values().filter(|d| d.account_id == account_id).count()
    }

    fn owners(&self, case_id: &str) -> usize {
        self.cases.get(case_id).map_or(0, |c| c.members.values().filter(|r| **r == Role::Owner).count())
    }

    fn cases_of(&self, account_id: &str) -> usize {
        self.memberships.get(account_id).map_or(0, BTreeSet::len)
    }

    fn add_membership(&mut self, case_id: &str, account_id: &str, role: Role) {
        if let Some(c) = self.cases.get_mut(case_id) {
            c.members.insert(account_id.to_string(), role);
        }
        self.memberships.entry(account_id.to_string()).or_default().insert(case_id.to_string());
    }
}

/// Counts for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DirectoryCounts {
    /// Accounts.
    pub(crate) accounts: usize,
    /// Devices with a valid token.
    pub(crate) devices: usize,
    /// Registered cases.
    pub(crate) cases: usize,
    /// Registered documents (case documents included).
    pub(crate) documents: usize,
}

/// The relay's identity and membership records.
pub(crate) struct Directory {
    storage: Arc<dyn Storage>,
    limits: DirectoryLimits,
    inner: RwLock<Inner>,
    /// Bumped on every change that can alter what a device may access (the share policy watches it).
    changes: watch::Sender<u64>,
}

fn corrupt(what: &str, k: &str) -> Error {
    Error::Storage(StorageError::Corrupt(format!("relay record {what} at {k} does not decode")))
}

fn internal(e: serde_json::Error) -> Error {
    Error::Internal(format!("encoding a relay record: {e}"))
}

impl Directory {
    /// Load every record from `storage`; expired codes are dropped. A record that does not decode stops
    /// the relay (skipping a case record could let someone else register the case).
    pub(crate) fn open(storage: Arc<dyn Storage>, limits: DirectoryLimits, now: u64) -> Result<Self> {
        let mut inner = Inner::default();
        fn load<T: for<'de> Deserialize<'de>>(s: &dyn Storage, kind: &str) -> Result<Vec<(String, T)>> {
            let mut out = Vec::new();
            for (k, v) in s.load_range(&key([ROOT, kind])?)? {
                let flat = k.to_string();
                let Some(id) = flat.strip_prefix(&format!("{ROOT}/{kind}/")) else { continue };
                let rec = serde_json::from_slice(&v).map_err(|_| corrupt(kind, &flat))?;
                out.push((id.to_string(), rec));
            }
            Ok(out)
        }
        let s = &*storage;
        inner.accounts = load::<AccountRec>(s, "account")?.into_iter().collect();
        for (id, d) in load::<DeviceRec>(s, "device")? {
            inner.tokens.insert(d.token_hash.clone(), id.clone());
            inner.devices.insert(id, d);
        }
        inner.links = load::<LinkRec>(s, "link")?.into_iter().collect();
        for (id, c) in load::<CaseRec>(s, "case")? {
            for account in c.members.keys() {
                inner.memberships.entry(account.clone()).or_default().insert(id.clone());
            }
            inner.cases.insert(id, c);
        }
        for (doc, case) in load::<String>(s, "doc")? {
            inner.case_docs.entry(case.clone()).or_default().insert(doc.clone());
            inner.docs.insert(doc, case);
        }
        inner.invites = load::<InviteRec>(s, "invite")?.into_iter().collect();
        inner.recovery = load::<String>(s, "recovery")?.into_iter().collect();
        let (changes, _) = watch::channel(0);
        let dir = Directory { storage, limits, inner: RwLock::new(inner), changes };
        dir.purge_expired(now)?;
        Ok(dir)
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // Mutations write storage before touching memory, so a panic cannot leave memory half-updated.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn put<T: Serialize>(&self, kind: &str, id: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(internal)?;
        self.storage.put(&key([ROOT, kind, id])?, &bytes)?;
        Ok(())
    }

    fn delete(&self, kind: &str, id: &str) -> Result<()> {
        self.storage.delete(&key([ROOT, kind, id])?)?;
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        self.storage.flush()?;
        Ok(())
    }

    /// Tell share policies to re-evaluate.
    pub(crate) fn notify(&self) {
        self.changes.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// Watch for changes that may alter access.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Drop expired link codes and invites.
    pub(crate) fn purge_expired(&self, now: u64) -> Result<()> {
        let mut inner = self.write();
        let links: Vec<String> =
            inner.links.iter().filter(|(_, l)| l.expires_at < now).map(|(k, _)| k.clone()).collect();
        let invites: Vec<String> =
            inner.invites.iter().filter(|(_, i)| i.expires_at < now).map(|(k, _)| k.clone()).collect();
        if links.is_empty() && invites.is_empty() {
            return Ok(());
        }
        for h in &links {
            self.delete("link", h)?;
        }
        for h in &invites {
            self.delete("invite", h)?;
        }
        self.flush()?;
        for h in links {
            inner.links.remove(&h);
        }
        for h in invites {
            inner.invites.remove(&h);
        }
        Ok(())
    }

    fn new_device(
        &self,
        inner: &mut Inner,
        account_id: &str,
        name: Option<String>,
        now: u64,
    ) -> Result<DeviceCredentials> {
        let device_id = secret::new_id();
        let token = secret::new_token();
        let rec =
            DeviceRec { account_id: account_id.to_string(), name, token_hash: secret::hash(&token), created_at: now };
        self.put("device", &device_id, &rec)?;
        self.flush()?;
        inner.tokens.insert(rec.token_hash.clone(), device_id.clone());
        inner.devices.insert(device_id.clone(), rec);
        Ok(DeviceCredentials { account_id: account_id.to_string(), device_id, token, recovery_code: None })
    }

    /// A fresh recovery code and its hash.
    fn new_recovery_code() -> Result<(String, String)> {
        let code = secret::new_recovery_code();
        let hash = secret::hash_recovery_code(&code)
            .ok_or_else(|| Error::Internal("generated recovery code does not parse".into()))?;
        Ok((code, hash))
    }

    /// Create an account with its first device; the credentials carry the account's recovery code.
    pub(crate) fn create_account(
        &self,
        display_name: String,
        device_name: Option<String>,
        now: u64,
    ) -> Result<DeviceCredentials> {
        let mut inner = self.write();
        let account_id = secret::new_id();
        let (code, hash) = Self::new_recovery_code()?;
        let rec = AccountRec { display_name, created_at: now, recovery_hash: Some(hash.clone()) };
        self.put("account", &account_id, &rec)?;
        self.put("recovery", &hash, &account_id)?;
        // Flushes the account, its recovery code and its device together.
        let mut creds = self.new_device(&mut inner, &account_id, device_name, now)?;
        inner.recovery.insert(hash, account_id.clone());
        inner.accounts.insert(account_id, rec);
        creds.recovery_code = Some(code);
        Ok(creds)
    }

    /// Recover an account with its recovery code: a new device of the account, and a new recovery code in
    /// its credentials (the one used is deleted first: a crash in between loses the new code, never
    /// keeps the used one). With `revoke_others`, every other device of the account is revoked and its
    /// pending link codes dropped, and the device limit is checked after that. Returns the credentials and
    /// the revoked device ids (whose live connections the caller closes).
    pub(crate) fn recover_account(
        &self,
        code: &str,
        device_name: Option<String>,
        revoke_others: bool,
        now: u64,
    ) -> Result<(DeviceCredentials, Vec<String>)> {
        const UNKNOWN: Error = Error::NotFound("recovery code not recognised");
        let old_hash = secret::hash_recovery_code(code).ok_or(UNKNOWN)?;
        let mut inner = self.write();
        let account_id = inner.recovery.get(&old_hash).cloned().ok_or(UNKNOWN)?;
        let mut account = inner.accounts.get(&account_id).cloned().ok_or(UNKNOWN)?;
        let revoked: Vec<String> = if revoke_others {
            let mut ids: Vec<String> =
                inner.devices.iter().filter(|(_, d)| d.account_id == account_id).map(|(id, _)| id.clone()).collect();
            ids.sort();
            ids
        } else {
            Vec::new()
        };
        let remaining = inner.devices_of(&account_id) - revoked.len();
        if remaining >= self.limits.max_devices_per_account {
            return Err(Error::LimitReached(format!(
                "an account has at most {} devices; revoke one first, or recover revoking the other devices",
                self.limits.max_devices_per_account
            )));
        }
        let links: Vec<String> = if revoke_others {
            inner.links.iter().filter(|(_, l)| l.account_id == account_id).map(|(h, _)| h.clone()).collect()
        } else {
            Vec::new()
        };
        let (new_code, new_hash) = Self::new_recovery_code()?;
        // The used code goes first; then the new code, the revocations, and the new device (which flushes).
        self.delete("recovery", &old_hash)?;
        account.recovery_hash = Some(new_hash.clone());
        self.put("account", &account_id, &account)?;
        self.put("recovery", &new_hash, &account_id)?;
        for id in &revoked {
            self.delete("device", id)?;
        }
        for h in &links {
            self.delete("link", h)?;
        }
        let mut creds = self.new_device(&mut inner, &account_id, device_name, now)?;
        inner.recovery.remove(&old_hash);
        inner.recovery.insert(new_hash, account_id.clone());
        inner.accounts.insert(account_id, account);
        for id in &revoked {
            if let Some(d) = inner.devices.remove(id) {
                inner.tokens.remove(&d.token_hash);
            }
        }
        for h in &links {
            inner.links.remove(h);
        }
        drop(inner);
        if !revoked.is_empty() {
            self.notify();
        }
        creds.recovery_code = Some(new_code);
        Ok((creds, revoked))
    }

    /// Replace the caller's account recovery code: the new one is returned once, the previous one stops
    /// working.
    pub(crate) fn rotate_recovery_code(&self, auth: &DeviceAuth) -> Result<String> {
        let mut inner = self.write();
        let mut account =
            inner.accounts.get(&auth.account_id).cloned().ok_or(Error::Unauthorized("unknown account"))?;
        let (code, hash) = Self::new_recovery_code()?;
        let old = account.recovery_hash.replace(hash.clone());
        if let Some(old) = &old {
            self.delete("recovery", old)?;
        }
        self.put("account", &auth.account_id, &account)?;
        self.put("recovery", &hash, &auth.account_id)?;
        self.flush()?;
        if let Some(old) = &old {
            inner.recovery.remove(old);
        }
        inner.recovery.insert(hash, auth.account_id.clone());
        inner.accounts.insert(auth.account_id.clone(), account);
        Ok(code)
    }

    /// The caller's account's devices, oldest first; `last_seen` tells when a device's sync connection
    /// was last active.
    pub(crate) fn devices(&self, auth: &DeviceAuth, last_seen: impl Fn(&str) -> Option<u64>) -> Vec<DeviceInfo> {
        let inner = self.read();
        let mut out: Vec<DeviceInfo> = inner
            .devices
            .iter()
            .filter(|(_, d)| d.account_id == auth.account_id)
            .map(|(id, d)| DeviceInfo {
                device_id: id.clone(),
                name: d.name.clone(),
                created_at: d.created_at,
                last_seen_at: last_seen(id),
                this_device: *id == auth.device_id,
            })
            .collect();
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.device_id.cmp(&b.device_id)));
        out
    }

    /// The device behind a token, if the token is valid.
    pub(crate) fn authenticate(&self, token: &str) -> Option<DeviceAuth> {
        let token = secret::normalize_token(token)?;
        let inner = self.read();
        let device_id = inner.tokens.get(&secret::hash(&token))?;
        let device = inner.devices.get(device_id)?;
        Some(DeviceAuth { account_id: device.account_id.clone(), device_id: device_id.clone() })
    }

    /// Whether a device still has a valid token.
    #[cfg(test)]
    pub(crate) fn device_is_valid(&self, device_id: &str) -> bool {
        self.read().devices.contains_key(device_id)
    }

    /// `GET /v1/me`.
    pub(crate) fn me(&self, auth: &DeviceAuth) -> Result<Me> {
        let inner = self.read();
        let account = inner.accounts.get(&auth.account_id).ok_or(Error::Unauthorized("unknown account"))?;
        Ok(Me {
            account_id: auth.account_id.clone(),
            display_name: account.display_name.clone(),
            device_id: auth.device_id.clone(),
        })
    }

    /// A one-time code linking a new device to the caller's account.
    pub(crate) fn create_link_code(&self, auth: &DeviceAuth, now: u64) -> Result<LinkCode> {
        self.purge_expired(now)?;
        let mut inner = self.write();
        if inner.devices_of(&auth.account_id) >= self.limits.max_devices_per_account {
            return Err(Error::LimitReached(format!(
                "an account has at most {} devices; revoke one first",
                self.limits.max_devices_per_account
            )));
        }
        let pending = inner.links.values().filter(|l| l.account_id == auth.account_id).count();
        if pending >= self.limits.max_devices_per_account {
            return Err(Error::LimitReached("too many pending link codes for this account".into()));
        }
        let code = secret::new_code();
        let hash = secret::hash_code(&code).ok_or_else(|| Error::Internal("generated code does not parse".into()))?;
        let rec = LinkRec { account_id: auth.account_id.clone(), expires_at: now + self.limits.link_code_ttl_secs };
        self.put("link", &hash, &rec)?;
        self.flush()?;
        let expires_at = rec.expires_at;
        inner.links.insert(hash, rec);
        Ok(LinkCode { code, expires_at })
    }

    /// Redeem a link code: a new device of the code's account.
    pub(crate) fn link_device(&self, code: &str, device_name: Option<String>, now: u64) -> Result<DeviceCredentials> {
        let hash = secret::hash_code(code).ok_or(Error::NotFound("link code not found or already used"))?;
        let mut inner = self.write();
        let link = inner.links.get(&hash).cloned().ok_or(Error::NotFound("link code not found or already used"))?;
        // Consume first: expired or not, a code is used once.
        self.delete("link", &hash)?;
        self.flush()?;
        inner.links.remove(&hash);
        if link.expires_at < now {
            return Err(Error::NotFound("link code has expired"));
        }
        if !inner.accounts.contains_key(&link.account_id) {
            return Err(Error::NotFound("link code not found or already used"));
        }
        if inner.devices_of(&link.account_id) >= self.limits.max_devices_per_account {
            return Err(Error::LimitReached(format!(
                "an account has at most {} devices; revoke one first",
                self.limits.max_devices_per_account
            )));
        }
        self.new_device(&mut inner, &link.account_id, device_name, now)
    }

    /// Revoke a device of the caller's account (its token stops working at once).
    pub(crate) fn revoke_device(&self, auth: &DeviceAuth, device_id: &str) -> Result<()> {
        let mut inner = self.write();
        let device = inner
            .devices
            .get(device_id)
            .filter(|d| d.account_id == auth.account_id)
            .cloned()
            .ok_or(Error::NotFound("no such device"))?;
        self.delete("device", device_id)?;
        self.flush()?;
        inner.tokens.remove(&device.token_hash);
        inner.devices.remove(device_id);
        drop(inner);
        self.notify();
        Ok(())
    }

    /// Register a case; the caller becomes its owner. Registering again as a member returns the membership.
    pub(crate) fn register_case(&self, auth: &DeviceAuth, case_id: &str, now: u64) -> Result<CaseMembership> {
        let mut inner = self.write();
        if let Some(role) = inner.role(case_id, &auth.account_id) {
            return Ok(CaseMembership { case_id: case_id.to_string(), role });
        }
        if inner.cases.contains_key(case_id) || inner.docs.contains_key(case_id) {
            return Err(Error::Conflict("this id is already registered on the relay"));
        }
        if inner.cases_of(&auth.account_id) >= self.limits.max_cases_per_account {
            return Err(Error::LimitReached(format!(
                "an account belongs to at most {} cases",
                self.limits.max_cases_per_account
            )));
        }
        let rec = CaseRec { created_at: now, members: BTreeMap::from([(auth.account_id.clone(), Role::Owner)]) };
        self.put("case", case_id, &rec)?;
        self.flush()?;
        inner.cases.insert(case_id.to_string(), rec);
        inner.memberships.entry(auth.account_id.clone()).or_default().insert(case_id.to_string());
        drop(inner);
        self.notify();
        Ok(CaseMembership { case_id: case_id.to_string(), role: Role::Owner })
    }

    /// The caller's cases.
    pub(crate) fn list_cases(&self, auth: &DeviceAuth) -> Vec<CaseMembership> {
        let inner = self.read();
        inner
            .memberships
            .get(&auth.account_id)
            .into_iter()
            .flatten()
            .filter_map(|c| Some(CaseMembership { case_id: c.clone(), role: inner.role(c, &auth.account_id)? }))
            .collect()
    }

    /// The caller's role in a case (`NotFound` for non-members and unknown cases alike).
    pub(crate) fn role_of(&self, auth: &DeviceAuth, case_id: &str) -> Result<Role> {
        self.read().member_role(case_id, &auth.account_id)
    }

    /// Register another document of a case. Idempotent for the same case; a document belongs to the first
    /// case that registers it.
    pub(crate) fn register_document(&self, auth: &DeviceAuth, case_id: &str, doc_id: &str) -> Result<()> {
        let mut inner = self.write();
        let role = inner.member_role(case_id, &auth.account_id)?;
        membership::check_register_document(role)?;
        if doc_id == case_id || inner.docs.get(doc_id).is_some_and(|c| c == case_id) {
            return Ok(());
        }
        if inner.docs.contains_key(doc_id) || inner.cases.contains_key(doc_id) {
            return Err(Error::Conflict("this document is already registered to another case"));
        }
        if inner.case_docs.get(case_id).map_or(0, BTreeSet::len) + 1 >= self.limits.max_documents_per_case {
            return Err(Error::LimitReached(format!(
                "a case has at most {} documents",
                self.limits.max_documents_per_case
            )));
        }
        self.put("doc", doc_id, &case_id)?;
        self.flush()?;
        inner.docs.insert(doc_id.to_string(), case_id.to_string());
        inner.case_docs.entry(case_id.to_string()).or_default().insert(doc_id.to_string());
        drop(inner);
        self.notify();
        Ok(())
    }

    /// Create an invite (owner only).
    pub(crate) fn create_invite(
        &self,
        auth: &DeviceAuth,
        case_id: &str,
        role: Role,
        expires_in: u64,
        now: u64,
    ) -> Result<Invite> {
        self.purge_expired(now)?;
        let mut inner = self.write();
        let my_role = inner.member_role(case_id, &auth.account_id)?;
        membership::check_invite(my_role, role)?;
        let pending = inner.invites.values().filter(|i| i.case_id == case_id).count();
        if pending >= self.limits.max_pending_invites_per_case {
            return Err(Error::LimitReached(format!(
                "a case has at most {} pending invites",
                self.limits.max_pending_invites_per_case
            )));
        }
        let code = secret::new_code();
        let hash = secret::hash_code(&code).ok_or_else(|| Error::Internal("generated code does not parse".into()))?;
        let rec = InviteRec { case_id: case_id.to_string(), role, expires_at: now + expires_in };
        self.put("invite", &hash, &rec)?;
        self.flush()?;
        inner.invites.insert(hash, rec.clone());
        Ok(Invite { code, case_id: rec.case_id, role: rec.role, expires_at: rec.expires_at })
    }

    /// Redeem an invite: the caller joins the case with the invite's role. The code is consumed unless the
    /// caller is already a member (then nothing changes and the code stays valid for someone else).
    pub(crate) fn redeem_invite(&self, auth: &DeviceAuth, code: &str, now: u64) -> Result<CaseMembership> {
        let hash = secret::hash_code(code).ok_or(Error::NotFound("invite code not found or already used"))?;
        let mut inner = self.write();
        let invite =
            inner.invites.get(&hash).cloned().ok_or(Error::NotFound("invite code not found or already used"))?;
        if invite.expires_at < now {
            self.delete("invite", &hash)?;
            self.flush()?;
            inner.invites.remove(&hash);
            return Err(Error::NotFound("invite code has expired"));
        }
        let Some(case) = inner.cases.get(&invite.case_id).cloned() else {
            return Err(Error::NotFound("invite code not found or already used"));
        };
        if case.members.contains_key(&auth.account_id) {
            return Err(Error::Conflict("already a member of this case"));
        }
        if case.members.len() >= self.limits.max_members_per_case {
            return Err(Error::LimitReached(format!(
                "a case has at most {} members",
                self.limits.max_members_per_case
            )));
        }
        if inner.cases_of(&auth.account_id) >= self.limits.max_cases_per_account {
            return Err(Error::LimitReached(format!(
                "an account belongs to at most {} cases",
                self.limits.max_cases_per_account
            )));
        }
        self.delete("invite", &hash)?;
        self.flush()?;
        inner.invites.remove(&hash);
        let mut rec = case;
        rec.members.insert(auth.account_id.clone(), invite.role);
        self.put("case", &invite.case_id, &rec)?;
        self.flush()?;
        inner.add_membership(&invite.case_id, &auth.account_id, invite.role);
        drop(inner);
        self.notify();
        Ok(CaseMembership { case_id: invite.case_id, role: invite.role })
    }

    /// Members of a case (members only).
    pub(crate) fn members(&self, auth: &DeviceAuth, case_id: &str) -> Result<Vec<Member>> {
        let inner = self.read();
        inner.member_role(case_id, &auth.account_id)?;
        let case = inner.cases.get(case_id).ok_or(Error::NotFound("no such case"))?;
        let mut members: Vec<Member> = case
            .members
            .iter()
            .map(|(id, role)| Member {
                account_id: id.clone(),
                display_name: inner.accounts.get(id).map(|a| a.display_name.clone()).unwrap_or_default(),
                role: *role,
            })
            .collect();
        members.sort_by(|a, b| a.role.cmp(&b.role).then_with(|| a.account_id.cmp(&b.account_id)));
        Ok(members)
    }

    /// Change a member's role (owners only): making a member an owner, stepping down, demoting another
    /// owner, as long as one owner remains.
    pub(crate) fn change_role(&self, auth: &DeviceAuth, case_id: &str, target: &str, role: Role) -> Result<Member> {
        let mut inner = self.write();
        let my_role = inner.member_role(case_id, &auth.account_id)?;
        if my_role != Role::Owner {
            return Err(Error::Forbidden("only a case owner can change roles"));
        }
        let mut rec = inner.cases.get(case_id).cloned().ok_or(Error::NotFound("no such case"))?;
        let Some(target_role) = rec.members.get(target).copied() else {
            return Err(Error::NotFound("no such member"));
        };
        membership::check_change_role(&auth.account_id, my_role, target, target_role, role, inner.owners(case_id))?;
        rec.members.insert(target.to_string(), role);
        self.put("case", case_id, &rec)?;
        self.flush()?;
        inner.add_membership(case_id, target, role);
        let display_name = inner.accounts.get(target).map(|a| a.display_name.clone()).unwrap_or_default();
        drop(inner);
        self.notify();
        Ok(Member { account_id: target.to_string(), display_name, role })
    }

    /// Remove a member (owners), or leave (anyone; the last owner neither leaves nor is removed).
    pub(crate) fn remove_member(&self, auth: &DeviceAuth, case_id: &str, target: &str) -> Result<()> {
        let mut inner = self.write();
        let my_role = inner.member_role(case_id, &auth.account_id)?;
        let mut rec = inner.cases.get(case_id).cloned().ok_or(Error::NotFound("no such case"))?;
        let Some(target_role) = rec.members.get(target).copied() else {
            return Err(if my_role == Role::Owner {
                Error::NotFound("no such member")
            } else {
                Error::Forbidden("only a case owner can remove other members")
            });
        };
        membership::check_remove(&auth.account_id, my_role, target, target_role, inner.owners(case_id))?;
        rec.members.remove(target);
        self.put("case", case_id, &rec)?;
        self.flush()?;
        if let Some(c) = inner.cases.get_mut(case_id) {
            c.members.remove(target);
        }
        if let Some(m) = inner.memberships.get_mut(target) {
            m.remove(case_id);
        }
        drop(inner);
        self.notify();
        Ok(())
    }

    /// Leave a case naming a successor (owners): the successor becomes an owner and the caller leaves, in
    /// one write.
    pub(crate) fn leave_naming(&self, auth: &DeviceAuth, case_id: &str, successor: &str) -> Result<Member> {
        let mut inner = self.write();
        let my_role = inner.member_role(case_id, &auth.account_id)?;
        let mut rec = inner.cases.get(case_id).cloned().ok_or(Error::NotFound("no such case"))?;
        let successor_role = rec.members.get(successor).copied();
        membership::check_leave_naming(&auth.account_id, my_role, successor, successor_role)?;
        rec.members.insert(successor.to_string(), Role::Owner);
        rec.members.remove(&auth.account_id);
        self.put("case", case_id, &rec)?;
        self.flush()?;
        inner.add_membership(case_id, successor, Role::Owner);
        if let Some(c) = inner.cases.get_mut(case_id) {
            c.members.remove(&auth.account_id);
        }
        if let Some(m) = inner.memberships.get_mut(&auth.account_id) {
            m.remove(case_id);
        }
        let display_name = inner.accounts.get(successor).map(|a| a.display_name.clone()).unwrap_or_default();
        drop(inner);
        self.notify();
        Ok(Member { account_id: successor.to_string(), display_name, role: Role::Owner })
    }

    /// When each current member's devices last synced a case (members only; `synced_at` tells it per
    /// device, `None` for never), most recent first.
    pub(crate) fn last_seen(
        &self,
        auth: &DeviceAuth,
        case_id: &str,
        synced_at: impl Fn(&str) -> Option<u64>,
    ) -> Result<Vec<LastSeen>> {
        let inner = self.read();
        inner.member_role(case_id, &auth.account_id)?;
        let case = inner.cases.get(case_id).ok_or(Error::NotFound("no such case"))?;
        let mut out: Vec<LastSeen> = inner
            .devices
            .iter()
            .filter(|(_, d)| case.members.contains_key(&d.account_id))
            .filter_map(|(id, d)| {
                Some(LastSeen {
                    synced_at: synced_at(id)?,
                    account_id: d.account_id.clone(),
                    display_name: inner.accounts.get(&d.account_id).map(|a| a.display_name.clone()).unwrap_or_default(),
                    device_id: id.clone(),
                    device_name: d.name.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| b.synced_at.cmp(&a.synced_at).then_with(|| a.device_id.cmp(&b.device_id)));
        Ok(out)
    }

    /// Whether `device_id` is a current device of a current member of `case_id` (what last-seen times are
    /// kept for).
    pub(crate) fn device_in_case(&self, device_id: &str, case_id: &str) -> bool {
        let inner = self.read();
        inner.devices.get(device_id).is_some_and(|d| inner.role(case_id, &d.account_id).is_some())
    }

    /// Whether `device_id` is a device with a valid token.
    pub(crate) fn device_exists(&self, device_id: &str) -> bool {
        self.read().devices.contains_key(device_id)
    }

    /// What a device may do with a document: the document's case and the device's role in it (`None` when
    /// the device is unknown or revoked, the document unregistered, or the account not a member).
    pub(crate) fn access(&self, device_id: &str, doc_id: &str) -> Option<(String, Role)> {
        let inner = self.read();
        let account = &inner.devices.get(device_id)?.account_id;
        let case = inner.case_of(doc_id)?;
        Some((case.to_string(), inner.role(case, account)?))
    }

    /// The case a document belongs to (the case document or a registered document).
    pub(crate) fn case_of(&self, doc_id: &str) -> Option<String> {
        self.read().case_of(doc_id).map(str::to_string)
    }

    /// Every document of a case: the case document and its registered documents.
    pub(crate) fn documents_of(&self, case_id: &str) -> Vec<String> {
        let inner = self.read();
        let mut out = vec![case_id.to_string()];
        out.extend(inner.case_docs.get(case_id).into_iter().flatten().cloned());
        out
    }

    /// Counts for metrics.
    pub(crate) fn counts(&self) -> DirectoryCounts {
        let inner = self.read();
        DirectoryCounts {
            accounts: inner.accounts.len(),
            devices: inner.devices.len(),
            cases: inner.cases.len(),
            documents: inner.cases.len() + inner.docs.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casebook_core::storage::MemoryStorage;

    const CASE: &str = "2W7hUGUKr7oAmKDYR6cdv8c6Wko6";
    const DOC: &str = "3NFtS2pmvmGpQEdKzR9zxK8UhTvA";

    fn limits() -> DirectoryLimits {
        DirectoryLimits::from(&crate::Config::default())
    }

    fn dir() -> (Directory, Arc<MemoryStorage>) {
        let s = Arc::new(MemoryStorage::new());
        (Directory::open(s.clone(), limits(), 0).unwrap(), s)
    }

    fn account(d: &Directory, name: &str) -> DeviceAuth {
        let c = d.create_account(name.into(), None, 0).unwrap();
        d.authenticate(&c.token).unwrap()
    }

    #[test]
    fn tokens_are_stored_hashed_and_authenticate() {
        let (d, s) = dir();
        let c = d.create_account("Ana".into(), Some("phone".into()), 0).unwrap();
        let auth = d.authenticate(&c.token).unwrap();
        assert_eq!(auth.account_id, c.account_id);
        assert!(d.authenticate(&secret::new_token()).is_none());
        assert!(d.authenticate("not a token").is_none());
        let stored = s.load(&key([ROOT, "device", &c.device_id]).unwrap()).unwrap().unwrap();
        let stored = String::from_utf8(stored).unwrap();
        assert!(!stored.contains(&c.token));
        assert!(stored.contains(&secret::hash(&c.token)));
    }

    #[test]
    fn link_codes_are_single_use_and_expire() {
        let (d, _) = dir();
        let a = account(&d, "Ana");
        let link = d.create_link_code(&a, 100).unwrap();
        assert_eq!(link.expires_at, 100 + limits().link_code_ttl_secs);
        let second = d.link_device(&link.code, None, 101).unwrap();
        assert_eq!(second.account_id, a.account_id);
        assert!(matches!(d.link_device(&link.code, None, 102), Err(Error::NotFound(_))));
        let old = d.create_link_code(&a, 100).unwrap();
        assert!(matches!(
            d.link_device(&old.code, None, old.expires_at + 1),
            Err(Error::NotFound("link code has expired"))
        ));
    }

    #[test]
    fn revocation_is_own_account_only() {
        let (d, _) = dir();
        let a = account(&d, "Ana");
        let b = account(&d, "Ben");
        assert!(matches!(d.revoke_device(&b, &a.device_id), Err(Error::NotFound(_))));
        d.revoke_device(&a, &a.device_id).unwrap();
        assert!(!d.device_is_valid(&a.device_id));
        assert!(matches!(d.revoke_device(&a, &a.device_id), Err(Error::NotFound(_))));
    }

    #[test]
    fn cases_documents_and_access() {
        let (d, _) = dir();
        let a = account(&d, "Ana");
        let b = account(&d, "Ben");
        assert_eq!(d.register_case(&a, CASE, 0).unwrap().role, Role::Owner);
        assert_eq!(d.register_case(&a, CASE, 0).unwrap().role, Role::Owner);
        assert!(matches!(d.register_case(&b, CASE, 0), Err(Error::Conflict(_))));
        assert!(matches!(d.register_document(&b, CASE, DOC), Err(Error::NotFound(_))));
        d.register_document(&a, CASE, DOC).unwrap();
        d.register_document(&a, CASE, DOC).unwrap();
        assert!(matches!(d.register_case(&b, DOC, 0), Err(Error::Conflict(_))));
        assert_eq!(d.access(&a.device_id, DOC), Some((CASE.to_string(), Role::Owner)));
        assert_eq!(d.access(&b.device_id, DOC), None);
        assert_eq!(d.access(&a.device_id, "unknown"), None);
        assert_eq!(d.documents_of(CASE), vec![CASE.to_string(), DOC.to_string()]);
        assert_eq!(d.counts().documents, 2);
    }

    #[test]
    fn invites_members_roles_leave() {
        let (d, _) = dir();
        let a = account(&d, "Ana");
        let b = account(&d, "Ben");
        let c = account(&d, "Cal");
        d.register_case(&a, CASE, 0).unwrap();
        let inv = d.create_invite(&a, CASE, Role::Viewer, 3600, 0).unwrap();
        assert!(matches!(d.create_invite(&b, CASE, Role::Viewer, 3600, 0), Err(Error::NotFound(_))));
        assert_eq!(d.redeem_invite(&b, &inv.code, 10).unwrap().role, Role::Viewer);
        assert!(matches!(d.redeem_invite(&c, &inv.code, 10), Err(Error::NotFound(_))));
        assert!(matches!(d.create_invite(&b, CASE, Role::Viewer, 3600, 0), Err(Error::Forbidden(_))));
        assert!(matches!(d.register_document(&b, CASE, DOC), Err(Error::Forbidden(_))));
        assert_eq!(d.access(&b.device_id, CASE), Some((CASE.to_string(), Role::Viewer)));
        let m = d.change_role(&a, CASE, &b.account_id, Role::Editor).unwrap();
        assert_eq!((m.display_name.as_str(), m.role), ("Ben", Role::Editor));
        assert_eq!(d.members(&b, CASE).unwrap().len(), 2);
        assert!(matches!(d.members(&c, CASE), Err(Error::NotFound(_))));
        d.remove_member(&b, CASE, &b.account_id).unwrap();
        assert_eq!(d.access(&b.device_id, CASE), None);
        assert!(d.list_cases(&b).is_empty());
        assert!(matches!(d.remove_member(&a, CASE, &a.account_id), Err(Error::Conflict(_))));
        let expired = d.create_invite(&a, CASE, Role::Editor, 60, 0).unwrap();
        assert!(matches!(d.redeem_invite(&c, &expired.code, 61), Err(Error::NotFound("invite code has expired"))));
        assert!(matches!(d.redeem_invite(&c, "AAAA-AAAA-AAAA-AAAA-AAAA", 0), Err(Error::NotFound(_))));
    }

    #[test]
    fn co_owners_step_down_remove_each_other_and_name_successors() {
        let (d, _) = dir();
        let a = account(&d, "Ana");
        let b = account(&d, "Ben");
        let c = account(&d, "Cal");
        d.register_case(&a, CASE, 0).unwrap();
        for who in [&b, &c] {
            let inv = d.create_invite(&a, CASE, Role::Editor, 3600, 0).unwrap();
            d.redeem_invite(who, &inv.code, 0).unwrap();
        }
        // The last owner can neither step down nor leave.
        assert!(matches!(
            d.change_role(&a, CASE, &a.account_id, Role::Editor),
            Err(Error::Conflict(membership::LAST_OWNER_STEPS_DOWN))
        ));
        assert!(matches!(
            d.remove_member(&a, CASE, &a.account_id),
            Err(Error::Conflict(membership::LAST_OWNER_LEAVES))
        ));
        // A co-owner has every owner's powers, and may remove the other owner.
        assert_eq!(d.change_role(&a, CASE, &b.account_id, Role::Owner).unwrap().role, Role::Owner);
        assert!(d.create_invite(&b, CASE, Role::Viewer, 3600, 0).is_ok());
        assert_eq!(d.change_role(&b, CASE, &a.account_id, Role::Viewer).unwrap().role, Role::Viewer, "demoted");
        assert_eq!(d.change_role(&b, CASE, &a.account_id, Role::Owner).unwrap().role, Role::Owner);
        d.remove_member(&b, CASE, &a.account_id).unwrap();
        assert!(d.list_cases(&a).is_empty());
        // Ben is the last owner now; he leaves naming Cal.
        assert!(matches!(d.remove_member(&b, CASE, &b.account_id), Err(Error::Conflict(_))));
        assert!(matches!(d.leave_naming(&c, CASE, &b.account_id), Err(Error::Forbidden(_))), "editors cannot");
        assert!(matches!(d.leave_naming(&b, CASE, &a.account_id), Err(Error::NotFound(_))), "not a member");
        assert!(matches!(d.leave_naming(&b, CASE, &b.account_id), Err(Error::InvalidInput(_))));
        assert_eq!(d.leave_naming(&b, CASE, &c.account_id).unwrap().role, Role::Owner);
        assert_eq!(d.access(&b.device_id, CASE), None);
        assert_eq!(d.access(&c.device_id, CASE), Some((CASE.to_string(), Role::Owner)));
        assert_eq!(d.members(&c, CASE).unwrap().len(), 1);
        // Stepping down as one of two owners.
        let inv = d.create_invite(&c, CASE, Role::Viewer, 3600, 0).unwrap();
        d.redeem_invite(&a, &inv.code, 0).unwrap();
        d.change_role(&c, CASE, &a.account_id, Role::Owner).unwrap();
        assert_eq!(d.change_role(&c, CASE, &c.account_id, Role::Editor).unwrap().role, Role::Editor);
        assert!(matches!(d.change_role(&c, CASE, &a.account_id, Role::Editor), Err(Error::Forbidden(_))));
    }

    #[test]
    fn recovery_codes_rotate_on_use_and_are_stored_hashed() {
        let (d, s) = dir();
        let first = d.create_account("Ana".into(), Some("phone".into()), 0).unwrap();
        let code = first.recovery_code.clone().unwrap();
        let a = d.authenticate(&first.token).unwrap();
        let link = d.create_link_code(&a, 0).unwrap();
        let (second, revoked) = d.recover_account(&code.to_lowercase(), Some("tablet".into()), false, 5).unwrap();
        assert!(revoked.is_empty());
        assert_eq!(second.account_id, first.account_id);
        assert!(d.device_is_valid(&first.device_id), "kept");
        let new_code = second.recovery_code.clone().unwrap();
        assert_ne!(new_code, code);
        assert!(matches!(d.recover_account(&code, None, false, 6), Err(Error::NotFound(_))), "used");
        assert!(matches!(d.recover_account("not a code", None, false, 6), Err(Error::NotFound(_))));
        // Revoking the others: every other device, and the pending link code.
        let (third, revoked) = d.recover_account(&new_code, None, true, 7).unwrap();
        assert_eq!(revoked.len(), 2);
        assert!(!d.device_is_valid(&first.device_id) && !d.device_is_valid(&second.device_id));
        assert!(d.authenticate(&first.token).is_none());
        assert!(matches!(d.link_device(&link.code, None, 8), Err(Error::NotFound(_))));
        let t = d.authenticate(&third.token).unwrap();
        assert_eq!(d.devices(&t, |_| None).len(), 1);
        // Rotation.
        let rotated = d.rotate_recovery_code(&t).unwrap();
        assert!(matches!(
            d.recover_account(third.recovery_code.as_deref().unwrap(), None, false, 9),
            Err(Error::NotFound(_))
        ));
        // Only hashes are stored, and one recovery key per account.
        let all = s.load_range(&key([ROOT]).unwrap()).unwrap();
        for (_, v) in &all {
            let v = String::from_utf8_lossy(v);
            for c in [&code, &new_code, &rotated] {
                assert!(!v.contains(c.as_str()) && !v.contains(&c.replace('-', "")));
            }
        }
        let recovery_keys = all.iter().filter(|(k, _)| k.to_string().starts_with("relay/recovery/")).count();
        assert_eq!(recovery_keys, 1);
        // It survives a reopen.
        drop(d);
        let d = Directory::open(s, limits(), 10).unwrap();
        let (fourth, _) = d.recover_account(&rotated, None, false, 11).unwrap();
        assert_eq!(fourth.account_id, first.account_id);
    }

    #[test]
    fn recovery_respects_the_device_limit_after_revocation() {
        let s = Arc::new(MemoryStorage::new());
        let d = Directory::open(s, DirectoryLimits { max_devices_per_account: 2, ..limits() }, 0).unwrap();
        let first = d.create_account("Ana".into(), None, 0).unwrap();
        let (second, _) = d.recover_account(first.recovery_code.as_deref().unwrap(), None, false, 0).unwrap();
        let code = second.recovery_code.unwrap();
        assert!(matches!(d.recover_account(&code, None, false, 0), Err(Error::LimitReached(_))));
        let (third, revoked) = d.recover_account(&code, None, true, 0).unwrap();
        assert_eq!(revoked.len(), 2);
        assert!(d.device_is_valid(&third.device_id));
    }

    #[test]
    fn last_seen_lists_current_members_devices_only() {
        let (d, _) = dir();
        let a = account(&d, "Ana");
        let b = account(&d, "Ben");
        let e = account(&d, "Eve");
        d.register_case(&a, CASE, 0).unwrap();
        let inv = d.create_invite(&a, CASE, Role::Viewer, 3600, 0).unwrap();
        d.redeem_invite(&b, &inv.code, 0).unwrap();
        let at = |device: &str| Some(if device == b.device_id { 200 } else { 100 });
        let list = d.last_seen(&a, CASE, at).unwrap();
        let ids: Vec<(&str, u64)> = list.iter().map(|l| (l.display_name.as_str(), l.synced_at)).collect();
        assert_eq!(ids, vec![("Ben", 200), ("Ana", 100)], "most recent first, non-members' devices left out");
        assert!(matches!(d.last_seen(&e, CASE, at), Err(Error::NotFound(_))));
        d.remove_member(&a, CASE, &b.account_id).unwrap();
        assert_eq!(d.last_seen(&a, CASE, at).unwrap().len(), 1);
        d.revoke_device(&a, &a.device_id).unwrap();
        assert!(!d.device_in_case(&b.device_id, CASE) && !d.device_in_case(&a.device_id, CASE));
    }

    #[test]
    fn everything_survives_reopen() {
        let (d, s) = dir();
        let a = account(&d, "Ana");
        let b = account(&d, "Ben");
        d.register_case(&a, CASE, 0).unwrap();
        d.register_document(&a, CASE, DOC).unwrap();
        let inv = d.create_invite(&a, CASE, Role::Editor, 3600, 0).unwrap();
        let pending = d.create_invite(&a, CASE, Role::Viewer, 3600, 0).unwrap();
        d.redeem_invite(&b, &inv.code, 1).unwrap();
        drop(d);
        let d = Directory::open(s, limits(), 2).unwrap();
        assert_eq!(d.access(&b.device_id, DOC), Some((CASE.to_string(), Role::Editor)));
        assert_eq!(d.list_cases(&a).len(), 1);
        let c = account(&d, "Cal");
        assert_eq!(d.redeem_invite(&c, &pending.code, 3).unwrap().role, Role::Viewer);
    }

    #[test]
    fn count_limits() {
        let s = Arc::new(MemoryStorage::new());
        let l = DirectoryLimits { max_pending_invites_per_case: 1, max_members_per_case: 2, ..limits() };
        let d = Directory::open(s, l, 0).unwrap();
        let a = account(&d, "Ana");
        let b = account(&d, "Ben");
        let c = account(&d, "Cal");
        d.register_case(&a, CASE, 0).unwrap();
        let i = d.create_invite(&a, CASE, Role::Viewer, 3600, 0).unwrap();
        assert!(matches!(d.create_invite(&a, CASE, Role::Viewer, 3600, 0), Err(Error::LimitReached(_))));
        d.redeem_invite(&b, &i.code, 0).unwrap();
        let i = d.create_invite(&a, CASE, Role::Viewer, 3600, 0).unwrap();
        assert!(matches!(d.redeem_invite(&c, &i.code, 0), Err(Error::LimitReached(_))));
    }
}
