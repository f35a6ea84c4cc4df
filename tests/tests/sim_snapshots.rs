//! Random seeds under a write-heavy load with a tiny `--snapshot-count`: logs are compacted
//! while faults are in force, so lagging members catch up through snapshot transfers (chunks,
//! staging, install) under partitions, crashes and membership changes. `OXCD_SIM_SEEDS=N`
//! runs more; a failure prints the command that replays its seed through `replay`.

use oxcd_tests::sim::{RunPlan, SeedSuite};

const SUITE: SeedSuite = SeedSuite {
    binary: "sim_snapshots",
    replay_test: "replay",
    plan: RunPlan::snapshots,
    default_seeds: if cfg!(debug_assertions) { 6 } else { 24 },
    ignored: false,
};

#[test]
fn seeds_shard_0() {
    let s = SUITE.run_shard(0, 2);
    println!("{s:?}");
}

#[test]
fn seeds_shard_1() {
    let s = SUITE.run_shard(1, 2);
    println!("{s:?}");
}

/// Replays `OXCD_SIM_SEED` (seed 0 when unset) with tracing on.
#[test]
fn replay() {
    SUITE.replay();
}
