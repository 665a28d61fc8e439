//! The producer's state: topics and their partitions, each with an open batch being
//! filled and a queue of closed batches; the messages and bytes not yet acknowledged;
//! the delivery reports waiting for the application; the producer id and epoch.
//!
//! Sans-I/O: nothing here touches a socket, a clock or a thread. The application's
//! sends call [`State::append`]; the sender thread calls the rest with the time, the
//! metadata snapshot and the brokers' answers.
//!
//! # Idempotence: what each answer leads to
//! Every batch of a partition gets its sequence numbers when it is closed, in order.
//! Up to `max.in.flight` (at most 5) batches of a partition are in flight at once, and as
//! many Produce requests per broker connection.
//!
//! | answer for a batch | what happens |
//! | --- | --- |
//! | none (success) | delivered: reports with offsets, status persisted |
//! | DUPLICATE_SEQUENCE_NUMBER (46) | delivered (the broker has it from an earlier try), offset -1 |
//! | retriable (NOT_LEADER, NETWORK_EXCEPTION, timeouts, lost connection, …) | the partition *drains*: nothing more is sent for it until its requests in flight are answered; then its failed batches go again, in sequence order, with the same producer id, epoch and sequences (the broker drops what it already has) |
//! | OUT_OF_ORDER_SEQUENCE_NUMBER (45) after an earlier batch of the partition failed in the same drain | retried as above: the earlier batch's retry closes the gap |
//! | OUT_OF_ORDER_SEQUENCE_NUMBER for the batch right after the last acknowledged one | the broker lost acknowledged records (unclean leader election): they cannot be restored; counted (`acknowledged_lost`), then recovery as below. Not fatal: the producer goes on, as franz-go's default does; an application that must stop on loss checks the counter |
//! | OUT_OF_ORDER_SEQUENCE_NUMBER otherwise, UNKNOWN_PRODUCER_ID (59) | recovery (KIP-360): once nothing is in flight, the epoch is bumped locally, every partition's sequences restart at 0, and the unacknowledged batches are stamped again (header and CRC only; never re-split or re-compressed) and sent in order |
//! | a batch that fails for good (message timeout, MESSAGE_TOO_LARGE, …) | its messages fail; since its sequences leave a gap, the epoch is bumped as above before anything more is sent |
//! | INVALID_PRODUCER_EPOCH (47), PRODUCER_FENCED (90), CLUSTER_AUTHORIZATION_FAILED (31), TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53) | fatal |
//! | InitProducerId: CLUSTER_AUTHORIZATION_FAILED, or a broker without InitProducerId or Produce v3 | fatal (the error says to set `enable.idempotence=false`) |
//!
//! A batch whose connection broke after it was written may be in the log. It is sent
//! again with its sequences, and the broker drops the copy; only if the epoch must be
//! bumped while such a batch is unresolved could the retry write it twice (the counter
//! `possible_duplicates` says how often that happened).

use super::partitioner::Partitioner;
use super::reports::{Ended, Reports};
use super::txn::Txn;
use super::{Message, Persisted, ProducerCounters, ProducerSettings, Report, TopicName};
use crate::clock::WallClock;
use crate::cluster::Snapshot;
use crate::error::{local, Error, Result};
use crate::protocol::error_codes;
use crate::protocol::Segments;
use crate::record::pool::Stash;
use crate::record::{
    restamp_segments, BatchBuilder, BatchOptions, Compression, RecordHeaderIn, RecordIn,
};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes of a v2 batch header.
const BATCH_OVERHEAD: usize = 61;

/// Whether a value handed over is kept by reference rather than copied: larger than
/// `message.copy.max.bytes`, into an uncompressed batch.
fn by_reference(settings: &ProducerSettings, v: &Bytes) -> bool {
    v.len() > settings.copy_max && settings.compression == Compression::None
}

pub fn now_ms() -> i64 {
    crate::ffi::sys::realtime_ns().div_euclid(1_000_000)
}

/// The producer id and epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pid {
    pub id: i64,
    pub epoch: i16,
}

impl Pid {
    pub const NONE: Pid = Pid { id: -1, epoch: -1 };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidState {
    /// Idempotence is off.
    Off,
    /// An InitProducerId request is needed (at start, or when the epoch runs out).
    NeedInit,
    Ready,
    /// The epoch must be bumped once nothing is in flight.
    NeedBump,
}

/// What a delivery report needs of one message.
#[derive(Debug, Clone, Copy)]
pub struct MsgMeta {
    pub opaque: usize,
    pub timestamp: i64,
}

/// A closed batch.
#[derive(Debug)]
pub struct Batch {
    pub topic: usize,
    pub partition: i32,
    pub data: Segments,
    pub msgs: Vec<MsgMeta>,
    /// Payload bytes counted against `queue.buffering.max.kbytes`.
    pub bytes: usize,
    pub base_seq: i32,
    /// The producer id and epoch the batch is stamped with.
    pub stamped: Pid,
    pub attempts: u32,
    /// When the first message times out (`message.timeout.ms`).
    pub deadline: Option<Instant>,
    pub retry_at: Option<Instant>,
    /// Written to a broker at least once with no answer known: it may be in the log.
    pub maybe_written: bool,
    /// The order in which the partition's batches were closed.
    pub closed: u64,
}

impl Batch {
    /// What a failure of this batch reports: possibly persisted once it may have been
    /// written, else not persisted.
    pub fn unacknowledged(&self) -> Persisted {
        if self.maybe_written {
            Persisted::Possibly
        } else {
            Persisted::Not
        }
    }
}

struct Open {
    builder: BatchBuilder,
    msgs: Vec<MsgMeta>,
    bytes: usize,
    linger_at: Instant,
    deadline: Option<Instant>,
}

#[derive(Default)]
pub struct Part {
    open: Option<Open>,
    /// Closed batches not in flight, in sequence order.
    pub queue: VecDeque<Batch>,
    pub in_flight: usize,
    next_seq: i32,
    /// A batch failed: nothing more is sent until `in_flight` is 0.
    pub draining: bool,
    /// The uncompressed size and record count of the last batch closed: the next one's
    /// capacity.
    last_batch: usize,
    last_count: usize,
    /// A batch was acknowledged since the epoch began and since the last failure. Until
    /// then one batch is in flight at a time: a broker without state for this producer
    /// accepts any first sequence, so a later batch could be written before an earlier
    /// one that failed (for example with NOT_LEADER while leadership settles).
    confirmed: bool,
    /// The sequence after the last acknowledged batch of this epoch.
    acked_next: Option<i32>,
    /// Batches closed so far.
    closed: u64,
    /// The leader the sender last found for the partition's batches.
    leader: Option<i32>,
}

/// A message sent before its topic's partitions were known: owned until it can be
/// placed in a batch.
struct Pending {
    partition: i32,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    /// A value handed over (`value` is then `None`).
    shared: Option<Bytes>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    timestamp: i64,
    opaque: usize,
    bytes: usize,
    deadline: Option<Instant>,
    /// When it was sent: only a metadata answer given after that may fail it.
    queued_at: Instant,
}

pub struct Topic {
    pub name: Arc<TopicName>,
    pub parts: Vec<Part>,
    pending: VecDeque<Pending>,
    /// Since when the cluster has said it does not know the topic.
    missing_since: Option<Instant>,
    /// When its metadata may be asked for again.
    pub refresh_at: Instant,
    refresh_delay: Duration,
    /// The sticky partition and until when (wall-clock ms) it holds.
    sticky: Option<(i32, i64)>,
    /// A partition with batches to send had no known leader at the last round.
    leaderless: bool,
}

impl Topic {
    pub fn known(&self) -> bool {
        !self.parts.is_empty()
    }
}

/// What one round of the sender does: requests to send (by leader, each a list of
/// batches with at most one per partition), topics to refresh, and whether to ask for a
/// producer id first.
pub struct Tick {
    pub send: Vec<(i32, Vec<Vec<Batch>>)>,
    pub refresh: Vec<String>,
    pub init_pid: bool,
}

/// Splits `batches` (in sequence order within each partition) into requests that hold
/// at most one batch of each partition, the k-th batch of a partition in the k-th.
pub fn one_batch_per_partition(batches: Vec<Batch>) -> Vec<Vec<Batch>> {
    let mut rounds: Vec<Vec<Batch>> = Vec::new();
    let mut seen: HashMap<(usize, i32), usize> = HashMap::new();
    for b in batches {
        let k = seen.entry((b.topic, b.partition)).or_insert(0);
        if rounds.len() <= *k {
            rounds.push(Vec::new());
        }
        rounds[*k].push(b);
        *k += 1;
    }
    rounds
}

/// A partition's part of a Produce answer.
#[derive(Debug, Clone, Copy)]
pub struct PartitionAnswer<'a> {
    pub error_code: i16,
    pub error_message: Option<&'a str>,
    pub base_offset: i64,
    pub log_append_time: i64,
}

/// The time for one send: read once, and only when the send needs it (a new topic, a
/// new batch, a message that waits for metadata). Most sends join an open batch and
/// never read the clock.
pub struct Clock(Option<Instant>);

impl Clock {
    /// Reads the clock on first use.
    pub fn lazy() -> Clock {
        Clock(None)
    }

    /// A clock that says `now` (the simulator's time).
    pub fn at(now: Instant) -> Clock {
        Clock(Some(now))
    }

    pub fn now(&mut self) -> Instant {
        *self.0.get_or_insert_with(Instant::now)
    }
}

/// What [`State::append`] did.
pub enum Append {
    /// Queued; `wake` when the sender should look now (a new batch to time, or one
    /// ready to go, or metadata to fetch).
    Queued { wake: bool },
    /// The topic's partitions are not known yet: call again with the metadata snapshot.
    NeedSnapshot,
    /// The queue is full; the error says which limit.
    Full(Error),
}

