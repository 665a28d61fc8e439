//! The I/O threads: each runs an event loop (mio) over the non-blocking sockets of the
//! connections it owns and drives their state machines ([`ConnCore`]). Answers come back
//! through one-shot slots or completion queues.
//!
//! A caller hands a request over in one of two ways. When its connection is ready and no
//! command waits in the loop's queue (which the request could overtake), the caller
//! writes it to the socket itself, holding the connection's lock: waking the I/O thread
//! for every request cost a context switch each (a transactional producer's I/O thread
//! took 0.11-0.15 s per million records that way, 0.04-0.06 s since). Otherwise (the
//! connection is being set up, re-authenticated or is gone; something is queued), the
//! request goes through the command queue and a waker.
//! Either way the loop reads the answer, writes what the socket did not take, and keeps
//! the timers: it never waits longer than [`LONGEST_WAIT`], and a caller whose request's
//! time-out falls before the end of the loop's current wait wakes it.
//!
//! A connection's bytes pass through its [`Transport`] (plain TCP; TLS plugs in there),
//! read straight into the buffer the state machine offers and written straight from the
//! ones it hands out: a frame's header and the record batches it shares go out in one
//! vectored write, without being copied together first.
//!
//! The loop also keeps every connection's timers (set-up time-outs, requests overdue
//! past `request.timeout.ms`), so a broker that stops answering is noticed whether or
//! not anyone still waits for it.

use super::auth::Authenticator;
use super::core::{ConnCore, ConnCounters, ConnectionOptions, Outgoing, Phase, Token};
use super::events::{CompletionQueue, Event, EventQueue, Severity};
use super::tls::{TlsConfig, TlsFailure};
use super::transport::Transport;
use super::versions::VersionTable;
use crate::error::{local, Error, Result};
use crate::protocol::frame::Frame;
use bytes::Bytes;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Waker};
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::io::{ErrorKind, IoSlice};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A value that one side sets once and the other waits for.
pub struct Slot<T> {
    value: Mutex<Option<T>>,
    cv: Condvar,
}

impl<T> Slot<T> {
    pub fn new() -> Arc<Slot<T>> {
        Arc::new(Slot {
            value: Mutex::new(None),
            cv: Condvar::new(),
        })
    }

    pub fn complete(&self, v: T) {
        let mut g = self.value.lock();
        if g.is_none() {
            *g = Some(v);
        }
        self.cv.notify_all();
    }

    /// The value, or `None` if `deadline` passes first.
    pub fn wait_until(&self, deadline: Instant) -> Option<T> {
        let mut g = self.value.lock();
        loop {
            if let Some(v) = g.take() {
                return Some(v);
            }
            if self.cv.wait_until(&mut g, deadline).timed_out() {
                return g.take();
            }
        }
    }
}

/// What a connection's handle and its I/O thread share.
pub struct Link {
    pub id: u64,
    /// Set by the I/O thread when the connection has closed.
    pub broken: AtomicBool,
    pub closed_with: Mutex<Option<Error>>,
    /// The broker's versions once set-up is done, or why it failed.
    pub setup: Arc<Slot<Result<VersionTable>>>,
    /// Frame buffers written and done with, for the next request to reuse (allocating a
    /// frame per request makes the allocator hand pages back and fault them in again).
    /// Only the owned part of a frame comes back; the record batches it shared are let
    /// go once written.
    pub frames: Mutex<Vec<Vec<u8>>>,
    /// The connection's counters, copied from its I/O thread after each event.
    pub counters: Mutex<ConnCounters>,
}

/// At most this many frame buffers, of at most this capacity, are kept per connection.
const FRAMES_KEPT: usize = 4;
const FRAME_KEPT_MAX: usize = 16 << 20;

impl Link {
    fn recycle(&self, spent: Vec<Vec<u8>>) {
        if spent.is_empty() {
            return;
        }
        let mut frames = self.frames.lock();
        for mut f in spent {
            if frames.len() < FRAMES_KEPT && f.capacity() <= FRAME_KEPT_MAX {
                f.clear();
                frames.push(f);
            }
        }
    }

    pub fn closed_error(&self) -> Error {
        self.closed_with
            .lock()
            .clone()
            .unwrap_or_else(|| Error::transport("connection closed"))
    }
}

pub type ResponseSlot = Arc<Slot<Result<Bytes>>>;

/// Where a request's answer goes: a one-shot that one caller waits on, or a completion
/// queue shared by many requests, with the request's tag.
#[derive(Clone)]
pub enum Reply {
    Slot(ResponseSlot),
    Queue(Arc<CompletionQueue>, u64),
}

impl Reply {
    pub fn complete(&self, r: Result<Bytes>) {
        match self {
            Reply::Slot(s) => s.complete(r),
            Reply::Queue(q, tag) => q.push(*tag, r),
        }
    }
}

enum Command {
    Open {
        link: Arc<Link>,
        name: String,
        host: String,
        addrs: Vec<SocketAddr>,
        opts: ConnectionOptions,
        auth: Option<Box<dyn Authenticator>>,
    },
    Send {
        id: u64,
        frame: Frame,
        /// How long the broker may hold it; `None`: it sends no answer.
        server_wait: Option<Duration>,
        reply: Option<Reply>,
    },
    Close {
        id: u64,
        err: Error,
    },
    Throttle {
        id: u64,
        delay: Duration,
    },
    Reauthenticate {
        id: u64,
    },
}

