//! The Rust client end to end against a real Tansu broker on loopback.

mod common;

use common::Tansu;
use kafkac::client::{NewTopic, OffsetSpec};
use kafkac::error::local;
use kafkac::record::{Compression, RecordHeaderIn, RecordIn};
use kafkac::{Client, Config};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

const T: Duration = Duration::from_secs(20);
/// Limit for one whole test (a broker start included).
const TEST_LIMIT: Duration = Duration::from_secs(90);

/// Runs a test body under [`TEST_LIMIT`].
fn bounded(f: impl FnOnce() + Send + 'static) {
    common::with_timeout(TEST_LIMIT, f)
}

type Fetched = (
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Option<Vec<u8>>)>,
    i64,
);

/// Fetches `n` records from offset `from` on: (offset, key, value, headers, timestamp)
/// each.
/// Fails if they are not all there within `T`.
fn fetch_n(c: &Client, topic: &str, partition: i32, from: i64, n: usize) -> Vec<Fetched> {
    let deadline = Instant::now() + T;
    let mut got: Vec<Fetched> = Vec::new();
    let mut offset = from;
    while got.len() < n {
        assert!(
            Instant::now() < deadline,
            "read only {} of {n} records of {topic}/{partition} from {from} within {T:?}",
            got.len()
        );
        let f = c
            .fetch(
                topic,
                partition,
                offset,
                1 << 20,
                Duration::from_millis(200),
                T,
            )
            .unwrap_or_else(|e| panic!("fetch {topic}/{partition} at {offset}: {e}"));
        assert!(
            f.high_watermark >= from + n as i64,
            "high watermark {} of {topic}/{partition}, want at least {}",
            f.high_watermark,
            from + n as i64
        );
        for r in f.records.iter().filter(|r| r.offset >= offset) {
            got.push((
                r.offset,
                r.key.map(<[u8]>::to_vec),
                r.value.map(<[u8]>::to_vec),
                r.headers()
                    .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                    .collect(),
                r.timestamp,
            ));
        }
        offset = got.last().map_or(offset, |g| g.0 + 1);
    }
    got
}

/// The attempt count of a "gave up after N attempts" error message.
fn attempts(message: &str) -> u32 {
    message
        .split("gave up after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no attempt count in {message:?}"))
}

/// One broker for the whole test binary (it dies with the process).
fn bootstrap() -> &'static str {
    static B: OnceLock<String> = OnceLock::new();
    B.get_or_init(|| {
        let t = Box::leak(Box::new(Tansu::start()));
        t.bootstrap.clone()
    })
}

fn client() -> Client {
    let mut c = Config::new();
    c.set("bootstrap.servers", bootstrap()).unwrap();
    c.set("retry.backoff.ms", "50").unwrap();
    Client::new(&c).unwrap()
}

fn create(c: &Client, name: &str, partitions: i32) {
    let r = c
        .create_topics(
            &[NewTopic {
                name: name.into(),
                num_partitions: partitions,
                replication_factor: 1,
                configs: vec![],
            }],
            T,
        )
        .unwrap();
    assert!(r[0].error.is_none(), "{:?}", r[0].error);
}

#[test]
fn metadata_lists_the_broker_and_created_topics() {
    bounded(|| {
        let c = client();
        create(&c, "md-topic", 3);
        let md = c.metadata(Some(&["md-topic".to_string()]), T).unwrap();
        assert_eq!(md.brokers.len(), 1);
        let port: i32 = bootstrap().rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(md.brokers[0].port, port);
        assert_eq!(md.topics.len(), 1);
        let t = &md.topics[0];
        assert_eq!((t.name.as_str(), t.error_code), ("md-topic", 0));
        assert_eq!(t.partitions.len(), 3);
        for (i, p) in t.partitions.iter().enumerate() {
            assert_eq!(p.partition, i as i32);
            assert_eq!(p.leader, md.brokers[0].id);
        }
    });
}

#[test]
fn create_existing_topic_reports_topic_already_exists() {
    bounded(|| {
        let c = client();
        create(&c, "dup-topic", 1);
        let r = c
            .create_topics(
                &[NewTopic {
                    name: "dup-topic".into(),
                    num_partitions: 1,
                    replication_factor: 1,
                    configs: vec![],
                }],
                T,
            )
            .unwrap();
        let e = r[0].error.as_ref().expect("second create must fail");
        assert_eq!(e.code, 36, "{e}");
        assert!(
            e.message.contains("TOPIC_ALREADY_EXISTS") && e.message.contains("dup-topic"),
            "{e}"
        );
    });
}

