//! etcd's rules for the certificates of incoming peer connections, as pure functions and one
//! small state machine.
//!
//! After the TLS handshake (the runtime verified the chain and parsed the leaf into
//! [`CertFacts`]), [`PeerCertCheck::start`] decides, in etcd's order:
//!
//! 1. `--peer-cert-allowed-cn`: the Common Name must equal one of the allowed CNs exactly;
//!    `--peer-cert-allowed-hostname`: one allowed name must verify against the SANs with Go's
//!    `VerifyHostname` semantics ([`hostname::verify_hostname`]). The two are mutually exclusive
//!    ([`PeerCertRules::new`]). Refusal: `client certificate authentication failed`.
//! 2. `--peer-skip-client-san-verification`: accept.
//! 3. No IP SAN and no DNS SAN: accept.
//! 4. IP SANs: accept when the source IP is one of them. Otherwise, without DNS SANs, refuse with
//!    Go's `x509: certificate is valid for <ips>, not <ip>`.
//! 5. DNS SANs: look up the names of the source IP (reverse) and the addresses of every
//!    non-wildcard DNS SAN (forward). Accept when a reverse name equals a DNS SAN or ends with a
//!    wildcard SAN's suffix, or when a forward answer contains the source IP. Otherwise refuse
//!    with `tls: "<ip>" does not match any of DNSNames ["<name>" ...]`, followed by
//!    ` (<last lookup error>)` when a lookup failed.
//!
//! The lookups are outputs ([`LookupRequest`]) and their answers inputs
//! ([`PeerCertCheck::handle_resolved`]). etcd runs them one after the other and stops at the first
//! match; here they are all asked for at once and the first matching answer accepts. The verdict
//! and the refusal text are the same either way, only the latency differs.
//!
//! # The wildcard decision
//!
//! etcd's security guide says that when the reverse lookup finds no match, the server
//! "forward-lookups each DNS entry in peer cert (e.g. look up `example.default.svc` when the
//! entry is `*.example.default.svc`)". etcd's code (`isHostInDNS` in
//! `client/pkg/transport/listener_tls.go`) does not: wildcard entries take part in the reverse
//! match only (as a plain, case-sensitive suffix test of `.example.default.svc`, which also
//! matches names several labels deep), and forward lookups are made for non-wildcard entries
//! only.
//!
//! **oxcd follows the code.** Reasons: a cluster whose certificates work with etcd must work
//! with oxcd and vice versa, and the running behaviour is what operators' certificates were
//! tested against; and the documented variant would accept any peer whose IP the bare parent
//! domain resolves to (often a service or load-balancer address shared by many hosts), which is
//! a weaker proof of identity than a PTR record under that domain. The allowed-hostname rule, in
//! contrast, is Go's RFC 6125 matching (a `*` label matches exactly one label,
//! case-insensitively), as in etcd.

pub mod hostname;
mod peer;
#[cfg(test)]
mod tests;

pub use peer::{
    CertFacts, LookupId, LookupIds, LookupKind, LookupRequest, PeerCertCheck, PeerCertRules,
    Rejection, Resolved, RulesError, Step,
};
