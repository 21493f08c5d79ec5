//! `casebook opinion`: what each doctor concluded, and where the opinions differ.

use anyhow::Result;
use casebook_core::model::opinion::{Aspect, AspectComparison, Comparison, NewOpinion};
use casebook_core::model::text::TextField;
use clap::{Args, Subcommand};

use crate::commands::retracted;
use crate::commands::text::replace_text;
use crate::context::Ctx;
use crate::lookup::Names;
use crate::{input, lookup, output};
use casebook_core::model::retraction::ItemKind;

/// Fields of an opinion that can be set after it is recorded.
const FIELDS: [&str; 4] = ["diagnosis", "stage", "treatment", "trials"];

/// Subcommands of `casebook opinion`.
#[derive(Debug, Subcommand)]
pub(crate) enum OpinionCmd {
    /// Record a doctor's opinion.
    Add(AddArgs),
    /// Set diagnosis, stage, treatment (shared text) or trials.
    Set {
        /// Opinion id (or unique prefix).
        id: String,
        /// The field.
        #[arg(value_parser = FIELDS)]
        field: String,
        /// The new value (`-` reads it from standard input).
        value: String,
    },
    /// Clear diagnosis, stage, treatment or trials.
    Clear {
        /// Opinion id (or unique prefix).
        id: String,
        /// The field.
        #[arg(value_parser = FIELDS)]
        field: String,
    },
    /// List the opinions by rank.
    List,
    /// Where the opinions differ, and whether a third opinion is suggested.
    Compare,
    /// Retract an opinion entered by mistake: nothing is deleted; it leaves the lists and stays, with who
    /// retracted it, when and why, in `casebook retracted`.
    #[command(visible_alias = "retract")]
    Remove {
        /// Opinion id (or unique prefix).
        id: String,
        /// Why (optional; `-` reads it from standard input).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Arguments of `opinion add`.
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// 1 for the first opinion, 2 for the second, …
    #[arg(long)]
    rank: u64,
    /// Specialist id (or unique prefix).
    #[arg(long)]
    specialist: Option<String>,
    /// Date given (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<String>,
    /// Diagnosis as stated (`-` reads it from standard input).
    #[arg(long)]
    diagnosis: Option<String>,
    /// Stage as stated.
    #[arg(long)]
    stage: Option<String>,
    /// Recommended treatment (`-` reads it from standard input).
    #[arg(long)]
    treatment: Option<String>,
    /// Clinical trials mentioned (`-` reads them from standard input).
    #[arg(long)]
    trials: Option<String>,
}

/// Run an `opinion` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: OpinionCmd) -> Result<()> {
    match cmd {
        OpinionCmd::Add(a) => {
            let (diagnosis, stage) = (input::opt_text(a.diagnosis)?, a.stage);
            let (treatment, trials) = (input::opt_text(a.treatment)?, input::opt_text(a.trials)?);
            let id = output::edit(ctx, |o| {
                let specialist = a.specialist.as_deref().map(|s| lookup::specialist(&o.case, s)).transpose()?;
                Ok(o.case.add_opinion(NewOpinion {
                    rank: a.rank,
                    specialist: specialist.as_deref(),
                    date: a.date.as_deref(),
                    diagnosis: diagnosis.as_deref(),
                    stage: stage.as_deref(),
                    treatment: treatment.as_deref(),
                    trials: trials.as_deref(),
                })?)
            })?;
            output::added(ctx, "opinion", &id)
        }
        OpinionCmd::Set { id, field, value } => {
            let value = input::text(value)?;
            set(ctx, &id, &field, Some(&value))?;
            output::saved(ctx, &format!("Opinion {field} set."))
        }
        OpinionCmd::Clear { id, field } => {
            set(ctx, &id, &field, None)?;
            output::saved(ctx, &format!("Opinion {field} cleared."))
        }
        OpinionCmd::List => {
            let open = ctx.open()?;
            let names = Names::of(&open.case);
            output::emit(ctx, &open.case.opinions(), |list| {
                if list.is_empty() {
                    return "No opinions recorded yet: casebook opinion add --rank 1 --diagnosis … --treatment …"
                        .into();
                }
                list.iter()
                    .map(|o| {
                        let by =
                            o.specialist.as_ref().map(|s| format!(" — {}", names.specialist(s))).unwrap_or_default();
                        [
                            format!("{}  Opinion {}{by} ({})", o.id, o.rank, output::date(o.date)),
                            format!("  Diagnosis: {}", output::opt(o.diagnosis.as_deref())),
                            format!("  Stage: {}", output::opt(o.stage.as_deref())),
                            format!("  Treatment: {}", output::opt(Some(&o.treatment))),
                            format!("  Trials: {}", output::opt(o.trials.as_deref())),
                        ]
                        .join("\n")
                    })
                    .collect::<Vec<_>>()
                    .join("\n\n")
            })
        }
        OpinionCmd::Compare => {
            let open = ctx.open()?;
            output::emit(ctx, &open.case.compare_opinions(), human_comparison)
        }
        OpinionCmd::Remove { id, reason } => {
            retracted::retract(ctx, ItemKind::Opinion, reason, |c| lookup::opinion(c, &id))
        }
    }
}

