//! One broker connection as a state machine, with no socket and no clock inside.
//!
//! The I/O thread (`reactor`) and the simulator (`sim` tests) drive it the same way:
//! they tell it what happened (the TCP connection is up, bytes arrived, the peer closed,
//! the time is now T, a caller queued a request) and take what it produced (bytes to
//! write, completed requests, the next time it must be woken). Everything a connection
//! decides lives here: the setup handshake (connect → ApiVersions → [authentication] →
//! ready), correlation ids, the in-flight limit, framing and its limits, requests that
//! outlive their broker (`request.timeout.ms` past the time the broker may hold them),
//! and setup time-outs.
//!
//! Authentication is optional and pluggable ([`Authenticator`], built with
//! [`ConnCore::with_authenticator`]): after ApiVersions the authenticator's frames are the
//! connection's own requests, like ApiVersions, and callers' requests wait queued until
//! it is done. A ready connection may authenticate again (KIP-368,
//! [`ConnCore::begin_reauthentication`]): requests already in flight complete normally,
//! new ones wait queued, and the authenticator's first frame is written at once, in the
//! first free slot of the in-flight limit and ahead of any queued request. Kafka answers
//! in order, so the answers to the requests in flight come back first; the broker takes
//! the re-authentication up once it has answered them. Like ApiVersions, the
//! authenticator's frames are not held back by a broker's throttle (KIP-219): the broker
//! mutes the connection itself and takes them up when the throttle ends.
//!
//! Kafka answers a connection's requests in the order they were sent, so a response
//! always belongs to the oldest request in flight; anything else is a protocol error
//! that closes the connection.

use super::auth::{AuthStep, Authenticator};
use super::sasl::SaslSetup;
use super::tls::TlsConfig;
use super::versions::VersionTable;
use crate::error::{local, Error, Result};
use crate::protocol::frame::{decode_response, encode_request_frame, Frame};
use crate::protocol::messages::ApiVersionsRequest;
use crate::protocol::{api_key, Request};
use bytes::Bytes;
use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a connection needs to know from the client's settings.
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    pub client_id: String,
    pub software_name: String,
    pub software_version: String,
    /// `socket.connection.setup.timeout.ms`: connect and ApiVersions must be done by then.
    pub connect_timeout: Duration,
    pub socket_timeout: Duration,
    /// The network timeout of a request (`socket.timeout.ms`): how long past the time the
    /// broker may hold a request its answer may be late before the broker is taken to
    /// have stopped answering.
    pub request_timeout: Duration,
    pub max_frame: usize,
    pub nodelay: bool,
    /// `max.in.flight.requests.per.connection`; requests beyond it wait in order.
    pub max_in_flight: usize,
    /// `connections.max.idle.ms`: a ready connection with nothing in flight or queued for
    /// this long is closed (reopened on next use). Zero: never.
    pub idle_timeout: Duration,
    /// `security.protocol=ssl`: the TLS configuration; `None` for plain TCP.
    pub tls: Option<Arc<TlsConfig>>,
    /// `security.protocol=sasl_*`: how to authenticate after ApiVersions; `None` for none.
    pub sasl: Option<SaslSetup>,
}

/// What a connection has done, for statistics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnCounters {
    /// Requests written (the connection's own ApiVersions included).
    pub requests: u64,
    /// Responses read.
    pub responses: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
    /// Answers that asked the client to hold off (KIP-219 `throttle_time_ms` > 0).
    pub throttled: u64,
    /// Sum of request round-trip times (write to answer), in microseconds.
    pub rtt_us_total: u64,
}

/// Identifies a caller's request to its connection's driver.
pub type Token = u64;

/// A request ready to go: a whole frame (size prefix included) whose correlation id
/// (bytes 8..12) the connection stamps when it sends it.
pub struct Outgoing {
    pub token: Token,
    pub frame: Frame,
    /// How long the broker may hold it before answering; `None` when no answer comes
    /// (Produce with acks=0). Such a request completes (with an empty body) once its
    /// whole frame is handed to the transport, or with the error that closed the
    /// connection before then.
    pub response: Option<Duration>,
}

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the TCP connection.
    Connecting,
    /// Connected; ApiVersions sent, answer awaited.
    Handshake,
    /// The authenticator's conversation runs: at set-up (after ApiVersions), or again on
    /// a connection that was ready (re-authentication; requests written before it still
    /// complete). Callers' requests wait queued.
    Authenticating,
    /// Requests flow.
    Ready,
    /// Closed for good; every request got an answer.
    Closed,
}

/// Whose request is in flight.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Caller(Token),
    /// The connection's own ApiVersions request, at this version.
    ApiVersions(i16),
    /// The authenticator's.
    Auth,
}

struct InFlight {
    correlation_id: i32,
    owner: Owner,
    /// Past this, the broker has stopped answering.
    overdue_at: Instant,
    sent_at: Instant,
    /// How long the broker may hold it once it takes it up.
    server_wait: Duration,
}

/// The state machine of one connection.
pub struct ConnCore {
    name: String,
    opts: ConnectionOptions,
    phase: Phase,
    setup_deadline: Instant,
    next_correlation_id: i32,
    /// Requests not yet written (not ready yet, or beyond the in-flight limit).
    queued: VecDeque<Outgoing>,
    /// Frames to write, in order; the first may be partly written: up to byte `off` of
    /// its part `part`.
    to_write: VecDeque<Frame>,
    /// For each frame of `to_write`, the request that completes when it is written
    /// (one that expects no answer).
    write_tokens: VecDeque<Option<Token>>,
    part: usize,
    off: usize,
    /// The owned buffers of frames written (or dropped), for the driver to hand back for
    /// reuse.
    spent: Vec<Vec<u8>>,
    in_flight: VecDeque<InFlight>,
    /// Correlation ids of recent requests that expect no answer: some Kafka-compatible
    /// brokers (Tansu) answer acks=0 produces anyway, and such an answer is skipped.
    unanswered: VecDeque<i32>,
    /// The response being read: its size prefix, then its body.
    head: [u8; 4],
    head_len: usize,
    body: Vec<u8>,
    body_len: usize,
    completions: VecDeque<(Token, Result<Bytes>)>,
    versions: Option<VersionTable>,
    /// The outcome of setup, once, for whoever waits for the connection.
    setup_result: Option<Result<VersionTable>>,
    setup_reported: bool,
    closed_with: Option<Error>,
    /// Closed on purpose, not because of a fault (idle, or by the application).
    closed_quietly: bool,
    /// Nothing is written before this (the broker throttled us, KIP-219).
    throttle_until: Option<Instant>,
    last_activity: Instant,
    counters: ConnCounters,
    authenticator: Option<Box<dyn Authenticator>>,
    /// The authenticator's next frame, not yet written (the in-flight limit is reached).
    auth_frame: Option<Vec<u8>>,
    /// Authenticating on a connection that was ready (KIP-368), not at set-up.
    reauth: bool,
    /// When to re-authenticate, as the authenticator asked.
    reauth_at: Option<Instant>,
}

