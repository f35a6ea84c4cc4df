//! The peer transport over loopback: members on 127.0.0.11, .12 and .13 (all of 127/8 is local
//! on Linux), certificates made here with rcgen, every loop driven from the test thread.

#[path = "peer_harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::net::IpAddr;

use harness::{config, init_logging, introduce, run_until, Clock, Member, TestCa};
use oxcd_core::NodeId;
use oxcd_runtime_mio::peer::check::Direction;
use oxcd_runtime_mio::peer::tls::SelfSignedPeerCert;
use oxcd_runtime_mio::peer::{DropReason, MessageClass, PeerEvent, PeerTls, PeerUrl, SendOutcome};

const CLUSTER: u64 = 0xc1;
const IPS: [&str; 3] = ["127.0.0.11", "127.0.0.12", "127.0.0.13"];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn incoming_from(member: &Member) -> Vec<(NodeId, IpAddr)> {
    member
        .events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::Connected { peer, direction: Direction::Incoming, remote_addr, .. } => {
                Some((*peer, remote_addr.ip()))
            }
            _ => None,
        })
        .collect()
}

fn send(member: &mut Member, clock: Clock, to: u64, class: MessageClass, payload: Vec<u8>) {
    assert_eq!(member.transport.send(clock.now(), NodeId(to), class, payload), SendOutcome::Queued);
}

#[test]
fn three_members_exchange_frames_over_mutual_tls_from_their_own_addresses() {
    init_logging();
    let clock = Clock::new();
    let ca = TestCa::new();
    let mut members: Vec<Member> = (0..3)
        .map(|i| {
            let tls = ca.peer_tls(&format!("member-{}", i + 1), &[IPS[i]]);
            Member::start(config(i as u64 + 1, CLUSTER, IPS[i], Some(tls)), clock)
        })
        .collect();
    for (i, m) in members.iter().enumerate() {
        assert_eq!(m.transport.source_ip(), Some(ip(IPS[i])));
    }
    introduce(&mut members, clock, true);
    // Messages sent before any connection exists wait in the queue.
    let snapshot: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    for (from, member) in members.iter_mut().enumerate() {
        for to in 0..3u64 {
            if from as u64 != to {
                let payload = format!("{} to {}", from + 1, to + 1).into_bytes();
                send(member, clock, to + 1, MessageClass::Raft, payload);
            }
        }
    }
    send(&mut members[0], clock, 2, MessageClass::Snapshot, snapshot.clone());
    send(&mut members[0], clock, 2, MessageClass::Raft, b"after the snapshot".to_vec());
    assert!(run_until(&mut members, clock, |ms| {
        ms[1].received.len() == 4 && ms[0].received.len() == 2 && ms[2].received.len() == 2
    }));
    for (i, member) in members.iter().enumerate() {
        for (j, other) in IPS.iter().enumerate() {
            if i != j {
                let expected = format!("{} to {}", j + 1, i + 1).into_bytes();
                assert!(member.received_from(j as u64 + 1).contains(&expected.as_slice()));
                // The receiver sees the sender's own advertised address as the source.
                assert!(
                    incoming_from(member).contains(&(NodeId(j as u64 + 1), ip(other))),
                    "{:?}",
                    member.events
                );
            }
        }
        assert!(member.refusals().is_empty(), "{:?}", member.refusals());
    }
    // The snapshot payload arrives whole, and the Raft message queued after it overtook it.
    let from_one: Vec<_> = members[1].received.iter().filter(|m| m.from == NodeId(1)).collect();
    let snap = from_one.iter().position(|m| m.class == MessageClass::Snapshot).unwrap();
    assert_eq!(from_one[snap].payload, snapshot);
    let after = from_one.iter().position(|m| m.payload == b"after the snapshot").unwrap();
    assert!(after < snap, "Raft messages go before the snapshot's pieces");
    let stats = members[0].transport.peer_stats(NodeId(2)).unwrap();
    assert_eq!(stats.messages_sent, 3);
    assert_eq!(stats.messages_queued, 0);
}