struct Loop {
    commands: Mutex<Vec<Command>>,
    /// Commands queued and not yet run by the loop. A request goes straight to its
    /// socket only while this is 0, so that it never overtakes one its caller queued
    /// before (the sequence numbers of an idempotent producer's batches depend on it).
    queued: AtomicUsize,
    waker: Waker,
    /// The loop's epoll registry, for a caller that writes a request itself and leaves
    /// bytes the socket did not take (the loop then writes them when it is writable).
    registry: Registry,
    /// The loop's connections by link id, for callers that write requests themselves.
    conns: Mutex<HashMap<u64, Arc<Mutex<Conn>>>>,
    /// When the loop's current wait ends, in nanoseconds since `epoch`; 0 while it is
    /// not waiting (it looks at every connection's timers before it waits again).
    sleep_until: AtomicU64,
    epoch: Instant,
    /// A caller that wrote a request itself left its connection closed: the loop must
    /// look at every connection (to remove the closed ones).
    attention: AtomicBool,
    stop: AtomicBool,
    events: Arc<EventQueue>,
    /// Requests written by their callers (counted in tests only).
    #[cfg(test)]
    written_by_callers: AtomicU64,
}

/// Longest an I/O thread waits with nothing due: a request written by its caller whose
/// time-out falls within this wait does not need to wake the loop.
const LONGEST_WAIT: Duration = Duration::from_secs(1);

impl Loop {
    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// The client's I/O threads. Dropping it closes every connection (their requests get a
/// DESTROY error) and joins the threads.
pub struct IoThreads {
    loops: Vec<Arc<Loop>>,
    events: Arc<EventQueue>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next_id: AtomicU64,
    stopped: AtomicBool,
}

impl IoThreads {
    /// Starts `n` I/O threads named `kc-io-<i>`.
    pub fn start(n: usize) -> Result<Arc<IoThreads>> {
        let mut loops = Vec::new();
        let mut threads = Vec::new();
        let events = Arc::new(EventQueue::new());
        let fail = |what: &str, e: std::io::Error| {
            Error::new(
                local::FAIL,
                format!("cannot start the I/O thread: {what}: {e}"),
            )
        };
        for i in 0..n.max(1) {
            let poll = Poll::new().map_err(|e| fail("epoll", e))?;
            let waker = Waker::new(poll.registry(), WAKER).map_err(|e| fail("eventfd", e))?;
            let registry = poll.registry().try_clone().map_err(|e| fail("epoll", e))?;
            let l = Arc::new(Loop {
                commands: Mutex::new(Vec::new()),
                queued: AtomicUsize::new(0),
                waker,
                registry,
                conns: Mutex::new(HashMap::new()),
                sleep_until: AtomicU64::new(0),
                epoch: Instant::now(),
                attention: AtomicBool::new(false),
                stop: AtomicBool::new(false),
                events: events.clone(),
                #[cfg(test)]
                written_by_callers: AtomicU64::new(0),
            });
            let l2 = l.clone();
            let h = std::thread::Builder::new()
                .name(format!("kc-io-{i}"))
                .spawn(move || run(poll, l2))
                .map_err(|e| fail("thread", e))?;
            loops.push(l);
            threads.push(h);
        }
        Ok(Arc::new(IoThreads {
            loops,
            events,
            threads: Mutex::new(threads),
            next_id: AtomicU64::new(1),
            stopped: AtomicBool::new(false),
        }))
    }

    /// Where the I/O threads report what the application should know.
    pub fn events(&self) -> &Arc<EventQueue> {
        &self.events
    }

    fn loop_of(&self, id: u64) -> &Loop {
        &self.loops[(id % self.loops.len() as u64) as usize]
    }

    fn send(&self, id: u64, c: Command) {
        if self.stopped.load(Ordering::Acquire) {
            // The loops are gone: answer at once rather than leave a caller waiting.
            refuse(c);
            return;
        }
        let l = self.loop_of(id);
        let first = {
            let mut q = l.commands.lock();
            l.queued.fetch_add(1, Ordering::SeqCst);
            q.push(c);
            q.len() == 1
        };
        // One wake-up per batch of commands: the loop drains them all.
        if first {
            let _ = l.waker.wake();
        }
        // A stop that came between the check above and the push may have missed this
        // command (the loop drains once more as it stops, but perhaps before it): answer
        // what is left. Answering twice is harmless: the first answer wins.
        if self.stopped.load(Ordering::Acquire) {
            for c in std::mem::take(&mut *l.commands.lock()) {
                l.queued.fetch_sub(1, Ordering::SeqCst);
                refuse(c);
            }
        }
    }

    /// Opens a connection to the first of `addrs` that accepts, then runs the ApiVersions
    /// handshake, all on an I/O thread. Returns at once; `link.setup` tells the outcome.
    /// `host` is the broker's host name or address, which its TLS certificate must name.
    pub fn open(
        &self,
        name: &str,
        host: &str,
        addrs: Vec<SocketAddr>,
        opts: &ConnectionOptions,
    ) -> Arc<Link> {
        self.open_with(name, host, addrs, opts, None)
    }

    /// Like [`open`](Self::open), with an authentication step after ApiVersions:
    /// `link.setup` tells the outcome once `auth` is done (or failed).
    pub fn open_authenticated(
        &self,
        name: &str,
        host: &str,
        addrs: Vec<SocketAddr>,
        opts: &ConnectionOptions,
        auth: Box<dyn Authenticator>,
    ) -> Arc<Link> {
        self.open_with(name, host, addrs, opts, Some(auth))
    }

