//! [`Metrics`]: counters and gauges in atomics, rendered as Prometheus text at `/metrics`.
//!
//! | name | type | meaning |
//! |---|---|---|
//! | `casebook_relay_connections` | gauge | open sync WebSockets |
//! | `casebook_relay_connections_total` | counter | sync WebSockets accepted |
//! | `casebook_relay_accounts`, `_devices`, `_cases`, `_documents` | gauge | registered |
//! | `casebook_relay_cases_over_quota` | gauge | cases read-only because of the storage quota |
//! | `casebook_relay_cases_loaded` | gauge | cases whose sync repository is in memory now (`--case-unload-ms`) |
//! | `casebook_relay_cases_unloaded_total` | counter | case repositories unloaded after their idle delay |
//! | `casebook_relay_messages_in_total`, `_out_total` | counter | sync messages received / sent |
//! | `casebook_relay_bytes_in_total`, `_out_total` | counter | their bytes |
//! | `casebook_relay_auth_failures_total{reason}` | counter | `missing` or `invalid` credentials |
//! | `casebook_relay_limit_hits_total{kind}` | counter | each limit violation, by [`LimitKind`] |
//! | `casebook_relay_http_responses_total{class}` | counter | API responses by status class |
//! | `casebook_relay_storage_failures_total` | counter | failed storage operations of the sync engine |
//! | `casebook_relay_storage_commits_total`, `_committed_writes_total` | counter | the sync engine's group commits (one flush or transaction each) and the writes they made durable |
//! | `casebook_relay_sync_message_seconds` | histogram | handling of one inbound sync message: checks, dry run, hand-off to the case's repository |
//! | `casebook_relay_storage_write_seconds` | histogram | one durable write (or delete) of the sync engine, flush included |
//! | `casebook_relay_cluster_apply_seconds` | histogram | applying chunks another relay process stored to a document open here (the cross-process part of an edit's fan-out) |
//! | `casebook_relay_cluster_signals_dropped_total` | counter | change signals not sent (bus down, queue full; the periodic repair covers them) |

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histograms' buckets, in seconds (Prometheus `le`).
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A latency histogram: counts per bucket (not cumulative), the sum in microseconds, the count.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    /// One count per bucket of [`BUCKETS`], then the overflow (`+Inf`).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// Record one observation.
    pub(crate) fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS.iter().position(|le| secs <= *le).unwrap_or(BUCKETS.len());
        inc(&self.buckets[i], 1);
        inc(&self.sum_micros, d.as_micros().min(u128::from(u64::MAX)) as u64);
        inc(&self.count, 1);
    }

    /// Observations so far.
    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, le) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        cumulative += self.buckets[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cumulative}");
    }
}

/// A limit that was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitKind {
    /// A WebSocket message or frame over the size limit.
    MessageSize,
    /// An HTTP body over the size limit.
    BodySize,
    /// A request body or parameter that failed validation.
    InvalidInput,
    /// An upgrade refused because the connection limit was reached.
    Connections,
    /// A socket closed for inactivity.
    IdleTimeout,
    /// A socket closed because the sync handshake did not come in time.
    HandshakeTimeout,
    /// A socket closed for a protocol violation (text frame, undecodable message, wrong peer id, a change
    /// that fails the dry run).
    Protocol,
    /// A sync socket closed for sending more messages or bytes than its budget allows.
    MessageRate,
    /// Too many failed authentications from one address.
    AuthRate,
    /// Too many code redemptions from one address.
    RedeemRate,
    /// Too many accounts created from one address.
    AccountRate,
    /// A case went over its storage quota.
    CaseQuota,
    /// A count limit (devices, cases, members, documents, invites).
    Count,
}

impl LimitKind {
    const ALL: [LimitKind; 13] = [
        LimitKind::MessageSize,
        LimitKind::BodySize,
        LimitKind::InvalidInput,
        LimitKind::Connections,
        LimitKind::IdleTimeout,
        LimitKind::HandshakeTimeout,
        LimitKind::Protocol,
        LimitKind::MessageRate,
        LimitKind::AuthRate,
        LimitKind::RedeemRate,
        LimitKind::AccountRate,
        LimitKind::CaseQuota,
        LimitKind::Count,
    ];

    /// The `kind` label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LimitKind::MessageSize => "message_size",
            LimitKind::BodySize => "body_size",
            LimitKind::InvalidInput => "invalid_input",
            LimitKind::Connections => "connections",
            LimitKind::IdleTimeout => "idle_timeout",
            LimitKind::HandshakeTimeout => "handshake_timeout",
            LimitKind::Protocol => "protocol",
            LimitKind::MessageRate => "message_rate",
            LimitKind::AuthRate => "auth_rate",
            LimitKind::RedeemRate => "redeem_rate",
            LimitKind::AccountRate => "account_rate",
            LimitKind::CaseQuota => "case_quota",
            LimitKind::Count => "count",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).expect("listed")
    }
}

/// Why authentication failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No credentials.
    Missing,
    /// Credentials that are not valid (unknown, revoked, malformed).
    Invalid,
}

