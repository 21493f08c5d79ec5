//! `casebook init`: the local store.

use anyhow::Result;
use serde::Serialize;

use crate::context::Ctx;
use crate::output;

#[derive(Serialize)]
struct Initialised {
    store: String,
    created: bool,
    cases: usize,
}

/// Create the store directory if needed.
pub(crate) fn init(ctx: &Ctx) -> Result<()> {
    let created = !ctx.store_exists();
    let store = ctx.store_or_create()?;
    let report =
        Initialised { store: ctx.store_dir().display().to_string(), created, cases: store.list_cases()?.len() };
    output::emit(ctx, &report, |r| {
        if r.created {
            format!("Created a store at {}.\nNext: casebook case create --patient NAME --me YOUR_NAME", r.store)
        } else {
            format!("A store already exists at {} ({} cases).", r.store, r.cases)
        }
    })
}
