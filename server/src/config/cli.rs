//! The command line: Go-flag conventions (`-flag` and `--flag`, booleans only as `--flag` or
//! `--flag=value`, parsing stops at the first non-flag) turned into clap arguments, with etcd's
//! error texts.

use super::error::ConfigError;
use super::flags::{spec, FlagSpec, Kind, Section, FLAGS};
use clap::{Arg, ArgAction, Command};
use std::ffi::OsString;

/// What the command line said.
#[derive(Debug, Default)]
pub(super) struct CommandLine {
    /// Flags given, in table order, with their last value.
    pub values: Vec<(&'static FlagSpec, String)>,
    pub help: bool,
    pub version: bool,
}

/// Builds the clap command from the flag table.
pub(super) fn command() -> Command {
    let mut cmd = Command::new("oxcd")
        .about("oxcd: an etcd-compatible, Raft-replicated, mutually-TLS-secured key-value store.")
        .override_usage("oxcd [flags]")
        .disable_help_flag(true)
        .disable_version_flag(true)
        .args_override_self(true)
        .after_long_help(super::help::AFTER_HELP)
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::SetTrue)
                .help("Print this help."),
        )
        .arg(
            Arg::new("version")
                .long("version")
                .action(ArgAction::SetTrue)
                .help("Print the version and exit."),
        );
    for s in FLAGS {
        let shown = match s.kind {
            Kind::Bool | Kind::Legacy => s.default.to_string(),
            _ => format!("'{}'", s.default),
        };
        let mut arg = Arg::new(s.name).long(s.name).action(ArgAction::Set);
        arg = match s.kind {
            Kind::Bool | Kind::Legacy => arg
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .value_name("BOOL"),
            _ => arg.num_args(1).allow_hyphen_values(true).value_name(value_name(s.kind)),
        };
        if s.section == Section::Hidden {
            arg = arg.hide(true);
        } else {
            let help = if s.default.is_empty() {
                s.help.to_string()
            } else {
                format!("{} [default: {shown}]", s.help)
            };
            arg = arg.help(help).help_heading(s.section.title());
        }
        cmd = cmd.arg(arg);
    }
    cmd
}

fn value_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Uint | Kind::Int => "N",
        Kind::Duration => "DURATION",
        Kind::Urls => "URLS",
        Kind::List | Kind::CommaList => "LIST",
        _ => "VALUE",
    }
}

