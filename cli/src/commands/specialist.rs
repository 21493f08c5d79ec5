//! `casebook specialist`: subspecialists to research and contact.

use anyhow::Result;
use casebook_core::model::specialist::{NciDesignation, NewSpecialist, SpecialistField, SpecialistStatus};
use casebook_core::model::text::TextField;
use clap::{Args, Subcommand};

use crate::commands::retracted;
use crate::commands::text::append_line;
use crate::context::Ctx;
use crate::keyed::keyed;
use crate::{input, lookup, output};
use casebook_core::model::retraction::ItemKind;

/// Subcommands of `casebook specialist`.
#[derive(Debug, Subcommand)]
pub(crate) enum SpecialistCmd {
    /// Add a specialist (status: researching).
    Add(AddArgs),
    /// Set a field: name, subspecialty, institution, nci, contact or status.
    Set {
        /// Specialist id (or unique prefix).
        id: String,
        /// The field.
        #[arg(value_parser = keyed::<SpecialistField>())]
        field: SpecialistField,
        /// The new value (nci: comprehensive, clinical, basic_laboratory, none; status: researching,
        /// contacted, scheduled, seen, declined).
        value: String,
    },
    /// Clear an optional field (subspecialty, institution, contact).
    Clear {
        /// Specialist id (or unique prefix).
        id: String,
        /// The field.
        #[arg(value_parser = keyed::<SpecialistField>())]
        field: SpecialistField,
    },
    /// Append a line to a specialist's notes.
    Note {
        /// Specialist id (or unique prefix).
        id: String,
        /// The text (`-` reads it from standard input).
        text: String,
    },
    /// List the specialists, by name.
    List,
    /// Retract a specialist entered by mistake: nothing is deleted; it leaves the lists and stays, with who
    /// retracted it, when and why, in `casebook retracted`.
    #[command(visible_alias = "retract")]
    Remove {
        /// Specialist id (or unique prefix).
        id: String,
        /// Why (optional; `-` reads it from standard input).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Arguments of `specialist add`.
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// Name.
    name: String,
    /// Subspecialty (e.g. thoracic oncology).
    #[arg(long)]
    subspecialty: Option<String>,
    /// Institution.
    #[arg(long)]
    institution: Option<String>,
    /// NCI designation of the institution.
    #[arg(long, value_parser = keyed::<NciDesignation>())]
    nci: Option<NciDesignation>,
    /// Phone, e-mail or portal.
    #[arg(long)]
    contact: Option<String>,
    /// Status, if not `researching`.
    #[arg(long, value_parser = keyed::<SpecialistStatus>())]
    status: Option<SpecialistStatus>,
}

/// Run a `specialist` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: SpecialistCmd) -> Result<()> {
    match cmd {
        SpecialistCmd::Add(a) => {
            let id = output::edit(ctx, |o| {
                let id = o.case.add_specialist(NewSpecialist {
                    name: &a.name,
                    subspecialty: a.subspecialty.as_deref(),
                    institution: a.institution.as_deref(),
                    nci: a.nci,
                    contact: a.contact.as_deref(),
                })?;
                if let Some(s) = a.status {
                    o.case.set_specialist(&id, SpecialistField::Status, Some(s.to_string().as_str()))?;
                }
                Ok(id)
            })?;
            output::added(ctx, "specialist", &id)
        }
        SpecialistCmd::Set { id, field, value } => {
            output::edit(ctx, |o| {
                let id = lookup::specialist(&o.case, &id)?;
                Ok(o.case.set_specialist(&id, field, Some(&value))?)
            })?;
            output::saved(ctx, &format!("Specialist {field} set."))
        }
        SpecialistCmd::Clear { id, field } => {
            output::edit(ctx, |o| {
                let id = lookup::specialist(&o.case, &id)?;
                Ok(o.case.set_specialist(&id, field, None)?)
            })?;
            output::saved(ctx, &format!("Specialist {field} cleared."))
        }
        SpecialistCmd::Note { id, text } => {
            let text = input::text(text)?;
            output::edit(ctx, |o| {
                let id = lookup::specialist(&o.case, &id)?;
                append_line(&mut o.case, &TextField::SpecialistNotes(id), &text)
            })?;
            output::saved(ctx, "Note added.")
        }
        SpecialistCmd::List => {
            let open = ctx.open()?;
            output::emit(ctx, &open.case.specialists(), |list| {
                if list.is_empty() {
                    return "No specialists yet: casebook specialist add NAME --institution … --nci comprehensive"
                        .into();
                }
                list.iter()
                    .map(|s| {
                        let mut lines = vec![
                            format!("{}  {} [{}]", s.id, output::line(&s.name), s.status),
                            format!("  Subspecialty: {}", output::opt(s.subspecialty.as_deref())),
                            format!("  Institution: {} (NCI: {})", output::opt(s.institution.as_deref()), s.nci),
                            format!("  Contact: {}", output::opt(s.contact.as_deref())),
                        ];
                        if !s.notes.trim().is_empty() {
                            lines.push(format!("  Notes:\n{}", output::indent(&s.notes, "    ")));
                        }
                        lines.join("\n")
                    })
                    .collect::<Vec<_>>()
                    .join("\n\n")
            })
        }
        SpecialistCmd::Remove { id, reason } => {
            retracted::retract(ctx, ItemKind::Specialist, reason, |c| lookup::specialist(c, &id))
        }
    }
}
