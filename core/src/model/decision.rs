//! The decision window — the date by which a treatment decision is agreed with the care team — and the
//! decision record: what the family decided, when, following which opinion, and who took part.
//!
//! Layout in the overview document (additive: readers that know only `date` ignore the entries):
//! ```text
//! decision: { date,
//!             <entry id>: { kind: "decision", text, date, opinion?, recorded_on, recorded_by?,
//!                           participants: {<caregiver id>: true}, supersedes: {<entry id>: true} } }
//! ```
//! Entries live under the `decision` map that every case has had from its creation, each under its own
//! fresh id, so two siblings recording a decision offline add two entries and neither hides the other
//! (a new top-level map created offline on two devices would be two competing objects, one of them
//! hidden). An entry is never changed: a new decision is a new entry.
//!
//! **Which decision stands** (identical on every replica, whatever the order edits arrive in): the latest
//! entry by its date, then by the day it was recorded, then by id. An entry lists the entries its author
//! had seen (`supersedes`); an entry neither seen by the latest nor seeing it, that says something else, was
//! recorded concurrently (two siblings offline) and is surfaced beside the latest
//! ([`DecisionRecord::concurrent`]) until someone records the decision again after syncing.

use std::collections::BTreeSet;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType};
use time::{Date, Duration};

use super::{check_caregiver, item, notation, required};
use crate::am;
use crate::case::Case;
use crate::dates::{format_date, parse_date, stored_date};
use crate::error::{Error, Result};
use crate::ids::new_item_id;

/// The `kind` of a decision entry in the `decision` map.
const ENTRY_KIND: &str = "decision";

/// A decision the family recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DecisionEntry {
    /// Entry id.
    pub id: String,
    /// What was decided, as written.
    pub text: String,
    /// When it was decided.
    pub date: Date,
    /// The opinion followed (opinion id), if any. It may name an opinion since removed.
    pub opinion: Option<String>,
    /// Who took part (caregiver ids), sorted.
    pub participants: Vec<String>,
    /// Who recorded it (caregiver id), if known.
    pub recorded_by: Option<String>,
    /// The day it was recorded (the recording device's local date).
    pub recorded_on: Date,
    /// The entries its author had seen when recording it.
    pub supersedes: Vec<String>,
}

/// The decisions recorded, and the one that stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DecisionRecord {
    /// The decision that stands: the latest by date (then day recorded, then id).
    pub latest: Option<DecisionEntry>,
    /// Entries recorded without knowledge of the latest (and unknown to it) that say something else: the
    /// family should agree which stands and record it again. Oldest first.
    pub concurrent: Vec<DecisionEntry>,
    /// Every entry, oldest first (date, day recorded, id).
    pub entries: Vec<DecisionEntry>,
}

/// Fields of a new decision entry.
#[derive(Debug, Clone, Default)]
pub struct NewDecision<'a> {
    /// What was decided (required).
    pub text: &'a str,
    /// When, YYYY-MM-DD (required; not after today).
    pub date: &'a str,
    /// The opinion followed (opinion id).
    pub opinion: Option<&'a str>,
    /// Who took part (caregiver ids).
    pub participants: Vec<&'a str>,
    /// Who records it (caregiver id).
    pub recorded_by: Option<&'a str>,
}

fn string_set(doc: &AutoCommit, obj: &ObjId, key: &str) -> Vec<String> {
    am::get_obj(doc, obj, key)
        .map(|m| am::keys(doc, &m).into_iter().filter(|k| am::get_bool(doc, &m, k)).collect())
        .unwrap_or_default()
}

/// Every decision entry, oldest first. Entries lacking a readable date or text (a buggy peer) are skipped.
fn entries(doc: &AutoCommit) -> Vec<DecisionEntry> {
    let Ok(d) = am::root_map(doc, "decision") else {
        return Vec::new();
    };
    let mut v: Vec<DecisionEntry> = am::keys(doc, &d)
        .into_iter()
        .filter_map(|id| {
            let o = am::get_obj(doc, &d, &id)?;
            if am::get_str(doc, &o, "kind").as_deref() != Some(ENTRY_KIND) {
                return None;
            }
            let date = stored_date(am::get_str(doc, &o, "date"))?;
            Some(DecisionEntry {
                text: am::get_str(doc, &o, "text")?,
                date,
                opinion: am::get_str(doc, &o, "opinion"),
                participants: string_set(doc, &o, "participants"),
                recorded_by: am::get_str(doc, &o, "recorded_by"),
                recorded_on: stored_date(am::get_str(doc, &o, "recorded_on")).unwrap_or(date),
                supersedes: string_set(doc, &o, "supersedes"),
                id,
            })
        })
        .collect();
    v.sort_by(|a, b| (a.date, a.recorded_on, &a.id).cmp(&(b.date, b.recorded_on, &b.id)));
    v
}

