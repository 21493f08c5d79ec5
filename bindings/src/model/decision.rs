//! The decision window — the date by which a treatment decision is agreed, and the days left — and the
//! decision record: what the family decided, when, following which opinion, who took part.

use casebook_core::model::decision::{
    DEFAULT_WINDOW_DAYS, DecisionEntry as CoreEntry, DecisionRecord as CoreRecord, DecisionWindow as CoreWindow,
    NewDecision as CoreNew,
};

use crate::case::Case;
use crate::convert::{date, today_or};
use crate::error::Result;

/// The decision date and the days left to it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DecisionWindow {
    /// The decision date (`YYYY-MM-DD`), agreed or default; `None` without a decision or diagnosis date.
    pub date: Option<String>,
    /// True when `date` is the default (diagnosis + 28 days), not agreed with the care team.
    pub is_default: bool,
    /// Days from today to the date (negative once passed).
    pub days_left: Option<i64>,
}

impl From<CoreWindow> for DecisionWindow {
    fn from(w: CoreWindow) -> Self {
        Self { date: date(w.date), is_default: w.is_default, days_left: w.days_left }
    }
}

/// A decision the family recorded.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DecisionEntry {
    /// Entry id.
    pub id: String,
    /// What was decided.
    pub text: String,
    /// When, `YYYY-MM-DD`.
    pub date: String,
    /// The opinion followed (opinion id; it may name an opinion since removed).
    pub opinion: Option<String>,
    /// Who took part (caregiver ids).
    pub participants: Vec<String>,
    /// Who recorded it (caregiver id).
    pub recorded_by: Option<String>,
    /// The day it was recorded, `YYYY-MM-DD`.
    pub recorded_on: String,
    /// The entries its author had seen when recording it.
    pub supersedes: Vec<String>,
}

/// The decisions recorded, and the one that stands.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DecisionRecord {
    /// The decision that stands: the latest by date (then day recorded, then id).
    pub latest: Option<DecisionEntry>,
    /// Entries recorded concurrently with the latest that say something else: agree which stands and record
    /// it again.
    pub concurrent: Vec<DecisionEntry>,
    /// Every entry, oldest first.
    pub entries: Vec<DecisionEntry>,
}

/// Fields of a new decision entry.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewDecision {
    /// What was decided.
    pub text: String,
    /// When, `YYYY-MM-DD` (not after today).
    pub date: String,
    /// The opinion followed (opinion id).
    #[uniffi(default = None)]
    pub opinion: Option<String>,
    /// Who took part (caregiver ids).
    #[uniffi(default = [])]
    pub participants: Vec<String>,
    /// Who records it (caregiver id).
    #[uniffi(default = None)]
    pub recorded_by: Option<String>,
}

impl From<CoreEntry> for DecisionEntry {
    fn from(e: CoreEntry) -> Self {
        Self {
            id: e.id,
            text: e.text,
            date: casebook_core::dates::format_date(e.date),
            opinion: e.opinion,
            participants: e.participants,
            recorded_by: e.recorded_by,
            recorded_on: casebook_core::dates::format_date(e.recorded_on),
            supersedes: e.supersedes,
        }
    }
}

impl From<CoreRecord> for DecisionRecord {
    fn from(r: CoreRecord) -> Self {
        Self {
            latest: r.latest.map(Into::into),
            concurrent: r.concurrent.into_iter().map(Into::into).collect(),
            entries: r.entries.into_iter().map(Into::into).collect(),
        }
    }
}

/// Days after diagnosis used as the decision date when none is agreed (shown as a default).
#[uniffi::export]
pub fn default_decision_window_days() -> i64 {
    DEFAULT_WINDOW_DAYS
}

#[uniffi::export]
impl Case {
    /// The decision window as of `today` (`YYYY-MM-DD`, the app's local date; default: today in the device's
    /// time zone).
    #[uniffi::method(default(today = None))]
    pub fn decision_window(&self, today: Option<String>) -> Result<DecisionWindow> {
        let today = today_or(today)?;
        Ok(self.read(|c| c.decision_window(today))?.into())
    }

    /// Set the decision date agreed with the care team (`YYYY-MM-DD`), or clear it (back to the default).
    pub fn set_decision_date(&self, date: Option<String>) -> Result<()> {
        self.write(|c| c.set_decision_date(date.as_deref()))
    }

    /// Record what the family decided: a new entry (earlier ones stay). `today` is the app's local date
    /// (default: today in the device's time zone); the decision date may not be after it. Returns the entry's
    /// id.
    #[uniffi::method(default(today = None))]
    pub fn record_decision(&self, decision: NewDecision, today: Option<String>) -> Result<String> {
        let today = today_or(today)?;
        self.write(|c| {
            c.record_decision(
                CoreNew {
                    text: &decision.text,
                    date: &decision.date,
                    opinion: decision.opinion.as_deref(),
                    participants: decision.participants.iter().map(String::as_str).collect(),
                    recorded_by: decision.recorded_by.as_deref(),
                },
                today,
            )
        })
    }

    /// The decisions recorded: every entry, the one that stands, and any recorded concurrently with it.
    pub fn decision(&self) -> Result<DecisionRecord> {
        Ok(self.read(|c| c.decision())?.into())
    }
}
