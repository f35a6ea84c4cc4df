//! The last events of a run, one line each, for failure reports. Off in bulk seed runs (a
//! failing seed is replayed with it on, which costs nothing since the replay is exact).

use oxcd_core::time::Instant;
use std::collections::VecDeque;
use std::fmt;

/// A bounded ring of event lines.
#[derive(Debug)]
pub struct Trace {
    capacity: usize,
    lines: VecDeque<(Instant, String)>,
    recorded: u64,
}

impl Trace {
    /// Keeps the last `capacity` lines; zero records nothing.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Trace { capacity, lines: VecDeque::with_capacity(capacity.min(4096)), recorded: 0 }
    }

    /// True when lines are kept: callers skip formatting otherwise.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Records a line.
    pub fn record(&mut self, at: Instant, line: impl FnOnce() -> String) {
        if self.capacity == 0 {
            return;
        }
        if self.lines.len() == self.capacity {
            self.lines.pop_front();
        }
        self.lines.push_back((at, line()));
        self.recorded += 1;
    }

    /// Lines recorded in total (including those dropped off the front).
    #[must_use]
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// The kept lines, oldest first.
    pub fn lines(&self) -> impl Iterator<Item = &(Instant, String)> {
        self.lines.iter()
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dropped = self.recorded - self.lines.len() as u64;
        if dropped > 0 {
            writeln!(f, "  ... {dropped} earlier events")?;
        }
        for (at, line) in &self.lines {
            writeln!(f, "  {at:>14} {line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_only() {
        let mut t = Trace::new(2);
        for i in 0..5u64 {
            t.record(Instant::from_nanos(i * 1_000_000), || format!("event {i}"));
        }
        let text = t.to_string();
        assert!(text.contains("3 earlier events"), "{text}");
        assert!(text.contains("event 3") && text.contains("event 4") && !text.contains("event 2"));
    }

    #[test]
    fn a_disabled_trace_never_formats() {
        let mut t = Trace::new(0);
        t.record(Instant::ZERO, || unreachable!("formatting a disabled trace"));
        assert!(!t.enabled());
        assert_eq!(t.recorded(), 0);
    }
}
