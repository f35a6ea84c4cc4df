//! A tiny authoritative DNS server for tests: UDP on 127.0.0.1, A and PTR (`in-addr.arpa`)
//! answers from a [`Zone`] the test sets, NXDOMAIN for names it does not know.
//!
//! Members point their peer DNS at it with `OXCD_PEER_DNS_NAMESERVERS` (see
//! [`DnsServer::env`]), so certificate checks and named peer URLs resolve test names such as
//! `m1.oxcd.test` without touching the machine's resolver.
//!
//! Only what a stub resolver asks is handled: standard queries (opcode 0) with one question in
//! class IN; anything after the question (an EDNS OPT record) is ignored. Names in queries must
//! not be compressed (no resolver compresses a lone question). Answers carry no compression
//! either and are cut at 512 bytes with the TC bit set.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The environment variable an oxcd member reads its (testing-only) peer name servers from.
pub const PEER_DNS_ENV: &str = "OXCD_PEER_DNS_NAMESERVERS";

/// Record type A (an IPv4 address).
pub const TYPE_A: u16 = 1;
/// Record type PTR (a name, for reverse lookups).
pub const TYPE_PTR: u16 = 12;
/// Record type AAAA (an IPv6 address; this server never has one).
pub const TYPE_AAAA: u16 = 28;
/// Class IN.
const CLASS_IN: u16 = 1;
/// Time to live of every answer: resolvers should not keep them (tests change the zone).
const TTL_SECONDS: u32 = 1;
/// The classic UDP message limit; longer answers are cut and marked truncated.
const RESPONSE_BYTES_MAX: usize = 512;
/// A query datagram longer than this is not read whole (it would not be a stub's query).
const QUERY_BYTES_MAX: usize = 1500;
/// How many questions [`DnsServer::questions`] keeps; later ones are answered, not recorded.
const QUESTIONS_MAX: usize = 4096;
/// How often the server thread looks at its stop flag.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Response codes this server gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rcode {
    /// The name exists (with or without records of the asked type).
    NoError = 0,
    /// The query could not be parsed.
    FormErr = 1,
    /// No such name.
    NxDomain = 3,
    /// Not a standard query.
    NotImp = 4,
}

/// One question as the server understood it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Question {
    /// The name, lower case, without the trailing dot.
    pub name: String,
    /// The record type asked for ([`TYPE_A`], [`TYPE_PTR`], ...).
    pub qtype: u16,
}

/// What the server knows: names with their IPv4 addresses, addresses with their names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Zone {
    hosts: BTreeMap<String, Vec<Ipv4Addr>>,
    ptrs: BTreeMap<Ipv4Addr, Vec<String>>,
}

impl Zone {
    /// An empty zone: every name is NXDOMAIN.
    pub fn new() -> Self {
        Self::default()
    }

    /// `name` resolves to `ip` and `ip` back to `name` (an A and a PTR record).
    #[must_use]
    pub fn with_host(self, name: &str, ip: Ipv4Addr) -> Self {
        self.with_a(name, ip).with_ptr(ip, name)
    }

    /// An A record: `name` resolves to `ip` (a name may have several).
    #[must_use]
    pub fn with_a(mut self, name: &str, ip: Ipv4Addr) -> Self {
        self.hosts.entry(normalize(name)).or_default().push(ip);
        self
    }

    /// A PTR record: `ip` resolves back to `name` (an address may have several).
    #[must_use]
    pub fn with_ptr(mut self, ip: Ipv4Addr, name: &str) -> Self {
        self.ptrs.entry(ip).or_default().push(normalize(name));
        self
    }

    /// The answer to `question`: its response code and the records' data.
    fn lookup(&self, question: &Question) -> (Rcode, Vec<Vec<u8>>) {
        if let Some(ip) = parse_reverse_name(&question.name) {
            return match self.ptrs.get(&ip) {
                None => (Rcode::NxDomain, Vec::new()),
                Some(_) if question.qtype != TYPE_PTR => (Rcode::NoError, Vec::new()),
                Some(names) => {
                    let data = names
                        .iter()
                        .map(|name| {
                            let mut rdata = Vec::new();
                            encode_name(name, &mut rdata);
                            rdata
                        })
                        .collect();
                    (Rcode::NoError, data)
                }
            };
        }
        match self.hosts.get(&question.name) {
            None => (Rcode::NxDomain, Vec::new()),
            Some(_) if question.qtype != TYPE_A => (Rcode::NoError, Vec::new()),
            Some(ips) => (Rcode::NoError, ips.iter().map(|ip| ip.octets().to_vec()).collect()),
        }
    }
}

