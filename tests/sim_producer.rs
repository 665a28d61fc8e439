//! Deterministic simulation of the idempotent producer's state
//! (`kafkac::producer::state::State`) against simulated brokers that keep Kafka's rules for
//! idempotent produce: a simulated clock, network and cluster, many seeded scenarios per run,
//! and the producer's guarantees checked on each.
//!
//! ```sh
//! cargo test --release --test sim_producer -- --nocapture            # the default run
//! SIM_SEED=1234 cargo test --release --test sim_producer -- --nocapture sim_producer_seeds
//! SIM_SEEDS=100000 cargo test --release --test sim_producer -- --nocapture sim_producer_seeds
//! SIM_TRACE=1 SIM_SEED=1234 ...                                       # every event of one seed
//! SIM_KNOWN_BUGS=all SIM_KEEP_GOING=1 ...    # count the known producer bugs, list all failures
//! ```
//!
//! The default run (10,000 seeds on up to 4 threads) must finish within `RUN_LIMIT` (60 s,
//! release build); it takes a few seconds on 2 cores.
//!
//! What is simulated:
//!
//! * **Clock**: a base `Instant` taken once plus a simulated offset in microseconds; every
//!   time handed to `State` comes from it. Nothing sleeps.
//! * **Application**: sends each message at its planned time to an explicit partition
//!   (`State::append` with the current metadata snapshot) and wakes the sender when `append`
//!   asks; its value carries the message's number, its opaque is that number. Reports are
//!   taken (`take_reports`) after every step, as `poll` would.
//! * **Sender**: the loop of `src/producer/sender.rs`, step for step: `tick`, then the
//!   InitProducerId call when `init_pid` (blocking, on any reachable broker; retriable
//!   failures back off from `retry.backoff.ms` doubling to `retry.backoff.max.ms`), then one
//!   request per list of batches to its leader (a broker it cannot reach: `retry(..,
//!   written=false)`), then the blocking metadata refresh when `refresh` names topics, then
//!   a wait on the completion queue until `next_timer()` (at most 500 ms, sooner while a
//!   producer id is due), handling every completion there: an answer through `on_answer`
//!   (a partition missing from the answer: `retry(.., written=true)`), a failed request
//!   through `retry(.., written=true)` for each of its batches. NOT_LEADER and the like only
//!   mark the topic stale in the real sender, which changes nothing until the background
//!   refresher's next round; the simulator has the same refresher (every
//!   `topic.metadata.refresh.interval.ms`, here 20 ms to 1 s). A round of the loop that has
//!   nothing to wait for (`next_timer()` already past and no completion) goes round again at
//!   once in the real sender; here it waits 1 ms of simulated time (counted as `spin`).
//!   `BUSY_LOOP_ROUNDS` such rounds in a row with nothing done are a busy loop (the real
//!   sender would spin on a CPU until something changes), which fails the seed.
//! * **Network**: one connection per broker, opened on first use (after a connect delay);
//!   per direction a FIFO stream with a random delay per message. The client fails every
//!   request in flight on a connection when it is reset, or when its oldest request has had
//!   no answer for `request.timeout.ms` plus a socket margin (then it closes it). Requests
//!   written before a close by the client still reach the broker and are processed (their
//!   answers are lost): "zombies".
//! * **Brokers**: Kafka takes a connection's requests one at a time: the next is read once
//!   the answer to the previous one is sent. Each partition batch is checked as Kafka 4.x's
//!   `UnifiedLog`/`ProducerAppendInfo` check it: not the leader → NOT_LEADER_OR_FOLLOWER;
//!   a duplicate of one of the producer's last 5 batches (same epoch, same first and last
//!   sequence) → success with the original batch's offsets once it is replicated; an
//!   older epoch → INVALID_PRODUCER_EPOCH; a newer epoch must start at sequence 0, the same
//!   epoch at last + 1, else OUT_OF_ORDER_SEQUENCE_NUMBER; no state for the producer (never
//!   seen, or expired) → any sequence is accepted (KIP-360). Two older flavours, a scenario
//!   in five: UNKNOWN_PRODUCER_ID for a first sequence other than 0 without state (brokers
//!   before 2.5), and that plus DUPLICATE_SEQUENCE_NUMBER for a duplicate (the old answer;
//!   given here once the original is replicated, as the modern answer is: a 0.11 broker
//!   answered at once, acknowledging a batch that a leader change could still lose, which
//!   no producer can mend).
//!   acks=all: a batch is answered once it is replicated (a random delay); not replicated
//!   within the request's `timeout_ms` → REQUEST_TIMED_OUT (it stays in the log and is
//!   replicated later). A request is answered when all its partitions are.
//! * **Faults** (rates per scenario): connection resets (the request being processed
//!   still completes, unread and in-transit requests are lost); lost answers (the broker
//!   appended, the answer never comes, the client times the connection out); lost requests
//!   (never reach the broker, the client times out); leader moves (the new leader keeps the
//!   replicated log and some or none of the unreplicated tail, and rebuilds the producer
//!   state from what it keeps; batches waiting for replication on the old leader are
//!   answered NOT_LEADER_OR_FOLLOWER; for a while no broker leads and metadata may show no
//!   leader); metadata answers from a broker that has not caught up (an older leader
//!   epoch, which the snapshot ignores); slow replication (REQUEST_TIMED_OUT after the
//!   append); NOT_ENOUGH_REPLICAS (nothing written) and NOT_ENOUGH_REPLICAS_AFTER_APPEND
//!   (written); a broker unreachable for a while; brokers expiring the producer's state
//!   (only after `message.timeout.ms` without an append and with nothing of the partition
//!   in flight, as Kafka's `producer.id.expiration.ms` of a day behaves against a producer
//!   whose retries stop at `message.timeout.ms`); failed InitProducerId calls; producer ids
//!   handed out with an epoch next to the last one, so the epoch runs out and a new id is
//!   needed; broker stalls (a connection's next request waits one to three request
//!   time-outs: the client gives up on the connection, goes on elsewhere, and the requests
//!   are processed later as zombies); message time-outs; few retries.
//!
//! Checked on every seed (see [`Sim::finish`]), with the log every broker agrees on at the
//! end (replicated, or kept by the last leader):
//!
//! 1. every message gets exactly one delivery report, for its own topic and partition; at
//!    the end nothing is outstanding or in flight, the producer never became fatal (no
//!    fault here is one that `state.rs`'s table makes fatal), and `acknowledged_lost` is 0
//!    (with acks=all and leaders that keep what was replicated nothing acknowledged is
//!    lost here);
//! 2. a delivered message is in the log, at the offset its report names (offset -1 only
//!    after DUPLICATE_SEQUENCE_NUMBER, and then it is in the log);
//! 3. a failed message with status `Not` is not in the log; `Possibly` only for messages
//!    that were written to a connection; never `Persisted`;
//! 4. per partition, the messages in the log, each at its first place, are in send order.
//!    One exception, counted and printed: a message reported failed with `Possibly` that a
//!    request under an older producer id appended after batches of a newer id. When the
//!    epoch runs out the producer takes a new id, and nothing fences the old one (an
//!    idempotent producer without transactions cannot), so a zombie request of the old id
//!    may still be appended;
//! 5. a message is in the log more than once only if its batch may have been in the log
//!    (an attempt got no answer, or was answered with an error after the broker appended
//!    it: REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_APPEND, or NOT_LEADER_OR_FOLLOWER
//!    when leadership moved while it waited for replication) and was then sent again under
//!    another producer id or epoch: the case `state.rs` documents and counts in
//!    `possible_duplicates`, which must be at least the number of such batches. Kafka's
//!    own rules keep every other retry out of the log;
//! 6. a scenario without faults delivers every message;
//! 7. the sender never busy-loops (above).
//!
//! Producer bugs the simulator found are listed at [`KnownBug`]. Each fails the seeds it
//! shows on, until fixed; `SIM_KNOWN_BUGS` (names separated by commas, or `all`) counts
//! them instead, so that the other checks can go on looking.
//!
//! `sim_producer_checker_catches_planted_bugs` shows the checks bite, with bugs planted in
//! the network (an answer delivered twice, two answers swapped), in the driver (a lost
//! connection retried as not written) and in the broker (a duplicate appended again);
//! there the known producer bugs are counted, and seeds that fail without the plant are
//! left out.

mod common;

use bytes::Bytes;
use common::sim::{
    assert_replays, catch_panic, run_seeds, Record, Rng, Runner, Scenario, Schedule, Scheduled,
    Tally,
};
use common::with_timeout;
use kafkac::cluster::{BrokerMeta, Metadata, PartitionMeta, Snapshot, TopicMeta};
use kafkac::config::Config;
use kafkac::error::{local, Error};
use kafkac::producer::state::{Append, Batch, Clock, PartitionAnswer, Pid, PidState, State};
use kafkac::producer::{Message, Persisted, ProducerSettings};
use kafkac::protocol::Uuid;
use kafkac::record::{Compression, DecodeLimits, RecordSet};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const MS: u64 = 1_000;
const SEC: u64 = 1_000 * MS;
/// The sender's longest wait with nothing due (`IDLE_WAIT` in sender.rs).
const IDLE_WAIT_US: u64 = 500 * MS;
/// Simulated length of a round of the sender loop that found nothing to wait for.
const SPIN_US: u64 = MS;
/// Rounds in a row with nothing done and nothing to wait for that make a busy loop.
const BUSY_LOOP_ROUNDS: u32 = 10;
const DEFAULT_SEEDS: u64 = 10_000;
/// The default run must finish within this (real time, release build).
const RUN_LIMIT: Duration = Duration::from_secs(60);
const MAX_EVENTS: u64 = 3_000_000;
/// Rounds of the sender loop at one instant before it counts as stuck.
const MAX_ROUNDS_AT_ONCE: u32 = 100_000;
/// Kafka keeps this many recent batches per producer for duplicate detection.
const DEDUP_WINDOW: usize = 5;

const NOT_LEADER: i16 = 6;
const REQUEST_TIMED_OUT: i16 = 7;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 = 20;
const OUT_OF_ORDER: i16 = 45;
const DUPLICATE_SEQUENCE: i16 = 46;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const UNKNOWN_PRODUCER_ID: i16 = 59;

// ----- PRNG -------------------------------------------------------------------------------

/// Mixed into the seed for the scenario's [`Rng`].
const SEED_MIX: u64 = 0x5DEE_CE66_D1CE_4E5B;

// ----- coverage ---------------------------------------------------------------------------

hits!(
    // Faults.
    ConnReset,
    AckLost,
    RequestLost,
    ClientTimeout,
    ZombieRequest,
    ZombieAppend,
    LeaderMove,
    LeaderGap,
    TailTruncated,
    TailKept,
    NotLeader,
    NotLeaderAfterAppend,
    StaleMetadata,
    RequestTimedOut,
    NotEnoughReplicas,
    NotEnoughReplicasAfterAppend,
    BrokerUnreachable,
    BrokerStall,
    StateExpired,
    PidInitFailed,
    EpochExhausted,
    MessageTimedOut,
    RetriesExhausted,
    // Broker answers by Kafka's rules.
    DuplicateOffsets,
    DuplicateSequence,
    OutOfOrder,
    UnknownProducerId,
    AcceptedWithoutState,
    InvalidEpochToZombie,
    // Producer situations.
    TopicUnknownAtStart,
    MetadataRefresh,
    BackgroundRefresh,
    MultiPartitionRequest,
    FullWindow,
    WakeSkipped,
    Compressed,
    EpochBump,
    PossiblyPersisted,
    PossiblyPersistedInLog,
    RenumberedMaybeWritten,
    RenumberedAfterAppendError,
    DuplicateInLog,
);

// ----- scenario plan ----------------------------------------------------------------------

/// How the simulated brokers answer what Kafka versions answered differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    /// Kafka 4.x: a duplicate gets the original offsets; no state: any sequence.
    Modern,
    /// Brokers before 2.5: no state and a first sequence other than 0 → UNKNOWN_PRODUCER_ID.
    Legacy,
    /// As `Legacy`, and a duplicate → DUPLICATE_SEQUENCE_NUMBER.
    Legacy46,
}

#[derive(Debug)]
struct MsgPlan {
    at: u64,
    /// Global partition index.
    part: usize,
}

#[derive(Debug)]
struct MovePlan {
    at: u64,
    part: usize,
    /// How long no broker leads.
    gap: u64,
    /// Metadata shows no leader during the gap (else still the old one).
    show_none: bool,
    /// The new leader keeps part of the unreplicated tail.
    keep_tail: bool,
}

