//! Quantiles of recent request times, for `kafka_network_requestmetrics_totaltimems{request,
//! quantile}`: what the JMX exporter's usual rule makes of Kafka's RequestMetrics TotalTimeMs
//! percentiles (`50thPercentile` … `999thPercentile`). Kafka's come from a reservoir biased to
//! the last five minutes; these count each request in a bucket of a ring of six ten-second
//! windows, so a quantile is of the last minute, within a bucket's width (2^(1/4): 19 %).
//!
//! Cost: one atomic add a request, and a reset of a window's counts each ten seconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const WINDOWS: u64 = 6;
const WINDOW_MS: u64 = 10_000;
/// Buckets per doubling of the time.
const BUCKETS_PER_DOUBLING: f64 = 4.0;
/// The first bucket's upper bound; a bucket's bound is 2^(1/4) times the one before.
const SMALLEST_MS: f64 = 0.05;
/// Up to SMALLEST_MS × 2^20 (about 52 s); the last bucket holds everything longer.
const BUCKETS: usize = 82;

/// Kafka's percentiles, as the exporter's rule labels them.
pub const QUANTILES: [(&str, f64); 6] = [
    ("0.50", 0.50),
    ("0.75", 0.75),
    ("0.95", 0.95),
    ("0.98", 0.98),
    ("0.99", 0.99),
    ("0.999", 0.999),
];

#[derive(Debug)]
struct Window {
    /// Which ten seconds since `start` these counts are of.
    index: AtomicU64,
    counts: [AtomicU64; BUCKETS],
}

#[derive(Debug)]
pub struct RecentDurations {
    start: Instant,
    windows: [Window; WINDOWS as usize],
}

impl Default for RecentDurations {
    fn default() -> Self {
        RecentDurations {
            start: Instant::now(),
            windows: std::array::from_fn(|_| Window {
                index: AtomicU64::new(0),
                counts: std::array::from_fn(|_| AtomicU64::new(0)),
            }),
        }
    }
}

impl RecentDurations {
    pub fn observe(&self, elapsed: Duration) {
        self.observe_at(self.window_now(), elapsed);
    }

    /// Each of `QUANTILES` in ms, over the last minute; `None` when nothing was observed.
    pub fn quantiles(&self) -> Option<[f64; QUANTILES.len()]> {
        self.quantiles_at(self.window_now())
    }

    fn window_now(&self) -> u64 {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        ms / WINDOW_MS
    }

    fn observe_at(&self, now: u64, elapsed: Duration) {
        let window = &self.windows[(now % WINDOWS) as usize];
        let seen = window.index.load(Ordering::Acquire);
        // The first request of a new window empties it. A request counted into it meanwhile
        // by another thread may be lost: a quantile does not need every one.
        if seen != now
            && window
                .index
                .compare_exchange(seen, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            for count in &window.counts {
                count.store(0, Ordering::Relaxed);
            }
        }
        window.counts[bucket(elapsed)].fetch_add(1, Ordering::Relaxed);
    }

    fn quantiles_at(&self, now: u64) -> Option<[f64; QUANTILES.len()]> {
        let mut counts = [0u64; BUCKETS];
        for window in &self.windows {
            if now - window.index.load(Ordering::Acquire).min(now) < WINDOWS {
                for (sum, count) in counts.iter_mut().zip(&window.counts) {
                    *sum += count.load(Ordering::Relaxed);
                }
            }
        }
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        Some(QUANTILES.map(|(_, q)| quantile(&counts, total, q)))
    }
}

fn upper_ms(bucket: usize) -> f64 {
    SMALLEST_MS * (bucket as f64 / BUCKETS_PER_DOUBLING).exp2()
}

fn bucket(elapsed: Duration) -> usize {
    let ms = elapsed.as_secs_f64() * 1000.0;
    if ms <= SMALLEST_MS {
        return 0;
    }
    let index = ((ms / SMALLEST_MS).log2() * BUCKETS_PER_DOUBLING).ceil();
    (index as usize).min(BUCKETS - 1)
}

/// The `q` quantile, interpolated within its bucket as Prometheus' histogram_quantile does.
fn quantile(counts: &[u64; BUCKETS], total: u64, q: f64) -> f64 {
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &count) in counts.iter().enumerate() {
        if count > 0 && (below + count) as f64 >= rank {
            let lower = if i == 0 { 0.0 } else { upper_ms(i - 1) };
            let share = (rank - below as f64) / count as f64;
            return lower + (upper_ms(i) - lower) * share.clamp(0.0, 1.0);
        }
        below += count;
    }
    upper_ms(BUCKETS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_fall_within_a_bucket_of_the_true_ones() {
        let recent = RecentDurations::default();
        // 1 ms, 2 ms, … 1000 ms: the q quantile is about 1000 q ms.
        for ms in 1..=1000 {
            recent.observe_at(0, Duration::from_millis(ms));
        }
        let quantiles = recent.quantiles_at(0).expect("observed");
        for ((label, q), got) in QUANTILES.iter().zip(quantiles) {
            let want = q * 1000.0;
            assert!(
                got > want / 1.19 && got < want * 1.19,
                "{label}: {got} ms, not near {want} ms"
            );
        }
    }

    #[test]
    fn only_the_last_minute_counts() {
        let recent = RecentDurations::default();
        recent.observe_at(0, Duration::from_secs(5));
        recent.observe_at(3, Duration::from_millis(1));
        assert!(recent.quantiles_at(3).expect("observed")[5] > 4000.0);
        // Six windows on, the 5 s request is out of the last minute; the 1 ms one is not.
        let quantiles = recent.quantiles_at(6).expect("observed");
        assert!(quantiles[5] < 1.2, "{quantiles:?}");
        // A window used again starts empty.
        recent.observe_at(9, Duration::from_millis(20));
        let quantiles = recent.quantiles_at(9).expect("observed");
        assert!(quantiles[0] > 17.0 && quantiles[0] < 22.0, "{quantiles:?}");
        assert!(recent.quantiles_at(20).is_none());
    }

    #[test]
    fn buckets_are_bounded() {
        assert_eq!(bucket(Duration::ZERO), 0);
        assert_eq!(bucket(Duration::from_secs(3600)), BUCKETS - 1);
        assert!(upper_ms(bucket(Duration::from_millis(7))) >= 7.0);
    }
}
