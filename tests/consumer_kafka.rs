//! The group consumer end to end against Apache Kafka 4.3 (KRaft) on loopback: manual
//! assignment, a group of three over twelve partitions that rebalances when a member
//! leaves, commits and resuming from them, at-least-once auto-commit, committed,
//! position, seek, pause and resume, and a bounded close with no broker; and the same
//! group behaviour with the KIP-848 consumer protocol (`group.protocol=consumer`).

mod common;

use common::client::{client, create_topic};
use common::kafka;
use common::with_timeout;
use kafkac::consumer::assignor::TopicPartition;
use kafkac::consumer::group::CommitOffset;
use kafkac::consumer::{Consumer, Event, Message, RebalanceKind};
use kafkac::error::local;
use kafkac::producer::{Message as Out, Producer, PARTITION_ANY};
use kafkac::Config;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
const LIMIT: Duration = Duration::from_secs(150);

fn config(bootstrap: &str, settings: &[(&str, &str)]) -> Config {
    let mut c = Config::new();
    c.set("bootstrap.servers", bootstrap).unwrap();
    c.set("retry.backoff.ms", "50").unwrap();
    for (k, v) in settings {
        c.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    c
}

fn consumer(bootstrap: &str, settings: &[(&str, &str)]) -> Consumer {
    Consumer::new(&config(bootstrap, settings)).unwrap()
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// Produces `n` records "<i>" (key "k<i>") spread over the topic's partitions, and
/// waits for every one to be delivered.
fn produce(bootstrap: &str, topic: &str, n: usize, from: usize) {
    let mut c = Config::new();
    c.set("bootstrap.servers", bootstrap).unwrap();
    c.set("linger.ms", "5").unwrap();
    let p = Producer::new(&c).unwrap();
    for i in from..from + n {
        let key = format!("k{i}");
        let value = format!("{i}");
        p.send_blocking(
            &Out {
                topic,
                partition: PARTITION_ANY,
                key: Some(key.as_bytes()),
                value: Some(value.as_bytes()),
                opaque: i,
                ..Default::default()
            },
            T,
        )
        .unwrap_or_else(|e| panic!("send {i}: {e}"));
        if i % 10_000 == 0 {
            p.poll(Duration::ZERO, |_| {});
        }
    }
    let mut failed = 0;
    p.flush(T, |r| failed += usize::from(r.error.is_some()))
        .unwrap_or_else(|e| panic!("flush: {e}"));
    assert_eq!(failed, 0, "{failed} records not delivered");
}

/// One consumed record: partition, offset, value as a number.
type Got = (i32, i64, usize);

fn got_of(m: &Message) -> Got {
    let v = std::str::from_utf8(m.value().unwrap())
        .unwrap()
        .parse()
        .unwrap();
    (m.partition(), m.offset(), v)
}

/// Polls until `want` records came or `limit` passed; errors other than EOF fail.
fn consume(c: &Consumer, want: usize, limit: Duration) -> Vec<Got> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while out.len() < want && Instant::now() < deadline {
        for e in c.poll_batch((want - out.len()).min(500), Duration::from_millis(100)) {
            match e {
                Event::Message(m) => out.push(got_of(&m)),
                Event::Error { error, .. } if error.code == local::PARTITION_EOF => {}
                Event::Error { error, .. } => panic!("consumer error: {error}"),
            }
        }
    }
    out
}

/// When each record came, and its partition.
type Arrivals = Arc<Mutex<Vec<(Instant, i32)>>>;

/// Checks that per partition the offsets rise by one.
fn check_order(got: &[Got]) {
    let mut last: HashMap<i32, i64> = HashMap::new();
    for &(p, o, _) in got {
        if let Some(prev) = last.insert(p, o) {
            assert_eq!(o, prev + 1, "partition {p}: offset {o} after {prev}");
        }
    }
}

#[test]
fn assigned_partitions_are_read_from_the_start_once_and_in_order() {
    with_timeout(LIMIT, || {
        let k = kafka::shared();
        let topic = "cons-assign";
        create_topic(&client(&k.bootstrap), topic, 3, 1, &[], T);
        produce(&k.bootstrap, topic, 10_000, 0);
        // No group: manual assignment from the start, a small memory budget.
        let c = consumer(
            &k.bootstrap,
            &[
                ("queued.max.messages.kbytes", "256"),
                ("enable.partition.eof", "true"),
            ],
        );
        let parts: Vec<(TopicPartition, Option<i64>)> =
            (0..3).map(|p| (tp(topic, p), Some(-2))).collect();
        c.assign(&parts).unwrap();
        assert_eq!(
            c.assignment(),
            vec![tp(topic, 0), tp(topic, 1), tp(topic, 2)]
        );
        // Every record, and the end of each partition once it is reached.
        let deadline = Instant::now() + T;
        let (mut got, mut eof) = (Vec::new(), Vec::new());
        while (got.len() < 10_000 || eof.len() < 3) && Instant::now() < deadline {
            for e in c.poll_batch(500, Duration::from_millis(100)) {
                match e {
                    Event::Message(m) => got.push(got_of(&m)),
                    Event::Error {
                        error,
                        tp: Some(tp),
                        offset,
                        ..
                    } if error.code == local::PARTITION_EOF => eof.push((tp.partition, offset)),
                    Event::Error { error, .. } => panic!("consumer error: {error}"),
                }
            }
        }
        assert_eq!(got.len(), 10_000, "consumed {}", got.len());
        check_order(&got);
        let mut values: Vec<usize> = got.iter().map(|g| g.2).collect();
        values.sort_unstable();
        assert!(values.iter().copied().eq(0..10_000), "every record once");
        for p in 0..3 {
            let n = got.iter().filter(|g| g.0 == p).count() as i64;
            assert_eq!(c.position(&tp(topic, p)), Some(n), "partition {p}");
            assert!(
                eof.contains(&(p, n)),
                "end of partition {p} at {n}: {eof:?}"
            );
        }
        assert_eq!(eof.len(), 3, "{eof:?}");
        // Commits need a group.
        let e = c.commit(None, false).unwrap_err();
        assert_eq!(e.code, local::INVALID_ARG);
        assert!(e.message.contains("group.id"), "{e}");
        c.close(Duration::from_secs(5)).unwrap();
        let e = c.seek(&tp(topic, 0), 0).unwrap_err();
        assert_eq!(e.code, local::DESTROY, "{e}");
    })
}

/// What one member saw: its assignment as the rebalance callback told it, and the
/// records it consumed.
#[derive(Default)]
struct Member {
    assigned: Mutex<Vec<TopicPartition>>,
    events: Mutex<Vec<(RebalanceKind, usize)>>,
    got: Mutex<Vec<Got>>,
}

fn member(bootstrap: &str, group: &str, topic: &str, strategy: &str) -> (Consumer, Arc<Member>) {
    member_with(
        bootstrap,
        topic,
        &[
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("partition.assignment.strategy", strategy),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "500"),
            ("auto.commit.interval.ms", "200"),
        ],
    )
}