#[derive(Debug)]
struct Plan {
    settings: ProducerSettings,
    n_brokers: usize,
    /// Topic names and partition counts.
    topics: Vec<(String, usize)>,
    /// Global partition index → (topic, partition).
    part_of: Vec<(usize, i32)>,
    leaders: Vec<usize>,
    flavor: Flavor,
    msgs: Vec<MsgPlan>,
    net_base: Vec<u64>,
    net_jitter: Vec<u64>,
    connect_us: u64,
    proc_max: u64,
    repl_max: u64,
    /// Added to `request.timeout.ms` for the client's own deadline on a request.
    socket_slack: u64,
    /// The cluster's socket timeout (blocking calls that get no answer).
    socket_timeout: u64,
    p_reset: f64,
    p_lost_ack: f64,
    p_drop: f64,
    p_slow: f64,
    p_ner: f64,
    p_ner_after: f64,
    /// A broker takes this long (or longer) to get to a connection's next request.
    p_stall: f64,
    p_stale_meta: f64,
    p_pid_fail: f64,
    moves: Vec<MovePlan>,
    /// Broker, from, until.
    unreachable: Vec<(usize, u64, u64)>,
    /// When brokers look for producer state to expire (each partition).
    expire_checks: Vec<u64>,
    expire_idle: u64,
    first_epoch: i16,
    refresh_interval: u64,
    known_at_start: bool,
    /// No fault at all: every message must be delivered.
    clean: bool,
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn gen_plan(rng: &mut Rng) -> Plan {
    let clean = rng.chance(0.08);
    let expiry = !clean && rng.chance(0.25);
    let n_brokers = rng.range(1, 4) as usize;
    let n_topics = if rng.chance(0.3) { 2 } else { 1 };
    let mut topics = Vec::new();
    let mut part_of = Vec::new();
    for t in 0..n_topics {
        let n = rng.range(1, 4) as usize;
        for p in 0..n {
            part_of.push((t, p as i32));
        }
        topics.push((format!("topic-{t}"), n));
    }
    let n_parts = part_of.len();
    let leaders = (0..n_parts)
        .map(|_| rng.below(n_brokers as u64) as usize)
        .collect();

    let mut s = ProducerSettings::from_config(&Config::new()).expect("default settings");
    s.linger = ms(rng.range(0, 20));
    s.batch_num_messages = rng.range(1, 8) as usize;
    s.batch_size = 1 << 20;
    let timeout = if clean {
        rng.range(20 * SEC, 60 * SEC)
    } else if expiry {
        rng.range(300 * MS, 1_500 * MS)
    } else if rng.chance(0.35) {
        rng.range(150 * MS, 2 * SEC)
    } else {
        rng.range(3 * SEC, 30 * SEC)
    };
    s.message_timeout = Some(Duration::from_micros(timeout));
    s.retries = if !clean && rng.chance(0.12) {
        rng.range(0, 3) as u32
    } else {
        i32::MAX as u32
    };
    s.retry_backoff = ms(rng.range(5, 100));
    s.retry_backoff_max = s.retry_backoff.max(ms(rng.range(50, 1000)));
    s.acks = -1;
    s.compression = if rng.chance(0.1) {
        Compression::Lz4
    } else {
        Compression::None
    };
    s.max_in_flight = rng.range(1, 5) as usize;
    s.queue_max_messages = 1 << 30;
    s.queue_max_bytes = 1 << 40;
    s.reports_max = 1 << 30;
    s.idempotence = true;
    s.request_timeout = ms(rng.range(30, 400));
    s.propagation_max = ms(30_000);

    let n_msgs = rng.range(10, 120) as usize;
    let bursts = if expiry { rng.range(2, 3) } else { 1 };
    let expire_idle = timeout + 50 * MS;
    let mut msgs = Vec::new();
    let mut expire_checks = Vec::new();
    let mut start = rng.below(5 * MS);
    let skew = rng.chance(0.5);
    for b in 0..bursts {
        // Bursts after a quiet gap are dense: several batches of a partition in flight.
        let span = if b > 0 && rng.chance(0.7) {
            rng.range(5 * MS, 60 * MS)
        } else {
            rng.range(5 * MS, 1_500 * MS)
        };
        let n = n_msgs / bursts as usize;
        for _ in 0..n {
            let part = if skew && rng.chance(0.5) {
                0
            } else {
                rng.below(n_parts as u64) as usize
            };
            msgs.push(MsgPlan {
                at: start + rng.below(span),
                part,
            });
        }
        if b + 1 < bursts {
            // A quiet gap long enough for the brokers to forget the producer.
            let gap = expire_idle + timeout + rng.range(SEC, 3 * SEC);
            let mut t = start + span;
            while t < start + span + gap {
                expire_checks.push(t);
                t += 100 * MS;
            }
            start += span + gap;
        }
    }
    msgs.sort_by_key(|m| m.at);
    let last = msgs.last().map_or(0, |m| m.at);

    let net_base: Vec<u64> = (0..n_brokers).map(|_| rng.range(30, 400)).collect();
    let net_jitter: Vec<u64> = (0..n_brokers)
        .map(|_| {
            if rng.chance(0.4) {
                rng.range(100, 2 * MS)
            } else {
                rng.range(0, 100)
            }
        })
        .collect();
    let mut moves = Vec::new();
    if !clean && rng.chance(0.5) {
        let n = rng.range(1, 3);
        for _ in 0..n {
            let part = rng.below(n_parts as u64) as usize;
            let at = rng.below(last + 50 * MS);
            if moves
                .iter()
                .any(|m: &MovePlan| m.part == part && m.at.abs_diff(at) < 100 * MS)
            {
                continue;
            }
            moves.push(MovePlan {
                at,
                part,
                gap: if rng.chance(0.3) {
                    0
                } else {
                    rng.range(100, 40 * MS)
                },
                show_none: rng.chance(0.5),
                keep_tail: rng.chance(0.5),
            });
        }
    }
    let mut unreachable = Vec::new();
    if !clean && rng.chance(0.15) {
        let b = rng.below(n_brokers as u64) as usize;
        let from = rng.below(last + 10 * MS);
        unreachable.push((b, from, from + rng.range(2 * MS, 300 * MS)));
    }
    let f = if clean { 0.0 } else { 1.0 };
    Plan {
        n_brokers,
        topics,
        part_of,
        leaders,
        flavor: match rng.below(100) {
            0..=79 => Flavor::Modern,
            80..=91 => Flavor::Legacy,
            _ => Flavor::Legacy46,
        },
        msgs,
        net_base,
        net_jitter,
        connect_us: rng.range(100, 3 * MS),
        proc_max: rng.range(20, 300),
        repl_max: rng.range(200, 5 * MS),
        socket_slack: rng.range(20 * MS, 200 * MS),
        socket_timeout: rng.range(SEC, 3 * SEC),
        p_reset: f * rng.rate(0.4, 0.002, 0.03),
        p_lost_ack: f * rng.rate(0.35, 0.002, 0.03),
        p_drop: f * rng.rate(0.35, 0.002, 0.03),
        p_slow: f * rng.rate(0.3, 0.005, 0.08),
        // With expiry, often: the first batch after the brokers forgot the producer fails.
        p_ner: f * if expiry {
            rng.rate(0.7, 0.02, 0.15)
        } else {
            rng.rate(0.3, 0.01, 0.1)
        },
        p_ner_after: f * rng.rate(0.2, 0.005, 0.05),
        p_stall: f * rng.rate(0.2, 0.005, 0.03),
        p_stale_meta: f * rng.rate(0.3, 0.2, 0.5),
        p_pid_fail: f * rng.rate(0.2, 0.3, 0.6),
        moves,
        unreachable,
        expire_checks,
        expire_idle,
        first_epoch: if !clean && rng.chance(0.06) {
            i16::MAX - 2 + rng.below(2) as i16
        } else {
            0
        },
        refresh_interval: rng.range(20 * MS, SEC),
        known_at_start: rng.chance(0.6),
        clean,
        settings: s,
    }
}

// ----- planted bugs -----------------------------------------------------------------------

/// A deliberate fault in the harness, to show the checker notices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plant {
    None,
    /// The network delivers an answer twice: the copy is taken as the answer of the next
    /// request in flight on the connection (answers are matched in order).
    DuplicateAnswer,
    /// Two answers on a connection arrive swapped.
    SwapAnswers,
    /// The driver retries the batches of a request that got no answer with
    /// `written=false`.
    RetryNotWritten,
    /// A broker without duplicate detection: a retry is appended again.
    BrokerNoDedup,
}

// ----- the simulation ---------------------------------------------------------------------

/// A Produce answer: (global partition, error code, base offset) per partition.
type Answer = Vec<(usize, i16, i64)>;

#[derive(Debug)]
enum Ev {
    AppSend(usize),
    DriverWake(u64),
    BlockedDone,
    ReqArrive(usize),
    BrokerHandle(usize),
    BrokerEval(usize),
    AnswerArrive(usize),
    ConnReset(usize),
    ClientNoticeReset(usize),
    TimeoutCheck(usize, usize),
    MoveStart(usize),
    MoveEnd(usize),
    Refresher,
    ExpireCheck,
    Unreachable(usize, bool),
}

impl Ev {
    /// Events that still run once the producer is done: what brokers do with requests
    /// already sent.
    fn broker_side(&self) -> bool {
        matches!(
            self,
            Ev::ReqArrive(_) | Ev::BrokerHandle(_) | Ev::BrokerEval(_) | Ev::AnswerArrive(_)
        )
    }
}

/// One batch in a partition's log.
#[derive(Debug)]
struct LogBatch {
    uid: u64,
    base: i64,
    msgs: Vec<u32>,
    pid: i64,
    epoch: i16,
    first_seq: i32,
    last_seq: i32,
    /// When it is replicated (acks=all is satisfied).
    commit_at: u64,
}

/// What the leader keeps of one producer: its epoch and its last batches of that epoch
/// (first sequence, last sequence, index in the log).
#[derive(Debug, Clone)]
struct PState {
    epoch: i16,
    recent: VecDeque<(i32, i32, usize)>,
}

struct PartSim {
    topic: usize,
    index: i32,
    /// The broker that leads now (None during a move).
    leader: Option<usize>,
    /// The broker that leads once a move is over.
    next_leader: usize,
    /// What metadata shows: leader and leader epoch; and before the last move.
    shown: (i32, i32),
    prev_shown: (i32, i32),
    leader_epoch: i32,
    log: Vec<LogBatch>,
    next_offset: i64,
    last_commit: u64,
    pstate: HashMap<i64, PState>,
    /// Batches of a producer before this log index are forgotten (its state expired).
    forget: HashMap<i64, usize>,
    last_append: HashMap<i64, u64>,
    /// Requests with a batch of this partition written and not yet read by a broker.
    live: usize,
    /// Batches of this partition the producer has in flight (driver's count).
    client_in_flight: usize,
}

struct ConnSim {
    broker: usize,
    ready_at: u64,
    closed: bool,
    /// Requests written and not completed, in order.
    in_flight: VecDeque<usize>,
    c2b_last: u64,
    b2c_last: u64,
    /// Requests written from now on never arrive.
    c2b_cut: bool,
    /// Answers sent from now on never arrive.
    b2c_cut: bool,
    /// The broker reset the connection: it reads nothing more.
    dead: bool,
    /// Arrived, not yet read by the broker.
    bqueue: VecDeque<usize>,
    busy: bool,
    /// Planted SwapAnswers: an answer held back.
    held: Option<usize>,
}

#[derive(Debug, Clone)]
struct ReqPart {
    part: usize,
    data: Bytes,
    msgs: Vec<u32>,
    /// The broker appended this batch for this request.
    appended: bool,
}

#[derive(Debug, Clone, Copy)]
enum PAns {
    Done(i16, i64),
    /// Waiting for batch `idx` (`uid`) of the partition's log to be replicated.
    Wait {
        part: usize,
        idx: usize,
        uid: u64,
        code: i16,
    },
}

struct ReqSim {
    conn: usize,
    broker: usize,
    batches: Option<Vec<Batch>>,
    parts: Vec<ReqPart>,
    live: bool,
    arrived: bool,
    appended: bool,
    completed: bool,
    answers: Vec<PAns>,
    deadline: u64,
    answer: Option<Answer>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Idle(u64),
    Blocked,
    Running,
}

enum Call {
    Pid(Result<Pid, Error>),
    /// Topic names refreshed, or None when the refresh failed.
    Meta(Option<Vec<String>>),
}

enum Cq {
    Wake,
    Done(usize, Result<Answer, Error>),
}

struct Drv {
    mode: Mode,
    gen: u64,
    cq: VecDeque<Cq>,
    wake_pending: bool,
    pid_retry_at: u64,
    pid_backoff: u64,
    call: Option<Call>,
}

