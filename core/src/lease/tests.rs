use super::*;
use crate::backend::{MemBackend, Overlay};
use crate::error::ApiError;
use crate::mvcc::{StorageMut, StorageRef};
use crate::time::Instant;
use alloc::boxed::Box;
use alloc::vec;
use core::time::Duration;

fn secs(s: u64) -> Instant {
    Instant::from_nanos(s * 1_000_000_000)
}

fn config() -> LessorConfig {
    LessorConfig::for_election_timeout(Duration::from_millis(1000))
}

#[test]
fn config_follows_etcd_rules() {
    let c = config();
    assert_eq!(c.min_ttl_secs, 2, "ceil(1.5 x 1s)");
    assert_eq!(LessorConfig::for_election_timeout(Duration::from_millis(100)).min_ttl_secs, 1);
    assert_eq!(LessorConfig::for_election_timeout(Duration::from_secs(4)).min_ttl_secs, 6);
    assert_eq!(c.expired_retry, Duration::from_secs(7));
    assert!(LessorConfig { min_ttl_secs: 0, ..c }.validate().is_err());
}

#[test]
fn grant_rules_and_revoke_returns_sorted_keys() {
    let backend = MemBackend::new();
    let mut overlay = Overlay::new();
    let mut st = StorageMut::new(&backend, &mut overlay);
    let mut l = Lessor::new(config());
    assert_eq!(l.grant(&mut st, LeaseId(0), 10, secs(0)), Err(ApiError::LeaseNotFound));
    assert_eq!(
        l.grant(&mut st, LeaseId(1), MAX_LEASE_TTL_SECS + 1, secs(0)),
        Err(ApiError::LeaseTtlTooLarge)
    );
    assert_eq!(l.grant(&mut st, LeaseId(1), 1, secs(0)), Ok(2));
    assert_eq!(l.grant(&mut st, LeaseId(1), 10, secs(0)), Err(ApiError::LeaseExist));
    l.attach(LeaseId(1), b"b");
    l.attach(LeaseId(1), b"a");
    l.attach(LeaseId(9), b"c"); // unknown lease: ignored
    assert_eq!(l.lease_of(b"c"), None);
    assert_eq!(l.revoke(&mut st, LeaseId(1)), Ok(vec![Box::from(&b"a"[..]), Box::from(&b"b"[..])]));
    assert_eq!(l.lease_of(b"a"), None);
    assert_eq!(l.revoke(&mut st, LeaseId(1)), Err(ApiError::LeaseNotFound));
}

#[test]
fn leader_detects_expiry_and_retries_lost_revokes() {
    let backend = MemBackend::new();
    let mut overlay = Overlay::new();
    let mut st = StorageMut::new(&backend, &mut overlay);
    let mut l = Lessor::new(config());
    l.promote(secs(0), Duration::from_secs(1));
    l.grant(&mut st, LeaseId(5), 10, secs(0)).unwrap();
    assert_eq!(l.poll_timeout(), Some(secs(10)));
    assert!(l.poll_expired(secs(9), 10).is_empty());
    assert_eq!(l.renew(LeaseId(5), secs(5)), Ok(10));
    assert!(l.poll_expired(secs(14), 10).is_empty());
    assert_eq!(l.poll_expired(secs(15), 10), vec![LeaseId(5)]);
    assert!(
        l.poll_expired(secs(16), 10).is_empty(),
        "reported once, then after the retry interval"
    );
    assert_eq!(l.renew(LeaseId(5), secs(16)), Err(ApiError::LeaseNotFound), "expired");
    assert_eq!(l.poll_expired(secs(22), 10), vec![LeaseId(5)]);
    l.demote();
    assert_eq!(l.renew(LeaseId(5), secs(22)), Err(ApiError::NotLeader));
    assert!(l.poll_expired(secs(100), 10).is_empty());
}

#[test]
fn checkpoints_carry_remaining_ttl_across_leaders_and_restarts() {
    let backend = MemBackend::new();
    let mut overlay = Overlay::new();
    let mut l = Lessor::new(config());
    l.promote(secs(0), Duration::ZERO);
    {
        let mut st = StorageMut::new(&backend, &mut overlay);
        l.grant(&mut st, LeaseId(7), 1000, secs(0)).unwrap();
        l.grant(&mut st, LeaseId(8), 100, secs(0)).unwrap(); // shorter than the interval
    }
    assert!(l.poll_checkpoints(secs(299), 10).is_empty());
    let cps = l.poll_checkpoints(secs(300), 10);
    assert_eq!(cps, vec![Checkpoint { id: LeaseId(7), remaining_ttl: 700 }]);
    {
        let mut st = StorageMut::new(&backend, &mut overlay);
        l.checkpoint(&mut st, LeaseId(7), 700, secs(300));
    }
    // A follower restarted from storage, promoted later, continues from the checkpoint.
    let mut other = Lessor::open(config(), StorageRef::new(&backend, &overlay));
    assert_eq!(other.len(), 2);
    assert_eq!(other.time_to_live(LeaseId(7), secs(0), false).unwrap().remaining_secs, None);
    other.promote(secs(400), Duration::from_secs(1));
    assert_eq!(other.time_to_live(LeaseId(7), secs(400), false).unwrap().remaining_secs, Some(701));
    // Renewing clears the checkpointed remainder through Raft.
    assert_eq!(other.renew(LeaseId(7), secs(401)), Ok(1000));
    assert_eq!(other.poll_timeout(), Some(Instant::ZERO));
    assert_eq!(
        other.poll_checkpoints(secs(401), 10),
        vec![Checkpoint { id: LeaseId(7), remaining_ttl: 0 }]
    );
    assert_eq!(other.time_to_live(LeaseId(7), secs(402), false).unwrap().remaining_secs, Some(999));
}

#[test]
fn promotion_spreads_piled_up_expiries() {
    let backend = MemBackend::new();
    let mut overlay = Overlay::new();
    let mut st = StorageMut::new(&backend, &mut overlay);
    let mut l = Lessor::new(config());
    for i in 1..=3000 {
        l.grant(&mut st, LeaseId(i), 10, secs(0)).unwrap();
    }
    l.promote(secs(0), Duration::ZERO);
    let mut per_second = alloc::collections::BTreeMap::new();
    for i in 1..=3000 {
        let left = l.time_to_live(LeaseId(i), secs(0), false).unwrap().remaining_secs.unwrap();
        *per_second.entry(left).or_insert(0) += 1;
    }
    assert!(per_second.values().all(|n| *n <= 750), "{per_second:?}");
    assert!(per_second.len() >= 4);
}

#[test]
fn chosen_ids_are_positive_and_seeded() {
    let mut a = crate::rng::Rng::from_seed(3);
    let mut b = crate::rng::Rng::from_seed(3);
    for _ in 0..100 {
        let id = choose_lease_id(&mut a);
        assert!(id.0 > 0);
        assert_eq!(id, choose_lease_id(&mut b));
    }
}
