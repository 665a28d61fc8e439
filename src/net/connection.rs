//! One TCP connection to one broker.
//!
//! Writers encode their request outside any lock, then take the write lock only to stamp
//! the correlation id, queue a response slot and write the frame, so requests from many
//! threads pipeline on one socket. A reader thread reads size-prefixed frames, checks
//! each correlation id against the oldest request in flight (Kafka answers in order) and
//! completes that request's slot. A broken, corrupt or stuck connection fails every
//! request in flight and is replaced on next use.

use crate::error::{local, Error, Result};
use crate::protocol::frame::{decode_response, encode_request_into};
use crate::protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use crate::protocol::{api_key, Request};
use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a connection needs to know from the client's settings.
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    pub client_id: String,
    pub software_name: String,
    pub software_version: String,
    pub connect_timeout: Duration,
    pub socket_timeout: Duration,
    pub request_timeout: Duration,
    pub max_frame: usize,
    pub nodelay: bool,
}

/// The version range a broker supports for each API key, from its ApiVersions answer.
#[derive(Debug, Clone, Default)]
pub struct VersionTable {
    ranges: Vec<Option<(i16, i16)>>,
}

impl VersionTable {
    pub fn from_response(resp: &ApiVersionsResponse) -> Self {
        let mut ranges = Vec::new();
        for k in &resp.api_keys {
            if k.api_key < 0 || k.api_key > 1024 {
                continue;
            }
            let i = k.api_key as usize;
            if ranges.len() <= i {
                ranges.resize(i + 1, None);
            }
            ranges[i] = Some((k.min_version, k.max_version));
        }
        VersionTable { ranges }
    }

    pub fn range(&self, key: i16) -> Option<(i16, i16)> {
        usize::try_from(key)
            .ok()
            .and_then(|i| self.ranges.get(i).copied().flatten())
    }

    /// The highest version of `R` that both sides implement.
    pub fn pick<R: Request>(&self, broker: &str) -> Result<i16> {
        let name = api_key::name(R::API_KEY);
        let Some((bmin, bmax)) = self.range(R::API_KEY) else {
            return Err(Error::new(
                local::UNSUPPORTED_FEATURE,
                format!("broker {broker} does not support the {name} API"),
            ));
        };
        let v = bmax.min(R::MAX_VERSION);
        if v < bmin.max(R::MIN_VERSION) {
            return Err(Error::new(
                local::UNSUPPORTED_FEATURE,
                format!(
                    "broker {broker} supports {name} v{bmin}-v{bmax}, this client implements v{}-v{}",
                    R::MIN_VERSION,
                    R::MAX_VERSION
                ),
            ));
        }
        Ok(v)
    }
}

/// The result slot of one request in flight.
struct Slot {
    result: Mutex<Option<Result<Bytes>>>,
    cv: Condvar,
    /// When the broker is overdue: sent + the time the broker may hold the request
    /// (a fetch's max wait, a produce's timeout) + `request.timeout.ms`.
    stuck_at: Instant,
}

impl Slot {
    fn complete(&self, r: Result<Bytes>) {
        let mut g = self.result.lock();
        if g.is_none() {
            *g = Some(r);
        }
        self.cv.notify_all();
    }
}

struct Inflight {
    queue: VecDeque<(i32, Arc<Slot>)>,
    /// Correlation ids of the latest requests sent expecting no response (Produce with
    /// acks=0). Kafka brokers send none, but some Kafka-compatible brokers (Tansu) answer
    /// anyway; such an answer is skipped rather than taken for a protocol violation.
    unanswered: VecDeque<i32>,
    broken: Option<Error>,
}

/// How many acks=0 correlation ids are remembered per connection.
const UNANSWERED_KEPT: usize = 4096;

impl Inflight {
    /// Forgets `cid` (and older ids) if it was sent without expecting a response.
    fn was_unanswered(&mut self, cid: i32) -> bool {
        match self.unanswered.iter().position(|&c| c == cid) {
            Some(i) => {
                self.unanswered.drain(..=i);
                true
            }
            None => false,
        }
    }
}

struct Shared {
    inflight: Mutex<Inflight>,
    broken: AtomicBool,
}