#[derive(Default, Clone)]
struct MsgSim {
    appended: bool,
    reports: u32,
    /// Written to a connection at least once.
    written: bool,
    delivered: bool,
    offset: i64,
    status: Option<Persisted>,
    error: Option<i32>,
}

/// What the checker follows of one batch (by its first message).
#[derive(Default)]
struct Track {
    msgs: Vec<u32>,
    /// (producer id, epoch) of the last attempt.
    stamp: Option<(i64, i16)>,
    /// An attempt ended without an answer (the producer's `written=true`).
    maybe_written: bool,
    /// An attempt appended it and was answered with an error: REQUEST_TIMED_OUT or
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND (Kafka appends first), or NOT_LEADER_OR_FOLLOWER
    /// (leadership moved while it waited for replication). It may be in the log.
    appended_unacked: bool,
    /// Sent again under another producer id or epoch after an attempt without answer.
    renumbered_maybe_written: bool,
    /// Sent again under another producer id or epoch after an error answer to an attempt
    /// that appended it (and never without an answer).
    renumbered_appended: bool,
}

struct Sim {
    plan: Plan,
    s: ProducerSettings,
    plant: Plant,
    plant_fired: bool,
    rng: Rng,
    base: Instant,
    now: u64,
    heap: Schedule<Ev>,
    horizon: u64,
    st: State,
    snap: Snapshot,
    drv: Drv,
    parts: Vec<PartSim>,
    /// Per broker: the current connection, and unreachable until.
    broker_conn: Vec<Option<usize>>,
    down_until: Vec<u64>,
    conns: Vec<ConnSim>,
    reqs: Vec<ReqSim>,
    waiting: BTreeSet<usize>,
    next_pid: i64,
    next_uid: u64,
    msgs: Vec<MsgSim>,
    tracks: HashMap<u32, Track>,
    sent: usize,
    reports: usize,
    done: bool,
    spin_us: u64,
    /// Possibly persisted messages appended under an older producer id after a newer one.
    late_old_pid: u64,
    /// Failures of known producer bugs, tolerated with `SIM_KNOWN_BUGS`.
    known: [u64; KnownBug::ALL.len()],
    /// Rounds of the sender in a row with nothing done and nothing to wait for.
    spin_streak: u32,
    tolerate: Tolerate,
    epoch_bumps_seen: u64,
    violation: Option<String>,
    rec: Record,
}

macro_rules! tr {
    ($s:expr, $($arg:tt)*) => {
        if $s.rec.trace.is_some() {
            let line = format!($($arg)*);
            $s.trace_line(line);
        }
    };
}

/// Produce requests to broker `b` whose completion the sender has not handled (its
/// `reqs` in sender.rs).
fn sender_in_flight(reqs: &[ReqSim], b: usize) -> usize {
    reqs.iter()
        .filter(|r| r.broker == b && r.batches.is_some())
        .count()
}

fn last_seq(seq: i32, count: i32) -> i32 {
    ((i64::from(seq) + i64::from(count) - 1) % (i64::from(i32::MAX) + 1)) as i32
}

/// The base offset an answer with `code` carries: none with DUPLICATE_SEQUENCE_NUMBER.
fn offset_for(code: i16, base: i64) -> i64 {
    if code == DUPLICATE_SEQUENCE {
        -1
    } else {
        base
    }
}

fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

/// Producer id, epoch, base sequence and record count from a v2 batch header.
fn header(data: &[u8]) -> Option<(i64, i16, i32, i32)> {
    let at = |o: usize, n: usize| data.get(o..o + n);
    Some((
        i64::from_be_bytes(at(43, 8)?.try_into().ok()?),
        i16::from_be_bytes(at(51, 2)?.try_into().ok()?),
        i32::from_be_bytes(at(53, 4)?.try_into().ok()?),
        i32::from_be_bytes(at(57, 4)?.try_into().ok()?),
    ))
}

fn value_of(id: u32) -> [u8; 8] {
    let mut v = [0u8; 8];
    v[..4].copy_from_slice(&id.to_le_bytes());
    v[4..].copy_from_slice(&(id ^ 0xA5A5_A5A5).to_le_bytes());
    v
}

fn id_of(v: &[u8]) -> Option<u32> {
    let id = u32::from_le_bytes(v.get(..4)?.try_into().ok()?);
    let check = u32::from_le_bytes(v.get(4..8)?.try_into().ok()?);
    (v.len() == 8 && check == id ^ 0xA5A5_A5A5).then_some(id)
}

impl Sim {
    fn new(seed: u64, plant: Plant, trace: bool) -> Sim {
        let mut rng = Rng::new(seed, SEED_MIX);
        let plan = gen_plan(&mut rng);
        let s = plan.settings.clone();
        let st = State::new(&s);
        let base = Instant::now();
        let parts = plan
            .part_of
            .iter()
            .enumerate()
            .map(|(i, &(topic, index))| PartSim {
                topic,
                index,
                leader: Some(plan.leaders[i]),
                next_leader: plan.leaders[i],
                shown: (plan.leaders[i] as i32, 0),
                prev_shown: (plan.leaders[i] as i32, 0),
                leader_epoch: 0,
                log: Vec::new(),
                next_offset: 0,
                last_commit: 0,
                pstate: HashMap::new(),
                forget: HashMap::new(),
                last_append: HashMap::new(),
                live: 0,
                client_in_flight: 0,
            })
            .collect();
        let horizon = plan.msgs.last().map_or(0, |m| m.at)
            + plan
                .settings
                .message_timeout
                .map_or(0, |d| d.as_micros() as u64)
            + 120 * SEC;
        let n_msgs = plan.msgs.len();
        let n_brokers = plan.n_brokers;
        let mut sim = Sim {
            s,
            plant,
            plant_fired: false,
            rng,
            base,
            now: 0,
            heap: Schedule::new(),
            horizon,
            st,
            snap: Snapshot::default(),
            drv: Drv {
                mode: Mode::Idle(0),
                gen: 0,
                cq: VecDeque::new(),
                wake_pending: false,
                pid_retry_at: 0,
                pid_backoff: 0,
                call: None,
            },
            parts,
            broker_conn: vec![None; n_brokers],
            down_until: vec![0; n_brokers],
            conns: Vec::new(),
            reqs: Vec::new(),
            waiting: BTreeSet::new(),
            next_pid: 4000,
            next_uid: 0,
            msgs: vec![MsgSim::default(); n_msgs],
            tracks: HashMap::new(),
            sent: 0,
            reports: 0,
            done: false,
            spin_us: 0,
            late_old_pid: 0,
            known: [0; KnownBug::ALL.len()],
            spin_streak: 0,
            tolerate: [false; KnownBug::ALL.len()],
            epoch_bumps_seen: 0,
            violation: None,
            rec: Record::new(N_HITS, trace),
            plan,
        };
        sim.drv.pid_backoff = sim.s.retry_backoff.as_micros() as u64;
        if sim.plan.known_at_start {
            let names: Vec<String> = sim.plan.topics.iter().map(|t| t.0.clone()).collect();
            let md = sim.metadata(&names, false);
            sim.snap = sim.snap.merged(&md, false, base);
        } else {
            sim.hit(Hit::TopicUnknownAtStart);
        }
        for i in 0..n_msgs {
            let at = sim.plan.msgs[i].at;
            sim.push(at, Ev::AppSend(i));
        }
        for m in 0..sim.plan.moves.len() {
            let at = sim.plan.moves[m].at;
            sim.push(at, Ev::MoveStart(m));
        }
        for u in 0..sim.plan.unreachable.len() {
            let (b, from, to) = sim.plan.unreachable[u];
            sim.push(from, Ev::Unreachable(b, true));
            sim.push(to, Ev::Unreachable(b, false));
        }
        for i in 0..sim.plan.expire_checks.len() {
            let at = sim.plan.expire_checks[i];
            sim.push(at, Ev::ExpireCheck);
        }
        let ri = sim.plan.refresh_interval;
        sim.push(ri, Ev::Refresher);
        sim.push(0, Ev::DriverWake(0));
        sim
    }

    fn trace_line(&mut self, line: String) {
        let now = self.now;
        if let Some(t) = &mut self.rec.trace {
            let _ = writeln!(t, "{:>9.3}ms {line}", now as f64 / 1000.0);
        }
    }

    fn tolerated(&self, k: KnownBug) -> bool {
        self.tolerate[k as usize]
    }

    fn hit(&mut self, h: Hit) {
        self.rec.hits[h as usize] += 1;
    }

    fn fail(&mut self, msg: String) {
        if self.violation.is_none() {
            tr!(self, "VIOLATION: {msg}");
            self.violation = Some(msg);
        }
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.heap.push(at.max(self.now), ev);
    }

    fn inst(&self, t: u64) -> Instant {
        self.base + Duration::from_micros(t)
    }

    fn us(&self, i: Instant) -> u64 {
        i.saturating_duration_since(self.base).as_micros() as u64
    }

    fn net(&mut self, b: usize) -> u64 {
        let j = self.plan.net_jitter[b];
        self.plan.net_base[b] + self.rng.below(j + 1)
    }

    fn topic_name(&self, p: usize) -> &str {
        &self.plan.topics[self.parts[p].topic].0
    }

    fn part_name(&self, p: usize) -> String {
        format!("{}/{}", self.topic_name(p), self.parts[p].index)
    }

    fn client_timeout(&self) -> u64 {
        self.s.request_timeout.as_micros() as u64 + self.plan.socket_slack
    }

    // ----- the loop -----------------------------------------------------------------------

