//! Tasks shared among the care team. (`CareTask`, not `Task`: Swift has a `Task` of its own.)

use casebook_core::model::task::{Task as CoreTask, TaskChanges as CoreTaskChanges};

use casebook_core::model::retraction::Retract;

use crate::case::Case;
use crate::convert::date;
use crate::error::Result;
use crate::model::chronology::set_or_clear;

/// A task.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CareTask {
    /// Item id.
    pub id: String,
    /// What to do.
    pub title: String,
    /// Caregiver id of the assignee.
    pub assignee: Option<String>,
    /// Due date, `YYYY-MM-DD`.
    pub due: Option<String>,
    /// Done.
    pub done: bool,
}

/// Corrections to a task (`None` leaves a field as it is; done or not is `setTaskDone`). Give only the
/// fields that change, so that a sibling's correction of another field is kept.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct CareTaskChanges {
    /// New title (must not be empty).
    #[uniffi(default = None)]
    pub title: Option<String>,
    /// New assignee (a caregiver id).
    #[uniffi(default = None)]
    pub assignee: Option<String>,
    /// Unassign the task.
    #[uniffi(default = false)]
    pub clear_assignee: bool,
    /// New due date, `YYYY-MM-DD`.
    #[uniffi(default = None)]
    pub due: Option<String>,
    /// Clear the due date.
    #[uniffi(default = false)]
    pub clear_due: bool,
}

impl From<CoreTask> for CareTask {
    fn from(t: CoreTask) -> Self {
        Self { id: t.id, title: t.title, assignee: t.assignee, due: date(t.due), done: t.done }
    }
}

#[uniffi::export]
impl Case {
    /// Every task: open ones first, by due date.
    pub fn tasks(&self) -> Result<Vec<CareTask>> {
        Ok(self.read(|c| c.tasks())?.into_iter().map(Into::into).collect())
    }

    /// Add a task (`assignee` a caregiver id, `due` as `YYYY-MM-DD`). Returns its id.
    pub fn add_task(&self, title: String, assignee: Option<String>, due: Option<String>) -> Result<String> {
        self.write(|c| c.add_task(&title, assignee.as_deref(), due.as_deref()))
    }

    /// Mark a task done or not done.
    pub fn set_task_done(&self, id: String, done: bool) -> Result<()> {
        self.write(|c| c.set_task_done(&id, done))
    }

    /// Assign a task to a caregiver, or unassign it with `None`.
    pub fn assign_task(&self, id: String, assignee: Option<String>) -> Result<()> {
        self.write(|c| c.assign_task(&id, assignee.as_deref()))
    }

    /// Correct a task (give only the fields that change). Refused, changing nothing: an empty title, an
    /// assignee not on the care team, a bad date, no change at all, an unknown id.
    pub fn edit_task(&self, id: String, changes: CareTaskChanges) -> Result<()> {
        self.write(|c| {
            c.edit_task(
                &id,
                CoreTaskChanges {
                    title: changes.title.as_deref(),
                    assignee: set_or_clear(changes.assignee.as_deref(), changes.clear_assignee),
                    due: set_or_clear(changes.due.as_deref(), changes.clear_due),
                },
            )
        })
    }

    /// Retract a task entered by mistake: a retraction entry (who, when, why) is written on it; it leaves
    /// the lists but nothing is deleted (see `retracted_items`). `today` is the app's local date (default:
    /// today in the device's time zone). Returns the retraction's id.
    #[uniffi::method(default(reason = None, by = None, today = None))]
    pub fn retract_task(
        &self,
        id: String,
        reason: Option<String>,
        by: Option<String>,
        today: Option<String>,
    ) -> Result<String> {
        let today = crate::convert::today_or(today)?;
        self.write(|c| c.retract_task(&id, Retract { today, by: by.as_deref(), reason: reason.as_deref() }))
    }
}
