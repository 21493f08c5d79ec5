//! `casebook patient`: the patient and the diagnosis.

use anyhow::Result;
use casebook_core::Keyed;
use casebook_core::model::patient::{Patient, PatientField};
use casebook_core::model::text::TextField;
use clap::Subcommand;
use clap::builder::PossibleValuesParser;
use serde::Serialize;

use crate::commands::text::replace_text;
use crate::context::Ctx;
use crate::{input, output};

/// The field name of the proposed treatment (a shared text, not a plain field).
const PROPOSED_TREATMENT: &str = "proposed_treatment";

fn fields() -> PossibleValuesParser {
    PossibleValuesParser::new(PatientField::ALL.iter().map(|f| f.key()).chain([PROPOSED_TREATMENT]))
}

/// Subcommands of `casebook patient`.
#[derive(Debug, Subcommand)]
pub(crate) enum PatientCmd {
    /// Show the patient and the diagnosis.
    Show,
    /// Set a field. Age 0–130, birth_year 1900–2100, diagnosis_date YYYY-MM-DD, treatment_started yes/no;
    /// proposed_treatment replaces the shared text (only what changed is edited).
    Set {
        /// The field.
        #[arg(value_parser = fields())]
        field: String,
        /// The new value (`-` reads it from standard input).
        value: String,
    },
    /// Clear a field.
    Clear {
        /// The field.
        #[arg(value_parser = fields())]
        field: String,
    },
}

/// Run a `patient` subcommand.
pub(crate) fn run(ctx: &Ctx, cmd: PatientCmd) -> Result<()> {
    match cmd {
        PatientCmd::Show => show(ctx),
        PatientCmd::Set { field, value } => set(ctx, &field, Some(&input::text(value)?)),
        PatientCmd::Clear { field } => set(ctx, &field, None),
    }
}

fn set(ctx: &Ctx, field: &str, value: Option<&str>) -> Result<()> {
    output::edit(ctx, |o| {
        if field == PROPOSED_TREATMENT {
            replace_text(&mut o.case, &TextField::ProposedTreatment, value.unwrap_or(""))
        } else {
            Ok(o.case.set_patient(PatientField::parse("field", field)?, value)?)
        }
    })?;
    let verb = if value.is_some() { "Set" } else { "Cleared" };
    output::saved(ctx, &format!("{verb} {field}."))
}

#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    patient: Patient,
    age_today: Option<u64>,
}

fn show(ctx: &Ctx) -> Result<()> {
    let open = ctx.open()?;
    let patient = open.case.patient();
    let shown = Shown { age_today: patient.age_at(ctx.today()), patient };
    output::emit(ctx, &shown, |s| {
        let p = &s.patient;
        let o = &p.oncologist;
        let mut out = vec![
            format!("Name: {}", output::opt(p.display_name.as_deref())),
            format!(
                "Age: {}{}",
                s.age_today.map(|a| a.to_string()).unwrap_or_else(|| "—".into()),
                p.birth_year.map(|y| format!(" (born {y})")).unwrap_or_default()
            ),
            format!("Cancer type: {}", output::opt(p.cancer_type.as_deref())),
            format!("Histology: {}", output::opt(p.histology.as_deref())),
            format!("Stage: {}", output::opt(p.stage.as_deref())),
            format!("Diagnosis date: {}", output::date(p.diagnosis_date)),
            format!("Diagnosing facility: {}", output::opt(p.diagnosing_facility.as_deref())),
            format!(
                "Oncologist: {} ({}; {})",
                output::opt(o.name.as_deref()),
                output::opt(o.facility.as_deref()),
                output::opt(o.contact.as_deref())
            ),
            format!("Treatment started: {}", output::yes_no(p.treatment_started)),
        ];
        if p.proposed_treatment.trim().is_empty() {
            out.push("Proposed treatment: —".into());
        } else {
            out.push(format!("Proposed treatment:\n{}", output::indent(&p.proposed_treatment, "  ")));
        }
        out.join("\n")
    })
}

/// One line on the diagnosis, for the overview.
pub(crate) fn diagnosis_line(p: &Patient, age: Option<u64>) -> String {
    let mut parts: Vec<String> =
        [&p.cancer_type, &p.histology].into_iter().flatten().map(|s| output::line(s)).collect();
    if let Some(s) = &p.stage {
        parts.push(format!("stage {}", output::line(s)));
    }
    if let Some(d) = p.diagnosis_date {
        parts.push(format!("diagnosed {}", output::date(Some(d))));
    }
    if let Some(a) = age {
        parts.push(format!("age {a}"));
    }
    if parts.is_empty() {
        "Diagnosis: — (casebook patient set …)".into()
    } else {
        format!("Diagnosis: {}", parts.join(", "))
    }
}
