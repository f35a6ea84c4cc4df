//! Peers whose certificates name them by DNS only, under etcd's peer certificate rules: an
//! incoming peer is accepted when a name of its source address (PTR) is one of the
//! certificate's DNS SANs or a SAN resolves to that address, and refused otherwise with etcd's
//! `tls: "<ip>" does not match any of DNSNames [...]`.
//!
//! Three oxcd members on 127.0.0.11-13 with `--peer-client-cert-auth` and peer certificates
//! whose only SAN is `m<i>.oxcd.test`, advertised as a peer URL (so dialing verifies the server
//! certificate against the name). The names live in a test DNS server
//! ([`oxcd_tests::e2e::dns`]) that the members ask through `OXCD_PEER_DNS_NAMESERVERS`.
//!
//! Each member also advertises its address URL, only so that its outgoing peer connections
//! leave from its own 127.0.0.x (see `MemberSpec::peer_urls`). Dials to that URL fail in TLS
//! (the certificates name no address) and the dialer moves on to the name; those TLS failures
//! are expected in the logs, and the assertions below look at the certificate check's own
//! refusals only.
//!
//! Needs the release `oxcd` (`cargo build --release -p oxcd`) and `/usr/bin/etcdctl`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use oxcd_tests::e2e::dns::PEER_DNS_ENV;
use oxcd_tests::e2e::dns::{Question, TYPE_A};
use oxcd_tests::e2e::ports::free_port;
use oxcd_tests::e2e::{
    Cluster, ClusterConfig, DnsServer, Exit, Member, MemberSpec, ServerBinary, Zone,
};

const DOMAIN: &str = "oxcd.test";

/// How long a member gets to log a refusal (dial backoff is at most 5 s).
const LOG_WAIT: Duration = Duration::from_secs(20);

fn ip(member: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 10 + member)
}

fn name(member: u8) -> String {
    format!("m{member}.{DOMAIN}")
}

/// m1-m3 resolve to their addresses, forward and reverse.
fn members_zone() -> Zone {
    (1..=3).fold(Zone::new(), |zone, m| zone.with_host(&name(m), ip(m)))
}

/// A three-member cluster with DNS-only peer certificates, its names served by `dns`.
fn start_cluster(dns: &DnsServer) -> Cluster {
    let binary = ServerBinary::oxcd().unwrap_or_else(|e| panic!("{e}"));
    let (env_name, env_value) = dns.env();
    let config =
        ClusterConfig::three_tls().with_peer_dns_domain(DOMAIN).with_env(&env_name, &env_value);
    let cluster = Cluster::start(&binary, config).unwrap_or_else(|e| panic!("{e}"));
    for (i, member) in cluster.members().iter().enumerate() {
        let spec = member.spec();
        assert_eq!(spec.ip, IpAddr::from(ip(i as u8 + 1)));
        assert_eq!(
            spec.peer_urls()[0],
            format!("https://{}:{}", name(i as u8 + 1), spec.peer_port)
        );
    }
    cluster
}

/// `etcdctl endpoint health` on every member reports it healthy.
fn assert_all_healthy(cluster: &Cluster) {
    let out = cluster.etcdctl().run_args(&["endpoint", "health"]).unwrap();
    let text = format!("{}{}", out.stdout_text(), out.stderr_text());
    assert_eq!(out.exit, Exit::Code(0), "{text}");
    for url in cluster.client_urls() {
        assert!(text.contains(&format!("{url} is healthy")), "{url} not healthy:\n{text}");
    }
}

/// Puts through the first member and reads back (linearizable) through the last.
fn assert_put_on_one_get_on_another(cluster: &Cluster, key: &str, value: &str) {
    let urls = cluster.client_urls();
    let on = |url: &String| cluster.etcdctl().with_endpoints(vec![url.clone()]);
    let put = on(&urls[0]).run_args(&["put", key, value]).unwrap();
    assert_eq!((put.stdout_text().as_str(), put.exit), ("OK\n", Exit::Code(0)), "{put:?}");
    let get = on(&urls[urls.len() - 1]).run_args(&["get", key, "--print-value-only"]).unwrap();
    assert_eq!(get.stdout_text(), format!("{value}\n"), "{get:?}");
}

/// What the peer certificate check refuses with (etcd's texts); TLS failures are not among them.
const CHECK_REASONS: [&str; 3] = [
    "does not match any of DNSNames",
    "x509: certificate is valid for",
    "client certificate authentication failed",
];

/// The log lines of `member` that refused a peer connection.
fn refusals(member: &Member) -> Vec<String> {
    member
        .log_text()
        .lines()
        .filter(|l| l.contains("rejected connection"))
        .map(str::to_owned)
        .collect()
}

