//! The producer while brokers crash: a three-node Apache Kafka cluster of its own
//! (replication factor 3, `min.insync.replicas=2`), a topic of six partitions, and one
//! producer sending N records at a steady pace while the test kills (SIGKILL) the node
//! that leads the most partitions, waits until the metadata shows new leaders for them,
//! restarts it, waits until every replica is back in sync, and does that again, K times
//! in all. The controllers also move leaders back to restarted nodes
//! (`leader.imbalance.check.interval.seconds`), so leadership changes under live
//! brokers as well.
//!
//! Each record is identifiable: its value starts with its send index `i` (a global
//! counter) and its key is `key-<i % 1000>`, so the partitioner spreads the records over
//! every partition and the send order within a partition is the order of `i`. Afterwards
//! every partition is read back from offset 0 to its end.
//!
//! * Idempotent (the default): every message has exactly one delivery report, a success
//!   with status persisted; every record is in the log exactly once, in the partition and
//!   at the offset its report named, in send order within its partition; nothing else is
//!   in the log.
//! * `enable.idempotence=false` (acks=all): every message has exactly one report; how
//!   many records were lost, duplicated or reordered is printed, not asserted.
//!
//! Both print their figures (`chaos: ...` lines): rounds (failover and restart times),
//! leader moves seen in the metadata, the producer's counters (retried batches, epoch
//! bumps), delivery latency, times and rates.
//!
//! A third test kills a leader for good: once the metadata names new leaders for its
//! partitions, the producer (default settings) must send there, so nothing fails, and
//! partitions led by live nodes must not be held up. N and K come from `KAFKAC_CHAOS_RECORDS` (default 100000)
//! and `KAFKAC_CHAOS_LEADER_CHANGES` (default 2); `scripts/producer-chaos.sh` runs the
//! long version. The tests run one after the other (each has its own cluster).

mod common;

use common::client::{client, create_topic};
use common::kafka::KafkaCluster;
use kafkac::cluster::PartitionMeta;
use kafkac::error::local;
use kafkac::producer::{Message, Persisted, Producer, ProducerCounters, Report, PARTITION_ANY};
use kafkac::{Client, Config};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

const TOPIC: &str = "chaos";
const PARTITIONS: i32 = 6;
/// Distinct keys (key-0 .. key-999).
const KEYS: usize = 1000;
/// Bytes of each value.
const VALUE_LEN: usize = 100;
/// Timeout of one admin call.
const T: Duration = Duration::from_secs(20);
/// How long the cluster may take to have every replica in sync before a kill.
const IN_SYNC_LIMIT: Duration = Duration::from_secs(60);
/// How long the metadata may take to show new leaders after a kill.
const FAILOVER_LIMIT: Duration = Duration::from_secs(30);
/// How long a killed node stays down once its partitions have new leaders.
const DOWN_FOR: Duration = Duration::from_secs(1);
/// The first guess of a round's length (kill, failover, restart, back in sync), which
/// paces the producer until a round has been measured.
const FIRST_ROUND_GUESS: Duration = Duration::from_secs(12);
/// The producer's `message.timeout.ms`: generous, so only a stuck producer fails a
/// message.
const MESSAGE_TIMEOUT_MS: u64 = 120_000;

/// N and K.
#[derive(Debug, Clone, Copy)]
struct Plan {
    records: usize,
    leader_changes: usize,
}

fn env_or(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?}: {e}")),
        Err(_) => default,
    }
}

fn plan() -> Plan {
    Plan {
        records: env_or("KAFKAC_CHAOS_RECORDS", 100_000),
        leader_changes: env_or("KAFKAC_CHAOS_LEADER_CHANGES", 2),
    }
}

/// The limit for a whole test: starting the cluster, the rounds, sending, reading back.
fn limit(plan: Plan) -> Duration {
    Duration::from_secs(90 + 40 * plan.leader_changes as u64 + plan.records as u64 / 5_000)
}

/// The tests here run one at a time: each starts three Kafka nodes of its own.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static L: Mutex<()> = Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

fn key_of(i: usize) -> String {
    format!("key-{}", i % KEYS)
}

/// `i` in ten digits, a space, then filler up to [`VALUE_LEN`] bytes.
fn value_of(i: usize) -> Vec<u8> {
    let mut v = format!("{i:010} ").into_bytes();
    v.resize(VALUE_LEN, b'a' + (i % 26) as u8);
    v
}

