//! URLs as etcd accepts them (Go's `url.Parse` followed by etcd's `types.NewURLs` rules), and
//! `--initial-cluster`'s `name=url,...` lists.
//!
//! The canonical string of a URL (what etcd's `url.URL.String()` gives: the scheme lower-cased,
//! the rest as written) is what member ids are hashed from, so it must not be normalised further
//! (no default-port stripping, no trailing slash): a general-purpose URL crate would change it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// A URL scheme etcd accepts for listeners and advertised addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum UrlScheme {
    /// `http`.
    Http,
    /// `https`.
    Https,
    /// `unix`: a Unix socket, plaintext.
    Unix,
    /// `unixs`: a Unix socket with TLS.
    Unixs,
}

impl UrlScheme {
    /// True for the TLS schemes.
    #[must_use]
    pub fn is_tls(self) -> bool {
        matches!(self, UrlScheme::Https | UrlScheme::Unixs)
    }
}

/// One validated URL.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EtcdUrl {
    canonical: String,
    scheme: UrlScheme,
    /// The authority without user info: `host:port`, `[v6]:port`, or for unix URLs any text.
    host: String,
    path: String,
}

impl EtcdUrl {
    /// Parses and validates one URL; the error text is etcd's.
    ///
    /// # Errors
    /// etcd's message for a malformed URL, a scheme other than http/https/unix/unixs, an http(s)
    /// URL without `host:port`, or one with a path.
    pub fn parse(input: &str) -> Result<EtcdUrl, String> {
        let input = input.trim();
        let parsed = go_parse(input)?;
        let scheme = match parsed.scheme.as_str() {
            "http" => UrlScheme::Http,
            "https" => UrlScheme::Https,
            "unix" => UrlScheme::Unix,
            "unixs" => UrlScheme::Unixs,
            _ => return Err(format!("URL scheme must be http, https, unix, or unixs: {input}")),
        };
        if matches!(scheme, UrlScheme::Http | UrlScheme::Https) {
            if split_host_port(&parsed.host).is_none() {
                return Err(format!("URL address does not have the form \"host:port\": {input}"));
            }
            if !parsed.path.is_empty() {
                return Err(format!("URL must not contain a path: {input}"));
            }
        }
        Ok(EtcdUrl { canonical: parsed.canonical, scheme, host: parsed.host, path: parsed.path })
    }

    /// The URL as etcd prints it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The scheme.
    #[must_use]
    pub fn scheme(&self) -> UrlScheme {
        self.scheme
    }

    /// The authority (`host:port`; for unix URLs whatever stood there).
    #[must_use]
    pub fn authority(&self) -> &str {
        &self.host
    }

    /// The host name or IP address without brackets, if the authority has the form `host:port`.
    #[must_use]
    pub fn hostname(&self) -> Option<&str> {
        split_host_port(&self.host).map(|(h, _)| h)
    }

    /// The port, if the authority has a non-empty numeric port.
    #[must_use]
    pub fn port(&self) -> Option<u16> {
        split_host_port(&self.host).and_then(|(_, p)| p.parse().ok())
    }

    /// The path (only unix URLs may have one, e.g. `unix:///run/oxcd.sock`).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The host as an IP address, if it is one.
    #[must_use]
    pub fn ip(&self) -> Option<IpAddr> {
        self.hostname().and_then(|h| h.parse().ok())
    }
}

impl fmt::Display for EtcdUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

/// Parses a comma-separated list, sorted by canonical string as etcd sorts it; duplicates are
/// dropped when `dedup` (flags) and kept otherwise (config-file lists).
///
/// # Errors
/// The first URL's error, in etcd's words.
pub fn parse_url_list(s: &str, dedup: bool) -> Result<Vec<EtcdUrl>, String> {
    let mut urls = s.split(',').map(EtcdUrl::parse).collect::<Result<Vec<_>, _>>()?;
    urls.sort_by(|a, b| a.canonical.cmp(&b.canonical));
    if dedup {
        urls.dedup_by(|a, b| a.canonical == b.canonical);
    }
    Ok(urls)
}

/// Joins URLs with commas, as etcd prints lists.
#[must_use]
pub fn join_urls(urls: &[EtcdUrl]) -> String {
    urls.iter().map(EtcdUrl::as_str).collect::<Vec<_>>().join(",")
}

/// `--initial-cluster`: member name → its peer URLs (sorted). A name may repeat in the flag to
/// give a member several URLs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InitialCluster {
    members: BTreeMap<String, Vec<EtcdUrl>>,
}

