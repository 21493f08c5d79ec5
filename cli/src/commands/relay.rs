//! Working with a relay: `account`, `case share`, `invite`, `members`, `remove-member`, `sync`.
//! The relay account (server, account, device token) is kept in the local store, never in a case.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use casebook_core::relay_api::Role;
use casebook_core::sync::{CaseSyncStatus, RelayClient, SyncClient, SyncError, SyncState};
use casebook_core::{RelayAccount, Store};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::context::Ctx;
use crate::failure::{self, Code};
use crate::output;

/// `casebook account …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AccountCmd {
    /// Create an account on a relay for this device (display name only; no email, no real name needed).
    Create {
        /// The relay, e.g. http://127.0.0.1:3030 or https://relay.example.org.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The name other members of your cases see.
        #[arg(long)]
        name: String,
    },
    /// Show this device's account (never the token).
    Show,
    /// Make a one-time code to link another device to this account.
    LinkCode,
    /// Link this device to an existing account with a code from one of its devices.
    Link {
        /// The relay URL.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The link code.
        code: String,
    },
}

/// Invite roles a member can be given.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum InviteRole {
    /// Reads and writes.
    Editor,
    /// Reads only.
    Viewer,
}

impl From<InviteRole> for Role {
    fn from(r: InviteRole) -> Role {
        match r {
            InviteRole::Editor => Role::Editor,
            InviteRole::Viewer => Role::Viewer,
        }
    }
}

/// `casebook case share`.
#[derive(Debug, Args)]
pub(crate) struct ShareArgs {
    /// Role of the person the invite code is for.
    #[arg(long, value_enum, default_value = "editor")]
    pub(crate) role: InviteRole,
    /// Hours until the invite code expires.
    #[arg(long, default_value_t = 72)]
    pub(crate) expires_in_hours: u64,
}

/// `casebook invite …`.
#[derive(Debug, Subcommand)]
pub(crate) enum InviteCmd {
    /// Make another single-use invite code for the case (owner only).
    Create(ShareArgs),
    /// Join a case with an invite code: downloads it into this store and adds you to its care team.
    Accept {
        /// The code.
        code: String,
        /// Your relationship to the patient (for the care team).
        #[arg(long)]
        relationship: Option<String>,
        /// Seconds to wait for the download.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
}

/// `casebook remove-member`.
#[derive(Debug, Args)]
pub(crate) struct RemoveMemberArgs {
    /// Account id of the member (see `casebook members`); your own id to leave the case.
    account: String,
}

/// `casebook sync`.
#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// Keep running until interrupted: sync again every half second (others' edits merged, this store's
    /// edits sent), without holding the store in between, so every other command keeps working.
    #[arg(long)]
    watch: bool,
    /// Seconds to wait for the relay before failing.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

fn account(store: &Store) -> Result<RelayAccount> {
    store
        .relay_account()?
        .context("this store has no relay account: run `casebook account create --server URL --name NAME`")
}

fn client(account: &RelayAccount) -> Result<RelayClient> {
    Ok(RelayClient::with_token(&account.server, &account.credentials.token)?)
}

fn start(store: &Store, account: &RelayAccount) -> Result<SyncClient> {
    Ok(SyncClient::start(store, &account.server, account.credentials.clone())?)
}

#[derive(Serialize)]
struct AccountView<'a> {
    server: &'a str,
    display_name: &'a str,
    account_id: &'a str,
    device_id: &'a str,
}

fn view(a: &RelayAccount) -> AccountView<'_> {
    AccountView {
        server: &a.server,
        display_name: &a.display_name,
        account_id: &a.credentials.account_id,
        device_id: &a.credentials.device_id,
    }
}

