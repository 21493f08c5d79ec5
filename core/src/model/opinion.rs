//! Opinions (step 7): what each doctor concluded, and where they differ.

use automerge::transaction::Transactable;
use time::Date;

use super::{item, items, optional, remove_item};
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

/// A difference between opinions on one aspect.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    /// What differs.
    pub aspect: Aspect,
    /// Each opinion's value: (rank, value).
    pub values: Vec<(u64, String)>,
}

/// The comparison of all opinions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Comparison {
    /// Number of opinions compared.
    pub opinions: usize,
    /// Aspects on which they differ.
    pub differences: Vec<Difference>,
    /// Opinions differ and no third opinion exists yet: the guide suggests one.
    pub suggest_third_opinion: bool,
}

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
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

    /// Remove an opinion.
    pub fn remove_opinion(&mut self, id: &str) -> Result<()> {
        self.edit(|doc| remove_item(doc, "opinions", id, "opinion"))
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

    /// Compare the opinions: where diagnosis, stage or recommendation differ (ignoring case and spacing).
    pub fn compare_opinions(&self) -> Comparison {
        let ops = self.opinions();
        let mut differences = Vec::new();
        for aspect in [Aspect::Diagnosis, Aspect::Stage, Aspect::Treatment] {
            let values: Vec<(u64, String)> = ops
                .iter()
                .filter_map(|o| {
                    let v = match aspect {
                        Aspect::Diagnosis => o.diagnosis.clone(),
                        Aspect::Stage => o.stage.clone(),
                        Aspect::Treatment => Some(o.treatment.clone()).filter(|t| !t.trim().is_empty()),
                    }?;
                    Some((o.rank, v))
                })
                .collect();
            let mut distinct: Vec<String> = values.iter().map(|(_, v)| norm(v)).collect();
            distinct.sort();
            distinct.dedup();
            if distinct.len() > 1 {
                differences.push(Difference { aspect, values });
            }
        }
        let max_rank = ops.iter().map(|o| o.rank).max().unwrap_or(0);
        Comparison { opinions: ops.len(), suggest_third_opinion: !differences.is_empty() && max_rank < 3, differences }
    }
}
