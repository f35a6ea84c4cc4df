//! A deterministic simulator of whole oxcd clusters: the real [`Node`](oxcd_core::node::Node)s,
//! no sockets, no threads, no clock. One seed drives the whole world — a virtual clock and an
//! event queue, a network with latency, jitter, loss, duplication, reordering and partitions, a
//! disk per member (a write-ahead log whose writes survive a crash once an fsync covered them,
//! in front of a slower store), clients that record what they saw — so a run replays exactly
//! from its seed.
//!
//! The simulator is the runtime: after each input it drains the member's outputs and carries
//! them out (sends after network delay; persists to the disk's log, then `handle_logged` and
//! their `then_send` once logged, `handle_persisted` once stored; replies back to the client;
//! the next wake-up from `poll_timeout`), and
//! after each input it checks Raft's safety properties on the member. See
//! [`check`] for the invariants.
//!
//! # A targeted scenario
//!
//! ```
//! use oxcd_tests::sim::{secs, Sim};
//!
//! let mut sim = Sim::new(7, 3);
//! sim.run_for(secs(3));
//! sim.partition(&[1], &[2, 3]);
//! sim.client().put("k", "v").expect_ok();
//! sim.heal();
//! sim.run_for(secs(5));
//! assert_eq!(sim.client().get("k").expect_ok().as_deref(), Some("v"));
//! sim.check().expect("invariants hold");
//! ```
//!
//! # Random runs
//!
//! [`runner`] runs seeds of a [`RunPlan`]: a fault phase (workload plus fault injection), then a
//! healing phase that checks liveness, then the history checks; a failing seed prints the one
//! command that replays it, with the last events. See `docs/simulation.md`.

mod admin;
pub mod check;
mod checks;
#[doc = include_str!("../../../docs/simulation.md")]
pub mod guide {}
pub mod client;
pub mod disk;
pub mod history;
mod liveness;
mod member;
pub mod nemesis;
pub mod net;
mod persist;
mod probe;
pub mod queue;
pub mod runner;
pub mod trace;
mod watch;
pub mod workload;
mod world;

pub use checks::Checks;
pub use client::{Client, ClientError, Reply};
pub use disk::DiskConfig;
pub use history::{History, KvCall, KvReturn, Operation, Outcome};
pub use liveness::LivenessReport;
pub use member::MemberState;
pub use nemesis::NemesisConfig;
pub use net::LinkConfig;
pub use runner::{run_seed, RunPlan, RunStats, SeedSuite};
pub use watch::Watches;
pub use workload::WorkloadConfig;
pub use world::{derive_seed, peer_url, Sim, CLUSTER_ID};

use crate::sim::check::Violation;
use oxcd_core::node::NodeConfig;
use std::fmt;
use std::time::Duration;

/// `n` seconds.
#[must_use]
pub const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `n` milliseconds.
#[must_use]
pub const fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// How a simulated world is built.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Founding members (ids 1..=members).
    pub members: u64,
    /// How links behave by default.
    pub link: LinkConfig,
    /// How disks behave by default.
    pub disk: DiskConfig,
    /// Members' `--heartbeat-interval`.
    pub heartbeat: Duration,
    /// Members' `--election-timeout`.
    pub election_timeout: Duration,
    /// How long a member lets a request wait before "request timed out".
    pub request_timeout: Duration,
    /// One-way client ↔ member delay (plus up to as much jitter).
    pub client_latency: Duration,
    /// How long a client waits for an answer.
    pub client_timeout: Duration,
    /// How often every member's key-value state is compared (zero: never).
    pub sample_interval: Duration,
    /// Events kept for failure reports (zero: none, the fastest).
    pub trace_events: usize,
    /// Last changes to every member's configuration.
    pub tune: fn(&mut NodeConfig),
    /// A member whose `poll_timeout` stays in the past after `handle_timeout` (a runtime would
    /// spin) breaks the driver contract: a violation when true; when false the member is woken
    /// 10 ms later, like a runtime that sleeps at least that long, and it is counted
    /// ([`Sim::stuck_timers`]).
    pub strict_timers: bool,
    /// Auth on (see [`Sim::enable_auth`]): requests carry a client certificate name, the
    /// workload's and watchers' [`WORKLOAD_USER`] (read-write on every key, not root), the
    /// nemesis's, probes' and scenario calls' [`ADMIN_USER`] (root). Off: no identity.
    pub auth: bool,
    /// Confirm a `Persist` that installs a snapshot with `handle_logged` as soon as the disk
    /// logged it, as a log-based runtime may (the default). Off, its `handle_logged` and
    /// every later one's wait until the store holds it (a runtime may do either: the Node holds
    /// Raft back at an install until `handle_persisted`; before it did, the early confirmation
    /// broke state-machine safety, e.g. `sim_snapshots` seeds 18 and 22).
    pub confirm_installs_when_logged: bool,
}

/// The user the workload and the watchers act as when [`SimConfig::auth`] is on.
pub const WORKLOAD_USER: &str = "sim";
/// The user everything else acts as when [`SimConfig::auth`] is on.
pub const ADMIN_USER: &str = "root";

impl SimConfig {
    /// Who a request of `workload` (true) or of anyone else comes from.
    #[must_use]
    pub fn request_meta(&self, workload: bool) -> oxcd_core::node::RequestMeta {
        let user = if workload { WORKLOAD_USER } else { ADMIN_USER };
        oxcd_core::node::RequestMeta {
            cert_common_name: self.auth.then(|| user.to_owned()),
            ..Default::default()
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            members: 3,
            link: LinkConfig::reliable(),
            disk: DiskConfig::fast(),
            heartbeat: Duration::from_millis(100),
            election_timeout: Duration::from_millis(1000),
            request_timeout: Duration::from_secs(3),
            client_latency: Duration::from_millis(1),
            client_timeout: Duration::from_secs(4),
            sample_interval: Duration::from_millis(250),
            trace_events: 400,
            tune: |_| {},
            strict_timers: true,
            auth: false,
            confirm_installs_when_logged: true,
        }
    }
}

/// A broken invariant, with what is needed to replay it.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The seed of the run.
    pub seed: u64,
    /// What broke.
    pub violation: Violation,
    /// The last events before it (empty when tracing was off).
    pub trace: String,
    /// The command that replays the run, when known.
    pub replay: Option<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "simulation seed={} broke an invariant:\n  {}", self.seed, self.violation)?;
        if !self.trace.is_empty() {
            writeln!(f, "last events:\n{}", self.trace)?;
        }
        if let Some(cmd) = &self.replay {
            writeln!(f, "replay with:\n  {cmd}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}
