//! Opinions (step 7): what each doctor concluded, and where they differ.

use casebook_core::model::notation::Outcome;
use casebook_core::model::opinion::{
    Aspect, AspectComparison as CoreAspectComparison, Comparison as CoreComparison, NewOpinion as CoreNew,
    Opinion as CoreOpinion, OpinionValue as CoreValue,
};

use casebook_core::model::retraction::Retract;

use crate::case::Case;
use crate::convert::{date, u64_of};
use crate::error::Result;

/// An aspect on which opinions can differ.
#[uniffi::remote(Enum)]
pub enum Aspect {
    /// The diagnosis.
    Diagnosis,
    /// The stage.
    Stage,
    /// The recommended treatment.
    Treatment,
}

/// How the opinions compare on an aspect.
#[uniffi::remote(Enum)]
pub enum Outcome {
    /// Same meaning (perhaps written differently).
    Agree,
    /// Written in ways that cannot be reduced to one meaning: worth asking the doctors; not a difference.
    Unclear,
    /// Different meaning.
    Differ,
}

/// A settable opinion field (the treatment is collaborative text: `SharedText.OpinionTreatment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OpinionField {
    /// Diagnosis as stated.
    Diagnosis,
    /// Stage as stated.
    Stage,
    /// Clinical trials mentioned.
    Trials,
}

impl OpinionField {
    fn key(self) -> &'static str {
        match self {
            OpinionField::Diagnosis => "diagnosis",
            OpinionField::Stage => "stage",
            OpinionField::Trials => "trials",
        }
    }
}

/// One doctor's opinion.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Opinion {
    /// Item id.
    pub id: String,
    /// 1 for the first opinion, 2 for the second, …
    pub rank: u64,
    /// Specialist id, if linked.
    pub specialist: Option<String>,
    /// Date given, `YYYY-MM-DD`.
    pub date: Option<String>,
    /// Diagnosis as stated.
    pub diagnosis: Option<String>,
    /// Stage as stated.
    pub stage: Option<String>,
    /// Recommended treatment (collaborative text).
    pub treatment: String,
    /// Clinical trials mentioned.
    pub trials: Option<String>,
}

/// Fields of a new opinion.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewOpinion {
    /// 1 = first, 2 = second, … (at most 20).
    pub rank: u64,
    /// Specialist id.
    #[uniffi(default = None)]
    pub specialist: Option<String>,
    /// Date, `YYYY-MM-DD`.
    #[uniffi(default = None)]
    pub date: Option<String>,
    /// Diagnosis.
    #[uniffi(default = None)]
    pub diagnosis: Option<String>,
    /// Stage.
    #[uniffi(default = None)]
    pub stage: Option<String>,
    /// Recommended treatment.
    #[uniffi(default = None)]
    pub treatment: Option<String>,
    /// Trials mentioned.
    #[uniffi(default = None)]
    pub trials: Option<String>,
}

/// One opinion's value on an aspect.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RankedValue {
    /// The opinion's id.
    pub opinion: String,
    /// The opinion's rank.
    pub rank: u64,
    /// Its value as written.
    pub value: String,
    /// Its value as compared (`IIIA`, `cT2 N1 M0`, `chemoradiation durvalumab`).
    pub reads_as: String,
}

/// How the opinions that state an aspect compare on it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OpinionDifference {
    /// The aspect.
    pub aspect: Aspect,
    /// Agree, unclear or differ.
    pub outcome: Outcome,
    /// Each opinion's value.
    pub values: Vec<RankedValue>,
    /// The parts that differ or are unclear (`stage group`, `substage`, `T`, `N`, `M`, `notation`).
    pub components: Vec<String>,
    /// Observations that do not change the outcome (e.g. TNM categories based on different evidence).
    pub notes: Vec<String>,
}

