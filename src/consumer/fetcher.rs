//! The group consumer's prefetcher: which partitions to fetch from which broker, at which
//! offsets, within one memory budget; what each answer leads to.
//!
//! Sans-I/O: nothing here touches a socket, a clock or a thread. The driver thread calls
//! [`Fetcher::poll`] with the time and sends what it asks for ([`FetchAction::Send`]) through
//! the I/O core, hands each answer to [`Fetcher::on_response`] with the version it was sent
//! at, and polls again: deliveries and events produced by a call are returned by the next
//! [`Fetcher::poll`]. It polls again at [`Fetcher::next_timer`], and when the [`Budget`]'s
//! `wake` is called (the application released memory the fetcher was waiting for).
//!
//! # What is fetched
//! A partition is *fetchable* when it is assigned, has a position, is not paused, not
//! stopped by an error, not waiting for memory, not backing off, has a known leader and is
//! not already in a request. At most one Fetch is in flight per broker; it covers every
//! fetchable partition led by that broker, or for which that broker is the preferred read
//! replica (KIP-392). At most one ListOffsets is in flight per broker,
//! for the partitions whose position is being reset.
//!
//! | event | what happens |
//! | --- | --- |
//! | `assign` | the partition is added without a position; it waits for `set_position` or `seek_to` (and for its leader: `NeedMetadata` until `set_leaders` names one) |
//! | `set_position(offset >= 0)` | fetched from `offset`; `leader_epoch` becomes `last_fetched_epoch` |
//! | `set_position(offset < 0)` | `auto.offset.reset`: earliest/latest → ListOffsets (-2/-1), then `Event(Reset)`; error → `Event(Error local::NO_OFFSET)` naming the partition, which stays stopped until the next `set_position` or `seek_to` |
//! | `seek_to` | ListOffsets (-2 earliest, -1 latest), no event; `isolation_level` 1 with read_committed |
//! | `unassign` | removed; answers in flight for it are ignored, and it is forgotten from the fetch session |
//! | `pause` / `resume` | a paused partition is not fetched, and data arriving for it is not delivered (position unchanged) |
//! | `set_leaders` | leader and epoch per partition; an epoch older than the one held is ignored (KIP-320); no leader → `NeedMetadata` (at most once per `retry.backoff.ms`) |
//! | Fetch request | `current_leader_epoch` from metadata (v9+), `last_fetched_epoch` the epoch of the last record delivered (v12+), `rack_id` = `client.rack` (v11+), `isolation_level` 1 with read_committed; partitions in rotation order (those that delivered data move to the back, so `fetch.max.bytes` does not starve later ones) |
//! | records | decoded (CRCs checked with `check.crcs`), charged to the budget and delivered as one [`Chunk`]; the position moves past the last batch (control batches too); with read_committed, aborted transactions and control records are dropped first |
//! | records that do not fit in what the budget has left | not delivered, position unchanged; the partition learns how much its data grows when decoded and asks for less; if even its first batch does not fit in what is left, it waits until the application releases memory (the budget's `wake`); then it is fetched again |
//! | a first batch that does not fit in an empty budget (its raw bytes, decompressed bytes and index) | `Event(Error local::BAD_MSG)` naming the partition, its offset and `queued.max.messages.kbytes`; the partition is stopped until `set_position`/`seek_to` |
//! | records that do not fit in `fetch.max.decompressed.bytes` | fetched again (asking for less); an error naming `fetch.max.decompressed.bytes` when the first batch alone does not fit in it |
//! | a corrupt batch, a CRC mismatch, an undecodable codec | `Event(Error local::BAD_MSG or BAD_COMPRESSION)` naming partition and offset; the partition is stopped: never skipped silently |
//! | position reaches the high watermark (the last stable offset with read_committed) | `Event(Eof)` once per position, with `enable.partition.eof` |
//! | OFFSET_OUT_OF_RANGE | `auto.offset.reset`: earliest/latest → ListOffsets and `Event(Reset)`; error → `Event(Error local::AUTO_OFFSET_RESET)`, stopped |
//! | NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, REPLICA_NOT_AVAILABLE, KAFKA_STORAGE_ERROR, NETWORK_EXCEPTION | with a `CurrentLeader` hint newer than the epoch held: the partition moves to that leader at once. Otherwise `NeedMetadata` and the partition backs off (`retry.backoff.ms` doubling up to `retry.backoff.max.ms`) |
//! | TOPIC_AUTHORIZATION_FAILED, CORRUPT_MESSAGE, any other non-retriable code | `Event(Error)` with the broker's code, stopped |
//! | any other retriable code | the partition backs off |
//! | `DivergingEpoch` (KIP-320: the leader's log diverged from what we fetched) | if its end offset is below the position, records we delivered are no longer in the log: with earliest/latest the position moves to that end offset and `Event(Reset)` says so; with error, `Event(Error local::AUTO_OFFSET_RESET)` and the partition is stopped. Never skipped silently |
//! | ListOffsets answer | position set; `Event(Reset)` when `auto.offset.reset` asked for it; leadership errors as for Fetch; other retriable errors back off; the rest → `Event(Error)`, stopped |
//! | a transport error or a request-level error | the broker backs off and its fetch session is reset; leadership-related transport errors ask for metadata; a request-level Kafka error is also an `Event(Error)` without partition |
//! | `PreferredReadReplica` ≥ 0 in an answer without error (KIP-392, v11+: the leader names a replica in `client.rack`) | the partition's next fetches go to that broker (in that broker's fetch session, and forgotten from the leader's) until one of the rows below; the leader naming itself, or -1, changes nothing. ListOffsets always go to the leader |
//! | any partition error from a broker that is not the partition's leader (its read replica) | the partition goes back to its leader at once, without back-off and without `auto.offset.reset`: OFFSET_OUT_OF_RANGE from a follower (its log may lag or start later) is judged by the leader's answer; leadership errors also ask for metadata |
//! | the read replica's transport fails; `set_leaders` no longer lists it among the partition's replicas, or lists it offline; the partition has no leader; `read_replica_lease` (`metadata.max.age.ms`, as the Java client) passes | back to the leader (which may name the replica again) |
//! | a read replica's answer | as any answer: a follower serves up to its own high watermark, and one that lags answers with empty records (no delivery, the position unchanged; `Eof` compares with its high watermark) |
//! | an answer for an unassigned partition, or from before a `set_position`/`seek_to`/reset of it, or an unknown request id | ignored |
//!
//! # Fetch sessions (KIP-227)
//! A broker's first Fetch is *full*: every fetchable partition, session id 0, epoch 0 (which
//! asks the broker to create a session). If the answer carries a session id, the following
//! fetches are *incremental*: session id, epoch 1, 2, … (wrapping to 1), carrying only the
//! partitions that are new to the session or whose offset, per-partition max bytes, leader
//! epoch or last fetched epoch changed since they were last sent, and listing as *forgotten*
//! the partitions in the session that are no longer fetchable (unassigned, paused, moved,
//! backing off, waiting for memory, in a reset). The broker answers with only the
//! partitions that have something new; the others are unchanged. FETCH_SESSION_ID_NOT_FOUND
//! or INVALID_FETCH_SESSION_EPOCH, any other request-level error, and a transport error
//! reset the session: the next fetch is full. An answer at a version below 7 (no sessions)
//! carries no session id, so every fetch to that broker stays full.
//!
//! # Memory
//! Everything fetched and not yet released by the application is charged to one
//! [`Budget`] (`queued.max.messages.kbytes`): each partition's raw `records` bytes (charged
//! once per answer, for all its partitions, and held until the last chunk from that answer
//! is released: they share the response buffer) plus the decoded records'
//! [`RecordSet::charged_bytes`] (decompressed batches and the record index). Charges are
//! taken only when they fit, before delivery, so **`Budget::used()` never exceeds
//! `Budget::limit()`**.
//!
//! The budget is a hard bound; how far the fetcher reads ahead is a **prefetch target**
//! below it. `queued` is what waits in the application's queue, not yet handed out
//! (records the application holds count against the budget, not against the target). The
//! target starts at 1 MiB ([`INITIAL_PREFETCH_TARGET`]); it doubles, up to the budget's
//! limit, when a Fetch answer finds `queued` at most an eighth of it while the broker holds
//! more than it sent and the round trip took 10 ms or more ([`GROW_AFTER`]): a network whose
//! latency, not its bandwidth, limits throughput. On a local network a larger target
//! gained little and cost the memory (16 partitions of 100-byte records: 11 MiB peak RSS
//! instead of 40). Nothing is sent while more than half the target is queued; the
//! application's taking a chunk wakes the fetcher.
//!
//! What is in flight is reserved. Let `used` be what is charged, `share = (target - queued)
//! / brokers` (the brokers leading partitions with a position: each gets its share, so one
//! request in flight does not hold up the others) and `left = min(share, limit - used -
//! reserved, target - queued - reserved)`, `reserved` being what the requests in flight
//! asked for. Nothing is sent while `left` is below 4 KiB ([`MIN_FETCH_BYTES`]). A Fetch
//! asks for `max_bytes = min(fetch.max.bytes, max(4 KiB, left / expansion))`, where
//! `expansion` is the largest, among its partitions, of how much their last data grew
//! when decoded (raw plus decompressed plus index, per raw byte, rounded up to a power of
//! two; 2 before any data), so that what arrives usually fits once decoded; but at least
//! `min(max.partition.fetch.bytes, left)` when that, decoded, fits in `left`, so that
//! data that compresses little does not come in many small answers, and data that
//! compresses well does not come decoded to several times the target. Per partition it asks
//! for `min(max.partition.fetch.bytes, max(4 KiB, left / partitions))` rounded down to a
//! power of two (the fetch session compares this value, so it should change seldom; the
//! request's `max_bytes` is what bounds the answer). The budget can't be exceeded, but memory outside it is used transiently, while
//! an answer is handled: its raw bytes (at most what was asked for, except that a broker
//! always returns at least one whole batch of the first partition with data — KIP-74 — so
//! one batch of up to the topic's `max.message.bytes` more, and never more than
//! `receive.message.max.bytes`), and the decoding of its partitions, which
//! `fetch.max.decompressed.bytes` bounds per answer (a partition that does not fit in what
//! the answer's earlier partitions left of it is fetched again). What does not fit in the
//! budget is dropped when `on_response` returns.
//!
//! Versions 0–2 of Fetch have no KIP-74 rule: a batch larger than the per-partition maximum
//! never arrives whole and the partition makes no progress (Kafka 0.10.1 and older).

use crate::cluster::Snapshot;
use crate::consumer::assignor::TopicPartition;
use crate::error::{local, Error, Result};
use crate::protocol::error_codes;
use crate::protocol::messages::{
    FetchAbortedTransaction, FetchPartition, FetchRequest, FetchResponse, FetchTopic,
    ForgottenTopic, LeaderIdAndEpoch, ListOffsetsPartition, ListOffsetsRequest,
    ListOffsetsResponse, ListOffsetsTopic,
};
use crate::protocol::DecodeErrorKind;
use crate::record::{DecodeBudget, DecodeLimits, RecordSet};
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The smallest fetch: nothing is sent while the budget has less left, and no partition is
/// asked for less.
pub const MIN_FETCH_BYTES: usize = 4096;

/// Where the prefetch target starts (see the module documentation): one answer of one
/// partition at `max.partition.fetch.bytes`' default. On loopback, reading 1M records of
/// 100 B from a zstd topic of 1 partition, 2 MiB took 12.9–13.2 MiB of peak RSS and 1 MiB
/// 9.7–10.3, at the same throughput and CPU (and the same with 16 partitions).
pub const INITIAL_PREFETCH_TARGET: usize = 1 << 20;

/// The round trip of a Fetch answer after which the prefetch target may grow: on a
/// shorter one (a local network), a larger target costs memory and gains little.
pub const GROW_AFTER: Duration = Duration::from_millis(10);

/// The largest expansion (raw and decoded bytes per raw byte) assumed, in sixteenths.
const MAX_EXPANSION: u32 = 16 * 64;

const OFFSET_OUT_OF_RANGE: i16 = 1;
const CORRUPT_MESSAGE: i16 = 2;
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
const INVALID_FETCH_SESSION_EPOCH: i16 = 71;
/// Tag of `DivergingEpoch` in a Fetch partition answer (v12+).
const DIVERGING_EPOCH_TAG: u32 = 0;

/// Codes that mean our view of the partition's leader may be stale.
fn is_leadership(code: i16) -> bool {
    matches!(code, 3 | 5 | 6 | 9 | 13 | 56 | 74 | 75)
}

/// In a module of its own: the macro's code names `Result` as the standard one.
mod wire {
    use crate::wire_struct;

    wire_struct! {
        /// Kafka's `EpochEndOffset`: the `DivergingEpoch` of a Fetch partition answer.
        pub struct EpochEndOffset {
            pub epoch: i32 [12..=32767] = -1,
            pub end_offset: i64 [12..=32767] = -1,
        }
    }
}
pub use wire::EpochEndOffset;

/// `auto.offset.reset`: where to start when there is no valid position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    Earliest,
    Latest,
    Error,
}

/// The fetcher's settings, from the consumer's configuration.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// `fetch.wait.max.ms`.
    pub max_wait: Duration,
    /// `fetch.min.bytes`.
    pub min_bytes: i32,
    /// `fetch.max.bytes`.
    pub max_bytes: i32,
    /// `max.partition.fetch.bytes`.
    pub partition_max_bytes: i32,
    /// `isolation.level` = read_committed.
    pub read_committed: bool,
    /// `queued.max.messages.kbytes` * 1024: the [`Budget`]'s limit.
    pub budget_bytes: usize,
    /// `fetch.max.decompressed.bytes`: what decoding one answer may take.
    pub response_decompress_cap: usize,
    /// `check.crcs`.
    pub check_crcs: bool,
    /// `client.rack` ("" for none).
    pub rack: String,
    /// How long a preferred read replica named by a Fetch answer (KIP-392) is followed
    /// before the partition goes back to its leader: `metadata.max.age.ms`, as the Java
    /// client does.
    pub read_replica_lease: Duration,
    /// `auto.offset.reset`.
    pub reset: OffsetReset,
    /// `enable.partition.eof`.
    pub partition_eof: bool,
    /// `retry.backoff.ms` and `retry.backoff.max.ms`.
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
}

