//! Majority arithmetic over simple and joint configurations.

use super::types::ConfState;
use crate::ids::NodeId;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// The outcome of an election so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    /// A quorum granted.
    Won,
    /// A quorum can no longer be reached.
    Lost,
    /// Undecided.
    Pending,
}

fn majority_vote(voters: &BTreeSet<NodeId>, vote: &dyn Fn(NodeId) -> Option<bool>) -> VoteResult {
    if voters.is_empty() {
        // An empty half (the outgoing half of a simple configuration) agrees with anything.
        return VoteResult::Won;
    }
    let (mut granted, mut missing) = (0, 0);
    for id in voters {
        match vote(*id) {
            Some(true) => granted += 1,
            Some(false) => {}
            None => missing += 1,
        }
    }
    let quorum = voters.len() / 2 + 1;
    if granted >= quorum {
        VoteResult::Won
    } else if granted + missing >= quorum {
        VoteResult::Pending
    } else {
        VoteResult::Lost
    }
}

/// The result of a vote under `conf`: `vote(id)` is `Some(granted)` for members that answered.
pub fn vote_result(conf: &ConfState, vote: &dyn Fn(NodeId) -> Option<bool>) -> VoteResult {
    if conf.voters.is_empty() {
        return VoteResult::Lost;
    }
    let incoming = majority_vote(&conf.voters, vote);
    let outgoing = majority_vote(&conf.voters_outgoing, vote);
    match (incoming, outgoing) {
        (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
        (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
        _ => VoteResult::Pending,
    }
}

fn majority_index(
    voters: &BTreeSet<NodeId>,
    value: &dyn Fn(NodeId) -> u64,
    scratch: &mut Vec<u64>,
) -> u64 {
    if voters.is_empty() {
        return u64::MAX;
    }
    scratch.clear();
    scratch.extend(voters.iter().map(|id| value(*id)));
    scratch.sort_unstable_by(|a, b| b.cmp(a));
    scratch[voters.len() / 2]
}

/// The largest value that a quorum of `conf` has reached, given each voter's value (match index,
/// acknowledged read round). Zero for an empty configuration.
pub fn quorum_value(
    conf: &ConfState,
    value: &dyn Fn(NodeId) -> u64,
    scratch: &mut Vec<u64>,
) -> u64 {
    if conf.voters.is_empty() {
        return 0;
    }
    let incoming = majority_index(&conf.voters, value, scratch);
    let outgoing = majority_index(&conf.voters_outgoing, value, scratch);
    incoming.min(outgoing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(voters: &[u64], outgoing: &[u64]) -> ConfState {
        ConfState {
            voters: voters.iter().map(|v| NodeId(*v)).collect(),
            voters_outgoing: outgoing.iter().map(|v| NodeId(*v)).collect(),
            ..ConfState::default()
        }
    }

    #[test]
    fn committed_index_is_the_quorum_median() {
        let mut s = Vec::new();
        let c = conf(&[1, 2, 3], &[]);
        assert_eq!(quorum_value(&c, &|id| [0, 5, 3, 9][id.0 as usize], &mut s), 5);
        let c = conf(&[1, 2, 3, 4], &[]);
        assert_eq!(quorum_value(&c, &|id| [0, 5, 3, 9, 1][id.0 as usize], &mut s), 3);
        // Joint: the smaller of the two halves.
        let c = conf(&[1, 2, 3], &[3, 4, 5]);
        assert_eq!(quorum_value(&c, &|id| [0, 9, 9, 9, 1, 1][id.0 as usize], &mut s), 1);
        assert_eq!(quorum_value(&ConfState::default(), &|_| 7, &mut s), 0);
    }

    #[test]
    fn joint_votes_need_both_halves() {
        let c = conf(&[1, 2, 3], &[3, 4, 5]);
        let votes = |granted: &'static [u64], refused: &'static [u64]| {
            move |id: NodeId| {
                if granted.contains(&id.0) {
                    Some(true)
                } else if refused.contains(&id.0) {
                    Some(false)
                } else {
                    None
                }
            }
        };
        assert_eq!(vote_result(&c, &votes(&[1, 2], &[])), VoteResult::Pending);
        assert_eq!(vote_result(&c, &votes(&[1, 2, 4, 5], &[])), VoteResult::Won);
        assert_eq!(vote_result(&c, &votes(&[1, 2], &[4, 5])), VoteResult::Lost);
        assert_eq!(vote_result(&conf(&[1], &[]), &votes(&[1], &[])), VoteResult::Won);
    }
}
