//! The relay's HTTP API: routes and JSON bodies, shared by the relay (`casebook-server`) and the sync client
//! so both sides agree on one definition.
//!
//! Every route except account creation, account recovery, device linking, `/healthz` and `/metrics` needs
//! `Authorization: Bearer <device token>`. Errors are JSON [`ApiError`] bodies with a matching HTTP status.
//!
//! | method | path | body | response |
//! |---|---|---|---|
//! | POST | `/v1/accounts` | [`CreateAccount`] | 201 [`DeviceCredentials`] (with the account's recovery code) |
//! | POST | `/v1/accounts/recover` | [`RecoverAccount`] | 201 [`DeviceCredentials`] of a new device (with a new recovery code; the one used stops working) |
//! | GET | `/v1/me` | — | 200 [`Me`] |
//! | POST | `/v1/me/recovery-code` | — | 201 [`RecoveryCode`] (a new recovery code; the previous one stops working) |
//! | GET | `/v1/devices` | — | 200 `[`[`DeviceInfo`]`]` (the account's devices) |
//! | POST | `/v1/devices/link-codes` | — | 201 [`LinkCode`] |
//! | POST | `/v1/devices/link` | [`LinkDevice`] | 201 [`DeviceCredentials`] |
//! | DELETE | `/v1/devices/{device_id}` | — | 204 (revokes that device's token; own account only; a device may revoke itself) |
//! | POST | `/v1/cases` | [`RegisterCase`] | 201 [`CaseMembership`] (creator is owner) |
//! | GET | `/v1/cases` | — | 200 `[`[`CaseMembership`]`]` |
//! | POST | `/v1/cases/{case_id}/documents` | [`RegisterDocument`] | 204 (editor or owner; a document belongs to the first case that registers it) |
//! | POST | `/v1/cases/{case_id}/invites` | [`CreateInvite`] | 201 [`Invite`] (owner) |
//! | POST | `/v1/invites/redeem` | [`RedeemInvite`] | 200 [`CaseMembership`] |
//! | GET | `/v1/cases/{case_id}/members` | — | 200 `[`[`Member`]`]` (members only) |
//! | GET | `/v1/cases/{case_id}/last-seen` | — | 200 `[`[`LastSeen`]`]` (members only; most recent first) |
//! | GET | `/v1/cases/{case_id}/usage` | — | 200 [`CaseUsage`] (members only) |
//! | GET | `/v1/cases/{case_id}/heads` | — | 200 [`CaseHeads`] (members only) |
//! | PUT | `/v1/cases/{case_id}/members/{account_id}` | [`ChangeRole`] | 200 [`Member`] (owner; any role, owner included) |
//! | DELETE | `/v1/cases/{case_id}/members/{account_id}` | — | 204 (an owner removes anyone; anyone leaves) |
//! | DELETE | `/v1/cases/{case_id}/members/{own account_id}?successor={account_id}` | — | 204 (leave, making that member an owner in the same write) |
//! | PUT | `/v1/cases/{case_id}/blobs/{sha256}?offset=N&size=S` | raw bytes (one chunk) | 200 [`BlobStatus`] (editor or owner; appends at `offset`, which must be what the relay holds; the last chunk is verified against the SHA-256: a mismatch discards the blob, 400) |
//! | GET | `/v1/cases/{case_id}/blobs/{sha256}` | — | 200 / 206 raw bytes (members; complete blobs; `Range: bytes=N-`) |
//! | GET | `/v1/cases/{case_id}/blobs/{sha256}/status` | — | 200 [`BlobStatus`] (members; `received: 0` when the relay holds nothing) |
//! | POST | `/v1/cases/{case_id}/blobs/retain` | [`RetainBlobs`] | 200 [`RetainedBlobs`] (editor or owner; deletes the case's other blobs older than an hour) |
//! | GET | `/v1/sync` | WebSocket upgrade | automerge-repo sync protocol; token as Bearer header or `?token=` |
//! | GET | `/healthz` | — | 200 `ok` |
//! | GET | `/metrics` | — | 200 Prometheus text |
//!
//! A non-member asking about a case gets 404, exactly as for a case that does not exist.
//!
//! # Roles
//! A case has one or more owners (co-owners). Every owner invites, removes members (other owners
//! included) and changes roles: making another member an owner, or stepping down to editor or viewer. The
//! last owner can neither leave, step down nor be removed (409 `conflict`): another member becomes owner
//! first, or the owner leaves naming a successor. Invites grant editor or viewer, never owner.
//!
//! # Recovery codes
//! Every account has one recovery code (140 random bits, 28 Crockford base32 characters in groups of four;
//! case, dashes and spaces do not matter when typed). It is shown once, in the answers of account
//! creation, recovery and rotation; the relay keeps only its SHA-256. Recovering with it creates a new
//! device of the account (optionally revoking every other one: a lost or stolen phone) and replaces the
//! code. Attempts are rate limited per client address like code redemptions.

