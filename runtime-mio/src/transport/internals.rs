//! The transport's private machinery: accepting, driving connections, the ready set, timers.

use std::io as stdio;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::Token;

use super::conn::{Conn, Outcome, Proto};
use super::h2conn::H2Conn;
use super::io::{ConnIo, Socket};
use super::sink::Sink;
use super::types::{CallId, ConnId, Incoming, ListenerId, PeerInfo, SendStatus};
use super::wake::WakeKey;
use super::{
    ClientTransport, ListenerSocket, ACCEPT_BATCH, ACCEPT_RETRY, MAX_LISTENERS, WAKE_ROUNDS,
};

/// Output a connection's h2 may write ahead of the socket.
const PIPE_OUTPUT_MAX_BYTES: usize = 256 << 10;

impl ClientTransport {
    pub(super) fn conn_ref(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(id.slot as usize)?.as_ref().filter(|c| c.id == id)
    }

    pub(super) fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(id.slot as usize)?.as_mut().filter(|c| c.id == id)
    }

    /// A connection with the sink its protocol writes into and the read scratch buffer.
    pub(super) fn parts(&mut self, id: ConnId) -> Option<(&mut Conn, Sink<'_>, &mut [u8])> {
        let conn = self.conns.get_mut(id.slot as usize)?.as_mut().filter(|c| c.id == id)?;
        let sink = Sink {
            incoming: &mut self.incoming,
            calls: &mut self.calls,
            next_call: &mut self.next_call,
            config: &self.config,
            conn: id,
            peer: conn.peer.clone(),
            wake: &self.wake,
        };
        Some((conn, sink, &mut self.scratch))
    }

    /// Runs `f` on the connection of `call`, then schedules that call and connection to be
    /// polled (so answers get written on the next `handle_wake`).
    pub(super) fn with_conn<R>(
        &mut self,
        call: CallId,
        f: impl FnOnce(&mut Conn) -> R,
    ) -> Option<R> {
        let id = *self.calls.get(&call)?;
        let conn = self.conn_mut(id)?;
        let r = f(conn);
        self.wake.wake(WakeKey::Call(id, call));
        Some(r)
    }

    pub(super) fn with_h2(
        &mut self,
        call: CallId,
        f: impl FnOnce(&mut H2Conn) -> bool,
    ) -> Option<bool> {
        self.with_conn(call, |conn| match &mut conn.proto {
            Proto::H2(h) => f(h),
            _ => false,
        })
    }

    pub(super) fn after_send(&mut self, call: CallId, status: SendStatus) {
        if status == SendStatus::Overflow {
            tracing::debug!(%call, "transport: output overflow, call ended");
            self.incoming.push_back(Incoming::CallCancelled { call });
        }
    }

    pub(super) fn accept(&mut self, listener: ListenerId, now: Instant) {
        let index = listener.0 as usize;
        if self.shutting_down || index >= self.listeners.len() {
            return;
        }
        for _ in 0..ACCEPT_BATCH {
            let l = &self.listeners[index];
            let accepted = match &l.socket {
                ListenerSocket::Tcp(s) => s.accept().map(|(s, a)| (Socket::Tcp(s), Some(a))),
                ListenerSocket::Unix(s) => s.accept().map(|(s, _)| (Socket::Unix(s), None)),
            };
            match accepted {
                Ok((socket, addr)) => self.add_conn(listener, socket, addr, now),
                Err(e) if e.kind() == stdio::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        stdio::ErrorKind::Interrupted | stdio::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // Typically out of descriptors: the pending connections stay in the
                    // backlog and mio will not report them again, so retry on a timer.
                    tracing::warn!(error = %e, "transport: accept failed, retrying shortly");
                    self.listeners[index].retry_at = Some(now + ACCEPT_RETRY);
                    return;
                }
            }
        }
        self.wake.wake(WakeKey::Listener(listener));
    }

    fn add_conn(
        &mut self,
        listener: ListenerId,
        mut socket: Socket,
        remote_addr: Option<SocketAddr>,
        now: Instant,
    ) {
        self.accepted_total += 1;
        if self.live_conns >= self.config.max_connections {
            self.refused_total += 1;
            if self.refused_total.is_power_of_two() {
                tracing::warn!(
                    max_connections = self.config.max_connections,
                    refused_total = self.refused_total,
                    "transport: connection limit reached, refusing connections"
                );
            }
            return;
        }
        if let Socket::Tcp(s) = &socket {
            let _ = s.set_nodelay(true);
        }
        let tls = match &self.listeners[listener.0 as usize].tls {
            Some(cfg) => match rustls::ServerConnection::new(Arc::clone(cfg)) {
                Ok(c) => Some(Box::new(c)),
                Err(e) => {
                    tracing::warn!(error = %e, "transport: cannot start a TLS session");
                    return;
                }
            },
            None => None,
        };
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.conns.push(None);
                self.generations.push(0);
                u32::try_from(self.conns.len() - 1).expect("bounded by max_connections")
            }
        };
        let token = Token(self.config.token_base + MAX_LISTENERS + slot as usize);
        if let Err(e) = socket.register(&self.registry, token) {
            tracing::warn!(error = %e, "transport: cannot register a connection");
            self.free_slots.push(slot);
            return;
        }
        self.generations[slot as usize] = self.generations[slot as usize].wrapping_add(1);
        let id = ConnId::new(slot, self.generations[slot as usize]);
        let output_limit = self.config.max_output_bytes_per_connection.min(PIPE_OUTPUT_MAX_BYTES);
        let io = ConnIo::new(socket, tls, self.config.max_input_bytes_per_connection, output_limit);
        let peer = Arc::new(PeerInfo { listener, remote_addr, tls: None });
        let conn_waker = self.wake.waker(WakeKey::Conn(id));
        self.conns[slot as usize] = Some(Conn::new(id, io, peer, now, conn_waker));
        self.live_conns += 1;
        tracing::trace!(conn = %id, ?remote_addr, "transport: accepted");
        self.set_deadline(id);
    }

    /// Moves a connection's bytes as far as they go.
    pub(super) fn drive(&mut self, id: ConnId, now: Instant) {
        let read_allowed = self.incoming.len() < self.config.max_pending_incoming;
        let outcome = {
            let Some((conn, mut sink, scratch)) = self.parts(id) else { return };
            conn.drive(&mut sink, scratch, now, read_allowed)
        };
        if !read_allowed {
            self.paused.insert(id);
        }
        self.after_drive(id, outcome);
    }

    pub(super) fn after_drive(&mut self, id: ConnId, outcome: Outcome) {
        match outcome {
            Outcome::Open => self.set_deadline(id),
            Outcome::Dead => self.remove_conn(id),
        }
    }

    /// Registers the connection's next deadline in the timer set.
    pub(super) fn set_deadline(&mut self, id: ConnId) {
        let config = &self.config;
        let Some(conn) =
            self.conns.get_mut(id.slot as usize).and_then(|c| c.as_mut()).filter(|c| c.id == id)
        else {
            return;
        };
        let next = conn.next_deadline(config);
        if next == conn.deadline {
            return;
        }
        if let Some(old) = conn.deadline {
            self.deadlines.remove(&(old, id));
        }
        if let Some(new) = next {
            self.deadlines.insert((new, id));
        }
        conn.deadline = next;
    }

    fn remove_conn(&mut self, id: ConnId) {
        if let Some((conn, mut sink, _)) = self.parts(id) {
            conn.cancel_calls(&mut sink);
        }
        let Some(mut conn) = self.conns.get_mut(id.slot as usize).and_then(Option::take) else {
            return;
        };
        conn.io.socket.deregister(&self.registry);
        if let Some(d) = conn.deadline {
            self.deadlines.remove(&(d, id));
        }
        self.paused.remove(&id);
        self.free_slots.push(id.slot);
        self.live_conns -= 1;
        tracing::trace!(conn = %id, "transport: connection removed");
    }

    /// Polls everything h2 (or an answer) asked to poll, in bounded rounds.
    pub(super) fn run_ready(&mut self, now: Instant) {
        self.wake.begin_drain();
        for _ in 0..WAKE_ROUNDS {
            let keys = self.wake.take();
            if keys.is_empty() {
                break;
            }
            let mut to_drive = std::collections::BTreeSet::new();
            for key in keys {
                match key {
                    WakeKey::Listener(l) => self.accept(l, now),
                    WakeKey::Conn(id) => {
                        to_drive.insert(id);
                    }
                    WakeKey::Call(id, call) => {
                        if let Some((conn, mut sink, _)) = self.parts(id) {
                            conn.poll_call(call, &mut sink);
                            to_drive.insert(id);
                        }
                    }
                }
            }
            for id in to_drive {
                self.drive(id, now);
            }
        }
        self.wake.end_drain();
    }
}
