//! Host name and IP matching against a certificate's SANs, with the semantics of Go's
//! `x509.Certificate.VerifyHostname` (what etcd's `--peer-cert-allowed-hostname` uses), and Go's
//! `%q` quoting for the texts etcd prints.

use alloc::string::String;
use core::fmt::{self, Write};
use core::net::IpAddr;

/// True when a certificate with these SANs is valid for `host`, as Go's `VerifyHostname` decides:
/// an IP (optionally in `[ ]`) is matched against the IP SANs only (an IPv4 address equals its
/// IPv4-mapped IPv6 form); a name is matched case-insensitively against the DNS SANs, where a
/// valid pattern may have `*` as its whole left-most label (matching exactly one label) and a
/// trailing dot on the host is ignored; names that are not valid host names only match exactly.
#[must_use]
pub fn verify_hostname(ip_sans: &[IpAddr], dns_sans: &[String], host: &str) -> bool {
    let candidate_ip = if host.len() >= 3 && host.starts_with('[') && host.ends_with(']') {
        &host[1..host.len() - 1]
    } else {
        host
    };
    if let Ok(ip) = candidate_ip.parse::<IpAddr>() {
        let ip = ip.to_canonical();
        return ip_sans.iter().any(|san| san.to_canonical() == ip);
    }
    let candidate = host.to_ascii_lowercase();
    let valid_candidate = valid_hostname(&candidate, false);
    dns_sans.iter().any(|pattern| {
        if valid_candidate && valid_hostname(pattern, true) {
            match_hostnames(pattern, &candidate)
        } else {
            match_exactly(pattern, &candidate)
        }
    })
}

/// RFC 6125 host name syntax with Go's leniency (underscores allowed; a pattern may start with a
/// `*` label; an input may end with one dot).
fn valid_hostname(host: &str, is_pattern: bool) -> bool {
    let host = if is_pattern { host } else { host.strip_suffix('.').unwrap_or(host) };
    if host.is_empty() {
        return false;
    }
    host.split('.').enumerate().all(|(i, label)| {
        if label.is_empty() {
            return false;
        }
        if is_pattern && i == 0 && label == "*" {
            return true;
        }
        label
            .chars()
            .enumerate()
            .all(|(j, c)| c.is_ascii_alphanumeric() || (c == '-' && j != 0) || c == '_')
    })
}

fn match_exactly(a: &str, b: &str) -> bool {
    if a.is_empty() || a == "." || b.is_empty() || b == "." {
        return false;
    }
    a.eq_ignore_ascii_case(b)
}

fn match_hostnames(pattern: &str, host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if pattern.is_empty() || host.is_empty() {
        return false;
    }
    let mut pattern_labels = pattern.split('.');
    let mut host_labels = host.split('.');
    let mut first = true;
    loop {
        match (pattern_labels.next(), host_labels.next()) {
            (None, None) => return true,
            (Some(p), Some(h)) => {
                let wildcard = first && p == "*";
                if !wildcard && !p.eq_ignore_ascii_case(h) {
                    return false;
                }
            }
            _ => return false,
        }
        first = false;
    }
}

/// Writes `s` as Go's `%q` (`strconv.Quote`) would: in double quotes, with `"` and `\` escaped,
/// C escapes for the usual control characters and `\xNN` / `\uNNNN` for other non-printable ones.
///
/// # Errors
/// Only those of the writer.
pub fn write_go_quoted(out: &mut dyn Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\u{7}' => out.write_str("\\a")?,
            '\u{8}' => out.write_str("\\b")?,
            '\u{c}' => out.write_str("\\f")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            '\u{b}' => out.write_str("\\v")?,
            c if (c as u32) < 0x80 && !(' '..='~').contains(&c) => {
                write!(out, "\\x{:02x}", c as u32)?;
            }
            c if c.is_control() => {
                if (c as u32) < 0x1_0000 {
                    write!(out, "\\u{:04x}", c as u32)?;
                } else {
                    write!(out, "\\U{:08x}", c as u32)?;
                }
            }
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

/// Writes a list of strings as Go's `%q` of a `[]string`: `["a" "b"]`.
///
/// # Errors
/// Only those of the writer.
pub fn write_go_quoted_list(out: &mut dyn Write, items: &[String]) -> fmt::Result {
    out.write_char('[')?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.write_char(' ')?;
        }
        write_go_quoted(out, item)?;
    }
    out.write_char(']')
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec::Vec;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn hostname_table() {
        // (ip SANs, DNS SANs, host, expected)
        let cases: &[(&[&str], &[&str], &str, bool)] = &[
            (&["10.0.0.1"], &[], "10.0.0.1", true),
            (&["10.0.0.1"], &[], "[10.0.0.1]", true),
            (&["10.0.0.1"], &[], "10.0.0.2", false),
            (&["::ffff:10.0.0.1"], &[], "10.0.0.1", true),
            (&["10.0.0.1"], &[], "::ffff:10.0.0.1", true),
            (&["::1"], &[], "[::1]", true),
            // An IP never matches a DNS SAN spelling the same digits.
            (&[], &["10.0.0.1"], "10.0.0.1", false),
            (&[], &["m1.example.com"], "m1.example.com", true),
            (&[], &["m1.example.com"], "M1.Example.COM", true),
            (&[], &["M1.example.com"], "m1.example.com", true),
            (&[], &["m1.example.com"], "m1.example.com.", true),
            (&[], &["m1.example.com"], "m2.example.com", false),
            (&[], &["*.example.com"], "m1.example.com", true),
            (&[], &["*.example.com"], "a.m1.example.com", false),
            (&[], &["*.example.com"], "example.com", false),
            (&[], &["m*.example.com"], "m1.example.com", false),
            // Not a valid input name, so only an exact match counts, as in Go.
            (&[], &["*.example.com"], "*.example.com", true),
            (&[], &["*.example.com"], "*.other.com", false),
            // Invalid host names match only exactly (case-insensitively).
            (&[], &["not valid!"], "NOT VALID!", true),
            (&[], &["*.example.com"], "bad!.example.com", false),
            (&[], &["."], ".", false),
            (&[], &[""], "", false),
            (&[], &["host_with_underscore.local"], "host_with_underscore.local", true),
            (&[], &["-bad.example.com"], "-bad.example.com", true),
        ];
        for (ips, dns, host, want) in cases {
            let ips: Vec<IpAddr> = ips.iter().map(|s| ip(s)).collect();
            let got = verify_hostname(&ips, &names(dns), host);
            assert_eq!(got, *want, "ips={ips:?} dns={dns:?} host={host}");
        }
    }

    #[test]
    fn go_quoting() {
        let mut s = String::new();
        write_go_quoted_list(&mut s, &names(&["a.example.com", "*.b", "q\"\\\n\u{1}é"])).unwrap();
        assert_eq!(s, r#"["a.example.com" "*.b" "q\"\\\n\x01é"]"#);
        let mut empty = String::new();
        write_go_quoted_list(&mut empty, &[]).unwrap();
        assert_eq!(empty, "[]");
    }
}
