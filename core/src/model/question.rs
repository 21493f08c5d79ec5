//! Questions to ask (step 5), with answers recorded per appointment and author.

use std::collections::HashSet;

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};

use super::retraction::{ItemKind, Retract};
use super::{Keyed, check_caregiver, item, items, new_item, required};
use crate::am;
use crate::case::Case;
use crate::error::{Error, Result};

/// Author id of the questions a new case starts with.
pub const GUIDE_AUTHOR: &str = "guide";

keyed_enum! {
    /// Topic of a question.
    Category {
        /// Diagnosis and staging.
        Diagnosis => "diagnosis",
        /// Further tests.
        Testing => "testing",
        /// Treatment options and trials.
        Treatment => "treatment",
        /// The doctor's own recommendation.
        Recommendation => "recommendation",
        /// Prognosis and expectations.
        Prognosis => "prognosis",
        /// Quality of life.
        QualityOfLife => "quality_of_life",
        /// Practicalities.
        Logistics => "logistics",
        /// Anything else.
        Other => "other",
    }
}

keyed_enum! {
    /// How important a question is.
    Priority {
        /// Must be asked.
        High => "high",
        /// Normal.
        Normal => "normal",
        /// If time allows.
        Low => "low",
    }
}

/// The guide's six questions every case starts with.
pub const GUIDE_QUESTIONS: [(&str, Category); 6] = [
    ("Do you agree with this diagnosis and staging?", Category::Diagnosis),
    ("What additional testing should be performed?", Category::Testing),
    ("What are all the treatment options, including clinical trials?", Category::Treatment),
    ("What would you recommend for your own family member?", Category::Recommendation),
    ("What are realistic survival expectations?", Category::Prognosis),
    ("How will treatment affect quality of life?", Category::QualityOfLife),
];

/// An answer heard at an appointment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Answer {
    /// Appointment where it was given.
    pub appointment: String,
    /// Caregiver who wrote it down.
    pub author: String,
    /// The answer.
    pub text: String,
}

/// A question.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Question {
    /// Item id.
    pub id: String,
    /// The question (collaborative text).
    pub text: String,
    /// Category.
    pub category: Category,
    /// Priority.
    pub priority: Priority,
    /// Caregiver id of who added it, or [`GUIDE_AUTHOR`].
    pub added_by: String,
    /// Answers, in the order they were appended.
    pub answers: Vec<Answer>,
}

fn insert_question(
    doc: &mut automerge::AutoCommit,
    text: &str,
    category: Category,
    priority: Priority,
    by: &str,
    created: &str,
) -> Result<String> {
    let (id, o) = new_item(doc, "questions")?;
    am::put_text(doc, &o, "text", text)?;
    doc.put(&o, "category", category.key())?;
    doc.put(&o, "priority", priority.key())?;
    doc.put(&o, "added_by", by)?;
    doc.put(&o, "created", created)?;
    doc.put_object(&o, "answers", ObjType::List)?;
    let order = am::root_map(doc, "question_order")?;
    let n = doc.length(&order);
    doc.insert(&order, n, id.as_str())?;
    Ok(id)
}

/// Seed a new case with the guide's questions.
pub(crate) fn seed_guide_questions(case: &mut Case, created: &str) -> Result<()> {
    case.edit(|doc| {
        for (q, c) in GUIDE_QUESTIONS {
            insert_question(doc, q, c, Priority::High, GUIDE_AUTHOR, created)?;
        }
        Ok(())
    })
}

impl Case {
    /// Add a question at the end of the list. `by` is a caregiver id. Its creation date is the device's local
    /// date (its time zone, else UTC).
    pub fn add_question(&mut self, text: &str, category: Category, priority: Priority, by: &str) -> Result<String> {
        let text = required("question", text)?;
        let created = crate::dates::format_date(crate::dates::Zone::system_or_utc().today());
        self.edit(|doc| {
            check_caregiver(doc, by)?;
            insert_question(doc, &text, category, priority, by, &created)
        })
    }

    /// Change a question's category and priority.
    pub fn set_question_meta(
        &mut self,
        id: &str,
        category: Option<Category>,
        priority: Option<Priority>,
    ) -> Result<()> {
        self.edit(|doc| {
            let o = item(doc, "questions", id, "question")?;
            if let Some(c) = category {
                doc.put(&o, "category", c.key())?;
            }
            if let Some(p) = priority {
                doc.put(&o, "priority", p.key())?;
            }
            Ok(())
        })
    }