/// Waits (bounded) until `member` has logged a refusal, after its first `skip` ones, that
/// satisfies `matches`.
fn wait_refusal(member: &Member, skip: usize, what: &str, matches: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + LOG_WAIT;
    loop {
        if refusals(member).iter().skip(skip).any(|l| matches(l)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} logged no refusal {what} within {LOG_WAIT:?}; its log:\n{}",
            member.spec().name,
            member.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The refusals of `member` that came from the certificate check.
fn check_refusals(member: &Member) -> Vec<String> {
    refusals(member).into_iter().filter(|l| CHECK_REASONS.iter().any(|r| l.contains(r))).collect()
}

fn asked(dns: &DnsServer, name: &str, qtype: u16) -> bool {
    dns.questions().contains(&Question { name: name.to_owned(), qtype })
}

#[test]
fn peers_whose_dns_names_resolve_to_their_addresses_form_a_cluster() {
    let dns = DnsServer::start(members_zone()).unwrap();
    let cluster = start_cluster(&dns);
    assert_all_healthy(&cluster);
    assert_put_on_one_get_on_another(&cluster, "dns-san", "accepted");

    // The members dialed the names and checked the certificates through the test server. The
    // forward lookups decide here: hickory answers every PTR question under 127.in-addr.arpa
    // itself with `localhost.` (RFC 6761) and never sends it, so on loopback addresses the
    // reverse path cannot match (nor reach the test server).
    for m in 1..=3 {
        assert!(asked(&dns, &name(m), TYPE_A), "no A query for {}", name(m));
    }
    for (i, member) in cluster.members().iter().enumerate() {
        let refused = check_refusals(member);
        assert!(refused.is_empty(), "{} refused peers: {refused:#?}", member.spec().name);
        let log = member.log_text();
        assert!(log.contains("OXCD_PEER_DNS_NAMESERVERS (testing only)"), "{log}");
        for (j, other) in cluster.members().iter().enumerate().filter(|(j, _)| *j != i) {
            let url = format!("url=https://{}:{} ", name(j as u8 + 1), other.spec().peer_port);
            assert!(
                log.lines().any(|l| l.contains("established TCP streaming connection")
                    && l.contains(&url)),
                "{} never reached {} by name:\n{log}",
                member.spec().name,
                other.spec().name
            );
        }
    }
}

#[test]
fn a_peer_whose_dns_name_resolves_elsewhere_is_refused() {
    // m4's certificate names m4.oxcd.test, but the name resolves to another address. (The
    // address m4 dials from, 127.0.0.14, resolves back to `localhost.`: see the first test.)
    let m4_ip = ip(4);
    let wrong_zone = members_zone().with_a(&name(4), Ipv4Addr::new(127, 0, 0, 24));
    let dns = DnsServer::start(wrong_zone).unwrap();
    let cluster = start_cluster(&dns);

    // m4 bootstraps as if it were a fourth founding member, so it dials m1-m3 at once.
    let spec = cluster.new_member_spec("m4", IpAddr::from(m4_ip)).unwrap();
    assert_eq!(spec.peer_name.as_deref(), Some(name(4).as_str()));
    let mut initial: Vec<String> =
        cluster.members().iter().flat_map(|m| m.spec().initial_cluster_entries()).collect();
    initial.extend(spec.initial_cluster_entries());
    let args = vec![
        format!("--initial-cluster={}", initial.join(",")),
        "--initial-cluster-state=new".to_owned(),
        format!("--initial-cluster-token={}", cluster.config().token),
    ];
    let m4 =
        Member::launch(cluster.binary(), spec, cluster.dir(), &args, &cluster.config().extra_args)
            .unwrap();

    // Every member refuses it with etcd's reason, naming the address and the certificate's names.
    let reason = format!("tls: \"{m4_ip}\" does not match any of DNSNames [\"{}\"]", name(4));
    for member in cluster.members() {
        wait_refusal(member, 0, "naming m4's address and DNS names", |l| {
            l.contains(&format!("remote_addr={m4_ip}:")) && l.contains(&reason)
        });
    }
    // m4 hears the reason from the members it dialed.
    wait_refusal(&m4, 0, "from the members", |l| {
        l.contains("refused by member") && l.contains(&reason)
    });
    assert!(asked(&dns, &name(4), TYPE_A));

    // The members themselves are unaffected.
    assert_all_healthy(&cluster);
    assert_put_on_one_get_on_another(&cluster, "still", "serving");
    for member in cluster.members() {
        let strangers: Vec<String> = check_refusals(member)
            .into_iter()
            .filter(|l| !l.contains(&format!("remote_addr={m4_ip}:")))
            .collect();
        assert!(strangers.is_empty(), "{} refused a member: {strangers:#?}", member.spec().name);
    }

    // Once the name resolves to m4's address, m4 passes the certificate check and gets as far
    // as its handshake, which names it (`peer=Some(..)`): refused there, for not being a member
    // of this cluster.
    let m1 = &cluster.members()[0];
    let before = refusals(m1).len();
    dns.set_zone(members_zone().with_host(&name(4), m4_ip));
    wait_refusal(m1, before, "of m4's handshake once its name resolves", |l| {
        l.contains(&format!("remote_addr={m4_ip}:")) && l.contains("peer=Some(")
    });
    drop(m4);
}

#[test]
fn a_malformed_name_server_list_stops_the_member() {
    let dir = tempfile::tempdir().unwrap();
    let ip = IpAddr::from(ip(1));
    let spec = MemberSpec {
        name: "m1".to_owned(),
        ip,
        client_port: free_port(ip).unwrap(),
        peer_port: free_port(ip).unwrap(),
        client_tls: None,
        peer_tls: None,
        peer_name: None,
        env: vec![(PEER_DNS_ENV.to_owned(), "127.0.0.1:53,nonsense".to_owned())],
    };
    let initial = spec.initial_cluster_entries().join(",");
    let args = [format!("--initial-cluster={initial}")];
    let binary = ServerBinary::oxcd().unwrap_or_else(|e| panic!("{e}"));
    let mut member = Member::launch(&binary, spec, dir.path(), &args, &[]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = member.poll_exit() {
            break exit;
        }
        assert!(Instant::now() < deadline, "still running:\n{}", member.log_text());
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = member.log_text();
    assert!(!exit.success(), "{exit}: {log}");
    assert!(log.contains("OXCD_PEER_DNS_NAMESERVERS=\"127.0.0.1:53,nonsense\""), "{log}");
}
