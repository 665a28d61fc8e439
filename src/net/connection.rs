//! A caller's handle on one broker connection. The connection itself lives on an I/O
//! thread ([`super::reactor`]); the handle encodes requests on the caller's thread (so
//! compression and CRCs of different callers run in parallel, not on the I/O thread),
//! queues them, and waits for the answer on a one-shot slot until the caller's deadline.
//!
//! A caller that gives up (its deadline passed) does not abandon the request to chance:
//! the I/O thread still times it out at `request.timeout.ms` past the time the broker may
//! hold it, and then closes the connection.

use super::core::{encode_outgoing, ConnCounters, ConnectionOptions};
use super::events::CompletionQueue;
use super::reactor::{IoThreads, Link, Reply, ResponseSlot, Slot};
use super::sasl::SaslAuthenticator;
use super::versions::VersionTable;
use crate::error::{local, Error, Result};
use crate::protocol::frame::decode_response;
use crate::protocol::{api_key, Request};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection being set up ([`Connection::begin`]).
pub struct Attempt {
    name: String,
    opts: ConnectionOptions,
    io: Arc<IoThreads>,
    link: Arc<Link>,
}

impl Attempt {
    /// The connection, or why it failed, or `None` if `deadline` came first (the attempt
    /// goes on: wait again, or abandon it).
    pub fn wait(&self, deadline: Instant) -> Option<Result<Arc<Connection>>> {
        let versions = match self.link.setup.wait_until(deadline)? {
            Ok(v) => v,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(Arc::new(Connection {
            name: self.name.clone(),
            opts: self.opts.clone(),
            io: self.io.clone(),
            link: self.link.clone(),
            versions,
        })))
    }

    /// Stops the attempt.
    pub fn abandon(&self) {
        self.io.close(
            self.link.id,
            Error::timed_out(format!("{}: connection attempt abandoned", self.name)),
        );
    }

    /// The error of a caller whose deadline came before the attempt's outcome.
    pub fn timed_out(&self) -> Error {
        Error::timed_out(format!(
            "connecting to {} timed out (connect, ApiVersions handshake{})",
            self.name,
            if self.opts.sasl.is_some() {
                ", authentication"
            } else {
                ""
            }
        ))
    }
}

/// A connection to one broker. Shared between threads (`Arc<Connection>`); closed when
/// the last handle is dropped.
pub struct Connection {
    /// "host:port (broker N)" for messages.
    pub name: String,
    opts: ConnectionOptions,
    io: Arc<IoThreads>,
    link: Arc<Link>,
    versions: VersionTable,
}

impl Connection {
    /// Connects (on an I/O thread) to the first of `addrs` that answers, each address
    /// within `socket.connection.setup.timeout.ms`, and runs the ApiVersions handshake
    /// (and the authentication, with SASL).
    /// Waits for the outcome until `deadline`; a caller that gives up closes the attempt.
    pub fn connect(
        io: &Arc<IoThreads>,
        name: &str,
        host: &str,
        addrs: &[SocketAddr],
        opts: &ConnectionOptions,
        deadline: Instant,
    ) -> Result<Arc<Connection>> {
        let attempt = Connection::begin(io, name, host, addrs, opts);
        match attempt.wait(deadline) {
            Some(r) => r,
            None => {
                attempt.abandon();
                Err(attempt.timed_out())
            }
        }
    }

    /// Starts connecting as [`connect`](Self::connect) does, without waiting: the attempt
    /// runs on (bounded by `socket.connection.setup.timeout.ms`) whether or not anyone
    /// waits for it, so a caller that gave up may leave it to the next.
    pub fn begin(
        io: &Arc<IoThreads>,
        name: &str,
        host: &str,
        addrs: &[SocketAddr],
        opts: &ConnectionOptions,
    ) -> Attempt {
        let link = match &opts.sasl {
            Some(setup) => io.open_authenticated(
                name,
                host,
                addrs.to_vec(),
                opts,
                Box::new(SaslAuthenticator::new(setup.clone(), &opts.client_id)),
            ),
            None => io.open(name, host, addrs.to_vec(), opts),
        };
        Attempt {
            name: name.to_owned(),
            opts: opts.clone(),
            io: io.clone(),
            link,
        }
    }

    pub fn versions(&self) -> &VersionTable {
        &self.versions
    }

    pub fn is_broken(&self) -> bool {
        self.link.broken.load(Ordering::Acquire)
    }

    /// The highest version of `R` both sides implement.
    pub fn version_of<R: Request>(&self) -> Result<i16> {
        self.versions.pick::<R>(&self.name)
    }

    /// Sends `R` at the highest common version and waits for its response.
    pub fn request<R: Request>(&self, req: &R, deadline: Instant) -> Result<(i16, R::Response)> {
        let version = self.versions.pick::<R>(&self.name)?;
        Ok((version, self.request_at(req, version, deadline)?))
    }

    /// Sends `R` at `version` (from [`Connection::version_of`]) and waits for its response.
    pub fn request_at<R: Request>(
        &self,
        req: &R,
        version: i16,
        deadline: Instant,
    ) -> Result<R::Response> {
        let slot = self.submit(req, version)?;
        let body = self.wait(&slot, deadline)?;
        self.decode::<R>(&body, version)
    }

