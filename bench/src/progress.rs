//! A progress line on stderr for runs longer than a few seconds: the count so far, the share of
//! the total and the rate over the last interval. Short runs print nothing, and stdout (the
//! report, often JSON read by a script) is never touched.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Time between two progress lines; the first comes after one interval, so a run shorter than
/// this prints none.
const PRINT_INTERVAL: Duration = Duration::from_secs(5);
/// How often the reporter thread looks at its stop flag.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// Prints `label: done of total (share), rate/s` every [`PRINT_INTERVAL`] when ticked.
pub struct Progress {
    label: String,
    unit: &'static str,
    total: u64,
    start: Instant,
    last_print: Instant,
    last_done: u64,
}

impl Progress {
    pub fn new(label: impl Into<String>, unit: &'static str, total: u64) -> Progress {
        let now = Instant::now();
        Progress {
            label: label.into(),
            unit,
            total,
            start: now,
            last_print: now,
            last_done: 0,
        }
    }

    /// The total, when it becomes known after the start.
    pub fn set_total(&mut self, total: u64) {
        self.total = total;
    }

    /// Prints a line if an interval has passed since the last one. Cheap enough to call per
    /// record: one clock read.
    pub fn tick(&mut self, done: u64) {
        let now = Instant::now();
        let since = now.duration_since(self.last_print);
        if since < PRINT_INTERVAL {
            return;
        }
        let share = if self.total > 0 {
            100.0 * done as f64 / self.total as f64
        } else {
            0.0
        };
        let recent = done.saturating_sub(self.last_done) as f64 / since.as_secs_f64();
        eprintln!(
            "vltava-bench: {} +{:.0}s: {} of {} {} ({share:.0}%), {recent:.0} {}/s",
            self.label,
            now.duration_since(self.start).as_secs_f64(),
            done,
            self.total,
            self.unit,
            self.unit
        );
        self.last_print = now;
        self.last_done = done;
    }
}

/// Ticks `progress` from a counter shared with worker threads until `stop` is set; run it on
/// its own thread (e.g. in the workers' `std::thread::scope`).
pub fn watch(mut progress: Progress, done: &AtomicU64, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(STOP_CHECK);
        progress.tick(done.load(Ordering::Relaxed));
    }
}
