//! `casebook decision`: the date by which a treatment decision is agreed, and the days left.

use anyhow::Result;
use casebook_core::model::decision::{DEFAULT_WINDOW_DAYS, DecisionWindow};
use clap::Subcommand;

use crate::context::Ctx;
use crate::output;

/// Subcommands of `casebook decision`.
#[derive(Debug, Subcommand)]
pub(crate) enum DecisionCmd {
    /// Show the decision date and the days left.
    Show,
    /// Set the decision date agreed with the care team.
    Set {
        /// The date, YYYY-MM-DD.
        date: String,
    },
    /// Clear the agreed date (falls back to diagnosis + 28 days, shown as a default).
    Clear,
}

/// Run a `decision` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: DecisionCmd) -> Result<()> {
    match cmd {
        DecisionCmd::Show => {
            let open = ctx.open()?;
            let w = open.case.decision_window(ctx.today());
            output::emit(ctx, &w, |w| format!("Decision: {}", window_line(w)))
        }
        DecisionCmd::Set { date } => {
            ctx.edit(|o| Ok(o.case.set_decision_date(Some(&date))?))?;
            output::saved(ctx, "Decision date set.")
        }
        DecisionCmd::Clear => {
            ctx.edit(|o| Ok(o.case.set_decision_date(None)?))?;
            output::saved(ctx, "Decision date cleared.")
        }
    }
}

/// The decision window in words: `2024-02-07 (default: diagnosis + 28 days), 12 days left`.
pub(crate) fn window_line(w: &DecisionWindow) -> String {
    match w.date {
        None => "no date yet (set one with `casebook decision set YYYY-MM-DD`, or set the diagnosis date)".into(),
        Some(d) => {
            let label = if w.is_default {
                format!(" (default: diagnosis + {DEFAULT_WINDOW_DAYS} days; agree a date with the care team)")
            } else {
                String::new()
            };
            let left = w.days_left.map(|n| format!(", {}", output::days_left(n))).unwrap_or_default();
            format!("{}{label}{left}", output::date(Some(d)))
        }
    }
}
