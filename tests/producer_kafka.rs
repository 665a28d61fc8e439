//! The asynchronous producer end to end against Apache Kafka 4.3 (KRaft) on loopback:
//! delivery reports (exactly once, in order per partition, with the offsets the broker
//! gave), what is read back, partitioning, back-pressure and errors.

mod common;

use common::client::{client, create_topic};
use common::kafka;
use common::records::Reader;
use common::with_timeout;
use kafkac::error::local;
use kafkac::producer::{Message, Persisted, Producer, Report, PARTITION_ANY};
use kafkac::record::RecordHeaderIn;
use kafkac::Config;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn producer(bootstrap: &str, settings: &[(&str, &str)]) -> Producer {
    let mut c = Config::new();
    c.set("bootstrap.servers", bootstrap).unwrap();
    c.set("retry.backoff.ms", "50").unwrap();
    for (k, v) in settings {
        c.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    Producer::new(&c).unwrap()
}

/// Every report, in the order served.
fn flush_all(p: &Producer, reports: &mut Vec<Report>) {
    p.flush(T, |r| reports.push(r.clone()))
        .unwrap_or_else(|e| panic!("flush: {e}"));
}

/// Checks that `reports` hold each opaque in `0..n` exactly once, delivered, and that
/// within each partition the offsets rise by one in send order. Returns the records
/// per partition: (offset, opaque) in order.
fn check_delivered(reports: &[Report], n: usize) -> HashMap<i32, Vec<(i64, usize)>> {
    let mut seen = vec![false; n];
    let mut by_part: HashMap<i32, Vec<(i64, usize)>> = HashMap::new();
    for r in reports {
        assert!(
            r.error.is_none(),
            "message {} failed: {:?}",
            r.opaque,
            r.error
        );
        assert_eq!(r.status, Persisted::Persisted);
        assert!(!seen[r.opaque], "two reports for message {}", r.opaque);
        seen[r.opaque] = true;
        by_part
            .entry(r.partition)
            .or_default()
            .push((r.offset, r.opaque));
    }
    let missing = seen.iter().filter(|s| !**s).count();
    assert_eq!(missing, 0, "{missing} of {n} messages have no report");
    for (p, v) in &by_part {
        for w in v.windows(2) {
            assert_eq!(w[1].0, w[0].0 + 1, "partition {p}: offsets out of order");
            assert!(w[1].1 > w[0].1, "partition {p}: reports out of send order");
        }
    }
    by_part
}

#[test]
fn idempotent_sends_are_delivered_once_in_order_and_read_back() {
    with_timeout(Duration::from_secs(120), || {
        let k = kafka::shared();
        let admin = client(&k.bootstrap);
        create_topic(&admin, "prod-basic", 16, 1, &[], T);
        let p = producer(&k.bootstrap, &[("linger.ms", "5")]);
        let n: usize = std::env::var("PROD_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let started = Instant::now();
        let mut reports = Vec::with_capacity(n);
        for i in 0..n {
            let key = format!("key-{}", i % 1000);
            let value = format!("value-{i}");
            let m = Message {
                topic: "prod-basic",
                partition: PARTITION_ANY,
                key: Some(key.as_bytes()),
                value: Some(value.as_bytes()),
                opaque: i,
                ..Default::default()
            };
            loop {
                match p.send(&m) {
                    Ok(()) => break,
                    Err(e) if e.code == local::QUEUE_FULL => {
                        if std::env::var("PROD_DEBUG").is_ok() {
                            eprintln!(
                                "{:?} full at {i}: {:?} {:?} {e}",
                                started.elapsed(),
                                p.outstanding(),
                                p.counters()
                            );
                        }
                        p.poll(Duration::from_millis(10), |r| reports.push(r.clone()));
                    }
                    Err(e) => panic!("send {i}: {e}"),
                }
            }
            if i % 1000 == 0 {
                p.poll(Duration::ZERO, |r| reports.push(r.clone()));
            }
        }
        flush_all(&p, &mut reports);
        eprintln!(
            "{n} messages delivered in {:?}; counters {:?}",
            started.elapsed(),
            p.counters()
        );
        let (pid, epoch) = p.producer_id();
        assert!(pid >= 0 && epoch >= 0, "idempotence gave no producer id");
        let by_part = check_delivered(&reports, n);
        // Same key, same partition (consistent_random: CRC-32 of the key).
        let mut key_part: HashMap<usize, i32> = HashMap::new();
        for (part, v) in &by_part {
            for (_, i) in v {
                let prev = key_part.insert(i % 1000, *part);
                assert!(
                    prev.is_none_or(|q| q == *part),
                    "key {} in two partitions",
                    i % 1000
                );
            }
        }
        // Read every partition back: the records and offsets the reports named.
        let reader = Reader {
            timeout: T,
            high_watermark_covers: false,
        };
        for (part, v) in &by_part {
            let got = reader.fetch_n(&admin, "prod-basic", *part, v[0].0, v.len());
            for ((off, i), g) in v.iter().zip(&got) {
                assert_eq!(g.offset, *off);
                assert_eq!(g.value.as_deref(), Some(format!("value-{i}").as_bytes()));
                assert_eq!(
                    g.key.as_deref(),
                    Some(format!("key-{}", i % 1000).as_bytes())
                );
            }
        }
        assert_eq!(p.close(T), 0);
    });
}

/// acks=0: each message is reported (no error, no offset, possibly persisted) once its
/// request is written to the socket; the producer dropped right after the flush loses
/// none of them.
#[test]
fn acks_zero_reports_each_message_once_written_and_a_drop_loses_none() {
    with_timeout(Duration::from_secs(90), || {
        let k = kafka::shared();
        let admin = client(&k.bootstrap);
        create_topic(&admin, "prod-acks0", 1, 1, &[], T);
        const ROUNDS: usize = 5;
        const N: usize = 2_000;
        for round in 0..ROUNDS {
            // Small batches: many requests, most still unread by Kafka at the drop.
            let p = producer(
                &k.bootstrap,
                &[
                    ("acks", "0"),
                    ("enable.idempotence", "false"),
                    ("linger.ms", "0"),
                    ("batch.num.messages", "50"),
                ],
            );
            for i in 0..N {
                let v = format!("{round}-{i}");
                p.send(&Message {
                    topic: "prod-acks0",
                    partition: 0,
                    key: None,
                    value: Some(v.as_bytes()),
                    headers: &[],
                    timestamp: None,
                    opaque: i,
                })
                .unwrap();
            }
            let mut reports = Vec::new();
            flush_all(&p, &mut reports);
            drop(p);
            let mut seen = vec![false; N];
            for r in &reports {
                assert!(r.error.is_none(), "message {}: {:?}", r.opaque, r.error);
                assert_eq!(r.offset, -1, "acks=0 has no offset");
                assert_eq!(r.status, Persisted::Possibly);
                assert!(!seen[r.opaque], "two reports for message {}", r.opaque);
                seen[r.opaque] = true;
            }
            assert_eq!(reports.len(), N, "round {round}: one report per message");
        }
        let want = (ROUNDS * N) as i64;
        common::wait_until(T, "every acks=0 message stored", || {
            admin
                .list_offsets("prod-acks0", 0, kafkac::client::OffsetSpec::Latest, T)
                .unwrap()
                .offset
                == want
        });
        let reader = Reader {
            timeout: T,
            high_watermark_covers: false,
        };
        // Each producer's records in its order; Kafka may still have been reading one
        // dropped producer's connection while the next wrote, so rounds interleave.
        let got = reader.fetch_n(&admin, "prod-acks0", 0, 0, ROUNDS * N);
        let mut next = [0usize; ROUNDS];
        for (j, g) in got.iter().enumerate() {
            let v = String::from_utf8(g.value.clone().unwrap()).unwrap();
            let (round, i) = v.split_once('-').unwrap();
            let (round, i): (usize, usize) = (round.parse().unwrap(), i.parse().unwrap());
            assert_eq!(
                i, next[round],
                "record {j} ({v}): round {round} out of order"
            );
            next[round] += 1;
        }
        assert_eq!(next, [N; ROUNDS]);
    });
}

#[test]
fn null_and_empty_keys_values_headers_and_timestamps_survive() {
    with_timeout(Duration::from_secs(60), || {
        let k = kafka::shared();
        let admin = client(&k.bootstrap);
        create_topic(&admin, "prod-fields", 1, 1, &[], T);
        let p = producer(
            &k.bootstrap,
            &[("linger.ms", "0"), ("compression.type", "lz4")],
        );
        let hdrs = [
            RecordHeaderIn {
                key: b"a",
                value: Some(b"1"),
            },
            RecordHeaderIn {
                key: b"b",
                value: None,
            },
        ];
        type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);
        let cases: [KeyValue; 4] = [
            (None, None),
            (Some(b""), Some(b"")),
            (Some(b"k"), None),
            (None, Some(b"v")),
        ];
        for (i, (key, value)) in cases.iter().enumerate() {
            p.send(&Message {
                topic: "prod-fields",
                partition: 0,
                key: *key,
                value: *value,
                headers: if i == 1 { &hdrs } else { &[] },
                timestamp: Some(1_600_000_000_000 + i as i64),
                opaque: i,
            })
            .unwrap();
        }
        let mut reports = Vec::new();
        flush_all(&p, &mut reports);
        check_delivered(&reports, cases.len());
        for r in &reports {
            assert_eq!(r.timestamp, 1_600_000_000_000 + r.opaque as i64);
            assert_eq!(r.topic.name, "prod-fields");
        }
        let reader = Reader {
            timeout: T,
            high_watermark_covers: false,
        };
        let got = reader.fetch_n(&admin, "prod-fields", 0, 0, cases.len());
        for (i, (key, value)) in cases.iter().enumerate() {
            assert_eq!(got[i].key.as_deref(), *key, "record {i}");
            assert_eq!(got[i].value.as_deref(), *value, "record {i}");
            assert_eq!(got[i].timestamp, 1_600_000_000_000 + i as i64);
        }
        assert_eq!(got[1].headers.len(), 2);
    });
}

#[test]
fn sends_fail_at_once_with_the_right_error() {
    with_timeout(Duration::from_secs(60), || {
        let k = kafka::shared();
        let admin = client(&k.bootstrap);
        create_topic(&admin, "prod-errors", 2, 1, &[], T);
        let p = producer(
            &k.bootstrap,
            &[
                ("queue.buffering.max.messages", "10"),
                ("linger.ms", "60000"),
                ("message.max.bytes", "2000"),
            ],
        );
        let m = |partition, value: &'static [u8], opaque| Message {
            topic: "prod-errors",
            partition,
            value: Some(value),
            opaque,
            ..Default::default()
        };
        // Oversize.
        let big = vec![7u8; 3000];
        let e = p
            .send(&Message {
                value: Some(&big),
                ..m(0, b"", 0)
            })
            .unwrap_err();
        assert_eq!(e.code, 10, "{e}");
        assert!(e.message.contains("message.max.bytes"), "{e}");
        // Learn the topic, then an unknown partition fails at once.
        p.send(&m(0, b"x", 0)).unwrap();
        p.flush(T, |_| {}).unwrap();
        let e = p.send(&m(5, b"x", 1)).unwrap_err();
        assert_eq!(e.code, local::UNKNOWN_PARTITION, "{e}");
        assert!(e.message.contains("prod-errors"), "{e}");
        // Queue full: 10 messages wait in a 60 s linger.
        for i in 0..10 {
            p.send(&m(1, b"y", i)).unwrap();
        }
        let e = p.send(&m(1, b"y", 10)).unwrap_err();
        assert_eq!(e.code, local::QUEUE_FULL, "{e}");
        assert!(e.message.contains("queue.buffering.max.messages"), "{e}");
        // A blocking send waits for space, and gets it once the batch is acknowledged
        // (the refused send above made the sender close it, linger or not).
        std::thread::scope(|s| {
            let h = s.spawn(|| p.send_blocking(&m(1, b"z", 11), T));
            std::thread::sleep(Duration::from_millis(200));
            p.flush(T, |_| {}).unwrap();
            h.join().unwrap().unwrap();
        });
        // Purged messages get PURGE_QUEUE reports.
        p.send(&m(1, b"w", 12)).unwrap();
        p.purge(kafkac::producer::purge::QUEUE);
        let mut got = Vec::new();
        p.poll(Duration::from_secs(1), |r| got.push(r.clone()));
        assert!(
            got.iter().any(|r| r.opaque == 12
                && r.error
                    .as_ref()
                    .is_some_and(|e| e.code == local::PURGE_QUEUE)
                && r.status == Persisted::Not),
            "{got:?}"
        );
        p.flush(T, |_| {}).unwrap();
    });
}