    fn open_with(
        &self,
        name: &str,
        host: &str,
        addrs: Vec<SocketAddr>,
        opts: &ConnectionOptions,
        auth: Option<Box<dyn Authenticator>>,
    ) -> Arc<Link> {
        // Consecutive ids spread connections over the loops in turn (see `loop_of`).
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let link = Arc::new(Link {
            id,
            broken: AtomicBool::new(false),
            closed_with: Mutex::new(None),
            setup: Slot::new(),
            frames: Mutex::new(Vec::new()),
            counters: Mutex::new(ConnCounters::default()),
        });
        self.send(
            id,
            Command::Open {
                link: link.clone(),
                name: name.to_owned(),
                host: host.to_owned(),
                addrs,
                opts: opts.clone(),
                auth,
            },
        );
        link
    }

    /// Re-authenticates connection `id` (KIP-368): its requests in flight complete,
    /// new ones wait until it is done. Nothing happens without an authenticator.
    pub fn reauthenticate(&self, id: u64) {
        self.send(id, Command::Reauthenticate { id });
    }

    /// Queues a frame on connection `id`. With `server_wait`, the broker's answer
    /// completes `reply`; without (no answer comes: Produce with acks=0), `reply`
    /// completes with an empty body once the frame is written to the socket. A failure
    /// first (the connection closed) completes it with the error.
    pub fn submit(
        &self,
        id: u64,
        frame: impl Into<Frame>,
        server_wait: Option<Duration>,
        reply: Option<Reply>,
    ) {
        let frame = frame.into();
        let (frame, reply) = match self.write_now(id, frame, server_wait, reply) {
            Ok(()) => return,
            Err(back) => back,
        };
        self.send(
            id,
            Command::Send {
                id,
                frame,
                server_wait,
                reply,
            },
        );
    }

    /// Writes a request to its connection's socket on the calling thread, when that
    /// connection is ready and nothing queued for the loop could be overtaken: this saves
    /// waking the I/O thread for every request (its answer still comes through the
    /// loop). What the socket does not take, the loop writes once it is writable. Gives
    /// the request back when it must go through the loop.
    #[allow(clippy::result_large_err)]
    fn write_now(
        &self,
        id: u64,
        frame: Frame,
        server_wait: Option<Duration>,
        reply: Option<Reply>,
    ) -> std::result::Result<(), (Frame, Option<Reply>)> {
        if self.stopped.load(Ordering::Acquire) {
            return Err((frame, reply));
        }
        let l = self.loop_of(id);
        if l.queued.load(Ordering::SeqCst) != 0 {
            return Err((frame, reply));
        }
        let Some(conn) = l.conns.lock().get(&id).cloned() else {
            return Err((frame, reply));
        };
        let mut c = conn.lock();
        // Checked again with the connection held: the loop takes a command's connection
        // before it counts the command run.
        if c.core.phase() != Phase::Ready
            || !c.tcp_up
            || c.transport.as_ref().is_none_or(|t| !t.handshake_done())
            || l.queued.load(Ordering::SeqCst) != 0
        {
            return Err((frame, reply));
        }
        let now = Instant::now();
        c.take_request(frame, server_wait, reply, now);
        c.write(now);
        c.deliver();
        #[cfg(test)]
        l.written_by_callers.fetch_add(1, Ordering::Relaxed);
        let key = c.key;
        c.update_interest(&l.registry, key);
        let closed = c.core.phase() == Phase::Closed;
        let due = c.core.next_deadline();
        drop(c);
        if closed {
            l.attention.store(true, Ordering::SeqCst);
        }
        // The loop must look at this connection's timers unless its wait ends first.
        let until = l.sleep_until.load(Ordering::SeqCst);
        if closed || until == 0 || due.is_some_and(|d| l.nanos(d) < until) {
            let _ = l.waker.wake();
        }
        Ok(())
    }

    /// The broker asked connection `id` to send nothing for `delay` (KIP-219).
    pub fn throttle(&self, id: u64, delay: Duration) {
        self.send(id, Command::Throttle { id, delay });
    }

    /// Closes connection `id`; what it had in flight gets `err`.
    pub fn close(&self, id: u64, err: Error) {
        self.send(id, Command::Close { id, err });
    }

    /// How many requests their callers wrote to the socket themselves.
    #[cfg(test)]
    fn written_by_callers(&self) -> u64 {
        self.loops
            .iter()
            .map(|l| l.written_by_callers.load(Ordering::Relaxed))
            .sum()
    }

    /// Closes every connection and joins the threads.
    pub fn shutdown(&self) {
        self.stopped.store(true, Ordering::Release);
        for l in &self.loops {
            l.stop.store(true, Ordering::Release);
            let _ = l.waker.wake();
        }
        let me = std::thread::current().id();
        for h in self.threads.lock().drain(..) {
            // A drop on the I/O thread itself (the last handle released in a completion)
            // cannot join it; the thread ends on its own after this.
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
    }
}

impl Drop for IoThreads {
    fn drop(&mut self) {
        self.shutdown();
    }
}

const WAKER: mio::Token = mio::Token(usize::MAX);

/// Reads smaller than this go through a stack buffer (see `Conn::read`).
const READ_SCRATCH: usize = 16 * 1024;

/// At most this many slices per vectored write (Linux allows 1024): a produce request
/// with several batches per partition needs a few more than two per partition.
const WRITE_SLICES: usize = 64;

/// A connection as its I/O thread holds it (and, briefly, a caller writing a request).
struct Conn {
    /// Its token in the loop's poll.
    key: usize,
    core: ConnCore,
    link: Arc<Link>,
    transport: Option<Transport>,
    /// For a TLS connection: its configuration and the host its certificate must name.
    tls: Option<(Arc<TlsConfig>, String)>,
    /// The TCP connection is up (the transport's own handshake may still run).
    tcp_up: bool,
    addrs: Vec<SocketAddr>,
    next_addr: usize,
    connect_errors: Vec<String>,
    pending: HashMap<Token, Reply>,
    next_token: Token,
    /// Whether the socket is registered for writability too. Only while connecting or
    /// while bytes wait for room: a socket always registered for it would wake the loop
    /// each time the peer's acknowledgements free send-buffer space.
    writable_interest: bool,
}

impl Conn {
    /// Hands a request to the state machine, its answer to go to `reply`.
    fn take_request(
        &mut self,
        frame: Frame,
        server_wait: Option<Duration>,
        reply: Option<Reply>,
        now: Instant,
    ) {
        let token = self.next_token;
        self.next_token += 1;
        if let Some(r) = reply {
            self.pending.insert(token, r);
        }
        self.core.submit(
            Outgoing {
                token,
                frame,
                response: server_wait,
            },
            now,
        );
    }

