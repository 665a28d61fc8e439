//! The Rust client end to end against Apache Kafka 4.3 (KRaft) on loopback.
//!
//! * One single-node cluster shared by the tests that don't disturb each other
//!   (each uses its own topics).
//! * One three-node cluster (replication factor 3, `min.insync.replicas=2`)
//!   shared by the tests that need partitions led by different brokers but
//!   stop no node.
//! * A three-node cluster of its own for each test that kills or stops nodes.
//!
//! Offsets are checked with exact values: Kafka's "latest" is the high
//! watermark, timestamp lookups use record (create) time, and a fetch from
//! inside a batch starts at the offset asked for.

mod common;

use common::client::{assert_create_again_fails, create_topic, produce_from_eight_threads};
use common::kafka::{self, KafkaCluster};
use common::records::{compressions, record, Reader};
use common::with_timeout;
use kafkac::client::{NewTopic, OffsetQuery, OffsetSpec};
use kafkac::error::local;
use kafkac::record::{Compression, RecordIn};
use kafkac::Client;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Timeout of one client call.
const T: Duration = Duration::from_secs(20);
/// Limit for one test on a shared cluster (includes starting it).
const LIMIT: Duration = Duration::from_secs(120);
/// Limit for one test that starts and kills nodes of its own.
const CHAOS_LIMIT: Duration = Duration::from_secs(180);
/// Reading records back.
const READ: Reader = Reader {
    timeout: T,
    high_watermark_covers: false,
};

fn client_for(bootstrap: &str) -> Client {
    common::client::client(bootstrap)
}

fn client() -> Client {
    client_for(&kafka::shared().bootstrap)
}

fn create_rf(c: &Client, name: &str, partitions: i32, rf: i16) {
    create_topic(c, name, partitions, rf, &[], T);
    // CreateTopics answers once the controller has the topic; wait until a
    // broker's metadata has a leader for every partition.
    common::wait_until(T, &format!("leaders for {name}"), || {
        c.metadata(Some(&[name.to_string()]), T)
            .map(|md| {
                md.topics[0].error_code == 0
                    && md.topics[0].partitions.len() == partitions as usize
                    && md.topics[0].partitions.iter().all(|p| p.leader >= 0)
            })
            .unwrap_or(false)
    });
}

fn create(c: &Client, name: &str, partitions: i32) {
    create_rf(c, name, partitions, 1)
}

/// Partition -> leader node id.
fn leaders(c: &Client, topic: &str) -> Vec<i32> {
    let md = c.metadata(Some(&[topic.to_string()]), T).unwrap();
    let mut p = md.topics[0].partitions.clone();
    p.sort_by_key(|p| p.partition);
    p.iter().map(|p| p.leader).collect()
}

// ---------------------------------------------------------------------------
// One node
// ---------------------------------------------------------------------------

#[test]
fn metadata_lists_the_broker_cluster_id_and_created_topics() {
    with_timeout(LIMIT, || {
        let k = kafka::shared();
        let c = client();
        create(&c, "md-topic", 3);
        let md = c.metadata(Some(&["md-topic".to_string()]), T).unwrap();
        assert_eq!(md.brokers.len(), 1);
        assert_eq!(md.brokers[0].id, 1);
        assert_eq!(md.brokers[0].host, "127.0.0.1");
        assert_eq!(md.brokers[0].port, k.nodes[0].port as i32);
        assert_eq!(md.cluster_id.as_deref(), Some(k.cluster_id.as_str()));
        assert_eq!(md.controller_id, 1);
        assert_eq!(md.topics.len(), 1);
        let t = &md.topics[0];
        assert_eq!((t.name.as_str(), t.error_code), ("md-topic", 0));
        let mut parts: Vec<i32> = t.partitions.iter().map(|p| p.partition).collect();
        parts.sort();
        assert_eq!(parts, [0, 1, 2]);
        assert!(t.partitions.iter().all(|p| p.leader == 1));
        // All topics: ours is among them, Kafka's internal ones are not
        // created until used.
        let all = c.metadata(None, T).unwrap();
        assert!(all.topics.iter().any(|t| t.name == "md-topic"));
    })
}

