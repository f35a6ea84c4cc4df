//! Exponential dial backoff with jitter drawn from the transport's seeded generator, so a run
//! with the same seed waits the same times.

use std::time::Duration;

use oxcd_core::rng::Rng;

#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    /// Failures since the last success.
    failures: u32,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        assert!(!min.is_zero() && min <= max, "dial backoff needs 0 < min <= max");
        Backoff { min, max, failures: 0 }
    }

    /// The wait before the next attempt: `min · 2^failures` capped at `max`, then a uniform
    /// draw from its upper half, so peers that failed together spread out.
    pub(crate) fn next_delay(&mut self, rng: &mut Rng) -> Duration {
        let doubled = self.min.saturating_mul(1u32 << self.failures.min(20));
        let ceiling = doubled.min(self.max);
        self.failures = self.failures.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.range_u64(nanos / 2, nanos.saturating_add(1)))
    }

    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_and_resets() {
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        let mut backoff = Backoff::new(min, max);
        let mut rng = Rng::from_seed(1);
        let mut ceilings = Vec::new();
        for i in 0..10 {
            let d = backoff.next_delay(&mut rng);
            let ceiling = (min * (1 << i)).min(max);
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {i}: {d:?} vs {ceiling:?}");
            ceilings.push(ceiling);
        }
        assert_eq!(*ceilings.last().unwrap(), max);
        backoff.reset();
        assert!(backoff.next_delay(&mut rng) <= min);
        // Same seed, same waits.
        let mut a = Backoff::new(min, max);
        let mut b = Backoff::new(min, max);
        let (mut ra, mut rb) = (Rng::from_seed(9), Rng::from_seed(9));
        for _ in 0..5 {
            assert_eq!(a.next_delay(&mut ra), b.next_delay(&mut rb));
        }
    }
}