fn set(ctx: &Ctx, id: &str, field: &str, value: Option<&str>) -> Result<()> {
    output::edit(ctx, |o| {
        let id = lookup::opinion(&o.case, id)?;
        if field == "treatment" {
            replace_text(&mut o.case, &TextField::OpinionTreatment(id), value.unwrap_or(""))
        } else {
            Ok(o.case.set_opinion(&id, field, value)?)
        }
    })
}

fn aspect_name(a: Aspect) -> &'static str {
    match a {
        Aspect::Diagnosis => "Diagnosis",
        Aspect::Stage => "Stage",
        Aspect::Treatment => "Treatment",
    }
}

/// One aspect's lines: the heading, each opinion's value as written (and as read when that differs), the
/// notes.
fn aspect_lines(c: &AspectComparison, heading: String) -> Vec<String> {
    let mut out = vec![heading];
    for v in &c.values {
        // The reading is shown for stages, where notation is interpreted; diagnosis and treatment are only
        // compared without case, punctuation and connector words.
        let reads = if c.aspect != Aspect::Stage || v.reads_as.is_empty() || v.reads_as == v.value {
            String::new()
        } else {
            format!("  [{}]", output::line(&v.reads_as))
        };
        out.push(format!("  opinion {}: {}{reads}", v.rank, output::line(&v.value)));
    }
    out.extend(c.notes.iter().map(|n| format!("  note: {}", output::line(n))));
    out
}

fn human_comparison(c: &Comparison) -> String {
    if c.opinions < 2 {
        return format!("{} opinion recorded: record at least two to compare them.", c.opinions);
    }
    let mut out = vec![format!("{} opinions compared.", c.opinions)];
    if c.differences.is_empty() && c.unclear.is_empty() && !c.agreements.is_empty() {
        let agreed: Vec<&str> = c.agreements.iter().map(|a| aspect_name(a.aspect)).collect();
        out.push(format!("They agree on: {}.", agreed.join(", ").to_lowercase()));
    }
    for d in &c.differences {
        let parts = if d.components.is_empty() { String::new() } else { format!(" ({})", d.components.join(", ")) };
        out.extend(aspect_lines(d, format!("{} differs{parts}:", aspect_name(d.aspect))));
    }
    for d in &c.unclear {
        out.extend(aspect_lines(
            d,
            format!("{} is written differently; ask the doctors whether they mean the same:", aspect_name(d.aspect)),
        ));
    }
    if !c.differences.is_empty() || !c.unclear.is_empty() {
        for a in &c.agreements {
            out.extend(aspect_lines(a, format!("{} agrees:", aspect_name(a.aspect))));
        }
    } else {
        for a in c.agreements.iter().filter(|a| !a.notes.is_empty()) {
            out.extend(a.notes.iter().map(|n| format!("{}: note: {}", aspect_name(a.aspect), output::line(n))));
        }
    }
    if c.suggest_third_opinion {
        out.push("The opinions differ: the guide suggests considering a third opinion.".into());
    }
    out.join("\n")
}
