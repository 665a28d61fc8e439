//! The Rust client against librdkafka's mock cluster: three brokers, old non-flexible API
//! versions (Metadata v2 at most), partitions led by different brokers, and injected
//! faults (leader moves, broker down, request errors).

mod common;

use common::client::{attempts, client_with};
use common::records::{compressions, Reader};
use common::MockCluster;
use kafkac::client::OffsetSpec;
use kafkac::error::local;
use kafkac::record::{Compression, RecordIn};
use kafkac::Client;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(15);
/// Limit for one whole test.
const TEST_LIMIT: Duration = Duration::from_secs(60);
const PRODUCE: i16 = 0;
const FETCH: i16 = 1;
/// Reading records back.
const READ: Reader = Reader {
    timeout: T,
    high_watermark_covers: false,
};

fn client(mock: &MockCluster) -> Client {
    client_with(
        &mock.bootstrap,
        &[
            ("retry.backoff.ms", "20"),
            ("retry.backoff.max.ms", "200"),
            ("socket.connection.setup.timeout.ms", "1000"),
        ],
    )
}

fn rec(v: &[u8]) -> RecordIn<'_> {
    RecordIn {
        key: Some(b"k"),
        value: Some(v),
        headers: &[],
        timestamp: None,
    }
}

/// Runs a test body under [`TEST_LIMIT`].
fn bounded(f: impl FnOnce() + Send + 'static) {
    common::with_timeout(TEST_LIMIT, f)
}

/// The values of the first `n` records of `topic`/`p` (the mock returns one batch per
/// fetch); fails if they are not all there within `T`.
fn fetch_values(c: &Client, topic: &str, p: i32, n: usize) -> Vec<Vec<u8>> {
    READ.fetch_n(c, topic, p, 0, n)
        .into_iter()
        .map(|g| g.value.unwrap_or_else(|| panic!("{topic}/{p}: null value")))
        .collect()
}

fn leader_of(c: &Client, topic: &str, p: i32) -> i32 {
    let md = c.metadata(Some(&[topic.to_string()]), T).unwrap();
    md.topics[0].partitions[p as usize].leader
}

#[test]
fn metadata_on_three_brokers_with_spread_leaders() {
    bounded(|| {
        let mut mock = MockCluster::start(3);
        mock.create_topic("spread", 6, 3);
        let c = client(&mock);
        let md = c.metadata(Some(&["spread".to_string()]), T).unwrap();
        let ids: Vec<i32> = md.brokers.iter().map(|b| b.id).collect();
        assert_eq!(ids, [1, 2, 3]);
        for b in &md.brokers {
            assert_eq!(format!("{}:{}", b.host, b.port), mock.broker(b.id));
        }
        let t = &md.topics[0];
        assert_eq!(t.partitions.len(), 6);
        let mut leaders: Vec<i32> = t.partitions.iter().map(|p| p.leader).collect();
        leaders.sort();
        leaders.dedup();
        assert!(
            leaders.len() > 1,
            "leaders spread over brokers: {leaders:?}"
        );
        assert!(t.partitions.iter().all(|p| p.replicas.len() == 3));
    });
}

#[test]
fn produce_fetch_and_offsets_on_every_partition() {
    bounded(|| {
        let mut mock = MockCluster::start(3);
        mock.create_topic("all-parts", 4, 2);
        let c = client(&mock);
        for p in 0..4 {
            for codec in compressions() {
                let v = format!("p{p}-{codec:?}");
                let recs = [rec(v.as_bytes()), rec(b"second")];
                let base = c.produce("all-parts", p, &recs, -1, codec, T).unwrap();
                let f = c
                    .fetch("all-parts", p, base, 1 << 20, Duration::from_millis(100), T)
                    .unwrap();
                let got: Vec<_> = f.records.iter().filter(|r| r.offset >= base).collect();
                assert_eq!(got.len(), 2, "p{p} {codec:?}");
                assert_eq!(got[0].offset, base);
                assert_eq!(got[0].value, Some(v.as_bytes()));
                assert_eq!(got[0].key, Some(&b"k"[..]));
                assert_eq!(got[1].value, Some(&b"second"[..]));
            }
            let e = c
                .list_offsets("all-parts", p, OffsetSpec::Earliest, T)
                .unwrap();
            let l = c
                .list_offsets("all-parts", p, OffsetSpec::Latest, T)
                .unwrap();
            assert_eq!((e.offset, l.offset), (0, 10), "partition {p}");
        }
    });
}