/// The send index in a value written by [`value_of`].
fn index_of(value: &[u8]) -> Option<usize> {
    std::str::from_utf8(value.get(..10)?).ok()?.parse().ok()
}

// ---------------------------------------------------------------------------
// Pacing: the producer spreads its records over the rounds
// ---------------------------------------------------------------------------

/// What the threads share: how far the rounds are, and flags to stop.
struct Progress {
    plan: Plan,
    started: Instant,
    rounds: Mutex<Rounds>,
    /// Set when the rounds are over (or the test is failing): the producer may finish.
    chaos_over: AtomicBool,
    /// Set when the test fails: every thread stops.
    abort: AtomicBool,
    /// Records sent so far.
    sent: AtomicUsize,
    /// The producer has flushed (or given up).
    producer_done: AtomicBool,
}

struct Rounds {
    done: usize,
    /// When the current round (or, after the last, the tail) began.
    since: Instant,
    /// Average length of a round so far.
    estimate: Duration,
}

impl Progress {
    fn new(plan: Plan) -> Progress {
        let now = Instant::now();
        Progress {
            plan,
            started: now,
            rounds: Mutex::new(Rounds {
                done: 0,
                since: now,
                estimate: FIRST_ROUND_GUESS,
            }),
            chaos_over: AtomicBool::new(false),
            abort: AtomicBool::new(false),
            sent: AtomicUsize::new(0),
            producer_done: AtomicBool::new(false),
        }
    }

    /// How many records the producer may have sent by now: the rounds and half a round
    /// after them share the records evenly; within a round the share grows with time,
    /// but not past 90% of the round until it is over.
    fn allowed(&self) -> usize {
        let r = self.rounds.lock().unwrap_or_else(|e| e.into_inner());
        let mut frac = r.since.elapsed().as_secs_f64() / r.estimate.as_secs_f64();
        if !self.chaos_over.load(Ordering::Relaxed) {
            frac = frac.min(0.9);
        }
        let progress = ((r.done as f64 + frac) / (self.plan.leader_changes as f64 + 0.5)).min(1.0);
        (progress * self.plan.records as f64) as usize
    }

    fn round_done(&self) {
        let mut r = self.rounds.lock().unwrap_or_else(|e| e.into_inner());
        r.done += 1;
        r.since = Instant::now();
        r.estimate = self.started.elapsed() / r.done as u32;
    }
}

/// Stops the other threads when the test's thread leaves the scope, also by a panic.
struct AbortOnDrop<'a>(&'a Progress);