pub struct State {
    pub(crate) topics: Vec<Topic>,
    by_name: HashMap<String, usize>,
    /// Messages and payload bytes queued or in flight, not yet acknowledged.
    msgs: usize,
    bytes: usize,
    pub(crate) reports: Reports,
    pub fatal: Option<Error>,
    pub fatal_reported: bool,
    /// Why the brokers last refused the client (authentication, TLS), if the last
    /// metadata refresh or producer id request failed so: a message that times out
    /// waiting for metadata says so.
    pub refused: Option<Error>,
    pub closing: bool,
    pub flush_requested: u32,
    /// A message was refused because the queue is full (messages or bytes not yet
    /// acknowledged): the sender closes every open batch on its next round, whatever
    /// its linger (the Java client's rule when its buffer is exhausted), so the space
    /// that lingering batches hold is freed as fast as the broker acknowledges.
    pub starved: bool,
    /// Counts the changes a send waiting for queue space waits for: messages released
    /// (acknowledged, failed, expired, purged) and the producer turning fatal. The sender
    /// wakes waiting sends only when it moved: woken on every round, a blocked send
    /// refused again, woke the sender again, and the two threads took turns thousands of
    /// times a second.
    pub space_events: u64,
    pub purge_requested: u32,
    pub pid: Pid,
    pub pid_state: PidState,
    pub counters: ProducerCounters,
    pub possible_duplicates: u64,
    /// When poll next applies message time-outs.
    pub next_expiry_check: Instant,
    /// The topic of the last send.
    last_topic: usize,
    rng: u64,
    /// The earliest retry back-off that holds a batch back which could otherwise go
    /// (set by the last `collect`).
    retry_due: Option<Instant>,
    idempotence: bool,
    /// The transaction's state, for a transactional producer.
    pub txn: Option<Txn>,
    /// Buffers of acknowledged batches, for new batches to be written into: a fresh
    /// buffer faults its pages in as it fills, and freeing a large one hands them back
    /// to the system. At most [`SPARE_BUFFERS`] of them and [`SPARE_BYTES`] in all,
    /// each no larger than `batch.size` and the batch header; let go once nothing was
    /// queued for [`SPARE_IDLE`].
    spare: Stash,
    /// When messages were last seen queued or in flight (by `tick`).
    busy_at: Instant,
    /// The largest buffer kept there: `batch.size` and the batch header.
    spare_max: usize,
    /// The buffer of reports last served, for the report queue to use next (with those
    /// reports still in it).
    report_spare: Vec<Report>,
    /// Leaders whose connection had `max.in.flight` Produce requests in flight when the
    /// sender last went to wait (see [`note_full_leaders`](Self::note_full_leaders)).
    full_leaders: Vec<i32>,
    /// The clock messages are stamped with (read under the state's lock).
    wall: WallClock,
}

/// The most reports whose buffer is kept for the report queue.
const SPARE_REPORTS: usize = 16 * 1024;

/// How many buffers of acknowledged batches a producer keeps for its next batches:
/// enough for a batch in flight and one filling on each of 16 partitions.
const SPARE_BUFFERS: usize = 32;

/// How much memory those buffers may hold in all (a large `batch.size` does not make
/// the producer keep more).
const SPARE_BYTES: usize = 16 << 20;

/// How long a producer with nothing queued keeps those buffers.
const SPARE_IDLE: Duration = Duration::from_secs(2);

impl State {
    pub fn new(settings: &ProducerSettings) -> State {
        let seed = now_ms() as u64 ^ (std::process::id() as u64).rotate_left(32);
        State {
            topics: Vec::new(),
            by_name: HashMap::new(),
            msgs: 0,
            bytes: 0,
            reports: Reports::new(),
            fatal: None,
            fatal_reported: false,
            refused: None,
            closing: false,
            flush_requested: 0,
            starved: false,
            space_events: 0,
            purge_requested: 0,
            pid: Pid::NONE,
            pid_state: if settings.idempotence {
                PidState::NeedInit
            } else {
                PidState::Off
            },
            counters: ProducerCounters::default(),
            possible_duplicates: 0,
            next_expiry_check: Instant::now(),
            last_topic: 0,
            rng: seed | 1,
            retry_due: None,
            idempotence: settings.idempotence,
            txn: settings.transactional_id.as_deref().map(Txn::new),
            spare: Stash::new(SPARE_BUFFERS, SPARE_BYTES),
            busy_at: Instant::now(),
            spare_max: settings.batch_size.saturating_add(BATCH_OVERHEAD),
            report_spare: Vec::new(),
            full_leaders: Vec::new(),
            wall: WallClock::new(),
        }
    }

    /// Keeps the buffer of a batch that is done with, when nothing else holds it and
    /// there is room (see [`State::spare`]).
    fn keep_buffer(&mut self, data: Segments) {
        if let Some(buf) = data.into_vec() {
            self.spare.keep(buf, 0..=self.spare_max);
        }
    }

    /// A kept buffer for a new batch (empty when none is kept).
    fn spare_buffer(&mut self) -> Vec<u8> {
        self.spare.take(|_| true).unwrap_or_default()
    }

    /// Messages queued or in flight, not yet acknowledged or failed.
    pub fn outstanding(&self) -> usize {
        self.msgs
    }

