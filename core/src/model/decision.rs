//! The decision window: the date by which a treatment decision is agreed with the care team.

use automerge::transaction::Transactable;
use time::{Date, Duration};

use crate::am;
use crate::case::Case;
use crate::dates::{format_date, parse_date, stored_date};
use crate::error::Result;

/// Days after diagnosis used as the decision date when none is agreed: a rule of thumb, shown as a default.
pub const DEFAULT_WINDOW_DAYS: i64 = 28;

/// The decision date and the days left to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DecisionWindow {
    /// The decision date, agreed or default; `None` without a decision date or diagnosis date.
    pub date: Option<Date>,
    /// True when `date` is the default (diagnosis + 28 days), not a date agreed with the care team.
    pub is_default: bool,
    /// Days from today to the date (negative once passed).
    pub days_left: Option<i64>,
}

impl Case {
    /// The decision window as of `today`.
    pub fn decision_window(&self, today: Date) -> DecisionWindow {
        let doc = &self.main.doc;
        let agreed = am::root_map(doc, "decision").ok().and_then(|d| stored_date(am::get_str(doc, &d, "date")));
        let (date, is_default) = match agreed {
            Some(d) => (Some(d), false),
            None => {
                (self.patient().diagnosis_date.and_then(|d| d.checked_add(Duration::days(DEFAULT_WINDOW_DAYS))), true)
            }
        };
        DecisionWindow {
            date,
            is_default: date.is_some() && is_default,
            days_left: date.map(|d| (d - today).whole_days()),
        }
    }

    /// Set the decision date agreed with the care team (YYYY-MM-DD), or clear it to fall back to the default.
    pub fn set_decision_date(&mut self, date: Option<&str>) -> Result<()> {
        let parsed = date.map(|d| parse_date("decision_date", d)).transpose()?;
        self.edit(|doc| {
            let d = am::root_map(doc, "decision")?;
            match parsed {
                Some(p) => doc.put(&d, "date", format_date(p))?,
                None => am::put_opt_str(doc, &d, "date", None)?,
            }
            Ok(())
        })
    }
}
