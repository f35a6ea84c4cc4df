//! The peer certificate check: a pluggable step between the TLS handshake and acceptance.
//!
//! The transport extracts [`CertFacts`] from the peer's end-entity certificate, calls
//! [`PeerCertRules::start`] with them and the TCP peer address, then drives the returned
//! [`PeerCertCheck`]: each [`CheckStep::NeedLookup`] is sent to the DNS helper thread and every
//! answer comes back through [`PeerCertCheck::handle_lookup`], until the check says
//! [`CheckStep::Accept`] or [`CheckStep::Reject`]. Nothing here blocks or does IO.
//!
//! [`EtcdPeerCertRules`] implements etcd's rules and is the transport's check until
//! `oxcd-core::identity` (its `PeerCertCheck` state machine) lands on main; the core's check then
//! plugs in behind the same two traits.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use x509_parser::extensions::GeneralName;

use crate::dns::{LookupAnswer, LookupRequest, LookupResult};

/// What the identity rules look at in a certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertFacts {
    /// The subject's common name, if any.
    pub common_name: Option<String>,
    /// IP address SANs.
    pub ip_sans: Vec<IpAddr>,
    /// DNS name SANs, as written (wildcards included).
    pub dns_sans: Vec<String>,
}

impl CertFacts {
    /// Reads the facts from a DER certificate.
    ///
    /// # Errors
    /// The certificate does not parse (rustls already verified it, so this is rare).
    pub fn from_der(der: &[u8]) -> Result<CertFacts, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("cannot parse certificate: {e}"))?;
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(String::from);
        let mut facts = CertFacts { common_name, ..CertFacts::default() };
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => facts.dns_sans.push((*dns).to_string()),
                    GeneralName::IPAddress(bytes) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                            facts.ip_sans.push(IpAddr::from(v4));
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                            facts.ip_sans.push(IpAddr::from(v6));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(facts)
    }
}

/// Which side of the connection the certificate came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// A peer dialed us: its client certificate.
    Incoming,
    /// We dialed a peer: its server certificate (already verified against the URL host).
    Outgoing,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        })
    }
}

/// What a check wants next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckStep {
    /// The certificate is acceptable.
    Accept,
    /// Refused, with the reason to log (etcd's wording).
    Reject(String),
    /// These lookups are needed; each is asked for once, answers come in any order.
    NeedLookup(Vec<LookupRequest>),
    /// Waiting for answers already asked for.
    Pending,
}

/// One certificate check in progress.
pub trait PeerCertCheck: Send {
    /// The next step. Lookups returned here are not returned again.
    fn step(&mut self) -> CheckStep;
    /// An answer to a lookup this check asked for (an error when the lookup failed or could not
    /// be made); call [`step`](PeerCertCheck::step) afterwards.
    fn handle_lookup(&mut self, request: LookupRequest, result: LookupResult);
}

/// The rules that start a check for each peer certificate.
pub trait PeerCertRules: Send + Sync + 'static {
    /// Starts checking `facts` of a certificate presented by `remote_ip`.
    fn start(
        &self,
        direction: Direction,
        facts: CertFacts,
        remote_ip: IpAddr,
    ) -> Box<dyn PeerCertCheck>;
}

/// etcd's rules: `--peer-cert-allowed-cn` / `--peer-cert-allowed-hostname` (on certificates in
/// both directions, as etcd's TLS config applies them), then for incoming connections the SAN
/// check against the source address: an IP SAN equal to it, else a DNS SAN whose reverse (PTR)
/// or forward (A/AAAA) lookup ties it to that address; a certificate with no SAN at all passes.
#[derive(Clone, Debug, Default)]
pub struct EtcdPeerCertRules {
    /// `--peer-cert-allowed-cn`: accepted common names; empty means any.
    pub allowed_cns: Vec<String>,
    /// `--peer-cert-allowed-hostname`: accepted hosts (name or address) the certificate must be
    /// valid for; empty means any.
    pub allowed_hostnames: Vec<String>,
}

