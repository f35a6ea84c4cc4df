//! Targeted simulator scenarios: each tells one story of faults and checks what clients see.
//! Every run also goes through all the invariant checkers (after every input, and over the
//! whole history in `sim.check()`).

use oxcd_tests::sim::{
    millis, secs, ClientError, DiskConfig, LinkConfig, MemberState, Sim, SimConfig, WorkloadConfig,
};

fn others(sim: &Sim, but: u64) -> Vec<u64> {
    sim.member_ids().into_iter().filter(|&i| i != but).collect()
}

#[test]
fn a_minority_partition_does_not_stop_the_majority() {
    let mut sim = Sim::new(7, 3);
    sim.run_until_leader(secs(10)).expect("a leader");
    sim.partition(&[1], &[2, 3]);
    sim.client().put("k", "v").expect_ok();
    sim.heal();
    sim.run_for(secs(5));
    assert_eq!(sim.client().get("k").expect_ok().as_deref(), Some("v"));
    sim.check().unwrap();
}

#[test]
fn an_isolated_leader_cannot_commit_and_a_new_one_takes_over() {
    let mut sim = Sim::new(11, 5);
    let old = sim.run_until_leader(secs(10)).expect("a leader");
    sim.client().put("k", "before").expect_ok();
    sim.isolate(old);
    // The old leader takes the write but cannot commit it: the client never hears back.
    let err = sim.client_on(old).put("k", "lost").expect_err();
    assert!(!err.is_definite(), "{err}");
    // The majority elects a new leader and goes on.
    sim.client().put("k", "after").expect_ok();
    let new = sim.leader().expect("a new leader");
    assert_ne!(new, old);
    sim.heal();
    sim.run_for(secs(5));
    assert_eq!(sim.client().get("k").expect_ok().as_deref(), Some("after"));
    // The old leader dropped its uncommitted entry and follows.
    assert!(!sim.node(old).unwrap().is_leader());
    sim.check().unwrap();
}

#[test]
fn acknowledged_writes_survive_crashing_every_member() {
    let mut sim = Sim::new(3, 3);
    sim.run_until_leader(secs(10));
    for i in 0..20 {
        sim.client().put(&format!("k{i}"), &format!("v{i}")).expect_ok();
    }
    for id in [1, 2, 3] {
        sim.crash(id);
    }
    sim.run_for(secs(1));
    for id in [1, 2, 3] {
        sim.restart(id);
    }
    sim.run_until_leader(secs(10)).expect("a leader after the restart");
    for i in 0..20 {
        assert_eq!(sim.client().get(&format!("k{i}")).expect_ok(), Some(format!("v{i}")));
    }
    sim.check().unwrap();
}

#[test]
fn a_leader_that_cannot_hear_its_followers_steps_down() {
    let mut sim = Sim::new(5, 3);
    let leader = sim.run_until_leader(secs(10)).expect("a leader");
    // The leader's messages still go out, but nothing comes back.
    let rest = others(&sim, leader);
    sim.cut_one_way(&rest, &[leader]);
    sim.run_for(secs(5));
    assert!(!sim.node(leader).unwrap().is_leader(), "check-quorum makes it step down");
    sim.heal();
    sim.client().put("k", "v").expect_ok();
    sim.check().unwrap();
}

#[test]
fn a_lossy_duplicating_reordering_network_still_serves_writes() {
    let cfg = SimConfig { link: LinkConfig::lossy(), ..SimConfig::default() };
    let mut sim = Sim::with_config(21, cfg);
    sim.run_until_leader(secs(20)).expect("a leader");
    for i in 0..30 {
        sim.client().put("k", &format!("v{i}")).expect_ok();
    }
    assert_eq!(sim.client().get("k").expect_ok().as_deref(), Some("v29"));
    assert!(sim.net_stats().lost > 0 && sim.net_stats().duplicated > 0);
    sim.check().unwrap();
}

#[test]
fn compare_and_swap_succeeds_once() {
    let mut sim = Sim::new(8, 3);
    sim.run_until_leader(secs(10));
    assert!(sim.client().cas("lock", None, "a").expect_ok());
    assert!(!sim.client().cas("lock", None, "b").expect_ok());
    assert!(sim.client().cas("lock", Some("a"), "c").expect_ok());
    assert!(sim.client().delete("lock").expect_ok());
    assert!(!sim.client().delete("lock").expect_ok());
    assert_eq!(sim.client().get_serializable("lock").expect_ok(), None);
    sim.check().unwrap();
}

#[test]
fn a_learner_joins_catches_up_and_is_promoted_while_another_member_leaves() {
    let mut sim = Sim::new(13, 3);
    sim.run_until_leader(secs(10));
    for i in 0..10 {
        sim.client().put(&format!("k{i}"), "v").expect_ok();
    }
    // etcd's strict reconfiguration check: every member connected for its health interval.
    sim.run_for(secs(6));
    let learner = sim.add_member(true).expect("member add");
    assert_eq!(sim.member_state(learner), Some(MemberState::Running));
    // Promotion is refused until the learner has caught up; retry as an operator would.
    let mut promoted = false;
    for _ in 0..50 {
        if sim.promote(learner).is_ok() {
            promoted = true;
            break;
        }
        sim.run_for(millis(200));
    }
    assert!(promoted, "the learner was never promoted");
    let leaving = others(&sim, learner).into_iter().find(|&i| Some(i) != sim.leader()).unwrap();
    sim.remove_member(leaving).expect("member remove");
    sim.run_for(secs(3));
    assert_eq!(sim.member_state(leaving), Some(MemberState::Removed));
    sim.client().put("after", "v").expect_ok();
    let members = sim.node(learner).unwrap().members().count();
    assert_eq!(members, 3);
    assert!(sim.heal_and_converge(secs(20)).is_ok());
    sim.check().unwrap();
}

