//! The producer against Tansu, a second, independent broker: idempotent and plain sends
//! are delivered once, in order, where the reports say.

mod common;

use common::client::{client, create_topic};
use common::records::Reader;
use common::{with_timeout, Tansu};
use kafkac::producer::{Message, Producer, PARTITION_ANY};
use kafkac::Config;
use std::collections::HashMap;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn run(tansu: &Tansu, topic: &str, idempotence: &str) {
    let admin = client(&tansu.bootstrap);
    create_topic(&admin, topic, 3, 1, &[], T);
    let mut c = Config::new();
    c.set("bootstrap.servers", &tansu.bootstrap).unwrap();
    c.set("enable.idempotence", idempotence).unwrap();
    c.set("linger.ms", "2").unwrap();
    let p = Producer::new(&c).unwrap();
    let n = 20_000;
    for i in 0..n {
        let v = format!("{i}");
        p.send_blocking(
            &Message {
                topic,
                partition: PARTITION_ANY,
                key: Some(format!("k{}", i % 97).as_bytes()),
                value: Some(v.as_bytes()),
                opaque: i,
                ..Default::default()
            },
            T,
        )
        .unwrap();
    }
    let mut by_part: HashMap<i32, Vec<(i64, usize)>> = HashMap::new();
    let mut failed = Vec::new();
    p.flush(T, |r| match &r.error {
        None => by_part
            .entry(r.partition)
            .or_default()
            .push((r.offset, r.opaque)),
        Some(e) => failed.push(format!("{}: {e}", r.opaque)),
    })
    .unwrap();
    assert!(
        failed.is_empty(),
        "{} failed, first: {:?}",
        failed.len(),
        &failed[..1]
    );
    assert_eq!(by_part.values().map(Vec::len).sum::<usize>(), n);
    let reader = Reader {
        timeout: T,
        high_watermark_covers: true,
    };
    for (part, v) in &by_part {
        for w in v.windows(2) {
            assert_eq!(w[1].0, w[0].0 + 1, "{topic}/{part}: offsets");
            assert!(w[1].1 > w[0].1, "{topic}/{part}: send order");
        }
        let got = reader.fetch_n(&admin, topic, *part, v[0].0, v.len());
        for ((off, i), g) in v.iter().zip(&got) {
            assert_eq!(g.offset, *off);
            assert_eq!(g.value.as_deref(), Some(format!("{i}").as_bytes()));
        }
    }
    eprintln!(
        "{topic}: counters {:?}, pid {:?}",
        p.counters(),
        p.producer_id()
    );
}

#[test]
fn idempotent_and_plain_producers_deliver_to_tansu() {
    with_timeout(Duration::from_secs(120), || {
        let tansu = Tansu::start();
        run(&tansu, "tansu-idem", "true");
        run(&tansu, "tansu-plain", "false");
    });
}