/// Run `casebook account …`.
pub(crate) fn account_cmd(ctx: &Ctx, cmd: AccountCmd) -> Result<()> {
    match cmd {
        AccountCmd::Create { server, name } => {
            let store = ctx.store_or_create()?;
            if store.relay_account()?.is_some() {
                return Err(failure::refuse(
                    Code::Conflict,
                    "this store already has a relay account (see `casebook account show`)",
                ));
            }
            let credentials = RelayClient::new(&server)?.create_account(&name, Some("casebook cli"))?;
            let a = RelayAccount { server, display_name: name, credentials };
            store.set_relay_account(&a)?;
            output::emit(ctx, &view(&a), |v| {
                format!(
                    "Created account {} on {} for this device ({}). Its token is kept in this store only.",
                    v.account_id, v.server, v.device_id
                )
            })
        }
        AccountCmd::Show => {
            let store = ctx.store()?;
            let a = account(&store)?;
            output::emit(ctx, &view(&a), |v| {
                format!(
                    "{} on {}\naccount {}\ndevice  {}",
                    output::line(v.display_name),
                    v.server,
                    v.account_id,
                    v.device_id
                )
            })
        }
        AccountCmd::LinkCode => {
            let store = ctx.store()?;
            let code = client(&account(&store)?)?.create_link_code()?;
            output::emit(ctx, &code, |c| {
                format!(
                    "Link code (single use): {}\nOn the other device: casebook account link --server URL {}",
                    c.code, c.code
                )
            })
        }
        AccountCmd::Link { server, code } => {
            let store = ctx.store_or_create()?;
            if store.relay_account()?.is_some() {
                return Err(failure::refuse(
                    Code::Conflict,
                    "this store already has a relay account (see `casebook account show`)",
                ));
            }
            let credentials = RelayClient::new(&server)?.link_device(&code, Some("casebook cli"))?;
            let me = RelayClient::with_token(&server, &credentials.token)?.me()?;
            let a = RelayAccount { server, display_name: me.display_name, credentials };
            store.set_relay_account(&a)?;
            output::emit(ctx, &view(&a), |v| {
                format!("Linked this device ({}) to account {}.", v.device_id, v.account_id)
            })
        }
    }
}

/// Run `casebook case share`: register the case on the relay, upload it, and print an invite code.
pub(crate) fn share(ctx: &Ctx, a: ShareArgs) -> Result<()> {
    let open = ctx.open()?;
    let acct = account(&open.store)?;
    let sync = start(&open.store, &acct)?;
    let id = open.case.id().clone();
    let case = Arc::new(Mutex::new(open.case));
    sync.block_on(sync.share_case(&case))?;
    let status = sync.block_on(sync.sync_and_wait(&case, Duration::from_secs(30)))?;
    let invite = sync.relay().create_invite(&id, a.role.into(), Some(a.expires_in_hours * 3600))?;
    sync.stop()?;
    output::emit(ctx, &serde_json::json!({"invite": invite, "saved_to_relay": status.saved_to_relay}), |_| {
        format!(
            "Case {} is on the relay. Invite code for a {:?} (single use, expires in {} h):\n  {}\nThey run: casebook invite accept {}",
            invite.case_id, invite.role, a.expires_in_hours, invite.code, invite.code
        )
    })
}

/// Run `casebook invite …`.
pub(crate) fn invite(ctx: &Ctx, cmd: InviteCmd) -> Result<()> {
    match cmd {
        InviteCmd::Create(a) => {
            let store = ctx.store()?;
            let id = ctx.case_id(&store)?;
            let invite =
                client(&account(&store)?)?.create_invite(&id, a.role.into(), Some(a.expires_in_hours * 3600))?;
            output::emit(ctx, &invite, |i| format!("Invite code ({:?}, single use): {}", i.role, i.code))
        }
        InviteCmd::Accept { code, relationship, timeout } => {
            let store = ctx.store()?;
            let acct = account(&store)?;
            let membership = client(&acct)?.redeem_invite(&code)?;
            let sync = start(&store, &acct)?;
            let case_id: casebook_core::CaseId = membership.case_id.parse()?;
            let case = sync.block_on(sync.join_case(&case_id, Duration::from_secs(timeout)))?;
            if store.me(&case_id)?.is_none() && membership.role != Role::Viewer {
                let me = {
                    let mut c = case.lock().map_err(|_| anyhow::anyhow!("the case is unusable"))?;
                    let me = c.add_caregiver(&acct.display_name, relationship.as_deref())?;
                    c.save()?;
                    me
                };
                store.set_me(&case_id, &me)?;
                sync.block_on(sync.sync_and_wait(&case, Duration::from_secs(timeout)))?;
            }
            sync.stop()?;
            let patient = case
                .lock()
                .map_err(|_| anyhow::anyhow!("the case is unusable"))?
                .patient()
                .display_name
                .unwrap_or_default();
            let patient = output::line(&patient);
            output::emit(ctx, &membership, |m| format!("Joined case {} ({patient}) as {:?}.", m.case_id, m.role))
        }
    }
}