fn round_trip(c: &Client, topic: &str, partition: i32, codec: Compression) {
    let hdr = [
        RecordHeaderIn {
            key: b"h1",
            value: Some(b"v1"),
        },
        RecordHeaderIn {
            key: b"null-header",
            value: None,
        },
    ];
    let values: Vec<Vec<u8>> = (0..200)
        .map(|i| format!("value-{i}-{}", "x".repeat(i % 50)).into_bytes())
        .collect();
    let mut recs: Vec<RecordIn> = values
        .iter()
        .enumerate()
        .map(|(i, v)| RecordIn {
            key: Some(v.as_slice()).filter(|_| i % 3 != 0),
            value: Some(v.as_slice()),
            headers: if i % 2 == 0 { &hdr } else { &[] },
            timestamp: Some(1_700_000_000_000 + i as i64),
        })
        .collect();
    recs.push(RecordIn {
        key: Some(b""),
        value: None,
        headers: &[],
        timestamp: None,
    });
    recs.push(RecordIn {
        key: None,
        value: Some(b""),
        headers: &[],
        timestamp: None,
    });
    let before = now_ms();
    let base = c.produce(topic, partition, &recs, -1, codec, T).unwrap();
    let after = now_ms();
    let got = fetch_n(c, topic, partition, base, recs.len());
    assert_eq!(got.len(), recs.len());
    for (i, (r, g)) in recs.iter().zip(&got).enumerate() {
        assert_eq!(g.0, base + i as i64, "{codec:?} offset");
        assert_eq!(g.1.as_deref(), r.key, "{codec:?} key {i}");
        assert_eq!(g.2.as_deref(), r.value, "{codec:?} value {i}");
        let want: Vec<_> = r
            .headers
            .iter()
            .map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(g.3, want, "{codec:?} headers {i}");
        match r.timestamp {
            Some(ts) => assert_eq!(g.4, ts, "{codec:?} timestamp {i}"),
            // Stamped by the client while producing.
            None => assert!(
                (before..=after).contains(&g.4),
                "{codec:?} timestamp {i}: {} not within {before}..={after}",
                g.4
            ),
        }
    }
}

#[test]
fn produce_and_fetch_every_partition_and_codec() {
    bounded(|| {
        let c = client();
        create(&c, "rt-topic", 3);
        let codecs = [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ];
        for (i, codec) in codecs.iter().enumerate() {
            round_trip(&c, "rt-topic", (i % 3) as i32, *codec);
        }
    });
}

#[test]
fn list_offsets_earliest_latest_and_by_timestamp() {
    bounded(|| {
        // Tansu 0.6.0 answers ListOffsets "latest" with the last batch's base offset + 1 and
        // looks timestamps up per batch, so this test sends one record per batch, where both
        // are exact. The mock-cluster tests check multi-record batches.
        let c = client();
        create(&c, "off-topic", 1);
        // Tansu indexes the time it appended a batch, so the lookup time is taken between
        // two groups of produce calls rather than from record timestamps.
        let mut base = -1;
        let mut middle = 0;
        for i in 0..10 {
            if i == 6 {
                std::thread::sleep(Duration::from_millis(30));
                middle = now_ms();
                std::thread::sleep(Duration::from_millis(30));
            }
            let r = [RecordIn {
                key: None,
                value: Some(b"v"),
                headers: &[],
                timestamp: None,
            }];
            let o = c
                .produce("off-topic", 0, &r, 1, Compression::None, T)
                .unwrap();
            if base < 0 {
                base = o;
            }
        }
        let earliest = c
            .list_offsets("off-topic", 0, OffsetSpec::Earliest, T)
            .unwrap();
        let latest = c
            .list_offsets("off-topic", 0, OffsetSpec::Latest, T)
            .unwrap();
        assert_eq!(earliest.offset, base);
        assert_eq!(latest.offset, base + 10);
        let at = c
            .list_offsets("off-topic", 0, OffsetSpec::Timestamp(middle), T)
            .unwrap();
        assert_eq!(at.offset, base + 6, "{at:?}");
        let e = c
            .list_offsets("off-topic", 0, OffsetSpec::Timestamp(-5), T)
            .unwrap_err();
        assert_eq!(e.code, local::INVALID_ARG);
    });
}

#[test]
fn unknown_topic_and_partition_fail_within_the_timeout() {
    bounded(|| {
        // Backoffs of at most 100 ms, so that giving up (when the next backoff would pass
        // the deadline) comes within 100 ms of the timeout.
        let mut cfg = Config::new();
        cfg.set("bootstrap.servers", bootstrap()).unwrap();
        cfg.set("retry.backoff.ms", "50").unwrap();
        cfg.set("retry.backoff.max.ms", "100").unwrap();
        let c = Client::new(&cfg).unwrap();
        let r = [RecordIn {
            key: None,
            value: Some(b"a"),
            headers: &[],
            timestamp: None,
        }];
        // Tansu creates no topics on its own: UNKNOWN_TOPIC_OR_PARTITION is retriable (a
        // topic created a moment ago may not be known everywhere yet), so the client asks
        // again until its timeout and then gives up with the code.
        let started = Instant::now();
        let e = c
            .produce(
                "no-such-topic",
                0,
                &r,
                -1,
                Compression::None,
                Duration::from_millis(800),
            )
            .unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(e.code, 3, "{e}");
        assert!(e.message.contains("no-such-topic"), "{e}");
        assert!(attempts(&e.message) >= 2, "{e}");
        assert!(
            elapsed >= Duration::from_millis(700),
            "gave up after {elapsed:?}, before its 800 ms timeout was near: {e}"
        );
        create(&c, "one-part", 1);
        let e = c
            .produce("one-part", 7, &r, -1, Compression::None, T)
            .unwrap_err();
        assert_eq!(e.code, local::UNKNOWN_PARTITION, "{e}");
        // A partition the topic's metadata lacks is not retried.
        assert!(!e.message.contains("gave up"), "{e}");
    });
}