/// The `in-addr.arpa` name whose PTR records hold the names of `ip`.
pub fn reverse_name(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa")
}

fn parse_reverse_name(name: &str) -> Option<Ipv4Addr> {
    let digits = name.strip_suffix(".in-addr.arpa")?;
    let mut octets = [0u8; 4];
    let mut parts = digits.split('.');
    for octet in octets.iter_mut().rev() {
        let part = parts.next()?;
        // Reverse names are written without leading zeros.
        if part.len() > 1 && part.starts_with('0') {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Writes `name` (dotted, no trailing dot needed) as uncompressed wire labels.
fn encode_name(name: &str, out: &mut Vec<u8>) {
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        assert!(label.len() <= 63, "DNS label too long: {label:?}");
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// Reads the question's name at `pos`; returns it (lower case) and the position after it.
fn parse_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    loop {
        let len = usize::from(*msg.get(pos)?);
        pos += 1;
        if len == 0 {
            return Some((name, pos));
        }
        // 0xC0: a compression pointer; 0x40/0x80: reserved label types.
        if len > 63 {
            return None;
        }
        let label = msg.get(pos..pos + len)?;
        pos += len;
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(&String::from_utf8_lossy(label).to_ascii_lowercase());
        if name.len() > 253 {
            return None;
        }
    }
}

fn u16_at(msg: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]))
}

/// Answers one query datagram into `out` (cleared first) and returns the question when it
/// parsed. Nothing is written for what is not a query with an id (shorter than a header, or a
/// response); a query that does not parse or asks another class than IN gets FORMERR, another
/// opcode NOTIMP.
pub fn respond(query: &[u8], zone: &Zone, out: &mut Vec<u8>) -> Option<Question> {
    out.clear();
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    let opcode = (query[2] >> 3) & 0x0f;
    let header = |out: &mut Vec<u8>, rcode: Rcode, questions: u16, answers: u16, tc: bool| {
        out.extend_from_slice(&query[0..2]);
        // QR, the query's opcode, AA, TC, the query's RD; no recursion available.
        let flags = 0x8400u16
            | (u16::from(opcode) << 11)
            | if tc { 0x0200 } else { 0 }
            | (u16::from(query[2] & 0x01) << 8)
            | rcode as u16;
        out.extend_from_slice(&flags.to_be_bytes());
        for count in [questions, answers, 0, 0] {
            out.extend_from_slice(&count.to_be_bytes());
        }
    };
    if opcode != 0 {
        header(out, Rcode::NotImp, 0, 0, false);
        return None;
    }
    let parsed = (u16_at(query, 4) == Some(1)).then(|| parse_name(query, 12)).flatten().and_then(
        |(name, end)| {
            let qtype = u16_at(query, end)?;
            let qclass = u16_at(query, end + 2)?;
            (qclass == CLASS_IN).then_some((Question { name, qtype }, end + 4))
        },
    );
    let Some((question, question_end)) = parsed else {
        header(out, Rcode::FormErr, 0, 0, false);
        return None;
    };
    let (rcode, records) = zone.lookup(&question);
    let mut answers = Vec::new();
    let mut answers_bytes = 0;
    let mut truncated = false;
    for rdata in &records {
        let mut record = vec![0xc0, 0x0c]; // the name: a pointer to the question's
        record.extend_from_slice(&question.qtype.to_be_bytes());
        record.extend_from_slice(&CLASS_IN.to_be_bytes());
        record.extend_from_slice(&TTL_SECONDS.to_be_bytes());
        record.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        record.extend_from_slice(rdata);
        if question_end + answers_bytes + record.len() > RESPONSE_BYTES_MAX {
            truncated = true;
            break;
        }
        answers_bytes += record.len();
        answers.push(record);
    }
    let answers_len = answers.len() as u16;
    header(out, rcode, 1, answers_len, truncated);
    out.extend_from_slice(&query[12..question_end]);
    for record in answers {
        out.extend_from_slice(&record);
    }
    Some(question)
}

