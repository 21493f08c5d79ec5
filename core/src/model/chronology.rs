//! Organised documentation (step 4): records chronology, medication list, family cancer history.
//! Symptoms and concerns are a collaborative text ([`TextField::Symptoms`](super::text::TextField)).

use automerge::ReadDoc;
use automerge::transaction::Transactable;
use time::Date;

use super::retraction::{ItemKind, Retract};
use super::{Keyed, item, items, new_item, nothing_to_change, optional, required};
use crate::am;
use crate::case::Case;
use crate::dates::{format_date, parse_date, stored_date};
use crate::error::{Error, Result};

/// The oldest age at diagnosis accepted.
const MAX_AGE: u64 = 130;

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

/// Corrections to a document of the chronology (`None` leaves a field as it is). Each field is stored on
/// its own: two caregivers correcting different fields offline both keep their correction.
#[derive(Debug, Clone, Default)]
pub struct DocumentChanges<'a> {
    /// `Some(Some(date))` sets the date of the document (YYYY-MM-DD), `Some(None)` clears it.
    pub date: Option<Option<&'a str>>,
    /// New kind.
    pub kind: Option<DocumentKind>,
    /// `Some(Some(facility))` sets the facility of origin, `Some(None)` (or a blank text) clears it.
    pub facility: Option<Option<&'a str>>,
    /// New description (must not be empty).
    pub description: Option<&'a str>,
    /// Where it is kept now.
    pub location: Option<Location>,
}

/// Corrections to a medication (`None` leaves a field as it is).
#[derive(Debug, Clone, Default)]
pub struct MedicationChanges<'a> {
    /// New name (must not be empty).
    pub name: Option<&'a str>,
    /// `Some(Some(dose))` sets the dose and schedule, `Some(None)` (or a blank text) clears it.
    pub dose: Option<Option<&'a str>>,
}

/// Corrections to an entry of the family history (`None` leaves a field as it is).
#[derive(Debug, Clone, Default)]
pub struct FamilyHistoryChanges<'a> {
    /// New relative (must not be empty).
    pub relative: Option<&'a str>,
    /// New cancer (must not be empty).
    pub cancer: Option<&'a str>,
    /// `Some(Some(age))` sets the age at diagnosis (0–130), `Some(None)` clears it.
    pub age_at_diagnosis: Option<Option<u64>>,
}