#[test]
fn create_existing_topic_reports_topic_already_exists() {
    with_timeout(LIMIT, || {
        let c = client();
        create(&c, "dup-topic", 1);
        assert_create_again_fails(&c, "dup-topic", T);
    })
}

#[test]
fn create_topic_with_configs_and_bad_arguments() {
    with_timeout(LIMIT, || {
        let c = client();
        let r = c
            .create_topics(
                &[
                    NewTopic {
                        name: "cfg-topic".into(),
                        num_partitions: 2,
                        replication_factor: 1,
                        configs: vec![("cleanup.policy".into(), Some("compact".into()))],
                    },
                    // One node: replication factor 3 can't be met.
                    NewTopic {
                        name: "rf-too-big".into(),
                        num_partitions: 1,
                        replication_factor: 3,
                        configs: vec![],
                    },
                    NewTopic {
                        name: "bad-config".into(),
                        num_partitions: 1,
                        replication_factor: 1,
                        configs: vec![("cleanup.policy".into(), Some("shred".into()))],
                    },
                ],
                T,
            )
            .unwrap();
        assert_eq!(r.len(), 3);
        let by = |n: &str| r.iter().find(|t| t.name == n).unwrap();
        assert!(
            by("cfg-topic").error.is_none(),
            "{:?}",
            by("cfg-topic").error
        );
        // INVALID_REPLICATION_FACTOR, INVALID_CONFIG
        assert_eq!(by("rf-too-big").error.as_ref().map(|e| e.code), Some(38));
        assert_eq!(by("bad-config").error.as_ref().map(|e| e.code), Some(40));
    })
}

#[test]
fn produce_and_fetch_every_codec() {
    with_timeout(LIMIT, || {
        let c = client();
        create(&c, "rt-topic", 5);
        for (i, codec) in compressions().into_iter().enumerate() {
            READ.round_trip(&c, "rt-topic", i as i32, codec);
        }
    })
}

#[test]
fn fetch_from_inside_a_batch_starts_at_the_offset_asked_for() {
    with_timeout(LIMIT, || {
        let c = client();
        create(&c, "mid-batch", 1);
        let vals: Vec<Vec<u8>> = (0..10).map(|i| format!("m{i}").into_bytes()).collect();
        let recs: Vec<RecordIn> = vals.iter().map(|v| record(None, Some(v))).collect();
        for codec in [Compression::None, Compression::Zstd] {
            let base = c.produce("mid-batch", 0, &recs, -1, codec, T).unwrap();
            let f = c
                .fetch(
                    "mid-batch",
                    0,
                    base + 7,
                    1 << 20,
                    Duration::from_millis(100),
                    T,
                )
                .unwrap();
            let got: Vec<(i64, Vec<u8>)> = f
                .records
                .iter()
                .map(|r| (r.offset, r.value.unwrap().to_vec()))
                .collect();
            assert_eq!(
                got,
                [
                    (base + 7, b"m7".to_vec()),
                    (base + 8, b"m8".to_vec()),
                    (base + 9, b"m9".to_vec())
                ],
                "{codec:?}"
            );
            assert_eq!(f.high_watermark, base + 10);
        }
    })
}

#[test]
fn list_offsets_earliest_latest_and_by_timestamp_are_exact() {
    with_timeout(LIMIT, || {
        let c = client();
        create(&c, "off-topic", 1);
        let empty_latest = c
            .list_offsets("off-topic", 0, OffsetSpec::Latest, T)
            .unwrap();
        assert_eq!(empty_latest.offset, 0);
        // Three batches of 10 records with record timestamps 1000 ms apart.
        let t0 = 1_750_000_000_000i64;
        for b in 0..3i64 {
            let recs: Vec<RecordIn> = (0..10i64)
                .map(|i| RecordIn {
                    key: None,
                    value: Some(b"v"),
                    headers: &[],
                    timestamp: Some(t0 + (b * 10 + i) * 1000),
                })
                .collect();
            let base = c
                .produce("off-topic", 0, &recs, -1, Compression::Lz4, T)
                .unwrap();
            assert_eq!(base, b * 10);
        }
        let at = |spec| c.list_offsets("off-topic", 0, spec, T).unwrap();
        assert_eq!(at(OffsetSpec::Earliest).offset, 0);
        assert_eq!(at(OffsetSpec::Latest).offset, 30);
        // Exactly a record's timestamp, between two, inside a batch, the
        // first, and past the last (-1: no such record).
        assert_eq!(at(OffsetSpec::Timestamp(t0 + 17_000)).offset, 17);
        assert_eq!(at(OffsetSpec::Timestamp(t0 + 16_500)).offset, 17);
        assert_eq!(at(OffsetSpec::Timestamp(t0 + 3_000)).offset, 3);
        assert_eq!(at(OffsetSpec::Timestamp(t0 - 5)).offset, 0);
        let past = at(OffsetSpec::Timestamp(t0 + 30_000));
        assert_eq!(past.offset, -1, "{past:?}");
        let found = at(OffsetSpec::Timestamp(t0 + 21_000));
        assert_eq!((found.offset, found.timestamp), (21, t0 + 21_000));
        let e = c
            .list_offsets("off-topic", 0, OffsetSpec::Timestamp(-5), T)
            .unwrap_err();
        assert_eq!(e.code, local::INVALID_ARG);
    })
}

