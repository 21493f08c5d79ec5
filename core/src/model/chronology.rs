//! Organised documentation (step 4): records chronology, medication list, family cancer history.
//! Symptoms and concerns are a collaborative text ([`TextField::Symptoms`](super::text::TextField)).

use automerge::transaction::Transactable;
use time::Date;

use super::{Keyed, items, new_item, optional, remove_item, required};
use crate::am;
use crate::case::Case;
use crate::dates::{format_date, parse_date, stored_date};
use crate::error::Result;

keyed_enum! {
    /// Kind of a document in the chronology.
    DocumentKind {
        /// Pathology report.
        PathologyReport => "pathology_report",
        /// Imaging study (disc).
        ImagingStudy => "imaging_study",
        /// Imaging report.
        ImagingReport => "imaging_report",
        /// Lab result.
        LabResult => "lab_result",
        /// Operative report.
        OperativeReport => "operative_report",
        /// Consultation summary.
        ConsultationSummary => "consultation_summary",
        /// Treatment record.
        TreatmentRecord => "treatment_record",
        /// Other.
        Other => "other",
    }
}

keyed_enum! {
    /// Where a document is kept.
    Location {
        /// Paper or disc, in the family's folder.
        Physical => "physical",
        /// A digital copy.
        Digital => "digital",
        /// Both.
        Both => "both",
    }
}

/// A document in the chronology.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DocumentEntry {
    /// Item id.
    pub id: String,
    /// Date of the document.
    pub date: Option<Date>,
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Medication {
    /// Item id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Dose and schedule.
    pub dose: Option<String>,
}

/// A relative's cancer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

impl Case {
    /// Add a document to the chronology.
    pub fn add_document(
        &mut self,
        date: Option<&str>,
        kind: DocumentKind,
        facility: Option<&str>,
        description: &str,
        location: Location,
    ) -> Result<String> {
        let date = date.map(|d| parse_date("date", d)).transpose()?;
        let description = required("description", description)?;
        self.edit(|doc| {
            let (id, o) = new_item(doc, "documents")?;
            am::put_opt_str(doc, &o, "date", date.map(format_date).as_deref())?;
            doc.put(&o, "kind", kind.key())?;
            am::put_opt_str(doc, &o, "facility", optional(facility).as_deref())?;
            doc.put(&o, "description", description)?;
            doc.put(&o, "location", location.key())?;
            Ok(id)
        })
    }

    /// Remove a document from the chronology.
    pub fn remove_document(&mut self, id: &str) -> Result<()> {
        self.edit(|doc| remove_item(doc, "documents", id, "document"))
    }

    /// The chronology, oldest first (undated last).
    pub fn documents(&self) -> Vec<DocumentEntry> {
        let doc = &self.main.doc;
        let mut v: Vec<DocumentEntry> = items(doc, "documents")
            .into_iter()
            .map(|(id, o)| DocumentEntry {
                id,
                date: stored_date(am::get_str(doc, &o, "date")),
                kind: am::get_str(doc, &o, "kind")
                    .and_then(|k| DocumentKind::from_key(&k))
                    .unwrap_or(DocumentKind::Other),
                facility: am::get_str(doc, &o, "facility"),
                description: am::get_str(doc, &o, "description").unwrap_or_default(),
                location: am::get_str(doc, &o, "location")
                    .and_then(|k| Location::from_key(&k))
                    .unwrap_or(Location::Physical),
            })
            .collect();
        v.sort_by(|a, b| (a.date.is_none(), a.date, &a.id).cmp(&(b.date.is_none(), b.date, &b.id)));
        v
    }

    /// Add a medication.
    pub fn add_medication(&mut self, name: &str, dose: Option<&str>) -> Result<String> {
        let name = required("name", name)?;
        self.edit(|doc| {
            let (id, o) = new_item(doc, "medications")?;
            doc.put(&o, "name", name)?;
            am::put_opt_str(doc, &o, "dose", optional(dose).as_deref())?;
            Ok(id)
        })
    }

    /// Remove a medication.
    pub fn remove_medication(&mut self, id: &str) -> Result<()> {
        self.edit(|doc| remove_item(doc, "medications", id, "medication"))
    }

    /// The medication list.
    pub fn medications(&self) -> Vec<Medication> {
        let doc = &self.main.doc;
        items(doc, "medications")
            .into_iter()
            .map(|(id, o)| Medication {
                id,
                name: am::get_str(doc, &o, "name").unwrap_or_default(),
                dose: am::get_str(doc, &o, "dose"),
            })
            .collect()
    }

    /// Add a relative's cancer to the family history.
    pub fn add_family_history(
        &mut self,
        relative: &str,
        cancer: &str,
        age_at_diagnosis: Option<u64>,
    ) -> Result<String> {
        let relative = required("relative", relative)?;
        let cancer = required("cancer", cancer)?;
        if age_at_diagnosis.is_some_and(|a| a > 130) {
            return Err(crate::Error::InvalidInput {
                field: "age_at_diagnosis",
                reason: "must be between 0 and 130".into(),
            });
        }
        self.edit(|doc| {
            let (id, o) = new_item(doc, "family_history")?;
            doc.put(&o, "relative", relative)?;
            doc.put(&o, "cancer", cancer)?;
            if let Some(a) = age_at_diagnosis {
                doc.put(&o, "age_at_diagnosis", a)?;
            }
            Ok(id)
        })
    }

    /// Remove a family history entry.
    pub fn remove_family_history(&mut self, id: &str) -> Result<()> {
        self.edit(|doc| remove_item(doc, "family_history", id, "family history entry"))
    }

    /// The family cancer history.
    pub fn family_history(&self) -> Vec<FamilyHistoryEntry> {
        let doc = &self.main.doc;
        items(doc, "family_history")
            .into_iter()
            .map(|(id, o)| FamilyHistoryEntry {
                id,
                relative: am::get_str(doc, &o, "relative").unwrap_or_default(),
                cancer: am::get_str(doc, &o, "cancer").unwrap_or_default(),
                age_at_diagnosis: am::get_u64(doc, &o, "age_at_diagnosis"),
            })
            .collect()
    }

    /// Symptoms and concerns (collaborative text).
    pub fn symptoms(&self) -> String {
        am::get_text(&self.main.doc, &automerge::ROOT, "symptoms")
    }
}