/// A consumer with `settings` subscribed to `topic`, whose rebalance callback keeps its
/// assignment and events in the returned [`Member`].
fn member_with(bootstrap: &str, topic: &str, settings: &[(&str, &str)]) -> (Consumer, Arc<Member>) {
    let c = consumer(bootstrap, settings);
    let m = Arc::new(Member::default());
    let seen = m.clone();
    c.set_rebalance_callback(Some(Box::new(move |_, kind, tps| {
        let mut a = seen.assigned.lock().unwrap();
        match kind {
            RebalanceKind::Assign => a.extend(tps.iter().cloned()),
            _ => a.retain(|t| !tps.contains(t)),
        }
        a.sort();
        seen.events.lock().unwrap().push((kind, tps.len()));
    })));
    c.subscribe(&[topic]).unwrap();
    (c, m)
}

/// Polls `members` from one thread each until `stop`.
fn poll_all(
    members: Vec<(Arc<Consumer>, Arc<Member>)>,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    members
        .into_iter()
        .map(|(c, m)| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let batch = c.poll_batch(200, Duration::from_millis(50));
                    if batch.is_empty() {
                        // A closed consumer returns at once.
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    for e in batch {
                        if let Event::Message(msg) = e {
                            m.got.lock().unwrap().push(got_of(&msg));
                        }
                    }
                }
            })
        })
        .collect()
}

fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// One group protocol's settings for [`group_of_three`].
struct GroupOfThree {
    topic: &'static str,
    group: &'static str,
    /// The topic's partitions, a multiple of 6: split among three members, then two.
    partitions: usize,
    /// A member of `group` (second argument) subscribed to `topic` (third).
    member: fn(&str, &str, &str) -> (Consumer, Arc<Member>),
    /// The bound on the leaving member's close, if the test holds it to one.
    close_within: Option<Duration>,
}

