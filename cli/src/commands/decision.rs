//! `casebook decision`: the date by which a treatment decision is agreed, the days left, and the decision
//! record: what the family decided, when, following which opinion, and who took part.

use anyhow::Result;
use casebook_core::dates::format_date;
use casebook_core::model::decision::{DEFAULT_WINDOW_DAYS, DecisionEntry, DecisionRecord, DecisionWindow, NewDecision};
use clap::Subcommand;
use serde::Serialize;

use crate::context::Ctx;
use crate::lookup::Names;
use crate::{input, lookup, output};

/// Subcommands of `casebook decision`.
#[derive(Debug, Subcommand)]
pub(crate) enum DecisionCmd {
    /// Show the decision date, the days left and the decision recorded, if any.
    Show,
    /// Set the decision date agreed with the care team.
    Set {
        /// The date, YYYY-MM-DD.
        date: String,
    },
    /// Clear the agreed date (falls back to diagnosis + 28 days, shown as a default).
    Clear,
    /// Record what the family decided (a new entry: earlier ones stay in the log).
    Record {
        /// What was decided (`-` reads it from standard input).
        text: String,
        /// When it was decided (YYYY-MM-DD; default: today).
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
        /// The opinion followed (id or unique prefix).
        #[arg(long)]
        opinion: Option<String>,
        /// Who took part: a caregiver's name or id (repeat the flag).
        #[arg(long = "with", value_name = "CAREGIVER")]
        with: Vec<String>,
    },
    /// Every decision recorded, oldest first, and the one that stands.
    Log,
}

/// `decision show`: the window, and the decision that stands with any recorded concurrently.
#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    window: DecisionWindow,
    /// The decision that stands.
    decided: Option<DecisionEntry>,
    /// Decisions recorded concurrently that say something else.
    concurrent: Vec<DecisionEntry>,
}

/// Run a `decision` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: DecisionCmd) -> Result<()> {
    match cmd {
        DecisionCmd::Show => {
            let open = ctx.open()?;
            let record = open.case.decision();
            let shown = Shown {
                window: open.case.decision_window(ctx.today()),
                decided: record.latest.clone(),
                concurrent: record.concurrent.clone(),
            };
            output::emit(ctx, &shown, |s| {
                let mut out = vec![format!("Decision date: {}", window_line(&s.window))];
                out.extend(decided_lines(&Names::of(&open.case), &record));
                out.join("\n")
            })
        }
        DecisionCmd::Set { date } => {
            output::edit(ctx, |o| Ok(o.case.set_decision_date(Some(&date))?))?;
            output::saved(ctx, "Decision date set.")
        }
        DecisionCmd::Clear => {
            output::edit(ctx, |o| Ok(o.case.set_decision_date(None)?))?;
            output::saved(ctx, "Decision date cleared.")
        }
        DecisionCmd::Record { text, date, opinion, with } => {
            let today = ctx.today();
            let date = date.unwrap_or_else(|| format_date(today));
            let text = input::text(text)?;
            let id = output::edit(ctx, |o| {
                let opinion = opinion.as_deref().map(|x| lookup::opinion(&o.case, x)).transpose()?;
                let participants =
                    with.iter().map(|p| lookup::caregiver(&o.case, p)).collect::<Result<Vec<String>>>()?;
                let recorded_by = ctx.author_opt(o)?;
                Ok(o.case.record_decision(
                    NewDecision {
                        text: &text,
                        date: &date,
                        opinion: opinion.as_deref(),
                        participants: participants.iter().map(String::as_str).collect(),
                        recorded_by: recorded_by.as_deref(),
                    },
                    today,
                )?)
            })?;
            output::added(ctx, "decision", &id)
        }
        DecisionCmd::Log => {
            let open = ctx.open()?;
            let record = open.case.decision();
            output::emit(ctx, &record, |r| {
                if r.entries.is_empty() {
                    return "No decision recorded yet: casebook decision record \"…\" --with CAREGIVER".into();
                }
                let names = Names::of(&open.case);
                let mut out: Vec<String> = r.entries.iter().map(|e| entry_line(&names, e)).collect();
                out.push(String::new());
                out.extend(decided_lines(&names, r));
                out.join("\n")
            })
        }
    }
}

/// One entry: `2024-03-02  Chemoradiation (following opinion 2; with Ana, Luis) — recorded 2024-03-02 by Ana`.
fn entry_line(names: &Names, e: &DecisionEntry) -> String {
    let mut extra = vec![];
    if let Some(o) = &e.opinion {
        extra.push(format!("following {}", names.opinion(o)));
    }
    if !e.participants.is_empty() {
        let mut with: Vec<String> = e.participants.iter().map(|p| names.caregiver(p)).collect();
        with.sort_by_key(|n| n.to_lowercase());
        extra.push(format!("with {}", with.join(", ")));
    }
    let extra = if extra.is_empty() { String::new() } else { format!(" ({})", extra.join("; ")) };
    let by = e.recorded_by.as_deref().map(|b| format!(" by {}", names.caregiver(b))).unwrap_or_default();
    format!("{}  {}{extra} — recorded {}{by}", format_date(e.date), output::line(&e.text), format_date(e.recorded_on))
}

/// The decision that stands, and those recorded concurrently with it.
fn decided_lines(names: &Names, r: &DecisionRecord) -> Vec<String> {
    let Some(latest) = &r.latest else {
        return vec!["Decided: nothing recorded yet (casebook decision record \"…\")".into()];
    };
    let mut out = vec![format!("Decided: {}", entry_line(names, latest))];
    if !r.concurrent.is_empty() {
        out.push("Also recorded separately (agree which stands, then record it again):".into());
        out.extend(r.concurrent.iter().map(|e| format!("  {}", entry_line(names, e))));
    }
    out
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