impl Shared {
    /// Marks the connection broken and fails every request in flight. A request that
    /// caused the break has been completed with its own error already; the others only
    /// lost their connection, so they get a (retriable) transport error.
    fn fail_all(&self, err: Error) {
        let err = match err.code {
            local::TRANSPORT | local::DESTROY => err,
            _ => Error::transport(format!("connection closed: {}", err.message)),
        };
        let drained: Vec<_> = {
            let mut g = self.inflight.lock();
            if g.broken.is_none() {
                g.broken = Some(err.clone());
            }
            self.broken.store(true, Ordering::Release);
            g.queue.drain(..).collect()
        };
        for (_, slot) in drained {
            slot.complete(Err(err.clone()));
        }
    }

    /// When the oldest request in flight becomes overdue. Responses come in order, so
    /// the connection is stuck only when that one is.
    fn oldest_stuck_at(&self) -> Option<Instant> {
        self.inflight.lock().queue.front().map(|(_, s)| s.stuck_at)
    }
}

struct WriteState {
    stream: TcpStream,
    next_correlation_id: i32,
}

/// A connection to one broker. Shared between threads (`Arc<Connection>`).
pub struct Connection {
    /// "host:port (id N)" for messages.
    pub name: String,
    opts: ConnectionOptions,
    writer: Mutex<WriteState>,
    shutdown_handle: TcpStream,
    shared: Arc<Shared>,
    reader: Mutex<Option<JoinHandle<()>>>,
    versions: VersionTable,
    /// Frame buffers kept for reuse: allocating and freeing a produce-sized frame per
    /// request makes the allocator hand pages back and fault them in again.
    frames: Mutex<Vec<Vec<u8>>>,
}

/// At most this many frame buffers, of at most this capacity, are kept per connection.
const FRAMES_KEPT: usize = 4;
const FRAME_KEPT_MAX: usize = 16 << 20;

impl Connection {
    /// Connects to the first of `addrs` that answers within the connect time-out (each
    /// address gets its own share of what remains before `deadline`), then performs the
    /// ApiVersions handshake. `name` appears in messages; `thread_name` names the reader
    /// thread (Linux shows 15 bytes of it).
    pub fn connect(
        name: &str,
        thread_name: &str,
        addrs: &[SocketAddr],
        opts: &ConnectionOptions,
        deadline: Instant,
    ) -> Result<Arc<Connection>> {
        let mut last_err = None;
        for addr in addrs {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let budget = opts.connect_timeout.min(deadline - now);
            match TcpStream::connect_timeout(addr, budget) {
                Ok(stream) => {
                    let setup_deadline = (now + opts.connect_timeout).min(deadline);
                    return Self::handshake(name, thread_name, stream, opts, setup_deadline);
                }
                Err(e) => last_err = Some(format!("{addr}: {e}")),
            }
        }
        let detail = last_err.unwrap_or_else(|| "no time left to connect".into());
        if Instant::now() >= deadline && addrs.len() > 1 {
            return Err(Error::timed_out(format!(
                "connecting to {name} timed out ({detail})"
            )));
        }
        Err(Error::transport(format!(
            "failed to connect to {name}: {detail}"
        )))
    }

    fn handshake(
        name: &str,
        thread_name: &str,
        stream: TcpStream,
        opts: &ConnectionOptions,
        deadline: Instant,
    ) -> Result<Arc<Connection>> {
        let io = |e: std::io::Error| Error::transport(format!("{name}: socket setup failed: {e}"));
        stream.set_nodelay(opts.nodelay).map_err(io)?;
        stream
            .set_write_timeout(Some(opts.socket_timeout))
            .map_err(io)?;
        let read_half = stream.try_clone().map_err(io)?;
        let shutdown_handle = stream.try_clone().map_err(io)?;
        let shared = Arc::new(Shared {
            inflight: Mutex::new(Inflight {
                queue: VecDeque::new(),
                unanswered: VecDeque::new(),
                broken: None,
            }),
            broken: AtomicBool::new(false),
        });
        let reader = {
            let shared = shared.clone();
            let name = name.to_owned();
            let max = opts.max_frame;
            std::thread::Builder::new()
                .name(thread_name.to_owned())
                .spawn(move || read_loop(read_half, shared, &name, max))
                .map_err(|e| Error::new(local::FAIL, format!("cannot start thread: {e}")))?
        };
        let mut conn = Connection {
            name: name.to_owned(),
            opts: opts.clone(),
            writer: Mutex::new(WriteState {
                stream,
                next_correlation_id: 1,
            }),
            shutdown_handle,
            shared,
            reader: Mutex::new(Some(reader)),
            versions: VersionTable::default(),
            frames: Mutex::new(Vec::new()),
        };
        conn.versions = conn.negotiate(deadline).map_err(|e| {
            if e.code == local::TIMED_OUT {
                Error::transport(format!(
                    "{name}: no answer to the ApiVersions handshake in time"
                ))
            } else {
                e
            }
        })?;
        Ok(Arc::new(conn))
    }

