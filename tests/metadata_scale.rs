//! Metadata as a shared snapshot: what leader lookups, retry rounds and concurrent
//! misses cost, counted in Metadata requests and topic copies (the cluster's counters),
//! never asserted with timings. Times are printed (`-- --nocapture`).
//!
//! * A NOT_LEADER round on 300 partitions costs one Metadata request (librdkafka's mock
//!   cluster moves the leaders).
//! * Concurrent misses on one topic share one Metadata request.
//! * One Apache Kafka node with a 4,000-partition topic: metadata, list offsets for every
//!   partition and a fetch from every partition each cost O(partitions): a fixed number
//!   of Metadata requests and no topic copies.

mod common;

use common::kafka::KafkaCluster;
use common::{with_timeout, MockCluster};
use kafkac::client::{FetchRequestSpec, NewTopic, OffsetQuery, OffsetSpec};
use kafkac::{Client, Config};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn client(bootstrap: &str) -> Client {
    let mut c = Config::new();
    c.set("bootstrap.servers", bootstrap).unwrap();
    c.set("retry.backoff.ms", "20").unwrap();
    Client::new(&c).unwrap()
}

fn metadata_requests(c: &Client) -> u64 {
    c.cluster()
        .stats()
        .metadata_requests
        .load(Ordering::Relaxed)
}

fn topic_copies(c: &Client) -> u64 {
    c.cluster().stats().topic_copies.load(Ordering::Relaxed)
}

fn latest_queries(topic: &str, n: i32) -> Vec<OffsetQuery> {
    (0..n)
        .map(|partition| OffsetQuery {
            topic: topic.into(),
            partition,
            spec: OffsetSpec::Latest,
        })
        .collect()
}

#[test]
fn a_not_leader_round_on_300_partitions_costs_one_metadata_request() {
    with_timeout(Duration::from_secs(120), || {
        let mut mock = MockCluster::start(3);
        mock.create_topic("storm", 300, 3);
        for p in 0..300 {
            mock.set_leader("storm", p, 1);
        }
        let c = client(&mock.bootstrap);
        // Fetch (the mock's ListOffsets leaves partitions out of large answers).
        let specs: Vec<FetchRequestSpec> = (0..300)
            .map(|partition| FetchRequestSpec {
                topic: "storm".into(),
                partition,
                offset: 0,
                max_bytes: 1024,
            })
            .collect();
        for r in c.fetch_many(&specs, Duration::ZERO, T) {
            assert_eq!(r.unwrap_or_else(|e| panic!("{e}")).high_watermark, 0);
        }
        // Every leader moves to broker 2: broker 1 answers NOT_LEADER_OR_FOLLOWER (or
        // the like) for all 300, and the next round must find them all with one Metadata request.
        for p in 0..300 {
            mock.set_leader("storm", p, 2);
        }
        let before = metadata_requests(&c);
        let t0 = Instant::now();
        for r in c.fetch_many(&specs, Duration::ZERO, T) {
            assert_eq!(r.unwrap_or_else(|e| panic!("{e}")).high_watermark, 0);
        }
        let took = t0.elapsed();
        let cost = metadata_requests(&c) - before;
        println!("leader move of 300 partitions: {cost} Metadata request(s), {took:?}");
        assert_eq!(cost, 1, "Metadata requests for one NOT_LEADER round");
        let md = c.metadata(Some(&["storm".to_string()]), T).unwrap();
        assert!(md.topics[0].partitions.iter().all(|p| p.leader == 2));
    })
}

#[test]
fn concurrent_misses_share_one_metadata_request() {
    with_timeout(Duration::from_secs(60), || {
        let mut mock = MockCluster::start(1);
        mock.create_topic("shared-miss", 8, 1);
        let c = Arc::new(client(&mock.bootstrap));
        // Connect first, so the threads race on the metadata only.
        c.metadata(Some(&[]), T).unwrap();
        let before = metadata_requests(&c);
        let start = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|p| {
                let (c, start) = (c.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let deadline = Instant::now() + T;
                    c.cluster()
                        .leader("shared-miss", p, false, deadline)
                        .unwrap()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 1);
        }
        assert_eq!(
            metadata_requests(&c) - before,
            1,
            "one request for 8 misses"
        );
        assert_eq!(topic_copies(&c), 0);
    })
}

