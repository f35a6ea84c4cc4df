//! `--help` and `--version` texts.

use super::model::ETCD_COMPAT_VERSION;

/// Printed after a usage error, as etcd prints its usage lines.
pub(super) const USAGE: &str = "Usage:

  oxcd [flags]
    Start an oxcd member (etcd's flags, ETCD_* variables or --config-file).

  oxcd --version
    Show the version of oxcd and the etcd API it implements.

  oxcd -h | --help
    Show the flags.

  oxcd --config-file FILE
    Read etcd's YAML configuration file; other flags and ETCD_* variables are then ignored.";

/// Appended to `--help`.
pub(super) const AFTER_HELP: &str =
    "Every flag can also be given as an environment variable: ETCD_ followed by the flag name in \
upper case with '-' as '_' (--initial-cluster-token is ETCD_INITIAL_CLUSTER_TOKEN). Setting both \
the flag and its variable is an error, as in etcd. With --config-file (or ETCD_CONFIG_FILE) the \
file alone configures the member.

Booleans are written --flag or --flag=true|false (not '--flag true'); durations as 5s, 100ms, 2h; \
URL lists comma-separated. Flags marked 'ignored' are accepted so that etcd's unit files work \
unchanged; docs/flags.md says what each flag does in oxcd.";

/// The `--help` text.
pub(super) fn help_text() -> String {
    let mut cmd = super::cli::command();
    format!("{}\n", cmd.render_long_help())
}

/// The `--version` block: oxcd's version first, then the etcd API it implements, in etcd's
/// `Key: value` layout so scripts that read `etcd --version` find familiar lines.
pub(super) fn version_text() -> String {
    format!(
        "oxcd Version: {}\netcd API Version: {}\nGit SHA: {}\nOS/Arch: {}/{}\n",
        env!("CARGO_PKG_VERSION"),
        ETCD_COMPAT_VERSION,
        option_env!("OXCD_GIT_SHA").unwrap_or("not recorded"),
        std::env::consts::OS,
        std::env::consts::ARCH,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_visible_flags_with_sections() {
        let h = help_text();
        for s in super::super::flags::FLAGS {
            let shown =
                h.contains(&format!("--{} ", s.name)) || h.contains(&format!("--{}[", s.name));
            let hidden = s.section == super::super::flags::Section::Hidden;
            assert_eq!(shown, !hidden, "--{} in help: {shown}", s.name);
        }
        assert!(h.contains("Clustering:"));
        assert!(h.contains("ETCD_INITIAL_CLUSTER_TOKEN"));
        assert!(h.contains("[default: 'http://localhost:2380']"));
    }

    #[test]
    fn version_names_both_versions() {
        let v = version_text();
        assert!(v.starts_with(&format!("oxcd Version: {}\n", env!("CARGO_PKG_VERSION"))));
        assert!(v.contains("etcd API Version: 3.5.0\n"));
    }
}
