//! Rate limits: a token bucket per client address, and the inbound budget of one sync connection. Pure
//! logic over an explicit clock.
//!
//! Per address ([`RateLimiter`]): failed authentications (only failures spend), code redemptions (every
//! attempt spends) and account creation. A blocked address gets 429 with `Retry-After` for every attempt of
//! that kind, even with valid credentials, so a guesser cannot tell a hit from a miss while blocked.
//!
//! Per sync connection ([`SyncBudget`]): inbound messages and bytes, so a flood of tiny WebSocket messages
//! is cut off (the connection is closed) instead of keeping samod busy until the idle timeout.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

/// Buckets kept before full (idle) ones are dropped.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per client address: `capacity` attempts, refilled evenly over `window`.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    capacity: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// `capacity` attempts per `window`; a capacity of 0 disables the limit.
    pub(crate) fn new(capacity: u32, window: Duration) -> Self {
        let capacity = f64::from(capacity);
        RateLimiter {
            capacity,
            per_sec: capacity / window.as_secs_f64().max(0.001),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn level(&self, b: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        (b.tokens + elapsed * self.per_sec).min(self.capacity)
    }

    fn wait_for_one(&self, tokens: f64) -> Duration {
        Duration::from_secs_f64(((1.0 - tokens) / self.per_sec).max(0.0))
    }

    /// `Err(retry_after)` if `ip` has no attempt left; spends nothing.
    pub(crate) fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.capacity == 0.0 {
            return Ok(());
        }
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        match buckets.get(&ip) {
            Some(b) => {
                let tokens = self.level(*b, now);
                if tokens < 1.0 { Err(self.wait_for_one(tokens)) } else { Ok(()) }
            }
            None => Ok(()),
        }
    }

    /// Spend one attempt of `ip` (never below zero).
    pub(crate) fn hit(&self, ip: IpAddr, now: Instant) {
        if self.capacity == 0.0 {
            return;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| self.level(*b, now) < self.capacity);
        }
        let tokens = buckets.get(&ip).map_or(self.capacity, |b| self.level(*b, now));
        buckets.insert(ip, Bucket { tokens: (tokens - 1.0).max(0.0), at: now });
    }

    /// Check, then spend one attempt.
    pub(crate) fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        self.check(ip, now)?;
        self.hit(ip, now);
        Ok(())
    }

    /// Addresses currently tracked.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.lock().unwrap().len()
    }
}

/// One token bucket: `capacity` tokens, refilled at `per_sec`; a rate of 0 means no limit.
#[derive(Debug, Clone, Copy)]
struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    fn new(per_sec: f64, capacity: f64, now: Instant) -> Self {
        TokenBucket { capacity, per_sec, tokens: capacity, at: now }
    }

    /// Spend `n` tokens at `now`; `false` (spending nothing) if there are fewer.
    fn take(&mut self, n: f64, now: Instant) -> bool {
        if self.per_sec == 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.at = now;
        if self.tokens < n {
            return false;
        }
        self.tokens -= n;
        true
    }
}

/// Which part of a [`SyncBudget`] ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverBudget {
    /// Too many messages.
    Messages,
    /// Too many bytes.
    Bytes,
}

impl OverBudget {
    /// A short, content-free reason for logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OverBudget::Messages => "message rate",
            OverBudget::Bytes => "byte rate",
        }
    }
}

/// The inbound budget of one sync connection: a token bucket of messages and one of bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncBudget {
    messages: TokenBucket,
    bytes: TokenBucket,
}

impl SyncBudget {
    /// Full buckets at `now`, from the configuration (`sync_messages_per_sec`, `sync_message_burst`,
    /// `sync_bytes_per_sec`, `sync_byte_burst`; a rate of 0 disables that bucket).
    pub(crate) fn new(config: &crate::Config, now: Instant) -> Self {
        SyncBudget {
            messages: TokenBucket::new(
                f64::from(config.sync_messages_per_sec),
                f64::from(config.sync_message_burst),
                now,
            ),
            bytes: TokenBucket::new(config.sync_bytes_per_sec as f64, config.sync_byte_burst_effective() as f64, now),
        }
    }

    /// Spend one message of `bytes` at `now`; `Err` if either bucket is empty.
    pub(crate) fn spend(&mut self, bytes: usize, now: Instant) -> Result<(), OverBudget> {
        if !self.messages.take(1.0, now) {
            return Err(OverBudget::Messages);
        }
        if !self.bytes.take(bytes as f64, now) {
            return Err(OverBudget::Bytes);
        }
        Ok(())
    }
}