    fn run(&mut self) -> Result<(), String> {
        while let Some(Scheduled { at, ev, .. }) = self.heap.pop() {
            if self.violation.is_some() {
                break;
            }
            self.now = at;
            if self.done && !ev.broker_side() {
                continue;
            }
            self.rec.events += 1;
            if self.rec.events > MAX_EVENTS {
                self.fail(format!("more than {MAX_EVENTS} events"));
                break;
            }
            if !self.done && at > self.horizon {
                self.fail(format!(
                    "{} of {} messages without a report at the horizon ({} s); outstanding {}",
                    self.msgs.len() - self.reports,
                    self.msgs.len(),
                    at / SEC,
                    self.st.outstanding()
                ));
                break;
            }
            self.dispatch(ev);
            if !self.done
                && self.sent == self.msgs.len()
                && self.reports == self.msgs.len()
                && self.st.outstanding() == 0
            {
                tr!(self, "every message has its report");
                self.done = true;
            }
        }
        if self.violation.is_none() {
            self.finish();
        }
        match &self.violation {
            Some(v) => Err(v.clone()),
            None => Ok(()),
        }
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::AppSend(i) => self.app_send(i),
            Ev::DriverWake(g) => {
                if self.drv.mode == Mode::Idle(g) {
                    self.driver_resume();
                }
            }
            Ev::BlockedDone => self.blocked_done(),
            Ev::ReqArrive(r) => self.req_arrive(r),
            Ev::BrokerHandle(r) => self.broker_handle(r),
            Ev::BrokerEval(r) => self.eval(r),
            Ev::AnswerArrive(r) => self.answer_arrive(r),
            Ev::ConnReset(c) => self.conn_reset(c),
            Ev::ClientNoticeReset(c) => {
                if !self.conns[c].closed {
                    if !self.conns[c].in_flight.is_empty() {
                        self.hit(Hit::ConnReset);
                    }
                    let b = self.conns[c].broker;
                    self.client_close(
                        c,
                        Error::transport(format!("broker {b}: connection reset by peer")),
                    );
                }
            }
            Ev::TimeoutCheck(c, r) => {
                if !self.conns[c].closed && self.conns[c].in_flight.front() == Some(&r) {
                    self.hit(Hit::ClientTimeout);
                    let b = self.conns[c].broker;
                    self.client_close(
                        c,
                        Error::timed_out(format!("broker {b}: request timed out (no answer)")),
                    );
                }
            }
            Ev::MoveStart(m) => self.move_start(m),
            Ev::MoveEnd(m) => self.move_end(m),
            Ev::Refresher => self.refresher(),
            Ev::ExpireCheck => self.expire_check(),
            Ev::Unreachable(b, on) => {
                if on {
                    tr!(self, "broker {b} unreachable");
                    self.down_until[b] = u64::MAX;
                    if let Some(c) = self.broker_conn[b] {
                        self.conn_reset(c);
                    }
                } else {
                    tr!(self, "broker {b} reachable again");
                    self.down_until[b] = 0;
                }
            }
        }
    }

    // ----- the application ----------------------------------------------------------------

    fn app_send(&mut self, i: usize) {
        let p = self.plan.msgs[i].part;
        let topic = self.plan.topics[self.parts[p].topic].0.clone();
        let value = value_of(i as u32);
        let m = Message {
            topic: &topic,
            partition: self.parts[p].index,
            key: None,
            value: Some(&value),
            headers: &[],
            timestamp: Some(1_700_000_000_000 + (self.now / MS) as i64),
            opaque: i,
        };
        let now = self.inst(self.now);
        match self
            .st
            .append(&self.s, &m, Some(&self.snap), &mut Clock::at(now))
        {
            Ok(Append::Queued { wake }) => {
                self.msgs[i].appended = true;
                self.sent += 1;
                tr!(
                    self,
                    "app: message {i} to {} (wake {wake})",
                    self.part_name(p)
                );
                if wake && !self.drv.wake_pending {
                    self.drv.wake_pending = true;
                    self.cq_push(Cq::Wake);
                }
                // At linger.ms=0 a message that starts a batch makes it ready (one that
                // joins an open batch waits with it for its partition's turn): the
                // sender, waiting, may be left asleep only when the partition's leader,
                // as it last saw it, has max.in.flight requests in flight (an answer
                // wakes it then).
                let idle = matches!(self.drv.mode, Mode::Idle(_));
                let started = self.st.open_len(&topic, self.parts[p].index) <= 1;
                if !wake && idle && !self.drv.wake_pending && self.s.linger.is_zero() && started {
                    let seen = self.st.leader_seen(&topic, self.parts[p].index);
                    let full = seen.is_some_and(|l| {
                        sender_in_flight(&self.reqs, l as usize) >= self.s.max_in_flight
                    });
                    if !full {
                        self.fail(format!(
                            "message {i}: the sender was left asleep with a batch ready \
                             for leader {seen:?}, which has room"
                        ));
                    } else {
                        self.hit(Hit::WakeSkipped);
                    }
                }
            }
            Ok(Append::Full(e)) => self.fail(format!("message {i}: queue full: {e}")),
            Ok(Append::NeedSnapshot) => {
                self.fail(format!("message {i}: asked for a snapshot it was given"))
            }
            Err(e) => self.fail(format!("message {i}: append failed: {e}")),
        }
        self.take_reports();
    }

    fn take_reports(&mut self) {
        let reports = self.st.take_reports(usize::MAX);
        for r in reports {
            let i = r.opaque;
            if i >= self.msgs.len() {
                self.fail(format!("report for unknown opaque {i}"));
                continue;
            }
            let p = self.plan.msgs[i].part;
            if r.topic.name != self.topic_name(p) || r.partition != self.parts[p].index {
                self.fail(format!(
                    "message {i} of {} reported for {}/{}",
                    self.part_name(p),
                    r.topic.name,
                    r.partition
                ));
            }
            let m = &mut self.msgs[i];
            m.reports += 1;
            m.delivered = r.error.is_none();
            m.offset = r.offset;
            m.status = Some(r.status);
            m.error = r.error.as_ref().map(|e| e.code);
            let n = m.reports;
            if n > 1 {
                self.fail(format!("message {i} reported {n} times"));
                continue;
            }
            self.reports += 1;
            match &r.error {
                None => tr!(self, "report: message {i} delivered at {}", r.offset),
                Some(e) => {
                    tr!(self, "report: message {i} failed ({:?}): {e}", r.status);
                    if e.code == local::MSG_TIMED_OUT {
                        self.hit(Hit::MessageTimedOut);
                    } else {
                        self.hit(Hit::RetriesExhausted);
                    }
                    if r.status == Persisted::Possibly {
                        self.hit(Hit::PossiblyPersisted);
                    }
                }
            }
        }
    }

    // ----- the sender (src/producer/sender.rs) --------------------------------------------

    fn cq_push(&mut self, item: Cq) {
        self.drv.cq.push_back(item);
        if let Mode::Idle(_) = self.drv.mode {
            self.drv.gen += 1;
            self.drv.mode = Mode::Idle(self.drv.gen);
            let g = self.drv.gen;
            self.push(self.now, Ev::DriverWake(g));
        }
    }

    /// The sender woke from its wait: it takes what the queue holds, then goes round.
    fn driver_resume(&mut self) {
        self.drv.mode = Mode::Running;
        self.pop_all();
        self.driver_loop();
    }

    fn pop_all(&mut self) {
        if !self.drv.cq.is_empty() {
            self.spin_streak = 0;
        }
        while let Some(item) = self.drv.cq.pop_front() {
            match item {
                Cq::Wake => self.drv.wake_pending = false,
                Cq::Done(r, res) => self.on_completion(r, res),
            }
        }
        self.take_reports();
    }

    /// Rounds of the sender loop until it waits or blocks.
    fn driver_loop(&mut self) {
        self.drv.mode = Mode::Running;
        for _ in 0..MAX_ROUNDS_AT_ONCE {
            if self.violation.is_some() {
                return;
            }
            let now = self.inst(self.now);
            let pid_retry_at = self.inst(self.drv.pid_retry_at);
            let before = (self.reports, self.st.counters.epoch_bumps);
            let reqs = &self.reqs;
            let t = self.st.tick(&self.s, &self.snap, now, pid_retry_at, |l| {
                sender_in_flight(reqs, l as usize)
            });
            self.take_reports();
            let acted =
                !t.send.is_empty() || before != (self.reports, self.st.counters.epoch_bumps);
            if self.st.counters.epoch_bumps > self.epoch_bumps_seen {
                self.epoch_bumps_seen = self.st.counters.epoch_bumps;
                self.hit(Hit::EpochBump);
                tr!(self, "sender: epoch bumped to {:?}", self.st.pid);
            }
            if let Some(f) = &self.st.fatal {
                let f = f.clone();
                self.fail(format!("the producer became fatal: {f}"));
                return;
            }
            if t.init_pid {
                self.start_pid();
                return;
            }
            for (leader, requests) in t.send {
                for batches in requests {
                    self.send_to(leader, batches);
                }
            }
            if !t.refresh.is_empty() {
                self.start_refresh(t.refresh);
                return;
            }
            let now_us = self.now;
            let max = self.s.max_in_flight;
            let full: Vec<i32> = (0..self.plan.n_brokers)
                .filter(|&b| sender_in_flight(&self.reqs, b) >= max)
                .map(|b| b as i32)
                .collect();
            self.st.note_full_leaders(full);
            let mut until = self
                .st
                .next_timer(&self.s)
                .map_or(now_us + IDLE_WAIT_US, |n| self.us(n))
                .min(now_us + IDLE_WAIT_US);
            if self.st.pid_state == PidState::NeedInit {
                until = until.min(self.drv.pid_retry_at.max(now_us));
            }
            if !self.drv.cq.is_empty() {
                self.pop_all();
                continue;
            }
            if until <= now_us {
                // The real loop goes round again at once.
                self.spin_us += SPIN_US;
                if acted {
                    self.spin_streak = 0;
                }
                self.spin_streak += 1;
                if self.spin_streak == BUSY_LOOP_ROUNDS {
                    self.busy_loop();
                }
                until = now_us + SPIN_US;
            } else {
                self.spin_streak = 0;
            }
            self.drv.gen += 1;
            self.drv.mode = Mode::Idle(self.drv.gen);
            let g = self.drv.gen;
            self.push(until, Ev::DriverWake(g));
            return;
        }
        self.fail(format!(
            "the sender went round {MAX_ROUNDS_AT_ONCE} times without time passing"
        ));
    }

    /// The sender went round `BUSY_LOOP_ROUNDS` times in a row with nothing done and
    /// nothing to wait for: the real one would spin on the CPU.
    fn busy_loop(&mut self) {
        let now = self.inst(self.now);
        let next = self.st.next_timer(&self.s).map(|n| {
            format!(
                "{:.3} ms ago",
                now.saturating_duration_since(n).as_secs_f64() * 1e3
            )
        });
        let cause = format!(
            "State::next_timer() is {next:?} but State::tick has nothing to do ({} in flight, \
             {} outstanding, {:?})",
            self.st.in_flight(),
            self.st.outstanding(),
            self.st.pid_state
        );
        if self.tolerated(KnownBug::BusyLoop) {
            self.known[KnownBug::BusyLoop as usize] += 1;
        } else {
            self.fail(format!(
                "{}busy loop: the sender went round {BUSY_LOOP_ROUNDS} times in a row with \
                 nothing to do and nothing to wait for: {cause}",
                KnownBug::BusyLoop.tag()
            ));
        }
    }

    fn reachable(&mut self) -> Option<usize> {
        let up: Vec<usize> = (0..self.plan.n_brokers)
            .filter(|&b| self.down_until[b] <= self.now)
            .collect();
        if up.is_empty() {
            None
        } else {
            Some(up[self.rng.below(up.len() as u64) as usize])
        }
    }

    /// InitProducerId (blocking in the sender).
    fn start_pid(&mut self) {
        if self.st.pid != Pid::NONE {
            self.hit(Hit::EpochExhausted);
        }
        let (took, res) = match self.reachable() {
            None => (
                self.plan.connect_us,
                Err(Error::transport("no broker reachable")),
            ),
            Some(b) => {
                let rtt = self.net(b) + self.net(b) + self.plan.proc_max;
                if self.rng.chance(self.plan.p_pid_fail) {
                    self.hit(Hit::PidInitFailed);
                    match self.rng.below(3) {
                        0 => (
                            rtt,
                            Err(Error::kafka(COORDINATOR_NOT_AVAILABLE, "InitProducerId")),
                        ),
                        1 => (rtt, Err(Error::kafka(REQUEST_TIMED_OUT, "InitProducerId"))),
                        _ => (
                            self.plan.socket_timeout,
                            Err(Error::timed_out("InitProducerId: no answer")),
                        ),
                    }
                } else {
                    let epoch = if self.next_pid == 4000 {
                        self.plan.first_epoch
                    } else {
                        0
                    };
                    let pid = Pid {
                        id: self.next_pid,
                        epoch,
                    };
                    self.next_pid += 1;
                    (rtt, Ok(pid))
                }
            }
        };
        tr!(self, "sender: InitProducerId → {res:?} after {took}us");
        self.drv.call = Some(Call::Pid(res));
        self.drv.mode = Mode::Blocked;
        self.push(self.now + took, Ev::BlockedDone);
    }

    /// The blocking metadata refresh of `names`.
    fn start_refresh(&mut self, names: Vec<String>) {
        self.hit(Hit::MetadataRefresh);
        let (took, res) = match self.reachable() {
            None => (self.plan.connect_us, None),
            Some(b) => (self.net(b) + self.net(b) + self.plan.proc_max, Some(names)),
        };
        tr!(self, "sender: metadata refresh of {res:?}");
        self.drv.call = Some(Call::Meta(res));
        self.drv.mode = Mode::Blocked;
        self.push(self.now + took, Ev::BlockedDone);
    }

    fn blocked_done(&mut self) {
        match self.drv.call.take() {
            Some(Call::Pid(Ok(pid))) => {
                tr!(self, "sender: producer id {pid:?}");
                self.st.set_pid(pid);
                self.st.counters.producer_ids += 1;
                self.drv.pid_backoff = self.s.retry_backoff.as_micros() as u64;
            }
            Some(Call::Pid(Err(e))) => {
                if e.is_retriable() || e.code == local::TIMED_OUT {
                    self.drv.pid_retry_at = self.now + self.drv.pid_backoff;
                    self.drv.pid_backoff =
                        (self.drv.pid_backoff * 2).min(self.s.retry_backoff_max.as_micros() as u64);
                } else {
                    self.fail(format!("InitProducerId failed for good: {e}"));
                }
            }
            Some(Call::Meta(Some(names))) => {
                let md = self.metadata(&names, true);
                let now = self.inst(self.now);
                self.snap = self.snap.merged(&md, false, now);
            }
            Some(Call::Meta(None)) | None => {}
        }
        self.driver_loop();
    }

    /// `send_to` of sender.rs: one Produce request to `leader`.
    fn send_to(&mut self, leader: i32, batches: Vec<Batch>) {
        let b = leader as usize;
        if b >= self.plan.n_brokers {
            self.fail(format!("request for unknown broker {leader}"));
            return;
        }
        if self.down_until[b] > self.now {
            self.hit(Hit::BrokerUnreachable);
            tr!(
                self,
                "sender: broker {b} unreachable, {} batches back",
                batches.len()
            );
            // Never sent: back to their queues without counting them as returned.
            let e = Error::transport(format!("broker {b}: connection refused"));
            let now = self.inst(self.now);
            for bt in batches {
                self.st.retry(&self.s, bt, e.clone(), false, now);
            }
            return;
        }
        let c = match self.broker_conn[b] {
            Some(c) if !self.conns[c].closed => c,
            _ => {
                let c = self.conns.len();
                let ready_at = self.now + self.plan.connect_us;
                self.conns.push(ConnSim {
                    broker: b,
                    ready_at,
                    closed: false,
                    in_flight: VecDeque::new(),
                    c2b_last: 0,
                    b2c_last: 0,
                    c2b_cut: false,
                    b2c_cut: false,
                    dead: false,
                    bqueue: VecDeque::new(),
                    busy: false,
                    held: None,
                });
                self.broker_conn[b] = Some(c);
                c
            }
        };
        let r = self.reqs.len();
        let mut parts = Vec::with_capacity(batches.len());
        for bt in &batches {
            let first = bt.msgs.first().map_or(u32::MAX, |m| m.opaque as u32);
            let Some(&MsgPlan { part, .. }) = self.plan.msgs.get(first as usize) else {
                self.fail(format!("a batch with unknown first message {first}"));
                return;
            };
            let ids: Vec<u32> = bt.msgs.iter().map(|m| m.opaque as u32).collect();
            let Some((pid, epoch, seq, count)) = header(&bt.data.to_bytes()) else {
                self.fail(format!("batch of {} too short", self.part_name(part)));
                return;
            };
            if (pid, epoch) != (bt.stamped.id, bt.stamped.epoch)
                || seq != bt.base_seq
                || count as usize != ids.len()
                || pid != self.st.pid.id
                || epoch != self.st.pid.epoch
            {
                self.fail(format!(
                    "batch of {} (messages {ids:?}) sent with header pid {pid} epoch {epoch} \
                     seq {seq} count {count}; batch says {:?} seq {}; producer is {:?}",
                    self.part_name(part),
                    bt.stamped,
                    bt.base_seq,
                    self.st.pid
                ));
            }
            for &m in &ids {
                if self.plan.msgs.get(m as usize).map(|x| x.part) != Some(part) {
                    self.fail(format!(
                        "batch of {} holds message {m}",
                        self.part_name(part)
                    ));
                }
                self.msgs[m as usize].written = true;
            }
            let t = self.tracks.entry(first).or_default();
            if t.msgs.is_empty() {
                t.msgs = ids.clone();
            } else if t.msgs != ids {
                let was = t.msgs.clone();
                self.fail(format!("batch {was:?} sent again as {ids:?}"));
            }
            let t = self.tracks.get_mut(&first).expect("just added");
            if t.stamp.is_some_and(|s| s != (pid, epoch)) {
                if t.maybe_written {
                    t.renumbered_maybe_written = true;
                    self.rec.hits[Hit::RenumberedMaybeWritten as usize] += 1;
                } else if t.appended_unacked {
                    t.renumbered_appended = true;
                    self.rec.hits[Hit::RenumberedAfterAppendError as usize] += 1;
                }
            }
            t.stamp = Some((pid, epoch));
            self.parts[part].client_in_flight += 1;
            if self.parts[part].client_in_flight >= self.s.max_in_flight.max(2) {
                self.hit(Hit::FullWindow);
            }
            if self.s.compression != Compression::None {
                self.hit(Hit::Compressed);
            }
            parts.push(ReqPart {
                part,
                data: bt.data.to_bytes(),
                msgs: ids,
                appended: false,
            });
        }
        if parts.len() > 1 {
            self.hit(Hit::MultiPartitionRequest);
        }
        tr!(
            self,
            "sender: request {r} to broker {b} (conn {c}): {}",
            parts
                .iter()
                .map(|p| {
                    let (pid, e, s, n) = header(&p.data).unwrap_or_default();
                    format!(
                        "{} pid {pid}.{e} seq {s}+{n} {:?}",
                        self.part_name(p.part),
                        p.msgs
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        );
        if sender_in_flight(&self.reqs, b) >= self.s.max_in_flight {
            self.fail(format!(
                "a request to broker {b} beyond max.in.flight ({}) requests in flight",
                self.s.max_in_flight
            ));
            return;
        }
        self.st.counters.requests += 1;
        self.reqs.push(ReqSim {
            conn: c,
            broker: b,
            batches: Some(batches),
            parts,
            live: false,
            arrived: false,
            appended: false,
            completed: false,
            answers: Vec::new(),
            deadline: 0,
            answer: None,
        });
        self.conns[c].in_flight.push_back(r);
        if self.conns[c].in_flight.len() == 1 {
            let at = self.now + self.client_timeout();
            self.push(at, Ev::TimeoutCheck(c, r));
        }
        if !self.conns[c].c2b_cut && self.rng.chance(self.plan.p_drop) {
            tr!(self, "net: conn {c} loses requests from request {r} on");
            self.conns[c].c2b_cut = true;
        }
        if !self.conns[c].c2b_cut && !self.conns[c].dead {
            self.set_live(r, true);
            let d = self.net(b);
            let conn = &mut self.conns[c];
            let at = (self.now.max(conn.ready_at) + d).max(conn.c2b_last);
            conn.c2b_last = at;
            self.push(at, Ev::ReqArrive(r));
        }
        if self.rng.chance(self.plan.p_reset) {
            let d = self.net(b);
            let at = self.now
                + self
                    .rng
                    .below(3 * d + self.plan.proc_max + self.plan.repl_max);
            self.push(at, Ev::ConnReset(c));
        }
    }

    fn requeue_all(&mut self, batches: Vec<Batch>, e: Error, written: bool) {
        let now = self.inst(self.now);
        for b in batches {
            self.returned(&b, written);
            self.st.retry(&self.s, b, e.clone(), written, now);
        }
    }

    /// A batch is back from the network (answered or failed).
    fn returned(&mut self, b: &Batch, no_answer: bool) {
        let first = b.msgs.first().map_or(0, |m| m.opaque as u32);
        let part = self.plan.msgs[first as usize].part;
        self.parts[part].client_in_flight -= 1;
        if no_answer {
            if let Some(t) = self.tracks.get_mut(&first) {
                t.maybe_written = true;
            }
        }
    }

    /// A request's completion, as `on_answer` of sender.rs handles it.
    fn on_completion(&mut self, r: usize, res: Result<Answer, Error>) {
        let Some(batches) = self.reqs[r].batches.take() else {
            // The sender forgets a request once completed: a second completion finds
            // nothing (reqs.remove(&tag) is None).
            tr!(self, "sender: completion of request {r} again, ignored");
            return;
        };
        let b = self.reqs[r].broker;
        match res {
            Err(e) => {
                tr!(self, "sender: request {r} failed: {e}");
                let written = self.plant != Plant::RetryNotWritten;
                if !written {
                    self.plant_fired = true;
                }
                let e = e.context(format!("Produce to broker {b}"));
                for bt in &batches {
                    // The checker's view: no answer, so the batch may be in the log.
                    let first = bt.msgs.first().map_or(0, |m| m.opaque as u32);
                    if let Some(t) = self.tracks.get_mut(&first) {
                        t.maybe_written = true;
                    }
                }
                self.requeue_all(batches, e, written);
            }
            Ok(ans) => {
                let now = self.inst(self.now);
                for bt in batches {
                    let first = bt.msgs.first().map_or(0, |m| m.opaque as u32);
                    let part = self.plan.msgs[first as usize].part;
                    let Some(&(_, code, base)) = ans.iter().find(|a| a.0 == part) else {
                        tr!(
                            self,
                            "sender: {} missing from answer {r}",
                            self.part_name(part)
                        );
                        self.returned(&bt, true);
                        let e = Error::protocol(format!(
                            "Produce to broker {b}: {} missing from the answer",
                            self.part_name(part)
                        ));
                        self.st.retry(&self.s, bt, e, true, now);
                        continue;
                    };
                    tr!(
                        self,
                        "sender: answer {r} for {}: code {code} offset {base}",
                        self.part_name(part)
                    );
                    self.returned(&bt, false);
                    let appended = self.reqs[r]
                        .parts
                        .iter()
                        .any(|q| q.part == part && q.appended);
                    if appended && code != 0 && code != DUPLICATE_SEQUENCE {
                        if let Some(t) = self.tracks.get_mut(&first) {
                            t.appended_unacked = true;
                        }
                    }
                    let ctx = format!("Produce to {} on broker {b}", self.part_name(part));
                    let a = PartitionAnswer {
                        error_code: code,
                        error_message: None,
                        base_offset: base,
                        log_append_time: -1,
                    };
                    // Its return value only marks the topic stale in the real sender.
                    let _ = self.st.on_answer(&self.s, bt, &a, &ctx, now);
                }
            }
        }
    }

    // ----- network and brokers ------------------------------------------------------------

    fn set_live(&mut self, r: usize, on: bool) {
        if self.reqs[r].live == on {
            return;
        }
        self.reqs[r].live = on;
        for i in 0..self.reqs[r].parts.len() {
            let p = self.reqs[r].parts[i].part;
            if on {
                self.parts[p].live += 1;
            } else {
                self.parts[p].live -= 1;
            }
        }
    }

    fn req_arrive(&mut self, r: usize) {
        let c = self.reqs[r].conn;
        if self.conns[c].dead {
            self.set_live(r, false);
            return;
        }
        self.reqs[r].arrived = true;
        self.conns[c].bqueue.push_back(r);
        self.try_take(c);
    }

    /// The broker reads the connection's next request once the last one is answered.
    fn try_take(&mut self, c: usize) {
        let conn = &mut self.conns[c];
        if conn.busy || conn.dead {
            return;
        }
        let Some(r) = conn.bqueue.pop_front() else {
            return;
        };
        conn.busy = true;
        let mut d = self.rng.range(10, self.plan.proc_max);
        if self.rng.chance(self.plan.p_stall) {
            // A pause (a long GC, a slow disk): the client may give up on the connection
            // and go on elsewhere while this request and those behind it wait.
            let rt = self.s.request_timeout.as_micros() as u64;
            d += self.rng.range(rt, 3 * rt);
            self.hit(Hit::BrokerStall);
            tr!(
                self,
                "broker: conn {c} stalls {:.3}ms before request {r}",
                d as f64 / 1e3
            );
        }
        self.push(self.now + d, Ev::BrokerHandle(r));
    }

    fn broker_handle(&mut self, r: usize) {
        self.set_live(r, false);
        let c = self.reqs[r].conn;
        let zombie = self.conns[c].closed;
        if zombie {
            self.hit(Hit::ZombieRequest);
        }
        let mut answers = Vec::with_capacity(self.reqs[r].parts.len());
        for i in 0..self.reqs[r].parts.len() {
            let a = self.decide(r, i, zombie);
            answers.push(a);
        }
        if zombie && self.reqs[r].appended {
            self.hit(Hit::ZombieAppend);
        }
        self.reqs[r].answers = answers;
        self.reqs[r].deadline = self.now + self.s.request_timeout.as_micros() as u64;
        self.waiting.insert(r);
        self.eval(r);
    }

    /// Kafka's checks of one partition batch of request `r` (UnifiedLog.append with
    /// ProducerAppendInfo), and the append.
    fn decide(&mut self, r: usize, i: usize, zombie: bool) -> PAns {
        let broker = self.reqs[r].broker;
        let ReqPart {
            part: p,
            data,
            msgs,
            ..
        } = self.reqs[r].parts[i].clone();
        let name = self.part_name(p);
        let Some((pid, epoch, seq, count)) = header(&data) else {
            self.fail(format!("broker: batch of {name} too short"));
            return PAns::Done(2, -1);
        };
        let limits = DecodeLimits::default();
        match RecordSet::decode(data.clone(), &limits) {
            Ok(set) => {
                let ids: Vec<Option<u32>> =
                    set.iter().map(|rec| rec.value.and_then(id_of)).collect();
                let want: Vec<Option<u32>> = msgs.iter().map(|&m| Some(m)).collect();
                if ids != want || ids.len() != count as usize {
                    self.fail(format!(
                        "broker: batch of {name} holds {ids:?}, the producer says {msgs:?}"
                    ));
                    return PAns::Done(2, -1);
                }
            }
            Err(e) => {
                self.fail(format!("broker: batch of {name} does not decode: {e}"));
                return PAns::Done(2, -1);
            }
        }
        if self.parts[p].leader != Some(broker) {
            self.hit(Hit::NotLeader);
            tr!(self, "broker {broker}: {name} not the leader");
            return PAns::Done(NOT_LEADER, -1);
        }
        if self.rng.chance(self.plan.p_ner) {
            self.hit(Hit::NotEnoughReplicas);
            tr!(self, "broker {broker}: {name} not enough replicas → 19");
            return PAns::Done(NOT_ENOUGH_REPLICAS, -1);
        }
        let last = last_seq(seq, count);
        let flavor = self.plan.flavor;
        let entry = self.parts[p].pstate.get(&pid).cloned();
        // Planted BrokerNoDedup: a duplicate is appended again.
        let mut again = false;
        if let Some(e) = &entry {
            if e.epoch == epoch
                && self.plant == Plant::BrokerNoDedup
                && e.recent.iter().any(|&(f, l, _)| f == seq && l == last)
            {
                self.plant_fired = true;
                again = true;
            }
            if e.epoch == epoch && !again {
                if let Some(&(_, _, idx)) =
                    e.recent.iter().find(|&&(f, l, _)| f == seq && l == last)
                {
                    let lb = &self.parts[p].log[idx];
                    let (uid, base) = (lb.uid, lb.base);
                    let code = if flavor == Flavor::Legacy46 {
                        self.hit(Hit::DuplicateSequence);
                        tr!(self, "broker {broker}: {name} duplicate seq {seq} → 46");
                        DUPLICATE_SEQUENCE
                    } else {
                        self.hit(Hit::DuplicateOffsets);
                        tr!(
                            self,
                            "broker {broker}: {name} duplicate seq {seq} of offset {base}"
                        );
                        0
                    };
                    // Answered once the original is replicated (acks=all).
                    return PAns::Wait {
                        part: p,
                        idx,
                        uid,
                        code,
                    };
                }
            }
            if epoch < e.epoch {
                if zombie {
                    self.hit(Hit::InvalidEpochToZombie);
                }
                tr!(
                    self,
                    "broker {broker}: {name} epoch {epoch} < {} → 47",
                    e.epoch
                );
                return PAns::Done(INVALID_PRODUCER_EPOCH, -1);
            }
        }
        let reject = match &entry {
            _ if again => None,
            None if seq != 0 => {
                if flavor == Flavor::Modern {
                    self.hit(Hit::AcceptedWithoutState);
                    None
                } else {
                    self.hit(Hit::UnknownProducerId);
                    Some(UNKNOWN_PRODUCER_ID)
                }
            }
            None => None,
            Some(e) if e.epoch != epoch => (seq != 0).then_some(OUT_OF_ORDER),
            Some(e) => {
                let cur = e.recent.back().map_or(-1, |x| x.1);
                (!in_sequence(cur, seq)).then_some(OUT_OF_ORDER)
            }
        };
        if let Some(code) = reject {
            if code == OUT_OF_ORDER && !zombie {
                self.hit(Hit::OutOfOrder);
            }
            tr!(
                self,
                "broker {broker}: {name} pid {pid}.{epoch} seq {seq} rejected {code} (state {entry:?})"
            );
            return PAns::Done(code, -1);
        }
        // Append.
        let repl = self.rng.range(50, self.plan.repl_max);
        let slow = self.rng.chance(self.plan.p_slow);
        let at = if slow {
            self.now + self.s.request_timeout.as_micros() as u64 + self.rng.range(MS, 200 * MS)
        } else {
            self.now + repl
        };
        let uid = self.next_uid;
        self.next_uid += 1;
        let part = &mut self.parts[p];
        let commit_at = at.max(part.last_commit);
        part.last_commit = commit_at;
        let base = part.next_offset;
        part.next_offset += i64::from(count);
        let idx = part.log.len();
        part.log.push(LogBatch {
            uid,
            base,
            msgs: msgs.clone(),
            pid,
            epoch,
            first_seq: seq,
            last_seq: last,
            commit_at,
        });
        let st = part.pstate.entry(pid).or_insert(PState {
            epoch,
            recent: VecDeque::new(),
        });
        if st.epoch != epoch {
            st.epoch = epoch;
            st.recent.clear();
        }
        st.recent.push_back((seq, last, idx));
        if st.recent.len() > DEDUP_WINDOW {
            st.recent.pop_front();
        }
        part.last_append.insert(pid, self.now);
        self.reqs[r].appended = true;
        self.reqs[r].parts[i].appended = true;
        tr!(
            self,
            "broker {broker}: {name} appended {msgs:?} pid {pid}.{epoch} seq {seq}..{last} at \
             offset {base}, replicated at {:.3}ms",
            commit_at as f64 / 1000.0
        );
        let code = if self.rng.chance(self.plan.p_ner_after) {
            self.hit(Hit::NotEnoughReplicasAfterAppend);
            NOT_ENOUGH_REPLICAS_AFTER_APPEND
        } else {
            0
        };
        if code != 0 {
            return PAns::Done(code, -1);
        }
        PAns::Wait {
            part: p,
            idx,
            uid,
            code,
        }
    }

    /// Resolves what can be resolved of request `r`'s answer; answers when all is.
    fn eval(&mut self, r: usize) {
        if !self.waiting.contains(&r) {
            return;
        }
        let mut next = self.reqs[r].deadline;
        let mut all = true;
        for i in 0..self.reqs[r].answers.len() {
            if let PAns::Wait {
                part,
                idx,
                uid,
                code,
            } = self.reqs[r].answers[i]
            {
                let log = &self.parts[part].log;
                let present = log.get(idx).is_some_and(|b| b.uid == uid);
                if !present {
                    // Gone with a move: the old leader answers NOT_LEADER.
                    self.reqs[r].answers[i] = PAns::Done(NOT_LEADER, -1);
                    continue;
                }
                let b = &log[idx];
                if b.commit_at <= self.now {
                    self.reqs[r].answers[i] = PAns::Done(code, offset_for(code, b.base));
                } else if self.now >= self.reqs[r].deadline {
                    self.hit(Hit::RequestTimedOut);
                    tr!(
                        self,
                        "broker: {} not replicated in time → 7",
                        self.part_name(part)
                    );
                    self.reqs[r].answers[i] = PAns::Done(REQUEST_TIMED_OUT, -1);
                } else {
                    all = false;
                    next = next.min(b.commit_at);
                }
            }
        }
        if !all {
            self.push(next, Ev::BrokerEval(r));
            return;
        }
        self.waiting.remove(&r);
        self.respond(r);
    }

    fn respond(&mut self, r: usize) {
        let c = self.reqs[r].conn;
        let answer: Answer = self.reqs[r]
            .parts
            .iter()
            .zip(&self.reqs[r].answers)
            .map(|(p, a)| match *a {
                PAns::Done(code, base) => (p.part, code, base),
                PAns::Wait { .. } => (p.part, -1, -1),
            })
            .collect();
        self.reqs[r].answer = Some(answer);
        self.conns[c].busy = false;
        if !self.conns[c].dead {
            if !self.conns[c].b2c_cut
                && !self.conns[c].closed
                && self.rng.chance(self.plan.p_lost_ack)
            {
                tr!(self, "net: conn {c} loses answers from request {r} on");
                self.conns[c].b2c_cut = true;
            }
            if !self.conns[c].b2c_cut {
                let b = self.conns[c].broker;
                let d = self.net(b);
                let at = (self.now + d).max(self.conns[c].b2c_last);
                self.conns[c].b2c_last = at;
                self.push(at, Ev::AnswerArrive(r));
            }
        }
        self.try_take(c);
    }

    fn answer_arrive(&mut self, r: usize) {
        let c = self.reqs[r].conn;
        if self.conns[c].closed || self.conns[c].dead || self.done {
            return;
        }
        let ans = self.reqs[r].answer.clone().unwrap_or_default();
        let Some(&front) = self.conns[c].in_flight.front() else {
            self.fail(format!("answer {r} on conn {c} with nothing in flight"));
            return;
        };
        match self.plant {
            Plant::SwapAnswers if !self.plant_fired => {
                if let Some(h) = self.conns[c].held.take() {
                    // The held answer (of `front`) goes to the next request, this one to
                    // the front.
                    self.plant_fired = true;
                    tr!(self, "plant: answers {h} and {r} swapped");
                    let held = self.reqs[h].answer.clone().unwrap_or_default();
                    self.deliver(c, ans);
                    self.deliver(c, held);
                    return;
                }
                let shares = self.conns[c].in_flight.get(1).is_some_and(|&next| {
                    self.reqs[next]
                        .parts
                        .iter()
                        .any(|p| self.reqs[r].parts.iter().any(|q| q.part == p.part))
                });
                if shares && ans.iter().all(|a| a.1 == 0) {
                    self.conns[c].held = Some(r);
                    return;
                }
            }
            Plant::DuplicateAnswer if !self.plant_fired => {
                let shares = self.conns[c].in_flight.get(1).is_some_and(|&next| {
                    self.reqs[next]
                        .parts
                        .iter()
                        .any(|p| self.reqs[r].parts.iter().any(|q| q.part == p.part))
                });
                if shares && ans.iter().all(|a| a.1 == 0) {
                    self.plant_fired = true;
                    tr!(self, "plant: answer {r} delivered twice");
                    self.deliver(c, ans.clone());
                    self.deliver(c, ans);
                    return;
                }
            }
            _ => {}
        }
        if self.plant == Plant::None && front != r {
            self.fail(format!("answer {r} arrived while {front} is the oldest"));
            return;
        }
        self.deliver(c, ans);
    }

    /// The connection matches an answer to its oldest request in flight.
    fn deliver(&mut self, c: usize, ans: Answer) {
        let Some(r) = self.conns[c].in_flight.pop_front() else {
            return;
        };
        if let Some(&next) = self.conns[c].in_flight.front() {
            let at = self.now + self.client_timeout();
            self.push(at, Ev::TimeoutCheck(c, next));
        }
        self.complete(r, Ok(ans));
    }

    fn complete(&mut self, r: usize, res: Result<Answer, Error>) {
        if self.reqs[r].completed {
            return;
        }
        self.reqs[r].completed = true;
        if res.is_err() {
            if self.reqs[r].appended {
                self.hit(Hit::AckLost);
            }
            if !self.reqs[r].arrived {
                self.hit(Hit::RequestLost);
            }
        }
        self.cq_push(Cq::Done(r, res));
    }

    /// The client closes connection `c`: every request in flight fails, in order.
    fn client_close(&mut self, c: usize, e: Error) {
        self.conns[c].closed = true;
        tr!(self, "client: conn {c} closed: {e}");
        while let Some(r) = self.conns[c].in_flight.pop_front() {
            self.complete(r, Err(e.clone()));
        }
    }

    /// The broker resets connection `c`: it reads nothing more; the request it is
    /// processing still completes.
    fn conn_reset(&mut self, c: usize) {
        if self.conns[c].dead {
            return;
        }
        tr!(self, "net: conn {c} reset by the broker");
        self.conns[c].dead = true;
        let dropped: Vec<usize> = self.conns[c].bqueue.drain(..).collect();
        for r in dropped {
            self.set_live(r, false);
        }
        let b = self.conns[c].broker;
        let d = self.plan.net_base[b];
        self.push(self.now + d, Ev::ClientNoticeReset(c));
    }

    // ----- leadership, metadata, producer state expiry ------------------------------------

    fn move_start(&mut self, m: usize) {
        let p = self.plan.moves[m].part;
        let Some(old) = self.parts[p].leader else {
            return;
        };
        self.hit(Hit::LeaderMove);
        let n = self.plan.n_brokers;
        let new = if n > 1 {
            (old + 1 + self.rng.below(n as u64 - 1) as usize) % n
        } else {
            old
        };
        let (gap, show_none, keep_tail) = {
            let mp = &self.plan.moves[m];
            (mp.gap, mp.show_none, mp.keep_tail)
        };
        let now = self.now;
        // Batches waiting on the old leader: replicated ones are answered, the others get
        // NOT_LEADER_OR_FOLLOWER (the delayed produce completes when leadership moves).
        let waiting: Vec<usize> = self.waiting.iter().copied().collect();
        for r in waiting {
            for i in 0..self.reqs[r].answers.len() {
                if let PAns::Wait {
                    part, idx, code, ..
                } = self.reqs[r].answers[i]
                {
                    if part != p {
                        continue;
                    }
                    let b = &self.parts[p].log[idx];
                    self.reqs[r].answers[i] = if b.commit_at <= now {
                        PAns::Done(code, offset_for(code, b.base))
                    } else {
                        self.hit(Hit::NotLeaderAfterAppend);
                        PAns::Done(NOT_LEADER, -1)
                    };
                }
            }
        }
        let part = &mut self.parts[p];
        let committed = part.log.iter().take_while(|b| b.commit_at <= now).count();
        let tail = part.log.len() - committed;
        let keep = if keep_tail && tail > 0 {
            self.rng.range(1, tail as u64) as usize
        } else {
            0
        };
        let part = &mut self.parts[p];
        if keep > 0 {
            self.rec.hits[Hit::TailKept as usize] += 1;
        }
        if tail > keep {
            self.rec.hits[Hit::TailTruncated as usize] += 1;
        }
        part.log.truncate(committed + keep);
        part.next_offset = part.log.last().map_or(0, |b| b.base + b.msgs.len() as i64);
        // The kept tail is replicated once the new leader is up.
        let up = now + gap;
        let mut last = part
            .log
            .get(committed.wrapping_sub(1))
            .map_or(0, |b| b.commit_at);
        for b in &mut part.log[committed..] {
            b.commit_at = (up + 100).max(last);
            last = b.commit_at;
        }
        part.last_commit = last;
        // The new leader's producer state: rebuilt from the log it keeps.
        let mut ps: HashMap<i64, PState> = HashMap::new();
        for (idx, b) in part.log.iter().enumerate() {
            if part.forget.get(&b.pid).is_some_and(|&f| idx < f) {
                continue;
            }
            let e = ps.entry(b.pid).or_insert(PState {
                epoch: b.epoch,
                recent: VecDeque::new(),
            });
            if e.epoch != b.epoch {
                e.epoch = b.epoch;
                e.recent.clear();
            }
            e.recent.push_back((b.first_seq, b.last_seq, idx));
            if e.recent.len() > DEDUP_WINDOW {
                e.recent.pop_front();
            }
        }
        part.pstate = ps;
        part.prev_shown = part.shown;
        part.leader_epoch += 1;
        part.leader = None;
        if show_none {
            part.shown = (-1, part.leader_epoch);
        }
        tr!(
            self,
            "cluster: {} moves from broker {old} to {new}: keeps {} of {} batches ({} unreplicated)",
            self.part_name(p),
            committed + keep,
            committed + tail,
            tail
        );
        if gap > 0 {
            self.hit(Hit::LeaderGap);
        }
        self.parts[p].next_leader = new;
        self.push(up, Ev::MoveEnd(m));
        let waiting: Vec<usize> = self.waiting.iter().copied().collect();
        for r in waiting {
            self.eval(r);
        }
    }

    fn move_end(&mut self, m: usize) {
        let p = self.plan.moves[m].part;
        let part = &mut self.parts[p];
        let new = part.next_leader;
        part.leader = Some(new);
        part.shown = (new as i32, part.leader_epoch);
        tr!(self, "cluster: {} led by broker {new}", self.part_name(p));
    }

    /// A Metadata answer for `names`; some partitions from a broker that has not caught up.
    fn metadata(&mut self, names: &[String], may_be_stale: bool) -> Metadata {
        let n = self.plan.n_brokers;
        let mut topics = Vec::new();
        for (t, (name, _)) in self.plan.topics.iter().enumerate() {
            if !names.contains(name) {
                continue;
            }
            let mut partitions = Vec::new();
            for (p, part) in self.parts.iter().enumerate() {
                if part.topic != t {
                    continue;
                }
                let _ = p;
                let (leader, epoch) = if may_be_stale && self.rng.chance(self.plan.p_stale_meta) {
                    self.rec.hits[Hit::StaleMetadata as usize] += 1;
                    part.prev_shown
                } else {
                    part.shown
                };
                partitions.push(PartitionMeta {
                    partition: part.index,
                    error_code: if leader < 0 { 5 } else { 0 },
                    leader,
                    leader_epoch: epoch,
                    replicas: (0..n as i32).collect(),
                    isr: (0..n as i32).collect(),
                    offline: Vec::new(),
                });
            }
            topics.push(TopicMeta {
                name: name.clone(),
                error_code: 0,
                topic_id: Uuid::default(),
                is_internal: false,
                partitions,
            });
        }
        Metadata {
            brokers: (0..n)
                .map(|i| BrokerMeta {
                    id: i as i32,
                    host: format!("sim-broker-{i}"),
                    port: 9092,
                    rack: None,
                })
                .collect(),
            cluster_id: Some("sim".into()),
            controller_id: 0,
            topics,
        }
    }

    /// The background refresher (cluster/refresher.rs): every known topic, every interval.
    fn refresher(&mut self) {
        let names = self.snap.names();
        if !names.is_empty() && self.reachable().is_some() {
            let before: Vec<Option<i32>> =
                (0..self.parts.len()).map(|p| self.snap_leader(p)).collect();
            let md = self.metadata(&names, true);
            let now = self.inst(self.now);
            self.snap = self.snap.merged(&md, false, now);
            let changed = (0..self.parts.len()).any(|p| self.snap_leader(p) != before[p]);
            if changed {
                self.hit(Hit::BackgroundRefresh);
                tr!(
                    self,
                    "refresher: leaders now {:?}",
                    (0..self.parts.len())
                        .map(|p| self.snap_leader(p))
                        .collect::<Vec<_>>()
                );
            }
        }
        let at = self.now + self.plan.refresh_interval;
        self.push(at, Ev::Refresher);
    }

    fn snap_leader(&self, p: usize) -> Option<i32> {
        let t = self.snap.topic(self.topic_name(p))?;
        t.partition(self.parts[p].index).map(|x| x.leader)
    }

    /// Leaders forget a producer that has appended nothing for `expire_idle` and has
    /// nothing of the partition in flight.
    fn expire_check(&mut self) {
        let now = self.now;
        let idle = self.plan.expire_idle;
        for p in 0..self.parts.len() {
            let part = &mut self.parts[p];
            if part.leader.is_none() || part.live > 0 || part.client_in_flight > 0 {
                continue;
            }
            let busy = self
                .waiting
                .iter()
                .any(|&r| self.reqs[r].parts.iter().any(|q| q.part == p));
            if busy {
                continue;
            }
            let old: Vec<i64> = part
                .pstate
                .keys()
                .copied()
                .filter(|pid| part.last_append.get(pid).is_some_and(|&t| t + idle <= now))
                .collect();
            for pid in old {
                let part = &mut self.parts[p];
                part.pstate.remove(&pid);
                part.forget.insert(pid, part.log.len());
                self.rec.hits[Hit::StateExpired as usize] += 1;
                if self.rec.trace.is_some() {
                    let name = self.part_name(p);
                    self.trace_line(format!("broker: {name} forgets producer {pid}"));
                }
            }
        }
    }

    // ----- the checks ---------------------------------------------------------------------

    fn finish(&mut self) {
        let n = self.msgs.len();
        if self.sent != n || self.reports != n {
            return self.fail(format!(
                "{} sent, {} reports, of {n}",
                self.sent, self.reports
            ));
        }
        if self.st.outstanding() != 0 || self.st.in_flight() != 0 {
            return self.fail(format!(
                "at the end {} outstanding, {} in flight",
                self.st.outstanding(),
                self.st.in_flight()
            ));
        }
        if let Some(f) = &self.st.fatal {
            let f = f.clone();
            return self.fail(format!("fatal: {f}"));
        }
        // Where each message is in the final log.
        let mut places: Vec<Vec<(usize, i64)>> = vec![Vec::new(); n];
        let mut late_old_pid = 0u64;
        for p in 0..self.parts.len() {
            let mut last_first: Option<(u32, i64, i16)> = None;
            let mut newest_pid = i64::MIN;
            for b in &self.parts[p].log {
                for (k, &m) in b.msgs.iter().enumerate() {
                    let Some(plan) = self.plan.msgs.get(m as usize) else {
                        let name = self.part_name(p);
                        return self.fail(format!("{name} holds unknown message {m}"));
                    };
                    if plan.part != p {
                        let name = self.part_name(p);
                        return self.fail(format!("{name} holds message {m} of another partition"));
                    }
                    let first = places[m as usize].is_empty();
                    places[m as usize].push((p, b.base + k as i64));
                    if first {
                        if let Some((l, lpid, lepoch)) = last_first.filter(|l| l.0 >= m) {
                            let st = &self.msgs[m as usize];
                            if b.pid < newest_pid
                                && !st.delivered
                                && st.status == Some(Persisted::Possibly)
                            {
                                // An old producer id's request appended after the producer
                                // moved on: nothing fences it (see the module docs).
                                late_old_pid += 1;
                                continue;
                            }
                            let expired = self.parts[p].forget.contains_key(&lpid);
                            if expired && self.tolerated(KnownBug::OrderAfterExpiry) {
                                self.known[KnownBug::OrderAfterExpiry as usize] += 1;
                                continue;
                            }
                            let (tag, why) = if expired {
                                (
                                    KnownBug::OrderAfterExpiry.tag(),
                                    "; the broker had forgotten the producer's state for this \
                                     partition (expired) and accepted a later batch while an \
                                     earlier one failed",
                                )
                            } else {
                                (String::new(), "")
                            };
                            let name = self.part_name(p);
                            let status = |i: u32| {
                                let s = &self.msgs[i as usize];
                                if s.delivered {
                                    format!("delivered at {}", s.offset)
                                } else {
                                    format!("failed ({:?}, error {:?})", s.status, s.error)
                                }
                            };
                            return self.fail(format!(
                                "{tag}{name}: message {m} (pid {}.{}, {}) at offset {} after \
                                 message {l} (pid {lpid}.{lepoch}, {}): send order broken{why}",
                                b.pid,
                                b.epoch,
                                status(m),
                                b.base + k as i64,
                                status(l)
                            ));
                        }
                        last_first = Some((m, b.pid, b.epoch));
                    }
                }
                newest_pid = newest_pid.max(b.pid);
            }
        }
        self.late_old_pid = late_old_pid;
        let mut renumbered = 0u64;
        let mut renumbered_appended = 0u64;
        let mut allowed: Vec<bool> = vec![false; n];
        let mut appended_unacked: Vec<bool> = vec![false; n];
        for t in self.tracks.values() {
            if t.renumbered_maybe_written {
                renumbered += 1;
            } else if t.renumbered_appended {
                renumbered_appended += 1;
            }
            for &m in &t.msgs {
                allowed[m as usize] = t.renumbered_maybe_written || t.renumbered_appended;
                appended_unacked[m as usize] = t.appended_unacked;
            }
        }
        let counted = self.st.possible_duplicates;
        if renumbered > counted {
            return self.fail(format!(
                "{renumbered} batches that may be in the log (a request without answer) were \
                 sent under a new epoch, possible_duplicates says {counted}"
            ));
        }
        if renumbered + renumbered_appended > counted {
            if self.tolerated(KnownBug::AppendedAsNotWritten) {
                self.known[KnownBug::AppendedAsNotWritten as usize] += 1;
            } else {
                return self.fail(format!(
                    "{}{} batches that may be in the log were sent under a new epoch \
                     ({renumbered} after a request without answer, {renumbered_appended} after \
                     an error answer to a request that appended them: REQUEST_TIMED_OUT, \
                     NOT_ENOUGH_REPLICAS_AFTER_APPEND or NOT_LEADER_OR_FOLLOWER), \
                     possible_duplicates says {counted}",
                    KnownBug::AppendedAsNotWritten.tag(),
                    renumbered + renumbered_appended
                ));
            }
        }
        for i in 0..n {
            let m = self.msgs[i].clone();
            let at = &places[i];
            let name = self.part_name(self.plan.msgs[i].part);
            if at.len() > 1 {
                if !allowed[i] {
                    return self.fail(format!(
                        "message {i} of {name} is in the log {} times (offsets {:?}); its batch \
                         was never sent again under a new epoch after a request without answer \
                         (report: {:?}, error {:?})",
                        at.len(),
                        at.iter().map(|x| x.1).collect::<Vec<_>>(),
                        m.status,
                        m.error
                    ));
                }
                self.hit(Hit::DuplicateInLog);
            }
            if m.delivered {
                if m.status != Some(Persisted::Persisted) {
                    return self.fail(format!("message {i} delivered with status {:?}", m.status));
                }
                if m.offset >= 0 {
                    if !at.iter().any(|x| x.1 == m.offset) {
                        let holder = self.holder(self.plan.msgs[i].part, m.offset);
                        return self.fail(format!(
                            "message {i} reported delivered at {name}@{}, which holds {holder}; \
                             the message is at {:?}",
                            m.offset,
                            at.iter().map(|x| x.1).collect::<Vec<_>>()
                        ));
                    }
                } else if self.plan.flavor != Flavor::Legacy46 {
                    return self.fail(format!("message {i} delivered without an offset"));
                } else if at.is_empty() {
                    return self.fail(format!(
                        "message {i} delivered (duplicate answer) but not in the log"
                    ));
                }
            } else {
                match m.status {
                    Some(Persisted::Not) => {
                        if !at.is_empty()
                            && appended_unacked[i]
                            && self.tolerated(KnownBug::AppendedAsNotWritten)
                        {
                            self.known[KnownBug::AppendedAsNotWritten as usize] += 1;
                        } else if !at.is_empty() {
                            let (tag, why) = if appended_unacked[i] {
                                (
                                    KnownBug::AppendedAsNotWritten.tag(),
                                    "; an attempt appended it and was answered with an error \
                                     (REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_APPEND or \
                                     NOT_LEADER_OR_FOLLOWER), which the producer retried as \
                                     not written",
                                )
                            } else {
                                (String::new(), "")
                            };
                            return self.fail(format!(
                                "{tag}message {i} failed (error {:?}) with status Not, but {name} \
                                 holds it at offset {:?}{why}",
                                m.error,
                                at.iter().map(|x| x.1).collect::<Vec<_>>()
                            ));
                        }
                    }
                    Some(Persisted::Possibly) => {
                        if !m.written {
                            return self.fail(format!(
                                "message {i} failed with status Possibly but was never written"
                            ));
                        }
                        if !at.is_empty() {
                            self.hit(Hit::PossiblyPersistedInLog);
                        }
                    }
                    s => return self.fail(format!("message {i} failed with status {s:?}")),
                }
            }
        }
        let lost = self.st.counters.acknowledged_lost;
        if lost > 0 {
            // acks=all and leaders that keep what was replicated: nothing acknowledged is
            // ever lost here, so the counter may not move.
            if self.tolerated(KnownBug::AcknowledgedLostMiscounted) {
                self.known[KnownBug::AcknowledgedLostMiscounted as usize] += lost;
            } else {
                return self.fail(format!(
                    "{}the producer counted {lost} acknowledged batches lost \
                     (acknowledged_lost), but every acknowledged batch is in the log",
                    KnownBug::AcknowledgedLostMiscounted.tag()
                ));
            }
        }
        if self.plan.clean {
            if let Some(i) = (0..n).find(|&i| !self.msgs[i].delivered) {
                self.fail(format!(
                    "message {i} failed (error {:?}) in a scenario without faults",
                    self.msgs[i].error
                ));
            }
        }
    }

    fn holder(&self, p: usize, offset: i64) -> String {
        for b in &self.parts[p].log {
            if offset >= b.base && offset < b.base + b.msgs.len() as i64 {
                return format!("message {}", b.msgs[(offset - b.base) as usize]);
            }
        }
        "nothing".into()
    }
}

// ----- running seeds ----------------------------------------------------------------------

#[derive(Default, Clone)]
struct Totals {
    msgs: u64,
    delivered: u64,
    failed_not: u64,
    failed_possibly: u64,
    possibly_in_log: u64,
    requests: u64,
    epoch_bumps: u64,
    possible_duplicates: u64,
    sim_us: u64,
    spin_us: u64,
    late_old_pid: u64,
    known: [u64; KnownBug::ALL.len()],
}

impl Tally for Totals {
    type Sim = Sim;

    fn add(&mut self, _seed: u64, s: &Sim) {
        self.msgs += s.msgs.len() as u64;
        for m in &s.msgs {
            match (m.delivered, m.status) {
                (true, _) => self.delivered += 1,
                (false, Some(Persisted::Not)) => self.failed_not += 1,
                (false, Some(Persisted::Possibly)) => self.failed_possibly += 1,
                _ => {}
            }
        }
        self.possibly_in_log += s.rec.hits[Hit::PossiblyPersistedInLog as usize];
        self.requests += s.st.counters.requests;
        self.epoch_bumps += s.st.counters.epoch_bumps;
        self.possible_duplicates += s.st.possible_duplicates;
        self.sim_us += s.now;
        self.spin_us += s.spin_us;
        self.late_old_pid += s.late_old_pid;
        for (t, k) in self.known.iter_mut().zip(&s.known) {
            *t += k;
        }
    }

    fn merge(&mut self, o: Totals) {
        self.msgs += o.msgs;
        self.delivered += o.delivered;
        self.failed_not += o.failed_not;
        self.failed_possibly += o.failed_possibly;
        self.possibly_in_log += o.possibly_in_log;
        self.requests += o.requests;
        self.epoch_bumps += o.epoch_bumps;
        self.possible_duplicates += o.possible_duplicates;
        self.sim_us += o.sim_us;
        self.spin_us += o.spin_us;
        self.late_old_pid += o.late_old_pid;
        for (t, k) in self.known.iter_mut().zip(&o.known) {
            *t += k;
        }
    }
}

/// Producer bugs the simulator found, each a failure mode the checks name. Every one fails
/// its seeds unless `SIM_KNOWN_BUGS` lists it (comma-separated names, or `all`): then it is
/// counted instead, so the other checks can run. Off by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KnownBug {
    /// An error answer Kafka gives after appending the batch (REQUEST_TIMED_OUT,
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND, NOT_LEADER_OR_FOLLOWER from a produce waiting for
    /// replication when leadership moves) is retried as not written: a message that then
    /// fails is reported `Not` though it is in the log, and a batch sent again under a new
    /// epoch is not counted in `possible_duplicates` (and may be in the log twice).
    AppendedAsNotWritten,
    /// After a broker forgot the producer (its state expired), a partition still sends
    /// several batches at once; when the first fails with a retriable error the next is
    /// accepted without state (KIP-360) and delivered messages end up out of send order.
    OrderAfterExpiry,
    /// The sender goes round with nothing to do and nothing to wait for, again and again:
    /// `State::next_timer` gives a time already past (a topic's `refresh_at` or a queued
    /// batch's `retry_at`) while nothing can be sent, or the sender waits for an
    /// InitProducerId back-off already over while requests are in flight.
    BusyLoop,
    /// `acknowledged_lost` counts a loss that did not happen: the batch after the last
    /// acknowledged one is answered OUT_OF_ORDER_SEQUENCE_NUMBER because its copy in the
    /// log is no longer among the broker's last 5 batches (newer batches were appended
    /// after it: sent with its retry and their answers lost, or by requests of a closed
    /// connection), because the last acknowledgement was for an earlier batch sent again
    /// (`acked_next` moved back), or because the broker had forgotten the producer
    /// (`order-after-expiry`).
    AcknowledgedLostMiscounted,
}

impl KnownBug {
    const ALL: [KnownBug; 4] = [
        KnownBug::AppendedAsNotWritten,
        KnownBug::OrderAfterExpiry,
        KnownBug::BusyLoop,
        KnownBug::AcknowledgedLostMiscounted,
    ];

    fn name(self) -> &'static str {
        match self {
            KnownBug::AppendedAsNotWritten => "appended-as-not-written",
            KnownBug::OrderAfterExpiry => "order-after-expiry",
            KnownBug::BusyLoop => "busy-loop",
            KnownBug::AcknowledgedLostMiscounted => "acknowledged-lost-miscounted",
        }
    }

    /// How a violation names the bug.
    fn tag(self) -> String {
        format!(
            "[known producer bug; SIM_KNOWN_BUGS={} counts it instead] ",
            self.name()
        )
    }
}

