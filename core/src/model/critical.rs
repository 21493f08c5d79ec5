//! Critical situations: when the guide says a second opinion becomes essential.

use automerge::transaction::Transactable;

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

/// The derived verdict.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// True when at least one critical situation applies.
    pub strongly_advised: bool,
    /// The situations that apply, in the guide's order.
    pub reasons: Vec<Situation>,
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

    /// "Second opinion strongly advised", with its reasons.
    pub fn verdict(&self) -> Verdict {
        let reasons: Vec<Situation> = self.flags().into_iter().filter(|f| f.flagged).map(|f| f.situation).collect();
        Verdict { strongly_advised: !reasons.is_empty(), reasons }
    }
}
