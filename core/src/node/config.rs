//! A member's configuration, as the core needs it (the server maps etcd's flags onto this).

use crate::ids::NodeId;
use crate::mvcc::auto_compact::AutoCompactionMode;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

/// How a member runs. Every limit here is validated by [`NodeConfig::validate`].
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This member's id.
    pub id: NodeId,
    /// The cluster's id (derived from the initial cluster and its token).
    pub cluster_id: u64,
    /// `--name`.
    pub name: String,
    /// `--initial-advertise-peer-urls`: how peers reach this member.
    pub peer_urls: Vec<String>,
    /// `--advertise-client-urls`: how clients reach this member.
    pub client_urls: Vec<String>,
    /// `--heartbeat-interval`: one Raft tick.
    pub heartbeat_interval: Duration,
    /// `--election-timeout`: the minimum election timeout (randomized up to twice as long).
    pub election_timeout: Duration,
    /// Pre-vote (etcd's `--pre-vote`): a partitioned member does not disrupt the cluster.
    pub pre_vote: bool,
    /// Serve linearizable reads from the leader's lease instead of a heartbeat round
    /// (opt-in; relies on bounded clock drift).
    pub lease_reads: bool,
    /// Seed of this member's random generator; the runtime draws it from the OS once per
    /// process start, the simulator from its own seed.
    pub seed: u64,
    /// `--max-request-bytes`: the largest request accepted.
    pub max_request_bytes: usize,
    /// `--max-txn-ops`: the most operations in one Txn.
    pub max_txn_ops: usize,
    /// `--quota-backend-bytes`: the NOSPACE alarm is raised above this.
    pub quota_backend_bytes: u64,
    /// `--snapshot-count`: applied entries kept in the Raft log before it is compacted.
    pub snapshot_count: u64,
    /// `--experimental-snapshot-catchup-entries`: entries kept after a compaction so slightly
    /// slow followers catch up from the log rather than by snapshot.
    pub snapshot_catchup_entries: u64,
    /// Bytes per snapshot chunk sent to a follower.
    pub snapshot_chunk_bytes: usize,
    /// How long a proposed request may wait to be applied before "request timed out".
    pub request_timeout: Duration,
    /// `--auth-token-ttl`.
    pub auth_token_ttl: Duration,
    /// `--strict-reconfig-check`: refuse membership changes that would leave fewer started
    /// members than a quorum.
    pub strict_reconfig_check: bool,
    /// `--experimental-watch-progress-notify-interval`.
    pub watch_progress_notify_interval: Duration,
    /// Requests waiting for apply or a read index, at most.
    pub max_pending_requests: usize,
    /// `--auto-compaction-mode` and `--auto-compaction-retention`; `None`: off.
    pub auto_compaction: Option<AutoCompactionMode>,
}

impl NodeConfig {
    /// etcd's defaults for a member with this id, name and cluster.
    #[must_use]
    pub fn new(id: NodeId, cluster_id: u64, name: &str) -> NodeConfig {
        NodeConfig {
            id,
            cluster_id,
            name: String::from(name),
            peer_urls: Vec::new(),
            client_urls: Vec::new(),
            heartbeat_interval: Duration::from_millis(100),
            election_timeout: Duration::from_millis(1000),
            pre_vote: true,
            lease_reads: false,
            seed: id.0,
            max_request_bytes: 1_572_864,
            max_txn_ops: 128,
            quota_backend_bytes: 2 * 1024 * 1024 * 1024,
            snapshot_count: 100_000,
            snapshot_catchup_entries: 5_000,
            snapshot_chunk_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(7),
            auth_token_ttl: Duration::from_secs(300),
            strict_reconfig_check: true,
            watch_progress_notify_interval: Duration::from_secs(600),
            max_pending_requests: 100_000,
            auto_compaction: None,
        }
    }

    /// Election timeout in Raft ticks (heartbeat intervals).
    #[must_use]
    pub fn election_ticks(&self) -> u32 {
        let ticks = self.election_timeout.as_nanos() / self.heartbeat_interval.as_nanos().max(1);
        u32::try_from(ticks).unwrap_or(u32::MAX)
    }

    /// Checks the limits and their relations, with etcd's rules where it has them.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.id.is_some() {
            return Err(ConfigError("member id must not be zero"));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(ConfigError("heartbeat interval must be positive"));
        }
        if self.election_timeout < self.heartbeat_interval * 5 {
            return Err(ConfigError(
                "election timeout should be at least 5 times the heartbeat interval",
            ));
        }
        if self.election_timeout > Duration::from_secs(50) {
            return Err(ConfigError("election timeout must be at most 50s"));
        }
        if self.max_request_bytes == 0 || self.max_txn_ops == 0 || self.max_pending_requests == 0 {
            return Err(ConfigError("request limits must be positive"));
        }
        if self.snapshot_count == 0 || self.snapshot_chunk_bytes == 0 {
            return Err(ConfigError("snapshot limits must be positive"));
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError("request timeout must be positive"));
        }
        Ok(())
    }
}

/// A configuration the core refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError(pub &'static str);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_etcd() {
        let c = NodeConfig::new(NodeId(1), 7, "default");
        c.validate().unwrap();
        assert_eq!(c.election_ticks(), 10);
        assert_eq!(c.max_request_bytes, 1_572_864);
    }

    #[test]
    fn refuses_a_short_election_timeout() {
        let mut c = NodeConfig::new(NodeId(1), 7, "default");
        c.election_timeout = Duration::from_millis(400);
        assert!(c.validate().is_err());
        c.election_timeout = Duration::from_millis(500);
        assert!(c.validate().is_ok());
        assert!(NodeConfig::new(NodeId(0), 7, "x").validate().is_err());
    }
}