#[test]
fn a_certificate_with_the_wrong_ip_san_is_refused_and_the_others_keep_working() {
    init_logging();
    let clock = Clock::new();
    let ca = TestCa::new();
    let mut members: Vec<Member> = (0..3)
        .map(|i| {
            // Member 3's certificate names an address it does not use.
            let san = if i == 2 { "127.0.0.99" } else { IPS[i] };
            let tls = ca.peer_tls(&format!("member-{}", i + 1), &[san]);
            Member::start(config(i as u64 + 1, CLUSTER, IPS[i], Some(tls)), clock)
        })
        .collect();
    introduce(&mut members, clock, true);
    send(&mut members[0], clock, 2, MessageClass::Raft, b"1 to 2".to_vec());
    send(&mut members[1], clock, 1, MessageClass::Raft, b"2 to 1".to_vec());
    send(&mut members[2], clock, 1, MessageClass::Raft, b"3 to 1".to_vec());
    send(&mut members[2], clock, 2, MessageClass::Raft, b"3 to 2".to_vec());
    let wanted = "x509: certificate is valid for 127.0.0.99, not 127.0.0.13";
    assert!(run_until(&mut members, clock, |ms| {
        ms[0].received.len() == 1
            && ms[1].received.len() == 1
            && ms[0].refusals().iter().any(|r| r.contains(wanted))
            && ms[1].refusals().iter().any(|r| r.contains(wanted))
            && ms[2].refusals().iter().any(|r| r.contains(wanted))
    }));
    assert_eq!(members[0].received_from(2), vec![b"2 to 1".as_slice()]);
    assert_eq!(members[1].received_from(1), vec![b"1 to 2".as_slice()]);
    assert!(members[0].received_from(3).is_empty() && members[1].received_from(3).is_empty());
    // The refused member learns why from the Reply, and the refusal names the address.
    let told = members[2].refusals();
    assert!(told.iter().any(|r| r.starts_with("refused by member 1: x509")), "{told:?}");
    assert!(!members[2].transport.is_connected(NodeId(1)));
    assert!(
        members[0].transport.is_connected(NodeId(2))
            && members[1].transport.is_connected(NodeId(1))
    );
}

#[test]
fn another_cluster_and_an_unknown_member_are_refused_on_first_contact() {
    init_logging();
    let clock = Clock::new();
    let mut members = vec![
        Member::start(config(1, CLUSTER, IPS[0], None), clock),
        Member::start(config(2, 0xbad, IPS[1], None), clock),
        Member::start(config(3, CLUSTER, IPS[2], None), clock),
    ];
    // Member 1 knows only member 2; members 2 and 3 know member 1.
    let url1 = members[0].url(false);
    let url2 = members[1].url(false);
    members[0].transport.set_peers(clock.now(), BTreeMap::from([(NodeId(2), vec![url2])]));
    for m in &mut members[1..] {
        m.transport.set_peers(clock.now(), BTreeMap::from([(NodeId(1), vec![url1.clone()])]));
    }
    send(&mut members[1], clock, 1, MessageClass::Raft, b"from another cluster".to_vec());
    send(&mut members[2], clock, 1, MessageClass::Raft, b"from a stranger".to_vec());
    assert!(run_until(&mut members, clock, |ms| {
        let at_one = ms[0].refusals();
        at_one.iter().any(|r| r == "request cluster ID mismatch (got bad want c1)")
            && at_one.iter().any(|r| r.contains("member 3 not found in the cluster"))
            && ms[1]
                .refusals()
                .iter()
                .any(|r| r == "refused by member 1: request cluster ID mismatch (got bad want c1)")
            && ms[2]
                .refusals()
                .iter()
                .any(|r| r.contains("refused by member 1: member 3 not found"))
    }));
    assert!(members[0].received.is_empty());
    // Member 1 dialing member 2 finds the mismatch from its side too.
    let from_one = "refused by member 2: request cluster ID mismatch (got c1 want bad)";
    assert!(members[0].refusals().iter().any(|r| r == from_one), "{:?}", members[0].refusals());
    assert!(members[0].transport.stats().connections_refused >= 2);
}

