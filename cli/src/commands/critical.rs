//! `casebook flag` and `casebook flags`: critical situations and the verdict.

use anyhow::Result;
use casebook_core::model::critical::{Flag, Situation, Suggestion, Verdict};
use clap::Subcommand;
use serde::Serialize;

use crate::context::Ctx;
use crate::keyed::keyed;
use crate::{input, output};

/// Subcommands of `casebook flag`.
#[derive(Debug, Subcommand)]
pub(crate) enum FlagCmd {
    /// Mark a situation as applying, with an optional note.
    Set {
        /// The situation.
        #[arg(value_parser = keyed::<Situation>())]
        situation: Situation,
        /// Why it applies (`-` reads it from standard input).
        #[arg(long)]
        note: Option<String>,
    },
    /// Mark a situation as not applying (and clear its note).
    Clear {
        /// The situation.
        #[arg(value_parser = keyed::<Situation>())]
        situation: Situation,
    },
    /// List every situation and the verdict (same as `casebook flags`).
    List,
}

/// Run a `flag` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: FlagCmd) -> Result<()> {
    match cmd {
        FlagCmd::Set { situation, note } => {
            let note = input::opt_text(note)?;
            output::edit(ctx, |o| Ok(o.case.set_flag(situation, true, note.as_deref())?))?;
            output::saved(ctx, &format!("Flagged: {}.", situation.label()))
        }
        FlagCmd::Clear { situation } => {
            output::edit(ctx, |o| Ok(o.case.set_flag(situation, false, None)?))?;
            output::saved(ctx, &format!("Cleared: {}.", situation.label()))
        }
        FlagCmd::List => list(ctx),
    }
}

#[derive(Serialize)]
struct Flags {
    flags: Vec<Flag>,
    verdict: Verdict,
}

/// Every situation and the verdict.
pub(crate) fn list(ctx: &Ctx) -> Result<()> {
    let open = ctx.open()?;
    let flags = Flags { flags: open.case.flags(), verdict: open.case.verdict() };
    output::emit(ctx, &flags, |f| {
        let mut out: Vec<String> = f
            .flags
            .iter()
            .map(|fl| {
                let mark = if fl.flagged { "[x]" } else { "[ ]" };
                let note = fl.note.as_deref().map(|n| format!(" — {}", output::line(n))).unwrap_or_default();
                format!("{mark} {} ({}){note}", fl.situation.label(), fl.situation)
            })
            .collect();
        out.push(String::new());
        out.push(verdict_line(&f.verdict));
        out.join("\n")
    })
}

/// The verdict in words, never stronger than "the guide suggests".
pub(crate) fn verdict_line(v: &Verdict) -> String {
    let reasons = || v.reasons.iter().map(|r| r.label()).collect::<Vec<&str>>().join("; ");
    let differing = || v.differing.iter().map(|a| a.to_string()).collect::<Vec<String>>().join(", ");
    match v.suggestion {
        Suggestion::SecondOpinion => {
            format!("Verdict: a critical situation applies ({}): the guide suggests a second opinion", reasons())
        }
        Suggestion::ThirdOpinion => format!(
            "Verdict: the first and second opinions differ ({}): the guide suggests considering a third opinion",
            differing()
        ),
        Suggestion::Nothing if v.third_opinion_recorded && !v.differing.is_empty() => {
            format!("Verdict: {} opinions recorded, including a third; they differ ({})", v.opinions, differing())
        }
        Suggestion::Nothing if v.third_opinion_recorded => {
            format!("Verdict: {} opinions recorded, including a third", v.opinions)
        }
        Suggestion::Nothing if v.second_opinion_recorded && !v.differing.is_empty() => {
            format!("Verdict: second opinion recorded; the opinions differ ({})", differing())
        }
        Suggestion::Nothing if v.second_opinion_recorded => "Verdict: second opinion recorded".into(),
        Suggestion::Nothing => "Verdict: no critical situation flagged (a second opinion is still your right)".into(),
    }
}