#[test]
fn unknown_topic_fails_after_the_metadata_wait() {
    with_timeout(Duration::from_secs(60), || {
        let k = kafka::shared();
        let p = producer(
            &k.bootstrap,
            &[("topic.metadata.propagation.max.ms", "1000")],
        );
        let started = Instant::now();
        p.send(&Message {
            topic: "prod-no-such-topic",
            partition: PARTITION_ANY,
            value: Some(b"v"),
            opaque: 7,
            ..Default::default()
        })
        .unwrap();
        let mut got = Vec::new();
        let r = p.flush(Duration::from_secs(20), |r| got.push(r.clone()));
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(got.len(), 1);
        let e = got[0].error.as_ref().expect("failed");
        assert_eq!(e.code, local::UNKNOWN_TOPIC, "{e}");
        assert!(e.message.contains("prod-no-such-topic"), "{e}");
        eprintln!("unknown topic reported after {:?}", started.elapsed());
    });
}

#[test]
fn a_dead_cluster_fails_every_message_within_the_timeout() {
    with_timeout(Duration::from_secs(60), || {
        let port = common::free_port();
        let p = producer(
            &format!("127.0.0.1:{port}"),
            &[("message.timeout.ms", "2000"), ("linger.ms", "0")],
        );
        let started = Instant::now();
        for i in 0..1000 {
            p.send(&Message {
                topic: "t",
                partition: PARTITION_ANY,
                value: Some(b"v"),
                opaque: i,
                ..Default::default()
            })
            .unwrap();
        }
        let mut got = Vec::new();
        p.flush(Duration::from_secs(10), |r| got.push(r.clone()))
            .unwrap();
        let took = started.elapsed();
        assert_eq!(got.len(), 1000);
        for r in &got {
            let e = r.error.as_ref().expect("failed");
            assert_eq!(e.code, local::MSG_TIMED_OUT, "{e}");
            assert_eq!(r.status, Persisted::Not);
        }
        assert!(took < Duration::from_secs(4), "reports took {took:?}");
        let closed = Instant::now();
        assert_eq!(p.close(Duration::from_secs(1)), 0);
        assert!(closed.elapsed() < Duration::from_secs(2));
    });
}

