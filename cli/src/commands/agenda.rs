//! `casebook agenda`: what comes next, in time order — appointments, the decision date, records due, slides
//! and blocks to return, tasks — with what is late.

use anyhow::Result;
use casebook_core::model::agenda::{AgendaEntry, AgendaKind};
use time::PrimitiveDateTime;

use crate::commands::appointment::start_text;
use crate::context::Ctx;
use crate::output;

/// Show the agenda as of today (the local date in the `--tz` zone, or `--today`).
pub(crate) fn show(ctx: &Ctx) -> Result<()> {
    let open = ctx.open()?;
    let agenda = open.case.agenda(ctx.today());
    output::emit(ctx, &agenda, |list| {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|e| vec![when(ctx, e), kind(e).into(), status(e), e.title.clone(), e.id.clone().unwrap_or_default()])
            .collect();
        output::table_or(
            "Nothing on the agenda: no upcoming appointment, due date or open task.",
            &["When", "What", "Status", "Title", "Id"],
            &rows,
        )
    })
}

/// The date, with the time (and the place's zone when not yours) for an appointment.
fn when(ctx: &Ctx, e: &AgendaEntry) -> String {
    match e.time {
        Some(t) => start_text(ctx, Some(PrimitiveDateTime::new(e.date, t)), e.tz.as_deref()),
        None => output::date(Some(e.date)),
    }
}

fn kind(e: &AgendaEntry) -> &'static str {
    match e.kind {
        AgendaKind::DecisionDate if e.is_default => "decision (default)",
        AgendaKind::DecisionDate => "decision",
        AgendaKind::RecordsDue => "records due",
        AgendaKind::ReturnMaterial => "return",
        AgendaKind::Task => "task",
        AgendaKind::Appointment => "appointment",
    }
}

/// `OVERDUE` for a record request past its legal due date, `LATE` for anything else past its date, else
/// the days left.
fn status(e: &AgendaEntry) -> String {
    match (e.late, e.kind) {
        (true, AgendaKind::RecordsDue) => "OVERDUE".into(),
        (true, _) => "LATE".into(),
        (false, _) => output::days_left(e.days_left),
    }
}