#[test]
fn unknown_topic_and_partition_are_reported() {
    with_timeout(LIMIT, || {
        let c = client();
        let r = [record(None, Some(b"a"))];
        let e = c
            .produce(
                "no-such-topic",
                0,
                &r,
                -1,
                Compression::None,
                Duration::from_secs(2),
            )
            .unwrap_err();
        assert_eq!(e.code, 3, "{e}");
        assert!(e.message.contains("no-such-topic"), "{e}");
        let e = c
            .fetch(
                "no-such-topic",
                0,
                0,
                1024,
                Duration::ZERO,
                Duration::from_secs(2),
            )
            .err()
            .expect("fetch from an unknown topic fails");
        assert_eq!(e.code, 3, "{e}");
        create(&c, "one-part", 1);
        let e = c
            .produce("one-part", 7, &r, -1, Compression::None, T)
            .unwrap_err();
        assert_eq!(e.code, local::UNKNOWN_PARTITION, "{e}");
        assert!(e.message.contains("one-part"), "{e}");
    })
}

#[test]
fn fetch_past_the_end_is_offset_out_of_range() {
    with_timeout(LIMIT, || {
        let c = client();
        create(&c, "oor", 1);
        c.produce(
            "oor",
            0,
            &[record(None, Some(b"x"))],
            -1,
            Compression::None,
            T,
        )
        .unwrap();
        let e = c
            .fetch("oor", 0, 5, 1024, Duration::ZERO, T)
            .err()
            .expect("fetch past the end fails");
        assert_eq!(e.code, 1, "{e}");
        // At the end exactly: nothing yet, no error.
        let f = c
            .fetch("oor", 0, 1, 1024, Duration::from_millis(50), T)
            .unwrap();
        assert!(f.records.is_empty());
        assert_eq!(f.high_watermark, 1);
    })
}

#[test]
fn delete_topic_removes_it() {
    with_timeout(LIMIT, || {
        let c = client();
        create(&c, "del-topic", 1);
        let r = c.delete_topics(&["del-topic".to_string()], T).unwrap();
        assert!(r[0].error.is_none(), "{:?}", r[0].error);
        common::wait_until(T, "del-topic gone from metadata", || {
            let md = c.metadata(Some(&["del-topic".to_string()]), T).unwrap();
            md.topics.len() == 1 && md.topics[0].error_code == 3
        });
        let r = c.delete_topics(&["del-topic".to_string()], T).unwrap();
        assert_eq!(r[0].error.as_ref().map(|e| e.code), Some(3));
    })
}

#[test]
fn acks_zero_gets_no_answer_and_does_not_disturb_the_connection() {
    with_timeout(LIMIT, || {
        let c = client();
        create(&c, "acks0", 1);
        let r = [record(None, Some(b"fire-and-forget"))];
        // The partition's leader is ready first: an acks=0 record sent to a leader still
        // loading the new topic is dropped without a word (acks=0 has no answer to carry
        // the error).
        assert_eq!(
            c.produce("acks0", 0, &r, 1, Compression::None, T).unwrap(),
            0
        );
        for _ in 0..3 {
            assert_eq!(
                c.produce("acks0", 0, &r, 0, Compression::None, T).unwrap(),
                -1
            );
        }
        // An acks=1 produce on the same connection gets its own answer, after
        // the three acks=0 records (the broker handles a connection's
        // requests in order).
        assert_eq!(
            c.produce("acks0", 0, &r, 1, Compression::None, T).unwrap(),
            4
        );
        let got = READ.fetch_n(&c, "acks0", 0, 0, 5);
        assert!(got
            .iter()
            .all(|g| g.value.as_deref() == Some(b"fire-and-forget".as_slice())));
    })
}