/// Values that live elsewhere, read when rendering.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Gauges {
    /// Registered accounts.
    pub(crate) accounts: usize,
    /// Devices with a valid token.
    pub(crate) devices: usize,
    /// Registered cases.
    pub(crate) cases: usize,
    /// Registered documents.
    pub(crate) documents: usize,
    /// Cases over quota.
    pub(crate) cases_over_quota: usize,
    /// Cases whose sync repository is loaded.
    pub(crate) cases_loaded: usize,
    /// Case repositories unloaded so far.
    pub(crate) cases_unloaded: u64,
    /// Failed storage operations of the sync engine.
    pub(crate) storage_failures: u64,
    /// The sync engine's group commits so far.
    pub(crate) storage_commits: u64,
    /// The writes those commits made durable.
    pub(crate) storage_committed_writes: u64,
}

/// The relay's counters. Cheap to update from any task.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    connections: AtomicU64,
    connections_total: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    auth_missing: AtomicU64,
    auth_invalid: AtomicU64,
    limit_hits: [AtomicU64; LimitKind::ALL.len()],
    http: [AtomicU64; 5],
    /// Handling of one inbound sync message.
    pub(crate) sync_message: Histogram,
    /// One durable write of the sync engine.
    pub(crate) storage_write: Histogram,
    /// Applying another relay process's stored chunks to a document open here.
    pub(crate) cluster_apply: Histogram,
    /// Change signals dropped by the bus.
    pub(crate) signals_dropped: AtomicU64,
}