impl InitialCluster {
    /// Parses `name=url,name=url,...` the way etcd does: empty items are skipped, an item
    /// without `=` is a name with an empty (and so invalid) URL.
    ///
    /// # Errors
    /// The first bad URL's error, in etcd's words.
    pub fn parse(s: &str) -> Result<InitialCluster, String> {
        let mut raw: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for item in s.split(',').filter(|i| !i.is_empty()) {
            let (name, url) = item.split_once('=').unwrap_or((item, ""));
            raw.entry(name.to_string()).or_default().push(url);
        }
        let mut members = BTreeMap::new();
        for (name, urls) in raw {
            let mut parsed = urls.into_iter().map(EtcdUrl::parse).collect::<Result<Vec<_>, _>>()?;
            parsed.sort_by(|a, b| a.canonical.cmp(&b.canonical));
            members.insert(name, parsed);
        }
        Ok(InitialCluster { members })
    }

    /// Builds `name=url` for each URL, as etcd does when only `--name` changes.
    #[must_use]
    pub fn single(name: &str, urls: &[EtcdUrl]) -> InitialCluster {
        let mut sorted = urls.to_vec();
        sorted.sort_by(|a, b| a.canonical.cmp(&b.canonical));
        let mut members = BTreeMap::new();
        if !sorted.is_empty() {
            members.insert(name.to_string(), sorted);
        }
        InitialCluster { members }
    }

    /// The peer URLs of one member.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&[EtcdUrl]> {
        self.members.get(name).map(Vec::as_slice)
    }

    /// Members in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[EtcdUrl])> {
        self.members.iter().map(|(n, u)| (n.as_str(), u.as_slice()))
    }

    /// Number of members.
    #[must_use]
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when no member is listed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// True if some URL appears twice (under one name or two).
    #[must_use]
    pub fn has_duplicate_url(&self) -> bool {
        let mut all: Vec<&str> = self.members.values().flatten().map(EtcdUrl::as_str).collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        all.len() != n
    }
}

impl fmt::Display for InitialCluster {
    /// `name=url` pairs sorted as strings, joined by commas (etcd's `URLsMap.String()`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut pairs: Vec<String> = self
            .members
            .iter()
            .flat_map(|(n, us)| us.iter().map(move |u| format!("{n}={u}")))
            .collect();
        pairs.sort();
        f.write_str(&pairs.join(","))
    }
}

/// What Go's `url.Parse` yields for the parts etcd looks at.
struct GoUrl {
    canonical: String,
    scheme: String,
    host: String,
    path: String,
}

/// The subset of Go's `url.Parse` that etcd's URLs exercise, with Go's error texts.
fn go_parse(raw: &str) -> Result<GoUrl, String> {
    let err = |what: String| format!("parse \"{raw}\": {what}");
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(err(String::from("net/url: invalid control character in URL")));
    }
    let (scheme, rest) = split_scheme(raw).map_err(|e| err(e.to_string()))?;
    let scheme = scheme.to_ascii_lowercase();
    // Fragment and query are kept verbatim in the canonical form; etcd does not reject them.
    let before_fragment = rest.split_once('#').map_or(rest, |(a, _)| a);
    let before_query = before_fragment.split_once('?').map_or(before_fragment, |(a, _)| a);
    let (host, path) = if let Some(after) = before_query.strip_prefix("//") {
        let (authority, path) = after.find('/').map_or((after, ""), |i| after.split_at(i));
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        check_host(host).map_err(err)?;
        (host.to_string(), path.to_string())
    } else {
        if scheme.is_empty() {
            let first_segment = before_query.split('/').next().unwrap_or("");
            if first_segment.contains(':') {
                return Err(err(String::from("first path segment in URL cannot contain colon")));
            }
        }
        (String::new(), before_query.to_string())
    };
    let canonical = if scheme.is_empty() { rest.to_string() } else { format!("{scheme}:{rest}") };
    Ok(GoUrl { canonical, scheme, host, path })
}

/// Go's `getScheme`.
fn split_scheme(raw: &str) -> Result<(&str, &str), &'static str> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme"),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Go's `parseHost` checks: brackets around IPv6 literals and a numeric port.
fn check_host(host: &str) -> Result<(), String> {
    let port = if let Some(v6) = host.strip_prefix('[') {
        let Some(end) = v6.find(']') else {
            return Err(String::from("missing ']' in host"));
        };
        let after = &v6[end + 1..];
        if !after.is_empty() && !after.starts_with(':') {
            return Err(format!("invalid port {after:?} after host"));
        }
        after
    } else {
        if let Some(bad) = host.chars().find(|c| matches!(c, ' ' | '<' | '>' | '"' | '\\')) {
            return Err(format!("invalid character {:?} in host name", bad.to_string()));
        }
        host.rfind(':').map_or("", |i| &host[i..])
    };
    if !port.is_empty() && !port[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port {port:?} after host"));
    }
    Ok(())
}

