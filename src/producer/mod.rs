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
//! in a bounded queue (one entry per batch: `reports.rs`) until [`Producer::poll`] or
//! [`Producer::flush`] runs them on the application's thread; a message's payload is
//! released when the broker acknowledges it, not when its report is served.
//!
//! The rules of the idempotent producer (which answer retries, which bumps the epoch,
//! which is fatal) are in [`state`].

pub mod partitioner;
mod reports;
mod sender;
pub mod state;
pub mod txn;

use crate::client::Client;
use crate::config::Config;
use crate::error::{local, Error, Result};
use crate::net::events::CompletionQueue;
use crate::protocol::messages::{
    coordinator_key_type, AddOffsetsToTxnRequest, EndTxnRequest, InitProducerIdRequest,
    TxnOffsetCommitRequest, TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use crate::record::{Compression, RecordHeaderIn};
use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use partitioner::Partitioner;
use state::{Append, Clock, Pid, State};
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use txn::Step;
pub use txn::{ErrorClass, GroupMetadata, Outcome, Txn, TxnError, TxnOffset, TxnState};

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
    /// Produce requests in flight per broker connection, and batches in flight per
    /// partition (5 by default with idempotence, as librdkafka sets it).
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
    /// `transactional.id`: a transactional producer.
    pub transactional_id: Option<String>,
    pub transaction_timeout: Duration,
}