    /// Registers for writability exactly while it is needed.
    fn update_interest(&mut self, registry: &Registry, key: usize) {
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        let want = !self.tcp_up || t.wants_write() || self.core.wants_write();
        if want == self.writable_interest {
            return;
        }
        let interest = if want {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if registry
            .reregister(t.tcp_mut(), mio::Token(key), interest)
            .is_ok()
        {
            self.writable_interest = want;
        }
    }

    /// Starts connecting to the next address; false when none is left.
    fn connect_next(&mut self, registry: &Registry, key: usize, now: Instant) -> bool {
        while self.next_addr < self.addrs.len() {
            let addr = self.addrs[self.next_addr];
            self.next_addr += 1;
            match TcpStream::connect(addr) {
                Ok(mut s) => {
                    if let Err(e) = registry.register(
                        &mut s,
                        mio::Token(key),
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        self.connect_errors.push(format!("{addr}: {e}"));
                        continue;
                    }
                    let transport = match &self.tls {
                        None => Transport::Plain(s),
                        Some((config, host)) => match config.session(host) {
                            Ok(session) => Transport::Tls(s, Box::new(session)),
                            Err(e) => {
                                let _ = registry.deregister(&mut s);
                                self.connect_errors.push(format!("{addr}: {e}"));
                                continue;
                            }
                        },
                    };
                    self.core.restart_setup(now);
                    self.transport = Some(transport);
                    self.tcp_up = false;
                    self.writable_interest = true;
                    return true;
                }
                Err(e) => self.connect_errors.push(format!("{addr}: {e}")),
            }
        }
        false
    }

    fn drop_stream(&mut self, registry: &Registry) {
        if let Some(mut t) = self.transport.take() {
            let _ = registry.deregister(t.tcp_mut());
            t.shutdown();
        }
        self.tcp_up = false;
    }

    /// After an event on a connecting socket: connected, still connecting, or failed
    /// (then the next address is tried).
    fn check_connect(&mut self, registry: &Registry, key: usize, now: Instant) {
        let Some(s) = self.transport.as_ref().map(Transport::tcp) else {
            return;
        };
        let err = match s.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match s.peer_addr() {
                Ok(_) => None,
                Err(e) if e.kind() == ErrorKind::NotConnected => return,
                Err(e) => Some(e),
            },
        };
        match err {
            None => {
                let _ = s.set_nodelay(self.core.nodelay());
                self.tcp_up = true;
                self.maybe_connected(now);
            }
            Some(e) => {
                let addr = self.addrs[self.next_addr - 1];
                self.connect_errors.push(format!("{addr}: {e}"));
                self.drop_stream(registry);
                if !self.connect_next(registry, key, now) {
                    self.fail_connect();
                }
            }
        }
    }

    /// The state machine learns the connection is up once the TCP connection is and the
    /// transport's own handshake (if any) is done.
    fn maybe_connected(&mut self, now: Instant) {
        if self.core.phase() == Phase::Connecting
            && self.tcp_up
            && self
                .transport
                .as_ref()
                .is_some_and(Transport::handshake_done)
        {
            self.core.on_connected(now);
        }
    }

    /// The socket or the TLS session failed: a TLS failure is an SSL error with its own
    /// message (what to fix), anything else a transport error.
    fn io_failed(&mut self, what: &str, e: &std::io::Error) {
        let name = self.core.name().to_owned();
        let err = match TlsFailure::of(e) {
            Some(t) => Error::new(local::SSL, format!("{name}: {t}")),
            None => Error::transport(format!("{name}: {what}: {e}")),
        };
        self.core.on_closed(err);
    }

    fn fail_connect(&mut self) {
        let detail = if self.connect_errors.is_empty() {
            "no address to connect to".to_owned()
        } else {
            self.connect_errors.join("; ")
        };
        let name = self.core.name().to_owned();
        self.core.on_closed(Error::transport(format!(
            "failed to connect to {name}: {detail}"
        )));
    }

