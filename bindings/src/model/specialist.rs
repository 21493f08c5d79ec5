//! Specialists the family researches and contacts (step 2).

use casebook_core::model::specialist::{
    NciDesignation, NewSpecialist as CoreNew, Specialist as CoreSpecialist, SpecialistField, SpecialistStatus,
};

use casebook_core::model::retraction::Retract;

use crate::case::Case;
use crate::error::Result;

/// NCI designation of the specialist's institution.
#[uniffi::remote(Enum)]
pub enum NciDesignation {
    /// NCI-designated Comprehensive Cancer Center.
    Comprehensive,
    /// NCI-designated Clinical Cancer Center.
    Clinical,
    /// NCI-designated Basic Laboratory Cancer Center.
    BasicLaboratory,
    /// Not NCI-designated (or unknown).
    None,
}

/// Where the family stands with a specialist.
#[uniffi::remote(Enum)]
pub enum SpecialistStatus {
    /// Being looked into.
    Researching,
    /// Contacted.
    Contacted,
    /// Consultation scheduled.
    Scheduled,
    /// Consultation held.
    Seen,
    /// Decided against.
    Declined,
}

/// A settable specialist field (see [`Case::set_specialist`]).
#[uniffi::remote(Enum)]
pub enum SpecialistField {
    /// Name.
    Name,
    /// Subspecialty.
    Subspecialty,
    /// Institution.
    Institution,
    /// NCI designation (`comprehensive`, `clinical`, `basic_laboratory`, `none`).
    Nci,
    /// Contact.
    Contact,
    /// Status (`researching`, `contacted`, `scheduled`, `seen`, `declined`).
    Status,
}

/// A specialist.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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
    /// Notes (collaborative text: `SharedText.SpecialistNotes`).
    pub notes: String,
}

/// Fields of a new specialist.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewSpecialist {
    /// Name (required).
    pub name: String,
    /// Subspecialty.
    #[uniffi(default = None)]
    pub subspecialty: Option<String>,
    /// Institution.
    #[uniffi(default = None)]
    pub institution: Option<String>,
    /// NCI designation (none if not given).
    #[uniffi(default = None)]
    pub nci: Option<NciDesignation>,
    /// Contact.
    #[uniffi(default = None)]
    pub contact: Option<String>,
}

impl From<CoreSpecialist> for Specialist {
    fn from(s: CoreSpecialist) -> Self {
        Self {
            id: s.id,
            name: s.name,
            subspecialty: s.subspecialty,
            institution: s.institution,
            nci: s.nci,
            contact: s.contact,
            status: s.status,
            notes: s.notes,
        }
    }
}

#[uniffi::export]
impl Case {
    /// Every specialist.
    pub fn specialists(&self) -> Result<Vec<Specialist>> {
        Ok(self.read(|c| c.specialists())?.into_iter().map(Into::into).collect())
    }

    /// Add a specialist (status: researching). Returns its id.
    pub fn add_specialist(&self, specialist: NewSpecialist) -> Result<String> {
        self.write(|c| {
            c.add_specialist(CoreNew {
                name: &specialist.name,
                subspecialty: specialist.subspecialty.as_deref(),
                institution: specialist.institution.as_deref(),
                nci: specialist.nci,
                contact: specialist.contact.as_deref(),
            })
        })
    }

    /// Set (or with `None`, clear) a specialist field. The name cannot be cleared; NCI designation and
    /// status take their snake_case keys.
    pub fn set_specialist(&self, id: String, field: SpecialistField, value: Option<String>) -> Result<()> {
        self.write(|c| c.set_specialist(&id, field, value.as_deref()))
    }

    /// Set a specialist's status (typed form of `set_specialist(id, STATUS, …)`).
    pub fn set_specialist_status(&self, id: String, status: SpecialistStatus) -> Result<()> {
        use casebook_core::Keyed;
        self.write(|c| c.set_specialist(&id, SpecialistField::Status, Some(status.key())))
    }

    /// Retract a specialist entered by mistake: a retraction entry (who, when, why) is written on it; it leaves
    /// the lists but nothing is deleted (see `retracted_items`). `today` is the app's local date (default:
    /// today in the device's time zone). Returns the retraction's id.
    #[uniffi::method(default(reason = None, by = None, today = None))]
    pub fn retract_specialist(
        &self,
        id: String,
        reason: Option<String>,
        by: Option<String>,
        today: Option<String>,
    ) -> Result<String> {
        let today = crate::convert::today_or(today)?;
        self.write(|c| c.retract_specialist(&id, Retract { today, by: by.as_deref(), reason: reason.as_deref() }))
    }
}
