//! Client byte-rate quotas enforced on this broker: `producer_byte_rate` over the bytes of
//! Produce requests, `consumer_byte_rate` over the record bytes of Fetch responses (follower
//! fetches are never throttled). Which quota applies to a client comes from the metadata image
//! (`vltava_cluster::quotas::quota_for`, Kafka's precedence).
//!
//! A response that takes the client over its quota carries `throttle_time_ms` (KIP-219), the
//! time until it is back within it, and the connection reads nothing more for that long, so a
//! client that ignores the field is held to the quota too.
//!
//! Differences from Kafka, on purpose:
//! - The rate is a token bucket (as Kafka's KIP-599 uses for controller mutations) that holds
//!   one second's worth, not Kafka's sampled rate over eleven one-second windows. Kafka's lets
//!   a client send ten seconds' worth at once whenever its oldest window leaves the sample (a
//!   burst every eleven seconds: 1.2-1.35x the quota over a twelve-second span in
//!   tests/python/test_quotas.py against Kafka 4.4.0); the bucket holds any span to the quota
//!   plus one second's worth.
//! - A Fetch that goes over the quota is still answered with its data (then throttled), where
//!   Kafka answers it empty; the rate is the same, and the fetch session's state stays whole.

use std::collections::HashMap;
use std::sync::Mutex;

use kafka_protocol::messages::RequestKind;
use vltava_cluster::quotas::{
    CONNECTION_CREATION_RATE, CONSUMER_BYTE_RATE, ClientQuotas, PRODUCER_BYTE_RATE, QuotaEntity,
    ip_connection_rate,
};

/// How much a client may send at once, in seconds of its quota: its bucket's size.
pub const QUOTA_BURST_MS: i64 = 1_000;
/// A bucket not drawn from for this long is full again and can be forgotten.
const QUOTA_IDLE_MS: i64 = 60_000;
/// Rates kept at most (client ids are chosen by clients); idle ones are dropped beyond it.
const QUOTA_RATES_MAX: usize = 100_000;

/// What a request is metered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metered {
    Produce,
    Fetch,
    /// A new connection, against its address's `connection_creation_rate`.
    Connection,
}

impl Metered {
    /// Produce, and Fetch from consumers; nothing else (follower fetches replicate).
    pub fn of(request: &RequestKind) -> Option<Metered> {
        match request {
            RequestKind::Produce(_) => Some(Metered::Produce),
            RequestKind::Fetch(fetch) => {
                let follower = fetch.replica_id.0 >= 0 || fetch.replica_state.replica_id.0 >= 0;
                (!follower).then_some(Metered::Fetch)
            }
            _ => None,
        }
    }

    /// The quota key that limits it.
    pub fn quota_key(self) -> &'static str {
        match self {
            Metered::Produce => PRODUCER_BYTE_RATE,
            Metered::Fetch => CONSUMER_BYTE_RATE,
            Metered::Connection => CONNECTION_CREATION_RATE,
        }
    }
}

/// The byte rates of the clients that have a quota.
#[derive(Debug, Default)]
pub struct QuotaRates {
    buckets: Mutex<HashMap<(Metered, QuotaEntity), Bucket>>,
}

impl QuotaRates {
    /// Counts `bytes` (of a Produce request, or of a Fetch response's records) against the
    /// client's quota (`quota_for`'s entity and limit), and returns how long to throttle it
    /// (ms; 0 within the quota).
    pub fn throttle(
        &self,
        metered: Metered,
        (entity, limit): (QuotaEntity, f64),
        bytes: usize,
        now_ms: i64,
    ) -> i64 {
        self.take((metered, entity), bytes as f64, limit, now_ms)
    }

    /// KIP-612: how long to hold a new connection from `ip` before closing it unserved (ms;
    /// 0: serve it). A refused connection is not counted, as on Kafka, so a client that
    /// retries is served once its address is back within the rate.
    pub fn connection_throttle(&self, quotas: &ClientQuotas, ip: &str, now_ms: i64) -> i64 {
        let Some((entity, limit)) = ip_connection_rate(quotas, ip) else {
            return 0;
        };
        let key = (Metered::Connection, entity);
        let throttle_ms = self.take(key.clone(), 1.0, limit, now_ms);
        if throttle_ms > 0 {
            let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(bucket) = buckets.get_mut(&key) {
                bucket.bytes += 1.0;
            }
        }
        throttle_ms
    }

    fn take(&self, key: (Metered, QuotaEntity), amount: f64, limit: f64, now_ms: i64) -> i64 {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= QUOTA_RATES_MAX {
            buckets.retain(|_, bucket| now_ms - bucket.last_ms < QUOTA_IDLE_MS);
        }
        let bucket = buckets
            .entry(key)
            .or_insert_with(|| Bucket::full(limit, now_ms));
        bucket.take(amount, limit, now_ms)
    }
}

/// A token bucket (of bytes, or of connections), refilled at the quota and holding `QUOTA_BURST_MS` of it. It may
/// go below empty: a request is counted whole, and the client then waits the debt off.
#[derive(Debug)]
struct Bucket {
    bytes: f64,
    last_ms: i64,
}

impl Bucket {
    fn full(limit: f64, now_ms: i64) -> Bucket {
        Bucket {
            bytes: capacity(limit),
            last_ms: now_ms,
        }
    }

    /// Takes `bytes` (the quota may have changed since the last time: `limit` is the one that
    /// applies now) and returns how long the client must wait to be back within its quota.
    fn take(&mut self, bytes: f64, limit: f64, now_ms: i64) -> i64 {
        let elapsed_ms = (now_ms - self.last_ms).max(0) as f64;
        self.bytes = (self.bytes + limit * elapsed_ms / 1000.0).min(capacity(limit)) - bytes;
        self.last_ms = now_ms.max(self.last_ms);
        if self.bytes >= 0.0 {
            return 0;
        }
        (-self.bytes / limit * 1000.0).ceil() as i64
    }
}

fn capacity(limit: f64) -> f64 {
    limit * QUOTA_BURST_MS as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_within_its_quota_is_not_throttled() {
        let mut bucket = Bucket::full(1000.0, 0);
        // 1,000 B/s for 30 s, in ten sends a second, against a quota of 1,000 B/s.
        for tenth in 0..300 {
            assert_eq!(
                bucket.take(100.0, 1000.0, tenth * 100),
                0,
                "at {tenth} tenths"
            );
        }
    }

    #[test]
    fn a_burst_is_throttled_until_its_debt_is_paid() {
        let mut bucket = Bucket::full(1000.0, 0);
        // One second's worth passes at once; five more seconds' worth must be waited off.
        assert_eq!(bucket.take(1000.0, 1000.0, 0), 0);
        assert_eq!(bucket.take(5000.0, 1000.0, 0), 5000);
        // Waited off, the client may send at the quota again.
        assert_eq!(bucket.take(100.0, 1000.0, 5100), 0);
    }

    #[test]
    fn any_span_is_held_to_the_quota_plus_one_burst() {
        // A client that sends whenever it is allowed: 10 KB requests, quota 100 KB/s.
        let mut bucket = Bucket::full(100_000.0, 0);
        let (mut now_ms, mut sent) = (0, 0.0);
        while now_ms < 60_000 {
            sent += 10_000.0;
            now_ms += bucket.take(10_000.0, 100_000.0, now_ms).max(1);
        }
        let rate = sent / (now_ms as f64 / 1000.0);
        assert!((rate / 100_000.0 - 1.0).abs() < 0.02, "{rate} B/s");
    }
}