impl Default for FetchSettings {
    /// librdkafka's defaults.
    fn default() -> Self {
        FetchSettings {
            max_wait: Duration::from_millis(500),
            min_bytes: 1,
            max_bytes: 52_428_800,
            partition_max_bytes: 1_048_576,
            read_committed: true,
            budget_bytes: 65_536 * 1024,
            response_decompress_cap: 64 << 20,
            check_crcs: false,
            rack: String::new(),
            read_replica_lease: Duration::from_millis(900_000),
            reset: OffsetReset::Latest,
            partition_eof: false,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
        }
    }
}

/// A count of bytes, and the level at or below which it should wake the fetcher.
#[derive(Default)]
struct Level {
    bytes: usize,
    wake_at: Option<usize>,
}

impl Level {
    /// Asks for a wake once the count is at most `level`, replacing an earlier request;
    /// false, and nothing asked, if it already is.
    fn wake_at_most(&mut self, level: usize) -> bool {
        if self.bytes <= level {
            self.wake_at = None;
            return false;
        }
        self.wake_at = Some(level);
        true
    }

    /// Takes `n` off the count; true when that reaches the level asked for (the request
    /// is then spent).
    fn sub(&mut self, n: usize) -> bool {
        self.bytes = self.bytes.saturating_sub(n);
        let wake = self.wake_at.is_some_and(|l| self.bytes <= l);
        if wake {
            self.wake_at = None;
        }
        wake
    }
}

#[derive(Default)]
struct BudgetState {
    /// Bytes charged.
    used: Level,
    /// The highest usage seen.
    peak: usize,
    /// Bytes of chunks waiting in the application's queue, not yet handed out.
    queued: Level,
}

/// The one memory budget shared by everything fetched and not yet released by the
/// application. Thread-safe: the application frees messages on its threads.
pub struct Budget {
    limit: usize,
    state: Mutex<BudgetState>,
    wake: Box<dyn Fn() + Send + Sync>,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("limit", &self.limit)
            .field("used", &self.used())
            .finish_non_exhaustive()
    }
}

impl Budget {
    /// A budget of `limit` bytes; `wake` is called (on the releasing thread, with no lock
    /// held) when a release brings usage down to the level the fetcher waits for.
    pub fn new(limit: usize, wake: Box<dyn Fn() + Send + Sync>) -> Budget {
        Budget {
            limit,
            state: Mutex::new(BudgetState::default()),
            wake,
        }
    }

    pub fn used(&self) -> usize {
        self.state.lock().used.bytes
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The highest usage so far.
    pub fn peak(&self) -> usize {
        self.state.lock().peak
    }

    /// Bytes of chunks queued for the application and not yet handed out: what the
    /// prefetch target measures.
    pub fn queued(&self) -> usize {
        self.state.lock().queued.bytes
    }

    /// Counts `n` bytes as queued until the returned guard is dropped.
    pub fn queue(self: &Arc<Self>, n: usize) -> Queued {
        self.state.lock().queued.bytes += n;
        Queued {
            budget: self.clone(),
            bytes: n,
        }
    }

    /// Asks for `wake` once what is queued is at most `level` (replacing an earlier
    /// request). False, and nothing asked, if it already is.
    pub fn wake_when_queued_at_most(&self, level: usize) -> bool {
        self.state.lock().queued.wake_at_most(level)
    }

    fn unqueue(&self, n: usize) {
        let wake = self.state.lock().queued.sub(n);
        if wake {
            (self.wake)();
        }
    }

    /// Charges `n` bytes whether or not they fit.
    pub fn charge(self: &Arc<Self>, n: usize) -> Charge {
        let mut s = self.state.lock();
        s.used.bytes += n;
        s.peak = s.peak.max(s.used.bytes);
        drop(s);
        Charge {
            budget: self.clone(),
            bytes: n,
            shared: None,
        }
    }

    /// Charges `n` bytes if usage stays within the limit.
    pub fn try_charge(self: &Arc<Self>, n: usize) -> Option<Charge> {
        let mut s = self.state.lock();
        if s.used.bytes.checked_add(n)? > self.limit {
            return None;
        }
        s.used.bytes += n;
        s.peak = s.peak.max(s.used.bytes);
        drop(s);
        Some(Charge {
            budget: self.clone(),
            bytes: n,
            shared: None,
        })
    }

    /// Asks for `wake` once usage is at most `level` (replacing an earlier request). False,
    /// and nothing asked, if it already is.
    pub fn wake_when_at_most(&self, level: usize) -> bool {
        self.state.lock().used.wake_at_most(level)
    }

    fn release(&self, n: usize) {
        let wake = self.state.lock().used.sub(n);
        if wake {
            (self.wake)();
        }
    }
}

/// Bytes counted as queued for the application ([`Budget::queue`]) until this is dropped.
pub struct Queued {
    budget: Arc<Budget>,
    bytes: usize,
}

impl fmt::Debug for Queued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queued")
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.budget.unqueue(self.bytes);
    }
}

/// Bytes charged to a [`Budget`], released when this is dropped.
pub struct Charge {
    budget: Arc<Budget>,
    bytes: usize,
    /// A charge shared with other chunks of the same answer (its raw bytes).
    shared: Option<Arc<Charge>>,
}

impl Charge {
    /// The bytes this charge holds on its own (not counting a shared part).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Moves `n` of this charge's bytes (at most all) to a charge of their own.
    fn split_off(&mut self, n: usize) -> Charge {
        let n = n.min(self.bytes);
        self.bytes -= n;
        Charge {
            budget: self.budget.clone(),
            bytes: n,
            shared: None,
        }
    }
}

impl fmt::Debug for Charge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Charge")
            .field("bytes", &self.bytes)
            .field("shared", &self.shared.as_ref().map(|s| s.bytes))
            .finish()
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

/// Records fetched for one partition, handed to the application queue; owns its share of
/// the response buffer and its [`Charge`].
#[derive(Debug)]
pub struct Chunk {
    pub tp: TopicPartition,
    pub records: RecordSet,
    pub high_watermark: i64,
    pub charge: Charge,
    /// The partition's raw bytes in the answer (charged with the answer's shared part).
    pub raw: usize,
}

impl Chunk {
    /// Counts the chunk as queued for the application (its decoded bytes and its raw
    /// ones) until the guard is dropped.
    pub fn queue(&self) -> Queued {
        self.charge
            .budget
            .queue(self.charge.bytes.saturating_add(self.raw))
    }
}

#[derive(Debug)]
pub enum FetchRequestKind {
    Fetch(FetchRequest),
    ListOffsets(ListOffsetsRequest),
}

#[derive(Debug)]
pub enum FetchResponseKind {
    Fetch(FetchResponse),
    ListOffsets(ListOffsetsResponse),
}

#[derive(Debug)]
pub enum FetchEvent {
    /// The position reached the end of the partition (`enable.partition.eof`).
    Eof { tp: TopicPartition, offset: i64 },
    Error {
        tp: Option<TopicPartition>,
        error: Error,
    },
    /// Position reset by `auto.offset.reset` (also after log truncation, KIP-320).
    Reset { tp: TopicPartition, offset: i64 },
}

#[derive(Debug)]
pub enum FetchAction {
    Send {
        id: u64,
        broker: i32,
        req: FetchRequestKind,
    },
    /// Metadata of these topics is needed: call [`Fetcher::set_leaders`] with it.
    NeedMetadata(Vec<String>),
    Deliver(Chunk),
    Event(FetchEvent),
}

#[derive(Debug, Clone, Copy)]
struct Reset {
    timestamp: i64,
    /// Asked for by `auto.offset.reset` (reported as [`FetchEvent::Reset`]).
    auto: bool,
}

#[derive(Debug)]
struct Part {
    position: Option<i64>,
    reset: Option<Reset>,
    stopped: bool,
    paused: bool,
    leader: Option<i32>,
    leader_epoch: i32,
    /// The preferred read replica a Fetch answer named (KIP-392), until when it is
    /// followed.
    replica: Option<(i32, Instant)>,
    last_fetched_epoch: i32,
    backoff_until: Option<Instant>,
    failures: u32,
    in_flight: Option<u64>,
    /// Changes with every new position: answers to requests sent before are ignored.
    gen: u64,
    /// Waiting for the budget to have this much left.
    wait_memory: Option<usize>,
    /// The position an Eof event was last given for.
    eof_at: Option<i64>,
    /// What the partition's last data took in memory (raw and decoded) per raw byte, in
    /// sixteenths: what is asked for is what is left divided by this.
    expansion: u32,
}

impl Part {
    fn new(gen: u64) -> Part {
        Part {
            position: None,
            reset: None,
            stopped: false,
            paused: false,
            leader: None,
            leader_epoch: -1,
            replica: None,
            last_fetched_epoch: -1,
            backoff_until: None,
            failures: 0,
            in_flight: None,
            gen,
            wait_memory: None,
            eof_at: None,
            expansion: 32,
        }
    }

    fn idle(&self, now: Instant) -> bool {
        !self.stopped
            && self.leader.is_some()
            && self.in_flight.is_none()
            && self.backoff_until.is_none_or(|t| t <= now)
    }

    fn fetchable(&self, now: Instant) -> bool {
        self.idle(now)
            && self.position.is_some()
            && self.reset.is_none()
            && !self.paused
            && self.wait_memory.is_none()
    }

    /// The broker fetches go to: the preferred read replica while its lease lasts, else
    /// the leader.
    fn fetch_from(&self, now: Instant) -> Option<i32> {
        match self.replica {
            Some((r, until)) if until > now => Some(r),
            _ => self.leader,
        }
    }

    fn resettable(&self, now: Instant) -> bool {
        self.idle(now) && self.reset.is_some()
    }

    fn back_off(&mut self, s: &FetchSettings, now: Instant) {
        self.failures += 1;
        self.backoff_until = Some(now + backoff(s, self.failures));
    }
}

fn backoff(s: &FetchSettings, failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(20);
    s.retry_backoff
        .saturating_mul(1 << shift)
        .min(s.retry_backoff_max)
}

/// What the broker's fetch session holds of a partition: what was last sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    offset: i64,
    max_bytes: i32,
    leader_epoch: i32,
    last_fetched_epoch: i32,
}

#[derive(Debug, Default)]
struct Session {
    /// 0: none (the next fetch is full).
    id: i32,
    /// The epoch of the next incremental fetch.
    epoch: i32,
    parts: HashMap<TopicPartition, Sent>,
}

impl Session {
    fn reset(&mut self) {
        *self = Session::default();
    }
}

#[derive(Debug, Default)]
struct BrokerState {
    fetch: Option<u64>,
    list: Option<u64>,
    backoff_until: Option<Instant>,
    failures: u32,
    session: Session,
}

#[derive(Debug)]
enum InFlight {
    Fetch {
        broker: i32,
        /// Every partition the request covers (with a session, also those it omits), and
        /// its generation when sent.
        parts: HashMap<TopicPartition, u64>,
        reserved: usize,
        incremental: bool,
        sent: Instant,
        /// What was queued for the application when the request was sent.
        ahead: usize,
    },
    List {
        broker: i32,
        parts: HashMap<TopicPartition, u64>,
    },
}

/// The prefetcher (see the module documentation).
pub struct Fetcher {
    settings: FetchSettings,
    budget: Arc<Budget>,
    limits: DecodeLimits,
    parts: HashMap<TopicPartition, Part>,
    /// Rotation order of the assigned partitions.
    order: Vec<TopicPartition>,
    brokers: BTreeMap<i32, BrokerState>,
    in_flight: HashMap<u64, InFlight>,
    /// What the requests in flight asked for.
    reserved: usize,
    /// How much fetched data the fetcher aims to hold ahead of the application (at most
    /// the budget's limit): it doubles when an answer finds the application (nearly)
    /// out of data while the broker has more.
    target: usize,
    next_id: u64,
    next_gen: u64,
    out: Vec<FetchAction>,
    want_metadata: BTreeSet<String>,
    metadata_at: Option<Instant>,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("partitions", &self.parts.len())
            .field("in_flight", &self.in_flight.len())
            .field("reserved", &self.reserved)
            .finish_non_exhaustive()
    }
}

fn ctx(tp: &TopicPartition) -> String {
    format!("{}/{}", tp.topic, tp.partition)
}

/// Whether a control record is an abort marker (key: version i16, type i16; 0 = abort).
fn is_abort_marker(key: Option<&[u8]>) -> bool {
    matches!(key, Some(k) if k.len() >= 4 && k[2] == 0 && k[3] == 0)
}

/// Drops the records of aborted transactions and every control record (read_committed).
/// A producer's aborted range starts at its `first_offset` and ends at its abort marker.
fn drop_aborted(set: &mut RecordSet, aborted: &[FetchAbortedTransaction]) {
    if aborted.is_empty() && !set.has_control() {
        // Nothing to drop: no aborted transaction and no transaction marker.
        return;
    }
    let mut starts: Vec<(i64, i64)> = aborted
        .iter()
        .map(|a| (a.first_offset, a.producer_id))
        .collect();
    starts.sort_unstable();
    let mut next = 0;
    let mut active: HashSet<i64> = HashSet::new();
    set.retain(|r| {
        while next < starts.len() && starts[next].0 <= r.offset {
            active.insert(starts[next].1);
            next += 1;
        }
        if r.is_control {
            if is_abort_marker(r.key) {
                active.remove(&r.producer_id);
            }
            return false;
        }
        !(r.is_transactional && active.contains(&r.producer_id))
    });
}

