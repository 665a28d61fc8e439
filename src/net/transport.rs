//! What carries a connection's bytes between its socket and its state machine
//! ([`ConnCore`](super::core::ConnCore)): plain TCP today; a TLS session is another
//! variant, with no change to the state machine or to the I/O loop that drives it.
//!
//! The I/O loop uses only this interface:
//!
//! * [`read`](Transport::read) into the buffer the state machine offers (for plain TCP,
//!   straight from the socket: no copy);
//! * [`write`](Transport::write) from the buffer the state machine offers (straight to the
//!   socket for plain TCP), or [`write_vectored`](Transport::write_vectored) from the
//!   several it offers at once (a frame's header, the record batches the frame shares
//!   rather than copies, the bytes between them): one `writev` for plain TCP. Like
//!   `std::io::Write::write_vectored`, it may take any prefix of the slices' bytes, ending
//!   anywhere, also inside a slice. A TLS session passes the slices to its plaintext
//!   writer (`rustls::Writer::write_vectored`: it encrypts from each slice in turn into
//!   records of its own and stops where its buffer limit is reached, so it too takes a
//!   prefix), and `flush` writes the records: the slices are copied once, by the
//!   encryption, never gathered first;
//! * [`flush`](Transport::flush) the transport's own bytes ([`wants_write`]
//!   (Transport::wants_write)): TLS produces records of its own (handshake, alerts, the
//!   encrypted form of what `write` took), and a read may produce some (a read can need a
//!   write), so the loop flushes before it writes and after it reads;
//! * [`handshake_done`](Transport::handshake_done): the state machine is told the
//!   connection is up (and sends ApiVersions) only once the transport's own handshake is
//!   done; always true for plain TCP. Until then the set-up deadline of the connecting
//!   step applies.
//!
//! Reads and writes follow `std::io` on a non-blocking socket: `Ok(0)` from `read` is the
//! end of the stream, `WouldBlock` means "wait for the next readiness event". A TLS
//! failure (a certificate refused, an alert, a peer that does not speak TLS) is an
//! `io::Error` carrying a [`TlsFailure`] with the message for the user.
//!
//! A short read drains plain TCP (what arrives later raises a new readiness edge); a TLS
//! read may leave records in the socket that rustls did not take yet, so the loop reads a
//! TLS transport until it would block ([`short_read_drains`](Transport::short_read_drains)).

use super::tls::{explain, TlsFailure};
use mio::net::TcpStream;
use std::io::{self, IoSlice, Read, Write};

/// A connection's transport. An enum rather than a trait object: the plain path is a
/// direct call on the socket.
pub enum Transport {
    Plain(TcpStream),
    /// A rustls client session over the socket (boxed: the session is large).
    Tls(TcpStream, Box<rustls::ClientConnection>),
}

/// Reads TLS records from the socket into the session and processes them. `Ok(false)`
/// at the end of the stream.
fn pull(s: &mut TcpStream, c: &mut rustls::ClientConnection) -> io::Result<bool> {
    match c.read_tls(s) {
        Ok(0) if c.is_handshaking() => Err(TlsFailure::io(
            "TLS handshake failed: the broker closed the connection (is this a plaintext \
             listener? check security.protocol)",
        )),
        Ok(0) => Ok(false),
        Ok(_) => match c.process_new_packets() {
            Ok(_) => Ok(true),
            Err(e) => {
                // The alert rustls queued goes out if the socket takes it now.
                let _ = c.write_tls(s);
                Err(TlsFailure::io(explain(&e)))
            }
        },
        Err(e) => Err(e),
    }
}

impl Transport {
    /// The socket underneath, for registration with the poller, connect checks and
    /// socket options.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) | Transport::Tls(s, _) => s,
        }
    }

    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) | Transport::Tls(s, _) => s,
        }
    }

    /// Whether a read that returned less than asked took all the socket had (true for
    /// plain TCP; a TLS session may have records left to take).
    #[inline]
    pub fn short_read_drains(&self) -> bool {
        matches!(self, Transport::Plain(_))
    }

    /// Reads application bytes into `buf`.
    #[inline]
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s, c) => loop {
                match c.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if !pull(s, c)? {
                    // The end of the stream: what the session still holds was read above.
                    return match c.reader().read(buf) {
                        Ok(n) => Ok(n),
                        Err(_) => Ok(0),
                    };
                }
            },
        }
    }

    /// Takes application bytes from `buf`; returns how many it took.
    #[inline]
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(_, c) => c.writer().write(buf),
        }
    }

    /// Takes application bytes from `bufs`, in order: any prefix of their bytes, which
    /// may end inside a slice. Returns how many it took.
    #[inline]
    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write_vectored(bufs),
            Transport::Tls(_, c) => c.writer().write_vectored(bufs),
        }
    }

    /// Writes the transport's own pending bytes to the socket: `Ok` when none are left,
    /// `WouldBlock` when the socket is full.
    #[inline]
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(s, c) => {
                while c.wants_write() {
                    if c.write_tls(s)? == 0 {
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether the transport has bytes of its own to write.
    #[inline]
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(_, c) => c.wants_write(),
        }
    }

    /// Whether the transport's own handshake is done (application bytes may flow).
    #[inline]
    pub fn handshake_done(&self) -> bool {
        match self {
            Transport::Plain(_) => true,
            Transport::Tls(_, c) => !c.is_handshaking(),
        }
    }

    /// Closes the transport (TLS: after its close message, when the socket takes it).
    pub fn shutdown(&mut self) {
        match self {
            Transport::Plain(s) => {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            Transport::Tls(s, c) => {
                c.send_close_notify();
                let _ = c.write_tls(s);
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}
