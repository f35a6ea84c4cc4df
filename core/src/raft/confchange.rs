//! Computing the configuration a [`ConfChange`] leads to.
//!
//! Rules (the same on every member, so an invalid change is a no-op everywhere):
//! - a simple change (at most one voter added, removed, promoted or demoted) moves directly;
//! - anything else enters a joint configuration: the old voters become `voters_outgoing`, the
//!   changes are applied to the incoming half, and voters demoted to learners wait in
//!   `learners_next` until the joint configuration is left;
//! - leaving moves `learners_next` into `learners` and forgets the outgoing half;
//! - no member is both a learner and a voter, and at least one voter remains.

use super::error::ConfChangeError;
use super::types::{ConfChange, ConfState, SingleChange, Transition};
use crate::ids::NodeId;

/// The configuration after applying `cc` to `current`.
///
/// # Errors
/// When the change is not valid against `current` (see the module doc).
pub fn apply(current: &ConfState, cc: &ConfChange) -> Result<ConfState, ConfChangeError> {
    if cc.changes.iter().any(|c| !c.node().is_some()) {
        return Err(ConfChangeError::ZeroId);
    }
    let joint = match cc.transition {
        Transition::LeaveJoint => return leave_joint(current, cc),
        Transition::Joint { auto_leave } => Some(auto_leave),
        Transition::Auto if voter_changes(current, cc) > 1 => Some(true),
        Transition::Auto => None,
    };
    match joint {
        Some(auto_leave) => enter_joint(current, cc, auto_leave),
        None => simple(current, cc),
    }
}

/// How many voters a change adds or removes, ignoring changes that repeat the current state.
fn voter_changes(current: &ConfState, cc: &ConfChange) -> usize {
    let mut voters = current.voters.clone();
    for change in &cc.changes {
        match *change {
            SingleChange::AddVoter(id) => {
                voters.insert(id);
            }
            SingleChange::AddLearner(id) | SingleChange::Remove(id) => {
                voters.remove(&id);
            }
        }
    }
    voters.symmetric_difference(&current.voters).count()
}

fn simple(current: &ConfState, cc: &ConfChange) -> Result<ConfState, ConfChangeError> {
    if current.is_joint() {
        return Err(ConfChangeError::JointRequiresLeave);
    }
    if voter_changes(current, cc) > 1 {
        return Err(ConfChangeError::TooManyVoterChanges);
    }
    let mut next = current.clone();
    for change in &cc.changes {
        match *change {
            SingleChange::AddVoter(id) => {
                next.learners.remove(&id);
                next.voters.insert(id);
            }
            SingleChange::AddLearner(id) => {
                next.voters.remove(&id);
                next.learners.insert(id);
            }
            SingleChange::Remove(id) => {
                next.voters.remove(&id);
                next.learners.remove(&id);
            }
        }
    }
    check(&next, current)?;
    Ok(next)
}

fn enter_joint(
    current: &ConfState,
    cc: &ConfChange,
    auto_leave: bool,
) -> Result<ConfState, ConfChangeError> {
    if current.is_joint() {
        return Err(ConfChangeError::AlreadyJoint);
    }
    let mut next = current.clone();
    next.voters_outgoing = current.voters.clone();
    next.auto_leave = auto_leave;
    for change in &cc.changes {
        match *change {
            SingleChange::AddVoter(id) => {
                next.learners.remove(&id);
                next.learners_next.remove(&id);
                next.voters.insert(id);
            }
            SingleChange::AddLearner(id) => {
                next.voters.remove(&id);
                if next.voters_outgoing.contains(&id) {
                    // Still votes in the outgoing half: becomes a learner on leaving.
                    next.learners.remove(&id);
                    next.learners_next.insert(id);
                } else {
                    next.learners.insert(id);
                }
            }
            SingleChange::Remove(id) => {
                next.voters.remove(&id);
                next.learners.remove(&id);
                next.learners_next.remove(&id);
            }
        }
    }
    check(&next, current)?;
    Ok(next)
}