/// A transactional producer whose init_transactions has not succeeded (here against a
/// dead cluster; as on a fresh one whose transaction coordinator is still loading) lets
/// its sending thread sleep: it used to spin, waiting for a producer id it never asks
/// for itself.
#[test]
fn the_sending_thread_sleeps_while_a_transactional_producer_has_no_id() {
    with_timeout(Duration::from_secs(60), || {
        let port = common::free_port();
        let p = producer(
            &format!("127.0.0.1:{port}"),
            &[("transactional.id", "idle-before-init")],
        );
        let before = p.counters().sender_rounds;
        let started = Instant::now();
        let r = p.init_transactions(Duration::from_millis(1000));
        assert!(r.is_err_and(|e| e.is_retriable()), "init against nothing");
        std::thread::sleep(Duration::from_millis(500));
        let rounds = p.counters().sender_rounds - before;
        let took = started.elapsed();
        // Woken by its idle timer (200 ms) and little else.
        assert!(
            rounds <= 30,
            "{rounds} rounds of the sending thread in {took:?}"
        );
        eprintln!("{rounds} rounds of the sending thread in {took:?}");
    });
}

/// A send blocked on a full queue sleeps until space is freed: the sending thread does not
/// wake it on every round, nor does it wake the sending thread on every retry.
#[test]
fn a_send_blocked_on_a_full_queue_does_not_keep_the_sending_thread_busy() {
    with_timeout(Duration::from_secs(60), || {
        let port = common::free_port();
        let p = producer(
            &format!("127.0.0.1:{port}"),
            &[
                ("queue.buffering.max.messages", "5"),
                ("linger.ms", "0"),
                ("message.timeout.ms", "30000"),
            ],
        );
        let m = Message {
            topic: "blocked",
            partition: 0,
            key: None,
            value: Some(b"v"),
            headers: &[],
            timestamp: None,
            opaque: 0,
        };
        for _ in 0..5 {
            p.send(&m).expect("room for five");
        }
        // Let the sender settle (its first attempts to reach the broker).
        std::thread::sleep(Duration::from_millis(300));
        let before = p.counters().sender_rounds;
        let started = Instant::now();
        let e = p
            .send_blocking(&m, Duration::from_millis(1000))
            .expect_err("the queue stays full");
        let took = started.elapsed();
        assert_eq!(e.code, local::QUEUE_FULL, "{}", e.message);
        assert!(
            took >= Duration::from_millis(1000),
            "returned after {took:?}"
        );
        let rounds = p.counters().sender_rounds - before;
        // Its reconnect back-off and idle timers, a few tens at most; waking each other
        // made it thousands.
        assert!(
            rounds <= 100,
            "{rounds} rounds of the sending thread in {took:?} of a blocked send"
        );
        eprintln!("{rounds} rounds of the sending thread in {took:?} of a blocked send");
    });
}

