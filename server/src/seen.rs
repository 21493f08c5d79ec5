//! [`Seen`]: when each device last synced each case (`GET /v1/cases/{id}/last-seen`), and when each
//! device's sync connection was last active (`GET /v1/devices`).
//!
//! Kept in memory and updated on every inbound message (a lock and a map lookup, no I/O). Persisted in
//! the background: at most every [`PERSIST_EVERY`] the times that changed are written (so each (case,
//! device) is written at most once per period, however busy the device), and once more at shutdown. A
//! crash loses at most the last period: the times are approximate after a restart, never wrong by more.
//!
//! | key | value |
//! |---|---|
//! | `relay/seen/<case id>/<device id>` | Unix seconds (JSON number) of the device's last sync of the case |
//! | `relay/device-seen/<device id>` | Unix seconds of the device's last active sync connection |
//!
//! A "sync of the case" is a `request` or `sync` message about one of the case's documents from a device
//! of a member (presence heartbeats and other ephemeral messages do not count). Times of devices revoked
//! since, or of members removed since, are not shown (the directory decides who is listed), and are
//! dropped from storage when the device is revoked or at the next start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use casebook_core::storage::{Storage, StorageKey, key};

use crate::accounts::Directory;
use crate::error::Result;

/// How often changed times are written.
pub(crate) const PERSIST_EVERY: Duration = Duration::from_secs(30);

const ROOT: &str = "relay";
const CASE_KIND: &str = "seen";
const DEVICE_KIND: &str = "device-seen";

#[derive(Debug, Clone, Copy)]
struct Stamp {
    /// Unix seconds.
    at: u64,
    /// Changed since last written.
    dirty: bool,
}

