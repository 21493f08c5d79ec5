//! Tasks shared among the care team.

use automerge::transaction::Transactable;
use time::Date;

use super::retraction::{ItemKind, Retract};
use super::{check_caregiver, item, items, nothing_to_change, required};
use crate::am;
use crate::case::Case;
use crate::dates::{format_date, parse_date, stored_date};
use crate::error::Result;

/// A task.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Task {
    /// Item id.
    pub id: String,
    /// What to do.
    pub title: String,
    /// Caregiver id of the assignee.
    pub assignee: Option<String>,
    /// Due date.
    pub due: Option<Date>,
    /// Done.
    pub done: bool,
}

/// Corrections to a task (`None` leaves a field as it is; done or not is [`Case::set_task_done`]). Each
/// field is stored on its own: two caregivers correcting different fields offline both keep their
/// correction.
#[derive(Debug, Clone, Default)]
pub struct TaskChanges<'a> {
    /// New title (must not be empty).
    pub title: Option<&'a str>,
    /// `Some(Some(caregiver id))` assigns the task, `Some(None)` unassigns it.
    pub assignee: Option<Option<&'a str>>,
    /// `Some(Some(date))` sets the due date (YYYY-MM-DD), `Some(None)` clears it.
    pub due: Option<Option<&'a str>>,
}

impl Case {
    /// Add a task.
    pub fn add_task(&mut self, title: &str, assignee: Option<&str>, due: Option<&str>) -> Result<String> {
        let title = required("title", title)?;
        let due = due.map(|d| parse_date("due", d)).transpose()?;
        self.edit(|doc| {
            if let Some(a) = assignee {
                check_caregiver(doc, a)?;
            }
            let (id, o) = super::new_item(doc, "tasks")?;
            doc.put(&o, "title", title)?;
            am::put_opt_str(doc, &o, "assignee", assignee)?;
            am::put_opt_str(doc, &o, "due", due.map(format_date).as_deref())?;
            doc.put(&o, "done", false)?;
            Ok(id)
        })
    }

    /// Mark a task done or not done.
    pub fn set_task_done(&mut self, id: &str, done: bool) -> Result<()> {
        self.edit(|doc| {
            let o = item(doc, "tasks", id, "task")?;
            doc.put(&o, "done", done)?;
            Ok(())
        })
    }

    /// Assign a task (or unassign with `None`).
    pub fn assign_task(&mut self, id: &str, assignee: Option<&str>) -> Result<()> {
        self.edit(|doc| {
            if let Some(a) = assignee {
                check_caregiver(doc, a)?;
            }
            let o = item(doc, "tasks", id, "task")?;
            am::put_opt_str(doc, &o, "assignee", assignee)
        })
    }

    /// Correct a task: title, assignee, due date. Refused, changing nothing: an empty title, an assignee
    /// who is not on the care team, a date that does not parse, no change at all, an unknown id.
    pub fn edit_task(&mut self, id: &str, changes: TaskChanges<'_>) -> Result<()> {
        let title = changes.title.map(|t| required("title", t)).transpose()?;
        let due = changes.due.map(|d| d.map(|d| parse_date("due", d)).transpose()).transpose()?;
        if title.is_none() && changes.assignee.is_none() && due.is_none() {
            return Err(nothing_to_change());
        }
        self.edit(|doc| {
            let o = item(doc, "tasks", id, "task")?;
            if let Some(Some(a)) = changes.assignee {
                check_caregiver(doc, a)?;
            }
            if let Some(t) = title {
                doc.put(&o, "title", t)?;
            }
            if let Some(a) = changes.assignee {
                am::put_opt_str(doc, &o, "assignee", a)?;
            }
            if let Some(d) = due {
                am::put_opt_str(doc, &o, "due", d.map(format_date).as_deref())?;
            }
            Ok(())
        })
    }

    /// Retract a task: a retraction entry (who, when, why) is written on it and it leaves every listing,
    /// but nothing is deleted: it stays, as it stands, among [`Case::retracted_items`].
    /// Refused: an unknown or already retracted id, an author who is not on the care team. Returns the
    /// retraction's id.
    pub fn retract_task(&mut self, id: &str, how: Retract<'_>) -> Result<String> {
        self.retract_item(ItemKind::Task, id, how)
    }

    /// Every task: open ones first, by due date.
    pub fn tasks(&self) -> Vec<Task> {
        let doc = &self.main.doc;
        let mut v: Vec<Task> = items(doc, "tasks")
            .into_iter()
            .map(|(id, o)| Task {
                title: am::get_str(doc, &o, "title").unwrap_or_default(),
                assignee: am::get_str(doc, &o, "assignee"),
                due: stored_date(am::get_str(doc, &o, "due")),
                done: am::get_bool(doc, &o, "done"),
                id,
            })
            .collect();
        v.sort_by(|a, b| (a.done, a.due.is_none(), a.due, &a.id).cmp(&(b.done, b.due.is_none(), b.due, &b.id)));
        v
    }
}
