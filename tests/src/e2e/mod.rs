//! End-to-end harness: real server processes (oxcd, etcd, or any binary that takes etcd's
//! flags) on loopback addresses, test PKI, the real `etcdctl`, and golden etcdctl transcripts.
//!
//! ```no_run
//! use oxcd_tests::e2e::{Cluster, ClusterConfig, ServerBinary};
//!
//! let binary = ServerBinary::from_env().expect("a server binary");
//! let cluster = Cluster::start(&binary, ClusterConfig::three_tls()).expect("cluster");
//! let out = cluster.etcdctl().run_args(&["put", "foo", "bar"]).expect("etcdctl");
//! assert_eq!(out.stdout_text(), "OK\n");
//! ```
//!
//! Which server runs is chosen by `OXCD_E2E_SERVER` (see [`server`]); `OXCD_E2E_KEEP=1` keeps
//! a cluster's directory (data, logs, certificates) for a look after the test.

pub mod cluster;
pub mod dns;
pub mod etcdctl;
pub mod health;
pub mod member;
pub mod pki;
pub mod ports;
pub mod process;
pub mod scenario;
pub mod server;

pub use cluster::{Cluster, ClusterConfig, ClusterPki};
pub use dns::{DnsServer, Zone};
pub use etcdctl::{Background, CmdOutput, Etcdctl};
pub use health::ClientTls;
pub use member::{ListenerTls, Member, MemberSpec};
pub use pki::{CertFiles, Sans, TestCa};
pub use process::Exit;
pub use server::{ServerBinary, ServerKind};

/// A harness failure, as a message meant for the test log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct E2eError(pub String);

impl std::fmt::Display for E2eError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for E2eError {}