#[test]
fn a_custom_partitioner_places_messages_and_a_bad_answer_fails_the_send() {
    with_timeout(Duration::from_secs(60), || {
        let k = kafka::shared();
        let admin = client(&k.bootstrap);
        create_topic(&admin, "prod-custom", 4, 1, &[], T);
        let mut c = Config::new();
        c.set("bootstrap.servers", &k.bootstrap).unwrap();
        let f = |_: &str, key: Option<&[u8]>, n: i32| match key {
            Some(b"bad") => n,
            Some(k) => k.len() as i32 % n,
            None => 3,
        };
        let p = Producer::with_partitioner(
            &c,
            Some(kafkac::producer::CustomPartitioner(std::sync::Arc::new(f))),
        )
        .unwrap();
        let keys: [Option<&[u8]>; 4] = [Some(b"a"), Some(b"bb"), Some(b"cccc"), None];
        for (i, key) in keys.iter().enumerate() {
            p.send(&Message {
                topic: "prod-custom",
                partition: PARTITION_ANY,
                key: *key,
                value: Some(b"v"),
                opaque: i,
                ..Default::default()
            })
            .unwrap();
        }
        let mut reports = Vec::new();
        flush_all(&p, &mut reports);
        let want = [1, 2, 0, 3];
        for r in &reports {
            assert!(r.error.is_none(), "{:?}", r.error);
            assert_eq!(r.partition, want[r.opaque], "message {}", r.opaque);
        }
        assert_eq!(reports.len(), 4);
        let e = p
            .send(&Message {
                topic: "prod-custom",
                partition: PARTITION_ANY,
                key: Some(b"bad"),
                value: Some(b"v"),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.code, local::UNKNOWN_PARTITION, "{e}");
        assert!(e.message.contains("partitioner callback"), "{e}");
    });
}

/// A broker that accepts connections and never answers: every message fails at its
/// `message.timeout.ms`, although the producer's thread waits on the silent broker, and
/// closing does not wait for it.
#[test]
fn a_silent_broker_fails_messages_on_time_and_close_is_prompt() {
    with_timeout(Duration::from_secs(60), || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in l.incoming().flatten() {
                held.push(s);
            }
        });
        let p = producer(
            &addr.to_string(),
            &[("message.timeout.ms", "1500"), ("linger.ms", "0")],
        );
        let started = Instant::now();
        for i in 0..100 {
            p.send(&Message {
                topic: "t",
                partition: PARTITION_ANY,
                value: Some(b"v"),
                opaque: i,
                ..Default::default()
            })
            .unwrap();
        }
        let mut got = Vec::new();
        while got.len() < 100 && started.elapsed() < Duration::from_secs(20) {
            p.poll(Duration::from_millis(100), |r| got.push(r.clone()));
        }
        let took = started.elapsed();
        assert_eq!(got.len(), 100);
        for r in &got {
            let e = r.error.as_ref().expect("failed");
            assert_eq!(e.code, local::MSG_TIMED_OUT, "{e}");
        }
        eprintln!("100 messages failed after {took:?}");
        assert!(took < Duration::from_millis(2500), "reports took {took:?}");
        let closing = Instant::now();
        p.close(Duration::from_millis(200));
        assert!(
            closing.elapsed() < Duration::from_secs(2),
            "close took {:?}",
            closing.elapsed()
        );
    });
}