/// Three members split the topic's partitions evenly and consume what is there; one
/// closes, the two left take its partitions and consume the rest, and no record is
/// consumed twice.
fn group_of_three(g: GroupOfThree) {
    with_timeout(LIMIT, move || {
        let k = kafka::shared();
        let (topic, group, parts) = (g.topic, g.group, g.partitions);
        // Records per half of the test: 500 a partition.
        let half = 500 * parts;
        create_topic(&client(&k.bootstrap), topic, parts as i32, 1, &[], T);
        produce(&k.bootstrap, topic, half, 0);
        let members: Vec<(Arc<Consumer>, Arc<Member>)> = (0..3)
            .map(|_| {
                let (c, m) = (g.member)(&k.bootstrap, group, topic);
                (Arc::new(c), m)
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = poll_all(members.clone(), stop.clone());
        let took = wait_for(T, &format!("{} partitions each", parts / 3), || {
            members
                .iter()
                .all(|(_, m)| m.assigned.lock().unwrap().len() == parts / 3)
        });
        eprintln!(
            "three members have {} partitions each after {took:?}",
            parts / 3
        );
        let mut all: Vec<TopicPartition> = members
            .iter()
            .flat_map(|(_, m)| m.assigned.lock().unwrap().clone())
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), parts, "the assignments cover the topic: {all:?}");
        wait_for(T, &format!("the first {half} records"), || {
            members
                .iter()
                .map(|(_, m)| m.got.lock().unwrap().len())
                .sum::<usize>()
                >= half
        });
        // One member closes (it leaves the group): the others take its partitions.
        let (leaving, _) = &members[2];
        let closed_at = Instant::now();
        leaving.close(Duration::from_secs(10)).unwrap();
        let close_took = closed_at.elapsed();
        if let Some(bound) = g.close_within {
            assert!(close_took < bound, "close took {close_took:?}");
        }
        let moved = wait_for(
            T,
            &format!("{} partitions each for the two left", parts / 2),
            || {
                members[..2]
                    .iter()
                    .all(|(_, m)| m.assigned.lock().unwrap().len() == parts / 2)
            },
        );
        eprintln!("close took {close_took:?}; partitions moved {moved:?} after it returned");
        produce(&k.bootstrap, topic, half, half);
        wait_for(T, "every record", || {
            let mut v: Vec<usize> = members
                .iter()
                .flat_map(|(_, m)| {
                    m.got
                        .lock()
                        .unwrap()
                        .iter()
                        .map(|r| r.2)
                        .collect::<Vec<_>>()
                })
                .collect();
            v.sort_unstable();
            v.dedup();
            v.len() == 2 * half
        });
        stop.store(true, Ordering::Release);
        for t in threads {
            t.join().unwrap();
        }
        let total: usize = members
            .iter()
            .map(|(_, m)| m.got.lock().unwrap().len())
            .sum();
        eprintln!(
            "consumed {total} records for {} produced ({} again)",
            2 * half,
            total.saturating_sub(2 * half)
        );
        // What was processed is committed before the partitions move (the leave commits,
        // and so do revocations): nothing is consumed twice.
        assert_eq!(total, 2 * half, "records consumed twice");
        for (c, _) in &members[..2] {
            c.close(Duration::from_secs(10)).unwrap();
        }
    })
}

#[test]
fn a_group_of_three_splits_twelve_partitions_and_rebalances_when_one_leaves() {
    group_of_three(GroupOfThree {
        topic: "cons-group-12",
        group: "cons-group-of-three",
        partitions: 12,
        member: |bootstrap, group, topic| member(bootstrap, group, topic, "range"),
        close_within: None,
    });
}

