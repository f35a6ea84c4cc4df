//! Logging: etcd-like lines on stderr (`--log-outputs default|stderr`), or stdout, at
//! `--log-level`.

use crate::config::{Config, LogLevel};
use tracing_subscriber::filter::LevelFilter;

/// Installs the global subscriber. Files and systemd/journal outputs fall back to stderr.
pub fn init_logging(config: &Config) {
    let level = match config.log.level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error | LogLevel::Fatal => LevelFilter::ERROR,
    };
    let stdout = config.log.outputs.iter().any(|o| o == "stdout");
    let builder =
        tracing_subscriber::fmt().with_max_level(level).with_target(false).with_ansi(false);
    let result = if stdout {
        builder.with_writer(std::io::stdout).try_init()
    } else {
        builder.with_writer(std::io::stderr).try_init()
    };
    if result.is_err() {
        eprintln!("oxcd: a logger was already installed");
    }
}