/// Go's `net.SplitHostPort`: `host:port` or `[v6]:port`, with exactly one colon outside
/// brackets. The port may be empty.
fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let end = rest.find(']')?;
        let port = rest[end + 1..].strip_prefix(':')?;
        if port.contains(':') || port.contains('[') || port.contains(']') {
            return None;
        }
        return Some((&rest[..end], port));
    }
    let (host, port) = hostport.rsplit_once(':')?;
    if host.contains(':') || host.contains('[') || host.contains(']') || port.contains(']') {
        return None;
    }
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_error_texts_for_bad_urls() {
        // Each expectation was taken from etcd 3.4.23's answer to the same input.
        let cases = [
            ("foo", "URL scheme must be http, https, unix, or unixs: foo"),
            (
                "ftp://localhost:2379",
                "URL scheme must be http, https, unix, or unixs: ftp://localhost:2379",
            ),
            (
                "http://localhost",
                "URL address does not have the form \"host:port\": http://localhost",
            ),
            (
                "http://a:b:2379",
                "URL address does not have the form \"host:port\": http://a:b:2379",
            ),
            (
                "http://localhost:2379/path",
                "URL must not contain a path: http://localhost:2379/path",
            ),
            ("http://127.0.0.1:2379/", "URL must not contain a path: http://127.0.0.1:2379/"),
            (
                "127.0.0.1:2379",
                "parse \"127.0.0.1:2379\": first path segment in URL cannot contain colon",
            ),
            ("http://[::1", "parse \"http://[::1\": missing ']' in host"),
            ("http://host:abc", "parse \"http://host:abc\": invalid port \":abc\" after host"),
            (":2379", "parse \":2379\": missing protocol scheme"),
        ];
        for (input, want) in cases {
            assert_eq!(EtcdUrl::parse(input).unwrap_err(), want, "input {input}");
        }
    }

    #[test]
    fn accepted_forms_and_their_canonical_strings() {
        let u = EtcdUrl::parse(" HTTP://127.0.0.1:2379 ").unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:2379");
        assert_eq!(u.port(), Some(2379));
        assert_eq!(u.ip(), Some("127.0.0.1".parse().unwrap()));
        let v6 = EtcdUrl::parse("https://[::1]:2380").unwrap();
        assert_eq!(v6.hostname(), Some("::1"));
        assert!(v6.scheme().is_tls());
        let unix = EtcdUrl::parse("unix:///run/oxcd.sock").unwrap();
        assert_eq!(unix.path(), "/run/oxcd.sock");
        assert_eq!(unix.scheme(), UrlScheme::Unix);
        assert_eq!(EtcdUrl::parse("unixs://localhost:1").unwrap().authority(), "localhost:1");
        assert_eq!(EtcdUrl::parse("http://h:1?x=1").unwrap().as_str(), "http://h:1?x=1");
    }

    #[test]
    fn lists_are_sorted_and_deduplicated_for_flags() {
        let l = parse_url_list("http://b:1,http://a:1,http://b:1", true).unwrap();
        assert_eq!(join_urls(&l), "http://a:1,http://b:1");
        let kept = parse_url_list("http://b:1,http://a:1,http://b:1", false).unwrap();
        assert_eq!(kept.len(), 3);
    }

    #[test]
    fn initial_cluster_groups_repeated_names() {
        let c = InitialCluster::parse(
            "a=http://10.0.0.2:2380,b=http://10.0.0.3:2380,a=http://10.0.0.1:2380",
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        let a: Vec<&str> = c.get("a").unwrap().iter().map(EtcdUrl::as_str).collect();
        assert_eq!(a, ["http://10.0.0.1:2380", "http://10.0.0.2:2380"]);
        assert_eq!(
            c.to_string(),
            "a=http://10.0.0.1:2380,a=http://10.0.0.2:2380,b=http://10.0.0.3:2380"
        );
        assert!(!c.has_duplicate_url());
        assert!(InitialCluster::parse("a=http://h:1,b=http://h:1").unwrap().has_duplicate_url());
        assert_eq!(
            InitialCluster::parse("a").unwrap_err(),
            "URL scheme must be http, https, unix, or unixs: "
        );
        assert!(InitialCluster::parse(",,").unwrap().is_empty());
    }
}
