//! Transactions of kafkac's producer against Apache Kafka 4.3.1, on both transaction
//! protocols: a cluster formatted with the default features (`transaction.version=2`,
//! KIP-890: partitions join on Produce, the epoch is bumped at every end) and one
//! formatted with `transaction.version=1` (AddPartitionsToTxn, AddOffsetsToTxn, one epoch).
//! Each test runs on both:
//!
//! * committed transactions are seen by a `read_committed` kafkac consumer, by the Java
//!   client (kafka-clients 4.3.1) and by confluent-kafka (librdkafka 2.16), aborted ones
//!   by none of them; an
//!   abort purges what was queued, each purged message with its report;
//! * a second producer with the same `transactional.id` fences the first: its next
//!   commit is a fatal error and nothing it wrote after being fenced is visible;
//! * a transaction left open past `transaction.timeout.ms` is aborted by the broker,
//!   and the next call says so (never that it committed);
//! * send_offsets_to_transaction commits the group's offsets with the transaction, and
//!   an aborted transaction leaves them as they were;
//! * consume-transform-produce: 20,000 records copied in transactions of 1,000 with the
//!   group's offsets, the copier crashing (dropped without closing) 10 times at random
//!   points: the output holds every input record exactly once, in order;
//! * the configuration rules (transactional.id needs idempotence, message.timeout.ms
//!   within transaction.timeout.ms) and the calls made in the wrong state.
//!
//! One cluster per protocol for the whole binary (started when first used); every wait
//! is bounded.

mod common;

use common::client::{client, create_topic};
use common::kafka::{self, KafkaCluster};
use common::with_timeout;
use kafkac::consumer::assignor::TopicPartition;
use kafkac::consumer::{Consumer, Event};
use kafkac::error::local;
use kafkac::producer::{
    ErrorClass, GroupMetadata, Message, Outcome, Producer, Report, TxnOffset, TxnState,
    PARTITION_ANY,
};
use kafkac::Config;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
const TEST_LIMIT: Duration = Duration::from_secs(240);

/// How often the coordinator looks for transactions past their timeout (the default is
/// 10 s).
const BROKER: &[(&str, &str)] = &[(
    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
    "500",
)];

