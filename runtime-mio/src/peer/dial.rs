//! The dialing side: one outgoing connection per peer, tried URL by URL and address by
//! address, redialed with backoff; the handshake exchange that admits it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use mio::Interest;
use oxcd_core::{Instant, NodeId};
use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};
use tracing::{debug, info, warn};

use super::check::CertCheck;
use super::conn::Stream;
use super::wire::{Frame, Handshake};
use super::{
    hex, Conn, Direction, Link, LookupOwner, OutPhase, PeerEvent, PeerHost, PeerTransport, PeerUrl,
    Side, PREHANDSHAKE_BYTES_MAX,
};
use crate::dns::{LookupAnswer, LookupId, LookupRequest, LookupResult};

/// Where a dial attempt is in the peer's URLs and their addresses.
pub(super) struct Cursor {
    /// Index of the URL whose addresses are in `addrs`.
    url: usize,
    addrs: Vec<SocketAddr>,
    next_addr: usize,
    /// `url` has not been resolved yet.
    fresh: bool,
    last_error: String,
}

/// Names a frame for logs without printing its payload.
struct FrameName<'a>(&'a Frame);

impl std::fmt::Debug for FrameName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Frame::Raft(_) => "Raft",
            Frame::SnapshotMore(_) => "SnapshotMore",
            Frame::SnapshotLast(_) => "SnapshotLast",
            Frame::Accepted => "Accepted",
            Frame::Refused(_) => "Refused",
        })
    }
}

/// What a failed outgoing connection leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum After {
    /// Try the next address or URL at once (the peer was not reached there).
    NextTarget,
    /// Wait a backoff before dialing again (the peer was reached and refused, or it failed).
    Backoff,
}

pub(super) const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// Keepalive probes find a peer that vanished without closing.
pub(super) fn keepalive(sock: &socket2::SockRef<'_>) {
    let params =
        TcpKeepalive::new().with_time(TCP_KEEPALIVE).with_interval(Duration::from_secs(10));
    let _ = sock.set_tcp_keepalive(&params);
}

impl PeerTransport {
    /// Dials every idle peer whose retry time has come.
    pub(super) fn dial_due(&mut self, now: Instant) {
        let due: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|(_, p)| matches!(p.link, Link::Idle { retry_at } if retry_at <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let cursor = Cursor {
                url: 0,
                addrs: Vec::new(),
                next_addr: 0,
                fresh: true,
                last_error: String::new(),
            };
            self.try_cursor(now, id, cursor);
        }
    }

    /// Opens a connection to the next address of the cursor, resolving URLs on the way; when
    /// all are exhausted the peer goes idle for a backoff.
    fn try_cursor(&mut self, now: Instant, id: NodeId, mut cursor: Cursor) {
        loop {
            let Some(peer) = self.peers.get(&id) else { return };
            if !cursor.fresh {
                if let Some(&addr) = cursor.addrs.get(cursor.next_addr) {
                    cursor.next_addr += 1;
                    let url = peer.urls[cursor.url].clone();
                    match self.open_outgoing(now, id, &url, addr) {
                        Ok(slot) => {
                            if let Some(peer) = self.peers.get_mut(&id) {
                                peer.link = Link::Dialing { slot, cursor };
                            }
                            return;
                        }
                        Err(e) => {
                            self.stats.dials_failed += 1;
                            cursor.last_error = format!("dial {url} ({addr}): {e}");
                            continue;
                        }
                    }
                }
                cursor.url += 1;
                cursor.fresh = true;
            }
            let Some(url) = peer.urls.get(cursor.url).cloned() else {
                self.backoff_peer(now, id, &cursor.last_error);
                return;
            };
            match &url.host {
                PeerHost::Ip(ip) => {
                    cursor.addrs = vec![SocketAddr::new(*ip, url.port)];
                    cursor.next_addr = 0;
                    cursor.fresh = false;
                }
                PeerHost::Name(name) => {
                    let request = LookupRequest::Forward(name.clone());
                    match self.start_lookup(LookupOwner::Dial { peer: id }, request) {
                        Ok(lookup) => {
                            if let Some(peer) = self.peers.get_mut(&id) {
                                peer.link = Link::Resolving { cursor, lookup };
                            }
                            return;
                        }
                        Err((_, e)) => {
                            cursor.last_error = format!("resolve {url}: {e}");
                            cursor.addrs.clear();
                            cursor.fresh = false;
                        }
                    }
                }
            }
        }
    }