    /// ApiVersions: ask with v3; a broker that does not know v3 answers
    /// UNSUPPORTED_VERSION in the v0 layout, with its own range, and we ask again.
    fn negotiate(&self, deadline: Instant) -> Result<VersionTable> {
        let req = ApiVersionsRequest {
            client_software_name: self.opts.software_name.clone(),
            client_software_version: self.opts.software_version.clone(),
            ..Default::default()
        };
        let mut version = ApiVersionsRequest::MAX_VERSION;
        for _ in 0..=ApiVersionsRequest::MAX_VERSION {
            let body = self.send_raw(self.encode(&req, version), Duration::ZERO, deadline)?;
            // The error code is the first field in every version, so it can be read
            // before the layout is known.
            let code = body
                .get(4..6)
                .map(|b| i16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| {
                    Error::protocol(format!("{}: truncated ApiVersions response", self.name))
                })?;
            if code == 35 && version > 0 {
                // Real brokers answer in the v0 layout with their own range; some
                // (librdkafka's mock) use another layout, so when the v0 reading fails,
                // step down one version and ask again.
                let theirs = decode_response::<ApiVersionsRequest>(&body, 0)
                    .ok()
                    .and_then(|(_, resp)| {
                        VersionTable::from_response(&resp)
                            .range(api_key::API_VERSIONS)
                            .map(|(_, max)| max)
                    })
                    .unwrap_or(version - 1);
                version = theirs.clamp(0, version - 1);
                continue;
            }
            let (_, resp) = decode_response::<ApiVersionsRequest>(&body, version).map_err(|e| {
                Error::protocol(format!(
                    "{}: bad ApiVersions v{version} response: {e}",
                    self.name
                ))
            })?;
            if resp.error_code != 0 {
                return Err(Error::kafka(
                    resp.error_code,
                    format!("{}: ApiVersions v{version}", self.name),
                ));
            }
            return Ok(VersionTable::from_response(&resp));
        }
        Err(Error::protocol(format!(
            "{}: ApiVersions negotiation did not converge",
            self.name
        )))
    }

    pub fn versions(&self) -> &VersionTable {
        &self.versions
    }

    pub fn is_broken(&self) -> bool {
        self.shared.broken.load(Ordering::Acquire)
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
        let frame = self.encode(req, version);
        let body = self.send_raw(frame, req.server_wait(), deadline)?;
        self.decode::<R>(&body, version)
    }

    /// Writes `R` at `version` and returns at once; [`Pending::wait`] collects the answer.
    /// Lets one caller have requests in flight to several brokers at the same time.
    pub fn start<R: Request>(
        self: &Arc<Self>,
        req: &R,
        version: i16,
        deadline: Instant,
    ) -> Result<Pending<R>> {
        let frame = self.encode(req, version);
        let slot = self
            .write_frame(frame, Some(req.server_wait()), deadline)?
            .expect("response slot");
        Ok(Pending {
            conn: self.clone(),
            slot,
            version,
            _r: std::marker::PhantomData,
        })
    }

    /// Sends a request at `version` for which the broker sends no response (Produce
    /// with acks=0).
    pub fn request_no_response_at<R: Request>(
        &self,
        req: &R,
        version: i16,
        deadline: Instant,
    ) -> Result<()> {
        let frame = self.encode(req, version);
        self.write_frame(frame, None, deadline)?;
        Ok(())
    }