    /// Reads what the socket has. `to_the_end`: keep reading until the socket would block
    /// or closes (the peer's close was signalled with the data); otherwise a short read
    /// ends the round.
    fn read(&mut self, now: Instant, to_the_end: bool) {
        // Small reads (a size prefix, a short answer) go through a scratch buffer, so one
        // system call brings a whole answer, often several; the body of a large answer is
        // read straight into its own buffer, with no copy.
        let mut scratch = [0u8; READ_SCRATCH];
        loop {
            if self.core.phase() == Phase::Closed || !self.tcp_up {
                return;
            }
            let Some(t) = self.transport.as_mut() else {
                return;
            };
            let drains = t.short_read_drains();
            let mid = self.core.mid_response();
            let direct = self.core.read_space().len() >= READ_SCRATCH;
            let asked = if direct {
                self.core.read_space().len()
            } else {
                READ_SCRATCH
            };
            let got = if direct {
                t.read(self.core.read_space())
            } else {
                t.read(&mut scratch)
            };
            match got {
                Ok(0) => {
                    let name = self.core.name().to_owned();
                    let what = if mid {
                        "connection closed in the middle of a response"
                    } else {
                        "connection closed by broker"
                    };
                    self.core
                        .on_closed(Error::transport(format!("{name}: {what}")));
                    return;
                }
                Ok(n) => {
                    let open = if direct {
                        self.core.on_read(n, now)
                    } else {
                        self.core.feed(&scratch[..n], now)
                    };
                    // Answers go to their callers as soon as they are whole.
                    self.deliver();
                    // A short read took all the socket had: anything that arrives later
                    // raises a new edge, so there is no need to read until it would block.
                    // (True of plain TCP; a TLS transport must say so for its own buffer.)
                    if !open || (n < asked && !to_the_end && drains) {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.io_failed("receive failed", &e);
                    return;
                }
            }
        }
    }

    /// Writes the transport's own bytes, then (once the transport's handshake is done)
    /// what the state machine has to send, until the socket is full or nothing is left.
    fn write(&mut self, now: Instant) {
        if !self.tcp_up || self.core.phase() == Phase::Closed {
            return;
        }
        loop {
            let Some(t) = self.transport.as_mut() else {
                return;
            };
            if t.wants_write() {
                match t.flush() {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.io_failed("send failed", &e);
                        return;
                    }
                }
            }
            if !t.handshake_done() {
                return;
            }
            if self.core.phase() == Phase::Connecting {
                self.maybe_connected(now);
                continue;
            }
            if !matches!(
                self.core.phase(),
                Phase::Handshake | Phase::Authenticating | Phase::Ready
            ) {
                return;
            }
            let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
            let k = self.core.transmit_vectored(&mut slices);
            let written = match k {
                0 => return,
                1 => t.write(&slices[0]),
                _ => t.write_vectored(&slices[..k]),
            };
            match written {
                Ok(0) => return,
                Ok(n) => self.core.on_written(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.io_failed("send failed", &e);
                    return;
                }
            }
        }
    }