/// Which known bugs are counted instead of failing a seed: one flag per [`KnownBug`].
type Tolerate = [bool; KnownBug::ALL.len()];

/// What `SIM_KNOWN_BUGS` tolerates.
fn tolerate_from_env() -> Tolerate {
    let v = std::env::var("SIM_KNOWN_BUGS").unwrap_or_default();
    let names: Vec<&str> = v.split(',').map(str::trim).collect();
    for n in &names {
        let known = KnownBug::ALL.iter().any(|k| k.name() == *n);
        assert!(
            known || ["", "all", "1", "0"].contains(n),
            "SIM_KNOWN_BUGS: unknown name '{n}' (known: all, {})",
            KnownBug::ALL.map(KnownBug::name).join(", ")
        );
    }
    KnownBug::ALL.map(|k| {
        names
            .iter()
            .any(|n| *n == "all" || *n == "1" || *n == k.name())
    })
}

/// Runs one seed; a panic inside the producer counts as a violation.
fn run_seed(seed: u64, plant: Plant, trace: bool, tolerate: Tolerate) -> (Result<(), String>, Sim) {
    let mut sim = Sim::new(seed, plant, trace);
    sim.tolerate = tolerate;
    let res = catch_panic(|| sim.run());
    (res, sim)
}

fn replay_hint(seed: u64) -> String {
    format!(
        "replay: SIM_TRACE=1 SIM_SEED={seed} cargo test --release --test sim_producer -- \
         --nocapture sim_producer_seeds"
    )
}

