//! [`PgBus`]: change signals between relay processes on one PostgreSQL database, over `LISTEN/NOTIFY`.
//!
//! Two connections of their own (never the storage's): one publishes, one listens. Every step has a
//! deadline, so a database that stops answering (or a network that drops everything) is noticed and the
//! connection made again; while the bus is down, signals are dropped and counted — the cluster's periodic
//! repair and the repair on reconnection ([`BusEvent::Connected`]) cover them. A message is one
//! `NOTIFY casebook_relay` payload: a header line `casebook1 <process id>` then one [`Signal`] per line,
//! at most [`MAX_PAYLOAD`] bytes (PostgreSQL allows 8000).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::cluster::{Announce, BusEvent, Signal};
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// The notification channel.
const CHANNEL: &str = "casebook_relay";
/// The header of a message, before the process id.
const HEADER: &str = "casebook1";
/// Largest payload sent.
pub(crate) const MAX_PAYLOAD: usize = 7_000;
/// Signals queued for publishing before new ones are dropped.
const QUEUE: usize = 20_000;
/// Deadline of a connection attempt and of every statement.
const STEP: Duration = Duration::from_secs(3);
/// How often a quiet listening connection is checked.
const LIVENESS: Duration = Duration::from_secs(2);

/// The publishing side of the bus (an [`Announce`]); dropping it (and [`PgBus::stop`]) ends its tasks.
pub(crate) struct PgBus {
    queue: mpsc::Sender<Signal>,
    metrics: Arc<Metrics>,
    tasks: Vec<JoinHandle<()>>,
}

