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
//! | `relay/membership/<account id>/<case id>` | empty: an index of an account's cases, written after the case record; a hint only (the case record decides), so that a process finds a case another process has just added the account to |
//! | `relay/token/<sha256 of token>` | the device id of a token (devices created since the cluster; older ones are found through their device record) |
//!
//! **Several relay processes on one database** (PostgreSQL): each keeps this directory in memory and learns
//! of the others' writes from change signals ([`Directory::reload`], one record) and a periodic full
//! reload ([`Directory::reload_all`], which repairs a lost signal). Every rule that must hold across
//! processes is decided by the database, not by memory: single-use codes are taken with
//! [`Storage::take`] (one taker wins), a case record is changed with [`Storage::compare_and_swap`] from the
//! bytes just read (a concurrent change makes the write fail, and the rule is checked again on the new
//! record), a case id or document id is claimed with a compare-and-swap from absent. Count limits (devices per
//! account, cases per account, pending codes) are checked against memory and may be overshot by a few
//! under concurrent requests on different processes. A token, case or membership another process has
//! just written and this one has not heard of yet is read from the database on a miss.
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

use crate::cluster::{Announce, Signal};
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

    /// Replace a case record (`None`: gone) and the membership index with it.
    fn set_case(&mut self, case_id: &str, rec: Option<CaseRec>) {
        if let Some(old) = self.cases.remove(case_id) {
            for account in old.members.keys() {
                if let Some(m) = self.memberships.get_mut(account) {
                    m.remove(case_id);
                }
            }
        }
        if let Some(rec) = rec {
            for account in rec.members.keys() {
                self.memberships.entry(account.clone()).or_default().insert(case_id.to_string());
            }
            self.cases.insert(case_id.to_string(), rec);
        }
    }

    /// Replace a device record (`None`: revoked) and the token index; whether a device went away.
    fn set_device(&mut self, device_id: &str, rec: Option<DeviceRec>) -> bool {
        let old = self.devices.remove(device_id);
        if let Some(old) = &old {
            self.tokens.remove(&old.token_hash);
        }
        let gone = old.is_some() && rec.is_none();
        if let Some(rec) = rec {
            self.tokens.insert(rec.token_hash.clone(), device_id.to_string());
            self.devices.insert(device_id.to_string(), rec);
        }
        gone
    }

    /// Replace a document's case (`None`: unregistered).
    fn set_doc(&mut self, doc_id: &str, case_id: Option<String>) {
        if let Some(old) = self.docs.remove(doc_id)
            && let Some(docs) = self.case_docs.get_mut(&old)
        {
            docs.remove(doc_id);
        }
        if let Some(case_id) = case_id {
            self.case_docs.entry(case_id.clone()).or_default().insert(doc_id.to_string());
            self.docs.insert(doc_id.to_string(), case_id);
        }
    }
}

