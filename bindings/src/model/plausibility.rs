//! Plausibility warnings: things in the case that are probably typing mistakes (a diagnosis date in the
//! future, a consultation before the diagnosis…). Nothing is refused: the app shows them for the family to
//! check.

use casebook_core::Keyed;
use casebook_core::model::plausibility::Warning;

use crate::case::Case;
use crate::convert::today_or;
use crate::error::Result;

/// One plausibility warning.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PlausibilityWarning {
    /// What it is about, as a stable snake_case code (e.g. `diagnosis_in_future`,
    /// `appointment_before_diagnosis`).
    pub kind: String,
    /// The id of the item concerned (appointment, opinion, document, decision entry), if any.
    pub item: Option<String>,
    /// The explanation, for the family (kinds and dates only).
    pub message: String,
}

impl From<Warning> for PlausibilityWarning {
    fn from(w: Warning) -> Self {
        Self { kind: w.kind.key().to_string(), item: w.item, message: w.message }
    }
}

#[uniffi::export]
impl Case {
    /// What in the case is probably a typing mistake, as of `today` (`YYYY-MM-DD`, the app's local date;
    /// default: today in the device's time zone). Identical on every replica.
    #[uniffi::method(default(today = None))]
    pub fn plausibility(&self, today: Option<String>) -> Result<Vec<PlausibilityWarning>> {
        let today = today_or(today)?;
        Ok(self.read(|c| c.plausibility(today))?.into_iter().map(Into::into).collect())
    }
}
