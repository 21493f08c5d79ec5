//! `casebook prefs`: the patient's preferences — how much detail, their wishes, their agreement.

use anyhow::Result;
use casebook_core::model::team::DetailLevel;
use casebook_core::model::text::TextField;
use clap::{ArgAction, Args, Subcommand};

use crate::commands::text::replace_text;
use crate::context::Ctx;
use crate::keyed::keyed;
use crate::{failure, input, output};

/// Subcommands of `casebook prefs`.
#[derive(Debug, Subcommand)]
pub(crate) enum PrefsCmd {
    /// Show the preferences.
    Show,
    /// Set one or more preferences.
    Set(SetArgs),
}

/// Arguments of `prefs set`.
#[derive(Debug, Args)]
pub(crate) struct SetArgs {
    /// How much detail the patient wants to hear.
    #[arg(long, value_parser = keyed::<DetailLevel>(), conflicts_with = "clear_detail_level")]
    detail_level: Option<DetailLevel>,
    /// Forget the detail level.
    #[arg(long)]
    clear_detail_level: bool,
    /// Whether the patient agreed to seek a second opinion (yes/no).
    #[arg(long, value_name = "yes|no", action = ArgAction::Set, value_parser = parse_yes_no)]
    agreed: Option<bool>,
    /// The patient's wishes, in their words (replaces the shared text; only what differs is edited; `-`
    /// reads them from standard input).
    #[arg(long)]
    wishes: Option<String>,
}

fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" => Ok(true),
        "no" | "n" | "false" | "0" => Ok(false),
        _ => Err("expected yes or no".into()),
    }
}

/// Run a `prefs` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: PrefsCmd) -> Result<()> {
    match cmd {
        PrefsCmd::Show => {
            let open = ctx.open()?;
            output::emit(ctx, &open.case.preferences(), |p| {
                let wishes = if p.wishes.trim().is_empty() {
                    " —".to_string()
                } else {
                    format!("\n{}", output::indent(&p.wishes, "  "))
                };
                [
                    format!("Agreed to seek a second opinion: {}", output::yes_no(p.agreed_to_second_opinion)),
                    format!("Detail wanted: {}", p.detail_level.map(|d| d.to_string()).unwrap_or_else(|| "—".into())),
                    format!("Wishes:{wishes}"),
                ]
                .join("\n")
            })
        }
        PrefsCmd::Set(a) => {
            if a.detail_level.is_none() && !a.clear_detail_level && a.agreed.is_none() && a.wishes.is_none() {
                return Err(failure::usage(
                    "nothing to set: pass --detail-level, --clear-detail-level, --agreed or --wishes",
                ));
            }
            let wishes = input::opt_text(a.wishes)?;
            output::edit(ctx, |o| {
                if a.detail_level.is_some() || a.clear_detail_level {
                    o.case.set_detail_level(a.detail_level)?;
                }
                if let Some(agreed) = a.agreed {
                    o.case.set_agreed_to_second_opinion(agreed)?;
                }
                if let Some(w) = &wishes {
                    replace_text(&mut o.case, &TextField::Wishes, w)?;
                }
                Ok(())
            })?;
            output::saved(ctx, "Preferences saved.")
        }
    }
}
