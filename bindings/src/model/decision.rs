//! The decision window: the date by which a treatment decision is agreed, and the days left.

use casebook_core::model::decision::{DEFAULT_WINDOW_DAYS, DecisionWindow as CoreWindow};

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

/// Days after diagnosis used as the decision date when none is agreed (shown as a default).
#[uniffi::export]
pub fn default_decision_window_days() -> i64 {
    DEFAULT_WINDOW_DAYS
}

#[uniffi::export]
impl Case {
    /// The decision window as of `today` (`YYYY-MM-DD`, the app's local date; default today in UTC).
    #[uniffi::method(default(today = None))]
    pub fn decision_window(&self, today: Option<String>) -> Result<DecisionWindow> {
        let today = today_or(today)?;
        Ok(self.read(|c| c.decision_window(today))?.into())
    }

    /// Set the decision date agreed with the care team (`YYYY-MM-DD`), or clear it (back to the default).
    pub fn set_decision_date(&self, date: Option<String>) -> Result<()> {
        self.write(|c| c.set_decision_date(date.as_deref()))
    }
}