    /// Hands what the state machine produced to the waiting callers.
    fn deliver(&mut self) {
        if let Some(r) = self.core.poll_setup() {
            self.link.setup.complete(r);
        }
        while let Some((t, r)) = self.core.poll_completion() {
            if let Some(slot) = self.pending.remove(&t) {
                slot.complete(r);
            }
        }
        self.link.recycle(self.core.take_spent());
        *self.link.counters.lock() = self.core.counters();
    }
}

fn run(mut poll: Poll, l: Arc<Loop>) {
    let mut events = Events::with_capacity(256);
    let mut conns: HashMap<usize, Arc<Mutex<Conn>>> = HashMap::new();
    let mut next_key: usize = 0;
    let mut keys: HashMap<u64, usize> = HashMap::new();
    let registry = &l.registry;
    loop {
        let now = Instant::now();
        let timeout = conns
            .values()
            .filter_map(|c| c.lock().core.next_deadline())
            .min()
            .map_or(LONGEST_WAIT, |d| d.saturating_duration_since(now))
            .min(LONGEST_WAIT);
        // From here until the wait ends, a caller that writes a request itself compares
        // its time-out with this (see `IoThreads::write_now`); before, it wakes the loop.
        l.sleep_until
            .store(l.nanos(now + timeout), Ordering::SeqCst);
        let polled = poll.poll(&mut events, Some(timeout));
        l.sleep_until.store(0, Ordering::SeqCst);
        if let Err(e) = polled {
            if e.kind() != ErrorKind::Interrupted {
                // The poller itself failed: nothing more can be done on this thread.
                l.conns.lock().clear();
                for (_, c) in conns.drain() {
                    let mut c = c.lock();
                    c.core
                        .close(Error::new(local::FAIL, format!("I/O loop failed: {e}")));
                    c.deliver();
                    finish(&mut c);
                }
                return;
            }
        }
        let now = Instant::now();
        let mut touched: Vec<usize> = Vec::new();
        for ev in events.iter() {
            if ev.token() == WAKER {
                continue;
            }
            let key = ev.token().0;
            let Some(c) = conns.get(&key) else {
                continue;
            };
            let mut c = c.lock();
            if c.core.phase() == Phase::Connecting && !c.tcp_up {
                c.check_connect(registry, key, now);
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                c.read(now, ev.is_read_closed() || ev.is_error());
            }
            c.write(now);
            touched.push(key);
        }
        if l.attention.swap(false, Ordering::SeqCst) {
            touched.extend(conns.keys().copied());
        }
        // The stop flag is read before the commands are taken: a command queued before
        // the stop (an acks=0 produce just before the client is freed) is among them, and
        // goes out below before its connection closes.
        let stopping = l.stop.load(Ordering::Acquire);
        // Commands: new connections, requests, closes. Each is counted run once its
        // connection has it, so that a caller writing its next request itself cannot
        // overtake it.
        let cmds = std::mem::take(&mut *l.commands.lock());
        for cmd in cmds {
            match cmd {
                Command::Open {
                    link,
                    name,
                    host,
                    addrs,
                    opts,
                    auth,
                } => {
                    let tls = opts.tls.clone().map(|t| (t, host));
                    let key = next_key;
                    next_key = next_key.wrapping_add(1) % (usize::MAX - 1);
                    let mut c = Conn {
                        key,
                        core: match auth {
                            Some(a) => ConnCore::with_authenticator(&name, opts, now, a),
                            None => ConnCore::new(&name, opts, now),
                        },
                        link: link.clone(),
                        transport: None,
                        tls,
                        tcp_up: false,
                        addrs,
                        next_addr: 0,
                        connect_errors: Vec::new(),
                        pending: HashMap::new(),
                        next_token: 1,
                        writable_interest: true,
                    };
                    if !c.connect_next(registry, key, now) {
                        c.fail_connect();
                    }
                    let c = Arc::new(Mutex::new(c));
                    keys.insert(link.id, key);
                    l.conns.lock().insert(link.id, c.clone());
                    conns.insert(key, c);
                    touched.push(key);
                }
                Command::Send {
                    id,
                    frame,
                    server_wait,
                    reply,
                } => {
                    let Some(conn) = keys.get(&id).and_then(|k| conns.get(k)) else {
                        l.queued.fetch_sub(1, Ordering::SeqCst);
                        if let Some(slot) = reply {
                            slot.complete(Err(Error::transport("connection closed")));
                        }
                        continue;
                    };
                    let mut c = conn.lock();
                    c.take_request(frame, server_wait, reply, now);
                    l.queued.fetch_sub(1, Ordering::SeqCst);
                    c.write(now);
                    touched.push(keys[&id]);
                    continue;
                }
                Command::Throttle { id, delay } => {
                    if let Some(k) = keys.get(&id) {
                        if let Some(c) = conns.get(k) {
                            let mut c = c.lock();
                            c.core.throttle(now + delay);
                            l.events.push(Event {
                                severity: Severity::Info,
                                code: 0,
                                message: format!(
                                    "{}: throttled by the broker for {} ms",
                                    c.core.name(),
                                    delay.as_millis()
                                ),
                            });
                            touched.push(*k);
                        }
                    }
                }
                Command::Reauthenticate { id } => {
                    if let Some(k) = keys.get(&id) {
                        if let Some(c) = conns.get(k) {
                            c.lock().core.begin_reauthentication(now);
                            touched.push(*k);
                        }
                    }
                }
                Command::Close { id, err } => {
                    if let Some(k) = keys.get(&id) {
                        if let Some(c) = conns.get(k) {
                            c.lock().core.close(err);
                            touched.push(*k);
                        }
                    }
                }
            }
            l.queued.fetch_sub(1, Ordering::SeqCst);
        }
        // Timers, then what came out of every connection touched or due.
        let due: Vec<usize> = conns
            .iter()
            .filter(|(_, c)| c.lock().core.next_deadline().is_some_and(|d| d <= now))
            .map(|(k, _)| *k)
            .collect();
        touched.extend(due);
        if stopping {
            touched.extend(conns.keys().copied());
        }
        touched.sort_unstable();
        touched.dedup();
        for key in touched {
            let Some(conn) = conns.get(&key) else {
                continue;
            };
            let mut c = conn.lock();
            if !stopping && c.core.connect_overdue(now) && c.next_addr < c.addrs.len() {
                // This address did not answer in time: try the next one.
                let addr = c.addrs[c.next_addr - 1];
                c.connect_errors
                    .push(format!("{addr}: connection timed out"));
                c.drop_stream(registry);
                if !c.connect_next(registry, key, now) {
                    c.fail_connect();
                }
            }
            if stopping {
                // What is queued goes out if the socket takes it now (one non-blocking
                // attempt: an acks=0 produce queued just before the client is freed is
                // not dropped); then the connection closes.
                c.write(now);
                let name = c.core.name().to_owned();
                c.core.close(Error::new(
                    local::DESTROY,
                    format!("{name}: the client is being closed"),
                ));
            }
            c.core.on_tick(now);
            c.write(now);
            c.deliver();
            c.update_interest(registry, key);
            if c.core.phase() == Phase::Closed {
                let id = c.link.id;
                l.conns.lock().remove(&id);
                keys.remove(&id);
                c.drop_stream(registry);
                report_close(&c, &l.events);
                finish(&mut c);
                drop(c);
                conns.remove(&key);
            }
        }
        if stopping {
            // Commands that raced with the stop still get an answer.
            for cmd in std::mem::take(&mut *l.commands.lock()) {
                l.queued.fetch_sub(1, Ordering::SeqCst);
                refuse(cmd);
            }
            return;
        }
    }
}

/// Answers a command that no loop will run: the client is closed.
fn refuse(c: Command) {
    let e = || Error::new(local::DESTROY, "the client is closed");
    match c {
        Command::Open { link, .. } => {
            *link.closed_with.lock() = Some(e());
            link.broken.store(true, Ordering::Release);
            link.setup.complete(Err(e()));
        }
        Command::Send {
            reply: Some(reply), ..
        } => reply.complete(Err(e())),
        _ => {}
    }
}

/// A connection lost to a fault is an event for the application; one closed on purpose
/// (idle, by the application, the client closing) is not.
fn report_close(c: &Conn, events: &EventQueue) {
    if c.core.closed_quietly() {
        return;
    }
    if let Some(e) = c.core.closed_with() {
        if e.code != local::DESTROY {
            events.push(Event {
                severity: Severity::Warning,
                code: e.code,
                message: e.message.clone(),
            });
        }
    }
}

/// Marks a removed connection's link closed, with the reason.
fn finish(c: &mut Conn) {
    let err = c
        .core
        .closed_with()
        .cloned()
        .unwrap_or_else(|| Error::transport("connection closed"));
    *c.link.closed_with.lock() = Some(err.clone());
    c.link.broken.store(true, Ordering::Release);
    c.link.setup.complete(Err(err.clone()));
    for (_, slot) in c.pending.drain() {
        slot.complete(Err(err.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::auth::AuthStep;
    use crate::protocol::api_key;
    use crate::protocol::frame::encode_response;
    use crate::protocol::messages::{ApiVersion, ApiVersionsRequest, ApiVersionsResponse};
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::AtomicUsize;

    const SASL_HANDSHAKE: i16 = 17;
    const METADATA: i16 = 3;

    /// One round trip: SaslHandshake, then done.
    struct OneRound {
        starts: Arc<AtomicUsize>,
    }

    impl Authenticator for OneRound {
        fn start(&mut self, _: &VersionTable, _: bool) -> Result<AuthStep> {
            self.starts.fetch_add(1, Ordering::SeqCst);
            Ok(AuthStep::Send(frame(SASL_HANDSHAKE, b"")))
        }

        fn on_response(&mut self, body: Bytes) -> Result<AuthStep> {
            assert_eq!(&body[4..], [0, 0]);
            Ok(AuthStep::Done)
        }
    }

    fn frame(key: i16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0; 4];
        f.extend_from_slice(&key.to_be_bytes());
        f.extend_from_slice(&1i16.to_be_bytes());
        f.extend_from_slice(&0i32.to_be_bytes());
        f.extend_from_slice(&(-1i16).to_be_bytes());
        f.extend_from_slice(payload);
        let size = (f.len() - 4) as i32;
        f[..4].copy_from_slice(&size.to_be_bytes());
        f
    }

    /// A broker that answers ApiVersions, SaslHandshake (error 0) and echoes Metadata
    /// payloads (but holds those that start with `hold`); returns the keys it received,
    /// in order.
    fn broker(l: TcpListener) -> Vec<i16> {
        broker_recording(l).into_iter().map(|(k, _)| k).collect()
    }

    /// [`broker`], returning each request's key and payload, in the order received.
    fn broker_recording(l: TcpListener) -> Vec<(i16, Vec<u8>)> {
        let (mut s, _) = l.accept().expect("accept");
        let mut keys = Vec::new();
        loop {
            let mut size = [0u8; 4];
            if s.read_exact(&mut size).is_err() {
                return keys;
            }
            let mut f = vec![0u8; i32::from_be_bytes(size) as usize];
            s.read_exact(&mut f).expect("frame");
            let key = i16::from_be_bytes([f[0], f[1]]);
            let version = i16::from_be_bytes([f[2], f[3]]);
            let cid = i32::from_be_bytes([f[4], f[5], f[6], f[7]]);
            keys.push((key, f[10..].to_vec()));
            let out = if key == api_key::API_VERSIONS {
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
                    ],
                    ..Default::default()
                };
                encode_response::<ApiVersionsRequest>(&resp, version, cid)
            } else {
                let body: &[u8] = if key == SASL_HANDSHAKE {
                    &[0, 0]
                } else {
                    &f[10..]
                };
                let mut out = ((body.len() + 4) as i32).to_be_bytes().to_vec();
                out.extend_from_slice(&cid.to_be_bytes());
                out.extend_from_slice(body);
                out
            };
            if f.len() >= 14 && &f[10..14] == b"hold" {
                // Never answered: the client's time-out closes the connection.
                continue;
            }
            s.write_all(&out).expect("answer");
        }
    }

    fn options(max_frame: usize) -> ConnectionOptions {
        ConnectionOptions {
            client_id: "t".into(),
            software_name: "kafkac-test".into(),
            software_version: "0".into(),
            connect_timeout: Duration::from_secs(10),
            socket_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            max_frame,
            nodelay: true,
            max_in_flight: 5,
            idle_timeout: Duration::ZERO,
            tls: None,
            sasl: None,
        }
    }

    /// Frames with large shared parts (as record batches are) reach the broker whole and
    /// in order, however the socket takes the vectored writes (in part, or not at all
    /// until the broker reads).
    #[test]
    fn frames_with_shared_parts_over_tcp() {
        const MIB: usize = 1 << 20;
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let b = std::thread::spawn(move || broker(l));
        let io = IoThreads::start(1).expect("io");
        let link = io.open("t", "127.0.0.1", vec![addr], &options(16 * MIB));
        let deadline = Instant::now() + Duration::from_secs(30);
        link.setup
            .wait_until(deadline)
            .expect("set-up")
            .expect("ok");
        // Header and request number owned; then three shared MiB, each followed by five
        // owned bytes.
        let request = |n: u8| {
            let mut buf = frame(METADATA, &u64::from(n).to_be_bytes());
            let mut payload = buf[14..].to_vec();
            let mut shared = Vec::new();
            for k in 0..3u8 {
                let big = Bytes::from(vec![n.wrapping_mul(3).wrapping_add(k); MIB]);
                payload.extend_from_slice(&big);
                shared.push((buf.len(), big));
                buf.extend_from_slice(&[k; 5]);
                payload.extend_from_slice(&[k; 5]);
            }
            let size = (buf.len() - 4 + 3 * MIB) as i32;
            buf[..4].copy_from_slice(&size.to_be_bytes());
            (Frame::from_parts(buf, shared), payload)
        };
        let mut waits = Vec::new();
        for n in 1..=3 {
            let (f, payload) = request(n);
            let slot = Slot::new();
            io.submit(
                link.id,
                f,
                Some(Duration::ZERO),
                Some(Reply::Slot(slot.clone())),
            );
            waits.push((slot, payload));
        }
        for (slot, payload) in waits {
            let body = slot.wait_until(deadline).expect("answer").expect("ok");
            assert!(body[4..] == payload[..], "the broker got other bytes");
        }
        io.close(link.id, Error::new(local::DESTROY, "done"));
        drop(io);
        let keys = b.join().expect("broker");
        assert_eq!(keys, [api_key::API_VERSIONS, METADATA, METADATA, METADATA]);
    }

    /// Requests a thread submits reach the broker in that order, whether they waited in
    /// the loop's queue (the connection was still being set up) or were written by the
    /// submitting thread itself once it was ready; and callers do write them once it is.
    #[test]
    fn requests_keep_their_order_whoever_writes_them() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let b = std::thread::spawn(move || broker_recording(l));
        let io = IoThreads::start(1).expect("io");
        let link = io.open("t", "127.0.0.1", vec![addr], &options(1 << 20));
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut waits = Vec::new();
        for n in 0..2000u64 {
            let slot = Slot::new();
            io.submit(
                link.id,
                frame(METADATA, &n.to_be_bytes()),
                Some(Duration::ZERO),
                Some(Reply::Slot(slot.clone())),
            );
            waits.push((n, slot));
            if n % 100 == 99 {
                // Now and then the answers so far, so that later requests find the
                // connection ready with nothing queued.
                for (k, slot) in waits.drain(..) {
                    let body = slot.wait_until(deadline).expect("answer").expect("ok");
                    assert_eq!(body[4..], k.to_be_bytes(), "answer {k}");
                }
            }
        }
        assert!(
            io.written_by_callers() >= 1000,
            "only {} of 2000 requests were written by their callers",
            io.written_by_callers()
        );
        io.close(link.id, Error::new(local::DESTROY, "done"));
        drop(io);
        let got: Vec<Vec<u8>> = b
            .join()
            .expect("broker")
            .into_iter()
            .filter(|(k, _)| *k == METADATA)
            .map(|(_, p)| p)
            .collect();
        let want: Vec<Vec<u8>> = (0..2000u64).map(|n| n.to_be_bytes().to_vec()).collect();
        assert!(got == want, "the broker got the requests in another order");
    }

