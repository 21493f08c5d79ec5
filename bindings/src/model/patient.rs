//! Patient and diagnosis.

use casebook_core::model::patient::{Oncologist as CoreOncologist, Patient as CorePatient, PatientField};

use crate::case::Case;
use crate::convert::{date, today_or};
use crate::error::Result;

/// A settable patient field (see [`Case::set_patient`]).
#[uniffi::remote(Enum)]
pub enum PatientField {
    /// Display name.
    DisplayName,
    /// Age in years (0–130).
    Age,
    /// Birth year (1900–2100).
    BirthYear,
    /// Cancer type.
    CancerType,
    /// Histology or subtype.
    Histology,
    /// Stage.
    Stage,
    /// Diagnosis date (`YYYY-MM-DD`).
    DiagnosisDate,
    /// Diagnosing facility.
    DiagnosingFacility,
    /// Oncologist's name.
    OncologistName,
    /// Oncologist's facility.
    OncologistFacility,
    /// Oncologist's contact.
    OncologistContact,
    /// Treatment started (`yes`/`no`).
    TreatmentStarted,
}

/// The treating oncologist.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Oncologist {
    /// Name.
    pub name: Option<String>,
    /// Facility.
    pub facility: Option<String>,
    /// Phone, e-mail or portal.
    pub contact: Option<String>,
}

/// The patient and their diagnosis as first given.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Patient {
    /// How the family refers to the patient.
    pub display_name: Option<String>,
    /// Age in years, if given.
    pub age: Option<u64>,
    /// Birth year, if given.
    pub birth_year: Option<u64>,
    /// Cancer type.
    pub cancer_type: Option<String>,
    /// Histology or subtype.
    pub histology: Option<String>,
    /// Stage as written by the care team.
    pub stage: Option<String>,
    /// Date of diagnosis, `YYYY-MM-DD`.
    pub diagnosis_date: Option<String>,
    /// Facility that diagnosed.
    pub diagnosing_facility: Option<String>,
    /// Treating oncologist.
    pub oncologist: Oncologist,
    /// Proposed treatment (collaborative text: edit with `SharedText.ProposedTreatment`).
    pub proposed_treatment: String,
    /// Whether treatment has started.
    pub treatment_started: bool,
}

impl From<CoreOncologist> for Oncologist {
    fn from(o: CoreOncologist) -> Self {
        Self { name: o.name, facility: o.facility, contact: o.contact }
    }
}

impl From<CorePatient> for Patient {
    fn from(p: CorePatient) -> Self {
        Self {
            display_name: p.display_name,
            age: p.age,
            birth_year: p.birth_year,
            cancer_type: p.cancer_type,
            histology: p.histology,
            stage: p.stage,
            diagnosis_date: date(p.diagnosis_date),
            diagnosing_facility: p.diagnosing_facility,
            oncologist: p.oncologist.into(),
            proposed_treatment: p.proposed_treatment,
            treatment_started: p.treatment_started,
        }
    }
}

#[uniffi::export]
impl Case {
    /// The patient and diagnosis.
    pub fn patient(&self) -> Result<Patient> {
        Ok(self.read(|c| c.patient())?.into())
    }

    /// The patient's age on `today` (`YYYY-MM-DD`, the app's local date; default: today in the device's time
    /// zone): the given age, else from the birth year.
    #[uniffi::method(default(today = None))]
    pub fn patient_age(&self, today: Option<String>) -> Result<Option<u64>> {
        let today = today_or(today)?;
        self.read(|c| c.patient().age_at(today))
    }

    /// Set (or with `None`, clear) a patient field. Validated: age 0–130, birth year 1900–2100, dates
    /// `YYYY-MM-DD`, `yes`/`no` for treatment started.
    pub fn set_patient(&self, field: PatientField, value: Option<String>) -> Result<()> {
        self.write(|c| c.set_patient(field, value.as_deref()))
    }
}