const UNANSWERED_KEPT: usize = 4096;

impl ConnCore {
    /// A connection that is about to connect at `now`.
    pub fn new(name: &str, opts: ConnectionOptions, now: Instant) -> ConnCore {
        ConnCore {
            name: name.to_owned(),
            setup_deadline: now + opts.connect_timeout,
            opts,
            phase: Phase::Connecting,
            next_correlation_id: 1,
            queued: VecDeque::new(),
            to_write: VecDeque::new(),
            write_tokens: VecDeque::new(),
            part: 0,
            off: 0,
            spent: Vec::new(),
            in_flight: VecDeque::new(),
            unanswered: VecDeque::new(),
            head: [0; 4],
            head_len: 0,
            body: Vec::new(),
            body_len: 0,
            completions: VecDeque::new(),
            versions: None,
            setup_result: None,
            setup_reported: false,
            closed_with: None,
            closed_quietly: false,
            throttle_until: None,
            last_activity: now,
            counters: ConnCounters::default(),
            authenticator: None,
            auth_frame: None,
            reauth: false,
            reauth_at: None,
        }
    }

    /// A connection that authenticates with `auth` after ApiVersions, before it is ready
    /// (and again when asked to, or when `auth` says so).
    pub fn with_authenticator(
        name: &str,
        opts: ConnectionOptions,
        now: Instant,
        auth: Box<dyn Authenticator>,
    ) -> ConnCore {
        let mut c = ConnCore::new(name, opts, now);
        c.authenticator = Some(auth);
        c
    }

    /// Whether this is a re-authentication of a connection that was ready (rather than
    /// the authentication of its set-up).
    pub fn reauthenticating(&self) -> bool {
        self.phase == Phase::Authenticating && self.reauth
    }

    /// When the authenticator asked to re-authenticate, if it did.
    pub fn reauthenticate_at(&self) -> Option<Instant> {
        self.reauth_at
    }

    /// Whether the connection was closed on purpose (idle, or by the application)
    /// rather than by a fault.
    pub fn closed_quietly(&self) -> bool {
        self.closed_quietly
    }

    pub fn counters(&self) -> ConnCounters {
        self.counters
    }

    /// When the broker's throttle (if any) ends.
    pub fn throttled_until(&self) -> Option<Instant> {
        self.throttle_until
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The broker's API versions, once the handshake is done.
    pub fn versions(&self) -> Option<&VersionTable> {
        self.versions.as_ref()
    }

    /// How many requests are written and unanswered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// How many requests wait to be written.
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// Why the connection closed, once it has.
    pub fn closed_with(&self) -> Option<&Error> {
        self.closed_with.as_ref()
    }

    /// `TCP_NODELAY` wanted.
    pub fn nodelay(&self) -> bool {
        self.opts.nodelay
    }

    /// Whether part of a response has been read.
    pub fn mid_response(&self) -> bool {
        self.head_len > 0
    }

    // ----- events ---------------------------------------------------------------------

    /// A new connection attempt (the next address of the broker) starts at `now`, with
    /// its own set-up time.
    pub fn restart_setup(&mut self, now: Instant) {
        if self.phase == Phase::Connecting {
            self.setup_deadline = now + self.opts.connect_timeout;
        }
    }

    /// Whether set-up is still in its first step (no TCP connection yet) and past its
    /// time.
    pub fn connect_overdue(&self, now: Instant) -> bool {
        self.phase == Phase::Connecting && now >= self.setup_deadline
    }

    /// The TCP connection is up: send ApiVersions.
    pub fn on_connected(&mut self, now: Instant) {
        if self.phase != Phase::Connecting {
            return;
        }
        self.phase = Phase::Handshake;
        self.send_api_versions(ApiVersionsRequest::MAX_VERSION, now);
    }

    /// A caller's request. Answered at once with the reason when the connection is
    /// closed.
    pub fn submit(&mut self, req: Outgoing, now: Instant) {
        if let Some(e) = &self.closed_with {
            let e = e.clone();
            self.spent.push(req.frame.into_buf());
            self.completions.push_back((req.token, Err(e)));
            return;
        }
        self.queued.push_back(req);
        self.pump(now);
    }

    /// The first `n` bytes offered by [`transmit`](Self::transmit) or
    /// [`transmit_vectored`](Self::transmit_vectored) were written (with vectored output,
    /// possibly across several parts and frames).
    pub fn on_written(&mut self, mut n: usize) {
        self.counters.bytes_out += n as u64;
        while let Some(f) = self.to_write.front() {
            let left = f.part(self.part).len() - self.off;
            if n < left {
                self.off += n;
                return;
            }
            // This part is done (or was empty): on to the next, and the next frame.
            n -= left;
            self.part += 1;
            self.off = 0;
            if self.part == f.parts() {
                let f = self.to_write.pop_front().expect("front exists");
                self.spent.push(f.into_buf());
                if let Some(t) = self.write_tokens.pop_front().flatten() {
                    self.completions.push_back((t, Ok(Bytes::new())));
                }
                self.part = 0;
            }
        }
        debug_assert_eq!(n, 0, "more bytes written than were offered");
    }

    /// Where the next bytes read from the socket go: the rest of the size prefix, or the
    /// rest of the body. Never empty while the connection is open.
    pub fn read_space(&mut self) -> &mut [u8] {
        if self.head_len < 4 {
            &mut self.head[self.head_len..]
        } else {
            &mut self.body[self.body_len..]
        }
    }

    /// `n` bytes were read into [`read_space`](Self::read_space). Returns false when the
    /// connection closed because of them.
    pub fn on_read(&mut self, n: usize, now: Instant) -> bool {
        if self.phase == Phase::Closed {
            return false;
        }
        self.counters.bytes_in += n as u64;
        self.last_activity = now;
        if self.head_len < 4 {
            self.head_len += n;
            if self.head_len < 4 {
                return true;
            }
            let size = i32::from_be_bytes(self.head);
            // The first answer starting like a TLS record (an alert or a handshake, TLS
            // 1.0 to 1.3) is a TLS listener answering a plaintext client: say so, rather
            // than "response too large".
            if self.phase == Phase::Handshake
                && matches!(self.head, [0x15 | 0x16, 0x03, 0x00..=0x04, _])
            {
                self.fail_oldest_and_close(Error::new(
                    local::SSL,
                    format!(
                        "{}: the broker answered with TLS: this listener expects \
                     security.protocol=ssl (or sasl_ssl)",
                        self.name
                    ),
                ));
                return false;
            }
            if size < 4 {
                self.fail_oldest_and_close(Error::protocol(format!(
                    "{}: invalid response size {size}",
                    self.name
                )));
                return false;
            }
            if size as usize > self.opts.max_frame {
                self.fail_oldest_and_close(Error::new(
                    local::FRAME_TOO_LARGE,
                    format!(
                        "{}: response of {size} bytes exceeds receive.message.max.bytes ({})",
                        self.name, self.opts.max_frame
                    ),
                ));
                return false;
            }
            // A kept buffer of about the size, not zeroed again: the socket overwrites
            // all of it before the frame is delivered.
            self.body = crate::record::pool::take_filled(size as usize);
            self.body_len = 0;
            return true;
        }
        self.body_len += n;
        if self.body_len < self.body.len() {
            return true;
        }
        let body = crate::record::pool::into_bytes(std::mem::take(&mut self.body));
        self.head_len = 0;
        self.body_len = 0;
        self.on_frame(body, now)
    }

    /// Copies `data` in as if it had been read from the socket (for drivers that read
    /// into their own buffer, and for the simulator). Returns false when the connection
    /// closed because of it.
    pub fn feed(&mut self, mut data: &[u8], now: Instant) -> bool {
        while !data.is_empty() {
            if self.phase == Phase::Closed {
                return false;
            }
            let space = self.read_space();
            let n = space.len().min(data.len());
            space[..n].copy_from_slice(&data[..n]);
            data = &data[n..];
            if !self.on_read(n, now) {
                return false;
            }
        }
        true
    }

    /// An answer on this connection carried `throttle_time_ms` (KIP-219): nothing more is
    /// written until `until`. Requests already written are not affected.
    pub fn throttle(&mut self, until: Instant) {
        self.counters.throttled += 1;
        if self.throttle_until.is_none_or(|t| t < until) {
            self.throttle_until = Some(until);
        }
    }

    /// The peer closed the connection, or the socket failed (`err` says how).
    pub fn on_closed(&mut self, err: Error) {
        // A SASL listener closes the connection of a client that sends anything but
        // ApiVersions and SaslHandshake before authenticating: the first request after
        // ApiVersions (one or two answers read) unanswered, on a connection that did not
        // authenticate, is most likely that. Say so.
        let err = if self.authenticator.is_none()
            && self.phase == Phase::Ready
            && self.counters.responses <= 2
            && self
                .in_flight
                .front()
                .is_some_and(|f| matches!(f.owner, Owner::Caller(_)))
        {
            Error::new(
                err.code,
                format!(
                    "{} before answering the first request: the listener may require SASL \
                     authentication (security.protocol=sasl_plaintext or sasl_ssl)",
                    err.message
                ),
            )
        } else {
            err
        };
        self.close(err);
    }

    /// Closes the connection on the application's behalf: every request waiting gets
    /// `err`.
    pub fn close(&mut self, err: Error) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        // A request that caused the close was completed with its own error already; the
        // others only lost their connection, so they get a (retriable) transport error;
        // a TLS failure keeps its code (retrying will not fix a certificate).
        let err = match err.code {
            local::TRANSPORT | local::DESTROY | local::SSL | local::AUTHENTICATION => err,
            _ => Error::transport(format!("connection closed: {}", err.message)),
        };
        // Set-up not done yet (connecting, ApiVersions or authenticating): it failed.
        if !self.setup_reported && self.setup_result.is_none() {
            self.setup_result = Some(Err(err.clone()));
        }
        for f in self.in_flight.drain(..) {
            if let Owner::Caller(t) = f.owner {
                self.completions.push_back((t, Err(err.clone())));
            }
        }
        self.spent.extend(self.auth_frame.take());
        self.reauth_at = None;
        for q in self.queued.drain(..) {
            self.completions.push_back((q.token, Err(err.clone())));
            self.spent.push(q.frame.into_buf());
        }
        self.spent
            .extend(self.to_write.drain(..).map(Frame::into_buf));
        for t in self.write_tokens.drain(..).flatten() {
            self.completions.push_back((t, Err(err.clone())));
        }
        self.part = 0;
        self.off = 0;
        crate::record::pool::give(std::mem::take(&mut self.body));
        self.closed_with = Some(err);
    }

