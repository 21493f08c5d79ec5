//! `casebook progress`: the guide's seven steps, what is done and what is next.

use anyhow::Result;
use casebook_core::model::progress::Progress;

use crate::context::Ctx;
use crate::output;

/// Show progress through the seven steps.
pub(crate) fn show(ctx: &Ctx) -> Result<()> {
    let open = ctx.open()?;
    output::emit(ctx, &open.case.progress(ctx.today()), |p| {
        let mut out = vec![format!("{} of {} steps done.", p.done, p.steps.len()), String::new()];
        for s in &p.steps {
            out.push(format!("{} {}. {}", if s.done { "[x]" } else { "[ ]" }, s.number, s.title));
            out.extend(s.achieved.iter().map(|a| format!("      ✓ {a}")));
            if let Some(n) = &s.next {
                out.push(format!("      next: {n}"));
            }
        }
        out.join("\n")
    })
}

/// `3 of 7 steps done; next: …`.
pub(crate) fn summary_line(p: &Progress) -> String {
    let next = p.steps.iter().find_map(|s| s.next.as_ref().map(|n| format!("; next (step {}): {n}", s.number)));
    format!("{} of {} steps done{}", p.done, p.steps.len(), next.unwrap_or_default())
}
