//! The producer: asynchronous sends into per-partition batches, one Produce request per
//! broker with every ready partition, delivery reports served on the application's
//! thread, and idempotence (producer id, epoch and sequence numbers) on by default.
//!
//! Threads. [`Producer::send`] runs on the application's thread: it picks the partition,
//! encodes the record into that partition's open batch (the caller's bytes are copied
//! once, there) and, when the batch is full, closes it (compressing it) on that same
//! thread, so compression scales with the application's threads rather than queueing
//! behind one. One sender thread per producer (`kc-prod`) closes batches whose
//! `linger.ms` has passed, groups ready batches by leader, sends the requests through the
//! I/O threads and handles their answers from a completion queue. Delivery reports wait
//! in a bounded queue until [`Producer::poll`] or [`Producer::flush`] runs them on the
//! application's thread; a message's payload is released when the broker acknowledges
//! it, not when its report is served.
//!
//! The rules of the idempotent producer (which answer retries, which bumps the epoch,
//! which is fatal) are in [`state`].

pub mod partitioner;
mod sender;
pub mod state;

use crate::client::Client;
use crate::config::Config;
use crate::error::{local, Error, Result};
use crate::net::events::CompletionQueue;
use crate::record::{Compression, RecordHeaderIn};
use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use partitioner::Partitioner;
use state::{Append, Clock, State};
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Any partition: the partitioner chooses.
pub const PARTITION_ANY: i32 = -1;

/// The producer's settings, read once from the configuration.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    pub linger: Duration,
    pub batch_num_messages: usize,
    pub batch_size: usize,
    /// `None`: messages never time out.
    pub message_timeout: Option<Duration>,
    pub retries: u32,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    pub acks: i16,
    pub compression: Compression,
    pub compression_level: Option<i32>,
    /// Requests in flight per partition (idempotent) or per connection.
    pub max_in_flight: usize,
    pub message_max_bytes: usize,
    pub partitioner: Partitioner,
    /// The application's partitioner, used instead of `partitioner` when set.
    pub custom_partitioner: Option<CustomPartitioner>,
    pub sticky_linger: Duration,
    pub queue_max_messages: usize,
    pub queue_max_bytes: usize,
    pub reports_max: usize,
    /// Values handed over larger than this are kept by reference (`message.copy.max.bytes`).
    pub copy_max: usize,
    pub idempotence: bool,
    pub request_timeout: Duration,
    pub propagation_max: Duration,
    pub metadata_max_age: Duration,
}

impl ProducerSettings {
    /// Reads and checks the producer's properties; errors name the property.
    pub fn from_config(c: &Config) -> Result<ProducerSettings> {
        let idempotence = c.flag("enable.idempotence");
        let mut max_in_flight = c.int("max.in.flight.requests.per.connection") as usize;
        if idempotence {
            if !c.is_set("max.in.flight.requests.per.connection") {
                max_in_flight = 5;
            } else if max_in_flight > 5 {
                return Err(Error::new(
                    local::INVALID_CONFIG,
                    format!(
                        "invalid value '{max_in_flight}' for configuration property \
                         'max.in.flight.requests.per.connection': at most 5 with \
                         enable.idempotence=true"
                    ),
                ));
            }
        }
        let acks = c.int("acks") as i16;
        if idempotence && acks != -1 {
            return Err(Error::new(
                local::INVALID_CONFIG,
                format!(
                    "invalid value '{acks}' for configuration property 'acks': \
                     enable.idempotence=true needs acks=all (-1)"
                ),
            ));
        }
        let compression = c.get("compression.type").unwrap_or_default();
        let level = c.int("compression.level");
        let timeout = c.ms("message.timeout.ms");
        let backoff = c.ms("retry.backoff.ms");
        Ok(ProducerSettings {
            linger: c.ms("linger.ms"),
            batch_num_messages: c.int("batch.num.messages") as usize,
            batch_size: c.int("batch.size") as usize,
            message_timeout: (!timeout.is_zero()).then_some(timeout),
            retries: c.int("retries").min(i64::from(u32::MAX)) as u32,
            retry_backoff: backoff,
            retry_backoff_max: c.ms("retry.backoff.max.ms").max(backoff),
            acks,
            compression: Compression::from_name(&compression).unwrap_or_default(),
            compression_level: (level >= 0).then_some(level as i32),
            max_in_flight,
            message_max_bytes: c.int("message.max.bytes") as usize,
            partitioner: c
                .get("partitioner")
                .unwrap_or_default()
                .parse()
                .map_err(|e: Error| e)?,
            custom_partitioner: None,
            sticky_linger: c.ms("sticky.partitioning.linger.ms"),
            queue_max_messages: c.int("queue.buffering.max.messages") as usize,
            queue_max_bytes: (c.int("queue.buffering.max.kbytes") as usize).saturating_mul(1024),
            reports_max: c.int("delivery.report.max.messages") as usize,
            copy_max: c.int("message.copy.max.bytes") as usize,
            idempotence,
            request_timeout: c.ms("request.timeout.ms"),
            propagation_max: c.ms("topic.metadata.propagation.max.ms"),
            metadata_max_age: c.ms("metadata.max.age.ms"),
        })
    }
}

