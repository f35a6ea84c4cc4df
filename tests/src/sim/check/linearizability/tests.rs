//! Hand-made histories, linearizable and not.

use super::*;
use oxcd_core::ids::NodeId;
use oxcd_core::time::Instant;

fn ms(n: u64) -> Instant {
    Instant::from_nanos(n * 1_000_000)
}

/// Builds histories tersely: times in milliseconds, `None` end for "unknown outcome".
#[derive(Default)]
struct Builder {
    h: History,
}

impl Builder {
    fn op(&mut self, start: u64, end: Option<u64>, call: KvCall, outcome: Outcome) -> &mut Self {
        let id = self.h.invoke(0, NodeId(1), ms(start), call);
        let end = end.unwrap_or(start + 10_000);
        self.h.complete(id, ms(end), outcome, 0);
        self
    }
    fn put(&mut self, start: u64, end: u64, key: &str, value: &str) -> &mut Self {
        self.op(start, Some(end), put(key, value), Outcome::Ok(KvReturn::Put))
    }
    fn put_unknown(&mut self, start: u64, key: &str, value: &str) -> &mut Self {
        self.op(start, None, put(key, value), Outcome::Unknown("timed out".into()))
    }
    fn get(&mut self, start: u64, end: u64, key: &str, value: Option<&str>) -> &mut Self {
        let ret = KvReturn::Get { value: value.map(Into::into), mod_revision: 0 };
        self.op(start, Some(end), KvCall::Get { key: key.into() }, Outcome::Ok(ret))
    }
    fn delete(&mut self, start: u64, end: u64, key: &str, deleted: bool) -> &mut Self {
        let ret = Outcome::Ok(KvReturn::Delete { deleted });
        self.op(start, Some(end), KvCall::Delete { key: key.into() }, ret)
    }
    fn cas(
        &mut self,
        (start, end): (u64, u64),
        key: &str,
        expect: Option<&str>,
        new: &str,
        succeeded: bool,
        current: Option<&str>,
    ) -> &mut Self {
        let call = KvCall::Cas { key: key.into(), expect: expect.map(Into::into), new: new.into() };
        let ret = KvReturn::Cas { succeeded, current: current.map(Into::into) };
        self.op(start, Some(end), call, Outcome::Ok(ret))
    }
    fn verdict(&self) -> Verdict {
        check(&self.h, DEFAULT_STEP_BUDGET)
    }
    fn assert_linearizable(&self) {
        let v = self.verdict();
        assert!(matches!(v, Verdict::Linearizable { .. }), "{v:?}");
    }
    fn assert_violation(&self, key: &str) {
        match self.verdict() {
            Verdict::Violation(v) => assert_eq!(v.key, key, "{v}"),
            other => panic!("expected a violation on {key}, got {other:?}"),
        }
    }
}

fn put(key: &str, value: &str) -> KvCall {
    KvCall::Put { key: key.into(), value: value.into() }
}

#[test]
fn an_empty_history_is_linearizable() {
    Builder::default().assert_linearizable();
}

#[test]
fn sequential_puts_and_reads() {
    Builder::default()
        .get(0, 1, "k", None)
        .put(2, 3, "k", "a")
        .get(4, 5, "k", Some("a"))
        .put(6, 7, "k", "b")
        .get(8, 9, "k", Some("b"))
        .delete(10, 11, "k", true)
        .get(12, 13, "k", None)
        .delete(14, 15, "k", false)
        .assert_linearizable();
}

#[test]
fn a_stale_read_is_caught() {
    Builder::default()
        .put(0, 1, "k", "a")
        .put(2, 3, "k", "b")
        .get(4, 5, "k", Some("a"))
        .assert_violation("k");
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    let mut b = Builder::default();
    b.put(0, 1, "k", "a").put(2, 10, "k", "b").get(3, 4, "k", Some("a")).get(5, 6, "k", Some("b"));
    b.assert_linearizable();
    // ...but once one read saw the new value, a later read cannot see the old one.
    b.get(7, 8, "k", Some("a"));
    b.assert_violation("k");
}

#[test]
fn reads_that_see_values_in_an_impossible_order_are_caught() {
    // Two writes overlap; readers may order them either way, but must all agree.
    Builder::default()
        .put(0, 10, "k", "a")
        .put(0, 10, "k", "b")
        .get(11, 12, "k", Some("a"))
        .get(13, 14, "k", Some("b"))
        .assert_violation("k");
    Builder::default()
        .put(0, 10, "k", "a")
        .put(0, 10, "k", "b")
        .get(5, 6, "k", Some("a"))
        .get(11, 12, "k", Some("b"))
        .assert_linearizable();
}

#[test]
fn a_value_never_written_is_caught() {
    Builder::default().put(0, 1, "k", "a").get(2, 3, "k", Some("z")).assert_violation("k");
}

#[test]
fn a_lost_acknowledged_write_is_caught() {
    Builder::default().put(0, 1, "k", "a").get(2, 3, "k", None).assert_violation("k");
}

