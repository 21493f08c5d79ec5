//! Opinions (step 7): what each doctor concluded, and where they differ.

use automerge::transaction::Transactable;
use time::Date;

use super::notation::{self, Outcome};
use super::retraction::{ItemKind, Retract};
use super::{item, items, optional};
use crate::am;
use crate::case::Case;
use crate::dates::{format_date, parse_date, stored_date};
use crate::error::{Error, Result};

/// One doctor's opinion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Opinion {
    /// Item id.
    pub id: String,
    /// 1 for the first opinion, 2 for the second, …
    pub rank: u64,
    /// Specialist id, if linked.
    pub specialist: Option<String>,
    /// Date given.
    pub date: Option<Date>,
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
#[derive(Debug, Clone, Default)]
pub struct NewOpinion<'a> {
    /// 1 = first, 2 = second, …
    pub rank: u64,
    /// Specialist id.
    pub specialist: Option<&'a str>,
    /// Date, YYYY-MM-DD.
    pub date: Option<&'a str>,
    /// Diagnosis.
    pub diagnosis: Option<&'a str>,
    /// Stage.
    pub stage: Option<&'a str>,
    /// Recommended treatment.
    pub treatment: Option<&'a str>,
    /// Trials mentioned.
    pub trials: Option<&'a str>,
}

/// An aspect on which opinions can differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aspect {
    /// The diagnosis.
    Diagnosis,
    /// The stage.
    Stage,
    /// The recommended treatment.
    Treatment,
}

impl Aspect {
    /// Its name, lower case: `diagnosis`, `stage`, `treatment`.
    pub fn name(self) -> &'static str {
        match self {
            Aspect::Diagnosis => "diagnosis",
            Aspect::Stage => "stage",
            Aspect::Treatment => "treatment",
        }
    }
}

impl std::fmt::Display for Aspect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One opinion's value on an aspect: as written, and as read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpinionValue {
    /// The opinion's id.
    pub opinion: String,
    /// Its rank (1 = first opinion, …).
    pub rank: u64,
    /// The value as the doctor's words were recorded (for display).
    pub value: String,
    /// The value as compared: `IIIA`, `cT2 N1 M0`, `chemoradiation durvalumab` (see [`notation`]).
    pub reads_as: String,
}

/// How the opinions that state an aspect compare on it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AspectComparison {
    /// The aspect.
    pub aspect: Aspect,
    /// Agree, differ, or unclear (written in ways that cannot be reduced to one meaning).
    pub outcome: Outcome,
    /// Each opinion's value, by rank.
    pub values: Vec<OpinionValue>,
    /// The parts that differ or are unclear: `stage group`, `substage`, `T`, `N`, `M`, `notation` (stages
    /// only; empty for diagnosis and treatment, which are compared whole).
    pub components: Vec<String>,
    /// Observations that do not change the outcome, e.g. TNM categories based on different evidence
    /// (clinical `c` against pathological `p`), or values written with different precision.
    pub notes: Vec<String>,
}

/// The comparison of all opinions: for each of diagnosis, stage and treatment stated by at least two
/// opinions, whether they agree, differ or cannot be told apart from their wording.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Comparison {
    /// Number of opinions compared.
    pub opinions: usize,
    /// Aspects on which the opinions differ in meaning, with each opinion's value.
    pub differences: Vec<AspectComparison>,
    /// Aspects written in ways that cannot be reduced to one meaning (a stage group against TNM categories,
    /// `III` against `IIIA`): worth asking the doctors; not counted as differences.
    pub unclear: Vec<AspectComparison>,
    /// Aspects on which every opinion that states them agrees.
    pub agreements: Vec<AspectComparison>,
    /// The guide suggests considering a third opinion (see [`Case::compare_opinions`] for the rule).
    pub suggest_third_opinion: bool,
}

impl Comparison {
    /// The aspects that differ, in order.
    pub fn differing(&self) -> Vec<Aspect> {
        self.differences.iter().map(|d| d.aspect).collect()
    }
}

