//! Revisions: a member's key-value revision never goes back while its process lives, and
//! neither do the revisions in its responses; a response never shows a revision older than a
//! write that finished before the request was sent (serializable reads excepted: they may
//! lag); every value (each written once) has one mod revision, the one its write reported.

use super::Violation;
use crate::sim::history::{History, KvCall, KvReturn, Outcome};
use oxcd_core::ids::NodeId;
use oxcd_core::time::Instant;
use std::collections::BTreeMap;

const CHECKER: &str = "revisions monotonic";

/// Per member and process run: the last revision seen, and the last one in a response.
#[derive(Debug, Default)]
pub struct MemberRevisions {
    current: BTreeMap<NodeId, (u64, i64)>,
    replied: BTreeMap<NodeId, (u64, i64)>,
}

impl MemberRevisions {
    /// Nothing seen yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The member's revision after an input.
    ///
    /// # Errors
    /// It went back within one process run.
    pub fn observe(
        &mut self,
        at: Instant,
        member: NodeId,
        incarnation: u64,
        revision: i64,
    ) -> Result<(), Violation> {
        if let Some(&(inc, prev)) = self.current.get(&member) {
            if inc == incarnation && revision < prev {
                return Err(Violation::new(
                    CHECKER,
                    at,
                    format!("member {member}: revision went back from {prev} to {revision}"),
                ));
            }
        }
        self.current.insert(member, (incarnation, revision));
        Ok(())
    }

    /// A successful key-value response the member emitted, with the revision in its header,
    /// while its own revision was `member_revision`.
    ///
    /// # Errors
    /// The header shows a revision the member has not reached, or older than an earlier
    /// response of the same process run.
    pub fn observe_reply(
        &mut self,
        at: Instant,
        member: NodeId,
        incarnation: u64,
        header_revision: i64,
        member_revision: i64,
    ) -> Result<(), Violation> {
        if header_revision > member_revision {
            return Err(Violation::new(
                CHECKER,
                at,
                format!("member {member} answered with revision {header_revision} while at revision {member_revision}"),
            ));
        }
        if let Some(&(inc, prev)) = self.replied.get(&member) {
            if inc == incarnation && header_revision < prev {
                return Err(Violation::new(
                    CHECKER,
                    at,
                    format!("member {member} answered with revision {header_revision} after answering with {prev}"),
                ));
            }
        }
        self.replied.insert(member, (incarnation, header_revision));
        Ok(())
    }
}

/// Checks the revisions in a client history.
///
/// # Errors
/// A response older than a write finished before its request, or a value seen with two mod
/// revisions, or with a mod revision other than its write's.
pub fn check_history(at: Instant, history: &History) -> Result<(), Violation> {
    let ok: Vec<_> = history
        .ops()
        .iter()
        .filter_map(|op| match (&op.outcome, op.complete) {
            (Some(Outcome::Ok(r)), Some(t)) => Some((op, r, t)),
            _ => None,
        })
        .collect();
    // Writes that changed the store, by completion time, with the highest revision so far.
    let mut writes: Vec<(Instant, i64, u64)> = ok
        .iter()
        .filter(|(op, r, _)| changes_store(&op.call, r))
        .map(|(op, _, t)| (*t, op.header_revision, op.id))
        .collect();
    writes.sort_unstable();
    let mut best = (i64::MIN, u64::MAX);
    let prefix_max: Vec<(i64, u64)> = writes
        .iter()
        .map(|&(_, rev, id)| {
            if rev > best.0 {
                best = (rev, id);
            }
            best
        })
        .collect();
    for (op, r, _) in &ok {
        if matches!(op.call, KvCall::GetSerializable { .. }) {
            continue;
        }
        let before = writes.partition_point(|&(t, _, _)| t < op.invoke);
        if before == 0 {
            continue;
        }
        let (floor, writer) = prefix_max[before - 1];
        let strictly = changes_store(&op.call, r);
        if op.header_revision < floor || (strictly && op.header_revision == floor) {
            return Err(Violation::new(
                CHECKER,
                at,
                format!(
                    "operation #{} answered with revision {} but write #{writer} had finished at revision {floor} before it was sent",
                    op.id, op.header_revision
                ),
            ));
        }
    }
    check_mod_revisions(at, history)
}

fn changes_store(call: &KvCall, r: &KvReturn) -> bool {
    match (call, r) {
        (KvCall::Put { .. }, _) => true,
        (_, KvReturn::Delete { deleted }) => *deleted,
        (_, KvReturn::Cas { succeeded, .. }) => *succeeded,
        _ => false,
    }
}