/// The comparison of all opinions.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OpinionComparison {
    /// Number of opinions compared.
    pub opinions: u64,
    /// Aspects on which the opinions differ in meaning.
    pub differences: Vec<OpinionDifference>,
    /// Aspects written in ways that cannot be reduced to one meaning (ask the doctors).
    pub unclear: Vec<OpinionDifference>,
    /// Aspects on which the opinions agree.
    pub agreements: Vec<OpinionDifference>,
    /// A first and a second opinion differ in meaning and no third is recorded: the guide suggests
    /// considering a third opinion.
    pub suggest_third_opinion: bool,
}

impl From<CoreOpinion> for Opinion {
    fn from(o: CoreOpinion) -> Self {
        Self {
            id: o.id,
            rank: o.rank,
            specialist: o.specialist,
            date: date(o.date),
            diagnosis: o.diagnosis,
            stage: o.stage,
            treatment: o.treatment,
            trials: o.trials,
        }
    }
}

impl From<CoreValue> for RankedValue {
    fn from(v: CoreValue) -> Self {
        Self { opinion: v.opinion, rank: v.rank, value: v.value, reads_as: v.reads_as }
    }
}

impl From<CoreAspectComparison> for OpinionDifference {
    fn from(d: CoreAspectComparison) -> Self {
        Self {
            aspect: d.aspect,
            outcome: d.outcome,
            values: d.values.into_iter().map(Into::into).collect(),
            components: d.components,
            notes: d.notes,
        }
    }
}

impl From<CoreComparison> for OpinionComparison {
    fn from(c: CoreComparison) -> Self {
        Self {
            opinions: u64_of(c.opinions),
            differences: c.differences.into_iter().map(Into::into).collect(),
            unclear: c.unclear.into_iter().map(Into::into).collect(),
            agreements: c.agreements.into_iter().map(Into::into).collect(),
            suggest_third_opinion: c.suggest_third_opinion,
        }
    }
}

#[uniffi::export]
impl Case {
    /// Every opinion, by rank.
    pub fn opinions(&self) -> Result<Vec<Opinion>> {
        Ok(self.read(|c| c.opinions())?.into_iter().map(Into::into).collect())
    }

    /// Record an opinion. Returns its id.
    pub fn add_opinion(&self, opinion: NewOpinion) -> Result<String> {
        self.write(|c| {
            c.add_opinion(CoreNew {
                rank: opinion.rank,
                specialist: opinion.specialist.as_deref(),
                date: opinion.date.as_deref(),
                diagnosis: opinion.diagnosis.as_deref(),
                stage: opinion.stage.as_deref(),
                treatment: opinion.treatment.as_deref(),
                trials: opinion.trials.as_deref(),
            })
        })
    }

    /// Set (or with `None`, clear) an opinion's diagnosis, stage or trials.
    pub fn set_opinion(&self, id: String, field: OpinionField, value: Option<String>) -> Result<()> {
        self.write(|c| c.set_opinion(&id, field.key(), value.as_deref()))
    }

    /// Retract an opinion entered by mistake: a retraction entry (who, when, why) is written on it; it leaves
    /// the lists but nothing is deleted (see `retracted_items`). `today` is the app's local date (default:
    /// today in the device's time zone). Returns the retraction's id.
    #[uniffi::method(default(reason = None, by = None, today = None))]
    pub fn retract_opinion(
        &self,
        id: String,
        reason: Option<String>,
        by: Option<String>,
        today: Option<String>,
    ) -> Result<String> {
        let today = crate::convert::today_or(today)?;
        self.write(|c| c.retract_opinion(&id, Retract { today, by: by.as_deref(), reason: reason.as_deref() }))
    }

    /// Compare the opinions by meaning: where diagnosis, stage or recommendation agree, differ, or are
    /// written in ways that cannot be compared.
    pub fn compare_opinions(&self) -> Result<OpinionComparison> {
        Ok(self.read(|c| c.compare_opinions())?.into())
    }
}
