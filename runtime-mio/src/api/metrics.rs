//! `/metrics`: Prometheus text with etcd's metric names, for the values a member can fill.

use std::fmt::Write;

use oxcd_core::node::{ETCD_CLUSTER_VERSION, ETCD_SERVER_VERSION};

/// The values `/metrics` shows, read by the driver when the request arrives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// A leader is known.
    pub has_leader: bool,
    /// This member leads.
    pub is_leader: bool,
    /// Leader changes this process has seen.
    pub leader_changes_seen_total: u64,
    /// Raft commit index.
    pub proposals_committed_total: u64,
    /// Raft applied index.
    pub proposals_applied_total: u64,
    /// Client writes waiting for their answer.
    pub proposals_pending: u64,
    /// Client writes answered with an error.
    pub proposals_failed_total: u64,
    /// Storage file size.
    pub db_total_size_in_bytes: u64,
    /// Storage pages in use.
    pub db_total_size_in_use_in_bytes: u64,
    /// Current key-value revision.
    pub current_revision: i64,
    /// Client connections open.
    pub client_connections: u64,
    /// Watch streams open.
    pub watch_streams: u64,
    /// Storage commits (one per loop turn that had writes).
    pub backend_commits_total: u64,
    /// This member's id.
    pub member_id: u64,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// Renders the exposition text (format 0.0.4), process metrics included where `/proc` has them.
#[must_use]
pub fn render(m: &MetricsSnapshot) -> String {
    let mut out = String::with_capacity(4096);
    let o = &mut out;
    sample(
        o,
        "etcd_server_has_leader",
        "gauge",
        "Whether or not a leader exists. 1 is existence, 0 is not.",
        u8::from(m.has_leader),
    );
    sample(
        o,
        "etcd_server_is_leader",
        "gauge",
        "Whether or not this member is a leader. 1 if is, 0 otherwise.",
        u8::from(m.is_leader),
    );
    sample(
        o,
        "etcd_server_leader_changes_seen_total",
        "counter",
        "The number of leader changes seen.",
        m.leader_changes_seen_total,
    );
    sample(
        o,
        "etcd_server_proposals_committed_total",
        "gauge",
        "The total number of consensus proposals committed.",
        m.proposals_committed_total,
    );
    sample(
        o,
        "etcd_server_proposals_applied_total",
        "gauge",
        "The total number of consensus proposals applied.",
        m.proposals_applied_total,
    );
    sample(
        o,
        "etcd_server_proposals_pending",
        "gauge",
        "The current number of pending proposals to commit.",
        m.proposals_pending,
    );
    sample(
        o,
        "etcd_server_proposals_failed_total",
        "counter",
        "The total number of failed proposals seen.",
        m.proposals_failed_total,
    );
    family(
        o,
        "etcd_server_id",
        "gauge",
        "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
    );
    let _ = writeln!(o, "etcd_server_id{{server_id=\"{:x}\"}} 1", m.member_id);
    family(
        o,
        "etcd_server_version",
        "gauge",
        "Which version is running. 1 for 'server_version' label with current version.",
    );
    let _ = writeln!(o, "etcd_server_version{{server_version=\"{ETCD_SERVER_VERSION}\"}} 1");
    family(
        o,
        "etcd_cluster_version",
        "gauge",
        "Which version is running. 1 for 'cluster_version' label with current cluster version",
    );
    let _ = writeln!(o, "etcd_cluster_version{{cluster_version=\"{ETCD_CLUSTER_VERSION}\"}} 1");
    sample(
        o,
        "etcd_mvcc_db_total_size_in_bytes",
        "gauge",
        "Total size of the underlying database physically allocated in bytes.",
        m.db_total_size_in_bytes,
    );
    sample(
        o,
        "etcd_mvcc_db_total_size_in_use_in_bytes",
        "gauge",
        "Total size of the underlying database logically in use in bytes.",
        m.db_total_size_in_use_in_bytes,
    );
    sample(
        o,
        "etcd_debugging_mvcc_current_revision",
        "gauge",
        "The current revision of store.",
        m.current_revision,
    );
    sample(
        o,
        "etcd_debugging_mvcc_watch_stream_total",
        "gauge",
        "Total number of watch streams.",
        m.watch_streams,
    );
    sample(
        o,
        "etcd_disk_backend_commit_total",
        "counter",
        "Backend commits (oxcd: one per event-loop turn with writes).",
        m.backend_commits_total,
    );
    sample(
        o,
        "etcd_network_client_connections",
        "gauge",
        "Client connections open (oxcd).",
        m.client_connections,
    );
    process_metrics(o);
    out
}

/// `process_*` metrics from `/proc/self` (Linux); nothing elsewhere.
fn process_metrics(out: &mut String) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return };
    // Fields after the command name, which is in parentheses and may contain spaces.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): utime = field 14, stime = 15, starttime = 22, rss = 24.
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let ticks = 100.0; // USER_HZ on Linux
    let page = 4096u64;
    if let (Some(u), Some(s)) = (field(14), field(15)) {
        sample(
            out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            (u + s) as f64 / ticks,
        );
    }
    if let Some(rss) = field(24) {
        sample(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            rss * page,
        );
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        sample(out, "process_open_fds", "gauge", "Number of open file descriptors.", dir.count());
    }
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<u64>().ok()))
    });
    if let (Some(boot), Some(start)) = (boot, field(22)) {
        sample(
            out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            boot as f64 + start as f64 / ticks,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_etcd_names() {
        let text = render(&MetricsSnapshot {
            has_leader: true,
            leader_changes_seen_total: 1,
            db_total_size_in_bytes: 8192,
            member_id: 0x8e9e_05c5_2164_694d,
            ..Default::default()
        });
        assert!(text.contains("\netcd_server_has_leader 1\n"), "{text}");
        assert!(text.contains("\netcd_server_is_leader 0\n"));
        assert!(text.contains("\netcd_server_leader_changes_seen_total 1\n"));
        assert!(text.contains("\netcd_mvcc_db_total_size_in_bytes 8192\n"));
        assert!(text.contains("etcd_server_id{server_id=\"8e9e05c52164694d\"} 1"));
        assert!(text.contains("# TYPE etcd_server_proposals_failed_total counter"));
        if cfg!(target_os = "linux") {
            assert!(text.contains("\nprocess_resident_memory_bytes "), "{text}");
        }
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(!name.is_empty());
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