    fn backoff_peer(&mut self, now: Instant, id: NodeId, last_error: &str) {
        let Some(peer) = self.peers.get_mut(&id) else { return };
        if peer.urls.is_empty() {
            peer.link = Link::Idle { retry_at: Instant::MAX };
            return;
        }
        let delay = peer.backoff.next_delay(&mut self.rng);
        debug!(peer = %hex(id), error = last_error, retry_in = ?delay, "failed to reach peer");
        peer.link = Link::Idle { retry_at: now + delay };
    }

    /// The addresses of a named peer URL arrived.
    pub(super) fn dial_resolved(
        &mut self,
        now: Instant,
        id: NodeId,
        lookup: LookupId,
        result: LookupResult,
    ) {
        let Some(peer) = self.peers.get_mut(&id) else { return };
        if !matches!(&peer.link, Link::Resolving { lookup: l, .. } if *l == lookup) {
            return;
        }
        let Link::Resolving { mut cursor, .. } =
            std::mem::replace(&mut peer.link, Link::Idle { retry_at: Instant::MAX })
        else {
            unreachable!("matched just above")
        };
        let Some(url) = peer.urls.get(cursor.url) else { return };
        cursor.addrs = match result {
            Ok(LookupAnswer::Addresses(ips)) => {
                ips.into_iter().map(|ip| SocketAddr::new(ip, url.port)).collect()
            }
            Ok(LookupAnswer::Names(_)) => Vec::new(),
            Err(e) => {
                cursor.last_error = format!("resolve {url}: {e}");
                Vec::new()
            }
        };
        if cursor.addrs.is_empty() && cursor.last_error.is_empty() {
            cursor.last_error = format!("resolve {url}: no address");
        }
        cursor.next_addr = 0;
        cursor.fresh = false;
        self.try_cursor(now, id, cursor);
    }

