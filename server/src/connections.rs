//! [`Connections`]: the live sync connections by device, so that revoking a token or shutting down
//! closes the sockets concerned at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

/// Why the relay closes a connection from outside its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kick {
    /// The device's token was revoked.
    Revoked,
    /// The relay is shutting down.
    Shutdown,
}

struct Live {
    device_id: String,
    /// Taken when the connection is told to close; the entry stays until its task ends.
    kick: Option<oneshot::Sender<Kick>>,
}

/// The registry of live sync connections.
#[derive(Default)]
pub(crate) struct Connections {
    next: AtomicU64,
    live: Mutex<HashMap<u64, Live>>,
    emptied: Notify,
}

/// A connection's registration: deregisters on drop (when its task ends).
pub(crate) struct Registration {
    id: u64,
    registry: Arc<Connections>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut live = self.registry.lock();
        live.remove(&self.id);
        if live.is_empty() {
            self.registry.emptied.notify_waiters();
        }
    }
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Register a connection of `device_id`; the receiver fires when it must close.
    pub(crate) fn register(self: &Arc<Self>, device_id: &str) -> (Registration, oneshot::Receiver<Kick>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, Live { device_id: device_id.to_string(), kick: Some(tx) });
        (Registration { id, registry: self.clone() }, rx)
    }

    /// Tell every connection of a device to close. Returns how many were told.
    pub(crate) fn kick_device(&self, device_id: &str, why: Kick) -> usize {
        let mut live = self.lock();
        let mut told = 0;
        for l in live.values_mut().filter(|l| l.device_id == device_id) {
            if let Some(tx) = l.kick.take() {
                let _ = tx.send(why);
                told += 1;
            }
        }
        told
    }

    /// Tell every connection to close.
    pub(crate) fn kick_all(&self, why: Kick) {
        for l in self.lock().values_mut() {
            if let Some(tx) = l.kick.take() {
                let _ = tx.send(why);
            }
        }
    }

    /// Connections whose task is running.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Wait until no connection is registered, at most `timeout`. Returns whether it got there.
    pub(crate) async fn wait_empty(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.emptied.notified();
            if self.len() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.len() == 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kicks_by_device_and_all() {
        let c = Arc::new(Connections::default());
        let (r1, k1) = c.register("d1");
        let (r2, k2) = c.register("d1");
        let (r3, k3) = c.register("d2");
        assert_eq!(c.kick_device("d1", Kick::Revoked), 2);
        assert_eq!(c.kick_device("d1", Kick::Revoked), 0);
        assert_eq!(k1.await.unwrap(), Kick::Revoked);
        assert_eq!(k2.await.unwrap(), Kick::Revoked);
        assert_eq!(c.len(), 3, "entries stay until their tasks end");
        drop(r1);
        drop(r2);
        assert!(!c.wait_empty(Duration::from_millis(10)).await);
        c.kick_all(Kick::Shutdown);
        assert_eq!(k3.await.unwrap(), Kick::Shutdown);
        let waiter = {
            let c = c.clone();
            tokio::spawn(async move { c.wait_empty(Duration::from_secs(5)).await })
        };
        tokio::task::yield_now().await;
        drop(r3);
        assert!(waiter.await.unwrap());
    }
}
