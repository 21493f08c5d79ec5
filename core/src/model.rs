//! The case model: one file per part of the guide, each with its plain read structs, its named write
//! operations on [`Case`](crate::Case), and its derived views.

/// Declare a [`Keyed`] enum with serde as its key.
macro_rules! keyed_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => $k:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }
        impl $crate::model::Keyed for $name {
            const ALL: &'static [Self] = &[$(Self::$v),+];
            fn key(self) -> &'static str { match self { $(Self::$v => $k),+ } }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::model::Keyed::key(*self))
            }
        }
    };
}

pub mod agenda;
pub mod appointment;
pub mod attachment;
pub mod calendar;
pub mod chronology;
pub mod conflict;
pub mod cost;
pub mod critical;
pub mod decision;
pub mod history;
pub mod letter;
pub mod notation;
pub mod opinion;
pub mod packet;
pub mod patient;
pub mod photo_location;
pub mod plausibility;
pub mod progress;
pub mod question;
pub mod record_request;
pub mod retraction;
pub mod specialist;
pub mod task;
pub mod team;
pub mod text;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType};

use crate::am;
use crate::error::{Error, Result};
use crate::ids::new_item_id;

/// Create an item map with a fresh id in a section of the overview document.
pub(crate) fn new_item(doc: &mut AutoCommit, section: &str) -> Result<(String, ObjId)> {
    let sec = am::root_map(doc, section)?;
    let id = new_item_id();
    let obj = doc.put_object(&sec, id.as_str(), ObjType::Map)?;
    Ok((id, obj))
}

/// The item `id` of a section that is not retracted: an unknown-id error naming `kind`, or a retracted
/// error (a retracted item can no longer be changed).
pub(crate) fn item(doc: &AutoCommit, section: &str, id: &str, kind: &'static str) -> Result<ObjId> {
    let o = any_item(doc, section, id, kind)?;
    if retraction::is_retracted(doc, &o) {
        return Err(Error::Retracted { kind, id: id.to_string() });
    }
    Ok(o)
}

/// The item `id` of a section, retracted or not, or an unknown-id error naming `kind`.
pub(crate) fn any_item(doc: &AutoCommit, section: &str, id: &str, kind: &'static str) -> Result<ObjId> {
    let sec = am::root_map(doc, section)?;
    am::child(doc, &sec, id, kind)
}

/// Every item of a section that is not retracted, as (id, object), in id order.
pub(crate) fn items(doc: &AutoCommit, section: &str) -> Vec<(String, ObjId)> {
    all_items(doc, section).into_iter().filter(|(_, o)| !retraction::is_retracted(doc, o)).collect()
}

/// Every item of a section, retracted ones included, as (id, object), in id order.
pub(crate) fn all_items(doc: &AutoCommit, section: &str) -> Vec<(String, ObjId)> {
    let Ok(sec) = am::root_map(doc, section) else {
        return Vec::new();
    };
    am::keys(doc, &sec).into_iter().filter_map(|k| am::get_obj(doc, &sec, &k).map(|o| (k, o))).collect()
}

/// Refuse an empty required text: nothing, or only spaces, line breaks, control characters and invisible
/// format characters (zero-width spaces, direction marks, a byte-order mark). Returns it trimmed.
pub(crate) fn required(field: &'static str, s: &str) -> Result<String> {
    let t = s.trim();
    if is_blank(t) {
        return Err(Error::InvalidInput { field, reason: "must not be empty".into() });
    }
    if t.len() > 10_000 {
        return Err(Error::InvalidInput { field, reason: "longer than 10,000 bytes".into() });
    }
    Ok(t.to_string())
}

/// Whether `s` shows nothing: empty, or only whitespace, control characters and invisible format
/// characters.
pub(crate) fn is_blank(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{180E}' | '\u{061C}')
    })
}

/// Trim an optional text; blank becomes `None`.
pub(crate) fn optional(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !is_blank(s)).map(str::to_string)
}

/// One field of a correction, from a form's two inputs (a new value, and "clear it"): `Some(None)` clears
/// the field, `Some(Some(v))` sets it, `None` leaves it as it is (so a sibling's correction of the same
/// field made offline is not overwritten). Used by the CLI's `--clear-…` flags and the bindings' `clear_…`
/// fields.
pub fn set_or_clear<T>(value: Option<T>, clear: bool) -> Option<Option<T>> {
    if clear { Some(None) } else { value.map(Some) }
}

/// The refusal of a correction that names no field to change.
pub(crate) fn nothing_to_change() -> Error {
    Error::InvalidInput { field: "changes", reason: "nothing to change".into() }
}

/// Check that a caregiver id names a member of the care team.
pub(crate) fn check_caregiver(doc: &AutoCommit, id: &str) -> Result<()> {
    item(doc, "care_team", id, "caregiver").map(|_| ())
}

/// An enum stored as its snake_case key.
pub trait Keyed: Sized + Copy + 'static {
    /// Every value, in display order.
    const ALL: &'static [Self];
    /// The stored key.
    fn key(self) -> &'static str;
    /// Parse a stored or typed key.
    fn from_key(s: &str) -> Option<Self> {
        let s = s.trim().replace('-', "_").to_ascii_lowercase();
        Self::ALL.iter().copied().find(|v| v.key() == s)
    }
    /// Parse user input, with a typed error listing the accepted values.
    fn parse(field: &'static str, s: &str) -> Result<Self> {
        Self::from_key(s).ok_or_else(|| Error::InvalidInput {
            field,
            reason: format!("expected one of: {}", Self::ALL.iter().map(|v| v.key()).collect::<Vec<_>>().join(", ")),
        })
    }
}
