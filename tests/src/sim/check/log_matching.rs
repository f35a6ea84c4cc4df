//! Log matching: if two logs hold an entry with the same index and term, they are identical in
//! every entry up to that index. Committed prefixes are compared by the `committed` checker;
//! this one compares the uncommitted tails, where the property is not already implied.

use super::{entry_digest, LogView, Violation};
use oxcd_core::time::Instant;

const CHECKER: &str = "log matching";

/// Checks two members' logs against each other.
///
/// # Errors
/// They hold an entry of equal index and term but differ at or below it.
pub fn check_pair(at: Instant, a: &dyn LogView, b: &dyn LogView) -> Result<(), Violation> {
    let lo =
        a.first_index().max(b.first_index()).max(a.commit_index().min(b.commit_index()).next());
    let hi = a.last_index().min(b.last_index());
    if lo > hi {
        return Ok(());
    }
    // The highest index where both hold the same term.
    let mut top = hi;
    while top >= lo && a.term_at(top) != b.term_at(top) {
        top = top.prev();
        if top.0 == 0 {
            return Ok(());
        }
    }
    if top < lo {
        return Ok(());
    }
    let (ea, eb) = (a.entries(lo, top), b.entries(lo, top));
    for (x, y) in ea.iter().zip(eb) {
        if x.term != y.term || entry_digest(x) != entry_digest(y) {
            return Err(Violation::new(
                CHECKER,
                at,
                format!(
                    "members {} and {} both hold term {} at index {top} but differ at index {} (terms {} and {})",
                    a.id(),
                    b.id(),
                    a.term_at(top).map_or(0, |t| t.0),
                    x.index,
                    x.term,
                    y.term
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::check::fake::FakeLog;

    const T: Instant = Instant::ZERO;

    #[test]
    fn diverging_tails_after_a_common_prefix_pass() {
        let a = FakeLog::new(1, &[1, 1, 2, 2]);
        let b = FakeLog::new(2, &[1, 1, 3]);
        check_pair(T, &a, &b).unwrap();
        check_pair(T, &b, &a).unwrap();
    }

    #[test]
    fn equal_term_at_an_index_with_a_different_entry_below_fails() {
        let a = FakeLog::new(1, &[1, 2, 3]);
        let b = FakeLog::new(2, &[1, 1, 3]);
        let err = check_pair(T, &a, &b).unwrap_err();
        assert!(err.message.contains("index 2"), "{err}");
    }

    #[test]
    fn equal_index_and_term_with_different_payloads_fails() {
        let mut a = FakeLog::new(1, &[1]);
        let mut b = FakeLog::new(2, &[1]);
        a.push(2, "x");
        b.push(2, "y");
        assert!(check_pair(T, &a, &b).is_err());
    }

    #[test]
    fn compacted_logs_are_compared_where_both_have_entries() {
        let mut a = FakeLog::new(1, &[1, 1, 2, 2, 2]);
        a.compact(3);
        let b = FakeLog::new(2, &[1, 1, 2, 2]);
        check_pair(T, &a, &b).unwrap();
        let mut c = FakeLog::new(3, &[1, 1, 2, 4, 2]);
        c.compact(1);
        assert!(check_pair(T, &a, &c).is_err());
    }
}
