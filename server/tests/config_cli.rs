//! The `oxcd` binary's exit codes and output for configuration outcomes, as etcd's.

use std::process::{Command, Output};

fn oxcd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oxcd"))
        .args(args)
        .env_clear()
        .output()
        .expect("the oxcd binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn unknown_flag_exits_2_with_usage() {
    let out = oxcd(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("flag provided but not defined: -bogus\nUsage:"), "{err}");
}

#[test]
fn invalid_configuration_exits_1() {
    let out = oxcd(&["--election-timeout", "400"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "oxcd: error verifying flags, --election-timeout[400ms] should be at least as 5 times as --heartbeat-interval[100ms]. See 'oxcd --help'."
    );
}

#[test]
fn help_and_version_exit_0_on_stdout() {
    let help = oxcd(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let h = text(&help.stdout);
    assert!(h.contains("--initial-cluster-token"), "{h}");
    assert!(h.contains("Security:"));
    let version = oxcd(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert!(text(&version.stdout).starts_with("oxcd Version: "));
}

#[test]
fn print_config_shows_the_derived_ids() {
    let out = oxcd(&["--print-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    // 0x8e9e05c52164694d, etcd's default member id, printed in decimal by NodeId's Debug.
    assert!(s.contains(&0x8e9e_05c5_2164_694d_u64.to_string()), "{s}");
}

#[test]
fn environment_reaches_the_binary() {
    let out = Command::new(env!("CARGO_BIN_EXE_oxcd"))
        .args(["--print-config"])
        .env_clear()
        .env("ETCD_NAME", "from-env")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("\"from-env\""));
}