#[test]
fn known_topics_are_refreshed_in_the_background() {
    with_timeout(Duration::from_secs(60), || {
        let mut mock = MockCluster::start(2);
        mock.create_topic("bg", 2, 1);
        mock.set_leader("bg", 0, 1);
        let mut cfg = Config::new();
        cfg.set("bootstrap.servers", &mock.bootstrap).unwrap();
        cfg.set("topic.metadata.refresh.interval.ms", "200")
            .unwrap();
        let c = Client::new(&cfg).unwrap();
        let deadline = Instant::now() + T;
        assert_eq!(c.cluster().leader("bg", 0, false, deadline).unwrap(), 1);
        let before = metadata_requests(&c);
        // No call from the application: the refresh thread notices the move.
        mock.set_leader("bg", 0, 2);
        common::wait_until(Duration::from_secs(10), "background refresh", || {
            let snap = c.cluster().snapshot();
            snap.topic("bg")
                .and_then(|t| t.partition(0).map(|p| p.leader))
                == Some(2)
        });
        assert!(metadata_requests(&c) > before);
        // And stops with the client, promptly.
        let t = Instant::now();
        drop(c);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "free took {:?}",
            t.elapsed()
        );
    })
}

/// Raises this process's open-file limit (the broker inherits it): a node with
/// thousands of partitions holds thousands of segment files open.
fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = want;
            lim.rlim_max = lim.rlim_max.max(want);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    assert!(
        lim.rlim_cur >= want,
        "open-file limit {} is below the {want} a 4,000-partition broker needs",
        lim.rlim_cur
    );
}

#[test]
fn four_thousand_partitions_cost_o_of_partitions() {
    const N: i32 = 4000;
    with_timeout(Duration::from_secs(480), || {
        raise_nofile(16_384);
        let k = KafkaCluster::start_with(
            1,
            &[
                ("num.io.threads", "4"),
                ("log.index.size.max.bytes", "65536"),
            ],
        );
        let c = client(&k.bootstrap);
        let t0 = Instant::now();
        let r = c
            .create_topics(
                &[NewTopic {
                    name: "wide".into(),
                    num_partitions: N,
                    replication_factor: 1,
                    configs: vec![],
                }],
                Duration::from_secs(120),
            )
            .unwrap();
        assert!(r[0].error.is_none(), "{:?}", r[0].error);
        common::wait_until(Duration::from_secs(240), "4,000 leaders", || {
            c.metadata(Some(&["wide".to_string()]), T)
                .map(|md| {
                    md.topics[0].partitions.len() == N as usize
                        && md.topics[0].partitions.iter().all(|p| p.leader == 1)
                })
                .unwrap_or(false)
        });
        // The controller has the leaders at once; the broker creates the logs after.
        common::wait_until(Duration::from_secs(300), "4,000 partitions serving", || {
            c.list_offsets_many(&latest_queries("wide", N), T)
                .iter()
                .all(|o| o.as_ref().is_ok_and(|o| o.offset == 0))
        });
        println!(
            "create 4,000 partitions until all serve: {:?}",
            t0.elapsed()
        );

        // A fresh client: every cost below is counted from zero.
        let c = client(&k.bootstrap);
        let t = Instant::now();
        let md = c.metadata(Some(&["wide".to_string()]), T).unwrap();
        assert_eq!(md.topics[0].partitions.len(), N as usize);
        println!("metadata of 4,000 partitions: {:?}", t.elapsed());
        assert_eq!(metadata_requests(&c), 1);

        let t = Instant::now();
        let offs = c.list_offsets_many(&latest_queries("wide", N), T);
        println!("list offsets of 4,000 partitions: {:?}", t.elapsed());
        assert_eq!(offs.len(), N as usize);
        for o in offs {
            assert_eq!(o.unwrap().offset, 0);
        }
        let specs: Vec<FetchRequestSpec> = (0..N)
            .map(|partition| FetchRequestSpec {
                topic: "wide".into(),
                partition,
                offset: 0,
                max_bytes: 1024,
            })
            .collect();
        let t = Instant::now();
        let fetched = c.fetch_many(&specs, Duration::ZERO, T);
        println!("fetch from 4,000 partitions: {:?}", t.elapsed());
        assert_eq!(fetched.len(), N as usize);
        for f in fetched {
            let f = f.unwrap_or_else(|e| panic!("{e}"));
            assert!(f.records.is_empty());
            assert_eq!(f.high_watermark, 0);
        }
        // 8,000 partition lookups on the snapshot: no further Metadata request (the
        // metadata call above filled it) and no copy of the topic's metadata.
        assert_eq!(metadata_requests(&c), 1, "Metadata requests");
        assert_eq!(topic_copies(&c), 0, "topic metadata copies");
    })
}
