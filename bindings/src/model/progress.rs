//! Progress through the guide's seven steps (computed by the core, never stored).
//! (`CaseProgress`, not `Progress`: Foundation has a `Progress` of its own.)

use casebook_core::model::progress::{Progress as CoreProgress, Step as CoreStep};

use crate::case::Case;
use crate::convert::{now_or, today_or, u64_of};
use crate::error::Result;

/// One step of the guide.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Step {
    /// 1–7.
    pub number: u8,
    /// The guide's title of the step.
    pub title: String,
    /// Whether the step is complete.
    pub done: bool,
    /// Milestones reached in this step.
    pub achieved: Vec<String>,
    /// What to do next, if anything.
    pub next: Option<String>,
}

/// All seven steps.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseProgress {
    /// The steps in order.
    pub steps: Vec<Step>,
    /// How many are done.
    pub done: u64,
}

impl From<CoreStep> for Step {
    fn from(s: CoreStep) -> Self {
        Self { number: s.number, title: s.title.to_string(), done: s.done, achieved: s.achieved, next: s.next }
    }
}

impl From<CoreProgress> for CaseProgress {
    fn from(p: CoreProgress) -> Self {
        Self { done: u64_of(p.done), steps: p.steps.into_iter().map(Into::into).collect() }
    }
}

#[uniffi::export]
impl Case {
    /// Progress through the seven steps as of the start of `today` (`YYYY-MM-DD`, the app's local date;
    /// default: today in the device's time zone): what is done and, per step, what is next. A consultation
    /// counts as attended from the day after its start, or once marked: see [`Case::progress_at`].
    #[uniffi::method(default(today = None))]
    pub fn progress(&self, today: Option<String>) -> Result<CaseProgress> {
        let today = today_or(today)?;
        Ok(self.read(|c| c.progress(today))?.into())
    }

    /// Progress through the seven steps as of `now` (`YYYY-MM-DDTHH:MM`, the app's local time; default: now
    /// in the device's time zone): a consultation whose start time has passed counts as attended the same
    /// day.
    #[uniffi::method(default(now = None))]
    pub fn progress_at(&self, now: Option<String>) -> Result<CaseProgress> {
        let now = now_or(now)?;
        Ok(self.read(|c| c.progress_at(now))?.into())
    }
}