#[test]
fn a_member_reconnects_after_its_peer_restarts() {
    init_logging();
    let clock = Clock::new();
    let ca = TestCa::new();
    let tls2 = ca.peer_tls("member-2", &[IPS[1]]);
    let mut members = vec![
        Member::start(config(1, CLUSTER, IPS[0], Some(ca.peer_tls("member-1", &[IPS[0]]))), clock),
        Member::start(config(2, CLUSTER, IPS[1], Some(tls2.clone())), clock),
    ];
    introduce(&mut members, clock, true);
    send(&mut members[0], clock, 2, MessageClass::Raft, b"before".to_vec());
    assert!(run_until(&mut members, clock, |ms| ms[1].received.len() == 1
        && ms[0].transport.is_connected(NodeId(2))));

    // Member 2 stops; member 1 notices and keeps redialing.
    let url2 = members[1].url(true);
    let url1 = members[0].url(true);
    drop(members.pop());
    assert!(run_until(&mut members, clock, |ms| ms[0].events.iter().any(|e| matches!(
        e,
        PeerEvent::Disconnected { peer: NodeId(2), direction: Direction::Outgoing, .. }
    ))));
    assert!(!members[0].transport.is_connected(NodeId(2)));
    send(&mut members[0], clock, 2, MessageClass::Raft, b"after".to_vec());

    // It comes back on the same address.
    let mut restarted = config(2, CLUSTER, IPS[1], Some(tls2));
    restarted.listen_urls = vec![url2.clone()];
    let mut member2 = Member::start(restarted, clock);
    member2.transport.set_peers(clock.now(), BTreeMap::from([(NodeId(1), vec![url1])]));
    members.push(member2);
    assert!(
        run_until(&mut members, clock, |ms| ms[1].received_from(1) == vec![b"after".as_slice()])
    );
    let connects = members[0]
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                PeerEvent::Connected { peer: NodeId(2), direction: Direction::Outgoing, .. }
            )
        })
        .count();
    assert_eq!(connects, 2);
}

#[test]
fn a_full_queue_drops_instead_of_blocking_and_the_rest_goes_out_later() {
    init_logging();
    let clock = Clock::new();
    let mut one = config(1, CLUSTER, IPS[0], None);
    one.send_queue_bytes_max = 1000;
    let mut members = vec![Member::start(one, clock)];
    // Member 2 is not running yet: its address refuses connections.
    let port = {
        let probe = std::net::TcpListener::bind((IPS[1], 0)).unwrap();
        probe.local_addr().unwrap().port()
    };
    let url2: PeerUrl = format!("http://{}:{port}", IPS[1]).parse().unwrap();
    members[0].transport.set_peers(clock.now(), BTreeMap::from([(NodeId(2), vec![url2.clone()])]));
    let mut outcomes = Vec::new();
    for i in 0..100u8 {
        outcomes.push(members[0].transport.send(
            clock.now(),
            NodeId(2),
            MessageClass::Raft,
            vec![i; 100],
        ));
    }
    let queued = outcomes.iter().filter(|o| **o == SendOutcome::Queued).count();
    assert_eq!(queued, 10);
    assert!(outcomes[10..].iter().all(|o| *o == SendOutcome::Dropped(DropReason::QueueFull)));
    assert_eq!(
        members[0].transport.send(clock.now(), NodeId(2), MessageClass::Raft, vec![0; 1001]),
        SendOutcome::Dropped(DropReason::TooLarge)
    );
    assert_eq!(
        members[0].transport.send(clock.now(), NodeId(9), MessageClass::Raft, vec![0]),
        SendOutcome::Dropped(DropReason::UnknownPeer)
    );
    let stats = members[0].transport.peer_stats(NodeId(2)).unwrap();
    assert_eq!((stats.messages_dropped, stats.messages_queued), (91, 10));
    // A few failed dials later the peer starts, and the queued messages arrive in order.
    assert!(run_until(&mut members, clock, |ms| ms[0].transport.stats().dials_failed >= 2));
    let mut two = config(2, CLUSTER, IPS[1], None);
    two.listen_urls = vec![url2];
    let mut member2 = Member::start(two, clock);
    let url1 = members[0].url(false);
    member2.transport.set_peers(clock.now(), BTreeMap::from([(NodeId(1), vec![url1])]));
    members.push(member2);
    assert!(run_until(&mut members, clock, |ms| ms[1].received.len() == 10));
    let firsts: Vec<u8> = members[1].received.iter().map(|m| m.payload[0]).collect();
    assert_eq!(firsts, (0..10).collect::<Vec<u8>>());
}