/// Run `casebook members`.
pub(crate) fn members(ctx: &Ctx) -> Result<()> {
    let store = ctx.store()?;
    let id = ctx.case_id(&store)?;
    let members = client(&account(&store)?)?.list_members(&id)?;
    output::emit(ctx, &members, |ms| {
        let rows: Vec<Vec<String>> = ms
            .iter()
            .map(|m| vec![m.account_id.clone(), m.display_name.clone(), format!("{:?}", m.role).to_lowercase()])
            .collect();
        output::table(&["ACCOUNT", "NAME", "ROLE"], &rows)
    })
}

/// Run `casebook remove-member`.
pub(crate) fn remove_member(ctx: &Ctx, a: RemoveMemberArgs) -> Result<()> {
    let store = ctx.store()?;
    let id = ctx.case_id(&store)?;
    client(&account(&store)?)?.remove_member(&id, &a.account)?;
    output::saved(ctx, &format!("Removed {} from the case; their devices stop receiving it.", a.account))
}

#[derive(Serialize)]
struct SyncView {
    case: String,
    state: SyncState,
    saved_to_relay: bool,
    last_synced_at: Option<u64>,
}

fn describe(s: &CaseSyncStatus) -> String {
    let state = match s.state {
        SyncState::Offline => "offline",
        SyncState::Connecting => "connecting",
        SyncState::Syncing => "syncing",
        SyncState::UpToDate => "up to date",
    };
    let saved = if s.saved_to_relay { "all edits saved to the relay" } else { "some edits not yet on the relay" };
    format!("{state}; {saved}")
}

/// How long `casebook sync --watch` waits between rounds.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// One sync round: open the store, connect, sync the current case until up to date (or `timeout`),
/// disconnect and close the store, so that other `casebook` commands can use it between rounds. Returns
/// the case, its status, and whether edits from others were merged.
fn round(ctx: &Ctx, timeout: Duration) -> Result<(casebook_core::CaseId, CaseSyncStatus, bool)> {
    let open = ctx.open()?;
    let acct = account(&open.store)?;
    let sync = start(&open.store, &acct)?;
    let id = open.case.id().clone();
    let case = Arc::new(Mutex::new(open.case));
    let unusable = || anyhow::anyhow!("the case is unusable");
    // What this store had before the round (its own edits included, saved by the command that made them).
    let before = case.lock().map_err(|_| unusable())?.state()?;
    let result = sync.block_on(sync.sync_and_wait(&case, timeout));
    let merged = case.lock().map_err(|_| unusable())?.state()? != before;
    sync.stop()?;
    Ok((id, result?, merged))
}

/// Run `casebook sync`: returns when up to date, or fails with the reason. `--watch` keeps syncing in
/// rounds (every half second) without holding the store in between: every other command on the same store
/// works meanwhile, and what it writes is synced by the next round.
pub(crate) fn sync(ctx: &Ctx, a: SyncArgs) -> Result<()> {
    let timeout = Duration::from_secs(a.timeout);
    let (id, status, _) = round(ctx, timeout)?;
    let v = SyncView {
        case: id.to_string(),
        state: status.state,
        saved_to_relay: status.saved_to_relay,
        last_synced_at: status.last_synced_at,
    };
    output::emit(ctx, &v, |_| format!("Case {id}: {}.", describe(&status)))?;
    if !a.watch {
        return Ok(());
    }
    let mut last = describe(&status);
    loop {
        std::thread::sleep(WATCH_EVERY);
        match round(ctx, timeout) {
            Ok((id, status, merged)) => {
                if merged {
                    output::print(&format!("Case {id}: edits merged."))?;
                }
                let now = describe(&status);
                if now != last {
                    output::print(&format!("Case {id}: {now}."))?;
                    last = now;
                }
            }
            Err(e) => match e.downcast_ref::<SyncError>() {
                Some(SyncError::Unauthorized) => return Err(e.context("sync stopped")),
                _ => {
                    let now = format!("not synced ({e})");
                    if now != last {
                        output::print(&format!("Case: {now}; retrying."))?;
                        last = now;
                    }
                }
            },
        }
    }
}
