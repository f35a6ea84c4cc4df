//! A connection's bytes: the socket, the optional rustls session driven by hand, and the
//! plaintext buffers (`Pipes`) that the protocols read and write. [`PipeIo`] is the in-memory
//! `AsyncRead`/`AsyncWrite` over those buffers that h2 owns; it never touches the socket.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use mio::event::Source;
use mio::{Interest, Registry, Token};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::h2_shim::H2InputShim;

/// Empty buffers larger than this are freed.
const TRIM_ABOVE_BYTES: usize = 4096;

/// A client socket: TCP or unix.
pub(crate) enum Socket {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf),
            Self::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.write(buf),
            Self::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Socket {
    pub(crate) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        match self {
            Self::Tcp(s) => s.register(registry, token, interest),
            Self::Unix(s) => s.register(registry, token, interest),
        }
    }

    pub(crate) fn deregister(&mut self, registry: &Registry) {
        let _ = match self {
            Self::Tcp(s) => s.deregister(registry),
            Self::Unix(s) => s.deregister(registry),
        };
    }

    pub(crate) fn shutdown_write(&self) {
        let _ = match self {
            Self::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Self::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        };
    }
}

/// Plaintext in both directions, shared between the connection and its protocol.
pub(crate) struct Pipes {
    /// Received plaintext not yet consumed.
    pub(crate) input: BytesMut,
    /// The peer will send nothing more.
    pub(crate) input_eof: bool,
    /// Plaintext waiting to be encrypted or written.
    pub(crate) output: BytesMut,
    /// `PipeIo::poll_write` refuses more output beyond this.
    output_limit: usize,
    /// The HTTP/2 input filter asks h2 to end the connection with this error.
    pub(crate) h2_abort: Option<h2::Reason>,
}

impl Pipes {
    pub(crate) fn new(output_limit: usize) -> Self {
        Self {
            input: BytesMut::new(),
            input_eof: false,
            output: BytesMut::new(),
            output_limit,
            h2_abort: None,
        }
    }
}

pub(crate) type SharedPipes = Arc<Mutex<Pipes>>;

pub(crate) fn lock(pipes: &SharedPipes) -> MutexGuard<'_, Pipes> {
    pipes.lock().unwrap_or_else(|e| e.into_inner())
}

/// h2's view of a connection: reads consume `Pipes::input` through the [`H2InputShim`],
/// writes append to `Pipes::output`. `Pending` is returned without storing the waker: the
/// transport polls h2 again itself whenever input arrives or output drains.
pub(crate) struct PipeIo {
    pipes: SharedPipes,
    shim: Box<H2InputShim>,
}

impl PipeIo {
    pub(crate) fn new(pipes: SharedPipes, shim: H2InputShim) -> Self {
        Self { pipes, shim: Box::new(shim) }
    }
}

impl AsyncRead for PipeIo {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut p = lock(&this.pipes);
        this.shim.poll_read(&mut p, buf)
    }
}

impl AsyncWrite for PipeIo {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut p = lock(&self.pipes);
        let room = p.output_limit.saturating_sub(p.output.len());
        if room == 0 {
            return Poll::Pending;
        }
        let n = room.min(data.len());
        p.output.extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Why a connection's IO failed.
#[derive(Debug)]
pub(crate) enum IoFailure {
    Io(io::Error),
    Tls(rustls::Error),
}

impl std::fmt::Display for IoFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "socket error: {e}"),
            Self::Tls(e) => write!(f, "TLS error: {e}"),
        }
    }
}

/// The socket side of a connection.
pub(crate) struct ConnIo {
    pub(crate) socket: Socket,
    pub(crate) tls: Option<Box<rustls::ServerConnection>>,
    pub(crate) pipes: SharedPipes,
    /// Readiness as last reported: cleared on `WouldBlock`, set by events.
    readable: bool,
    writable: bool,
    socket_eof: bool,
    input_limit: usize,
}

impl ConnIo {
    pub(crate) fn new(
        socket: Socket,
        tls: Option<Box<rustls::ServerConnection>>,
        input_limit: usize,
        output_limit: usize,
    ) -> Self {
        Self {
            socket,
            tls,
            pipes: Arc::new(Mutex::new(Pipes::new(output_limit))),
            readable: true,
            writable: true,
            socket_eof: false,
            input_limit,
        }
    }

    /// Marks the socket ready after a mio event.
    pub(crate) fn set_ready(&mut self, readable: bool, writable: bool) {
        self.readable |= readable;
        self.writable |= writable;
    }

