//! Watch histories: each watcher (a client watching every key, resuming on another member
//! from the revision after the last one it saw whenever its stream breaks) receives events in
//! revision order, without gaps (every revision changes some key, so a watcher of every key
//! sees every revision), without duplicates, and without time travel; every watcher sees the
//! same event at a revision; and an acknowledged write appears at the revision it reported.

use super::Violation;
use crate::sim::check::digest;
use crate::sim::history::{History, KvCall, KvReturn, Outcome};
use oxcd_core::time::Instant;
use std::collections::{BTreeMap, BTreeSet};

const CHECKER: &str = "watch";

/// One change, as a watcher received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// Its mod revision.
    pub revision: i64,
    /// The key.
    pub key: Vec<u8>,
    /// True for a delete.
    pub delete: bool,
    /// The value written (empty for deletes).
    pub value: Vec<u8>,
}

#[derive(Debug, Default)]
struct Watcher {
    /// The highest revision received.
    last: i64,
    /// Keys received at `last`.
    keys_at_last: BTreeSet<Vec<u8>>,
    events: u64,
}

/// What every watcher received so far.
#[derive(Debug, Default)]
pub struct WatchChecker {
    /// (revision, key) → (delete, digest of the value), as first received.
    truth: BTreeMap<(i64, Vec<u8>), (bool, u64)>,
    watchers: BTreeMap<usize, Watcher>,
}

impl WatchChecker {
    /// Nothing received yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Watcher `watcher` starts from `start_revision` (the first revision it must see).
    /// Revision 1 is the empty store's: no event carries it.
    pub fn start(&mut self, watcher: usize, start_revision: i64) {
        let w = self.watchers.entry(watcher).or_default();
        w.last = (start_revision - 1).max(1);
    }

    /// The revision after the last one `watcher` received: where a resumed stream starts.
    #[must_use]
    pub fn resume_revision(&self, watcher: usize) -> i64 {
        self.watchers.get(&watcher).map_or(1, |w| w.last + 1)
    }

    /// The highest revision `watcher` received.
    #[must_use]
    pub fn last_revision(&self, watcher: usize) -> i64 {
        self.watchers.get(&watcher).map_or(0, |w| w.last)
    }

    /// Events received by all watchers.
    #[must_use]
    pub fn events(&self) -> u64 {
        self.watchers.values().map(|w| w.events).sum()
    }

    /// `watcher` received `event`.
    ///
    /// # Errors
    /// Out of order, a gap, a duplicate, or an event that differs from another watcher's.
    pub fn observe(
        &mut self,
        at: Instant,
        watcher: usize,
        event: &WatchEvent,
    ) -> Result<(), Violation> {
        let w = self.watchers.entry(watcher).or_default();
        let key_text = String::from_utf8_lossy(&event.key).into_owned();
        let rev = event.revision;
        // Another key of the last revision is fine (a transaction); anything else at or below
        // it is a duplicate or time travel (at the start, `last` is before the first revision).
        let again =
            rev == w.last && (w.keys_at_last.is_empty() || w.keys_at_last.contains(&event.key));
        if rev < w.last || again {
            return Err(Violation::new(
                CHECKER,
                at,
                format!("watcher {watcher} received {key_text}@{rev} after revision {} (duplicate or time travel)", w.last),
            ));
        }
        if rev > w.last + 1 {
            return Err(Violation::new(
                CHECKER,
                at,
                format!("watcher {watcher} received revision {rev} right after revision {}: revisions in between are missing", w.last),
            ));
        }
        if rev > w.last {
            w.last = rev;
            w.keys_at_last.clear();
        }
        w.keys_at_last.insert(event.key.clone());
        w.events += 1;
        let fact = (event.delete, digest(&event.value));
        match self.truth.get(&(rev, event.key.clone())) {
            None => {
                self.truth.insert((rev, event.key.clone()), fact);
                Ok(())
            }
            Some(&known) if known == fact => Ok(()),
            Some(_) => Err(Violation::new(
                CHECKER,
                at,
                format!("watcher {watcher} received a different event for {key_text}@{rev} than another watcher"),
            )),
        }
    }