impl Announce for PgBus {
    fn announce(&self, signal: Signal) {
        if self.queue.try_send(signal).is_err() {
            self.metrics.signals_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl PgBus {
    /// Start publishing and listening on `url` as process `node`; the events of the other processes come
    /// out of the receiver. Only the URL is checked here: the connections are made (and made again) in
    /// the background.
    pub(crate) fn start(
        url: &str,
        node: String,
        metrics: Arc<Metrics>,
    ) -> Result<(Arc<PgBus>, mpsc::UnboundedReceiver<BusEvent>)> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|_| Error::Internal("the bus address is not a PostgreSQL URL".into()))?;
        let (queue, pending) = mpsc::channel(QUEUE);
        let (events, received) = mpsc::unbounded_channel();
        let tasks = vec![
            tokio::spawn(publish(config.clone(), node.clone(), pending, metrics.clone())),
            tokio::spawn(listen(config, node, events)),
        ];
        Ok((Arc::new(PgBus { queue, metrics, tasks }), received))
    }

    /// Signals queued and not sent yet.
    pub(crate) fn pending(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Stop both connections.
    pub(crate) fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A connection whose driver runs on its own task; `messages` carries what the server sends unasked.
async fn connect(
    config: &tokio_postgres::Config,
) -> Option<(tokio_postgres::Client, JoinHandle<()>, mpsc::UnboundedReceiver<String>)> {
    let (client, mut connection) = match tokio::time::timeout(STEP, config.connect(NoTls)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "bus connection failed");
            return None;
        }
        Err(_) => return None,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_string()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    Some((client, driver, rx))
}

/// Messages of at most [`MAX_PAYLOAD`] bytes holding `lines`.
fn pack(node: &str, lines: &[String]) -> Vec<String> {
    let header = format!("{HEADER} {node}");
    let mut out = Vec::new();
    let mut current = header.clone();
    for line in lines {
        if line.len() + header.len() + 1 > MAX_PAYLOAD {
            continue;
        }
        if current.len() + 1 + line.len() > MAX_PAYLOAD {
            out.push(std::mem::replace(&mut current, header.clone()));
        }
        current.push('\n');
        current.push_str(line);
    }
    if current.len() > header.len() {
        out.push(current);
    }
    out
}

/// The signals of a message from another process (`None`: our own, or not a bus message).
fn unpack(node: &str, payload: &str) -> Option<Vec<Signal>> {
    let mut lines = payload.split('\n');
    let mut header = lines.next()?.split(' ');
    if header.next()? != HEADER || header.next()? == node {
        return None;
    }
    Some(lines.filter_map(Signal::decode).collect())
}

async fn publish(
    config: tokio_postgres::Config,
    node: String,
    mut pending: mpsc::Receiver<Signal>,
    metrics: Arc<Metrics>,
) {
    let dropped = &metrics.signals_dropped;
    let mut conn: Option<(tokio_postgres::Client, JoinHandle<()>)> = None;
    let mut backoff = Duration::from_millis(100);
    while let Some(first) = pending.recv().await {
        let mut lines = vec![first.encode()];
        while lines.len() < 4096 {
            match pending.try_recv() {
                Ok(s) => lines.push(s.encode()),
                Err(_) => break,
            }
        }
        for payload in pack(&node, &lines) {
            if conn.is_none() {
                match connect(&config).await {
                    Some((client, driver, _)) => {
                        conn = Some((client, driver));
                        backoff = Duration::from_millis(100);
                    }
                    None => {
                        dropped.fetch_add(lines.len() as u64, Ordering::Relaxed);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        break;
                    }
                }
            }
            let Some((client, _)) = &conn else { break };
            let sent =
                tokio::time::timeout(STEP, client.execute("select pg_notify($1, $2)", &[&CHANNEL, &payload])).await;
            if !matches!(sent, Ok(Ok(_))) {
                dropped.fetch_add(1, Ordering::Relaxed);
                if let Some((_, driver)) = conn.take() {
                    driver.abort();
                }
            }
        }
    }
    if let Some((_, driver)) = conn {
        driver.abort();
    }
}

async fn listen(config: tokio_postgres::Config, node: String, events: mpsc::UnboundedSender<BusEvent>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if let Some((client, driver, mut messages)) = connect(&config).await {
            let listening = tokio::time::timeout(STEP, client.batch_execute(&format!("LISTEN {CHANNEL}"))).await;
            if matches!(listening, Ok(Ok(()))) {
                tracing::info!("cluster bus listening");
                backoff = Duration::from_millis(100);
                if events.send(BusEvent::Connected).is_err() {
                    driver.abort();
                    return;
                }
                loop {
                    tokio::select! {
                        m = messages.recv() => match m {
                            Some(payload) => {
                                if let Some(signals) = unpack(&node, &payload)
                                    && !signals.is_empty()
                                    && events.send(BusEvent::Signals(signals)).is_err()
                                {
                                    driver.abort();
                                    return;
                                }
                            }
                            None => break,
                        },
                        _ = tokio::time::sleep(LIVENESS) => {
                            if !matches!(tokio::time::timeout(STEP, client.simple_query("")).await, Ok(Ok(_))) {
                                break;
                            }
                        }
                    }
                }
                tracing::warn!("cluster bus lost; reconnecting (the periodic repair covers missed signals)");
            }
            driver.abort();
        }
        if events.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_packed_under_the_limit_and_our_own_are_ignored() {
        let lines: Vec<String> = (0..1000)
            .map(|i| Signal::Chunk { key: format!("doc{i}/incremental/{}", "a".repeat(64)), old: None, new: Some(i) })
            .map(|s| s.encode())
            .collect();
        let packed = pack("n1", &lines);
        assert!(packed.len() > 1);
        assert!(packed.iter().all(|p| p.len() <= MAX_PAYLOAD));
        let back: Vec<Signal> = packed.iter().flat_map(|p| unpack("n2", p).unwrap()).collect();
        assert_eq!(back.iter().map(Signal::encode).collect::<Vec<_>>(), lines);
        assert!(unpack("n1", &packed[0]).is_none(), "our own message");
        assert!(unpack("n2", "something else\nr case x").is_none());
    }
}
