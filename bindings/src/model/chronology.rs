//! Organised documentation (step 4): records chronology, medications, family history, symptoms.

use casebook_core::model::chronology::{
    DocumentChanges as CoreDocumentChanges, DocumentEntry as CoreDocument, DocumentKind,
    FamilyHistoryChanges as CoreHistoryChanges, FamilyHistoryEntry as CoreHistory, Location,
    Medication as CoreMedication, MedicationChanges as CoreMedicationChanges,
};

use casebook_core::model::retraction::Retract;

use crate::case::Case;
use crate::convert::date;
use crate::error::Result;

/// Kind of a document in the chronology.
#[uniffi::remote(Enum)]
pub enum DocumentKind {
    /// Pathology report.
    PathologyReport,
    /// Imaging study (disc).
    ImagingStudy,
    /// Imaging report.
    ImagingReport,
    /// Lab result.
    LabResult,
    /// Operative report.
    OperativeReport,
    /// Consultation summary.
    ConsultationSummary,
    /// Treatment record.
    TreatmentRecord,
    /// Other.
    Other,
}

/// Where a document is kept.
#[uniffi::remote(Enum)]
pub enum Location {
    /// Paper or disc, in the family's folder.
    Physical,
    /// A digital copy.
    Digital,
    /// Both.
    Both,
}

/// A document in the chronology.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DocumentEntry {
    /// Item id.
    pub id: String,
    /// Date of the document, `YYYY-MM-DD`.
    pub date: Option<String>,
    /// Kind.
    pub kind: DocumentKind,
    /// Facility of origin.
    pub facility: Option<String>,
    /// Description.
    pub description: String,
    /// Where it is.
    pub location: Location,
}

/// A medication.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Medication {
    /// Item id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Dose and schedule.
    pub dose: Option<String>,
}

/// A relative's cancer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FamilyHistoryEntry {
    /// Item id.
    pub id: String,
    /// Relative (e.g. "mother").
    pub relative: String,
    /// Cancer.
    pub cancer: String,
    /// Age at diagnosis.
    pub age_at_diagnosis: Option<u64>,
}

/// Corrections to a document (`None` leaves a field as it is; give only the fields that change, so that a
/// sibling's correction of another field is kept).
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct DocumentChanges {
    /// New date of the document, `YYYY-MM-DD`.
    #[uniffi(default = None)]
    pub date: Option<String>,
    /// Clear the date.
    #[uniffi(default = false)]
    pub clear_date: bool,
    /// New kind.
    #[uniffi(default = None)]
    pub kind: Option<DocumentKind>,
    /// New facility of origin.
    #[uniffi(default = None)]
    pub facility: Option<String>,
    /// Clear the facility.
    #[uniffi(default = false)]
    pub clear_facility: bool,
    /// New description (must not be empty).
    #[uniffi(default = None)]
    pub description: Option<String>,
    /// Where it is kept now.
    #[uniffi(default = None)]
    pub location: Option<Location>,
}

/// Corrections to a medication (`None` leaves a field as it is).
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct MedicationChanges {
    /// New name (must not be empty).
    #[uniffi(default = None)]
    pub name: Option<String>,
    /// New dose and schedule.
    #[uniffi(default = None)]
    pub dose: Option<String>,
    /// Clear the dose.
    #[uniffi(default = false)]
    pub clear_dose: bool,
}

/// Corrections to an entry of the family history (`None` leaves a field as it is).
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct FamilyHistoryChanges {
    /// New relative (must not be empty).
    #[uniffi(default = None)]
    pub relative: Option<String>,
    /// New cancer (must not be empty).
    #[uniffi(default = None)]
    pub cancer: Option<String>,
    /// New age at diagnosis (0–130).
    #[uniffi(default = None)]
    pub age_at_diagnosis: Option<u64>,
    /// Clear the age at diagnosis.
    #[uniffi(default = false)]
    pub clear_age_at_diagnosis: bool,
}

pub(crate) use casebook_core::model::set_or_clear;

impl From<CoreDocument> for DocumentEntry {
    fn from(d: CoreDocument) -> Self {
        Self {
            id: d.id,
            date: date(d.date),
            kind: d.kind,
            facility: d.facility,
            description: d.description,
            location: d.location,
        }
    }
}

impl From<CoreMedication> for Medication {
    fn from(m: CoreMedication) -> Self {
        Self { id: m.id, name: m.name, dose: m.dose }
    }
}

impl From<CoreHistory> for FamilyHistoryEntry {
    fn from(h: CoreHistory) -> Self {
        Self { id: h.id, relative: h.relative, cancer: h.cancer, age_at_diagnosis: h.age_at_diagnosis }
    }
}

#[uniffi::export]
impl Case {
    /// The records chronology, oldest first (undated last).
    pub fn documents(&self) -> Result<Vec<DocumentEntry>> {
        Ok(self.read(|c| c.documents())?.into_iter().map(Into::into).collect())
    }