fn cluster(version: u8) -> &'static KafkaCluster {
    static V1: OnceLock<KafkaCluster> = OnceLock::new();
    static V2: OnceLock<KafkaCluster> = OnceLock::new();
    match version {
        1 => V1.get_or_init(|| {
            KafkaCluster::start_formatted(1, &["transaction.version=1"], &[], BROKER)
        }),
        _ => V2.get_or_init(|| KafkaCluster::start_formatted(1, &[], &[], BROKER)),
    }
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn config(bootstrap: &str, settings: &[(&str, &str)]) -> Config {
    let mut c = Config::new();
    c.set("bootstrap.servers", bootstrap).unwrap();
    c.set("retry.backoff.ms", "20").unwrap();
    for (k, v) in settings {
        c.set(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    c
}

fn txn_producer(bootstrap: &str, id: &str, settings: &[(&str, &str)]) -> Producer {
    let mut s = vec![("transactional.id", id), ("linger.ms", "5")];
    s.extend_from_slice(settings);
    let p = Producer::new(&config(bootstrap, &s)).unwrap();
    p.init_transactions(T)
        .unwrap_or_else(|e| panic!("init_transactions: {e}"));
    p
}

fn send(p: &Producer, topic: &str, partition: i32, value: &str) {
    p.send_blocking(
        &Message {
            topic,
            partition,
            value: Some(value.as_bytes()),
            ..Default::default()
        },
        T,
    )
    .unwrap_or_else(|e| panic!("send {value}: {e}"));
}

fn topic(bootstrap: &str, partitions: i32) -> String {
    let name = unique("txn");
    create_topic(&client(bootstrap), &name, partitions, 1, &[], T);
    name
}

/// Every value a `read_committed` kafkac consumer reads from `topic` (partitions
/// `0..partitions`, from the start), in order per partition, until `last` has been read
/// from every partition (the marker each test writes last) or the time runs out.
fn read_committed(bootstrap: &str, topic: &str, partitions: i32, last: &str) -> Vec<String> {
    let c = Consumer::new(&config(
        bootstrap,
        &[
            ("isolation.level", "read_committed"),
            ("group.id", &unique("rd")),
        ],
    ))
    .unwrap();
    let parts: Vec<(TopicPartition, Option<i64>)> = (0..partitions)
        .map(|p| (TopicPartition::new(topic, p), Some(0)))
        .collect();
    c.assign(&parts).unwrap();
    let mut out = Vec::new();
    let mut done = 0;
    let until = Instant::now() + T;
    while done < partitions && Instant::now() < until {
        for e in c.poll_batch(1000, Duration::from_millis(200)) {
            match e {
                Event::Message(m) => {
                    let v = String::from_utf8_lossy(m.value().unwrap_or_default()).into_owned();
                    if v == last {
                        done += 1;
                    } else {
                        out.push(format!("{}:{v}", m.partition()));
                    }
                }
                Event::Error { error, fatal, .. } => {
                    assert!(!fatal, "consumer: {error}");
                }
            }
        }
    }
    assert_eq!(done, partitions, "the marker '{last}' was not read in time");
    c.close(T).unwrap();
    out
}

/// Writes `marker` to every partition in a committed transaction of a new producer.
fn mark(bootstrap: &str, topic: &str, partitions: i32, marker: &str) {
    let p = txn_producer(bootstrap, &unique("marker"), &[]);
    p.begin_transaction().unwrap();
    for part in 0..partitions {
        send(&p, topic, part, marker);
    }
    p.commit_transaction(T, |_| {}).unwrap();
}

fn commit_and_abort(version: u8) {
    let b = cluster(version).bootstrap.clone();
    let t = topic(&b, 2);
    // Batches linger for a second, so that what is sent just before the abort is still
    // queued then (commit and flush send at once).
    let p = txn_producer(&b, &unique("tx"), &[("linger.ms", "1000")]);
    let epoch0 = p.producer_id().1;
    let mut reports: Vec<Report> = Vec::new();

    p.begin_transaction().unwrap();
    for i in 0..100 {
        send(&p, &t, i % 2, &format!("c1-{i}"));
    }
    p.commit_transaction(T, |r| reports.push(r.clone()))
        .unwrap();
    assert_eq!(reports.len(), 100);
    assert!(reports.iter().all(|r| r.error.is_none()));

    // Aborted: some acknowledged (flushed), the rest purged from the queue, each of them
    // with a report.
    reports.clear();
    p.begin_transaction().unwrap();
    for i in 0..50 {
        send(&p, &t, i % 2, &format!("a-{i}"));
    }
    p.flush(T, |r| reports.push(r.clone())).unwrap();
    assert!(reports.iter().all(|r| r.error.is_none()));
    for i in 50..100 {
        send(&p, &t, i % 2, &format!("a-{i}"));
    }
    p.abort_transaction(T, |r| reports.push(r.clone())).unwrap();
    p.poll(Duration::ZERO, |r| reports.push(r.clone()));
    assert_eq!(reports.len(), 100, "one report per message");
    let purged = reports
        .iter()
        .filter(|r| {
            r.error
                .as_ref()
                .is_some_and(|e| e.code == local::PURGE_QUEUE)
        })
        .count();
    assert_eq!(
        purged, 50,
        "the queued messages are purged, each with its report"
    );
    assert_eq!(p.outstanding(), (0, 0));

    p.begin_transaction().unwrap();
    for i in 0..50 {
        send(&p, &t, i % 2, &format!("c2-{i}"));
    }
    p.commit_transaction(T, |_| {}).unwrap();
    assert_eq!(p.transaction_state(), Some(TxnState::Ready));
    let epoch = p.producer_id().1;
    if version == 2 {
        // Protocol v2: a new epoch at each of the three ends.
        assert_eq!(epoch, epoch0 + 3, "epochs {epoch0} -> {epoch}");
    } else {
        // v1: the epoch stays (the abort purged closed batches: one bump closes the gap),
        // at most one more.
        assert!(epoch - epoch0 <= 1, "epochs {epoch0} -> {epoch}");
    }

    mark(&b, &t, 2, "end");
    let got = read_committed(&b, &t, 2, "end");
    let mut want: Vec<String> = Vec::new();
    for part in 0..2 {
        for i in (0..100).filter(|i| i % 2 == part) {
            want.push(format!("{part}:c1-{i}"));
        }
        for i in (0..50).filter(|i| i % 2 == part) {
            want.push(format!("{part}:c2-{i}"));
        }
    }
    let mut sorted = got.clone();
    sorted.sort_by_key(|v| v.split(':').next().unwrap().to_owned());
    assert_eq!(sorted, want, "kafkac read_committed");
    assert!(!got.iter().any(|v| v.contains(":a-")));

    // The Java client, read_committed.
    let java = java_read_committed(&b, &t, 2, "end");
    let mut java_sorted = java.clone();
    java_sorted.sort_by_key(|v| v.split(':').next().unwrap().to_owned());
    assert_eq!(java_sorted, want, "Java read_committed");

    // confluent-kafka (librdkafka), read_committed.
    let py = python_read_committed(&b, &t, 2, "end");
    let mut py_sorted = py.clone();
    py_sorted.sort_by_key(|v| v.split(':').next().unwrap().to_owned());
    assert_eq!(py_sorted, want, "confluent-kafka read_committed");
    p.close(T);
}

fn fencing(version: u8) {
    let b = cluster(version).bootstrap.clone();
    let t = topic(&b, 1);
    let id = unique("fence");
    let p1 = txn_producer(&b, &id, &[]);
    p1.begin_transaction().unwrap();
    send(&p1, &t, 0, "p1-committed");
    p1.commit_transaction(T, |_| {}).unwrap();
    p1.begin_transaction().unwrap();
    send(&p1, &t, 0, "p1-open");
    p1.flush(T, |_| {}).unwrap();

    // The second instance fences the first and aborts its open transaction.
    let p2 = txn_producer(&b, &id, &[]);
    send(&p1, &t, 0, "p1-after");
    let e = p1
        .commit_transaction(T, |_| {})
        .expect_err("the fenced producer's commit must fail");
    assert_eq!(e.class, ErrorClass::Fatal, "{e}");
    assert!(
        matches!(e.error.code, 90 | 47 | local::FATAL),
        "code {}: {e}",
        e.error.code
    );
    assert_eq!(p1.transaction_state(), Some(TxnState::FatalError));
    // Every later call says the same, abort included; sends fail.
    assert!(p1.abort_transaction(T, |_| {}).unwrap_err().is_fatal());
    assert!(p1.begin_transaction().unwrap_err().is_fatal());

    p2.begin_transaction().unwrap();
    send(&p2, &t, 0, "p2");
    p2.commit_transaction(T, |_| {}).unwrap();
    mark(&b, &t, 1, "end");
    let got = read_committed(&b, &t, 1, "end");
    assert_eq!(got, vec!["0:p1-committed", "0:p2"]);
}

fn broker_timeout(version: u8) {
    let b = cluster(version).bootstrap.clone();
    let t = topic(&b, 1);
    let p = txn_producer(&b, &unique("late"), &[("transaction.timeout.ms", "2000")]);
    p.begin_transaction().unwrap();
    send(&p, &t, 0, "late-1");
    p.flush(T, |_| {}).unwrap();
    // The coordinator aborts the transaction after 2 s (it looks every 0.5 s).
    std::thread::sleep(Duration::from_secs(5));
    let r = p.commit_transaction(T, |_| {});
    let e = r.expect_err("a transaction the broker aborted must not commit");
    assert!(
        e.error.message.contains("aborted") || e.is_abortable(),
        "the error must say the transaction was aborted: {e}"
    );
    eprintln!("broker-side timeout (protocol v{version}): {e}");
    mark(&b, &t, 1, "end");
    assert_eq!(read_committed(&b, &t, 1, "end"), Vec::<String>::new());
}

fn offsets_in_transaction(version: u8) {
    let b = cluster(version).bootstrap.clone();
    let input = topic(&b, 1);
    let group = unique("grp");
    let p = txn_producer(&b, &unique("off"), &[]);
    let meta = GroupMetadata {
        group_id: group.clone(),
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
    };
    let off = |o: i64| {
        vec![TxnOffset {
            topic: input.clone(),
            partition: 0,
            offset: o,
            leader_epoch: -1,
            metadata: None,
        }]
    };
    p.begin_transaction().unwrap();
    send(&p, &input, 0, "x");
    p.send_offsets_to_transaction(&off(10), &meta, T).unwrap();
    p.commit_transaction(T, |_| {}).unwrap();
    p.begin_transaction().unwrap();
    p.send_offsets_to_transaction(&off(20), &meta, T).unwrap();
    p.abort_transaction(T, |_| {}).unwrap();
    // Offsets only (no record) in a committed transaction.
    p.begin_transaction().unwrap();
    p.send_offsets_to_transaction(&off(15), &meta, T).unwrap();
    p.commit_transaction(T, |_| {}).unwrap();
    let c = Consumer::new(&config(&b, &[("group.id", &group)])).unwrap();
    let tp = TopicPartition::new(&input, 0);
    let got = c.committed(std::slice::from_ref(&tp), T).unwrap();
    assert_eq!(got, vec![(tp, 15)]);
    c.close(T).unwrap();
}

#[test]
fn v2_commit_visible_abort_invisible() {
    with_timeout(TEST_LIMIT, || commit_and_abort(2));
}

#[test]
fn v1_commit_visible_abort_invisible() {
    with_timeout(TEST_LIMIT, || commit_and_abort(1));
}

#[test]
fn v2_second_instance_fences_the_first() {
    with_timeout(TEST_LIMIT, || fencing(2));
}

#[test]
fn v1_second_instance_fences_the_first() {
    with_timeout(TEST_LIMIT, || fencing(1));
}

#[test]
fn v2_broker_side_timeout_is_reported_aborted() {
    with_timeout(TEST_LIMIT, || broker_timeout(2));
}

#[test]
fn v1_broker_side_timeout_is_reported_aborted() {
    with_timeout(TEST_LIMIT, || broker_timeout(1));
}

#[test]
fn v2_offsets_commit_with_the_transaction() {
    with_timeout(TEST_LIMIT, || offsets_in_transaction(2));
}

#[test]
fn v1_offsets_commit_with_the_transaction() {
    with_timeout(TEST_LIMIT, || offsets_in_transaction(1));
}

/// Closing a producer with a transaction open aborts it: its records are never read, and
/// `read_committed` readers are not held back until `transaction.timeout.ms` (60 s, more
/// than the reader waits) — the marker written after the close is read at once.
fn close_aborts_the_open_transaction(version: u8) {
    let b = cluster(version).bootstrap.clone();
    let t = topic(&b, 1);
    let p = txn_producer(&b, &unique("closing"), &[]);
    p.begin_transaction().unwrap();
    send(&p, &t, 0, "committed");
    p.commit_transaction(T, |_| {}).unwrap();
    p.begin_transaction().unwrap();
    send(&p, &t, 0, "open-1");
    p.flush(T, |_| {}).unwrap();
    send(&p, &t, 0, "open-2");
    let t0 = Instant::now();
    let dropped = p.close(T);
    assert_eq!(
        dropped, 0,
        "the abort reports every message of the transaction"
    );
    assert!(t0.elapsed() < T, "close took {:?}", t0.elapsed());
    assert_eq!(p.transaction_outcome(), Some(Outcome::Aborted));
    mark(&b, &t, 1, "end");
    assert_eq!(read_committed(&b, &t, 1, "end"), vec!["0:committed"]);
}

#[test]
fn v2_close_aborts_the_open_transaction() {
    with_timeout(TEST_LIMIT, || close_aborts_the_open_transaction(2));
}

#[test]
fn v1_close_aborts_the_open_transaction() {
    with_timeout(TEST_LIMIT, || close_aborts_the_open_transaction(1));
}

#[test]
fn configuration_rules() {
    let e = Producer::new(&config(
        "127.0.0.1:1",
        &[("transactional.id", "x"), ("enable.idempotence", "false")],
    ))
    .err()
    .expect("transactional.id without idempotence is refused");
    assert_eq!(e.code, local::INVALID_CONFIG);
    assert!(e.message.contains("enable.idempotence"), "{}", e.message);
    let e = Producer::new(&config(
        "127.0.0.1:1",
        &[
            ("transactional.id", "x"),
            ("transaction.timeout.ms", "10000"),
            ("message.timeout.ms", "20000"),
        ],
    ))
    .err()
    .expect("message.timeout.ms over transaction.timeout.ms is refused");
    assert_eq!(e.code, local::INVALID_CONFIG);
    assert!(e.message.contains("'message.timeout.ms'"), "{}", e.message);
    assert!(e.message.contains("10000"), "{}", e.message);
    // Left unset, message.timeout.ms follows transaction.timeout.ms.
    let p = Producer::new(&config(
        "127.0.0.1:1",
        &[
            ("transactional.id", "x"),
            ("transaction.timeout.ms", "7000"),
        ],
    ))
    .unwrap();
    assert_eq!(
        p.settings().message_timeout,
        Some(Duration::from_millis(7000))
    );
    // Calls in the wrong state change nothing and say why.
    let e = p.begin_transaction().unwrap_err();
    assert_eq!((e.class, e.error.code), (ErrorClass::Usage, local::STATE));
    assert!(e.error.message.contains("Uninitialized"), "{}", e.error);
    let e = p
        .send(&Message {
            topic: "t",
            partition: PARTITION_ANY,
            value: Some(b"v"),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.code, local::STATE);
    assert!(e.message.contains("inside a transaction"), "{}", e.message);
    // init_transactions against no broker: a retriable timeout, and again.
    let e = p.init_transactions(Duration::from_millis(300)).unwrap_err();
    assert_eq!(
        (e.class, e.error.code),
        (ErrorClass::Retriable, local::TIMED_OUT)
    );
    let e = p.init_transactions(Duration::from_millis(300)).unwrap_err();
    assert!(e.is_retriable(), "{e}");
    assert_eq!(p.transaction_state(), Some(TxnState::Initializing));
    // A producer without transactional.id has no transactions.
    let p = Producer::new(&config("127.0.0.1:1", &[])).unwrap();
    let e = p.begin_transaction().unwrap_err();
    assert!(e.error.message.contains("transactional.id"), "{}", e.error);
}

// ---------------------------------------------------------------------------
// The Java client as a read_committed reader
// ---------------------------------------------------------------------------

const JAVA_READER: &str = r#"
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class TxnReader {
    public static void main(String[] a) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", a[0]);
        p.put("isolation.level", "read_committed");
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        int parts = Integer.parseInt(a[2]);
        String last = a[3];
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < parts; i++) tps.add(new TopicPartition(a[1], i));
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            c.assign(tps);
            c.seekToBeginning(tps);
            int done = 0;
            long until = System.currentTimeMillis() + 60000;
            while (done < parts && System.currentTimeMillis() < until) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    String v = new String(r.value(), "UTF-8");
                    if (v.equals(last)) done++;
                    else System.out.println(r.partition() + ":" + v);
                }
            }
            if (done < parts) { System.out.println("TIMEOUT"); System.exit(2); }
        }
    }
}
"#;

