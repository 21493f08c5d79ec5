//! The seven critical situations and the derived "second opinion strongly advised" verdict.

use casebook_core::model::critical::{Flag as CoreFlag, Situation, Verdict as CoreVerdict};

use crate::case::Case;
use crate::error::Result;

/// A situation in which a second opinion is strongly advised.
#[uniffi::remote(Enum)]
pub enum Situation {
    /// Cancer has spread beyond its original site.
    AdvancedOrMetastatic,
    /// A rare or unusual cancer.
    RareCancer,
    /// Aggressive treatment recommended.
    AggressiveTreatment,
    /// Young patient.
    YoungPatient,
    /// Told the cancer is terminal or untreatable.
    PoorPrognosis,
    /// Cancer progresses despite treatment.
    TreatmentNotWorking,
    /// Considering declining recommended treatment.
    ConsideringDeclining,
}

/// One situation's flag and note.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Flag {
    /// The situation.
    pub situation: Situation,
    /// Its caregiver-facing label (English).
    pub label: String,
    /// Whether it applies.
    pub flagged: bool,
    /// Why (free text).
    pub note: Option<String>,
}

/// The derived verdict.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Verdict {
    /// True when at least one critical situation applies.
    pub strongly_advised: bool,
    /// The situations that apply, in the guide's order.
    pub reasons: Vec<Situation>,
}

impl From<CoreFlag> for Flag {
    fn from(f: CoreFlag) -> Self {
        Self { situation: f.situation, label: f.situation.label().to_string(), flagged: f.flagged, note: f.note }
    }
}

impl From<CoreVerdict> for Verdict {
    fn from(v: CoreVerdict) -> Self {
        Self { strongly_advised: v.strongly_advised, reasons: v.reasons }
    }
}

/// The caregiver-facing label of a situation (English).
#[uniffi::export]
pub fn situation_label(situation: Situation) -> String {
    situation.label().to_string()
}

#[uniffi::export]
impl Case {
    /// Every situation's flag, in the guide's order.
    pub fn flags(&self) -> Result<Vec<Flag>> {
        Ok(self.read(|c| c.flags())?.into_iter().map(Into::into).collect())
    }

    /// Set a situation's flag and note.
    pub fn set_flag(&self, situation: Situation, flagged: bool, note: Option<String>) -> Result<()> {
        self.write(|c| c.set_flag(situation, flagged, note.as_deref()))
    }

    /// "Second opinion strongly advised", with its reasons.
    pub fn verdict(&self) -> Result<Verdict> {
        Ok(self.read(|c| c.verdict())?.into())
    }
}