    /// Queues `R` at `version` and returns at once; [`Pending::wait`] collects the answer.
    /// Lets one caller have requests in flight to several brokers at the same time.
    pub fn start<R: Request>(
        self: &Arc<Self>,
        req: &R,
        version: i16,
        _deadline: Instant,
    ) -> Result<Pending<R>> {
        let slot = self.submit(req, version)?;
        Ok(Pending {
            conn: self.clone(),
            slot,
            version,
            _r: std::marker::PhantomData,
        })
    }

    /// Sends a request at `version` for which the broker sends no response (Produce
    /// with acks=0), and waits until it is written to the socket: after that, closing
    /// the client does not lose it. Fails if the connection fails first, or at
    /// `deadline`.
    pub fn request_no_response_at<R: Request>(
        &self,
        req: &R,
        version: i16,
        deadline: Instant,
    ) -> Result<()> {
        let slot = Slot::new();
        self.queue(req, version, None, Some(Reply::Slot(slot.clone())))?;
        self.wait(&slot, deadline).map(drop)
    }

    /// Queues a request at `version` for which the broker sends no response (Produce
    /// with acks=0); an empty answer arrives on `queue` with `tag` once it is written to
    /// the socket, or the error that closed the connection first.
    pub fn send_unanswered_to_queue<R: Request>(
        &self,
        req: &R,
        version: i16,
        queue: &Arc<CompletionQueue>,
        tag: u64,
    ) -> Result<()> {
        self.queue(req, version, None, Some(Reply::Queue(queue.clone(), tag)))
    }

    /// Queues `R` at `version`; its answer (the raw body, for [`Connection::decode_body`])
    /// arrives on `queue` with `tag`, after those of the requests queued before it on this
    /// connection. For callers with many requests in flight.
    pub fn send_to_queue<R: Request>(
        &self,
        req: &R,
        version: i16,
        queue: &Arc<CompletionQueue>,
        tag: u64,
    ) -> Result<()> {
        self.queue(
            req,
            version,
            Some(req.server_wait()),
            Some(Reply::Queue(queue.clone(), tag)),
        )
    }

    /// Decodes an answer taken from a completion queue.
    pub fn decode_body<R: Request>(&self, body: &Bytes, version: i16) -> Result<R::Response> {
        self.decode::<R>(body, version)
    }

    fn submit<R: Request>(&self, req: &R, version: i16) -> Result<ResponseSlot> {
        let slot = Slot::new();
        self.queue(
            req,
            version,
            Some(req.server_wait()),
            Some(Reply::Slot(slot.clone())),
        )?;
        Ok(slot)
    }

    /// Encodes `req` into a reused frame buffer (record batches are not copied: the frame
    /// shares them) and queues it on the connection's I/O thread; the answer (if `reply`)
    /// goes there: the broker's, or with no `server_wait` (no answer comes), an empty one
    /// once the frame is written.
    fn queue<R: Request>(
        &self,
        req: &R,
        version: i16,
        server_wait: Option<Duration>,
        reply: Option<Reply>,
    ) -> Result<()> {
        if self.is_broken() {
            return Err(self.link.closed_error());
        }
        let buf = self.link.frames.lock().pop().unwrap_or_default();
        let frame = encode_outgoing(req, version, &self.opts.client_id, buf);
        self.io.submit(self.link.id, frame, server_wait, reply);
        Ok(())
    }

    fn wait(&self, slot: &ResponseSlot, deadline: Instant) -> Result<Bytes> {
        slot.wait_until(deadline).unwrap_or_else(|| {
            Err(Error::timed_out(format!(
                "{}: timed out waiting for the response",
                self.name
            )))
        })
    }

    /// What the connection has done so far (as of its I/O thread's last event).
    pub fn counters(&self) -> ConnCounters {
        *self.link.counters.lock()
    }

    fn decode<R: Request>(&self, body: &Bytes, version: i16) -> Result<R::Response> {
        decode_response::<R>(body, version)
            .map(|(_, r)| {
                // KIP-219: the broker answers at once and asks the client to hold off;
                // this connection writes nothing more until then.
                let ms = R::throttle_time_ms(&r);
                if ms > 0 {
                    self.io
                        .throttle(self.link.id, std::time::Duration::from_millis(ms as u64));
                }
                r
            })
            .map_err(|e| {
                Error::protocol(format!(
                    "{}: malformed {} v{version} response: {e}",
                    self.name,
                    api_key::name(R::API_KEY)
                ))
            })
    }

    /// Closes the connection: what it has in flight fails with a DESTROY error.
    pub fn close(&self) {
        self.io.close(
            self.link.id,
            Error::new(local::DESTROY, format!("{}: connection closed", self.name)),
        );
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

/// A request queued on a connection whose response has not been collected yet.
pub struct Pending<R: Request> {
    conn: Arc<Connection>,
    slot: ResponseSlot,
    version: i16,
    _r: std::marker::PhantomData<fn() -> R>,
}

impl<R: Request> Pending<R> {
    /// Waits for the response until `deadline` and decodes it.
    pub fn wait(self, deadline: Instant) -> Result<R::Response> {
        let body = self.conn.wait(&self.slot, deadline)?;
        self.conn.decode::<R>(&body, self.version)
    }

    pub fn connection(&self) -> &Arc<Connection> {
        &self.conn
    }
}