/// What a reload found that the relay acts on.
#[derive(Debug, Default)]
pub(crate) struct Reloaded {
    /// Devices revoked by another process (their live connections are closed).
    pub(crate) revoked_devices: Vec<String>,
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
    /// Other relay processes on the same database, told of every record written (none with sled).
    announce: std::sync::OnceLock<Arc<dyn Announce>>,
    /// Bumped when the write lock is taken and when it is let go ([`DirWrite`]): a full reload read from
    /// storage before a change was stored must not replace memory with its older picture.
    generation: std::sync::atomic::AtomicU64,
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
        let inner = Self::load_all(&*storage)?;
        let (changes, _) = watch::channel(0);
        let dir = Directory {
            storage,
            limits,
            inner: RwLock::new(inner),
            changes,
            announce: Default::default(),
            generation: Default::default(),
        };
        dir.purge_expired(now)?;
        Ok(dir)
    }

    /// Every record of the directory, read from `storage`.
    fn load_all(storage: &dyn Storage) -> Result<Inner> {
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
        let s = storage;
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
        Ok(inner)
    }

    /// Tell other relay processes of every record written from now on.
    pub(crate) fn set_announce(&self, announce: Arc<dyn Announce>) {
        let _ = self.announce.set(announce);
    }

    /// Whether other relay processes may share the database (reads then fall back to it on a miss).
    fn clustered(&self) -> bool {
        self.announce.get().is_some()
    }

    fn announce(&self, kind: &str, id: &str) {
        if let Some(a) = self.announce.get() {
            a.announce(Signal::Record { kind: kind.to_string(), id: id.to_string() });
        }
    }

    /// The stored bytes of `relay/<kind>/<id>`.
    fn load_raw(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.storage.load(&key([ROOT, kind, id])?)?)
    }

    /// Write `relay/<kind>/<id>` = `new` (`None`: delete) if it still holds `expected`; durable and
    /// announced when it returns `true`.
    fn swap<T: Serialize>(&self, kind: &str, id: &str, expected: Option<&[u8]>, new: Option<&T>) -> Result<bool> {
        let bytes = new.map(serde_json::to_vec).transpose().map_err(internal)?;
        let done = self.storage.compare_and_swap(&key([ROOT, kind, id])?, expected, bytes.as_deref())?;
        if done {
            self.announce(kind, id);
        }
        Ok(done)
    }

    /// Take (delete and return) `relay/<kind>/<id>`: of concurrent takers on any process, one gets it.
    fn take(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>> {
        let taken = self.storage.take(&key([ROOT, kind, id])?)?;
        if taken.is_some() {
            self.announce(kind, id);
        }
        Ok(taken)
    }

    /// The case record as stored now (memory updated to it), with its bytes for a compare-and-swap.
    fn fresh_case(&self, inner: &mut Inner, case_id: &str) -> Result<Option<(Vec<u8>, CaseRec)>> {
        let Some(bytes) = self.load_raw("case", case_id)? else {
            inner.set_case(case_id, None);
            return Ok(None);
        };
        let rec: CaseRec = serde_json::from_slice(&bytes).map_err(|_| corrupt("case", case_id))?;
        inner.set_case(case_id, Some(rec.clone()));
        Ok(Some((bytes, rec)))
    }

    /// Change a case record by `change` (which checks the rules against the record as stored and the
    /// directory, and returns the new record): retried on the new record when another process changed it
    /// in between. `NotFound` for a case that does not exist.
    fn update_case<R>(
        &self,
        inner: &mut Inner,
        case_id: &str,
        mut change: impl FnMut(&Inner, &CaseRec) -> Result<(CaseRec, R)>,
    ) -> Result<R> {
        for _ in 0..16 {
            let Some((bytes, rec)) = self.fresh_case(inner, case_id)? else {
                return Err(Error::NotFound("no such case"));
            };
            let (new, out) = change(inner, &rec)?;
            if self.swap("case", case_id, Some(&bytes), Some(&new))? {
                self.index_members(case_id, Some(&rec), &new);
                inner.set_case(case_id, Some(new));
                return Ok(out);
            }
        }
        Err(Error::Conflict("the case is being changed by someone else; try again"))
    }

    /// Keep the `relay/membership/…` index in step with a case record that went from `old` to `new`. A
    /// failure only delays when another process finds the change (its signal and periodic reload still
    /// carry it).
    fn index_members(&self, case_id: &str, old: Option<&CaseRec>, new: &CaseRec) {
        let write = || -> Result<()> {
            for account in new.members.keys().filter(|a| old.is_none_or(|o| !o.members.contains_key(*a))) {
                self.storage.put(&key([ROOT, "membership", account, case_id])?, b"")?;
            }
            for account in old.into_iter().flat_map(|o| o.members.keys()).filter(|a| !new.members.contains_key(*a)) {
                self.storage.delete(&key([ROOT, "membership", account, case_id])?)?;
            }
            Ok(())
        };
        if let Err(e) = write() {
            tracing::warn!(error = %e, "cannot update the membership index");
        }
    }

    /// On a process of a cluster, read a case record another process may just have written when memory
    /// does not show `account_id` as a member.
    fn refresh_case_on_miss(&self, case_id: &str, account_id: &str) {
        if !self.clustered() || self.read().role(case_id, account_id).is_some() {
            return;
        }
        let mut inner = self.write();
        if let Err(e) = self.fresh_case(&mut inner, case_id) {
            tracing::warn!(error = %e, "cannot read a case record");
        }
    }

    /// Read `relay/<kind>/<id>` again (another process changed it) and update memory. Unknown kinds are
    /// ignored.
    pub(crate) fn reload(&self, kind: &str, id: &str) -> Result<Reloaded> {
        fn decode<T: for<'de> Deserialize<'de>>(kind: &str, id: &str, v: Option<Vec<u8>>) -> Result<Option<T>> {
            v.map(|v| serde_json::from_slice(&v).map_err(|_| corrupt(kind, id))).transpose()
        }
        let mut out = Reloaded::default();
        // Read under the lock: a change this process makes meanwhile is either before the read (and in it)
        // or after it (and applied after it), never overwritten by an older value.
        let mut inner = self.write();
        let value = self.load_raw(kind, id)?;
        let access = match kind {
            "account" => {
                match decode::<AccountRec>(kind, id, value)? {
                    Some(rec) => inner.accounts.insert(id.to_string(), rec),
                    None => inner.accounts.remove(id),
                };
                false
            }
            "device" => {
                if inner.set_device(id, decode(kind, id, value)?) {
                    out.revoked_devices.push(id.to_string());
                }
                true
            }
            "link" => {
                match decode::<LinkRec>(kind, id, value)? {
                    Some(rec) => inner.links.insert(id.to_string(), rec),
                    None => inner.links.remove(id),
                };
                false
            }
            "case" => {
                inner.set_case(id, decode(kind, id, value)?);
                true
            }
            "doc" => {
                inner.set_doc(id, decode(kind, id, value)?);
                true
            }
            "invite" => {
                match decode::<InviteRec>(kind, id, value)? {
                    Some(rec) => inner.invites.insert(id.to_string(), rec),
                    None => inner.invites.remove(id),
                };
                false
            }
            "recovery" => {
                match decode::<String>(kind, id, value)? {
                    Some(account) => inner.recovery.insert(id.to_string(), account),
                    None => inner.recovery.remove(id),
                };
                false
            }
            _ => false,
        };
        drop(inner);
        if access {
            self.notify();
        }
        Ok(out)
    }

    /// Read the whole directory again (repairs lost signals) and replace memory with it.
    pub(crate) fn reload_all(&self) -> Result<Reloaded> {
        use std::sync::atomic::Ordering::SeqCst;
        // Read without the lock (it can take a while), and keep the picture only if nothing changed memory
        // meanwhile; else read again (a busy process gives up until the next repair).
        for _ in 0..3 {
            let before = self.generation.load(SeqCst);
            let fresh = Self::load_all(&*self.storage)?;
            let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
            if self.generation.load(SeqCst) != before {
                continue;
            }
            self.generation.fetch_add(1, SeqCst);
            let revoked_devices = inner.devices.keys().filter(|id| !fresh.devices.contains_key(*id)).cloned().collect();
            *inner = fresh;
            drop(inner);
            self.notify();
            return Ok(Reloaded { revoked_devices });
        }
        Ok(Reloaded::default())
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // Mutations write storage before touching memory, so a panic cannot leave memory half-updated.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> DirWrite<'_> {
        let guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        DirWrite { guard, generation: &self.generation }
    }

    fn put<T: Serialize>(&self, kind: &str, id: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(internal)?;
        self.storage.put(&key([ROOT, kind, id])?, &bytes)?;
        self.announce(kind, id);
        Ok(())
    }

    fn delete(&self, kind: &str, id: &str) -> Result<()> {
        self.storage.delete(&key([ROOT, kind, id])?)?;
        self.announce(kind, id);
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
        self.put("token", &rec.token_hash, &device_id)?;
        self.flush()?;
        inner.set_device(&device_id, Some(rec));
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
        let account_id = match inner.recovery.get(&old_hash).cloned() {
            Some(id) => id,
            // Another process may have just rotated it.
            None if self.clustered() => match self.load_raw("recovery", &old_hash)? {
                Some(v) => serde_json::from_slice::<String>(&v).map_err(|_| corrupt("recovery", &old_hash))?,
                None => return Err(UNKNOWN),
            },
            None => return Err(UNKNOWN),
        };
        let mut account = match self.load_raw("account", &account_id)? {
            Some(v) => serde_json::from_slice::<AccountRec>(&v).map_err(|_| corrupt("account", &account_id))?,
            None => return Err(UNKNOWN),
        };
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
        // The used code goes first (taken: of two recoveries with it on any process, one proceeds); then the
        // new code, the revocations, and the new device (which flushes).
        if self.take("recovery", &old_hash)?.is_none() {
            inner.recovery.remove(&old_hash);
            return Err(UNKNOWN);
        }
        account.recovery_hash = Some(new_hash.clone());
        self.put("account", &account_id, &account)?;
        self.put("recovery", &new_hash, &account_id)?;
        for id in &revoked {
            if let Some(d) = inner.devices.get(id) {
                self.delete("token", &d.token_hash.clone())?;
            }
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
            inner.set_device(id, None);
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
        for _ in 0..16 {
            // As stored, and changed only from exactly that: two rotations on two processes at once leave
            // one code, never two.
            let Some(stored) = self.load_raw("account", &auth.account_id)? else {
                return Err(Error::Unauthorized("unknown account"));
            };
            let mut account: AccountRec =
                serde_json::from_slice(&stored).map_err(|_| corrupt("account", &auth.account_id))?;
            let (code, hash) = Self::new_recovery_code()?;
            let old = account.recovery_hash.replace(hash.clone());
            if !self.swap("account", &auth.account_id, Some(&stored), Some(&account))? {
                continue;
            }
            // The old code goes before the new one is stored: a crash in between loses the new code (never
            // shown), never keeps the old one.
            if let Some(old) = &old {
                self.delete("recovery", old)?;
            }
            self.put("recovery", &hash, &auth.account_id)?;
            self.flush()?;
            if let Some(old) = &old {
                inner.recovery.remove(old);
            }
            inner.recovery.insert(hash, auth.account_id.clone());
            inner.accounts.insert(auth.account_id.clone(), account);
            return Ok(code);
        }
        Err(Error::Conflict("the account is being changed by someone else; try again"))
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
        let hash = secret::hash(&token);
        {
            let inner = self.read();
            if let Some(device_id) = inner.tokens.get(&hash) {
                let device = inner.devices.get(device_id)?;
                return Some(DeviceAuth { account_id: device.account_id.clone(), device_id: device_id.clone() });
            }
        }
        if !self.clustered() {
            return None;
        }
        // A device another process has just created (failed attempts are rate limited by the caller). Read
        // under the lock, so that a revocation here cannot be undone by an older read.
        let mut inner = self.write();
        let device_id: String = serde_json::from_slice(&self.load_raw("token", &hash).ok()??).ok()?;
        let device: DeviceRec = serde_json::from_slice(&self.load_raw("device", &device_id).ok()??).ok()?;
        if device.token_hash != hash {
            return None;
        }
        let auth = DeviceAuth { account_id: device.account_id.clone(), device_id: device_id.clone() };
        if !inner.accounts.contains_key(&device.account_id)
            && let Ok(Some(v)) = self.load_raw("account", &device.account_id)
            && let Ok(account) = serde_json::from_slice::<AccountRec>(&v)
        {
            inner.accounts.insert(device.account_id.clone(), account);
        }
        inner.set_device(&device_id, Some(device));
        Some(auth)
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
        const UNKNOWN: Error = Error::NotFound("link code not found or already used");
        let hash = secret::hash_code(code).ok_or(UNKNOWN)?;
        let mut inner = self.write();
        // Consume first, from the database (one taker on any process): expired or not, a code is used once.
        let taken = self.take("link", &hash)?;
        inner.links.remove(&hash);
        let link: LinkRec = serde_json::from_slice(&taken.ok_or(UNKNOWN)?).map_err(|_| corrupt("link", &hash))?;
        if !inner.accounts.contains_key(&link.account_id)
            && let Some(v) = self.load_raw("account", &link.account_id)?
        {
            let account = serde_json::from_slice(&v).map_err(|_| corrupt("account", &link.account_id))?;
            inner.accounts.insert(link.account_id.clone(), account);
        }
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
        self.delete("token", &device.token_hash)?;
        self.delete("device", device_id)?;
        self.flush()?;
        inner.set_device(device_id, None);
        drop(inner);
        self.notify();
        Ok(())
    }

    /// Register a case; the caller becomes its owner. Registering again as a member returns the membership.
    pub(crate) fn register_case(&self, auth: &DeviceAuth, case_id: &str, now: u64) -> Result<CaseMembership> {
        const TAKEN: Error = Error::Conflict("this id is already registered on the relay");
        let mut inner = self.write();
        if let Some(role) = inner.role(case_id, &auth.account_id) {
            return Ok(CaseMembership { case_id: case_id.to_string(), role });
        }
        if let Some((_, rec)) = self.fresh_case(&mut inner, case_id)? {
            return match rec.members.get(&auth.account_id) {
                Some(role) => Ok(CaseMembership { case_id: case_id.to_string(), role: *role }),
                None => Err(TAKEN),
            };
        }
        if inner.docs.contains_key(case_id) || self.load_raw("doc", case_id)?.is_some() {
            return Err(TAKEN);
        }
        if inner.cases_of(&auth.account_id) >= self.limits.max_cases_per_account {
            return Err(Error::LimitReached(format!(
                "an account belongs to at most {} cases",
                self.limits.max_cases_per_account
            )));
        }
        let rec = CaseRec { created_at: now, members: BTreeMap::from([(auth.account_id.clone(), Role::Owner)]) };
        // Claimed from absent: of two processes registering the same id, one wins.
        if !self.swap("case", case_id, None, Some(&rec))? {
            let role =
                self.fresh_case(&mut inner, case_id)?.and_then(|(_, r)| r.members.get(&auth.account_id).copied());
            return role.map(|role| CaseMembership { case_id: case_id.to_string(), role }).ok_or(TAKEN);
        }
        self.index_members(case_id, None, &rec);
        inner.set_case(case_id, Some(rec));
        drop(inner);
        self.notify();
        Ok(CaseMembership { case_id: case_id.to_string(), role: Role::Owner })
    }

    /// The caller's cases.
    pub(crate) fn list_cases(&self, auth: &DeviceAuth) -> Vec<CaseMembership> {
        if self.clustered() {
            self.refresh_memberships(&auth.account_id);
        }
        let inner = self.read();
        inner
            .memberships
            .get(&auth.account_id)
            .into_iter()
            .flatten()
            .filter_map(|c| Some(CaseMembership { case_id: c.clone(), role: inner.role(c, &auth.account_id)? }))
            .collect()
    }

    /// Read the case records the membership index names for `account_id` that memory does not show it in
    /// (another process has just added it).
    fn refresh_memberships(&self, account_id: &str) {
        let listed = match key([ROOT, "membership", account_id]).and_then(|k| self.storage.keys(&k)) {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the membership index");
                return;
            }
        };
        let unknown: Vec<String> = {
            let inner = self.read();
            listed
                .iter()
                .filter_map(|k| k.to_string().rsplit('/').next().map(str::to_string))
                .filter(|case| inner.role(case, account_id).is_none())
                .collect()
        };
        if unknown.is_empty() {
            return;
        }
        let mut inner = self.write();
        for case in unknown {
            if let Err(e) = self.fresh_case(&mut inner, &case) {
                tracing::warn!(error = %e, "cannot read a case record");
            }
        }
    }

    /// The caller's role in a case (`NotFound` for non-members and unknown cases alike).
    pub(crate) fn role_of(&self, auth: &DeviceAuth, case_id: &str) -> Result<Role> {
        self.refresh_case_on_miss(case_id, &auth.account_id);
        self.read().member_role(case_id, &auth.account_id)
    }

    /// Register another document of a case. Idempotent for the same case; a document belongs to the first
    /// case that registers it.
    pub(crate) fn register_document(&self, auth: &DeviceAuth, case_id: &str, doc_id: &str) -> Result<()> {
        const TAKEN: Error = Error::Conflict("this document is already registered to another case");
        self.refresh_case_on_miss(case_id, &auth.account_id);
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
        if self.load_raw("case", doc_id)?.is_some() {
            return Err(TAKEN);
        }
        // Claimed from absent: a document belongs to the first case that registers it, on any process.
        if !self.swap("doc", doc_id, None, Some(&case_id))? {
            let owner: Option<String> = match self.load_raw("doc", doc_id)? {
                Some(v) => Some(serde_json::from_slice(&v).map_err(|_| corrupt("doc", doc_id))?),
                None => None,
            };
            let same = owner.as_deref() == Some(case_id);
            inner.set_doc(doc_id, owner);
            drop(inner);
            self.notify();
            return if same { Ok(()) } else { Err(TAKEN) };
        }
        inner.set_doc(doc_id, Some(case_id.to_string()));
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
        self.refresh_case_on_miss(case_id, &auth.account_id);
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
        const UNKNOWN: Error = Error::NotFound("invite code not found or already used");
        let hash = secret::hash_code(code).ok_or(UNKNOWN)?;
        let mut inner = self.write();
        // The invite as stored: another process may have created or used it.
        let Some(stored) = self.load_raw("invite", &hash)? else {
            inner.invites.remove(&hash);
            return Err(UNKNOWN);
        };
        let invite: InviteRec = serde_json::from_slice(&stored).map_err(|_| corrupt("invite", &hash))?;
        if invite.expires_at < now {
            self.take("invite", &hash)?;
            inner.invites.remove(&hash);
            return Err(Error::NotFound("invite code has expired"));
        }
        let Some((_, case)) = self.fresh_case(&mut inner, &invite.case_id)? else {
            return Err(UNKNOWN);
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
        // Consume: of concurrent redemptions on any process, exactly one takes the code.
        let taken = self.take("invite", &hash)?;
        inner.invites.remove(&hash);
        if taken.is_none() {
            return Err(UNKNOWN);
        }
        let account = auth.account_id.clone();
        self.update_case(&mut inner, &invite.case_id, |_, rec| {
            let mut rec = rec.clone();
            rec.members.insert(account.clone(), invite.role);
            Ok((rec, ()))
        })?;
        drop(inner);
        self.notify();
        Ok(CaseMembership { case_id: invite.case_id, role: invite.role })
    }

    /// Members of a case (members only).
    pub(crate) fn members(&self, auth: &DeviceAuth, case_id: &str) -> Result<Vec<Member>> {
        if self.clustered() {
            // As stored now: another process may have just changed it.
            let mut inner = self.write();
            self.fresh_case(&mut inner, case_id)?;
        }
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
        self.update_case(&mut inner, case_id, |inner, rec| {
            let my_role = inner.member_role(case_id, &auth.account_id)?;
            if my_role != Role::Owner {
                return Err(Error::Forbidden("only a case owner can change roles"));
            }
            let Some(target_role) = rec.members.get(target).copied() else {
                return Err(Error::NotFound("no such member"));
            };
            let owners = inner.owners(case_id);
            membership::check_change_role(&auth.account_id, my_role, target, target_role, role, owners)?;
            let mut rec = rec.clone();
            rec.members.insert(target.to_string(), role);
            Ok((rec, ()))
        })?;
        let display_name = inner.accounts.get(target).map(|a| a.display_name.clone()).unwrap_or_default();
        drop(inner);
        self.notify();
        Ok(Member { account_id: target.to_string(), display_name, role })
    }

    /// Remove a member (owners), or leave (anyone; the last owner neither leaves nor is removed).
    pub(crate) fn remove_member(&self, auth: &DeviceAuth, case_id: &str, target: &str) -> Result<()> {
        let mut inner = self.write();
        self.update_case(&mut inner, case_id, |inner, rec| {
            let my_role = inner.member_role(case_id, &auth.account_id)?;
            let Some(target_role) = rec.members.get(target).copied() else {
                return Err(if my_role == Role::Owner {
                    Error::NotFound("no such member")
                } else {
                    Error::Forbidden("only a case owner can remove other members")
                });
            };
            membership::check_remove(&auth.account_id, my_role, target, target_role, inner.owners(case_id))?;
            let mut rec = rec.clone();
            rec.members.remove(target);
            Ok((rec, ()))
        })?;
        drop(inner);
        self.notify();
        Ok(())
    }

    /// Leave a case naming a successor (owners): the successor becomes an owner and the caller leaves, in
    /// one write.
    pub(crate) fn leave_naming(&self, auth: &DeviceAuth, case_id: &str, successor: &str) -> Result<Member> {
        let mut inner = self.write();
        self.update_case(&mut inner, case_id, |inner, rec| {
            let my_role = inner.member_role(case_id, &auth.account_id)?;
            let successor_role = rec.members.get(successor).copied();
            membership::check_leave_naming(&auth.account_id, my_role, successor, successor_role)?;
            let mut rec = rec.clone();
            rec.members.insert(successor.to_string(), Role::Owner);
            rec.members.remove(&auth.account_id);
            Ok((rec, ()))
        })?;
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
        self.refresh_case_on_miss(case_id, &auth.account_id);
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

/// The directory's write lock. The generation counter moves when it is taken **and** when it is let go,
/// so that [`Directory::reload_all`], which reads storage without the lock, also sees a change that was
/// under way (taken before it looked, stored after) and does not put back a picture without it.
struct DirWrite<'a> {
    guard: RwLockWriteGuard<'a, Inner>,
    generation: &'a std::sync::atomic::AtomicU64,
}

impl std::ops::Deref for DirWrite<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.guard
    }
}

