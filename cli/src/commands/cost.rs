//! `casebook cost`: costs of seeking opinions, with totals per category.

use anyhow::Result;
use casebook_core::model::cost::{Cost, CostCategory, CostChanges, CostTotals, parse_amount};
use clap::{ArgGroup, Args, Subcommand};
use serde::Serialize;

use crate::commands::records::set_or_clear;
use crate::commands::retracted;
use crate::context::Ctx;
use crate::keyed::keyed;
use crate::{input, lookup, output};
use casebook_core::model::retraction::ItemKind;

/// Subcommands of `casebook cost`.
#[derive(Debug, Subcommand)]
pub(crate) enum CostCmd {
    /// Record a cost.
    Add {
        /// What it is for.
        #[arg(value_parser = keyed::<CostCategory>())]
        category: CostCategory,
        /// Amount, e.g. 120 or 120.50.
        amount: String,
        /// Date (YYYY-MM-DD).
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
        /// Description (`-` reads it from standard input).
        #[arg(long)]
        description: Option<String>,
    },
    /// Correct a cost: give only the fields to change (a sibling's correction of another field is kept).
    Edit(EditArgs),
    /// List costs with totals per category.
    List,
    /// Retract a cost entered by mistake: nothing is deleted; it leaves the lists and stays, with who
    /// retracted it, when and why, in `casebook retracted`.
    #[command(visible_alias = "retract")]
    Remove {
        /// Cost id (or unique prefix).
        id: String,
        /// Why (optional; `-` reads it from standard input).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Arguments of `cost edit`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("changes").required(true).multiple(true)))]
pub(crate) struct EditArgs {
    /// Cost id (or unique prefix).
    id: String,
    /// New category.
    #[arg(long, group = "changes", value_parser = keyed::<CostCategory>())]
    category: Option<CostCategory>,
    /// New amount, e.g. 120 or 120.50.
    #[arg(long, group = "changes")]
    amount: Option<String>,
    /// New date (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD", group = "changes", conflicts_with = "clear_date")]
    date: Option<String>,
    /// Clear the date.
    #[arg(long, group = "changes")]
    clear_date: bool,
    /// New description (`-` reads it from standard input).
    #[arg(long, group = "changes", conflicts_with = "clear_description")]
    description: Option<String>,
    /// Clear the description.
    #[arg(long, group = "changes")]
    clear_description: bool,
}

#[derive(Serialize)]
struct Listed {
    costs: Vec<Cost>,
    totals: CostTotals,
}

/// Run a `cost` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: CostCmd) -> Result<()> {
    match cmd {
        CostCmd::Add { category, amount, date, description } => {
            let cents = parse_amount(&amount)?;
            let description = input::opt_text(description)?;
            let id = output::edit(ctx, |o| {
                Ok(o.case.add_cost(category, cents, date.as_deref(), description.as_deref())?)
            })?;
            output::added(ctx, "cost", &id)
        }
        CostCmd::Edit(a) => {
            let amount_cents = a.amount.as_deref().map(parse_amount).transpose()?;
            let description = input::opt_text(a.description)?;
            let id = output::edit(ctx, |o| {
                let id = lookup::item("cost", &a.id, o.case.costs().into_iter().map(|c| c.id).collect())?;
                let changes = CostChanges {
                    category: a.category,
                    amount_cents,
                    date: set_or_clear(a.date.as_deref(), a.clear_date),
                    description: set_or_clear(description.as_deref(), a.clear_description),
                };
                o.case.edit_cost(&id, changes)?;
                Ok(id)
            })?;
            output::saved_id(ctx, &format!("Updated cost {id}."), &id)
        }
        CostCmd::List => {
            let open = ctx.open()?;
            let listed = Listed { costs: open.case.costs(), totals: open.case.cost_totals() };
            output::emit(ctx, &listed, |l| {
                if l.costs.is_empty() {
                    return "No costs recorded yet: casebook cost add travel 120.50 --description …".into();
                }
                let rows: Vec<Vec<String>> = l
                    .costs
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.clone(),
                            output::date(c.date),
                            c.category.to_string(),
                            output::money(c.amount_cents),
                            output::opt(c.description.as_deref()),
                        ]
                    })
                    .collect();
                let mut out =
                    vec![output::table(&["ID", "DATE", "CATEGORY", "AMOUNT", "DESCRIPTION"], &rows), String::new()];
                out.push("Totals:".into());
                out.extend(l.totals.by_category.iter().map(|(c, t)| format!("  {c}: {}", output::money(*t))));
                out.push(format!("  total: {}", output::money(l.totals.total_cents)));
                out.join("\n")
            })
        }
        CostCmd::Remove { id, reason } => retracted::retract(ctx, ItemKind::Cost, reason, |c| {
            lookup::item("cost", &id, c.costs().into_iter().map(|c| c.id).collect())
        }),
    }
}
