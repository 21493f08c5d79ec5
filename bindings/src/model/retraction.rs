//! Retractions: items entered by mistake leave the lists without anything being deleted; what was
//! retracted stays visible, with who retracted it, when and why.

use casebook_core::model::retraction::{ItemKind, RetractedItem as CoreRetracted};

use crate::case::Case;
use crate::error::Result;
use crate::model::record_request::Retraction;

/// A kind of item that can be retracted.
#[uniffi::remote(Enum)]
pub enum ItemKind {
    /// A specialist.
    Specialist,
    /// A document of the chronology.
    Document,
    /// A medication.
    Medication,
    /// A family history entry.
    FamilyHistory,
    /// A question.
    Question,
    /// An appointment.
    Appointment,
    /// An opinion.
    Opinion,
    /// A task.
    Task,
    /// A cost.
    Cost,
    /// A record request.
    RecordRequest,
}

/// A retracted item as it stands now, with every retraction.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RetractedItem {
    /// What kind of item.
    pub kind: ItemKind,
    /// Item id.
    pub id: String,
    /// What the item was, in a few words (raw text from the document).
    pub name: String,
    /// Its retractions, oldest first.
    pub retractions: Vec<Retraction>,
}

impl From<CoreRetracted> for RetractedItem {
    fn from(r: CoreRetracted) -> Self {
        Self { kind: r.kind, id: r.id, name: r.name, retractions: r.retractions.into_iter().map(Into::into).collect() }
    }
}

#[uniffi::export]
impl Case {
    /// Every retracted item (record requests included), with who retracted it, when and why.
    pub fn retracted_items(&self) -> Result<Vec<RetractedItem>> {
        Ok(self.read(|c| c.retracted_items())?.into_iter().map(Into::into).collect())
    }
}