impl Scenario for Sim {
    type Totals = Totals;

    fn describe(&self) -> String {
        let p = &self.plan;
        format!(
            "plan: {} brokers, topics {:?}, {} messages, {:?} brokers, max_in_flight {}, \
         batch_num_messages {}, linger {:?}, message_timeout {:?}, retries {}, \
         request_timeout {:?}, {} moves, expiry {}, first epoch {}, faults: reset {:.3} \
         lost_ack {:.3} drop {:.3} slow {:.3} ner {:.3} ner_after {:.3} stall {:.3} pid_fail {:.2}",
            p.n_brokers,
            p.topics,
            p.msgs.len(),
            p.flavor,
            p.settings.max_in_flight,
            p.settings.batch_num_messages,
            p.settings.linger,
            p.settings.message_timeout,
            p.settings.retries,
            p.settings.request_timeout,
            p.moves.len(),
            !p.expire_checks.is_empty(),
            p.first_epoch,
            p.p_reset,
            p.p_lost_ack,
            p.p_drop,
            p.p_slow,
            p.p_ner,
            p.p_ner_after,
            p.p_stall,
            p.p_pid_fail,
        )
    }

    fn show_plan(&self) -> String {
        format!("{}\n{:#?}", self.describe(), self.plan)
    }

    fn record(&self) -> &Record {
        &self.rec
    }
}

