//! Collaborative text fields, edited by splices in UTF-16 code units (the unit of Kotlin, Swift and JS).
//!
//! Keystrokes are coalesced: splices stay in the document's open transaction and become one change at
//! the next [`Case::save`](crate::Case::save) (or the next other operation), which keeps the number of
//! changes — what dominates load time — proportional to saves, not keystrokes.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ROOT, ReadDoc};

use super::item;
use crate::am;
use crate::case::Case;
use crate::error::{Error, Result};

/// A collaborative text field of a case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TextField {
    /// The patient's proposed treatment.
    ProposedTreatment,
    /// Symptoms and concerns.
    Symptoms,
    /// The patient's wishes.
    Wishes,
    /// A question's text.
    Question(String),
    /// A specialist's notes.
    SpecialistNotes(String),
    /// An opinion's recommended treatment.
    OpinionTreatment(String),
    /// One caregiver's notes of an appointment.
    AppointmentNotes {
        /// Appointment id.
        appointment: String,
        /// Caregiver id.
        author: String,
    },
    /// The shared summary of an appointment.
    AppointmentSummary(String),
}

impl TextField {
    /// Parse the CLI form: `proposed_treatment`, `symptoms`, `wishes`, `question:ID`, `specialist:ID`,
    /// `opinion:ID`, `notes:APPOINTMENT:AUTHOR`, `summary:APPOINTMENT`.
    pub fn parse(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split(':').collect();
        Ok(match parts.as_slice() {
            ["proposed_treatment"] => TextField::ProposedTreatment,
            ["symptoms"] => TextField::Symptoms,
            ["wishes"] => TextField::Wishes,
            ["question", id] => TextField::Question(id.to_string()),
            ["specialist", id] => TextField::SpecialistNotes(id.to_string()),
            ["opinion", id] => TextField::OpinionTreatment(id.to_string()),
            ["notes", a, who] => TextField::AppointmentNotes { appointment: a.to_string(), author: who.to_string() },
            ["summary", a] => TextField::AppointmentSummary(a.to_string()),
            _ => {
                return Err(Error::InvalidInput {
                    field: "text field",
                    reason: "expected proposed_treatment, symptoms, wishes, question:ID, specialist:ID, opinion:ID, notes:APPOINTMENT:AUTHOR or summary:APPOINTMENT".into(),
                });
            }
        })
    }
}

/// Longest text a single splice may insert (bytes).
pub const MAX_INSERT: usize = 1 << 20;

/// The text object last located by `Case::text_target`, so that a burst of keystrokes into one field
/// does not repeat the lookups (author check, appointment, notes document, map keys): each is a seek in
/// Automerge's columnar op set, several times the cost of the splice itself.
///
/// Valid as long as the structure it was derived from is unchanged. Within an open case that structure
/// only changes through `Case::edit` (every named operation) and through changes merged into an open
/// document (`Case::merge_external`), both of which clear this cache, and through `text_target` itself
/// (creating a missing text object), which refills it. Splices, saves and reads keep it valid. Any new
/// way of changing an open document must clear it too; debug builds check every hit against a fresh
/// lookup.
#[derive(Debug, Clone)]
pub(crate) struct TextTarget {
    field: TextField,
    obj: ObjId,
}

impl Case {
    /// Locate a text field: the document that holds it and the text object.
    fn text_target(&mut self, field: &TextField) -> Result<(&mut AutoCommit, ObjId)> {
        let cached = match &self.text_cache {
            Some(c) if c.field == *field => Some(c.obj.clone()),
            _ => None,
        };
        let obj = match cached {
            Some(obj) => {
                debug_assert_eq!(self.locate_text(field).ok().as_ref(), Some(&obj), "stale text cache for {field:?}");
                obj
            }
            None => {
                self.text_cache = None;
                let obj = self.locate_text(field)?;
                self.text_cache = Some(TextTarget { field: field.clone(), obj: obj.clone() });
                obj
            }
        };
        let doc = match field {
            TextField::AppointmentNotes { appointment, .. } | TextField::AppointmentSummary(appointment) => {
                // Opened by `locate_text` (now or when the cache was filled); notes documents stay open.
                &mut self.notes_doc(appointment)?.doc
            }
            _ => &mut self.main.doc,
        };
        Ok((doc, obj))
    }