    fn random(&mut self) -> u32 {
        // xorshift64*: partition choice needs spread, not secrecy.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    /// The index of the topic `name` when it was sent to before. A name not sent to
    /// before is checked here (refused when it is no topic's name), so that a send is
    /// refused for its topic before anything else, and registered by
    /// [`register_topic`](Self::register_topic) once the send is taken.
    fn find_topic(&mut self, name: &str) -> Result<Option<usize>> {
        // Most sends go to the topic of the send before: a comparison, not a hash.
        if let Some(t) = self.topics.get(self.last_topic) {
            if t.name.name == name {
                return Ok(Some(self.last_topic));
            }
        }
        if let Some(&i) = self.by_name.get(name) {
            self.last_topic = i;
            return Ok(Some(i));
        }
        if name.is_empty() || name.contains('\0') {
            return Err(Error::invalid_arg(format!(
                "invalid topic name '{}'",
                name.escape_default()
            )));
        }
        Ok(None)
    }

    /// Registers the topic `name` (checked by [`find_topic`](Self::find_topic)).
    fn register_topic(
        &mut self,
        name: &str,
        clock: &mut Clock,
        settings: &ProducerSettings,
    ) -> usize {
        let i = self.topics.len();
        self.topics.push(Topic {
            name: TopicName::new(name),
            parts: Vec::new(),
            pending: VecDeque::new(),
            missing_since: None,
            refresh_at: clock.now(),
            refresh_delay: settings.retry_backoff,
            sticky: None,
            leaderless: false,
        });
        self.by_name.insert(name.to_owned(), i);
        self.last_topic = i;
        i
    }

    /// Learns a topic's partition count from the snapshot (partitions only grow).
    fn learn_partitions(&mut self, t: usize, snapshot: &Snapshot) {
        let Some(e) = snapshot.topic(&self.topics[t].name.name) else {
            return;
        };
        if e.meta.error_code != 0 {
            return;
        }
        let n = e.meta.partitions.len();
        if n > self.topics[t].parts.len() {
            self.topics[t].refresh_delay = Duration::from_millis(100);
        }
        let parts = &mut self.topics[t].parts;
        while parts.len() < n {
            parts.push(Part::default());
        }
    }

    /// Queues one message (the application's send).
    pub fn append(
        &mut self,
        settings: &ProducerSettings,
        m: &Message<'_>,
        snapshot: Option<&Snapshot>,
        clock: &mut Clock,
    ) -> Result<Append> {
        self.append_value(settings, m, None, snapshot, clock)
    }

    /// As [`append`](Self::append) with the value handed over (`m.value` is not read):
    /// kept by reference when larger than `copy_max` and batches are uncompressed. When
    /// this does not queue the message, no reference to `value` is kept.
    pub fn append_shared(
        &mut self,
        settings: &ProducerSettings,
        m: &Message<'_>,
        value: &Bytes,
        snapshot: Option<&Snapshot>,
        clock: &mut Clock,
    ) -> Result<Append> {
        self.append_value(settings, m, Some(value), snapshot, clock)
    }

    fn append_value(
        &mut self,
        settings: &ProducerSettings,
        m: &Message<'_>,
        shared: Option<&Bytes>,
        snapshot: Option<&Snapshot>,
        clock: &mut Clock,
    ) -> Result<Append> {
        let value = match shared {
            Some(v) => Some(&v[..]),
            None => m.value,
        };
        let found = self.find_topic(m.topic)?;
        if let Some(f) = &self.fatal {
            return Err(Error::new(
                local::FATAL,
                format!("the producer hit a fatal error: {}", f.message),
            ));
        }
        if self.closing {
            return Err(Error::new(local::DESTROY, "the producer is closing"));
        }
        if let Some(txn) = &self.txn {
            txn.check_send()?;
        }
        let size = payload_size(m.key, value, m.headers);
        let rec = RecordIn {
            key: m.key,
            value,
            headers: m.headers,
            timestamp: None,
        };
        let ts = match m.timestamp {
            Some(ts) => ts,
            None => self.wall.now_ms(),
        };
        // The exact size only when a bound on it is over the limit: a record takes at
        // most 36 bytes besides its key, value and headers, and 10 per header.
        let bound = size + 36 + 10 * m.headers.len() + BATCH_OVERHEAD;
        let alone = if bound <= settings.message_max_bytes {
            0
        } else {
            BatchBuilder::first_record_size(&rec) + BATCH_OVERHEAD
        };
        if alone > settings.message_max_bytes {
            return Err(Error::new(
                10,
                format!(
                    "{}: message of {alone} bytes (with batch overhead) exceeds \
                     message.max.bytes ({})",
                    m.topic, settings.message_max_bytes
                ),
            ));
        }
        if self.msgs >= settings.queue_max_messages {
            self.starved = true;
            return Ok(Append::Full(Error::new(
                local::QUEUE_FULL,
                format!(
                    "queue full: {} messages not yet acknowledged \
                     (queue.buffering.max.messages)",
                    self.msgs
                ),
            )));
        }
        if self.msgs > 0 && self.bytes + size > settings.queue_max_bytes {
            self.starved = true;
            return Ok(Append::Full(Error::new(
                local::QUEUE_FULL,
                format!(
                    "queue full: {} KiB not yet acknowledged (queue.buffering.max.kbytes)",
                    self.bytes / 1024
                ),
            )));
        }
        if self.reports.len() >= settings.reports_max {
            return Ok(Append::Full(Error::new(
                local::QUEUE_FULL,
                format!(
                    "queue full: {} delivery reports wait for kc_producer_poll \
                     (delivery.report.max.messages)",
                    self.reports.len()
                ),
            )));
        }
        let t = match found {
            Some(t) => t,
            None => self.register_topic(m.topic, clock, settings),
        };
        if !self.topics[t].known() {
            let Some(snapshot) = snapshot else {
                return Ok(Append::NeedSnapshot);
            };
            self.learn_partitions(t, snapshot);
            if self.topics[t].known() {
                // Earlier messages waited for the partitions: they go first.
                self.place_pending(settings, t, clock.now());
            }
        }
        if !self.topics[t].known() {
            self.topics[t].pending.push_back(Pending {
                partition: m.partition,
                key: m.key.map(<[u8]>::to_vec),
                // A value handed over that will be copied is copied now, so that it is
                // let go before the send returns, as for a topic already known.
                value: match shared {
                    Some(v) if by_reference(settings, v) => None,
                    _ => value.map(<[u8]>::to_vec),
                },
                shared: shared.filter(|v| by_reference(settings, v)).cloned(),
                headers: m
                    .headers
                    .iter()
                    .map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec)))
                    .collect(),
                timestamp: ts,
                opaque: m.opaque,
                bytes: size,
                deadline: settings.message_timeout.map(|d| clock.now() + d),
                queued_at: clock.now(),
            });
            self.msgs += 1;
            self.bytes += size;
            return Ok(Append::Queued { wake: true });
        }
        // Sticky partitions switch on wall-clock time: the message's own when the
        // producer stamped it, so no second clock read.
        let wall_ms = if m.timestamp.is_some() {
            self.wall.now_ms()
        } else {
            ts
        };
        let p = self.choose_partition(settings, t, m.partition, m.key, wall_ms)?;
        let wake = self.append_to(
            settings, t, p, &rec, shared, ts, m.opaque, size, None, clock,
        )?;
        self.msgs += 1;
        self.bytes += size;
        Ok(Append::Queued { wake })
    }

    fn choose_partition(
        &mut self,
        settings: &ProducerSettings,
        t: usize,
        asked: i32,
        key: Option<&[u8]>,
        wall_ms: i64,
    ) -> Result<i32> {
        let n = self.topics[t].parts.len() as i32;
        if asked >= 0 {
            if asked >= n {
                return Err(Error::new(
                    local::UNKNOWN_PARTITION,
                    format!(
                        "partition {asked} does not exist in topic '{}' ({n} partitions)",
                        self.topics[t].name.name
                    ),
                ));
            }
            return Ok(asked);
        }
        if let Some(custom) = &settings.custom_partitioner {
            let p = (custom.0)(&self.topics[t].name.name, key, n);
            if !(0..n).contains(&p) {
                return Err(Error::new(
                    local::UNKNOWN_PARTITION,
                    format!(
                        "the partitioner callback chose partition {p} of topic '{}' \
                         ({n} partitions)",
                        self.topics[t].name.name
                    ),
                ));
            }
            return Ok(p);
        }
        let part: Partitioner = settings.partitioner;
        let sticky_ms = settings.sticky_linger.as_millis() as u64;
        if part.is_sticky(key, sticky_ms) {
            if let Some((p, until)) = self.topics[t].sticky {
                if wall_ms < until && p < n {
                    return Ok(p);
                }
            }
            let p = (self.random() % n as u32) as i32;
            let linger_ms = settings.sticky_linger.as_millis() as i64;
            self.topics[t].sticky = Some((p, wall_ms.saturating_add(linger_ms)));
            return Ok(p);
        }
        let r = self.random();
        Ok(part.partition(key, n, || (r % n as u32) as i32))
    }

    /// Encodes one record into partition `p`'s open batch, closing the batch first when
    /// the record would not fit. Returns whether the sender should be woken.
    #[allow(clippy::too_many_arguments)]
    fn append_to(
        &mut self,
        settings: &ProducerSettings,
        t: usize,
        p: i32,
        rec: &RecordIn<'_>,
        shared: Option<&Bytes>,
        ts: i64,
        opaque: usize,
        size: usize,
        deadline: Option<Option<Instant>>,
        clock: &mut Clock,
    ) -> Result<bool> {
        let limit = settings.batch_size.min(settings.message_max_bytes);
        let mut wake = false;
        // A large value handed over goes into an uncompressed batch by reference; any
        // other is copied (and a handed-over one dropped by the caller, when `shared` is).
        let by_ref = shared.filter(|v| by_reference(settings, v));
        // Most records go into an open batch that stays open after them: one lookup of
        // the partition. Otherwise (no open batch, a full one, a record that does not
        // fit) the steps below.
        if let Some(open) = self.topics[t].parts[p as usize].open.as_mut() {
            if open.msgs.len() + 1 < settings.batch_num_messages
                && open.builder.append_within(rec, ts, limit, by_ref)
            {
                open.msgs.push(MsgMeta {
                    opaque,
                    timestamp: ts,
                });
                open.bytes += size;
                return Ok(false);
            }
        }
        for attempt in 0..2 {
            let part = &self.topics[t].parts[p as usize];
            if part
                .open
                .as_ref()
                .is_some_and(|o| o.msgs.len() >= settings.batch_num_messages)
            {
                self.close_open(settings, t, p)?;
                wake = true;
            }
            let part = &mut self.topics[t].parts[p as usize];
            // Room for twice the partition's last batch, so that it rarely grows (pages
            // not written to are not resident).
            let capacity = match part.last_batch {
                0 => settings.batch_size.min(64 * 1024),
                n => (2 * n).clamp(4096, settings.batch_size),
            };
            let count = 2 * part.last_count;
            let (spare, list) = if part.open.is_some() {
                (Vec::new(), Vec::new())
            } else {
                (self.spare_buffer(), self.reports.list(count))
            };
            let part = &mut self.topics[t].parts[p as usize];
            let open = part.open.get_or_insert_with(|| {
                wake = true;
                // A new batch: its linger, and its first message's time-out (`deadline`
                // when the message waited for metadata), start now.
                let now = clock.now();
                Open {
                    builder: BatchBuilder::with_buffer(spare, capacity),
                    msgs: list,
                    bytes: 0,
                    linger_at: now + settings.linger,
                    deadline: deadline.unwrap_or_else(|| settings.message_timeout.map(|d| now + d)),
                }
            });
            // The second attempt is on a new, empty batch: it takes the record whatever
            // its size (the message.max.bytes check was made at send).
            let within = if attempt == 0 { limit } else { usize::MAX };
            if open.builder.append_within(rec, ts, within, by_ref) {
                break;
            }
            self.close_open(settings, t, p)?;
            wake = true;
        }
        let open = self.topics[t].parts[p as usize]
            .open
            .as_mut()
            .expect("the record was just appended");
        open.msgs.push(MsgMeta {
            opaque,
            timestamp: ts,
        });
        open.bytes += size;
        if open.msgs.len() >= settings.batch_num_messages {
            self.close_open(settings, t, p)?;
            wake = true;
        }
        Ok(wake && !self.waits_for_room(t, p))
    }

    /// Whether partition `p`'s batches wait for room on their leader's connection, as the
    /// sender last saw it: a batch made ready there then needs no wake-up, as the answer
    /// to one of the requests in flight on that connection wakes the sender. (At
    /// linger.ms=0 and a few thousand messages a second, waking it for each message cost
    /// more CPU than the sends.) A transactional producer is always woken: a partition's
    /// first batch in a transaction makes it add the partition.
    fn waits_for_room(&self, t: usize, p: i32) -> bool {
        self.txn.is_none()
            && self.topics[t].parts[p as usize]
                .leader
                .is_some_and(|l| self.full_leaders.contains(&l))
    }

    /// The leader the sender last found for `topic`'s partition `p` (tests check the
    /// wake-ups against it).
    pub fn leader_seen(&self, topic: &str, p: i32) -> Option<i32> {
        self.part_named(topic, p)?.leader
    }

    /// Messages in `topic`'s partition `p`'s open batch (tests tell from it whether a
    /// message started a batch).
    pub fn open_len(&self, topic: &str, p: i32) -> usize {
        self.part_named(topic, p)
            .and_then(|part| part.open.as_ref())
            .map_or(0, |o| o.msgs.len())
    }

    fn part_named(&self, topic: &str, p: i32) -> Option<&Part> {
        let t = *self.by_name.get(topic)?;
        self.topics[t].parts.get(usize::try_from(p).ok()?)
    }

    /// The sender, before it waits: `full` are the leaders whose connection has
    /// `max.in.flight` Produce requests in flight. Each of them answers (or fails) one
    /// of those requests later, which wakes the sender.
    pub fn note_full_leaders(&mut self, full: impl IntoIterator<Item = i32>) {
        self.full_leaders.clear();
        self.full_leaders.extend(full);
    }

    /// Closes partition `p`'s open batch: sequences assigned, compressed, stamped.
    fn close_open(&mut self, settings: &ProducerSettings, t: usize, p: i32) -> Result<()> {
        let idempotence = self.idempotence;
        let pid = self.pid;
        let part = &mut self.topics[t].parts[p as usize];
        let Some(open) = part.open.take() else {
            return Ok(());
        };
        part.last_batch = open.builder.size();
        part.last_count = open.msgs.len();
        let count = open.msgs.len() as i32;
        let base_seq = if idempotence {
            let s = part.next_seq;
            part.next_seq = next_sequence(s, count);
            s
        } else {
            -1
        };
        let opts = BatchOptions {
            compression: settings.compression,
            compression_level: settings.compression_level,
            producer_id: pid.id,
            producer_epoch: pid.epoch,
            base_sequence: base_seq,
            transactional: self.txn.is_some(),
            ..Default::default()
        };
        let data = match open.builder.finish_segments(&opts) {
            Ok(d) => d,
            Err(e) => {
                let err = Error::new(
                    local::BAD_COMPRESSION,
                    format!(
                        "{}/{p}: encoding the batch failed: {e}",
                        self.topics[t].name.name
                    ),
                );
                let ended = Ended::failed(Arc::new(err.clone()), Persisted::Not);
                self.report_batch(t, p, ended, open.msgs, open.bytes);
                return Err(err);
            }
        };
        let part = &mut self.topics[t].parts[p as usize];
        part.closed += 1;
        let closed = part.closed;
        part.queue.push_back(Batch {
            closed,
            topic: t,
            partition: p,
            data,
            msgs: open.msgs,
            bytes: open.bytes,
            base_seq,
            stamped: pid,
            attempts: 0,
            deadline: open.deadline,
            retry_at: None,
            maybe_written: false,
        });
        self.counters.batches += 1;
        Ok(())
    }

    /// Places messages that waited for their topic's partitions; fails those of topics
    /// the cluster has not known for `topic.metadata.propagation.max.ms`.
    pub fn learn(&mut self, settings: &ProducerSettings, snapshot: &Snapshot, now: Instant) {
        for t in 0..self.topics.len() {
            self.learn_partitions(t, snapshot);
            let missing = snapshot
                .topic(&self.topics[t].name.name)
                .is_some_and(|e| e.meta.error_code != 0);
            if !missing {
                self.topics[t].missing_since = None;
            } else if self.topics[t].missing_since.is_none() {
                self.topics[t].missing_since = Some(now);
            }
            self.fail_refused_pending(t, snapshot);
            let gone = self.topics[t]
                .missing_since
                .is_some_and(|s| now.duration_since(s) >= settings.propagation_max);
            if gone && self.topics[t].known() {
                // The topic was deleted (and not created again): what waits for it fails
                // now rather than at its message time-out.
                let e = Arc::new(Error::new(
                    local::UNKNOWN_TOPIC,
                    format!(
                        "topic '{}' no longer exists in the cluster",
                        self.topics[t].name.name
                    ),
                ));
                self.fail_topic_queued(t, &e);
                continue;
            }
            if self.topics[t].pending.is_empty() {
                continue;
            }
            if self.topics[t].known() {
                self.place_pending(settings, t, now);
            } else if self.topics[t]
                .missing_since
                .is_some_and(|s| now.duration_since(s) >= settings.propagation_max)
            {
                let pending = std::mem::take(&mut self.topics[t].pending);
                let name = self.topics[t].name.clone();
                for m in pending {
                    let e = Error::new(
                        local::UNKNOWN_TOPIC,
                        format!("topic '{}' is not known to the cluster", name.name),
                    );
                    self.report_one(&name, m.partition, m.timestamp, m.opaque, m.bytes, e);
                }
            }
        }
    }

    /// Fails the messages waiting for topic `t`'s partitions when the cluster answered,
    /// after they were sent, with an error that waiting cannot change: the topic is not
    /// retriable-missing but refused, TOPIC_AUTHORIZATION_FAILED (the user may not describe
    /// it) or INVALID_TOPIC_EXCEPTION. They fail with the broker's error at once rather than
    /// with _UNKNOWN_TOPIC after `topic.metadata.propagation.max.ms`, as librdkafka fails
    /// them with the topic's error. Messages sent after that answer wait for the next one
    /// (the topic stays wanted for a refresh while messages wait): permissions granted in
    /// the meantime are seen.
    fn fail_refused_pending(&mut self, t: usize, snapshot: &Snapshot) {
        let Some(entry) = snapshot.topic(&self.topics[t].name.name) else {
            return;
        };
        let code = entry.meta.error_code;
        if code == 0 || error_codes::is_retriable(code) || self.topics[t].pending.is_empty() {
            return;
        }
        let answered = entry.fetched_at;
        let name = self.topics[t].name.clone();
        let (refused, waiting): (VecDeque<Pending>, VecDeque<Pending>) =
            std::mem::take(&mut self.topics[t].pending)
                .into_iter()
                .partition(|m| m.queued_at <= answered);
        self.topics[t].pending = waiting;
        for m in refused {
            let e = Error::kafka(code, format!("topic '{}'", name.name));
            self.report_one(&name, m.partition, m.timestamp, m.opaque, m.bytes, e);
        }
    }

    /// Moves the messages that waited for topic `t`'s partitions into batches, in the
    /// order they were sent.
    fn place_pending(&mut self, settings: &ProducerSettings, t: usize, now: Instant) {
        let wall_ms = self.wall.now_ms();
        let mut clock = Clock::at(now);
        let pending = std::mem::take(&mut self.topics[t].pending);
        for m in pending {
            let headers: Vec<RecordHeaderIn<'_>> = m
                .headers
                .iter()
                .map(|(k, v)| RecordHeaderIn {
                    key: k,
                    value: v.as_deref(),
                })
                .collect();
            let rec = RecordIn {
                key: m.key.as_deref(),
                value: m.shared.as_deref().or(m.value.as_deref()),
                headers: &headers,
                timestamp: None,
            };
            let placed = self
                .choose_partition(settings, t, m.partition, m.key.as_deref(), wall_ms)
                .and_then(|p| {
                    self.append_to(
                        settings,
                        t,
                        p,
                        &rec,
                        m.shared.as_ref(),
                        m.timestamp,
                        m.opaque,
                        m.bytes,
                        Some(m.deadline),
                        &mut clock,
                    )
                    .map(|_| ())
                });
            if let Err(e) = placed {
                let name = self.topics[t].name.clone();
                self.report_one(&name, m.partition, m.timestamp, m.opaque, m.bytes, e);
            }
        }
    }

    /// Topics whose metadata the sender should ask for now: partitions still unknown, or
    /// a partition in `needs` (no leader known).
    pub fn topics_to_refresh(&mut self, now: Instant, needs: &[usize]) -> Vec<String> {
        let mut out = Vec::new();
        for (i, t) in self.topics.iter_mut().enumerate() {
            let want = (!t.pending.is_empty()) || needs.contains(&i);
            if want && t.refresh_at <= now {
                out.push(t.name.name.clone());
            }
        }
        out
    }

    /// A refresh of `names` was sent: the next waits (doubling up to the maximum).
    pub fn refreshed(&mut self, names: &[String], now: Instant, max: Duration) {
        for n in names {
            if let Some(&i) = self.by_name.get(n) {
                let t = &mut self.topics[i];
                t.refresh_at = now + t.refresh_delay;
                t.refresh_delay = (t.refresh_delay * 2).min(max);
            }
        }
    }

    /// Closes open batches whose linger has passed (all of them while flushing).
    pub fn close_lingered(&mut self, settings: &ProducerSettings, now: Instant) {
        let flushing = self.flush_requested > 0 || self.closing || self.starved;
        self.starved = false;
        for t in 0..self.topics.len() {
            for p in 0..self.topics[t].parts.len() {
                let part = &self.topics[t].parts[p];
                // A batch whose partition cannot send now stays open and keeps filling
                // (as librdkafka's do under back-pressure) rather than queueing as a
                // string of small batches, each needing a request of its own.
                let due = part.open.as_ref().is_some_and(|o| {
                    flushing || (o.linger_at <= now && self.can_send_now(part, settings))
                });
                if due {
                    // Encoding failed: close_open reported the batch's messages.
                    let _ = self.close_open(settings, t, p as i32);
                }
            }
        }
    }

    /// Whether a batch closed now in this partition could be sent at once: nothing queued
    /// before it, not draining, and a free in-flight slot.
    fn can_send_now(&self, part: &Part, settings: &ProducerSettings) -> bool {
        let limit = if self.idempotence && !part.confirmed {
            1
        } else {
            settings.max_in_flight
        };
        part.queue.is_empty() && !part.draining && part.in_flight < limit
    }

    /// Fails messages whose `message.timeout.ms` has passed and that are not in flight.
    pub fn expire(&mut self, now: Instant) {
        for t in 0..self.topics.len() {
            let name = self.topics[t].name.clone();
            let mut expired = Vec::new();
            let pending = std::mem::take(&mut self.topics[t].pending);
            for m in pending {
                if m.deadline.is_some_and(|d| d <= now) {
                    expired.push(m);
                } else {
                    self.topics[t].pending.push_back(m);
                }
            }
            for m in expired {
                let why = match &self.refused {
                    Some(r) => format!(" ({})", r.message),
                    None => String::new(),
                };
                let e = Error::new(
                    local::MSG_TIMED_OUT,
                    format!(
                        "{}: message timed out waiting for the topic's metadata{why}",
                        name.name
                    ),
                );
                self.report_one(&name, m.partition, m.timestamp, m.opaque, m.bytes, e);
            }
            for p in 0..self.topics[t].parts.len() {
                if let Some(o) = &self.topics[t].parts[p].open {
                    if o.deadline.is_some_and(|d| d <= now) {
                        let e = Arc::new(Error::new(
                            local::MSG_TIMED_OUT,
                            format!("{}/{p}: message timed out before it was sent", name.name),
                        ));
                        self.fail_open(t, p, &e);
                    }
                }
                let part = &mut self.topics[t].parts[p];
                if part
                    .queue
                    .iter()
                    .any(|b| b.deadline.is_some_and(|d| d <= now))
                {
                    let (gone, kept): (Vec<Batch>, Vec<Batch>) = part
                        .queue
                        .drain(..)
                        .partition(|b| b.deadline.is_some_and(|d| d <= now));
                    part.queue = kept.into();
                    for b in gone {
                        let status = b.unacknowledged();
                        let e = Error::new(
                            local::MSG_TIMED_OUT,
                            format!("message timed out after {} attempts", b.attempts),
                        );
                        self.fail_batch(b, e, status);
                    }
                }
            }
        }
    }

    /// Takes the batches to send now, by partition leader. `leader` maps a topic and
    /// partition to its leader (None when unknown: the topic goes into `needs`); `room`
    /// says how many more requests a leader's connection takes now
    /// (`max.in.flight.requests.per.connection` less those in flight): no partition gives
    /// more batches than that, so they make at most that many requests.
    pub fn collect(
        &mut self,
        settings: &ProducerSettings,
        now: Instant,
        mut leader: impl FnMut(&str, i32) -> Option<i32>,
        mut room: impl FnMut(i32) -> usize,
        needs: &mut Vec<usize>,
    ) -> HashMap<i32, Vec<Batch>> {
        let mut out: HashMap<i32, Vec<Batch>> = HashMap::new();
        self.retry_due = None;
        for t in &mut self.topics {
            t.leaderless = false;
        }
        if matches!(self.pid_state, PidState::NeedInit | PidState::NeedBump) {
            return out;
        }
        if self.txn.as_ref().is_some_and(|t| !t.may_send()) {
            return out;
        }
        let mut retry_due: Option<Instant> = None;
        let pid = self.pid;
        let idempotence = self.idempotence;
        let txn = &mut self.txn;
        for (ti, t) in self.topics.iter_mut().enumerate() {
            for (p, part) in t.parts.iter_mut().enumerate() {
                if part.queue.is_empty() {
                    continue;
                }
                if part.draining {
                    if part.in_flight > 0 {
                        continue;
                    }
                    part.draining = false;
                }
                let Some(l) = leader(&t.name.name, p as i32) else {
                    t.leaderless = true;
                    if !needs.contains(&ti) {
                        needs.push(ti);
                    }
                    continue;
                };
                part.leader = Some(l);
                if let Some(txn) = txn.as_mut() {
                    // Transaction protocol v1: not before the partition is in the
                    // transaction.
                    if !txn.partition_ready(&t.name.name, p as i32) {
                        continue;
                    }
                }
                let limit = if idempotence && !part.confirmed {
                    1
                } else {
                    settings.max_in_flight
                };
                let room = room(l);
                let mut taken = 0;
                while part.in_flight < limit && taken < room {
                    let Some(b) = part.queue.front() else { break };
                    if let Some(r) = b.retry_at.filter(|&r| r > now) {
                        retry_due = Some(retry_due.map_or(r, |d: Instant| d.min(r)));
                        break;
                    }
                    let mut b = part.queue.pop_front().expect("front exists");
                    if idempotence && b.stamped != pid {
                        b.data = restamp_segments(&b.data, pid.id, pid.epoch, b.base_seq);
                        b.stamped = pid;
                    }
                    if b.attempts > 0 {
                        self.counters.retried_batches += 1;
                    }
                    b.attempts += 1;
                    part.in_flight += 1;
                    taken += 1;
                    out.entry(l).or_default().push(b);
                }
            }
        }
        self.retry_due = retry_due;
        out
    }

    /// One round of the sender: places waiting messages, fails expired ones, closes
    /// lingered batches, bumps the epoch when due, and takes what can be sent now,
    /// grouped by leader into requests of at most one batch per partition (Kafka takes
    /// no more, from Produce v3). `init_pid`: an InitProducerId request is due (nothing
    /// is sent until it is answered).
    /// `in_flight(leader)`: the Produce requests in flight to a leader (at most
    /// `max.in.flight.requests.per.connection`, as librdkafka and the Java client keep).
    pub fn tick(
        &mut self,
        settings: &ProducerSettings,
        snapshot: &Snapshot,
        now: Instant,
        pid_retry_at: Instant,
        in_flight: impl Fn(i32) -> usize,
    ) -> Tick {
        self.learn(settings, snapshot, now);
        self.expire(now);
        self.close_lingered(settings, now);
        if self.msgs > 0 {
            self.busy_at = now;
        } else if now.saturating_duration_since(self.busy_at) >= SPARE_IDLE {
            self.spare.clear();
            self.reports.clear_spare();
        }
        let mut init_pid = false;
        match self.pid_state {
            // A transactional producer's id comes from init_transactions, and a new
            // epoch from the transaction coordinator (the transaction is aborted first).
            PidState::NeedBump if self.txn.is_some() => {
                let txn = self.txn.as_mut().expect("transactional");
                txn.bump_needed = true;
                txn.message_failed(&Error::new(
                    local::STATE,
                    "a partition's sequence numbers have a gap (the broker lost or \
                     refused a batch): the epoch must be bumped",
                ));
            }
            PidState::NeedInit if self.txn.is_some() => {}
            PidState::NeedInit if now >= pid_retry_at && self.in_flight() == 0 => init_pid = true,
            PidState::NeedBump if self.in_flight() == 0 => {
                if self.pid.epoch < i16::MAX - 1 && self.pid.id >= 0 {
                    let pid = Pid {
                        id: self.pid.id,
                        epoch: self.pid.epoch + 1,
                    };
                    self.set_pid(pid);
                    self.counters.epoch_bumps += 1;
                } else {
                    self.pid_state = PidState::NeedInit;
                    init_pid = now >= pid_retry_at;
                }
            }
            _ => {}
        }
        let mut needs = Vec::new();
        let mut send = Vec::new();
        if !init_pid && self.fatal.is_none() {
            let by_leader = self.collect(
                settings,
                now,
                |topic, p| {
                    // Stale leadership (an answer said the leader moved, or the entry
                    // outlived metadata.max.age.ms) is no leader: the batches wait for
                    // the refresh this asks for.
                    let e = snapshot.topic(topic)?;
                    if e.is_stale(settings.metadata_max_age) {
                        return None;
                    }
                    let l = e.partition(p)?.leader;
                    (l >= 0).then_some(l)
                },
                |l| settings.max_in_flight.saturating_sub(in_flight(l)),
                &mut needs,
            );
            let mut leaders: Vec<i32> = by_leader.keys().copied().collect();
            leaders.sort_unstable();
            let mut by_leader = by_leader;
            for l in leaders {
                let batches = by_leader.remove(&l).unwrap_or_default();
                send.push((l, one_batch_per_partition(batches)));
            }
        }
        let refresh = self.topics_to_refresh(now, &needs);
        if !refresh.is_empty() {
            self.refreshed(&refresh, now, settings.retry_backoff_max);
        }
        Tick {
            send,
            refresh,
            init_pid,
        }
    }

    /// A batch came back delivered.
    pub fn delivered(&mut self, b: Batch, base_offset: i64, log_append_time: i64) {
        let part = &mut self.topics[b.topic].parts[b.partition as usize];
        part.in_flight -= 1;
        // Once idle, the broker may forget the producer (producer.id.expiration.ms) and
        // would then take any sequence: the next batch goes alone. Batches sent again go
        // one at a time until acknowledged, so a copy in the log stays among the broker's
        // last 5 batches.
        let idle = part.in_flight == 0 && part.queue.is_empty();
        let retrying = part.queue.iter().any(|q| q.attempts > 0);
        part.confirmed = !idle && !retrying;
        if b.base_seq >= 0 {
            let next = next_sequence(b.base_seq, b.msgs.len() as i32);
            if part.acked_next.is_none_or(|a| seq_before(a, next)) {
                part.acked_next = Some(next);
            }
        }
        let ended = Ended::sent(base_offset, log_append_time, Persisted::Persisted);
        self.report_batch(b.topic, b.partition, ended, b.msgs, b.bytes);
        self.keep_buffer(b.data);
    }

    /// A batch was written with `acks=0`: no answer will come, so it may be persisted.
    pub fn sent_unacknowledged(&mut self, b: Batch) {
        self.topics[b.topic].parts[b.partition as usize].in_flight -= 1;
        let ended = Ended::sent(-1, -1, Persisted::Possibly);
        self.report_batch(b.topic, b.partition, ended, b.msgs, b.bytes);
        self.keep_buffer(b.data);
    }

    /// A batch in flight failed with a retriable error (`written`: it may be in the
    /// log): it goes back to its partition's queue in sequence order, unless it has no
    /// retries or time left, in which case it fails. Returns whether it was requeued.
    pub fn retry(
        &mut self,
        settings: &ProducerSettings,
        mut b: Batch,
        err: Error,
        written: bool,
        now: Instant,
    ) -> bool {
        let part = &mut self.topics[b.topic].parts[b.partition as usize];
        part.in_flight -= 1;
        b.maybe_written |= written;
        let out_of_time = b.deadline.is_some_and(|d| d <= now);
        if b.attempts > settings.retries || out_of_time {
            let status = b.unacknowledged();
            let e = if out_of_time {
                Error::new(
                    local::MSG_TIMED_OUT,
                    format!(
                        "message timed out after {} attempts: {}",
                        b.attempts, err.message
                    ),
                )
            } else {
                err.gave_up(b.attempts)
            };
            self.fail_batch(b, e, status);
            return false;
        }
        let shift = b.attempts.saturating_sub(1).min(16);
        let delay = (settings.retry_backoff * (1u32 << shift)).min(settings.retry_backoff_max);
        b.retry_at = Some(now + delay);
        if self.idempotence {
            part.draining = true;
            part.confirmed = false;
        }
        let at = requeue_position(part, &b, self.idempotence);
        part.queue.insert(at, b);
        true
    }

    /// Handles a partition's answer to a Produce request for batch `b` (`ctx` names the
    /// request for error messages): the table at the top of this module. Returns whether
    /// the topic's metadata should be refreshed.
    pub fn on_answer(
        &mut self,
        settings: &ProducerSettings,
        b: Batch,
        a: &PartitionAnswer<'_>,
        ctx: &str,
        now: Instant,
    ) -> bool {
        let err = || Error::kafka_with_message(a.error_code, a.error_message, ctx.to_owned());
        match a.error_code {
            0 => self.delivered(b, a.base_offset, a.log_append_time),
            // The broker has this batch from an earlier try.
            46 => self.delivered(b, -1, -1),
            45 | 59 => {
                // OUT_OF_ORDER after an earlier batch of the partition failed: that
                // batch's retry closes the gap. Otherwise the broker lost our state (or
                // an acknowledgement was lost): recover with a new epoch.
                let part = &self.topics[b.topic].parts[b.partition as usize];
                let draining = part.draining;
                if a.error_code == 45 && !draining && part.acked_next == Some(b.base_seq) {
                    // The batch follows the last acknowledged one, yet the broker says
                    // a sequence is missing: it lost records it had acknowledged (an
                    // unclean leader election). They cannot be restored; recovery goes
                    // on, and the loss is counted for the application to see.
                    self.counters.acknowledged_lost += 1;
                }
                if a.error_code == 59 || !draining {
                    self.need_bump();
                }
                self.retry(settings, b, err(), false, now);
            }
            47 | 90 | 31 | 53 => {
                let e = err();
                self.failed(b, e.clone(), Persisted::Not);
                self.set_fatal(e);
            }
            _ => {
                let e = err();
                let refresh = e.needs_metadata_refresh();
                if e.is_retriable() {
                    // Kafka gives these after appending the batch (a produce waiting for
                    // replication times out, the ISR shrank, leadership moved): it may
                    // be in the log.
                    let written = matches!(a.error_code, 6 | 7 | 20);
                    self.retry(settings, b, e, written, now);
                } else {
                    self.failed(b, e, Persisted::Not);
                }
                return refresh;
            }
        }
        false
    }

    /// Batches taken to send that were not sent (their leader is in its reconnect
    /// back-off until `at`): back in their queues, no attempt counted.
    pub fn unsend(&mut self, batches: Vec<Batch>, at: Instant) {
        for mut b in batches {
            b.attempts = b.attempts.saturating_sub(1);
            b.retry_at = Some(at);
            let idempotence = self.idempotence;
            let part = &mut self.topics[b.topic].parts[b.partition as usize];
            part.in_flight -= 1;
            let pos = requeue_position(part, &b, idempotence);
            part.queue.insert(pos, b);
        }
    }

    /// A batch in flight failed for good.
    pub fn failed(&mut self, b: Batch, err: Error, status: Persisted) {
        self.topics[b.topic].parts[b.partition as usize].in_flight -= 1;
        self.fail_batch(b, err, status);
    }

    /// Fails a batch that is not in flight. With idempotence its sequences leave a gap:
    /// the epoch is bumped before anything more is sent.
    fn fail_batch(&mut self, b: Batch, err: Error, status: Persisted) {
        if self.idempotence && self.pid_state == PidState::Ready {
            self.pid_state = PidState::NeedBump;
        }
        if let Some(txn) = self.txn.as_mut() {
            txn.message_failed(&err);
        }
        let name = &self.topics[b.topic].name.name;
        let e = Arc::new(err.context(format!("{name}/{}", b.partition)));
        self.report_batch(
            b.topic,
            b.partition,
            Ended::failed(e, status),
            b.msgs,
            b.bytes,
        );
    }

    /// Asks for recovery: the epoch is bumped once nothing is in flight.
    pub fn need_bump(&mut self) {
        if self.pid_state == PidState::Ready {
            self.pid_state = PidState::NeedBump;
        }
    }

    /// Requests in flight across all partitions.
    pub fn in_flight(&self) -> usize {
        self.topics
            .iter()
            .flat_map(|t| t.parts.iter())
            .map(|p| p.in_flight)
            .sum()
    }

    /// Takes a new producer id and epoch (InitProducerId answered, or a local bump):
    /// every partition's sequences restart at 0 and queued batches are numbered again
    /// in order (stamped when sent). Nothing may be in flight.
    pub fn set_pid(&mut self, pid: Pid) {
        let renumber = self.pid != Pid::NONE;
        self.pid = pid;
        self.pid_state = PidState::Ready;
        if !renumber {
            // First id: batches closed before it are stamped when sent.
            return;
        }
        for t in &mut self.topics {
            for part in &mut t.parts {
                let mut seq = 0;
                for b in part.queue.iter_mut() {
                    if b.maybe_written {
                        self.possible_duplicates += 1;
                    }
                    b.base_seq = seq;
                    b.stamped = Pid::NONE;
                    seq = next_sequence(seq, b.msgs.len() as i32);
                }
                part.next_seq = seq;
                part.draining = false;
                part.confirmed = false;
                part.acked_next = None;
            }
        }
    }

    /// Enters the fatal state: queued messages fail with FATAL.
    pub fn set_fatal(&mut self, err: Error) {
        if self.fatal.is_some() {
            return;
        }
        self.fatal = Some(err.clone());
        self.space_events += 1;
        if let Some(txn) = self.txn.as_mut() {
            txn.producer_fatal(&err);
        }
        let e = Error::new(local::FATAL, format!("fatal error: {}", err.message));
        self.fail_queued(e);
    }

    /// Fails every message not in flight with `e` (the transaction cannot go on).
    pub fn fail_queued_with(&mut self, e: Error) {
        self.fail_queued(e);
    }

    fn fail_queued(&mut self, e: Error) {
        let e = Arc::new(e);
        for t in 0..self.topics.len() {
            self.fail_topic_queued(t, &e);
        }
    }

    /// Fails the messages of partition `p`'s open batch (topic `t`) with `e`.
    fn fail_open(&mut self, t: usize, p: usize, e: &Arc<Error>) {
        if let Some(open) = self.topics[t].parts[p].open.take() {
            let ended = Ended::failed(e.clone(), Persisted::Not);
            self.report_batch(t, p as i32, ended, open.msgs, open.bytes);
        }
    }

    /// Fails topic `t`'s messages that are not in flight with `e`.
    fn fail_topic_queued(&mut self, t: usize, e: &Arc<Error>) {
        let name = self.topics[t].name.clone();
        let pending = std::mem::take(&mut self.topics[t].pending);
        for m in pending {
            let meta = MsgMeta {
                opaque: m.opaque,
                timestamp: m.timestamp,
            };
            let ended = Ended::failed(e.clone(), Persisted::Not);
            self.reports.push_one(&name, m.partition, ended, meta);
            self.release(1, m.bytes);
        }
        for p in 0..self.topics[t].parts.len() {
            self.fail_open(t, p, e);
            let queue = std::mem::take(&mut self.topics[t].parts[p].queue);
            for b in queue {
                let ended = Ended::failed(e.clone(), b.unacknowledged());
                self.report_batch(t, p as i32, ended, b.msgs, b.bytes);
            }
        }
    }

    /// Purges what is queued for an aborted transaction (PURGE_QUEUE reports).
    pub fn purge_queued_for_abort(&mut self) {
        // Closed batches have their sequences: dropping them leaves a gap that a new
        // epoch closes. Open batches and messages waiting for metadata have none.
        let gap = self
            .topics
            .iter()
            .any(|t| t.parts.iter().any(|p| !p.queue.is_empty()));
        self.fail_queued(Error::new(
            local::PURGE_QUEUE,
            "message purged from the queue: the transaction was aborted",
        ));
        if gap {
            self.need_bump();
        }
    }

    /// Purges what is queued and not in flight (PURGE_QUEUE reports).
    pub fn purge_queued(&mut self) {
        self.fail_queued(Error::new(
            local::PURGE_QUEUE,
            "message purged from the queue before it was sent",
        ));
        // Sequences of purged batches would leave a gap.
        self.need_bump();
    }

    /// Drops everything without reports (the producer is gone).
    pub fn drop_everything(&mut self) {
        self.topics.clear();
        self.by_name.clear();
        self.reports.clear();
        self.msgs = 0;
        self.bytes = 0;
    }

    /// Up to `max` waiting reports, oldest first, in the buffer handed back last time
    /// (see [`give_back_reports`](Self::give_back_reports)).
    pub fn take_reports(&mut self, max: usize) -> Vec<Report> {
        let mut out = std::mem::take(&mut self.report_spare);
        self.reports.take_into(max, &mut out);
        out
    }

    /// Takes back the buffer of reports [`take_reports`](Self::take_reports) gave, once
    /// they are served, for the queue to use again (up to [`SPARE_REPORTS`] of them).
    /// The served reports stay in it, to be written over (see [`Reports::take_into`]).
    pub fn give_back_reports(&mut self, served: Vec<Report>) {
        if served.capacity() <= SPARE_REPORTS && served.capacity() > self.report_spare.capacity() {
            self.report_spare = served;
        }
    }

    fn release(&mut self, msgs: usize, bytes: usize) {
        self.msgs -= msgs.min(self.msgs);
        self.bytes -= bytes.min(self.bytes);
        self.space_events += 1;
    }

    fn report_one(
        &mut self,
        name: &Arc<TopicName>,
        partition: i32,
        timestamp: i64,
        opaque: usize,
        bytes: usize,
        e: Error,
    ) {
        let m = MsgMeta { opaque, timestamp };
        let ended = Ended::failed(Arc::new(e), Persisted::Not);
        self.reports.push_one(name, partition, ended, m);
        self.release(1, bytes);
    }

    /// Reports the messages `msgs` of partition `partition` of topic `t`, all ended as
    /// `ended`, and releases them and their payload `bytes` from the queue's count.
    fn report_batch(
        &mut self,
        t: usize,
        partition: i32,
        ended: Ended,
        msgs: Vec<MsgMeta>,
        bytes: usize,
    ) {
        let n = msgs.len();
        let name = self.topics[t].name.clone();
        self.reports.push_batch(&name, partition, ended, msgs);
        self.release(n, bytes);
    }

    /// The earliest time something is due: a linger, a retry back-off, a message
    /// timeout, a metadata refresh.
    pub fn next_timer(&self, settings: &ProducerSettings) -> Option<Instant> {
        // A back-off only matters while it is what holds a batch back.
        let mut next: Option<Instant> = self.retry_due;
        let mut at = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for t in &self.topics {
            at(t.pending.iter().filter_map(|m| m.deadline).min());
            // A refresh is due only for what waits on metadata.
            if !t.pending.is_empty() || t.leaderless {
                at(Some(t.refresh_at));
            }
            for p in &t.parts {
                if let Some(o) = &p.open {
                    // A linger only matters once the batch could be sent: an answer
                    // freeing a slot wakes the sender anyway.
                    if self.can_send_now(p, settings) {
                        at(Some(o.linger_at));
                    }
                    at(o.deadline);
                }
                at(p.queue.iter().filter_map(|b| b.deadline).min());
            }
        }
        next
    }
}