/// The seeded scenarios: `SIM_SEED=<n>` runs one, `SIM_SEEDS=<n>` sets how many (default
/// 10,000); `SIM_KEEP_GOING=1` runs every seed and lists all that fail.
#[test]
fn sim_producer_seeds() {
    let tolerate = tolerate_from_env();
    let runner = Runner::new(DEFAULT_SEEDS, 4, RUN_LIMIT, replay_hint);
    let run = move |seed, trace| run_seed(seed, Plant::None, trace, tolerate);
    let Some(ran) = run_seeds(&runner, run) else {
        return;
    };
    let totals = &ran.sums.totals;
    println!(
        "sim_producer: {}, \
         {} messages: {} delivered, {} failed not persisted, {} failed possibly persisted \
         ({} of them in the log); {} requests, {} epoch bumps, {} possible duplicates \
         counted; {:.0} s simulated, of it {:.1} s in sender rounds with nothing to wait for",
        ran.summary(),
        totals.msgs,
        totals.delivered,
        totals.failed_not,
        totals.failed_possibly,
        totals.possibly_in_log,
        totals.requests,
        totals.epoch_bumps,
        totals.possible_duplicates,
        totals.sim_us as f64 / 1e6,
        totals.spin_us as f64 / 1e6,
    );
    println!(
        "{} possibly persisted messages were appended under an older producer id after a newer \
         one's batches (not fenced; allowed out of send order)",
        totals.late_old_pid
    );
    for (k, c) in KnownBug::ALL.iter().zip(&totals.known) {
        if *c > 0 {
            println!(
                "SIM_KNOWN_BUGS: known producer bug {} showed {c} times (a failure without it)",
                k.name()
            );
        }
    }
    ran.print_coverage(Hit::ALL, 28);
    ran.finish(Hit::ALL, true);
}

