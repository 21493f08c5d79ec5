//! The seven critical situations and the derived "second opinion strongly advised" verdict.

use casebook_core::model::critical::{Flag as CoreFlag, Situation, Suggestion, Verdict as CoreVerdict};
use casebook_core::model::opinion::Aspect;

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

/// What the guide suggests next about opinions.
#[uniffi::remote(Enum)]
pub enum Suggestion {
    /// Nothing.
    Nothing,
    /// A critical situation applies and no second opinion is recorded yet.
    SecondOpinion,
    /// The first and second opinions differ in meaning and no third is recorded yet.
    ThirdOpinion,
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

/// The derived verdict, from the flags and the opinions already recorded.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Verdict {
    /// A critical situation applies and no second opinion is recorded yet.
    pub strongly_advised: bool,
    /// The situations that apply, in the guide's order.
    pub reasons: Vec<Situation>,
    /// Number of opinions recorded.
    pub opinions: u64,
    /// An opinion of rank 2 or more is recorded.
    pub second_opinion_recorded: bool,
    /// An opinion of rank 3 or more is recorded.
    pub third_opinion_recorded: bool,
    /// The aspects on which the opinions differ in meaning.
    pub differing: Vec<Aspect>,
    /// What the guide suggests next ("The guide suggests considering a third opinion" at the strongest).
    pub suggestion: Suggestion,
}

impl From<CoreFlag> for Flag {
    fn from(f: CoreFlag) -> Self {
        Self { situation: f.situation, label: f.situation.label().to_string(), flagged: f.flagged, note: f.note }
    }
}

impl From<CoreVerdict> for Verdict {
    fn from(v: CoreVerdict) -> Self {
        Self {
            strongly_advised: v.strongly_advised,
            reasons: v.reasons,
            opinions: crate::convert::u64_of(v.opinions),
            second_opinion_recorded: v.second_opinion_recorded,
            third_opinion_recorded: v.third_opinion_recorded,
            differing: v.differing,
            suggestion: v.suggestion,
        }
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

    /// The verdict: the critical situations, and what the guide suggests given the opinions recorded.
    pub fn verdict(&self) -> Result<Verdict> {
        Ok(self.read(|c| c.verdict())?.into())
    }
}