#[test]
fn a_new_member_resumes_from_the_commits_of_the_last() {
    with_timeout(LIMIT, || {
        let k = kafka::shared();
        let topic = "cons-resume";
        create_topic(&client(&k.bootstrap), topic, 2, 1, &[], T);
        produce(&k.bootstrap, topic, 1_000, 0);
        let settings = [
            ("group.id", "cons-resume-group"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ];
        let a = consumer(&k.bootstrap, &settings);
        a.subscribe(&[topic]).unwrap();
        let first = consume(&a, 400, T);
        assert!(first.len() >= 400);
        check_order(&first);
        // Commit everything handed out so far (Java's commitSync()).
        a.commit(None, false).unwrap();
        // Nothing new: still a success.
        a.commit(None, false).unwrap();
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for &(p, o, _) in &first {
            next.insert(p, o + 1);
        }
        let tps: Vec<TopicPartition> = (0..2).map(|p| tp(topic, p)).collect();
        let committed = a.committed(&tps, T).unwrap();
        for (t, o) in &committed {
            assert_eq!(*o, next.get(&t.partition).copied().unwrap_or(-1), "{t:?}");
        }
        a.close(Duration::from_secs(10)).unwrap();
        let b = consumer(&k.bootstrap, &settings);
        b.subscribe(&[topic]).unwrap();
        let rest = consume(&b, 1_000 - first.len(), T);
        assert_eq!(rest.len(), 1_000 - first.len());
        for (p, o) in &next {
            let start = rest.iter().find(|g| g.0 == *p).map(|g| g.1);
            if let Some(s) = start {
                assert_eq!(s, *o, "partition {p} resumes at its commit");
            }
        }
        let mut all: Vec<usize> = first.iter().chain(&rest).map(|g| g.2).collect();
        all.sort_unstable();
        assert!(
            all.iter().copied().eq(0..1_000),
            "every record exactly once"
        );
        b.close(Duration::from_secs(10)).unwrap();
    })
}

#[test]
fn store_offset_seek_pause_and_resume() {
    with_timeout(LIMIT, || {
        let k = kafka::shared();
        let topic = "cons-seek";
        create_topic(&client(&k.bootstrap), topic, 1, 1, &[], T);
        produce(&k.bootstrap, topic, 100, 0);
        let c = consumer(
            &k.bootstrap,
            &[
                ("group.id", "cons-seek-group"),
                ("enable.auto.offset.store", "false"),
                ("enable.auto.commit", "false"),
            ],
        );
        let p0 = tp(topic, 0);
        c.assign(&[(p0.clone(), Some(10))]).unwrap();
        let got = consume(&c, 5, T);
        assert_eq!(
            got.iter().map(|g| g.1).take(5).collect::<Vec<_>>(),
            [10, 11, 12, 13, 14]
        );
        // Nothing stored yet: a commit has nothing to send.
        c.commit(None, false).unwrap();
        assert_eq!(
            c.committed(std::slice::from_ref(&p0), T).unwrap(),
            [(p0.clone(), -1)]
        );
        c.store_offset(&p0, 12, -1).unwrap();
        c.commit(None, false).unwrap();
        assert_eq!(
            c.committed(std::slice::from_ref(&p0), T).unwrap(),
            [(p0.clone(), 12)]
        );
        let e = c.store_offset(&tp(topic, 7), 1, -1).unwrap_err();
        assert_eq!(e.code, local::UNKNOWN_PARTITION);
        // Seek back: the records fetched before are dropped.
        c.seek(&p0, 50).unwrap();
        let got = consume(&c, 3, T);
        assert_eq!(
            got.iter().map(|g| g.1).take(3).collect::<Vec<_>>(),
            [50, 51, 52]
        );
        // Paused: nothing is handed out.
        c.pause(std::slice::from_ref(&p0)).unwrap();
        let idle = consume(&c, 1, Duration::from_millis(700));
        assert!(idle.is_empty(), "paused, yet got {idle:?}");
        c.resume(std::slice::from_ref(&p0)).unwrap();
        let got = consume(&c, 1, T);
        assert_eq!(got[0].1, 53, "resumed where it paused");
        c.close(Duration::from_secs(5)).unwrap();
    })
}

/// The fetcher reads ahead of the application up to its prefetch target (4 MiB on a
/// local network), not up to the whole memory budget: an application that stops polling
/// stops the fetching. Records the application holds do not count against the target, so
/// holding many never stops the fetching either.
#[test]
fn prefetch_stops_at_its_target_and_held_records_do_not_stop_it() {
    with_timeout(LIMIT, || {
        let k = kafka::shared();
        let topic = "cons-prefetch";
        create_topic(&client(&k.bootstrap), topic, 1, 1, &[], T);
        // 100,000 records of 100 bytes: 11 MB on the wire, 15 MB decoded (the index
        // included), so at least 11 fetches of max.partition.fetch.bytes (1 MiB).
        let n = 100_000;
        let mut pc = Config::new();
        pc.set("bootstrap.servers", &k.bootstrap).unwrap();
        pc.set("linger.ms", "20").unwrap();
        let p = Producer::new(&pc).unwrap();
        for i in 0..n {
            let value = format!("{i:0100}");
            p.send_blocking(
                &Out {
                    topic,
                    partition: 0,
                    value: Some(value.as_bytes()),
                    ..Default::default()
                },
                T,
            )
            .unwrap_or_else(|e| panic!("send {i}: {e}"));
        }
        let mut failed = 0;
        p.flush(T, |r| failed += usize::from(r.error.is_some()))
            .unwrap();
        assert_eq!(failed, 0);
        let c = consumer(&k.bootstrap, &[]);
        c.assign(&[(tp(topic, 0), Some(-2))]).unwrap();
        let first = match c.poll(T) {
            Some(Event::Message(m)) => m,
            other => panic!("a first record, not {other:?}"),
        };
        let fetches = || c.fetch_requests().values().sum::<u64>();
        // The application reads nothing more: the fetcher fills the target and stops.
        let mut settled = fetches();
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(100));
            let now = fetches();
            if now == settled {
                break;
            }
            settled = now;
        }
        std::thread::sleep(Duration::from_millis(1200));
        assert_eq!(fetches(), settled, "fetching goes on while nothing is read");
        assert!(
            settled <= 6,
            "{settled} fetches ahead of an application that read one record: more than a \
             4 MiB target takes"
        );
        // Now the application reads everything and frees nothing until the end: 15 MB
        // held, past the target, within the 64 MiB budget.
        let mut held = vec![first];
        let deadline = Instant::now() + T;
        while held.len() < n && Instant::now() < deadline {
            for e in c.poll_batch(1000, Duration::from_millis(100)) {
                match e {
                    Event::Message(m) => held.push(m),
                    Event::Error { error, .. } => panic!("consumer error: {error}"),
                }
            }
        }
        assert_eq!(held.len(), n, "records read while holding them all");
        assert!(held.iter().enumerate().all(|(i, m)| m.offset() == i as i64));
        assert!(fetches() >= 11, "{} fetches", fetches());
        drop(held);
        c.close(Duration::from_secs(5)).unwrap();
    })
}

#[test]
fn close_returns_within_its_bound_with_no_broker() {
    with_timeout(LIMIT, || {
        let port = common::free_port();
        let c = consumer(
            &format!("127.0.0.1:{port}"),
            &[
                ("group.id", "cons-nowhere"),
                ("socket.connection.setup.timeout.ms", "1000"),
            ],
        );
        c.subscribe(&["nowhere"]).unwrap();
        assert!(c.poll(Duration::from_millis(300)).is_none());
        let started = Instant::now();
        c.close(Duration::from_secs(2)).unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_millis(2_300), "close took {took:?}");
        assert!(c.poll(Duration::from_millis(10)).is_none());
        let e = c.subscribe(&["x"]).unwrap_err();
        assert_eq!(e.code, local::DESTROY);
    })
}