/// A seed replays exactly: the same plan, the same events, the same outcome.
#[test]
fn sim_producer_replays_exactly() {
    with_timeout(Duration::from_secs(30), || {
        assert_replays(&[1, 77, 4242], |seed, trace| {
            run_seed(seed, Plant::None, trace, tolerate_from_env())
        });
    });
}

/// The checker bites: the same harness with a bug planted reports it.
#[test]
fn sim_producer_checker_catches_planted_bugs() {
    with_timeout(Duration::from_secs(60), checker_catches_planted_bugs);
}

fn checker_catches_planted_bugs() {
    // Known producer bugs are counted, not reported, and a seed that fails without the
    // plant is left out: only the planted bug can fail a seed here.
    let all = [true; KnownBug::ALL.len()];
    for (plant, seeds, every) in [
        (Plant::DuplicateAnswer, 300u64, true),
        (Plant::SwapAnswers, 300, true),
        (Plant::RetryNotWritten, 1500, false),
        (Plant::BrokerNoDedup, 1500, false),
    ] {
        let mut fired = 0u64;
        let mut caught = 0u64;
        for seed in 0..seeds {
            let (res, sim) = run_seed(seed, plant, false, all);
            if !sim.plant_fired {
                continue;
            }
            if run_seed(seed, Plant::None, false, all).0.is_err() {
                continue;
            }
            fired += 1;
            match res {
                Err(msg) => {
                    caught += 1;
                    assert!(
                        !msg.starts_with("panic"),
                        "{plant:?} on seed {seed} made the producer panic: {msg}"
                    );
                }
                Ok(()) if every => panic!("{plant:?} went unnoticed on seed {seed}"),
                Ok(()) => {}
            }
        }
        println!("planted {plant:?}: fired on {fired} of {seeds} seeds, reported on {caught}");
        assert!(
            caught >= 5,
            "{plant:?} reported on only {caught} of {seeds} seeds"
        );
    }
}
