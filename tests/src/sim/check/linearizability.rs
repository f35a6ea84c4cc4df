//! Linearizability of a client history against a key-value register model, in the style of
//! Wing & Gong with Lowe's memoisation (as porcupine does it):
//!
//! - The history is split by key (P-compositionality: a history of single-key operations is
//!   linearizable iff each key's sub-history is).
//! - Each sub-history becomes a list of call and return events in time order. A depth-first
//!   search picks, among the operations whose call comes before the first pending return, one
//!   that the model accepts in the current state, "linearizes" it (removes it from the list)
//!   and goes on; it backtracks when it reaches a return whose operation could not be placed.
//!   A cache of (set of linearized operations, model state) prunes revisits.
//! - An operation of unknown outcome returns at infinity, and the model accepts any result for
//!   it: placing it late enough is the same as it never having happened, so it may or may not
//!   take effect. Reads of unknown outcome and operations that certainly failed are dropped.
//! - Two reductions keep timeouts from making the search exponential, both exact: values no
//!   operation ever observes (no read returns them, no swap expects them) are all renamed to
//!   one symbolic value, since the model cannot tell them apart; and operations of unknown
//!   outcome that are then identical are placed in invocation order only (swapping two of them
//!   in any linearization gives another one).
//!
//! Serializable reads are not linearizable by design and are left out (see `revisions`).

use crate::sim::history::{History, KvCall, KvReturn, Operation, Outcome};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

/// The verdict on one history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every key's sub-history is linearizable.
    Linearizable {
        /// Keys checked.
        keys: usize,
        /// Operations checked.
        ops: usize,
    },
    /// Some key's sub-history has no linearization.
    Violation(LinearizabilityViolation),
    /// The search gave up on some key (budget exhausted); other keys were fine.
    Inconclusive {
        /// The key given up on.
        key: String,
    },
}

/// A key whose operations cannot be linearized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinearizabilityViolation {
    /// The key.
    pub key: String,
    /// The most operations any partial linearization placed.
    pub longest_prefix: usize,
    /// The key's operations (bounded to those around the failure), in invocation order.
    pub ops: Vec<Operation>,
}

impl fmt::Display for LinearizabilityViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "history of key {:?} is not linearizable (at most {} of its operations could be ordered); operations:",
            self.key, self.longest_prefix
        )?;
        for op in &self.ops {
            writeln!(f, "  {op}")?;
        }
        Ok(())
    }
}

/// Search steps allowed per key before giving up.
pub const DEFAULT_STEP_BUDGET: u64 = 20_000_000;

/// Checks `history`; see the module docs.
#[must_use]
pub fn check(history: &History, step_budget: u64) -> Verdict {
    let mut by_key: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for op in history.ops() {
        if relevant(op) {
            by_key.entry(op.call.key()).or_default().push(op);
        }
    }
    let keys = by_key.len();
    let mut total = 0;
    let mut inconclusive = None;
    for (key, ops) in by_key {
        total += ops.len();
        match check_key(&ops, step_budget) {
            KeyVerdict::Ok => {}
            KeyVerdict::Fail { longest_prefix } => {
                return Verdict::Violation(LinearizabilityViolation {
                    key: key.to_string(),
                    longest_prefix,
                    ops: around_failure(&ops, longest_prefix),
                });
            }
            KeyVerdict::GaveUp => inconclusive = inconclusive.or(Some(key.to_string())),
        }
    }
    match inconclusive {
        Some(key) => Verdict::Inconclusive { key },
        None => Verdict::Linearizable { keys, ops: total },
    }
}

fn relevant(op: &Operation) -> bool {
    match (&op.call, &op.outcome) {
        (KvCall::GetSerializable { .. }, _) => false,
        (_, Some(Outcome::Failed(_))) => false,
        (call, Some(Outcome::Unknown(_)) | None) => !call.is_read(),
        (_, Some(Outcome::Ok(_))) => true,
    }
}

/// At most this many operations are listed in a violation.
const LISTED_OPS: usize = 60;

