//! Critical situations: when the guide says a second opinion becomes essential.

use automerge::transaction::Transactable;

use super::opinion::Aspect;
use super::{Keyed, optional};
use crate::am;
use crate::case::Case;
use crate::error::Result;

keyed_enum! {
    /// A situation in which a second opinion is strongly advised.
    Situation {
        /// Cancer has spread beyond its original site.
        AdvancedOrMetastatic => "advanced_or_metastatic",
        /// A rare or unusual cancer.
        RareCancer => "rare_cancer",
        /// Aggressive treatment recommended.
        AggressiveTreatment => "aggressive_treatment",
        /// Young patient (under 40–50 depending on the cancer).
        YoungPatient => "young_patient",
        /// Told the cancer is terminal or untreatable.
        PoorPrognosis => "poor_prognosis",
        /// Cancer progresses despite treatment.
        TreatmentNotWorking => "treatment_not_working",
        /// Considering declining recommended treatment.
        ConsideringDeclining => "considering_declining",
    }
}

impl Situation {
    /// A caregiver-facing label.
    pub fn label(self) -> &'static str {
        match self {
            Situation::AdvancedOrMetastatic => "Advanced or metastatic cancer",
            Situation::RareCancer => "Rare or unusual cancer",
            Situation::AggressiveTreatment => "Aggressive treatment recommended",
            Situation::YoungPatient => "Young patient",
            Situation::PoorPrognosis => "Poor prognosis given",
            Situation::TreatmentNotWorking => "Treatment not working",
            Situation::ConsideringDeclining => "Considering declining treatment",
        }
    }
}

/// One situation's flag and note.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Flag {
    /// The situation.
    pub situation: Situation,
    /// Whether it applies.
    pub flagged: bool,
    /// Why (free text).
    pub note: Option<String>,
}

keyed_enum! {
    /// What the guide suggests next about opinions, given the flags and the opinions already recorded.
    Suggestion {
        /// Nothing: no critical situation is flagged and no third opinion is called for.
        Nothing => "nothing",
        /// A critical situation applies and no second opinion is recorded yet.
        SecondOpinion => "second_opinion",
        /// The first and second opinions differ in meaning and no third is recorded yet.
        ThirdOpinion => "third_opinion",
    }
}

/// The derived verdict: the critical situations, and what the guide suggests given the opinions already
/// obtained.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// A critical situation applies and no second opinion is recorded yet: the guide calls a second opinion
    /// essential in these situations. False once an opinion of rank 2 or more is recorded (the advice has
    /// been followed), whatever the flags say.
    pub strongly_advised: bool,
    /// The situations that apply, in the guide's order (listed whether or not a second opinion exists).
    pub reasons: Vec<Situation>,
    /// Number of opinions recorded.
    pub opinions: usize,
    /// An opinion of rank 2 or more is recorded.
    pub second_opinion_recorded: bool,
    /// An opinion of rank 3 or more is recorded.
    pub third_opinion_recorded: bool,
    /// The aspects on which the opinions differ in meaning (see [`Case::compare_opinions`]).
    pub differing: Vec<Aspect>,
    /// What the guide suggests next.
    pub suggestion: Suggestion,
}

impl Case {
    /// Every situation's flag.
    pub fn flags(&self) -> Vec<Flag> {
        let doc = &self.main.doc;
        let crit = am::root_map(doc, "critical").ok();
        Situation::ALL
            .iter()
            .map(|&s| {
                let m = crit.as_ref().and_then(|c| am::get_obj(doc, c, s.key()));
                Flag {
                    situation: s,
                    flagged: m.as_ref().is_some_and(|m| am::get_bool(doc, m, "flag")),
                    note: m.as_ref().and_then(|m| am::get_str(doc, m, "note")),
                }
            })
            .collect()
    }

    /// Set a situation's flag and note.
    pub fn set_flag(&mut self, situation: Situation, flagged: bool, note: Option<&str>) -> Result<()> {
        let note = optional(note);
        self.edit(|doc| {
            let crit = am::root_map(doc, "critical")?;
            let m = match am::get_obj(doc, &crit, situation.key()) {
                Some(m) => m,
                None => doc.put_object(&crit, situation.key(), automerge::ObjType::Map)?,
            };
            doc.put(&m, "flag", flagged)?;
            am::put_opt_str(doc, &m, "note", note.as_deref())
        })
    }

    /// The verdict, from the flags and the opinions already recorded. The rule:
    /// - a critical situation flagged and no opinion of rank ≥ 2 → [`Suggestion::SecondOpinion`]
    ///   (`strongly_advised`);
    /// - otherwise, when [`Case::compare_opinions`] suggests a third opinion (a first and a second opinion
    ///   that differ in meaning, no third recorded yet) → [`Suggestion::ThirdOpinion`];
    /// - otherwise (no opinion, one opinion, opinions that agree or only differ in wording, or a third
    ///   opinion already recorded) → [`Suggestion::Nothing`].
    ///
    /// It is derived from the document alone, so every replica computes the same verdict whatever the order
    /// in which edits arrived.
    pub fn verdict(&self) -> Verdict {
        let reasons: Vec<Situation> = self.flags().into_iter().filter(|f| f.flagged).map(|f| f.situation).collect();
        let opinions = self.opinions();
        let second_opinion_recorded = opinions.iter().any(|o| o.rank >= 2);
        let third_opinion_recorded = opinions.iter().any(|o| o.rank >= 3);
        let comparison = self.compare_opinions();
        let strongly_advised = !reasons.is_empty() && !second_opinion_recorded;
        let suggestion = if strongly_advised {
            Suggestion::SecondOpinion
        } else if comparison.suggest_third_opinion {
            Suggestion::ThirdOpinion
        } else {
            Suggestion::Nothing
        };
        Verdict {
            strongly_advised,
            reasons,
            opinions: opinions.len(),
            second_opinion_recorded,
            third_opinion_recorded,
            differing: comparison.differing(),
            suggestion,
        }
    }
}
