//! Random seeds of whole clusters under mixed faults: a fault phase (partitions, crashes,
//! lossy links, slow disks, membership changes, leader transfers) with a client workload and
//! watchers, then healing, liveness and the history checks. `OXCD_SIM_SEEDS=N` runs more;
//! a failure prints the command that replays its seed through `replay`.

use oxcd_tests::sim::{RunPlan, SeedSuite};

const SUITE: SeedSuite = SeedSuite {
    binary: "sim_cluster",
    replay_test: "replay",
    plan: RunPlan::mixed,
    // Debug builds (`cargo test` without `--release`) run a fifth of them.
    default_seeds: if cfg!(debug_assertions) { 400 } else { 2000 },
    ignored: false,
};

/// Shards run as parallel test threads.
const SHARDS: u64 = 4;

fn shard(n: u64) {
    let s = SUITE.run_shard(n, SHARDS);
    println!("shard {n}: {s:?}");
}

#[test]
fn seeds_shard_0() {
    shard(0);
}

#[test]
fn seeds_shard_1() {
    shard(1);
}

#[test]
fn seeds_shard_2() {
    shard(2);
}

#[test]
fn seeds_shard_3() {
    shard(3);
}

/// Replays `OXCD_SIM_SEED` (seed 0 when unset) with tracing on.
#[test]
fn replay() {
    SUITE.replay();
}

const STRICT: SeedSuite = SeedSuite {
    replay_test: "replay_strict_timers",
    plan: |seed| {
        let mut plan = RunPlan::mixed(seed);
        plan.sim.strict_timers = true;
        plan
    },
    ignored: false,
    ..SUITE
};

/// The seeds with the driver contract enforced strictly (see `SimConfig::strict_timers`).
#[test]
fn strict_timers() {
    let s = STRICT.run_shard(0, 1);
    println!("{s:?}");
}

/// Replays `OXCD_SIM_SEED` of `strict_timers`.
#[test]
fn replay_strict_timers() {
    STRICT.replay();
}

const AUTH: SeedSuite = SeedSuite {
    replay_test: "replay_auth",
    plan: RunPlan::with_auth,
    default_seeds: if cfg!(debug_assertions) { 80 } else { 400 },
    ..SUITE
};

/// Mixed faults with auth enabled: the workload acts as a read-write user that is not root,
/// membership changes and leader transfers as root; every check as in the other seeds.
#[test]
fn auth_enabled() {
    let s = AUTH.run_shard(0, 1);
    println!("{s:?}");
}

/// Replays `OXCD_SIM_SEED` of `auth_enabled`.
#[test]
fn replay_auth() {
    AUTH.replay();
}