#[test]
fn fetch_out_of_range_offset_returns_its_kafka_code() {
    bounded(|| {
        let mut mock = MockCluster::start(1);
        mock.create_topic("oor", 1, 1);
        let c = client(&mock);
        c.produce("oor", 0, &[rec(b"a")], -1, Compression::None, T)
            .unwrap();
        let e = c
            .fetch("oor", 0, 1_000_000, 1 << 20, Duration::from_millis(10), T)
            .err()
            .expect("offset beyond the log");
        assert_eq!(e.code, 1, "{e}");
        assert!(
            e.message.contains("OFFSET_OUT_OF_RANGE") && e.message.contains("oor/0"),
            "{e}"
        );
    });
}

#[test]
fn offsets_after_multi_record_batches() {
    bounded(|| {
        let mut mock = MockCluster::start(1);
        mock.create_topic("ts", 1, 1);
        let c = client(&mock);
        let recs: Vec<RecordIn> = (0..10)
            .map(|i| RecordIn {
                key: None,
                value: Some(b"v"),
                headers: &[],
                timestamp: Some(2_000_000 + i * 1000),
            })
            .collect();
        c.produce("ts", 0, &recs[..5], 1, Compression::None, T)
            .unwrap();
        c.produce("ts", 0, &recs[5..], 1, Compression::Lz4, T)
            .unwrap();
        let l = c.list_offsets("ts", 0, OffsetSpec::Latest, T).unwrap();
        assert_eq!(l.offset, 10);
        // The mock answers timestamp lookups with -1; Tansu's tests cover them.
        let e = c.list_offsets("ts", 0, OffsetSpec::Earliest, T).unwrap();
        assert_eq!(e.offset, 0);
    });
}

#[test]
fn fetch_many_splits_across_leaders() {
    bounded(|| {
        let mut mock = MockCluster::start(3);
        mock.create_topic("multi", 3, 1);
        for p in 0..3 {
            mock.set_leader("multi", p, p + 1);
        }
        let c = client(&mock);
        for p in 0..3 {
            let v = format!("from-{p}");
            c.produce("multi", p, &[rec(v.as_bytes())], 1, Compression::None, T)
                .unwrap();
        }
        let specs: Vec<_> = (0..3)
            .map(|p| kafkac::client::FetchRequestSpec {
                topic: "multi".into(),
                partition: p,
                offset: 0,
                max_bytes: 1 << 20,
            })
            .collect();
        let rs = c.fetch_many(&specs, Duration::from_millis(100), T);
        for (p, r) in rs.into_iter().enumerate() {
            let r = r.unwrap();
            assert_eq!(r.partition, p as i32);
            assert_eq!(
                r.records.get(0).unwrap().value,
                Some(format!("from-{p}").as_bytes())
            );
        }
        // List offsets the same way, with an invalid query and a partition that does not
        // exist among them: each answer stands on its own.
        let mut queries: Vec<_> = (0..3)
            .map(|p| kafkac::client::OffsetQuery {
                topic: "multi".into(),
                partition: p,
                spec: if p == 1 {
                    OffsetSpec::Earliest
                } else {
                    OffsetSpec::Latest
                },
            })
            .collect();
        queries.push(kafkac::client::OffsetQuery {
            topic: "multi".into(),
            partition: 0,
            spec: OffsetSpec::Timestamp(-7),
        });
        queries.push(kafkac::client::OffsetQuery {
            topic: "multi".into(),
            partition: 9,
            spec: OffsetSpec::Latest,
        });
        let rs = c.list_offsets_many(&queries, T);
        assert_eq!(rs[0].as_ref().unwrap().offset, 1);
        assert_eq!(rs[1].as_ref().unwrap().offset, 0);
        assert_eq!(rs[2].as_ref().unwrap().offset, 1);
        assert_eq!(rs[3].as_ref().unwrap_err().code, local::INVALID_ARG);
        assert_eq!(rs[4].as_ref().unwrap_err().code, local::UNKNOWN_PARTITION);
    });
}