/// Where batch `b`, back from a failed or cancelled send, goes in its partition's queue:
/// before every batch closed after it (sequence order with idempotence; close order,
/// which is send order, without).
fn requeue_position(part: &Part, b: &Batch, idempotence: bool) -> usize {
    part.queue
        .iter()
        .position(|q| {
            if idempotence {
                seq_before(b.base_seq, q.base_seq)
            } else {
                q.closed > b.closed
            }
        })
        .unwrap_or(part.queue.len())
}

/// Payload bytes of a message: what `queue.buffering.max.kbytes` counts.
fn payload_size(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[RecordHeaderIn<'_>]) -> usize {
    key.map_or(0, <[u8]>::len)
        + value.map_or(0, <[u8]>::len)
        + headers
            .iter()
            .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
            .sum::<usize>()
}

/// The sequence after a batch of `count` records starting at `seq` (Kafka wraps from
/// i32::MAX to 0).
pub fn next_sequence(seq: i32, count: i32) -> i32 {
    ((i64::from(seq) + i64::from(count)) % (i64::from(i32::MAX) + 1)) as i32
}

/// Whether sequence `a` comes before `b` (within half the sequence space).
fn seq_before(a: i32, b: i32) -> bool {
    let d = (i64::from(b) - i64::from(a)).rem_euclid(i64::from(i32::MAX) + 1);
    d != 0 && d < (1 << 30)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sticky.partitioning.linger.ms follows linger.ms when unset, as librdkafka's does
    /// (rd_kafka_conf_get after rd_kafka_new: 10 at the defaults, 2000 at linger.ms=1000,
    /// 0 at linger.ms=0, 900000 at most).
    #[test]
    fn the_sticky_linger_is_twice_the_linger_unless_set() {
        let ms = Duration::from_millis;
        assert_eq!(settings(&[]).sticky_linger, ms(10));
        assert_eq!(settings(&[("linger.ms", "1000")]).sticky_linger, ms(2000));
        assert_eq!(
            settings(&[("queue.buffering.max.ms", "100")]).sticky_linger,
            ms(200)
        );
        assert_eq!(settings(&[("linger.ms", "0")]).sticky_linger, ms(0));
        assert_eq!(
            settings(&[("linger.ms", "600000")]).sticky_linger,
            ms(900_000)
        );
        let set = settings(&[
            ("linger.ms", "1000"),
            ("sticky.partitioning.linger.ms", "10"),
        ]);
        assert_eq!(set.sticky_linger, ms(10));
        let zero = settings(&[("linger.ms", "5"), ("sticky.partitioning.linger.ms", "0")]);
        assert_eq!(zero.sticky_linger, ms(0));
    }

    #[test]
    fn sequences_wrap_like_kafka() {
        assert_eq!(next_sequence(0, 5), 5);
        assert_eq!(next_sequence(i32::MAX - 1, 2), 0);
        assert_eq!(next_sequence(i32::MAX, 1), 0);
        assert!(seq_before(1, 2));
        assert!(!seq_before(2, 1));
        assert!(seq_before(i32::MAX, 0));
        assert!(!seq_before(5, 5));
    }

    /// A Metadata answer at `at` for topic `t` with `code` and no partitions.
    fn refused(snap: &Snapshot, code: i16, at: Instant) -> Snapshot {
        use crate::cluster::{Metadata, TopicMeta};
        let md = Metadata {
            topics: vec![TopicMeta {
                name: "t".into(),
                error_code: code,
                topic_id: Default::default(),
                is_internal: false,
                partitions: Vec::new(),
            }],
            ..Default::default()
        };
        snap.merged(&md, false, at)
    }

    #[test]
    fn messages_for_a_refused_topic_fail_with_the_answer_given_after_they_were_sent() {
        let s = settings(&[]);
        let mut st = State::new(&s);
        let t0 = Instant::now();
        let send = |st: &mut State, opaque: usize, at: Instant| {
            let m = Message {
                topic: "t",
                partition: -1,
                value: Some(b"v"),
                opaque,
                ..Default::default()
            };
            let snap = Snapshot::default();
            let r = st.append(&s, &m, Some(&snap), &mut Clock::at(at));
            assert!(matches!(r, Ok(Append::Queued { .. })));
        };
        send(&mut st, 1, t0);
        // A retriable answer (UNKNOWN_TOPIC_OR_PARTITION): the message waits.
        let later = t0 + Duration::from_millis(10);
        st.learn(&s, &refused(&Snapshot::default(), 3, later), later);
        assert!(st.take_reports(10).is_empty());
        // TOPIC_AUTHORIZATION_FAILED: it fails at once, with the broker's code and the
        // topic's name; a message sent after that answer waits for the next one.
        let answered = t0 + Duration::from_millis(20);
        let snap = refused(&Snapshot::default(), 29, answered);
        send(&mut st, 2, answered + Duration::from_millis(1));
        st.learn(&s, &snap, answered + Duration::from_millis(2));
        let r = st.take_reports(10);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].opaque, 1);
        let e = r[0].error.as_ref().unwrap();
        assert_eq!(e.code, 29);
        assert!(e.message.contains("'t'") && e.message.contains("TOPIC_AUTHORIZATION_FAILED"));
        assert_eq!(st.outstanding(), 1);
        let next = answered + Duration::from_millis(30);
        st.learn(&s, &refused(&snap, 29, next), next);
        let r = st.take_reports(10);
        assert_eq!((r.len(), r[0].opaque), (1, 2));
        assert_eq!(st.outstanding(), 0);
    }

    /// Producer settings from these properties (the rest at their defaults).
    fn settings(props: &[(&str, &str)]) -> ProducerSettings {
        let mut c = crate::Config::new();
        for (k, v) in props {
            c.set(k, v).unwrap();
        }
        ProducerSettings::from_config(&c).unwrap()
    }

    /// A snapshot where topic "t" has `partitions` partitions, all led by broker 1.
    fn topic_on_broker_1(partitions: i32, at: Instant) -> Snapshot {
        use crate::cluster::{Metadata, PartitionMeta, TopicMeta};
        let md = Metadata {
            topics: vec![TopicMeta {
                name: "t".into(),
                error_code: 0,
                topic_id: Default::default(),
                is_internal: false,
                partitions: (0..partitions)
                    .map(|partition| PartitionMeta {
                        partition,
                        error_code: 0,
                        leader: 1,
                        leader_epoch: 0,
                        replicas: vec![1],
                        isr: vec![1],
                        offline: Vec::new(),
                    })
                    .collect(),
            }],
            ..Default::default()
        };
        Snapshot::default().merged(&md, false, at)
    }

    #[test]
    fn the_next_batch_is_written_into_the_buffer_of_an_acknowledged_one() {
        let s = settings(&[("enable.idempotence", "false"), ("linger.ms", "0")]);
        let mut st = State::new(&s);
        let t0 = Instant::now();
        let snap = topic_on_broker_1(1, t0);
        st.learn(&s, &snap, t0);
        let value = [7u8; 100];
        // One batch of 10 records, closed, collected and acknowledged.
        let round = |st: &mut State, first: usize| {
            for i in first..first + 10 {
                let m = Message {
                    topic: "t",
                    partition: 0,
                    value: Some(&value),
                    opaque: i,
                    ..Default::default()
                };
                let r = st.append(&s, &m, Some(&snap), &mut Clock::at(t0));
                assert!(matches!(r, Ok(Append::Queued { .. })));
            }
            st.close_lingered(&s, t0 + Duration::from_millis(1));
            let mut needs = Vec::new();
            let mut out = st.collect(&s, t0, |_, _| Some(1), |_| usize::MAX, &mut needs);
            let mut batches = out.remove(&1).expect("a batch for broker 1");
            assert_eq!(batches.len(), 1);
            let b = batches.pop().unwrap();
            assert_eq!(b.msgs.len(), 10);
            assert_eq!(b.data.parts().len(), 1);
            (b.data.parts()[0].as_ptr() as usize, b)
        };
        let (first, b) = round(&mut st, 0);
        st.delivered(b, 0, -1);
        assert_eq!(st.spare.kept().0, 1);
        let (second, b) = round(&mut st, 10);
        assert_eq!(
            first, second,
            "the second batch is written where the first was"
        );
        assert_eq!(st.spare.kept().0, 0);
        // A buffer still shared (as by a request not yet written) is not kept.
        let held = b.data.clone();
        st.delivered(b, 10, -1);
        assert_eq!(st.spare.kept().0, 0);
        drop(held);
        let offsets: Vec<i64> = st.take_reports(100).iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (0..20).collect::<Vec<i64>>());
    }

    /// Settings from `props` and a state that knows topic "t" with 2 partitions on
    /// broker 1, at `t0`.
    fn two_partitions(props: &[(&str, &str)]) -> (ProducerSettings, State, Instant, Snapshot) {
        let s = settings(props);
        let mut st = State::new(&s);
        let t0 = Instant::now();
        let snap = topic_on_broker_1(2, t0);
        st.learn(&s, &snap, t0);
        (s, st, t0, snap)
    }

    /// A name that is no topic's is refused when it is first sent to, and not kept.
    #[test]
    fn sends_to_no_topic_s_name_are_refused() {
        let (s, mut st, t0, snap) = two_partitions(&[]);
        for name in ["", "t\0u"] {
            let m = Message {
                topic: name,
                value: Some(b"v"),
                ..Default::default()
            };
            let e = match st.append(&s, &m, Some(&snap), &mut Clock::at(t0)) {
                Err(e) => e,
                Ok(_) => panic!("{name:?} was taken"),
            };
            assert_eq!(e.code, local::INVALID_ARG, "{e}");
            assert!(e.message.contains("invalid topic name"), "{e}");
        }
        assert!(st.by_name.is_empty(), "no topic registered");
        assert_eq!(st.outstanding(), 0);
        assert!(append_to_alternate(&s, &mut st, &snap, t0, 0).is_ok());
        assert_eq!(st.outstanding(), 1);
        // The name is refused before the producer's state is looked at.
        st.closing = true;
        let m = Message {
            topic: "",
            ..Default::default()
        };
        let e = st.append(&s, &m, Some(&snap), &mut Clock::at(t0)).err();
        assert_eq!(e.map(|e| e.code), Some(local::INVALID_ARG));
        let m = Message {
            topic: "t",
            ..Default::default()
        };
        let e = st.append(&s, &m, Some(&snap), &mut Clock::at(t0)).err();
        assert_eq!(e.map(|e| e.code), Some(local::DESTROY));
    }

    /// Appends message `i` (value "v", opaque `i`) to partition `i % 2` of topic "t".
    fn append_to_alternate(
        s: &ProducerSettings,
        st: &mut State,
        snap: &Snapshot,
        t0: Instant,
        i: usize,
    ) -> Result<Append> {
        let m = Message {
            topic: "t",
            partition: (i % 2) as i32,
            value: Some(b"v"),
            opaque: i,
            ..Default::default()
        };
        st.append(s, &m, Some(snap), &mut Clock::at(t0))
    }

    /// A leader's connection takes at most max.in.flight requests: collect gives no
    /// partition more batches than the room left, and the rest wait in order.
    #[test]
    fn batches_wait_for_room_on_their_leader_s_connection() {
        let (s, mut st, t0, snap) = two_partitions(&[
            ("enable.idempotence", "false"),
            ("batch.num.messages", "1"),
            ("max.in.flight.requests.per.connection", "5"),
        ]);
        for i in 0..8 {
            assert!(matches!(
                append_to_alternate(&s, &mut st, &snap, t0, i),
                Ok(Append::Queued { .. })
            ));
        }
        st.close_lingered(&s, t0 + Duration::from_secs(1));
        let mut needs = Vec::new();
        // Three requests already in flight: room for two more.
        let first = st.collect(&s, t0, |_, _| Some(1), |_| 2, &mut needs);
        let batches = first.get(&1).expect("leader 1");
        let taken: Vec<(i32, u64)> = batches.iter().map(|b| (b.partition, b.closed)).collect();
        assert_eq!(taken, vec![(0, 1), (0, 2), (1, 1), (1, 2)]);
        assert_eq!(
            one_batch_per_partition(first.into_values().flatten().collect()).len(),
            2
        );
        // No room: nothing goes; then the rest, in order.
        assert!(st
            .collect(&s, t0, |_, _| Some(1), |_| 0, &mut needs)
            .is_empty());
        let rest = st.collect(&s, t0, |_, _| Some(1), |_| 5, &mut needs);
        let taken: Vec<(i32, u64)> = rest[&1].iter().map(|b| (b.partition, b.closed)).collect();
        assert_eq!(taken, vec![(0, 3), (0, 4), (1, 3), (1, 4)]);
    }

    /// A batch made ready for a leader the sender last saw with a full connection does
    /// not wake it; for another leader, for a partition not sent to yet, or once the
    /// leader has room, it does.
    #[test]
    fn a_batch_for_a_full_connection_does_not_wake_the_sender() {
        let (s, mut st, t0, snap) =
            two_partitions(&[("enable.idempotence", "false"), ("batch.num.messages", "1")]);
        let wakes = |st: &mut State, i: usize| match append_to_alternate(&s, st, &snap, t0, i) {
            Ok(Append::Queued { wake }) => wake,
            _ => panic!("message {i} not queued"),
        };
        // Not sent to yet: no leader seen, so woken whatever is full.
        st.note_full_leaders([1]);
        assert!(wakes(&mut st, 0));
        assert_eq!(st.leader_seen("t", 0), None);
        // Partition 0 is led by broker 1, partition 1 by broker 2.
        let collect = |st: &mut State| {
            let leader = |_: &str, p: i32| Some(if p == 0 { 1 } else { 2 });
            st.collect(&s, t0, leader, |_| 5, &mut Vec::new())
        };
        assert_eq!(collect(&mut st)[&1].len(), 1);
        assert_eq!(st.leader_seen("t", 0), Some(1));
        assert!(wakes(&mut st, 1), "partition 1: no leader seen yet");
        assert_eq!(collect(&mut st)[&2].len(), 1);
        // Leader 1 full: partition 0's batches wait without a wake; leader 2 has room.
        assert!(!wakes(&mut st, 2));
        assert!(wakes(&mut st, 3));
        st.note_full_leaders([2]);
        assert!(wakes(&mut st, 4));
        assert!(!wakes(&mut st, 5));
        st.note_full_leaders([]);
        assert!(wakes(&mut st, 6));
        assert!(wakes(&mut st, 7));
        assert_eq!(st.outstanding(), 8, "every message queued");
    }

    /// A send refused for a full queue makes the next round close every open batch,
    /// linger or not; the refusal for unserved reports does not; and the round after
    /// that lets new batches linger again.
    #[test]
    fn a_full_queue_closes_lingering_batches_on_the_next_round() {
        let (s, mut st, t0, snap) = two_partitions(&[
            ("enable.idempotence", "false"),
            ("linger.ms", "60000"),
            ("queue.buffering.max.messages", "4"),
            ("delivery.report.max.messages", "2"),
        ]);
        let send = |st: &mut State, i: usize| append_to_alternate(&s, st, &snap, t0, i);
        let collect = |st: &mut State| {
            let mut needs = Vec::new();
            let mut out = st.collect(&s, t0, |_, _| Some(1), |_| usize::MAX, &mut needs);
            out.remove(&1).unwrap_or_default()
        };
        for i in 0..4 {
            assert!(matches!(send(&mut st, i), Ok(Append::Queued { .. })));
        }
        // Lingering: nothing is due a second later.
        st.close_lingered(&s, t0 + Duration::from_secs(1));
        assert!(collect(&mut st).is_empty());
        assert!(!st.starved);
        // Refused: the next round closes both batches at once.
        match send(&mut st, 4) {
            Ok(Append::Full(e)) => assert!(e.message.contains("queue.buffering.max.messages")),
            _ => panic!("the fifth message should be refused"),
        }
        assert!(st.starved);
        st.close_lingered(&s, t0 + Duration::from_secs(1));
        assert!(!st.starved, "one round per refusal");
        let batches = collect(&mut st);
        assert_eq!(batches.len(), 2, "both partitions' batches");
        // Acknowledged: room again, and a new batch lingers as before.
        for b in batches {
            st.delivered(b, 0, -1);
        }
        assert_eq!(st.outstanding(), 0);
        assert_eq!(st.take_reports(3).len(), 3);
        assert!(matches!(send(&mut st, 5), Ok(Append::Queued { .. })));
        st.close_lingered(&s, t0 + Duration::from_secs(1));
        assert!(collect(&mut st).is_empty());
        assert_eq!(st.outstanding(), 1);
        // The refusal for unserved reports (2 wait) is the application's to clear: it
        // closes nothing early.
        let meta = MsgMeta {
            opaque: 99,
            timestamp: 0,
        };
        let name = Arc::new(TopicName::new("t"));
        let ended = Ended::sent(9, -1, Persisted::Persisted);
        st.reports.push_one(&name, 0, ended, meta);
        match send(&mut st, 6) {
            Ok(Append::Full(e)) => assert!(e.message.contains("delivery.report.max.messages")),
            _ => panic!("the seventh message should be refused"),
        }
        assert!(!st.starved);
        st.close_lingered(&s, t0 + Duration::from_secs(1));
        assert!(collect(&mut st).is_empty());
        assert_eq!(st.take_reports(100).len(), 2);
    }

    #[test]
    fn reports_are_taken_in_order_and_their_buffer_is_used_again() {
        let s = settings(&[]);
        let mut st = State::new(&s);
        let name = Arc::new(TopicName::new("t"));
        let push = |st: &mut State, from: usize, to: usize| {
            for i in from..to {
                let m = MsgMeta {
                    opaque: i,
                    timestamp: 0,
                };
                let ended = Ended::sent(i as i64, -1, Persisted::Persisted);
                st.reports.push_one(&name, 0, ended, m);
            }
        };
        push(&mut st, 0, 50);
        // Part of them, then the rest, in order.
        let first = st.take_reports(20);
        assert_eq!(
            first.iter().map(|r| r.opaque).collect::<Vec<_>>(),
            (0..20).collect::<Vec<_>>()
        );
        st.give_back_reports(first);
        let rest = st.take_reports(1000);
        assert_eq!(
            rest.iter().map(|r| r.opaque).collect::<Vec<_>>(),
            (20..50).collect::<Vec<_>>()
        );
        assert!(st.reports.is_empty());
        // The buffer given back is the next one filled.
        let a = rest.as_ptr() as usize;
        st.give_back_reports(rest);
        push(&mut st, 50, 60);
        let again = st.take_reports(1000);
        assert_eq!(again.as_ptr() as usize, a, "the buffer given back was used");
        assert_eq!(
            again.iter().map(|r| r.opaque).collect::<Vec<_>>(),
            (50..60).collect::<Vec<_>>()
        );
        st.give_back_reports(again);
        assert!(st.take_reports(10).is_empty());
    }

    #[test]
    fn buffers_kept_for_new_batches_stay_within_their_bound() {
        let s = settings(&[("batch.size", "16000000")]);
        let mut st = State::new(&s);
        let big = SPARE_BYTES - (1 << 20);
        st.keep_buffer(Segments::from(vec![0u8; big]));
        assert_eq!(st.spare.kept(), (1, big));
        // Past SPARE_BYTES in all: dropped.
        st.keep_buffer(Segments::from(vec![0u8; 2 << 20]));
        assert_eq!(st.spare.kept(), (1, big));
        st.keep_buffer(Segments::from(vec![0u8; 1 << 20]));
        assert_eq!(st.spare.kept(), (2, SPARE_BYTES));
        assert_eq!(st.spare_buffer().capacity(), 1 << 20);
        assert_eq!(st.spare.kept(), (1, big));
        st.spare_buffer();
        // At most SPARE_BUFFERS of them, however small.
        for _ in 0..SPARE_BUFFERS + 10 {
            st.keep_buffer(Segments::from(vec![0u8; 1000]));
        }
        assert_eq!(st.spare.kept().0, SPARE_BUFFERS);
        while st.spare.kept().0 > 0 {
            st.spare_buffer();
        }
        assert_eq!(st.spare.kept().1, 0);
        assert_eq!(st.spare_buffer().capacity(), 0);
    }

    /// The kept buffers go once nothing has been queued for SPARE_IDLE, not before.
    #[test]
    fn kept_buffers_are_let_go_when_the_producer_is_idle() {
        let s = settings(&[]);
        let mut st = State::new(&s);
        let snap = Snapshot::default();
        let t0 = Instant::now();
        st.keep_buffer(Segments::from(vec![0u8; 500_000]));
        st.tick(&s, &snap, t0, t0, |_| 0);
        assert_eq!(st.spare.kept().0, 1, "still kept right after");
        // Messages queued: busy, whatever the time.
        st.msgs = 1;
        st.tick(&s, &snap, t0 + SPARE_IDLE * 2, t0, |_| 0);
        assert_eq!(st.spare.kept().0, 1);
        st.msgs = 0;
        st.tick(
            &s,
            &snap,
            t0 + SPARE_IDLE * 3 - Duration::from_millis(1),
            t0,
            |_| 0,
        );
        assert_eq!(st.spare.kept().0, 1, "idle for less than SPARE_IDLE");
        st.tick(&s, &snap, t0 + SPARE_IDLE * 3, t0, |_| 0);
        assert_eq!(st.spare.kept(), (0, 0), "idle for SPARE_IDLE");
    }
}
