//! Fetching from the closest replica (KIP-392) against Apache Kafka 4.3: three KRaft
//! nodes, node N in rack `rN`, each with `RackAwareReplicaSelector`. A one-partition topic
//! replicated on all three is read by a consumer whose `client.rack` is a follower's rack:
//! after the leader's first answer names that follower, the fetches go to it; every record
//! arrives once, in order. Then the follower is killed: the consumer goes back to the
//! leader and reads the rest, nothing lost and nothing twice.

mod common;

use common::client::{client, create_topic};
use common::kafka::KafkaCluster;
use common::with_timeout;
use kafkac::consumer::assignor::TopicPartition;
use kafkac::consumer::{Consumer, Event};
use kafkac::error::local;
use kafkac::producer::{Message as Out, Producer};
use kafkac::Config;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
const LIMIT: Duration = Duration::from_secs(300);
const TOPIC: &str = "rack-aware";

fn produce(bootstrap: &str, from: usize, n: usize) {
    let mut c = Config::new();
    c.set("bootstrap.servers", bootstrap).unwrap();
    c.set("linger.ms", "5").unwrap();
    // Small batches: many fetches.
    c.set("batch.size", "4096").unwrap();
    let p = Producer::new(&c).unwrap();
    for i in from..from + n {
        let value = format!("{i}");
        p.send_blocking(
            &Out {
                topic: TOPIC,
                partition: 0,
                value: Some(value.as_bytes()),
                opaque: i,
                ..Default::default()
            },
            T,
        )
        .unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
    let mut failed = 0;
    p.flush(T, |r| failed += usize::from(r.error.is_some()))
        .unwrap_or_else(|e| panic!("flush: {e}"));
    assert_eq!(failed, 0, "{failed} records not delivered");
}

/// Polls until the values up to `want` (exclusive) came, checking that they come in
/// order, once each, at consecutive offsets.
fn consume_until(c: &Consumer, got: &mut Vec<(i64, usize)>, want: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while got.len() < want {
        assert!(
            Instant::now() < deadline,
            "{} of {want} records within {limit:?}; fetches {:?}",
            got.len(),
            c.fetch_requests()
        );
        for e in c.poll_batch(500, Duration::from_millis(100)) {
            match e {
                Event::Message(m) => {
                    let v: usize = std::str::from_utf8(m.value().unwrap())
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert_eq!(
                        (m.offset(), v),
                        (got.len() as i64, got.len()),
                        "record out of order or repeated"
                    );
                    got.push((m.offset(), v));
                }
                Event::Error { error, .. } if error.code == local::PARTITION_EOF => {}
                Event::Error { error, .. } => panic!("consumer error: {error}"),
            }
        }
    }
}

#[test]
fn fetches_go_to_the_same_rack_follower_and_back_to_the_leader_when_it_dies() {
    with_timeout(LIMIT, || {
        let mut k = KafkaCluster::start_with(
            3,
            &[
                ("broker.rack", "r{node}"),
                (
                    "replica.selector.class",
                    "org.apache.kafka.common.replica.RackAwareReplicaSelector",
                ),
            ],
        );
        let admin = client(&k.bootstrap);
        create_topic(&admin, TOPIC, 1, 3, &[], T);
        produce(&k.bootstrap, 0, 5_000);
        let md = admin
            .metadata(Some(&[TOPIC.to_string()]), T)
            .expect("metadata");
        assert_eq!(md.brokers.len(), 3, "{:?}", md.brokers);
        for b in &md.brokers {
            assert_eq!(b.rack.as_deref(), Some(format!("r{}", b.id).as_str()));
        }
        let pm = &md.topics[0].partitions[0];
        let leader = pm.leader;
        assert_eq!(pm.replicas.len(), 3, "{pm:?}");
        let follower = *pm.replicas.iter().find(|&&r| r != leader).unwrap();
        let rack = format!("r{follower}");

        let mut conf = Config::new();
        conf.set("bootstrap.servers", &k.bootstrap).unwrap();
        conf.set("client.rack", &rack).unwrap();
        conf.set("retry.backoff.ms", "50").unwrap();
        conf.set("queued.max.messages.kbytes", "1024").unwrap();
        conf.set("fetch.max.bytes", "16384").unwrap();
        conf.set("max.partition.fetch.bytes", "16384").unwrap();
        let c = Consumer::new(&conf).unwrap();
        c.assign(&[(TopicPartition::new(TOPIC, 0), Some(0))])
            .unwrap();
        let mut got = Vec::new();
        consume_until(&c, &mut got, 5_000, Duration::from_secs(60));
        let before = c.fetch_requests();
        let at_follower = before.get(&follower).copied().unwrap_or(0);
        let at_leader = before.get(&leader).copied().unwrap_or(0);
        println!("leader {leader}, follower {follower} (client.rack {rack}): fetches {before:?}");
        // The leader is asked once; it names the follower (in the client's rack), which
        // serves the rest. An answer on its way when the preference arrived may add one.
        assert!(at_leader <= 2, "fetches to the leader: {before:?}");
        assert!(at_follower >= 5, "fetches to the follower: {before:?}");
        for (b, n) in &before {
            assert!(
                *b == leader || *b == follower || *n == 0,
                "fetches to a third broker: {before:?}"
            );
        }

        // The follower dies: the consumer goes back to the leader, nothing lost or
        // repeated.
        k.kill(follower);
        produce(&k.bootstrap, 5_000, 3_000);
        consume_until(&c, &mut got, 8_000, Duration::from_secs(90));
        let after = c.fetch_requests();
        println!("after the follower died: fetches {after:?}");
        assert!(
            after.get(&leader).copied().unwrap_or(0) > at_leader + 2,
            "no fetches to the leader after the follower died: {after:?}"
        );
        // Nothing more arrives: no duplicates held back.
        let extra = c
            .poll_batch(100, Duration::from_millis(500))
            .into_iter()
            .filter(|e| matches!(e, Event::Message(_)))
            .count();
        assert_eq!(extra, 0, "records beyond the 8000 produced");
        assert_eq!(got.len(), 8_000);
        c.close(T).unwrap();
    });
}