impl ProducerSettings {
    /// Reads and checks the producer's properties; errors name the property.
    pub fn from_config(c: &Config) -> Result<ProducerSettings> {
        let transactional_id = c.get("transactional.id").filter(|t| !t.is_empty());
        let transaction_timeout = c.ms("transaction.timeout.ms");
        if transactional_id.is_some()
            && c.is_set("enable.idempotence")
            && !c.flag("enable.idempotence")
        {
            return Err(Error::new(
                local::INVALID_CONFIG,
                "invalid value 'false' for configuration property 'enable.idempotence': \
                 transactional.id needs enable.idempotence=true",
            ));
        }
        let idempotence = c.flag("enable.idempotence") || transactional_id.is_some();
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
        let mut timeout = c.ms("message.timeout.ms");
        if transactional_id.is_some() {
            if !c.is_set("message.timeout.ms") {
                timeout = transaction_timeout;
            } else if timeout.is_zero() || timeout > transaction_timeout {
                return Err(Error::new(
                    local::INVALID_CONFIG,
                    format!(
                        "invalid value '{}' for configuration property 'message.timeout.ms': \
                         with transactional.id it must be between 1 and \
                         transaction.timeout.ms ({} ms)",
                        timeout.as_millis(),
                        transaction_timeout.as_millis()
                    ),
                ));
            }
        }
        let backoff = c.ms("retry.backoff.ms");
        let linger = c.ms("linger.ms");
        // librdkafka's rule: unset, keyless messages stick to a partition for twice the
        // linger (so a batch has time to fill), at most the property's maximum.
        let sticky_linger = if c.is_set("sticky.partitioning.linger.ms") {
            c.ms("sticky.partitioning.linger.ms")
        } else {
            (linger * 2).min(Duration::from_millis(900_000))
        };
        Ok(ProducerSettings {
            linger,
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
            sticky_linger,
            queue_max_messages: c.int("queue.buffering.max.messages") as usize,
            queue_max_bytes: (c.int("queue.buffering.max.kbytes") as usize).saturating_mul(1024),
            reports_max: c.int("delivery.report.max.messages") as usize,
            copy_max: c.int("message.copy.max.bytes") as usize,
            idempotence,
            request_timeout: c.ms("request.timeout.ms"),
            propagation_max: c.ms("topic.metadata.propagation.max.ms"),
            metadata_max_age: c.ms("metadata.max.age.ms"),
            transactional_id,
            transaction_timeout,
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
    /// Rounds of the sending thread (each woken by an answer, a wake-up or a timer).
    pub sender_rounds: u64,
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
                    // The sender closes the lingering batches (see `State::starved`). Woken
                    // with the state's lock held (the sender takes the completion queue's
                    // lock, never the other way round): released in between, a close
                    // could finish its last notification before the wait below began,
                    // which would then never end.
                    if st.starved {
                        self.shared.wake();
                    }
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
        self.poll_batches(timeout, |b| b.iter().for_each(&mut f))
    }

    /// As [`poll`](Self::poll), handing `f` the reports a slice at a time (up to 1,024,
    /// in order): what the C API's callbacks are served from, without a copy.
    pub fn poll_batches(&self, timeout: Duration, mut f: impl FnMut(&[Report])) -> usize {
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
        // passed, what is waiting then (still 1,024 at a time), and return.
        let mut served = 0;
        let mut last: Option<usize> = None;
        loop {
            if last.is_none() && Instant::now() >= deadline {
                last = Some(st.reports.len());
            }
            let batch = st.take_reports(last.map_or(1024, |n| n.min(1024)));
            drop(st);
            if batch.is_empty() {
                return served;
            }
            self.shared.space_cv.notify_all();
            served += batch.len();
            if let Some(n) = last.as_mut() {
                *n -= batch.len();
            }
            f(&batch);
            st = self.shared.state.lock();
            st.give_back_reports(batch);
            if last == Some(0) {
                return served;
            }
        }
    }

    /// Sends every queued message now (linger is cut short) and serves reports with `f`
    /// until every message sent before the call has its report, or `timeout` passes
    /// (TIMED_OUT; messages stay queued).
    pub fn flush(&self, timeout: Duration, mut f: impl FnMut(&Report)) -> Result<()> {
        self.flush_batches(timeout, |b| b.iter().for_each(&mut f))
    }

    /// As [`flush`](Self::flush), handing `f` the reports a slice at a time.
    pub fn flush_batches(&self, timeout: Duration, mut f: impl FnMut(&[Report])) -> Result<()> {
        let deadline = Instant::now() + timeout;
        {
            let mut st = self.shared.state.lock();
            // Nothing outstanding (the flush a transaction's commit makes after the
            // application's own): done at once, without waking the sender or waiting in
            // poll for a report.
            if !st.closing && st.outstanding() == 0 && st.reports.is_empty() {
                return Ok(());
            }
            st.flush_requested += 1;
        }
        self.shared.wake();
        let result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            self.poll_batches(left.min(Duration::from_millis(100)), &mut f);
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

    fn txn_id(&self) -> std::result::Result<&str, TxnError> {
        self.shared
            .settings
            .transactional_id
            .as_deref()
            .ok_or_else(|| {
                TxnError::new(
                    ErrorClass::Usage,
                    Error::new(
                        local::STATE,
                        "the producer is not transactional: set transactional.id",
                    ),
                )
            })
    }

    fn with_txn<T>(&self, f: impl FnOnce(&mut Txn) -> T) -> T {
        let mut st = self.shared.state.lock();
        f(st.txn
            .as_mut()
            .expect("a transactional producer has a transaction state"))
    }

    /// Gets the producer id for `transactional.id` from the transaction coordinator,
    /// which fences older instances with the same id and ends (aborts) the transaction
    /// they left open. Called once, before the first transaction; a call that timed out
    /// (a retriable error) is called again to continue.
    pub fn init_transactions(&self, timeout: Duration) -> std::result::Result<(), TxnError> {
        self.txn_id()?;
        let deadline = Instant::now() + timeout;
        self.with_txn(|t| t.begin_init())?;
        self.drive_txn(deadline, None, &mut |_| {})
    }

    /// Begins a transaction: the messages sent until commit or abort belong to it.
    pub fn begin_transaction(&self) -> std::result::Result<(), TxnError> {
        self.txn_id()?;
        self.with_txn(|t| t.begin())
    }

    /// Commits `offsets` of the consumer group `group` as part of the transaction: they
    /// become the group's committed offsets if, and when, the transaction commits.
    pub fn send_offsets_to_transaction(
        &self,
        offsets: &[TxnOffset],
        group: &GroupMetadata,
        timeout: Duration,
    ) -> std::result::Result<(), TxnError> {
        self.txn_id()?;
        if offsets.is_empty() {
            // Nothing to commit: the transaction is unchanged (as in librdkafka).
            return Ok(());
        }
        if group.group_id.is_empty() {
            return Err(TxnError::new(
                ErrorClass::Usage,
                Error::invalid_arg("send_offsets_to_transaction: the group id is empty"),
            ));
        }
        let deadline = Instant::now() + timeout;
        self.with_txn(|t| t.begin_offsets(&group.group_id))?;
        self.drive_txn(deadline, Some((offsets, group)), &mut |_| {})
    }

    /// Commits the transaction: sends every queued message, waits for every outstanding
    /// one (serving delivery reports with `f`), then asks the coordinator to commit. A
    /// retriable error (the timeout) is followed by calling again; an abortable one by
    /// [`abort_transaction`](Self::abort_transaction).
    pub fn commit_transaction(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&Report),
    ) -> std::result::Result<(), TxnError> {
        self.commit_transaction_batches(timeout, &mut |b| b.iter().for_each(&mut f))
    }

    /// As [`commit_transaction`](Self::commit_transaction), handing `f` the reports a
    /// slice at a time.
    pub fn commit_transaction_batches(
        &self,
        timeout: Duration,
        f: &mut dyn FnMut(&[Report]),
    ) -> std::result::Result<(), TxnError> {
        self.txn_id()?;
        let deadline = Instant::now() + timeout;
        self.with_txn(|t| t.begin_commit())?;
        self.drive_txn(deadline, None, f)
    }

    /// Aborts the transaction: what is queued is purged (each message gets its delivery
    /// report, PURGE_QUEUE), what is in flight is waited for (serving reports with `f`),
    /// then the coordinator aborts the transaction.
    pub fn abort_transaction(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&Report),
    ) -> std::result::Result<(), TxnError> {
        self.abort_transaction_batches(timeout, &mut |b| b.iter().for_each(&mut f))
    }

    /// As [`abort_transaction`](Self::abort_transaction), handing `f` the reports a
    /// slice at a time.
    pub fn abort_transaction_batches(
        &self,
        timeout: Duration,
        f: &mut dyn FnMut(&[Report]),
    ) -> std::result::Result<(), TxnError> {
        self.txn_id()?;
        let deadline = Instant::now() + timeout;
        self.with_txn(|t| t.begin_abort())?;
        self.drive_txn(deadline, None, f)
    }

    /// How the last transaction ended (None before the first end, or not transactional).
    pub fn transaction_outcome(&self) -> Option<Outcome> {
        self.shared
            .state
            .lock()
            .txn
            .as_ref()
            .and_then(|t| t.outcome)
    }

    /// The transaction's state (None: not transactional).
    pub fn transaction_state(&self) -> Option<TxnState> {
        self.shared.state.lock().txn.as_ref().map(|t| t.state)
    }

    /// Runs the steps of the transactional operation in progress until it is done or
    /// `deadline` passes (a retriable TIMED_OUT; the operation stays in progress).
    fn drive_txn(
        &self,
        deadline: Instant,
        offsets: Option<(&[TxnOffset], &GroupMetadata)>,
        f: &mut dyn FnMut(&[Report]),
    ) -> std::result::Result<(), TxnError> {
        let id = self.txn_id()?.to_owned();
        let cluster = self.client.cluster();
        let s = &self.shared.settings;
        let mut backoff = s.retry_backoff;
        loop {
            let step = self.with_txn(|t| t.next_step());
            let now = Instant::now();
            if let Step::Done(r) = step {
                return r;
            }
            if now >= deadline {
                return Err(TxnError::new(
                    ErrorClass::Retriable,
                    Error::timed_out(format!(
                        "the transactional call timed out ({:?} in progress); call it \
                         again to continue",
                        self.transaction_state().unwrap_or(TxnState::Uninitialized)
                    )),
                ));
            }
            // One request waits no longer than the call, nor than a request may take.
            let req_deadline = deadline.min(now + s.request_timeout);
            match step {
                Step::Done(_) => unreachable!("handled above"),
                Step::Backoff => {
                    std::thread::sleep(backoff.min(deadline - now));
                    backoff = (backoff * 2).min(s.retry_backoff_max);
                }
                Step::FindCoordinator | Step::FindGroupCoordinator { .. } => {
                    let (key_type, key, found): (_, &str, fn(&mut Txn, i16, i32)) = match &step {
                        Step::FindGroupCoordinator { group } => (
                            coordinator_key_type::GROUP,
                            group,
                            Txn::on_group_coordinator,
                        ),
                        _ => (coordinator_key_type::TRANSACTION, &id, Txn::on_coordinator),
                    };
                    let r = sender::find_coordinator(cluster, key_type, key, req_deadline);
                    self.with_txn(|t| match r {
                        Ok((code, node)) => found(t, code, node),
                        Err(e) => t.on_failure(&e),
                    });
                }
                Step::InitProducerId { pid } => {
                    let node = self.with_txn(|t| t.coordinator).unwrap_or(-1);
                    let r = sender::coordinator_conn(cluster, node, req_deadline).and_then(|c| {
                        let v = c.version_of::<InitProducerIdRequest>()?;
                        if pid != Pid::NONE && v < 3 {
                            return Err(Error::new(
                                local::UNSUPPORTED_FEATURE,
                                format!(
                                    "{}: InitProducerId v{v} cannot bump the epoch (Kafka \
                                     2.5 or later)",
                                    c.name
                                ),
                            ));
                        }
                        let req = InitProducerIdRequest {
                            transactional_id: Some(id.clone()),
                            transaction_timeout_ms: s.transaction_timeout.as_millis() as i32,
                            producer_id: pid.id,
                            producer_epoch: pid.epoch,
                            ..Default::default()
                        };
                        let resp = c.request_at(&req, v, req_deadline)?;
                        let versions = c.versions();
                        let v2 = Txn::protocol_v2(
                            versions.transaction_version,
                            versions
                                .range(crate::protocol::api_key::END_TXN)
                                .map(|r| r.1),
                        );
                        Ok((resp, v2))
                    });
                    let mut st = self.shared.state.lock();
                    match r {
                        Ok((resp, v2)) => {
                            let new = Pid {
                                id: resp.producer_id,
                                epoch: resp.producer_epoch,
                            };
                            let t = st.txn.as_mut().expect("transactional");
                            t.on_init(resp.error_code, new, v2);
                            if resp.error_code == 0 {
                                st.set_pid(new);
                                st.counters.producer_ids += 1;
                            }
                        }
                        Err(e) if e.code == local::UNSUPPORTED_FEATURE => {
                            st.set_fatal(e);
                        }
                        Err(e) => st.txn.as_mut().expect("transactional").on_failure(&e),
                    }
                }
                Step::WaitMessages { purge } => {
                    if purge {
                        let mut st = self.shared.state.lock();
                        st.purge_queued_for_abort();
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    match self.flush_batches(left, &mut *f) {
                        Ok(()) => {
                            let mut st = self.shared.state.lock();
                            let gap = st.pid_state == state::PidState::NeedBump;
                            let t = st.txn.as_mut().expect("transactional");
                            t.bump_needed |= gap;
                            if !t.on_messages_settled() {
                                // The sender waits for an AddPartitionsToTxn's answer
                                // (bounded by its request's deadline).
                                drop(st);
                                let left = deadline.saturating_duration_since(Instant::now());
                                std::thread::sleep(left.min(Duration::from_millis(1)));
                            }
                        }
                        Err(e) if e.code == local::TIMED_OUT => {
                            return Err(TxnError::new(
                                ErrorClass::Retriable,
                                e.context("waiting for the transaction's messages; call again"),
                            ));
                        }
                        Err(e) => return Err(TxnError::new(ErrorClass::Fatal, e)),
                    }
                }
                Step::AddOffsets { pid, group } => {
                    let node = self.with_txn(|t| t.coordinator).unwrap_or(-1);
                    let r = sender::coordinator_conn(cluster, node, req_deadline).and_then(|c| {
                        let v = c.version_of::<AddOffsetsToTxnRequest>()?;
                        let req = AddOffsetsToTxnRequest {
                            transactional_id: id.clone(),
                            producer_id: pid.id,
                            producer_epoch: pid.epoch,
                            group_id: group.clone(),
                            ..Default::default()
                        };
                        c.request_at(&req, v, req_deadline)
                    });
                    self.with_txn(|t| match r {
                        Ok(resp) => t.on_answer(resp.error_code),
                        Err(e) => t.on_failure(&e),
                    });
                }
                Step::TxnOffsetCommit { pid, group } => {
                    let Some((offs, meta)) = offsets else {
                        return Err(TxnError::new(
                            ErrorClass::Usage,
                            Error::new(local::STATE, "no offsets to commit"),
                        ));
                    };
                    let node = self.with_txn(|t| t.group_coordinator).unwrap_or(-1);
                    let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
                    for o in offs {
                        let p = TxnOffsetCommitRequestPartition {
                            partition_index: o.partition,
                            committed_offset: o.offset,
                            committed_leader_epoch: o.leader_epoch,
                            committed_metadata: o.metadata.clone(),
                            ..Default::default()
                        };
                        match topics.iter_mut().find(|t| t.name == o.topic) {
                            Some(t) => t.partitions.push(p),
                            None => topics.push(TxnOffsetCommitRequestTopic {
                                name: o.topic.clone(),
                                partitions: vec![p],
                                ..Default::default()
                            }),
                        }
                    }
                    let v2 = self.with_txn(|t| t.v2);
                    let r = sender::coordinator_conn(cluster, node, req_deadline).and_then(|c| {
                        let mut v = c.version_of::<TxnOffsetCommitRequest>()?;
                        if !v2 {
                            // v5 would join the group to the transaction implicitly.
                            v = v.min(4);
                        }
                        let req = TxnOffsetCommitRequest {
                            transactional_id: id.clone(),
                            group_id: group.clone(),
                            producer_id: pid.id,
                            producer_epoch: pid.epoch,
                            generation_id: meta.generation_id,
                            member_id: meta.member_id.clone(),
                            group_instance_id: meta.group_instance_id.clone(),
                            topics,
                            ..Default::default()
                        };
                        c.request_at(&req, v, req_deadline)
                    });
                    self.with_txn(|t| match r {
                        Ok(resp) => t.on_answer(resp.first_error().map_or(0, |e| e.2)),
                        Err(e) => t.on_failure(&e),
                    });
                }
                Step::EndTxn { pid, commit } => {
                    let node = self.with_txn(|t| t.coordinator).unwrap_or(-1);
                    let v2 = self.with_txn(|t| t.v2);
                    let r = sender::coordinator_conn(cluster, node, req_deadline).and_then(|c| {
                        let mut v = c.version_of::<EndTxnRequest>()?;
                        if !v2 {
                            v = v.min(4);
                        }
                        let req = EndTxnRequest {
                            transactional_id: id.clone(),
                            producer_id: pid.id,
                            producer_epoch: pid.epoch,
                            committed: commit,
                            ..Default::default()
                        };
                        c.request_at(&req, v, req_deadline)
                    });
                    let mut st = self.shared.state.lock();
                    match r {
                        Ok(resp) => {
                            let new = Pid {
                                id: resp.producer_id,
                                epoch: resp.producer_epoch,
                            };
                            st.txn
                                .as_mut()
                                .expect("transactional")
                                .on_end(resp.error_code, new);
                            if resp.error_code == 0 && new.id >= 0 && new.epoch >= 0 {
                                // Protocol v2: the coordinator bumped the epoch.
                                st.set_pid(new);
                            }
                            let fatal = st
                                .txn
                                .as_ref()
                                .and_then(|t| t.error().filter(|e| e.is_fatal()).cloned());
                            if let Some(e) = fatal {
                                st.set_fatal(e.error);
                            }
                        }
                        Err(e) => st.txn.as_mut().expect("transactional").on_failure(&e),
                    }
                }
            }
        }
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
    /// Before a close: a transaction still open is aborted (as Java's close does), so
    /// that it does not hold back `read_committed` readers until `transaction.timeout.ms`;
    /// a commit already under way is carried on. Within `timeout`; the reports go to `f`.
    pub fn end_open_transaction(&self, timeout: Duration, f: &mut dyn FnMut(&[Report])) {
        if timeout.is_zero() || self.sender.lock().is_none() {
            return;
        }
        match self.transaction_state() {
            Some(TxnState::InTransaction | TxnState::AbortableError | TxnState::Aborting) => {
                let _ = self.abort_transaction_batches(timeout, f);
            }
            Some(TxnState::Committing) => {
                let _ = self.commit_transaction_batches(timeout, f);
            }
            _ => {}
        }
    }

    /// Ends an open transaction ([`Producer::end_open_transaction`]) and flushes, within
    /// `timeout` in all, then stops the sender; returns how many messages were dropped
    /// without a report.
    pub fn close(&self, timeout: Duration) -> usize {
        let mut dropped = 0;
        if self.sender.lock().is_some() && !timeout.is_zero() {
            let deadline = Instant::now() + timeout;
            self.end_open_transaction(timeout, &mut |_| {});
            let _ = self.flush(deadline.saturating_duration_since(Instant::now()), |_| {});
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
