//! Events raised inside the client (on an I/O thread or elsewhere) for the application to
//! serve on its own thread: a broker that stopped answering, a connection lost, a
//! throttle. They wait in a bounded queue; a file descriptor becomes readable while the
//! queue holds any, so an application's own event loop (epoll, poll, select, libuv) can
//! wait on it, as with librdkafka's `rd_kafka_queue_io_event_enable`.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

/// How much an event matters, with syslog's numbers (as librdkafka's log levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub severity: Severity,
    /// An error code (`local::*` or a Kafka code); 0 for a plain log line.
    pub code: i32,
    pub message: String,
}

/// At most this many events wait; older ones are dropped (and counted) first.
pub const EVENTS_KEPT: usize = 1024;

struct Inner {
    queue: VecDeque<Event>,
    dropped: u64,
    wake: Wakeup,
}

/// A bounded event queue with a wake-up descriptor.
pub struct EventQueue {
    inner: Mutex<Inner>,
}

impl Default for EventQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl EventQueue {
    pub fn new() -> EventQueue {
        EventQueue {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                dropped: 0,
                wake: Wakeup::new(),
            }),
        }
    }

    /// Queues `e`; the oldest event is dropped when the queue is full.
    pub fn push(&self, e: Event) {
        let mut g = self.inner.lock();
        if g.queue.len() == EVENTS_KEPT {
            g.queue.pop_front();
            g.dropped += 1;
        }
        g.queue.push_back(e);
        g.wake.raise();
    }

    /// The oldest event, if any. The descriptor stops being readable once the queue is
    /// empty.
    pub fn pop(&self) -> Option<Event> {
        let mut g = self.inner.lock();
        let e = g.queue.pop_front();
        if g.queue.is_empty() {
            g.wake.clear();
        }
        e
    }

    pub fn len(&self) -> usize {
        self.inner.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.inner.lock().dropped
    }

    /// A descriptor that is readable while events wait (-1 if none could be made). It
    /// belongs to the queue: wait on it, never read or close it.
    pub fn fd(&self) -> RawFd {
        self.inner.lock().wake.fd()
    }
}

/// A descriptor that is readable while something waits: a socket pair whose read end the
/// application polls; at most one byte is ever in it.
struct Wakeup {
    rx: Option<UnixStream>,
    tx: Option<UnixStream>,
    signalled: bool,
}

impl Wakeup {
    fn new() -> Wakeup {
        match UnixStream::pair() {
            Ok((a, b)) if a.set_nonblocking(true).is_ok() && b.set_nonblocking(true).is_ok() => {
                Wakeup {
                    rx: Some(a),
                    tx: Some(b),
                    signalled: false,
                }
            }
            _ => Wakeup {
                rx: None,
                tx: None,
                signalled: false,
            },
        }
    }

    fn raise(&mut self) {
        if !self.signalled {
            if let Some(tx) = self.tx.as_ref() {
                let mut tx: &UnixStream = tx;
                self.signalled = tx.write(&[1]).is_ok();
            }
        }
    }

    fn clear(&mut self) {
        if self.signalled {
            if let Some(rx) = self.rx.as_ref() {
                let mut rx: &UnixStream = rx;
                let mut b = [0u8; 8];
                let _ = rx.read(&mut b);
            }
            self.signalled = false;
        }
    }

    fn fd(&self) -> RawFd {
        self.rx.as_ref().map_or(-1, |r| r.as_raw_fd())
    }
}

/// Where the answers of requests sent with a tag arrive, in the order they complete,
/// for a caller that has many requests in flight (the producer's sender, the consumer's
/// fetcher) rather than one blocking call. Waited on with [`pop`](Self::pop): a
/// condition variable, no descriptor (a byte through a socket pair on every wake-up cost
/// two system calls more and was read by no one).
/// A completed request: its tag, and the answer's body or why there is none.
pub type Completion = (u64, crate::error::Result<bytes::Bytes>);

pub struct CompletionQueue {
    inner: Mutex<VecDeque<Completion>>,
    cv: parking_lot::Condvar,
}

impl Default for CompletionQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl CompletionQueue {
    pub fn new() -> CompletionQueue {
        CompletionQueue {
            inner: Mutex::new(VecDeque::new()),
            cv: parking_lot::Condvar::new(),
        }
    }

    pub(crate) fn push(&self, tag: u64, r: crate::error::Result<bytes::Bytes>) {
        let mut g = self.inner.lock();
        g.push_back((tag, r));
        drop(g);
        self.cv.notify_one();
    }

    /// The next completion (its tag and the answer's body, or why there is none), waiting
    /// until `deadline` at most.
    pub fn pop(&self, deadline: std::time::Instant) -> Option<Completion> {
        let mut g = self.inner.lock();
        loop {
            if let Some(c) = g.pop_front() {
                return Some(c);
            }
            if self.cv.wait_until(&mut g, deadline).timed_out() && g.is_empty() {
                return None;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the wake-up descriptor has a byte to read, leaving it there.
    fn readable(q: &EventQueue) -> bool {
        readable_wake(&q.inner.lock().wake)
    }

    fn readable_wake(w: &Wakeup) -> bool {
        let mut rx = w.rx.as_ref().unwrap().try_clone().unwrap();
        let mut b = [0u8; 1];
        match rx.read(&mut b) {
            Ok(1) => {
                // Put it back.
                let mut tx: &UnixStream = w.tx.as_ref().unwrap();
                tx.write_all(&b).unwrap();
                true
            }
            _ => false,
        }
    }

    #[test]
    fn completion_queue_in_order_and_waits_until_the_deadline() {
        let q = std::sync::Arc::new(CompletionQueue::new());
        for t in 0..3 {
            q.push(t, Ok(bytes::Bytes::from(vec![t as u8])));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(10);
        let tags: Vec<u64> = std::iter::from_fn(|| q.pop(deadline).map(|c| c.0)).collect();
        assert_eq!(tags, [0, 1, 2]);
        assert!(
            std::time::Instant::now() >= deadline,
            "the empty queue waited"
        );
        // A push from another thread wakes a waiting pop.
        let q2 = q.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            q2.push(7, Ok(bytes::Bytes::new()));
        });
        let far = std::time::Instant::now() + std::time::Duration::from_secs(10);
        assert_eq!(q.pop(far).map(|c| c.0), Some(7));
        assert!(std::time::Instant::now() < far);
        t.join().unwrap();
    }

    fn ev(code: i32) -> Event {
        Event {
            severity: Severity::Info,
            code,
            message: String::new(),
        }
    }

    #[test]
    fn bounded_ordered_and_signalled() {
        let q = EventQueue::new();
        assert!(q.fd() >= 0);
        assert!(!readable(&q));
        for i in 0..EVENTS_KEPT + 5 {
            q.push(ev(i as i32));
        }
        assert!(readable(&q));
        assert_eq!(q.len(), EVENTS_KEPT);
        assert_eq!(q.dropped(), 5);
        assert_eq!(q.pop().unwrap().code, 5);
        assert!(readable(&q), "still events waiting");
        while q.pop().is_some() {}
        assert!(!readable(&q), "empty: the descriptor is quiet");
        q.push(ev(1));
        assert!(readable(&q));
    }
}