fn java_reader_classes() -> std::path::PathBuf {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = common::target_dir().join("testbin/java-txn-reader");
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("TxnReader.java");
        std::fs::write(&src, JAVA_READER).unwrap();
        let mut cmd = Command::new("javac");
        cmd.arg("-cp")
            .arg(kafka::classpath())
            .arg("-d")
            .arg(&dir)
            .arg(&src);
        let done = common::run_bounded(cmd, None, Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("javac (a JDK is required): {e}"));
        assert_eq!(
            done.status.map(|s| s.success()),
            Some(true),
            "javac failed: {}",
            done.stderr_text()
        );
        dir
    })
    .clone()
}

fn java_read_committed(bootstrap: &str, topic: &str, partitions: i32, last: &str) -> Vec<String> {
    let dir = java_reader_classes();
    let mut cmd = Command::new("java");
    cmd.args(["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .arg("-Dkafkac.test.node=java-peer")
        .arg("-cp")
        .arg(format!("{}:{}", dir.display(), kafka::classpath()))
        .arg("TxnReader")
        .arg(bootstrap)
        .arg(topic)
        .arg(partitions.to_string())
        .arg(last);
    let done = common::run_bounded(cmd, None, Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("java: {e}"));
    assert_eq!(
        done.status.map(|s| s.success()),
        Some(true),
        "Java reader failed: {}\n{}",
        String::from_utf8_lossy(&done.stdout),
        done.stderr_text()
    );
    String::from_utf8_lossy(&done.stdout)
        .lines()
        .filter(|l| !l.is_empty() && l.contains(':'))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------
// Consume-transform-produce with crashes
// ---------------------------------------------------------------------------

/// Copies `n` records from `input` to `output` (value prefixed with "copy-") with a
/// consumer and a transactional producer, committing every `per_txn` records with the
/// consumer's offsets in the transaction. Each incarnation is dropped without warning
/// at a random point (mid-transaction, after some sends or a flush: a crash), `kills`
/// times; the next one, with the same transactional.id, fences the remains of the last
/// and resumes from the group's committed offset. A read_committed reader of the output
/// must see every input record exactly once, in order.
fn copy_with_crashes(version: u8, n: usize, per_txn: usize, kills: usize) {
    let b = cluster(version).bootstrap.clone();
    let input = topic(&b, 1);
    let output = topic(&b, 1);
    let feeder = Producer::new(&config(&b, &[("linger.ms", "20")])).unwrap();
    for i in 0..n {
        send(&feeder, &input, 0, &format!("r{i}"));
    }
    feeder.flush(T, |_| {}).unwrap();
    let group = unique("ctp");
    let id = unique("ctp-tx");
    let meta = GroupMetadata {
        group_id: group.clone(),
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
    };
    let tp = TopicPartition::new(&input, 0);
    let mut rng = 0x2545_f491_4f6c_dd1d_u64 ^ u64::from(version);
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut crashes = 0;
    let mut committed_txns = 0;
    loop {
        let p = txn_producer(&b, &id, &[]);
        let c = Consumer::new(&config(
            &b,
            &[("group.id", &group), ("enable.auto.commit", "false")],
        ))
        .unwrap();
        let start = c.committed(std::slice::from_ref(&tp), T).unwrap()[0]
            .1
            .max(0);
        if start as usize >= n {
            c.close(T).unwrap();
            p.close(T);
            break;
        }
        c.assign(&[(tp.clone(), Some(start))]).unwrap();
        // This incarnation crashes after this many records, unless the kills are done.
        let crash_after = (crashes < kills).then(|| (next() % (3 * per_txn as u64)) as usize);
        let mut copied = 0usize;
        let mut pos = start;
        'txns: loop {
            p.begin_transaction().unwrap();
            let mut in_txn = 0;
            while in_txn < per_txn && (pos as usize) < n {
                for e in c.poll_batch(per_txn - in_txn, Duration::from_millis(100)) {
                    let Event::Message(m) = e else { continue };
                    let v = String::from_utf8_lossy(m.value().unwrap_or_default()).into_owned();
                    send(&p, &output, 0, &format!("copy-{v}"));
                    pos = m.offset() + 1;
                    in_txn += 1;
                    copied += 1;
                    if crash_after == Some(copied) {
                        if next() % 2 == 0 {
                            // Some of it reaches the broker before the crash.
                            p.flush(T, |_| {}).unwrap();
                        }
                        crashes += 1;
                        break 'txns;
                    }
                }
            }
            let offsets = vec![TxnOffset {
                topic: input.clone(),
                partition: 0,
                offset: pos,
                leader_epoch: -1,
                metadata: None,
            }];
            p.send_offsets_to_transaction(&offsets, &meta, T).unwrap();
            p.commit_transaction(T, |_| {}).unwrap();
            committed_txns += 1;
            if pos as usize >= n {
                break;
            }
        }
        // A crash: nothing is closed cleanly.
        drop(p);
        drop(c);
    }
    assert_eq!(crashes, kills);
    mark(&b, &output, 1, "end");
    let got = read_committed(&b, &output, 1, "end");
    let want: Vec<String> = (0..n).map(|i| format!("0:copy-r{i}")).collect();
    assert_eq!(got.len(), want.len(), "records in the output");
    assert!(
        got == want,
        "the output is not the input exactly once, in order"
    );
    eprintln!(
        "protocol v{version}: copied {n} records in {committed_txns} committed transactions \
         across {crashes} crashes"
    );
}

#[test]
fn v2_copy_exactly_once_across_crashes() {
    with_timeout(TEST_LIMIT, || copy_with_crashes(2, 20_000, 1_000, 10));
}

#[test]
fn v1_copy_exactly_once_across_crashes() {
    with_timeout(TEST_LIMIT, || copy_with_crashes(1, 20_000, 1_000, 10));
}

/// Offsets sent with the consumer's real generation commit; with a generation the group
/// has left behind they are refused (KIP-447) with an abortable error, and after the
/// abort the producer goes on.
fn offsets_with_generation(version: u8) {
    let b = cluster(version).bootstrap.clone();
    let input = topic(&b, 1);
    let group = unique("gen");
    let c = Consumer::new(&config(
        &b,
        &[("group.id", &group), ("enable.auto.commit", "false")],
    ))
    .unwrap();
    c.subscribe(&[input.as_str()]).unwrap();
    let until = Instant::now() + T;
    let (generation, member) = loop {
        let _ = c.poll(Duration::from_millis(100));
        if let Some(g) = c.group_generation() {
            break g;
        }
        assert!(
            Instant::now() < until,
            "the consumer did not join its group"
        );
    };
    assert!(generation >= 0 && !member.is_empty());
    let p = txn_producer(&b, &unique("gen-tx"), &[]);
    let off = vec![TxnOffset {
        topic: input.clone(),
        partition: 0,
        offset: 3,
        leader_epoch: -1,
        metadata: None,
    }];
    let meta = GroupMetadata {
        group_id: group.clone(),
        generation_id: generation,
        member_id: member.clone(),
        group_instance_id: None,
    };
    p.begin_transaction().unwrap();
    p.send_offsets_to_transaction(&off, &meta, T).unwrap();
    p.commit_transaction(T, |_| {}).unwrap();
    let stale = GroupMetadata {
        generation_id: generation + 5,
        ..meta
    };
    p.begin_transaction().unwrap();
    let e = p
        .send_offsets_to_transaction(&off, &stale, T)
        .expect_err("a stale generation is refused");
    assert_eq!((e.class, e.error.code), (ErrorClass::Abortable, 22), "{e}");
    assert_eq!(p.transaction_state(), Some(TxnState::AbortableError));
    assert!(p.commit_transaction(T, |_| {}).unwrap_err().is_abortable());
    p.abort_transaction(T, |_| {}).unwrap();
    p.begin_transaction().unwrap();
    p.commit_transaction(T, |_| {}).unwrap();
    let tp = TopicPartition::new(&input, 0);
    assert_eq!(
        c.committed(std::slice::from_ref(&tp), T).unwrap(),
        vec![(tp, 3)]
    );
    c.close(T).unwrap();
}

#[test]
fn v2_offsets_carry_the_generation_and_a_stale_one_is_abortable() {
    with_timeout(TEST_LIMIT, || offsets_with_generation(2));
}

#[test]
fn v1_offsets_carry_the_generation_and_a_stale_one_is_abortable() {
    with_timeout(TEST_LIMIT, || offsets_with_generation(1));
}

// ---------------------------------------------------------------------------
// confluent-kafka (librdkafka) as a read_committed reader
// ---------------------------------------------------------------------------

const PY_READER: &str = r#"
import sys, time
from confluent_kafka import Consumer, TopicPartition
boot, topic, parts, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = Consumer({"bootstrap.servers": boot, "group.id": "kafkac-txn-reader",
              "isolation.level": "read_committed", "enable.auto.commit": False})
c.assign([TopicPartition(topic, p, 0) for p in range(parts)])
done, until = 0, time.time() + 60
while done < parts and time.time() < until:
    m = c.poll(0.2)
    if m is None or m.error():
        continue
    v = m.value().decode()
    if v == last:
        done += 1
    else:
        print(f"{m.partition()}:{v}")
c.close()
sys.exit(0 if done == parts else 2)
"#;

fn python_read_committed(bootstrap: &str, topic: &str, partitions: i32, last: &str) -> Vec<String> {
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(PY_READER)
        .arg(bootstrap)
        .arg(topic)
        .arg(partitions.to_string())
        .arg(last);
    let done = common::run_bounded(cmd, None, Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("python3 (with confluent-kafka) is required: {e}"));
    assert_eq!(
        done.status.map(|s| s.success()),
        Some(true),
        "confluent-kafka reader failed: {}\n{}",
        String::from_utf8_lossy(&done.stdout),
        done.stderr_text()
    );
    String::from_utf8_lossy(&done.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}