impl Fetcher {
    pub fn new(settings: FetchSettings, budget: Arc<Budget>) -> Fetcher {
        let limits = DecodeLimits {
            max_decompressed: settings.response_decompress_cap,
            verify_crc: settings.check_crcs,
            skip_control: !settings.read_committed,
        };
        Fetcher {
            settings,
            budget,
            limits,
            parts: HashMap::new(),
            order: Vec::new(),
            brokers: BTreeMap::new(),
            in_flight: HashMap::new(),
            reserved: 0,
            target: INITIAL_PREFETCH_TARGET,
            next_id: 1,
            next_gen: 1,
            out: Vec::new(),
            want_metadata: BTreeSet::new(),
            metadata_at: None,
        }
    }

    fn gen(&mut self) -> u64 {
        self.next_gen += 1;
        self.next_gen
    }

    /// Adds partitions with no position (awaiting `set_position` or `seek_to`).
    pub fn assign(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            if !self.parts.contains_key(tp) {
                let g = self.gen();
                self.parts.insert(tp.clone(), Part::new(g));
                self.order.push(tp.clone());
            }
        }
    }

    /// Removes partitions; answers in flight for them are ignored.
    pub fn unassign(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            self.parts.remove(tp);
        }
        let parts = &self.parts;
        self.order.retain(|tp| parts.contains_key(tp));
    }

    /// Sets the position (a committed offset or a seek). `offset < 0` applies
    /// `auto.offset.reset`.
    pub fn set_position(&mut self, tp: &TopicPartition, offset: i64, leader_epoch: i32) {
        let g = self.gen();
        let Some(p) = self.parts.get_mut(tp) else {
            return;
        };
        p.gen = g;
        p.in_flight = None;
        p.stopped = false;
        p.wait_memory = None;
        p.eof_at = None;
        if offset >= 0 {
            p.position = Some(offset);
            p.reset = None;
            p.last_fetched_epoch = leader_epoch;
            return;
        }
        p.position = None;
        p.last_fetched_epoch = -1;
        let timestamp = match self.settings.reset {
            OffsetReset::Earliest => -2,
            OffsetReset::Latest => -1,
            OffsetReset::Error => {
                p.reset = None;
                p.stopped = true;
                self.out.push(FetchAction::Event(FetchEvent::Error {
                    tp: Some(tp.clone()),
                    error: Error::new(
                        local::NO_OFFSET,
                        format!(
                            "{}: no offset to start from and auto.offset.reset is error",
                            ctx(tp)
                        ),
                    ),
                }));
                return;
            }
        };
        p.reset = Some(Reset {
            timestamp,
            auto: true,
        });
    }

    /// Moves the position to the partition's earliest or latest offset (ListOffsets).
    pub fn seek_to(&mut self, tp: &TopicPartition, earliest: bool) {
        let g = self.gen();
        let Some(p) = self.parts.get_mut(tp) else {
            return;
        };
        p.gen = g;
        p.in_flight = None;
        p.stopped = false;
        p.wait_memory = None;
        p.eof_at = None;
        p.position = None;
        p.last_fetched_epoch = -1;
        p.reset = Some(Reset {
            timestamp: if earliest { -2 } else { -1 },
            auto: false,
        });
    }

    pub fn pause(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            if let Some(p) = self.parts.get_mut(tp) {
                p.paused = true;
            }
        }
    }

    pub fn resume(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            if let Some(p) = self.parts.get_mut(tp) {
                p.paused = false;
            }
        }
    }

    /// The next offset to fetch, if the partition has a position.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.parts.get(tp).and_then(|p| p.position)
    }

    /// Takes each assigned partition's leader and leader epoch from `snap`.
    pub fn set_leaders(&mut self, snap: &Snapshot) {
        for (tp, p) in &mut self.parts {
            let pm = snap
                .topic(&tp.topic)
                .filter(|t| t.meta.error_code == 0)
                .and_then(|t| t.partition(tp.partition));
            match pm {
                Some(pm) if pm.leader >= 0 => {
                    if p.leader.is_none() || pm.leader_epoch >= p.leader_epoch {
                        if p.leader != Some(pm.leader) {
                            p.backoff_until = None;
                            p.failures = 0;
                        }
                        p.leader = Some(pm.leader);
                        p.leader_epoch = pm.leader_epoch;
                    }
                    // A read replica the metadata no longer lists as an online replica
                    // is given up.
                    if let Some((r, _)) = p.replica {
                        if !pm.replicas.contains(&r) || pm.offline.contains(&r) {
                            p.replica = None;
                        }
                    }
                }
                _ => {
                    p.leader = None;
                    p.replica = None;
                }
            }
        }
    }

    /// What the budget has left for new requests.
    fn left(&self) -> usize {
        self.budget
            .limit()
            .saturating_sub(self.budget.used())
            .saturating_sub(self.reserved)
    }

    /// The prefetch target, within the budget's limit.
    fn cap(&self) -> usize {
        self.target.min(self.budget.limit())
    }

    /// The prefetch target (how much the fetcher aims to hold ahead of the application).
    pub fn prefetch_target(&self) -> usize {
        self.cap()
    }

    fn per_partition_max(&self, left: usize, n: usize) -> i32 {
        let part_max = usize::try_from(self.settings.partition_max_bytes.max(1)).unwrap_or(1);
        let share = (left / n.max(1)).max(MIN_FETCH_BYTES);
        let v = if share >= part_max {
            part_max
        } else {
            1usize << (usize::BITS - 1 - share.leading_zeros())
        };
        i32::try_from(v).unwrap_or(i32::MAX)
    }

    /// What to do now: requests to send, then the deliveries and events produced since the
    /// last call.
    pub fn poll(&mut self, now: Instant) -> Vec<FetchAction> {
        let mut actions = Vec::new();
        // Expired back-offs are cleared, so that next_timer only names future ones.
        for p in self.parts.values_mut() {
            if p.backoff_until.is_some_and(|t| t <= now) {
                p.backoff_until = None;
            }
            // An expired read replica lease: back to the leader, which may name it again.
            if p.replica.is_some_and(|(_, until)| until <= now) {
                p.replica = None;
            }
        }
        for b in self.brokers.values_mut() {
            if b.backoff_until.is_some_and(|t| t <= now) {
                b.backoff_until = None;
            }
        }

        // Metadata for partitions without a leader, at most once per retry.backoff.ms.
        for (tp, p) in &self.parts {
            if p.leader.is_none() && !p.stopped && (p.position.is_some() || p.reset.is_some()) {
                self.want_metadata.insert(tp.topic.clone());
            }
        }
        if !self.want_metadata.is_empty() && self.metadata_at.is_none_or(|t| t <= now) {
            let topics = std::mem::take(&mut self.want_metadata);
            actions.push(FetchAction::NeedMetadata(topics.into_iter().collect()));
            self.metadata_at = Some(now + self.settings.retry_backoff);
        }

        // Partitions waiting for memory the application has released since.
        let left = self.left();
        for p in self.parts.values_mut() {
            if p.wait_memory.is_some_and(|need| need <= left) {
                p.wait_memory = None;
            }
        }

        self.send_list_offsets(now, &mut actions);
        self.send_fetches(now, &mut actions);
        self.arm_wake();
        actions.append(&mut self.out);
        actions
    }

    /// Asks the budget to wake the driver when it has what the fetcher waits for.
    fn arm_wake(&self) {
        let fetching = self.parts.values().any(|p| p.position.is_some());
        if fetching {
            // Fetching goes on once at most half the target is queued, and 4 KiB of it
            // are not asked for by requests in flight.
            let cap = self.cap();
            let at = (cap / 2).min(
                cap.saturating_sub(self.reserved)
                    .saturating_sub(MIN_FETCH_BYTES),
            );
            self.budget.wake_when_queued_at_most(at);
        }
        let mut need: Option<usize> = None;
        if self.left() < MIN_FETCH_BYTES && fetching {
            need = Some(MIN_FETCH_BYTES);
        }
        for p in self.parts.values() {
            if let Some(n) = p.wait_memory {
                need = Some(need.map_or(n, |m| m.min(n)));
            }
        }
        if let Some(need) = need {
            let level = self
                .budget
                .limit()
                .saturating_sub(self.reserved)
                .saturating_sub(need);
            self.budget.wake_when_at_most(level);
        }
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn send_list_offsets(&mut self, now: Instant, actions: &mut Vec<FetchAction>) {
        let mut by_broker: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        for tp in &self.order {
            let p = &self.parts[tp];
            if p.resettable(now) {
                if let Some(l) = p.leader {
                    by_broker.entry(l).or_default().push(tp.clone());
                }
            }
        }
        for (broker, tps) in by_broker {
            let b = self.brokers.entry(broker).or_default();
            if b.list.is_some() || b.backoff_until.is_some() {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            b.list = Some(id);
            let mut topics: Vec<ListOffsetsTopic> = Vec::new();
            let mut parts = HashMap::new();
            for tp in tps {
                let p = self.parts.get_mut(&tp).expect("listed from parts");
                p.in_flight = Some(id);
                let Some(reset) = p.reset else { continue };
                let lp = ListOffsetsPartition {
                    partition_index: tp.partition,
                    current_leader_epoch: p.leader_epoch,
                    timestamp: reset.timestamp,
                    ..Default::default()
                };
                parts.insert(tp.clone(), p.gen);
                match topics.iter_mut().find(|t| t.name == tp.topic) {
                    Some(t) => t.partitions.push(lp),
                    None => topics.push(ListOffsetsTopic {
                        name: tp.topic.clone(),
                        partitions: vec![lp],
                        ..Default::default()
                    }),
                }
            }
            self.in_flight.insert(id, InFlight::List { broker, parts });
            actions.push(FetchAction::Send {
                id,
                broker,
                req: FetchRequestKind::ListOffsets(ListOffsetsRequest {
                    replica_id: -1,
                    isolation_level: i8::from(self.settings.read_committed),
                    topics,
                    ..Default::default()
                }),
            });
        }
    }

    fn send_fetches(&mut self, now: Instant, actions: &mut Vec<FetchAction>) {
        let mut by_broker: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        for tp in &self.order {
            let p = &self.parts[tp];
            if p.fetchable(now) {
                if let Some(b) = p.fetch_from(now) {
                    by_broker.entry(b).or_default().push(tp.clone());
                }
            }
        }
        by_broker.retain(|broker, _| {
            let b = self.brokers.entry(*broker).or_default();
            b.fetch.is_none() && b.backoff_until.is_none()
        });
        // Each broker leading partitions with a position may reserve its share of what is
        // not charged, so that one request in flight does not hold up the others.
        let leaders: HashSet<i32> = self
            .parts
            .values()
            .filter(|p| p.position.is_some() && !p.stopped)
            .filter_map(|p| p.fetch_from(now))
            .collect();
        let cap = self.cap();
        let ahead = self.budget.queued();
        if ahead > cap / 2 {
            // More than half the prefetch target waits in the application's queue: it
            // has enough to read while the next answers travel.
            return;
        }
        let share = cap.saturating_sub(ahead) / leaders.len().max(1);
        let hard_share =
            self.budget.limit().saturating_sub(self.budget.used()) / leaders.len().max(1);
        let part_max = usize::try_from(self.settings.partition_max_bytes.max(1)).unwrap_or(1);
        for (broker, tps) in by_broker {
            let left = self
                .left()
                .min(cap.saturating_sub(ahead).saturating_sub(self.reserved))
                .min(share);
            if left < MIN_FETCH_BYTES {
                // The budget is full: nothing more is sent until memory is released.
                return;
            }
            // Raw bytes asked for: what is left divided by how much the partitions' data
            // grew when decoded last time (2 before any).
            let expansion = tps
                .iter()
                .map(|tp| self.parts[tp].expansion)
                .max()
                .unwrap_or(32);
            let mut ask = (left.saturating_mul(16) / expansion as usize).max(MIN_FETCH_BYTES);
            // At least one partition's max.partition.fetch.bytes (within what is left of
            // the target), unless its decoded size would not fit in what is left: data
            // that compresses little would otherwise come in many small answers. (Data
            // that compresses well is asked for by its decoded size, which the target
            // bounds.)
            let floor = part_max.min(left);
            // (`left` is within what the budget has left already.)
            let hard = left.min(hard_share);
            if floor.saturating_mul(expansion as usize) / 16 <= hard {
                ask = ask.max(floor);
            }
            let max_bytes = ask.min(usize::try_from(self.settings.max_bytes.max(1)).unwrap_or(1));
            // Per partition, a share of what is left (not scaled: the request's max_bytes
            // bounds the answer, and this value, which the fetch session compares, stays
            // put while usage moves within a power of two).
            let per = self.per_partition_max(left, tps.len());
            let id = self.take_id();
            let mut sent: Vec<(TopicPartition, Sent)> = Vec::with_capacity(tps.len());
            let mut covered = HashMap::with_capacity(tps.len());
            for tp in tps {
                let p = self.parts.get_mut(&tp).expect("listed from parts");
                p.in_flight = Some(id);
                covered.insert(tp.clone(), p.gen);
                sent.push((
                    tp,
                    Sent {
                        offset: p.position.unwrap_or(0),
                        max_bytes: per,
                        leader_epoch: p.leader_epoch,
                        last_fetched_epoch: p.last_fetched_epoch,
                    },
                ));
            }
            let b = self.brokers.get_mut(&broker).expect("entry made above");
            b.fetch = Some(id);
            let session = &mut b.session;
            let incremental = session.id != 0;
            let (send, forgotten): (Vec<&(TopicPartition, Sent)>, Vec<TopicPartition>) =
                if incremental {
                    let send = sent
                        .iter()
                        .filter(|(tp, s)| session.parts.get(tp) != Some(s))
                        .collect();
                    let mut forgotten: Vec<TopicPartition> = session
                        .parts
                        .keys()
                        .filter(|tp| !covered.contains_key(*tp))
                        .cloned()
                        .collect();
                    forgotten.sort();
                    (send, forgotten)
                } else {
                    (sent.iter().collect(), Vec::new())
                };
            let mut topics: Vec<FetchTopic> = Vec::new();
            for (tp, s) in send {
                let fp = FetchPartition {
                    partition: tp.partition,
                    current_leader_epoch: s.leader_epoch,
                    fetch_offset: s.offset,
                    last_fetched_epoch: s.last_fetched_epoch,
                    log_start_offset: -1,
                    partition_max_bytes: s.max_bytes,
                    ..Default::default()
                };
                match topics.iter_mut().find(|t| t.topic == tp.topic) {
                    Some(t) => t.partitions.push(fp),
                    None => topics.push(FetchTopic {
                        topic: tp.topic.clone(),
                        partitions: vec![fp],
                        ..Default::default()
                    }),
                }
            }
            let mut forgotten_topics_data: Vec<ForgottenTopic> = Vec::new();
            for tp in forgotten {
                match forgotten_topics_data
                    .iter_mut()
                    .find(|t| t.topic == tp.topic)
                {
                    Some(t) => t.partitions.push(tp.partition),
                    None => forgotten_topics_data.push(ForgottenTopic {
                        topic: tp.topic.clone(),
                        partitions: vec![tp.partition],
                        ..Default::default()
                    }),
                }
            }
            let (session_id, session_epoch) = if incremental {
                (session.id, session.epoch)
            } else {
                (0, 0)
            };
            session.parts = sent.into_iter().collect();
            self.reserved += max_bytes;
            self.in_flight.insert(
                id,
                InFlight::Fetch {
                    broker,
                    parts: covered,
                    reserved: max_bytes,
                    incremental,
                    sent: now,
                    ahead,
                },
            );
            actions.push(FetchAction::Send {
                id,
                broker,
                req: FetchRequestKind::Fetch(FetchRequest {
                    replica_id: -1,
                    max_wait_ms: i32::try_from(self.settings.max_wait.as_millis())
                        .unwrap_or(i32::MAX),
                    min_bytes: self.settings.min_bytes,
                    max_bytes: i32::try_from(max_bytes).unwrap_or(i32::MAX),
                    isolation_level: i8::from(self.settings.read_committed),
                    session_id,
                    session_epoch,
                    topics,
                    forgotten_topics_data,
                    rack_id: self.settings.rack.clone(),
                    ..Default::default()
                }),
            });
        }
    }

    /// When to poll next (a back-off ends, or metadata may be asked again), if anything
    /// waits on time.
    pub fn next_timer(&self) -> Option<Instant> {
        let parts = self.parts.values().filter_map(|p| p.backoff_until);
        let brokers = self.brokers.values().filter_map(|b| b.backoff_until);
        let metadata = self.metadata_at.filter(|_| {
            !self.want_metadata.is_empty()
                || self
                    .parts
                    .values()
                    .any(|p| p.leader.is_none() && !p.stopped && p.position.is_some())
        });
        parts.chain(brokers).chain(metadata).min()
    }

    /// An answer to request `id`, sent at `version`. Its deliveries and events come from
    /// the next [`poll`](Self::poll).
    pub fn on_response(
        &mut self,
        id: u64,
        r: Result<FetchResponseKind>,
        version: i16,
        now: Instant,
    ) {
        let Some(f) = self.in_flight.remove(&id) else {
            return;
        };
        match f {
            InFlight::Fetch {
                broker,
                parts,
                reserved,
                incremental,
                sent,
                ahead,
            } => {
                self.reserved = self.reserved.saturating_sub(reserved);
                self.release_in_flight(id, &parts);
                let b = self.brokers.entry(broker).or_default();
                if b.fetch == Some(id) {
                    b.fetch = None;
                }
                match r {
                    Ok(FetchResponseKind::Fetch(resp)) => {
                        // The application read at least an eighth of the target while
                        // the request travelled and had at most an eighth left when the
                        // answer came; with the broker holding more than it sent and a
                        // slow round trip, the target is too small.
                        let held = self.budget.queued();
                        let behind =
                            self.fetch_answer(broker, &parts, resp, version, incremental, now);
                        let slow = now.saturating_duration_since(sent) >= GROW_AFTER;
                        let cap = self.cap();
                        if behind && slow && ahead >= cap / 4 && held <= cap / 8 {
                            self.target = self.target.saturating_mul(2).min(self.budget.limit());
                        }
                    }
                    Ok(FetchResponseKind::ListOffsets(_)) => self.broker_failed(
                        broker,
                        &parts,
                        &Error::protocol(format!(
                            "broker {broker}: a Fetch answered by ListOffsets"
                        )),
                        now,
                    ),
                    Err(e) => self.broker_failed(broker, &parts, &e, now),
                }
            }
            InFlight::List { broker, parts } => {
                self.release_in_flight(id, &parts);
                let b = self.brokers.entry(broker).or_default();
                if b.list == Some(id) {
                    b.list = None;
                }
                match r {
                    Ok(FetchResponseKind::ListOffsets(resp)) => {
                        self.list_answer(broker, &parts, resp, version, now)
                    }
                    Ok(FetchResponseKind::Fetch(_)) => {
                        let e = Error::protocol(format!(
                            "broker {broker}: a ListOffsets answered by Fetch"
                        ));
                        self.list_failed(broker, &parts, &e, now)
                    }
                    Err(e) => self.list_failed(broker, &parts, &e, now),
                }
            }
        }
    }

    fn release_in_flight(&mut self, id: u64, parts: &HashMap<TopicPartition, u64>) {
        for tp in parts.keys() {
            if let Some(p) = self.parts.get_mut(tp) {
                if p.in_flight == Some(id) {
                    p.in_flight = None;
                }
            }
        }
    }

    /// The current partition of an answer, if the answer is not stale for it.
    fn current(&mut self, tp: &TopicPartition, gen: Option<&u64>) -> Option<&mut Part> {
        let gen = *gen?;
        self.parts.get_mut(tp).filter(|p| p.gen == gen)
    }

    /// A transport or request-level failure of a Fetch.
    fn broker_failed(
        &mut self,
        broker: i32,
        parts: &HashMap<TopicPartition, u64>,
        e: &Error,
        now: Instant,
    ) {
        let s = &self.settings;
        let b = self.brokers.entry(broker).or_default();
        b.session.reset();
        b.failures += 1;
        b.backoff_until = Some(now + backoff(s, b.failures));
        // Partitions read from this broker as their preferred read replica go back to
        // their leader at once.
        for tp in parts.keys() {
            if let Some(p) = self.parts.get_mut(tp) {
                if p.replica.is_some_and(|(r, _)| r == broker) {
                    p.replica = None;
                }
            }
        }
        if e.needs_metadata_refresh() {
            for tp in parts.keys() {
                if self.parts.contains_key(tp) {
                    self.want_metadata.insert(tp.topic.clone());
                }
            }
        }
    }

    fn stop(&mut self, tp: &TopicPartition, error: Error) {
        if let Some(p) = self.parts.get_mut(tp) {
            p.stopped = true;
        }
        self.out.push(FetchAction::Event(FetchEvent::Error {
            tp: Some(tp.clone()),
            error,
        }));
    }

    /// `auto.offset.reset` after OFFSET_OUT_OF_RANGE.
    fn out_of_range(&mut self, tp: &TopicPartition, offset: i64) {
        let g = self.gen();
        let reset = self.settings.reset;
        let Some(p) = self.parts.get_mut(tp) else {
            return;
        };
        let timestamp = match reset {
            OffsetReset::Earliest => -2,
            OffsetReset::Latest => -1,
            OffsetReset::Error => {
                let e = Error::new(
                    local::AUTO_OFFSET_RESET,
                    format!(
                        "{}: offset {offset} is out of range and auto.offset.reset is error",
                        ctx(tp)
                    ),
                );
                self.stop(tp, e);
                return;
            }
        };
        p.gen = g;
        p.position = None;
        p.last_fetched_epoch = -1;
        p.eof_at = None;
        p.reset = Some(Reset {
            timestamp,
            auto: true,
        });
    }

    /// A partition error of a Fetch answer (not OFFSET_OUT_OF_RANGE).
    fn partition_error(
        &mut self,
        tp: &TopicPartition,
        code: i16,
        hint: Option<LeaderIdAndEpoch>,
        broker: i32,
        now: Instant,
    ) {
        let s = &self.settings;
        let Some(p) = self.parts.get_mut(tp) else {
            return;
        };
        if is_leadership(code) {
            match hint.filter(|h| h.is_known() && h.leader_epoch > p.leader_epoch) {
                Some(h) => {
                    p.leader = Some(h.leader_id);
                    p.leader_epoch = h.leader_epoch;
                }
                None => {
                    p.back_off(s, now);
                    self.want_metadata.insert(tp.topic.clone());
                }
            }
            return;
        }
        if code != CORRUPT_MESSAGE
            && code != TOPIC_AUTHORIZATION_FAILED
            && error_codes::is_retriable(code)
        {
            p.back_off(s, now);
            return;
        }
        let at = p.position.unwrap_or(-1);
        self.stop(
            tp,
            Error::kafka(
                code,
                format!("{} at offset {at} (broker {broker})", ctx(tp)),
            ),
        );
    }

    fn fetch_answer(
        &mut self,
        broker: i32,
        parts: &HashMap<TopicPartition, u64>,
        mut resp: FetchResponse,
        version: i16,
        incremental: bool,
        now: Instant,
    ) -> bool {
        {
            let b = self.brokers.entry(broker).or_default();
            if resp.error_code != 0 {
                b.session.reset();
                let code = resp.error_code;
                if code != FETCH_SESSION_ID_NOT_FOUND && code != INVALID_FETCH_SESSION_EPOCH {
                    b.failures += 1;
                    b.backoff_until = Some(now + backoff(&self.settings, b.failures));
                    self.out.push(FetchAction::Event(FetchEvent::Error {
                        tp: None,
                        error: Error::kafka(code, format!("Fetch from broker {broker}")),
                    }));
                }
                return false;
            }
            b.failures = 0;
            if !incremental {
                b.session.id = if version >= 7 { resp.session_id } else { 0 };
                b.session.epoch = i32::from(b.session.id != 0);
            } else {
                b.session.epoch = if b.session.epoch == i32::MAX {
                    1
                } else {
                    b.session.epoch + 1
                };
            }
            if b.session.id == 0 {
                b.session.parts.clear();
            }
        }

        // The raw bytes of the answer stay in memory while any chunk from it lives.
        let raw: usize = resp
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
            .sum();
        let mut shared: Option<Arc<Charge>> = None;
        let mut cap_used = 0usize;
        let mut delivered: HashSet<TopicPartition> = HashSet::new();
        // Whether the broker held more than it sent.
        let mut behind = false;
        let lease = now + self.settings.read_replica_lease;

        for t in &mut resp.responses {
            for pd in &mut t.partitions {
                let tp = TopicPartition::new(t.topic.clone(), pd.partition_index);
                let gen = parts.get(&tp);
                let Some(p) = self.current(&tp, gen) else {
                    continue;
                };
                let Some(position) = p.position else { continue };
                if p.reset.is_some() || p.stopped {
                    continue;
                }
                if pd.error_code != 0 && p.leader != Some(broker) {
                    // An error from a read replica (KIP-392), or from a broker that no
                    // longer leads: the partition goes back to its leader at once, which
                    // judges the offset (a follower's log may lag or start later).
                    let code = pd.error_code;
                    p.replica = None;
                    if is_leadership(code) {
                        self.want_metadata.insert(tp.topic.clone());
                    }
                    continue;
                }
                if pd.error_code == OFFSET_OUT_OF_RANGE {
                    self.out_of_range(&tp, position);
                    continue;
                }
                if pd.error_code != 0 {
                    let hint = if version >= 12 {
                        pd.current_leader()
                    } else {
                        None
                    };
                    self.partition_error(&tp, pd.error_code, hint, broker, now);
                    continue;
                }
                p.failures = 0;
                if version >= 11 {
                    // KIP-392: the broker names the replica to read from next.
                    let pref = pd.preferred_read_replica;
                    if pref >= 0 && pref != broker {
                        p.replica = if Some(pref) == p.leader {
                            None
                        } else {
                            Some((pref, lease))
                        };
                    }
                }
                if version >= 12 {
                    if let Some(Ok(d)) = pd
                        .tagged_fields
                        .decode::<EpochEndOffset>(DIVERGING_EPOCH_TAG, 12)
                    {
                        if d.epoch >= 0 && d.end_offset >= 0 {
                            self.diverged(&tp, position, &d);
                            continue;
                        }
                    }
                }
                if p.paused {
                    continue;
                }
                let input = pd.records.take().unwrap_or_default();
                let end = if self.settings.read_committed && pd.last_stable_offset >= 0 {
                    pd.last_stable_offset
                } else {
                    pd.high_watermark
                };
                if input.is_empty() {
                    self.check_eof(&tp, end);
                    continue;
                }
                let own_len = input.len();
                let limit = self.budget.limit();
                let cap = self.settings.response_decompress_cap;
                let cap_left = cap.saturating_sub(cap_used);
                let room = limit.saturating_sub(own_len);
                let mut db = DecodeBudget::new(cap_left.min(room));
                let at = format!("{} at offset {position} (broker {broker})", ctx(&tp));
                let kept = input.clone();
                let mut set = match RecordSet::decode_within(input, &self.limits, &mut db) {
                    Ok(set) => set,
                    Err(_) if db.refused() || own_len > limit => {
                        // More than fits: ask for less next time, and see whether the
                        // first batch alone would fit.
                        let grown = (own_len + room.min(cap_left)).saturating_add(1);
                        self.learn_expansion(&tp, own_len, grown);
                        self.refused(&tp, &kept, &at, cap_left < cap);
                        continue;
                    }
                    Err(e) => {
                        let code = match e.kind {
                            DecodeErrorKind::Compression(_) => local::BAD_COMPRESSION,
                            _ => local::BAD_MSG,
                        };
                        let msg = format!("{at}: {e}; the partition is stopped");
                        self.stop(&tp, Error::new(code, msg));
                        continue;
                    }
                };
                if self.settings.read_committed {
                    drop_aborted(&mut set, pd.aborted_transactions.as_deref().unwrap_or(&[]));
                }
                set.drop_before(position);
                let next = set.next_offset().map_or(position, |n| n.max(position));
                if set.is_empty() {
                    // Only control batches, aborted records or records before the
                    // position: the position moves on, nothing is delivered.
                    if let Some(p) = self.parts.get_mut(&tp) {
                        p.position = Some(next);
                    }
                    self.check_eof(&tp, end);
                    continue;
                }
                let charged = set.charged_bytes();
                // The answer's raw bytes are charged with its first delivery, in one step
                // with that delivery's own bytes.
                let fits = match &shared {
                    Some(_) => self.budget.try_charge(charged),
                    None => self
                        .budget
                        .try_charge(raw.saturating_add(charged))
                        .map(|mut both| {
                            shared = Some(Arc::new(both.split_off(raw)));
                            both
                        }),
                };
                self.learn_expansion(&tp, own_len, own_len + charged);
                let Some(mut charge) = fits else {
                    drop(set);
                    self.refused(&tp, &kept, &at, false);
                    continue;
                };
                charge.shared = shared.clone();
                cap_used += charged;
                let epoch = set
                    .iter()
                    .next_back()
                    .map_or(-1, |r| r.partition_leader_epoch);
                if let Some(p) = self.parts.get_mut(&tp) {
                    p.position = Some(next);
                    if epoch >= 0 {
                        p.last_fetched_epoch = epoch;
                    }
                }
                behind |= next < end;
                delivered.insert(tp.clone());
                self.out.push(FetchAction::Deliver(Chunk {
                    tp: tp.clone(),
                    records: set,
                    high_watermark: pd.high_watermark,
                    charge,
                    raw: own_len,
                }));
                self.check_eof(&tp, end);
            }
        }
        if !delivered.is_empty() {
            // Rotation: partitions that delivered go to the back, in their order.
            let (mut front, back): (Vec<TopicPartition>, Vec<TopicPartition>) =
                self.order.drain(..).partition(|tp| !delivered.contains(tp));
            front.extend(back);
            self.order = front;
        }
        behind
    }

    /// Records `tp`'s data took `total` bytes (raw and decoded) for `raw` raw bytes: the
    /// ratio scales what the next fetch asks for.
    fn learn_expansion(&mut self, tp: &TopicPartition, raw: usize, total: usize) {
        if let Some(p) = self.parts.get_mut(tp) {
            // A power of two, so that what is asked for (which the fetch session compares)
            // changes seldom.
            let e = total.saturating_mul(16).div_ceil(raw.max(1));
            p.expansion = u32::try_from(e)
                .unwrap_or(u32::MAX)
                .clamp(16, MAX_EXPANSION)
                .next_power_of_two();
        }
    }

    /// A partition's data did not fit (in what the budget has left, or in what the
    /// answer's earlier partitions left of `fetch.max.decompressed.bytes` when
    /// `cap_shared`). If its first batch alone cannot fit in an empty budget (or in the
    /// whole per-answer cap), that is an error; else the partition is fetched again, asking
    /// for less, once the budget has room for that batch.
    fn refused(&mut self, tp: &TopicPartition, input: &Bytes, at: &str, cap_shared: bool) {
        let limit = self.budget.limit();
        let cap = self.settings.response_decompress_cap;
        let first = if input.len() >= 12 {
            let n = i32::from_be_bytes([input[8], input[9], input[10], input[11]]);
            usize::try_from(n).map_or(input.len(), |n| n.saturating_add(12).min(input.len()))
        } else {
            input.len()
        };
        let room = limit.saturating_sub(first);
        let mut db = DecodeBudget::new(cap.min(room));
        let need = if first > limit {
            None
        } else {
            match RecordSet::decode_within(input.slice(..first), &self.limits, &mut db) {
                Ok(set) => Some(first + set.charged_bytes()),
                Err(_) if db.refused() => None,
                // Malformed: fetched again, the whole decode reports it.
                Err(_) => Some(first),
            }
        };
        match need {
            None => {
                let (property, bound) = if cap < room {
                    ("fetch.max.decompressed.bytes", cap)
                } else {
                    ("queued.max.messages.kbytes", limit)
                };
                let what = format!("one batch of {first} bytes");
                self.oversize(tp, at, &what, bound, property);
            }
            Some(_) if cap_shared => {}
            Some(need) => {
                let left = limit
                    .saturating_sub(self.budget.used())
                    .saturating_sub(self.reserved);
                if let Some(p) = self.parts.get_mut(tp) {
                    if need > left {
                        p.wait_memory = Some(need);
                    }
                }
            }
        }
    }

    fn oversize(
        &mut self,
        tp: &TopicPartition,
        at: &str,
        need: &str,
        limit: usize,
        property: &str,
    ) {
        self.stop(
            tp,
            Error::new(
                local::BAD_MSG,
                format!(
                    "{at}: the records ({need}) do not fit in {property} ({limit} bytes for the \
                     raw records plus their decompressed bytes and index); raise {property}"
                ),
            ),
        );
    }

    fn diverged(&mut self, tp: &TopicPartition, position: i64, d: &EpochEndOffset) {
        if d.end_offset >= position {
            if let Some(p) = self.parts.get_mut(tp) {
                p.last_fetched_epoch = d.epoch;
            }
            return;
        }
        let what = format!(
            "{}: log truncation detected: the leader's log diverges at offset {} (epoch {}), \
             below the position {position}",
            ctx(tp),
            d.end_offset,
            d.epoch
        );
        if self.settings.reset == OffsetReset::Error {
            self.stop(
                tp,
                Error::new(
                    local::AUTO_OFFSET_RESET,
                    format!("{what}; auto.offset.reset is error"),
                ),
            );
            return;
        }
        let g = self.gen();
        if let Some(p) = self.parts.get_mut(tp) {
            p.gen = g;
            p.position = Some(d.end_offset);
            p.last_fetched_epoch = d.epoch;
            p.eof_at = None;
        }
        self.out.push(FetchAction::Event(FetchEvent::Reset {
            tp: tp.clone(),
            offset: d.end_offset,
        }));
    }

    fn check_eof(&mut self, tp: &TopicPartition, end: i64) {
        if !self.settings.partition_eof {
            return;
        }
        let Some(p) = self.parts.get_mut(tp) else {
            return;
        };
        let Some(pos) = p.position else { return };
        if end >= 0 && pos >= end && p.eof_at != Some(pos) {
            p.eof_at = Some(pos);
            self.out.push(FetchAction::Event(FetchEvent::Eof {
                tp: tp.clone(),
                offset: pos,
            }));
        }
    }

    fn list_failed(
        &mut self,
        broker: i32,
        parts: &HashMap<TopicPartition, u64>,
        e: &Error,
        now: Instant,
    ) {
        let b = self.brokers.entry(broker).or_default();
        b.failures += 1;
        b.backoff_until = Some(now + backoff(&self.settings, b.failures));
        if e.needs_metadata_refresh() {
            for tp in parts.keys() {
                if self.parts.contains_key(tp) {
                    self.want_metadata.insert(tp.topic.clone());
                }
            }
        }
    }

    fn list_answer(
        &mut self,
        broker: i32,
        parts: &HashMap<TopicPartition, u64>,
        resp: ListOffsetsResponse,
        version: i16,
        now: Instant,
    ) {
        let mut answered: HashSet<TopicPartition> = HashSet::new();
        for t in resp.topics {
            for lp in t.partitions {
                let tp = TopicPartition::new(t.name.clone(), lp.partition_index);
                let gen = parts.get(&tp);
                if self.current(&tp, gen).is_none() {
                    continue;
                }
                answered.insert(tp.clone());
                let offset = if version == 0 {
                    lp.old_style_offsets.first().copied().unwrap_or(-1)
                } else {
                    lp.offset
                };
                let code = lp.error_code;
                let s = &self.settings;
                let p = self.parts.get_mut(&tp).expect("current");
                let Some(reset) = p.reset else { continue };
                if code == 0 && offset >= 0 {
                    p.position = Some(offset);
                    p.reset = None;
                    p.failures = 0;
                    p.eof_at = None;
                    if reset.auto {
                        self.out
                            .push(FetchAction::Event(FetchEvent::Reset { tp, offset }));
                    }
                } else if code == 0 || error_codes::is_retriable(code) {
                    p.back_off(s, now);
                    if is_leadership(code) {
                        self.want_metadata.insert(tp.topic.clone());
                    }
                } else {
                    let e =
                        Error::kafka(code, format!("{}: ListOffsets (broker {broker})", ctx(&tp)));
                    self.stop(&tp, e);
                }
            }
        }
        for (tp, gen) in parts {
            if !answered.contains(tp) {
                let s = self.settings.clone();
                if let Some(p) = self.current(tp, Some(gen)) {
                    p.back_off(&s, now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Metadata, PartitionMeta, TopicMeta};
    use crate::protocol::messages::{
        FetchPartitionData, FetchableTopicResponse, ListOffsetsPartitionResponse,
        ListOffsetsTopicResponse,
    };
    use crate::protocol::Uuid;
    use crate::record::{encode_batch, BatchOptions, RecordIn};
    use bytes::Bytes;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const T: &str = "t";

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new(T, p)
    }

    fn settings() -> FetchSettings {
        FetchSettings {
            read_committed: false,
            budget_bytes: 1 << 20,
            check_crcs: true,
            partition_eof: true,
            reset: OffsetReset::Earliest,
            rack: "rack-a".into(),
            ..FetchSettings::default()
        }
    }

    /// Partitions of topic `t`: (partition, leader, leader epoch).
    fn snapshot(parts: &[(i32, i32, i32)]) -> Snapshot {
        let md = Metadata {
            topics: vec![TopicMeta {
                name: T.into(),
                error_code: 0,
                topic_id: Uuid::default(),
                is_internal: false,
                partitions: parts
                    .iter()
                    .map(|&(partition, leader, leader_epoch)| PartitionMeta {
                        partition,
                        error_code: 0,
                        leader,
                        leader_epoch,
                        replicas: vec![leader],
                        isr: vec![leader],
                        offline: vec![],
                    })
                    .collect(),
            }],
            ..Metadata::default()
        };
        Snapshot::default().merged(&md, true, Instant::now())
    }

    struct Rig {
        f: Fetcher,
        budget: Arc<Budget>,
        wakes: Arc<AtomicUsize>,
        now: Instant,
    }

    fn rig(s: FetchSettings, parts: &[(i32, i32, i32)]) -> Rig {
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        let budget = Arc::new(Budget::new(
            s.budget_bytes,
            Box::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            }),
        ));
        let mut f = Fetcher::new(s, budget.clone());
        let tps: Vec<TopicPartition> = parts.iter().map(|p| tp(p.0)).collect();
        f.assign(&tps);
        f.set_leaders(&snapshot(parts));
        for t in &tps {
            f.set_position(t, 0, 3);
        }
        Rig {
            f,
            budget,
            wakes,
            now: Instant::now(),
        }
    }

    impl Rig {
        fn poll(&mut self) -> Vec<FetchAction> {
            self.f.poll(self.now)
        }
        fn answer(&mut self, id: u64, resp: FetchResponse) -> Vec<FetchAction> {
            self.f
                .on_response(id, Ok(FetchResponseKind::Fetch(resp)), 12, self.now);
            self.poll()
        }
    }

    fn fetches(actions: &[FetchAction]) -> Vec<(u64, i32, &FetchRequest)> {
        actions
            .iter()
            .filter_map(|a| match a {
                FetchAction::Send {
                    id,
                    broker,
                    req: FetchRequestKind::Fetch(r),
                } => Some((*id, *broker, r)),
                _ => None,
            })
            .collect()
    }

    fn lists(actions: &[FetchAction]) -> Vec<(u64, i32, &ListOffsetsRequest)> {
        actions
            .iter()
            .filter_map(|a| match a {
                FetchAction::Send {
                    id,
                    broker,
                    req: FetchRequestKind::ListOffsets(r),
                } => Some((*id, *broker, r)),
                _ => None,
            })
            .collect()
    }

    fn only_fetch(actions: &[FetchAction]) -> (u64, FetchRequest) {
        let f = fetches(actions);
        assert_eq!(f.len(), 1, "{actions:?}");
        (f[0].0, f[0].2.clone())
    }

    /// (partition, fetch offset) of a request, in order.
    fn asked(r: &FetchRequest) -> Vec<(i32, i64)> {
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (p.partition, p.fetch_offset)))
            .collect()
    }

    fn forgotten(r: &FetchRequest) -> Vec<i32> {
        r.forgotten_topics_data
            .iter()
            .flat_map(|t| t.partitions.iter().copied())
            .collect()
    }

    fn chunks(actions: Vec<FetchAction>) -> Vec<Chunk> {
        actions
            .into_iter()
            .filter_map(|a| match a {
                FetchAction::Deliver(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    fn events(actions: &[FetchAction]) -> Vec<&FetchEvent> {
        actions
            .iter()
            .filter_map(|a| match a {
                FetchAction::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn error_of(actions: &[FetchAction]) -> &Error {
        match events(actions).as_slice() {
            [FetchEvent::Error { error, .. }] => error,
            other => panic!("{other:?}"),
        }
    }

    fn offsets(c: &Chunk) -> Vec<i64> {
        c.records.iter().map(|r| r.offset).collect()
    }

    fn batch_with(base: i64, n: usize, value: &[u8], opts: BatchOptions) -> Vec<u8> {
        let recs = vec![
            RecordIn {
                key: None,
                value: Some(value),
                headers: &[],
                timestamp: Some(1),
            };
            n
        ];
        let mut out = Vec::new();
        encode_batch(
            &recs,
            &BatchOptions {
                base_offset: base,
                partition_leader_epoch: 3,
                ..opts
            },
            &mut out,
        )
        .unwrap();
        out
    }

    fn batch(base: i64, n: usize) -> Vec<u8> {
        batch_with(base, n, b"value", BatchOptions::default())
    }

    fn txn(base: i64, n: usize, pid: i64) -> Vec<u8> {
        batch_with(
            base,
            n,
            b"txn",
            BatchOptions {
                producer_id: pid,
                producer_epoch: 0,
                base_sequence: 0,
                transactional: true,
                ..BatchOptions::default()
            },
        )
    }

    /// A transaction marker: a control batch of one record (key: version 0, type 0 abort
    /// or 1 commit).
    fn marker(base: i64, pid: i64, commit: bool) -> Vec<u8> {
        let key = [0, 0, 0, u8::from(commit)];
        let value = [0, 0, 0, 0, 0, 0];
        let recs = [RecordIn {
            key: Some(&key),
            value: Some(&value),
            headers: &[],
            timestamp: Some(1),
        }];
        let mut out = Vec::new();
        let opts = BatchOptions {
            base_offset: base,
            producer_id: pid,
            producer_epoch: 0,
            transactional: true,
            ..BatchOptions::default()
        };
        encode_batch(&recs, &opts, &mut out).unwrap();
        out[22] |= 0x20; // the control attribute
        let crc = crc32c::crc32c(&out[21..]);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        out
    }

    fn pdata(p: i32, error: i16, hw: i64, records: Vec<u8>) -> FetchPartitionData {
        FetchPartitionData {
            partition_index: p,
            error_code: error,
            high_watermark: hw,
            last_stable_offset: hw,
            records: Some(Bytes::from(records)),
            ..Default::default()
        }
    }

    fn resp(session_id: i32, parts: Vec<FetchPartitionData>) -> FetchResponse {
        FetchResponse {
            session_id,
            responses: vec![FetchableTopicResponse {
                topic: T.into(),
                partitions: parts,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// Like [`snapshot`], every partition replicated on `replicas` (none offline).
    fn snapshot_on(parts: &[(i32, i32, i32)], replicas: &[i32]) -> Snapshot {
        let md = Metadata {
            topics: vec![TopicMeta {
                name: T.into(),
                error_code: 0,
                topic_id: Uuid::default(),
                is_internal: false,
                partitions: parts
                    .iter()
                    .map(|&(partition, leader, leader_epoch)| PartitionMeta {
                        partition,
                        error_code: 0,
                        leader,
                        leader_epoch,
                        replicas: replicas.to_vec(),
                        isr: replicas.to_vec(),
                        offline: vec![],
                    })
                    .collect(),
            }],
            ..Metadata::default()
        };
        Snapshot::default().merged(&md, true, Instant::now())
    }

    /// The fetch to `broker` among `actions`, if any.
    fn fetch_to(actions: &[FetchAction], broker: i32) -> Option<(u64, FetchRequest)> {
        fetches(actions)
            .into_iter()
            .find(|f| f.1 == broker)
            .map(|f| (f.0, f.2.clone()))
    }

    fn preferring(p: i32, replica: i32) -> FetchPartitionData {
        FetchPartitionData {
            preferred_read_replica: replica,
            ..pdata(p, 0, 0, vec![])
        }
    }

    /// Partition 0 led by broker 1 (epoch 5) on replicas 1, 2, 3: the leader's first
    /// answer names broker 3; returns the rig and the actions of the poll after it.
    fn on_read_replica(s: FetchSettings) -> (Rig, Vec<FetchAction>) {
        let mut r = rig(s, &[(0, 1, 5)]);
        r.f.set_leaders(&snapshot_on(&[(0, 1, 5)], &[1, 2, 3]));
        let (id, q) = only_fetch(&r.poll());
        assert_eq!(q.rack_id, "rack-a");
        let a = r.answer(id, resp(0, vec![preferring(0, 3)]));
        (r, a)
    }

    #[test]
    fn fetches_follow_the_preferred_read_replica_and_an_error_there_goes_back_to_the_leader() {
        let (mut r, a) = on_read_replica(settings());
        let (id, q) = only_fetch(&a);
        assert!(fetch_to(&a, 3).is_some(), "{a:?}");
        assert_eq!(asked(&q), vec![(0, 0)]);
        // The follower checks the leader epoch too.
        assert_eq!(q.topics[0].partitions[0].current_leader_epoch, 5);
        assert_eq!(q.rack_id, "rack-a");
        // The follower serves records: delivered, the position moves, it stays there.
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 4, batch(0, 4))]));
        let (id, q) = fetch_to(&a, 3).expect("still the follower");
        assert_eq!(asked(&q), vec![(0, 4)]);
        assert_eq!(offsets(&chunks(a)[0]), vec![0, 1, 2, 3]);
        // A follower that lags answers with empty records: nothing delivered, no event
        // but Eof at its high watermark, the position stays, the follower is asked again.
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 4, vec![])]));
        assert!(!a.iter().any(|x| matches!(x, FetchAction::Deliver(_))));
        let (id, q) = fetch_to(&a, 3).expect("still the follower");
        assert_eq!(asked(&q), vec![(0, 4)]);
        // OFFSET_OUT_OF_RANGE from the follower: no reset, no event; the leader is asked
        // the same offset at once.
        let a = r.answer(id, resp(0, vec![pdata(0, OFFSET_OUT_OF_RANGE, -1, vec![])]));
        assert!(events(&a).is_empty(), "{a:?}");
        assert!(lists(&a).is_empty(), "{a:?}");
        let (id, q) = fetch_to(&a, 1).expect("back to the leader");
        assert_eq!(asked(&q), vec![(0, 4)]);
        // The leader naming itself, or -1, changes nothing.
        let a = r.answer(id, resp(0, vec![preferring(0, 1)]));
        let (id, _) = fetch_to(&a, 1).expect("the leader");
        let a = r.answer(id, resp(0, vec![preferring(0, -1)]));
        let (id, _) = fetch_to(&a, 1).expect("the leader");
        // Named again, then NOT_LEADER_OR_FOLLOWER from the follower: back to the
        // leader at once (no back-off), and metadata is asked for.
        let a = r.answer(id, resp(0, vec![preferring(0, 2)]));
        let (id, _) = fetch_to(&a, 2).expect("the new read replica");
        let a = r.answer(id, resp(0, vec![pdata(0, 6, -1, vec![])]));
        assert!(a
            .iter()
            .any(|x| matches!(x, FetchAction::NeedMetadata(t) if t == &[T.to_string()])));
        assert!(events(&a).is_empty(), "{a:?}");
        assert_eq!(asked(&fetch_to(&a, 1).expect("the leader").1), vec![(0, 4)]);
    }

    #[test]
    fn a_preferred_read_replica_is_ignored_before_version_11() {
        let mut r = rig(settings(), &[(0, 1, 5)]);
        r.f.set_leaders(&snapshot_on(&[(0, 1, 5)], &[1, 2, 3]));
        let (id, _) = only_fetch(&r.poll());
        r.f.on_response(
            id,
            Ok(FetchResponseKind::Fetch(resp(0, vec![preferring(0, 3)]))),
            10,
            r.now,
        );
        assert!(fetch_to(&r.poll(), 1).is_some());
    }

    #[test]
    fn the_read_replica_is_given_up_when_it_fails_leaves_the_metadata_or_its_lease_ends() {
        // Its connection fails: back to the leader at once.
        let (mut r, a) = on_read_replica(settings());
        let (id, _) = fetch_to(&a, 3).expect("the follower");
        r.f.on_response(id, Err(Error::transport("connection reset")), 12, r.now);
        let a = r.poll();
        assert_eq!(asked(&fetch_to(&a, 1).expect("the leader").1), vec![(0, 0)]);

        // The metadata no longer lists it among the replicas, or lists it offline.
        for offline in [false, true] {
            let (mut r, a) = on_read_replica(settings());
            let (id, _) = fetch_to(&a, 3).expect("the follower");
            let snap = if offline {
                let md = Metadata {
                    topics: vec![TopicMeta {
                        name: T.into(),
                        error_code: 0,
                        topic_id: Uuid::default(),
                        is_internal: false,
                        partitions: vec![PartitionMeta {
                            partition: 0,
                            error_code: 0,
                            leader: 1,
                            leader_epoch: 5,
                            replicas: vec![1, 2, 3],
                            isr: vec![1, 2],
                            offline: vec![3],
                        }],
                    }],
                    ..Metadata::default()
                };
                Snapshot::default().merged(&md, true, Instant::now())
            } else {
                snapshot_on(&[(0, 1, 5)], &[1, 2])
            };
            r.f.set_leaders(&snap);
            let a = r.answer(id, resp(0, vec![pdata(0, 0, 0, vec![])]));
            assert!(fetch_to(&a, 1).is_some(), "offline {offline}: {a:?}");
            assert!(fetch_to(&a, 3).is_none(), "offline {offline}: {a:?}");
        }

        // The lease (metadata.max.age.ms) ends: the leader is asked, and may name the
        // replica again.
        let s = FetchSettings {
            read_replica_lease: Duration::from_secs(1),
            ..settings()
        };
        let (mut r, a) = on_read_replica(s);
        let (id, _) = fetch_to(&a, 3).expect("the follower");
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 0, vec![])]));
        let (id, _) = fetch_to(&a, 3).expect("within the lease");
        r.now += Duration::from_millis(1500);
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 0, vec![])]));
        let (id, _) = fetch_to(&a, 1).expect("the lease ended");
        let a = r.answer(id, resp(0, vec![preferring(0, 3)]));
        assert!(fetch_to(&a, 3).is_some(), "{a:?}");
    }

    #[test]
    fn one_fetch_per_broker_covers_its_partitions_with_epochs_rack_and_isolation() {
        let mut r = rig(settings(), &[(0, 1, 5), (1, 2, 6), (2, 1, 5), (3, 2, 6)]);
        let a = r.poll();
        let f = fetches(&a);
        assert_eq!(f.len(), 2, "{a:?}");
        let (_, b1, q1) = f[0];
        let (_, b2, q2) = f[1];
        assert_eq!((b1, asked(q1)), (1, vec![(0, 0), (2, 0)]));
        assert_eq!((b2, asked(q2)), (2, vec![(1, 0), (3, 0)]));
        let p = &q2.topics[0].partitions[0];
        assert_eq!((p.current_leader_epoch, p.last_fetched_epoch), (6, 3));
        assert_eq!(q1.rack_id, "rack-a");
        assert_eq!(q1.isolation_level, 0);
        assert_eq!((q1.session_id, q1.session_epoch), (0, 0));
        // The budget (1 MiB, nothing used) is shared by the two requests.
        // Each asks for half its share: data may grow when decoded (twice, before any is
        // seen).
        assert_eq!((q1.max_bytes, q2.max_bytes), (256 << 10, 256 << 10));
        assert_eq!(q1.topics[0].partitions[0].partition_max_bytes, 256 << 10);
        // One request per broker in flight: nothing more until they are answered.
        assert!(fetches(&r.poll()).is_empty());
    }

    #[test]
    fn partitions_that_delivered_move_to_the_back_of_the_next_request() {
        let mut r = rig(settings(), &[(0, 1, 5), (1, 1, 5), (2, 1, 5)]);
        let (id, q) = only_fetch(&r.poll());
        assert_eq!(asked(&q), [(0, 0), (1, 0), (2, 0)]);
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 10, batch(0, 2))]));
        let (id, q) = only_fetch(&a);
        assert_eq!(offsets(&chunks(a)[0]), [0, 1]);
        assert_eq!(asked(&q), [(1, 0), (2, 0), (0, 2)]);
        let a = r.answer(
            id,
            resp(
                0,
                vec![pdata(1, 0, 10, batch(0, 1)), pdata(0, 0, 10, batch(2, 1))],
            ),
        );
        let (_, q) = only_fetch(&a);
        assert_eq!(chunks(a).len(), 2);
        assert_eq!(asked(&q), [(2, 0), (1, 1), (0, 3)]);
    }

    #[test]
    fn a_full_budget_sends_nothing_until_the_application_releases_memory() {
        let mut r = rig(settings(), &[(0, 1, 5)]);
        let held = r.budget.charge((1 << 20) - MIN_FETCH_BYTES + 1);
        assert!(fetches(&r.poll()).is_empty());
        assert_eq!(r.f.next_timer(), None);
        assert_eq!(r.wakes.load(Ordering::SeqCst), 0);
        drop(held);
        assert_eq!(
            r.wakes.load(Ordering::SeqCst),
            1,
            "the release wakes the driver"
        );
        let (_, q) = only_fetch(&r.poll());
        assert_eq!(q.max_bytes, 512 << 10, "half: data may double when decoded");
    }

    #[test]
    fn the_prefetch_target_grows_only_when_the_application_runs_dry_on_a_slow_backlog() {
        let mut s = settings();
        s.budget_bytes = 16 * INITIAL_PREFETCH_TARGET;
        let mut r = rig(s, &[(0, 1, 5)]);
        let start = INITIAL_PREFETCH_TARGET;
        let slow = GROW_AFTER;
        assert_eq!(r.f.prefetch_target(), start);
        let (id, _) = only_fetch(&r.poll());
        // At the end of the log (the high watermark is the next offset): no growth.
        r.now += slow;
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 100, batch(0, 100))]));
        assert_eq!(r.f.prefetch_target(), start);
        let (id, _) = only_fetch(&a);
        drop(chunks(a));
        // A backlog, but the application has more than an eighth of the target still
        // queued: no growth; and with more than half of it queued, nothing more is
        // fetched, however much of the budget is free.
        let queued = r.budget.queue(start / 2 + 1);
        r.now += slow;
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 100_000, batch(100, 100))]));
        assert_eq!(r.f.prefetch_target(), start);
        assert!(fetches(&a).is_empty(), "{a:?}");
        // Records the application holds (handed out, not yet freed) do not count.
        let held = chunks(a);
        assert!(r.budget.used() > 0);
        assert!(fetches(&r.poll()).is_empty());
        // Once the queue drains to half the target, the driver is woken and fetching
        // goes on.
        let wakes = r.wakes.load(Ordering::SeqCst);
        drop(queued);
        assert_eq!(r.wakes.load(Ordering::SeqCst), wakes + 1);
        let (id, _) = only_fetch(&r.poll());
        // A backlog, the queue empty, but a quick round trip: no growth.
        r.now += slow / 2;
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 100_000, batch(200, 100))]));
        assert_eq!(r.f.prefetch_target(), start);
        let (id, _) = only_fetch(&a);
        drop(chunks(a));
        drop(held);
        // A slow round trip on a backlog, the queue empty at the answer, but empty too
        // when the request went (the application had nothing to read yet, as at the
        // start): no growth.
        r.now += slow;
        r.f.on_response(
            id,
            Ok(FetchResponseKind::Fetch(resp(
                0,
                vec![pdata(0, 0, 100_000, batch(300, 100))],
            ))),
            12,
            r.now,
        );
        assert_eq!(r.f.prefetch_target(), start);
        // The application read the half of the target it had queued while the request
        // travelled, ran dry, the broker held more and the answer took its time: the
        // target doubles, up to the budget's limit.
        let mut next = 400;
        let mut seen = Vec::new();
        for _ in 0..6 {
            let queued = r.budget.queue(r.f.prefetch_target() / 2);
            let a = r.poll();
            let (id, _) = only_fetch(&a);
            drop(chunks(a));
            drop(queued);
            r.now += slow;
            let batch = batch(next, 100);
            next += 100;
            r.f.on_response(
                id,
                Ok(FetchResponseKind::Fetch(resp(
                    0,
                    vec![pdata(0, 0, 100_000, batch)],
                ))),
                12,
                r.now,
            );
            seen.push(r.f.prefetch_target());
        }
        assert_eq!(
            seen,
            [2, 4, 8, 16, 16, 16].map(|m| m * start),
            "doubles from {start} bytes up to the budget's limit"
        );
    }

    #[test]
    fn records_that_do_not_fit_wait_for_memory_and_are_fetched_again() {
        let mut s = settings();
        s.budget_bytes = 256 << 10;
        let mut r = rig(s, &[(0, 1, 5), (1, 1, 5)]);
        let (id, q) = only_fetch(&r.poll());
        assert_eq!(q.max_bytes, 128 << 10, "half: data may double when decoded");
        assert_eq!(q.topics[0].partitions[0].partition_max_bytes, 128 << 10);
        // 3000 records: 40 bytes of index each plus their raw bytes, more than half the
        // budget.
        let big = batch(0, 3000);
        let index = RecordSet::decode(Bytes::from(big.clone()), &DecodeLimits::default())
            .unwrap()
            .charged_bytes();
        let need = big.len() + index;
        assert!(need > 128 << 10 && need < 256 << 10, "{need}");
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 4000, big.clone())]));
        let (id, _) = only_fetch(&a);
        let mut first = chunks(a);
        assert_eq!(first.len(), 1);
        let used = r.budget.used();
        assert_eq!(used, need);
        assert!(used <= r.budget.limit());
        // The same again does not fit in what is left: not delivered, position unchanged.
        let a = r.answer(id, resp(0, vec![pdata(1, 0, 4000, big)]));
        // Partition 1 waits; partition 0 is fetched on.
        let (id, q) = only_fetch(&a);
        assert_eq!(asked(&q), [(0, 3000)]);
        // Less is asked for: what is left, divided by how much the data grew.
        assert!(
            (q.max_bytes as usize) < ((256 << 10) - need) / 4,
            "{}",
            q.max_bytes
        );
        assert!(chunks(a).is_empty());
        assert_eq!(r.f.position(&tp(1)), Some(0));
        assert_eq!(r.budget.used(), used, "a refused answer takes nothing");
        assert_eq!(r.budget.peak(), used);
        // The application releases the first chunk; the fetch in flight still holds what it
        // asked for, so partition 1 waits for its answer.
        first.clear();
        assert_eq!(r.budget.used(), 0);
        assert!(fetches(&r.poll()).is_empty());
        let a = r.answer(id, resp(0, vec![]));
        let (_, q) = only_fetch(&a);
        assert_eq!(
            asked(&q),
            [(1, 0), (0, 3000)],
            "partition 1 is fetched again"
        );
        assert_eq!(r.budget.peak(), need);

        // With nothing in flight, the release itself wakes the driver.
        let mut s = settings();
        s.budget_bytes = 256 << 10;
        let mut r = rig(s, &[(0, 1, 5)]);
        let (id, _) = only_fetch(&r.poll());
        let held = r.budget.charge(110 << 10);
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 4000, batch(0, 3000))]));
        assert!(chunks(a).is_empty());
        assert!(r.f.parts[&tp(0)].wait_memory.is_some());
        assert_eq!(r.wakes.load(Ordering::SeqCst), 0);
        drop(held);
        assert_eq!(r.wakes.load(Ordering::SeqCst), 1);
        let (_, q) = only_fetch(&r.poll());
        assert_eq!(asked(&q), [(0, 0)]);
    }

    #[test]
    fn records_larger_than_an_empty_budget_are_an_error_naming_the_property() {
        let mut s = settings();
        s.budget_bytes = 64 << 10;
        let mut r = rig(s, &[(0, 1, 5)]);
        let (id, _) = only_fetch(&r.poll());
        // KIP-74: the broker sends one whole batch even when it is larger than asked.
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 9000, batch(0, 3000))]));
        let e = error_of(&a);
        assert_eq!(e.code, local::BAD_MSG);
        assert!(
            e.message.contains("t/0 at offset 0")
                && e.message.contains("queued.max.messages.kbytes"),
            "{e}"
        );
        assert_eq!(r.budget.used(), 0);
        assert!(fetches(&r.poll()).is_empty(), "the partition is stopped");
        r.f.set_position(&tp(0), 0, -1);
        assert_eq!(fetches(&r.poll()).len(), 1, "until a new position");
    }

    #[test]
    fn fetch_sessions_full_then_incremental_forget_and_reset() {
        let mut r = rig(settings(), &[(0, 1, 5), (1, 1, 5), (2, 1, 5)]);
        let (id, q) = only_fetch(&r.poll());
        assert_eq!((q.session_id, q.session_epoch), (0, 0));
        assert_eq!(asked(&q).len(), 3);
        // The broker creates session 42; partition 0 has data.
        let a = r.answer(id, resp(42, vec![pdata(0, 0, 10, batch(0, 2))]));
        let (id, q) = only_fetch(&a);
        assert_eq!(chunks(a).len(), 1);
        assert_eq!((q.session_id, q.session_epoch), (42, 1));
        assert_eq!(asked(&q), [(0, 2)], "only what changed");
        assert!(forgotten(&q).is_empty());
        // An answer omitting everything: nothing changes, the next fetch is empty.
        let (id, q) = only_fetch(&r.answer(id, resp(42, vec![])));
        assert_eq!((q.session_id, q.session_epoch), (42, 2));
        assert!(asked(&q).is_empty());
        // The answer may carry data of partitions the request omitted.
        // Unassigned and paused partitions are forgotten.
        r.f.unassign(&[tp(1)]);
        r.f.pause(&[tp(0)]);
        r.f.on_response(
            id,
            Ok(FetchResponseKind::Fetch(resp(
                42,
                vec![pdata(2, 0, 10, batch(0, 1))],
            ))),
            12,
            r.now,
        );
        let a = r.poll();
        let (id, q) = only_fetch(&a);
        assert_eq!(offsets(&chunks(a)[0]), [0]);
        assert_eq!((q.session_id, q.session_epoch), (42, 3));
        assert_eq!(asked(&q), [(2, 1)]);
        assert_eq!(forgotten(&q), [0, 1]);
        r.f.resume(&[tp(0)]);
        let (id, q) = only_fetch(&r.answer(id, resp(42, vec![])));
        assert_eq!(asked(&q), [(0, 2)], "resumed: added back");
        assert_eq!(q.session_epoch, 4);
        // The broker lost the session: the next fetch is full.
        let mut lost = resp(0, vec![]);
        lost.error_code = FETCH_SESSION_ID_NOT_FOUND;
        let a = r.answer(id, lost);
        assert!(events(&a).is_empty());
        let (id, q) = only_fetch(&a);
        assert_eq!((q.session_id, q.session_epoch), (0, 0));
        assert_eq!(asked(&q), [(0, 2), (2, 1)]);
        let a = r.answer(id, resp(43, vec![]));
        let (id, q) = only_fetch(&a);
        assert_eq!((q.session_id, q.session_epoch, asked(&q).len()), (43, 1, 0));
        // So does an invalid epoch and a transport error (after a back-off).
        let mut bad = resp(0, vec![]);
        bad.error_code = INVALID_FETCH_SESSION_EPOCH;
        let (id, q) = only_fetch(&r.answer(id, bad));
        assert_eq!((q.session_id, q.session_epoch), (0, 0));
        let (id, _) = only_fetch(&r.answer(id, resp(44, vec![])));
        r.f.on_response(id, Err(Error::transport("gone")), 12, r.now);
        assert!(fetches(&r.poll()).is_empty(), "the broker backs off");
        r.now = r.f.next_timer().unwrap();
        let (_, q) = only_fetch(&r.poll());
        assert_eq!((q.session_id, q.session_epoch, asked(&q).len()), (0, 0, 2));
    }

    #[test]
    fn a_broker_without_sessions_gets_full_fetches() {
        let mut r = rig(settings(), &[(0, 1, 5), (1, 1, 5)]);
        let (id, _) = only_fetch(&r.poll());
        r.f.on_response(
            id,
            Ok(FetchResponseKind::Fetch(resp(
                0,
                vec![pdata(0, 0, 10, batch(0, 2))],
            ))),
            4,
            r.now,
        );
        let (_, q) = only_fetch(&r.poll());
        assert_eq!((q.session_id, q.session_epoch), (0, 0));
        assert_eq!(asked(&q), [(1, 0), (0, 2)]);
    }

    #[test]
    fn read_committed_delivers_exactly_the_committed_records() {
        let mut s = settings();
        s.read_committed = true;
        let mut r = rig(s, &[(0, 1, 5)]);
        let (id, q) = only_fetch(&r.poll());
        assert_eq!(q.isolation_level, 1);
        // Producer 7 commits 0-1 and 4-5; producer 8 aborts 2-3 and 7, then commits 10;
        // 9 is not transactional.
        let mut data = Vec::new();
        data.extend(txn(0, 2, 7));
        data.extend(txn(2, 2, 8));
        data.extend(txn(4, 2, 7));
        data.extend(marker(6, 7, true));
        data.extend(txn(7, 1, 8));
        data.extend(marker(8, 8, false));
        data.extend(batch(9, 1));
        data.extend(txn(10, 1, 8));
        data.extend(marker(11, 8, true));
        let mut pd = pdata(0, 0, 12, data);
        pd.aborted_transactions = Some(vec![FetchAbortedTransaction {
            producer_id: 8,
            first_offset: 2,
            ..Default::default()
        }]);
        let a = r.answer(id, resp(0, vec![pd]));
        let c = chunks(a);
        assert_eq!(offsets(&c[0]), [0, 1, 4, 5, 9, 10]);
        assert!(c[0].records.iter().all(|r| !r.is_control));
        assert_eq!(r.f.position(&tp(0)), Some(12), "past the last marker");
    }

    /// With no aborted transaction in the answer, only sets holding a marker are
    /// filtered (the others are delivered as decoded); a commit marker is still dropped.
    #[test]
    fn read_committed_without_aborted_transactions_drops_only_markers() {
        let limits = DecodeLimits {
            skip_control: false,
            ..DecodeLimits::default()
        };
        let plain = RecordSet::decode(Bytes::from(batch(0, 3)), &limits).unwrap();
        assert!(!plain.has_control());
        let mut data = txn(0, 2, 7);
        data.extend(marker(2, 7, true));
        let mut set = RecordSet::decode(Bytes::from(data), &limits).unwrap();
        assert!(set.has_control());
        assert_eq!(set.len(), 3);
        drop_aborted(&mut set, &[]);
        assert_eq!(set.iter().map(|r| r.offset).collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn only_control_records_move_the_position_without_a_delivery() {
        let mut s = settings();
        s.read_committed = true;
        let mut r = rig(s, &[(0, 1, 5)]);
        let (id, _) = only_fetch(&r.poll());
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 2, marker(0, 7, true))]));
        assert!(chunks(a).is_empty());
        assert_eq!(r.f.position(&tp(0)), Some(1));
    }

    fn list_answer(p: i32, error: i16, offset: i64) -> ListOffsetsResponse {
        ListOffsetsResponse {
            topics: vec![ListOffsetsTopicResponse {
                name: T.into(),
                partitions: vec![ListOffsetsPartitionResponse {
                    partition_index: p,
                    error_code: error,
                    offset,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn out_of_range_resets_by_list_offsets_and_says_so() {
        let mut r = rig(settings(), &[(0, 1, 5)]);
        let (id, _) = only_fetch(&r.poll());
        let a = r.answer(id, resp(0, vec![pdata(0, OFFSET_OUT_OF_RANGE, 10, vec![])]));
        let l = lists(&a);
        assert_eq!(l.len(), 1, "{a:?}");
        let p = &l[0].2.topics[0].partitions[0];
        assert_eq!((p.timestamp, p.current_leader_epoch), (-2, 5));
        assert_eq!(r.f.position(&tp(0)), None);
        assert!(fetches(&a).is_empty());
        let lid = l[0].0;
        r.f.on_response(
            lid,
            Ok(FetchResponseKind::ListOffsets(list_answer(0, 0, 7))),
            7,
            r.now,
        );
        let a = r.poll();
        assert!(matches!(
            events(&a).as_slice(),
            [FetchEvent::Reset { offset: 7, .. }]
        ));
        assert_eq!(asked(&only_fetch(&a).1), [(0, 7)]);
    }

    #[test]
    fn out_of_range_with_reset_error_is_an_error() {
        let mut s = settings();
        s.reset = OffsetReset::Error;
        let mut r = rig(s, &[(0, 1, 5)]);
        let (id, _) = only_fetch(&r.poll());
        let a = r.answer(id, resp(0, vec![pdata(0, OFFSET_OUT_OF_RANGE, 10, vec![])]));
        let e = error_of(&a);
        assert_eq!(e.code, local::AUTO_OFFSET_RESET);
        assert!(e.message.contains("t/0"), "{e}");
        assert!(fetches(&a).is_empty() && lists(&a).is_empty());
    }

    #[test]
    fn leadership_errors_ask_for_metadata_and_back_off() {
        for code in [6, 74, 75, 3, 5] {
            let mut r = rig(settings(), &[(0, 1, 5), (1, 1, 5)]);
            let (id, _) = only_fetch(&r.poll());
            let a = r.answer(id, resp(0, vec![pdata(0, code, -1, vec![])]));
            assert!(
                a.iter()
                    .any(|x| matches!(x, FetchAction::NeedMetadata(t) if t == &["t".to_string()])),
                "{code}: {a:?}"
            );
            assert!(events(&a).is_empty(), "{code}");
            assert_eq!(asked(&only_fetch(&a).1), [(1, 0)], "{code}: 0 backs off");
            let t = r.f.next_timer().unwrap();
            assert_eq!(t, r.now + Duration::from_millis(100), "{code}");
            // New metadata moves it to broker 2 (once broker 1's request in flight, which
            // holds the budget, is answered).
            r.f.set_leaders(&snapshot(&[(0, 2, 6), (1, 1, 5)]));
            let (id, _) = only_fetch(&a);
            let a = r.answer(id, resp(0, vec![]));
            let f = fetches(&a);
            let to2 = f.iter().find(|f| f.1 == 2).expect("a fetch from broker 2");
            assert_eq!(asked(to2.2), [(0, 0)], "{code}");
            assert_eq!(to2.2.topics[0].partitions[0].current_leader_epoch, 6);
        }
    }

    #[test]
    fn a_current_leader_hint_moves_the_partition_at_once() {
        let mut r = rig(settings(), &[(0, 1, 5)]);
        let (id, _) = only_fetch(&r.poll());
        let mut pd = pdata(0, 6, -1, vec![]);
        pd.set_current_leader(&LeaderIdAndEpoch {
            leader_id: 2,
            leader_epoch: 6,
            ..Default::default()
        });
        let a = r.answer(id, resp(0, vec![pd]));
        assert!(!a.iter().any(|x| matches!(x, FetchAction::NeedMetadata(_))));
        let f = fetches(&a);
        assert_eq!(f[0].1, 2);
        assert_eq!(f[0].2.topics[0].partitions[0].current_leader_epoch, 6);
        // Older metadata does not move it back.
        r.f.set_leaders(&snapshot(&[(0, 1, 5)]));
        assert_eq!(r.f.parts[&tp(0)].leader, Some(2));
    }

    #[test]
    fn authorization_failure_stops_the_partition() {
        let mut r = rig(settings(), &[(0, 1, 5)]);
        let (id, _) = only_fetch(&r.poll());
        let a = r.answer(id, resp(0, vec![pdata(0, 29, -1, vec![])]));
        let e = error_of(&a);
        assert_eq!(e.code, 29);
        assert!(e.message.contains("t/0") && e.message.contains("TOPIC_AUTHORIZATION_FAILED"));
        assert!(fetches(&a).is_empty());
    }

    #[test]
    fn a_corrupt_batch_stops_the_partition_naming_the_offset() {
        let mut r = rig(settings(), &[(0, 1, 5)]);
        r.f.set_position(&tp(0), 5, -1);
        let (id, _) = only_fetch(&r.poll());
        let mut b = batch(5, 3);
        let n = b.len();
        b[n - 2] ^= 0xff;
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 10, b)]));
        let e = error_of(&a);
        assert_eq!(e.code, local::BAD_MSG);
        assert!(e.message.contains("t/0 at offset 5"), "{e}");
        assert!(e.message.to_lowercase().contains("crc"), "{e}");
        assert!(fetches(&a).is_empty());
        assert_eq!(r.f.position(&tp(0)), Some(5), "never skipped");
    }

    fn diverging(pd: &mut FetchPartitionData, epoch: i32, end_offset: i64) {
        pd.tagged_fields.set(
            DIVERGING_EPOCH_TAG,
            &EpochEndOffset {
                epoch,
                end_offset,
                ..Default::default()
            },
            12,
        );
    }

    #[test]
    fn log_truncation_resets_to_the_diverging_offset_or_is_an_error() {
        let mut r = rig(settings(), &[(0, 1, 5)]);
        r.f.set_position(&tp(0), 10, 4);
        let (id, _) = only_fetch(&r.poll());
        let mut pd = pdata(0, 0, 8, vec![]);
        diverging(&mut pd, 4, 8);
        let a = r.answer(id, resp(0, vec![pd]));
        assert!(matches!(
            events(&a).as_slice(),
            [FetchEvent::Reset { offset: 8, .. }]
        ));
        let q = only_fetch(&a).1;
        assert_eq!(asked(&q), [(0, 8)]);
        assert_eq!(q.topics[0].partitions[0].last_fetched_epoch, 4);

        let mut s = settings();
        s.reset = OffsetReset::Error;
        let mut r = rig(s, &[(0, 1, 5)]);
        r.f.set_position(&tp(0), 10, 4);
        let (id, _) = only_fetch(&r.poll());
        let mut pd = pdata(0, 0, 8, vec![]);
        diverging(&mut pd, 4, 8);
        let a = r.answer(id, resp(0, vec![pd]));
        let e = error_of(&a);
        assert_eq!(e.code, local::AUTO_OFFSET_RESET);
        assert!(
            e.message.contains("truncation") && e.message.contains("t/0"),
            "{e}"
        );
        assert!(fetches(&a).is_empty());
    }

    #[test]
    fn eof_once_each_time_the_position_reaches_the_high_watermark() {
        let mut r = rig(settings(), &[(0, 1, 5)]);
        let (id, _) = only_fetch(&r.poll());
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 3, batch(0, 3))]));
        assert!(matches!(a[0], FetchAction::Send { .. }));
        assert!(matches!(
            events(&a).as_slice(),
            [FetchEvent::Eof { offset: 3, .. }]
        ));
        let (id, _) = only_fetch(&a);
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 3, vec![])]));
        assert!(events(&a).is_empty(), "not again at the same position");
        let (id, _) = only_fetch(&a);
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 5, batch(3, 1))]));
        assert!(events(&a).is_empty(), "4 is below 5");
        let (id, _) = only_fetch(&a);
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 5, batch(4, 1))]));
        assert!(matches!(
            events(&a).as_slice(),
            [FetchEvent::Eof { offset: 5, .. }]
        ));
    }

    #[test]
    fn paused_partitions_are_not_fetched_nor_delivered() {
        let mut r = rig(settings(), &[(0, 1, 5), (1, 1, 5)]);
        let (id, _) = only_fetch(&r.poll());
        r.f.pause(&[tp(0)]);
        let a = r.answer(
            id,
            resp(
                0,
                vec![pdata(0, 0, 10, batch(0, 2)), pdata(1, 0, 10, batch(0, 2))],
            ),
        );
        let (id, q) = only_fetch(&a);
        assert_eq!(asked(&q), [(1, 2)]);
        let c = chunks(a);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].tp, tp(1));
        assert_eq!(r.f.position(&tp(0)), Some(0));
        r.f.resume(&[tp(0)]);
        let (_, q) = only_fetch(&r.answer(id, resp(0, vec![])));
        assert_eq!(asked(&q), [(0, 0), (1, 2)]);
    }

    #[test]
    fn seek_and_missing_offsets_use_list_offsets() {
        let mut s = settings();
        s.read_committed = true;
        s.reset = OffsetReset::Latest;
        let mut r = rig(s, &[(0, 1, 5), (1, 1, 5)]);
        r.f.seek_to(&tp(0), true);
        r.f.set_position(&tp(1), -1001, -1);
        let a = r.poll();
        assert!(fetches(&a).is_empty());
        let l = lists(&a);
        assert_eq!(l.len(), 1);
        let req = l[0].2;
        assert_eq!(req.isolation_level, 1);
        let ts: Vec<(i32, i64)> = req.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.timestamp))
            .collect();
        assert_eq!(ts, [(0, -2), (1, -1)]);
        let mut ans = list_answer(0, 0, 3);
        ans.topics[0].partitions.push(ListOffsetsPartitionResponse {
            partition_index: 1,
            offset: 9,
            ..Default::default()
        });
        r.f.on_response(l[0].0, Ok(FetchResponseKind::ListOffsets(ans)), 7, r.now);
        let a = r.poll();
        // Only the auto.offset.reset is reported.
        assert!(matches!(
            events(&a).as_slice(),
            [FetchEvent::Reset { offset: 9, tp }] if tp == &super::tests::tp(1)
        ));
        assert_eq!(asked(&only_fetch(&a).1), [(0, 3), (1, 9)]);

        // No offset and auto.offset.reset=error.
        let mut s = settings();
        s.reset = OffsetReset::Error;
        let mut r = rig(s, &[(0, 1, 5)]);
        r.f.set_position(&tp(0), -1, -1);
        let a = r.poll();
        assert_eq!(error_of(&a).code, local::NO_OFFSET);
        assert!(error_of(&a).message.contains("t/0"));
        assert!(fetches(&a).is_empty() && lists(&a).is_empty());
    }

    #[test]
    fn stale_answers_are_ignored() {
        let mut r = rig(settings(), &[(0, 1, 5), (1, 1, 5)]);
        let (id, _) = only_fetch(&r.poll());
        r.f.unassign(&[tp(0)]);
        r.f.set_position(&tp(1), 100, -1);
        let a = r.answer(
            id,
            resp(
                0,
                vec![pdata(0, 0, 10, batch(0, 2)), pdata(1, 0, 10, batch(0, 2))],
            ),
        );
        let (id, _) = only_fetch(&a);
        assert!(chunks(a).is_empty());
        assert_eq!(r.f.position(&tp(1)), Some(100));
        assert_eq!(r.budget.used(), 0);
        // Unknown ids, answers of the wrong kind.
        r.f.on_response(999, Err(Error::transport("x")), 12, r.now);
        r.f.on_response(
            id,
            Ok(FetchResponseKind::ListOffsets(list_answer(1, 0, 5))),
            7,
            r.now,
        );
        assert_eq!(r.f.position(&tp(1)), Some(100));
    }

    #[test]
    fn hostile_answers_do_not_panic() {
        let mut r = rig(settings(), &[(0, 1, 5)]);
        let junk: Vec<Vec<u8>> = vec![
            vec![0; 11],
            vec![0xff; 80],
            {
                let mut b = batch(0, 2);
                b[8..12].copy_from_slice(&(-5i32).to_be_bytes());
                b
            },
            {
                let mut b = batch(0, 2);
                b[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
                b
            },
        ];
        for (i, j) in junk.into_iter().enumerate() {
            r.f.set_position(&tp(0), 0, -1);
            let a = r.poll();
            let (id, _) = only_fetch(&a);
            let mut pd = pdata(0, 0, i64::MIN, j);
            pd.aborted_transactions = Some(vec![FetchAbortedTransaction::default()]);
            pd.tagged_fields.0.push(crate::protocol::TaggedField {
                tag: 0,
                data: Bytes::from_static(&[1]),
            });
            let mut other = pdata(77, -1, 0, vec![1, 2, 3]);
            other.partition_index = -1;
            let answer = resp(i32::MIN, vec![pd, other]);
            r.f.on_response(id, Ok(FetchResponseKind::Fetch(answer)), 12, r.now);
            assert!(r.f.parts[&tp(0)].stopped || i == 0, "{i}");
        }
        r.f.set_position(&tp(0), 0, -1);
        let (id, _) = only_fetch(&r.poll());
        let mut odd = resp(0, vec![]);
        odd.error_code = i16::MIN;
        let a = r.answer(id, odd);
        assert_eq!(events(&a).len(), 1);
    }

    #[test]
    fn more_than_fits_is_fetched_again_asking_for_less() {
        let mut s = settings();
        s.budget_bytes = 64 << 10;
        let mut r = rig(s, &[(0, 1, 5)]);
        let (id, q) = only_fetch(&r.poll());
        assert_eq!(q.max_bytes, 32 << 10);
        // Four batches of 500 small records: each fits, all four do not (their index).
        let mut data = Vec::new();
        for k in 0..4 {
            data.extend(batch(k * 500, 500));
        }
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 2000, data)]));
        assert!(events(&a).is_empty(), "not an error: {a:?}");
        // Fetched again at once (its first batch fits), asking for less.
        let (id, q) = only_fetch(&a);
        assert!(chunks(a).is_empty());
        assert_eq!(r.budget.used(), 0);
        assert_eq!(asked(&q), [(0, 0)]);
        assert!(q.max_bytes < 32 << 10, "{}", q.max_bytes);
        let a = r.answer(id, resp(0, vec![pdata(0, 0, 2000, batch(0, 500))]));
        assert_eq!(offsets(&chunks(a)[0]).len(), 500);
    }
}
