//! Retractions: how an item entered by mistake leaves the case without anything being deleted.
//!
//! # What is stored
//! A retraction is an entry of its own on the item it retracts: the key `retracted_<entry id>` holds
//! `{on: <day recorded>, by?: <caregiver id>, reason?}`. The item itself is never deleted nor rewritten, and
//! each retraction has its own key, so
//! - a sibling retracting an item while another edits it offline keeps both: once merged (in either order)
//!   the item is retracted and the edit is visible among the [`Case::retracted_items`];
//! - two siblings retracting the same item offline keep both entries (who, when, why).
//!
//! Items written before retractions existed have no such key and read as not retracted; older readers
//! ignore the keys (they still show the item): an additive change of the schema. A retracted item leaves
//! every listing and every derived view (progress, agenda, verdict and comparison, plausibility), and can
//! no longer be changed ([`Error::Retracted`](crate::Error::Retracted)).
//!
//! Record requests keep their retractions in their event log (see
//! [`record_request`](super::record_request)); they are listed here too.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc};
use time::Date;

use super::{Keyed, all_items, check_caregiver, item, optional};
use crate::am;
use crate::case::Case;
use crate::dates::{format_date, stored_date};
use crate::error::Result;
use crate::ids::new_item_id;

/// Prefix of the keys of retraction entries on an item.
const PREFIX: &str = "retracted_";

keyed_enum! {
    /// A kind of item that can be retracted.
    ItemKind {
        /// A specialist.
        Specialist => "specialist",
        /// A document of the chronology.
        Document => "document",
        /// A medication.
        Medication => "medication",
        /// A family history entry.
        FamilyHistory => "family_history",
        /// A question.
        Question => "question",
        /// An appointment.
        Appointment => "appointment",
        /// An opinion.
        Opinion => "opinion",
        /// A task.
        Task => "task",
        /// A cost.
        Cost => "cost",
        /// A record request.
        RecordRequest => "record_request",
    }
}

impl ItemKind {
    /// The section of the case document holding this kind of item.
    fn section(self) -> &'static str {
        match self {
            ItemKind::Specialist => "specialists",
            ItemKind::Document => "documents",
            ItemKind::Medication => "medications",
            ItemKind::FamilyHistory => "family_history",
            ItemKind::Question => "questions",
            ItemKind::Appointment => "appointments",
            ItemKind::Opinion => "opinions",
            ItemKind::Task => "tasks",
            ItemKind::Cost => "costs",
            ItemKind::RecordRequest => "record_requests",
        }
    }

    /// The kind in words, as errors name it.
    pub fn noun(self) -> &'static str {
        match self {
            ItemKind::Specialist => "specialist",
            ItemKind::Document => "document",
            ItemKind::Medication => "medication",
            ItemKind::FamilyHistory => "family history entry",
            ItemKind::Question => "question",
            ItemKind::Appointment => "appointment",
            ItemKind::Opinion => "opinion",
            ItemKind::Task => "task",
            ItemKind::Cost => "cost",
            ItemKind::RecordRequest => "record request",
        }
    }
}

/// Who retracts, when and why.
#[derive(Debug, Clone, Copy)]
pub struct Retract<'a> {
    /// The day the retraction is recorded (the caller's local date).
    pub today: Date,
    /// Caregiver id of who retracts.
    pub by: Option<&'a str>,
    /// Why (optional).
    pub reason: Option<&'a str>,
}

/// A retraction: an entry of its own (who, when, why), so nothing is ever deleted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Retraction {
    /// Entry id.
    pub id: String,
    /// Day it was recorded.
    pub on: Date,
    /// Caregiver who retracted.
    pub by: Option<String>,
    /// Why, if given.
    pub reason: Option<String>,
}

/// A retracted item, as it stands now (edits merged after its retraction included), with every retraction.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RetractedItem {
    /// What kind of item.
    pub kind: ItemKind,
    /// Item id.
    pub id: String,
    /// What the item was, in a few words (a name, a title, a description), as stored: raw text from the
    /// document, to be made safe for display by the caller.
    pub name: String,
    /// Its retractions, oldest first (two siblings may both have retracted it).
    pub retractions: Vec<Retraction>,
}

/// The retractions written on an item, oldest first. Entries without a readable date (a buggy peer) are
/// skipped.
pub(crate) fn retractions(doc: &AutoCommit, o: &ObjId) -> Vec<Retraction> {
    let mut v: Vec<Retraction> = doc
        .keys(o)
        .filter_map(|k| {
            let id = k.strip_prefix(PREFIX)?.to_string();
            let e = am::get_obj(doc, o, &k)?;
            Some(Retraction {
                on: stored_date(am::get_str(doc, &e, "on"))?,
                by: am::get_str(doc, &e, "by"),
                reason: am::get_str(doc, &e, "reason"),
                id,
            })
        })
        .collect();
    v.sort_by(|a, b| (a.on, &a.id).cmp(&(b.on, &b.id)));
    v
}

