//! The virtual clock and the event queue: events ordered by (time, sequence number).
//!
//! The sequence number is the order of scheduling, so two events due at the same instant come
//! out in the order they were scheduled: with one seed the whole world replays identically.

use oxcd_core::time::Instant;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

/// An event due at `at`, scheduled as the `seq`-th event.
#[derive(Debug)]
struct Scheduled<E> {
    at: Instant,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<E> Eq for Scheduled<E> {}

impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Scheduled<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: the earliest (time, seq) must compare greatest.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A virtual clock with the events still to happen.
#[derive(Debug)]
pub struct EventQueue<E> {
    now: Instant,
    next_seq: u64,
    heap: BinaryHeap<Scheduled<E>>,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue { now: Instant::ZERO, next_seq: 0, heap: BinaryHeap::new() }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at time zero.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The current virtual time: the time of the last event taken.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Events still scheduled.
    #[must_use]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is scheduled.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Schedules `event` at `at`; an instant in the past means now.
    pub fn schedule_at(&mut self, at: Instant, event: E) {
        let at = at.max(self.now);
        self.next_seq += 1;
        self.heap.push(Scheduled { at, seq: self.next_seq, event });
    }

    /// Schedules `event` after `delay` from now.
    pub fn schedule_in(&mut self, delay: Duration, event: E) {
        self.schedule_at(self.now + delay, event);
    }

    /// When the next event is due, if any.
    #[must_use]
    pub fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|s| s.at)
    }

    /// Takes the next event due at or before `until`, advancing the clock to its time. When
    /// none is due, the clock advances to `until` and `None` comes back.
    pub fn pop_until(&mut self, until: Instant) -> Option<(Instant, E)> {
        if self.heap.peek().is_some_and(|s| s.at <= until) {
            let s = self.heap.pop()?;
            self.now = s.at;
            return Some((s.at, s.event));
        }
        self.now = self.now.max(until);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_nanos(n * 1_000_000)
    }

    #[test]
    fn events_come_out_by_time_then_by_scheduling_order() {
        let mut q = EventQueue::new();
        q.schedule_at(ms(5), "c");
        q.schedule_at(ms(1), "a");
        q.schedule_at(ms(5), "d");
        q.schedule_at(ms(1), "b");
        let mut out = Vec::new();
        while let Some((at, e)) = q.pop_until(ms(100)) {
            assert_eq!(q.now(), at);
            out.push(e);
        }
        assert_eq!(out, ["a", "b", "c", "d"]);
        assert_eq!(q.now(), ms(100));
    }

    #[test]
    fn the_clock_stops_at_the_horizon_and_never_goes_back() {
        let mut q = EventQueue::new();
        q.schedule_at(ms(10), 1);
        assert!(q.pop_until(ms(5)).is_none());
        assert_eq!(q.now(), ms(5));
        // Scheduling in the past means now.
        q.schedule_at(ms(1), 2);
        assert_eq!(q.pop_until(ms(20)), Some((ms(5), 2)));
        assert_eq!(q.pop_until(ms(20)), Some((ms(10), 1)));
        assert!(q.pop_until(ms(3)).is_none());
        assert_eq!(q.now(), ms(10));
        q.schedule_in(Duration::from_millis(2), 3);
        assert_eq!(q.next_at(), Some(ms(12)));
        assert_eq!(q.len(), 1);
    }
}
