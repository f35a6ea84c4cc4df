//! Helpers: argument lists, environments, temporary files.

use crate::config::{parse_config, Config, ConfigError};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Parses `oxcd <args>` with the given environment.
pub fn parse_env(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: BTreeMap<String, String> =
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let argv = std::iter::once(OsString::from("oxcd")).chain(args.iter().map(OsString::from));
    parse_config(argv, |k| env.get(k).cloned())
}

/// Parses `oxcd <args>` with an empty environment.
pub fn parse(args: &[&str]) -> Result<Config, ConfigError> {
    parse_env(args, &[])
}

/// The error message, asserting the error kind by exit code.
pub fn fails(args: &[&str], exit_code: i32) -> String {
    match parse(args) {
        Ok(c) => panic!("{args:?} parsed: {c:?}"),
        Err(e) => {
            assert_eq!(e.exit_code(), exit_code, "{args:?}: {e:?}");
            e.message().to_string()
        }
    }
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "oxcd-config-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes a file and returns its path as a string.
    pub fn file(&self, name: &str, contents: &str) -> String {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, contents).unwrap();
        p.to_str().unwrap().to_string()
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The URLs as strings.
pub fn urls(list: &[crate::config::EtcdUrl]) -> Vec<&str> {
    list.iter().map(|u| u.as_str()).collect()
}