/// A topic deleted while messages are sent to it: messages sent before the deletion are
/// delivered; those queued for it afterwards fail with UNKNOWN_TOPIC once the cluster has
/// not known the topic for `topic.metadata.propagation.max.ms` (long before their
/// `message.timeout.ms`); every message gets one report and nothing hangs.
#[test]
fn a_topic_deleted_while_producing_fails_its_messages_with_unknown_topic() {
    with_timeout(Duration::from_secs(90), || {
        let k = kafka::shared();
        let admin = client(&k.bootstrap);
        create_topic(&admin, "prod-deleted", 2, 1, &[], T);
        let p = producer(
            &k.bootstrap,
            &[
                ("topic.metadata.propagation.max.ms", "1000"),
                ("message.timeout.ms", "60000"),
                ("linger.ms", "1"),
            ],
        );
        let send = |i: usize| {
            p.send(&Message {
                topic: "prod-deleted",
                partition: (i % 2) as i32,
                value: Some(b"v"),
                opaque: i,
                ..Default::default()
            })
        };
        for i in 0..100 {
            send(i).unwrap();
        }
        let mut reports = Vec::new();
        flush_all(&p, &mut reports);
        assert!(reports.iter().all(|r| r.error.is_none()), "{reports:?}");
        admin
            .delete_topics(&["prod-deleted".to_string()], T)
            .unwrap();
        let deleted = Instant::now();
        let mut sent = 100;
        while deleted.elapsed() < Duration::from_secs(2) {
            match send(sent) {
                Ok(()) => sent += 1,
                Err(e) => panic!("send after the deletion: {e}"),
            }
            p.poll(Duration::from_millis(20), |r| reports.push(r.clone()));
        }
        p.flush(Duration::from_secs(30), |r| reports.push(r.clone()))
            .unwrap();
        let took = deleted.elapsed();
        assert_eq!(reports.len(), sent, "one report per message");
        let mut seen = vec![false; sent];
        for r in &reports {
            assert!(!seen[r.opaque], "two reports for {}", r.opaque);
            seen[r.opaque] = true;
        }
        let unknown = reports
            .iter()
            .filter(|r| {
                r.error
                    .as_ref()
                    .is_some_and(|e| e.code == local::UNKNOWN_TOPIC)
            })
            .count();
        let other: Vec<_> = reports
            .iter()
            .filter_map(|r| r.error.as_ref())
            .filter(|e| e.code != local::UNKNOWN_TOPIC)
            .collect();
        assert!(unknown > 0, "no UNKNOWN_TOPIC report among {sent}");
        assert!(
            other.is_empty(),
            "other failures: {:?}",
            &other[..other.len().min(3)]
        );
        eprintln!(
            "{sent} sent, {unknown} failed with UNKNOWN_TOPIC, all reported {took:?} after the deletion"
        );
        assert!(took < Duration::from_secs(20), "reports took {took:?}");
    });
}

