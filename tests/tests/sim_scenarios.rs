//! Targeted simulator scenarios: each tells one story of faults and checks what clients see.

use oxcd_tests::sim::{secs, Sim};

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