impl Drop for AbortOnDrop<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.abort.store(true, Ordering::Relaxed);
        }
        self.0.chaos_over.store(true, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------
// The producer
// ---------------------------------------------------------------------------

/// A message's delivery report, compactly.
#[derive(Clone, Copy)]
struct Delivery {
    partition: i32,
    offset: i64,
    failed: bool,
    status: Persisted,
}

/// What the producer thread did.
struct Produced {
    /// Each message's first report.
    reports: Vec<Option<Delivery>>,
    /// Each message's delivery latency: from its send to its report being served, ms.
    latency_ms: Vec<u32>,
    /// When each message was sent, ms after the first.
    sent_ms: Vec<u32>,
    /// Messages with more than one report.
    extra_reports: usize,
    /// Failed reports: how many, and the first few errors.
    failures: usize,
    first_errors: Vec<String>,
    counters: ProducerCounters,
    producer_id: (i64, i16),
    took: Duration,
    flushed: Result<(), String>,
}

fn producer(bootstrap: &str, idempotent: bool) -> Producer {
    let mut c = Config::new();
    let timeout = MESSAGE_TIMEOUT_MS.to_string();
    // What an application would set to ride out broker crashes: a generous message
    // timeout, quick retries, reconnects that do not back off for long, and a network
    // timeout that notices a stuck connection.
    for (k, v) in [
        ("bootstrap.servers", bootstrap),
        (
            "enable.idempotence",
            if idempotent { "true" } else { "false" },
        ),
        ("acks", "all"),
        ("linger.ms", "5"),
        ("message.timeout.ms", &timeout),
        ("retry.backoff.ms", "20"),
        ("retry.backoff.max.ms", "500"),
        ("reconnect.backoff.ms", "20"),
        ("reconnect.backoff.max.ms", "500"),
        ("socket.timeout.ms", "10000"),
        ("request.timeout.ms", "10000"),
    ] {
        c.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    Producer::new(&c).unwrap_or_else(|e| panic!("producer: {e}"))
}

fn produce(bootstrap: &str, idempotent: bool, progress: &Progress) -> Produced {
    let n = progress.plan.records;
    let p = producer(bootstrap, idempotent);
    let mut out = Produced {
        reports: vec![None; n],
        latency_ms: vec![0; n],
        sent_ms: Vec::new(),
        extra_reports: 0,
        failures: 0,
        first_errors: Vec::new(),
        counters: ProducerCounters::default(),
        producer_id: (-1, -1),
        took: Duration::ZERO,
        flushed: Ok(()),
    };
    let started = progress.started;
    let sent_ms: Vec<Cell<u32>> = vec![Cell::new(0); n];
    let mut serve = |r: &Report| {
        if let Some(at) = sent_ms.get(r.opaque) {
            let now = started.elapsed().as_millis() as u32;
            out.latency_ms[r.opaque] = now.saturating_sub(at.get());
        }
        let d = Delivery {
            partition: r.partition,
            offset: r.offset,
            failed: r.error.is_some(),
            status: r.status,
        };
        if let Some(e) = &r.error {
            out.failures += 1;
            if out.first_errors.len() < 5 {
                out.first_errors.push(format!("message {}: {e}", r.opaque));
            }
        }
        match out.reports.get_mut(r.opaque) {
            Some(slot @ None) => *slot = Some(d),
            _ => out.extra_reports += 1,
        }
    };
    for (i, sent_at) in sent_ms.iter().enumerate() {
        while i >= progress.allowed() {
            if progress.abort.load(Ordering::Relaxed) {
                break;
            }
            p.poll(Duration::from_millis(5), &mut serve);
        }
        if progress.abort.load(Ordering::Relaxed) {
            break;
        }
        let key = key_of(i);
        let value = value_of(i);
        let m = Message {
            topic: TOPIC,
            partition: PARTITION_ANY,
            key: Some(key.as_bytes()),
            value: Some(&value),
            opaque: i,
            ..Default::default()
        };
        sent_at.set(started.elapsed().as_millis() as u32);
        loop {
            match p.send(&m) {
                Ok(()) => break,
                Err(e) if e.code == local::QUEUE_FULL => {
                    p.poll(Duration::from_millis(10), &mut serve);
                }
                Err(e) => panic!("send {i}: {e}"),
            }
        }
        if i % 256 == 0 {
            p.poll(Duration::ZERO, &mut serve);
        }
        progress.sent.store(i + 1, Ordering::Relaxed);
    }
    let flush_limit = Duration::from_millis(MESSAGE_TIMEOUT_MS) + Duration::from_secs(30);
    out.flushed = p.flush(flush_limit, &mut serve).map_err(|e| e.to_string());
    out.took = started.elapsed();
    out.sent_ms = sent_ms.into_iter().map(Cell::into_inner).collect();
    out.counters = p.counters();
    out.producer_id = p.producer_id();
    p.close(Duration::from_secs(5));
    progress.producer_done.store(true, Ordering::Relaxed);
    out
}

// ---------------------------------------------------------------------------
// Watching the leaders
// ---------------------------------------------------------------------------

/// The partitions as the metadata last showed them, and the leader moves seen.
#[derive(Default)]
struct View {
    partitions: Vec<PartitionMeta>,
    /// Partition -> last leader seen (>= 0).
    last_leader: BTreeMap<i32, i32>,
    /// Times a partition's leader was seen to be a different broker than before.
    moves: usize,
    /// Metadata answers read.
    polls: usize,
}

/// Polls the topic's metadata every 100 ms until `progress` says stop, counting leader
/// moves into `view`.
fn watch(bootstrap: &str, view: &Mutex<View>, progress: &Progress) {
    let c = client(bootstrap);
    let topics = [TOPIC.to_string()];
    let over = || {
        progress.abort.load(Ordering::Relaxed)
            || (progress.chaos_over.load(Ordering::Relaxed)
                && progress.producer_done.load(Ordering::Relaxed))
    };
    while !over() {
        if let Ok(md) = c.metadata(Some(&topics), Duration::from_secs(2)) {
            if let Some(t) = md.topics.into_iter().find(|t| t.name == TOPIC) {
                let mut v = view.lock().unwrap_or_else(|e| e.into_inner());
                for p in &t.partitions {
                    if p.leader < 0 {
                        continue;
                    }
                    if let Some(old) = v.last_leader.insert(p.partition, p.leader) {
                        if old != p.leader {
                            v.moves += 1;
                        }
                    }
                }
                v.partitions = t.partitions;
                v.polls += 1;
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn view(v: &Mutex<View>) -> MutexGuard<'_, View> {
    v.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits until a fresh metadata answer satisfies `cond`; panics with `what` after
/// `limit`.
fn wait_view(
    v: &Mutex<View>,
    limit: Duration,
    what: &str,
    cond: impl Fn(&[PartitionMeta]) -> bool,
) {
    let polls = view(v).polls;
    common::wait_until(limit, what, || {
        let v = view(v);
        v.polls > polls && v.partitions.len() == PARTITIONS as usize && cond(&v.partitions)
    });
}

fn all_in_sync(ps: &[PartitionMeta]) -> bool {
    ps.iter().all(|p| p.leader >= 0 && p.isr.len() == 3)
}

// ---------------------------------------------------------------------------
// The rounds
// ---------------------------------------------------------------------------

/// One kill and restart.
struct Round {
    victim: i32,
    led: Vec<i32>,
    /// Records sent when the node was killed.
    sent_at_kill: usize,
    /// When it was killed, since the producer started.
    killed_at: Duration,
    failover: Duration,
    restart: Duration,
    took: Duration,
}

/// Kills the node leading the most partitions, waits for new leaders, restarts it and
/// waits until every replica is in sync again; `plan.leader_changes` times.
fn chaos(k: &mut KafkaCluster, v: &Mutex<View>, progress: &Progress) -> Vec<Round> {
    let mut rounds = Vec::new();
    for r in 0..progress.plan.leader_changes {
        let t0 = Instant::now();
        wait_view(v, IN_SYNC_LIMIT, "every replica in sync", all_in_sync);
        let leaders: Vec<i32> = view(v).partitions.iter().map(|p| p.leader).collect();
        // The node leading the most partitions; ties go round the nodes.
        let victim = (1..=3)
            .map(|n| (n + r as i32) % 3 + 1)
            .max_by_key(|n| leaders.iter().filter(|l| *l == n).count())
            .expect("three nodes");
        let led: Vec<i32> = (0..PARTITIONS)
            .filter(|p| leaders[*p as usize] == victim)
            .collect();
        let sent_at_kill = progress.sent.load(Ordering::Relaxed);
        k.kill(victim);
        let killed = Instant::now();
        let killed_at = progress.started.elapsed();
        wait_view(
            v,
            FAILOVER_LIMIT,
            &format!("new leaders for partitions {led:?} of killed node {victim}"),
            |ps| {
                led.iter().all(|&p| {
                    let l = ps[p as usize].leader;
                    l >= 0 && l != victim
                })
            },
        );
        let failover = killed.elapsed();
        thread::sleep(DOWN_FOR);
        let restart = k.restart(victim);
        // In sync again before the round counts as done, so the next kill finds every
        // partition with three replicas.
        wait_view(v, IN_SYNC_LIMIT, "every replica in sync", all_in_sync);
        let round = Round {
            victim,
            led,
            sent_at_kill,
            killed_at,
            failover,
            restart,
            took: t0.elapsed(),
        };
        eprintln!(
            "chaos: round {}: killed node {} (leader of partitions {:?}) at {:.1} s, after {} \
             records; new leaders after {:.1} s; restarted in {:.1} s; round {:.1} s",
            r + 1,
            round.victim,
            round.led,
            round.killed_at.as_secs_f64(),
            round.sent_at_kill,
            round.failover.as_secs_f64(),
            round.restart.as_secs_f64(),
            round.took.as_secs_f64()
        );
        rounds.push(round);
        progress.round_done();
    }
    progress.chaos_over.store(true, Ordering::Relaxed);
    rounds
}

// ---------------------------------------------------------------------------
// Reading back
// ---------------------------------------------------------------------------

/// Every record of every partition, from offset 0 to the end: (partition, offset, send
/// index) in log order. A record that is not one of the producer's fails the test.
fn read_back(c: &Client) -> Vec<Vec<(i64, usize)>> {
    let mut out = Vec::new();
    for p in 0..PARTITIONS {
        let mut recs: Vec<(i64, usize)> = Vec::new();
        let mut next = 0i64;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            assert!(
                Instant::now() < deadline,
                "reading {TOPIC}/{p} timed out at {next}"
            );
            let f = c
                .fetch(TOPIC, p, next, 8 << 20, Duration::from_millis(100), T)
                .unwrap_or_else(|e| panic!("fetch {TOPIC}/{p} at {next}: {e}"));
            for r in f.records.iter() {
                let value = r.value.unwrap_or_default();
                let i = index_of(value).unwrap_or_else(|| {
                    panic!(
                        "{TOPIC}/{p} offset {}: value {:?}",
                        r.offset,
                        String::from_utf8_lossy(value)
                    )
                });
                assert_eq!(
                    (r.key, value),
                    (Some(key_of(i).as_bytes()), value_of(i).as_slice()),
                    "{TOPIC}/{p} offset {}: the record of message {i} is damaged",
                    r.offset
                );
                recs.push((r.offset, i));
                next = r.offset + 1;
            }
            if next >= f.high_watermark {
                break;
            }
        }
        out.push(recs);
    }
    out
}

/// How the log compares with the reports.
#[derive(Debug, Default)]
struct Outcome {
    delivered: usize,
    failed: usize,
    in_log: usize,
    /// Delivered (success report) but not in the log.
    lost: usize,
    /// Copies beyond the first of a record.
    duplicated: usize,
    /// Failed (or possibly persisted) messages that are in the log anyway.
    failed_but_written: usize,
    /// Places in a partition where a record follows one sent after it.
    out_of_order: usize,
    /// Records not at the partition and offset their success report named.
    misplaced: usize,
}

fn outcome(produced: &Produced, log: &[Vec<(i64, usize)>]) -> (Outcome, Vec<String>) {
    let n = produced.reports.len();
    let mut o = Outcome::default();
    let mut examples = Vec::new();
    let mut note = |s: String| {
        if examples.len() < 10 {
            examples.push(s);
        }
    };
    let mut copies = vec![0u32; n];
    for (p, recs) in log.iter().enumerate() {
        let mut last: Option<usize> = None;
        for &(offset, i) in recs {
            o.in_log += 1;
            assert!(
                i < n,
                "{TOPIC}/{p} offset {offset}: message {i} was never sent"
            );
            copies[i] += 1;
            if copies[i] > 1 {
                o.duplicated += 1;
                note(format!("message {i} again at {p}/{offset}"));
            }
            if let Some(l) = last.filter(|&l| i < l) {
                o.out_of_order += 1;
                note(format!("message {i} at {p}/{offset} after message {l}"));
            }
            last = Some(i);
            match produced.reports[i] {
                Some(d) if !d.failed => {
                    if copies[i] == 1 && (d.partition, d.offset) != (p as i32, offset) {
                        o.misplaced += 1;
                        note(format!(
                            "message {i} at {p}/{offset}, its report says {}/{}",
                            d.partition, d.offset
                        ));
                    }
                }
                _ => {
                    if copies[i] == 1 {
                        o.failed_but_written += 1;
                    }
                }
            }
        }
    }
    for (i, r) in produced.reports.iter().enumerate() {
        match r {
            Some(d) if !d.failed => {
                o.delivered += 1;
                if copies[i] == 0 {
                    o.lost += 1;
                    note(format!(
                        "message {i} reported at {}/{} is not in the log",
                        d.partition, d.offset
                    ));
                }
            }
            Some(_) => o.failed += 1,
            None => {}
        }
    }
    (o, examples)
}

/// Median, 99th percentile and maximum of the delivery latencies, with the message and
/// partition of the slowest.
fn latencies(p: &Produced) -> String {
    let mut v: Vec<(u32, usize)> = p
        .latency_ms
        .iter()
        .enumerate()
        .filter(|(i, _)| p.reports[*i].is_some())
        .map(|(i, l)| (*l, i))
        .collect();
    if v.is_empty() {
        return "no reports".into();
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize].0;
    let (max, slowest) = v[v.len() - 1];
    let part = p.reports[slowest].map_or(-1, |d| d.partition);
    format!(
        "p50 {} ms, p99 {} ms, max {max} ms (message {slowest}, partition {part})",
        at(0.5),
        at(0.99)
    )
}

/// Per second of sending: how many messages were sent, the median and maximum latency
/// of their reports, and the maximum per partition (`KAFKAC_CHAOS_TIMELINE=1` prints
/// it).
fn timeline(p: &Produced) -> Vec<String> {
    let mut by_second: BTreeMap<u32, (Vec<u32>, Vec<u32>)> = BTreeMap::new();
    for (i, at) in p.sent_ms.iter().enumerate() {
        if let Some(d) = p.reports[i] {
            let (all, per_part) = by_second
                .entry(at / 1000)
                .or_insert_with(|| (Vec::new(), vec![0; PARTITIONS as usize]));
            all.push(p.latency_ms[i]);
            if let Some(m) = per_part.get_mut(d.partition as usize) {
                *m = (*m).max(p.latency_ms[i]);
            }
        }
    }
    by_second
        .into_iter()
        .map(|(s, (mut l, per_part))| {
            l.sort_unstable();
            format!(
                "second {s}: {} sent, latency p50 {} ms, max {} ms, max per partition {:?}",
                l.len(),
                l[l.len() / 2],
                l[l.len() - 1],
                per_part
            )
        })
        .collect()
}

/// A partition's send indices in log order as runs of rising indices (`a..=b`, with how
/// many records), the first 12.
fn runs(recs: &[(i64, usize)]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut start = 0;
    for k in 1..=recs.len() {
        if k == recs.len() || recs[k].1 < recs[k - 1].1 {
            if out.len() < 12 {
                out.push(format!(
                    "{}..={} ({})",
                    recs[start].1,
                    recs[k - 1].1,
                    k - start
                ));
            }
            start = k;
        }
    }
    out.join(" ")
}

// ---------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------

struct Run {
    plan: Plan,
    produced: Produced,
    rounds: Vec<Round>,
    moves: usize,
    log: Vec<Vec<(i64, usize)>>,
    outcome: Outcome,
    examples: Vec<String>,
}

/// Starts a cluster, creates the topic, then produces while the rounds run; reads the
/// log back and compares. Prints the figures.
fn run(idempotent: bool) -> Run {
    let plan = plan();
    let mode = if idempotent {
        "idempotent"
    } else {
        "not idempotent"
    };
    let t0 = Instant::now();
    // Leaders move back to a restarted node within seconds too.
    let mut k = KafkaCluster::start_with(3, &[("leader.imbalance.check.interval.seconds", "5")]);
    let bootstrap = k.bootstrap.clone();
    let admin = client(&bootstrap);
    create_topic(&admin, TOPIC, PARTITIONS, 3, &[], T);
    eprintln!(
        "chaos: {mode}: {} records, {} leader changes; cluster of 3 up in {:.1} s",
        plan.records,
        plan.leader_changes,
        k.started_in.as_secs_f64()
    );
    let progress = Progress::new(plan);
    let v = Mutex::new(View::default());
    let (produced, rounds) = thread::scope(|s| {
        let guard = AbortOnDrop(&progress);
        let watcher = s.spawn(|| watch(&bootstrap, &v, &progress));
        wait_view(&v, T, "leaders for every partition", |ps| {
            ps.iter().all(|p| p.leader >= 0)
        });
        let producer = s.spawn(|| produce(&bootstrap, idempotent, &progress));
        let rounds = chaos(&mut k, &v, &progress);
        let produced = producer.join().expect("producer thread");
        drop(guard);
        watcher.join().expect("watcher thread");
        (produced, rounds)
    });
    let moves = view(&v).moves;
    let read_started = Instant::now();
    let log = read_back(&admin);
    let read_took = read_started.elapsed();
    let (outcome, examples) = outcome(&produced, &log);
    let c = produced.counters;
    let secs = produced.took.as_secs_f64();
    eprintln!(
        "chaos: {mode}: sent {} records in {secs:.1} s ({:.0} records/s) across {} leader \
         failovers ({moves} partition leader moves seen); flush {:?}",
        plan.records,
        plan.records as f64 / secs,
        rounds.len(),
        produced.flushed
    );
    eprintln!(
        "chaos: {mode}: counters: {} requests, {} batches, {} retried batches, {} epoch \
         bumps, {} acknowledged lost, {} producer ids; producer id/epoch {:?}",
        c.requests,
        c.batches,
        c.retried_batches,
        c.epoch_bumps,
        c.acknowledged_lost,
        c.producer_ids,
        produced.producer_id
    );
    eprintln!(
        "chaos: {mode}: delivery latency (send to report served): {}",
        latencies(&produced)
    );
    eprintln!(
        "chaos: {mode}: outcome: {} delivered, {} failed, {} extra reports; {} in the log \
         (read in {:.1} s): {} lost, {} duplicated, {} out of order, {} not where reported, \
         {} failed but written; total {:.1} s",
        outcome.delivered,
        outcome.failed,
        produced.extra_reports,
        outcome.in_log,
        read_took.as_secs_f64(),
        outcome.lost,
        outcome.duplicated,
        outcome.out_of_order,
        outcome.misplaced,
        outcome.failed_but_written,
        t0.elapsed().as_secs_f64()
    );
    if std::env::var_os("KAFKAC_CHAOS_TIMELINE").is_some() {
        for line in timeline(&produced) {
            eprintln!("chaos: {mode}: {line}");
        }
    }
    for e in produced.first_errors.iter().chain(&examples) {
        eprintln!("chaos: {mode}: example: {e}");
    }
    if outcome.out_of_order > 0 {
        for (p, recs) in log.iter().enumerate() {
            eprintln!("chaos: {mode}: partition {p} in log order: {}", runs(recs));
        }
    }
    Run {
        plan,
        produced,
        rounds,
        moves,
        log,
        outcome,
        examples,
    }
}

/// Each message got exactly one report.
fn assert_one_report_each(r: &Run) {
    let missing = r.produced.reports.iter().filter(|d| d.is_none()).count();
    assert!(
        missing == 0 && r.produced.extra_reports == 0,
        "{missing} messages without a report, {} extra reports (flush: {:?})",
        r.produced.extra_reports,
        r.produced.flushed
    );
}

#[test]
fn idempotent_producer_delivers_every_record_once_in_order_while_leaders_crash() {
    let _one = one_at_a_time();
    let plan = plan();
    common::with_timeout(limit(plan), || {
        let r = run(true);
        assert_eq!(
            r.rounds.len(),
            r.plan.leader_changes,
            "leader failovers done"
        );
        assert!(
            r.moves >= r.plan.leader_changes,
            "{} partition leader moves seen, want at least {}",
            r.moves,
            r.plan.leader_changes
        );
        // Every kill came while records were still to be sent.
        for (i, round) in r.rounds.iter().enumerate() {
            assert!(
                round.sent_at_kill < r.plan.records,
                "round {}: node {} killed after the last send",
                i + 1,
                round.victim
            );
        }
        assert_eq!(r.produced.flushed, Ok(()), "flush");
        assert_one_report_each(&r);
        let o = &r.outcome;
        assert!(
            o.failed == 0 && r.produced.failures == 0,
            "{} failed reports: {:?}",
            o.failed,
            r.produced.first_errors
        );
        let not_persisted = r
            .produced
            .reports
            .iter()
            .flatten()
            .filter(|d| d.status != Persisted::Persisted)
            .count();
        assert_eq!(
            not_persisted, 0,
            "successful reports without status persisted"
        );
        assert!(
            o.lost == 0
                && o.duplicated == 0
                && o.out_of_order == 0
                && o.misplaced == 0
                && o.in_log == r.plan.records,
            "{o:?}; {} in the log, {} sent; first problems:\n{}",
            r.log.iter().map(Vec::len).sum::<usize>(),
            r.plan.records,
            r.examples.join("\n")
        );
        let (pid, epoch) = r.produced.producer_id;
        assert!(pid >= 0 && epoch >= 0, "producer id {pid} epoch {epoch}");
    });
}

#[test]
fn producer_without_idempotence_reports_every_message_while_leaders_crash() {
    let _one = one_at_a_time();
    let plan = plan();
    common::with_timeout(limit(plan), || {
        let r = run(false);
        assert_eq!(r.produced.flushed, Ok(()), "flush");
        // Whatever the log holds, every message gets exactly one report; the losses,
        // copies and reorderings above are figures, not failures.
        assert_one_report_each(&r);
        assert_eq!(r.produced.producer_id, (-1, -1), "no producer id");
    });
}

/// Partition -> leader (-1: none), from a fresh Metadata answer.
fn leaders_of(c: &Client, topic: &str) -> Vec<i32> {
    let md = c
        .metadata(Some(&[topic.to_string()]), T)
        .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
    md.topics[0].partitions.iter().map(|p| p.leader).collect()
}

#[test]
fn partitions_of_a_leader_that_stays_dead_move_to_their_new_leaders() {
    const TOPIC: &str = "dead-leader";
    /// Messages sent to every partition after the failover, one every 50 ms.
    const ROUNDS: usize = 200;
    /// The producer's message timeout: longer than any reasonable failover.
    const TIMEOUT: Duration = Duration::from_secs(30);
    let _one = one_at_a_time();
    common::with_timeout(Duration::from_secs(180), || {
        let mut k = KafkaCluster::start(3);
        let admin = client(&k.bootstrap);
        create_topic(&admin, TOPIC, PARTITIONS, 3, &[], T);
        common::wait_until(T, "leaders for every partition", || {
            leaders_of(&admin, TOPIC).iter().all(|l| *l >= 0)
        });
        // Default settings but for the message timeout.
        let mut c = Config::new();
        c.set("bootstrap.servers", &k.bootstrap).unwrap();
        c.set("message.timeout.ms", &TIMEOUT.as_millis().to_string())
            .unwrap();
        let p = Producer::new(&c).unwrap();
        let send = |partition: i32, opaque: usize| {
            p.send(&Message {
                topic: TOPIC,
                partition,
                value: Some(b"v"),
                opaque,
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("send to {partition}: {e}"))
        };
        // Connections to every leader, and a producer id.
        for part in 0..PARTITIONS {
            send(part, usize::MAX);
        }
        p.flush(T, |r| assert!(r.error.is_none(), "{:?}", r.error))
            .unwrap();
        let before = leaders_of(&admin, TOPIC);
        let victim = before[0];
        let orphans: Vec<i32> = (0..PARTITIONS)
            .filter(|p| before[*p as usize] == victim)
            .collect();
        k.kill(victim);
        let killed = Instant::now();
        common::wait_until(T, "new leaders", || {
            leaders_of(&admin, TOPIC)
                .iter()
                .all(|l| *l >= 0 && *l != victim)
        });
        let failover = killed.elapsed();
        // The cluster serves every partition again: the producer must too.
        let sent_at: Vec<Cell<Option<Instant>>> =
            vec![Cell::new(None); ROUNDS * PARTITIONS as usize];
        let mut worst = vec![Duration::ZERO; PARTITIONS as usize];
        let mut failed: Vec<String> = Vec::new();
        let mut serve = |r: &Report| {
            let part = r.partition as usize;
            if let Some(at) = sent_at.get(r.opaque).and_then(Cell::get) {
                worst[part] = worst[part].max(at.elapsed());
            }
            if let Some(e) = &r.error {
                failed.push(format!("partition {part}: {e}"));
            }
        };
        for round in 0..ROUNDS {
            for part in 0..PARTITIONS {
                let i = round * PARTITIONS as usize + part as usize;
                sent_at[i].set(Some(Instant::now()));
                send(part, i);
            }
            p.poll(Duration::from_millis(50), &mut serve);
        }
        let flushed = p.flush(TIMEOUT + T, &mut serve);
        let ms = |d: &Duration| d.as_millis();
        eprintln!(
            "chaos: dead leader: node {victim} (leader of partitions {orphans:?} of {before:?}) \
             killed; new leaders after {:.1} s; worst delivery latency per partition (ms) \
             {:?}; {} failed reports; counters {:?}",
            failover.as_secs_f64(),
            worst.iter().map(ms).collect::<Vec<_>>(),
            failed.len(),
            p.counters()
        );
        assert_eq!(flushed.map_err(|e| e.to_string()), Ok(()), "flush");
        assert!(
            failed.is_empty(),
            "{} of {} messages failed, the first: {:?}",
            failed.len(),
            sent_at.len(),
            &failed[..failed.len().min(3)]
        );
        // Partitions with live leaders do not wait for the dead one; its partitions move
        // once the metadata names their new leaders (here, before the first send).
        for (part, w) in worst.iter().enumerate() {
            let bound = if orphans.contains(&(part as i32)) {
                Duration::from_secs(5)
            } else {
                Duration::from_secs(2)
            };
            assert!(
                *w <= bound,
                "partition {part}: a message waited {w:?} for its report (bound {bound:?})"
            );
        }
    });
}