#[test]
fn leadership_moves_on_request_under_load() {
    let mut sim = Sim::new(17, 3);
    let leader = sim.run_until_leader(secs(10)).expect("a leader");
    sim.start_workload(WorkloadConfig::default());
    sim.run_for(secs(1));
    let target = others(&sim, leader)[0];
    sim.move_leader(target).expect("move-leader");
    assert_eq!(sim.leader(), Some(target));
    sim.run_for(secs(1));
    sim.heal_and_converge(secs(20)).unwrap();
    sim.check().unwrap();
}

#[test]
fn a_watcher_resumes_without_gaps_when_its_member_crashes() {
    let mut sim = Sim::new(19, 3);
    sim.run_until_leader(secs(10));
    let w = sim.add_watcher(1);
    sim.start_workload(WorkloadConfig::default());
    for id in [1, 2, 3, 1] {
        sim.run_for(secs(1));
        sim.crash(id);
        sim.run_for(millis(500));
        sim.restart(id);
    }
    sim.heal_and_converge(secs(20)).unwrap();
    let head = sim.node(sim.leader().unwrap()).unwrap().revision();
    assert_eq!(sim.watcher_revision(w), head);
    assert!(sim.watches().opened > 1, "the watcher had to resume");
    sim.check().unwrap();
}

#[test]
fn a_member_far_behind_catches_up_through_a_snapshot() {
    let cfg = SimConfig {
        tune: |c| c.snapshot_count = 10,
        sample_interval: secs(1),
        ..SimConfig::default()
    };
    let mut sim = Sim::with_config(23, cfg);
    sim.run_until_leader(secs(10));
    let lagging = others(&sim, sim.leader().unwrap())[0];
    sim.crash(lagging);
    // Enough entries for the log to be compacted past the lagging member's position.
    let load = WorkloadConfig {
        sessions: 32,
        think_max: millis(1),
        keys: 50,
        ops_per_key: 5,
        mix: [80, 0, 5, 15, 0],
    };
    sim.start_workload(load);
    let enough =
        |s: &Sim| s.leader().and_then(|l| s.node(l)).is_some_and(|n| n.raft().first_index().0 > 1);
    let compacted = sim.try_run_while(secs(120), enough).unwrap();
    assert!(compacted, "the leader never compacted its log");
    sim.stop_workload();
    sim.restart(lagging);
    sim.heal_and_converge(secs(30)).unwrap();
    assert!(sim.checks().applied.stats().1 > 0, "no snapshot was installed");
    sim.check().unwrap();
}

#[test]
fn the_same_seed_replays_the_same_world() {
    let run = |seed| {
        let mut sim = Sim::new(seed, 3);
        sim.start_workload(WorkloadConfig::default());
        sim.run_for(secs(2));
        sim.crash(2);
        sim.run_for(secs(2));
        let ops: Vec<String> = sim.history().ops().iter().map(ToString::to_string).collect();
        (sim.events(), ops)
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn a_client_of_a_stopped_member_is_refused_at_once() {
    let mut sim = Sim::new(29, 3);
    sim.run_until_leader(secs(10));
    sim.crash(2);
    assert_eq!(sim.client_on(2).put("k", "v").expect_err(), ClientError::Refused);
    assert!(sim.client_on(2).put("k", "v").expect_err().is_definite());
    sim.check().unwrap();
}

#[test]
fn reads_on_a_member_installing_a_snapshot_are_not_stale() {
    let cfg = SimConfig {
        tune: |c| c.snapshot_count = 10,
        sample_interval: secs(1),
        ..SimConfig::default()
    };
    let mut sim = Sim::with_config(31, cfg);
    let leader = sim.run_until_leader(secs(10)).expect("a leader");
    let lagging = others(&sim, leader)[0];
    sim.crash(lagging);
    let load = WorkloadConfig {
        sessions: 32,
        think_max: millis(1),
        keys: 50,
        ops_per_key: 5,
        mix: [100, 0, 0, 0, 0],
    };
    sim.start_workload(load);
    let compacted =
        |s: &Sim| s.leader().and_then(|l| s.node(l)).is_some_and(|n| n.raft().first_index().0 > 1);
    assert!(sim.try_run_while(secs(120), compacted).unwrap());
    sim.stop_workload();
    sim.run_for(secs(5));
    sim.client().put("last", "x").expect_ok();
    // The restarted member's slow disk widens the window between accepting the snapshot and
    // having installed it; a read answered in that window would come from its old state.
    let slow = DiskConfig {
        fsync_min: millis(200),
        fsync_max: millis(400),
        stall_per_mille: 0,
        stall: millis(0),
    };
    sim.set_disk(lagging, slow);
    sim.restart(lagging);
    for _ in 0..200 {
        if let Ok(value) = sim.client_on(lagging).get("last").result {
            assert_eq!(
                value.as_deref(),
                Some("x"),
                "a stale read from a member installing a snapshot"
            );
        }
        sim.run_for(millis(5));
    }
    sim.check().unwrap();
}
