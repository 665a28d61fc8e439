//! The client's threads: a fixed number of I/O threads own every broker connection, so a
//! client connected to three brokers runs `io.threads` threads (named `kc-io-<i>`) plus
//! one for background metadata refresh (`kc-meta`) and no more, and they are gone once
//! the client is freed; a producer adds one sender thread (`kc-prod`), a consumer one
//! consumer thread (`kc-cons`). (Its own test binary, so no other test's threads are
//! counted.)

mod common;

use common::MockCluster;
use kafkac::client::OffsetSpec;
use kafkac::{Client, Config};
use std::time::Duration;

/// The tests of this binary count the process's threads: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Names of all of this process's threads.
fn all_threads() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) {
            names.push(comm.trim().to_owned());
        }
    }
    names.sort();
    names
}

fn kafkac_threads() -> Vec<String> {
    all_threads()
        .into_iter()
        .filter(|n| n.starts_with("kc-"))
        .collect()
}

#[test]
fn io_threads_are_fixed_in_number_named_and_joined_on_free() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::with_timeout(Duration::from_secs(60), || {
        let mut mock = MockCluster::start(3);
        mock.create_topic("spread", 3, 1);
        for p in 0..3 {
            mock.set_leader("spread", p, p + 1);
        }
        for io_threads in [1usize, 2] {
            assert_eq!(kafkac_threads(), Vec::<String>::new(), "before the client");
            let before = all_threads().len();
            let mut cfg = Config::new();
            cfg.set("bootstrap.servers", &mock.bootstrap).unwrap();
            cfg.set("io.threads", &io_threads.to_string()).unwrap();
            let c = Client::new(&cfg).unwrap();
            // A bootstrap connection, then one to each of the three leaders.
            for p in 0..3 {
                c.list_offsets("spread", p, OffsetSpec::Latest, Duration::from_secs(10))
                    .unwrap();
            }
            let mut want: Vec<String> = (0..io_threads).map(|i| format!("kc-io-{i}")).collect();
            want.push("kc-meta".into());
            assert_eq!(kafkac_threads(), want, "io.threads={io_threads}");
            // Nothing else was started on the client's behalf (the test's own threads
            // are idle here, so the count is exact).
            assert_eq!(
                all_threads().len(),
                before + io_threads + 1,
                "io.threads={io_threads}: {:?}",
                all_threads()
            );
            drop(c);
            // Freeing joins the threads; a joined thread can still be listed in /proc for
            // a moment while the kernel finishes its exit.
            common::wait_until(Duration::from_secs(2), "no kc- thread after free", || {
                kafkac_threads().is_empty()
            });
        }
    })
}

/// A producer sending to three leaders runs its I/O threads, the metadata refresher and
/// one sender thread (`kc-prod`), and no more; all are gone once it is dropped.
#[test]
fn a_producer_adds_one_sender_thread() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::with_timeout(Duration::from_secs(60), || {
        let mut mock = MockCluster::start(3);
        mock.create_topic("spread-p", 3, 1);
        for p in 0..3 {
            mock.set_leader("spread-p", p, p + 1);
        }
        assert_eq!(
            kafkac_threads(),
            Vec::<String>::new(),
            "before the producer"
        );
        let mut cfg = Config::new();
        cfg.set("bootstrap.servers", &mock.bootstrap).unwrap();
        let p = kafkac::producer::Producer::new(&cfg).unwrap();
        for i in 0..30 {
            p.send(&kafkac::producer::Message {
                topic: "spread-p",
                partition: i % 3,
                value: Some(b"v"),
                ..Default::default()
            })
            .unwrap();
        }
        let mut ok = 0;
        p.flush(Duration::from_secs(20), |r| {
            if r.error.is_none() {
                ok += 1
            }
        })
        .unwrap();
        assert_eq!(ok, 30);
        assert_eq!(
            kafkac_threads(),
            ["kc-io-0", "kc-meta", "kc-prod"].map(String::from).to_vec()
        );
        drop(p);
        common::wait_until(Duration::from_secs(2), "no kc- thread after drop", || {
            kafkac_threads().is_empty()
        });
    })
}

/// A consumer reading three partitions led by three brokers runs its I/O threads, the
/// metadata refresher and one consumer thread (`kc-cons`), and no more; all are gone
/// once it is dropped.
#[test]
fn a_consumer_adds_one_consumer_thread() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::with_timeout(Duration::from_secs(60), || {
        let mut mock = MockCluster::start(3);
        mock.create_topic("spread-c", 3, 1);
        for p in 0..3 {
            mock.set_leader("spread-c", p, p + 1);
        }
        let mut cfg = Config::new();
        cfg.set("bootstrap.servers", &mock.bootstrap).unwrap();
        let p = kafkac::producer::Producer::new(&cfg).unwrap();
        for i in 0..30 {
            p.send(&kafkac::producer::Message {
                topic: "spread-c",
                partition: i % 3,
                value: Some(b"v"),
                ..Default::default()
            })
            .unwrap();
        }
        p.flush(Duration::from_secs(20), |r| {
            assert!(r.error.is_none(), "{r:?}")
        })
        .unwrap();
        drop(p);
        common::wait_until(
            Duration::from_secs(2),
            "the producer's threads gone",
            || kafkac_threads().is_empty(),
        );
        let c = kafkac::consumer::Consumer::new(&cfg).unwrap();
        let parts: Vec<_> = (0..3)
            .map(|p| {
                (
                    kafkac::consumer::assignor::TopicPartition::new("spread-c", p),
                    Some(0),
                )
            })
            .collect();
        c.assign(&parts).unwrap();
        let mut got = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while got < 30 && std::time::Instant::now() < deadline {
            for e in c.poll_batch(100, Duration::from_millis(100)) {
                match e {
                    kafkac::consumer::Event::Message(_) => got += 1,
                    kafkac::consumer::Event::Error { error, .. } => panic!("{error}"),
                }
            }
        }
        assert_eq!(got, 30);
        assert_eq!(
            kafkac_threads(),
            ["kc-cons", "kc-io-0", "kc-meta"].map(String::from).to_vec()
        );
        drop(c);
        common::wait_until(Duration::from_secs(2), "no kc- thread after drop", || {
            kafkac_threads().is_empty()
        });
    })
}