/// Days after diagnosis used as the decision date when none is agreed: a rule of thumb, shown as a default.
pub const DEFAULT_WINDOW_DAYS: i64 = 28;

/// The decision date and the days left to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DecisionWindow {
    /// The decision date, agreed or default; `None` without a decision date or diagnosis date.
    pub date: Option<Date>,
    /// True when `date` is the default (diagnosis + 28 days), not a date agreed with the care team.
    pub is_default: bool,
    /// Days from today to the date (negative once passed).
    pub days_left: Option<i64>,
}

impl Case {
    /// The decision window as of `today`.
    pub fn decision_window(&self, today: Date) -> DecisionWindow {
        let doc = &self.main.doc;
        let agreed = am::root_map(doc, "decision").ok().and_then(|d| stored_date(am::get_str(doc, &d, "date")));
        let (date, is_default) = match agreed {
            Some(d) => (Some(d), false),
            None => {
                (self.patient().diagnosis_date.and_then(|d| d.checked_add(Duration::days(DEFAULT_WINDOW_DAYS))), true)
            }
        };
        DecisionWindow {
            date,
            is_default: date.is_some() && is_default,
            days_left: date.map(|d| (d - today).whole_days()),
        }
    }

    /// Record what the family decided: a new entry (nothing is overwritten). The date may not be after
    /// `today` (the caller's local date, also stored as the day recorded); the opinion and every participant
    /// must exist. Returns the entry's id.
    pub fn record_decision(&mut self, d: NewDecision<'_>, today: Date) -> Result<String> {
        let text = required("text", d.text)?;
        let date = parse_date("date", d.date)?;
        if date > today {
            return Err(Error::ImpossibleDate {
                reason: format!(
                    "a decision dated {} is after today ({}): give the day it was taken",
                    format_date(date),
                    format_date(today)
                ),
            });
        }
        let participants: BTreeSet<&str> = d.participants.iter().map(|p| p.trim()).collect();
        let seen: Vec<String> = self.decision().entries.into_iter().map(|e| e.id).collect();
        self.edit(|doc| {
            if let Some(o) = d.opinion {
                item(doc, "opinions", o, "opinion")?;
            }
            for p in participants.iter().chain(d.recorded_by.iter()) {
                check_caregiver(doc, p)?;
            }
            let decision = am::root_map(doc, "decision")?;
            let id = new_item_id();
            let o = doc.put_object(&decision, id.as_str(), ObjType::Map)?;
            doc.put(&o, "kind", ENTRY_KIND)?;
            doc.put(&o, "text", text.as_str())?;
            doc.put(&o, "date", format_date(date))?;
            am::put_opt_str(doc, &o, "opinion", d.opinion)?;
            doc.put(&o, "recorded_on", format_date(today))?;
            am::put_opt_str(doc, &o, "recorded_by", d.recorded_by)?;
            let m = doc.put_object(&o, "participants", ObjType::Map)?;
            for p in &participants {
                doc.put(&m, *p, true)?;
            }
            let m = doc.put_object(&o, "supersedes", ObjType::Map)?;
            for s in &seen {
                doc.put(&m, s.as_str(), true)?;
            }
            Ok(id)
        })
    }

    /// The decisions recorded: every entry, the one that stands, and any recorded concurrently with it that
    /// says something else (see the module documentation for the rule).
    pub fn decision(&self) -> DecisionRecord {
        let entries = entries(&self.main.doc);
        let Some(latest) = entries.last().cloned() else {
            return DecisionRecord::default();
        };
        let says = |e: &DecisionEntry| (notation::text_key(&e.text), e.opinion.clone());
        let concurrent = entries
            .iter()
            .filter(|e| {
                e.id != latest.id
                    && !latest.supersedes.contains(&e.id)
                    && !e.supersedes.contains(&latest.id)
                    && says(e) != says(&latest)
            })
            .cloned()
            .collect();
        DecisionRecord { latest: Some(latest), concurrent, entries }
    }

    /// Set the decision date agreed with the care team (YYYY-MM-DD), or clear it to fall back to the default.
    pub fn set_decision_date(&mut self, date: Option<&str>) -> Result<()> {
        let parsed = date.map(|d| parse_date("decision_date", d)).transpose()?;
        self.edit(|doc| {
            let d = am::root_map(doc, "decision")?;
            match parsed {
                Some(p) => doc.put(&d, "date", format_date(p))?,
                None => am::put_opt_str(doc, &d, "date", None)?,
            }
            Ok(())
        })
    }
}
