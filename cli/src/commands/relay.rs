//! Working with a relay: `account`, `case share`, `invite`, `members`, `remove-member`, `sync`.
//! The relay account (server, account, device token) is kept in the local store, never in a case.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use casebook_core::invite_link::InviteLink;
use casebook_core::relay_api::{LastSeen, Role};
use casebook_core::sync::{CaseSyncStatus, RelayClient, SyncClient, SyncError, SyncState};
use casebook_core::{RelayAccount, Store};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::context::Ctx;
use crate::failure::{self, Code};
use crate::{input, output};

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
    /// Get your account back on this device with its recovery code (the phone was lost): a new device
    /// of the account; every case comes back from the relay. Prints a new recovery code: the one typed
    /// stops working.
    Recover {
        /// The relay URL.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The recovery code shown when the account was created (`-`: read it from standard input, so it
        /// stays out of the shell's history).
        code: String,
        /// Revoke every other device of the account at once (a lost or stolen phone): its token is refused
        /// and its connection closed.
        #[arg(long)]
        revoke_other_devices: bool,
        /// Seconds to wait for each case to download.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Replace the account's recovery code with a new one (the old one stops working). Shown once.
    RecoveryCode,
    /// List this account's devices and when each last synced.
    Devices,
    /// Revoke one of this account's devices (a lost phone): its token is refused from now on and its
    /// connection closed within a second.
    Revoke {
        /// The device id (see `casebook account devices`).
        device: String,
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
    /// Do not print the invite as a QR code (the link and the code are printed either way).
    #[arg(long)]
    pub(crate) no_qr: bool,
}

/// `casebook invite …`.
#[derive(Debug, Subcommand)]
pub(crate) enum InviteCmd {
    /// Make another single-use invite code for the case (owner only).
    Create(ShareArgs),
    /// Join a case with an invite code or link: downloads it into this store and adds you to its care team.
    Accept {
        /// The code, or the link (`casebook://invite/…`; a store without an account then needs
        /// `casebook account create` on the link's relay first).
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
    /// When the last owner leaves: the member who becomes an owner in their place (account id).
    #[arg(long, value_name = "ACCOUNT")]
    successor: Option<String>,
}

/// Roles a member can be given by an owner.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum MemberRole {
    /// Invites, removes members, changes roles; reads and writes.
    Owner,
    /// Reads and writes.
    Editor,
    /// Reads only.
    Viewer,
}

impl From<MemberRole> for Role {
    fn from(r: MemberRole) -> Role {
        match r {
            MemberRole::Owner => Role::Owner,
            MemberRole::Editor => Role::Editor,
            MemberRole::Viewer => Role::Viewer,
        }
    }
}

/// `casebook set-role`.
#[derive(Debug, Args)]
pub(crate) struct SetRoleArgs {
    /// Account id of the member (see `casebook members`); your own to step down as an owner.
    account: String,
    /// The new role: `owner` makes a co-owner.
    #[arg(value_enum)]
    role: MemberRole,
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

pub(crate) fn account(store: &Store) -> Result<RelayAccount> {
    store
        .relay_account()?
        .context("this store has no relay account: run `casebook account create --server URL --name NAME`")
}

pub(crate) fn client(account: &RelayAccount) -> Result<RelayClient> {
    Ok(RelayClient::with_token(&account.server, &account.credentials.token)?)
}

fn start(store: &Store, account: &RelayAccount) -> Result<SyncClient> {
    // The CLI moves attachment blobs with explicit, reported steps (`sync`), not in the background.
    let options = casebook_core::sync::SyncOptions { move_attachments: false, ..Default::default() };
    Ok(SyncClient::start_with(store, &account.server, account.credentials.clone(), options)?)
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
            let mut credentials = RelayClient::new(&server)?.create_account(&name, Some("casebook cli"))?;
            let recovery_code = credentials.recovery_code.take();
            let a = RelayAccount { server, display_name: name, credentials };
            store.set_relay_account(&a)?;
            let v = RecoveryView { account: view(&a), recovery_code: recovery_code.as_deref(), cases: Vec::new() };
            output::emit(ctx, &v, |v| {
                format!(
                    "Created account {} on {} for this device ({}). Its token is kept in this store only.\n{}",
                    v.account.account_id,
                    v.account.server,
                    v.account.device_id,
                    write_it_down(v.recovery_code)
                )
            })
        }
        AccountCmd::Recover { server, code, revoke_other_devices, timeout } => {
            let code = input::text(code)?;
            let store = ctx.store_or_create()?;
            if store.relay_account()?.is_some() {
                return Err(failure::refuse(
                    Code::Conflict,
                    "this store already has a relay account (see `casebook account show`); recover into a new store",
                ));
            }
            let mut credentials =
                RelayClient::new(&server)?.recover_account(&code, Some("casebook cli"), revoke_other_devices)?;
            let recovery_code = credentials.recovery_code.take();
            let me = RelayClient::with_token(&server, &credentials.token)?.me()?;
            let a = RelayAccount { server, display_name: me.display_name, credentials };
            store.set_relay_account(&a)?;
            let cases = bring_back_cases(&store, &a, Duration::from_secs(timeout))?;
            let v = RecoveryView { account: view(&a), recovery_code: recovery_code.as_deref(), cases };
            output::emit(ctx, &v, |v| {
                let revoked = if revoke_other_devices { " Every other device of the account is revoked." } else { "" };
                format!(
                    "Recovered account {} on this device ({}).{revoked} {} case(s) restored from the relay.\n{}",
                    v.account.account_id,
                    v.account.device_id,
                    v.cases.len(),
                    write_it_down(v.recovery_code)
                )
            })
        }
        AccountCmd::RecoveryCode => {
            let store = ctx.store()?;
            let code = client(&account(&store)?)?.rotate_recovery_code()?;
            output::emit(ctx, &serde_json::json!({ "recovery_code": code }), |_| {
                format!("The old recovery code no longer works.\n{}", write_it_down(Some(&code)))
            })
        }
        AccountCmd::Devices => {
            let store = ctx.store()?;
            let devices = client(&account(&store)?)?.list_devices()?;
            let now = unix_now();
            output::emit(ctx, &devices, |ds| {
                let rows: Vec<Vec<String>> = ds
                    .iter()
                    .map(|d| {
                        let name = output::line(d.name.as_deref().unwrap_or("(unnamed)"));
                        vec![
                            d.device_id.clone(),
                            if d.this_device { format!("{name} (this device)") } else { name },
                            d.last_seen_at.map(|t| ago(now, t)).unwrap_or_else(|| "never".into()),
                        ]
                    })
                    .collect();
                output::table(&["DEVICE", "NAME", "LAST SYNCED"], &rows)
            })
        }
        AccountCmd::Revoke { device } => {
            let store = ctx.store()?;
            client(&account(&store)?)?.revoke_device(&device)?;
            output::saved(ctx, &format!("Revoked device {device}: its token is refused and its connection closed."))
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

#[derive(Serialize)]
struct RecoveryView<'a> {
    #[serde(flatten)]
    account: AccountView<'a>,
    /// Shown once; never kept on this device.
    recovery_code: Option<&'a str>,
    /// Cases brought back from the relay (recovery).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cases: Vec<String>,
}

/// How a recovery code is shown to a person: once, with what it is for.
fn write_it_down(code: Option<&str>) -> String {
    match code {
        Some(code) => format!(
            "Recovery code (write this down and keep it somewhere safe; it is shown only this once):\n  {code}\n\
             If every device of this account is lost: casebook account recover --server URL -"
        ),
        None => "This relay gave no recovery code.".into(),
    }
}

/// After a recovery: download every case of the account into the store and make this store write as the
/// account's caregiver in each (the caregiver linked to the account, if any). Returns the case ids.
fn bring_back_cases(store: &Store, a: &RelayAccount, timeout: Duration) -> Result<Vec<String>> {
    let memberships = client(a)?.list_cases()?;
    if memberships.is_empty() {
        return Ok(Vec::new());
    }
    let sync = start(store, a)?;
    let mut ids = Vec::new();
    for m in memberships {
        let case_id: casebook_core::CaseId = m.case_id.parse()?;
        let case = sync.block_on(sync.join_case(&case_id, timeout))?;
        let me = case
            .lock()
            .map_err(|_| anyhow::anyhow!("the case is unusable"))?
            .caregiver_of_account(&a.credentials.account_id);
        if let Some(me) = me {
            store.set_me(&case_id, &me)?;
        }
        ids.push(m.case_id);
    }
    sync.stop()?;
    Ok(ids)
}

/// Bind this store's caregiver in the case to its relay account (once; see
/// [`casebook_core::Case::link_caregiver_account`]), so that a recovered or linked device of the account
/// writes as the same caregiver.
fn link_me(store: &Store, case: &mut casebook_core::Case, a: &RelayAccount) -> Result<()> {
    if let Some(me) = store.me(case.id())?
        && case.caregiver(&me).is_some()
        && case.caregiver_of_account(&a.credentials.account_id).is_none()
    {
        case.link_caregiver_account(&me, &a.credentials.account_id)?;
        case.save()?;
    }
    Ok(())
}

/// Unix seconds now.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `then` as people say it: `just now`, `5 min ago`, `3 h ago`, `2 days ago`.
fn ago(now: u64, then: u64) -> String {
    let secs = now.saturating_sub(then);
    match secs {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => match secs / 86_400 {
            1 => "1 day ago".into(),
            d => format!("{d} days ago"),
        },
    }
}

/// Run `casebook case share`: register the case on the relay, upload it, and print an invite code.
pub(crate) fn share(ctx: &Ctx, a: ShareArgs) -> Result<()> {
    let open = ctx.open()?;
    let acct = account(&open.store)?;
    let sync = start(&open.store, &acct)?;
    let id = open.case.id().clone();
    let mut case = open.case;
    link_me(&open.store, &mut case, &acct)?;
    let case = Arc::new(Mutex::new(case));
    sync.block_on(sync.share_case(&case))?;
    let status = sync.block_on(sync.sync_and_wait(&case, Duration::from_secs(30)))?;
    let invite = sync.relay().create_invite(&id, a.role.into(), Some(a.expires_in_hours * 3600))?;
    sync.stop()?;
    let link = InviteLink::new(&acct.server, &invite.code).to_string();
    let v = serde_json::json!({"invite": invite, "link": link, "saved_to_relay": status.saved_to_relay});
    output::emit(ctx, &v, |_| {
        format!(
            "Case {} is on the relay. Invite for a {:?} (single use, expires in {} h):\n{}",
            invite.case_id,
            invite.role,
            a.expires_in_hours,
            show_invite(&invite.code, &link, !a.no_qr)
        )
    })
}

/// An invite for people: the code, the link a phone opens, and (`qr`) the link as a QR code to scan.
fn show_invite(code: &str, link: &str, qr: bool) -> String {
    let mut out = format!("  code: {code}\n  link: {link}\n");
    if qr {
        match qrcode::QrCode::new(link.as_bytes()) {
            Ok(q) => {
                let image = q
                    .render::<qrcode::render::unicode::Dense1x2>()
                    .dark_color(qrcode::render::unicode::Dense1x2::Light)
                    .light_color(qrcode::render::unicode::Dense1x2::Dark)
                    .build();
                out.push_str("Scan with the other phone's camera:\n");
                out.push_str(&image);
                out.push('\n');
            }
            Err(e) => out.push_str(&format!("(no QR code: {e})\n")),
        }
    }
    out.push_str(&format!("On a computer: casebook invite accept {code}"));
    out
}

/// Run `casebook invite …`.
pub(crate) fn invite(ctx: &Ctx, cmd: InviteCmd) -> Result<()> {
    match cmd {
        InviteCmd::Create(a) => {
            let store = ctx.store()?;
            let id = ctx.case_id(&store)?;
            let acct = account(&store)?;
            let invite = client(&acct)?.create_invite(&id, a.role.into(), Some(a.expires_in_hours * 3600))?;
            let link = InviteLink::new(&acct.server, &invite.code).to_string();
            let v = serde_json::json!({"invite": invite, "link": link});
            output::emit(ctx, &v, |_| {
                format!(
                    "Invite for a {:?} (single use, expires in {} h):\n{}",
                    invite.role,
                    a.expires_in_hours,
                    show_invite(&invite.code, &link, !a.no_qr)
                )
            })
        }
        InviteCmd::Accept { code, relationship, timeout } => {
            let store = ctx.store()?;
            let acct = account(&store)?;
            let code = if InviteLink::looks_like_link(&code) {
                let link = InviteLink::parse(&code).map_err(|e| failure::invalid(e.to_string()))?;
                if link.relay_url.trim_end_matches('/') != acct.server.trim_end_matches('/') {
                    return Err(failure::refuse(
                        Code::Conflict,
                        format!(
                            "this invite is for the relay {}, and this store's account is on {}",
                            link.relay_url, acct.server
                        ),
                    ));
                }
                link.code
            } else {
                code
            };
            let membership = client(&acct)?.redeem_invite(&code)?;
            let sync = start(&store, &acct)?;
            let case_id: casebook_core::CaseId = membership.case_id.parse()?;
            let case = sync.block_on(sync.join_case(&case_id, Duration::from_secs(timeout)))?;
            if store.me(&case_id)?.is_none() && membership.role != Role::Viewer {
                let me = {
                    let mut c = case.lock().map_err(|_| anyhow::anyhow!("the case is unusable"))?;
                    let me = c.add_caregiver(&acct.display_name, relationship.as_deref())?;
                    c.link_caregiver_account(&me, &acct.credentials.account_id)?;
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
    let relay = client(&account(&store)?)?;
    let members = relay.list_members(&id)?;
    let seen = relay.last_seen(&id)?;
    let now = unix_now();
    #[derive(Serialize)]
    struct MemberView<'a> {
        #[serde(flatten)]
        member: &'a casebook_core::relay_api::Member,
        /// When one of the member's devices last synced the case (Unix seconds).
        last_synced_at: Option<u64>,
    }
    let views: Vec<MemberView<'_>> = members
        .iter()
        .map(|m| MemberView {
            member: m,
            last_synced_at: seen.iter().filter(|s| s.account_id == m.account_id).map(|s| s.synced_at).max(),
        })
        .collect();
    output::emit(ctx, &views, |ms| {
        let rows: Vec<Vec<String>> = ms
            .iter()
            .map(|v| {
                vec![
                    v.member.account_id.clone(),
                    output::line(&v.member.display_name),
                    format!("{:?}", v.member.role).to_lowercase(),
                    v.last_synced_at.map(|t| ago(now, t)).unwrap_or_else(|| "never".into()),
                ]
            })
            .collect();
        output::table(&["ACCOUNT", "NAME", "ROLE", "LAST SYNCED"], &rows)
    })
}

/// Run `casebook set-role`: an owner makes a member a co-owner, editor or viewer, or steps down.
pub(crate) fn set_role(ctx: &Ctx, a: SetRoleArgs) -> Result<()> {
    let store = ctx.store()?;
    let id = ctx.case_id(&store)?;
    let m = client(&account(&store)?)?.change_role(&id, &a.account, a.role.into())?;
    let role = format!("{:?}", m.role).to_lowercase();
    output::emit(ctx, &m, |m| {
        format!("{} ({}) is now {role} of the case.", output::line(&m.display_name), m.account_id)
    })
}

/// Run `casebook remove-member`.
pub(crate) fn remove_member(ctx: &Ctx, a: RemoveMemberArgs) -> Result<()> {
    let store = ctx.store()?;
    let id = ctx.case_id(&store)?;
    let acct = account(&store)?;
    let relay = client(&acct)?;
    match &a.successor {
        Some(successor) if a.account == acct.credentials.account_id => relay.leave_case_naming(&id, successor)?,
        Some(_) => {
            return Err(failure::usage(
                "--successor is for leaving a case (your own account id); to make someone an owner: casebook set-role ACCOUNT owner",
            ));
        }
        None => relay.remove_member(&id, &a.account)?,
    }
    output::saved(ctx, &format!("Removed {} from the case; their devices stop receiving it.", a.account))
}

#[derive(Serialize)]
struct SyncView {
    case: String,
    state: SyncState,
    saved_to_relay: bool,
    last_synced_at: Option<u64>,
    /// When the other members' devices last synced the case.
    others: Vec<LastSeen>,
}

/// The other devices' last syncs of the case (this device left out), most recent first.
fn others_seen(ctx: &Ctx, id: &casebook_core::CaseId) -> Result<Vec<LastSeen>> {
    let store = ctx.store()?;
    let acct = account(&store)?;
    let mut seen = client(&acct)?.last_seen(id)?;
    seen.retain(|s| s.device_id != acct.credentials.device_id);
    seen.sort_by_key(|s| std::cmp::Reverse(s.synced_at));
    Ok(seen)
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
    let mut case = open.case;
    link_me(&open.store, &mut case, &acct)?;
    let case = Arc::new(Mutex::new(case));
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
    // Attachments: upload the blobs the relay lacks, download those kept offline (progress on stderr).
    let (up, down) = crate::commands::attachment::transfer(&ctx.store()?, &id)?;
    if up + down > 0 && !ctx.json() {
        output::eprint_line(&format!("Attachments: {up} uploaded, {down} downloaded."));
    }
    let others = others_seen(ctx, &id).unwrap_or_default();
    let v = SyncView {
        case: id.to_string(),
        state: status.state,
        saved_to_relay: status.saved_to_relay,
        last_synced_at: status.last_synced_at,
        others,
    };
    let now = unix_now();
    output::emit(ctx, &v, |v| {
        let mut out = format!("Case {id}: {}.", describe(&status));
        for o in &v.others {
            let device = o.device_name.as_deref().map(|d| format!(" ({})", output::line(d))).unwrap_or_default();
            out.push_str(&format!("\n  {}{device} synced {}", output::line(&o.display_name), ago(now, o.synced_at)));
        }
        out
    })?;
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
