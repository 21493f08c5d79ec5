//! [`Relay`]: the relay's HTTP API — accounts, devices, cases, invites and members — as blocking calls.
//! Call them off the UI thread (each is one HTTP request, up to 30 s on a bad network).

use std::sync::Arc;

use casebook_core::relay_api::{
    CaseMembership as CoreMembership, DeviceCredentials as CoreCredentials, DeviceInfo as CoreDeviceInfo,
    Invite as CoreInvite, LastSeen as CoreLastSeen, LinkCode as CoreLinkCode, Me, Member as CoreMember, Role,
};
use casebook_core::sync::RelayClient;

use crate::convert::parse_case_id;
use crate::error::{CasebookError, Result};

/// Role of an account in a case.
#[uniffi::remote(Enum)]
pub enum Role {
    /// Invites, removes members, changes roles (the creator; several members can be owners).
    Owner,
    /// Reads and writes.
    Editor,
    /// Reads only: its writes never reach others.
    Viewer,
}

/// A device's credentials, returned once by the relay. Keep them in the platform's secure storage
/// (Android Keystore-backed storage, iOS Keychain): the token is never shown again.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceCredentials {
    /// The account.
    pub account_id: String,
    /// This device.
    pub device_id: String,
    /// The device token (secret).
    pub token: String,
    /// The account's recovery code, present only right after `createAccount`, `recoverAccount` and
    /// `rotateRecoveryCode`: show it to the user once ("write this down") and never store it. With it, a
    /// new phone gets the account back when every device is lost.
    #[uniffi(default = None)]
    pub recovery_code: Option<String>,
}

impl std::fmt::Debug for DeviceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("DeviceCredentials")
            .field("account_id", &self.account_id)
            .field("device_id", &self.device_id)
            .field("has_recovery_code", &self.recovery_code.is_some())
            .finish_non_exhaustive()
    }
}

/// The signed-in account and device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AccountInfo {
    /// The account.
    pub account_id: String,
    /// Its display name.
    pub display_name: String,
    /// The device the token belongs to.
    pub device_id: String,
}

/// A one-time code to link another device to the same account.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LinkCode {
    /// The code (single use).
    pub code: String,
    /// Unix seconds after which it is refused.
    pub expires_at: u64,
}

/// An account's membership in a case.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseMembership {
    /// The case id.
    pub case_id: String,
    /// The role.
    pub role: Role,
}

/// A single-use invite to a case.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Invite {
    /// The code to give to the invitee.
    pub code: String,
    /// The case id.
    pub case_id: String,
    /// Role it grants.
    pub role: Role,
    /// Unix seconds after which it is refused.
    pub expires_at: u64,
}

/// A device of the signed-in account.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceInfo {
    /// The device.
    pub device_id: String,
    /// Its label ("Ana's phone"), if it was given one.
    pub name: Option<String>,
    /// Unix seconds when it was added to the account.
    pub created_at: u64,
    /// Unix seconds when it last synced, if ever.
    pub last_seen_at: Option<u64>,
    /// Whether it is the device making the call.
    pub this_device: bool,
}

/// When a member's device last synced a case ("Ben's phone synced 3 h ago").
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LastSeen {
    /// The member's account.
    pub account_id: String,
    /// The member's display name.
    pub display_name: String,
    /// The device.
    pub device_id: String,
    /// Its label, if any.
    pub device_name: Option<String>,
    /// Unix seconds of its last sync of the case.
    pub synced_at: u64,
}

/// An invite as a link (`casebook://invite/CODE?relay=…`): what a QR code carries and an app opens.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct InviteLink {
    /// The relay's base URL.
    pub relay_url: String,
    /// The invite code (redeem it with `Relay.redeemInvite` on that relay).
    pub code: String,
}

/// The link (and QR code payload) for an invite `code` on the relay at `relay_url`.
#[uniffi::export]
pub fn invite_link(relay_url: String, code: String) -> String {
    casebook_core::invite_link::InviteLink::new(&relay_url, &code).to_string()
}

/// Read an invite link an app was opened with (or a QR code's text): the relay and the code
/// (`InvalidInput` if it is not one).
#[uniffi::export]
pub fn parse_invite_link(link: String) -> Result<InviteLink> {
    let l = casebook_core::invite_link::InviteLink::parse(&link)
        .map_err(|e| CasebookError::InvalidInput { reason: e.to_string() })?;
    Ok(InviteLink { relay_url: l.relay_url, code: l.code })
}

/// A member of a case.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Member {
    /// The account.
    pub account_id: String,
    /// Its display name.
    pub display_name: String,
    /// Its role.
    pub role: Role,
}

