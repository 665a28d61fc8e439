//! The client's threads are named and are gone once the client is freed (its own test
//! binary, so no other test's connections are counted).
//!
//! This checks the thread model of one reader thread per broker connection.

mod common;

use common::MockCluster;
use kafkac::{Client, Config};
use std::time::Duration;

/// Names of this process's threads that belong to kafkac connections.
fn connection_threads() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) {
            let comm = comm.trim().to_owned();
            if comm.starts_with("kc-") {
                names.push(comm);
            }
        }
    }
    names
}

#[test]
fn threads_are_named_and_joined_on_free() {
    common::with_timeout(Duration::from_secs(60), threads_named_and_joined);
}

fn threads_named_and_joined() {
    let mut mock = MockCluster::start(3);
    mock.create_topic("spread", 3, 1);
    for p in 0..3 {
        mock.set_leader("spread", p, p + 1);
    }
    assert_eq!(
        connection_threads(),
        Vec::<String>::new(),
        "before any client"
    );
    let mut cfg = Config::new();
    cfg.set("bootstrap.servers", &mock.bootstrap).unwrap();
    let c = Client::new(&cfg).unwrap();
    // One connection to bootstrap, then one per broker a request goes to.
    for p in 0..3 {
        c.list_offsets(
            "spread",
            p,
            kafkac::client::OffsetSpec::Latest,
            Duration::from_secs(10),
        )
        .unwrap();
    }
    let mut threads = connection_threads();
    threads.sort();
    assert_eq!(
        threads,
        ["kc-bootstrap", "kc-broker-1", "kc-broker-2", "kc-broker-3"],
        "one reader thread per connection"
    );
    drop(c);
    assert!(
        connection_threads().is_empty(),
        "threads left after the client was freed: {:?}",
        connection_threads()
    );
}