#[test]
fn leader_moved_between_produce_calls() {
    bounded(|| {
        let mut mock = MockCluster::start(3);
        mock.create_topic("moving", 1, 3);
        let c = client(&mock);
        let first = leader_of(&c, "moving", 0);
        c.produce("moving", 0, &[rec(b"a")], -1, Compression::None, T)
            .unwrap();
        let next = first % 3 + 1;
        mock.set_leader("moving", 0, next);
        // The cached leader now answers NOT_LEADER_OR_FOLLOWER; the client refreshes and retries.
        let off = c
            .produce("moving", 0, &[rec(b"b")], -1, Compression::None, T)
            .unwrap();
        assert_eq!(off, 1);
        assert_eq!(leader_of(&c, "moving", 0), next);
        assert_eq!(
            fetch_values(&c, "moving", 0, 2),
            [b"a".to_vec(), b"b".to_vec()]
        );
    });
}

#[test]
fn broker_down_then_leader_moves_and_produce_succeeds() {
    bounded(|| {
        let mut mock = MockCluster::start(3);
        mock.create_topic("down", 1, 3);
        let c = client(&mock);
        let first = leader_of(&c, "down", 0);
        c.produce("down", 0, &[rec(b"a")], -1, Compression::None, T)
            .unwrap();
        mock.broker_down(first);
        let next = first % 3 + 1;
        let mover = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let moving = Instant::now();
            mock.set_leader("down", 0, next);
            (mock, moving)
        });
        // The leader is down until the mover names another one: the produce can only
        // succeed by retrying (refreshing metadata) past that moment.
        let off = c
            .produce("down", 0, &[rec(b"b")], -1, Compression::None, T)
            .unwrap();
        let done = Instant::now();
        let (_mock, moving) = mover.join().unwrap();
        assert_eq!(off, 1);
        assert!(
            done > moving,
            "produce succeeded before the leader moved off the down broker {first}"
        );
        assert_eq!(leader_of(&c, "down", 0), next);
        assert_eq!(
            fetch_values(&c, "down", 0, 2),
            [b"a".to_vec(), b"b".to_vec()]
        );
    });
}

#[test]
fn injected_retriable_errors_are_retried() {
    bounded(|| {
        let mut mock = MockCluster::start(3);
        mock.create_topic("flaky", 1, 3);
        let c = client(&mock);
        c.produce("flaky", 0, &[rec(b"warm-up")], -1, Compression::None, T)
            .unwrap();
        // NOT_LEADER_OR_FOLLOWER (6) then REQUEST_TIMED_OUT (7), then success.
        mock.push_errors(PRODUCE, &[6, 7]);
        let off = c
            .produce("flaky", 0, &[rec(b"x")], -1, Compression::None, T)
            .unwrap();
        assert_eq!(off, 1);
        mock.push_errors(FETCH, &[6, 6]);
        assert_eq!(
            fetch_values(&c, "flaky", 0, 2),
            [b"warm-up".to_vec(), b"x".to_vec()]
        );
    });
}

#[test]
fn injected_non_retriable_error_comes_back_at_once() {
    bounded(|| {
        let mut mock = MockCluster::start(3);
        mock.create_topic("denied", 1, 3);
        let c = client(&mock);
        c.produce("denied", 0, &[rec(b"warm-up")], -1, Compression::None, T)
            .unwrap();
        // TOPIC_AUTHORIZATION_FAILED (29) is not retriable.
        // One error is pushed: a retry would have succeeded, so the error itself shows
        // that there was none.
        mock.push_errors(PRODUCE, &[29]);
        let e = c
            .produce("denied", 0, &[rec(b"x")], -1, Compression::None, T)
            .unwrap_err();
        assert_eq!(e.code, 29, "{e}");
        assert!(
            e.message.contains("TOPIC_AUTHORIZATION_FAILED") && e.message.contains("denied/0"),
            "{e}"
        );
        assert!(!e.message.contains("gave up"), "{e}");
        // Nothing was written, and the next produce goes through.
        let end = c.list_offsets("denied", 0, OffsetSpec::Latest, T).unwrap();
        assert_eq!(end.offset, 1);
        assert_eq!(
            c.produce("denied", 0, &[rec(b"y")], -1, Compression::None, T)
                .unwrap(),
            1
        );
    });
}

