//! The care team (caregivers) and the patient's preferences.

use automerge::transaction::Transactable;

use super::{Keyed, item, items, new_item, nothing_to_change, optional, required};
use crate::am;
use crate::case::Case;
use crate::error::Result;

/// A caregiver on the case.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Caregiver {
    /// Item id (used as author id of notes, questions and answers).
    pub id: String,
    /// Name.
    pub name: String,
    /// Relationship to the patient (e.g. "daughter").
    pub relationship: Option<String>,
}

/// Corrections to a caregiver (`None` leaves a field as it is). Each field is stored on its own: two
/// caregivers correcting different fields offline both keep their correction.
#[derive(Debug, Clone, Default)]
pub struct CaregiverChanges<'a> {
    /// New name (must not be empty).
    pub name: Option<&'a str>,
    /// `Some(Some(relationship))` sets the relationship to the patient, `Some(None)` (or a blank text)
    /// clears it.
    pub relationship: Option<Option<&'a str>>,
}

keyed_enum! {
    /// How much detail the patient wants to hear.
    DetailLevel {
        /// Every detail.
        Everything => "everything",
        /// The main points.
        Essentials => "essentials",
        /// Only what they ask.
        OnlyWhenAsked => "only_when_asked",
    }
}

/// The patient's preferences.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Preferences {
    /// How much detail they want.
    pub detail_level: Option<DetailLevel>,
    /// Their wishes in their words (collaborative text).
    pub wishes: String,
    /// Whether the patient agreed to seek a second opinion (step 1).
    pub agreed_to_second_opinion: bool,
}

impl Case {
    /// Add a caregiver. Returns the id.
    pub fn add_caregiver(&mut self, name: &str, relationship: Option<&str>) -> Result<String> {
        let name = required("name", name)?;
        self.edit(|doc| {
            let (id, o) = new_item(doc, "care_team")?;
            doc.put(&o, "name", name)?;
            am::put_opt_str(doc, &o, "relationship", optional(relationship).as_deref())?;
            Ok(id)
        })
    }

    /// Correct a caregiver: name, relationship. The id stays, so notes, questions, answers, tasks and events
    /// they wrote stay theirs. Refused, changing nothing: an empty name, no change at all, an unknown id.
    pub fn edit_caregiver(&mut self, id: &str, changes: CaregiverChanges<'_>) -> Result<()> {
        let name = changes.name.map(|n| required("name", n)).transpose()?;
        let relationship = changes.relationship.map(optional);
        if name.is_none() && relationship.is_none() {
            return Err(nothing_to_change());
        }
        self.edit(|doc| {
            let o = item(doc, "care_team", id, "caregiver")?;
            if let Some(n) = name {
                doc.put(&o, "name", n)?;
            }
            if let Some(r) = relationship {
                am::put_opt_str(doc, &o, "relationship", r.as_deref())?;
            }
            Ok(())
        })
    }

    /// The care team, by name (then id).
    pub fn care_team(&self) -> Vec<Caregiver> {
        let doc = &self.main.doc;
        let mut v: Vec<Caregiver> = items(doc, "care_team")
            .into_iter()
            .map(|(id, o)| Caregiver {
                id,
                name: am::get_str(doc, &o, "name").unwrap_or_default(),
                relationship: am::get_str(doc, &o, "relationship"),
            })
            .collect();
        v.sort_by_cached_key(|c| (c.name.to_lowercase(), c.id.clone()));
        v
    }

    /// The caregiver with this id, if any.
    pub fn caregiver(&self, id: &str) -> Option<Caregiver> {
        self.care_team().into_iter().find(|c| c.id == id)
    }

    /// Bind a caregiver to the relay account they use (the member behind the caregiver), so that a new
    /// device of that account (a recovered account, a linked phone) knows who it writes as:
    /// [`Case::caregiver_of_account`]. Writes nothing when the caregiver is bound to that account already.
    /// Refused: an unknown caregiver id, an empty account id.
    pub fn link_caregiver_account(&mut self, caregiver_id: &str, account_id: &str) -> Result<()> {
        let account_id = required("account", account_id)?;
        let doc = &self.main.doc;
        let o = item(doc, "care_team", caregiver_id, "caregiver")?;
        if am::get_str(doc, &o, "account").as_deref() == Some(account_id.as_str()) {
            return Ok(());
        }
        self.edit(|doc| {
            let o = item(doc, "care_team", caregiver_id, "caregiver")?;
            doc.put(&o, "account", account_id)?;
            Ok(())
        })
    }

    /// The caregiver bound to a relay account ([`Case::link_caregiver_account`]); with several, the one
    /// with the smallest id (the same on every replica).
    pub fn caregiver_of_account(&self, account_id: &str) -> Option<String> {
        let doc = &self.main.doc;
        items(doc, "care_team")
            .into_iter()
            .filter(|(_, o)| am::get_str(doc, o, "account").as_deref() == Some(account_id))
            .map(|(id, _)| id)
            .min()
    }

    /// The patient's preferences.
    pub fn preferences(&self) -> Preferences {
        let doc = &self.main.doc;
        let Ok(p) = am::root_map(doc, "preferences") else {
            return Preferences { detail_level: None, wishes: String::new(), agreed_to_second_opinion: false };
        };
        Preferences {
            detail_level: am::get_str(doc, &p, "detail_level").and_then(|d| DetailLevel::from_key(&d)),
            wishes: am::get_text(doc, &p, "wishes"),
            agreed_to_second_opinion: am::get_bool(doc, &p, "agreed"),
        }
    }

    /// Set how much detail the patient wants.
    pub fn set_detail_level(&mut self, level: Option<DetailLevel>) -> Result<()> {
        self.edit(|doc| {
            let p = am::root_map(doc, "preferences")?;
            am::put_opt_str(doc, &p, "detail_level", level.map(|l| l.key()))
        })
    }

    /// Record whether the patient agreed to seek a second opinion (the guide's first step).
    pub fn set_agreed_to_second_opinion(&mut self, agreed: bool) -> Result<()> {
        self.edit(|doc| {
            let p = am::root_map(doc, "preferences")?;
            doc.put(&p, "agreed", agreed)?;
            Ok(())
        })
    }
}
