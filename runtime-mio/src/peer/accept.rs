//! The accepting side: TLS with client certificates, the certificate check (with DNS on the
//! helper thread), the handshake that names the member and its cluster, then frames in.

use std::net::SocketAddr;

use oxcd_core::{Instant, NodeId};
use tracing::{debug, info, warn};

use oxcd_core::identity::Step;

use super::check::{cert_facts, dns_request, CertCheck, Direction};
use super::conn::Stream;
use super::dial::{keepalive, After};
use super::http::{self, Sniffed};
use super::wire::{encode_answer, Frame, Handshake};
use super::{
    hex, Conn, InPhase, LookupOwner, MessageClass, OutPhase, PeerEvent, PeerIncoming,
    PeerTransport, Side, CLOSE_LINGER, PREHANDSHAKE_BYTES_MAX,
};

/// Where a certificate check stands after being driven.
pub(super) enum CheckOutcome {
    Accepted,
    Rejected(String),
    Waiting,
}

impl PeerTransport {
    /// Accepts every connection waiting on listener `index`.
    pub(super) fn accept_ready(&mut self, now: Instant, index: usize) {
        loop {
            match self.listeners[index].sock.accept() {
                Ok((sock, remote)) => self.accepted(now, index, sock, remote),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    warn!(url = %self.listeners[index].url, error = %e, "failed to accept a peer connection");
                    return;
                }
            }
        }
    }

    fn accepted(
        &mut self,
        now: Instant,
        index: usize,
        mut sock: mio::net::TcpStream,
        remote: SocketAddr,
    ) {
        let handshaking = self
            .slots
            .iter()
            .flatten()
            .filter(|c| matches!(c.side, Side::In { ref phase } if !matches!(phase, InPhase::Ready { .. })))
            .count();
        let slot = match self.free_slot() {
            Some(slot) if handshaking < self.limits.handshakes_pending_max => slot,
            _ => {
                self.stats.connections_shed += 1;
                warn!(remote_addr = %remote, "closing a peer connection: connection or handshake limit reached");
                return;
            }
        };
        let tls = match (self.listeners[index].url.tls, &self.tls) {
            (true, Some(tls)) => match rustls::ServerConnection::new(tls.server.clone()) {
                Ok(session) => Some(rustls::Connection::Server(session)),
                Err(e) => {
                    warn!(remote_addr = %remote, error = %e, "cannot start TLS for a peer connection");
                    return;
                }
            },
            (true, None) => unreachable!("validated: https listeners have TLS"),
            (false, _) => None,
        };
        let _ = sock.set_nodelay(true);
        keepalive(&socket2::SockRef::from(&sock));
        let token = self.token(slot);
        if let Err(e) = self.registry.register(
            &mut sock,
            token,
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        ) {
            warn!(remote_addr = %remote, error = %e, "cannot register a peer connection");
            return;
        }
        let local = sock.local_addr().unwrap_or(self.listeners[index].addr);
        let phase = if tls.is_some() { InPhase::Tls } else { InPhase::AwaitHello };
        let serial = self.next_serial();
        self.slots[slot] = Some(Conn {
            serial,
            stream: Stream::new(sock, tls, remote, local, self.limits.frame_bytes_max),
            deadline: Some(now + self.limits.handshake_timeout),
            stalled_since: None,
            closing: false,
            side: Side::In { phase },
        });
        self.stats.connections_accepted += 1;
        self.service(now, slot);
    }

    /// Moves a connection's handshake forward as far as it can go. False when it was closed.
    pub(super) fn advance(&mut self, now: Instant, slot: usize) -> bool {
        match self.slots[slot].as_ref().map(|c| &c.side) {
            Some(Side::Out { .. }) => self.advance_out(now, slot),
            Some(Side::In { .. }) => self.advance_in(now, slot),
            None => false,
        }
    }

    /// Handles the frames the decoder holds, when the handshake allows frames. False when the
    /// connection was closed.
    pub(super) fn take_frames(&mut self, now: Instant, slot: usize) -> bool {
        match self.slots[slot].as_ref().map(|c| &c.side) {
            Some(Side::Out { .. }) => self.take_frames_out(now, slot),
            Some(Side::In { .. }) => self.take_frames_in(now, slot),
            None => false,
        }
    }

    /// Acts on the connection's certificate check: sends the lookups it asks for (a lookup that
    /// cannot be sent is answered at once with the reason), until it decides or waits.
    pub(super) fn drive_check(&mut self, slot: usize) -> CheckOutcome {
        loop {
            let Some(conn) = self.slots[slot].as_mut() else { return CheckOutcome::Waiting };
            let serial = conn.serial;
            let (Side::Out { phase: OutPhase::Checking(check), .. }
            | Side::In { phase: InPhase::Checking(check) }) = &mut conn.side
            else {
                return CheckOutcome::Accepted;
            };
            let requests = match check.take_step() {
                Some(Step::Accept) => return CheckOutcome::Accepted,
                Some(Step::Reject(rejection)) => {
                    return CheckOutcome::Rejected(rejection.to_string())
                }
                Some(Step::Pending) | None => return CheckOutcome::Waiting,
                Some(Step::NeedLookup(requests)) => requests,
            };
            let mut failed = Vec::new();
            for request in requests {
                let owner = LookupOwner::Check { slot, serial, id: request.id };
                if let Err((_, error)) = self.start_lookup(owner, dns_request(&request.kind)) {
                    failed.push((request.id, error));
                }
            }
            let conn = self.slots[slot].as_mut().expect("still open");
            if let Side::Out { phase: OutPhase::Checking(check), .. }
            | Side::In { phase: InPhase::Checking(check) } = &mut conn.side
            {
                for (id, error) in failed {
                    check.handle_answer(id, Err(error));
                }
            }
        }
    }

    fn advance_in(&mut self, now: Instant, slot: usize) -> bool {
        loop {
            let Some(conn) = self.slots[slot].as_mut() else { return false };
            let remote_ip = conn.stream.remote.ip();
            let Side::In { phase } = &mut conn.side else { return true };
            match phase {
                InPhase::Tls if !conn.stream.is_handshaking() => {
                    match conn.stream.peer_certificate() {
                        // No client certificate requested (no --peer-client-cert-auth): nothing to
                        // check, as in etcd.
                        None => *phase = InPhase::AwaitHello,
                        Some(der) => match cert_facts(der) {
                            Ok(facts) => {
                                let check = CertCheck::start(
                                    &facts,
                                    remote_ip,
                                    &self.rules_incoming,
                                    &mut self.lookup_ids,
                                );
                                *phase = InPhase::Checking(Box::new(check));
                            }
                            Err(e) => {
                                self.refuse_in(now, slot, None, e);
                                return false;
                            }
                        },
                    }
                }
                InPhase::Checking(_) => match self.drive_check(slot) {
                    CheckOutcome::Waiting => return true,
                    CheckOutcome::Rejected(reason) => {
                        self.refuse_in(now, slot, None, reason);
                        return false;
                    }
                    CheckOutcome::Accepted => {
                        if let Some(Conn { side: Side::In { phase }, .. }) =
                            self.slots[slot].as_mut()
                        {
                            *phase = InPhase::AwaitHello;
                        }
                    }
                },
                _ => return true,
            }
        }
    }

    fn take_frames_in(&mut self, now: Instant, slot: usize) -> bool {
        loop {
            let Some(conn) = self.slots[slot].as_mut() else { return false };
            let Side::In { phase } = &mut conn.side else { return true };
            if !matches!(phase, InPhase::AwaitHello | InPhase::Ready { .. }) || conn.closing {
                if conn.stream.buffered() > PREHANDSHAKE_BYTES_MAX {
                    self.close(now, slot, "unexpected data before the handshake", After::Backoff);
                    return false;
                }
                return true;
            }
            let InPhase::Ready { from, snapshot } = phase else {
                if conn.stream.peer_handshake.is_none() {
                    match http::sniff(conn.stream.unread()) {
                        Sniffed::Incomplete => return true,
                        Sniffed::NotHttp => {}
                        Sniffed::Request { method, path } => {
                            self.answer_http(now, slot, &method, &path);
                            return false;
                        }
                        Sniffed::Bad => {
                            self.close(now, slot, "malformed HTTP request", After::Backoff);
                            return false;
                        }
                    }
                }
                match conn.stream.take_handshake() {
                    Ok(Some(theirs)) => {
                        if !self.handle_handshake(now, slot, theirs) {
                            return false;
                        }
                        continue;
                    }
                    Ok(None) => return true,
                    Err(e) => {
                        self.refuse_in(now, slot, None, e.to_string());
                        return false;
                    }
                }
            };
            let from = *from;
            let frame = match conn.stream.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return true,
                Err(e) => {
                    warn!(remote_addr = %conn.stream.remote, peer = %hex(from), error = %e, "closing peer connection");
                    self.close(now, slot, &e.to_string(), After::Backoff);
                    return false;
                }
            };
            let (last, piece) = match frame {
                Frame::Raft(payload) => {
                    self.deliver(from, MessageClass::Raft, payload);
                    continue;
                }
                Frame::SnapshotMore(piece) => (false, piece),
                Frame::SnapshotLast(piece) => (true, piece),
                Frame::Accepted | Frame::Refused(_) => {
                    let why = "unexpected handshake frame from the dialer";
                    warn!(peer = %hex(from), error = why, "closing peer connection");
                    self.close(now, slot, why, After::Backoff);
                    return false;
                }
            };
            if snapshot.len() + piece.len() > self.limits.snapshot_bytes_max {
                let why =
                    format!("snapshot payload exceeds {} bytes", self.limits.snapshot_bytes_max);
                warn!(peer = %hex(from), error = %why, "closing peer connection");
                self.close(now, slot, &why, After::Backoff);
                return false;
            }
            let whole = if snapshot.is_empty() && last {
                Some(piece)
            } else {
                snapshot.extend_from_slice(&piece);
                last.then(|| std::mem::take(snapshot))
            };
            if let Some(payload) = whole {
                self.deliver(from, MessageClass::Snapshot, payload);
            }
        }
    }

    fn deliver(&mut self, from: NodeId, class: MessageClass, payload: Vec<u8>) {
        if let Some(peer) = self.peers.get_mut(&from) {
            peer.stats.messages_received += 1;
            peer.stats.bytes_received += payload.len() as u64;
        }
        self.incoming_bytes += payload.len();
        self.incoming.push_back(PeerIncoming { from, class, payload });
    }

    /// Admits or refuses the dialer's handshake. False when refused.
    fn handle_handshake(&mut self, now: Instant, slot: usize, theirs: Handshake) -> bool {
        let from = NodeId(theirs.from_member_id);
        let refusal = match theirs.check(self.cluster_id, self.member_id.get()) {
            Err(e) => Some(e.to_string()),
            Ok(()) if !self.peers.contains_key(&from) => {
                Some(format!("member {} not found in the cluster", hex(from)))
            }
            Ok(()) => None,
        };
        if let Some(reason) = refusal {
            self.refuse_in(now, slot, Some(from), reason);
            return false;
        }
        // A member redials when its old connection died; the old one here is stale.
        let stale: Vec<usize> = (0..self.slots.len())
            .filter(|&s| {
                s != slot
                    && matches!(&self.slots[s], Some(Conn { side: Side::In { phase: InPhase::Ready { from: f, .. } }, .. }) if *f == from)
            })
            .collect();
        for s in stale {
            self.close(now, s, "replaced by a new connection from the same member", After::Backoff);
        }
        let conn = self.slots[slot].as_mut().expect("caller holds it");
        let mut bytes = Vec::new();
        let ours = Handshake::new(self.cluster_id, self.member_id.get(), from.get());
        encode_answer(&mut bytes, ours, None);
        conn.stream.queue(&bytes);
        conn.deadline = None;
        conn.side = Side::In { phase: InPhase::Ready { from, snapshot: Vec::new() } };
        let (remote_addr, local_addr) = (conn.stream.remote, conn.stream.local);
        info!(peer = %hex(from), %remote_addr, "established TCP streaming connection with remote peer");
        self.push_event(PeerEvent::Connected {
            peer: from,
            direction: Direction::Incoming,
            remote_addr,
            local_addr,
        });
        true
    }

    /// Answers an HTTP request on the peer port (etcd's `/members`, `/version`), then closes.
    fn answer_http(&mut self, now: Instant, slot: usize, method: &str, path: &str) {
        let bytes = http::answer(method, path, self.cluster_id, &self.members_body);
        let Some(conn) = self.slots[slot].as_mut() else { return };
        debug!(remote_addr = %conn.stream.remote, %method, %path, "peer HTTP request");
        conn.stream.queue(&bytes);
        conn.closing = true;
        conn.deadline = Some(now + CLOSE_LINGER);
        self.pump_writes(now, slot);
    }

    /// Refuses an incoming connection: logged, reported, and told to the dialer in a `Refused` frame
    /// before the connection closes.
    fn refuse_in(&mut self, now: Instant, slot: usize, peer: Option<NodeId>, reason: String) {
        let Some(conn) = self.slots[slot].as_mut() else { return };
        let remote_addr = conn.stream.remote;
        warn!(%remote_addr, peer = ?peer.map(hex), error = %reason, "rejected connection");
        let mut bytes = Vec::new();
        let ours =
            Handshake::new(self.cluster_id, self.member_id.get(), peer.map_or(0, NodeId::get));
        encode_answer(&mut bytes, ours, Some(&reason));
        conn.stream.queue(&bytes);
        conn.closing = true;
        conn.deadline = Some(now + CLOSE_LINGER);
        self.stats.connections_refused += 1;
        self.push_event(PeerEvent::Refused {
            peer,
            direction: Direction::Incoming,
            remote_addr,
            reason,
        });
        self.pump_writes(now, slot);
    }
}