#[test]
fn a_pattern_subscription_takes_every_matching_topic_and_a_missing_topic_is_reported() {
    with_timeout(LIMIT, || {
        let k = kafka::shared();
        let admin = client(&k.bootstrap);
        for t in ["cons-re-a", "cons-re-b", "cons-other"] {
            create_topic(&admin, t, 2, 1, &[], T);
            produce(&k.bootstrap, t, 50, 0);
        }
        let c = consumer(
            &k.bootstrap,
            &[
                ("group.id", "cons-pattern"),
                ("auto.offset.reset", "earliest"),
            ],
        );
        c.subscribe(&["^cons-re-.*", "cons-no-such-topic"]).unwrap();
        let deadline = Instant::now() + T;
        let (mut got, mut missing) = (HashMap::<String, usize>::new(), Vec::new());
        while (got.values().sum::<usize>() < 100 || missing.is_empty()) && Instant::now() < deadline
        {
            for e in c.poll_batch(100, Duration::from_millis(100)) {
                match e {
                    Event::Message(m) => *got.entry(m.topic().to_owned()).or_default() += 1,
                    Event::Error {
                        error, tp: None, ..
                    } if error.code == local::UNKNOWN_TOPIC => missing.push(error.message),
                    Event::Error { error, .. } => panic!("consumer error: {error}"),
                }
            }
        }
        assert_eq!(got.get("cons-re-a"), Some(&50), "{got:?}");
        assert_eq!(got.get("cons-re-b"), Some(&50), "{got:?}");
        assert_eq!(got.get("cons-other"), None, "{got:?}");
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].contains("cons-no-such-topic"), "{}", missing[0]);
        assert!(
            missing[0].contains("UNKNOWN_TOPIC_OR_PARTITION"),
            "{}",
            missing[0]
        );
        let mut a = c.assignment();
        a.sort();
        assert_eq!(a.len(), 4, "{a:?}");
        // An invalid pattern is refused at once.
        let e = c.subscribe(&["^cons-(["]).unwrap_err();
        assert_eq!(e.code, local::INVALID_ARG);
        assert!(e.message.contains("invalid pattern"), "{e}");
        c.close(Duration::from_secs(10)).unwrap();
    })
}

#[test]
fn invalid_consumer_configurations_are_refused_naming_the_property() {
    let bad = [
        (
            vec![("partition.assignment.strategy", "range,sticky")],
            "partition.assignment.strategy",
        ),
        (
            vec![("partition.assignment.strategy", "range,cooperative-sticky")],
            "cannot be mixed",
        ),
        (
            vec![
                ("session.timeout.ms", "3000"),
                ("heartbeat.interval.ms", "3000"),
            ],
            "heartbeat.interval.ms",
        ),
        (
            vec![
                ("group.protocol", "consumer"),
                ("session.timeout.ms", "3000"),
            ],
            "session.timeout.ms",
        ),
    ];
    for (settings, says) in bad {
        let e = Consumer::new(&config("127.0.0.1:1", &settings))
            .err()
            .unwrap();
        assert_eq!(e.code, local::INVALID_CONFIG, "{settings:?}: {e}");
        assert!(e.message.contains(says), "{settings:?}: {e}");
    }
    for name in ["heartbeat.interval.ms", "partition.assignment.strategy"] {
        let value = if name == "heartbeat.interval.ms" {
            "1000"
        } else {
            "range"
        };
        let e = Consumer::new(&config(
            "127.0.0.1:1",
            &[("group.protocol", "consumer"), (name, value)],
        ))
        .err()
        .unwrap();
        assert_eq!(e.code, local::INVALID_CONFIG, "{name}: {e}");
        assert!(e.message.contains(name), "{e}");
    }
    // The consumer protocol itself is accepted, with a server-side assignor.
    Consumer::new(&config(
        "127.0.0.1:1",
        &[
            ("group.protocol", "consumer"),
            ("group.remote.assignor", "uniform"),
        ],
    ))
    .unwrap()
    .close(Duration::from_secs(1))
    .unwrap();
    let mut c = Config::new();
    let e = c.set("auto.offset.reset", "sometimes").unwrap_err();
    assert!(e.message.contains("auto.offset.reset"), "{e}");
    let e = c.set("isolation.level", "dirty").unwrap_err();
    assert!(e.message.contains("isolation.level"), "{e}");
}