/// Refuse an age at diagnosis no one reaches.
fn check_age(age: Option<u64>) -> Result<()> {
    if age.is_some_and(|a| a > MAX_AGE) {
        return Err(Error::InvalidInput {
            field: "age_at_diagnosis",
            reason: format!("must be between 0 and {MAX_AGE}"),
        });
    }
    Ok(())
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

    /// Correct a document of the chronology: date, kind, facility, description, where it is kept. Refused,
    /// changing nothing: an empty description, a date that does not parse, no change at all, an unknown id.
    pub fn edit_document(&mut self, id: &str, changes: DocumentChanges<'_>) -> Result<()> {
        let date = changes.date.map(|d| d.map(|d| parse_date("date", d)).transpose()).transpose()?;
        let description = changes.description.map(|d| required("description", d)).transpose()?;
        let facility = changes.facility.map(optional);
        if date.is_none()
            && changes.kind.is_none()
            && facility.is_none()
            && description.is_none()
            && changes.location.is_none()
        {
            return Err(nothing_to_change());
        }
        self.edit(|doc| {
            let o = item(doc, "documents", id, "document")?;
            if let Some(d) = date {
                am::put_opt_str(doc, &o, "date", d.map(format_date).as_deref())?;
            }
            if let Some(k) = changes.kind {
                doc.put(&o, "kind", k.key())?;
            }
            if let Some(f) = facility {
                am::put_opt_str(doc, &o, "facility", f.as_deref())?;
            }
            if let Some(d) = description {
                doc.put(&o, "description", d)?;
            }
            if let Some(l) = changes.location {
                doc.put(&o, "location", l.key())?;
            }
            Ok(())
        })
    }

    /// Retract a document of the chronology: a retraction entry (who, when, why) is written on it and it leaves every listing,
    /// but nothing is deleted: it stays, as it stands, among [`Case::retracted_items`].
    /// Refused: an unknown or already retracted id, an author who is not on the care team. Returns the
    /// retraction's id.
    pub fn retract_document(&mut self, id: &str, how: Retract<'_>) -> Result<String> {
        self.retract_item(ItemKind::Document, id, how)
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

    /// Correct a medication: name, dose. Refused, changing nothing: an empty name, no change at all, an
    /// unknown id.
    pub fn edit_medication(&mut self, id: &str, changes: MedicationChanges<'_>) -> Result<()> {
        let name = changes.name.map(|n| required("name", n)).transpose()?;
        let dose = changes.dose.map(optional);
        if name.is_none() && dose.is_none() {
            return Err(nothing_to_change());
        }
        self.edit(|doc| {
            let o = item(doc, "medications", id, "medication")?;
            if let Some(n) = name {
                doc.put(&o, "name", n)?;
            }
            if let Some(d) = dose {
                am::put_opt_str(doc, &o, "dose", d.as_deref())?;
            }
            Ok(())
        })
    }

    /// Retract a medication: a retraction entry (who, when, why) is written on it and it leaves every listing,
    /// but nothing is deleted: it stays, as it stands, among [`Case::retracted_items`].
    /// Refused: an unknown or already retracted id, an author who is not on the care team. Returns the
    /// retraction's id.
    pub fn retract_medication(&mut self, id: &str, how: Retract<'_>) -> Result<String> {
        self.retract_item(ItemKind::Medication, id, how)
    }

    /// The medication list, by name (then id).
    pub fn medications(&self) -> Vec<Medication> {
        let doc = &self.main.doc;
        let mut v: Vec<Medication> = items(doc, "medications")
            .into_iter()
            .map(|(id, o)| Medication {
                id,
                name: am::get_str(doc, &o, "name").unwrap_or_default(),
                dose: am::get_str(doc, &o, "dose"),
            })
            .collect();
        v.sort_by_cached_key(|m| (m.name.to_lowercase(), m.id.clone()));
        v
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
        check_age(age_at_diagnosis)?;
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

    /// Correct an entry of the family history: relative, cancer, age at diagnosis. Refused, changing
    /// nothing: an empty relative or cancer, an age over 130, no change at all, an unknown id.
    pub fn edit_family_history(&mut self, id: &str, changes: FamilyHistoryChanges<'_>) -> Result<()> {
        let relative = changes.relative.map(|r| required("relative", r)).transpose()?;
        let cancer = changes.cancer.map(|c| required("cancer", c)).transpose()?;
        if let Some(age) = changes.age_at_diagnosis {
            check_age(age)?;
        }
        if relative.is_none() && cancer.is_none() && changes.age_at_diagnosis.is_none() {
            return Err(nothing_to_change());
        }
        self.edit(|doc| {
            let o = item(doc, "family_history", id, "family history entry")?;
            if let Some(r) = relative {
                doc.put(&o, "relative", r)?;
            }
            if let Some(c) = cancer {
                doc.put(&o, "cancer", c)?;
            }
            match changes.age_at_diagnosis {
                Some(Some(a)) => doc.put(&o, "age_at_diagnosis", a)?,
                Some(None) if doc.get(&o, "age_at_diagnosis")?.is_some() => doc.delete(&o, "age_at_diagnosis")?,
                _ => {}
            }
            Ok(())
        })
    }

    /// Retract a family history entry: a retraction entry (who, when, why) is written on it and it leaves every listing,
    /// but nothing is deleted: it stays, as it stands, among [`Case::retracted_items`].
    /// Refused: an unknown or already retracted id, an author who is not on the care team. Returns the
    /// retraction's id.
    pub fn retract_family_history(&mut self, id: &str, how: Retract<'_>) -> Result<String> {
        self.retract_item(ItemKind::FamilyHistory, id, how)
    }

    /// The family cancer history, by relative, then cancer (then id).
    pub fn family_history(&self) -> Vec<FamilyHistoryEntry> {
        let doc = &self.main.doc;
        let mut v: Vec<FamilyHistoryEntry> = items(doc, "family_history")
            .into_iter()
            .map(|(id, o)| FamilyHistoryEntry {
                id,
                relative: am::get_str(doc, &o, "relative").unwrap_or_default(),
                cancer: am::get_str(doc, &o, "cancer").unwrap_or_default(),
                age_at_diagnosis: am::get_u64(doc, &o, "age_at_diagnosis"),
            })
            .collect();
        v.sort_by_cached_key(|h| (h.relative.to_lowercase(), h.cancer.to_lowercase(), h.id.clone()));
        v
    }

    /// Symptoms and concerns (collaborative text).
    pub fn symptoms(&self) -> String {
        am::get_text(&self.main.doc, &automerge::ROOT, "symptoms")
    }
}
