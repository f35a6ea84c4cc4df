//! Table-driven tests of the peer certificate rules, with a scripted resolver.

use super::*;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

fn facts(ips: &[&str], dns: &[&str], cn: &str) -> CertFacts {
    CertFacts {
        ip_sans: ips.iter().map(|s| ip(s)).collect(),
        dns_sans: strings(dns),
        common_name: cn.to_string(),
    }
}

/// A scripted DNS: reverse answers per IP, forward answers per name; anything else fails with
/// Go's "no such host" text.
#[derive(Default)]
struct Dns {
    reverse: BTreeMap<IpAddr, Result<Vec<String>, String>>,
    forward: BTreeMap<String, Result<Vec<IpAddr>, String>>,
}

impl Dns {
    fn ptr(mut self, addr: &str, names: &[&str]) -> Self {
        self.reverse.insert(ip(addr), Ok(strings(names)));
        self
    }
    fn a(mut self, name: &str, addrs: &[&str]) -> Self {
        self.forward.insert(name.to_string(), Ok(addrs.iter().map(|s| ip(s)).collect()));
        self
    }
    fn fail_forward(mut self, name: &str, err: &str) -> Self {
        self.forward.insert(name.to_string(), Err(err.to_string()));
        self
    }
    fn answer(&self, kind: &LookupKind) -> Result<Resolved, String> {
        match kind {
            LookupKind::Reverse(addr) => self
                .reverse
                .get(addr)
                .cloned()
                .unwrap_or_else(|| Err(alloc::format!("lookup {addr}: no such host")))
                .map(Resolved::Names),
            LookupKind::Forward(name) => self
                .forward
                .get(name)
                .cloned()
                .unwrap_or_else(|| Err(alloc::format!("lookup {name}: no such host")))
                .map(Resolved::Addrs),
        }
    }
}

/// Runs a check to its verdict, answering lookups in the order asked (or reversed). Returns the
/// verdict's text ("accept" or the refusal) and the lookups asked for.
fn run(
    facts: &CertFacts,
    remote: &str,
    rules: &PeerCertRules,
    dns: &Dns,
    reverse_order: bool,
) -> (String, Vec<String>) {
    let mut ids = LookupIds::new();
    let (mut check, step) = PeerCertCheck::start(facts, ip(remote), rules, &mut ids);
    let verdict = |s: &Step| match s {
        Step::Accept => Some("accept".to_string()),
        Step::Reject(r) => Some(r.to_string()),
        _ => None,
    };
    let mut asked = Vec::new();
    let mut requests = match step {
        Step::NeedLookup(reqs) => reqs,
        other => {
            assert!(check.is_decided());
            return (verdict(&other).unwrap(), asked);
        }
    };
    assert!(!check.is_decided());
    asked.extend(requests.iter().map(ToString::to_string));
    if reverse_order {
        requests.reverse();
    }
    for req in &requests {
        let step = check.handle_resolved(req.id, dns.answer(&req.kind));
        if let Some(v) = verdict(&step) {
            assert!(check.is_decided());
            // Later answers do not change a decision.
            assert_eq!(check.handle_resolved(req.id, Err("late".to_string())), step);
            return (v, asked);
        }
        assert_eq!(step, Step::Pending);
    }
    panic!("no verdict after every answer");
}