/// Compare the stated values of one aspect, every pair of opinions: the outcome is the strongest of the
/// pairs' (differ > unclear > agree); parts and notes are collected in a fixed order.
fn compare_aspect(aspect: Aspect, stated: &[(&Opinion, String)]) -> AspectComparison {
    let mut outcome = Outcome::Agree;
    let mut components: Vec<&'static str> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let values: Vec<OpinionValue> = stated
        .iter()
        .map(|(o, v)| OpinionValue {
            opinion: o.id.clone(),
            rank: o.rank,
            value: v.clone(),
            reads_as: match aspect {
                Aspect::Diagnosis => notation::text_canonical(v),
                Aspect::Stage => notation::read_stage(v).canonical(),
                Aspect::Treatment => notation::treatment_canonical(v),
            },
        })
        .collect();
    let stages: Vec<_> =
        if aspect == Aspect::Stage { stated.iter().map(|(_, v)| notation::read_stage(v)).collect() } else { vec![] };
    for i in 0..stated.len() {
        for j in i + 1..stated.len() {
            let (a, b) = (&stated[i].1, &stated[j].1);
            let pair = match aspect {
                Aspect::Diagnosis => notation::compare_keys(&notation::text_key(a), &notation::text_key(b)),
                Aspect::Treatment => notation::compare_keys(&notation::treatment_key(a), &notation::treatment_key(b)),
                Aspect::Stage => notation::compare_stages(&stages[i], &stages[j]),
            };
            outcome = outcome.max(pair.outcome.unwrap_or(Outcome::Agree));
            components.extend(pair.components);
            for n in pair.notes {
                if !notes.contains(&n) {
                    notes.push(n);
                }
            }
        }
    }
    // TNM prefixes: what each stage is based on is noted whenever the opinions do not all state the same.
    let bases: Vec<(u64, String, Option<&str>)> = stated
        .iter()
        .zip(&stages)
        .filter_map(|((o, _), r)| r.tnm.as_ref().map(|t| (o.rank, t.to_string(), t.basis())))
        .collect();
    if bases.len() > 1 && bases.iter().any(|b| b.2 != bases[0].2) {
        let each: Vec<String> = bases
            .iter()
            .map(|(rank, tnm, basis)| {
                let label = basis.map(notation::prefix_label).unwrap_or("no prefix written");
                format!("opinion {rank} {tnm} ({label})")
            })
            .collect();
        notes.push(format!(
            "the TNM categories are based on different evidence: {}; they are compared category by category",
            each.join(", ")
        ));
    }
    const ORDER: [&str; 6] = ["stage group", "substage", "T", "N", "M", "notation"];
    let components = ORDER.iter().filter(|c| components.contains(c)).map(|c| (*c).to_string()).collect::<Vec<String>>();
    AspectComparison { aspect, outcome, values, components, notes }
}

impl Case {
    /// Record an opinion. Rank must be at least 1.
    pub fn add_opinion(&mut self, o: NewOpinion<'_>) -> Result<String> {
        if o.rank == 0 || o.rank > 20 {
            return Err(Error::InvalidInput {
                field: "rank",
                reason: "1 for the first opinion, 2 for the second, … (at most 20)".into(),
            });
        }
        let date = o.date.map(|d| parse_date("date", d)).transpose()?;
        self.edit(|doc| {
            if let Some(s) = o.specialist {
                item(doc, "specialists", s, "specialist")?;
            }
            let (id, obj) = super::new_item(doc, "opinions")?;
            doc.put(&obj, "rank", o.rank)?;
            am::put_opt_str(doc, &obj, "specialist", o.specialist)?;
            am::put_opt_str(doc, &obj, "date", date.map(format_date).as_deref())?;
            am::put_opt_str(doc, &obj, "diagnosis", optional(o.diagnosis).as_deref())?;
            am::put_opt_str(doc, &obj, "stage", optional(o.stage).as_deref())?;
            am::put_text(doc, &obj, "treatment", o.treatment.unwrap_or("").trim())?;
            am::put_opt_str(doc, &obj, "trials", optional(o.trials).as_deref())?;
            Ok(id)
        })
    }