#[test]
fn a_consumer_that_stops_polling_leaves_reports_it_and_rejoins() {
    with_timeout(LIMIT, || {
        let k = kafka::shared();
        let topic = "cons-max-poll";
        create_topic(&client(&k.bootstrap), topic, 2, 1, &[], T);
        produce(&k.bootstrap, topic, 100, 0);
        let (c, m) = member_with(
            &k.bootstrap,
            topic,
            &[
                ("group.id", "cons-max-poll"),
                ("auto.offset.reset", "earliest"),
                ("max.poll.interval.ms", "1500"),
                ("session.timeout.ms", "6000"),
                ("heartbeat.interval.ms", "300"),
            ],
        );
        assert_eq!(consume(&c, 100, T).len(), 100);
        // No poll for longer than max.poll.interval.ms.
        std::thread::sleep(Duration::from_millis(2_500));
        let deadline = Instant::now() + T;
        let mut exceeded = None;
        while exceeded.is_none() && Instant::now() < deadline {
            if let Some(Event::Error { error, fatal, .. }) = c.poll(Duration::from_millis(100)) {
                if error.code == local::MAX_POLL_EXCEEDED {
                    exceeded = Some((error, fatal));
                }
            }
        }
        let (error, fatal) = exceeded.expect("a MAX_POLL_EXCEEDED event");
        assert!(!fatal);
        assert!(error.message.contains("max.poll.interval.ms"), "{error}");
        assert!(
            m.events
                .lock()
                .unwrap()
                .iter()
                .any(|(k, n)| *k == RebalanceKind::Lost && *n == 2),
            "{:?}",
            m.events.lock().unwrap()
        );
        // Polling again rejoins: the partitions come back and records flow again (from the
        // last commit: records after it may come twice, as at-least-once allows).
        produce(&k.bootstrap, topic, 10, 100);
        let more = consume(&c, 10, T);
        assert_eq!(more.len(), 10, "after rejoining");
        let assigns = m
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, n)| *k == RebalanceKind::Assign && *n == 2)
            .count();
        assert_eq!(assigns, 2, "{:?}", m.events.lock().unwrap());
        c.close(Duration::from_secs(10)).unwrap();
    })
}

#[test]
fn a_static_member_that_restarts_within_the_session_gets_its_partitions_back_without_a_rebalance() {
    with_timeout(LIMIT, || {
        let k = kafka::shared();
        let topic = "cons-static";
        create_topic(&client(&k.bootstrap), topic, 4, 1, &[], T);
        let group = "cons-static-group";
        let settings = |instance: &'static str| {
            let mut s = vec![
                ("group.id", group),
                ("auto.offset.reset", "earliest"),
                ("session.timeout.ms", "15000"),
                ("heartbeat.interval.ms", "500"),
            ];
            if !instance.is_empty() {
                s.push(("group.instance.id", instance));
            }
            s
        };
        let start = |instance: &'static str| {
            let (c, m) = member_with(&k.bootstrap, topic, &settings(instance));
            (Arc::new(c), m)
        };
        let (s1, m1) = start("static-1");
        let (d, md) = start("");
        let stop = Arc::new(AtomicBool::new(false));
        let threads = poll_all(
            vec![(s1.clone(), m1.clone()), (d.clone(), md.clone())],
            stop.clone(),
        );
        wait_for(T, "two partitions each", || {
            m1.assigned.lock().unwrap().len() == 2 && md.assigned.lock().unwrap().len() == 2
        });
        let before = m1.assigned.lock().unwrap().clone();
        let d_events = md.events.lock().unwrap().len();
        // The static member goes away without leaving the group...
        s1.close(Duration::from_secs(10)).unwrap();
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(
            md.assigned.lock().unwrap().len(),
            2,
            "no rebalance for a static member's close"
        );
        // ...and a new instance with its id takes its partitions back, with no rebalance
        // for the others.
        let (s2, m2) = start("static-1");
        let threads2 = poll_all(vec![(s2.clone(), m2.clone())], stop.clone());
        wait_for(T, "the restarted static member's partitions", || {
            m2.assigned.lock().unwrap().len() == 2
        });
        assert_eq!(*m2.assigned.lock().unwrap(), before, "the same partitions");
        assert_eq!(
            md.events.lock().unwrap().len(),
            d_events,
            "the dynamic member never rebalanced"
        );
        stop.store(true, Ordering::Release);
        for t in threads.into_iter().chain(threads2) {
            t.join().unwrap();
        }
        s2.close(Duration::from_secs(10)).unwrap();
        d.close(Duration::from_secs(10)).unwrap();
    })
}

