//! Conflicts shown, not hidden: fields two caregivers set differently while offline keep every value
//! until someone picks one. (`FieldConflict`, not `Conflict`: that is an error variant.)

use casebook_core::model::conflict::Conflict as CoreConflict;

use crate::case::Case;
use crate::convert::index;
use crate::error::Result;
use crate::model::history::Attribution;

/// A field with several concurrent values.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldConflict {
    /// Path of the field, e.g. `patient/stage`, `decision/date`, `appointments/<id>/start`.
    pub path: String,
    /// Every value; the first is what plain reads show.
    pub values: Vec<String>,
    /// Who set each value and when, in the order of `values`.
    pub set_by: Vec<Attribution>,
}

impl From<CoreConflict> for FieldConflict {
    fn from(c: CoreConflict) -> Self {
        Self { path: c.path, values: c.values, set_by: c.set_by.into_iter().map(Into::into).collect() }
    }
}

#[uniffi::export]
impl Case {
    /// Every field with concurrent values, each value with who set it and when.
    pub fn conflicts(&self) -> Result<Vec<FieldConflict>> {
        Ok(self.read(|c| c.conflicts())?.into_iter().map(Into::into).collect())
    }

    /// Keep value number `choice` (0-based, as listed) of the conflict at `path`. Setting the field through
    /// its setter resolves it too.
    pub fn resolve_conflict(&self, path: String, choice: u32) -> Result<()> {
        self.write(|c| c.resolve_conflict(&path, index(choice)))
    }
}