/// A running [`Zone`] server on `127.0.0.1:<port>`; it stops (and its thread is joined) on
/// drop.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    questions: Arc<Mutex<Vec<Question>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Binds `127.0.0.1:0` and serves `zone` on a thread.
    ///
    /// # Errors
    /// When the socket cannot be bound or the thread spawned.
    pub fn start(zone: Zone) -> io::Result<Self> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        socket.set_read_timeout(Some(POLL_INTERVAL))?;
        let addr = socket.local_addr()?;
        let zone = Arc::new(Mutex::new(zone));
        let questions = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name("test-dns".into()).spawn({
            let (zone, questions, stop) = (zone.clone(), questions.clone(), stop.clone());
            move || serve(&socket, &zone, &questions, &stop)
        })?;
        Ok(Self { addr, zone, questions, stop, thread: Some(thread) })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The environment variable that points an oxcd member's peer DNS here.
    pub fn env(&self) -> (String, String) {
        (PEER_DNS_ENV.to_owned(), self.addr.to_string())
    }

    /// Replaces what it answers from now on.
    pub fn set_zone(&self, zone: Zone) {
        *self.zone.lock().expect("zone lock") = zone;
    }

    /// The questions asked so far, in order (the first [`QUESTIONS_MAX`]).
    pub fn questions(&self) -> Vec<Question> {
        self.questions.lock().expect("questions lock").clone()
    }
}