#[test]
fn retriable_errors_beyond_the_timeout_give_up_with_the_code() {
    bounded(|| {
        let mut mock = MockCluster::start(1);
        mock.create_topic("stuck", 1, 1);
        let c = client(&mock);
        c.produce("stuck", 0, &[rec(b"warm-up")], -1, Compression::None, T)
            .unwrap();
        // More errors than fit in the timeout: 40 retries would take seconds with
        // backoffs of 20 ms doubling up to 200 ms.
        mock.push_errors(PRODUCE, &[7; 40]);
        let started = Instant::now();
        let e = c
            .produce(
                "stuck",
                0,
                &[rec(b"x")],
                -1,
                Compression::None,
                Duration::from_millis(600),
            )
            .unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(e.code, 7, "{e}");
        assert!(attempts(&e.message) >= 2, "{e}");
        // It gives up only when the next backoff (200 ms at most) would pass the
        // deadline, so it kept retrying for at least 600 - 200 ms.
        assert!(
            elapsed >= Duration::from_millis(400),
            "gave up after {elapsed:?}, before its 600 ms timeout was near: {e}"
        );
        mock.clear_errors(PRODUCE);
        // None of the failed attempts wrote the record.
        assert_eq!(
            c.produce("stuck", 0, &[rec(b"y")], -1, Compression::None, T)
                .unwrap(),
            1
        );
    });
}

#[test]
fn negotiation_uses_old_versions_and_reports_missing_apis() {
    bounded(|| {
        let mock = MockCluster::start(1);
        let c = client(&mock);
        // The mock speaks Metadata v2 at most and no CreateTopics.
        let md = c.metadata(None, T).unwrap();
        assert_eq!(md.brokers.len(), 1);
        let e = c
            .create_topics(
                &[kafkac::client::NewTopic {
                    name: "x".into(),
                    num_partitions: 1,
                    replication_factor: 1,
                    configs: vec![],
                }],
                T,
            )
            .unwrap_err();
        assert_eq!(e.code, local::UNSUPPORTED_FEATURE, "{e}");
        assert!(e.message.contains("CreateTopics"), "{e}");
    });
}

#[test]
fn threads_pipeline_requests_on_one_connection() {
    bounded(|| {
        // Every response of the broker is delayed by one second. Eight threads producing
        // through one client at once finish in about one delay when their requests share
        // the connection in flight; queued one behind another they need at least eight.
        // The bound sits halfway, so a loaded machine has four seconds to spare.
        const RTT: Duration = Duration::from_secs(1);
        let mut mock = MockCluster::start(1);
        mock.create_topic("piped", 1, 1);
        let c = std::sync::Arc::new(client(&mock));
        c.produce("piped", 0, &[rec(b"warm-up")], -1, Compression::None, T)
            .unwrap();
        mock.set_rtt(1, RTT.as_millis() as u32);
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let c = c.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let v = format!("t{i}");
                    barrier.wait();
                    let started = Instant::now();
                    let off = c
                        .produce("piped", 0, &[rec(v.as_bytes())], -1, Compression::None, T)
                        .unwrap();
                    (off, started, Instant::now())
                })
            })
            .collect();
        let done: Vec<(i64, Instant, Instant)> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        let first_start = done.iter().map(|d| d.1).min().unwrap();
        let last_end = done.iter().map(|d| d.2).max().unwrap();
        let elapsed = last_end - first_start;
        let mut offsets: Vec<i64> = done.iter().map(|d| d.0).collect();
        offsets.sort();
        assert_eq!(offsets, (1..=8).collect::<Vec<i64>>());
        eprintln!("8 pipelined produce calls with {RTT:?} delay: {elapsed:?}");
        assert!(
            elapsed >= RTT,
            "8 produce calls took {elapsed:?}, less than one delayed response ({RTT:?})"
        );
        assert!(
            elapsed < RTT * 4,
            "requests were serialized: {elapsed:?} for 8 x {RTT:?}"
        );
    });
}

#[test]
fn fetch_from_inside_a_batch_starts_at_the_offset_asked_for() {
    bounded(|| {
        let mut mock = MockCluster::start(1);
        mock.create_topic("mid", 1, 1);
        let c = client(&mock);
        let values: Vec<String> = (0..5).map(|i| format!("v{i}")).collect();
        let recs: Vec<RecordIn> = values.iter().map(|v| rec(v.as_bytes())).collect();
        c.produce("mid", 0, &recs, -1, Compression::Zstd, T)
            .unwrap();
        let f = c
            .fetch("mid", 0, 2, 1 << 20, Duration::from_millis(50), T)
            .unwrap();
        let got: Vec<(i64, &[u8])> = f
            .records
            .iter()
            .map(|r| (r.offset, r.value.unwrap()))
            .collect();
        assert_eq!(got, [(2, &b"v2"[..]), (3, b"v3"), (4, b"v4")]);
        assert_eq!(f.records.next_offset(), Some(5));
    });
}
