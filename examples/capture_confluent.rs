//! Captures the record batches that confluent-kafka (librdkafka 2.16) writes, one file per
//! codec, as known vectors for `tests/confluent_vectors.rs`: it produces the records of
//! `tests/vectors/confluent_records.txt` with `tests/interop/clients.py confluent produce`
//! to a fresh topic per codec, then fetches the partition's raw `records` bytes.
//!
//! Needs a broker that accepts CreateTopics (Tansu) and confluent-kafka:
//!
//! ```sh
//! cargo run --example capture_confluent -- 127.0.0.1:9092 tests/vectors
//! ```

use kafkac::client::NewTopic;
use kafkac::cluster::Cluster;
use kafkac::protocol::messages::{FetchPartition, FetchRequest, FetchTopic};
use kafkac::{Client, Config};
use std::process::Command;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (bootstrap, out) = match &args[..] {
        [_, b, o] => (b.as_str(), std::path::Path::new(o.as_str())),
        _ => {
            eprintln!("usage: capture_confluent <bootstrap> <out-dir>");
            std::process::exit(2);
        }
    };
    let mut cfg = Config::new();
    cfg.set("bootstrap.servers", bootstrap).unwrap();
    let client = Client::new(&cfg).unwrap();
    let t = Duration::from_secs(20);
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("capture-{codec}-{run}");
        let created = client
            .create_topics(
                &[NewTopic {
                    name: topic.clone(),
                    num_partitions: 1,
                    replication_factor: 1,
                    configs: vec![],
                }],
                t,
            )
            .unwrap();
        assert!(created[0].error.is_none(), "{:?}", created[0].error);
        let status = Command::new("python3")
            .args([
                "tests/interop/clients.py",
                "confluent",
                "produce",
                bootstrap,
                &topic,
                "0",
                codec,
            ])
            .arg("tests/vectors/confluent_records.txt")
            .status()
            .unwrap();
        assert!(status.success(), "confluent produce with {codec}");
        // The raw records field, as the broker stored what librdkafka sent.
        let cluster: &Cluster = client.cluster();
        let deadline = Cluster::deadline(t);
        let leader = cluster.leader(&topic, 0, true, deadline).unwrap();
        let conn = cluster.broker(leader, deadline).unwrap();
        let req = FetchRequest {
            max_wait_ms: 100,
            min_bytes: 1,
            max_bytes: 1 << 20,
            topics: vec![FetchTopic {
                topic: topic.clone(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: 0,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let (_, resp) = conn.request(&req, deadline).unwrap();
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0);
        let records = p.records.clone().unwrap_or_default();
        let path = out.join(format!("confluent_v2_{codec}.bin"));
        std::fs::write(&path, &records).unwrap();
        println!("{}: {} bytes", path.display(), records.len());
    }
}