use serde::{Deserialize, Serialize};

/// The samod peer id a device must announce: bound to its authenticated device at the upgrade.
pub fn peer_id_for_device(device_id: &str) -> String {
    format!("device-{device_id}")
}

/// The samod peer id the relay announces (a client may pin it with `Transport::with_expected_peer_id`).
pub const RELAY_PEER_ID: &str = "casebook-relay";

/// Role of an account in a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Created the case, or was made owner by an owner: invites, removes members, changes roles (owner
    /// included). A case always keeps at least one.
    Owner,
    /// Reads and writes.
    Editor,
    /// Reads only: its writes never reach others.
    Viewer,
}

/// `POST /v1/accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateAccount {
    /// What other members see (no email, no real name needed). 1–80 characters.
    pub display_name: String,
    /// Optional label of this device ("Ana's phone"), up to 80 characters.
    #[serde(default)]
    pub device_name: Option<String>,
}

/// A device's credentials, returned once: the token is never shown again (the relay keeps only a hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCredentials {
    /// The account.
    pub account_id: String,
    /// This device.
    pub device_id: String,
    /// 256-bit random token, hex (64 characters). Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// The account's recovery code: present only in the answers of account creation
    /// (`POST /v1/accounts`) and recovery (`POST /v1/accounts/recover`), never in link answers. Show it to
    /// the user to write down, then drop it: never persist it (the local store saves credentials without
    /// it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<String>,
}

/// `POST /v1/accounts/recover`: a new device of the account a recovery code belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoverAccount {
    /// The account's recovery code as typed (case, dashes and spaces do not matter).
    pub recovery_code: String,
    /// Optional label of the new device.
    #[serde(default)]
    pub device_name: Option<String>,
    /// Revoke every other device of the account (their tokens are refused and their sync connections
    /// closed at once), and drop its pending link codes: for a lost or stolen phone.
    #[serde(default)]
    pub revoke_other_devices: bool,
}

/// `POST /v1/me/recovery-code`: the account's new recovery code (the previous one stops working).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCode {
    /// The new code, shown once: never persist it.
    pub recovery_code: String,
}

/// `GET /v1/devices`: one device of the caller's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device.
    pub device_id: String,
    /// Its label, if it was given one.
    pub name: Option<String>,
    /// When it was created or linked (Unix seconds).
    pub created_at: u64,
    /// When its sync connection was last active (Unix seconds; `None`: never connected). Approximate
    /// after a relay restart (saved every 30 s).
    pub last_seen_at: Option<u64>,
    /// Whether this is the device asking.
    pub this_device: bool,
}

/// `GET /v1/cases/{case_id}/last-seen`: when a device of a member last synced the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSeen {
    /// The member's account.
    pub account_id: String,
    /// Its display name.
    pub display_name: String,
    /// The device.
    pub device_id: String,
    /// The device's label, if any.
    pub device_name: Option<String>,
    /// When the relay last received a sync message from this device about a document of the case (Unix
    /// seconds; approximate after a relay restart: saved every 30 s).
    pub synced_at: u64,
}

/// `GET /v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// The account.
    pub account_id: String,
    /// Its display name.
    pub display_name: String,
    /// The device this token belongs to.
    pub device_id: String,
}

/// `POST /v1/devices/link-codes`: a one-time code to link another device to the same account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCode {
    /// The code (single use).
    pub code: String,
    /// Unix seconds after which it is refused.
    pub expires_at: u64,
}