    /// Starts a non-blocking connect from the member's own address when it is local.
    fn open_outgoing(
        &mut self,
        now: Instant,
        id: NodeId,
        url: &PeerUrl,
        addr: SocketAddr,
    ) -> Result<usize, String> {
        let slot = self.free_slot().ok_or("too many peer connections")?;
        let tls = match (url.tls, &self.tls) {
            (false, _) => None,
            (true, None) => return Err("https peer URL but no peer TLS configured".into()),
            (true, Some(tls)) => {
                let name = url.server_name()?;
                let session = rustls::ClientConnection::new(tls.client.clone(), name)
                    .map_err(|e| format!("{e}"))?;
                Some(rustls::Connection::Client(session))
            }
        };
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| e.to_string())?;
        socket.set_nonblocking(true).map_err(|e| e.to_string())?;
        let _ = socket.set_tcp_nodelay(true);
        keepalive(&socket2::SockRef::from(&socket));
        if let Some(source) = self.source_ip.filter(|ip| ip.is_ipv4() == addr.is_ipv4()) {
            socket
                .bind(&SocketAddr::new(source, 0).into())
                .map_err(|e| format!("bind {source}: {e}"))?;
        }
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e.to_string()),
        }
        let mut sock = mio::net::TcpStream::from_std(std::net::TcpStream::from(socket));
        self.registry
            .register(&mut sock, self.token(slot), Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| e.to_string())?;
        let local =
            sock.local_addr().unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        let serial = self.next_serial();
        let stream = Stream::new(sock, tls, addr, local, self.limits.frame_bytes_max);
        debug!(peer = %hex(id), %url, %addr, "dialing peer");
        self.slots[slot] = Some(Conn {
            serial,
            stream,
            deadline: Some(now + self.limits.handshake_timeout),
            stalled_since: None,
            closing: false,
            side: Side::Out { peer: id, url: url.clone(), phase: OutPhase::Connecting },
        });
        Ok(slot)
    }

    /// Completes a pending connect. False while it is still pending or when it failed (the
    /// connection is then closed and the next address tried).
    pub(super) fn finish_connect(&mut self, now: Instant, slot: usize) -> bool {
        let Some(conn) = self.slots[slot].as_mut() else { return false };
        let Side::Out { peer, phase, .. } = &mut conn.side else { return true };
        if !matches!(phase, OutPhase::Connecting) {
            return true;
        }
        let sock = &conn.stream.sock;
        let failure = match sock.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match sock.peer_addr() {
                Ok(_) => None,
                Err(e) if e.kind() == std::io::ErrorKind::NotConnected => return false,
                Err(e) => Some(e),
            },
        };
        if let Some(e) = failure {
            self.close(now, slot, &format!("dial failed: {e}"), After::NextTarget);
            return false;
        }
        if let Ok(local) = sock.local_addr() {
            conn.stream.local = local;
        }
        if conn.stream.tls.is_some() {
            *phase = OutPhase::Tls;
        } else {
            let mut bytes = Vec::new();
            Handshake::new(self.cluster_id, self.member_id.get(), peer.get()).encode(&mut bytes);
            conn.stream.queue(&bytes);
            *phase = OutPhase::AwaitReply;
        }
        true
    }

    /// Moves an outgoing connection through TLS and the certificate check to its handshake.
    /// False when the connection was closed.
    pub(super) fn advance_out(&mut self, now: Instant, slot: usize) -> bool {
        loop {
            let Some(conn) = self.slots[slot].as_mut() else { return false };
            let remote_ip = conn.stream.remote.ip();
            let Side::Out { peer, phase, .. } = &mut conn.side else { return true };
            let peer = *peer;
            match phase {
                OutPhase::Tls if !conn.stream.is_handshaking() => {
                    let facts = match conn.stream.peer_certificate().map(super::check::cert_facts) {
                        Some(Ok(facts)) => facts,
                        Some(Err(e)) => {
                            self.refuse_out(now, slot, peer, e);
                            return false;
                        }
                        None => oxcd_core::identity::CertFacts::default(),
                    };
                    let check = CertCheck::start(
                        &facts,
                        remote_ip,
                        &self.rules_outgoing,
                        &mut self.lookup_ids,
                    );
                    *phase = OutPhase::Checking(Box::new(check));
                }
                OutPhase::Checking(_) => match self.drive_check(slot) {
                    super::accept::CheckOutcome::Waiting => return true,
                    super::accept::CheckOutcome::Rejected(reason) => {
                        self.refuse_out(now, slot, peer, reason);
                        return false;
                    }
                    super::accept::CheckOutcome::Accepted => {
                        let conn = self.slots[slot].as_mut().expect("still open");
                        let mut bytes = Vec::new();
                        Handshake::new(self.cluster_id, self.member_id.get(), peer.get())
                            .encode(&mut bytes);
                        conn.stream.queue(&bytes);
                        if let Side::Out { phase, .. } = &mut conn.side {
                            *phase = OutPhase::AwaitReply;
                        }
                    }
                },
                _ => return true,
            }
        }
    }

    /// Takes the acceptor's handshake and verdict; nothing else may arrive on an outgoing
    /// connection. False when the connection was closed.
    pub(super) fn take_frames_out(&mut self, now: Instant, slot: usize) -> bool {
        loop {
            let Some(conn) = self.slots[slot].as_mut() else { return false };
            let Side::Out { peer, url, phase } = &conn.side else { return true };
            let (peer, url) = (*peer, url.clone());
            match phase {
                OutPhase::AwaitReply | OutPhase::Ready => {}
                _ => {
                    if conn.stream.buffered() > PREHANDSHAKE_BYTES_MAX {
                        self.close(
                            now,
                            slot,
                            "unexpected data before the handshake",
                            After::Backoff,
                        );
                        return false;
                    }
                    return true;
                }
            }
            let ready = matches!(phase, OutPhase::Ready);
            let theirs = match conn.stream.take_handshake() {
                Ok(Some(handshake)) => handshake,
                Ok(None) => return true,
                Err(e) => {
                    self.refuse_out(now, slot, peer, e.to_string());
                    return false;
                }
            };
            let frame = match conn.stream.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return true,
                Err(e) => {
                    self.refuse_out(now, slot, peer, e.to_string());
                    return false;
                }
            };
            let member = NodeId(theirs.from_member_id);
            match frame {
                Frame::Refused(reason) if !ready => {
                    self.refuse_out(
                        now,
                        slot,
                        peer,
                        format!("refused by member {}: {reason}", hex(member)),
                    );
                    return false;
                }
                Frame::Accepted if !ready => {}
                other => {
                    let why = format!("unexpected frame from the peer: {:?}", FrameName(&other));
                    self.close(now, slot, &why, After::Backoff);
                    return false;
                }
            }
            if let Err(e) = theirs.check(self.cluster_id, self.member_id.get()) {
                self.refuse_out(now, slot, peer, e.to_string());
                return false;
            }
            if member != peer {
                let why = format!("the member at {url} is {}, not {}", hex(member), hex(peer));
                self.refuse_out(now, slot, peer, why);
                return false;
            }
            self.out_established(now, slot, peer, &url);
        }
    }

    fn out_established(&mut self, now: Instant, slot: usize, id: NodeId, url: &PeerUrl) {
        let _ = now;
        let conn = self.slots[slot].as_mut().expect("caller holds it");
        conn.deadline = None;
        if let Side::Out { phase, .. } = &mut conn.side {
            *phase = OutPhase::Ready;
        }
        let (remote_addr, local_addr) = (conn.stream.remote, conn.stream.local);
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.link = Link::Ready { slot };
            peer.backoff.reset();
        }
        info!(peer = %hex(id), %url, %local_addr, %remote_addr, "established TCP streaming connection with remote peer");
        self.push_event(PeerEvent::Connected {
            peer: id,
            direction: Direction::Outgoing,
            remote_addr,
            local_addr,
        });
    }

    /// The peer (or its certificate) was refused: logged, reported, backed off.
    fn refuse_out(&mut self, now: Instant, slot: usize, id: NodeId, reason: String) {
        let Some(conn) = &self.slots[slot] else { return };
        let remote_addr = conn.stream.remote;
        warn!(peer = %hex(id), %remote_addr, error = %reason, "rejected connection");
        self.stats.connections_refused += 1;
        self.push_event(PeerEvent::Refused {
            peer: Some(id),
            direction: Direction::Outgoing,
            remote_addr,
            reason: reason.clone(),
        });
        self.close(now, slot, &reason, After::Backoff);
    }

    /// Bookkeeping after an outgoing connection closed.
    pub(super) fn out_closed(
        &mut self,
        now: Instant,
        id: NodeId,
        url: &PeerUrl,
        phase: &OutPhase,
        reason: &str,
        after: After,
    ) {
        let Some(peer) = self.peers.get_mut(&id) else { return };
        if peer.queue.abort_partial() {
            debug!(peer = %hex(id), "dropped a partly sent snapshot payload");
        }
        let link = std::mem::replace(&mut peer.link, Link::Idle { retry_at: now });
        if matches!(phase, OutPhase::Ready) {
            info!(peer = %hex(id), %url, reason, "lost TCP streaming connection with remote peer");
            self.push_event(PeerEvent::Disconnected {
                peer: id,
                direction: Direction::Outgoing,
                reason: reason.to_string(),
            });
            self.backoff_peer(now, id, reason);
            return;
        }
        match link {
            Link::Dialing { mut cursor, .. } if after == After::NextTarget => {
                self.stats.dials_failed += 1;
                cursor.last_error = format!("{url}: {reason}");
                self.try_cursor(now, id, cursor);
            }
            _ => self.backoff_peer(now, id, reason),
        }
    }
}