/// The client address: the TCP peer, or with `header` set (behind a reverse proxy) the header's value —
/// the rightmost entry of a comma-separated list such as `X-Forwarded-For`, the one the proxy appended.
/// Falls back to the peer when the header is missing or does not parse.
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, header: Option<&str>) -> IpAddr {
    let Some(name) = header else { return peer };
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .next_back()
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn blocks_after_capacity_and_refills() {
        let l = RateLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check(ip(1), t0).is_ok());
            l.hit(ip(1), t0);
        }
        let wait = l.check(ip(1), t0).unwrap_err();
        assert!(wait <= Duration::from_secs(20) && wait >= Duration::from_secs(19), "{wait:?}");
        assert!(l.check(ip(2), t0).is_ok(), "other addresses are unaffected");
        assert!(l.check(ip(1), t0 + Duration::from_secs(21)).is_ok());
        assert!(l.take(ip(1), t0 + Duration::from_secs(21)).is_ok());
        assert!(l.take(ip(1), t0 + Duration::from_secs(21)).is_err());
    }

    #[test]
    fn zero_capacity_disables() {
        let l = RateLimiter::new(0, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(l.take(ip(1), t0).is_ok());
        }
    }

    #[test]
    fn full_buckets_are_pruned() {
        let l = RateLimiter::new(1, Duration::from_secs(1));
        let t0 = Instant::now();
        for i in 0..=PRUNE_ABOVE as u32 {
            l.hit(IpAddr::from(i.to_be_bytes()), t0);
        }
        l.hit(ip(1), t0 + Duration::from_secs(5));
        assert!(l.tracked() < 10);
    }

    fn budget(messages: u32, burst: u32, bytes: u64, byte_burst: u64, now: Instant) -> SyncBudget {
        let config = crate::Config {
            sync_messages_per_sec: messages,
            sync_message_burst: burst,
            sync_bytes_per_sec: bytes,
            sync_byte_burst: byte_burst,
            max_message_bytes: 100,
            ..crate::Config::default()
        };
        SyncBudget::new(&config, now)
    }

    #[test]
    fn sync_budget_allows_the_burst_then_the_sustained_rate() {
        let t0 = Instant::now();
        let mut b = budget(10, 50, 0, 0, t0);
        for _ in 0..50 {
            assert!(b.spend(1, t0).is_ok());
        }
        assert_eq!(b.spend(1, t0), Err(OverBudget::Messages));
        // 10 per second afterwards: 5 in half a second, then none.
        let t1 = t0 + Duration::from_millis(500);
        for _ in 0..5 {
            assert!(b.spend(1, t1).is_ok());
        }
        assert_eq!(b.spend(1, t1), Err(OverBudget::Messages));
        // A long pause refills to the burst, never beyond.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..50 {
            assert!(b.spend(1, t2).is_ok());
        }
        assert!(b.spend(1, t2).is_err());
        // Sending at the sustained rate forever is fine.
        let mut t = t2;
        for _ in 0..1000 {
            t += Duration::from_millis(100);
            assert!(b.spend(1, t).is_ok());
        }
    }

    #[test]
    fn sync_budget_counts_bytes_and_zero_disables() {
        let t0 = Instant::now();
        // Byte burst below the largest message is raised to it (100 here).
        let mut b = budget(0, 0, 10, 1, t0);
        assert!(b.spend(100, t0).is_ok(), "a largest message passes on a fresh connection");
        assert_eq!(b.spend(1, t0), Err(OverBudget::Bytes));
        assert!(b.spend(10, t0 + Duration::from_secs(1)).is_ok());
        let mut unlimited = budget(0, 0, 0, 0, t0);
        for _ in 0..100_000 {
            assert!(unlimited.spend(1 << 20, t0).is_ok());
        }
    }

    #[test]
    fn client_ip_from_proxy_header() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "10.0.0.1, 192.0.2.7".parse().unwrap());
        assert_eq!(client_ip(ip(1), &h, None), ip(1));
        assert_eq!(client_ip(ip(1), &h, Some("X-Forwarded-For")), "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(ip(1), &HeaderMap::new(), Some("X-Forwarded-For")), ip(1));
    }
}
