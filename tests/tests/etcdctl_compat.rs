//! Replays the golden etcdctl transcripts (`tests/testdata/etcdctl/*.txt`, recorded from etcd
//! 3.4) against the server `OXCD_E2E_SERVER` selects, and diffs the normalized output.
//!
//! ```sh
//! # against the real etcd 3.4 (must pass):
//! OXCD_E2E_SERVER=etcd cargo test -p oxcd-tests --test etcdctl_compat -- --ignored
//! # re-record the expectations from etcd:
//! REWRITE=1 OXCD_E2E_SERVER=etcd cargo test -p oxcd-tests --test etcdctl_compat -- --ignored
//! # against oxcd (build it first, same profile):
//! cargo build -p oxcd && cargo test -p oxcd-tests --test etcdctl_compat -- --ignored
//! # one file: OXCD_E2E_SCENARIO=lease
//! ```

use oxcd_tests::e2e::scenario::{run_dir, scenario_dir, Mode};
use oxcd_tests::e2e::ServerBinary;

#[test]
fn etcdctl_transcripts_match_etcd_3_4() {
    let binary = ServerBinary::from_env().unwrap_or_else(|e| panic!("{e}"));
    let mode = Mode::from_env();
    let outcomes = run_dir(&binary, &scenario_dir(), mode).unwrap_or_else(|e| panic!("{e}"));
    assert!(!outcomes.is_empty(), "no scenario files in {}", scenario_dir().display());
    let mut report = String::new();
    let mut failed = 0;
    for outcome in &outcomes {
        let status = if outcome.failures.is_empty() { "ok" } else { "FAILED" };
        let note = if outcome.rewritten { " (rewritten)" } else { "" };
        report.push_str(&format!(
            "{}: {} steps, {status}{note}\n",
            outcome.path.file_name().unwrap_or_default().to_string_lossy(),
            outcome.steps
        ));
        failed += outcome.failures.len();
    }
    eprint!("server {}:\n{report}", binary.label());
    let details: String =
        outcomes.iter().flat_map(|o| o.failures.iter().take(10)).map(ToString::to_string).collect();
    assert_eq!(
        failed, 0,
        "{failed} step(s) differ from etcd 3.4's transcripts:\n{details}\n{report}"
    );
}
