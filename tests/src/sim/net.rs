//! The simulated network between members: per-link latency and jitter, loss, duplication,
//! reordering, and partitions (symmetric or one-way). It decides the fate of each message; the
//! world schedules the deliveries.

use oxcd_core::ids::NodeId;
use oxcd_core::rng::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How one direction of a link behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// The fixed part of the one-way delay.
    pub latency: Duration,
    /// A uniformly drawn extra delay in `[0, jitter)` (messages may overtake each other).
    pub jitter: Duration,
    /// Per mille of messages lost.
    pub loss_per_mille: u64,
    /// Per mille of messages delivered twice. The world never duplicates forwarded client
    /// proposals: the peer transport (one TCP stream per pair) cannot duplicate anything, and
    /// Raft, like etcd's, treats each proposal message as a new request; every other message
    /// is duplicated to exercise its idempotence.
    pub duplicate_per_mille: u64,
    /// Per mille of messages held back by up to `reorder_delay` more (so later ones pass them).
    pub reorder_per_mille: u64,
    /// The longest hold-back of a reordered message.
    pub reorder_delay: Duration,
    /// Per mille of messages stuck in a stalled connection for up to `stall` (they arrive
    /// terms later: Raft must recognise them as stale).
    pub stall_per_mille: u64,
    /// The longest stall.
    pub stall: Duration,
}

impl LinkConfig {
    /// A quiet local network: 1–3 ms, nothing lost, duplicated or held back.
    #[must_use]
    pub const fn reliable() -> Self {
        LinkConfig {
            latency: Duration::from_millis(1),
            jitter: Duration::from_millis(2),
            loss_per_mille: 0,
            duplicate_per_mille: 0,
            reorder_per_mille: 0,
            reorder_delay: Duration::ZERO,
            stall_per_mille: 0,
            stall: Duration::ZERO,
        }
    }

    /// A bad network: slower, with loss, duplicates, reordering and stalls of up to 5 s.
    #[must_use]
    pub const fn lossy() -> Self {
        LinkConfig {
            latency: Duration::from_millis(2),
            jitter: Duration::from_millis(15),
            loss_per_mille: 50,
            duplicate_per_mille: 20,
            reorder_per_mille: 50,
            reorder_delay: Duration::from_millis(60),
            stall_per_mille: 10,
            stall: Duration::from_secs(5),
        }
    }
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self::reliable()
    }
}

/// What happened to messages so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages handed to the network.
    pub sent: u64,
    /// Lost to random loss.
    pub lost: u64,
    /// Lost to a partition.
    pub blocked: u64,
    /// Delivered twice.
    pub duplicated: u64,
    /// Held back for reordering.
    pub reordered: u64,
    /// Stuck in a stall.
    pub stalled: u64,
}

/// The network. Its random choices come from its own generator, seeded by the world.
#[derive(Debug)]
pub struct Network {
    default: LinkConfig,
    links: BTreeMap<(NodeId, NodeId), LinkConfig>,
    /// Directions that carry nothing: (from, to).
    cut: BTreeSet<(NodeId, NodeId)>,
    rng: Rng,
    stats: NetStats,
}

impl Network {
    /// A network where every link behaves as `default`.
    #[must_use]
    pub fn new(seed: u64, default: LinkConfig) -> Self {
        Network {
            default,
            links: BTreeMap::new(),
            cut: BTreeSet::new(),
            rng: Rng::from_seed(seed),
            stats: NetStats::default(),
        }
    }

    /// The behaviour of links without their own setting.
    pub fn set_default(&mut self, config: LinkConfig) {
        self.default = config;
    }

    /// The default link behaviour.
    #[must_use]
    pub fn default_link(&self) -> LinkConfig {
        self.default
    }

    /// Sets the behaviour of the direction `from → to`.
    pub fn set_link(&mut self, from: NodeId, to: NodeId, config: LinkConfig) {
        self.links.insert((from, to), config);
    }

    /// Every link back to the default behaviour.
    pub fn reset_links(&mut self) {
        self.links.clear();
    }

    /// Cuts both directions between every member of `a` and every member of `b`.
    pub fn partition(&mut self, a: &[NodeId], b: &[NodeId]) {
        self.cut_one_way(a, b);
        self.cut_one_way(b, a);
    }

    /// Cuts only the directions from `from` members to `to` members: `to` still hears nothing
    /// from `from`, while `from` hears `to`.
    pub fn cut_one_way(&mut self, from: &[NodeId], to: &[NodeId]) {
        for &f in from {
            for &t in to {
                if f != t {
                    self.cut.insert((f, t));
                }
            }
        }
    }

