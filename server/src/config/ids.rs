//! etcd's member and cluster ids, derived from the bootstrap flags exactly as etcd derives them,
//! so an oxcd cluster bootstrapped from a guide's flags has the ids etcd would have given it.
//!
//! - member id: the first 8 bytes (big-endian) of SHA-1 over the member's peer URLs (sorted,
//!   concatenated without separator), then the cluster token, then — only for members added at
//!   runtime — the decimal Unix time in seconds;
//! - cluster id: the first 8 bytes of SHA-1 over the member ids, sorted ascending, each as 8
//!   big-endian bytes.

use super::model::{ClusterState, Config};
use oxcd_core::ids::NodeId;
use ring::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY};
use std::fmt;

/// etcd's cluster id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterId(pub u64);

impl fmt::Display for ClusterId {
    /// Lower-case hex without padding, as etcd prints ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

fn first_8_bytes_of_sha1(data: &[u8]) -> u64 {
    let d = digest(&SHA1_FOR_LEGACY_USE_ONLY, data);
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_ref()[..8]);
    u64::from_be_bytes(b)
}

/// etcd's `computeMemberId`: `now_unix_secs` is `None` at bootstrap and the current time for a
/// member added at runtime.
#[must_use]
pub fn member_id<S: AsRef<str>>(
    peer_urls: &[S],
    cluster_token: &str,
    now_unix_secs: Option<i64>,
) -> NodeId {
    let mut urls: Vec<&str> = peer_urls.iter().map(AsRef::as_ref).collect();
    urls.sort_unstable();
    let mut input = urls.concat().into_bytes();
    input.extend_from_slice(cluster_token.as_bytes());
    if let Some(t) = now_unix_secs {
        input.extend_from_slice(t.to_string().as_bytes());
    }
    NodeId(first_8_bytes_of_sha1(&input))
}

/// etcd's `RaftCluster.genID`.
#[must_use]
pub fn cluster_id(member_ids: impl IntoIterator<Item = NodeId>) -> ClusterId {
    let mut ids: Vec<u64> = member_ids.into_iter().map(NodeId::get).collect();
    ids.sort_unstable();
    let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
    ClusterId(first_8_bytes_of_sha1(&bytes))
}

/// One member of `--initial-cluster` with its derived id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialMember {
    /// Its name.
    pub name: String,
    /// Its id.
    pub id: NodeId,
    /// Its peer URLs, sorted.
    pub peer_urls: Vec<String>,
}

/// What the server computes from the configuration before it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Derived {
    /// `--election-timeout` / `--heartbeat-interval`, in heartbeat ticks (etcd's integer
    /// division).
    pub election_ticks: u32,
    /// `--initial-cluster` with ids, sorted by id.
    pub initial_members: Vec<InitialMember>,
    /// This member's id when bootstrapping a new cluster. `None` when joining an existing one:
    /// the running cluster assigned it (with a time-based id) and tells it.
    pub local_member_id: Option<NodeId>,
    /// The cluster id when bootstrapping a new cluster; `None` when joining (learned from peers).
    pub cluster_id: Option<ClusterId>,
}

impl Config {
    /// The ids and tick counts the server needs, computed from the validated flags.
    #[must_use]
    pub fn derived(&self) -> Derived {
        let token = &self.cluster.initial_cluster_token;
        let mut initial_members: Vec<InitialMember> = self
            .cluster
            .initial_cluster
            .iter()
            .map(|(name, urls)| {
                let peer_urls: Vec<String> = urls.iter().map(|u| u.as_str().to_string()).collect();
                InitialMember {
                    name: name.to_string(),
                    id: member_id(&peer_urls, token, None),
                    peer_urls,
                }
            })
            .collect();
        initial_members.sort_by_key(|m| m.id);
        let new = self.cluster.initial_cluster_state == ClusterState::New;
        let local_member_id = initial_members
            .iter()
            .find(|m| m.name == self.member.name)
            .map(|m| m.id)
            .filter(|_| new);
        let cluster_id = new.then(|| cluster_id(initial_members.iter().map(|m| m.id)));
        let heartbeat_ms = self.member.heartbeat_interval.as_millis().max(1);
        let election_ticks = u32::try_from(self.member.election_timeout.as_millis() / heartbeat_ms)
            .unwrap_or(u32::MAX);
        Derived { election_ticks, initial_members, local_member_id, cluster_id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values printed by etcd 3.4.23 ("starting member ... in cluster ...", "added member ...")
    // when started with the same flags.

    #[test]
    fn etcd_default_single_member() {
        let m = member_id(&["http://localhost:2380"], "etcd-cluster", None);
        assert_eq!(format!("{:x}", m.get()), "8e9e05c52164694d");
        assert_eq!(cluster_id([m]).to_string(), "cdf818194e3a8c32");
    }

    #[test]
    fn etcd_three_members() {
        let token = "etcd-cluster-1";
        let ids = [
            ("https://127.0.0.1:2380", "e92d66acd89ecf29"),
            ("https://127.0.0.2:2380", "368667197b17ac2c"),
            ("https://127.0.0.3:2380", "a25c1f9b17b2e783"),
        ];
        let mut all = Vec::new();
        for (url, want) in ids {
            let id = member_id(&[url], token, None);
            assert_eq!(format!("{:x}", id.get()), want, "{url}");
            all.push(id);
        }
        all.reverse(); // order of input must not matter
        assert_eq!(cluster_id(all).to_string(), "aa01b1e18383df62");
    }

    #[test]
    fn etcd_member_with_two_urls() {
        // Peer URLs are sorted before hashing, whatever order they were given in.
        let m1 = member_id(&["http://localhost:2380", "http://127.0.0.1:2380"], "tok", None);
        assert_eq!(format!("{:x}", m1.get()), "fe5a7bed45b74e40");
        let m2 = member_id(&["http://127.0.0.2:2380"], "tok", None);
        assert_eq!(format!("{:x}", m2.get()), "6900051e73e7c254");
        assert_eq!(cluster_id([m1, m2]).to_string(), "a20423a92d941030");
    }

    #[test]
    fn runtime_added_members_mix_in_the_time() {
        let a = member_id(&["http://10.0.0.4:2380"], "etcd-cluster", Some(1_700_000_000));
        let b = member_id(&["http://10.0.0.4:2380"], "etcd-cluster", Some(1_700_000_001));
        let c = member_id(&["http://10.0.0.4:2380"], "etcd-cluster", None);
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn derived_from_the_default_config() {
        let d = Config::default().derived();
        assert_eq!(d.election_ticks, 10);
        assert_eq!(
            d.local_member_id.map(|i| format!("{:x}", i.get())).as_deref(),
            Some("8e9e05c52164694d")
        );
        assert_eq!(d.cluster_id, Some(ClusterId(0xcdf8_1819_4e3a_8c32)));
        assert_eq!(d.initial_members.len(), 1);
    }
}
