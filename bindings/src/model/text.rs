//! Collaborative text fields, edited by splices in UTF-16 code units — the unit of Kotlin's and Java's
//! `String`, Swift's `String.utf16`/`NSString` and JavaScript — so an editor passes its own indices as
//! they are. Python counts code points: convert (see `bindings/README.md`).
//!
//! Keystrokes are coalesced by the core into one change per save: save on a short debounce.

use casebook_core::model::text::TextField;

use crate::case::Case;
use crate::convert::{index as utf16_index, u32_of};
use crate::error::Result;

/// A collaborative text of a case. (`SharedText`, not `TextField`: SwiftUI and Compose have a
/// `TextField` of their own.)
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SharedText {
    /// The patient's proposed treatment.
    ProposedTreatment,
    /// Symptoms and concerns.
    Symptoms,
    /// The patient's wishes.
    Wishes,
    /// A question's text.
    Question {
        /// Question id.
        id: String,
    },
    /// A specialist's notes.
    SpecialistNotes {
        /// Specialist id.
        id: String,
    },
    /// An opinion's recommended treatment.
    OpinionTreatment {
        /// Opinion id.
        id: String,
    },
    /// One caregiver's notes of an appointment.
    AppointmentNotes {
        /// Appointment id.
        appointment: String,
        /// Caregiver id.
        author: String,
    },
    /// The shared summary of an appointment.
    AppointmentSummary {
        /// Appointment id.
        appointment: String,
    },
}

impl From<SharedText> for TextField {
    fn from(t: SharedText) -> Self {
        match t {
            SharedText::ProposedTreatment => TextField::ProposedTreatment,
            SharedText::Symptoms => TextField::Symptoms,
            SharedText::Wishes => TextField::Wishes,
            SharedText::Question { id } => TextField::Question(id),
            SharedText::SpecialistNotes { id } => TextField::SpecialistNotes(id),
            SharedText::OpinionTreatment { id } => TextField::OpinionTreatment(id),
            SharedText::AppointmentNotes { appointment, author } => TextField::AppointmentNotes { appointment, author },
            SharedText::AppointmentSummary { appointment } => TextField::AppointmentSummary(appointment),
        }
    }
}

#[uniffi::export]
impl Case {
    /// Replace `delete` UTF-16 units at `index` with `insert`. Refused, changing nothing, past the end or
    /// when it would cut a surrogate pair (an emoji) in half.
    pub fn splice_text(&self, field: SharedText, index: u32, delete: u32, insert: String) -> Result<()> {
        self.write(|c| c.splice_text(&field.into(), utf16_index(index), utf16_index(delete), &insert))
    }

    /// Append `text` at the end of a text field.
    pub fn append_text(&self, field: SharedText, text: String) -> Result<()> {
        self.write(|c| c.append_text(&field.into(), &text))
    }

    /// Current content of a text field.
    pub fn text(&self, field: SharedText) -> Result<String> {
        self.try_read(|c| c.text(&field.into()))
    }

    /// Length of a text field in UTF-16 code units.
    pub fn text_len(&self, field: SharedText) -> Result<u32> {
        Ok(u32_of(self.try_read(|c| c.text_len(&field.into()))?))
    }
}
