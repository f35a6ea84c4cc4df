//! The decision on one incoming peer connection, as a small state machine: it starts from the
//! verified certificate's facts and the connection's source IP, asks for DNS lookups as outputs
//! ([`LookupRequest`]) and decides when their answers come back ([`PeerCertCheck::handle_resolved`]).

use super::hostname::{verify_hostname, write_go_quoted, write_go_quoted_list};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::IpAddr;

/// What the runtime read from the peer's verified leaf certificate (x509-parser does the parsing;
/// this module sees plain data).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertFacts {
    /// The IP address SANs.
    pub ip_sans: Vec<IpAddr>,
    /// The DNS name SANs, as written in the certificate.
    pub dns_sans: Vec<String>,
    /// The subject's Common Name (empty when absent).
    pub common_name: String,
}

/// The member's configured rules for peer certificates: etcd's `--peer-cert-allowed-cn`,
/// `--peer-cert-allowed-hostname` (both comma-separated lists since etcd 3.5; a single value is a
/// list of one) and `--peer-skip-client-san-verification`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerCertRules {
    allowed_cns: Vec<String>,
    allowed_hostnames: Vec<String>,
    skip_san_verify: bool,
    forward_lookups_max: usize,
}

/// Rules that cannot be used together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RulesError {
    /// Allowed CNs and allowed host names were both given (etcd refuses to start).
    CnAndHostnameExclusive {
        /// The allowed CNs given.
        cns: Vec<String>,
        /// The allowed host names given.
        hostnames: Vec<String>,
    },
    /// `forward_lookups_max` was zero.
    NoForwardLookups,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RulesError::CnAndHostnameExclusive { cns, hostnames } => {
                f.write_str("AllowedCNs and AllowedHostnames are mutually exclusive (cns=")?;
                write_go_quoted_list(f, cns)?;
                f.write_str(", hostnames=")?;
                write_go_quoted_list(f, hostnames)?;
                f.write_str(")")
            }
            RulesError::NoForwardLookups => f.write_str("forward_lookups_max must be at least 1"),
        }
    }
}

impl PeerCertRules {
    /// Forward lookups issued at most per connection, by default.
    pub const FORWARD_LOOKUPS_MAX_DEFAULT: usize = 32;

    /// Rules from the two allow lists (empty: no restriction), SAN verification on.
    ///
    /// # Errors
    /// [`RulesError::CnAndHostnameExclusive`] when both lists are non-empty, as etcd.
    pub fn new(
        allowed_cns: Vec<String>,
        allowed_hostnames: Vec<String>,
    ) -> Result<Self, RulesError> {
        if !allowed_cns.is_empty() && !allowed_hostnames.is_empty() {
            return Err(RulesError::CnAndHostnameExclusive {
                cns: allowed_cns,
                hostnames: allowed_hostnames,
            });
        }
        Ok(PeerCertRules {
            allowed_cns,
            allowed_hostnames,
            skip_san_verify: false,
            forward_lookups_max: Self::FORWARD_LOOKUPS_MAX_DEFAULT,
        })
    }

    /// Skips the SAN check against the source address (etcd's
    /// `--peer-skip-client-san-verification`); the allow lists still apply.
    #[must_use]
    pub fn with_skip_san_verify(mut self, skip: bool) -> Self {
        self.skip_san_verify = skip;
        self
    }

    /// Bounds the forward lookups one connection may ask for. DNS SANs past the bound are not
    /// looked up (etcd has no bound; a certificate listing more names than this is unusual).
    ///
    /// # Errors
    /// [`RulesError::NoForwardLookups`] for zero.
    pub fn with_forward_lookups_max(mut self, max: usize) -> Result<Self, RulesError> {
        if max == 0 {
            return Err(RulesError::NoForwardLookups);
        }
        self.forward_lookups_max = max;
        Ok(self)
    }
}

/// Identifies one lookup among all those a member has asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LookupId(pub u64);

impl fmt::Display for LookupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lookup#{}", self.0)
    }
}

/// Hands out [`LookupId`]s; one per member, shared by all its connection checks.
#[derive(Clone, Debug, Default)]
pub struct LookupIds {
    next: u64,
}

impl LookupIds {
    /// Ids from 1 on.
    #[must_use]
    pub fn new() -> Self {
        LookupIds { next: 1 }
    }

    fn next_id(&mut self) -> LookupId {
        let id = LookupId(self.next.max(1));
        self.next = id.0.wrapping_add(1);
        id
    }
}

/// What to look up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupKind {
    /// The names of an address (PTR); answer with [`Resolved::Names`].
    Reverse(IpAddr),
    /// The addresses of a name (A and AAAA); answer with [`Resolved::Addrs`].
    Forward(String),
}