impl From<CoreCredentials> for DeviceCredentials {
    fn from(c: CoreCredentials) -> Self {
        Self { account_id: c.account_id, device_id: c.device_id, token: c.token, recovery_code: c.recovery_code }
    }
}

impl From<DeviceCredentials> for CoreCredentials {
    fn from(c: DeviceCredentials) -> Self {
        // The sync client never needs the recovery code.
        Self { account_id: c.account_id, device_id: c.device_id, token: c.token, recovery_code: None }
    }
}

impl From<CoreDeviceInfo> for DeviceInfo {
    fn from(d: CoreDeviceInfo) -> Self {
        Self {
            device_id: d.device_id,
            name: d.name,
            created_at: d.created_at,
            last_seen_at: d.last_seen_at,
            this_device: d.this_device,
        }
    }
}

impl From<CoreLastSeen> for LastSeen {
    fn from(l: CoreLastSeen) -> Self {
        Self {
            account_id: l.account_id,
            display_name: l.display_name,
            device_id: l.device_id,
            device_name: l.device_name,
            synced_at: l.synced_at,
        }
    }
}

impl From<Me> for AccountInfo {
    fn from(m: Me) -> Self {
        Self { account_id: m.account_id, display_name: m.display_name, device_id: m.device_id }
    }
}

impl From<CoreLinkCode> for LinkCode {
    fn from(l: CoreLinkCode) -> Self {
        Self { code: l.code, expires_at: l.expires_at }
    }
}

impl From<CoreMembership> for CaseMembership {
    fn from(m: CoreMembership) -> Self {
        Self { case_id: m.case_id, role: m.role }
    }
}

impl From<CoreInvite> for Invite {
    fn from(i: CoreInvite) -> Self {
        Self { code: i.code, case_id: i.case_id, role: i.role, expires_at: i.expires_at }
    }
}

impl From<CoreMember> for Member {
    fn from(m: CoreMember) -> Self {
        Self { account_id: m.account_id, display_name: m.display_name, role: m.role }
    }
}

/// A relay's HTTP API, signed in with a device token or not (then only account creation and device
/// linking work). Every call that goes to the relay is `async` (Kotlin `suspend`, Swift `async`).
#[derive(Debug, uniffi::Object)]
pub struct Relay {
    /// The core client.
    pub(crate) inner: RelayClient,
}

