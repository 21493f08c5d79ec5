//! Conflicts shown, not hidden: fields that two caregivers set concurrently keep every value until someone
//! picks one.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, Value};

use crate::am;
use crate::case::Case;
use crate::error::{Error, Result};

/// A field with several concurrent values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    /// Path of the field in the case, e.g. `patient/stage`, `decision/date`,
    /// `appointments/<id>/start`.
    pub path: String,
    /// Every value, in Automerge's deterministic order (the first is what plain reads show).
    pub values: Vec<String>,
}

fn scan(doc: &AutoCommit, obj: &ObjId, path: &str, out: &mut Vec<Conflict>) {
    for key in am::keys(doc, obj) {
        let all = doc.get_all(obj, key.as_str()).unwrap_or_default();
        let here = if path.is_empty() { key.clone() } else { format!("{path}/{key}") };
        if all.len() > 1 {
            let mut values: Vec<String> =
                all.iter().map(|(v, id)| am::value_to_string(doc, v, id).unwrap_or_else(|| "(empty)".into())).collect();
            // Plain reads show the last value of get_all (the winner): list it first.
            values.reverse();
            out.push(Conflict { path: here.clone(), values });
        }
        if let Some((Value::Object(ObjType::Map), child)) = all.last() {
            scan(doc, child, &here, out);
        }
    }
}

impl Case {
    /// Every field of the overview document with concurrent values.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut out = Vec::new();
        scan(&self.main.doc, &ROOT, "", &mut out);
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