/// A DNS lookup the runtime must carry out, answering with
/// [`PeerCertCheck::handle_resolved`] and the same id.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct LookupRequest {
    /// Echoed in the answer.
    pub id: LookupId,
    /// What to look up.
    pub kind: LookupKind,
}

impl fmt::Display for LookupRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            LookupKind::Reverse(ip) => write!(f, "{} reverse {}", self.id, ip),
            LookupKind::Forward(name) => write!(f, "{} forward {}", self.id, name),
        }
    }
}

/// A successful lookup's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// The names of a reverse lookup, as the resolver gives them (a trailing dot is allowed).
    Names(Vec<String>),
    /// The addresses of a forward lookup.
    Addrs(Vec<IpAddr>),
}

/// Why a peer connection was refused; `Display` gives etcd's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The certificate matched none of the allowed CNs or host names.
    NotAllowed,
    /// The certificate has IP SANs only, and the source IP is not among them.
    IpMismatch {
        /// The connection's source IP.
        remote: IpAddr,
        /// The certificate's IP SANs.
        ip_sans: Vec<IpAddr>,
    },
    /// The certificate has DNS SANs and neither the source IP's names nor the names' addresses
    /// matched.
    DnsMismatch {
        /// The connection's source IP.
        remote: IpAddr,
        /// The certificate's DNS SANs.
        dns_sans: Vec<String>,
        /// The last lookup failure, as etcd reports it.
        lookup_error: Option<String>,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NotAllowed => f.write_str("client certificate authentication failed"),
            Rejection::IpMismatch { remote, ip_sans } => {
                f.write_str("x509: certificate is valid for ")?;
                for (i, ip) in ip_sans.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", ip.to_canonical())?;
                }
                write!(f, ", not {}", remote.to_canonical())
            }
            Rejection::DnsMismatch { remote, dns_sans, lookup_error } => {
                f.write_str("tls: ")?;
                write_go_quoted(f, &alloc::format!("{}", remote.to_canonical()))?;
                f.write_str(" does not match any of DNSNames ")?;
                write_go_quoted_list(f, dns_sans)?;
                if let Some(err) = lookup_error {
                    write!(f, " ({err})")?;
                }
                Ok(())
            }
        }
    }
}

/// The state of a check after an input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Step {
    /// Accept the connection.
    Accept,
    /// Close the connection; log the reason.
    Reject(Rejection),
    /// Carry out these lookups and report each answer through
    /// [`PeerCertCheck::handle_resolved`].
    NeedLookup(Vec<LookupRequest>),
    /// Waiting for more answers.
    Pending,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Waiting,
    NoMatch,
    Failed(String),
}

/// The SAN decision for one incoming peer connection.
///
/// Only connections that presented a certificate are checked: without one (possible only when
/// `--peer-client-cert-auth` is off) etcd runs neither the allow lists nor the SAN check, and the
/// runtime accepts without calling [`PeerCertCheck::start`].
#[derive(Clone, Debug)]
pub struct PeerCertCheck {
    remote: IpAddr,
    dns_sans: Vec<String>,
    exact_names: Vec<String>,
    wildcard_suffixes: Vec<String>,
    reverse: Option<(LookupId, Answer)>,
    forward: Vec<(LookupId, Answer)>,
    verdict: Option<Step>,
}

impl PeerCertCheck {
    /// Decides what it can without DNS. Returns the check (to keep while the step is
    /// [`Step::NeedLookup`]) and the first step: [`Step::Accept`], [`Step::Reject`] or
    /// [`Step::NeedLookup`] with the reverse lookup of `remote_ip` and forward lookups of the
    /// certificate's non-wildcard DNS names, all at once.
    pub fn start(
        facts: &CertFacts,
        remote_ip: IpAddr,
        rules: &PeerCertRules,
        ids: &mut LookupIds,
    ) -> (PeerCertCheck, Step) {
        let remote = remote_ip.to_canonical();
        let mut check = PeerCertCheck {
            remote,
            dns_sans: facts.dns_sans.clone(),
            exact_names: Vec::new(),
            wildcard_suffixes: Vec::new(),
            reverse: None,
            forward: Vec::new(),
            verdict: None,
        };
        let step = check.decide_without_dns(facts, rules, ids);
        if matches!(step, Step::Accept | Step::Reject(_)) {
            check.verdict = Some(step.clone());
        }
        (check, step)
    }