    /// Writes a whole frame (size prefix included; its correlation id is replaced) and
    /// waits for the response body until `deadline`. `server_wait` is how long the
    /// broker may hold the request before answering.
    fn send_raw(&self, frame: Vec<u8>, server_wait: Duration, deadline: Instant) -> Result<Bytes> {
        let slot = self
            .write_frame(frame, Some(server_wait), deadline)?
            .expect("response slot");
        self.wait_slot(&slot, deadline)
    }

    /// Waits for a response until `deadline`. When the oldest request on the connection
    /// is overdue by more than `request.timeout.ms`, the broker has stopped answering:
    /// the connection is closed, failing every request in flight with a transport error,
    /// and reopened on next use.
    fn wait_slot(&self, slot: &Slot, deadline: Instant) -> Result<Bytes> {
        let mut g = slot.result.lock();
        loop {
            if let Some(r) = g.take() {
                return r;
            }
            let stuck_at = self.shared.oldest_stuck_at().unwrap_or(slot.stuck_at);
            if !slot
                .cv
                .wait_until(&mut g, deadline.min(stuck_at))
                .timed_out()
                || g.is_some()
            {
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::timed_out(format!(
                    "{}: timed out waiting for the response",
                    self.name
                )));
            }
            if self.shared.oldest_stuck_at().is_some_and(|t| now >= t) {
                drop(g);
                self.break_connection(Error::transport(format!(
                    "{}: the broker stopped answering (a request is overdue by more than \
                     request.timeout.ms, {} ms); the connection is closed",
                    self.name,
                    self.opts.request_timeout.as_millis()
                )));
                g = slot.result.lock();
            }
        }
    }

    fn decode<R: Request>(&self, body: &Bytes, version: i16) -> Result<R::Response> {
        decode_response::<R>(body, version)
            .map(|(_, r)| r)
            .map_err(|e| {
                Error::protocol(format!(
                    "{}: malformed {} v{version} response: {e}",
                    self.name,
                    api_key::name(R::API_KEY)
                ))
            })
    }

    /// Encodes `req` at `version` into a reused buffer (correlation id 0, stamped later).
    fn encode<R: Request>(&self, req: &R, version: i16) -> Vec<u8> {
        let mut buf = self.frames.lock().pop().unwrap_or_default();
        encode_request_into(req, version, 0, Some(&self.opts.client_id), &mut buf);
        buf
    }

    fn recycle(&self, buf: Vec<u8>) {
        if buf.capacity() <= FRAME_KEPT_MAX {
            let mut frames = self.frames.lock();
            if frames.len() < FRAMES_KEPT {
                frames.push(buf);
            }
        }
    }

    /// Writes a frame; `response` is how long the broker may hold the request, or `None`
    /// when no response comes (acks=0). Waits for the write lock until `deadline` only.
    fn write_frame(
        &self,
        mut frame: Vec<u8>,
        response: Option<Duration>,
        deadline: Instant,
    ) -> Result<Option<Arc<Slot>>> {
        let Some(mut w) = self.writer.try_lock_until(deadline) else {
            return Err(Error::timed_out(format!(
                "{}: timed out waiting to send (another request is still being written)",
                self.name
            )));
        };
        let cid = w.next_correlation_id;
        w.next_correlation_id = w.next_correlation_id.wrapping_add(1).max(1);
        frame[8..12].copy_from_slice(&cid.to_be_bytes());
        let slot = if let Some(server_wait) = response {
            let slot = Arc::new(Slot {
                result: Mutex::new(None),
                cv: Condvar::new(),
                stuck_at: Instant::now() + server_wait + self.opts.request_timeout,
            });
            let mut inf = self.shared.inflight.lock();
            if let Some(e) = &inf.broken {
                return Err(e.clone());
            }
            inf.queue.push_back((cid, slot.clone()));
            Some(slot)
        } else {
            let mut inf = self.shared.inflight.lock();
            if let Some(e) = &inf.broken {
                return Err(e.clone());
            }
            if inf.unanswered.len() == UNANSWERED_KEPT {
                inf.unanswered.pop_front();
            }
            inf.unanswered.push_back(cid);
            None
        };
        let written = w.stream.write_all(&frame);
        drop(w);
        self.recycle(frame);
        if let Err(e) = written {
            let err = Error::transport(format!("{}: send failed: {e}", self.name));
            self.break_connection(err.clone());
            return Err(err);
        }
        Ok(slot)
    }

    fn break_connection(&self, err: Error) {
        self.shared.fail_all(err);
        let _ = self.shutdown_handle.shutdown(Shutdown::Both);
    }

    /// Closes the socket, fails what is in flight and joins the reader thread.
    pub fn close(&self) {
        self.break_connection(Error::new(
            local::DESTROY,
            format!("{}: connection closed", self.name),
        ));
        if let Some(h) = self.reader.lock().take() {
            let _ = h.join();
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

/// A request written to a connection whose response has not been collected yet.
pub struct Pending<R: Request> {
    conn: Arc<Connection>,
    slot: Arc<Slot>,
    version: i16,
    _r: std::marker::PhantomData<fn() -> R>,
}

impl<R: Request> Pending<R> {
    /// Waits for the response until `deadline` (or `request.timeout.ms`) and decodes it.
    pub fn wait(self, deadline: Instant) -> Result<R::Response> {
        let body = self.conn.wait_slot(&self.slot, deadline)?;
        self.conn.decode::<R>(&body, self.version)
    }

    pub fn connection(&self) -> &Arc<Connection> {
        &self.conn
    }
}

fn read_loop(mut stream: TcpStream, shared: Arc<Shared>, name: &str, max_frame: usize) {
    let err = loop {
        match read_frame(&mut stream, name, max_frame) {
            Ok(body) => {
                let cid = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                let front = {
                    let mut inf = shared.inflight.lock();
                    let matches_front = inf.queue.front().is_some_and(|(c, _)| *c == cid);
                    if !matches_front && inf.was_unanswered(cid) {
                        continue;
                    }
                    inf.queue.pop_front()
                };
                match front {
                    Some((expected, slot)) if expected == cid => slot.complete(Ok(body)),
                    Some((expected, slot)) => {
                        let e = Error::protocol(format!(
                            "{name}: response correlation id {cid} does not match the oldest request in flight ({expected})"
                        ));
                        slot.complete(Err(e.clone()));
                        break e;
                    }
                    None => {
                        break Error::protocol(format!(
                            "{name}: unsolicited response (correlation id {cid})"
                        ))
                    }
                }
            }
            Err(e) => {
                // A frame that is not a lost connection (too large, malformed) was the
                // answer to the oldest request: that one gets the error itself.
                if e.code != local::TRANSPORT {
                    let front = shared.inflight.lock().queue.pop_front();
                    if let Some((_, slot)) = front {
                        slot.complete(Err(e.clone()));
                    }
                }
                break e;
            }
        }
    };
    shared.fail_all(err);
    let _ = stream.shutdown(Shutdown::Both);
}

fn read_frame(stream: &mut TcpStream, name: &str, max_frame: usize) -> Result<Bytes> {
    let mut size = [0u8; 4];
    read_exact(stream, &mut size, name)?;
    let size = i32::from_be_bytes(size);
    if size < 4 {
        return Err(Error::protocol(format!(
            "{name}: invalid response size {size}"
        )));
    }
    let size = size as usize;
    if size > max_frame {
        return Err(Error::new(
            local::FRAME_TOO_LARGE,
            format!(
                "{name}: response of {size} bytes exceeds receive.message.max.bytes ({max_frame})"
            ),
        ));
    }
    let mut body = vec![0u8; size];
    read_exact(stream, &mut body, name)?;
    Ok(Bytes::from(body))
}

fn read_exact(stream: &mut TcpStream, buf: &mut [u8], name: &str) -> Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 && buf.len() == 4 => {
                return Err(Error::transport(format!(
                    "{name}: connection closed by broker"
                )))
            }
            Ok(0) => {
                return Err(Error::transport(format!(
                    "{name}: connection closed in the middle of a response"
                )))
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::transport(format!("{name}: receive failed: {e}"))),
        }
    }
    Ok(())
}