/// Whether an item carries at least one retraction.
pub(crate) fn is_retracted(doc: &AutoCommit, o: &ObjId) -> bool {
    !retractions(doc, o).is_empty()
}

/// Write a retraction entry on item `id` of `kind` (which must not be a record request: those keep theirs
/// in their log). Refused: an unknown or already retracted item, an author who is not on the care team.
/// Returns the entry's id.
pub(crate) fn retract_item(doc: &mut AutoCommit, kind: ItemKind, id: &str, how: Retract<'_>) -> Result<String> {
    if let Some(by) = how.by {
        check_caregiver(doc, by)?;
    }
    let o = item(doc, kind.section(), id, kind.noun())?;
    let rid = new_item_id();
    let e = doc.put_object(&o, format!("{PREFIX}{rid}"), ObjType::Map)?;
    doc.put(&e, "on", format_date(how.today))?;
    am::put_opt_str(doc, &e, "by", how.by)?;
    am::put_opt_str(doc, &e, "reason", optional(how.reason).as_deref())?;
    Ok(rid)
}

/// A few words saying what an item is, read from the document.
fn describe(doc: &AutoCommit, kind: ItemKind, o: &ObjId) -> String {
    let s = |k: &str| am::get_str(doc, o, k);
    let text = match kind {
        ItemKind::Specialist | ItemKind::Medication => s("name"),
        ItemKind::Document => s("description"),
        ItemKind::FamilyHistory => match (s("relative"), s("cancer")) {
            (Some(r), Some(c)) => Some(format!("{r}: {c}")),
            (r, c) => r.or(c),
        },
        ItemKind::Question => Some(am::get_text(doc, o, "text")),
        ItemKind::Appointment => {
            let kind = s("kind").unwrap_or_else(|| "other".into()).replace('_', "-");
            Some(match s("start") {
                Some(start) => format!("{kind} appointment of {start}"),
                None => format!("{kind} appointment (not scheduled)"),
            })
        }
        ItemKind::Opinion => {
            let rank = am::get_u64(doc, o, "rank").unwrap_or(1);
            Some(match s("diagnosis") {
                Some(d) => format!("opinion {rank} ({d})"),
                None => format!("opinion {rank}"),
            })
        }
        ItemKind::Task => s("title"),
        ItemKind::Cost => {
            let cents = am::get_u64(doc, o, "amount_cents").unwrap_or(0);
            let what = s("description").or_else(|| s("category")).unwrap_or_else(|| "cost".into());
            Some(format!("{what}: {}.{:02}", cents / 100, cents % 100))
        }
        ItemKind::RecordRequest => s("custodian"),
    };
    text.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| format!("a {}", kind.noun()))
}

impl Case {
    /// Every retracted item (record requests included), as it stands now, with who retracted it, when and
    /// why: ordered by the day of its first retraction, then kind, then id (the same on every replica).
    pub fn retracted_items(&self) -> Vec<RetractedItem> {
        let doc = &self.main.doc;
        let mut v: Vec<RetractedItem> = Vec::new();
        for &kind in ItemKind::ALL {
            if kind == ItemKind::RecordRequest {
                continue;
            }
            for (id, o) in all_items(doc, kind.section()) {
                let retractions = retractions(doc, &o);
                if !retractions.is_empty() {
                    v.push(RetractedItem { kind, name: describe(doc, kind, &o), id, retractions });
                }
            }
        }
        v.extend(self.retracted_record_requests().into_iter().map(|r| RetractedItem {
            kind: ItemKind::RecordRequest,
            name: if r.custodian.trim().is_empty() { "a record request".into() } else { r.custodian },
            id: r.id,
            retractions: r.retractions,
        }));
        v.sort_by(|a, b| {
            let first = |r: &RetractedItem| r.retractions.first().map(|x| x.on);
            (first(a), a.kind, &a.id).cmp(&(first(b), b.kind, &b.id))
        });
        v
    }

    /// Retract an item of `kind` (see the module documentation): a retraction entry (who, when, why) is
    /// written on it, nothing is deleted. A record request is retracted through its log
    /// ([`Case::retract_record_request`]). Refused: an unknown or already retracted item, an author who is not
    /// on the care team. Returns the retraction's id.
    pub fn retract_item(&mut self, kind: ItemKind, id: &str, how: Retract<'_>) -> Result<String> {
        if kind == ItemKind::RecordRequest {
            return self.retract_record_request(id, how);
        }
        self.edit(|doc| retract_item(doc, kind, id, how))
    }
}