    /// A request its caller wrote to the socket itself, while the loop waits with
    /// nothing due, still times out on time: the caller wakes the loop to look at its
    /// timer.
    #[test]
    fn a_request_written_by_its_caller_times_out_on_time() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let b = std::thread::spawn(move || broker(l));
        let io = IoThreads::start(1).expect("io");
        let mut opts = options(1 << 20);
        opts.request_timeout = Duration::from_millis(150);
        let link = io.open("t", "127.0.0.1", vec![addr], &opts);
        let deadline = Instant::now() + Duration::from_secs(30);
        link.setup
            .wait_until(deadline)
            .expect("set-up")
            .expect("ok");
        // The loop is now waiting with nothing due (up to LONGEST_WAIT).
        std::thread::sleep(Duration::from_millis(50));
        let before = io.written_by_callers();
        let slot = Slot::new();
        let sent = Instant::now();
        // A broker that holds the request: the answer comes only after 30 s (the
        // broker's wait), so the time-out fires first.
        io.submit(
            link.id,
            frame(METADATA, b"hold"),
            Some(Duration::ZERO),
            Some(Reply::Slot(slot.clone())),
        );
        assert_eq!(io.written_by_callers(), before + 1, "written by the caller");
        let r = slot.wait_until(deadline).expect("an outcome");
        let took = sent.elapsed();
        let e = r.expect_err("no answer in time");
        assert!(e.message.contains("overdue"), "{}", e.message);
        assert!(
            took < LONGEST_WAIT - Duration::from_millis(200),
            "timed out after {took:?}: the loop slept past the request's time-out"
        );
        drop(io);
        let _ = b.join();
    }