fn check_mod_revisions(at: Instant, history: &History) -> Result<(), Violation> {
    // The revision each value was written at, when its write reported it.
    let mut written: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for op in history.ops() {
        let Some(Outcome::Ok(r)) = &op.outcome else { continue };
        match (&op.call, r) {
            (KvCall::Put { key, value }, _)
            | (KvCall::Cas { key, new: value, .. }, KvReturn::Cas { succeeded: true, .. }) => {
                written.insert((key, value), op.header_revision);
            }
            _ => {}
        }
    }
    let mut seen: BTreeMap<(&str, &str), (i64, u64)> = BTreeMap::new();
    for op in history.ops() {
        let Some(Outcome::Ok(KvReturn::Get { value: Some(v), mod_revision })) = &op.outcome else {
            continue;
        };
        let key = op.call.key();
        if *mod_revision > op.header_revision {
            return Err(Violation::new(
                CHECKER,
                at,
                format!(
                    "read #{} saw mod revision {mod_revision} above its header revision {}",
                    op.id, op.header_revision
                ),
            ));
        }
        if let Some(&w) = written.get(&(key, v.as_str())) {
            if w != *mod_revision {
                return Err(Violation::new(
                    CHECKER,
                    at,
                    format!("read #{} saw {key}={v} at mod revision {mod_revision}, but its write reported revision {w}", op.id),
                ));
            }
        }
        match seen.get(&(key, v.as_str())) {
            Some(&(m, other)) if m != *mod_revision => {
                return Err(Violation::new(
                    CHECKER,
                    at,
                    format!("reads #{other} and #{} saw {key}={v} at mod revisions {m} and {mod_revision}", op.id),
                ));
            }
            _ => {
                seen.insert((key, v.as_str()), (*mod_revision, op.id));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Instant = Instant::ZERO;
    const M: NodeId = NodeId(1);

    fn ms(n: u64) -> Instant {
        Instant::from_nanos(n * 1_000_000)
    }

    fn op(h: &mut History, span: (u64, u64), call: KvCall, r: KvReturn, rev: i64) {
        let id = h.invoke(0, M, ms(span.0), call);
        h.complete(id, ms(span.1), Outcome::Ok(r), rev);
    }

    fn put(key: &str, value: &str) -> KvCall {
        KvCall::Put { key: key.into(), value: value.into() }
    }

    fn get(key: &str) -> KvCall {
        KvCall::Get { key: key.into() }
    }

    fn got(value: &str, mod_revision: i64) -> KvReturn {
        KvReturn::Get { value: Some(value.into()), mod_revision }
    }

    #[test]
    fn member_revisions_may_only_grow_within_a_run() {
        let mut m = MemberRevisions::new();
        m.observe(T, M, 0, 5).unwrap();
        m.observe(T, M, 0, 7).unwrap();
        assert!(m.observe(T, M, 0, 6).is_err());
        m.observe(T, M, 1, 3).unwrap();
    }

    #[test]
    fn replies_may_not_go_back_or_run_ahead() {
        let mut m = MemberRevisions::new();
        m.observe_reply(T, M, 0, 4, 4).unwrap();
        assert!(m.observe_reply(T, M, 0, 3, 4).is_err());
        assert!(m.observe_reply(T, M, 0, 6, 5).is_err());
        m.observe_reply(T, M, 1, 2, 2).unwrap();
    }

    #[test]
    fn a_read_older_than_a_finished_write_fails() {
        let mut h = History::new();
        op(&mut h, (0, 1), put("a", "1"), KvReturn::Put, 2);
        op(&mut h, (2, 3), get("b"), KvReturn::Get { value: None, mod_revision: 0 }, 2);
        check_history(T, &h).unwrap();
        op(&mut h, (4, 5), get("b"), KvReturn::Get { value: None, mod_revision: 0 }, 1);
        let err = check_history(T, &h).unwrap_err();
        assert!(err.message.contains("#2"), "{err}");
    }

    #[test]
    fn a_write_must_land_above_every_finished_write() {
        let mut h = History::new();
        op(&mut h, (0, 1), put("a", "1"), KvReturn::Put, 2);
        op(&mut h, (2, 3), put("b", "1"), KvReturn::Put, 2);
        assert!(check_history(T, &h).is_err());
    }

    #[test]
    fn serializable_reads_may_lag() {
        let mut h = History::new();
        op(&mut h, (0, 1), put("a", "1"), KvReturn::Put, 2);
        let stale = KvReturn::Get { value: None, mod_revision: 0 };
        op(&mut h, (2, 3), KvCall::GetSerializable { key: "a".into() }, stale, 1);
        check_history(T, &h).unwrap();
    }

    #[test]
    fn a_value_has_one_mod_revision_its_writes() {
        let mut h = History::new();
        op(&mut h, (0, 1), put("a", "1"), KvReturn::Put, 2);
        op(&mut h, (2, 3), get("a"), got("1", 2), 2);
        check_history(T, &h).unwrap();
        op(&mut h, (4, 5), get("a"), got("1", 3), 3);
        assert!(check_history(T, &h).is_err());
        let mut h = History::new();
        op(&mut h, (0, 1), get("a"), got("x", 4), 4);
        op(&mut h, (2, 3), get("a"), got("x", 5), 5);
        assert!(check_history(T, &h).is_err());
        let mut h = History::new();
        op(&mut h, (0, 1), get("a"), got("x", 4), 3);
        assert!(check_history(T, &h).is_err());
    }
}
