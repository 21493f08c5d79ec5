//! `casebook document`, `medication` and `history`: the organised documentation of step 4.

use anyhow::Result;
use casebook_core::model::chronology::{
    DocumentChanges, DocumentKind, FamilyHistoryChanges, Location, MedicationChanges,
};
use clap::{ArgGroup, Args, Subcommand};

use crate::commands::retracted;
use crate::context::Ctx;
use crate::keyed::keyed;
use crate::{input, lookup, output};
use casebook_core::model::retraction::ItemKind;

/// Subcommands of `casebook document`.
#[derive(Debug, Subcommand)]
pub(crate) enum DocumentCmd {
    /// Add a document to the chronology.
    Add {
        /// What it is (e.g. "CT chest with contrast"; `-` reads it from standard input).
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
    /// Correct a document: give only the fields to change (a sibling's correction of another field is kept).
    Edit(DocumentEditArgs),
    /// The chronology, oldest first.
    List,
    /// Retract a document entered by mistake: nothing is deleted; it leaves the lists and stays, with who
    /// retracted it, when and why, in `casebook retracted`.
    #[command(visible_alias = "retract")]
    Remove {
        /// Document id (or unique prefix).
        id: String,
        /// Why (optional; `-` reads it from standard input).
        #[arg(long)]
        reason: Option<String>,
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
    /// Correct a medication: give only the fields to change (a sibling's correction of another field is
    /// kept).
    Edit(MedicationEditArgs),
    /// The medication list.
    List,
    /// Retract a medication entered by mistake: nothing is deleted; it leaves the lists and stays, with who
    /// retracted it, when and why, in `casebook retracted`.
    #[command(visible_alias = "retract")]
    Remove {
        /// Medication id (or unique prefix).
        id: String,
        /// Why (optional; `-` reads it from standard input).
        #[arg(long)]
        reason: Option<String>,
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
    /// Correct an entry: give only the fields to change (a sibling's correction of another field is kept).
    Edit(HistoryEditArgs),
    /// The family cancer history.
    List,
    /// Retract an entry entered by mistake: nothing is deleted; it leaves the lists and stays, with who
    /// retracted it, when and why, in `casebook retracted`.
    #[command(visible_alias = "retract")]
    Remove {
        /// Entry id (or unique prefix).
        id: String,
        /// Why (optional; `-` reads it from standard input).
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Arguments of `document edit`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("changes").required(true).multiple(true)))]
pub(crate) struct DocumentEditArgs {
    /// Document id (or unique prefix).
    id: String,
    /// New description (`-` reads it from standard input).
    #[arg(long, group = "changes")]
    description: Option<String>,
    /// New kind.
    #[arg(long, group = "changes", value_parser = keyed::<DocumentKind>())]
    kind: Option<DocumentKind>,
    /// New date of the document (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD", group = "changes", conflicts_with = "clear_date")]
    date: Option<String>,
    /// Clear the date.
    #[arg(long, group = "changes")]
    clear_date: bool,
    /// New facility of origin.
    #[arg(long, group = "changes", conflicts_with = "clear_facility")]
    facility: Option<String>,
    /// Clear the facility.
    #[arg(long, group = "changes")]
    clear_facility: bool,
    /// Where it is kept now.
    #[arg(long, group = "changes", value_parser = keyed::<Location>())]
    location: Option<Location>,
}

/// Arguments of `medication edit`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("changes").required(true).multiple(true)))]
pub(crate) struct MedicationEditArgs {
    /// Medication id (or unique prefix).
    id: String,
    /// New name.
    #[arg(long, group = "changes")]
    name: Option<String>,
    /// New dose and schedule.
    #[arg(long, group = "changes", conflicts_with = "clear_dose")]
    dose: Option<String>,
    /// Clear the dose.
    #[arg(long, group = "changes")]
    clear_dose: bool,
}

/// Arguments of `history edit`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("changes").required(true).multiple(true)))]
pub(crate) struct HistoryEditArgs {
    /// Entry id (or unique prefix).
    id: String,
    /// New relative (e.g. maternal aunt).
    #[arg(long, group = "changes")]
    relative: Option<String>,
    /// New cancer.
    #[arg(long, group = "changes")]
    cancer: Option<String>,
    /// New age at diagnosis.
    #[arg(long, group = "changes", conflicts_with = "clear_age")]
    age: Option<u64>,
    /// Clear the age at diagnosis.
    #[arg(long, group = "changes")]
    clear_age: bool,
}

pub(crate) use casebook_core::model::set_or_clear;

/// Run a `document` subcommand.
pub(crate) fn run_documents(ctx: &Ctx, cmd: DocumentCmd) -> Result<()> {
    match cmd {
        DocumentCmd::Add { description, kind, date, facility, location } => {
            let description = input::text(description)?;
            let id = output::edit(ctx, |o| {
                Ok(o.case.add_document(date.as_deref(), kind, facility.as_deref(), &description, location)?)
            })?;
            output::added(ctx, "document", &id)
        }
        DocumentCmd::Edit(a) => {
            let description = input::opt_text(a.description)?;
            let id = output::edit(ctx, |o| {
                let id = lookup::item("document", &a.id, o.case.documents().into_iter().map(|d| d.id).collect())?;
                let changes = DocumentChanges {
                    date: set_or_clear(a.date.as_deref(), a.clear_date),
                    kind: a.kind,
                    facility: set_or_clear(a.facility.as_deref(), a.clear_facility),
                    description: description.as_deref(),
                    location: a.location,
                };
                o.case.edit_document(&id, changes)?;
                Ok(id)
            })?;
            output::saved_id(ctx, &format!("Updated document {id}."), &id)
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
                            output::opt(d.facility.as_deref()),
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
        DocumentCmd::Remove { id, reason } => retracted::retract(ctx, ItemKind::Document, reason, |c| {
            lookup::item("document", &id, c.documents().into_iter().map(|d| d.id).collect())
        }),
    }
}

/// Run a `medication` subcommand.
pub(crate) fn run_medications(ctx: &Ctx, cmd: MedicationCmd) -> Result<()> {
    match cmd {
        MedicationCmd::Add { name, dose } => {
            let id = output::edit(ctx, |o| Ok(o.case.add_medication(&name, dose.as_deref())?))?;
            output::added(ctx, "medication", &id)
        }
        MedicationCmd::Edit(a) => {
            let id = output::edit(ctx, |o| {
                let id = lookup::item("medication", &a.id, o.case.medications().into_iter().map(|d| d.id).collect())?;
                let changes =
                    MedicationChanges { name: a.name.as_deref(), dose: set_or_clear(a.dose.as_deref(), a.clear_dose) };
                o.case.edit_medication(&id, changes)?;
                Ok(id)
            })?;
            output::saved_id(ctx, &format!("Updated medication {id}."), &id)
        }
        MedicationCmd::List => {
            let open = ctx.open()?;
            output::emit(ctx, &open.case.medications(), |meds| {
                let rows: Vec<Vec<String>> =
                    meds.iter().map(|m| vec![m.id.clone(), m.name.clone(), output::opt(m.dose.as_deref())]).collect();
                output::table_or("No medications listed yet.", &["ID", "NAME", "DOSE"], &rows)
            })
        }
        MedicationCmd::Remove { id, reason } => retracted::retract(ctx, ItemKind::Medication, reason, |c| {
            lookup::item("medication", &id, c.medications().into_iter().map(|d| d.id).collect())
        }),
    }
}

/// Run a `history` subcommand.
pub(crate) fn run_history(ctx: &Ctx, cmd: HistoryCmd) -> Result<()> {
    match cmd {
        HistoryCmd::Add { relative, cancer, age } => {
            let id = output::edit(ctx, |o| Ok(o.case.add_family_history(&relative, &cancer, age)?))?;
            output::added(ctx, "family history entry", &id)
        }
        HistoryCmd::Edit(a) => {
            let id = output::edit(ctx, |o| {
                let id = lookup::item(
                    "family history entry",
                    &a.id,
                    o.case.family_history().into_iter().map(|d| d.id).collect(),
                )?;
                let changes = FamilyHistoryChanges {
                    relative: a.relative.as_deref(),
                    cancer: a.cancer.as_deref(),
                    age_at_diagnosis: set_or_clear(a.age, a.clear_age),
                };
                o.case.edit_family_history(&id, changes)?;
                Ok(id)
            })?;
            output::saved_id(ctx, &format!("Updated family history entry {id}."), &id)
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
        HistoryCmd::Remove { id, reason } => retracted::retract(ctx, ItemKind::FamilyHistory, reason, |c| {
            lookup::item("family history entry", &id, c.family_history().into_iter().map(|d| d.id).collect())
        }),
    }
}