    /// The I/O loop drives an authenticating connection over TCP: set-up waits for the
    /// authentication, and a re-authentication holds the next request back until done.
    #[test]
    fn authenticated_connection_over_tcp() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let b = std::thread::spawn(move || broker(l));
        let io = IoThreads::start(1).expect("io");
        let opts = options(1 << 20);
        let starts = Arc::new(AtomicUsize::new(0));
        let auth = Box::new(OneRound {
            starts: starts.clone(),
        });
        let link = io.open_authenticated("t", "127.0.0.1", vec![addr], &opts, auth);
        let deadline = Instant::now() + Duration::from_secs(10);
        let versions = link
            .setup
            .wait_until(deadline)
            .expect("set-up")
            .expect("ok");
        assert!(versions.range(SASL_HANDSHAKE).is_some());
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        let ask = |n: u64| {
            let slot = Slot::new();
            let f = frame(METADATA, &n.to_be_bytes());
            io.submit(
                link.id,
                f,
                Some(Duration::ZERO),
                Some(Reply::Slot(slot.clone())),
            );
            slot
        };
        let first = ask(1);
        io.reauthenticate(link.id);
        let second = ask(2);
        for (slot, n) in [(first, 1u64), (second, 2)] {
            let body = slot.wait_until(deadline).expect("answer").expect("ok");
            assert_eq!(&body[4..], n.to_be_bytes());
        }
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        io.close(link.id, Error::new(local::DESTROY, "done"));
        drop(io);
        let keys = b.join().expect("broker");
        assert_eq!(
            keys,
            [
                api_key::API_VERSIONS,
                SASL_HANDSHAKE,
                METADATA,
                SASL_HANDSHAKE,
                METADATA
            ]
        );
    }
}
