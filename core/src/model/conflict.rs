//! Conflicts shown, not hidden: fields that two caregivers set concurrently keep every value until someone
//! picks one.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, Value};

use crate::am;
use crate::case::Case;
use crate::error::{Error, Result};
use crate::model::history::{Attribution, Attributor};

/// A field with several concurrent values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    /// Path of the field in the case, e.g. `patient/stage`, `decision/date`,
    /// `appointments/<id>/start`.
    pub path: String,
    /// Every value, in Automerge's deterministic order (the first is what plain reads show).
    pub values: Vec<String>,
    /// Who set each value and when, in the order of `values` (see [`crate::model::history`]).
    pub set_by: Vec<Attribution>,
}

fn scan(doc: &AutoCommit, obj: &ObjId, path: &str, who: &mut Attributor<'_>, out: &mut Vec<Conflict>) {
    for key in am::keys(doc, obj) {
        // The actor bindings are bookkeeping, not a field (two devices upgrading an older case offline
        // each create the map: never a conflict to resolve).
        if path.is_empty() && key == crate::schema::ACTORS {
            continue;
        }
        let all = doc.get_all(obj, key.as_str()).unwrap_or_default();
        let here = if path.is_empty() { key.clone() } else { format!("{path}/{key}") };
        if all.len() > 1 {
            // Plain reads show the last value of get_all (the winner): list it first.
            let values = all
                .iter()
                .rev()
                .map(|(v, id)| am::value_to_string(doc, v, id).unwrap_or_else(|| "(empty)".into()))
                .collect();
            let set_by = all.iter().rev().map(|(_, id)| who.of_op(id)).collect();
            out.push(Conflict { path: here.clone(), values, set_by });
        }
        if let Some((Value::Object(ObjType::Map), child)) = all.last() {
            scan(doc, child, &here, who, out);
        }
    }
}

impl Case {
    /// Every field of the overview document with concurrent values, each value with who set it and when.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut out = Vec::new();
        let doc = &self.main.doc;
        scan(doc, &ROOT, "", &mut Attributor::new(doc), &mut out);
        out
    }

    /// Resolve the conflict at `path` by keeping value number `choice` (0-based, as listed by
    /// [`Case::conflicts`]). Setting the field through its normal setter resolves it too.
    pub fn resolve_conflict(&mut self, path: &str, choice: usize) -> Result<()> {
        let conflict = self
            .conflicts()
            .into_iter()
            .find(|c| c.path == path)
            .ok_or_else(|| Error::UnknownId { kind: "conflict", id: path.to_string() })?;
        if choice >= conflict.values.len() {
            return Err(Error::InvalidInput {
                field: "choice",
                reason: format!("pick a value between 0 and {}", conflict.values.len() - 1),
            });
        }
        self.edit(|doc| {
            let mut obj = ROOT;
            let parts: Vec<&str> = path.split('/').collect();
            let (last, parents) = parts.split_last().expect("paths are never empty");
            for p in parents {
                obj = am::child(doc, &obj, p, "field")?;
            }
            let mut all = doc.get_all(&obj, *last)?;
            all.reverse();
            let (value, _) = all
                .get(choice)
                .cloned()
                .ok_or(Error::InvalidInput { field: "choice", reason: "the conflict changed".into() })?;
            match value {
                Value::Scalar(s) => doc.put(&obj, *last, s.into_owned())?,
                Value::Object(_) => {
                    return Err(Error::InvalidInput {
                        field: "choice",
                        reason: "only plain values can be picked".into(),
                    });
                }
            }
            Ok(())
        })
    }
}