/// An acks=0 produce returns once its request is written to the socket: a client
/// dropped right after it (as a short-lived program exits) loses nothing. Each round
/// opens a new client, so its connection is new and the produce waits for its set-up.
#[test]
fn acks_zero_records_survive_the_client_dropped_at_once() {
    with_timeout(LIMIT, || {
        let c = client();
        create(&c, "acks0-drop", 1);
        let r = [record(None, Some(b"last words"))];
        assert_eq!(
            c.produce("acks0-drop", 0, &r, 1, Compression::None, T)
                .unwrap(),
            0,
            "the leader is ready"
        );
        const ROUNDS: i64 = 20;
        // Two requests each: Kafka reads a connection's next request only once it has
        // handled the one before, so the second is still unread when the client closes.
        for _ in 0..ROUNDS {
            let short = client();
            for _ in 0..2 {
                assert_eq!(
                    short
                        .produce("acks0-drop", 0, &r, 0, Compression::None, T)
                        .unwrap(),
                    -1
                );
            }
            drop(short);
        }
        common::wait_until(T, "every acks=0 record stored", || {
            c.list_offsets("acks0-drop", 0, kafkac::client::OffsetSpec::Latest, T)
                .unwrap()
                .offset
                == 1 + 2 * ROUNDS
        });
    })
}

#[test]
fn many_threads_share_one_client() {
    with_timeout(LIMIT, || {
        let c = Arc::new(client());
        create(&c, "threads", 4);
        produce_from_eight_threads(&c, "threads", T);
        let mut seen = BTreeSet::new();
        for p in 0..4 {
            let latest = c
                .list_offsets("threads", p, OffsetSpec::Latest, T)
                .unwrap()
                .offset;
            assert_eq!(latest, 40, "partition {p}");
            for g in READ.fetch_n(&c, "threads", p, 0, 40) {
                assert!(seen.insert(g.value.unwrap()), "duplicate record");
            }
        }
        assert_eq!(seen.len(), 160);
    })
}

#[test]
fn bootstrap_tries_each_address_until_one_answers() {
    with_timeout(LIMIT, || {
        // A closed port first, then the broker by name: "localhost" may
        // resolve to ::1 (where nothing listens) before 127.0.0.1.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let port = kafka::shared().nodes[0].port;
        let c = client_for(&format!("127.0.0.1:{closed}, localhost:{port}"));
        let md = c.metadata(None, T).unwrap();
        assert_eq!(md.brokers.len(), 1);
    })
}

#[test]
fn message_larger_than_the_topic_allows_is_refused() {
    with_timeout(LIMIT, || {
        let c = client();
        let r = c
            .create_topics(
                &[NewTopic {
                    name: "small-max".into(),
                    num_partitions: 1,
                    replication_factor: 1,
                    configs: vec![("max.message.bytes".into(), Some("1024".into()))],
                }],
                T,
            )
            .unwrap();
        assert!(r[0].error.is_none(), "{:?}", r[0].error);
        let big = vec![7u8; 4096];
        let e = c
            .produce(
                "small-max",
                0,
                &[record(None, Some(&big))],
                -1,
                Compression::None,
                T,
            )
            .unwrap_err();
        // MESSAGE_TOO_LARGE
        assert_eq!(e.code, 10, "{e}");
        assert!(e.message.contains("small-max"), "{e}");
    })
}

// ---------------------------------------------------------------------------
// Three nodes
// ---------------------------------------------------------------------------

/// A topic on the shared three-node cluster with at least one partition led by
/// each node (Kafka spreads leaders; this checks it did).
fn spread_topic(c: &Client, name: &str, partitions: i32) -> Vec<i32> {
    create_rf(c, name, partitions, 3);
    let l = leaders(c, name);
    let distinct: BTreeSet<i32> = l.iter().copied().collect();
    assert_eq!(distinct.len(), 3, "leaders of {name}: {l:?}");
    l
}

