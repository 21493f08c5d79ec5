//! Presence on the [`SyncClient`]: "Ben is in this appointment's notes". This device's presence is set on
//! an appointment's notes document ([`SyncClient::set_appointment_presence`]); the other members' devices
//! present there are read with [`SyncClient::presence`]; a [`PresenceObserver`] is told when they change.
//! Compatible with automerge-repo 2.5's `Presence` (JS clients see the same channels: `caregiver`,
//! `name`, `editing`, `appointment`). See the core's `casebook_core::presence` for the protocol.
//!
//! A separate observer trait (rather than a new `SyncObserver` method) so that existing `SyncObserver`
//! implementations keep compiling.

use std::sync::Arc;
use std::time::Duration;

use casebook_core::DocId;
use casebook_core::presence::{CaregiverPresence as CorePresence, PeerPresence as CorePeer};

use crate::case::Case;
use crate::convert::parse_case_id;
use crate::error::Result;

use super::SyncClient;

/// What this device shows the others: who is doing what in which appointment.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaregiverPresence {
    /// The caregiver's account id.
    pub caregiver_id: String,
    /// The name to show ("Ben").
    pub name: String,
    /// What they are doing: `"notes"`, `"summary"`…, if anything.
    pub editing: Option<String>,
    /// The appointment, if the document is an appointment's notes.
    pub appointment_id: Option<String>,
}

impl From<CaregiverPresence> for CorePresence {
    fn from(p: CaregiverPresence) -> Self {
        Self { caregiver: p.caregiver_id, name: p.name, editing: p.editing, appointment: p.appointment_id }
    }
}

/// Another device present in a document. The caregiver fields are empty if the peer (another
/// automerge-repo client) sent other channels: `state_json` has them all.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PeerPresence {
    /// The device's peer id (`device-<device id>`), or another client's.
    pub peer_id: String,
    /// Its caregiver's account id, if it sent one.
    pub caregiver_id: Option<String>,
    /// The name to show, if it sent one.
    pub name: Option<String>,
    /// What it is doing, if it said.
    pub editing: Option<String>,
    /// The appointment, if it said.
    pub appointment_id: Option<String>,
    /// Unix milliseconds of its last message (heartbeats included).
    pub last_seen_at_ms: u64,
    /// Unix milliseconds of its last change of state.
    pub last_active_at_ms: u64,
    /// Its whole state (channel → value) as a JSON object.
    pub state_json: String,
}

impl From<CorePeer> for PeerPresence {
    fn from(p: CorePeer) -> Self {
        let text = |k: &str| p.text(k).map(str::to_string);
        Self {
            caregiver_id: text("caregiver"),
            name: text("name"),
            editing: text("editing"),
            appointment_id: text("appointment"),
            state_json: p.state_json(),
            peer_id: p.peer_id,
            last_seen_at_ms: p.last_seen_ms,
            last_active_at_ms: p.last_active_ms,
        }
    }
}

/// Told when who is present in a document changed (a device appeared, changed what it shows, left or
/// went silent): call [`SyncClient::presence`] again. Called on a background thread: hand over to the
/// UI thread and return quickly. An exception thrown here is caught and logged.
#[uniffi::export(foreign)]
pub trait PresenceObserver: Send + Sync {
    /// Presence in document `doc_id` of case `case_id` changed.
    fn on_presence_changed(&self, case_id: String, doc_id: String);
}

fn parse_doc_id(id: &str) -> Result<DocId> {
    Ok(id.parse()?)
}

#[uniffi::export]
impl SyncClient {
    /// Show the others that this device is in an appointment's notes (and what it is doing there): sent
    /// at once to the other members' devices that have the notes open, then kept alive by a heartbeat
    /// every 15 s until [`SyncClient::clear_presence`]. Call again to change it (e.g. `editing`).
    /// Returns the notes document's id, for [`SyncClient::presence`] and [`SyncClient::clear_presence`].
    pub fn set_appointment_presence(
        &self,
        case: Arc<Case>,
        appointment_id: String,
        presence: CaregiverPresence,
    ) -> Result<String> {
        let state = CorePresence::from(presence).to_state();
        Ok(self.core()?.set_appointment_presence(&case.inner, &appointment_id, state)?.to_string())
    }

    /// Show the others that this device is in document `doc_id` of case `case_id` (see
    /// [`SyncClient::set_appointment_presence`]).
    pub fn set_presence(&self, case_id: String, doc_id: String, presence: CaregiverPresence) -> Result<()> {
        let (case, doc) = (parse_case_id(&case_id)?, parse_doc_id(&doc_id)?);
        Ok(self.core()?.set_presence(&case, &doc, CorePresence::from(presence).to_state())?)
    }

    /// This device left the document (the user closed the notes): the others forget it at once. Also
    /// forgets who else was there. A no-op if presence was not set.
    pub fn clear_presence(&self, doc_id: String) -> Result<()> {
        let doc = parse_doc_id(&doc_id)?;
        self.core()?.clear_presence(&doc);
        Ok(())
    }

    /// The other devices present in a document this device has presence set in (else empty), by peer id.
    /// A device that went silent (no network, app killed) disappears after 45 s.
    pub fn presence(&self, doc_id: String) -> Result<Vec<PeerPresence>> {
        let doc = parse_doc_id(&doc_id)?;
        Ok(self.core()?.presence(&doc).into_iter().map(PeerPresence::from).collect())
    }

    /// Change the heartbeat interval and how long a silent device stays shown (defaults 15 000 and
    /// 45 000 ms, as automerge-repo's `Presence`). `InvalidInput` unless the heartbeat is at least 10 ms
    /// and shorter than the time to live.
    pub fn set_presence_timing(&self, heartbeat_ms: u32, peer_ttl_ms: u32) -> Result<()> {
        let ms = |n: u32| Duration::from_millis(u64::from(n));
        Ok(self.core()?.set_presence_timing(ms(heartbeat_ms), ms(peer_ttl_ms))?)
    }

    /// Add a presence observer; returns an id for [`SyncClient::remove_presence_observer`].
    pub fn add_presence_observer(&self, observer: Arc<dyn PresenceObserver>) -> u64 {
        self.presence_observers.add(observer)
    }

    /// Remove a presence observer; whether it was registered.
    pub fn remove_presence_observer(&self, id: u64) -> bool {
        self.presence_observers.remove(id)
    }
}