#[test]
fn auto_tls_members_connect_without_a_shared_ca() {
    init_logging();
    let clock = Clock::new();
    let mut members: Vec<Member> = (0..2)
        .map(|i| {
            let cert = SelfSignedPeerCert::generate(&[IPS[i].to_string()]).unwrap();
            let tls = PeerTls::auto(&cert).unwrap();
            Member::start(config(i as u64 + 1, CLUSTER, IPS[i], Some(tls)), clock)
        })
        .collect();
    introduce(&mut members, clock, true);
    send(&mut members[0], clock, 2, MessageClass::Raft, b"hello".to_vec());
    send(&mut members[1], clock, 1, MessageClass::Raft, b"hi".to_vec());
    assert!(
        run_until(&mut members, clock, |ms| ms[0].received.len() == 1 && ms[1].received.len() == 1)
    );
    assert!(members.iter().all(|m| m.refusals().is_empty()));
}

#[test]
fn a_member_with_a_certificate_from_another_ca_cannot_talk() {
    init_logging();
    let clock = Clock::new();
    let (ca, other_ca) = (TestCa::new(), TestCa::new());
    let mut members = vec![
        Member::start(config(1, CLUSTER, IPS[0], Some(ca.peer_tls("member-1", &[IPS[0]]))), clock),
        Member::start(
            config(2, CLUSTER, IPS[1], Some(other_ca.peer_tls("member-2", &[IPS[1]]))),
            clock,
        ),
    ];
    introduce(&mut members, clock, true);
    send(&mut members[1], clock, 1, MessageClass::Raft, b"let me in".to_vec());
    assert!(run_until(&mut members, clock, |ms| {
        ms.iter().all(|m| m.refusals().iter().any(|r| r.starts_with("tls: ")))
    }));
    assert!(members.iter().all(|m| m.received.is_empty()));
}

#[test]
fn peer_cert_allowed_cn_admits_only_that_common_name_in_both_directions() {
    init_logging();
    let clock = Clock::new();
    let ca = TestCa::new();
    let mut members: Vec<Member> = (0..3)
        .map(|i| {
            let tls = ca.peer_tls(&format!("member-{}", i + 1), &[IPS[i]]);
            let mut config = config(i as u64 + 1, CLUSTER, IPS[i], Some(tls));
            if i == 0 {
                config.cert_rules =
                    oxcd_core::identity::PeerCertRules::new(vec!["member-2".into()], vec![])
                        .unwrap();
            }
            Member::start(config, clock)
        })
        .collect();
    introduce(&mut members, clock, true);
    send(&mut members[1], clock, 1, MessageClass::Raft, b"2 to 1".to_vec());
    send(&mut members[2], clock, 1, MessageClass::Raft, b"3 to 1".to_vec());
    send(&mut members[0], clock, 3, MessageClass::Raft, b"1 to 3".to_vec());
    let refused = "client certificate authentication failed";
    assert!(run_until(&mut members, clock, |ms| {
        let at_one = ms[0]
            .events
            .iter()
            .filter(|e| matches!(e, PeerEvent::Refused { reason, .. } if reason == refused));
        ms[0].received.len() == 1 && at_one.count() >= 2
    }));
    assert_eq!(members[0].received_from(2), vec![b"2 to 1".as_slice()]);
    // Member 1 refuses member 3's client certificate, and member 3's server certificate too.
    let directions: Vec<Direction> = members[0]
        .events
        .iter()
        .filter_map(|e| match e {
            PeerEvent::Refused { peer, direction, reason, .. } if reason == refused => {
                assert_ne!(*peer, Some(NodeId(2)));
                Some(*direction)
            }
            _ => None,
        })
        .collect();
    assert!(directions.contains(&Direction::Incoming) && directions.contains(&Direction::Outgoing));
    assert!(members[2].received.is_empty());
}