#[test]
fn every_partition_of_a_three_node_cluster_round_trips() {
    with_timeout(LIMIT, || {
        let k = kafka::shared3();
        let c = client_for(&k.bootstrap);
        let md = c.metadata(None, T).unwrap();
        let mut ids: Vec<i32> = md.brokers.iter().map(|b| b.id).collect();
        ids.sort();
        assert_eq!(ids, [1, 2, 3]);
        let l = spread_topic(&c, "spread", 6);
        let codecs = compressions();
        for p in 0..l.len() as i32 {
            READ.round_trip(&c, "spread", p, codecs[p as usize % codecs.len()]);
        }
        // One call for every partition: split by leader, answers merged.
        let offs = c.list_offsets_many(
            &(0..6)
                .map(|partition| OffsetQuery {
                    topic: "spread".to_string(),
                    partition,
                    spec: OffsetSpec::Latest,
                })
                .collect::<Vec<_>>(),
            T,
        );
        assert_eq!(offs.len(), 6);
        for o in offs {
            let o = o.unwrap();
            assert_eq!(o.offset, 202);
        }
    })
}

/// Produces `n` single-record batches with values `<tag>-<i>` to `topic/0`.
fn produce_values(c: &Client, topic: &str, tag: &str, n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let v = format!("{tag}-{i}");
            c.produce(
                topic,
                0,
                &[record(None, Some(v.as_bytes()))],
                -1,
                Compression::None,
                T,
            )
            .unwrap_or_else(|e| panic!("produce {tag}-{i}: {e}"))
        })
        .collect()
}

#[test]
fn leader_killed_between_calls_produce_and_fetch_retry_on_the_new_leader() {
    with_timeout(CHAOS_LIMIT, || {
        let mut k = KafkaCluster::start(3);
        let c = client_for(&k.bootstrap);
        create_rf(&c, "failover", 1, 3);
        let before = produce_values(&c, "failover", "before", 5);
        assert_eq!(before, [0, 1, 2, 3, 4]);
        let victim = leaders(&c, "failover")[0];
        k.kill(victim);
        let t0 = Instant::now();
        // The next calls find the leader gone, refresh metadata and go to the
        // new leader, each within its own timeout.
        let after = produce_values(&c, "failover", "after", 5);
        println!(
            "first produce after killing leader {victim}: {:?}",
            t0.elapsed()
        );
        assert_eq!(after, [5, 6, 7, 8, 9]);
        let new_leader = leaders(&c, "failover")[0];
        assert!(
            new_leader > 0 && new_leader != victim,
            "leader {new_leader}"
        );
        let got = READ.fetch_n(&c, "failover", 0, 0, 10);
        let vals: Vec<String> = got
            .iter()
            .map(|g| String::from_utf8(g.value.clone().unwrap()).unwrap())
            .collect();
        let want: Vec<String> = (0..5)
            .map(|i| format!("before-{i}"))
            .chain((0..5).map(|i| format!("after-{i}")))
            .collect();
        assert_eq!(vals, want);
        // The old leader comes back as a follower; everything still works.
        k.restart(victim);
        assert_eq!(produce_values(&c, "failover", "back", 1), [10]);
    })
}