/// Splits the arguments (program name first) into flags and values.
///
/// # Errors
/// `Usage` (exit 2) for what Go's flag package refuses: an unknown flag, a missing value, bad
/// syntax. `Invalid` (exit 1) for a stray positional argument, as etcd reports it.
pub(super) fn tokenize(args: Vec<OsString>) -> Result<CommandLine, ConfigError> {
    let mut args = args.into_iter();
    let program = args.next().unwrap_or_else(|| OsString::from("oxcd"));
    let mut normalized = vec![program];
    let mut expecting_value = false;
    let mut positional: Option<String> = None;
    for (i, arg) in args.enumerate() {
        let Some(arg) = arg.to_str().map(str::to_string) else {
            return Err(ConfigError::Usage(format!("argument {} is not valid UTF-8", i + 1)));
        };
        if expecting_value {
            normalized.push(arg.into());
            expecting_value = false;
            continue;
        }
        if arg == "--" {
            break; // Go's terminator: what follows is positional
        }
        if !arg.starts_with('-') || arg == "-" {
            positional = Some(arg);
            break; // Go stops at the first non-flag
        }
        let dashes = if arg.starts_with("--") { 2 } else { 1 };
        let body = &arg[dashes..];
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(ConfigError::Usage(format!("bad flag syntax: {arg}")));
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        match name {
            "h" | "help" => normalized.push("--help".into()),
            "version" => match value.map(super::values::parse_bool) {
                None | Some(Some(true)) => normalized.push("--version".into()),
                Some(Some(false)) => {}
                Some(None) => {
                    return Err(ConfigError::Usage(format!(
                        "invalid boolean value {:?} for -version: parse error",
                        value.unwrap_or_default()
                    )))
                }
            },
            _ => {
                let Some(s) = spec(name) else {
                    return Err(ConfigError::Usage(format!(
                        "flag provided but not defined: -{name}"
                    )));
                };
                if let (Kind::Bool, Some(v)) = (s.kind, value) {
                    if super::values::parse_bool(v).is_none() {
                        return Err(ConfigError::Usage(format!(
                            "invalid boolean value {v:?} for -{name}: parse error"
                        )));
                    }
                }
                expecting_value = value.is_none() && !matches!(s.kind, Kind::Bool | Kind::Legacy);
                normalized.push(format!("--{body}").into());
            }
        }
    }
    if expecting_value {
        let last = normalized.last().and_then(|a| a.to_str()).unwrap_or("").trim_start_matches('-');
        return Err(ConfigError::Usage(format!("flag needs an argument: -{last}")));
    }
    let matches = command()
        .try_get_matches_from(normalized)
        .map_err(|e| ConfigError::Usage(e.render().to_string().trim_end().to_string()))?;
    let mut out = CommandLine {
        help: matches.get_flag("help"),
        version: matches.get_flag("version"),
        values: Vec::new(),
    };
    for s in FLAGS {
        if let Some(v) = matches.get_one::<String>(s.name) {
            out.values.push((s, v.clone()));
        }
    }
    if let Some(p) = positional.filter(|_| !out.help) {
        return Err(ConfigError::Invalid(match p.as_str() {
            "gateway" | "grpc-proxy" => {
                format!("'oxcd {p}' is not supported: oxcd runs only as a member")
            }
            _ => format!("'{p}' is not a valid flag"),
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(args: &[&str]) -> Result<CommandLine, ConfigError> {
        let mut v = vec![OsString::from("oxcd")];
        v.extend(args.iter().map(OsString::from));
        tokenize(v)
    }

    fn value(cl: &CommandLine, name: &str) -> Option<String> {
        cl.values.iter().find(|(s, _)| s.name == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn go_flag_forms() {
        let cl =
            tok(&["-name", "a", "--data-dir=/d", "-client-cert-auth", "--peer-auto-tls=false"])
                .unwrap();
        assert_eq!(value(&cl, "name").as_deref(), Some("a"));
        assert_eq!(value(&cl, "data-dir").as_deref(), Some("/d"));
        assert_eq!(value(&cl, "client-cert-auth").as_deref(), Some("true"));
        assert_eq!(value(&cl, "peer-auto-tls").as_deref(), Some("false"));
        assert_eq!(value(&cl, "wal-dir"), None);
    }

    #[test]
    fn last_value_wins_and_values_may_look_like_flags() {
        let cl = tok(&["--name", "a", "--name", "b", "--initial-cluster-token", "-x"]).unwrap();
        assert_eq!(value(&cl, "name").as_deref(), Some("b"));
        assert_eq!(value(&cl, "initial-cluster-token").as_deref(), Some("-x"));
        let empty = tok(&["--name="]).unwrap();
        assert_eq!(value(&empty, "name").as_deref(), Some(""));
    }

    #[test]
    fn etcd_usage_errors() {
        let cases: [(&[&str], ConfigError); 6] = [
            (&["--bogus"], ConfigError::Usage("flag provided but not defined: -bogus".into())),
            (&["-bogus=1"], ConfigError::Usage("flag provided but not defined: -bogus".into())),
            (&["--name"], ConfigError::Usage("flag needs an argument: -name".into())),
            (&["---name"], ConfigError::Usage("bad flag syntax: ---name".into())),
            (
                &["--client-cert-auth=yes"],
                ConfigError::Usage(
                    "invalid boolean value \"yes\" for -client-cert-auth: parse error".into(),
                ),
            ),
            // A boolean does not take the next argument: "true" is then a stray argument.
            (
                &["--client-cert-auth", "true"],
                ConfigError::Invalid("'true' is not a valid flag".into()),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(tok(args).unwrap_err(), want, "{args:?}");
        }
        assert_eq!(tok(&["gateway"]).unwrap_err().exit_code(), 1);
    }

    #[test]
    fn help_and_version_are_recognised() {
        assert!(tok(&["-h"]).unwrap().help);
        assert!(tok(&["--help"]).unwrap().help);
        assert!(tok(&["-help"]).unwrap().help);
        assert!(tok(&["--version"]).unwrap().version);
        let legacy = tok(&["--v"]).unwrap();
        assert_eq!(value(&legacy, "v").as_deref(), Some("true"));
    }

    #[test]
    fn clap_command_is_consistent() {
        command().debug_assert();
    }
}
