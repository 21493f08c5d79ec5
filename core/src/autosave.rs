//! [`Autosave`]: the durability policy every app shares — an edit is saved within [`Autosave::idle`] of
//! the last keystroke (one change per burst of typing, see ARCHITECTURE.md "keystrokes vs. load time"),
//! and at once on [`Autosave::flush`] (the app goes to the background).
//!
//! A thread of its own waits for the deadlines; the save takes the case's lock (a local flush, never the
//! network). What "save" means is the app's: the bindings save and hand the edits to the sync client.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::case::Case;

/// Saves one case (called on the autosave thread).
pub type Saver = Arc<dyn Fn(&Arc<Mutex<Case>>) + Send + Sync>;

enum Msg {
    Touch(Weak<Mutex<Case>>),
    Flush(mpsc::Sender<()>),
}

/// Saves open cases on a debounce. See the [module documentation](self).
pub struct Autosave {
    tx: Mutex<mpsc::Sender<Msg>>,
    idle: Duration,
}

/// The default saver: [`crate::save_shared`] (the disk flush runs without the case's lock; a failure is
/// logged and the edits stay pending for the next save).
pub fn save_only() -> Saver {
    Arc::new(|case: &Arc<Mutex<Case>>| {
        if let Err(e) = crate::case::save_shared(case) {
            tracing::warn!(error = %e, "autosave failed; the edits stay pending");
        }
    })
}

impl Autosave {
    /// Start the autosave thread: a touched case is saved with `saver` once `idle` passed without another
    /// touch.
    pub fn start(idle: Duration, saver: Saver) -> Autosave {
        let (tx, rx) = mpsc::channel::<Msg>();
        let spawned = std::thread::Builder::new().name("casebook-autosave".into()).spawn(move || {
            // Pending cases by address, with their deadline.
            let mut pending: BTreeMap<usize, (Weak<Mutex<Case>>, Instant)> = BTreeMap::new();
            let save_all = |pending: &mut BTreeMap<usize, (Weak<Mutex<Case>>, Instant)>, due: Option<Instant>| {
                let keys: Vec<usize> =
                    pending.iter().filter(|(_, (_, d))| due.is_none_or(|now| *d <= now)).map(|(k, _)| *k).collect();
                for k in keys {
                    if let Some((w, _)) = pending.remove(&k)
                        && let Some(case) = w.upgrade()
                    {
                        saver(&case);
                    }
                }
            };
            loop {
                let next = pending.values().map(|(_, d)| *d).min();
                let msg = match next {
                    Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                match msg {
                    Ok(Msg::Touch(w)) => {
                        pending.insert(w.as_ptr() as usize, (w, Instant::now() + idle));
                    }
                    Ok(Msg::Flush(ack)) => {
                        save_all(&mut pending, None);
                        let _ = ack.send(());
                    }
                    Err(RecvTimeoutError::Timeout) => save_all(&mut pending, Some(Instant::now())),
                    Err(RecvTimeoutError::Disconnected) => {
                        save_all(&mut pending, None);
                        break;
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the autosave thread; edits are saved only on explicit saves");
        }
        Autosave { tx: Mutex::new(tx), idle }
    }

    /// The idle time after which an edited case is saved.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// An edit was made to `case`: save it once the typing pauses. Never blocks.
    pub fn touch(&self, case: &Arc<Mutex<Case>>) {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let _ = tx.send(Msg::Touch(Arc::downgrade(case)));
    }

    /// Save every touched case now and wait until done (the app goes to the background).
    pub fn flush(&self) {
        let (ack, done) = mpsc::channel();
        {
            let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
            if tx.send(Msg::Flush(ack)).is_err() {
                return;
            }
        }
        let _ = done.recv();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::model::text::TextField;

    #[test]
    fn an_edit_is_saved_after_the_idle_time_and_at_once_on_flush() {
        let store = Store::in_memory();
        let case = Arc::new(Mutex::new(store.create_case("Mum", "Ana", None).unwrap().0));
        let autosave = Autosave::start(Duration::from_millis(200), save_only());
        case.lock().unwrap().append_text(&TextField::Symptoms, "tired").unwrap();
        autosave.touch(&case);
        assert!(case.lock().unwrap().has_unsaved_changes(), "not before the idle time");
        let start = Instant::now();
        while case.lock().unwrap().has_unsaved_changes() {
            assert!(start.elapsed() < Duration::from_secs(10), "never saved");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(start.elapsed() >= Duration::from_millis(150), "saved too early: {:?}", start.elapsed());

        // Typing keeps pushing the deadline; a flush saves at once.
        case.lock().unwrap().append_text(&TextField::Symptoms, ", short of breath").unwrap();
        autosave.touch(&case);
        autosave.flush();
        assert!(!case.lock().unwrap().has_unsaved_changes());
        let id = case.lock().unwrap().id().clone();
        let mut reopened = store.open_case(&id).unwrap();
        assert_eq!(reopened.text(&TextField::Symptoms).unwrap(), "tired, short of breath", "durable");
    }
}
