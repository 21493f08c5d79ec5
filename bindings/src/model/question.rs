//! Questions to ask (step 5), with answers recorded per appointment and author.

use casebook_core::model::question::{
    Answer as CoreAnswer, Category, GUIDE_AUTHOR, Priority, Question as CoreQuestion,
};

use casebook_core::model::retraction::Retract;

use crate::case::Case;
use crate::convert::index;
use crate::error::Result;

/// Topic of a question.
#[uniffi::remote(Enum)]
pub enum Category {
    /// Diagnosis and staging.
    Diagnosis,
    /// Further tests.
    Testing,
    /// Treatment options and trials.
    Treatment,
    /// The doctor's own recommendation.
    Recommendation,
    /// Prognosis and expectations.
    Prognosis,
    /// Quality of life.
    QualityOfLife,
    /// Practicalities.
    Logistics,
    /// Anything else.
    Other,
}

/// How important a question is.
#[uniffi::remote(Enum)]
pub enum Priority {
    /// Must be asked.
    High,
    /// Normal.
    Normal,
    /// If time allows.
    Low,
}

/// An answer heard at an appointment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Answer {
    /// Appointment id where it was given.
    pub appointment: String,
    /// Caregiver id of who wrote it down.
    pub author: String,
    /// The answer.
    pub text: String,
}

/// A question.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Question {
    /// Item id.
    pub id: String,
    /// The question (collaborative text: `SharedText.Question`).
    pub text: String,
    /// Category.
    pub category: Category,
    /// Priority.
    pub priority: Priority,
    /// Caregiver id of who added it, or [`guide_author_id`] for the guide's six.
    pub added_by: String,
    /// Answers, in the order they were added.
    pub answers: Vec<Answer>,
}

impl From<CoreAnswer> for Answer {
    fn from(a: CoreAnswer) -> Self {
        Self { appointment: a.appointment, author: a.author, text: a.text }
    }
}

impl From<CoreQuestion> for Question {
    fn from(q: CoreQuestion) -> Self {
        Self {
            id: q.id,
            text: q.text,
            category: q.category,
            priority: q.priority,
            added_by: q.added_by,
            answers: q.answers.into_iter().map(Into::into).collect(),
        }
    }
}

/// The `added_by` of the guide's six questions that every case starts with.
#[uniffi::export]
pub fn guide_author_id() -> String {
    GUIDE_AUTHOR.to_string()
}

#[uniffi::export]
impl Case {
    /// Every question in list order.
    pub fn questions(&self) -> Result<Vec<Question>> {
        Ok(self.read(|c| c.questions())?.into_iter().map(Into::into).collect())
    }

    /// Add a question at the end of the list; `by` is a caregiver id. Returns its id.
    pub fn add_question(&self, text: String, category: Category, priority: Priority, by: String) -> Result<String> {
        self.write(|c| c.add_question(&text, category, priority, &by))
    }

    /// Change a question's category and/or priority.
    pub fn set_question_meta(&self, id: String, category: Option<Category>, priority: Option<Priority>) -> Result<()> {
        self.write(|c| c.set_question_meta(&id, category, priority))
    }

    /// Move a question to position `to` (0-based).
    pub fn move_question(&self, id: String, to: u32) -> Result<()> {
        self.write(|c| c.move_question(&id, index(to)))
    }

    /// Retract a question entered by mistake: a retraction entry (who, when, why) is written on it; it leaves
    /// the lists but nothing is deleted (see `retracted_items`). `today` is the app's local date (default:
    /// today in the device's time zone). Returns the retraction's id.
    #[uniffi::method(default(reason = None, by = None, today = None))]
    pub fn retract_question(
        &self,
        id: String,
        reason: Option<String>,
        by: Option<String>,
        today: Option<String>,
    ) -> Result<String> {
        let today = crate::convert::today_or(today)?;
        self.write(|c| c.retract_question(&id, Retract { today, by: by.as_deref(), reason: reason.as_deref() }))
    }

    /// Record an answer heard at `appointment`, written down by caregiver `author`.
    pub fn add_answer(&self, question: String, appointment: String, author: String, text: String) -> Result<()> {
        self.write(|c| c.add_answer(&question, &appointment, &author, &text))
    }
}