#[test]
fn leader_killed_during_calls_every_call_succeeds_within_its_timeout() {
    with_timeout(CHAOS_LIMIT, || {
        let mut k = KafkaCluster::start(3);
        let c = Arc::new(client_for(&k.bootstrap));
        create_rf(&c, "chaos", 1, 3);
        produce_values(&c, "chaos", "warm", 1);
        let victim = leaders(&c, "chaos")[0];
        let stop = Arc::new(AtomicBool::new(false));
        // A producer and a fetcher run without pause while the leader dies.
        let producer = {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut offsets = Vec::new();
                let mut worst = Duration::ZERO;
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let v = format!("during-{i}");
                    let t = Instant::now();
                    let o = c
                        .produce(
                            "chaos",
                            0,
                            &[record(None, Some(v.as_bytes()))],
                            -1,
                            Compression::None,
                            T,
                        )
                        .unwrap_or_else(|e| panic!("produce during-{i}: {e}"));
                    worst = worst.max(t.elapsed());
                    offsets.push(o);
                    i += 1;
                }
                (offsets, worst)
            })
        };
        let fetcher = {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut next = 0i64;
                let mut calls = 0;
                while !stop.load(Ordering::Relaxed) {
                    let f = c
                        .fetch("chaos", 0, next, 1 << 20, Duration::from_millis(50), T)
                        .unwrap_or_else(|e| panic!("fetch from {next}: {e}"));
                    if let Some(r) = f.records.iter().last() {
                        next = r.offset + 1;
                    }
                    calls += 1;
                }
                (next, calls)
            })
        };
        std::thread::sleep(Duration::from_millis(500));
        k.kill(victim);
        let killed = Instant::now();
        // Keep going until a produce has gone to the new leader, well past the
        // fencing of the dead node.
        common::wait_until(T, "a new leader", || {
            let l = leaders(&c, "chaos")[0];
            l > 0 && l != victim
        });
        std::thread::sleep(Duration::from_secs(1));
        stop.store(true, Ordering::Relaxed);
        let (offsets, worst) = producer.join().expect("producer thread");
        let (fetched_to, fetch_calls) = fetcher.join().expect("fetcher thread");
        println!(
            "leader {victim} killed; new leader after {:?}; {} produces, slowest {worst:?}; \
             {fetch_calls} fetches, up to offset {fetched_to}",
            killed.elapsed(),
            offsets.len()
        );
        // Every acknowledged record is there exactly once, in order: offsets
        // strictly increase and fetching returns each value at its offset.
        assert!(offsets.windows(2).all(|w| w[1] > w[0]), "{offsets:?}");
        let last = *offsets.last().unwrap();
        let got = READ.fetch_n(&c, "chaos", 0, 0, last as usize + 1);
        for (i, o) in offsets.iter().enumerate() {
            let g = &got[*o as usize];
            assert_eq!(g.value.as_deref(), Some(format!("during-{i}").as_bytes()));
        }
    })
}

#[test]
fn whole_cluster_down_fails_with_a_clear_error_within_the_timeout() {
    with_timeout(CHAOS_LIMIT, || {
        let mut k = KafkaCluster::start(3);
        let c = client_for(&k.bootstrap);
        create_rf(&c, "down", 1, 3);
        produce_values(&c, "down", "up", 1);
        for id in [1, 2, 3] {
            k.kill(id);
        }
        let timeout = Duration::from_secs(3);
        type Call<'a> = Box<dyn Fn() -> Result<(), kafkac::Error> + 'a>;
        let calls: [(&str, Call); 4] = [
            (
                "produce",
                Box::new(|| {
                    c.produce(
                        "down",
                        0,
                        &[record(None, Some(b"x"))],
                        -1,
                        Compression::None,
                        timeout,
                    )
                    .map(|_| ())
                }),
            ),
            (
                "fetch",
                Box::new(|| {
                    c.fetch("down", 0, 0, 1024, Duration::ZERO, timeout)
                        .map(|_| ())
                }),
            ),
            (
                "metadata",
                Box::new(|| c.metadata(None, timeout).map(|_| ())),
            ),
            (
                "list offsets",
                Box::new(|| {
                    c.list_offsets("down", 0, OffsetSpec::Latest, timeout)
                        .map(|_| ())
                }),
            ),
        ];
        for (what, call) in calls {
            let t0 = Instant::now();
            let e = call().expect_err(what);
            let took = t0.elapsed();
            println!("{what} with every node down: {e} after {took:?}");
            assert!(
                [local::ALL_BROKERS_DOWN, local::TIMED_OUT, local::TRANSPORT].contains(&e.code),
                "{what}: {e}"
            );
            assert!(!e.message.is_empty(), "{what}: empty message");
            // Within the call's timeout, with a margin for a loaded machine.
            assert!(
                took <= timeout + Duration::from_secs(2),
                "{what} took {took:?}: {e}"
            );
        }
    })
}

