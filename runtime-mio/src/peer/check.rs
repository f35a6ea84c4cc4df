//! The peer certificate check, between the TLS handshake and acceptance: the facts come from
//! the peer's end-entity certificate (parsed here with x509-parser), the decision from
//! `oxcd_core::identity` (etcd's rules as a state machine). Its DNS lookups go to the helper
//! thread of [`crate::dns`]; answers come back through the transport's `handle_wake`.
//!
//! Incoming connections get the full check (allowed CN/hostname, then the SAN check against the
//! TCP source address). Outgoing connections get the allow lists only, as etcd's TLS config
//! applies them to the server certificates it dials too; the SAN check there is rustls'
//! verification of the URL host.

use std::fmt;
use std::net::IpAddr;

use oxcd_core::identity::{self, LookupIds, PeerCertCheck, PeerCertRules, Step};
use x509_parser::extensions::GeneralName;

use crate::dns::{LookupAnswer, LookupRequest, LookupResult};

/// Which side of the connection dialed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// A peer dialed us: its client certificate is checked.
    Incoming,
    /// We dialed a peer: its server certificate is checked.
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

/// Reads what the identity rules look at from a DER certificate.
///
/// # Errors
/// The certificate does not parse (rustls already verified it, so this is rare).
pub fn cert_facts(der: &[u8]) -> Result<identity::CertFacts, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("cannot parse certificate: {e}"))?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut facts = identity::CertFacts { common_name, ..identity::CertFacts::default() };
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

/// One check in progress: the core's state machine and the step not yet acted upon.
pub(crate) struct CertCheck {
    check: PeerCertCheck,
    step: Option<Step>,
}

impl CertCheck {
    /// Starts the check of `facts` shown by `remote_ip`.
    pub(crate) fn start(
        facts: &identity::CertFacts,
        remote_ip: IpAddr,
        rules: &PeerCertRules,
        ids: &mut LookupIds,
    ) -> CertCheck {
        let (check, step) = PeerCertCheck::start(facts, remote_ip, rules, ids);
        CertCheck { check, step: Some(step) }
    }

    /// The step to act on, if a new one came since the last call.
    pub(crate) fn take_step(&mut self) -> Option<Step> {
        self.step.take()
    }

    /// Feeds the answer to lookup `id`; the resulting step is kept for [`take_step`].
    ///
    /// [`take_step`]: CertCheck::take_step
    pub(crate) fn handle_answer(&mut self, id: identity::LookupId, result: LookupResult) {
        let answer = match result {
            Ok(LookupAnswer::Addresses(addrs)) => Ok(identity::Resolved::Addrs(addrs)),
            Ok(LookupAnswer::Names(names)) => Ok(identity::Resolved::Names(names)),
            Err(e) => Err(e),
        };
        let step = self.check.handle_resolved(id, answer);
        if !matches!(step, Step::Pending) {
            self.step = Some(step);
        }
    }
}

/// The helper thread's question for one of the core's lookups.
pub(crate) fn dns_request(kind: &identity::LookupKind) -> LookupRequest {
    match kind {
        identity::LookupKind::Reverse(ip) => LookupRequest::Reverse(*ip),
        identity::LookupKind::Forward(name) => LookupRequest::Forward(name.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_come_from_a_real_certificate() {
        let mut params = rcgen::CertificateParams::new(vec![
            "127.0.0.11".into(),
            "m1.test".into(),
            "::1".into(),
        ])
        .unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, "member-1");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let facts = cert_facts(cert.der()).unwrap();
        assert_eq!(facts.common_name, "member-1");
        assert_eq!(
            facts.ip_sans,
            vec!["127.0.0.11".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]
        );
        assert_eq!(facts.dns_sans, vec!["m1.test".to_string()]);
        assert!(cert_facts(b"junk").is_err());
    }

    #[test]
    fn answers_drive_the_cores_check_to_a_verdict() {
        let facts = identity::CertFacts { dns_sans: vec!["m2.test".into()], ..Default::default() };
        let rules = PeerCertRules::new(vec![], vec![]).unwrap();
        let mut ids = LookupIds::new();
        let remote: IpAddr = "127.0.0.12".parse().unwrap();
        let mut check = CertCheck::start(&facts, remote, &rules, &mut ids);
        let Some(Step::NeedLookup(requests)) = check.take_step() else {
            panic!("lookups expected")
        };
        assert_eq!(check.take_step(), None);
        let kinds: Vec<LookupRequest> = requests.iter().map(|r| dns_request(&r.kind)).collect();
        assert_eq!(
            kinds,
            vec![LookupRequest::Reverse(remote), LookupRequest::Forward("m2.test".into())]
        );
        check.handle_answer(requests[0].id, Err("no PTR".into()));
        assert_eq!(check.take_step(), None, "still waiting for the forward answer");
        check.handle_answer(requests[1].id, Ok(LookupAnswer::Addresses(vec![remote])));
        assert_eq!(check.take_step(), Some(Step::Accept));
    }
}