    /// Plaintext and TLS records not yet written to the socket.
    pub(crate) fn has_output(&self) -> bool {
        !lock(&self.pipes).output.is_empty() || self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Plaintext output bytes buffered.
    pub(crate) fn output_bytes(&self) -> usize {
        lock(&self.pipes).output.len()
    }

    /// Plaintext input bytes buffered.
    pub(crate) fn input_bytes(&self) -> usize {
        lock(&self.pipes).input.len()
    }

    /// Reads from the socket (through TLS) into `Pipes::input` until the socket would block or
    /// the input buffer is full. Returns the plaintext bytes added.
    pub(crate) fn fill(&mut self, scratch: &mut [u8]) -> Result<usize, IoFailure> {
        let mut added = 0;
        loop {
            let room = self.input_limit.saturating_sub(lock(&self.pipes).input.len());
            if let Some(tls) = self.tls.as_mut() {
                // Drain decrypted plaintext first: rustls refuses more records while it holds some.
                let mut clean_close = false;
                let mut room_left = room;
                while room_left > 0 {
                    let want = room_left.min(scratch.len());
                    match tls.reader().read(&mut scratch[..want]) {
                        Ok(0) => {
                            clean_close = true;
                            break;
                        }
                        Ok(n) => {
                            lock(&self.pipes).input.extend_from_slice(&scratch[..n]);
                            added += n;
                            room_left -= n;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        // EOF without close_notify: treat as the end of input too.
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                            clean_close = true;
                            break;
                        }
                        Err(e) => return Err(IoFailure::Io(e)),
                    }
                }
                if clean_close {
                    lock(&self.pipes).input_eof = true;
                    return Ok(added);
                }
                if room_left == 0 || !self.readable || self.socket_eof {
                    return Ok(added);
                }
                match tls.read_tls(&mut self.socket) {
                    Ok(0) => {
                        self.socket_eof = true;
                        if tls.is_handshaking() {
                            lock(&self.pipes).input_eof = true;
                            return Ok(added);
                        }
                        // Loop once more: the reader reports the end after the last plaintext.
                    }
                    Ok(_) => {
                        tls.process_new_packets().map_err(IoFailure::Tls)?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.readable = false;
                        return Ok(added);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(IoFailure::Io(e)),
                }
            } else {
                if room == 0 || !self.readable || self.socket_eof {
                    return Ok(added);
                }
                let want = room.min(scratch.len());
                match self.socket.read(&mut scratch[..want]) {
                    Ok(0) => {
                        self.socket_eof = true;
                        lock(&self.pipes).input_eof = true;
                        return Ok(added);
                    }
                    Ok(n) => {
                        lock(&self.pipes).input.extend_from_slice(&scratch[..n]);
                        added += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.readable = false;
                        return Ok(added);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(IoFailure::Io(e)),
                }
            }
        }
    }

    /// True if `fill` could make progress now (socket readable or plaintext held by rustls).
    pub(crate) fn can_fill(&self) -> bool {
        let p = lock(&self.pipes);
        if p.input_eof || p.input.len() >= self.input_limit {
            return false;
        }
        drop(p);
        (self.readable && !self.socket_eof) || self.tls.is_some()
    }

    /// Writes `Pipes::output` (through TLS) to the socket until it would block. Returns the bytes
    /// written to the socket.
    pub(crate) fn flush(&mut self) -> Result<usize, IoFailure> {
        let mut written = 0;
        loop {
            if let Some(tls) = self.tls.as_mut() {
                {
                    let mut p = lock(&self.pipes);
                    if !p.output.is_empty() && !tls.is_handshaking() {
                        let n = tls.writer().write(&p.output).map_err(IoFailure::Io)?;
                        p.output.advance(n);
                    }
                }
                if !tls.wants_write() || !self.writable {
                    return Ok(written);
                }
                match tls.write_tls(&mut self.socket) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.writable = false;
                        return Ok(written);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(IoFailure::Io(e)),
                }
            } else {
                let mut p = lock(&self.pipes);
                if p.output.is_empty() || !self.writable {
                    return Ok(written);
                }
                match self.socket.write(&p.output) {
                    Ok(0) => return Err(IoFailure::Io(io::ErrorKind::WriteZero.into())),
                    Ok(n) => {
                        p.output.advance(n);
                        written += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.writable = false;
                        return Ok(written);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(IoFailure::Io(e)),
                }
            }
        }
    }

    /// Gives back buffer memory once a buffer is empty, so idle connections stay small.
    pub(crate) fn trim(&mut self) {
        let mut p = lock(&self.pipes);
        if p.input.is_empty() && p.input.capacity() > TRIM_ABOVE_BYTES {
            p.input = BytesMut::new();
        }
        if p.output.is_empty() && p.output.capacity() > TRIM_ABOVE_BYTES {
            p.output = BytesMut::new();
        }
    }

    /// Queues a TLS close_notify (written by the next `flush`).
    pub(crate) fn send_close_notify(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            tls.send_close_notify();
        }
    }
}
