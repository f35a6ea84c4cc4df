//! Which server binary the end-to-end tests start: `OXCD_E2E_SERVER`.
//!
//! - `etcd`: the real etcd, `/usr/bin/etcd` (or `OXCD_E2E_ETCD_BIN`).
//! - `oxcd` or unset: the workspace's own `oxcd`, found next to the running test binary
//!   (`target/<profile>/oxcd`, the profile the tests were built with), else in
//!   `target/release` or `target/debug` (under `CARGO_TARGET_DIR` when set). It is not built
//!   for you: `cargo build -p oxcd` (add `--release` for `cargo test --release`) first.
//! - anything containing a `/`: that binary, which must take etcd's flags.

use std::path::{Path, PathBuf};

/// The environment variable that picks the server.
pub const SERVER_ENV: &str = "OXCD_E2E_SERVER";
/// Overrides the path of the real etcd.
pub const ETCD_BIN_ENV: &str = "OXCD_E2E_ETCD_BIN";
/// Where Debian's `etcd-server` package installs etcd.
pub const DEFAULT_ETCD_BIN: &str = "/usr/bin/etcd";

/// The kind of server under test; it decides nothing but labels and the binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// The real etcd.
    Etcd,
    /// The workspace's `oxcd`.
    Oxcd,
    /// Another etcd-compatible binary.
    Other,
}

/// A server binary to start members from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerBinary {
    /// What it is.
    pub kind: ServerKind,
    /// Its path.
    pub path: PathBuf,
}

impl ServerBinary {
    /// The real etcd (`OXCD_E2E_ETCD_BIN` or `/usr/bin/etcd`).
    ///
    /// # Errors
    /// When the file does not exist.
    pub fn etcd() -> Result<Self, String> {
        let path = std::env::var_os(ETCD_BIN_ENV)
            .map_or_else(|| PathBuf::from(DEFAULT_ETCD_BIN), PathBuf::from);
        if !path.is_file() {
            return Err(format!(
                "etcd not found at {} (Debian: apt-get install etcd-server; or set {ETCD_BIN_ENV})",
                path.display()
            ));
        }
        Ok(Self { kind: ServerKind::Etcd, path })
    }

    /// The workspace's `oxcd` binary, located as the module documentation says.
    ///
    /// # Errors
    /// When no built `oxcd` is found; the message says how to build it.
    pub fn oxcd() -> Result<Self, String> {
        let candidates = oxcd_candidates();
        for path in &candidates {
            if path.is_file() {
                return Ok(Self { kind: ServerKind::Oxcd, path: path.clone() });
            }
        }
        let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        Err(format!(
            "the oxcd server binary is not built (looked at {}); run `cargo build -p oxcd` \
             (with --release for release tests), or set {SERVER_ENV}=etcd to test the real etcd",
            tried.join(", ")
        ))
    }

    /// The binary `OXCD_E2E_SERVER` selects (see the module documentation).
    ///
    /// # Errors
    /// When the selected binary cannot be found.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(SERVER_ENV).ok().as_deref() {
            None | Some("" | "oxcd") => Self::oxcd(),
            Some("etcd") => Self::etcd(),
            Some(path) if path.contains('/') => {
                let path = PathBuf::from(path);
                if path.is_file() {
                    Ok(Self { kind: ServerKind::Other, path })
                } else {
                    Err(format!("{SERVER_ENV}={} does not exist", path.display()))
                }
            }
            Some(other) => {
                Err(format!("{SERVER_ENV}={other}: expected `etcd`, `oxcd` or a path to a binary"))
            }
        }
    }

    /// A short label for messages and reports.
    pub fn label(&self) -> String {
        match self.kind {
            ServerKind::Etcd => "etcd".to_owned(),
            ServerKind::Oxcd => "oxcd".to_owned(),
            ServerKind::Other => self.path.display().to_string(),
        }
    }
}

/// Where `oxcd` may be, best first.
fn oxcd_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    // A test binary lives in target/<profile>/deps/; the bin of the same profile one level up.
    if let Ok(exe) = std::env::current_exe() {
        if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
            out.push(profile_dir.join("oxcd"));
        }
        if let Some(profile_dir) = exe.parent() {
            out.push(profile_dir.join("oxcd"));
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"),
        PathBuf::from,
    );
    out.push(target.join("release").join("oxcd"));
    out.push(target.join("debug").join("oxcd"));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oxcd_is_looked_for_under_the_workspace_target_dir() {
        let candidates = oxcd_candidates();
        assert!(candidates
            .iter()
            .any(|p| p.ends_with("target/debug/oxcd")
                || std::env::var_os("CARGO_TARGET_DIR").is_some()));
        assert!(candidates.iter().all(|p| p.file_name().unwrap() == "oxcd"));
    }
}