#[test]
fn an_unknown_write_may_take_effect_or_not() {
    // Observed later: it took effect.
    Builder::default()
        .put(0, 1, "k", "a")
        .put_unknown(2, "k", "b")
        .get(100, 101, "k", Some("b"))
        .assert_linearizable();
    // Never observed: it did not (or was overwritten).
    Builder::default()
        .put(0, 1, "k", "a")
        .put_unknown(2, "k", "b")
        .get(100, 101, "k", Some("a"))
        .assert_linearizable();
    // Observed, then the old value again with no write in between: impossible.
    Builder::default()
        .put(0, 1, "k", "a")
        .put_unknown(2, "k", "b")
        .get(100, 101, "k", Some("b"))
        .get(102, 103, "k", Some("a"))
        .assert_violation("k");
}

#[test]
fn an_unknown_write_cannot_take_effect_before_it_was_sent() {
    Builder::default()
        .put(0, 1, "k", "a")
        .get(2, 3, "k", Some("b"))
        .put_unknown(5, "k", "b")
        .assert_violation("k");
}

#[test]
fn failed_operations_take_no_effect() {
    let mut b = Builder::default();
    b.put(0, 1, "k", "a").op(2, Some(3), put("k", "b"), Outcome::Failed("no leader".into()));
    b.get(4, 5, "k", Some("a"));
    b.assert_linearizable();
    b.get(6, 7, "k", Some("b"));
    b.assert_violation("k");
}

#[test]
fn compare_and_swap_succeeds_at_most_once_per_value() {
    Builder::default()
        .put(0, 1, "k", "a")
        .cas((2, 10), "k", Some("a"), "b", true, None)
        .cas((2, 10), "k", Some("a"), "c", false, Some("b"))
        .get(11, 12, "k", Some("b"))
        .assert_linearizable();
    // Two swaps from the same value cannot both succeed.
    Builder::default()
        .put(0, 1, "k", "a")
        .cas((2, 10), "k", Some("a"), "b", true, None)
        .cas((2, 10), "k", Some("a"), "c", true, None)
        .assert_violation("k");
}

#[test]
fn compare_and_swap_on_absence_and_failure_reads() {
    Builder::default()
        .cas((0, 1), "k", None, "a", true, None)
        .cas((2, 3), "k", None, "b", false, Some("a"))
        .assert_linearizable();
    // The failure branch read must agree with the state.
    Builder::default()
        .cas((0, 1), "k", None, "a", true, None)
        .cas((2, 3), "k", None, "b", false, Some("z"))
        .assert_violation("k");
    // A swap that fails although the value matched.
    Builder::default()
        .put(0, 1, "k", "a")
        .cas((2, 3), "k", Some("a"), "b", false, Some("a"))
        .assert_violation("k");
}

#[test]
fn deletes_report_whether_the_key_existed() {
    Builder::default().put(0, 1, "k", "a").delete(2, 3, "k", false).assert_violation("k");
    Builder::default().delete(0, 1, "k", true).assert_violation("k");
}

#[test]
fn keys_are_checked_independently_and_the_bad_one_is_named() {
    Builder::default()
        .put(0, 1, "x", "1")
        .put(0, 1, "y", "1")
        .get(2, 3, "x", Some("1"))
        .get(2, 3, "y", None)
        .assert_violation("y");
}

#[test]
fn serializable_reads_are_not_held_to_linearizability() {
    let ret = KvReturn::Get { value: Some("a".into()), mod_revision: 0 };
    Builder::default()
        .put(0, 1, "k", "a")
        .put(2, 3, "k", "b")
        .op(4, Some(5), KvCall::GetSerializable { key: "k".into() }, Outcome::Ok(ret))
        .assert_linearizable();
}

#[test]
fn many_concurrent_unknown_writes_stay_within_the_budget() {
    // 70 writes of unknown outcome (a long partition), a few of them observed later.
    let mut b = Builder::default();
    b.put(0, 1, "k", "start");
    for i in 0..35 {
        b.put_unknown(10 + i, "k", &format!("v{i}"));
        b.op(10 + i, None, KvCall::Delete { key: "k".into() }, Outcome::Unknown("lost".into()));
    }
    b.get(5000, 5001, "k", Some("v7")).get(5002, 5003, "k", None).get(5004, 5005, "k", Some("v33"));
    b.get(5006, 5007, "k", Some("v30"));
    b.assert_linearizable();
    // v7 was overwritten by v33 and then v30: it cannot come back.
    b.get(5008, 5009, "k", Some("v7"));
    b.assert_violation("k");
}

#[test]
fn unobserved_values_are_told_apart_from_absence() {
    // Both values are never read, yet the delete saw a key: some write must have landed.
    Builder::default()
        .put_unknown(0, "k", "a")
        .put_unknown(0, "k", "b")
        .delete(100, 101, "k", true)
        .get(102, 103, "k", None)
        .assert_linearizable();
    Builder::default()
        .op(0, Some(1), put("k", "a"), Outcome::Failed("no leader".into()))
        .delete(100, 101, "k", true)
        .assert_violation("k");
}

#[test]
fn a_tiny_budget_gives_up_instead_of_guessing() {
    let mut b = Builder::default();
    for i in 0..10 {
        b.put(0, 100, "k", &format!("v{i}"));
    }
    b.get(200, 201, "k", Some("nope"));
    assert_eq!(check(&b.h, 5), Verdict::Inconclusive { key: "k".into() });
}