impl Relay {
    /// Run a blocking HTTP call of the relay client on a blocking thread, awaited without blocking the
    /// caller (Kotlin `suspend`, Swift `async`).
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&RelayClient) -> casebook_core::sync::SyncResult<T> + Send + 'static,
    ) -> Result<T> {
        let client = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&client))
            .await
            .map_err(|_| CasebookError::Internal { reason: "a relay call did not complete".into() })?
            .map_err(Into::into)
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Relay {
    /// A client of the relay at `url` (`https://relay.example.org`; `http://` only for a relay on this
    /// machine or in tests), not signed in.
    #[uniffi::constructor]
    pub fn new(url: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self { inner: RelayClient::new(&url)? }))
    }

    /// A client of the relay at `url`, signed in with a device token.
    #[uniffi::constructor]
    pub fn with_token(url: String, token: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self { inner: RelayClient::with_token(&url, &token)? }))
    }

    /// The relay's base URL.
    pub fn url(&self) -> String {
        self.inner.base_url().to_string()
    }

    /// Whether the relay answers (`Network` error if not).
    pub async fn health(&self) -> Result<()> {
        self.call(|c| c.health()).await
    }

    /// Create an account with this device as its first device. The token is returned once: keep it in
    /// secure storage.
    #[uniffi::method(default(device_name = None))]
    pub async fn create_account(&self, display_name: String, device_name: Option<String>) -> Result<DeviceCredentials> {
        Ok(self.call(move |c| c.create_account(&display_name, device_name.as_deref())).await?.into())
    }

    /// The signed-in account (`Unauthorized` if the token is wrong or revoked).
    pub async fn me(&self) -> Result<AccountInfo> {
        Ok(self.call(|c| c.me()).await?.into())
    }

    /// A one-time code to link another device of the same person to this account.
    pub async fn create_link_code(&self) -> Result<LinkCode> {
        Ok(self.call(|c| c.create_link_code()).await?.into())
    }

    /// Link this device to an account with a code from its existing device (no token needed).
    #[uniffi::method(default(device_name = None))]
    pub async fn link_device(&self, code: String, device_name: Option<String>) -> Result<DeviceCredentials> {
        Ok(self.call(move |c| c.link_device(&code, device_name.as_deref())).await?.into())
    }

    /// Revoke a device of this account (a lost phone): its token stops working and its connection closes
    /// within a second.
    pub async fn revoke_device(&self, device_id: String) -> Result<()> {
        self.call(move |c| c.revoke_device(&device_id)).await
    }

    /// Get an account back on this device with its recovery code (no token needed): credentials of a new
    /// device of the account, with a new recovery code to show once (the typed one stops working).
    /// `revoke_other_devices`: revoke every other device of the account (lost or stolen). Then
    /// `SyncClient.joinCase` for each of `listCases` brings the cases back. Wrong codes are rate-limited.
    #[uniffi::method(default(device_name = None, revoke_other_devices = false))]
    pub async fn recover_account(
        &self,
        recovery_code: String,
        device_name: Option<String>,
        revoke_other_devices: bool,
    ) -> Result<DeviceCredentials> {
        Ok(self
            .call(move |c| c.recover_account(&recovery_code, device_name.as_deref(), revoke_other_devices))
            .await?
            .into())
    }

    /// Replace the account's recovery code (the old one stops working); the new one is returned once.
    pub async fn rotate_recovery_code(&self) -> Result<String> {
        self.call(|c| c.rotate_recovery_code()).await
    }

    /// The account's devices, with when each last synced.
    pub async fn list_devices(&self) -> Result<Vec<DeviceInfo>> {
        Ok(self.call(|c| c.list_devices()).await?.into_iter().map(Into::into).collect())
    }

    /// When each member's devices last synced the case, most recent first (members only).
    pub async fn last_seen(&self, case_id: String) -> Result<Vec<LastSeen>> {
        let id = parse_case_id(&case_id)?;
        Ok(self.call(move |c| c.last_seen(&id)).await?.into_iter().map(Into::into).collect())
    }

    /// The invite link (and QR payload) for `code` on this relay.
    pub fn invite_link(&self, code: String) -> String {
        casebook_core::invite_link::InviteLink::new(self.inner.base_url().as_str(), &code).to_string()
    }

    /// Register a case on the relay; this account becomes its owner. (`SyncClient.shareCase` does this
    /// and starts syncing it.)
    pub async fn register_case(&self, case_id: String) -> Result<CaseMembership> {
        let id = parse_case_id(&case_id)?;
        Ok(self.call(move |c| c.register_case(&id)).await?.into())
    }

    /// The cases this account is a member of.
    pub async fn list_cases(&self) -> Result<Vec<CaseMembership>> {
        Ok(self.call(|c| c.list_cases()).await?.into_iter().map(Into::into).collect())
    }

    /// Create a single-use invite (owner only) granting `role` (editor or viewer), valid for
    /// `expires_in_secs` (60 s – 30 days; default 7 days).
    #[uniffi::method(default(expires_in_secs = None))]
    pub async fn create_invite(&self, case_id: String, role: Role, expires_in_secs: Option<u64>) -> Result<Invite> {
        let id = parse_case_id(&case_id)?;
        Ok(self.call(move |c| c.create_invite(&id, role, expires_in_secs)).await?.into())
    }

    /// Redeem an invite code: this account becomes a member (then `SyncClient.joinCase`).
    pub async fn redeem_invite(&self, code: String) -> Result<CaseMembership> {
        Ok(self.call(move |c| c.redeem_invite(&code)).await?.into())
    }

    /// The members of a case (members only).
    pub async fn list_members(&self, case_id: String) -> Result<Vec<Member>> {
        let id = parse_case_id(&case_id)?;
        Ok(self.call(move |c| c.list_members(&id)).await?.into_iter().map(Into::into).collect())
    }

    /// Change a member's role (owners only): `Owner` makes a co-owner; an owner steps down by changing
    /// their own role while another owner remains.
    pub async fn change_role(&self, case_id: String, account_id: String, role: Role) -> Result<Member> {
        let id = parse_case_id(&case_id)?;
        Ok(self.call(move |c| c.change_role(&id, &account_id, role)).await?.into())
    }

    /// Remove a member (owners only; the last owner cannot be removed).
    pub async fn remove_member(&self, case_id: String, account_id: String) -> Result<()> {
        let id = parse_case_id(&case_id)?;
        self.call(move |c| c.remove_member(&id, &account_id)).await
    }

    /// Leave a case (the case stays on this device until deleted from the store). The last owner cannot
    /// leave: `leaveCaseNaming` a successor.
    pub async fn leave_case(&self, case_id: String) -> Result<()> {
        let id = parse_case_id(&case_id)?;
        self.call(move |c| c.leave_case(&id)).await
    }

    /// Leave a case, making `successor` (a member's account id) an owner in the same step: how the last
    /// owner leaves.
    pub async fn leave_case_naming(&self, case_id: String, successor: String) -> Result<()> {
        let id = parse_case_id(&case_id)?;
        self.call(move |c| c.leave_case_naming(&id, &successor)).await
    }
}