impl PeerCertRules for EtcdPeerCertRules {
    fn start(
        &self,
        direction: Direction,
        facts: CertFacts,
        remote_ip: IpAddr,
    ) -> Box<dyn PeerCertCheck> {
        let first = self.allowed_step(&facts);
        Box::new(EtcdCheck {
            direction,
            facts,
            remote_ip,
            decided: first,
            asked: BTreeSet::new(),
            answered: Vec::new(),
            started: false,
        })
    }
}

impl EtcdPeerCertRules {
    fn allowed_step(&self, facts: &CertFacts) -> Option<CheckStep> {
        if self.allowed_cns.is_empty() && self.allowed_hostnames.is_empty() {
            return None;
        }
        let cn_ok = facts.common_name.as_ref().is_some_and(|cn| self.allowed_cns.contains(cn));
        let host_ok = self.allowed_hostnames.iter().any(|host| valid_for_host(facts, host));
        if cn_ok || host_ok {
            None
        } else {
            Some(CheckStep::Reject("client certificate authentication failed".into()))
        }
    }
}

/// Go's `VerifyHostname`: an address against the IP SANs, a name against the DNS SANs.
fn valid_for_host(facts: &CertFacts, host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(ip) => facts.ip_sans.contains(&ip),
        Err(_) => facts.dns_sans.iter().any(|pattern| name_matches(pattern, host)),
    }
}

/// A SAN pattern against a host name, case-insensitively; `*.` matches exactly one label.
fn name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == suffix)
        }
        None => pattern == host,
    }
}

struct EtcdCheck {
    direction: Direction,
    facts: CertFacts,
    remote_ip: IpAddr,
    decided: Option<CheckStep>,
    asked: BTreeSet<LookupRequest>,
    answered: Vec<(LookupRequest, LookupResult)>,
    started: bool,
}

impl EtcdCheck {
    fn first_step(&mut self) -> CheckStep {
        let facts = &self.facts;
        if self.direction == Direction::Outgoing
            || (facts.ip_sans.is_empty() && facts.dns_sans.is_empty())
        {
            return CheckStep::Accept;
        }
        if facts.ip_sans.contains(&self.remote_ip) {
            return CheckStep::Accept;
        }
        if facts.dns_sans.is_empty() {
            let valid: Vec<String> = facts.ip_sans.iter().map(IpAddr::to_string).collect();
            return CheckStep::Reject(format!(
                "x509: certificate is valid for {}, not {}",
                valid.join(", "),
                self.remote_ip
            ));
        }
        // etcd asks the reverse lookup first, then the forward ones; asking them all at once
        // decides the same way and waits for the slowest answer only once.
        let mut requests = vec![LookupRequest::Reverse(self.remote_ip)];
        for name in &facts.dns_sans {
            if !name.starts_with("*.") {
                let request = LookupRequest::Forward(name.clone());
                if !requests.contains(&request) {
                    requests.push(request);
                }
            }
        }
        self.asked.extend(requests.iter().cloned());
        CheckStep::NeedLookup(requests)
    }

    fn decide(&self) -> CheckStep {
        let remote = self.remote_ip;
        let mut last_error = None;
        for (request, result) in &self.answered {
            match (request, result) {
                (LookupRequest::Reverse(_), Ok(LookupAnswer::Names(names))) => {
                    if names
                        .iter()
                        .any(|name| self.facts.dns_sans.iter().any(|san| ptr_matches(san, name)))
                    {
                        return CheckStep::Accept;
                    }
                }
                (LookupRequest::Forward(_), Ok(LookupAnswer::Addresses(ips))) => {
                    if ips.contains(&remote) {
                        return CheckStep::Accept;
                    }
                }
                (_, Err(e)) => last_error = Some(e.clone()),
                (_, Ok(_)) => {}
            }
        }
        let names: Vec<String> = self.facts.dns_sans.iter().map(|n| format!("{n:?}")).collect();
        let why = last_error.map(|e| format!(" ({e})")).unwrap_or_default();
        CheckStep::Reject(format!(
            "tls: \"{remote}\" does not match any of DNSNames [{}]{why}",
            names.join(" ")
        ))
    }
}

