//! `casebook question`: questions to ask, in order, and the answers heard at appointments.

use anyhow::Result;
use casebook_core::model::question::{Category, Priority, Question};
use casebook_core::model::text::TextField;
use clap::Subcommand;

use crate::commands::retracted;
use crate::commands::text::replace_text;
use crate::context::Ctx;
use crate::keyed::keyed;
use crate::lookup::Names;
use crate::{failure, input, lookup, output};
use casebook_core::model::retraction::ItemKind;

/// Subcommands of `casebook question`.
#[derive(Debug, Subcommand)]
pub(crate) enum QuestionCmd {
    /// Add a question at the end of the list (added by --as or you).
    Add {
        /// The question (`-` reads it from standard input).
        text: String,
        /// Topic.
        #[arg(long, default_value = "other", value_parser = keyed::<Category>())]
        category: Category,
        /// Priority.
        #[arg(long, default_value = "normal", value_parser = keyed::<Priority>())]
        priority: Priority,
    },
    /// List the questions in order, with their answers.
    List {
        /// Only questions without an answer yet.
        #[arg(long)]
        unanswered: bool,
    },
    /// Move a question to a position in the list (1 = first).
    Move {
        /// Question id (or unique prefix).
        id: String,
        /// New position, 1 = first.
        position: usize,
    },
    /// Record an answer heard at an appointment (written down by --as or you).
    Answer {
        /// Question id (or unique prefix).
        id: String,
        /// Appointment where it was answered (id or unique prefix).
        #[arg(long)]
        appointment: String,
        /// The answer (`-` reads it from standard input).
        text: String,
    },
    /// Change a question's category or priority.
    Set {
        /// Question id (or unique prefix).
        id: String,
        /// Topic.
        #[arg(long, value_parser = keyed::<Category>(), required_unless_present = "priority")]
        category: Option<Category>,
        /// Priority.
        #[arg(long, value_parser = keyed::<Priority>())]
        priority: Option<Priority>,
    },
    /// Reword a question (only what differs is edited).
    Edit {
        /// Question id (or unique prefix).
        id: String,
        /// The new wording (`-` reads it from standard input).
        text: String,
    },
    /// Retract a question entered by mistake: nothing is deleted; it leaves the lists and stays, with who
    /// retracted it, when and why, in `casebook retracted`.
    #[command(visible_alias = "retract")]
    Remove {
        /// Question id (or unique prefix).
        id: String,
        /// Why (optional; `-` reads it from standard input).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Run a `question` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: QuestionCmd) -> Result<()> {
    match cmd {
        QuestionCmd::Add { text, category, priority } => {
            let text = input::text(text)?;
            let id = output::edit(ctx, |o| {
                let by = ctx.author(o)?;
                Ok(o.case.add_question(&text, category, priority, &by)?)
            })?;
            output::added(ctx, "question", &id)
        }
        QuestionCmd::List { unanswered } => list(ctx, unanswered),
        QuestionCmd::Move { id, position } => {
            if position == 0 {
                return Err(failure::invalid("positions start at 1"));
            }
            output::edit(ctx, |o| {
                let id = lookup::question(&o.case, &id)?;
                Ok(o.case.move_question(&id, position - 1)?)
            })?;
            output::saved(ctx, &format!("Question moved to position {position}."))
        }
        QuestionCmd::Answer { id, appointment, text } => {
            let text = input::text(text)?;
            output::edit(ctx, |o| {
                let id = lookup::question(&o.case, &id)?;
                let appointment = lookup::appointment(&o.case, &appointment)?;
                let author = ctx.author(o)?;
                Ok(o.case.add_answer(&id, &appointment, &author, &text)?)
            })?;
            output::saved(ctx, "Answer saved.")
        }
        QuestionCmd::Set { id, category, priority } => {
            output::edit(ctx, |o| {
                let id = lookup::question(&o.case, &id)?;
                Ok(o.case.set_question_meta(&id, category, priority)?)
            })?;
            output::saved(ctx, "Question updated.")
        }
        QuestionCmd::Edit { id, text } => {
            let text = input::text(text)?;
            output::edit(ctx, |o| {
                let id = lookup::question(&o.case, &id)?;
                replace_text(&mut o.case, &TextField::Question(id), &text)
            })?;
            output::saved(ctx, "Question reworded.")
        }
        QuestionCmd::Remove { id, reason } => {
            retracted::retract(ctx, ItemKind::Question, reason, |c| lookup::question(c, &id))
        }
    }
}

fn list(ctx: &Ctx, unanswered: bool) -> Result<()> {
    let open = ctx.open()?;
    let names = Names::of(&open.case);
    let all = open.case.questions();
    // Positions are those of the whole list (what `question move` takes), also when filtered.
    let shown: Vec<(usize, &Question)> =
        all.iter().enumerate().map(|(i, q)| (i + 1, q)).filter(|(_, q)| !unanswered || q.answers.is_empty()).collect();
    let questions: Vec<&Question> = shown.iter().map(|(_, q)| *q).collect();
    output::emit(ctx, &questions, |_| {
        if shown.is_empty() {
            return "No questions to show.".into();
        }
        shown
            .iter()
            .map(|(position, q)| {
                let mut lines = vec![
                    format!("{position}. {}", output::line(&q.text)),
                    format!(
                        "   {}  [{}, {} priority, added by {}]",
                        q.id,
                        q.category,
                        q.priority,
                        names.caregiver(&q.added_by)
                    ),
                ];
                for a in &q.answers {
                    lines.push(format!(
                        "   → {}, {}: {}",
                        names.caregiver(&a.author),
                        names.appointment(&a.appointment),
                        output::line(&a.text)
                    ));
                }
                lines.join("\n")
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}