/// (name, facts, remote, rules, expected verdict, expected lookups)
type Case<'a> = (&'a str, CertFacts, &'a str, &'a PeerCertRules, &'a str, &'a [&'a str]);

fn rules() -> PeerCertRules {
    PeerCertRules::new(vec![], vec![]).unwrap()
}

#[test]
fn peer_certificate_table() {
    let cn_rules = PeerCertRules::new(strings(&["etcd-peer", "m2"]), vec![]).unwrap();
    let host_rules = PeerCertRules::new(vec![], strings(&["m1.example.com"])).unwrap();
    let host_ip_rules = PeerCertRules::new(vec![], strings(&["10.0.0.1"])).unwrap();
    let open = rules();
    let skip_rules = rules().with_skip_san_verify(true);
    let dns = Dns::default()
        .ptr("10.0.0.5", &["m5.example.com."])
        .ptr("10.0.0.6", &["a.b.wild.example."])
        .ptr("10.0.0.7", &["M7.example.com."])
        .a("m1.example.com", &["10.0.0.1", "10.0.0.11"])
        .a("m3.example.com", &["10.0.0.3"])
        .a("v6.example.com", &["fd00::1"])
        .fail_forward(
            "broken.example.com",
            "lookup broken.example.com on 127.0.0.53:53: server misbehaving",
        );

    // (name, facts, remote, rules, expected verdict, expected lookups)
    let cases: Vec<Case<'_>> = vec![
        ("no SANs", facts(&[], &[], "x"), "10.9.9.9", &open, "accept", &[]),
        ("IP match", facts(&["10.0.0.1", "10.0.0.2"], &[], ""), "10.0.0.2", &open, "accept", &[]),
        ("IP match, v4-mapped source", facts(&["10.0.0.1"], &[], ""), "::ffff:10.0.0.1", &open, "accept", &[]),
        (
            "IP mismatch",
            facts(&["10.0.0.1", "10.0.0.2"], &[], ""),
            "10.0.0.3",
            &open,
            "x509: certificate is valid for 10.0.0.1, 10.0.0.2, not 10.0.0.3",
            &[],
        ),
        (
            "IP mismatch, IPv6",
            facts(&["fd00::1"], &[], ""),
            "fd00:0:0:0:0:0:0:2",
            &open,
            "x509: certificate is valid for fd00::1, not fd00::2",
            &[],
        ),
        (
            "DNS-only match by forward lookup",
            facts(&[], &["m1.example.com"], ""),
            "10.0.0.1",
            &open,
            "accept",
            &["lookup#1 reverse 10.0.0.1", "lookup#2 forward m1.example.com"],
        ),
        (
            "DNS-only match by reverse lookup",
            facts(&[], &["m5.example.com"], ""),
            "10.0.0.5",
            &open,
            "accept",
            &["lookup#1 reverse 10.0.0.5", "lookup#2 forward m5.example.com"],
        ),
        (
            "reverse match is case-sensitive, as etcd",
            facts(&[], &["m7.example.com"], ""),
            "10.0.0.7",
            &open,
            "tls: \"10.0.0.7\" does not match any of DNSNames [\"m7.example.com\"] (lookup m7.example.com: no such host)",
            &["lookup#1 reverse 10.0.0.7", "lookup#2 forward m7.example.com"],
        ),
        (
            "DNS-only mismatch",
            facts(&[], &["m3.example.com"], ""),
            "10.0.0.4",
            &open,
            "tls: \"10.0.0.4\" does not match any of DNSNames [\"m3.example.com\"] (lookup 10.0.0.4: no such host)",
            &["lookup#1 reverse 10.0.0.4", "lookup#2 forward m3.example.com"],
        ),
        (
            "IP mismatch falls through to a DNS match",
            facts(&["10.0.0.9"], &["m3.example.com"], ""),
            "10.0.0.3",
            &open,
            "accept",
            &["lookup#1 reverse 10.0.0.3", "lookup#2 forward m3.example.com"],
        ),
        (
            "lookup failure: the last forward error is reported",
            facts(&[], &["broken.example.com", "m3.example.com"], ""),
            "10.0.0.5",
            &open,
            "tls: \"10.0.0.5\" does not match any of DNSNames [\"broken.example.com\" \"m3.example.com\"] \
             (lookup broken.example.com on 127.0.0.53:53: server misbehaving)",
            &["lookup#1 reverse 10.0.0.5", "lookup#2 forward broken.example.com", "lookup#3 forward m3.example.com"],
        ),
        (
            "wildcard matches a reverse name several labels deep",
            facts(&[], &["*.wild.example"], ""),
            "10.0.0.6",
            &open,
            "accept",
            &["lookup#1 reverse 10.0.0.6"],
        ),
        (
            "wildcard is never forward-looked-up",
            facts(&[], &["*.example.com"], ""),
            "10.0.0.1",
            &open,
            "tls: \"10.0.0.1\" does not match any of DNSNames [\"*.example.com\"] (lookup 10.0.0.1: no such host)",
            &["lookup#1 reverse 10.0.0.1"],
        ),
        (
            "IPv6 forward match",
            facts(&[], &["v6.example.com"], ""),
            "fd00::1",
            &open,
            "accept",
            &["lookup#1 reverse fd00::1", "lookup#2 forward v6.example.com"],
        ),
        ("allowed CN match", facts(&["10.0.0.1"], &[], "m2"), "10.0.0.1", &cn_rules, "accept", &[]),
        (
            "allowed CN mismatch",
            facts(&["10.0.0.1"], &[], "M2"),
            "10.0.0.1",
            &cn_rules,
            "client certificate authentication failed",
            &[],
        ),
        (
            "allowed CN passes, SAN check still refuses",
            facts(&["10.0.0.1"], &[], "etcd-peer"),
            "10.0.0.2",
            &cn_rules,
            "x509: certificate is valid for 10.0.0.1, not 10.0.0.2",
            &[],
        ),
        ("allowed hostname match", facts(&["10.0.0.1"], &["*.example.com"], ""), "10.0.0.1", &host_rules, "accept", &[]),
        (
            "allowed hostname mismatch",
            facts(&["10.0.0.1"], &["m2.example.com"], ""),
            "10.0.0.1",
            &host_rules,
            "client certificate authentication failed",
            &[],
        ),
        ("allowed hostname as IP", facts(&["10.0.0.1"], &[], ""), "10.0.0.1", &host_ip_rules, "accept", &[]),
        (
            "allowed hostname as IP does not match a DNS SAN",
            facts(&[], &["10.0.0.1"], ""),
            "10.0.0.1",
            &host_ip_rules,
            "client certificate authentication failed",
            &[],
        ),
        (
            "skip SAN verification",
            facts(&["10.0.0.1"], &[], ""),
            "10.0.0.2",
            &skip_rules,
            "accept",
            &[],
        ),
    ];
    for (name, facts, remote, rules, want, want_lookups) in &cases {
        for reverse_order in [false, true] {
            let (got, asked) = run(facts, remote, rules, &dns, reverse_order);
            assert_eq!(got, *want, "{name} (reverse order: {reverse_order})");
            assert_eq!(asked, strings(want_lookups), "{name}");
        }
    }
}