#[test]
fn cooperative_sticky_moves_only_what_a_new_member_needs_and_the_others_keep_consuming() {
    with_timeout(LIMIT, || {
        let k = kafka::shared();
        let topic = "cons-coop";
        create_topic(&client(&k.bootstrap), topic, 6, 1, &[], T);
        let group = "cons-coop-group";
        // A steady flow of records, a hundred a second per partition.
        let stop_producing = Arc::new(AtomicBool::new(false));
        let producer = {
            let boot = k.bootstrap.clone();
            let stop = stop_producing.clone();
            std::thread::spawn(move || {
                let mut c = Config::new();
                c.set("bootstrap.servers", &boot).unwrap();
                c.set("linger.ms", "0").unwrap();
                let p = Producer::new(&c).unwrap();
                let mut i = 0usize;
                while !stop.load(Ordering::Acquire) {
                    for part in 0..6 {
                        let v = format!("{i}");
                        p.send_blocking(
                            &Out {
                                topic,
                                partition: part,
                                value: Some(v.as_bytes()),
                                ..Default::default()
                            },
                            T,
                        )
                        .unwrap();
                        i += 1;
                    }
                    p.poll(Duration::from_millis(10), |_| {});
                }
                p.flush(T, |_| {}).unwrap();
            })
        };
        let members: Vec<(Arc<Consumer>, Arc<Member>)> = (0..2)
            .map(|_| {
                let (c, m) = member(&k.bootstrap, group, topic, "cooperative-sticky");
                (Arc::new(c), m)
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        // Each record's arrival time, per member.
        let arrivals: Vec<Arrivals> = (0..2).map(|_| Arc::new(Mutex::new(Vec::new()))).collect();
        let threads: Vec<_> = members
            .iter()
            .zip(&arrivals)
            .map(|((c, _), a)| {
                let (c, a, stop) = (c.clone(), a.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        for e in c.poll_batch(200, Duration::from_millis(20)) {
                            if let Event::Message(m) = e {
                                a.lock().unwrap().push((Instant::now(), m.partition()));
                            }
                        }
                    }
                })
            })
            .collect();
        wait_for(T, "three partitions each", || {
            members
                .iter()
                .all(|(_, m)| m.assigned.lock().unwrap().len() == 3)
        });
        std::thread::sleep(Duration::from_millis(500));
        let kept: Vec<Vec<TopicPartition>> = members
            .iter()
            .map(|(_, m)| m.assigned.lock().unwrap().clone())
            .collect();
        // What each had seen before the third member (the first may have been alone for
        // a moment, then given half away).
        let seen_before: Vec<usize> = members
            .iter()
            .map(|(_, m)| m.events.lock().unwrap().len())
            .collect();
        let joined_at = Instant::now();
        let (third, m3) = member(&k.bootstrap, group, topic, "cooperative-sticky");
        let third = Arc::new(third);
        let t3 = poll_all(vec![(third.clone(), m3.clone())], stop.clone());
        wait_for(T, "two partitions each after the join", || {
            members
                .iter()
                .all(|(_, m)| m.assigned.lock().unwrap().len() == 2)
                && m3.assigned.lock().unwrap().len() == 2
        });
        let settled = joined_at.elapsed();
        std::thread::sleep(Duration::from_millis(500));
        stop_producing.store(true, Ordering::Release);
        stop.store(true, Ordering::Release);
        for t in threads.into_iter().chain(t3) {
            t.join().unwrap();
        }
        producer.join().unwrap();
        for (i, (_, m)) in members.iter().enumerate() {
            let events = m.events.lock().unwrap()[seen_before[i]..].to_vec();
            // Only the one partition the new member needed was revoked, never all.
            let revoked: Vec<usize> = events
                .iter()
                .filter(|(k, _)| *k == RebalanceKind::Revoke)
                .map(|(_, n)| *n)
                .collect();
            assert_eq!(revoked, [1], "member {i}: {events:?}");
            let now: Vec<TopicPartition> = m.assigned.lock().unwrap().clone();
            assert!(
                now.iter().all(|tp| kept[i].contains(tp)),
                "member {i} kept {now:?} of {:?}",
                kept[i]
            );
            // The partitions it kept were consumed through the rebalance: the longest
            // gap between two of their records around the join.
            let a = arrivals[i].lock().unwrap();
            let around: Vec<Instant> = a
                .iter()
                .filter(|(t, p)| {
                    *t >= joined_at - Duration::from_millis(200)
                        && *t <= joined_at + settled
                        && now.iter().any(|tp| tp.partition == *p)
                })
                .map(|(t, _)| *t)
                .collect();
            assert!(
                around.len() > 10,
                "member {i}: {} records during the rebalance",
                around.len()
            );
            let gap = around.windows(2).map(|w| w[1] - w[0]).max().unwrap();
            eprintln!(
                "member {i}: longest pause on kept partitions {gap:?} (rebalance took {settled:?})"
            );
        }
        for (c, _) in &members {
            c.close(Duration::from_secs(10)).unwrap();
        }
        third.close(Duration::from_secs(10)).unwrap();
    })
}

#[test]
fn committed_offsets_can_be_read_before_subscribing_or_assigning() {
    with_timeout(LIMIT, || {
        let k = kafka::shared();
        let topic = "cons-committed-idle";
        create_topic(&client(&k.bootstrap), topic, 2, 1, &[], T);
        let settings = [
            ("group.id", "cons-committed-idle"),
            ("enable.auto.commit", "false"),
        ];
        let a = consumer(&k.bootstrap, &settings);
        let tps = [tp(topic, 0), tp(topic, 1)];
        assert_eq!(
            a.committed(&tps, T).unwrap(),
            [(tps[0].clone(), -1), (tps[1].clone(), -1)]
        );
        a.assign(&[(tps[0].clone(), Some(0)), (tps[1].clone(), Some(0))])
            .unwrap();
        let offsets = [
            CommitOffset {
                tp: tps[0].clone(),
                offset: 7,
                leader_epoch: -1,
                metadata: None,
            },
            CommitOffset {
                tp: tps[1].clone(),
                offset: 9,
                leader_epoch: -1,
                metadata: None,
            },
        ];
        a.commit(Some(&offsets), false).unwrap();
        a.close(Duration::from_secs(5)).unwrap();
        // A new consumer of the group reads them with no assignment of its own.
        let b = consumer(&k.bootstrap, &settings);
        assert_eq!(
            b.committed(&tps, T).unwrap(),
            [(tps[0].clone(), 7), (tps[1].clone(), 9)]
        );
        b.close(Duration::from_secs(5)).unwrap();
    })
}

