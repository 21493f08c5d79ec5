//! Specialists: subspecialists the family researches and contacts (step 2).

use automerge::transaction::Transactable;

use super::retraction::{ItemKind, Retract};
use super::{Keyed, item, items, new_item, optional, required};
use crate::am;
use crate::case::Case;
use crate::error::Result;

keyed_enum! {
    /// NCI designation of the specialist's institution (a value, never a hard-coded list of centres).
    NciDesignation {
        /// NCI-designated Comprehensive Cancer Center.
        Comprehensive => "comprehensive",
        /// NCI-designated Clinical Cancer Center.
        Clinical => "clinical",
        /// NCI-designated Basic Laboratory Cancer Center.
        BasicLaboratory => "basic_laboratory",
        /// Not NCI-designated (or unknown).
        None => "none",
    }
}

keyed_enum! {
    /// Where the family stands with a specialist.
    SpecialistStatus {
        /// Being looked into.
        Researching => "researching",
        /// Contacted.
        Contacted => "contacted",
        /// Consultation scheduled.
        Scheduled => "scheduled",
        /// Consultation held.
        Seen => "seen",
        /// Decided against.
        Declined => "declined",
    }
}

/// A specialist.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Specialist {
    /// Item id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Subspecialty (e.g. "thoracic oncology").
    pub subspecialty: Option<String>,
    /// Institution.
    pub institution: Option<String>,
    /// NCI designation of the institution.
    pub nci: NciDesignation,
    /// Contact.
    pub contact: Option<String>,
    /// Status.
    pub status: SpecialistStatus,
    /// Notes (collaborative text).
    pub notes: String,
}

/// Fields of a new specialist.
#[derive(Debug, Clone, Default)]
pub struct NewSpecialist<'a> {
    /// Name (required).
    pub name: &'a str,
    /// Subspecialty.
    pub subspecialty: Option<&'a str>,
    /// Institution.
    pub institution: Option<&'a str>,
    /// NCI designation; none if not given.
    pub nci: Option<NciDesignation>,
    /// Contact.
    pub contact: Option<&'a str>,
}

keyed_enum! {
    /// A settable specialist field.
    SpecialistField {
        /// Name.
        Name => "name",
        /// Subspecialty.
        Subspecialty => "subspecialty",
        /// Institution.
        Institution => "institution",
        /// NCI designation.
        Nci => "nci",
        /// Contact.
        Contact => "contact",
        /// Status.
        Status => "status",
    }
}

impl Case {
    /// Add a specialist (status: researching). Returns its id.
    pub fn add_specialist(&mut self, s: NewSpecialist<'_>) -> Result<String> {
        let name = required("name", s.name)?;
        self.edit(|doc| {
            let (id, o) = new_item(doc, "specialists")?;
            doc.put(&o, "name", name)?;
            am::put_opt_str(doc, &o, "subspecialty", optional(s.subspecialty).as_deref())?;
            am::put_opt_str(doc, &o, "institution", optional(s.institution).as_deref())?;
            doc.put(&o, "nci", s.nci.unwrap_or(NciDesignation::None).key())?;
            am::put_opt_str(doc, &o, "contact", optional(s.contact).as_deref())?;
            doc.put(&o, "status", SpecialistStatus::Researching.key())?;
            am::put_text(doc, &o, "notes", "")?;
            Ok(id)
        })
    }

    /// Set a specialist field (validated: NCI designation and status must be known values).
    pub fn set_specialist(&mut self, id: &str, field: SpecialistField, value: Option<&str>) -> Result<()> {
        let value = optional(value);
        let checked = match (field, value.as_deref()) {
            (SpecialistField::Name, v) => Some(required("name", v.unwrap_or(""))?),
            (SpecialistField::Nci, Some(v)) => Some(NciDesignation::parse("nci", v)?.key().to_string()),
            (SpecialistField::Status, Some(v)) => Some(SpecialistStatus::parse("status", v)?.key().to_string()),
            (_, v) => v.map(str::to_string),
        };
        self.edit(|doc| {
            let o = item(doc, "specialists", id, "specialist")?;
            am::put_opt_str(doc, &o, field.key(), checked.as_deref())
        })
    }

    /// Retract a specialist: a retraction entry (who, when, why) is written on it and it leaves every listing,
    /// but nothing is deleted: it stays, as it stands, among [`Case::retracted_items`]. Appointments and opinions that name it keep its id; listings show it as retracted.
    /// Refused: an unknown or already retracted id, an author who is not on the care team. Returns the
    /// retraction's id.
    pub fn retract_specialist(&mut self, id: &str, how: Retract<'_>) -> Result<String> {
        self.retract_item(ItemKind::Specialist, id, how)
    }

    /// Every specialist, by name (then id).
    pub fn specialists(&self) -> Vec<Specialist> {
        let doc = &self.main.doc;
        let mut v: Vec<Specialist> = items(doc, "specialists")
            .into_iter()
            .map(|(id, o)| Specialist {
                id,
                name: am::get_str(doc, &o, "name").unwrap_or_default(),
                subspecialty: am::get_str(doc, &o, "subspecialty"),
                institution: am::get_str(doc, &o, "institution"),
                nci: am::get_str(doc, &o, "nci")
                    .and_then(|s| NciDesignation::from_key(&s))
                    .unwrap_or(NciDesignation::None),
                contact: am::get_str(doc, &o, "contact"),
                status: am::get_str(doc, &o, "status")
                    .and_then(|s| SpecialistStatus::from_key(&s))
                    .unwrap_or(SpecialistStatus::Researching),
                notes: am::get_text(doc, &o, "notes"),
            })
            .collect();
        v.sort_by_cached_key(|s| (s.name.to_lowercase(), s.id.clone()));
        v
    }
}
