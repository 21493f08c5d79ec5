//! Patient and diagnosis (the guide's starting point).

use automerge::transaction::Transactable;
use time::Date;

use super::{Keyed, optional};
use crate::am;
use crate::case::Case;
use crate::dates::{format_date, parse_date, stored_date};
use crate::error::{Error, Result};

/// The treating oncologist.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Oncologist {
    /// Name.
    pub name: Option<String>,
    /// Facility.
    pub facility: Option<String>,
    /// Phone, e-mail or portal.
    pub contact: Option<String>,
}

/// The patient and their diagnosis as first given.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Patient {
    /// How the family refers to the patient (never sent to a calendar or a log).
    pub display_name: Option<String>,
    /// Age in years, if given.
    pub age: Option<u64>,
    /// Birth year, if given instead of (or besides) the age.
    pub birth_year: Option<u64>,
    /// Cancer type (e.g. "lung").
    pub cancer_type: Option<String>,
    /// Histology or subtype.
    pub histology: Option<String>,
    /// Stage as written by the care team.
    pub stage: Option<String>,
    /// Date of diagnosis.
    pub diagnosis_date: Option<Date>,
    /// Facility that diagnosed.
    pub diagnosing_facility: Option<String>,
    /// Treating oncologist.
    pub oncologist: Oncologist,
    /// Proposed treatment (collaborative text).
    pub proposed_treatment: String,
    /// Whether treatment has started.
    pub treatment_started: bool,
}

impl Patient {
    /// Age at `today`: the given age, else derived from the birth year.
    pub fn age_at(&self, today: Date) -> Option<u64> {
        self.age.or_else(|| self.birth_year.and_then(|y| u64::try_from(today.year()).ok()?.checked_sub(y)))
    }
}

keyed_enum! {
    /// A settable patient field.
    PatientField {
        /// Display name.
        DisplayName => "display_name",
        /// Age in years (0–130).
        Age => "age",
        /// Birth year.
        BirthYear => "birth_year",
        /// Cancer type.
        CancerType => "cancer_type",
        /// Histology or subtype.
        Histology => "histology",
        /// Stage.
        Stage => "stage",
        /// Diagnosis date (YYYY-MM-DD).
        DiagnosisDate => "diagnosis_date",
        /// Diagnosing facility.
        DiagnosingFacility => "diagnosing_facility",
        /// Oncologist's name.
        OncologistName => "oncologist_name",
        /// Oncologist's facility.
        OncologistFacility => "oncologist_facility",
        /// Oncologist's contact.
        OncologistContact => "oncologist_contact",
        /// Treatment started (true/false).
        TreatmentStarted => "treatment_started",
    }
}

/// Parse "true/false/yes/no".
pub(crate) fn parse_bool(field: &'static str, s: &str) -> Result<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Ok(true),
        "false" | "no" | "n" | "0" => Ok(false),
        _ => Err(Error::InvalidInput { field, reason: "expected yes or no".into() }),
    }
}

fn parse_number(field: &'static str, s: &str, min: u64, max: u64) -> Result<u64> {
    let n: u64 = s.trim().parse().map_err(|_| Error::InvalidInput { field, reason: "not a whole number".into() })?;
    if n < min || n > max {
        return Err(Error::InvalidInput { field, reason: format!("must be between {min} and {max}") });
    }
    Ok(n)
}

impl Case {
    /// The patient and diagnosis.
    pub fn patient(&self) -> Patient {
        let doc = &self.main.doc;
        let Ok(p) = am::root_map(doc, "patient") else {
            return Patient::default();
        };
        let s = |k| am::get_str(doc, &p, k);
        Patient {
            display_name: s("display_name"),
            age: am::get_u64(doc, &p, "age"),
            birth_year: am::get_u64(doc, &p, "birth_year"),
            cancer_type: s("cancer_type"),
            histology: s("histology"),
            stage: s("stage"),
            diagnosis_date: stored_date(s("diagnosis_date")),
            diagnosing_facility: s("diagnosing_facility"),
            oncologist: Oncologist {
                name: s("oncologist_name"),
                facility: s("oncologist_facility"),
                contact: s("oncologist_contact"),
            },
            proposed_treatment: am::get_text(doc, &p, "proposed_treatment"),
            treatment_started: am::get_bool(doc, &p, "treatment_started"),
        }
    }

    /// Set (or with `None`, clear) a patient field. Values are validated: age 0–130, birth year
    /// 1900–2100, dates as YYYY-MM-DD, yes/no for treatment started. A blank value clears a field, except
    /// the patient's name, which is refused blank (clear it with `None`).
    pub fn set_patient(&mut self, field: PatientField, value: Option<&str>) -> Result<()> {
        if field == PatientField::DisplayName
            && let Some(v) = value
        {
            super::required("display_name", v)?;
        }
        let value = optional(value);
        self.edit(|doc| {
            let p = am::root_map(doc, "patient")?;
            let key = field.key();
            let Some(v) = value else {
                return am::put_opt_str(doc, &p, key, None);
            };
            match field {
                PatientField::Age => doc.put(&p, key, parse_number("age", &v, 0, 130)?)?,
                PatientField::BirthYear => doc.put(&p, key, parse_number("birth_year", &v, 1900, 2100)?)?,
                PatientField::DiagnosisDate => doc.put(&p, key, format_date(parse_date("diagnosis_date", &v)?))?,
                PatientField::TreatmentStarted => doc.put(&p, key, parse_bool("treatment_started", &v)?)?,
                _ => doc.put(&p, key, super::required(key_static(field), &v)?)?,
            }
            Ok(())
        })
    }
}

fn key_static(f: PatientField) -> &'static str {
    f.key()
}