    /// Checks acknowledged writes against the events: a put (or successful swap) that reported
    /// revision `r` appears as a put of its value at `r`; a delete of an existing key appears
    /// as a delete at its revision.
    ///
    /// # Errors
    /// An event at such a revision that is not the write's.
    pub fn check_history(&self, at: Instant, history: &History) -> Result<(), Violation> {
        for op in history.ops() {
            let Some(Outcome::Ok(ret)) = &op.outcome else { continue };
            let expected = match (&op.call, ret) {
                (KvCall::Put { key, value }, _)
                | (KvCall::Cas { key, new: value, .. }, KvReturn::Cas { succeeded: true, .. }) => {
                    Some((key, false, digest(value.as_bytes())))
                }
                (KvCall::Delete { key }, KvReturn::Delete { deleted: true }) => {
                    Some((key, true, digest(&[])))
                }
                _ => None,
            };
            let Some((key, delete, value)) = expected else { continue };
            let rev = op.header_revision;
            let at_rev: Vec<_> =
                self.truth.range((rev, Vec::new())..(rev + 1, Vec::new())).collect();
            if at_rev.is_empty() {
                continue;
            }
            let found = self.truth.get(&(rev, key.as_bytes().to_vec()));
            if found != Some(&(delete, value)) {
                return Err(Violation::new(
                    CHECKER,
                    at,
                    format!("operation #{} ({}) reported revision {rev}, but watchers saw a different change there", op.id, op),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxcd_core::ids::NodeId;

    const T: Instant = Instant::ZERO;

    fn put(rev: i64, key: &str, value: &str) -> WatchEvent {
        WatchEvent { revision: rev, key: key.into(), delete: false, value: value.into() }
    }

    #[test]
    fn consecutive_revisions_pass_and_resume_where_they_left_off() {
        let mut c = WatchChecker::new();
        c.start(0, 2);
        c.observe(T, 0, &put(2, "a", "1")).unwrap();
        c.observe(T, 0, &put(3, "b", "1")).unwrap();
        // A transaction touching two keys at one revision.
        c.observe(T, 0, &put(4, "a", "2")).unwrap();
        c.observe(T, 0, &put(4, "b", "2")).unwrap();
        assert_eq!(c.resume_revision(0), 5);
        assert_eq!(c.events(), 4);
    }

    #[test]
    fn gaps_duplicates_and_time_travel_fail() {
        let mut c = WatchChecker::new();
        c.start(0, 1);
        c.observe(T, 0, &put(2, "a", "1")).unwrap();
        assert!(c.observe(T, 0, &put(2, "a", "1")).is_err());
        assert!(c.observe(T, 0, &put(4, "a", "3")).is_err());
        let mut c = WatchChecker::new();
        c.start(0, 5);
        assert!(c.observe(T, 0, &put(4, "a", "1")).is_err());
        assert!(c.observe(T, 0, &put(6, "a", "1")).is_err());
    }

    #[test]
    fn watchers_must_agree() {
        let mut c = WatchChecker::new();
        c.start(0, 1);
        c.start(1, 1);
        c.observe(T, 0, &put(2, "a", "1")).unwrap();
        assert!(c.observe(T, 1, &put(2, "a", "2")).is_err());
    }

    #[test]
    fn acknowledged_writes_appear_at_their_revision() {
        let mut c = WatchChecker::new();
        c.start(0, 1);
        c.observe(T, 0, &put(2, "a", "1")).unwrap();
        let mut h = History::new();
        let id = h.invoke(0, NodeId(1), T, KvCall::Put { key: "a".into(), value: "1".into() });
        h.complete(id, T, Outcome::Ok(KvReturn::Put), 2);
        c.check_history(T, &h).unwrap();
        let id = h.invoke(0, NodeId(1), T, KvCall::Put { key: "b".into(), value: "1".into() });
        h.complete(id, T, Outcome::Ok(KvReturn::Put), 2);
        assert!(c.check_history(T, &h).is_err());
    }
}