/// An application's partitioner: given the topic, the key (`None` for a NULL key) and
/// the partition count, the partition (in `0..count`; anything else fails the send with
/// UNKNOWN_PARTITION). Called on the sending thread, for messages sent with
/// [`PARTITION_ANY`], while the producer's state is locked: it must not call the
/// producer.
#[derive(Clone)]
pub struct CustomPartitioner(pub PartitionFn);

/// The function inside a [`CustomPartitioner`].
pub type PartitionFn = Arc<dyn Fn(&str, Option<&[u8]>, i32) -> i32 + Send + Sync>;

impl std::fmt::Debug for CustomPartitioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomPartitioner")
    }
}

/// One message to send. `key` and `value` distinguish NULL (`None`) from empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct Message<'a> {
    pub topic: &'a str,
    /// A partition, or [`PARTITION_ANY`].
    pub partition: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [RecordHeaderIn<'a>],
    /// Milliseconds since the epoch; `None` is the time of the send.
    pub timestamp: Option<i64>,
    /// Handed back in the message's delivery report.
    pub opaque: usize,
}

/// Whether a message's data reached the broker's log.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persisted {
    /// Never written: it failed before it was sent, or the broker refused it.
    Not = 0,
    /// It was sent but no acknowledgement came: it may be in the log.
    Possibly = 1,
    /// The broker acknowledged it.
    Persisted = 2,
}

/// A topic's name, also as a C string for the delivery reports of the C API.
#[derive(Debug)]
pub struct TopicName {
    pub name: String,
    pub c_name: CString,
}

impl TopicName {
    fn new(name: &str) -> Arc<TopicName> {
        Arc::new(TopicName {
            name: name.to_owned(),
            // Topic names cannot hold NUL (checked at send).
            c_name: CString::new(name).unwrap_or_default(),
        })
    }
}

/// The outcome of one message. Small and of fixed size: what waits for the application
/// holds no payload.
#[derive(Debug, Clone)]
pub struct Report {
    pub topic: Arc<TopicName>,
    pub partition: i32,
    /// The offset the broker gave the message, or -1 (not delivered; `acks=0`; or a
    /// retry the broker recognised as a duplicate, which does not say where).
    pub offset: i64,
    /// The message's timestamp (ms), as sent.
    pub timestamp: i64,
    /// `None`: delivered.
    pub error: Option<Arc<Error>>,
    pub status: Persisted,
    pub opaque: usize,
}

/// What [`Producer::purge`] drops.
pub mod purge {
    /// Messages queued in the client, not sent yet.
    pub const QUEUE: u32 = 1;
    /// Messages in requests sent and not answered (their answers are then ignored; the
    /// broker may still write them).
    pub const INFLIGHT: u32 = 2;
}