#[test]
fn a_long_poll_fetch_does_not_delay_a_produce_to_the_same_broker() {
    with_timeout(LIMIT, || {
        let c = Arc::new(client());
        create(&c, "hol-fetch", 1);
        create(&c, "hol-produce", 1);
        // Connections up and metadata known, so only the requests themselves are timed.
        c.produce(
            "hol-produce",
            0,
            &[record(None, Some(b"warm"))],
            -1,
            Compression::None,
            T,
        )
        .unwrap();
        c.fetch("hol-fetch", 0, 0, 1024, Duration::ZERO, T).unwrap();
        let mut worst = Duration::ZERO;
        for _ in 0..3 {
            // A fetch on an empty partition: the broker holds it for its whole 500 ms.
            let fetcher = {
                let c = c.clone();
                std::thread::spawn(move || {
                    let t = Instant::now();
                    let f = c
                        .fetch("hol-fetch", 0, 0, 1024, Duration::from_millis(500), T)
                        .unwrap();
                    assert!(f.records.is_empty());
                    (t, Instant::now())
                })
            };
            std::thread::sleep(Duration::from_millis(100));
            let t = Instant::now();
            c.produce(
                "hol-produce",
                0,
                &[record(None, Some(b"x"))],
                -1,
                Compression::None,
                T,
            )
            .unwrap();
            let produced = Instant::now();
            let (fetch_start, fetch_end) = fetcher.join().unwrap();
            let latency = produced - t;
            worst = worst.max(latency);
            // The fetch was still held by the broker when the produce was acknowledged:
            // the produce did not queue behind it.
            assert!(
                produced < fetch_end,
                "produce acknowledged {:?} after the fetch returned",
                produced - fetch_end
            );
            assert!(fetch_end - fetch_start >= Duration::from_millis(450));
        }
        println!("produce latency with a 500 ms long-poll fetch in flight: worst {worst:?}");
    })
}

/// The simulator's broker (tests/sim_conn.rs) follows these rules of Apache Kafka's; this
/// checks them against the real thing: answers come in the order the requests were
/// sent on a connection, and a connection's requests are handled one at a time (a
/// request behind a held long-poll fetch is answered only after it).
#[test]
fn kafka_answers_a_connection_in_order_one_request_at_a_time() {
    with_timeout(LIMIT, || {
        use kafkac::cluster::Purpose;
        use kafkac::net::events::CompletionQueue;
        use kafkac::protocol::messages::{
            FetchPartition, FetchRequest, FetchTopic, MetadataRequest,
        };
        let c = client();
        create(&c, "rules", 1);
        let deadline = Instant::now() + T;
        let leader = c.cluster().leader("rules", 0, false, deadline).unwrap();
        let conn = c
            .cluster()
            .broker_for(leader, Purpose::Fetch, deadline)
            .unwrap();
        let q = Arc::new(CompletionQueue::new());
        let md = MetadataRequest {
            topics: Some(Vec::new()),
            ..Default::default()
        };
        let mv = conn.version_of::<MetadataRequest>().unwrap();
        // Fifty pipelined requests: answered in the order sent.
        for tag in 0..50 {
            conn.send_to_queue(&md, mv, &q, tag).unwrap();
        }
        let tags: Vec<u64> = (0..50).map(|_| q.pop(deadline).unwrap().0).collect();
        assert_eq!(tags, (0..50).collect::<Vec<u64>>());
        // A fetch the broker holds 600 ms (empty partition), then a metadata request on
        // the same connection: the metadata answer waits for the fetch's.
        let fv = conn.version_of::<FetchRequest>().unwrap();
        let fetch = FetchRequest {
            max_wait_ms: 600,
            min_bytes: 1,
            topics: vec![FetchTopic {
                topic: "rules".into(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: 0,
                    partition_max_bytes: 1024,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let t0 = Instant::now();
        conn.send_to_queue(&fetch, fv, &q, 1000).unwrap();
        conn.send_to_queue(&md, mv, &q, 1001).unwrap();
        let (first, r1) = q.pop(deadline).unwrap();
        let (second, r2) = q.pop(deadline).unwrap();
        let waited = t0.elapsed();
        assert_eq!((first, second), (1000, 1001));
        assert!(r1.is_ok() && r2.is_ok());
        assert!(
            waited >= Duration::from_millis(550),
            "metadata answered {waited:?} after being sent behind a 600 ms fetch"
        );
    })
}
