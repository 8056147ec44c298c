//! A progress line on stderr for commands that can run long (`vltava bench`, a large
//! `vltava consume -e` or `-c`): the records so far, of how many when known, and the rate since
//! the start, rewritten in place with `\r` a few times a second and erased at the end.
//!
//! Only on a terminal: when stderr is a file or a pipe (scripts, tests, CI logs) nothing is
//! written, so their output stays clean. `vltava group reset-offsets --execute` needs none: it
//! is one ListOffsets and one OffsetCommit for one topic, done in a few round trips.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Time between two redraws; the first comes after one interval, so a command done sooner
/// draws nothing.
const REDRAW_INTERVAL: Duration = Duration::from_millis(250);
/// Carriage return, then erase to the end of the line (ANSI EL).
const ERASE_LINE: &str = "\r\x1b[K";

/// The line of one command; erased when dropped.
#[derive(Debug)]
pub struct ProgressLine {
    label: &'static str,
    on_terminal: bool,
    start: Instant,
    last_draw: Instant,
    drawn: bool,
}

impl ProgressLine {
    /// A line that draws only if stderr is a terminal.
    pub fn on_stderr(label: &'static str) -> ProgressLine {
        ProgressLine::new(label, std::io::stderr().is_terminal())
    }

    /// A line that draws if `on_terminal`: commands whose stdout shares the terminal pass
    /// false, since their output would break into the line.
    pub fn new(label: &'static str, on_terminal: bool) -> ProgressLine {
        let now = Instant::now();
        ProgressLine {
            label,
            on_terminal,
            start: now,
            last_draw: now,
            drawn: false,
        }
    }

    /// Redraws if the interval has passed. Cheap when off or too early: one clock read.
    pub fn update(&mut self, done: u64, total: Option<u64>) {
        if !self.on_terminal {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.last_draw) < REDRAW_INTERVAL {
            return;
        }
        self.last_draw = now;
        let text = line(self.label, done, total, now.duration_since(self.start));
        self.draw(&format!("{ERASE_LINE}{text}"));
    }

    /// Erases the line, if one was drawn, so that what follows starts on a clean line.
    pub fn finish(&mut self) {
        if self.drawn {
            self.draw(ERASE_LINE);
            self.drawn = false;
        }
    }

    fn draw(&mut self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        // A terminal that went away is no reason to stop the command.
        let _ = stderr
            .write_all(text.as_bytes())
            .and_then(|()| stderr.flush());
        self.drawn = true;
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `LABEL: DONE of TOTAL records (SHARE%), RATE records/s, ELAPSED s`; without a total (a run
/// bounded by time, or a total not known yet), `LABEL: DONE records, ...`.
pub fn line(label: &str, done: u64, total: Option<u64>, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        done as f64 / seconds
    } else {
        0.0
    };
    let count = match total.filter(|&t| t > 0) {
        Some(total) => {
            let share = 100.0 * done.min(total) as f64 / total as f64;
            format!("{done} of {total} records ({share:.0}%)")
        }
        None => format!("{done} records"),
    };
    format!("{label}: {count}, {rate:.0} records/s, {seconds:.1} s")
}

#[cfg(test)]
mod tests {
    //! The line's text; whether it is drawn depends on a terminal, which the manual check
    //! (`script -qc`, a pty) covers.

    use super::*;

    #[test]
    fn line_shows_count_share_rate_and_time() {
        let text = line(
            "bench produce",
            250_000,
            Some(1_000_000),
            Duration::from_secs(2),
        );
        assert_eq!(
            text,
            "bench produce: 250000 of 1000000 records (25%), 125000 records/s, 2.0 s"
        );
    }

    #[test]
    fn line_without_a_total_shows_the_count_only() {
        let text = line("consume", 42, None, Duration::from_millis(500));
        assert_eq!(text, "consume: 42 records, 84 records/s, 0.5 s");
        // A total of 0 is not known yet either, and no division by zero happens at the start.
        let text = line("consume", 0, Some(0), Duration::ZERO);
        assert_eq!(text, "consume: 0 records, 0 records/s, 0.0 s");
    }

    #[test]
    fn line_share_never_exceeds_100_percent() {
        // More records than the end offsets promised: records produced during the read.
        let text = line("consume", 120, Some(100), Duration::from_secs(1));
        assert_eq!(
            text,
            "consume: 120 of 100 records (100%), 120 records/s, 1.0 s"
        );
    }

    #[test]
    fn line_is_not_drawn_off_a_terminal() {
        let mut progress = ProgressLine::new("test", false);
        progress.last_draw -= REDRAW_INTERVAL * 2;
        progress.update(1, None);
        assert!(!progress.drawn);
    }
}
