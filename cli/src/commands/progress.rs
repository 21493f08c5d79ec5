//! `casebook progress`: the guide's seven steps, what is done and what is next.

use anyhow::Result;
use casebook_core::model::progress::Progress;

use crate::context::Ctx;
use crate::output;

/// Show progress through the seven steps as of now (local time: a consultation whose time has passed today
/// counts as attended).
pub(crate) fn show(ctx: &Ctx) -> Result<()> {
    let open = ctx.open()?;
    output::emit(ctx, &open.case.progress_at(ctx.now()), |p| {
        let mut out = vec![format!("{} of {} steps done.", p.done, p.steps.len()), String::new()];
        for s in &p.steps {
            out.push(format!("{} {}. {}", if s.done { "[x]" } else { "[ ]" }, s.number, output::line(s.title)));
            out.extend(s.achieved.iter().map(|a| format!("      ✓ {}", output::line(a))));
            if let Some(n) = &s.next {
                out.push(format!("      next: {}", output::line(n)));
            }
        }
        out.join("\n")
    })
}

/// `3 of 7 steps done; next: …`.
pub(crate) fn summary_line(p: &Progress) -> String {
    let next = p
        .steps
        .iter()
        .find_map(|s| s.next.as_ref().map(|n| format!("; next (step {}): {}", s.number, output::line(n))));
    format!("{} of {} steps done{}", p.done, p.steps.len(), next.unwrap_or_default())
}