    fn decide_without_dns(
        &mut self,
        facts: &CertFacts,
        rules: &PeerCertRules,
        ids: &mut LookupIds,
    ) -> Step {
        // The allow lists run inside etcd's TLS handshake, before the SAN check.
        if !rules.allowed_cns.is_empty() && !rules.allowed_cns.contains(&facts.common_name) {
            return Step::Reject(Rejection::NotAllowed);
        }
        if !rules.allowed_hostnames.is_empty()
            && !rules
                .allowed_hostnames
                .iter()
                .any(|h| verify_hostname(&facts.ip_sans, &facts.dns_sans, h))
        {
            return Step::Reject(Rejection::NotAllowed);
        }
        if rules.skip_san_verify || (facts.ip_sans.is_empty() && facts.dns_sans.is_empty()) {
            return Step::Accept;
        }
        if !facts.ip_sans.is_empty() {
            if facts.ip_sans.iter().any(|ip| ip.to_canonical() == self.remote) {
                return Step::Accept;
            }
            if facts.dns_sans.is_empty() {
                return Step::Reject(Rejection::IpMismatch {
                    remote: self.remote,
                    ip_sans: facts.ip_sans.clone(),
                });
            }
        }
        for name in &facts.dns_sans {
            match name.strip_prefix('*') {
                Some(suffix) if suffix.starts_with('.') => {
                    self.wildcard_suffixes.push(String::from(suffix))
                }
                _ => self.exact_names.push(name.clone()),
            }
        }
        let mut requests = Vec::new();
        let reverse_id = ids.next_id();
        self.reverse = Some((reverse_id, Answer::Waiting));
        requests.push(LookupRequest { id: reverse_id, kind: LookupKind::Reverse(self.remote) });
        for name in self.exact_names.iter().take(rules.forward_lookups_max) {
            let id = ids.next_id();
            self.forward.push((id, Answer::Waiting));
            requests.push(LookupRequest { id, kind: LookupKind::Forward(name.clone()) });
        }
        Step::NeedLookup(requests)
    }

    /// True once the check has decided; later answers change nothing.
    #[must_use]
    pub fn is_decided(&self) -> bool {
        self.verdict.is_some()
    }

    /// Takes the answer to lookup `id` (`Err` carries the resolver's error text). Returns
    /// [`Step::Accept`] as soon as one answer matches, [`Step::Reject`] once every answer is in
    /// without a match, [`Step::Pending`] otherwise. Unknown ids and answers of the wrong kind
    /// count as failed lookups or are ignored; they never panic. After a decision, returns it again.
    pub fn handle_resolved(&mut self, id: LookupId, answer: Result<Resolved, String>) -> Step {
        if let Some(verdict) = &self.verdict {
            return verdict.clone();
        }
        let matched =
            if self.reverse.as_ref().is_some_and(|(rid, a)| *rid == id && *a == Answer::Waiting) {
                let (matched, state) = match answer {
                    Ok(Resolved::Names(names)) => (self.reverse_matches(&names), Answer::NoMatch),
                    Ok(Resolved::Addrs(_)) => (
                        false,
                        Answer::Failed(String::from("unexpected answer to a reverse lookup")),
                    ),
                    Err(err) => (false, Answer::Failed(err)),
                };
                self.reverse = self.reverse.take().map(|(rid, _)| (rid, state));
                matched
            } else if let Some(slot) =
                self.forward.iter_mut().find(|(fid, a)| *fid == id && *a == Answer::Waiting)
            {
                let remote = self.remote;
                let (matched, state) = match answer {
                    Ok(Resolved::Addrs(addrs)) => {
                        (addrs.iter().any(|a| a.to_canonical() == remote), Answer::NoMatch)
                    }
                    Ok(Resolved::Names(_)) => (
                        false,
                        Answer::Failed(String::from("unexpected answer to a forward lookup")),
                    ),
                    Err(err) => (false, Answer::Failed(err)),
                };
                slot.1 = state;
                matched
            } else {
                return Step::Pending;
            };
        if matched {
            self.verdict = Some(Step::Accept);
            return Step::Accept;
        }
        let all_in =
            self.reverse.iter().chain(self.forward.iter()).all(|(_, a)| *a != Answer::Waiting);
        if !all_in {
            return Step::Pending;
        }
        let step = Step::Reject(Rejection::DnsMismatch {
            remote: self.remote,
            dns_sans: self.dns_sans.clone(),
            lookup_error: self.last_error(),
        });
        self.verdict = Some(step.clone());
        step
    }

    fn reverse_matches(&self, names: &[String]) -> bool {
        names.iter().any(|name| {
            // A PTR answer may end with the root's dot.
            let name = name.strip_suffix('.').unwrap_or(name);
            !name.is_empty()
                && (self.wildcard_suffixes.iter().any(|suffix| name.ends_with(suffix.as_str()))
                    || self.exact_names.iter().any(|n| n == name))
        })
    }

    /// etcd reports the last failed forward lookup, else the reverse lookup's failure.
    fn last_error(&self) -> Option<String> {
        let forward = self.forward.iter().rev().find_map(|(_, a)| match a {
            Answer::Failed(e) => Some(e.clone()),
            _ => None,
        });
        forward.or_else(|| match &self.reverse {
            Some((_, Answer::Failed(e))) => Some(e.clone()),
            _ => None,
        })
    }
}