    /// The parent object and key of a field of the overview document (`None` for notes-document fields).
    fn text_parent(&self, field: &TextField) -> Result<Option<(ObjId, &'static str)>> {
        let main = &self.main.doc;
        Ok(match field {
            TextField::ProposedTreatment => Some((am::root_map(main, "patient")?, "proposed_treatment")),
            TextField::Symptoms => Some((ROOT, "symptoms")),
            TextField::Wishes => Some((am::root_map(main, "preferences")?, "wishes")),
            TextField::Question(id) => Some((item(main, "questions", id, "question")?, "text")),
            TextField::SpecialistNotes(id) => Some((item(main, "specialists", id, "specialist")?, "notes")),
            TextField::OpinionTreatment(id) => Some((item(main, "opinions", id, "opinion")?, "treatment")),
            TextField::AppointmentNotes { appointment, .. } | TextField::AppointmentSummary(appointment) => {
                // The notes live in their own document; a retracted appointment's are no longer written.
                item(main, "appointments", appointment, "appointment")?;
                None
            }
        })
    }

    /// Find (or create) the text object of a field, without the cache.
    fn locate_text(&mut self, field: &TextField) -> Result<ObjId> {
        if let Some((parent, key)) = self.text_parent(field)? {
            let doc = &mut self.main.doc;
            let t = match doc.get(&parent, key)? {
                Some((automerge::Value::Object(automerge::ObjType::Text), t)) => t,
                // A plain string written by another client (or absent): upgrade to Text keeping its content.
                other => {
                    let prior = match &other {
                        Some((v, id)) => am::value_to_string(doc, v, id).unwrap_or_default(),
                        None => String::new(),
                    };
                    doc.commit();
                    let t = am::put_text(doc, &parent, key, &prior)?;
                    doc.commit();
                    t
                }
            };
            return Ok(t);
        }
        match field {
            TextField::AppointmentNotes { appointment, author } => self.notes_text(appointment, author),
            TextField::AppointmentSummary(appointment) => {
                let d = &self.notes_doc(appointment)?.doc;
                am::get_obj(d, &ROOT, "summary").ok_or_else(|| Error::InvalidInput {
                    field: "summary",
                    reason: "notes document lacks its summary".into(),
                })
            }
            _ => unreachable!("handled above"),
        }
    }

    /// Replace `delete` UTF-16 units at `index` with `insert`. Refuses (changing nothing) a range past the end
    /// or one that cuts a surrogate pair.
    pub fn splice_text(&mut self, field: &TextField, index: usize, delete: usize, insert: &str) -> Result<()> {
        if insert.len() > MAX_INSERT {
            return Err(Error::InvalidInput { field: "text", reason: "more than 1 MiB in one edit".into() });
        }
        let (doc, t) = self.text_target(field)?;
        am::check_splice(doc, &t, index, delete)?;
        doc.splice_text(&t, index, delete as isize, insert)?;
        Ok(())
    }

    /// Append `text` at the end of a text field.
    pub fn append_text(&mut self, field: &TextField, text: &str) -> Result<()> {
        // `splice_text` at the length, with one lookup: at the end of the text nothing can be cut, so the
        // range and surrogate checks of `splice_text` always pass.
        let (doc, t) = self.text_target(field)?;
        let len = doc.length(&t);
        if text.len() > MAX_INSERT {
            return Err(Error::InvalidInput { field: "text", reason: "more than 1 MiB in one edit".into() });
        }
        doc.splice_text(&t, len, 0, text)?;
        Ok(())
    }

    /// Length of a text field in UTF-16 code units.
    pub fn text_len(&mut self, field: &TextField) -> Result<usize> {
        let (doc, t) = self.text_target(field)?;
        Ok(automerge::ReadDoc::length(doc, &t))
    }

    /// Current content of a text field. A pure read: it never creates the field (an author's notes that
    /// were never written read as empty).
    pub fn text(&mut self, field: &TextField) -> Result<String> {
        if let Some((parent, key)) = self.text_parent(field)? {
            return Ok(am::get_text(&self.main.doc, &parent, key));
        }
        match field {
            TextField::AppointmentNotes { appointment, author } => {
                super::check_caregiver(&self.main.doc, author)?;
                let d = &self.notes_doc(appointment)?.doc;
                Ok(am::get_obj(d, &ROOT, "notes").map(|m| am::get_text(d, &m, author)).unwrap_or_default())
            }
            TextField::AppointmentSummary(appointment) => {
                Ok(am::get_text(&self.notes_doc(appointment)?.doc, &ROOT, "summary"))
            }
            _ => unreachable!("overview fields are handled above"),
        }
    }
}