    /// Set an opinion's diagnosis, stage or trials (`field` is "diagnosis", "stage" or "trials").
    pub fn set_opinion(&mut self, id: &str, field: &str, value: Option<&str>) -> Result<()> {
        let key: &'static str = match field {
            "diagnosis" => "diagnosis",
            "stage" => "stage",
            "trials" => "trials",
            _ => {
                return Err(Error::InvalidInput {
                    field: "field",
                    reason: "expected diagnosis, stage or trials".into(),
                });
            }
        };
        let value = optional(value);
        self.edit(|doc| {
            let o = item(doc, "opinions", id, "opinion")?;
            am::put_opt_str(doc, &o, key, value.as_deref())
        })
    }

    /// Retract an opinion: a retraction entry (who, when, why) is written on it and it leaves every listing,
    /// but nothing is deleted: it stays, as it stands, among [`Case::retracted_items`]. It leaves the comparison and the verdict (a retracted opinion no longer suggests nor settles a third opinion).
    /// Refused: an unknown or already retracted id, an author who is not on the care team. Returns the
    /// retraction's id.
    pub fn retract_opinion(&mut self, id: &str, how: Retract<'_>) -> Result<String> {
        self.retract_item(ItemKind::Opinion, id, how)
    }

    /// Every opinion, by rank.
    pub fn opinions(&self) -> Vec<Opinion> {
        let doc = &self.main.doc;
        let mut v: Vec<Opinion> = items(doc, "opinions")
            .into_iter()
            .map(|(id, o)| Opinion {
                rank: am::get_u64(doc, &o, "rank").unwrap_or(1),
                specialist: am::get_str(doc, &o, "specialist"),
                date: stored_date(am::get_str(doc, &o, "date")),
                diagnosis: am::get_str(doc, &o, "diagnosis"),
                stage: am::get_str(doc, &o, "stage"),
                treatment: am::get_text(doc, &o, "treatment"),
                trials: am::get_str(doc, &o, "trials"),
                id,
            })
            .collect();
        v.sort_by(|a, b| (a.rank, &a.id).cmp(&(b.rank, &b.id)));
        v
    }

    /// Compare the opinions on diagnosis, stage and treatment, by meaning as far as notation goes (see
    /// [`notation`]): `IIIA` = `Stage 3A`, `cT2N1M0` = `T2 N1 M0` (the prefix noted), "chemoradiation then
    /// durvalumab" = "Chemoradiation, then durvalumab.". Opinions that do not state an aspect are left out
    /// of its comparison. Nothing is judged: values "differ", none is "wrong".
    ///
    /// **The third-opinion rule** (the guide's step 7: "if they differ significantly, consider seeking a
    /// third opinion"): `suggest_third_opinion` is true when
    /// 1. opinions of at least two different ranks are recorded (a first and a second opinion; two entries of
    ///    the same rank are one opinion recorded twice),
    /// 2. they differ in meaning on diagnosis, stage or treatment (a difference of spelling, of notation or of
    ///    precision is [`Outcome::Unclear`] and does not count), and
    /// 3. no third (or later) opinion is recorded yet: once one is, the suggestion has been followed and is
    ///    not repeated, whatever the three say.
    ///
    /// The strongest wording shown for it is "The guide suggests considering a third opinion".
    pub fn compare_opinions(&self) -> Comparison {
        let ops = self.opinions();
        let (mut differences, mut unclear, mut agreements) = (Vec::new(), Vec::new(), Vec::new());
        for aspect in [Aspect::Diagnosis, Aspect::Stage, Aspect::Treatment] {
            let stated: Vec<(&Opinion, String)> = ops
                .iter()
                .filter_map(|o| {
                    let v = match aspect {
                        Aspect::Diagnosis => o.diagnosis.clone(),
                        Aspect::Stage => o.stage.clone(),
                        Aspect::Treatment => Some(o.treatment.clone()),
                    }
                    .filter(|v| !v.trim().is_empty())?;
                    Some((o, v))
                })
                .collect();
            if stated.len() < 2 {
                continue;
            }
            let c = compare_aspect(aspect, &stated);
            match c.outcome {
                Outcome::Differ => differences.push(c),
                Outcome::Unclear => unclear.push(c),
                Outcome::Agree => agreements.push(c),
            }
        }
        let mut ranks: Vec<u64> = ops.iter().map(|o| o.rank).collect();
        ranks.dedup();
        let third_recorded = ops.iter().any(|o| o.rank >= 3);
        let suggest_third_opinion = ranks.len() >= 2 && !differences.is_empty() && !third_recorded;
        Comparison { opinions: ops.len(), differences, unclear, agreements, suggest_third_opinion }
    }
}
