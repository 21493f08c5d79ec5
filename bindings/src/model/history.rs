//! Who did what: every change is attributed to the caregiver whose device made it; a field's or an
//! item's history lists every value it took, by whom and when.

use casebook_core::model::history::{Attribution as CoreAttribution, HistoryAction, HistoryEntry as CoreEntry};

use crate::case::Case;
use crate::error::Result;

/// What a change did to a field.
#[uniffi::remote(Enum)]
pub enum HistoryAction {
    /// Set a value.
    Set,
    /// Cleared the field.
    Cleared,
    /// Created an object: a text, a list, a map (an item, a section).
    Created,
    /// Edited a text or a list.
    Edited,
    /// Resolved a conflict by keeping one of the concurrent values.
    Kept,
}

/// Who made a change, and when.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Attribution {
    /// The caregiver's id; `null` for a device bound to no caregiver (show "unknown device").
    pub caregiver_id: Option<String>,
    /// The caregiver's name as the care team has it now; `null` for an unknown device or a caregiver not
    /// (yet) in this device's copy of the care team.
    pub caregiver: Option<String>,
    /// When, in Unix seconds; `null` when the change carries no time.
    pub at: Option<i64>,
}

impl From<CoreAttribution> for Attribution {
    fn from(a: CoreAttribution) -> Self {
        Self { caregiver_id: a.caregiver_id, caregiver: a.caregiver, at: a.at }
    }
}

/// One change of one field.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryEntry {
    /// The field, e.g. `appointments/<id>/start` (for an item's history, each field under the item).
    pub path: String,
    /// What the change did.
    pub action: HistoryAction,
    /// The value set; for a text, the characters the change typed (`null` when it only deleted); `null`
    /// when cleared, and for a map or a list.
    pub value: Option<String>,
    /// Who and when.
    pub by: Attribution,
    /// Whether this value is what the field holds now (one of its values, if they conflict).
    pub current: bool,
    /// The Automerge change (hex hash), the same on every device.
    pub change: String,
}

impl From<CoreEntry> for HistoryEntry {
    fn from(e: CoreEntry) -> Self {
        Self { path: e.path, action: e.action, value: e.value, by: e.by.into(), current: e.current, change: e.change }
    }
}

#[uniffi::export]
impl Case {
    /// Every value a field took, oldest first (the same order on every device), with who set it and when:
    /// overwritten and concurrent values and clearings included; a text as one `EDITED` entry per change.
    /// `path` as conflicts name fields (`patient/stage`, `appointments/<id>/start`, `symptoms`), or
    /// `appointments/<id>/notes/<caregiver id>`, `appointments/<id>/summary`. Reads the whole history of the
    /// document: call it when the user asks, not on every render.
    pub fn history(&self, path: String) -> Result<Vec<HistoryEntry>> {
        Ok(self.try_read(|c| c.history(&path))?.into_iter().map(Into::into).collect())
    }

    /// Every change of every field of an item or section (`appointments/<id>`, `patient`), oldest first,
    /// one entry per field and change.
    pub fn item_history(&self, path: String) -> Result<Vec<HistoryEntry>> {
        Ok(self.try_read(|c| c.item_history(&path))?.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use casebook_core::model::patient::PatientField;

    use super::*;
    use crate::store::Store;

    #[test]
    fn a_fields_history_names_who_set_each_value() {
        let store = Store::in_memory();
        let created = store.create_case("Mum".into(), "Ana".into(), None).unwrap();
        let case = created.case;
        case.set_patient(PatientField::Stage, Some("IIA".into())).unwrap();
        case.set_patient(PatientField::Stage, Some("IIB".into())).unwrap();
        let h = case.history("patient/stage".into()).unwrap();
        let rows: Vec<(Option<&str>, bool)> = h.iter().map(|e| (e.value.as_deref(), e.current)).collect();
        assert_eq!(rows, [(Some("IIA"), false), (Some("IIB"), true)]);
        assert!(h.iter().all(|e| e.action == HistoryAction::Set && e.by.caregiver.as_deref() == Some("Ana")));
        assert!(h.iter().all(|e| e.by.caregiver_id.as_deref() == Some(created.me.as_str()) && e.by.at.is_some()));
        let item = case.item_history("patient".into()).unwrap();
        assert!(item.iter().any(|e| e.path == "patient/display_name"));
        assert!(case.history("nope/x".into()).is_err());
    }
}