    /// Move a question to position `to` (0-based) in the list.
    pub fn move_question(&mut self, id: &str, to: usize) -> Result<()> {
        let current: Vec<String> = self.questions().into_iter().map(|q| q.id).collect();
        if !current.iter().any(|q| q == id) {
            return Err(Error::UnknownId { kind: "question", id: id.into() });
        }
        if to >= current.len() {
            return Err(Error::InvalidInput { field: "position", reason: format!("must be below {}", current.len()) });
        }
        self.edit(|doc| {
            let order = am::root_map(doc, "question_order")?;
            // Remove every occurrence, then insert before the question now at `to`.
            let mut i = 0;
            while i < doc.length(&order) {
                if am::value_at(doc, &order, i).as_deref() == Some(id) {
                    doc.delete(&order, i)?;
                } else {
                    i += 1;
                }
            }
            let others: Vec<&String> = current.iter().filter(|q| *q != id).collect();
            let pos = match others.get(to) {
                Some(anchor) => (0..doc.length(&order))
                    .find(|&i| am::value_at(doc, &order, i).as_deref() == Some(anchor.as_str()))
                    .unwrap_or(doc.length(&order)),
                None => doc.length(&order),
            };
            doc.insert(&order, pos, id)?;
            Ok(())
        })
    }

    /// Retract a question: a retraction entry (who, when, why) is written on it and it leaves every listing,
    /// but nothing is deleted: it stays, as it stands, among [`Case::retracted_items`]. Its answers stay with it.
    /// Refused: an unknown or already retracted id, an author who is not on the care team. Returns the
    /// retraction's id.
    pub fn retract_question(&mut self, id: &str, how: Retract<'_>) -> Result<String> {
        self.retract_item(ItemKind::Question, id, how)
    }

    /// Append an answer heard at `appointment`, written down by caregiver `author`.
    pub fn add_answer(&mut self, question: &str, appointment: &str, author: &str, text: &str) -> Result<()> {
        let text = required("answer", text)?;
        self.edit(|doc| {
            check_caregiver(doc, author)?;
            item(doc, "appointments", appointment, "appointment")?;
            let q = item(doc, "questions", question, "question")?;
            let answers = am::child(doc, &q, "answers", "answers")?;
            let n = doc.length(&answers);
            let a = doc.insert_object(&answers, n, ObjType::Map)?;
            doc.put(&a, "appointment", appointment)?;
            doc.put(&a, "author", author)?;
            doc.put(&a, "text", text)?;
            Ok(())
        })
    }

    /// Every question in list order (questions missing from the order, e.g. after concurrent moves, last).
    pub fn questions(&self) -> Vec<Question> {
        let doc = &self.main.doc;
        let mut by_id: std::collections::BTreeMap<String, automerge::ObjId> =
            items(doc, "questions").into_iter().collect();
        let mut ordered = Vec::new();
        let mut seen = HashSet::new();
        if let Some(order) = am::get_obj(doc, &ROOT, "question_order") {
            for i in 0..doc.length(&order) {
                if let Some(id) = am::value_at(doc, &order, i)
                    && seen.insert(id.clone())
                    && let Some(o) = by_id.remove(&id)
                {
                    ordered.push((id, o));
                }
            }
        }
        ordered.extend(by_id);
        ordered
            .into_iter()
            .map(|(id, o)| Question {
                id,
                text: am::get_text(doc, &o, "text"),
                category: am::get_str(doc, &o, "category")
                    .and_then(|c| Category::from_key(&c))
                    .unwrap_or(Category::Other),
                priority: am::get_str(doc, &o, "priority")
                    .and_then(|c| Priority::from_key(&c))
                    .unwrap_or(Priority::Normal),
                added_by: am::get_str(doc, &o, "added_by").unwrap_or_default(),
                answers: am::get_obj(doc, &o, "answers")
                    .map(|l| {
                        (0..doc.length(&l))
                            .filter_map(|i| match doc.get(&l, i) {
                                Ok(Some((automerge::Value::Object(_), a))) => Some(Answer {
                                    appointment: am::get_str(doc, &a, "appointment").unwrap_or_default(),
                                    author: am::get_str(doc, &a, "author").unwrap_or_default(),
                                    text: am::get_str(doc, &a, "text").unwrap_or_default(),
                                }),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect()
    }
}
