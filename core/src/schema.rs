//! The layout of a case's documents: key names, the schema version, and the initial content.
//!
//! Overview document (one per case; its id is the case id):
//! ```text
//! { kind: "casebook-case", schema_major, schema_minor, created,
//!   patient: {display_name, age, birth_year, cancer_type, histology, stage, diagnosis_date,
//!             diagnosing_facility, oncologist_name, oncologist_facility, oncologist_contact,
//!             proposed_treatment: Text, treatment_started},
//!   decision: {date}, critical: {<situation>: {flag, note}},
//!   specialists, record_requests, documents, medications, family_history, questions,
//!   appointments, opinions, care_team, tasks, costs: {<item id>: {...}},
//!   question_order: [id], symptoms: Text, preferences: {detail_level, wishes: Text, agreed},
//!   actors: {<actor hex>: {caregiver, at}} }
//! ```
//! `actors: {<actor hex>: {caregiver, at}}` binds each Automerge actor (one per session of a device: a
//! document is opened with a fresh actor) to the caregiver that wrote with it and when it first did
//! (Unix seconds), written in the session's first change once the device knows its caregiver (see
//! [`crate::model::history`]). Created with the case; a case made before it gets it with its first binding
//! (two devices doing that offline make two `actors` maps: readers look in both).
//! `decision` also holds the decision entries, each under its own id (see [`crate::model::decision`]); an
//! appointment may carry a boolean `attended` mark. Both are additions older readers ignore.
//! A record request's `events` list holds its events and the retractions of events or of the request (see
//! [`crate::model::record_request`]): it only grows.
//! A document of the chronology, a record request, an appointment or an opinion may carry `attachments:
//! {<attachment id>: {sha256, size, media_type, file_name, author?, added_at, retracted_<id>?}}`: references
//! to blobs kept outside the documents (see [`crate::model::attachment`]); an addition older readers ignore.
//! Notes document (one per appointment, created with a deterministic first change so that two replicas
//! creating it offline agree): `{ kind: "casebook-notes", case, appointment, notes: {<author id>: Text},
//! summary: Text }`.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ROOT};

use crate::am;
use crate::error::{Error, Result};
use crate::ids::{CaseId, DocId};
use crate::model::Keyed;

/// Major schema version: a reader refuses documents with a higher major version.
pub const SCHEMA_MAJOR: u64 = 1;
/// Minor schema version: additions that older readers can ignore.
pub const SCHEMA_MINOR: u64 = 0;

pub(crate) const KIND_CASE: &str = "casebook-case";
pub(crate) const KIND_NOTES: &str = "casebook-notes";
/// Root key of the overview's map of actor bindings (who wrote with which actor).
pub(crate) const ACTORS: &str = "actors";

/// Map sections of the overview document keyed by item id.
pub(crate) const ITEM_SECTIONS: &[&str] = &[
    "specialists",
    "record_requests",
    "documents",
    "medications",
    "family_history",
    "questions",
    "appointments",
    "opinions",
    "care_team",
    "tasks",
    "costs",
];

/// Fresh overview document content.
pub(crate) fn init_case(doc: &mut AutoCommit, created: &str) -> Result<()> {
    doc.put(ROOT, "kind", KIND_CASE)?;
    doc.put(ROOT, "schema_major", SCHEMA_MAJOR)?;
    doc.put(ROOT, "schema_minor", SCHEMA_MINOR)?;
    doc.put(ROOT, "created", created)?;
    let patient = doc.put_object(ROOT, "patient", ObjType::Map)?;
    am::put_text(doc, &patient, "proposed_treatment", "")?;
    doc.put_object(ROOT, "decision", ObjType::Map)?;
    let critical = doc.put_object(ROOT, "critical", ObjType::Map)?;
    for s in crate::model::critical::Situation::ALL {
        let m = doc.put_object(&critical, s.key(), ObjType::Map)?;
        doc.put(&m, "flag", false)?;
    }
    for section in ITEM_SECTIONS {
        doc.put_object(ROOT, *section, ObjType::Map)?;
    }
    doc.put_object(ROOT, "question_order", ObjType::List)?;
    am::put_text(doc, &ROOT, "symptoms", "")?;
    let prefs = doc.put_object(ROOT, "preferences", ObjType::Map)?;
    am::put_text(doc, &prefs, "wishes", "")?;
    doc.put_object(ROOT, ACTORS, ObjType::Map)?;
    Ok(())
}

