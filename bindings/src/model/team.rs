//! The care team (caregivers) and the patient's preferences.

use casebook_core::model::team::{
    Caregiver as CoreCaregiver, CaregiverChanges as CoreCaregiverChanges, DetailLevel, Preferences as CorePreferences,
};

use crate::case::Case;
use crate::error::Result;
use crate::model::chronology::set_or_clear;

/// How much detail the patient wants to hear.
#[uniffi::remote(Enum)]
pub enum DetailLevel {
    /// Every detail.
    Everything,
    /// The main points.
    Essentials,
    /// Only what they ask.
    OnlyWhenAsked,
}

/// A caregiver on the case.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Caregiver {
    /// Item id (author id of notes, questions and answers).
    pub id: String,
    /// Name.
    pub name: String,
    /// Relationship to the patient (e.g. "daughter").
    pub relationship: Option<String>,
}

/// The patient's preferences.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Preferences {
    /// How much detail they want.
    pub detail_level: Option<DetailLevel>,
    /// Their wishes in their words (collaborative text: `SharedText.Wishes`).
    pub wishes: String,
    /// Whether the patient agreed to seek a second opinion (step 1).
    pub agreed_to_second_opinion: bool,
}

/// Corrections to a caregiver (`None` leaves a field as it is).
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct CaregiverChanges {
    /// New name (must not be empty).
    #[uniffi(default = None)]
    pub name: Option<String>,
    /// New relationship to the patient.
    #[uniffi(default = None)]
    pub relationship: Option<String>,
    /// Clear the relationship.
    #[uniffi(default = false)]
    pub clear_relationship: bool,
}

impl From<CoreCaregiver> for Caregiver {
    fn from(c: CoreCaregiver) -> Self {
        Self { id: c.id, name: c.name, relationship: c.relationship }
    }
}

impl From<CorePreferences> for Preferences {
    fn from(p: CorePreferences) -> Self {
        Self { detail_level: p.detail_level, wishes: p.wishes, agreed_to_second_opinion: p.agreed_to_second_opinion }
    }
}

#[uniffi::export]
impl Case {
    /// The care team.
    pub fn care_team(&self) -> Result<Vec<Caregiver>> {
        Ok(self.read(|c| c.care_team())?.into_iter().map(Into::into).collect())
    }

    /// The caregiver with this id, if any.
    pub fn caregiver(&self, id: String) -> Result<Option<Caregiver>> {
        Ok(self.read(|c| c.caregiver(&id))?.map(Into::into))
    }

    /// Add a caregiver (someone who joined adds themselves, then `Store.setMe`). Returns the id.
    #[uniffi::method(default(relationship = None))]
    pub fn add_caregiver(&self, name: String, relationship: Option<String>) -> Result<String> {
        self.write(|c| c.add_caregiver(&name, relationship.as_deref()))
    }

    /// Bind a caregiver to the relay account they use (the account's member is that caregiver), so that a
    /// recovered or linked device of the account writes as them: `caregiverOfAccount`. Call it after
    /// joining (with the caregiver just added) or sharing. Nothing is written if already bound.
    pub fn link_caregiver_account(&self, caregiver_id: String, account_id: String) -> Result<()> {
        self.write(|c| c.link_caregiver_account(&caregiver_id, &account_id))
    }

    /// The caregiver bound to a relay account (after `Relay.recoverAccount` and `SyncClient.joinCase`:
    /// pass it to `Store.setMe`).
    pub fn caregiver_of_account(&self, account_id: String) -> Result<Option<String>> {
        self.read(|c| c.caregiver_of_account(&account_id))
    }

    /// Correct a caregiver's name or relationship (their id stays: notes, answers and tasks stay theirs).
    /// Refused, changing nothing: an empty name, no change at all, an unknown id.
    pub fn edit_caregiver(&self, id: String, changes: CaregiverChanges) -> Result<()> {
        self.write(|c| {
            c.edit_caregiver(
                &id,
                CoreCaregiverChanges {
                    name: changes.name.as_deref(),
                    relationship: set_or_clear(changes.relationship.as_deref(), changes.clear_relationship),
                },
            )
        })
    }

    /// The patient's preferences.
    pub fn preferences(&self) -> Result<Preferences> {
        Ok(self.read(|c| c.preferences())?.into())
    }

    /// Set (or clear) how much detail the patient wants.
    pub fn set_detail_level(&self, level: Option<DetailLevel>) -> Result<()> {
        self.write(|c| c.set_detail_level(level))
    }

    /// Record whether the patient agreed to seek a second opinion (the guide's first step).
    pub fn set_agreed_to_second_opinion(&self, agreed: bool) -> Result<()> {
        self.write(|c| c.set_agreed_to_second_opinion(agreed))
    }
}
