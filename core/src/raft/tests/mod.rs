//! Raft's cross-module tests: scenario files, randomized cluster properties and fuzzed input.

mod cluster;
mod fuzz;
mod interaction;
mod property;

use crate::ids::NodeId;
use crate::raft::{ConfChange, Raft, RaftConfig};
use alloc::vec::Vec;

fn lone_founder() -> Raft {
    let founders = [ConfChange::add_voter(NodeId(1), Vec::new())];
    Raft::bootstrap(RaftConfig::new(NodeId(1)), &founders).expect("valid config")
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "undrained")]
fn a_driver_that_does_not_drain_is_caught_in_debug_builds() {
    let mut raft = lone_founder();
    // The bootstrap entries wait in a Persist output; changing state now is a driver bug.
    raft.tick();
}

#[test]
fn a_draining_driver_is_fine() {
    let mut raft = lone_founder();
    while raft.poll_output().is_some() {}
    assert!(!raft.has_pending_output());
    raft.tick();
}
