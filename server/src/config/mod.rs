//! etcd's command line, `ETCD_*` environment variables and `--config-file`, parsed into one
//! validated [`Config`].
//!
//! Precedence is etcd's:
//! 1. The command line is parsed first (an unknown flag or a malformed value fails here, exit 2,
//!    even when a config file will be used).
//! 2. If `--config-file` (or, when that flag is absent, `ETCD_CONFIG_FILE`) names a file, the file
//!    alone configures the member: other flags and `ETCD_*` variables are ignored (a warning lists
//!    the ignored flags).
//! 3. Otherwise each flag not given on the command line is read from `ETCD_<FLAG_NAME>` (empty
//!    values are skipped). A flag given both ways is an error, as in etcd 3.4 and 3.5 ("conflicting
//!    environment variable ... is shadowed").
//! 4. Validation in etcd's order, with etcd's texts (exit 1).
//!
//! The only IO is reading the config file and checking that referenced TLS files exist.

// The server that reads most of these fields is being written; until it lands the binary uses only
// part of this module.
#![allow(dead_code, unused_imports)]

mod apply;
mod cli;
mod error;
mod file;
mod flags;
mod help;
mod ids;
mod model;
mod tls;
mod url;
mod validate;
mod values;

pub use error::ConfigError;
pub use ids::{cluster_id, member_id, ClusterId, Derived, InitialMember};
pub use model::{
    AuthConfig, AuthToken, AutoCompaction, ClusterConfig, ClusterState, Config, ExperimentalConfig,
    LogConfig, LogLevel, MemberConfig, MetricsConfig, Runtime, TlsCommon, TlsConfig, TlsVersion,
    DEFAULT_QUOTA_BACKEND_BYTES, ETCD_COMPAT_VERSION, MAX_QUOTA_BACKEND_BYTES,
};
pub use tls::GO_CIPHER_SUITES;
pub use url::{EtcdUrl, InitialCluster, UrlScheme};
pub use validate::MAX_ELECTION_TIMEOUT_MS;

use apply::{apply as apply_value, ApplyError, Draft};
use flags::{env_name, FlagSpec, Kind, FLAGS};
use std::ffi::OsString;
use std::path::PathBuf;
use values::Value;

/// Parses a command line (program name first, as `std::env::args_os()` yields it) with `env`
/// answering for environment variables, into a validated configuration.
///
/// # Errors
/// [`ConfigError::Help`] / [`ConfigError::Version`] for `--help` / `--version` (print, exit 0);
/// [`ConfigError::Usage`] for what etcd's flag parser refuses (exit 2); [`ConfigError::Invalid`]
/// for values that do not make a valid member or that oxcd does not support (exit 1).
pub fn parse_config(
    args: impl IntoIterator<Item = OsString>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let cli = cli::tokenize(args.into_iter().collect())?;
    if cli.help {
        return Err(ConfigError::Help(help::help_text()));
    }
    let mut from_flags = Draft::new();
    for (spec, value) in &cli.values {
        apply_value(&mut from_flags, spec, Value::Text(value)).map_err(|e| {
            ConfigError::Usage(flag_error(spec, &format!("-{}", spec.name), value, e))
        })?;
    }
    if cli.version {
        return Err(ConfigError::Version(help::version_text()));
    }
    let config_file = from_flags
        .cfg
        .config_file
        .clone()
        .or_else(|| env(&env_name("config-file")).filter(|v| !v.is_empty()).map(PathBuf::from));
    let Some(path) = config_file else {
        apply_env(&mut from_flags, &env)?;
        return validate::finish(from_flags, false);
    };
    let mut d = Draft::new();
    file::apply_file(&mut d, &path)?;
    let ignored: Vec<String> = cli
        .values
        .iter()
        .filter(|(s, _)| s.name != "config-file")
        .map(|(s, _)| format!("--{}", s.name))
        .collect();
    if !ignored.is_empty() {
        d.cfg.warnings.push(format!(
            "loaded server configuration from {}; command line flags ignored: {}",
            path.display(),
            ignored.join(" ")
        ));
    }
    // `--print-config` is a command, not configuration: it works with a file too.
    d.cfg.print_config = from_flags.cfg.print_config;
    d.cfg.config_file = Some(path);
    validate::finish(d, true)
}

/// etcd's `SetFlagsFromEnv`: every flag not on the command line may come from `ETCD_<NAME>`.
fn apply_env(d: &mut Draft, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    let on_command_line = d.set.clone();
    for spec in FLAGS.iter().filter(|s| s.name != "config-file") {
        let key = env_name(spec.name);
        let Some(value) = env(&key) else { continue };
        if on_command_line.contains(spec.name) {
            return Err(ConfigError::invalid(format!(
                "conflicting environment variable {key:?} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)"
            )));
        }
        if value.is_empty() {
            continue;
        }
        apply_value(d, spec, Value::Text(&value))
            .map_err(|e| ConfigError::invalid(flag_error(spec, &key, &value, e)))?;
    }
    Ok(())
}

/// Go's flag package wording: `invalid value "x" for flag -name: reason`, and for booleans
/// `invalid boolean value "x" for -name: parse error`. For variables etcd names the variable.
fn flag_error(spec: &FlagSpec, source: &str, value: &str, e: ApplyError) -> String {
    let why = match e {
        ApplyError::Bad(why) => why,
        ApplyError::Type { expected, .. } => format!("expected {expected}"),
    };
    match (spec.kind, source.starts_with('-')) {
        (Kind::Bool, true) => format!("invalid boolean value {value:?} for {source}: {why}"),
        (_, true) => format!("invalid value {value:?} for flag {source}: {why}"),
        (_, false) => format!("invalid value {value:?} for {source}: {why}"),
    }
}