/// `POST /v1/devices/link`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkDevice {
    /// A link code from the account's existing device.
    pub code: String,
    /// Optional label of the new device.
    #[serde(default)]
    pub device_name: Option<String>,
}

/// `POST /v1/cases`: register a case (its overview document id) on the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterCase {
    /// The case id (automerge-repo document id of the overview document).
    pub case_id: String,
}

/// `POST /v1/cases/{case_id}/documents`: another document of the case (an appointment's notes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterDocument {
    /// The document id.
    pub doc_id: String,
}

/// An account's membership in a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseMembership {
    /// The case.
    pub case_id: String,
    /// The role.
    pub role: Role,
}

/// `POST /v1/cases/{case_id}/invites`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateInvite {
    /// Role given to whoever redeems it (editor or viewer).
    pub role: Role,
    /// Seconds until it expires (60 – 30 days; default 7 days).
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
}

/// A single-use invite code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// The code to give to the invitee.
    pub code: String,
    /// The case.
    pub case_id: String,
    /// Role it grants.
    pub role: Role,
    /// Unix seconds after which it is refused.
    pub expires_at: u64,
}

/// `POST /v1/invites/redeem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemInvite {
    /// The invite code.
    pub code: String,
}

/// A member of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The account.
    pub account_id: String,
    /// Its display name.
    pub display_name: String,
    /// Its role.
    pub role: Role,
}

/// `PUT /v1/cases/{case_id}/members/{account_id}` (owners only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRole {
    /// The new role. `owner` makes the member a co-owner; an owner may step down (its own role to editor
    /// or viewer) or demote another owner, as long as another owner remains.
    pub role: Role,
}

/// `GET /v1/cases/{case_id}/usage`: the case's storage on the relay. Over the quota, the relay keeps serving
/// the case but accepts no more changes to it (clients keep theirs locally) until it shrinks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseUsage {
    /// The case.
    pub case_id: String,
    /// Bytes stored for the case (all its documents).
    pub bytes: u64,
    /// The relay's per-case quota in bytes (0: no quota).
    pub quota_bytes: u64,
    /// Whether the case is over the quota (read-only on the relay).
    pub quota_exceeded: bool,
}

/// `GET /v1/cases/{case_id}/heads`: the heads of every document of the case as the relay holds them now. A
/// device that has all of them holds everything the relay held at that moment (what `sync_and_wait` waits
/// for: the relay's pushes alone cannot tell a device that nothing more is on its way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseHeads {
    /// The case.
    pub case_id: String,
    /// Every document registered to the case, the case document first.
    pub documents: Vec<DocumentHeads>,
}

/// The relay's heads of one document ([`CaseHeads`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentHeads {
    /// The document id.
    pub document_id: String,
    /// Its heads as hex change hashes (empty: the relay has no change of it yet).
    pub heads: Vec<String>,
}

/// `GET|PUT /v1/cases/{case_id}/blobs/{sha256}[/status]`: what the relay holds of an attachment blob of the
/// case (an upload resumes at `received`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobStatus {
    /// The blob's SHA-256, lowercase hex.
    pub sha256: String,
    /// Its size as declared by the first upload (0 when the relay holds nothing).
    pub size: u64,
    /// Bytes the relay holds, from the start.
    pub received: u64,
    /// Whether the relay holds every byte and verified the hash.
    pub complete: bool,
}

/// `POST /v1/cases/{case_id}/blobs/retain`: the blobs the case's documents reference; the relay deletes
/// the case's other blobs (except those uploaded in the last hour: a sibling's attach not synced yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetainBlobs {
    /// SHA-256 (lowercase hex) of every blob to keep.
    pub sha256: Vec<String>,
}

/// The answer of [`RetainBlobs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetainedBlobs {
    /// Blobs deleted.
    pub deleted: u64,
    /// Bytes freed.
    pub freed_bytes: u64,
}

/// Every error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Stable machine code: `unauthorized`, `forbidden`, `not_found`, `invalid_input`, `conflict`,
    /// `too_large`, `rate_limited`, `quota_exceeded`, `unavailable`, `internal`.
    pub error: String,
    /// Human explanation (never contains case content).
    pub message: String,
}