/// Check that a loaded overview document is a case this build can read.
pub(crate) fn check_case(doc: &AutoCommit, case: &CaseId) -> Result<()> {
    let kind = am::get_str(doc, &ROOT, "kind");
    if kind.as_deref() != Some(KIND_CASE) {
        return Err(Error::Corrupt { case: case.clone(), detail: "not a Casebook case document".into() });
    }
    let major = am::get_u64(doc, &ROOT, "schema_major").unwrap_or(0);
    let minor = am::get_u64(doc, &ROOT, "schema_minor").unwrap_or(0);
    if major > SCHEMA_MAJOR {
        return Err(Error::NewerSchema {
            case: case.clone(),
            found_major: major,
            found_minor: minor,
            supported_major: SCHEMA_MAJOR,
        });
    }
    Ok(())
}

/// The deterministic first change of an appointment's notes document: the same bytes on every replica.
pub(crate) fn genesis_notes(notes_doc: &DocId, case: &CaseId, appointment: &str) -> Result<AutoCommit> {
    let actor = ActorId::from(notes_doc.to_document_id().as_bytes().to_vec());
    let mut doc = AutoCommit::new_with_encoding(am::TEXT_ENCODING).with_actor(actor);
    doc.put(ROOT, "kind", KIND_NOTES)?;
    doc.put(ROOT, "case", case.as_str())?;
    doc.put(ROOT, "appointment", appointment)?;
    doc.put_object(ROOT, "notes", ObjType::Map)?;
    doc.put_object(ROOT, "summary", ObjType::Text)?;
    doc.commit_with(automerge::transaction::CommitOptions::default().with_time(0));
    doc.set_actor(crate::ids::fresh_actor());
    Ok(doc)
}

/// The change that creates `author`'s text in an appointment's notes document, the same bytes on every
/// replica: made on top of [`genesis_notes`] by an actor derived from the document and the author, at time
/// 0. Two devices of one caregiver starting notes offline (a phone and a tablet, or a lost phone and its
/// replacement) then create the same text object instead of two conflicting ones, of which Automerge would
/// show only one (found by the simulation: the other device's words were hidden).
pub(crate) fn author_notes_change(
    notes_doc: &DocId,
    case: &CaseId,
    appointment: &str,
    author: &str,
) -> Result<automerge::Change> {
    let mut doc = genesis_notes(notes_doc, case, appointment)?;
    let mut actor = notes_doc.to_document_id().as_bytes().to_vec();
    actor.extend_from_slice(author.as_bytes());
    doc.set_actor(ActorId::from(actor));
    let notes = am::get_obj(&doc, &ROOT, "notes")
        .ok_or_else(|| Error::Corrupt { case: case.clone(), detail: "notes genesis lacks its notes map".into() })?;
    doc.put_object(&notes, author, ObjType::Text)?;
    doc.commit_with(automerge::transaction::CommitOptions::default().with_time(0));
    let change = doc
        .get_last_local_change()
        .ok_or_else(|| Error::Corrupt { case: case.clone(), detail: "no change creating the author's notes".into() })?;
    Ok(change)
}

/// Check that a notes document belongs to `case`.
pub(crate) fn check_notes(doc: &AutoCommit, case: &CaseId) -> Result<()> {
    if am::get_str(doc, &ROOT, "kind").as_deref() != Some(KIND_NOTES)
        || am::get_str(doc, &ROOT, "case").as_deref() != Some(case.as_str())
    {
        return Err(Error::Corrupt {
            case: case.clone(),
            detail: "an appointment's notes document does not belong to this case".into(),
        });
    }
    Ok(())
}