#[test]
fn delete_topic_removes_it() {
    bounded(|| {
        let c = client();
        create(&c, "del-topic", 1);
        let r = c.delete_topics(&["del-topic".to_string()], T).unwrap();
        assert!(r[0].error.is_none(), "{:?}", r[0].error);
        let md = c.metadata(Some(&["del-topic".to_string()]), T).unwrap();
        assert_eq!(md.topics.len(), 1);
        assert_eq!(md.topics[0].error_code, 3, "deleted topic is unknown");
        let r = c.delete_topics(&["del-topic".to_string()], T).unwrap();
        assert_eq!(r[0].error.as_ref().map(|e| e.code), Some(3));
    });
}

#[test]
fn acks_zero_sends_without_waiting() {
    bounded(|| {
        let c = client();
        create(&c, "acks0", 1);
        let r = [RecordIn {
            key: None,
            value: Some(b"fire-and-forget"),
            headers: &[],
            timestamp: None,
        }];
        for _ in 0..3 {
            assert_eq!(
                c.produce("acks0", 0, &r, 0, Compression::None, T).unwrap(),
                -1
            );
        }
        // The records arrive, and the requests that follow on the same connection are not
        // disturbed (Tansu answers acks=0 produce requests; Kafka brokers do not).
        common::wait_until(Duration::from_secs(10), "acks=0 records visible", || {
            c.list_offsets("acks0", 0, OffsetSpec::Latest, T)
                .unwrap()
                .offset
                >= 3
        });
        assert_eq!(
            c.produce("acks0", 0, &r, -1, Compression::None, T).unwrap(),
            3
        );
    });
}

#[test]
fn many_threads_share_one_client() {
    bounded(|| {
        let c = std::sync::Arc::new(client());
        create(&c, "threads", 4);
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..20 {
                        let v = format!("t{t}-{i}");
                        let r = [RecordIn {
                            key: None,
                            value: Some(v.as_bytes()),
                            headers: &[],
                            timestamp: None,
                        }];
                        c.produce("threads", t % 4, &r, -1, Compression::None, T)
                            .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // Threads t and t + 4 write to partition t % 4: 40 records each.
        let ends: Vec<i64> = (0..4)
            .map(|p| {
                c.list_offsets("threads", p, OffsetSpec::Latest, T)
                    .unwrap()
                    .offset
            })
            .collect();
        assert_eq!(ends, [40; 4]);
    });
}

#[test]
fn broker_restart_is_survived_by_reconnecting() {
    bounded(|| {
        // A broker of its own, with its data in SQLite so it outlives the restart.
        let dir = common::scratch_dir("restart");
        let mut broker = Tansu::start_sqlite(dir.join("kafkac.db"));
        let mut cfg = Config::new();
        cfg.set("bootstrap.servers", &broker.bootstrap).unwrap();
        cfg.set("retry.backoff.ms", "50").unwrap();
        let c = Client::new(&cfg).unwrap();
        create(&c, "durable", 1);
        let r = [RecordIn {
            key: Some(b"k"),
            value: Some(b"before"),
            headers: &[],
            timestamp: None,
        }];
        assert_eq!(
            c.produce("durable", 0, &r, -1, Compression::None, T)
                .unwrap(),
            0
        );
        broker.restart();
        // The old connection is dead; the next call sees the transport error, reconnects
        // and succeeds within its timeout.
        let r = [RecordIn {
            key: Some(b"k"),
            value: Some(b"after"),
            headers: &[],
            timestamp: None,
        }];
        assert_eq!(
            c.produce("durable", 0, &r, -1, Compression::Zstd, T)
                .unwrap(),
            1
        );
        let values: Vec<_> = fetch_n(&c, "durable", 0, 0, 2)
            .into_iter()
            .map(|r| r.2)
            .collect();
        assert_eq!(values, [Some(b"before".to_vec()), Some(b"after".to_vec())]);
    });
}

#[test]
fn bootstrap_tries_each_address_until_one_answers() {
    bounded(|| {
        // A closed port first, then the broker by name: "localhost" may resolve to ::1 (where
        // nothing listens) before 127.0.0.1, so every address of every entry is tried.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let port = bootstrap().rsplit(':').next().unwrap();
        let mut cfg = Config::new();
        cfg.set(
            "bootstrap.servers",
            &format!("127.0.0.1:{closed}, localhost:{port}"),
        )
        .unwrap();
        let c = Client::new(&cfg).unwrap();
        let md = c.metadata(None, T).unwrap();
        assert_eq!(md.brokers.len(), 1);
        assert_eq!(md.brokers[0].port.to_string(), port);
    });
}
