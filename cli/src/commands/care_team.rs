//! `casebook caregiver` and `casebook me`: the care team, and who uses this device.

use anyhow::Result;
use casebook_core::model::team::{Caregiver, CaregiverChanges};
use clap::{ArgGroup, Args, Subcommand};
use serde::Serialize;

use crate::commands::records::set_or_clear;
use crate::context::Ctx;
use crate::{lookup, output};

/// Subcommands of `casebook caregiver`.
#[derive(Debug, Subcommand)]
pub(crate) enum CaregiverCmd {
    /// Add a caregiver to the case.
    Add {
        /// Name.
        name: String,
        /// Relationship to the patient (e.g. son).
        #[arg(long)]
        relationship: Option<String>,
    },
    /// Correct a caregiver's name or relationship (their notes, answers and tasks stay theirs).
    Edit(EditArgs),
    /// List the care team (`*` marks you).
    List,
}

/// Arguments of `caregiver edit`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("changes").required(true).multiple(true)))]
pub(crate) struct EditArgs {
    /// The caregiver (id, id prefix or name).
    caregiver: String,
    /// New name.
    #[arg(long, group = "changes")]
    name: Option<String>,
    /// New relationship to the patient.
    #[arg(long, group = "changes", conflicts_with = "clear_relationship")]
    relationship: Option<String>,
    /// Clear the relationship.
    #[arg(long, group = "changes")]
    clear_relationship: bool,
}

/// Subcommands of `casebook me`.
#[derive(Debug, Subcommand)]
pub(crate) enum MeCmd {
    /// Say which caregiver you are on this device (id, id prefix or name; kept on this device only).
    Set {
        /// The caregiver.
        caregiver: String,
    },
    /// Show which caregiver you are on this device.
    Show,
}

/// Run a `caregiver` subcommand.
pub(crate) fn run_caregivers(ctx: &Ctx, cmd: CaregiverCmd) -> Result<()> {
    match cmd {
        CaregiverCmd::Add { name, relationship } => {
            let id = output::edit(ctx, |o| Ok(o.case.add_caregiver(&name, relationship.as_deref())?))?;
            output::added(ctx, "caregiver", &id)
        }
        CaregiverCmd::Edit(a) => {
            let id = output::edit(ctx, |o| {
                let id = lookup::caregiver(&o.case, &a.caregiver)?;
                let changes = CaregiverChanges {
                    name: a.name.as_deref(),
                    relationship: set_or_clear(a.relationship.as_deref(), a.clear_relationship),
                };
                o.case.edit_caregiver(&id, changes)?;
                Ok(id)
            })?;
            output::saved_id(ctx, &format!("Updated caregiver {id}."), &id)
        }
        CaregiverCmd::List => {
            let open = ctx.open()?;
            let me = open.store.me(open.case.id())?;
            output::emit(ctx, &open.case.care_team(), |team| {
                let rows: Vec<Vec<String>> = team
                    .iter()
                    .map(|c| {
                        let mark = if me.as_deref() == Some(c.id.as_str()) { "*" } else { "" };
                        vec![mark.into(), c.id.clone(), c.name.clone(), output::opt(c.relationship.as_deref())]
                    })
                    .collect();
                output::table_or("No caregivers yet.", &["", "ID", "NAME", "RELATIONSHIP"], &rows)
            })
        }
    }
}

#[derive(Serialize)]
struct Me {
    me: Option<Caregiver>,
}

/// Run a `me` subcommand.
pub(crate) fn run_me(ctx: &Ctx, cmd: MeCmd) -> Result<()> {
    let open = ctx.open()?;
    match cmd {
        MeCmd::Set { caregiver } => {
            let id = lookup::caregiver(&open.case, &caregiver)?;
            open.store.set_me(open.case.id(), &id)?;
            let name = open.case.caregiver(&id).map(|c| output::line(&c.name)).unwrap_or_default();
            output::saved(ctx, &format!("You are {name} ({id}) on this device."))
        }
        MeCmd::Show => {
            let me = open.store.me(open.case.id())?.and_then(|id| open.case.caregiver(&id));
            output::emit(ctx, &Me { me }, |m| match &m.me {
                Some(c) => format!("You are {} ({}) on this device.", output::line(&c.name), c.id),
                None => "No caregiver is set for this device: casebook me set CAREGIVER".into(),
            })
        }
    }
}
