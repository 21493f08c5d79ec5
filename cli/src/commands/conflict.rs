//! `casebook conflicts` and `casebook resolve`: fields two caregivers set differently at the same time keep
//! every value until someone picks one.

use anyhow::Result;
use clap::Args;

use crate::commands::history;
use crate::context::Ctx;
use crate::{failure, output};

/// Arguments of `casebook resolve`.
#[derive(Debug, Args)]
pub(crate) struct ResolveArgs {
    /// The field, as listed by `casebook conflicts` (e.g. patient/stage).
    path: String,
    /// Number of the value to keep, as listed by `casebook conflicts` (1 = first).
    choice: usize,
}

/// List the conflicting fields with their values, each with who set it and when.
pub(crate) fn list(ctx: &Ctx) -> Result<()> {
    let open = ctx.open()?;
    output::emit(ctx, &open.case.conflicts(), |list| {
        if list.is_empty() {
            return "No conflicts.".into();
        }
        let mut out = vec![format!("{} field(s) were set differently at the same time; pick a value:", list.len())];
        for c in list {
            out.push(String::new());
            out.push(output::line(&c.path));
            out.extend(c.values.iter().zip(&c.set_by).enumerate().map(|(i, (v, by))| {
                format!("  {}. {}  (by {}, {})", i + 1, output::line(v), history::who(by), history::when(ctx, by.at))
            }));
            out.push(format!("  → casebook resolve {} NUMBER", output::line(&c.path)));
        }
        out.join("\n")
    })
}

/// Keep one value of a conflicting field.
pub(crate) fn resolve(ctx: &Ctx, a: ResolveArgs) -> Result<()> {
    if a.choice == 0 {
        return Err(failure::invalid("values are numbered from 1"));
    }
    output::edit(ctx, |o| {
        // Check the number here so that the message counts from 1, as `casebook conflicts` does.
        if let Some(c) = o.case.conflicts().into_iter().find(|c| c.path == a.path)
            && a.choice > c.values.len()
        {
            return Err(failure::invalid(format!(
                "invalid choice: {} has {} values; pick a number from 1 to {}",
                a.path,
                c.values.len(),
                c.values.len()
            )));
        }
        Ok(o.case.resolve_conflict(&a.path, a.choice - 1)?)
    })?;
    output::saved(ctx, &format!("Kept value {} of {}.", a.choice, output::line(&a.path)))
}
