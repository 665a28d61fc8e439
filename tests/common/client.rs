//! kafkac clients and topics for the tests that run against a broker.

use super::records::record;
use kafkac::client::NewTopic;
use kafkac::consumer::assignor::TopicPartition;
use kafkac::consumer::{Consumer, Event};
use kafkac::record::Compression;
use kafkac::{Client, Config};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The configuration of a client of `bootstrap` that retries after 50 ms, with
/// `settings` applied on top.
pub fn config_with(bootstrap: &str, settings: &[(&str, &str)]) -> Config {
    let mut c = Config::new();
    c.set("bootstrap.servers", bootstrap).unwrap();
    c.set("retry.backoff.ms", "50").unwrap();
    for (k, v) in settings {
        c.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    c
}

/// A client of `bootstrap` that retries after 50 ms, with `settings` applied on top.
pub fn client_with(bootstrap: &str, settings: &[(&str, &str)]) -> Client {
    Client::new(&config_with(bootstrap, settings)).unwrap()
}

/// A client of `bootstrap` that retries after 50 ms.
pub fn client(bootstrap: &str) -> Client {
    client_with(bootstrap, &[])
}

/// Creates topic `name` with topic `configs`; fails the test unless the broker created
/// it.
pub fn create_topic(
    c: &Client,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(&str, &str)],
    timeout: Duration,
) {
    let r = c
        .create_topics(
            &[NewTopic {
                name: name.into(),
                num_partitions: partitions,
                replication_factor,
                configs: configs
                    .iter()
                    .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                    .collect(),
            }],
            timeout,
        )
        .unwrap_or_else(|e| panic!("create {name}: {e}"));
    assert!(r[0].error.is_none(), "create {name}: {:?}", r[0].error);
}

/// The attempt count of a "gave up after N attempts" error message.
pub fn attempts(message: &str) -> u32 {
    message
        .split("gave up after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no attempt count in {message:?}"))
}

/// Creates `name`, which exists already: that must fail with TOPIC_ALREADY_EXISTS (36),
/// the code's name and the topic's in the message.
pub fn assert_create_again_fails(c: &Client, name: &str, timeout: Duration) {
    let r = c
        .create_topics(
            &[NewTopic {
                name: name.into(),
                num_partitions: 1,
                replication_factor: 1,
                configs: vec![],
            }],
            timeout,
        )
        .unwrap();
    let e = r[0].error.as_ref().expect("second create must fail");
    assert_eq!(e.code, 36, "{e}");
    assert!(
        e.message.contains("TOPIC_ALREADY_EXISTS") && e.message.contains(name),
        "{e}"
    );
}

/// Eight threads share `c`: thread `t` produces records `t<t>-<i>` (`i` from 0 to 19),
/// one per call, to partition `t % 4` of `topic`, so each of partitions 0-3 gets 40.
pub fn produce_from_eight_threads(c: &Arc<Client>, topic: &str, timeout: Duration) {
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let c = c.clone();
            let topic = topic.to_string();
            thread::spawn(move || {
                for i in 0..20 {
                    let v = format!("t{t}-{i}");
                    let r = [record(None, Some(v.as_bytes()))];
                    c.produce(&topic, t % 4, &r, -1, Compression::None, timeout)
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// A metadata call through `c` (given `timeout`) fails with `code` before `within`, and
/// its message contains `cause` and names `bootstrap`. Returns the message.
#[track_caller]
pub fn metadata_fails_with(
    c: &Client,
    bootstrap: &str,
    code: i32,
    cause: &str,
    timeout: Duration,
    within: Duration,
) -> String {
    let t0 = std::time::Instant::now();
    let e = c.metadata(None, timeout).expect_err("metadata should fail");
    assert_eq!(e.code, code, "{e}");
    assert!(e.message.contains(cause), "'{cause}' not in: {}", e.message);
    assert!(
        e.message.contains(bootstrap),
        "broker not named: {}",
        e.message
    );
    assert!(t0.elapsed() < within, "took {:?}: {e}", t0.elapsed());
    e.message
}

/// Writes 40 records over the 2 partitions of the new `topic` through `admin`, then a
/// consumer made from `consumer` (its group and security settings) reads them all in
/// its group within 30 s, with no error event, commits, and finds 20 committed on each
/// partition. `what` names the case in failures.
pub fn group_round_trip(admin: &Client, consumer: &Config, topic: &str, what: &str, t: Duration) {
    create_topic(admin, topic, 2, 1, &[], t);
    let n = 40;
    for i in 0..n {
        let v = format!("{i}");
        let r = [record(None, Some(v.as_bytes()))];
        admin
            .produce(topic, i % 2, &r, -1, Compression::None, t)
            .unwrap_or_else(|e| panic!("{what}: produce: {e}"));
    }
    let c = Consumer::new(consumer).unwrap_or_else(|e| panic!("{what}: {e}"));
    c.subscribe(&[topic]).unwrap();
    let mut got = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < n as usize && Instant::now() < deadline {
        for e in c.poll_batch(100, Duration::from_millis(200)) {
            match e {
                Event::Message(m) => {
                    got.insert(m.value().unwrap().to_vec());
                }
                Event::Error { error, .. } => panic!("{what}: {error}"),
            }
        }
    }
    assert_eq!(
        got.len(),
        n as usize,
        "{what}: consumed {} of {n}",
        got.len()
    );
    c.commit(None, false)
        .unwrap_or_else(|e| panic!("{what}: commit: {e}"));
    let tps = [TopicPartition::new(topic, 0), TopicPartition::new(topic, 1)];
    let committed = c
        .committed(&tps, t)
        .unwrap_or_else(|e| panic!("{what}: committed: {e}"));
    let offsets: Vec<i64> = committed.iter().map(|(_, o)| *o).collect();
    assert_eq!(offsets, [n as i64 / 2, n as i64 / 2], "{what}");
    c.close(t).unwrap();
}
