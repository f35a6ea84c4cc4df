//! Certificates with DNS SANs only: the acceptor's check asks the DNS helper thread (hickory,
//! pointed at a tiny UDP name server that this test runs on 127.0.0.53), and accepts a member
//! whose name resolves to its source address, refuses one whose name does not.

#[path = "peer_harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use harness::{config, init_logging, run_until, Clock, Member, TestCa};
use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::A;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use oxcd_core::NodeId;
use oxcd_runtime_mio::dns::DnsConfig;
use oxcd_runtime_mio::peer::{MessageClass, PeerUrl, SendOutcome};

/// A name server for a handful of A records, on a thread stopped by `Drop`.
struct TinyDns {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TinyDns {
    fn start(a: &[(&str, Ipv4Addr)]) -> TinyDns {
        let socket = UdpSocket::bind("127.0.0.53:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let addr = socket.local_addr().unwrap();
        let a: BTreeMap<String, Ipv4Addr> =
            a.iter().map(|(n, ip)| (format!("{n}."), *ip)).collect();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (asked2, stop2) = (asked.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stop2.load(Ordering::SeqCst) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
                let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
                let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
                reply.metadata.recursion_desired = query.metadata.recursion_desired;
                reply.metadata.recursion_available = true;
                let mut known = false;
                for q in &query.queries {
                    let name = q.name().to_string().to_ascii_lowercase();
                    asked2.lock().unwrap().push(name.clone());
                    reply.add_query(q.clone());
                    match q.query_type() {
                        RecordType::A | RecordType::AAAA => {
                            if let Some(ip) = a.get(&name) {
                                known = true;
                                if q.query_type() == RecordType::A {
                                    reply.add_answer(Record::from_rdata(
                                        q.name().clone(),
                                        5,
                                        RData::A(A(*ip)),
                                    ));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                if !known {
                    reply.metadata.response_code = ResponseCode::NXDomain;
                }
                let _ = socket.send_to(&reply.to_vec().unwrap(), from);
            }
        });
        TinyDns { addr, asked, stop, thread: Some(thread) }
    }
}

impl Drop for TinyDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

#[test]
fn dns_only_certificates_pass_when_the_name_resolves_to_the_source_and_fail_otherwise() {
    init_logging();
    let clock = Clock::new();
    let ip = |last: u8| Ipv4Addr::new(127, 0, 0, last);
    let dns = TinyDns::start(&[
        ("m1.oxcd.test", ip(11)),
        ("m2.oxcd.test", ip(12)),
        ("m3.oxcd.test", ip(99)),
    ]);
    let ca = TestCa::new();
    let ips = ["127.0.0.11", "127.0.0.12", "127.0.0.13"];
    let mut members: Vec<Member> = (0..3)
        .map(|i| {
            let name = format!("m{}.oxcd.test", i + 1);
            let tls = ca.peer_tls(&format!("member-{}", i + 1), &[name.as_str()]);
            let mut config = config(i as u64 + 1, 0xc1, ips[i], Some(tls));
            config.dns = DnsConfig::Nameservers(vec![dns.addr]);
            Member::start(config, clock)
        })
        .collect();
    // Peers are dialed by name: the server certificates carry names only.
    let urls: BTreeMap<NodeId, Vec<PeerUrl>> = members
        .iter()
        .map(|m| {
            let port = m.transport.local_addrs()[0].port();
            let url = format!("https://m{}.oxcd.test:{port}", m.id.get()).parse().unwrap();
            (m.id, vec![url])
        })
        .collect();
    for member in &mut members {
        member.transport.set_peers(clock.now(), urls.clone());
    }
    for (from, to) in [(0, 2), (1, 1), (2, 1), (2, 2)] {
        let outcome = members[from].transport.send(
            clock.now(),
            NodeId(to),
            MessageClass::Raft,
            vec![from as u8],
        );
        assert_eq!(outcome, SendOutcome::Queued);
    }
    let refused = "tls: \"127.0.0.13\" does not match any of DNSNames [\"m3.oxcd.test\"]";
    assert!(run_until(&mut members, clock, |ms| {
        ms[0].received.len() == 1
            && ms[1].received.len() == 1
            && ms[0].refusals().iter().any(|r| r == refused)
            && ms[1].refusals().iter().any(|r| r == refused)
    }));
    assert_eq!(members[0].received_from(2), vec![&[1u8][..]]);
    assert_eq!(members[1].received_from(1), vec![&[0u8][..]]);
    assert!(members[0].received_from(3).is_empty() && members[1].received_from(3).is_empty());
    assert!(members[2]
        .refusals()
        .iter()
        .any(|r| r.starts_with("refused by member 1: tls: \"127.0.0.13\"")));
    // The answers came from this test's server. (Reverse questions for 127/8 never reach it:
    // hickory answers them itself with "localhost.", which matches no SAN here.)
    let asked = dns.asked.lock().unwrap().clone();
    assert!(asked.contains(&"m3.oxcd.test.".to_string()), "{asked:?}");
    drop(members); // joins the DNS helper threads
}