fn serve(
    socket: &UdpSocket,
    zone: &Mutex<Zone>,
    questions: &Mutex<Vec<Question>>,
    stop: &AtomicBool,
) {
    let mut query = vec![0u8; QUERY_BYTES_MAX];
    let mut response = Vec::with_capacity(RESPONSE_BYTES_MAX);
    while !stop.load(Ordering::Relaxed) {
        let (len, from) = match socket.recv_from(&mut query) {
            Ok(got) => got,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                continue
            }
            // ICMP errors of earlier sends surface here on Linux; keep serving.
            Err(_) => continue,
        };
        let question = respond(&query[..len], &zone.lock().expect("zone lock"), &mut response);
        if let Some(question) = question {
            let mut asked = questions.lock().expect("questions lock");
            if asked.len() < QUESTIONS_MAX {
                asked.push(question);
            }
        }
        if !response.is_empty() {
            let _ = socket.send_to(&response, from);
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stub resolver's query: id, RD set, one question, optionally an EDNS OPT record.
    fn query(id: u16, name: &str, qtype: u16, edns: bool) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
        encode_name(name, &mut q);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        if edns {
            // Root name, type OPT (41), UDP size 1232, no extended flags, no options.
            q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        }
        q
    }

    /// The parts of a response the tests look at.
    #[derive(Debug, PartialEq, Eq)]
    struct Parsed {
        id: u16,
        flags: u16,
        question: Option<(String, u16)>,
        answers: Vec<(u16, u32, Vec<u8>)>,
    }

    fn parse(msg: &[u8]) -> Parsed {
        let id = u16_at(msg, 0).unwrap();
        let flags = u16_at(msg, 2).unwrap();
        let (qd, an) = (u16_at(msg, 4).unwrap(), u16_at(msg, 6).unwrap());
        assert_eq!((u16_at(msg, 8), u16_at(msg, 10)), (Some(0), Some(0)));
        let mut pos = 12;
        let mut question = None;
        if qd == 1 {
            let (name, end) = parse_name(msg, 12).unwrap();
            question = Some((name, u16_at(msg, end).unwrap()));
            assert_eq!(u16_at(msg, end + 2), Some(CLASS_IN));
            pos = end + 4;
        }
        let mut answers = Vec::new();
        for _ in 0..an {
            assert_eq!(&msg[pos..pos + 2], &[0xc0, 0x0c], "answers point at the question");
            let rtype = u16_at(msg, pos + 2).unwrap();
            assert_eq!(u16_at(msg, pos + 4), Some(CLASS_IN));
            let ttl = u32::from_be_bytes(msg[pos + 6..pos + 10].try_into().unwrap());
            let len = usize::from(u16_at(msg, pos + 10).unwrap());
            answers.push((rtype, ttl, msg[pos + 12..pos + 12 + len].to_vec()));
            pos += 12 + len;
        }
        assert_eq!(pos, msg.len(), "nothing after the answers");
        Parsed { id, flags, question, answers }
    }

    fn zone() -> Zone {
        Zone::new()
            .with_host("m1.oxcd.test", Ipv4Addr::new(127, 0, 0, 11))
            .with_a("multi.oxcd.test", Ipv4Addr::new(10, 0, 0, 1))
            .with_a("multi.oxcd.test", Ipv4Addr::new(10, 0, 0, 2))
    }

    #[test]
    fn an_a_query_gets_the_exact_wire_answer() {
        let mut out = Vec::new();
        let q = query(0xbeef, "m1.oxcd.test", TYPE_A, false);
        let question = respond(&q, &zone(), &mut out).unwrap();
        assert_eq!(question, Question { name: "m1.oxcd.test".into(), qtype: TYPE_A });
        let mut expected = vec![0xbe, 0xef, 0x85, 0x00, 0, 1, 0, 1, 0, 0, 0, 0];
        expected.extend_from_slice(b"\x02m1\x04oxcd\x04test\x00\x00\x01\x00\x01");
        expected.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 127, 0, 0, 11]);
        assert_eq!(out, expected);
    }

    #[test]
    fn every_address_of_a_name_is_answered() {
        let mut out = Vec::new();
        respond(&query(7, "multi.oxcd.test", TYPE_A, true), &zone(), &mut out).unwrap();
        let parsed = parse(&out);
        assert_eq!(parsed.id, 7);
        assert_eq!(parsed.flags & 0x000f, Rcode::NoError as u16);
        assert_eq!(
            parsed.answers,
            vec![
                (TYPE_A, TTL_SECONDS, vec![10, 0, 0, 1]),
                (TYPE_A, TTL_SECONDS, vec![10, 0, 0, 2])
            ]
        );
    }

    #[test]
    fn a_ptr_query_gets_the_name_as_labels() {
        let mut out = Vec::new();
        let name = reverse_name(Ipv4Addr::new(127, 0, 0, 11));
        assert_eq!(name, "11.0.0.127.in-addr.arpa");
        let question = respond(&query(9, &name, TYPE_PTR, false), &zone(), &mut out).unwrap();
        assert_eq!(question.qtype, TYPE_PTR);
        let parsed = parse(&out);
        assert_eq!(parsed.question, Some((name, TYPE_PTR)));
        assert_eq!(parsed.answers, vec![(TYPE_PTR, 1, b"\x02m1\x04oxcd\x04test\x00".to_vec())]);
    }

    #[test]
    fn unknown_names_are_nxdomain_and_missing_types_are_empty() {
        let mut out = Vec::new();
        for (name, qtype) in [
            ("m9.oxcd.test", TYPE_A),
            ("12.0.0.127.in-addr.arpa", TYPE_PTR),
            ("1.2.3.in-addr.arpa", TYPE_PTR),
        ] {
            respond(&query(1, name, qtype, false), &zone(), &mut out).unwrap();
            let parsed = parse(&out);
            assert_eq!(parsed.flags & 0x000f, Rcode::NxDomain as u16, "{name}");
            assert!(parsed.answers.is_empty());
        }
        for (name, qtype) in [("m1.oxcd.test", TYPE_AAAA), ("11.0.0.127.in-addr.arpa", TYPE_A)] {
            respond(&query(1, name, qtype, false), &zone(), &mut out).unwrap();
            let parsed = parse(&out);
            assert_eq!(parsed.flags & 0x000f, Rcode::NoError as u16, "{name}");
            assert!(parsed.answers.is_empty(), "{name}");
        }
    }

    #[test]
    fn names_match_without_case_and_the_question_is_echoed_as_asked() {
        let mut out = Vec::new();
        let q = query(3, "M1.OxCd.TEST.", TYPE_A, false);
        assert_eq!(respond(&q, &zone(), &mut out).unwrap().name, "m1.oxcd.test");
        assert_eq!(&out[12..q.len()], &q[12..], "question bytes unchanged");
        assert_eq!(parse(&out).answers.len(), 1);
    }

    #[test]
    fn bad_queries_get_errors_or_nothing() {
        let mut out = Vec::new();
        let good = query(5, "m1.oxcd.test", TYPE_A, false);
        // Too short to carry a header, or a response: no answer at all.
        assert_eq!(respond(&good[..11], &zone(), &mut out), None);
        assert!(out.is_empty());
        let mut response = good.clone();
        response[2] |= 0x80;
        assert_eq!(respond(&response, &zone(), &mut out), None);
        assert!(out.is_empty());
        // Another opcode (here 2, STATUS).
        let mut status = good.clone();
        status[2] = 0x10;
        assert_eq!(respond(&status, &zone(), &mut out), None);
        assert_eq!(parse(&out).flags & 0x000f, Rcode::NotImp as u16);
        // Two questions, a compressed name, a name running past the end, class CH: FORMERR.
        let mut two = good.clone();
        two[5] = 2;
        let mut pointer = good[..12].to_vec();
        pointer.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        let mut chaos = good.clone();
        let end = chaos.len();
        chaos[end - 1] = 3;
        for bad in [two, pointer, good[..20].to_vec(), chaos] {
            assert_eq!(respond(&bad, &zone(), &mut out), None);
            let parsed = parse(&out);
            assert_eq!(parsed.id, 5);
            assert_eq!(parsed.flags & 0x000f, Rcode::FormErr as u16);
            assert_eq!(parsed.question, None);
        }
    }

    #[test]
    fn long_answers_are_truncated() {
        let mut zone = Zone::new();
        for i in 0..60 {
            zone = zone.with_a("many.oxcd.test", Ipv4Addr::new(10, 0, 1, i));
        }
        let mut out = Vec::new();
        respond(&query(1, "many.oxcd.test", TYPE_A, false), &zone, &mut out).unwrap();
        assert!(out.len() <= RESPONSE_BYTES_MAX);
        let parsed = parse(&out);
        assert_ne!(parsed.flags & 0x0200, 0, "TC set");
        assert!(!parsed.answers.is_empty() && parsed.answers.len() < 60);
    }

    #[test]
    fn reverse_names_parse_only_when_well_formed() {
        assert_eq!(parse_reverse_name("4.3.2.1.in-addr.arpa"), Some(Ipv4Addr::new(1, 2, 3, 4)));
        for bad in ["3.2.1.in-addr.arpa", "5.4.3.2.1.in-addr.arpa", "04.3.2.1.in-addr.arpa"] {
            assert_eq!(parse_reverse_name(bad), None, "{bad}");
        }
        assert_eq!(parse_reverse_name("256.3.2.1.in-addr.arpa"), None);
        assert_eq!(parse_reverse_name("4.3.2.1.ip6.arpa"), None);
    }

    #[test]
    fn the_server_answers_over_udp_follows_zone_changes_and_stops_on_drop() {
        let server = DnsServer::start(zone()).unwrap();
        assert_eq!(server.env(), (PEER_DNS_ENV.to_owned(), server.addr().to_string()));
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let ask = |id: u16, name: &str| {
            client.send_to(&query(id, name, TYPE_A, true), server.addr()).unwrap();
            let mut buf = [0u8; 512];
            let (len, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!(from, server.addr());
            parse(&buf[..len])
        };
        let first = ask(1, "m1.oxcd.test");
        assert_eq!(first.id, 1);
        assert_eq!(first.answers, vec![(TYPE_A, 1, vec![127, 0, 0, 11])]);
        server.set_zone(Zone::new().with_a("m1.oxcd.test", Ipv4Addr::new(127, 0, 0, 99)));
        assert_eq!(ask(2, "m1.oxcd.test").answers, vec![(TYPE_A, 1, vec![127, 0, 0, 99])]);
        // Junk is ignored and the server keeps serving.
        client.send_to(b"junk", server.addr()).unwrap();
        assert_eq!(ask(3, "nope.oxcd.test").flags & 0x000f, Rcode::NxDomain as u16);
        assert_eq!(
            server.questions(),
            vec![
                Question { name: "m1.oxcd.test".into(), qtype: TYPE_A },
                Question { name: "m1.oxcd.test".into(), qtype: TYPE_A },
                Question { name: "nope.oxcd.test".into(), qtype: TYPE_A },
            ]
        );
        let addr = server.addr();
        drop(server);
        // The socket is closed once the thread is joined: the port can be bound again.
        UdpSocket::bind(addr).unwrap();
    }
}
