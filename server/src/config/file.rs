//! `--config-file`: etcd's YAML configuration file.
//!
//! Keys are etcd's (mostly the flag names); URL lists are comma-separated strings, durations are
//! integer nanoseconds (Go's `time.Duration` through JSON), millisecond settings are integers, and
//! TLS settings sit under `client-transport-security` / `peer-transport-security`. As in etcd,
//! unknown keys are ignored (oxcd notes them in the warnings) and `null` values leave the default.

use super::apply::{apply, ApplyError, Draft};
use super::error::ConfigError;
use super::flags::{FlagSpec, Yaml as Loc, FLAGS};
use super::values::{yaml_type, Value};
use std::path::Path;
use yaml_rust2::{Yaml, YamlLoader};

/// Reads the file and applies every key it sets.
///
/// # Errors
/// The file cannot be read, is not YAML, or a key holds a value of the wrong type or form.
pub(super) fn apply_file(d: &mut Draft, path: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::invalid(format!("open {}: {}", path.display(), io_text(&e))))?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| {
        ConfigError::invalid(format!("config file {}: not valid YAML: {e}", path.display()))
    })?;
    let root = match docs.first() {
        None | Some(Yaml::Null) => return Ok(()),
        Some(Yaml::Hash(h)) => h,
        Some(other) => {
            return Err(ConfigError::invalid(format!(
                "config file {}: expected a mapping of etcd's keys, found {}",
                path.display(),
                yaml_type(other)
            )))
        }
    };
    for (key, value) in root {
        let Some(key) = key.as_str().map(str::to_ascii_lowercase) else { continue };
        match key.as_str() {
            "client-transport-security" | "peer-transport-security" | "socket-options" => {
                let section = key.as_str();
                match value {
                    Yaml::Null => {}
                    Yaml::Hash(inner) => {
                        for (k, v) in inner {
                            let Some(k) = k.as_str().map(str::to_ascii_lowercase) else {
                                continue;
                            };
                            let found = FLAGS.iter().find(|s| match (section, s.yaml) {
                                ("client-transport-security", Loc::Client(n))
                                | ("peer-transport-security", Loc::Peer(n))
                                | ("socket-options", Loc::Socket(n)) => n == k,
                                _ => false,
                            });
                            let full = format!("{section}.{k}");
                            set(d, path, &full, found, v)?;
                        }
                    }
                    other => {
                        return Err(ConfigError::invalid(format!(
                            "config file {}: {section} must be a mapping, not {}",
                            path.display(),
                            yaml_type(other)
                        )))
                    }
                }
            }
            _ => {
                let found = FLAGS.iter().find(|s| match s.yaml {
                    Loc::Same => s.name == key,
                    Loc::Key(k) => k == key,
                    _ => false,
                });
                set(d, path, &key, found, value)?;
            }
        }
    }
    Ok(())
}

fn set(
    d: &mut Draft,
    path: &Path,
    key: &str,
    spec: Option<&'static FlagSpec>,
    value: &Yaml,
) -> Result<(), ConfigError> {
    let Some(spec) = spec else {
        d.cfg.warnings.push(format!("config file {}: unknown key {key:?} ignored", path.display()));
        return Ok(());
    };
    if matches!(value, Yaml::Null) {
        return Ok(());
    }
    apply(d, spec, Value::Yaml(value)).map_err(|e| {
        ConfigError::invalid(match e {
            ApplyError::Type { expected, found } => {
                format!("config file {}: {key} must be {expected}, not {found}", path.display())
            }
            ApplyError::Bad(why) if matches!(spec.kind, super::flags::Kind::Urls) => {
                format!("unexpected error setting up {key}: {why}")
            }
            ApplyError::Bad(why) => format!("config file {}: {key}: {why}", path.display()),
        })
    })
}

/// An IO error the way Go prints it (`no such file or directory`), which is what operators
/// search for.
pub(super) fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => String::from("no such file or directory"),
        std::io::ErrorKind::PermissionDenied => String::from("permission denied"),
        _ => e.to_string(),
    }
}
