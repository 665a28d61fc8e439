//! The Apache Kafka test rig itself (tests/common/kafka.rs): nodes start,
//! answer, die and come back; what they leave behind is cleaned up.
//!
//! Prints start-up times and memory (`cargo test --test kafka_rig -- --nocapture`).

mod common;

use common::kafka::{KafkaCluster, KAFKA_START_TIMEOUT};
use common::{api_versions_v0, with_timeout};
use kafkac::{Client, Config};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn client(bootstrap: &str) -> Client {
    let mut c = Config::new();
    c.set("bootstrap.servers", bootstrap).unwrap();
    c.set("retry.backoff.ms", "50").unwrap();
    Client::new(&c).unwrap()
}

#[test]
fn one_node_starts_answers_and_is_removed_on_drop() {
    with_timeout(KAFKA_START_TIMEOUT * 2, || {
        let c = KafkaCluster::start(1);
        println!(
            "one node ready in {:?}, rss {} MiB",
            c.started_in,
            c.rss_bytes() >> 20
        );
        let v = api_versions_v0(&c.bootstrap, T).unwrap();
        assert_eq!(v.error_code, 0);
        // Kafka 4 dropped Fetch v0-v3 (KIP-896). (It still advertises Produce v0-v2, for
        // old librdkafka's sake, but refuses them.)
        assert_eq!(v.range(1).map(|r| r.0), Some(4), "{v:?}");
        let md = client(&c.bootstrap).metadata(None, T).unwrap();
        assert_eq!(md.brokers.len(), 1);
        assert_eq!(md.brokers[0].id, 1);
        assert_eq!(md.brokers[0].port, c.nodes[0].port as i32);
        let dir = c.dir().to_path_buf();
        let pid = c.nodes[0].pid().unwrap();
        assert!(dir.is_dir());
        drop(c);
        assert!(!dir.exists(), "{dir:?} left behind");
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "JVM {pid} left running"
        );
    })
}

#[test]
fn three_nodes_move_leadership_when_one_dies_and_take_it_back() {
    with_timeout(KAFKA_START_TIMEOUT * 4, || {
        let mut c = KafkaCluster::start(3);
        println!(
            "three nodes ready in {:?}, rss {} MiB",
            c.started_in,
            c.rss_bytes() >> 20
        );
        let cl = client(&c.bootstrap);
        let r = cl
            .create_topics(
                &[kafkac::client::NewTopic {
                    name: "rig".into(),
                    num_partitions: 3,
                    replication_factor: 3,
                    configs: vec![],
                }],
                T,
            )
            .unwrap();
        assert!(r[0].error.is_none(), "{:?}", r[0].error);
        let leader = |cl: &Client| -> Vec<i32> {
            let md = cl.metadata(Some(&["rig".to_string()]), T).unwrap();
            let mut p = md.topics[0].partitions.clone();
            p.sort_by_key(|p| p.partition);
            p.iter().map(|p| p.leader).collect()
        };
        common::wait_until(T, "every partition has a leader", || {
            leader(&cl).iter().all(|l| *l > 0)
        });
        // Some load, then the cluster's memory.
        let payload = vec![b'x'; 1000];
        let recs: Vec<kafkac::record::RecordIn> = (0..500)
            .map(|_| kafkac::record::RecordIn {
                key: None,
                value: Some(&payload),
                headers: &[],
                timestamp: None,
            })
            .collect();
        for i in 0..60 {
            cl.produce(
                "rig",
                i % 3,
                &recs,
                -1,
                kafkac::record::Compression::None,
                T,
            )
            .unwrap();
        }
        let mut peak = c.rss_bytes();
        let before = leader(&cl);
        let victim = before[0];
        c.kill(victim);
        let t0 = std::time::Instant::now();
        let other: Vec<&str> = c
            .nodes
            .iter()
            .filter(|n| n.node_id != victim)
            .map(|n| n.addr.as_str())
            .collect();
        let cl2 = client(&other.join(","));
        common::wait_until(T, "partition 0 led by a live node", || {
            let l = leader(&cl2)[0];
            l > 0 && l != victim
        });
        println!(
            "leadership of partition 0 moved off killed node {victim} in {:?}",
            t0.elapsed()
        );
        let took = c.restart(victim);
        println!("node {victim} restarted in {took:?}");
        let md = cl2.metadata(None, T).unwrap();
        assert_eq!(md.brokers.len(), 3, "{:?}", md.brokers);
        peak = peak.max(c.rss_bytes());
        println!("three nodes: peak rss seen {} MiB", peak >> 20);
    })
}
