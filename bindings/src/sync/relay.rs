//! [`Relay`]: the relay's HTTP API — accounts, devices, cases, invites and members — as blocking calls.
//! Call them off the UI thread (each is one HTTP request, up to 30 s on a bad network).

use std::sync::Arc;

use casebook_core::relay_api::{
    CaseMembership as CoreMembership, DeviceCredentials as CoreCredentials, Invite as CoreInvite,
    LinkCode as CoreLinkCode, Me, Member as CoreMember, Role,
};
use casebook_core::sync::RelayClient;

use crate::convert::parse_case_id;
use crate::error::{CasebookError, Result};

/// Role of an account in a case.
#[uniffi::remote(Enum)]
pub enum Role {
    /// Created the case: invites, removes members, changes roles.
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
}

impl std::fmt::Debug for DeviceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("DeviceCredentials")
            .field("account_id", &self.account_id)
            .field("device_id", &self.device_id)
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
        Self { account_id: c.account_id, device_id: c.device_id, token: c.token }
    }
}

impl From<DeviceCredentials> for CoreCredentials {
    fn from(c: DeviceCredentials) -> Self {
        Self { account_id: c.account_id, device_id: c.device_id, token: c.token }
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

    /// Revoke a device of this account (its token stops working, its sync stops).
    pub async fn revoke_device(&self, device_id: String) -> Result<()> {
        self.call(move |c| c.revoke_device(&device_id)).await
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

    /// Change a member's role (owner only; editor or viewer).
    pub async fn change_role(&self, case_id: String, account_id: String, role: Role) -> Result<Member> {
        let id = parse_case_id(&case_id)?;
        Ok(self.call(move |c| c.change_role(&id, &account_id, role)).await?.into())
    }

    /// Remove a member (owner only).
    pub async fn remove_member(&self, case_id: String, account_id: String) -> Result<()> {
        let id = parse_case_id(&case_id)?;
        self.call(move |c| c.remove_member(&id, &account_id)).await
    }

    /// Leave a case (the case stays on this device until deleted from the store).
    pub async fn leave_case(&self, case_id: String) -> Result<()> {
        let id = parse_case_id(&case_id)?;
        self.call(move |c| c.leave_case(&id)).await
    }
}
