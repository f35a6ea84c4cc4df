//! Leader completeness: a member that starts leading term `T` holds every entry committed in
//! an earlier term. An entry counts as committed before `T` when the member that first
//! reported it committed was itself in a term below `T` at the time (that term bounds the
//! term in which it was committed from above, so the check never blames a correct leader).

use super::committed::CommittedLog;
use super::{entry_digest, LogView, Violation};
use oxcd_core::time::Instant;

const CHECKER: &str = "leader completeness";

/// Checks a member seen leading its term for the first time.
///
/// # Errors
/// The new leader lacks an entry committed before its term, or holds a different one.
pub fn check_new_leader(
    at: Instant,
    committed: &CommittedLog,
    leader: &dyn LogView,
) -> Result<(), Violation> {
    let term = leader.term();
    let id = leader.id();
    let mut index = committed.last_index();
    while index.0 > 0 {
        let Some(known) = committed.get(index) else {
            index = index.prev();
            continue;
        };
        if known.observer_term >= term {
            index = index.prev();
            continue;
        }
        if index > leader.last_index() {
            return Err(Violation::new(
                CHECKER,
                at,
                format!(
                    "member {id} leads term {term} with last index {} but index {index} was committed in term {} or before (seen on member {})",
                    leader.last_index(),
                    known.observer_term,
                    known.seen_on
                ),
            ));
        }
        if index < leader.first_index().prev() {
            // Covered by the leader's snapshot.
            break;
        }
        let held = leader.term_at(index);
        let same = held == Some(known.term)
            && (index < leader.first_index()
                || leader.entries(index, index).first().map(entry_digest) == Some(known.digest));
        if !same {
            return Err(Violation::new(
                CHECKER,
                at,
                format!(
                    "member {id} leads term {term} but holds term {held:?} at index {index}, where term {} was committed",
                    known.term
                ),
            ));
        }
        index = index.prev();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::check::fake::FakeLog;

    const T: Instant = Instant::ZERO;

    #[test]
    fn a_leader_with_the_committed_prefix_passes() {
        let mut c = CommittedLog::new();
        c.observe(T, 0, &FakeLog::new(1, &[1, 1, 1]).committed(3)).unwrap();
        check_new_leader(T, &c, &FakeLog::new(2, &[1, 1, 1, 2]).leading(2)).unwrap();
        // Entries committed only in the leader's own term are not required of it.
        c.observe(T, 0, &FakeLog::new(3, &[1, 1, 1, 2, 2]).leading(2).committed(5)).unwrap();
        check_new_leader(T, &c, &FakeLog::new(3, &[1, 1, 1, 2, 2]).leading(2)).unwrap();
    }

    #[test]
    fn a_leader_missing_a_committed_entry_fails() {
        let mut c = CommittedLog::new();
        c.observe(T, 0, &FakeLog::new(1, &[1, 1, 1]).committed(3)).unwrap();
        let err = check_new_leader(T, &c, &FakeLog::new(2, &[1, 1]).leading(2)).unwrap_err();
        assert!(err.message.contains("index 3"), "{err}");
        let err = check_new_leader(T, &c, &FakeLog::new(2, &[1, 1, 2]).leading(2)).unwrap_err();
        assert!(err.message.contains("index 3"), "{err}");
    }

    #[test]
    fn a_compacted_leader_is_checked_above_its_snapshot() {
        let mut c = CommittedLog::new();
        c.observe(T, 0, &FakeLog::new(1, &[1, 1, 1, 1]).committed(4)).unwrap();
        let mut leader = FakeLog::new(2, &[1, 1, 1, 1, 3]).leading(3);
        leader.compact(2);
        check_new_leader(T, &c, &leader).unwrap();
        let mut wrong = FakeLog::new(2, &[1, 1, 1, 2, 3]).leading(3);
        wrong.compact(2);
        assert!(check_new_leader(T, &c, &wrong).is_err());
    }
}