impl std::ops::DerefMut for DirWrite<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.guard
    }
}

impl Drop for DirWrite<'_> {
    fn drop(&mut self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casebook_core::storage::{MemoryStorage, StorageKey};

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

    /// Records the signals a directory announces (and turns on the cluster's read-through).
    #[derive(Default)]
    struct Heard(std::sync::Mutex<Vec<Signal>>);
    impl Announce for Heard {
        fn announce(&self, signal: Signal) {
            self.0.lock().unwrap().push(signal);
        }
    }

    /// Two relay processes on one database: two directories over one storage, each told of the other's
    /// writes only when the test forwards the signals (or not at all).
    fn two_processes() -> (Directory, Directory, Arc<Heard>, Arc<Heard>) {
        let s: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let (one, two) = (Directory::open(s.clone(), limits(), 0).unwrap(), Directory::open(s, limits(), 0).unwrap());
        let (h1, h2) = (Arc::new(Heard::default()), Arc::new(Heard::default()));
        one.set_announce(h1.clone());
        two.set_announce(h2.clone());
        (one, two, h1, h2)
    }

    /// Deliver what `from` announced to `to`.
    fn deliver(heard: &Heard, to: &Directory) -> Reloaded {
        let mut out = Reloaded::default();
        for s in heard.0.lock().unwrap().drain(..) {
            if let Signal::Record { kind, id } = s {
                out.revoked_devices.extend(to.reload(&kind, &id).unwrap().revoked_devices);
            }
        }
        out
    }

    #[test]
    fn across_processes_a_code_is_used_once_and_rules_hold_on_what_is_stored() {
        let (one, two, h1, _) = two_processes();
        // Accounts made on one process authenticate on the other before any signal (read-through).
        let a = account(&one, "Ana");
        let b_creds = one.create_account("Ben".into(), None, 0).unwrap();
        let b = two.authenticate(&b_creds.token).expect("read from the database on a miss");
        let c = account(&two, "Cal");
        one.register_case(&a, CASE, 0).unwrap();
        assert!(matches!(two.register_case(&c, CASE, 0), Err(Error::Conflict(_))), "the id is taken on any process");
        // An invite created on one, redeemed on both: one success.
        let inv = one.create_invite(&a, CASE, Role::Editor, 3600, 0).unwrap();
        assert_eq!(two.redeem_invite(&b, &inv.code, 0).unwrap().role, Role::Editor);
        assert!(matches!(one.redeem_invite(&c, &inv.code, 0), Err(Error::NotFound(_))), "already used");
        // Process one has not heard of Ben's membership, yet changes the stored record, not its memory.
        one.change_role(&a, CASE, &b.account_id, Role::Owner).unwrap();
        assert_eq!(one.members(&a, CASE).unwrap().len(), 2, "Ben kept: the change started from the stored record");
        // Two owners on two processes removing each other: the second sees the first's write and is refused
        // (it would leave no owner) or finds itself removed.
        one.remove_member(&a, CASE, &b.account_id).unwrap();
        assert!(two.remove_member(&b, CASE, &a.account_id).is_err());
        deliver(&h1, &two);
        assert_eq!(two.access(&b.device_id, CASE), None, "the removal reached process two");
        assert_eq!(two.access(&a.device_id, CASE), Some((CASE.to_string(), Role::Owner)));
        // A document registered on both for different cases belongs to the first.
        let c_case = "4mZq1V4P8WJjYk5q3Kyi4F7e2Tn5";
        two.register_case(&c, c_case, 0).unwrap();
        one.register_document(&a, CASE, DOC).unwrap();
        assert!(matches!(two.register_document(&c, c_case, DOC), Err(Error::Conflict(_))));
        assert_eq!(two.case_of(DOC).as_deref(), Some(CASE));
        // A link code taken once across processes.
        let link = one.create_link_code(&a, 0).unwrap();
        two.link_device(&link.code, None, 0).unwrap();
        assert!(matches!(one.link_device(&link.code, None, 0), Err(Error::NotFound(_))));
    }

    #[test]
    fn a_device_revoked_on_one_process_is_reported_by_the_other_and_a_full_reload_repairs_lost_signals() {
        let (one, two, h1, _) = two_processes();
        let a = account(&one, "Ana");
        let second = one.create_link_code(&a, 0).unwrap();
        let phone = one.link_device(&second.code, None, 0).unwrap();
        assert!(two.authenticate(&phone.token).is_some());
        one.register_case(&a, CASE, 0).unwrap();
        assert!(deliver(&h1, &two).revoked_devices.is_empty());
        // Revoked on one: the signal makes two report it (its live connections are then closed).
        one.revoke_device(&a, &phone.device_id).unwrap();
        assert_eq!(deliver(&h1, &two).revoked_devices, vec![phone.device_id.clone()]);
        assert!(two.authenticate(&phone.token).is_none());
        // A lost signal: the periodic full reload finds the change.
        assert!(two.access(&a.device_id, CASE).is_some());
        one.revoke_device(&a, &a.device_id).unwrap();
        h1.0.lock().unwrap().clear();
        assert!(two.access(&a.device_id, CASE).is_some(), "not heard yet");
        assert_eq!(two.reload_all().unwrap().revoked_devices, vec![a.device_id.clone()]);
        assert_eq!(two.access(&a.device_id, CASE), None);
    }

    /// A storage whose writes of account records take a while (a slow database).
    struct SlowAccounts(MemoryStorage);

    impl Storage for SlowAccounts {
        fn load(&self, key: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
            self.0.load(key)
        }
        fn load_range(&self, prefix: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
            self.0.load_range(prefix)
        }
        fn put(&self, key: &StorageKey, data: &[u8]) -> Result<(), StorageError> {
            if key.to_string().starts_with("relay/account/") {
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
            self.0.put(key, data)
        }
        fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
            self.0.delete(key)
        }
        fn flush(&self) -> Result<(), StorageError> {
            self.0.flush()
        }
        fn compare_and_swap(
            &self,
            key: &StorageKey,
            expected: Option<&[u8]>,
            new: Option<&[u8]>,
        ) -> Result<bool, StorageError> {
            self.0.compare_and_swap(key, expected, new)
        }
    }

    #[test]
    fn a_full_reload_during_a_change_does_not_undo_it() {
        let s: Arc<dyn Storage> = Arc::new(SlowAccounts(MemoryStorage::new()));
        let d = Arc::new(Directory::open(s, limits(), 0).unwrap());
        d.set_announce(Arc::new(Heard::default()));
        // An account being created (the lock taken, its records not stored yet) while the periodic full
        // reload reads storage: the reload must not put back a picture without it.
        let creating = {
            let d = d.clone();
            std::thread::spawn(move || d.create_account("Ana".into(), None, 0).unwrap())
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        let reloaded = d.reload_all().unwrap();
        let ana = creating.join().unwrap();
        assert!(!reloaded.revoked_devices.contains(&ana.device_id), "a new device reported revoked");
        assert!(d.device_is_valid(&ana.device_id), "the new device was dropped from memory");
        assert!(d.read().accounts.contains_key(&ana.account_id), "the new account was dropped from memory");
    }
}