/// Counters for statistics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProducerCounters {
    /// Produce requests sent.
    pub requests: u64,
    /// Batches sent again after a failure.
    pub retried_batches: u64,
    /// Local epoch bumps (KIP-360 recovery).
    pub epoch_bumps: u64,
    /// OUT_OF_ORDER_SEQUENCE_NUMBER answers showing the broker lost records it had
    /// acknowledged (see the table in [`state`]).
    pub acknowledged_lost: u64,
    /// InitProducerId requests answered.
    pub producer_ids: u64,
    /// Batches closed.
    pub batches: u64,
}

pub(crate) struct Shared {
    pub(crate) settings: ProducerSettings,
    pub(crate) state: Mutex<State>,
    /// Signalled when reports arrive or the queue empties (poll, flush).
    pub(crate) reports_cv: Condvar,
    /// Signalled when queue space frees (blocking sends).
    pub(crate) space_cv: Condvar,
    /// The sender waits here for answers; the application wakes it with [`WAKE`].
    pub(crate) cq: Arc<CompletionQueue>,
    /// Set while a wake-up is queued and not yet seen by the sender.
    pub(crate) wake_pending: AtomicBool,
}

/// How often poll applies message time-outs itself.
const EXPIRY_CHECK: Duration = Duration::from_millis(100);

/// The tag of a wake-up on the completion queue (no request has it).
pub(crate) const WAKE: u64 = u64::MAX;

impl Shared {
    pub(crate) fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            self.cq.push(WAKE, Ok(bytes::Bytes::new()));
        }
    }
}

/// An asynchronous Kafka producer. Shared between threads (`&self` methods).
pub struct Producer {
    shared: Arc<Shared>,
    client: Arc<Client>,
    sender: Mutex<Option<JoinHandle<()>>>,
}

impl Producer {
    /// A producer for the cluster at `bootstrap.servers`. Fails on bad configuration;
    /// brokers are contacted in the background (a dead cluster shows as failed reports).
    pub fn new(config: &Config) -> Result<Producer> {
        Self::with_partitioner(config, None)
    }

