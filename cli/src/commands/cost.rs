//! `casebook cost`: costs of seeking opinions, with totals per category.

use anyhow::Result;
use casebook_core::model::cost::{Cost, CostCategory, CostTotals, parse_amount};
use clap::Subcommand;
use serde::Serialize;

use crate::context::Ctx;
use crate::keyed::keyed;
use crate::{lookup, output};

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
        /// Description.
        #[arg(long)]
        description: Option<String>,
    },
    /// List costs with totals per category.
    List,
    /// Remove a cost.
    Remove {
        /// Cost id (or unique prefix).
        id: String,
    },
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
            let id = ctx.edit(|o| Ok(o.case.add_cost(category, cents, date.as_deref(), description.as_deref())?))?;
            output::added(ctx, "cost", &id)
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
                            output::opt(c.description.as_deref()).into(),
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
        CostCmd::Remove { id } => {
            ctx.edit(|o| {
                let id = lookup::item("cost", &id, o.case.costs().into_iter().map(|c| c.id).collect())?;
                Ok(o.case.remove_cost(&id)?)
            })?;
            output::saved(ctx, "Cost removed.")
        }
    }
}
