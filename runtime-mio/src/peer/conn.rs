//! One peer socket with its optional rustls session, driven by hand: bytes read go into a
//! frame decoder, frames to send go through the session (or a plain buffer) to the socket.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;

use super::wire::{
    self, Frame, Handshake, HandshakeError, PeerError, PeerFrameDecoder, HANDSHAKE_BYTES,
};

/// How much is read from the socket per call before the caller decodes what it got.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// What a read pass found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadState {
    /// The socket has nothing more for now.
    Drained,
    /// Stopped after `READ_CHUNK_BYTES`; more may be waiting.
    More,
    /// The peer closed the connection (TLS close_notify or TCP end of stream).
    Closed,
}

pub(crate) struct Stream {
    pub(crate) sock: TcpStream,
    pub(crate) tls: Option<rustls::Connection>,
    pub(crate) remote: SocketAddr,
    pub(crate) local: SocketAddr,
    /// Plain-TCP bytes not yet written, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    /// Bytes read and not yet consumed, from `inbox_pos`.
    inbox: Vec<u8>,
    inbox_pos: usize,
    /// The other side's handshake, once read.
    pub(crate) peer_handshake: Option<Handshake>,
    decoder: PeerFrameDecoder<Frame>,
    scratch: Box<[u8]>,
}

impl Stream {
    pub(crate) fn new(
        sock: TcpStream,
        tls: Option<rustls::Connection>,
        remote: SocketAddr,
        local: SocketAddr,
        payload_bytes_max: usize,
    ) -> Stream {
        let tls = tls.map(|mut session| {
            // The transport bounds what it queues itself (one batch at a time).
            session.set_buffer_limit(None);
            session
        });
        Stream {
            sock,
            tls,
            remote,
            local,
            out: Vec::new(),
            out_pos: 0,
            inbox: Vec::new(),
            inbox_pos: 0,
            peer_handshake: None,
            decoder: wire::decoder(payload_bytes_max),
            scratch: vec![0; READ_CHUNK_BYTES].into_boxed_slice(),
        }
    }

    pub(crate) fn is_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.is_handshaking())
    }

    /// The peer's end-entity certificate, once the TLS handshake is done.
    pub(crate) fn peer_certificate(&self) -> Option<&[u8]> {
        self.tls.as_ref()?.peer_certificates()?.first().map(|c| c.as_ref())
    }

    /// The bytes read but not consumed yet.
    pub(crate) fn unread(&self) -> &[u8] {
        &self.inbox[self.inbox_pos..]
    }

    /// Bytes read but not consumed yet.
    pub(crate) fn buffered(&self) -> usize {
        self.inbox.len() - self.inbox_pos
    }

    /// Reads the other side's handshake once its bytes are in (a wrong magic is refused as soon
    /// as it shows). Afterwards it is in [`peer_handshake`](Self::peer_handshake).
    ///
    /// # Errors
    /// Not an oxcd peer, or a version this build does not speak.
    pub(crate) fn take_handshake(&mut self) -> Result<Option<Handshake>, HandshakeError> {
        if self.peer_handshake.is_some() {
            return Ok(self.peer_handshake);
        }
        let Some(handshake) = Handshake::decode(&self.inbox[self.inbox_pos..])? else {
            return Ok(None);
        };
        self.inbox_pos += HANDSHAKE_BYTES;
        self.peer_handshake = Some(handshake);
        Ok(Some(handshake))
    }

    /// The next whole frame from the bytes after the handshake.
    ///
    /// # Errors
    /// An oversized or corrupt frame; the connection must close.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Frame>, PeerError> {
        let mut input = &self.inbox[self.inbox_pos..];
        let before = input.len();
        let result = self.decoder.decode(&mut input);
        self.inbox_pos += before - input.len();
        if self.inbox_pos == self.inbox.len() {
            self.inbox.clear();
            self.inbox_pos = 0;
        }
        result
    }

    /// Reads up to one chunk into the inbox, driving the TLS state machine on the way.
    ///
    /// # Errors
    /// Socket errors and TLS errors (bad certificate, protocol violation, ...); the caller
    /// flushes once more so a TLS alert can reach the peer, then closes.
    pub(crate) fn read(&mut self) -> io::Result<ReadState> {
        match &mut self.tls {
            None => {
                let mut moved = 0;
                loop {
                    match self.sock.read(&mut self.scratch) {
                        Ok(0) => return Ok(ReadState::Closed),
                        Ok(n) => {
                            self.inbox.extend_from_slice(&self.scratch[..n]);
                            moved += n;
                            if moved >= READ_CHUNK_BYTES {
                                return Ok(ReadState::More);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            return Ok(ReadState::Drained)
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Some(tls) => {
                let mut moved = 0;
                loop {
                    let (eof, drained) = match tls.read_tls(&mut self.sock) {
                        Ok(0) => (true, false),
                        Ok(_) => (false, false),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => (false, true),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    let state = tls
                        .process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    let closed = state.peer_has_closed();
                    let mut plaintext = state.plaintext_bytes_to_read();
                    while plaintext > 0 {
                        let n = tls.reader().read(&mut self.scratch)?;
                        if n == 0 {
                            break;
                        }
                        self.inbox.extend_from_slice(&self.scratch[..n]);
                        plaintext -= n.min(plaintext);
                        moved += n;
                    }
                    if closed || eof {
                        return Ok(ReadState::Closed);
                    }
                    if drained {
                        return Ok(ReadState::Drained);
                    }
                    if moved >= READ_CHUNK_BYTES {
                        return Ok(ReadState::More);
                    }
                }
            }
        }
    }

    /// Queues bytes to send (encrypted first when TLS).
    pub(crate) fn queue(&mut self, bytes: &[u8]) {
        match &mut self.tls {
            Some(tls) => {
                // With the buffer limit lifted, the writer takes everything.
                let _ = tls.writer().write_all(bytes);
            }
            None => {
                if self.out_pos == self.out.len() {
                    self.out.clear();
                    self.out_pos = 0;
                }
                self.out.extend_from_slice(bytes);
            }
        }
    }

    /// Writes what is queued. `Ok(true)` once everything is out, `Ok(false)` when the socket is
    /// full (a writable event follows); the byte count says how much went out.
    ///
    /// # Errors
    /// Socket errors.
    pub(crate) fn flush(&mut self) -> io::Result<(bool, usize)> {
        let mut written = 0;
        loop {
            let result = match &mut self.tls {
                Some(tls) if tls.wants_write() => tls.write_tls(&mut self.sock),
                Some(_) => return Ok((true, written)),
                None if self.out_pos < self.out.len() => self.sock.write(&self.out[self.out_pos..]),
                None => return Ok((true, written)),
            };
            match result {
                Ok(0) => {
                    return Err(io::Error::new(io::ErrorKind::WriteZero, "peer socket closed"))
                }
                Ok(n) => {
                    written += n;
                    if self.tls.is_none() {
                        self.out_pos += n;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((false, written)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends a TLS close_notify (best effort) before the socket is dropped.
    pub(crate) fn close_gracefully(&mut self) {
        if let Some(tls) = &mut self.tls {
            tls.send_close_notify();
        }
        let _ = self.flush();
    }
}