fn leave_joint(current: &ConfState, cc: &ConfChange) -> Result<ConfState, ConfChangeError> {
    if !current.is_joint() || !cc.changes.is_empty() {
        return Err(ConfChangeError::NotJoint);
    }
    let mut next = current.clone();
    let learners_next = core::mem::take(&mut next.learners_next);
    next.learners.extend(learners_next);
    next.voters_outgoing.clear();
    next.auto_leave = false;
    check(&next, current)?;
    Ok(next)
}

fn check(next: &ConfState, previous: &ConfState) -> Result<(), ConfChangeError> {
    // An empty configuration may only grow (bootstrapping adds the first voter).
    if next.voters.is_empty() && !(previous.voters.is_empty() && next.voters_outgoing.is_empty()) {
        return Err(ConfChangeError::NoVoters);
    }
    let learner_is_voter =
        |id: &NodeId| next.voters.contains(id) || next.voters_outgoing.contains(id);
    if next.learners.iter().any(learner_is_voter) {
        return Err(ConfChangeError::LearnerIsVoter);
    }
    if next.learners_next.iter().any(|id| next.voters.contains(id) || next.learners.contains(id)) {
        return Err(ConfChangeError::LearnerIsVoter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use alloc::vec::Vec;

    fn cc(transition: Transition, changes: Vec<SingleChange>) -> ConfChange {
        ConfChange { transition, changes, context: Vec::new() }
    }
    fn n(id: u64) -> NodeId {
        NodeId(id)
    }

    #[test]
    fn bootstrap_adds_voters_one_by_one() {
        let mut cs = ConfState::default();
        for id in 1..=3 {
            cs = apply(&cs, &ConfChange::add_voter(n(id), Vec::new())).unwrap();
        }
        assert_eq!(cs.to_string(), "voters=(1,2,3)");
    }

    #[test]
    fn simple_changes_allow_one_voter_only() {
        let cs = ConfState::with_voters([n(1), n(2), n(3)]);
        let two =
            cc(Transition::Auto, vec![SingleChange::AddVoter(n(4)), SingleChange::AddVoter(n(5))]);
        // Auto with two voters enters a joint configuration instead.
        let joint = apply(&cs, &two).unwrap();
        assert_eq!(joint.to_string(), "voters=(1,2,3,4,5)&&(1,2,3) autoleave");
        // Promoting a learner and adding another learner is one voter change.
        let cs = apply(&cs, &ConfChange::add_learner(n(4), Vec::new())).unwrap();
        let mixed = cc(
            Transition::Auto,
            vec![SingleChange::AddVoter(n(4)), SingleChange::AddLearner(n(5))],
        );
        assert_eq!(apply(&cs, &mixed).unwrap().to_string(), "voters=(1,2,3,4) learners=(5)");
        assert_eq!(
            apply(&joint, &ConfChange::remove(n(1))),
            Err(ConfChangeError::JointRequiresLeave)
        );
    }

    #[test]
    fn demoted_voter_waits_in_learners_next_until_leaving() {
        let cs = ConfState::with_voters([n(1), n(2), n(3)]);
        let change = cc(
            Transition::Joint { auto_leave: false },
            vec![SingleChange::AddLearner(n(3)), SingleChange::AddVoter(n(4))],
        );
        let joint = apply(&cs, &change).unwrap();
        assert_eq!(joint.to_string(), "voters=(1,2,4)&&(1,2,3) learners_next=(3)");
        assert_eq!(apply(&joint, &change), Err(ConfChangeError::AlreadyJoint));
        let left = apply(&joint, &ConfChange::leave_joint()).unwrap();
        assert_eq!(left.to_string(), "voters=(1,2,4) learners=(3)");
        assert_eq!(apply(&left, &ConfChange::leave_joint()), Err(ConfChangeError::NotJoint));
    }

    #[test]
    fn refuses_removing_every_voter_and_node_zero() {
        let cs = ConfState::with_voters([n(1)]);
        assert_eq!(apply(&cs, &ConfChange::remove(n(1))), Err(ConfChangeError::NoVoters));
        assert_eq!(
            apply(&cs, &ConfChange::add_voter(NodeId::NONE, Vec::new())),
            Err(ConfChangeError::ZeroId)
        );
        let all = cc(Transition::Joint { auto_leave: true }, vec![SingleChange::Remove(n(1))]);
        assert_eq!(apply(&cs, &all), Err(ConfChangeError::NoVoters));
    }
}