    /// The time is `now`: set-up and request deadlines are checked.
    pub fn on_tick(&mut self, now: Instant) {
        match self.phase {
            Phase::Closed => {}
            Phase::Connecting | Phase::Handshake | Phase::Authenticating
                if !self.reauth && now >= self.setup_deadline =>
            {
                let what = match self.phase {
                    Phase::Connecting => "connecting",
                    Phase::Handshake => "the ApiVersions handshake",
                    _ => "authentication",
                };
                self.close(Error::transport(format!(
                    "{}: {what} took longer than socket.connection.setup.timeout.ms ({} ms)",
                    self.name,
                    self.opts.connect_timeout.as_millis()
                )));
            }
            _ => {
                if self.throttle_until.is_some_and(|t| now >= t) {
                    self.throttle_until = None;
                    self.pump(now);
                }
                if self.phase == Phase::Ready
                    && !self.opts.idle_timeout.is_zero()
                    && self.in_flight.is_empty()
                    && self.queued.is_empty()
                    && self.to_write.is_empty()
                    && now >= self.last_activity + self.opts.idle_timeout
                {
                    self.closed_quietly = true;
                    self.close(Error::transport(format!(
                        "{}: closed after connections.max.idle.ms ({} ms) without traffic",
                        self.name,
                        self.opts.idle_timeout.as_millis()
                    )));
                    return;
                }
                if self.phase == Phase::Ready && self.reauth_at.is_some_and(|t| now >= t) {
                    self.begin_reauthentication(now);
                }
                // Answers come in order: the connection is stuck only when its oldest
                // request is overdue. Whether its caller still waits does not matter.
                if self.in_flight.front().is_some_and(|f| now >= f.overdue_at) {
                    self.close(Error::transport(format!(
                        "{}: the broker stopped answering (a request is overdue by more than \
                         socket.timeout.ms, {} ms); the connection is closed",
                        self.name,
                        self.opts.request_timeout.as_millis()
                    )));
                }
            }
        }
    }

    // ----- outputs --------------------------------------------------------------------

    /// The bytes to write next, if any: the rest of one part of a frame (never empty).
    pub fn transmit(&self) -> Option<&[u8]> {
        self.pending().next()
    }