fn inc(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    /// A sync connection opened.
    pub(crate) fn connection_opened(&self) {
        inc(&self.connections, 1);
        inc(&self.connections_total, 1);
    }

    /// A sync connection closed.
    pub(crate) fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Sync messages received and sent so far (to tell when traffic has stopped).
    pub(crate) fn traffic(&self) -> u64 {
        self.messages_in.load(Ordering::Relaxed) + self.messages_out.load(Ordering::Relaxed)
    }

    /// A sync message received.
    pub(crate) fn message_in(&self, bytes: usize) {
        inc(&self.messages_in, 1);
        inc(&self.bytes_in, bytes as u64);
    }

    /// A sync message sent.
    pub(crate) fn message_out(&self, bytes: usize) {
        inc(&self.messages_out, 1);
        inc(&self.bytes_out, bytes as u64);
    }

    /// An authentication failed.
    pub(crate) fn auth_failure(&self, why: AuthFailure) {
        match why {
            AuthFailure::Missing => inc(&self.auth_missing, 1),
            AuthFailure::Invalid => inc(&self.auth_invalid, 1),
        }
    }

    /// A limit was hit.
    pub(crate) fn limit_hit(&self, kind: LimitKind) {
        inc(&self.limit_hits[kind.index()], 1);
    }

    /// Hits of one limit so far.
    pub(crate) fn limit_hits(&self, kind: LimitKind) -> u64 {
        self.limit_hits[kind.index()].load(Ordering::Relaxed)
    }

    /// An HTTP response with `status` was sent.
    pub(crate) fn http_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        inc(&self.http[class], 1);
    }

    /// Prometheus text exposition.
    pub(crate) fn render(&self, g: Gauges) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        metric("casebook_relay_connections", "gauge", "Open sync WebSockets.", &[("", get(&self.connections))]);
        metric(
            "casebook_relay_connections_total",
            "counter",
            "Sync WebSockets accepted.",
            &[("", get(&self.connections_total))],
        );
        metric("casebook_relay_accounts", "gauge", "Registered accounts.", &[("", g.accounts as u64)]);
        metric("casebook_relay_devices", "gauge", "Devices with a valid token.", &[("", g.devices as u64)]);
        metric("casebook_relay_cases", "gauge", "Registered cases.", &[("", g.cases as u64)]);
        metric("casebook_relay_documents", "gauge", "Registered documents.", &[("", g.documents as u64)]);
        metric(
            "casebook_relay_cases_over_quota",
            "gauge",
            "Cases read-only on the relay because of the storage quota.",
            &[("", g.cases_over_quota as u64)],
        );
        metric(
            "casebook_relay_cases_loaded",
            "gauge",
            "Cases whose sync repository is in memory now.",
            &[("", g.cases_loaded as u64)],
        );
        metric(
            "casebook_relay_cases_unloaded_total",
            "counter",
            "Case repositories unloaded after their idle delay.",
            &[("", g.cases_unloaded)],
        );
        metric(
            "casebook_relay_messages_in_total",
            "counter",
            "Sync messages received.",
            &[("", get(&self.messages_in))],
        );
        metric("casebook_relay_messages_out_total", "counter", "Sync messages sent.", &[("", get(&self.messages_out))]);
        metric(
            "casebook_relay_bytes_in_total",
            "counter",
            "Bytes of sync messages received.",
            &[("", get(&self.bytes_in))],
        );
        metric(
            "casebook_relay_bytes_out_total",
            "counter",
            "Bytes of sync messages sent.",
            &[("", get(&self.bytes_out))],
        );
        metric(
            "casebook_relay_auth_failures_total",
            "counter",
            "Failed authentications.",
            &[("{reason=\"missing\"}", get(&self.auth_missing)), ("{reason=\"invalid\"}", get(&self.auth_invalid))],
        );
        let labels: Vec<String> = LimitKind::ALL.iter().map(|k| format!("{{kind=\"{}\"}}", k.as_str())).collect();
        let hits: Vec<(&str, u64)> =
            LimitKind::ALL.iter().zip(&labels).map(|(k, l)| (l.as_str(), self.limit_hits(*k))).collect();
        metric("casebook_relay_limit_hits_total", "counter", "Limit violations by kind.", &hits);
        let classes = ["1xx", "2xx", "3xx", "4xx", "5xx"];
        let labels: Vec<String> = classes.iter().map(|c| format!("{{class=\"{c}\"}}")).collect();
        let http: Vec<(&str, u64)> = labels.iter().zip(&self.http).map(|(l, a)| (l.as_str(), get(a))).collect();
        metric("casebook_relay_http_responses_total", "counter", "HTTP API responses by status class.", &http);
        metric(
            "casebook_relay_storage_failures_total",
            "counter",
            "Failed storage operations of the sync engine.",
            &[("", g.storage_failures)],
        );
        metric(
            "casebook_relay_storage_commits_total",
            "counter",
            "Group commits of the sync engine's writes (one flush or transaction each).",
            &[("", g.storage_commits)],
        );
        metric(
            "casebook_relay_storage_committed_writes_total",
            "counter",
            "Writes of the sync engine made durable by those commits.",
            &[("", g.storage_committed_writes)],
        );
        metric(
            "casebook_relay_cluster_signals_dropped_total",
            "counter",
            "Change signals to other relay processes not sent (the periodic repair covers them).",
            &[("", get(&self.signals_dropped))],
        );
        self.cluster_apply.render(
            &mut out,
            "casebook_relay_cluster_apply_seconds",
            "Applying chunks another relay process stored to a document open here.",
        );
        self.sync_message.render(
            &mut out,
            "casebook_relay_sync_message_seconds",
            "Handling of one inbound sync message (checks, dry run, hand-off to the case's repository).",
        );
        self.storage_write.render(
            &mut out,
            "casebook_relay_storage_write_seconds",
            "One durable write or delete of the sync engine, flush included.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.connection_opened();
        m.message_in(10);
        m.message_out(7);
        m.auth_failure(AuthFailure::Invalid);
        m.limit_hit(LimitKind::MessageSize);
        m.limit_hit(LimitKind::MessageSize);
        m.http_response(404);
        let text = m.render(Gauges { cases: 3, cases_loaded: 2, cases_unloaded: 5, ..Gauges::default() });
        assert!(text.contains("casebook_relay_connections 1\n"));
        assert!(text.contains("casebook_relay_bytes_in_total 10\n"));
        assert!(text.contains("casebook_relay_bytes_out_total 7\n"));
        assert!(text.contains("casebook_relay_cases 3\n"));
        assert!(text.contains("casebook_relay_cases_loaded 2\n"));
        assert!(text.contains("casebook_relay_cases_unloaded_total 5\n"));
        assert!(text.contains("casebook_relay_auth_failures_total{reason=\"invalid\"} 1\n"));
        assert!(text.contains("casebook_relay_limit_hits_total{kind=\"message_size\"} 2\n"));
        assert!(text.contains("casebook_relay_limit_hits_total{kind=\"case_quota\"} 0\n"));
        assert!(text.contains("casebook_relay_limit_hits_total{kind=\"message_rate\"} 0\n"));
        assert!(text.contains("casebook_relay_http_responses_total{class=\"4xx\"} 1\n"));
        assert!(text.contains("# TYPE casebook_relay_messages_in_total counter\n"));
        assert!(text.contains("# TYPE casebook_relay_sync_message_seconds histogram\n"));
    }

    #[test]
    fn histograms_are_cumulative() {
        let m = Metrics::default();
        m.storage_write.observe(Duration::from_micros(300));
        m.storage_write.observe(Duration::from_millis(3));
        m.storage_write.observe(Duration::from_millis(3));
        m.storage_write.observe(Duration::from_secs(60));
        let text = m.render(Gauges::default());
        for line in [
            "casebook_relay_storage_write_seconds_bucket{le=\"0.0005\"} 1\n",
            "casebook_relay_storage_write_seconds_bucket{le=\"0.0025\"} 1\n",
            "casebook_relay_storage_write_seconds_bucket{le=\"0.005\"} 3\n",
            "casebook_relay_storage_write_seconds_bucket{le=\"10\"} 3\n",
            "casebook_relay_storage_write_seconds_bucket{le=\"+Inf\"} 4\n",
            "casebook_relay_storage_write_seconds_count 4\n",
            "casebook_relay_storage_write_seconds_sum 60.0063\n",
            "casebook_relay_sync_message_seconds_count 0\n",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert_eq!(m.storage_write.count(), 4);
    }
}
