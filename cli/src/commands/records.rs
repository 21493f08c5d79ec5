//! `casebook document`, `medication` and `history`: the organised documentation of step 4.

use anyhow::Result;
use casebook_core::model::chronology::{DocumentKind, Location};
use clap::Subcommand;

use crate::context::Ctx;
use crate::keyed::keyed;
use crate::{lookup, output};

/// Subcommands of `casebook document`.
#[derive(Debug, Subcommand)]
pub(crate) enum DocumentCmd {
    /// Add a document to the chronology.
    Add {
        /// What it is (e.g. "CT chest with contrast").
        description: String,
        /// Kind of document.
        #[arg(long, default_value = "other", value_parser = keyed::<DocumentKind>())]
        kind: DocumentKind,
        /// Date of the document (YYYY-MM-DD).
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,
        /// Facility of origin.
        #[arg(long)]
        facility: Option<String>,
        /// Where it is kept.
        #[arg(long, default_value = "physical", value_parser = keyed::<Location>())]
        location: Location,
    },
    /// The chronology, oldest first.
    List,
    /// Remove a document.
    Remove {
        /// Document id (or unique prefix).
        id: String,
    },
}

/// Subcommands of `casebook medication`.
#[derive(Debug, Subcommand)]
pub(crate) enum MedicationCmd {
    /// Add a medication.
    Add {
        /// Name.
        name: String,
        /// Dose and schedule.
        #[arg(long)]
        dose: Option<String>,
    },
    /// The medication list.
    List,
    /// Remove a medication.
    Remove {
        /// Medication id (or unique prefix).
        id: String,
    },
}

/// Subcommands of `casebook history`.
#[derive(Debug, Subcommand)]
pub(crate) enum HistoryCmd {
    /// Add a relative's cancer.
    Add {
        /// Relative (e.g. mother).
        relative: String,
        /// Cancer (e.g. breast).
        cancer: String,
        /// Age at diagnosis.
        #[arg(long)]
        age: Option<u64>,
    },
    /// The family cancer history.
    List,
    /// Remove an entry.
    Remove {
        /// Entry id (or unique prefix).
        id: String,
    },
}

/// Run a `document` subcommand.
pub(crate) fn run_documents(ctx: &Ctx, cmd: DocumentCmd) -> Result<()> {
    match cmd {
        DocumentCmd::Add { description, kind, date, facility, location } => {
            let id = ctx.edit(|o| {
                Ok(o.case.add_document(date.as_deref(), kind, facility.as_deref(), &description, location)?)
            })?;
            output::added(ctx, "document", &id)
        }
        DocumentCmd::List => {
            let open = ctx.open()?;
            output::emit(ctx, &open.case.documents(), |docs| {
                let rows: Vec<Vec<String>> = docs
                    .iter()
                    .map(|d| {
                        vec![
                            d.id.clone(),
                            output::date(d.date),
                            d.kind.to_string(),
                            output::opt(d.facility.as_deref()).to_string(),
                            d.location.to_string(),
                            d.description.clone(),
                        ]
                    })
                    .collect();
                output::table_or(
                    "No documents yet: casebook document add DESCRIPTION --kind pathology_report --date YYYY-MM-DD",
                    &["ID", "DATE", "KIND", "FACILITY", "KEPT", "DESCRIPTION"],
                    &rows,
                )
            })
        }
        DocumentCmd::Remove { id } => {
            ctx.edit(|o| {
                let id = lookup::item("document", &id, o.case.documents().into_iter().map(|d| d.id).collect())?;
                Ok(o.case.remove_document(&id)?)
            })?;
            output::saved(ctx, "Document removed.")
        }
    }
}

/// Run a `medication` subcommand.
pub(crate) fn run_medications(ctx: &Ctx, cmd: MedicationCmd) -> Result<()> {
    match cmd {
        MedicationCmd::Add { name, dose } => {
            let id = ctx.edit(|o| Ok(o.case.add_medication(&name, dose.as_deref())?))?;
            output::added(ctx, "medication", &id)
        }
        MedicationCmd::List => {
            let open = ctx.open()?;
            output::emit(ctx, &open.case.medications(), |meds| {
                let rows: Vec<Vec<String>> = meds
                    .iter()
                    .map(|m| vec![m.id.clone(), m.name.clone(), output::opt(m.dose.as_deref()).to_string()])
                    .collect();
                output::table_or("No medications listed yet.", &["ID", "NAME", "DOSE"], &rows)
            })
        }
        MedicationCmd::Remove { id } => {
            ctx.edit(|o| {
                let id = lookup::item("medication", &id, o.case.medications().into_iter().map(|d| d.id).collect())?;
                Ok(o.case.remove_medication(&id)?)
            })?;
            output::saved(ctx, "Medication removed.")
        }
    }
}

/// Run a `history` subcommand.
pub(crate) fn run_history(ctx: &Ctx, cmd: HistoryCmd) -> Result<()> {
    match cmd {
        HistoryCmd::Add { relative, cancer, age } => {
            let id = ctx.edit(|o| Ok(o.case.add_family_history(&relative, &cancer, age)?))?;
            output::added(ctx, "family history entry", &id)
        }
        HistoryCmd::List => {
            let open = ctx.open()?;
            output::emit(ctx, &open.case.family_history(), |list| {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|h| {
                        vec![
                            h.id.clone(),
                            h.relative.clone(),
                            h.cancer.clone(),
                            h.age_at_diagnosis.map(|a| a.to_string()).unwrap_or_else(|| "—".into()),
                        ]
                    })
                    .collect();
                output::table_or(
                    "No family history written down yet.",
                    &["ID", "RELATIVE", "CANCER", "AGE AT DIAGNOSIS"],
                    &rows,
                )
            })
        }
        HistoryCmd::Remove { id } => {
            ctx.edit(|o| {
                let id = lookup::item(
                    "family history entry",
                    &id,
                    o.case.family_history().into_iter().map(|d| d.id).collect(),
                )?;
                Ok(o.case.remove_family_history(&id)?)
            })?;
            output::saved(ctx, "Family history entry removed.")
        }
    }
}