    /// As [`new`](Self::new), with the application's partitioner (if any) in place of
    /// the `partitioner` property.
    pub fn with_partitioner(
        config: &Config,
        custom: Option<CustomPartitioner>,
    ) -> Result<Producer> {
        let mut settings = ProducerSettings::from_config(config)?;
        settings.custom_partitioner = custom;
        let client = Arc::new(Client::new(config)?);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(&settings)),
            settings,
            reports_cv: Condvar::new(),
            space_cv: Condvar::new(),
            cq: Arc::new(CompletionQueue::new()),
            wake_pending: AtomicBool::new(false),
        });
        let s = shared.clone();
        let c = client.clone();
        let handle = std::thread::Builder::new()
            .name("kc-prod".into())
            .spawn(move || sender::run(s, c))
            .map_err(|e| Error::new(local::FAIL, format!("cannot start the sender thread: {e}")))?;
        Ok(Producer {
            shared,
            client,
            sender: Mutex::new(Some(handle)),
        })
    }

    pub fn settings(&self) -> &ProducerSettings {
        &self.shared.settings
    }

    /// Queues one message and returns at once. Errors: QUEUE_FULL (limits reached),
    /// MSG_SIZE_TOO_LARGE (10; larger than `message.max.bytes`), UNKNOWN_PARTITION (the
    /// topic is known and has no such partition), FATAL (after a fatal error),
    /// DESTROY (closing), INVALID_ARG (an empty topic name or one with NUL).
    pub fn send(&self, m: &Message<'_>) -> Result<()> {
        self.send_until(m, None, None)
    }

    /// As [`send`](Self::send), but waits up to `timeout` for queue space instead of
    /// failing with QUEUE_FULL at once (Java's `max.block.ms`).
    pub fn send_blocking(&self, m: &Message<'_>, timeout: Duration) -> Result<()> {
        self.send_until(m, None, Some(Instant::now() + timeout))
    }

    /// As [`send`](Self::send) (or [`send_blocking`](Self::send_blocking) with a
    /// `timeout`), with the value handed over instead of borrowed (`m.value` is not
    /// read). A value larger than `message.copy.max.bytes` going into an uncompressed
    /// batch is not copied: the batch refers to it, and it goes to the broker from where
    /// it is. The producer drops its references when it no longer needs the bytes: at
    /// the batch's acknowledgement or failure (on the producer's thread, or on an I/O
    /// thread once written), or at once when the value was copied. When this returns an
    /// error, the producer kept no reference.
    pub fn send_shared(
        &self,
        m: &Message<'_>,
        value: Bytes,
        timeout: Option<Duration>,
    ) -> Result<()> {
        self.send_until(m, Some(&value), timeout.map(|t| Instant::now() + t))
    }

    fn send_until(
        &self,
        m: &Message<'_>,
        shared: Option<&Bytes>,
        deadline: Option<Instant>,
    ) -> Result<()> {
        if m.topic.is_empty() || m.topic.contains('\0') {
            return Err(Error::invalid_arg(format!(
                "invalid topic name '{}'",
                m.topic.escape_default()
            )));
        }
        if m.partition < PARTITION_ANY {
            return Err(Error::new(
                local::UNKNOWN_PARTITION,
                format!("{}: invalid partition {}", m.topic, m.partition),
            ));
        }
        // The metadata snapshot is only fetched for a topic whose partitions are not known
        // yet, and the clock only read when the message starts a batch (or waits).
        let mut snapshot = None;
        let mut clock = Clock::lazy();
        let mut st = self.shared.state.lock();
        loop {
            let settings = &self.shared.settings;
            let appended = match shared {
                None => st.append(settings, m, snapshot.as_deref(), &mut clock),
                Some(v) => st.append_shared(settings, m, v, snapshot.as_deref(), &mut clock),
            };
            match appended? {
                Append::Queued { wake } => {
                    drop(st);
                    if wake {
                        self.shared.wake();
                    }
                    return Ok(());
                }
                Append::NeedSnapshot => snapshot = Some(self.client.cluster().snapshot()),
                Append::Full(err) => {
                    let Some(d) = deadline else {
                        return Err(err);
                    };
                    if self.shared.space_cv.wait_until(&mut st, d).timed_out() {
                        return Err(err.context("timed out waiting for queue space"));
                    }
                    clock = Clock::lazy();
                }
            }
        }
    }

    /// Runs `f` on waiting delivery reports, in order, for up to `timeout` while none
    /// are there. Returns how many were served. Never runs `f` while holding a lock, so
    /// `f` may send.
    pub fn poll(&self, timeout: Duration, mut f: impl FnMut(&Report)) -> usize {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.state.lock();
        loop {
            // Message time-outs are also applied here, so they hold even while the
            // sender thread waits on a slow broker.
            let now = Instant::now();
            if now >= st.next_expiry_check {
                st.expire(now);
                st.next_expiry_check = now + EXPIRY_CHECK;
            }
            if !st.reports.is_empty() || st.closing {
                break;
            }
            let until = deadline.min(st.next_expiry_check);
            if self
                .shared
                .reports_cv
                .wait_until(&mut st, until)
                .timed_out()
                && Instant::now() >= deadline
            {
                break;
            }
        }
        // Serve what is there, 1,024 at a time while time remains; once the deadline has
        // passed, whatever is waiting then, and return.
        let mut served = 0;
        loop {
            let past = Instant::now() >= deadline;
            let batch = st.take_reports(if past { usize::MAX } else { 1024 });
            drop(st);
            if batch.is_empty() {
                return served;
            }
            self.shared.space_cv.notify_all();
            served += batch.len();
            for r in &batch {
                f(r);
            }
            if past {
                return served;
            }
            st = self.shared.state.lock();
        }
    }

    /// Sends every queued message now (linger is cut short) and serves reports with `f`
    /// until every message sent before the call has its report, or `timeout` passes
    /// (TIMED_OUT; messages stay queued).
    pub fn flush(&self, timeout: Duration, mut f: impl FnMut(&Report)) -> Result<()> {
        let deadline = Instant::now() + timeout;
        {
            self.shared.state.lock().flush_requested += 1;
        }
        self.shared.wake();
        let result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            self.poll(left.min(Duration::from_millis(100)), &mut f);
            let st = self.shared.state.lock();
            // Closing first: closing drops what is outstanding without reports.
            if st.closing {
                break Err(Error::new(
                    local::DESTROY,
                    "the producer was closed during flush",
                ));
            }
            if st.outstanding() == 0 && st.reports.is_empty() {
                break Ok(());
            }
            if Instant::now() >= deadline {
                break Err(Error::timed_out(format!(
                    "flush timed out with {} messages not delivered",
                    st.outstanding()
                )));
            }
        };
        self.shared.state.lock().flush_requested -= 1;
        result
    }

    /// Drops queued (`purge::QUEUE`) and/or in-flight (`purge::INFLIGHT`) messages; each
    /// gets a failed report (PURGE_QUEUE / PURGE_INFLIGHT) served by poll.
    pub fn purge(&self, flags: u32) {
        {
            let mut st = self.shared.state.lock();
            // Queued messages are purged here, at once, so the caller sees their reports
            // on its next poll and none of them can be sent first; the sender purges the
            // requests in flight (and sends nothing before it has).
            if flags & purge::QUEUE != 0 {
                st.purge_queued();
            }
            st.purge_requested |= flags & purge::INFLIGHT;
        }
        self.shared.wake();
        self.shared.reports_cv.notify_all();
        self.shared.space_cv.notify_all();
    }

    /// Messages not yet acknowledged (queued or in flight), and reports waiting.
    pub fn outstanding(&self) -> (usize, usize) {
        let st = self.shared.state.lock();
        (st.outstanding(), st.reports.len())
    }

    /// The fatal error, once there is one: after it every send fails with FATAL.
    pub fn fatal_error(&self) -> Option<Error> {
        self.shared.state.lock().fatal.clone()
    }

    /// Takes the fatal error the first time it is asked (for an error callback that
    /// must run once).
    pub fn take_fatal_event(&self) -> Option<Error> {
        let mut st = self.shared.state.lock();
        if st.fatal_reported {
            return None;
        }
        let e = st.fatal.clone()?;
        st.fatal_reported = true;
        Some(e)
    }

    pub fn counters(&self) -> ProducerCounters {
        self.shared.state.lock().counters
    }

    /// The producer id and epoch in use (-1, -1 before the first InitProducerId, or
    /// without idempotence).
    pub fn producer_id(&self) -> (i64, i16) {
        let st = self.shared.state.lock();
        (st.pid.id, st.pid.epoch)
    }

    /// The low-level client underneath (metadata, statistics).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Flushes for up to `timeout`, then drops what is left and stops: returns within
    /// `timeout` plus the time to close the connections (no network wait). Returns the
    /// number of messages dropped without a served report.
    pub fn close(&self, timeout: Duration) -> usize {
        let mut dropped = 0;
        if self.sender.lock().is_some() && !timeout.is_zero() {
            let _ = self.flush(timeout, |_| {});
        }
        let handle = self.sender.lock().take();
        if let Some(h) = handle {
            self.shared.state.lock().closing = true;
            // Wakes a metadata refresh or a connection attempt in progress on the sender
            // thread with a DESTROY error, so it stops without waiting for the network.
            self.client.cluster().close();
            self.shared.wake();
            let _ = h.join();
            let mut st = self.shared.state.lock();
            dropped = st.outstanding() + st.reports.len();
            st.drop_everything();
        }
        self.shared.space_cv.notify_all();
        self.shared.reports_cv.notify_all();
        dropped
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.close(Duration::ZERO);
    }
}