    /// The bytes to write next as slices for one vectored write (`writev`): as many parts
    /// of as many frames as `out` has room for, in order. Returns how many slices it
    /// filled (none empty); 0 when nothing waits. Writing `n` bytes of them (all or a
    /// prefix) is reported with [`on_written`](Self::on_written)`(n)`.
    pub fn transmit_vectored<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let mut k = 0;
        for (slot, s) in out.iter_mut().zip(self.pending()) {
            *slot = IoSlice::new(s);
            k += 1;
        }
        k
    }

    /// What waits to be written, part by part, from where writing stopped; no empty
    /// slices.
    fn pending(&self) -> impl Iterator<Item = &[u8]> {
        let (part, off) = (self.part, self.off);
        self.to_write
            .iter()
            .enumerate()
            .flat_map(move |(i, f)| {
                let (from, skip) = if i == 0 { (part, off) } else { (0, 0) };
                (from..f.parts()).map(move |p| {
                    let s = f.part(p);
                    if p == from {
                        &s[skip..]
                    } else {
                        s
                    }
                })
            })
            .filter(|s| !s.is_empty())
    }

    /// Whether anything waits to be written.
    pub fn wants_write(&self) -> bool {
        !self.to_write.is_empty()
    }

    /// The next completed request.
    pub fn poll_completion(&mut self) -> Option<(Token, Result<Bytes>)> {
        self.completions.pop_front()
    }

    /// The outcome of setup, once: the broker's versions, or why it failed.
    pub fn poll_setup(&mut self) -> Option<Result<VersionTable>> {
        let r = self.setup_result.take();
        if r.is_some() {
            self.setup_reported = true;
        }
        r
    }

    /// Frame buffers done with, for reuse by whoever encodes requests.
    pub fn take_spent(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.spent)
    }

    /// When [`on_tick`](Self::on_tick) must be called next.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Connecting | Phase::Handshake => Some(self.setup_deadline),
            Phase::Authenticating if !self.reauth => Some(self.setup_deadline),
            Phase::Authenticating => self.in_flight.front().map(|f| f.overdue_at),
            Phase::Ready => {
                let overdue = self.in_flight.front().map(|f| f.overdue_at);
                let throttle = self.throttle_until.filter(|_| !self.queued.is_empty());
                let idle = (!self.opts.idle_timeout.is_zero()
                    && self.in_flight.is_empty()
                    && self.queued.is_empty())
                .then(|| self.last_activity + self.opts.idle_timeout);
                [overdue, throttle, idle, self.reauth_at]
                    .into_iter()
                    .flatten()
                    .min()
            }
            Phase::Closed => None,
        }
    }

    // ----- internals ------------------------------------------------------------------

    fn stamp(&mut self) -> i32 {
        let cid = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1).max(1);
        cid
    }

    fn send_api_versions(&mut self, version: i16, now: Instant) {
        let req = ApiVersionsRequest {
            client_software_name: self.opts.software_name.clone(),
            client_software_version: self.opts.software_version.clone(),
            ..Default::default()
        };
        let cid = self.stamp();
        let frame =
            encode_request_frame(&req, version, cid, Some(&self.opts.client_id), Vec::new());
        self.push_frame(frame, None);
        self.counters.requests += 1;
        self.in_flight.push_back(InFlight {
            correlation_id: cid,
            owner: Owner::ApiVersions(version),
            overdue_at: self.setup_deadline.max(now),
            sent_at: now,
            server_wait: Duration::ZERO,
        });
    }

    /// Writes the authenticator's frame, then queued requests while the connection is
    /// ready, all under the in-flight limit.
    fn pump(&mut self, now: Instant) {
        if self.auth_frame.is_some() && self.in_flight.len() < self.opts.max_in_flight.max(1) {
            let mut frame = Frame::from(self.auth_frame.take().expect("checked"));
            let cid = self.stamp();
            frame.set_correlation_id(cid);
            self.counters.requests += 1;
            self.last_activity = now;
            // At set-up the set-up deadline applies; later, the request time-out (from
            // when it becomes the oldest in flight, as for any request).
            let overdue_at = if self.reauth {
                now + self.opts.request_timeout
            } else {
                self.setup_deadline.max(now)
            };
            self.in_flight.push_back(InFlight {
                correlation_id: cid,
                owner: Owner::Auth,
                overdue_at,
                sent_at: now,
                server_wait: Duration::ZERO,
            });
            self.push_frame(frame, None);
        }
        if self.phase != Phase::Ready {
            return;
        }
        if self.throttle_until.is_some_and(|t| now < t) {
            return;
        }
        self.throttle_until = None;
        while self.in_flight.len() < self.opts.max_in_flight.max(1) {
            let Some(mut q) = self.queued.pop_front() else {
                break;
            };
            let cid = self.stamp();
            q.frame.set_correlation_id(cid);
            self.counters.requests += 1;
            self.last_activity = now;
            let done_when_written = match q.response {
                Some(server_wait) => {
                    self.in_flight.push_back(InFlight {
                        correlation_id: cid,
                        owner: Owner::Caller(q.token),
                        overdue_at: now + server_wait + self.opts.request_timeout,
                        sent_at: now,
                        server_wait,
                    });
                    None
                }
                None => {
                    if self.unanswered.len() == UNANSWERED_KEPT {
                        self.unanswered.pop_front();
                    }
                    self.unanswered.push_back(cid);
                    Some(q.token)
                }
            };
            self.push_frame(q.frame, done_when_written);
        }
    }

    /// Queues `frame` for writing; `token`, if any, completes once it is all written. An
    /// empty frame has nothing to write: it is done at once.
    fn push_frame(&mut self, frame: Frame, token: Option<Token>) {
        if frame.is_empty() {
            self.spent.push(frame.into_buf());
            if let Some(t) = token {
                self.completions.push_back((t, Ok(Bytes::new())));
            }
        } else {
            self.to_write.push_back(frame);
            self.write_tokens.push_back(token);
        }
    }

    fn fail_oldest_and_close(&mut self, e: Error) {
        if let Some(f) = self.in_flight.pop_front() {
            match f.owner {
                Owner::Caller(t) => self.completions.push_back((t, Err(e.clone()))),
                Owner::Auth if self.reauth => {}
                Owner::ApiVersions(_) | Owner::Auth => self.setup_result = Some(Err(e.clone())),
            }
        }
        self.close(e);
    }

    fn on_frame(&mut self, body: Bytes, now: Instant) -> bool {
        let cid = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        let matches_front = self
            .in_flight
            .front()
            .is_some_and(|f| f.correlation_id == cid);
        if !matches_front {
            if let Some(i) = self.unanswered.iter().position(|&c| c == cid) {
                self.unanswered.drain(..=i);
                return true;
            }
            let e = match self.in_flight.front() {
                Some(f) => Error::protocol(format!(
                    "{}: response correlation id {cid} does not match the oldest request in \
                     flight ({})",
                    self.name, f.correlation_id
                )),
                None => Error::protocol(format!(
                    "{}: unsolicited response (correlation id {cid})",
                    self.name
                )),
            };
            self.fail_oldest_and_close(e);
            return false;
        }
        let f = self.in_flight.pop_front().expect("front matched");
        // Kafka takes up a connection's requests one at a time: the next one may only now
        // have started, behind answers the broker was allowed to hold. Its time runs from
        // now at the earliest.
        if let Some(next) = self.in_flight.front_mut() {
            let from_now = now + next.server_wait + self.opts.request_timeout;
            if from_now > next.overdue_at {
                next.overdue_at = from_now;
            }
        }
        self.counters.responses += 1;
        self.counters.rtt_us_total += now.saturating_duration_since(f.sent_at).as_micros() as u64;
        match f.owner {
            Owner::Caller(t) => {
                self.completions.push_back((t, Ok(body)));
                self.pump(now);
                true
            }
            Owner::ApiVersions(version) => self.on_api_versions(body, version, now),
            Owner::Auth => {
                let step = match self.authenticator.as_mut() {
                    Some(a) => a.on_response(body),
                    None => Err(Error::protocol(
                        "authentication answer without authenticator",
                    )),
                };
                self.on_auth_step(step, now)
            }
        }
    }

    /// Starts authenticating a ready connection again (KIP-368). Requests in flight
    /// complete normally; requests submitted meanwhile wait queued until it is done; the
    /// authenticator's first frame is written at once when the in-flight limit allows,
    /// else as soon as an answer frees a slot, ahead of queued requests. Failure closes
    /// the connection with the authenticator's error. Returns false (and does nothing)
    /// when the connection is not ready or has no authenticator.
    pub fn begin_reauthentication(&mut self, now: Instant) -> bool {
        if self.phase != Phase::Ready || self.authenticator.is_none() {
            return false;
        }
        self.phase = Phase::Authenticating;
        self.reauth = true;
        self.reauth_at = None;
        self.start_auth(now);
        true
    }

    fn start_auth(&mut self, now: Instant) -> bool {
        let reauth = self.reauth;
        let step = match (self.authenticator.as_mut(), self.versions.as_ref()) {
            (Some(a), Some(v)) => a.start(v, reauth),
            _ => Err(Error::protocol(
                "authentication without authenticator or versions",
            )),
        };
        self.on_auth_step(step, now)
    }

    /// What the authenticator said: send a frame, done, or failed (the connection closes
    /// with its error, which set-up reports when it was the set-up's authentication).
    fn on_auth_step(&mut self, step: Result<AuthStep>, now: Instant) -> bool {
        match step {
            Ok(AuthStep::Send(frame)) => {
                self.auth_frame = Some(frame);
                self.pump(now);
                true
            }
            Ok(AuthStep::Done) => {
                if !self.reauth {
                    self.setup_result = self.versions.clone().map(Ok);
                }
                self.reauth = false;
                self.phase = Phase::Ready;
                self.reauth_at = self
                    .authenticator
                    .as_ref()
                    .and_then(|a| a.reauthenticate_after())
                    .map(|d| now + d);
                self.pump(now);
                true
            }
            Err(e) => {
                let e = Error::new(
                    e.code,
                    format!("{}: authentication failed: {}", self.name, e.message),
                );
                if !self.reauth {
                    self.setup_result = Some(Err(e.clone()));
                }
                self.close(e.clone());
                // Whoever asks later learns why: the authentication's own error.
                self.closed_with = Some(e);
                false
            }
        }
    }

    /// ApiVersions: asked with v3; a broker that does not know v3 answers
    /// UNSUPPORTED_VERSION in the v0 layout, with its own range, and is asked again.
    fn on_api_versions(&mut self, body: Bytes, version: i16, now: Instant) -> bool {
        let fail = |me: &mut ConnCore, e: Error| {
            me.setup_result = Some(Err(e.clone()));
            me.close(e);
            false
        };
        let Some(code) = body.get(4..6).map(|b| i16::from_be_bytes([b[0], b[1]])) else {
            let e = Error::protocol(format!("{}: truncated ApiVersions response", self.name));
            return fail(self, e);
        };
        if code == 35 && version > 0 {
            // Real brokers answer in the v0 layout with their own range; some
            // (librdkafka's mock) use another layout, so when the v0 reading fails, step
            // down one version and ask again.
            let theirs = decode_response::<ApiVersionsRequest>(&body, 0)
                .ok()
                .and_then(|(_, resp)| {
                    VersionTable::from_response(&resp)
                        .range(api_key::API_VERSIONS)
                        .map(|(_, max)| max)
                })
                .unwrap_or(version - 1);
            self.send_api_versions(theirs.clamp(0, version - 1), now);
            return true;
        }
        let resp = match decode_response::<ApiVersionsRequest>(&body, version) {
            Ok((_, r)) => r,
            Err(e) => {
                let e = Error::protocol(format!(
                    "{}: bad ApiVersions v{version} response: {e}",
                    self.name
                ));
                return fail(self, e);
            }
        };
        if resp.error_code != 0 {
            let e = Error::kafka(
                resp.error_code,
                format!("{}: ApiVersions v{version}", self.name),
            );
            return fail(self, e);
        }
        let table = VersionTable::from_response(&resp);
        if self.authenticator.is_some() {
            self.versions = Some(table);
            self.phase = Phase::Authenticating;
            self.reauth = false;
            return self.start_auth(now);
        }
        self.versions = Some(table.clone());
        self.setup_result = Some(Ok(table));
        self.phase = Phase::Ready;
        self.pump(now);
        true
    }
}

