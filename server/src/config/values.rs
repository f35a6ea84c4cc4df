//! Value parsers with Go's syntax (etcd parses flags with Go's `flag` and `strconv` packages), and
//! the two shapes a value arrives in: text (command line, environment) or a YAML node.

use super::flags::Kind;
use std::time::Duration;
use yaml_rust2::Yaml;

/// A value before typing.
#[derive(Clone, Copy, Debug)]
pub(super) enum Value<'a> {
    /// From the command line or an `ETCD_*` variable.
    Text(&'a str),
    /// From the config file.
    Yaml(&'a Yaml),
}

/// Go's `strconv.ParseBool`.
pub(super) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`: decimal, `0x`/`0o`/`0b` prefixes, a bare leading `0` for
/// octal, and `_` between digits when a base prefix (or the leading 0) is present.
pub(super) fn parse_uint(s: &str) -> Option<u64> {
    let (digits, radix, prefixed) = if let Some(r) = strip_prefix_ci(s, "0x") {
        (r, 16, true)
    } else if let Some(r) = strip_prefix_ci(s, "0o") {
        (r, 8, true)
    } else if let Some(r) = strip_prefix_ci(s, "0b") {
        (r, 2, true)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8, true)
    } else {
        (s, 10, false)
    };
    if digits.is_empty() || (!prefixed && digits.contains('_')) {
        return None;
    }
    // Go allows `_` right after a base prefix (`0x_ff`) and between digits, nowhere else.
    if digits.ends_with('_') || digits.contains("__") || (!prefixed && digits.starts_with('_')) {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    u64::from_str_radix(&clean, radix).ok()
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
pub(super) fn parse_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = parse_uint(rest)?;
    if neg {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units (`ns`, `us`, `µs`, `ms`,
/// `s`, `m`, `h`), or a bare `0`. Negative durations are refused (etcd has no use for them).
pub(super) fn parse_duration(s: &str) -> Option<Duration> {
    let body = s.strip_prefix('+').unwrap_or(s);
    if body == "0" {
        return Some(Duration::ZERO);
    }
    if body.is_empty() {
        return None;
    }
    let mut rest = body;
    let mut total_ns: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let unit_ns: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole: u128 = if int_part.is_empty() { 0 } else { int_part.parse().ok()? };
        let mut frac_ns: u128 = 0;
        let mut scale: u128 = 1;
        for d in frac_part.bytes().take(18) {
            frac_ns = frac_ns * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        total_ns = total_ns.checked_add(whole.checked_mul(unit_ns)? + frac_ns * unit_ns / scale)?;
        rest = next;
    }
    let ns = u64::try_from(total_ns).ok().filter(|&n| n <= i64::MAX as u64)?;
    Some(Duration::from_nanos(ns))
}

/// Splits a comma-separated list as etcd's `StringsValue` does (no trimming; empty → none).
pub(super) fn split_list(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(',').map(str::to_string).collect()
    }
}

/// Describes a YAML node's type for error messages.
pub(super) fn yaml_type(y: &Yaml) -> &'static str {
    match y {
        Yaml::Real(_) => "a number",
        Yaml::Integer(_) => "an integer",
        Yaml::String(_) => "a string",
        Yaml::Boolean(_) => "a boolean",
        Yaml::Array(_) => "a list",
        Yaml::Hash(_) => "a mapping",
        Yaml::Alias(_) => "an alias",
        Yaml::Null | Yaml::BadValue => "nothing",
    }
}

/// What the config file must hold for a kind, for error messages.
pub(super) fn yaml_expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Str | Kind::Urls | Kind::CommaList | Kind::Choice(_) => "a string",
        Kind::Bool | Kind::Legacy => "a boolean",
        Kind::Uint => "a non-negative integer",
        Kind::Int => "an integer",
        Kind::Duration => "an integer number of nanoseconds",
        Kind::List => "a list of strings",
    }
}

/// YAML 1.1 booleans as etcd's YAML library reads them (`yes`, `on`, ...), for boolean keys.
pub(super) fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => parse_bool(s).filter(|_| s.len() > 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_booleans() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(parse_bool("tRUE"), None);
        assert_eq!(yaml11_bool("on"), Some(true));
        assert_eq!(yaml11_bool("No"), Some(false));
    }

    #[test]
    fn go_base_zero_integers() {
        assert_eq!(parse_uint("100"), Some(100));
        assert_eq!(parse_uint("0x10"), Some(16));
        assert_eq!(parse_uint("0o17"), Some(15));
        assert_eq!(parse_uint("010"), Some(8), "a leading zero is octal in Go");
        assert_eq!(parse_uint("0b101"), Some(5));
        assert_eq!(parse_uint("0x_ff"), Some(255));
        assert_eq!(parse_uint("1_000"), None, "underscores need a base prefix");
        assert_eq!(parse_uint("0"), Some(0));
        assert_eq!(parse_uint(""), None);
        assert_eq!(parse_uint("-1"), None);
        assert_eq!(parse_uint("abc"), None);
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("-0x10"), Some(-16));
        assert_eq!(parse_int("9223372036854775808"), None);
        assert_eq!(parse_int("-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration(".5s"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10µs"), Some(Duration::from_micros(10)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("5"), None, "Go requires a unit");
        assert_eq!(parse_duration("5d"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("s"), None);
    }

    #[test]
    fn lists_split_on_commas() {
        assert_eq!(split_list("a,b"), ["a", "b"]);
        assert!(split_list("").is_empty());
    }
}
