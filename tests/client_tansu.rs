//! The Rust client end to end against a real Tansu broker on loopback.

mod common;

use common::client::{
    assert_create_again_fails, attempts, client_with, create_topic, produce_from_eight_threads,
};
use common::records::{compressions, now_ms, record, Reader};
use common::Tansu;
use kafkac::client::OffsetSpec;
use kafkac::error::local;
use kafkac::record::Compression;
use kafkac::{Client, Config};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);
/// Limit for one whole test (a broker start included).
const TEST_LIMIT: Duration = Duration::from_secs(90);
/// Reading records back: what Tansu acknowledged is below the high watermark at once.
const READ: Reader = Reader {
    timeout: T,
    high_watermark_covers: true,
};

/// Runs a test body under [`TEST_LIMIT`].
fn bounded(f: impl FnOnce() + Send + 'static) {
    common::with_timeout(TEST_LIMIT, f)
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
    common::client::client(bootstrap())
}

fn create(c: &Client, name: &str, partitions: i32) {
    create_topic(c, name, partitions, 1, &[], T);
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
        assert_create_again_fails(&c, "dup-topic", T);
    });
}

#[test]
fn produce_and_fetch_every_partition_and_codec() {
    bounded(|| {
        let c = client();
        create(&c, "rt-topic", 3);
        for (i, codec) in compressions().into_iter().enumerate() {
            READ.round_trip(&c, "rt-topic", (i % 3) as i32, codec);
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
            let r = [record(None, Some(b"v"))];
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
        let c = client_with(bootstrap(), &[("retry.backoff.max.ms", "100")]);
        let r = [record(None, Some(b"a"))];
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
                Duration::from_secs(2),
            )
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(e.message.contains("no-such-topic"), "{e}");
        if e.code == local::TIMED_OUT {
            // The deadline came while the last attempt waited for a slow answer: the
            // error names the one the attempt before it got.
            assert!(e.message.contains("UNKNOWN_TOPIC_OR_PARTITION (3)"), "{e}");
        } else {
            assert_eq!(e.code, 3, "{e}");
            assert!(attempts(&e.message) >= 2, "{e}");
        }
        assert!(
            elapsed >= Duration::from_millis(1800),
            "gave up after {elapsed:?}, before its 2 s timeout was near: {e}"
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
        let r = [record(None, Some(b"fire-and-forget"))];
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
        produce_from_eight_threads(&c, "threads", T);
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
        let c = common::client::client(&broker.bootstrap);
        create(&c, "durable", 1);
        let r = [record(Some(b"k"), Some(b"before"))];
        assert_eq!(
            c.produce("durable", 0, &r, -1, Compression::None, T)
                .unwrap(),
            0
        );
        broker.restart();
        // The old connection is dead; the next call sees the transport error, reconnects
        // and succeeds within its timeout.
        let r = [record(Some(b"k"), Some(b"after"))];
        assert_eq!(
            c.produce("durable", 0, &r, -1, Compression::Zstd, T)
                .unwrap(),
            1
        );
        let values: Vec<_> = READ
            .fetch_n(&c, "durable", 0, 0, 2)
            .into_iter()
            .map(|r| r.value)
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
