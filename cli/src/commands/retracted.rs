//! Retractions of items entered by mistake (`<kind> remove`, alias `retract`) and `casebook retracted`,
//! the list of what was retracted, by whom, when and why. Nothing is ever deleted.

use anyhow::Result;
use casebook_core::Case;
use casebook_core::model::retraction::{ItemKind, Retract, RetractedItem};

use crate::commands::record_request::retracted as retracted_line;
use crate::context::Ctx;
use crate::lookup::Names;
use crate::output;

/// Retract the item of `kind` that `resolve` names (with `--reason` and the author of `--as`), and report
/// `Retracted <kind> <id>` with the retraction's id.
pub(crate) fn retract(
    ctx: &Ctx,
    kind: ItemKind,
    reason: Option<String>,
    resolve: impl FnOnce(&Case) -> Result<String>,
) -> Result<()> {
    let reason = crate::input::opt_text(reason)?;
    let (id, retraction) = output::edit(ctx, |o| {
        let id = resolve(&o.case)?;
        let by = ctx.author_opt(o)?;
        let how = Retract { today: ctx.today(), by: by.as_deref(), reason: reason.as_deref() };
        let retraction = o.case.retract_item(kind, &id, how)?;
        Ok((id, retraction))
    })?;
    output::saved_id(
        ctx,
        &format!("Retracted {} {id}: it stays in the history (`casebook retracted`).", kind.noun()),
        &retraction,
    )
}

/// `casebook retracted`: every retracted item, with who retracted it, when and why.
pub(crate) fn list(ctx: &Ctx) -> Result<()> {
    let open = ctx.open()?;
    let names = Names::of(&open.case);
    output::emit(ctx, &open.case.retracted_items(), |list| {
        if list.is_empty() {
            return "Nothing was retracted.".into();
        }
        list.iter().map(|r| describe(r, &names)).collect::<Vec<_>>().join("\n")
    })
}

fn describe(r: &RetractedItem, names: &Names) -> String {
    format!("{}  {}  {}\n  {}", r.id, r.kind.noun(), output::line(&r.name), retracted_line(&r.retractions, names))
}