fn around_failure(ops: &[&Operation], longest_prefix: usize) -> Vec<Operation> {
    let mut sorted: Vec<&Operation> = ops.to_vec();
    sorted.sort_by_key(|o| (o.invoke, o.id));
    let start = longest_prefix.saturating_sub(LISTED_OPS / 2);
    sorted.into_iter().skip(start).take(LISTED_OPS).cloned().collect()
}

/// Model state: 0 = absent, otherwise an interned value.
type State = u32;

/// One operation in model form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Put {
        value: State,
    },
    Get {
        value: State,
    },
    Delete {
        deleted: Option<bool>,
    },
    /// `result`: `None` unknown, `Some(Ok(()))` succeeded, `Some(Err(v))` failed and read `v`.
    Cas {
        expect: State,
        new: State,
        result: Option<Result<(), State>>,
    },
}

impl Step {
    /// The state after this operation from `state`, or `None` if its result is impossible there.
    fn apply(self, state: State) -> Option<State> {
        match self {
            Step::Put { value } => Some(value),
            Step::Get { value } => (value == state).then_some(state),
            Step::Delete { deleted: None } => Some(0),
            Step::Delete { deleted: Some(d) } => (d == (state != 0)).then_some(0),
            Step::Cas { expect, new, result } => {
                let holds = state == expect;
                match result {
                    None => Some(if holds { new } else { state }),
                    Some(Ok(())) => holds.then_some(new),
                    Some(Err(read)) => (!holds && read == state).then_some(state),
                }
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum KeyVerdict {
    Ok,
    Fail { longest_prefix: usize },
    GaveUp,
}

const NIL: usize = usize::MAX;

/// A call or return event in the doubly linked list the search lifts operations out of.
#[derive(Clone, Copy, Debug)]
struct Event {
    /// The operation (index into `steps`).
    op: usize,
    is_call: bool,
    /// The other event of the same operation.
    other: usize,
    prev: usize,
    next: usize,
}

/// The state every never-observed value is renamed to.
const UNOBSERVED: State = 1;

struct Interner<'a> {
    observed: BTreeSet<&'a str>,
    values: BTreeMap<&'a str, State>,
}

impl<'a> Interner<'a> {
    fn new(ops: &[&'a Operation]) -> Self {
        let mut observed = BTreeSet::new();
        for op in ops {
            if let KvCall::Cas { expect: Some(e), .. } = &op.call {
                observed.insert(e.as_str());
            }
            match &op.outcome {
                Some(Outcome::Ok(KvReturn::Get { value: Some(v), .. })) => {
                    observed.insert(v.as_str());
                }
                Some(Outcome::Ok(KvReturn::Cas { current: Some(v), .. })) => {
                    observed.insert(v.as_str());
                }
                _ => {}
            }
        }
        Interner { observed, values: BTreeMap::new() }
    }

    fn id(&mut self, v: Option<&'a str>) -> State {
        let Some(v) = v else { return 0 };
        if !self.observed.contains(v) {
            return UNOBSERVED;
        }
        let next = self.values.len() as State + 2;
        *self.values.entry(v).or_insert(next)
    }
}

fn to_step<'a>(op: &'a Operation, values: &mut Interner<'a>) -> Step {
    let result = match &op.outcome {
        Some(Outcome::Ok(r)) => Some(r),
        _ => None,
    };
    match (&op.call, result) {
        (KvCall::Put { value, .. }, _) => Step::Put { value: values.id(Some(value)) },
        (
            KvCall::Get { .. } | KvCall::GetSerializable { .. },
            Some(KvReturn::Get { value, .. }),
        ) => Step::Get { value: values.id(value.as_deref()) },
        (KvCall::Delete { .. }, Some(KvReturn::Delete { deleted })) => {
            Step::Delete { deleted: Some(*deleted) }
        }
        (KvCall::Delete { .. }, _) => Step::Delete { deleted: None },
        (KvCall::Cas { expect, new, .. }, r) => Step::Cas {
            expect: values.id(expect.as_deref()),
            new: values.id(Some(new)),
            result: match r {
                Some(KvReturn::Cas { succeeded: true, .. }) => Some(Ok(())),
                Some(KvReturn::Cas { succeeded: false, current }) => {
                    Some(Err(values.id(current.as_deref())))
                }
                _ => None,
            },
        },
        // A read whose return does not match its call: impossible in any state.
        (KvCall::Get { .. } | KvCall::GetSerializable { .. }, _) => Step::Get { value: State::MAX },
    }
}

fn check_key(ops: &[&Operation], step_budget: u64) -> KeyVerdict {
    let mut values = Interner::new(ops);
    let steps: Vec<Step> = ops.iter().map(|op| to_step(op, &mut values)).collect();
    // (time, call before return at equal times, op) -> event order.
    let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    let mut returns = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let ret = match (&op.outcome, op.complete) {
            (Some(Outcome::Ok(_)), Some(t)) => t.as_nanos(),
            _ => u64::MAX,
        };
        returns.push(ret);
        order.push((op.invoke.as_nanos(), false, i));
        order.push((ret, true, i));
    }
    order.sort_unstable();
    // For each unknown-outcome operation, the previous identical one (in call order): it must
    // be placed first.
    let mut twin_before = vec![NIL; ops.len()];
    let mut last_twin: Vec<(Step, usize)> = Vec::new();
    for &(_, is_return, op) in &order {
        if is_return || returns[op] != u64::MAX {
            continue;
        }
        match last_twin.iter_mut().find(|(s, _)| *s == steps[op]) {
            Some((_, last)) => {
                twin_before[op] = *last;
                *last = op;
            }
            None => last_twin.push((steps[op], op)),
        }
    }
    // Event 0 is the list head.
    let mut events = vec![Event { op: NIL, is_call: false, other: NIL, prev: NIL, next: NIL }];
    let mut call_of = vec![NIL; ops.len()];
    for (pos, &(_, is_return, op)) in order.iter().enumerate() {
        let idx = pos + 1;
        let other = if is_return { call_of[op] } else { NIL };
        if is_return {
            events[other].other = idx;
        } else {
            call_of[op] = idx;
        }
        events.push(Event { op, is_call: !is_return, other, prev: idx - 1, next: NIL });
        events[idx - 1].next = idx;
    }

    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, State)> = HashSet::new();
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut state: State = 0;
    let mut longest = 0;
    let mut budget = step_budget;
    let mut entry = events[0].next;
    while events[0].next != NIL {
        if budget == 0 {
            return KeyVerdict::GaveUp;
        }
        budget -= 1;
        let e = events[entry];
        if e.is_call {
            let twin = twin_before[e.op];
            let twin_waits = twin != NIL && linearized[twin / 64] & (1 << (twin % 64)) == 0;
            if twin_waits {
                entry = e.next;
                continue;
            }
            if let Some(next_state) = steps[e.op].apply(state) {
                linearized[e.op / 64] |= 1 << (e.op % 64);
                if cache.insert((linearized.clone(), next_state)) {
                    stack.push((entry, state));
                    longest = longest.max(stack.len());
                    state = next_state;
                    lift(&mut events, entry);
                    entry = events[0].next;
                    continue;
                }
                linearized[e.op / 64] &= !(1 << (e.op % 64));
            }
            entry = e.next;
        } else {
            // A return of an operation not yet placed: undo the last choice.
            let Some((call, previous)) = stack.pop() else {
                return KeyVerdict::Fail { longest_prefix: longest };
            };
            let op = events[call].op;
            linearized[op / 64] &= !(1 << (op % 64));
            state = previous;
            unlift(&mut events, call);
            entry = events[call].next;
        }
    }
    KeyVerdict::Ok
}

fn lift(events: &mut [Event], call: usize) {
    let ret = events[call].other;
    for idx in [call, ret] {
        let Event { prev, next, .. } = events[idx];
        events[prev].next = next;
        if next != NIL {
            events[next].prev = prev;
        }
    }
}

fn unlift(events: &mut [Event], call: usize) {
    let ret = events[call].other;
    for idx in [ret, call] {
        let Event { prev, next, .. } = events[idx];
        events[prev].next = idx;
        if next != NIL {
            events[next].prev = idx;
        }
    }
}

#[cfg(test)]
mod tests;