    /// Repairs every cut.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// True if `from → to` carries messages.
    #[must_use]
    pub fn connected(&self, from: NodeId, to: NodeId) -> bool {
        !self.cut.contains(&(from, to))
    }

    /// True if some direction is cut.
    #[must_use]
    pub fn is_partitioned(&self) -> bool {
        !self.cut.is_empty()
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Decides the fate of one message `from → to`: the delays after which copies arrive
    /// (none: lost; two: duplicated, unless `may_duplicate` is false).
    pub fn route(
        &mut self,
        from: NodeId,
        to: NodeId,
        may_duplicate: bool,
    ) -> [Option<Duration>; 2] {
        self.stats.sent += 1;
        if !self.connected(from, to) {
            self.stats.blocked += 1;
            return [None, None];
        }
        let link = self.links.get(&(from, to)).copied().unwrap_or(self.default);
        if self.rng.chance(link.loss_per_mille, 1000) {
            self.stats.lost += 1;
            return [None, None];
        }
        let first = Some(self.delay(&link));
        let second = if self.rng.chance(link.duplicate_per_mille, 1000) && may_duplicate {
            self.stats.duplicated += 1;
            Some(self.delay(&link))
        } else {
            None
        };
        [first, second]
    }

    fn delay(&mut self, link: &LinkConfig) -> Duration {
        let mut d = link.latency + draw(&mut self.rng, link.jitter);
        if self.rng.chance(link.reorder_per_mille, 1000) {
            self.stats.reordered += 1;
            d += draw(&mut self.rng, link.reorder_delay);
        }
        if self.rng.chance(link.stall_per_mille, 1000) {
            self.stats.stalled += 1;
            d += draw(&mut self.rng, link.stall);
        }
        d
    }
}

/// A duration drawn uniformly from `[0, max)`.
pub(crate) fn draw(rng: &mut Rng, max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.range_u64(0, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeId = NodeId(1);
    const B: NodeId = NodeId(2);
    const C: NodeId = NodeId(3);

    #[test]
    fn a_reliable_link_delivers_once_within_latency_and_jitter() {
        let mut net = Network::new(1, LinkConfig::reliable());
        for _ in 0..1000 {
            let [first, second] = net.route(A, B, true);
            let d = first.unwrap();
            assert!(d >= Duration::from_millis(1) && d < Duration::from_millis(3), "{d:?}");
            assert!(second.is_none());
        }
        assert_eq!(net.stats().sent, 1000);
        assert_eq!(net.stats().lost + net.stats().duplicated, 0);
    }

    #[test]
    fn a_lossy_link_loses_duplicates_and_reorders_about_as_configured() {
        let mut net = Network::new(2, LinkConfig::lossy());
        for _ in 0..10_000 {
            let _ = net.route(A, B, true);
        }
        let s = net.stats();
        assert!((300..700).contains(&s.lost), "{s:?}");
        assert!((100..300).contains(&s.duplicated), "{s:?}");
        assert!((250..750).contains(&s.reordered), "{s:?}");
        assert!((40..160).contains(&s.stalled), "{s:?}");
    }

    #[test]
    fn partitions_cut_both_ways_one_way_cuts_only_one_and_heal_repairs() {
        let mut net = Network::new(3, LinkConfig::reliable());
        net.partition(&[A], &[B, C]);
        assert_eq!(net.route(A, B, true), [None, None]);
        assert_eq!(net.route(C, A, true), [None, None]);
        assert!(net.route(B, C, true)[0].is_some());
        net.heal();
        assert!(net.route(A, B, true)[0].is_some());
        net.cut_one_way(&[A], &[B]);
        assert_eq!(net.route(A, B, true), [None, None]);
        assert!(net.route(B, A, true)[0].is_some());
        assert_eq!(net.stats().blocked, 3);
    }

    #[test]
    fn per_link_settings_override_the_default() {
        let mut net = Network::new(4, LinkConfig::reliable());
        let slow = LinkConfig { latency: Duration::from_millis(50), ..LinkConfig::reliable() };
        net.set_link(A, B, slow);
        assert!(net.route(A, B, true)[0].unwrap() >= Duration::from_millis(50));
        assert!(net.route(B, A, true)[0].unwrap() < Duration::from_millis(50));
        net.reset_links();
        assert!(net.route(A, B, true)[0].unwrap() < Duration::from_millis(50));
    }

    #[test]
    fn the_same_seed_makes_the_same_choices() {
        let fates = |seed| {
            let mut net = Network::new(seed, LinkConfig::lossy());
            (0..200).map(|_| net.route(A, C, true)).collect::<Vec<_>>()
        };
        assert_eq!(fates(9), fates(9));
        assert_ne!(fates(9), fates(10));
    }
}
