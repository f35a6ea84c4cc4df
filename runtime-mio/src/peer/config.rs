//! The configuration of a [`PeerTransport`](super::PeerTransport), validated at construction.

use std::time::Duration;

use oxcd_core::identity::PeerCertRules;
use oxcd_core::NodeId;

use super::{PeerTls, PeerUrl};
use crate::dns::DnsConfig;

/// Configuration of a [`PeerTransport`]; [`PeerTransportConfig::new`] fills the limits with
/// defaults.
#[derive(Clone)]
pub struct PeerTransportConfig {
    /// This member's id.
    pub member_id: NodeId,
    /// The cluster id (derived from `--initial-cluster-token`); peers must match it.
    pub cluster_id: u64,
    /// `--listen-peer-urls`: address literals (port 0 picks one, see
    /// [`PeerTransport::local_addrs`]).
    pub listen_urls: Vec<PeerUrl>,
    /// `--initial-advertise-peer-urls`: the first address literal that is local becomes the
    /// source address of outgoing connections.
    pub advertise_urls: Vec<PeerUrl>,
    /// TLS for `https://` URLs; required when any listen or peer URL is `https://`.
    pub tls: Option<PeerTls>,
    /// etcd's peer certificate rules (`--peer-cert-allowed-cn`, `--peer-cert-allowed-hostname`,
    /// `--peer-skip-client-san-verification`), checked by `oxcd_core::identity` after each TLS
    /// handshake.
    pub cert_rules: PeerCertRules,
    /// Where DNS answers for the certificate checks and named peer URLs come from.
    pub dns: DnsConfig,
    /// First mio token this transport uses.
    pub token_base: usize,
    /// Largest Raft message (and snapshot piece) on the wire.
    pub frame_bytes_max: usize,
    /// Largest snapshot payload given to one `send`.
    pub snapshot_bytes_max: usize,
    /// Snapshot payloads go out in pieces of this size.
    pub snapshot_piece_bytes: usize,
    /// Per peer: Raft message bytes that may wait to be sent.
    pub send_queue_bytes_max: usize,
    /// Per peer: snapshot bytes that may wait to be sent.
    pub snapshot_queue_bytes_max: usize,
    /// Received bytes not yet taken by `poll_incoming` before reading pauses.
    pub incoming_bytes_max: usize,
    /// Open connections, both directions, handshakes included.
    pub connections_max: usize,
    /// Incoming connections still in their handshake.
    pub handshakes_pending_max: usize,
    /// DNS lookups in flight.
    pub lookups_pending_max: usize,
    /// Undrained events kept.
    pub events_max: usize,
    /// First wait after a failed dial.
    pub dial_backoff_min: Duration,
    /// Longest wait between dials.
    pub dial_backoff_max: Duration,
    /// TCP connect + TLS + certificate check (DNS included) + handshake must finish within this.
    pub handshake_timeout: Duration,
    /// An outgoing connection whose queued bytes make no progress for this long is closed.
    pub write_timeout: Duration,
    /// Seed of the jitter generator.
    pub seed: u64,
}

impl std::fmt::Debug for PeerTransportConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTransportConfig")
            .field("member_id", &self.member_id)
            .field("cluster_id", &format_args!("{:x}", self.cluster_id))
            .field("listen_urls", &self.listen_urls)
            .field("advertise_urls", &self.advertise_urls)
            .field("tls", &self.tls.is_some())
            .field("dns", &self.dns)
            .finish_non_exhaustive()
    }
}

impl PeerTransportConfig {
    /// A configuration with default limits, no URLs, no TLS, etcd's certificate rules with no
    /// allowed CN/hostname, and the system's DNS.
    #[must_use]
    pub fn new(member_id: NodeId, cluster_id: u64) -> Self {
        PeerTransportConfig {
            member_id,
            cluster_id,
            listen_urls: Vec::new(),
            advertise_urls: Vec::new(),
            tls: None,
            cert_rules: PeerCertRules::new(Vec::new(), Vec::new()).expect("no allow lists"),
            dns: DnsConfig::System,
            token_base: 1 << 20,
            frame_bytes_max: 16 << 20,
            snapshot_bytes_max: 64 << 20,
            snapshot_piece_bytes: 64 << 10,
            send_queue_bytes_max: 8 << 20,
            snapshot_queue_bytes_max: 64 << 20,
            incoming_bytes_max: 32 << 20,
            connections_max: 256,
            handshakes_pending_max: 64,
            lookups_pending_max: 64,
            events_max: 1024,
            dial_backoff_min: Duration::from_millis(100),
            dial_backoff_max: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            seed: member_id.get(),
        }
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let positive = [
            ("frame_bytes_max", self.frame_bytes_max),
            ("snapshot_piece_bytes", self.snapshot_piece_bytes),
            ("send_queue_bytes_max", self.send_queue_bytes_max),
            ("snapshot_queue_bytes_max", self.snapshot_queue_bytes_max),
            ("incoming_bytes_max", self.incoming_bytes_max),
            ("connections_max", self.connections_max),
            ("handshakes_pending_max", self.handshakes_pending_max),
            ("lookups_pending_max", self.lookups_pending_max),
            ("events_max", self.events_max),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("{name} must be positive"));
            }
        }
        if !self.member_id.is_some() {
            return Err("the member id must not be zero".into());
        }
        if self.frame_bytes_max > u32::MAX as usize - 1 {
            return Err("frame_bytes_max must fit a 32-bit frame length".into());
        }
        if self.snapshot_piece_bytes > self.frame_bytes_max {
            return Err("snapshot_piece_bytes must not exceed frame_bytes_max".into());
        }
        if self.dial_backoff_min.is_zero() || self.dial_backoff_min > self.dial_backoff_max {
            return Err("dial backoff needs 0 < min <= max".into());
        }
        if self.handshake_timeout.is_zero() || self.write_timeout.is_zero() {
            return Err("timeouts must be positive".into());
        }
        for url in &self.listen_urls {
            if url.socket_addr().is_none() {
                return Err(format!("listen URL {url} must have an IP address as host"));
            }
            if url.tls && self.tls.is_none() {
                return Err(format!("listen URL {url} is https but no peer TLS is configured"));
            }
        }
        Ok(())
    }
}

/// The peer transport refused its configuration or could not bind.
#[derive(Debug)]
pub enum PeerTransportError {
    /// A limit or URL that makes no sense.
    Config(String),
    /// A listen URL could not be bound or registered.
    Io(std::io::Error),
}

impl std::fmt::Display for PeerTransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerTransportError::Config(why) => {
                write!(f, "invalid peer transport configuration: {why}")
            }
            PeerTransportError::Io(e) => write!(f, "peer transport: {e}"),
        }
    }
}

impl std::error::Error for PeerTransportError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_limits_are_validated() {
        let ok = PeerTransportConfig::new(NodeId(1), 7);
        assert!(ok.validate().is_ok());
        let mut c = ok.clone();
        c.send_queue_bytes_max = 0;
        assert!(c.validate().unwrap_err().contains("send_queue_bytes_max"));
        let mut c = ok.clone();
        c.member_id = NodeId(0);
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.snapshot_piece_bytes = c.frame_bytes_max + 1;
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.dial_backoff_min = Duration::from_secs(10);
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.listen_urls = vec!["https://127.0.0.1:0".parse().unwrap()];
        assert!(c.validate().unwrap_err().contains("no peer TLS"));
        let mut c = ok;
        c.listen_urls = vec!["http://localhost:2380".parse().unwrap()];
        assert!(c.validate().unwrap_err().contains("IP address"));
    }
}