/// etcd's match of a PTR answer against a DNS SAN: exact, or under a `*.` wildcard's domain.
fn ptr_matches(san: &str, ptr_name: &str) -> bool {
    let name = ptr_name.trim_end_matches('.').to_ascii_lowercase();
    let san = san.to_ascii_lowercase();
    match san.strip_prefix('*') {
        Some(suffix) if suffix.starts_with('.') => name.ends_with(suffix),
        _ => name == san,
    }
}

impl PeerCertCheck for EtcdCheck {
    fn step(&mut self) -> CheckStep {
        if let Some(decided) = &self.decided {
            return decided.clone();
        }
        if !self.started {
            self.started = true;
            let step = self.first_step();
            if !matches!(step, CheckStep::NeedLookup(_)) {
                self.decided = Some(step.clone());
            }
            return step;
        }
        // Any positive answer decides at once; otherwise wait for all of them.
        if let CheckStep::Accept = self.decide() {
            self.decided = Some(CheckStep::Accept);
            return CheckStep::Accept;
        }
        if self.answered.len() < self.asked.len() {
            return CheckStep::Pending;
        }
        let verdict = self.decide();
        self.decided = Some(verdict.clone());
        verdict
    }

    fn handle_lookup(&mut self, request: LookupRequest, result: LookupResult) {
        if self.asked.contains(&request) && !self.answered.iter().any(|(r, _)| *r == request) {
            self.answered.push((request, result));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn facts(ips: &[&str], names: &[&str], cn: Option<&str>) -> CertFacts {
        CertFacts {
            common_name: cn.map(String::from),
            ip_sans: ips.iter().map(|s| ip(s)).collect(),
            dns_sans: names.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn run(rules: &EtcdPeerCertRules, f: CertFacts, remote: &str) -> Box<dyn PeerCertCheck> {
        rules.start(Direction::Incoming, f, ip(remote))
    }

    #[test]
    fn ip_sans_decide_without_lookups() {
        let rules = EtcdPeerCertRules::default();
        assert_eq!(
            run(&rules, facts(&["127.0.0.11"], &[], None), "127.0.0.11").step(),
            CheckStep::Accept
        );
        assert_eq!(
            run(&rules, facts(&["127.0.0.11", "10.0.0.1"], &[], None), "127.0.0.12").step(),
            CheckStep::Reject(
                "x509: certificate is valid for 127.0.0.11, 10.0.0.1, not 127.0.0.12".into()
            )
        );
        // No SAN at all: etcd lets it through (the CA vouched for it).
        assert_eq!(run(&rules, facts(&[], &[], Some("x")), "127.0.0.12").step(), CheckStep::Accept);
        // Outgoing: the URL host was verified by TLS already; no SAN check.
        let mut out =
            rules.start(Direction::Outgoing, facts(&["10.0.0.1"], &[], None), ip("127.0.0.12"));
        assert_eq!(out.step(), CheckStep::Accept);
    }

    #[test]
    fn dns_sans_ask_lookups_and_accept_on_any_match() {
        let rules = EtcdPeerCertRules::default();
        let mut check =
            run(&rules, facts(&["10.9.9.9"], &["m2.test", "*.wild.test"], None), "127.0.0.12");
        let step = check.step();
        assert_eq!(
            step,
            CheckStep::NeedLookup(vec![
                LookupRequest::Reverse(ip("127.0.0.12")),
                LookupRequest::Forward("m2.test".into())
            ])
        );
        assert_eq!(check.step(), CheckStep::Pending);
        check.handle_lookup(LookupRequest::Reverse(ip("127.0.0.12")), Err("NXDOMAIN".into()));
        assert_eq!(check.step(), CheckStep::Pending);
        check.handle_lookup(
            LookupRequest::Forward("m2.test".into()),
            Ok(LookupAnswer::Addresses(vec![ip("127.0.0.12")])),
        );
        assert_eq!(check.step(), CheckStep::Accept);
        assert_eq!(check.step(), CheckStep::Accept);

        // A PTR name under the wildcard is enough, before the forward answer arrives.
        let mut check = run(&rules, facts(&[], &["m2.test", "*.wild.test"], None), "127.0.0.12");
        let _ = check.step();
        check.handle_lookup(
            LookupRequest::Reverse(ip("127.0.0.12")),
            Ok(LookupAnswer::Names(vec!["host.wild.test.".into()])),
        );
        assert_eq!(check.step(), CheckStep::Accept);
    }

    #[test]
    fn dns_sans_reject_with_etcds_words_when_nothing_matches() {
        let rules = EtcdPeerCertRules::default();
        let mut check = run(&rules, facts(&[], &["m2.test"], None), "127.0.0.13");
        let _ = check.step();
        // An answer nobody asked for is ignored.
        check.handle_lookup(
            LookupRequest::Forward("other".into()),
            Ok(LookupAnswer::Addresses(vec![ip("127.0.0.13")])),
        );
        check.handle_lookup(
            LookupRequest::Reverse(ip("127.0.0.13")),
            Ok(LookupAnswer::Names(vec!["m3.test.".into()])),
        );
        assert_eq!(check.step(), CheckStep::Pending);
        check.handle_lookup(
            LookupRequest::Forward("m2.test".into()),
            Ok(LookupAnswer::Addresses(vec![ip("127.0.0.12")])),
        );
        assert_eq!(
            check.step(),
            CheckStep::Reject(
                "tls: \"127.0.0.13\" does not match any of DNSNames [\"m2.test\"]".into()
            )
        );
    }

    #[test]
    fn allowed_cn_and_hostname_gate_before_the_san_check() {
        let rules =
            EtcdPeerCertRules { allowed_cns: vec!["etcd-peer".into()], allowed_hostnames: vec![] };
        assert_eq!(
            run(&rules, facts(&["127.0.0.11"], &[], Some("intruder")), "127.0.0.11").step(),
            CheckStep::Reject("client certificate authentication failed".into())
        );
        assert_eq!(
            run(&rules, facts(&["127.0.0.11"], &[], Some("etcd-peer")), "127.0.0.11").step(),
            CheckStep::Accept
        );
        let rules =
            EtcdPeerCertRules { allowed_cns: vec![], allowed_hostnames: vec!["m1.test".into()] };
        assert_eq!(
            run(&rules, facts(&["127.0.0.11"], &["*.test"], None), "127.0.0.11").step(),
            CheckStep::Accept
        );
        assert!(matches!(
            rules
                .start(Direction::Outgoing, facts(&[], &["a.b.test"], None), ip("127.0.0.11"))
                .step(),
            CheckStep::Reject(_)
        ));
    }

    #[test]
    fn wildcards_cover_one_label_only() {
        assert!(name_matches("*.test", "m1.test"));
        assert!(name_matches("M1.Test.", "m1.test"));
        assert!(!name_matches("*.test", "a.m1.test"));
        assert!(!name_matches("*.test", "test"));
        assert!(ptr_matches("*.wild.test", "a.b.wild.test."));
        assert!(!ptr_matches("m2.test", "m2.test.evil"));
    }

    #[test]
    fn facts_come_from_a_real_certificate() {
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.11".into(), "m1.test".into()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, "member-1");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let facts = CertFacts::from_der(cert.der()).unwrap();
        assert_eq!(facts.common_name.as_deref(), Some("member-1"));
        assert_eq!(facts.ip_sans, vec![ip("127.0.0.11")]);
        assert_eq!(facts.dns_sans, vec!["m1.test".to_string()]);
        assert!(CertFacts::from_der(b"junk").is_err());
    }
}
