//! What `parse_config` returns instead of a `Config`, and the exit code etcd uses for each.

use std::fmt;

/// Why no configuration came out of the command line. `Help` and `Version` are not failures:
/// they carry the text to print on stdout and exit 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `-h` / `--help`: the flags reference.
    Help(String),
    /// `--version`: the version block.
    Version(String),
    /// The command line could not be tokenised: unknown flag, missing or malformed value.
    /// etcd's Go flag package reports these and exits 2.
    Usage(String),
    /// The values parsed but do not make a valid member (or ask for something oxcd does not
    /// support). etcd reports these as "error verifying flags" and exits 1.
    Invalid(String),
}

impl ConfigError {
    /// The process exit code etcd uses for this outcome.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Help(_) | ConfigError::Version(_) => 0,
            ConfigError::Usage(_) => 2,
            ConfigError::Invalid(_) => 1,
        }
    }

    /// The message or text, without decoration.
    #[must_use]
    pub fn message(&self) -> &str {
        match self {
            ConfigError::Help(s)
            | ConfigError::Version(s)
            | ConfigError::Usage(s)
            | ConfigError::Invalid(s) => s,
        }
    }

    /// Prints the outcome where etcd prints it: help and version on stdout, errors on stderr.
    pub fn report(&self) {
        match self {
            ConfigError::Help(s) | ConfigError::Version(s) => print!("{s}"),
            ConfigError::Usage(s) => eprintln!("{s}\n{}", super::help::USAGE),
            ConfigError::Invalid(s) => {
                eprintln!("oxcd: error verifying flags, {s}. See 'oxcd --help'.");
            }
        }
    }

    pub(super) fn invalid(s: impl Into<String>) -> ConfigError {
        ConfigError::Invalid(s.into())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_etcd() {
        assert_eq!(ConfigError::Usage("x".into()).exit_code(), 2);
        assert_eq!(ConfigError::Invalid("x".into()).exit_code(), 1);
        assert_eq!(ConfigError::Help("x".into()).exit_code(), 0);
        assert_eq!(ConfigError::Version("v".into()).to_string(), "v");
    }
}
