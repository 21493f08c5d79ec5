//! `casebook task`: tasks shared among the care team.

use anyhow::Result;
use casebook_core::model::task::TaskChanges;
use clap::{ArgGroup, Args, Subcommand};

use crate::commands::records::set_or_clear;
use crate::commands::retracted;
use crate::context::{Ctx, Open};
use crate::lookup::Names;
use crate::{lookup, output};
use casebook_core::model::retraction::ItemKind;

/// Subcommands of `casebook task`.
#[derive(Debug, Subcommand)]
pub(crate) enum TaskCmd {
    /// Add a task.
    Add {
        /// What to do.
        title: String,
        /// Who does it (caregiver id, id prefix or name).
        #[arg(long)]
        assignee: Option<String>,
        /// Due date (YYYY-MM-DD).
        #[arg(long, value_name = "YYYY-MM-DD")]
        due: Option<String>,
    },
    /// Mark a task done (or with --undo, not done).
    Done {
        /// Task id (or unique prefix).
        id: String,
        /// Mark it not done.
        #[arg(long)]
        undo: bool,
    },
    /// Assign a task (or with --clear, unassign it).
    Assign {
        /// Task id (or unique prefix).
        id: String,
        /// The caregiver (id, id prefix or name).
        #[arg(required_unless_present = "clear")]
        caregiver: Option<String>,
        /// Unassign.
        #[arg(long, conflicts_with = "caregiver")]
        clear: bool,
    },
    /// Correct a task: give only the fields to change (a sibling's correction of another field is kept).
    /// Done or not is `task done`.
    Edit(EditArgs),
    /// List tasks: open ones first, by due date.
    List,
    /// Retract a task entered by mistake: nothing is deleted; it leaves the lists and stays, with who
    /// retracted it, when and why, in `casebook retracted`.
    #[command(visible_alias = "retract")]
    Remove {
        /// Task id (or unique prefix).
        id: String,
        /// Why (optional; `-` reads it from standard input).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Arguments of `task edit`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("changes").required(true).multiple(true)))]
pub(crate) struct EditArgs {
    /// Task id (or unique prefix).
    id: String,
    /// New title.
    #[arg(long, group = "changes")]
    title: Option<String>,
    /// Who does it (caregiver id, id prefix or name).
    #[arg(long, group = "changes", conflicts_with = "clear_assignee")]
    assignee: Option<String>,
    /// Unassign it.
    #[arg(long, group = "changes")]
    clear_assignee: bool,
    /// New due date (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD", group = "changes", conflicts_with = "clear_due")]
    due: Option<String>,
    /// Clear the due date.
    #[arg(long, group = "changes")]
    clear_due: bool,
}

fn task_id(o: &Open, input: &str) -> Result<String> {
    lookup::item("task", input, o.case.tasks().into_iter().map(|t| t.id).collect())
}

/// Run a `task` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: TaskCmd) -> Result<()> {
    match cmd {
        TaskCmd::Add { title, assignee, due } => {
            let id = output::edit(ctx, |o| {
                let assignee = assignee.as_deref().map(|a| lookup::caregiver(&o.case, a)).transpose()?;
                Ok(o.case.add_task(&title, assignee.as_deref(), due.as_deref())?)
            })?;
            output::added(ctx, "task", &id)
        }
        TaskCmd::Done { id, undo } => {
            output::edit(ctx, |o| {
                let id = task_id(o, &id)?;
                Ok(o.case.set_task_done(&id, !undo)?)
            })?;
            output::saved(ctx, if undo { "Task reopened." } else { "Task done." })
        }
        TaskCmd::Assign { id, caregiver, clear } => {
            output::edit(ctx, |o| {
                let id = task_id(o, &id)?;
                let who = if clear {
                    None
                } else {
                    caregiver.as_deref().map(|c| lookup::caregiver(&o.case, c)).transpose()?
                };
                Ok(o.case.assign_task(&id, who.as_deref())?)
            })?;
            output::saved(ctx, if clear { "Task unassigned." } else { "Task assigned." })
        }
        TaskCmd::Edit(a) => {
            let id = output::edit(ctx, |o| {
                let id = task_id(o, &a.id)?;
                let assignee = a.assignee.as_deref().map(|c| lookup::caregiver(&o.case, c)).transpose()?;
                let changes = TaskChanges {
                    title: a.title.as_deref(),
                    assignee: set_or_clear(assignee.as_deref(), a.clear_assignee),
                    due: set_or_clear(a.due.as_deref(), a.clear_due),
                };
                o.case.edit_task(&id, changes)?;
                Ok(id)
            })?;
            output::saved_id(ctx, &format!("Updated task {id}."), &id)
        }
        TaskCmd::List => {
            let open = ctx.open()?;
            let names = Names::of(&open.case);
            let today = ctx.today();
            output::emit(ctx, &open.case.tasks(), |tasks| {
                let rows: Vec<Vec<String>> = tasks
                    .iter()
                    .map(|t| {
                        let late = !t.done && t.due.is_some_and(|d| d < today);
                        vec![
                            if t.done { "[x]" } else { "[ ]" }.into(),
                            t.id.clone(),
                            format!("{}{}", output::date(t.due), if late { " (late)" } else { "" }),
                            t.assignee.as_deref().map_or_else(|| "—".into(), |a| names.caregiver(a)),
                            t.title.clone(),
                        ]
                    })
                    .collect();
                output::table_or(
                    "No tasks yet: casebook task add TITLE --assignee NAME --due YYYY-MM-DD",
                    &["", "ID", "DUE", "WHO", "TASK"],
                    &rows,
                )
            })
        }
        TaskCmd::Remove { id, reason } => retracted::retract(ctx, ItemKind::Task, reason, |c| {
            lookup::item("task", &id, c.tasks().into_iter().map(|t| t.id).collect())
        }),
    }
}
