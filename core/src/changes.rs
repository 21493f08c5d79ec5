//! [`CaseChange`]: what changed in a case (which parts of the guide, which appointments), so that a screen
//! refreshes only what it shows when changes from other devices are merged into an open case.

use std::collections::BTreeSet;

use automerge::{ChangeHash, Prop, ROOT};

use crate::case::Case;
use crate::ids::DocId;

/// A part of a case, as a screen shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseSection {
    /// Patient and diagnosis.
    Patient,
    /// The decision date.
    Decision,
    /// The critical situations.
    Critical,
    /// Specialists.
    Specialists,
    /// Record requests and their events.
    RecordRequests,
    /// The records chronology.
    Documents,
    /// Medications.
    Medications,
    /// Family cancer history.
    FamilyHistory,
    /// Questions, their order and answers.
    Questions,
    /// Appointments (time, place, kind, summary link).
    Appointments,
    /// Notes and summaries of appointments (their own documents).
    Notes,
    /// Opinions.
    Opinions,
    /// The care team.
    CareTeam,
    /// Tasks.
    Tasks,
    /// Costs.
    Costs,
    /// Symptoms and concerns.
    Symptoms,
    /// Preferences.
    Preferences,
}

impl CaseSection {
    /// The section a top-level key of the overview document belongs to.
    fn of_key(key: &str) -> Option<CaseSection> {
        Some(match key {
            "patient" => CaseSection::Patient,
            "decision" => CaseSection::Decision,
            "critical" => CaseSection::Critical,
            "specialists" => CaseSection::Specialists,
            "record_requests" => CaseSection::RecordRequests,
            "documents" => CaseSection::Documents,
            "medications" => CaseSection::Medications,
            "family_history" => CaseSection::FamilyHistory,
            "questions" | "question_order" => CaseSection::Questions,
            "appointments" => CaseSection::Appointments,
            "opinions" => CaseSection::Opinions,
            "care_team" => CaseSection::CareTeam,
            "tasks" => CaseSection::Tasks,
            "costs" => CaseSection::Costs,
            "symptoms" => CaseSection::Symptoms,
            "preferences" => CaseSection::Preferences,
            _ => return None,
        })
    }
}

/// What changed in a case between two states of one of its documents.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CaseChange {
    /// The parts of the case that changed.
    pub sections: BTreeSet<CaseSection>,
    /// Appointments whose details or notes changed (ids).
    pub appointments: BTreeSet<String>,
}

impl CaseChange {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.sections.is_empty() && self.appointments.is_empty()
    }

    /// Add what `other` names.
    pub fn absorb(&mut self, other: CaseChange) {
        self.sections.extend(other.sections);
        self.appointments.extend(other.appointments);
    }
}

impl Case {
    /// What changed in document `doc` of this case from `before` to its current heads (the document must
    /// be open; a notes document that is not open names its appointment only).
    pub fn changed_since(&mut self, doc: &DocId, before: &[ChangeHash]) -> CaseChange {
        let mut out = CaseChange::default();
        if doc == self.id() {
            let d = &mut self.main.doc;
            let after = d.get_heads();
            for p in d.diff(before, &after) {
                let top = match p.path.first() {
                    Some((_, Prop::Map(k))) => Some(k.clone()),
                    Some(_) => None,
                    None if p.obj == ROOT => match &p.action {
                        automerge::PatchAction::PutMap { key, .. } | automerge::PatchAction::DeleteMap { key } => {
                            Some(key.clone())
                        }
                        _ => None,
                    },
                    None => None,
                };
                let Some(top) = top else { continue };
                if let Some(s) = CaseSection::of_key(&top) {
                    out.sections.insert(s);
                }
                if top == "appointments" {
                    let id = match (p.path.get(1), &p.action) {
                        (Some((_, Prop::Map(a))), _) => Some(a.clone()),
                        (None, automerge::PatchAction::PutMap { key, .. })
                        | (None, automerge::PatchAction::DeleteMap { key }) => Some(key.clone()),
                        _ => None,
                    };
                    out.appointments.extend(id);
                }
            }
        } else if let Some((appt, _)) = self.notes_doc_ids().into_iter().find(|(_, id)| id == doc) {
            out.sections.insert(CaseSection::Notes);
            out.appointments.insert(appt);
        }
        out
    }
}