    /// Add a document to the chronology (`date` as `YYYY-MM-DD`). Returns its id.
    pub fn add_document(
        &self,
        date: Option<String>,
        kind: DocumentKind,
        facility: Option<String>,
        description: String,
        location: Location,
    ) -> Result<String> {
        self.write(|c| c.add_document(date.as_deref(), kind, facility.as_deref(), &description, location))
    }

    /// Correct a document (give only the fields that change). Refused, changing nothing, with
    /// `InvalidInput`: an empty description, a bad date, no change at all; with `UnknownId`: an unknown id.
    pub fn edit_document(&self, id: String, changes: DocumentChanges) -> Result<()> {
        self.write(|c| {
            c.edit_document(
                &id,
                CoreDocumentChanges {
                    date: set_or_clear(changes.date.as_deref(), changes.clear_date),
                    kind: changes.kind,
                    facility: set_or_clear(changes.facility.as_deref(), changes.clear_facility),
                    description: changes.description.as_deref(),
                    location: changes.location,
                },
            )
        })
    }

    /// Retract a document of the chronology entered by mistake: a retraction entry (who, when, why) is written on it; it leaves
    /// the lists but nothing is deleted (see `retracted_items`). `today` is the app's local date (default:
    /// today in the device's time zone). Returns the retraction's id.
    #[uniffi::method(default(reason = None, by = None, today = None))]
    pub fn retract_document(
        &self,
        id: String,
        reason: Option<String>,
        by: Option<String>,
        today: Option<String>,
    ) -> Result<String> {
        let today = crate::convert::today_or(today)?;
        self.write(|c| c.retract_document(&id, Retract { today, by: by.as_deref(), reason: reason.as_deref() }))
    }

    /// The medication list.
    pub fn medications(&self) -> Result<Vec<Medication>> {
        Ok(self.read(|c| c.medications())?.into_iter().map(Into::into).collect())
    }

    /// Add a medication. Returns its id.
    pub fn add_medication(&self, name: String, dose: Option<String>) -> Result<String> {
        self.write(|c| c.add_medication(&name, dose.as_deref()))
    }

    /// Correct a medication (give only the fields that change). Refused, changing nothing: an empty name, no
    /// change at all, an unknown id.
    pub fn edit_medication(&self, id: String, changes: MedicationChanges) -> Result<()> {
        self.write(|c| {
            c.edit_medication(
                &id,
                CoreMedicationChanges {
                    name: changes.name.as_deref(),
                    dose: set_or_clear(changes.dose.as_deref(), changes.clear_dose),
                },
            )
        })
    }

    /// Retract a medication entered by mistake: a retraction entry (who, when, why) is written on it; it leaves
    /// the lists but nothing is deleted (see `retracted_items`). `today` is the app's local date (default:
    /// today in the device's time zone). Returns the retraction's id.
    #[uniffi::method(default(reason = None, by = None, today = None))]
    pub fn retract_medication(
        &self,
        id: String,
        reason: Option<String>,
        by: Option<String>,
        today: Option<String>,
    ) -> Result<String> {
        let today = crate::convert::today_or(today)?;
        self.write(|c| c.retract_medication(&id, Retract { today, by: by.as_deref(), reason: reason.as_deref() }))
    }

    /// The family cancer history.
    pub fn family_history(&self) -> Result<Vec<FamilyHistoryEntry>> {
        Ok(self.read(|c| c.family_history())?.into_iter().map(Into::into).collect())
    }

    /// Add a relative's cancer (age at diagnosis 0–130). Returns its id.
    pub fn add_family_history(
        &self,
        relative: String,
        cancer: String,
        age_at_diagnosis: Option<u64>,
    ) -> Result<String> {
        self.write(|c| c.add_family_history(&relative, &cancer, age_at_diagnosis))
    }

    /// Correct an entry of the family history (give only the fields that change). Refused, changing
    /// nothing: an empty relative or cancer, an age over 130, no change at all, an unknown id.
    pub fn edit_family_history(&self, id: String, changes: FamilyHistoryChanges) -> Result<()> {
        self.write(|c| {
            c.edit_family_history(
                &id,
                CoreHistoryChanges {
                    relative: changes.relative.as_deref(),
                    cancer: changes.cancer.as_deref(),
                    age_at_diagnosis: set_or_clear(changes.age_at_diagnosis, changes.clear_age_at_diagnosis),
                },
            )
        })
    }

    /// Retract a family history entry entered by mistake: a retraction entry (who, when, why) is written on it; it leaves
    /// the lists but nothing is deleted (see `retracted_items`). `today` is the app's local date (default:
    /// today in the device's time zone). Returns the retraction's id.
    #[uniffi::method(default(reason = None, by = None, today = None))]
    pub fn retract_family_history(
        &self,
        id: String,
        reason: Option<String>,
        by: Option<String>,
        today: Option<String>,
    ) -> Result<String> {
        let today = crate::convert::today_or(today)?;
        self.write(|c| c.retract_family_history(&id, Retract { today, by: by.as_deref(), reason: reason.as_deref() }))
    }

    /// Symptoms and concerns (collaborative text: edit with `SharedText.Symptoms`).
    pub fn symptoms(&self) -> Result<String> {
        self.read(|c| c.symptoms())
    }
}