/// Encodes `req` at `version` with correlation id 0 for the connection to stamp. `buf`
/// (cleared first; a spent frame's, for reuse) takes all but the large byte fields
/// (record batches), which the frame shares rather than copies.
pub fn encode_outgoing<R: Request>(req: &R, version: i16, client_id: &str, buf: Vec<u8>) -> Frame {
    encode_request_frame(req, version, 0, Some(client_id), buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::encode_response;
    use crate::protocol::messages::{ApiVersion, ApiVersionsResponse};
    use std::sync::{Arc, Mutex};

    const SASL_HANDSHAKE: i16 = 17;
    const SASL_AUTHENTICATE: i16 = 36;
    const METADATA: i16 = 3;
    const SASL_FAILED: i16 = 58;
    const SETUP: Duration = Duration::from_secs(10);

    fn opts(max_in_flight: usize) -> ConnectionOptions {
        ConnectionOptions {
            client_id: "t".into(),
            software_name: "kafkac-test".into(),
            software_version: "0".into(),
            connect_timeout: SETUP,
            socket_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_frame: 1 << 20,
            tls: None,
            sasl: None,
            nodelay: true,
            max_in_flight,
            idle_timeout: Duration::ZERO,
        }
    }

    /// The authentication a SASL mechanism would run, scripted: SaslHandshake, then
    /// SaslAuthenticate until `rounds` answers came back. Each request carries its round;
    /// an answer is (error code, round).
    struct Scripted {
        rounds: u16,
        round: u16,
        /// `reauth` of each session started.
        sessions: Arc<Mutex<Vec<bool>>>,
        after: Option<Duration>,
    }

    impl Scripted {
        fn frame(&self) -> AuthStep {
            let key = if self.round == 0 {
                SASL_HANDSHAKE
            } else {
                SASL_AUTHENTICATE
            };
            AuthStep::Send(request(key, &self.round.to_be_bytes()))
        }
    }

    impl Authenticator for Scripted {
        fn start(&mut self, versions: &VersionTable, reauth: bool) -> Result<AuthStep> {
            assert!(versions.range(SASL_HANDSHAKE).is_some());
            self.sessions.lock().unwrap().push(reauth);
            self.round = 0;
            Ok(self.frame())
        }

        fn on_response(&mut self, body: Bytes) -> Result<AuthStep> {
            let code = i16::from_be_bytes([body[4], body[5]]);
            let round = u16::from_be_bytes([body[6], body[7]]);
            assert_eq!(round, self.round, "answer to another round");
            if code != 0 {
                return Err(Error::kafka(code, "scripted SASL"));
            }
            self.round += 1;
            Ok(if self.round == self.rounds {
                AuthStep::Done
            } else {
                self.frame()
            })
        }

        fn reauthenticate_after(&self) -> Option<Duration> {
            self.after
        }
    }

    /// A request frame: header with correlation id 0, then `payload`.
    fn request(key: i16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0; 4];
        f.extend_from_slice(&key.to_be_bytes());
        f.extend_from_slice(&1i16.to_be_bytes());
        f.extend_from_slice(&0i32.to_be_bytes());
        f.extend_from_slice(&1i16.to_be_bytes());
        f.push(b't');
        f.extend_from_slice(payload);
        let size = (f.len() - 4) as i32;
        f[..4].copy_from_slice(&size.to_be_bytes());
        f
    }

    fn caller(token: Token) -> Outgoing {
        Outgoing {
            token,
            frame: request(METADATA, &token.to_be_bytes()).into(),
            response: Some(Duration::ZERO),
        }
    }

    fn key(f: &[u8]) -> i16 {
        i16::from_be_bytes([f[4], f[5]])
    }

    fn cid(f: &[u8]) -> i32 {
        i32::from_be_bytes([f[8], f[9], f[10], f[11]])
    }

    fn payload(f: &[u8]) -> &[u8] {
        &f[15..]
    }

    /// Every frame the connection writes now, whole.
    fn written(c: &mut ConnCore) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(b) = c.transmit() {
            let f = b.to_vec();
            c.on_written(f.len());
            out.push(f);
        }
        out
    }

    fn keys(fs: &[Vec<u8>]) -> Vec<i16> {
        fs.iter().map(|f| key(f)).collect()
    }

    /// The broker's answer to `f`: its correlation id, then `body`.
    fn answer(c: &mut ConnCore, f: &[u8], body: &[u8], now: Instant) -> bool {
        let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        out.extend_from_slice(&cid(f).to_be_bytes());
        out.extend_from_slice(body);
        c.feed(&out, now)
    }

    /// Answers a SASL request: error code, then the round it carried.
    fn answer_auth(c: &mut ConnCore, f: &[u8], code: i16, now: Instant) -> bool {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(payload(f));
        answer(c, f, &body, now)
    }

    /// Answers a caller's request with its token.
    fn answer_caller(c: &mut ConnCore, f: &[u8], now: Instant) -> bool {
        answer(c, f, payload(f), now)
    }

    fn answer_api_versions(c: &mut ConnCore, f: &[u8], now: Instant) {
        assert_eq!(key(f), api_key::API_VERSIONS);
        let version = i16::from_be_bytes([f[6], f[7]]);
        let k = |api_key, max_version| ApiVersion {
            api_key,
            min_version: 0,
            max_version,
            ..Default::default()
        };
        let resp = ApiVersionsResponse {
            api_keys: vec![
                k(METADATA, 12),
                k(SASL_HANDSHAKE, 1),
                k(api_key::API_VERSIONS, 3),
                k(SASL_AUTHENTICATE, 2),
            ],
            ..Default::default()
        };
        assert!(c.feed(
            &encode_response::<ApiVersionsRequest>(&resp, version, cid(f)),
            now
        ));
    }

    fn completions(c: &mut ConnCore) -> Vec<(Token, bool)> {
        let mut out = Vec::new();
        while let Some((t, r)) = c.poll_completion() {
            if let Ok(body) = &r {
                assert_eq!(&body[4..], &t.to_be_bytes(), "another request's answer");
            }
            out.push((t, r.is_ok()));
        }
        out
    }

    fn authenticating(
        rounds: u16,
        mif: usize,
        after: Option<Duration>,
        now: Instant,
    ) -> (ConnCore, Arc<Mutex<Vec<bool>>>) {
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let auth = Scripted {
            rounds,
            round: 0,
            sessions: sessions.clone(),
            after,
        };
        let mut c = ConnCore::with_authenticator("b", opts(mif), now, Box::new(auth));
        c.on_connected(now);
        let f = written(&mut c);
        assert_eq!(f.len(), 1);
        answer_api_versions(&mut c, &f[0], now);
        (c, sessions)
    }

    /// A connection authenticated in `rounds` round trips, ready.
    fn ready(rounds: u16, mif: usize, now: Instant) -> (ConnCore, Arc<Mutex<Vec<bool>>>) {
        let (mut c, s) = authenticating(rounds, mif, None, now);
        for _ in 0..rounds {
            let f = written(&mut c);
            assert_eq!(f.len(), 1);
            assert!(answer_auth(&mut c, &f[0], 0, now));
        }
        assert_eq!(c.phase(), Phase::Ready);
        assert!(matches!(c.poll_setup(), Some(Ok(_))));
        (c, s)
    }

    #[test]
    fn setup_waits_for_authentication() {
        let t0 = Instant::now();
        let (mut c, sessions) = authenticating(2, 5, None, t0);
        assert_eq!(c.phase(), Phase::Authenticating);
        assert!(!c.reauthenticating());
        assert!(
            c.poll_setup().is_none(),
            "set-up reported before authentication"
        );
        assert_eq!(c.next_deadline(), Some(t0 + SETUP));
        c.submit(caller(1), t0);
        let f = written(&mut c);
        assert_eq!(
            keys(&f),
            [SASL_HANDSHAKE],
            "a caller's request went out early"
        );
        assert!(answer_auth(&mut c, &f[0], 0, t0));
        assert!(c.poll_setup().is_none());
        c.submit(caller(2), t0);
        let g = written(&mut c);
        assert_eq!(keys(&g), [SASL_AUTHENTICATE]);
        assert!(cid(&g[0]) > cid(&f[0]));
        assert_eq!(c.queued(), 2);
        assert!(answer_auth(&mut c, &g[0], 0, t0));
        assert_eq!(c.phase(), Phase::Ready);
        let table = c.poll_setup().expect("set-up reported").expect("set-up ok");
        assert!(table.range(SASL_AUTHENTICATE).is_some());
        assert!(c.poll_setup().is_none());
        let h = written(&mut c);
        assert_eq!(keys(&h), [METADATA, METADATA]);
        assert_eq!(payload(&h[0]), 1u64.to_be_bytes());
        assert_eq!(payload(&h[1]), 2u64.to_be_bytes());
        assert!(cid(&h[0]) > cid(&g[0]) && cid(&h[1]) > cid(&h[0]));
        for f in &h {
            assert!(answer_caller(&mut c, f, t0));
        }
        assert_eq!(completions(&mut c), [(1, true), (2, true)]);
        assert_eq!(*sessions.lock().unwrap(), [false]);
        // ApiVersions, two SASL requests, two callers'.
        assert_eq!(c.counters().requests, 5);
        assert_eq!(c.counters().responses, 5);
    }

    #[test]
    fn authentication_failure_closes_and_fails_setup() {
        let t0 = Instant::now();
        let (mut c, _) = authenticating(2, 5, None, t0);
        c.submit(caller(1), t0);
        let f = written(&mut c);
        assert!(answer_auth(&mut c, &f[0], 0, t0));
        let g = written(&mut c);
        assert!(!answer_auth(&mut c, &g[0], SASL_FAILED, t0));
        assert_eq!(c.phase(), Phase::Closed);
        let want = Error::kafka(SASL_FAILED, "").code;
        let closed = c.closed_with().expect("closed").clone();
        assert_eq!(closed.code, want);
        assert!(
            closed.message.contains("authentication failed"),
            "{closed:?}"
        );
        let setup = c.poll_setup().expect("set-up reported");
        assert_eq!(setup.expect_err("set-up failed").code, want);
        // The caller's queued request fails with its connection (retriable).
        let Some((1, Err(e))) = c.poll_completion() else {
            panic!("queued request not failed");
        };
        assert_eq!(e.code, local::TRANSPORT);
        assert!(written(&mut c).is_empty());
        c.submit(caller(2), t0);
        let Some((2, Err(e))) = c.poll_completion() else {
            panic!("request to a closed connection not failed");
        };
        assert_eq!(e.code, want);
        assert!(c.poll_completion().is_none());
    }

    #[test]
    fn setup_times_out_during_authentication() {
        let t0 = Instant::now();
        let (mut c, _) = authenticating(1, 5, None, t0);
        assert_eq!(keys(&written(&mut c)), [SASL_HANDSHAKE]);
        c.on_tick(t0 + SETUP - Duration::from_millis(1));
        assert_eq!(c.phase(), Phase::Authenticating);
        c.on_tick(t0 + SETUP);
        assert_eq!(c.phase(), Phase::Closed);
        let e = c.poll_setup().expect("reported").expect_err("failed");
        assert!(e.message.contains("authentication took longer"), "{e:?}");
    }

    #[test]
    fn reauthentication_completes_requests_in_flight_in_order() {
        let t0 = Instant::now();
        let (mut c, sessions) = ready(2, 5, t0);
        for t in 1..=3 {
            c.submit(caller(t), t0);
        }
        let inflight = written(&mut c);
        assert_eq!(keys(&inflight), [METADATA; 3]);
        let t1 = t0 + Duration::from_secs(1);
        assert!(c.begin_reauthentication(t1));
        assert!(c.reauthenticating());
        assert!(!c.begin_reauthentication(t1), "began twice");
        // At once, behind the requests in flight.
        let hs = written(&mut c);
        assert_eq!(keys(&hs), [SASL_HANDSHAKE]);
        assert!(cid(&hs[0]) > cid(&inflight[2]));
        c.submit(caller(4), t1);
        c.submit(caller(5), t1);
        assert!(
            written(&mut c).is_empty(),
            "written during re-authentication"
        );
        // The broker answers in order: the requests in flight first.
        for f in &inflight {
            assert!(answer_caller(&mut c, f, t1));
        }
        assert_eq!(completions(&mut c), [(1, true), (2, true), (3, true)]);
        assert_eq!(c.phase(), Phase::Authenticating);
        assert!(written(&mut c).is_empty());
        assert!(answer_auth(&mut c, &hs[0], 0, t1));
        let au = written(&mut c);
        assert_eq!(keys(&au), [SASL_AUTHENTICATE]);
        assert!(answer_auth(&mut c, &au[0], 0, t1));
        assert_eq!(c.phase(), Phase::Ready);
        assert!(c.poll_setup().is_none(), "set-up reported again");
        let later = written(&mut c);
        assert_eq!(keys(&later), [METADATA; 2]);
        assert!(cid(&later[0]) > cid(&au[0]));
        for f in &later {
            assert!(answer_caller(&mut c, f, t1));
        }
        assert_eq!(completions(&mut c), [(4, true), (5, true)]);
        assert_eq!(*sessions.lock().unwrap(), [false, true]);
        assert_eq!(c.in_flight(), 0);
        assert_eq!(c.queued(), 0);
    }

    #[test]
    fn reauthentication_waits_for_a_free_slot() {
        let t0 = Instant::now();
        let (mut c, _) = ready(1, 2, t0);
        c.submit(caller(1), t0);
        c.submit(caller(2), t0);
        c.submit(caller(3), t0);
        let inflight = written(&mut c);
        assert_eq!(inflight.len(), 2);
        assert!(c.begin_reauthentication(t0));
        assert!(written(&mut c).is_empty(), "over the in-flight limit");
        assert!(answer_caller(&mut c, &inflight[0], t0));
        // The freed slot goes to the re-authentication, not to the queued request.
        let hs = written(&mut c);
        assert_eq!(keys(&hs), [SASL_HANDSHAKE]);
        // Re-authenticating: its request's time runs once it is the oldest in flight.
        let t1 = t0 + Duration::from_secs(5);
        assert!(answer_caller(&mut c, &inflight[1], t1));
        assert_eq!(c.next_deadline(), Some(t1 + Duration::from_secs(30)));
        assert!(answer_auth(&mut c, &hs[0], 0, t1));
        let last = written(&mut c);
        assert_eq!(keys(&last), [METADATA]);
        assert!(answer_caller(&mut c, &last[0], t1));
        assert_eq!(completions(&mut c), [(1, true), (2, true), (3, true)]);
    }

    #[test]
    fn reauthentication_failure_closes_the_connection() {
        let t0 = Instant::now();
        let (mut c, _) = ready(1, 5, t0);
        c.submit(caller(1), t0);
        let inflight = written(&mut c);
        assert!(c.begin_reauthentication(t0));
        let hs = written(&mut c);
        c.submit(caller(2), t0);
        assert!(answer_caller(&mut c, &inflight[0], t0));
        assert!(!answer_auth(&mut c, &hs[0], SASL_FAILED, t0));
        assert_eq!(c.phase(), Phase::Closed);
        assert_eq!(
            c.closed_with().map(|e| e.code),
            Some(Error::kafka(SASL_FAILED, "").code)
        );
        assert!(c.poll_setup().is_none(), "set-up reported again");
        assert_eq!(completions(&mut c), [(1, true), (2, false)]);
    }

    #[test]
    fn reauthentication_times_out_like_a_request() {
        let t0 = Instant::now();
        let (mut c, _) = ready(1, 5, t0);
        assert!(c.begin_reauthentication(t0));
        written(&mut c);
        assert_eq!(c.next_deadline(), Some(t0 + Duration::from_secs(30)));
        c.on_tick(t0 + Duration::from_secs(30));
        assert_eq!(c.phase(), Phase::Closed);
        assert!(c.poll_setup().is_none());
    }

    #[test]
    fn reauthentication_when_the_authenticator_asks() {
        let t0 = Instant::now();
        let every = Duration::from_secs(100);
        let (mut c, sessions) = authenticating(1, 5, Some(every), t0);
        let f = written(&mut c);
        let t1 = t0 + Duration::from_secs(1);
        assert!(answer_auth(&mut c, &f[0], 0, t1));
        assert_eq!(c.reauthenticate_at(), Some(t1 + every));
        assert_eq!(c.next_deadline(), Some(t1 + every));
        c.on_tick(t1 + every - Duration::from_millis(1));
        assert_eq!(c.phase(), Phase::Ready);
        c.on_tick(t1 + every);
        assert!(c.reauthenticating());
        assert_eq!(keys(&written(&mut c)), [SASL_HANDSHAKE]);
        assert_eq!(*sessions.lock().unwrap(), [false, true]);
    }

    /// A caller's frame in parts: header and token (owned), "abcde" (shared), "xyz"
    /// (owned), "0123" and "!!" (shared, with an empty owned part between them), and an
    /// empty owned part last.
    fn parted(token: Token) -> Outgoing {
        let mut buf = request(METADATA, &token.to_be_bytes());
        let a = buf.len();
        buf.extend_from_slice(b"xyz");
        let b = buf.len();
        let shared = vec![
            (a, Bytes::from_static(b"abcde")),
            (b, Bytes::from_static(b"0123")),
            (b, Bytes::from_static(b"!!")),
        ];
        let size = (buf.len() - 4 + 11) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        Outgoing {
            token,
            frame: Frame::from_parts(buf, shared),
            response: Some(Duration::ZERO),
        }
    }

    /// One vectored write of at most `max` bytes from at most `room` slices.
    fn write_some(c: &mut ConnCore, room: usize, max: usize) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 64];
        let k = c.transmit_vectored(&mut slices[..room]);
        assert_eq!(k == 0, c.transmit().is_none());
        if k > 0 {
            assert_eq!(c.transmit(), Some(&slices[0][..]));
        }
        let mut out = Vec::new();
        for s in &slices[..k] {
            assert!(!s.is_empty(), "an empty slice offered");
            out.extend_from_slice(&s[..s.len().min(max - out.len())]);
        }
        c.on_written(out.len());
        out
    }

    /// Writes `n` bytes (or all there is), in as many writes as it takes.
    fn write_n(c: &mut ConnCore, room: usize, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < n {
            let got = write_some(c, room, n - out.len());
            if got.is_empty() {
                break;
            }
            out.extend_from_slice(&got);
        }
        out
    }

    /// A ready connection with two parted frames submitted.
    fn two_parted() -> ConnCore {
        let t0 = Instant::now();
        let mut c = ConnCore::new("b", opts(5), t0);
        c.on_connected(t0);
        let f = written(&mut c);
        answer_api_versions(&mut c, &f[0], t0);
        c.take_spent();
        c.submit(parted(1), t0);
        c.submit(parted(2), t0);
        c
    }

    #[test]
    fn frame_parts_are_written_in_order_with_correlation_ids() {
        let mut c = two_parted();
        let mut want = Vec::new();
        for (t, cid) in [(1, 2i32), (2, 3)] {
            let mut f = parted(t).frame.to_vec();
            f[8..12].copy_from_slice(&cid.to_be_bytes());
            want.extend_from_slice(&f);
        }
        assert_eq!(want.len(), 2 * 37);
        // One slice per non-empty part: five per frame.
        let mut slices = [IoSlice::new(&[]); 64];
        assert_eq!(c.transmit_vectored(&mut slices), 10);
        let before = c.counters().bytes_out;
        assert_eq!(write_n(&mut c, 64, usize::MAX), want);
        assert!(!c.wants_write());
        assert_eq!(c.counters().bytes_out - before, 74);
        // The owned parts come back for reuse; the shared ones are let go.
        let spent = c.take_spent();
        assert_eq!(spent.len(), 2);
        assert!(spent.iter().all(|b| b.len() == 26));
    }

    #[test]
    fn partial_writes_at_every_split_point() {
        let mut whole = two_parted();
        let want = write_n(&mut whole, 64, usize::MAX);
        let before = whole.counters().bytes_out - want.len() as u64;
        for room in [1, 2, 3, 64] {
            for i in 0..=want.len() {
                for j in i..=want.len() {
                    let mut c = two_parted();
                    let mut got = write_n(&mut c, room, i);
                    assert_eq!(got.len(), i);
                    assert_eq!(c.wants_write(), i < want.len());
                    assert_eq!(
                        c.take_spent().len(),
                        usize::from(i >= 37) + usize::from(i == 74)
                    );
                    got.extend(write_n(&mut c, room, j - i));
                    got.extend(write_n(&mut c, room, usize::MAX));
                    assert_eq!(got, want, "room {room}, split at {i} and {j}");
                    assert!(!c.wants_write());
                    assert!(c.transmit().is_none());
                    assert_eq!(c.counters().bytes_out, before + want.len() as u64);
                }
            }
        }
    }

    #[test]
    fn closing_hands_back_frames_partly_written() {
        let mut c = two_parted();
        assert_eq!(write_n(&mut c, 64, 30).len(), 30);
        c.close(Error::transport("test"));
        assert_eq!(c.take_spent().len(), 2);
        assert!(c.transmit().is_none());
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(c.transmit_vectored(&mut slices), 0);
    }

    #[test]
    fn without_authenticator_nothing_changes() {
        let t0 = Instant::now();
        let mut c = ConnCore::new("b", opts(5), t0);
        c.on_connected(t0);
        let f = written(&mut c);
        answer_api_versions(&mut c, &f[0], t0);
        assert_eq!(c.phase(), Phase::Ready);
        assert!(matches!(c.poll_setup(), Some(Ok(_))));
        assert!(!c.begin_reauthentication(t0));
        assert_eq!(c.phase(), Phase::Ready);
        assert_eq!(c.next_deadline(), None);
    }
}