/// A member of a KIP-848 group (`group.protocol=consumer`): the coordinator assigns.
fn consumer_protocol_member(bootstrap: &str, group: &str, topic: &str) -> (Consumer, Arc<Member>) {
    member_with(
        bootstrap,
        topic,
        &[
            ("group.id", group),
            ("group.protocol", "consumer"),
            ("auto.offset.reset", "earliest"),
            ("auto.commit.interval.ms", "200"),
        ],
    )
}

#[test]
fn a_consumer_protocol_group_of_three_splits_six_partitions_and_rebalances_when_one_closes() {
    group_of_three(GroupOfThree {
        topic: "cons-848-group-6",
        group: "cons-848-group-of-three",
        partitions: 6,
        member: consumer_protocol_member,
        close_within: Some(Duration::from_secs(5)),
    });
}

#[test]
fn a_new_consumer_protocol_member_resumes_from_the_commits_of_the_last() {
    with_timeout(LIMIT, || {
        let k = kafka::shared();
        let topic = "cons-848-resume";
        create_topic(&client(&k.bootstrap), topic, 2, 1, &[], T);
        produce(&k.bootstrap, topic, 1_000, 0);
        let settings = [
            ("group.id", "cons-848-resume-group"),
            ("group.protocol", "consumer"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ];
        let a = consumer(&k.bootstrap, &settings);
        a.subscribe(&[topic]).unwrap();
        let first = consume(&a, 400, T);
        assert!(first.len() >= 400);
        check_order(&first);
        a.commit(None, false).unwrap();
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for &(p, o, _) in &first {
            next.insert(p, o + 1);
        }
        let tps: Vec<TopicPartition> = (0..2).map(|p| tp(topic, p)).collect();
        let committed = a.committed(&tps, T).unwrap();
        for (t, o) in &committed {
            assert_eq!(*o, next.get(&t.partition).copied().unwrap_or(-1), "{t:?}");
        }
        let closed_at = Instant::now();
        a.close(Duration::from_secs(10)).unwrap();
        assert!(closed_at.elapsed() < Duration::from_secs(5));
        let b = consumer(&k.bootstrap, &settings);
        b.subscribe(&[topic]).unwrap();
        let rest = consume(&b, 1_000 - first.len(), T);
        assert_eq!(rest.len(), 1_000 - first.len());
        for (p, o) in &next {
            let start = rest.iter().find(|g| g.0 == *p).map(|g| g.1);
            if let Some(s) = start {
                assert_eq!(s, *o, "partition {p} resumes at its commit");
            }
        }
        let mut all: Vec<usize> = first.iter().chain(&rest).map(|g| g.2).collect();
        all.sort_unstable();
        assert!(
            all.iter().copied().eq(0..1_000),
            "every record exactly once"
        );
        b.close(Duration::from_secs(10)).unwrap();
    })
}

#[test]
fn a_seek_in_the_assign_callback_wins_over_the_committed_offset() {
    with_timeout(LIMIT, || {
        let k = kafka::shared();
        let topic = "cons-seek-in-callback";
        create_topic(&client(&k.bootstrap), topic, 1, 1, &[], T);
        produce(&k.bootstrap, topic, 20, 0);
        let settings = [
            ("group.id", "cons-seek-in-callback"),
            ("enable.auto.commit", "false"),
        ];
        let a = consumer(&k.bootstrap, &settings);
        let p0 = tp(topic, 0);
        a.assign(&[(p0.clone(), Some(0))]).unwrap();
        let offsets = [CommitOffset {
            tp: p0.clone(),
            offset: 10,
            leader_epoch: -1,
            metadata: None,
        }];
        a.commit(Some(&offsets), false).unwrap();
        a.close(Duration::from_secs(5)).unwrap();
        // Committed 10; the callback places the partition at 5.
        let b = consumer(&k.bootstrap, &settings);
        b.set_rebalance_callback(Some(Box::new(|c, kind, tps| {
            if kind == RebalanceKind::Assign {
                for t in tps {
                    c.seek(t, 5).unwrap();
                }
            }
        })));
        b.subscribe(&[topic]).unwrap();
        let got = consume(&b, 15, T);
        assert_eq!(got.first().map(|g| g.1), Some(5), "{got:?}");
        assert_eq!(got.len(), 15);
        check_order(&got);
        b.close(Duration::from_secs(5)).unwrap();
    })
}