/// A full queue does not wait out `linger.ms`: the message refused with QUEUE_FULL makes
/// the sender close every open batch (the Java client's rule), so the space comes back as
/// fast as the broker acknowledges. Before, a queue full of lingering batches (say, 16
/// partitions each holding part of a batch) stalled every send for the whole linger.
#[test]
fn a_full_queue_sends_its_lingering_batches_at_once() {
    with_timeout(Duration::from_secs(120), || {
        let k = kafka::shared();
        let admin = client(&k.bootstrap);
        create_topic(&admin, "prod-starved", 4, 1, &[], T);
        let p = producer(
            &k.bootstrap,
            &[
                ("linger.ms", "60000"),
                ("queue.buffering.max.messages", "8"),
            ],
        );
        let m = |i: usize| Message {
            topic: "prod-starved",
            partition: (i % 4) as i32,
            value: Some(b"lingering"),
            opaque: i,
            ..Default::default()
        };
        for i in 0..8 {
            p.send(&m(i)).unwrap();
        }
        // Four batches of two, each lingering for a minute: nothing is due.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            p.counters().requests,
            0,
            "nothing sent before the queue filled"
        );
        let e = p.send(&m(8)).unwrap_err();
        assert_eq!(e.code, local::QUEUE_FULL, "{e}");
        assert!(e.message.contains("queue.buffering.max.messages"), "{e}");
        // The refusal sends the four batches; their reports come well within the linger.
        let began = Instant::now();
        let mut reports = Vec::new();
        while reports.len() < 8 && began.elapsed() < Duration::from_secs(10) {
            p.poll(Duration::from_millis(100), |r| reports.push(r.clone()));
        }
        assert_eq!(reports.len(), 8, "reports after {:?}", began.elapsed());
        check_delivered(&reports, 8);
        assert!(p.counters().batches >= 4, "{:?}", p.counters());
        // With room again, a send is taken and lingers as before.
        p.send(&m(8)).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(p.outstanding().0, 1, "a new batch lingers");
        p.flush(T, |r| reports.push(r.clone())).unwrap();
        check_delivered(&reports, 9);
    })
}