#[test]
fn rules_are_exclusive_with_etcds_text() {
    let err = PeerCertRules::new(strings(&["a"]), strings(&["b.example", "c"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "AllowedCNs and AllowedHostnames are mutually exclusive (cns=[\"a\"], hostnames=[\"b.example\" \"c\"])"
    );
    assert_eq!(rules().with_forward_lookups_max(0), Err(RulesError::NoForwardLookups));
}

#[test]
fn forward_lookups_are_bounded() {
    let many: Vec<String> = (0..10).map(|i| alloc::format!("m{i}.example.com")).collect();
    let facts = CertFacts { ip_sans: vec![], dns_sans: many, common_name: String::new() };
    let rules = rules().with_forward_lookups_max(3).unwrap();
    let mut ids = LookupIds::new();
    let (_, step) = PeerCertCheck::start(&facts, ip("10.0.0.1"), &rules, &mut ids);
    let Step::NeedLookup(reqs) = step else { panic!("{step:?}") };
    assert_eq!(reqs.len(), 4, "one reverse and three forward lookups");
}

#[test]
fn stray_and_malformed_answers_do_not_decide() {
    let facts = facts(&[], &["m1.example.com"], "");
    let mut ids = LookupIds::new();
    let (mut check, step) = PeerCertCheck::start(&facts, ip("10.0.0.1"), &rules(), &mut ids);
    let Step::NeedLookup(reqs) = step else { panic!("{step:?}") };
    // An id this check never asked for is ignored.
    assert_eq!(check.handle_resolved(LookupId(999), Ok(Resolved::Names(vec![]))), Step::Pending);
    // A reverse lookup answered with addresses counts as a failure, not as a match.
    assert_eq!(
        check.handle_resolved(reqs[0].id, Ok(Resolved::Addrs(vec![ip("10.0.0.1")]))),
        Step::Pending
    );
    // Answering the same lookup twice does not count twice.
    assert_eq!(
        check.handle_resolved(reqs[0].id, Ok(Resolved::Names(strings(&["m1.example.com"])))),
        Step::Pending
    );
    let step = check.handle_resolved(reqs[1].id, Ok(Resolved::Names(strings(&["10.0.0.1"]))));
    assert_eq!(
        step,
        Step::Reject(Rejection::DnsMismatch {
            remote: ip("10.0.0.1"),
            dns_sans: strings(&["m1.example.com"]),
            lookup_error: Some("unexpected answer to a forward lookup".to_string()),
        })
    );
}

#[test]
fn ids_are_unique_across_checks() {
    let facts = facts(&[], &["a.example", "b.example"], "");
    let mut ids = LookupIds::new();
    let mut seen = alloc::collections::BTreeSet::new();
    for _ in 0..3 {
        let (_, step) = PeerCertCheck::start(&facts, ip("10.0.0.1"), &rules(), &mut ids);
        let Step::NeedLookup(reqs) = step else { panic!() };
        for r in reqs {
            assert!(seen.insert(r.id), "duplicate {}", r.id);
        }
    }
    assert_eq!(seen.len(), 9);
}