impl Stamp {
    /// Move forward to `now` (never back).
    fn touch(&mut self, now: u64) {
        if now > self.at {
            self.at = now;
            self.dirty = true;
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Case id → device id → last sync.
    cases: HashMap<String, HashMap<String, Stamp>>,
    /// Device id → last active connection.
    devices: HashMap<String, Stamp>,
    /// Keys to delete at the next write (forgotten devices).
    forgotten: Vec<StorageKey>,
}

/// The last-seen times (see the module documentation).
pub(crate) struct Seen {
    storage: Arc<dyn Storage>,
    inner: Mutex<Inner>,
}

fn case_key(case_id: &str, device_id: &str) -> Result<StorageKey> {
    Ok(key([ROOT, CASE_KIND, case_id, device_id])?)
}

fn device_key(device_id: &str) -> Result<StorageKey> {
    Ok(key([ROOT, DEVICE_KIND, device_id])?)
}

impl Seen {
    /// Load the stored times; those of devices that no longer exist, or whose account is no longer a member
    /// of the case, are dropped (and deleted at the next write). An unreadable entry is dropped too: these
    /// times are a convenience, never a reason not to start.
    pub(crate) fn open(storage: Arc<dyn Storage>, dir: &Directory) -> Result<Self> {
        let mut inner = Inner::default();
        let prefix = format!("{ROOT}/{CASE_KIND}/");
        for (k, v) in storage.load_range(&key([ROOT, CASE_KIND])?)? {
            let flat = k.to_string();
            let parsed = flat.strip_prefix(&prefix).and_then(|rest| rest.split_once('/'));
            let at = serde_json::from_slice::<u64>(&v).ok();
            match (parsed, at) {
                (Some((case, device)), Some(at)) if dir.device_in_case(device, case) => {
                    inner
                        .cases
                        .entry(case.to_string())
                        .or_default()
                        .insert(device.to_string(), Stamp { at, dirty: false });
                }
                _ => inner.forgotten.push(k),
            }
        }
        let prefix = format!("{ROOT}/{DEVICE_KIND}/");
        for (k, v) in storage.load_range(&key([ROOT, DEVICE_KIND])?)? {
            let flat = k.to_string();
            let device = flat.strip_prefix(&prefix).filter(|d| !d.contains('/'));
            let at = serde_json::from_slice::<u64>(&v).ok();
            match (device, at) {
                (Some(device), Some(at)) if dir.device_exists(device) => {
                    inner.devices.insert(device.to_string(), Stamp { at, dirty: false });
                }
                _ => inner.forgotten.push(k),
            }
        }
        Ok(Seen { storage, inner: Mutex::new(inner) })
    }

    /// Take the later of each stored time and this process's (other relay processes on the same database
    /// write theirs): the cluster's periodic repair. Unknown or unreadable entries are left alone.
    pub(crate) fn merge_stored(&self) -> Result<()> {
        let cases = self.storage.load_range(&key([ROOT, CASE_KIND])?)?;
        let devices = self.storage.load_range(&key([ROOT, DEVICE_KIND])?)?;
        let mut inner = self.lock();
        let later = |stamp: &mut Stamp, at: u64| {
            if at > stamp.at {
                *stamp = Stamp { at, dirty: false };
            }
        };
        let prefix = format!("{ROOT}/{CASE_KIND}/");
        for (k, v) in cases {
            let flat = k.to_string();
            let Some((case, device)) = flat.strip_prefix(&prefix).and_then(|rest| rest.split_once('/')) else {
                continue;
            };
            let Ok(at) = serde_json::from_slice::<u64>(&v) else { continue };
            let stamp = inner
                .cases
                .entry(case.to_string())
                .or_default()
                .entry(device.to_string())
                .or_insert(Stamp { at, dirty: false });
            later(stamp, at);
        }
        let prefix = format!("{ROOT}/{DEVICE_KIND}/");
        for (k, v) in devices {
            let flat = k.to_string();
            let Some(device) = flat.strip_prefix(&prefix).filter(|d| !d.contains('/')) else { continue };
            let Ok(at) = serde_json::from_slice::<u64>(&v) else { continue };
            later(inner.devices.entry(device.to_string()).or_insert(Stamp { at, dirty: false }), at);
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A device sent a sync message about a document of a case.
    pub(crate) fn case_synced(&self, case_id: &str, device_id: &str, now: u64) {
        let mut inner = self.lock();
        if let Some(stamp) = inner.cases.get_mut(case_id).and_then(|d| d.get_mut(device_id)) {
            stamp.touch(now);
            return;
        }
        inner
            .cases
            .entry(case_id.to_string())
            .or_default()
            .insert(device_id.to_string(), Stamp { at: now, dirty: true });
    }

    /// A device's sync connection is active (opened, or a message came in).
    pub(crate) fn device_active(&self, device_id: &str, now: u64) {
        let mut inner = self.lock();
        if let Some(stamp) = inner.devices.get_mut(device_id) {
            stamp.touch(now);
            return;
        }
        inner.devices.insert(device_id.to_string(), Stamp { at: now, dirty: true });
    }

    /// When a device last synced a case.
    pub(crate) fn case_device(&self, case_id: &str, device_id: &str) -> Option<u64> {
        self.lock().cases.get(case_id)?.get(device_id).map(|s| s.at)
    }

    /// When a device's sync connection was last active.
    pub(crate) fn device(&self, device_id: &str) -> Option<u64> {
        self.lock().devices.get(device_id).map(|s| s.at)
    }

    /// Forget a revoked device (its stored times are deleted at the next write).
    pub(crate) fn forget_device(&self, device_id: &str) {
        let mut inner = self.lock();
        let mut keys = Vec::new();
        for (case, devices) in inner.cases.iter_mut() {
            if devices.remove(device_id).is_some() {
                keys.extend(case_key(case, device_id));
            }
        }
        inner.cases.retain(|_, d| !d.is_empty());
        if inner.devices.remove(device_id).is_some() {
            keys.extend(device_key(device_id));
        }
        inner.forgotten.extend(keys);
    }

    /// Write the times that changed since the last write, delete those forgotten, and flush (blocking
    /// I/O). Returns how many entries were written or deleted. Entries whose write fails are written
    /// again next time.
    pub(crate) fn persist(&self) -> Result<usize> {
        let (writes, deletes) = {
            let mut inner = self.lock();
            let mut writes = Vec::new();
            for (case, devices) in inner.cases.iter_mut() {
                for (device, stamp) in devices.iter_mut().filter(|(_, s)| s.dirty) {
                    stamp.dirty = false;
                    writes.push((case_key(case, device), stamp.at, Some(case.clone()), device.clone()));
                }
            }
            for (device, stamp) in inner.devices.iter_mut().filter(|(_, s)| s.dirty) {
                stamp.dirty = false;
                writes.push((device_key(device), stamp.at, None, device.clone()));
            }
            (writes, std::mem::take(&mut inner.forgotten))
        };
        if writes.is_empty() && deletes.is_empty() {
            return Ok(0);
        }
        let mut done = 0;
        let mut failed = Vec::new();
        let mut first_error = None;
        for (k, at, case, device) in writes {
            let result = k.and_then(|k| Ok(self.storage.put(&k, at.to_string().as_bytes())?));
            match result {
                Ok(()) => done += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                    failed.push((case, device));
                }
            }
        }
        for k in &deletes {
            match self.storage.delete(k) {
                Ok(()) => done += 1,
                Err(e) => {
                    first_error.get_or_insert(e.into());
                }
            }
        }
        if !failed.is_empty() {
            let mut inner = self.lock();
            for (case, device) in failed {
                let stamp = match &case {
                    Some(c) => inner.cases.get_mut(c).and_then(|d| d.get_mut(&device)),
                    None => inner.devices.get_mut(&device),
                };
                if let Some(s) = stamp {
                    s.dirty = true;
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        self.storage.flush()?;
        Ok(done)
    }
}

/// Write changed times every [`PERSIST_EVERY`] until aborted (shutdown writes once more itself).
pub(crate) async fn persist_periodically(seen: Arc<Seen>) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + PERSIST_EVERY, PERSIST_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = seen.clone();
        match tokio::task::spawn_blocking(move || s.persist()).await {
            Ok(Ok(written)) if written > 0 => tracing::debug!(written, "last-seen times saved"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "saving last-seen times failed"),
            Err(e) => tracing::warn!(error = %e, "saving last-seen times: task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{DeviceAuth, DirectoryLimits};
    use casebook_core::storage::MemoryStorage;

    const CASE: &str = "2W7hUGUKr7oAmKDYR6cdv8c6Wko6";

    fn setup() -> (Arc<MemoryStorage>, Directory, DeviceAuth) {
        let s = Arc::new(MemoryStorage::new());
        let d = Directory::open(s.clone(), DirectoryLimits::from(&crate::Config::default()), 0).unwrap();
        let c = d.create_account("Ana".into(), None, 0).unwrap();
        let a = d.authenticate(&c.token).unwrap();
        d.register_case(&a, CASE, 0).unwrap();
        (s, d, a)
    }

    #[test]
    fn times_move_forward_and_are_written_only_when_changed() {
        let (s, d, a) = setup();
        let seen = Seen::open(s.clone(), &d).unwrap();
        assert_eq!(seen.case_device(CASE, &a.device_id), None);
        seen.case_synced(CASE, &a.device_id, 100);
        seen.case_synced(CASE, &a.device_id, 90);
        seen.device_active(&a.device_id, 101);
        assert_eq!(seen.case_device(CASE, &a.device_id), Some(100));
        assert_eq!(seen.device(&a.device_id), Some(101));
        assert_eq!(seen.persist().unwrap(), 2);
        assert_eq!(seen.persist().unwrap(), 0, "nothing changed");
        for t in 101..200 {
            seen.case_synced(CASE, &a.device_id, t);
        }
        assert_eq!(seen.persist().unwrap(), 1, "one write for many messages");

        let reopened = Seen::open(s.clone(), &d).unwrap();
        assert_eq!(reopened.case_device(CASE, &a.device_id), Some(199));
        assert_eq!(reopened.device(&a.device_id), Some(101));
    }

    #[test]
    fn another_process_times_are_merged_the_later_wins() {
        let (s, d, a) = setup();
        let (one, two) = (Seen::open(s.clone(), &d).unwrap(), Seen::open(s.clone(), &d).unwrap());
        one.case_synced(CASE, &a.device_id, 100);
        one.device_active(&a.device_id, 100);
        one.persist().unwrap();
        two.case_synced(CASE, &a.device_id, 150);
        two.merge_stored().unwrap();
        assert_eq!(two.case_device(CASE, &a.device_id), Some(150), "its own later time stays");
        assert_eq!(two.device(&a.device_id), Some(100), "the other's time arrives");
        two.persist().unwrap();
        one.merge_stored().unwrap();
        assert_eq!(one.case_device(CASE, &a.device_id), Some(150));
    }

    #[test]
    fn revoked_devices_and_removed_members_are_dropped() {
        let (s, d, a) = setup();
        let seen = Seen::open(s.clone(), &d).unwrap();
        seen.case_synced(CASE, &a.device_id, 100);
        seen.device_active(&a.device_id, 100);
        seen.case_synced(CASE, "not-a-device", 100);
        seen.persist().unwrap();
        let reopened = Seen::open(s.clone(), &d).unwrap();
        assert_eq!(reopened.case_device(CASE, "not-a-device"), None, "dropped at start");
        assert_eq!(reopened.persist().unwrap(), 1, "and deleted");

        seen.forget_device(&a.device_id);
        assert_eq!(seen.case_device(CASE, &a.device_id), None);
        assert_eq!(seen.device(&a.device_id), None);
        seen.persist().unwrap();
        let relay_keys = s.load_range(&key([ROOT]).unwrap()).unwrap();
        assert!(
            relay_keys.iter().all(|(k, _)| !k.to_string().contains("seen")),
            "{:?}",
            relay_keys.iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>()
        );
    }
}
